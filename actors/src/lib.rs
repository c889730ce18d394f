//! The Cinder runtime: Master, Worker and BlockManager actors (actix), the mutually
//! authenticated QUIC transport (quinn + rustls) and the wire protocol (rmp-serde frames).
//!
//! Daemons are started with [`master::start_master`] and [`worker::start_worker`] inside an
//! actix `System` running on a multi-thread tokio runtime; see the `cinder` crate for the
//! binaries and the embedded local cluster.

#![warn(missing_docs)]

pub mod authz;
pub mod block_manager;
pub mod clock;
pub mod data;
pub mod master;
pub mod private_fs;
pub mod scheduler;
pub mod transport;
pub mod wire;
pub mod worker;

#[doc(hidden)]
pub use inventory;
