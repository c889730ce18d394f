//! The QUIC transport: mutually authenticated endpoints, the connect-time hello, request/response
//! streams with streamed bulk bodies, and one pooled connection per peer.
//!
//! Every connection starts with a [`crate::wire::Hello`] on its first bidirectional stream and a
//! [`crate::wire::HelloReply`] back; only then are further streams served. Each later
//! bidirectional stream carries exactly one request and its response.

pub mod authority;
pub mod body;
pub mod client;
pub mod credentials;
pub mod crl;
pub mod endpoint;
pub mod error;
pub mod hello;
pub mod identity;
pub mod limits;
pub mod pool;
pub mod server;

pub use client::PeerConn;
pub use credentials::{CredentialError, Credentials};
pub use endpoint::{bind_endpoint, client_endpoint, TransportSettings};
pub use error::TransportError;
pub use identity::{Identity, Role};
pub use limits::{Gate, Limits};
pub use pool::PeerPool;
pub use server::{serve, serve_with, PeerInfo, Service, StreamIo};
