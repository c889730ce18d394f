//! Starting a worker: bind, start the Worker and BlockManager actors, serve peers, and run the
//! session with the master.

use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Addr};
use tokio::task::JoinHandle;
use tracing::warn;

use super::actor::Worker;
use super::service::WorkerService;
use super::session::{Session, SessionEnd};
use crate::block_manager::{BlockError, BlockManager, BlockManagerHandle, BlockStore, MasterLink};
use crate::transport::crl::{self, ReloadError};
use crate::transport::{
    bind_endpoint, serve_with, Credentials, Gate, Limits, PeerPool, TransportError,
    TransportSettings,
};
use crate::wire::PeerRole;

/// Everything a worker needs to start.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The master's address (`host:port`).
    pub master: String,
    /// Address to listen on for peers (port 0 picks a free one).
    pub listen: SocketAddr,
    /// Address to tell peers; defaults to the bound address.
    pub advertise: Option<SocketAddr>,
    /// Directory for spilled blocks and scratch files.
    pub work_dir: PathBuf,
    /// Stable id; defaults to one derived from the host name and work dir.
    pub worker_id: Option<String>,
    /// Cores offered for tasks.
    pub cores: u32,
    /// Byte budget of the memory store.
    pub memory_budget_bytes: u64,
    /// QUIC tuning.
    pub transport: TransportSettings,
    /// Limits on what peers may cost.
    pub limits: Limits,
}

/// A started worker.
pub struct RunningWorker {
    /// Bound address.
    pub addr: SocketAddr,
    /// Address given to peers.
    pub advertised: SocketAddr,
    /// The worker's id.
    pub worker_id: String,
    /// The Worker actor.
    pub actor: Addr<Worker>,
    /// Its block manager.
    pub block_manager: BlockManagerHandle,
    endpoint: quinn::Endpoint,
    session: JoinHandle<SessionEnd>,
    gate: Arc<Gate>,
    creds_dir: PathBuf,
    transport: TransportSettings,
}

impl RunningWorker {
    /// Re-reads the credentials directory (SIGHUP): a new `crl.pem` or member certificate
    /// applies to new connections, and connections of members now refused are closed.
    pub fn reload_credentials(&self) -> Result<usize, ReloadError> {
        crl::reload(&self.endpoint, &self.creds_dir, &self.transport, &self.gate)
    }

    /// Waits until the session with the master ends for good (superseded).
    pub async fn session_ended(&mut self) -> SessionEnd {
        match (&mut self.session).await {
            Ok(end) => end,
            Err(e) => {
                warn!("session task failed: {e}");
                SessionEnd::Superseded {
                    current_incarnation: 0,
                }
            }
        }
    }

    /// Closes every connection (peers see the close at once) and waits briefly.
    pub async fn shutdown(self) {
        self.session.abort();
        self.endpoint.close(0u32.into(), b"worker shutting down");
        let _ = tokio::time::timeout(Duration::from_secs(2), self.endpoint.wait_idle()).await;
    }
}

/// The default worker id: stable for one host and work dir, so a restarted worker with the same
/// work dir comes back under the same id (as a new incarnation).
pub fn default_worker_id(work_dir: &Path) -> String {
    let canonical = work_dir
        .canonicalize()
        .unwrap_or_else(|_| work_dir.to_path_buf());
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    host.trim().hash(&mut hasher);
    canonical.hash(&mut hasher);
    format!("worker-{:08x}", hasher.finish() as u32)
}

/// Why a worker could not start.
#[derive(Debug, thiserror::Error)]
pub enum WorkerStartError {
    /// The endpoint could not be bound or configured.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The block store could not be opened.
    #[error(transparent)]
    Storage(#[from] BlockError),
    /// The work dir could not be created.
    #[error("work dir {path}: {source}")]
    WorkDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Starts a worker. Must be called inside a running actix `System` on a tokio runtime.
pub async fn start_worker(
    config: WorkerConfig,
    creds: Arc<Credentials>,
) -> Result<RunningWorker, WorkerStartError> {
    crate::private_fs::create_dir_all(&config.work_dir).map_err(|source| {
        WorkerStartError::WorkDir {
            path: config.work_dir.clone(),
            source,
        }
    })?;
    let store = BlockStore::open(config.memory_budget_bytes, &config.work_dir.join("spill"))?;
    let worker_id = config
        .worker_id
        .clone()
        .unwrap_or_else(|| default_worker_id(&config.work_dir));
    let endpoint = bind_endpoint(config.listen, &creds, &config.transport)?;
    let addr = endpoint
        .local_addr()
        .map_err(|source| TransportError::Bind {
            addr: config.listen,
            source,
        })?;
    let advertised = config.advertise.unwrap_or(addr);
    if advertised.ip().is_unspecified() {
        warn!(%advertised, "advertised address is unspecified; peers cannot reach it (set --advertise)");
    }
    let link = MasterLink::default();
    let peers = PeerPool::new(endpoint.clone(), PeerRole::Worker, &worker_id);
    let block_manager = BlockManagerHandle::start(
        BlockManager::new(store),
        worker_id.clone(),
        link.clone(),
        peers,
    );
    let actor = Worker::new(worker_id.clone()).start();
    let service = WorkerService::new(worker_id.clone(), actor.clone(), block_manager.clone());
    let gate = Arc::new(Gate::new(config.limits.clone()));
    tokio::spawn(serve_with(
        endpoint.clone(),
        Arc::new(service),
        gate.clone(),
    ));
    let session = Session {
        master: config.master.clone(),
        endpoint: endpoint.clone(),
        worker_id: worker_id.clone(),
        address: advertised.to_string(),
        cores: config.cores,
        memory_budget_bytes: config.memory_budget_bytes,
        worker: actor.clone(),
        block_manager: block_manager.clone(),
        link,
    };
    let session = tokio::spawn(session.run());
    Ok(RunningWorker {
        addr,
        advertised,
        worker_id,
        actor,
        block_manager,
        endpoint,
        session,
        gate,
        creds_dir: creds.dir.clone(),
        transport: config.transport,
    })
}
