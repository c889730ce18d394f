//! Revocation at run time: the live connections of a daemon with the certificates their peers
//! presented, and the reload (on SIGHUP) that re-reads the credentials directory, applies its
//! `crl.pem` to new handshakes and closes the connections of members it now refuses.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Mutex;

use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::ClientCertVerifier;
use tracing::{info, warn};

use super::endpoint::{client_verifier, server_config};
use super::identity::Identity;
use super::{CredentialError, Credentials, Gate, TransportError, TransportSettings};

/// Application close code of a connection whose member is no longer accepted.
pub const REVOKED_CLOSE_CODE: u32 = 4;

struct Member {
    conn: quinn::Connection,
    cert: CertificateDer<'static>,
    identity: Identity,
}

/// The hello-checked connections of a daemon's accepting side, with their peers' certificates.
#[derive(Default)]
pub struct Members {
    live: Mutex<HashMap<u64, Member>>,
}

impl std::fmt::Debug for Members {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Members")
            .field("live", &self.len())
            .finish()
    }
}

impl Members {
    /// Records a connection (no-op when the peer presented no certificate).
    pub fn insert(&self, conn_id: u64, conn: &quinn::Connection, identity: &Identity) {
        let Some(cert) = super::identity::peer_certificate(conn) else {
            return;
        };
        let member = Member {
            conn: conn.clone(),
            cert,
            identity: identity.clone(),
        };
        self.live
            .lock()
            .expect("members lock")
            .insert(conn_id, member);
    }

    /// Forgets a closed connection.
    pub fn remove(&self, conn_id: u64) {
        self.live.lock().expect("members lock").remove(&conn_id);
    }

    /// Live connections.
    pub fn len(&self) -> usize {
        self.live.lock().expect("members lock").len()
    }

    /// True when no connection is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Closes every connection whose certificate `verifier` refuses now (revoked, expired);
    /// returns who was closed and why.
    pub fn close_refused(
        &self,
        verifier: &dyn ClientCertVerifier,
    ) -> Vec<(SocketAddr, Identity, String)> {
        let now = UnixTime::now();
        let mut closed = Vec::new();
        let mut live = self.live.lock().expect("members lock");
        live.retain(
            |_, member| match verifier.verify_client_cert(&member.cert, &[], now) {
                Ok(_) => true,
                Err(e) => {
                    let reason =
                        format!("certificate of {} no longer accepted: {e}", member.identity);
                    member
                        .conn
                        .close(REVOKED_CLOSE_CODE.into(), reason.as_bytes());
                    closed.push((
                        member.conn.remote_address(),
                        member.identity.clone(),
                        reason,
                    ));
                    false
                }
            },
        );
        closed
    }
}

/// Why credentials could not be reloaded (the daemon keeps the ones it had).
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The directory's files are missing or malformed.
    #[error(transparent)]
    Credentials(#[from] CredentialError),
    /// The TLS configuration could not be built.
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// Re-reads the credentials in `dir` (member certificate, key, CA, `crl.pem`): new incoming
/// handshakes on `endpoint` use them at once, and live incoming connections whose members are
/// now refused are closed (each logged with its address, role and name). Returns how many were
/// closed. Outgoing connections keep the configuration they started with (the peer's own
/// reload closes them from its side).
pub fn reload(
    endpoint: &quinn::Endpoint,
    dir: &Path,
    settings: &TransportSettings,
    gate: &Gate,
) -> Result<usize, ReloadError> {
    let creds = Credentials::load(dir)?;
    let server = server_config(&creds, settings)?;
    let verifier = client_verifier(&creds)?;
    endpoint.set_server_config(Some(server));
    let closed = gate.members().close_refused(&*verifier);
    for (peer, identity, reason) in &closed {
        warn!(%peer, role = %identity.role, name = %identity.name, "closing connection: {reason}");
    }
    info!(
        dir = %dir.display(),
        revocation_lists = creds.crls.len(),
        closed = closed.len(),
        "credentials reloaded"
    );
    Ok(closed.len())
}
