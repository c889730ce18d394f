//! Building quinn endpoints with mutual TLS from cluster [`Credentials`].

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;

use super::{Credentials, TransportError};

/// The ALPN protocol id of Cinder's wire protocol.
pub const ALPN: &[u8] = b"cinder/1";

/// QUIC tuning shared by every endpoint.
#[derive(Debug, Clone)]
pub struct TransportSettings {
    /// A connection with no traffic for this long is closed.
    pub idle_timeout: Duration,
    /// Keep-alive ping period (keeps idle connections open and detects dead peers).
    pub keep_alive: Duration,
    /// Per-stream receive window (bulk block transfers need a large one on fast links).
    pub stream_window_bytes: u32,
    /// Whole-connection receive window.
    pub connection_window_bytes: u32,
    /// Streams a peer may have open at once on one connection (QUIC flow control).
    pub max_streams_per_connection: u32,
    /// Handshakes quinn buffers before the accept loop decides on them.
    pub max_incoming: u32,
}

impl Default for TransportSettings {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(10),
            keep_alive: Duration::from_secs(1),
            stream_window_bytes: 16 * 1024 * 1024,
            connection_window_bytes: 64 * 1024 * 1024,
            max_streams_per_connection: super::Limits::default().max_streams_per_connection,
            max_incoming: super::Limits::default().max_pending_handshakes,
        }
    }
}

impl TransportSettings {
    fn quinn(&self) -> Result<Arc<quinn::TransportConfig>, TransportError> {
        let mut t = quinn::TransportConfig::default();
        let idle = quinn::IdleTimeout::try_from(self.idle_timeout)
            .map_err(|e| TransportError::Tls(format!("idle timeout: {e}")))?;
        t.max_idle_timeout(Some(idle))
            .keep_alive_interval(Some(self.keep_alive))
            .stream_receive_window(self.stream_window_bytes.into())
            .receive_window(self.connection_window_bytes.into())
            .send_window(u64::from(self.connection_window_bytes))
            .max_concurrent_bidi_streams(self.max_streams_per_connection.into())
            .max_concurrent_uni_streams(0u32.into());
        Ok(Arc::new(t))
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots(creds: &Credentials) -> Result<Arc<RootCertStore>, TransportError> {
    let mut roots = RootCertStore::empty();
    roots
        .add(creds.ca.clone())
        .map_err(|e| TransportError::Tls(format!("CA certificate: {e}")))?;
    Ok(Arc::new(roots))
}

/// The check applied to every connecting peer's certificate: signed by the cluster CA, within
/// its validity, and not in the revocation list of the credentials (if any).
pub fn client_verifier(
    creds: &Credentials,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, TransportError> {
    WebPkiClientVerifier::builder_with_provider(roots(creds)?, provider())
        .with_crls(creds.crls.iter().cloned())
        .only_check_end_entity_revocation()
        .allow_unknown_revocation_status()
        .build()
        .map_err(|e| TransportError::Tls(e.to_string()))
}

/// The server half: presents our member certificate, demands one signed by the cluster CA and
/// not revoked.
pub fn server_config(
    creds: &Credentials,
    settings: &TransportSettings,
) -> Result<quinn::ServerConfig, TransportError> {
    let tls = |e: rustls::Error| TransportError::Tls(e.to_string());
    let verifier = client_verifier(creds)?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(creds.chain.clone(), creds.key.clone_key())
        .map_err(tls)?;
    config.alpn_protocols = vec![ALPN.to_vec()];
    let quic =
        QuicServerConfig::try_from(config).map_err(|e| TransportError::Tls(e.to_string()))?;
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(quic));
    server
        .transport_config(settings.quinn()?)
        .max_incoming(settings.max_incoming.max(1) as usize)
        .incoming_buffer_size(64 * 1024)
        .incoming_buffer_size_total(8 * 1024 * 1024);
    Ok(server)
}

/// The client half: trusts only the cluster CA (minus revoked certificates), presents our
/// member certificate.
pub fn client_config(
    creds: &Credentials,
    settings: &TransportSettings,
) -> Result<quinn::ClientConfig, TransportError> {
    let tls = |e: rustls::Error| TransportError::Tls(e.to_string());
    let server_verifier =
        rustls::client::WebPkiServerVerifier::builder_with_provider(roots(creds)?, provider())
            .with_crls(creds.crls.iter().cloned())
            .only_check_end_entity_revocation()
            .allow_unknown_revocation_status()
            .build()
            .map_err(|e| TransportError::Tls(e.to_string()))?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls)?
        .with_webpki_verifier(server_verifier)
        .with_client_auth_cert(creds.chain.clone(), creds.key.clone_key())
        .map_err(tls)?;
    config.alpn_protocols = vec![ALPN.to_vec()];
    let quic =
        QuicClientConfig::try_from(config).map_err(|e| TransportError::Tls(e.to_string()))?;
    let mut client = quinn::ClientConfig::new(Arc::new(quic));
    client.transport_config(settings.quinn()?);
    Ok(client)
}

/// An endpoint that accepts connections on `addr` and also connects out (daemons).
/// Must be called inside a tokio runtime.
pub fn bind_endpoint(
    addr: SocketAddr,
    creds: &Credentials,
    settings: &TransportSettings,
) -> Result<quinn::Endpoint, TransportError> {
    let mut endpoint = quinn::Endpoint::server(server_config(creds, settings)?, addr)
        .map_err(|source| TransportError::Bind { addr, source })?;
    endpoint.set_default_client_config(client_config(creds, settings)?);
    Ok(endpoint)
}

/// A connect-only endpoint on an ephemeral port of the family of `peer` (clients, drivers).
/// Must be called inside a tokio runtime.
pub fn client_endpoint(
    peer: SocketAddr,
    creds: &Credentials,
    settings: &TransportSettings,
) -> Result<quinn::Endpoint, TransportError> {
    let local: SocketAddr = match peer {
        SocketAddr::V4(v4) if v4.ip().is_loopback() => (Ipv4Addr::LOCALHOST, 0).into(),
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(v6) if v6.ip().is_loopback() => (Ipv6Addr::LOCALHOST, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let mut endpoint = quinn::Endpoint::client(local).map_err(|source| TransportError::Bind {
        addr: local,
        source,
    })?;
    endpoint.set_default_client_config(client_config(creds, settings)?);
    Ok(endpoint)
}

/// Resolves `host:port` (optionally prefixed `cinder://`) to one socket address.
pub async fn resolve(addr: &str) -> Result<SocketAddr, TransportError> {
    let trimmed = addr.trim().trim_start_matches("cinder://");
    if let Ok(parsed) = trimmed.parse::<SocketAddr>() {
        return Ok(parsed);
    }
    let mut found =
        tokio::net::lookup_host(trimmed)
            .await
            .map_err(|e| TransportError::Resolve {
                addr: addr.to_string(),
                reason: e.to_string(),
            })?;
    found.next().ok_or_else(|| TransportError::Resolve {
        addr: addr.to_string(),
        reason: "no address found".into(),
    })
}
