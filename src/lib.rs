//! Cinder: an actor-based, fault-tolerant cluster runtime for machine learning.
//!
//! This crate is the facade users depend on: the job API ([`Context`]), the embedded local
//! cluster ([`LocalCluster`]), the daemon entry points ([`daemon`]) and the `cinder` CLI.
//! The runtime itself lives in [`cinder_actors`], re-exported as [`runtime`].

#![warn(missing_docs)]

pub mod cli;
pub mod context;
pub mod daemon;
pub mod error;
pub mod local;
pub mod logging;
pub mod size;
pub mod status;

pub use cinder_actors as runtime;
pub use cinder_actors::wire::{BlockId, ClusterStatus, WorkerState, WorkerStatus};
pub use context::Context;
pub use error::{Error, Result};
pub use local::{LocalCluster, LocalClusterBuilder};
