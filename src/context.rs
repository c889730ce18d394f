//! [`Context`]: the driver's entry point to a cluster, embedded or remote.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cinder_actors::block_manager::FetchOutcome;
use cinder_actors::data::plan::{DatasetId, Lineage};
use cinder_actors::master::MasterClient;

use crate::master_link::MasterLink;
use cinder_actors::transport::endpoint::{client_endpoint, resolve};
use cinder_actors::transport::{Credentials, PeerPool, TransportSettings};
use cinder_actors::wire::{
    BlockId, ClusterStatus, JobSpec, MasterRequest, MasterResponse, PartitionResult, PeerRole,
    StorageLevel, WorkerRequest, WorkerResponse, WorkerState,
};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::local::{LocalCluster, LocalClusterBuilder};
use crate::{Error, Result};

/// Upper bound on one job's run time.
const JOB_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// How long [`Context::local`] waits for every worker to register.
const REGISTRATION_TIMEOUT: Duration = Duration::from_secs(30);

/// A connection from a driver program to a Cinder cluster.
///
/// The API is blocking: the context owns a small tokio runtime and must not be used from
/// inside another async runtime.
///
/// ```no_run
/// let cx = cinder::Context::local(2)?;
/// let status = cx.status()?;
/// assert_eq!(status.workers.len(), 2);
/// # Ok::<(), cinder::Error>(())
/// ```
pub struct Context {
    pub(crate) inner: Arc<Inner>,
    cluster: Option<LocalCluster>,
}

/// The shared part of a context: connections, the runtime and the lineage graph. Datasets
/// hold it, so they stay usable as long as any of them lives.
pub(crate) struct Inner {
    pub(crate) master: Arc<MasterLink>,
    peers: PeerPool,
    endpoint: quinn::Endpoint,
    pub(crate) runtime: tokio::runtime::Runtime,
    pub(crate) lineage: Mutex<Lineage>,
    next_dataset: AtomicU64,
    /// This driver's application (every dataset, block and job belongs to it).
    pub(crate) app: String,
    /// Key in the interrupt registry.
    shutdown_key: u64,
    /// Jobs this driver is waiting for.
    jobs_running: Arc<AtomicUsize>,
    /// Set when the driver ends with an error (the application ends `failed`).
    failed: AtomicBool,
    /// Set once the application was released (by the context's drop or the last dataset's).
    released: AtomicBool,
    /// Why the master no longer runs the application (lease lost, killed), once known.
    gone: Arc<Mutex<Option<String>>>,
    /// Stops the lease renewal task.
    lease_stop: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
}

/// How often a driver warns while its jobs wait with no live worker.
const NO_WORKER_WARNING: Duration = Duration::from_secs(10);

impl Context {
    /// Starts an embedded cluster of `workers` worker processes (plus a master) on 127.0.0.1
    /// and connects to it; the cluster stops when the context is dropped.
    ///
    /// Daemons are started from the current executable, so a program calling this must let
    /// those processes become daemons: this function does that itself when it is reached in a
    /// daemon process, but anything `main` does before calling it also runs there. Call
    /// [`crate::daemon::maybe_run_daemon`] first thing in `main` to avoid that.
    pub fn local(workers: usize) -> Result<Self> {
        Self::local_with(LocalCluster::builder().workers(workers))
    }

    /// Like [`Context::local`] with full control over the embedded cluster.
    pub fn local_with(builder: LocalClusterBuilder) -> Result<Self> {
        Self::local_named(builder, &default_app_name())
    }

    /// Like [`Context::local_with`], naming the application `app_name`.
    pub fn local_named(builder: LocalClusterBuilder, app_name: &str) -> Result<Self> {
        crate::daemon::maybe_run_daemon();
        let cluster = builder.start()?;
        let expected = cluster.workers().len();
        let mut cx = Self::connect_named(cluster.master_addr(), cluster.cluster_dir(), app_name)?;
        cx.cluster = Some(cluster);
        cx.wait_for_workers(expected, REGISTRATION_TIMEOUT)?;
        Ok(cx)
    }

    /// Connects to the master at `master` (`host:port` or `cinder://host:port`) with the
    /// credentials in `cluster_dir`, and registers an application named after the program
    /// (or `CINDER_APP_NAME`).
    pub fn connect(master: &str, cluster_dir: impl AsRef<Path>) -> Result<Self> {
        Self::connect_named(master, cluster_dir, &default_app_name())
    }

    /// Like [`Context::connect`], naming the application `app_name` (shown by `cinder status`
    /// and `cinder app list`).
    ///
    /// The application lives as long as the context: dropping it (or an interrupt of the
    /// process) releases it at once on the master, which cancels its jobs and drops its
    /// blocks and shuffle outputs on every worker. A driver that vanishes without a word is
    /// released once its lease (renewed in the background) expires: the master's
    /// `--app-timeout`.
    pub fn connect_named(
        master: &str,
        cluster_dir: impl AsRef<Path>,
        app_name: &str,
    ) -> Result<Self> {
        let creds = Credentials::load_shared(cluster_dir.as_ref())?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("cinder-driver")
            .enable_all()
            .build()
            .map_err(|source| Error::Io {
                path: "tokio runtime".into(),
                source,
            })?;
        let (endpoint, client, peers) = runtime.block_on(connect(master, &creds))?;
        let (app, lease_timeout_ms) = runtime.block_on(register(&client, app_name))?;
        let master = Arc::new(MasterLink::new(
            endpoint.clone(),
            client,
            &driver_name(),
            crate::master_link::master_timeout_from_env(),
        ));
        let peers = peers.with_application(&app);
        let shutdown_key = crate::shutdown::next_key();
        crate::shutdown::install();
        crate::shutdown::register_app(
            shutdown_key,
            runtime.handle().clone(),
            master.clone(),
            app.clone(),
        );
        let jobs_running = Arc::new(AtomicUsize::new(0));
        let gone = Arc::new(Mutex::new(None));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        runtime.spawn(renew_lease(
            master.clone(),
            app.clone(),
            Duration::from_millis(lease_timeout_ms),
            jobs_running.clone(),
            gone.clone(),
            stop_rx,
        ));
        tracing::debug!(%app, name = %app_name, "application registered");
        Ok(Self {
            inner: Arc::new(Inner {
                master,
                peers,
                endpoint,
                runtime,
                lineage: Mutex::new(Lineage::for_app(app.clone())),
                next_dataset: AtomicU64::new(1),
                app,
                shutdown_key,
                jobs_running,
                failed: AtomicBool::new(false),
                released: AtomicBool::new(false),
                gone,
                lease_stop: Mutex::new(Some(stop_tx)),
            }),
            cluster: None,
        })
    }

    /// This driver's application id (`app-<master start>-<sequence>`).
    pub fn application_id(&self) -> &str {
        &self.inner.app
    }

    /// The id of a block of this application named `name`: drivers may read, write and drop
    /// only their own application's blocks (`user_<app>_<name>`).
    pub fn block_id(&self, name: &str) -> BlockId {
        BlockId(format!("user_{}_{name}", self.inner.app))
    }

    /// Marks the driver as failed: its application ends `failed` instead of `finished` when
    /// the context is dropped.
    pub fn mark_failed(&self) {
        self.inner.failed.store(true, Ordering::Relaxed);
    }

    /// How long this driver keeps trying to reach a master that stopped answering (restarted,
    /// paused, unreachable) before its requests fail: default 60 s, or
    /// `CINDER_MASTER_TIMEOUT`. Jobs it was waiting for are resubmitted once the master answers.
    pub fn set_master_timeout(&self, timeout: Duration) {
        self.inner.master.set_timeout(timeout);
    }

    /// The master's address.
    pub fn master_addr(&self) -> SocketAddr {
        self.inner.master.addr()
    }

    /// The embedded cluster, when this context started one.
    pub fn local_cluster(&self) -> Option<&LocalCluster> {
        self.cluster.as_ref()
    }

    /// The embedded cluster, mutably (to kill or restart workers in tests).
    pub fn local_cluster_mut(&mut self) -> Option<&mut LocalCluster> {
        self.cluster.as_mut()
    }

    /// The cluster state as the master sees it.
    pub fn status(&self) -> Result<ClusterStatus> {
        Ok(self.inner.runtime.block_on(self.inner.status())?)
    }

    /// Waits (bounded by `timeout`) until at least `n` workers are alive.
    pub fn wait_for_workers(&self, n: usize, timeout: Duration) -> Result<ClusterStatus> {
        self.wait_for_status(&format!("{n} alive workers"), timeout, |status| {
            alive(status) >= n
        })
    }

    /// Polls the master (every 50 ms, bounded by `timeout`) until `done` holds.
    pub fn wait_for_status(
        &self,
        what: &str,
        timeout: Duration,
        mut done: impl FnMut(&ClusterStatus) -> bool,
    ) -> Result<ClusterStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            let status = self.status()?;
            if done(&status) {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: what.to_string(),
                    after_ms: timeout.as_millis() as u64,
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stores a raw byte block on worker `worker_id` (streamed over QUIC).
    pub fn put_block(&self, worker_id: &str, block_id: &BlockId, bytes: Bytes) -> Result<u64> {
        let request = WorkerRequest::PutBlock {
            block_id: block_id.clone(),
            len: bytes.len() as u64,
            level: StorageLevel::MemoryOnly,
        };
        self.inner.runtime.block_on(async {
            let conn = self.worker_conn(worker_id).await?;
            match conn.request_with_body(&request, bytes).await? {
                WorkerResponse::Stored { len } => Ok(len),
                other => Err(worker_error(worker_id, other)),
            }
        })
    }

    /// Reads a block held by worker `worker_id` (no lookup elsewhere); `None` if absent.
    pub fn get_block(&self, worker_id: &str, block_id: &BlockId) -> Result<Option<Bytes>> {
        let request = WorkerRequest::GetBlock {
            block_id: block_id.clone(),
        };
        self.inner.runtime.block_on(async {
            let conn = self.worker_conn(worker_id).await?;
            let (response, body) = conn
                .request_body(&request, |r: &WorkerResponse| match r {
                    WorkerResponse::Block { len } => Some(*len),
                    _ => None,
                })
                .await?;
            match response {
                WorkerResponse::Block { .. } => Ok(body),
                WorkerResponse::NotFound { .. } => Ok(None),
                other => Err(worker_error(worker_id, other)),
            }
        })
    }

    /// Asks worker `worker_id` to hold a block, copying it from whichever worker has it
    /// (through the block-manager protocol) when it is not already local.
    pub fn fetch_block(&self, worker_id: &str, block_id: &BlockId) -> Result<Option<FetchOutcome>> {
        let request = WorkerRequest::FetchBlock {
            block_id: block_id.clone(),
        };
        self.inner.runtime.block_on(async {
            let conn = self.worker_conn(worker_id).await?;
            match conn.request(&request).await? {
                WorkerResponse::Fetched { len, source } => Ok(Some(FetchOutcome { len, source })),
                WorkerResponse::NotFound { .. } => Ok(None),
                other => Err(worker_error(worker_id, other)),
            }
        })
    }

    /// Drops a block from worker `worker_id`; true if it was there.
    pub fn remove_block(&self, worker_id: &str, block_id: &BlockId) -> Result<bool> {
        let request = WorkerRequest::RemoveBlock {
            block_id: block_id.clone(),
        };
        self.inner.runtime.block_on(async {
            let conn = self.worker_conn(worker_id).await?;
            match conn.request(&request).await? {
                WorkerResponse::Removed { existed } => Ok(existed),
                other => Err(worker_error(worker_id, other)),
            }
        })
    }

    /// Fault injection for tests and the chaos harness: corrupts a block's bytes in worker
    /// `worker_id`'s spill store (the worker must run with `CINDER_FAULT_INJECTION=1`).
    /// True when the block was on that worker's disk.
    pub fn corrupt_block(&self, worker_id: &str, block_id: &BlockId) -> Result<bool> {
        let request = WorkerRequest::CorruptBlock {
            block_id: block_id.clone(),
        };
        self.inner.runtime.block_on(async {
            let conn = self.worker_conn(worker_id).await?;
            match conn.request(&request).await? {
                WorkerResponse::Removed { existed } => Ok(existed),
                other => Err(worker_error(worker_id, other)),
            }
        })
    }

    /// Round trip of a ping to worker `worker_id`.
    pub fn ping_worker(&self, worker_id: &str) -> Result<Duration> {
        self.inner.runtime.block_on(async {
            let conn = self.worker_conn(worker_id).await?;
            let start = Instant::now();
            match conn.request(&WorkerRequest::Ping).await? {
                WorkerResponse::Pong { .. } => Ok(start.elapsed()),
                other => Err(worker_error(worker_id, other)),
            }
        })
    }

    async fn worker_conn(&self, worker_id: &str) -> Result<cinder_actors::transport::PeerConn> {
        let status = self.inner.status().await?;
        let worker = status
            .workers
            .iter()
            .find(|w| w.id == worker_id && w.state == WorkerState::Alive)
            .ok_or_else(|| Error::UnknownWorker(worker_id.to_string()))?;
        let addr = resolve(&worker.address).await?;
        Ok(self.inner.peers.get(addr).await?)
    }
}

impl Inner {
    /// A fresh dataset id.
    pub(crate) fn next_id(&self) -> DatasetId {
        self.next_dataset.fetch_add(1, Ordering::Relaxed)
    }

    /// Runs a job on the cluster and returns every partition's result in partition order.
    pub(crate) fn run_job(&self, mut spec: JobSpec) -> Result<Vec<PartitionResult>> {
        if let Some(why) = self.gone.lock().expect("gone lock").clone() {
            return Err(Error::ApplicationGone(why));
        }
        spec.lineage.app = self.app.clone();
        self.jobs_running.fetch_add(1, Ordering::Relaxed);
        let result = self.run_job_inner(spec);
        self.jobs_running.fetch_sub(1, Ordering::Relaxed);
        if result.is_err() {
            crate::shutdown::hold_if_interrupted();
        }
        result
    }

    fn run_job_inner(&self, spec: JobSpec) -> Result<Vec<PartitionResult>> {
        let request = MasterRequest::RunJob(spec);
        let request = &request;
        // A broken connection (master restarted or paused) resubmits the job once the master
        // answers again: results are deterministic, so the answer is the same.
        let (response, body) =
            self.runtime
                .block_on(self.master.retrying("job", |client| async move {
                    client
                        .conn()
                        .request_body_within(
                            request,
                            |r: &MasterResponse| match r {
                                MasterResponse::JobDone { len } => Some(*len),
                                _ => None,
                            },
                            JOB_TIMEOUT,
                        )
                        .await
                }))?;
        match response {
            MasterResponse::JobDone { .. } => {
                let body = body.unwrap_or_default();
                rmp_serde::from_slice(&body).map_err(|e| Error::Encoding(e.to_string()))
            }
            MasterResponse::JobFailed(error) => Err(Error::Job(error)),
            MasterResponse::Error { message } => Err(Error::Master(message)),
            other => Err(Error::Encoding(format!(
                "unexpected answer to a job: {other:?}"
            ))),
        }
    }

    /// The cluster's state, asked of the master (reconnecting if need be).
    pub(crate) async fn status(
        &self,
    ) -> std::result::Result<ClusterStatus, cinder_actors::transport::TransportError> {
        self.master
            .retrying("status", |client| async move { client.status().await })
            .await
    }

    /// Tells the master to drop a dataset's persisted blocks everywhere.
    pub(crate) fn unpersist(&self, dataset: DatasetId) -> Result<()> {
        let request = MasterRequest::Unpersist {
            dataset,
            app: self.app.clone(),
        };
        match self.runtime.block_on(self.master.call(&request))? {
            MasterResponse::Ack => Ok(()),
            MasterResponse::Error { message } => Err(Error::Master(message)),
            other => Err(Error::Encoding(format!("unexpected answer: {other:?}"))),
        }
    }
}

impl Inner {
    /// Ends the application on the master (bounded): its jobs are cancelled and its blocks
    /// dropped everywhere at once.
    fn release(&self) {
        if self.released.swap(true, Ordering::SeqCst) {
            return;
        }
        crate::shutdown::forget_app(self.shutdown_key);
        if let Some(stop) = self.lease_stop.lock().expect("lease lock").take() {
            let _ = stop.send(());
        }
        if self.gone.lock().expect("gone lock").is_some() {
            return;
        }
        let failed = self.failed.load(Ordering::Relaxed) || std::thread::panicking();
        let request = MasterRequest::EndApplication {
            app: self.app.clone(),
            failed,
        };
        let released = self.runtime.block_on(async {
            tokio::time::timeout(Duration::from_secs(2), self.master.call(&request)).await
        });
        if !matches!(released, Ok(Ok(_))) {
            tracing::warn!(app = %self.app, "could not release the application; the master will when its lease expires");
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.release();
        self.endpoint.close(0u32.into(), b"driver done");
        let endpoint = self.endpoint.clone();
        let _ = self.runtime.block_on(async {
            tokio::time::timeout(Duration::from_millis(500), endpoint.wait_idle()).await
        });
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        // Release the application and close our connections before the embedded cluster (if
        // any) stops, so the master sees the driver leave cleanly. Datasets still alive keep
        // `Inner`, but the application ends with the context.
        self.inner.release();
        self.inner.endpoint.close(0u32.into(), b"driver done");
    }
}

/// The application name when none is given: `CINDER_APP_NAME`, else the program's file name.
fn default_app_name() -> String {
    if let Ok(name) = std::env::var("CINDER_APP_NAME") {
        if !name.is_empty() {
            return name;
        }
    }
    std::env::args_os()
        .next()
        .and_then(|p| {
            Path::new(&p)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "driver".into())
}

/// Registers an application; returns its id and the lease timeout.
async fn register(master: &MasterClient, name: &str) -> Result<(String, u64)> {
    let request = MasterRequest::RegisterApplication {
        name: name.to_string(),
    };
    match master.call(&request).await? {
        MasterResponse::ApplicationRegistered {
            app,
            lease_timeout_ms,
        } => Ok((app, lease_timeout_ms)),
        MasterResponse::Error { message } => Err(Error::Encoding(format!(
            "the master refused to register an application: {message}"
        ))),
        other => Err(Error::Encoding(format!(
            "unexpected answer to an application registration: {other:?}"
        ))),
    }
}

/// Renews the lease a few times per timeout until stopped; warns every
/// [`NO_WORKER_WARNING`] while jobs wait with no live worker; records it when the master no
/// longer runs the application.
async fn renew_lease(
    master: Arc<MasterLink>,
    app: String,
    lease_timeout: Duration,
    jobs_running: Arc<AtomicUsize>,
    gone: Arc<Mutex<Option<String>>>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let period = (lease_timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(5));
    let mut last_warning: Option<std::time::Instant> = None;
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(period) => {}
        }
        let request = MasterRequest::RenewLease { app: app.clone() };
        // Reconnects (up to the master timeout) when the master restarted, so an idle driver's
        // application survives a master restart too.
        let answer = tokio::select! {
            _ = &mut stop => return,
            answer = master.call(&request) => answer,
        };
        match answer {
            Ok(MasterResponse::LeaseRenewed { alive_workers }) => {
                let waiting = jobs_running.load(Ordering::Relaxed) > 0;
                if alive_workers == 0 && waiting {
                    let due = last_warning.is_none_or(|t| t.elapsed() >= NO_WORKER_WARNING);
                    if due {
                        tracing::warn!(%app, "no live worker: the running job waits (it fails after the master's --no-worker-timeout)");
                        last_warning = Some(std::time::Instant::now());
                    }
                } else {
                    last_warning = None;
                }
            }
            Ok(MasterResponse::ApplicationGone { state, .. }) => {
                let why = format!("application {app} is {} on the master", state.as_str());
                tracing::error!("{why}");
                *gone.lock().expect("gone lock") = Some(why);
                return;
            }
            Ok(other) => {
                tracing::warn!(%app, "unexpected answer to a lease renewal: {other:?}")
            }
            Err(e) => tracing::warn!(%app, "lease renewal failed: {e}"),
        }
    }
}

fn alive(status: &ClusterStatus) -> usize {
    status
        .workers
        .iter()
        .filter(|w| w.state == WorkerState::Alive)
        .count()
}

fn worker_error(worker_id: &str, response: WorkerResponse) -> Error {
    let message = match response {
        WorkerResponse::Error { message } => message,
        other => format!("unexpected answer {other:?}"),
    };
    Error::Worker {
        worker: worker_id.to_string(),
        message,
    }
}

/// The name a driver gives itself in hellos.
fn driver_name() -> String {
    format!("driver-{}", std::process::id())
}

async fn connect(
    master: &str,
    creds: &Arc<Credentials>,
) -> Result<(quinn::Endpoint, MasterClient, PeerPool)> {
    let addr = resolve(master).await?;
    let endpoint = client_endpoint(addr, creds, &TransportSettings::default())?;
    let name = driver_name();
    let client = MasterClient::connect_addr(&endpoint, addr, PeerRole::Client, &name).await?;
    let peers = PeerPool::new(endpoint.clone(), PeerRole::Client, &name);
    Ok((endpoint, client, peers))
}
