//! The accepting side: an accept loop that checks each new connection's hello, then serves every
//! further bidirectional stream as one request of a [`Service`].
//!
//! A malformed hello closes that connection; a malformed request closes that stream; both are
//! logged with the peer's address and the reason, and the daemon goes on serving everyone else.
//! Every peer's cost is bounded by the [`Gate`]'s [`super::Limits`]: handshakes in progress,
//! connections, streams, frame and body memory, and a deadline for each frame and body.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use tracing::{debug, info, info_span, warn, Instrument};

use super::hello::judge_hello;
use super::identity::Identity;
use super::limits::{Gate, Refusal};
use crate::wire::frame::read_frame_bytes;
use crate::wire::{
    read_frame_budgeted, write_frame, FrameError, HelloReply, Lease, PeerRole, RequestKind,
    PROTOCOL_VERSION,
};

static NEXT_CONN_ID: AtomicU64 = AtomicU64::new(1);

/// Who is on the other end of a connection: its certificate's identity (what it may do) and
/// what its hello said (for logs).
#[derive(Debug, Clone)]
pub struct PeerInfo {
    /// Process-unique id of this connection.
    pub conn_id: u64,
    /// The peer's socket address.
    pub remote: SocketAddr,
    /// What the peer said it is in its hello (informational; authority comes from `identity`).
    pub role: PeerRole,
    /// The peer's name from its hello.
    pub name: String,
    /// The application a driver said it acts for.
    pub application: Option<String>,
    /// Role and name from the peer's certificate: what authorization checks.
    pub identity: Identity,
}

/// The two halves of one request's stream, for services that stream bodies.
pub struct StreamIo {
    /// Where the response (and any body) goes.
    pub send: quinn::SendStream,
    /// Where a request body (if any) is read from.
    pub recv: quinn::RecvStream,
    gate: Arc<Gate>,
}

impl StreamIo {
    /// Writes one response frame.
    pub async fn respond<T: serde::Serialize>(&mut self, value: &T) -> Result<(), FrameError> {
        write_frame(&mut self.send, value).await
    }

    /// Reads a request body of `len` bytes within the daemon's body limits: memory from the
    /// body budget as bytes arrive, dropped when it stalls longer than the stall deadline.
    /// The [`Lease`] keeps the memory counted until the body is stored.
    pub async fn read_body(&mut self, len: u64) -> Result<(bytes::Bytes, Lease), FrameError> {
        let stall = self.gate.limits().body_stall_timeout();
        let budget = self.gate.body_budget().clone();
        super::body::read_body_bounded(&mut self.recv, len, Some(&budget), stall).await
    }
}

/// A request handler served over QUIC.
pub trait Service: Send + Sync + 'static {
    /// The request enum this service decodes from each stream's first frame.
    type Request: DeserializeOwned + RequestKind + Send + 'static;

    /// The name given in hello replies (`master`, a worker id).
    fn name(&self) -> String;

    /// Handles one request; must write the response to `io`.
    fn handle(
        &self,
        peer: &PeerInfo,
        request: Self::Request,
        io: &mut StreamIo,
    ) -> impl Future<Output = Result<(), FrameError>> + Send;

    /// Called once when a hello-checked connection closes.
    fn connection_closed(&self, _peer: &PeerInfo, _reason: &str) {}
}

/// Accepts connections on `endpoint` until it is closed, serving each with `service`, under the
/// default [`super::Limits`].
pub async fn serve<S: Service>(endpoint: quinn::Endpoint, service: Arc<S>) {
    serve_with(endpoint, service, Arc::new(Gate::default())).await
}

/// Accepts connections on `endpoint` until it is closed, serving each with `service` within the
/// limits of `gate`.
///
/// Handshakes from unvalidated addresses get a stateless QUIC retry first; at most
/// `max_pending_handshakes` validated ones run at once (the rest are refused), each bounded by
/// the hello deadline.
pub async fn serve_with<S: Service>(endpoint: quinn::Endpoint, service: Arc<S>, gate: Arc<Gate>) {
    while let Some(incoming) = endpoint.accept().await {
        let remote = incoming.remote_address();
        if !incoming.remote_address_validated() && incoming.may_retry() {
            let _ = incoming.retry();
            continue;
        }
        let Some(slot) = gate.try_handshake(remote) else {
            incoming.refuse();
            continue;
        };
        let service = service.clone();
        let gate = gate.clone();
        tokio::spawn(async move {
            let deadline = gate.limits().hello_timeout();
            let handshake = async {
                match incoming.accept() {
                    Ok(connecting) => connecting.await,
                    Err(e) => Err(e),
                }
            };
            let conn = match tokio::time::timeout(deadline, handshake).await {
                Ok(Ok(conn)) => conn,
                Ok(Err(e)) => {
                    let message = format!("connection rejected during handshake: {e}");
                    gate.log().refused(Refusal::Handshake, remote, &message);
                    return;
                }
                Err(_) => {
                    let message = format!(
                        "connection rejected during handshake: not finished within {} ms",
                        deadline.as_millis()
                    );
                    gate.log().refused(Refusal::Handshake, remote, &message);
                    return;
                }
            };
            drop(slot);
            let Some(connection_slot) = gate.try_connection(remote) else {
                conn.close(1u32.into(), b"too many connections");
                return;
            };
            serve_connection(conn, service, gate).await;
            drop(connection_slot);
        });
    }
}

async fn serve_connection<S: Service>(conn: quinn::Connection, service: Arc<S>, gate: Arc<Gate>) {
    let conn_id = NEXT_CONN_ID.fetch_add(1, Ordering::Relaxed);
    let remote = conn.remote_address();
    let span = info_span!("conn", id = conn_id, peer = %remote);
    async move {
        let hello_deadline = gate.limits().hello_timeout();
        let peer =
            match tokio::time::timeout(hello_deadline, accept_hello(&conn, &*service, conn_id))
                .await
            {
                Ok(Ok(peer)) => peer,
                Ok(Err(reason)) => {
                    warn!("closing connection: {reason}");
                    conn.close(1u32.into(), reason.as_bytes());
                    return;
                }
                Err(_) => {
                    warn!("closing connection: no hello within {hello_deadline:?}");
                    conn.close(1u32.into(), b"hello timeout");
                    return;
                }
            };
        info!(
            role = %peer.identity.role,
            name = %peer.identity.name,
            hello_name = %peer.name,
            "peer connected"
        );
        if peer.identity.legacy {
            warn!(
                "peer presents a certificate without a role (from an older `cinder init`); \
                 treated as admin: issue it a role with `cinder cert issue`"
            );
        }
        gate.members().insert(conn_id, &conn, &peer.identity);
        let per_connection = gate.limits().max_streams_per_connection.max(1) as usize;
        let limit = Arc::new(tokio::sync::Semaphore::new(per_connection));
        let reason = loop {
            let (send, recv) = match conn.accept_bi().await {
                Ok(streams) => streams,
                Err(e) => break e.to_string(),
            };
            let permit = match limit.clone().try_acquire_owned() {
                Ok(permit) => permit,
                Err(_) => {
                    gate.connection_streams_full(remote);
                    let Ok(permit) = limit.clone().acquire_owned().await else {
                        break "stream limiter closed".to_string();
                    };
                    permit
                }
            };
            let Some(total) = gate.stream(remote).await else {
                break "stream limiter closed".to_string();
            };
            let service = service.clone();
            let peer = peer.clone();
            let gate = gate.clone();
            tokio::spawn(async move {
                let io = StreamIo { send, recv, gate };
                serve_stream(&*service, &peer, io).await;
                drop((permit, total));
            });
        };
        gate.members().remove(conn_id);
        info!(name = %peer.name, "peer disconnected: {reason}");
        service.connection_closed(&peer, &reason);
    }
    .instrument(span)
    .await
}

/// Reads and checks the hello on the first stream, and the peer's certificate identity;
/// answers the hello.
async fn accept_hello<S: Service>(
    conn: &quinn::Connection,
    service: &S,
    conn_id: u64,
) -> Result<PeerInfo, String> {
    let (mut send, mut recv) = conn
        .accept_bi()
        .await
        .map_err(|e| format!("connection ended before hello: {e}"))?;
    let payload = read_frame_bytes(&mut recv, 64 * 1024)
        .await
        .map_err(|e| format!("malformed hello: {e}"))?;
    let verdict = judge_hello(&payload).map_err(|refusal| {
        let answer = refusal.answer_peer();
        (refusal.to_string(), answer)
    });
    let verdict = verdict.and_then(|hello| match Identity::of_connection(conn) {
        Ok(identity) => Ok((hello, identity)),
        Err(e) => Err((format!("refused: {e}"), true)),
    });
    let (hello, identity) = match verdict {
        Ok(accepted) => accepted,
        Err((reason, answer)) => {
            if answer {
                refuse_hello(&mut send, &reason).await;
            }
            return Err(reason);
        }
    };
    let reply = HelloReply::Welcome {
        protocol_version: PROTOCOL_VERSION,
        server: service.name(),
    };
    write_frame(&mut send, &reply)
        .await
        .map_err(|e| format!("cannot answer hello: {e}"))?;
    let _ = send.finish();
    Ok(PeerInfo {
        conn_id,
        remote: conn.remote_address(),
        role: hello.role,
        name: hello.name,
        application: hello.application,
        identity,
    })
}

/// Sends a hello refusal and gives it a moment to reach the peer before the close.
async fn refuse_hello(send: &mut quinn::SendStream, reason: &str) {
    let refusal = HelloReply::Refused {
        reason: reason.to_string(),
    };
    let _ = write_frame(send, &refusal).await;
    let _ = send.finish();
    let _ = tokio::time::timeout(Duration::from_millis(500), send.stopped()).await;
}

async fn serve_stream<S: Service>(service: &S, peer: &PeerInfo, mut io: StreamIo) {
    let limits = io.gate.limits().clone();
    let max_frame = usize::try_from(limits.max_frame_bytes).unwrap_or(usize::MAX);
    let budget = io.gate.frame_budget().clone();
    let read = read_frame_budgeted(&mut io.recv, max_frame, Some(&budget));
    let request: S::Request = match tokio::time::timeout(limits.frame_timeout(), read).await {
        Ok(Ok(request)) => request,
        Ok(Err(FrameError::Closed)) => return,
        Ok(Err(e)) => {
            warn!(name = %peer.name, "closing stream: bad request frame: {e}");
            let _ = io.recv.stop(2u32.into());
            let _ = io.send.reset(2u32.into());
            return;
        }
        Err(_) => {
            let timeout = limits.frame_timeout();
            if budget.available_bytes() < limits.max_frame_bytes.min(budget.total_bytes()) {
                let message = format!(
                    "closing stream: no whole request within {timeout:?} (frame memory budget \
                     {} of {} bytes in use)",
                    budget.total_bytes() - budget.available_bytes(),
                    budget.total_bytes()
                );
                io.gate
                    .log()
                    .refused(Refusal::FrameBudget, peer.remote, &message);
            } else {
                warn!(name = %peer.name, "closing stream: no request within {timeout:?}");
            }
            let _ = io.recv.stop(2u32.into());
            let _ = io.send.reset(2u32.into());
            return;
        }
    };
    let span = tracing::debug_span!("request", kind = request.kind());
    async {
        debug!("request");
        match service.handle(peer, request, &mut io).await {
            Ok(()) => {
                let _ = io.send.finish();
            }
            Err(e) => {
                warn!(name = %peer.name, "request failed on the stream: {e}");
                let _ = io.send.reset(3u32.into());
            }
        }
    }
    .instrument(span)
    .await
}
