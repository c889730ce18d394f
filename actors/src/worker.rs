//! The worker: registers with the master, heartbeats, hosts a block manager and serves peers.

pub mod actor;
pub mod daemon;
pub mod service;
pub mod session;

pub use actor::{Worker, WorkerInfo, WorkerMsg};
pub use daemon::{default_worker_id, start_worker, RunningWorker, WorkerConfig, WorkerStartError};
pub use session::SessionEnd;
