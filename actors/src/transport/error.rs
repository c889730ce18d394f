//! Errors of the transport, each naming the peer address it concerns.

use std::net::SocketAddr;

use crate::wire::FrameError;

/// Why talking to a peer failed.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The TLS or QUIC configuration could not be built from the credentials.
    #[error("invalid TLS setup: {0}")]
    Tls(String),
    /// The local UDP socket could not be bound.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// Address we tried.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// An address string could not be resolved.
    #[error("cannot resolve address {addr:?}: {reason}")]
    Resolve {
        /// The address as given.
        addr: String,
        /// Cause.
        reason: String,
    },
    /// The peer did not answer or the path failed.
    #[error("cannot reach {addr}: {reason}")]
    Unreachable {
        /// Peer.
        addr: SocketAddr,
        /// Cause.
        reason: String,
    },
    /// The peer refused us: bad or foreign credentials, or a protocol version mismatch.
    #[error("{addr} refused the connection: {reason}")]
    Refused {
        /// Peer.
        addr: SocketAddr,
        /// Cause.
        reason: String,
    },
    /// A step did not finish within its deadline.
    #[error("{addr}: {what} timed out after {after_ms} ms")]
    Timeout {
        /// Peer.
        addr: SocketAddr,
        /// What we were waiting for.
        what: &'static str,
        /// Deadline.
        after_ms: u64,
    },
    /// The connection or stream broke.
    #[error("{addr}: connection lost: {reason}")]
    ConnectionLost {
        /// Peer.
        addr: SocketAddr,
        /// Cause.
        reason: String,
    },
    /// A frame could not be read, written or decoded.
    #[error("{addr}: {source}")]
    Frame {
        /// Peer.
        addr: SocketAddr,
        /// Cause.
        source: FrameError,
    },
    /// The peer answered something that does not fit the request.
    #[error("{addr}: unexpected answer: {answer}")]
    Unexpected {
        /// Peer.
        addr: SocketAddr,
        /// The answer, debug-printed.
        answer: String,
    },
}

impl TransportError {
    /// True when retrying against the same peer later may succeed (the peer may be restarting,
    /// or the network may heal); false for configuration and credential problems.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Unreachable { .. } | Self::Timeout { .. } | Self::ConnectionLost { .. }
        )
    }

    /// Classifies a quinn connection error seen while talking to `addr`.
    pub fn from_connection(addr: SocketAddr, err: &quinn::ConnectionError) -> Self {
        use quinn::ConnectionError as E;
        match err {
            E::TimedOut => Self::Unreachable {
                addr,
                reason: "no answer (timed out)".into(),
            },
            E::TransportError(t) if is_crypto(t.code) => Self::Refused {
                addr,
                reason: format!("TLS handshake failed (are both sides using credentials from the same `cinder init`?): {t}"),
            },
            E::ConnectionClosed(c) if is_crypto(c.error_code) => Self::Refused {
                addr,
                reason: format!("peer rejected our credentials; are both sides using the same `cinder init`? ({c})"),
            },
            E::ApplicationClosed(c) => Self::ConnectionLost {
                addr,
                reason: format!(
                    "closed by peer: {}",
                    String::from_utf8_lossy(&c.reason).into_owned()
                ),
            },
            other => Self::ConnectionLost {
                addr,
                reason: other.to_string(),
            },
        }
    }
}

fn is_crypto(code: quinn::TransportErrorCode) -> bool {
    let raw = u64::from(code);
    (0x100..0x200).contains(&raw)
}
