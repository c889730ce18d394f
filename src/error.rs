//! The `cinder` crate's error type.

use std::path::PathBuf;

use cinder_actors::block_manager::BlockError;
use cinder_actors::transport::{CredentialError, TransportError};
use cinder_actors::wire::JobError;
use cinder_actors::worker::WorkerStartError;

/// Anything that can go wrong in the job API or the embedded cluster.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Talking to the cluster failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// Credentials could not be created or loaded.
    #[error(transparent)]
    Credentials(#[from] CredentialError),
    /// A block operation failed.
    #[error(transparent)]
    Block(#[from] BlockError),
    /// A worker could not start.
    #[error(transparent)]
    WorkerStart(#[from] WorkerStartError),
    /// A master could not start (endpoint or recovery store).
    #[error(transparent)]
    MasterStart(#[from] cinder_actors::master::MasterStartError),
    /// A job failed (the partition, stage, attempts and last cause are named).
    #[error(transparent)]
    Job(#[from] JobError),
    /// Input data could not be used (a missing file, a malformed line, a bad argument).
    #[error("{0}")]
    Input(String),
    /// Arrow data could not be encoded or decoded.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    /// A value could not be encoded or decoded.
    #[error("encoding: {0}")]
    Encoding(String),
    /// A file or directory could not be used.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A daemon process could not be started or died early.
    #[error("embedded cluster: {0}")]
    Launch(String),
    /// The master no longer runs this driver's application (its lease expired, or an
    /// operator killed it): its datasets are gone.
    #[error("{0}")]
    ApplicationGone(String),
    /// The master answered with an error (e.g. a permission refusal naming role and
    /// operation).
    #[error("master: {0}")]
    Master(String),
    /// A worker id not known to the master.
    #[error("no alive worker with id {0:?}")]
    UnknownWorker(String),
    /// A worker answered with an error.
    #[error("worker {worker}: {message}")]
    Worker {
        /// The worker.
        worker: String,
        /// Its message.
        message: String,
    },
    /// A wait did not finish in time.
    #[error("timed out after {after_ms} ms waiting for {what}")]
    Timeout {
        /// What we waited for.
        what: String,
        /// How long.
        after_ms: u64,
    },
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
