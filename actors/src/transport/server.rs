//! The accepting side: an accept loop that checks each new connection's hello, then serves every
//! further bidirectional stream as one request of a [`Service`].
//!
//! A malformed hello closes that connection; a malformed request closes that stream; both are
//! logged with the peer's address and the reason, and the daemon goes on serving everyone else.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use tracing::{debug, info, info_span, warn, Instrument};

use crate::wire::{
    read_frame, write_frame, FrameError, Hello, HelloReply, PeerRole, RequestKind, MAX_FRAME_BYTES,
    PROTOCOL_VERSION,
};

/// How long a new connection may take to send its hello.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a request frame may take to arrive once its stream is open.
pub const REQUEST_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Upper bound of streams served at once on one connection.
pub const MAX_STREAMS_PER_CONNECTION: usize = 256;

static NEXT_CONN_ID: AtomicU64 = AtomicU64::new(1);

/// Who is on the other end of a connection, established by its hello.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    /// Process-unique id of this connection.
    pub conn_id: u64,
    /// The peer's socket address.
    pub remote: SocketAddr,
    /// What the peer said it is.
    pub role: PeerRole,
    /// The peer's name from its hello.
    pub name: String,
    /// The application a driver said it acts for.
    pub application: Option<String>,
}

/// The two halves of one request's stream, for services that stream bodies.
pub struct StreamIo {
    /// Where the response (and any body) goes.
    pub send: quinn::SendStream,
    /// Where a request body (if any) is read from.
    pub recv: quinn::RecvStream,
}

impl StreamIo {
    /// Writes one response frame.
    pub async fn respond<T: serde::Serialize>(&mut self, value: &T) -> Result<(), FrameError> {
        write_frame(&mut self.send, value).await
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

/// Accepts connections on `endpoint` until it is closed, serving each with `service`.
pub async fn serve<S: Service>(endpoint: quinn::Endpoint, service: Arc<S>) {
    while let Some(incoming) = endpoint.accept().await {
        let service = service.clone();
        let remote = incoming.remote_address();
        tokio::spawn(async move {
            match incoming.await {
                Ok(conn) => serve_connection(conn, service).await,
                Err(e) => warn!(peer = %remote, "connection rejected during handshake: {e}"),
            }
        });
    }
}

async fn serve_connection<S: Service>(conn: quinn::Connection, service: Arc<S>) {
    let conn_id = NEXT_CONN_ID.fetch_add(1, Ordering::Relaxed);
    let remote = conn.remote_address();
    let span = info_span!("conn", id = conn_id, peer = %remote);
    async move {
        let peer = match tokio::time::timeout(
            HELLO_TIMEOUT,
            accept_hello(&conn, &*service, conn_id),
        )
        .await
        {
            Ok(Ok(peer)) => peer,
            Ok(Err(reason)) => {
                warn!("closing connection: {reason}");
                conn.close(1u32.into(), reason.as_bytes());
                return;
            }
            Err(_) => {
                warn!("closing connection: no hello within {HELLO_TIMEOUT:?}");
                conn.close(1u32.into(), b"hello timeout");
                return;
            }
        };
        info!(role = ?peer.role, name = %peer.name, "peer connected");
        let limit = Arc::new(tokio::sync::Semaphore::new(MAX_STREAMS_PER_CONNECTION));
        let reason = loop {
            let (send, recv) = match conn.accept_bi().await {
                Ok(streams) => streams,
                Err(e) => break e.to_string(),
            };
            let Ok(permit) = limit.clone().acquire_owned().await else {
                break "stream limiter closed".to_string();
            };
            let service = service.clone();
            let peer = peer.clone();
            tokio::spawn(async move {
                serve_stream(&*service, &peer, StreamIo { send, recv }).await;
                drop(permit);
            });
        };
        info!(name = %peer.name, "peer disconnected: {reason}");
        service.connection_closed(&peer, &reason);
    }
    .instrument(span)
    .await
}

/// Reads and checks the hello on the first stream; answers it.
async fn accept_hello<S: Service>(
    conn: &quinn::Connection,
    service: &S,
    conn_id: u64,
) -> Result<PeerInfo, String> {
    let (mut send, mut recv) = conn
        .accept_bi()
        .await
        .map_err(|e| format!("connection ended before hello: {e}"))?;
    let hello: Hello = read_frame(&mut recv, 64 * 1024)
        .await
        .map_err(|e| format!("malformed hello: {e}"))?;
    if hello.protocol_version != PROTOCOL_VERSION {
        let reason = format!(
            "protocol version {} is not supported (this daemon speaks {PROTOCOL_VERSION})",
            hello.protocol_version
        );
        let _ = write_frame(
            &mut send,
            &HelloReply::Refused {
                reason: reason.clone(),
            },
        )
        .await;
        let _ = send.finish();
        // Give the refusal a moment to reach the peer before the close.
        let _ = tokio::time::timeout(Duration::from_millis(500), send.stopped()).await;
        return Err(reason);
    }
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
    })
}

async fn serve_stream<S: Service>(service: &S, peer: &PeerInfo, mut io: StreamIo) {
    let request: S::Request = match tokio::time::timeout(
        REQUEST_READ_TIMEOUT,
        read_frame(&mut io.recv, MAX_FRAME_BYTES),
    )
    .await
    {
        Ok(Ok(request)) => request,
        Ok(Err(FrameError::Closed)) => return,
        Ok(Err(e)) => {
            warn!(name = %peer.name, "closing stream: bad request frame: {e}");
            let _ = io.recv.stop(2u32.into());
            let _ = io.send.reset(2u32.into());
            return;
        }
        Err(_) => {
            warn!(name = %peer.name, "closing stream: no request within {REQUEST_READ_TIMEOUT:?}");
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
