//! Starting a master: bind the QUIC endpoint, start the actor, serve.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Addr};

use super::actor::Master;
use super::service::MasterService;
use crate::clock::SystemClock;
use crate::transport::crl::{self, ReloadError};
use crate::transport::{
    bind_endpoint, serve_with, Credentials, Gate, Limits, PeerPool, TransportError,
    TransportSettings,
};
use crate::wire::PeerRole;

/// Everything a master needs to start.
#[derive(Debug, Clone)]
pub struct MasterConfig {
    /// Address to listen on (port 0 picks a free one).
    pub listen: SocketAddr,
    /// Directory for metadata that survives restarts.
    pub work_dir: Option<PathBuf>,
    /// Heartbeat period asked of workers.
    pub heartbeat_interval: Duration,
    /// Silence after which a worker is lost.
    pub heartbeat_timeout: Duration,
    /// A driver whose lease is not renewed for this long is lost (`--app-timeout`).
    pub app_timeout: Duration,
    /// Jobs fail after this long without any live worker (`--no-worker-timeout`).
    pub no_worker_timeout: Duration,
    /// QUIC tuning.
    pub transport: TransportSettings,
    /// Limits on what peers may cost.
    pub limits: Limits,
}

impl MasterConfig {
    /// Defaults: heartbeat every 1 s, lost after 5 s of silence.
    pub fn new(listen: SocketAddr) -> Self {
        Self {
            listen,
            work_dir: None,
            heartbeat_interval: Duration::from_secs(1),
            heartbeat_timeout: Duration::from_secs(5),
            app_timeout: super::actor::DEFAULT_APP_TIMEOUT,
            no_worker_timeout: super::actor::DEFAULT_NO_WORKER_TIMEOUT,
            transport: TransportSettings::default(),
            limits: Limits::default(),
        }
    }
}

/// A started master.
pub struct RunningMaster {
    /// The bound address.
    pub addr: SocketAddr,
    /// The actor.
    pub actor: Addr<Master>,
    endpoint: quinn::Endpoint,
    gate: Arc<Gate>,
    creds_dir: PathBuf,
    transport: TransportSettings,
}

impl RunningMaster {
    /// Re-reads the credentials directory (SIGHUP): a new `crl.pem` or member certificate
    /// applies to new connections, and connections of members now refused are closed.
    pub fn reload_credentials(&self) -> Result<usize, ReloadError> {
        crl::reload(&self.endpoint, &self.creds_dir, &self.transport, &self.gate)
    }

    /// Closes every connection and waits briefly for the closes to reach peers.
    pub async fn shutdown(self) {
        self.endpoint.close(0u32.into(), b"master shutting down");
        let _ = tokio::time::timeout(Duration::from_secs(2), self.endpoint.wait_idle()).await;
    }
}

/// Why a master could not start.
#[derive(Debug, thiserror::Error)]
pub enum MasterStartError {
    /// The endpoint could not be set up.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The recovery store under `--work-dir` could not be opened or read.
    #[error(transparent)]
    Store(#[from] super::store::StoreError),
}

/// Starts a master. Must be called inside a running actix `System` on a tokio runtime. With
/// a work directory, the master keeps its recovery store there ([`super::store`]) and, when
/// the store already holds state (a restart), recovers it before serving anyone.
pub async fn start_master(
    config: MasterConfig,
    creds: Arc<Credentials>,
) -> Result<RunningMaster, MasterStartError> {
    if let Some(dir) = &config.work_dir {
        crate::private_fs::create_dir_all(dir).map_err(|source| TransportError::Bind {
            addr: config.listen,
            source,
        })?;
    }
    let endpoint = bind_endpoint(config.listen, &creds, &config.transport)?;
    let addr = endpoint
        .local_addr()
        .map_err(|source| TransportError::Bind {
            addr: config.listen,
            source,
        })?;
    let pool = PeerPool::new(endpoint.clone(), PeerRole::Client, "master");
    let mut master = Master::new(
        addr.to_string(),
        config.heartbeat_interval,
        config.heartbeat_timeout,
        Arc::new(SystemClock::new()),
        pool,
    )
    .with_timeouts(config.app_timeout, config.no_worker_timeout);
    if let Some(dir) = &config.work_dir {
        master = master.with_store(super::store::MasterStore::open(dir)?)?;
    }
    let actor = master.start();
    let gate = Arc::new(Gate::new(config.limits.clone()));
    let service = MasterService::new(actor.clone(), config.limits.clone());
    tokio::spawn(serve_with(
        endpoint.clone(),
        Arc::new(service),
        gate.clone(),
    ));
    Ok(RunningMaster {
        addr,
        actor,
        endpoint,
        gate,
        creds_dir: creds.dir.clone(),
        transport: config.transport,
    })
}
