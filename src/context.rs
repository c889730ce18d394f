//! [`Context`]: the driver's entry point to a cluster, embedded or remote.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cinder_actors::block_manager::FetchOutcome;
use cinder_actors::data::plan::{DatasetId, Lineage};
use cinder_actors::master::MasterClient;
use cinder_actors::transport::endpoint::{client_endpoint, resolve};
use cinder_actors::transport::{Credentials, PeerPool, TransportSettings};
use cinder_actors::wire::{
    BlockId, ClusterStatus, JobSpec, MasterRequest, MasterResponse, PartitionResult, PeerRole,
    StorageLevel, WorkerRequest, WorkerResponse, WorkerState,
};
use std::sync::atomic::{AtomicU64, Ordering};
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
    pub(crate) master: MasterClient,
    peers: PeerPool,
    endpoint: quinn::Endpoint,
    pub(crate) runtime: tokio::runtime::Runtime,
    pub(crate) lineage: Mutex<Lineage>,
    next_dataset: AtomicU64,
}

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
        crate::daemon::maybe_run_daemon();
        let cluster = builder.start()?;
        let expected = cluster.workers().len();
        let mut cx = Self::connect(cluster.master_addr(), cluster.cluster_dir())?;
        cx.cluster = Some(cluster);
        cx.wait_for_workers(expected, REGISTRATION_TIMEOUT)?;
        Ok(cx)
    }

    /// Connects to the master at `master` (`host:port` or `cinder://host:port`) with the
    /// credentials in `cluster_dir`.
    pub fn connect(master: &str, cluster_dir: impl AsRef<Path>) -> Result<Self> {
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
        let (endpoint, master, peers) = runtime.block_on(connect(master, &creds))?;
        Ok(Self {
            inner: Arc::new(Inner {
                master,
                peers,
                endpoint,
                runtime,
                lineage: Mutex::new(Lineage::default()),
                next_dataset: AtomicU64::new(1),
            }),
            cluster: None,
        })
    }

    /// The master's address.
    pub fn master_addr(&self) -> SocketAddr {
        self.inner.master.conn().addr()
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
        Ok(self.inner.runtime.block_on(self.inner.master.status())?)
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
        let status = self.inner.master.status().await?;
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
    pub(crate) fn run_job(&self, spec: JobSpec) -> Result<Vec<PartitionResult>> {
        let request = MasterRequest::RunJob(spec);
        let (response, body) = self
            .runtime
            .block_on(self.master.conn().request_body_within(
                &request,
                |r: &MasterResponse| match r {
                    MasterResponse::JobDone { len } => Some(*len),
                    _ => None,
                },
                JOB_TIMEOUT,
            ))?;
        match response {
            MasterResponse::JobDone { .. } => {
                let body = body.unwrap_or_default();
                rmp_serde::from_slice(&body).map_err(|e| Error::Encoding(e.to_string()))
            }
            MasterResponse::JobFailed(error) => Err(Error::Job(error)),
            other => Err(Error::Encoding(format!(
                "unexpected answer to a job: {other:?}"
            ))),
        }
    }

    /// Tells the master to drop a dataset's persisted blocks everywhere.
    pub(crate) fn unpersist(&self, dataset: DatasetId) -> Result<()> {
        let request = MasterRequest::Unpersist { dataset };
        match self.runtime.block_on(self.master.call(&request))? {
            MasterResponse::Ack => Ok(()),
            other => Err(Error::Encoding(format!("unexpected answer: {other:?}"))),
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.endpoint.close(0u32.into(), b"driver done");
        let endpoint = self.endpoint.clone();
        let _ = self.runtime.block_on(async {
            tokio::time::timeout(Duration::from_millis(500), endpoint.wait_idle()).await
        });
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        // Close our connections before the embedded cluster (if any) stops, so the master
        // sees the driver leave cleanly.
        self.inner.endpoint.close(0u32.into(), b"driver done");
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

async fn connect(
    master: &str,
    creds: &Arc<Credentials>,
) -> Result<(quinn::Endpoint, MasterClient, PeerPool)> {
    let addr = resolve(master).await?;
    let endpoint = client_endpoint(addr, creds, &TransportSettings::default())?;
    let name = format!("driver-{}", std::process::id());
    let client = MasterClient::connect_addr(&endpoint, addr, PeerRole::Client, &name).await?;
    let peers = PeerPool::new(endpoint.clone(), PeerRole::Client, &name);
    Ok((endpoint, client, peers))
}
