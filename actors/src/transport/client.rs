//! The connecting side: [`PeerConn`] performs the hello and then sends requests, each on its own
//! bidirectional stream, optionally with a streamed body in either direction.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use serde::{de::DeserializeOwned, Serialize};

use super::credentials::SERVER_NAME;
use super::TransportError;
use crate::wire::PROTOCOL_VERSION;
use crate::wire::{read_frame, write_frame, Hello, HelloReply, PeerRole, MAX_FRAME_BYTES};

/// Deadline of the QUIC handshake plus hello exchange.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default deadline of one request (bulk bodies get [`BODY_TIMEOUT`] on top).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Extra deadline allowed for moving a bulk body.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(300);

/// An established, hello-checked connection to one peer. Cheap to clone; clones share the
/// connection.
#[derive(Debug, Clone)]
pub struct PeerConn {
    conn: quinn::Connection,
    addr: SocketAddr,
    server: String,
}

impl PeerConn {
    /// Connects to `addr`, checks the peer's certificate against the cluster CA (ours is checked
    /// by the peer), and exchanges the protocol hello.
    pub async fn connect(
        endpoint: &quinn::Endpoint,
        addr: SocketAddr,
        role: PeerRole,
        name: &str,
    ) -> Result<Self, TransportError> {
        Self::connect_as(endpoint, addr, role, name, None).await
    }

    /// Like [`Self::connect`], for a driver acting for `application` (said in the hello, so
    /// the peer can check that its block requests name that application's blocks).
    pub async fn connect_as(
        endpoint: &quinn::Endpoint,
        addr: SocketAddr,
        role: PeerRole,
        name: &str,
        application: Option<&str>,
    ) -> Result<Self, TransportError> {
        let attempt = Self::connect_inner(endpoint, addr, role, name, application);
        match tokio::time::timeout(CONNECT_TIMEOUT, attempt).await {
            Ok(result) => result,
            Err(_) => Err(TransportError::Unreachable {
                addr,
                reason: format!(
                    "no answer within {} ms (is a Cinder daemon listening there?)",
                    CONNECT_TIMEOUT.as_millis()
                ),
            }),
        }
    }

    async fn connect_inner(
        endpoint: &quinn::Endpoint,
        addr: SocketAddr,
        role: PeerRole,
        name: &str,
        application: Option<&str>,
    ) -> Result<Self, TransportError> {
        let connecting =
            endpoint
                .connect(addr, SERVER_NAME)
                .map_err(|e| TransportError::Unreachable {
                    addr,
                    reason: e.to_string(),
                })?;
        let conn = connecting
            .await
            .map_err(|e| TransportError::from_connection(addr, &e))?;
        let (mut send, mut recv) = conn
            .open_bi()
            .await
            .map_err(|e| TransportError::from_connection(addr, &e))?;
        let hello = Hello {
            protocol_version: PROTOCOL_VERSION,
            role,
            name: name.to_string(),
            application: application.map(str::to_string),
        };
        write_frame(&mut send, &hello)
            .await
            .map_err(|e| stream_error(&conn, addr, e))?;
        let _ = send.finish();
        let reply: HelloReply = read_frame(&mut recv, MAX_FRAME_BYTES)
            .await
            .map_err(|e| stream_error(&conn, addr, e))?;
        match reply {
            HelloReply::Welcome {
                protocol_version,
                server,
            } if protocol_version == PROTOCOL_VERSION => Ok(Self { conn, addr, server }),
            HelloReply::Welcome {
                protocol_version, ..
            } => Err(TransportError::Refused {
                addr,
                reason: format!(
                    "protocol version {protocol_version} does not match ours ({PROTOCOL_VERSION})"
                ),
            }),
            HelloReply::Refused { reason } => Err(TransportError::Refused { addr, reason }),
        }
    }

    /// The identity (role and name) in the peer's certificate.
    pub fn identity(&self) -> Result<super::Identity, super::identity::IdentityError> {
        super::Identity::of_connection(&self.conn)
    }

    /// The peer's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The peer's name from its hello reply (`master` or a worker id).
    pub fn server_name(&self) -> &str {
        &self.server
    }

    /// True once the connection is closed for any reason.
    pub fn is_closed(&self) -> bool {
        self.conn.close_reason().is_some()
    }

    /// Waits until the connection closes and returns why.
    pub async fn closed(&self) -> TransportError {
        let err = self.conn.closed().await;
        TransportError::from_connection(self.addr, &err)
    }

    /// Closes the connection with a reason the peer logs.
    pub fn close(&self, reason: &str) {
        self.conn.close(0u32.into(), reason.as_bytes());
    }

    /// Sends one request and waits for one response frame.
    pub async fn request<Req, Resp>(&self, request: &Req) -> Result<Resp, TransportError>
    where
        Req: Serialize + ?Sized,
        Resp: DeserializeOwned,
    {
        self.with_timeout(REQUEST_TIMEOUT, "request", async {
            let (mut send, mut recv) = self.open().await?;
            self.send_frame(&mut send, request).await?;
            let _ = send.finish();
            self.recv_frame(&mut recv).await
        })
        .await
    }

    /// Sends one request followed by `body` as raw bytes and waits for one response frame.
    pub async fn request_with_body<Req, Resp>(
        &self,
        request: &Req,
        body: Bytes,
    ) -> Result<Resp, TransportError>
    where
        Req: Serialize + ?Sized,
        Resp: DeserializeOwned,
    {
        self.with_timeout(REQUEST_TIMEOUT + BODY_TIMEOUT, "request with body", async {
            let (mut send, mut recv) = self.open().await?;
            self.send_frame(&mut send, request).await?;
            send.write_chunk(body).await.map_err(|e| self.lost(e))?;
            let _ = send.finish();
            self.recv_frame(&mut recv).await
        })
        .await
    }

    /// Sends one request; the response frame may be followed by a raw body, which
    /// `body_len` extracts from the response (None: no body).
    pub async fn request_body<Req, Resp>(
        &self,
        request: &Req,
        body_len: impl FnOnce(&Resp) -> Option<u64>,
    ) -> Result<(Resp, Option<Bytes>), TransportError>
    where
        Req: Serialize + ?Sized,
        Resp: DeserializeOwned,
    {
        self.request_body_within(request, body_len, REQUEST_TIMEOUT + BODY_TIMEOUT)
            .await
    }

    /// Like [`PeerConn::request_body`] with an explicit deadline (long-running tasks, jobs).
    pub async fn request_body_within<Req, Resp>(
        &self,
        request: &Req,
        body_len: impl FnOnce(&Resp) -> Option<u64>,
        limit: Duration,
    ) -> Result<(Resp, Option<Bytes>), TransportError>
    where
        Req: Serialize + ?Sized,
        Resp: DeserializeOwned,
    {
        self.with_timeout(limit, "request for a body", async {
            let (mut send, mut recv) = self.open().await?;
            self.send_frame(&mut send, request).await?;
            let _ = send.finish();
            let response: Resp = self.recv_frame(&mut recv).await?;
            let body = match body_len(&response) {
                Some(len) => Some(read_body(&mut recv, len).await.map_err(|source| {
                    TransportError::Frame {
                        addr: self.addr,
                        source,
                    }
                })?),
                None => None,
            };
            Ok((response, body))
        })
        .await
    }

    /// Opens a raw bidirectional stream (tests, custom protocols).
    pub async fn open(&self) -> Result<(quinn::SendStream, quinn::RecvStream), TransportError> {
        self.conn
            .open_bi()
            .await
            .map_err(|e| TransportError::from_connection(self.addr, &e))
    }

    async fn send_frame<T: Serialize + ?Sized>(
        &self,
        send: &mut quinn::SendStream,
        value: &T,
    ) -> Result<(), TransportError> {
        write_frame(send, value)
            .await
            .map_err(|e| stream_error(&self.conn, self.addr, e))
    }

    async fn recv_frame<T: DeserializeOwned>(
        &self,
        recv: &mut quinn::RecvStream,
    ) -> Result<T, TransportError> {
        read_frame(recv, MAX_FRAME_BYTES)
            .await
            .map_err(|e| stream_error(&self.conn, self.addr, e))
    }

    fn lost(&self, e: impl std::fmt::Display) -> TransportError {
        match self.conn.close_reason() {
            Some(reason) => TransportError::from_connection(self.addr, &reason),
            None => TransportError::ConnectionLost {
                addr: self.addr,
                reason: e.to_string(),
            },
        }
    }

    async fn with_timeout<T>(
        &self,
        limit: Duration,
        what: &'static str,
        fut: impl std::future::Future<Output = Result<T, TransportError>>,
    ) -> Result<T, TransportError> {
        match tokio::time::timeout(limit, fut).await {
            Ok(result) => result,
            Err(_) => Err(TransportError::Timeout {
                addr: self.addr,
                what,
                after_ms: limit.as_millis() as u64,
            }),
        }
    }
}

/// Reads exactly `len` raw body bytes that follow a frame. The buffer grows with the bytes
/// that arrived; a body with no progress for [`REQUEST_TIMEOUT`] fails.
pub async fn read_body(
    recv: &mut quinn::RecvStream,
    len: u64,
) -> Result<Bytes, crate::wire::FrameError> {
    let (body, _lease) = super::body::read_body_bounded(recv, len, None, REQUEST_TIMEOUT).await?;
    Ok(body)
}

/// Maps a frame error on a stream to a transport error, preferring the connection's close
/// reason when the connection itself went away (e.g. the peer rejected our certificate).
fn stream_error(
    conn: &quinn::Connection,
    addr: SocketAddr,
    err: crate::wire::FrameError,
) -> TransportError {
    match conn.close_reason() {
        Some(reason) => TransportError::from_connection(addr, &reason),
        None => TransportError::Frame { addr, source: err },
    }
}
