//! Message types that travel in frames: the connect-time hello, and one request/response enum
//! per remote service (master, worker with its block manager).

use serde::{Deserialize, Serialize};

/// What kind of peer opens a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeerRole {
    /// A worker daemon (to the master, or to another worker's block manager).
    Worker,
    /// A driver program or a CLI client such as `cinder status`.
    Client,
}

/// First frame on the first stream of every connection, sent by the connecting side.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hello {
    /// The sender's [`crate::wire::PROTOCOL_VERSION`].
    pub protocol_version: u32,
    /// What the sender is.
    pub role: PeerRole,
    /// A human-readable name for logs (worker id, `cinder status`, ...).
    pub name: String,
    /// The application a driver acts for (its block requests must name that application's
    /// blocks); `None` for workers and monitors.
    #[serde(default)]
    pub application: Option<String>,
}

/// The accepting side's answer to [`Hello`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum HelloReply {
    /// The connection is accepted.
    Welcome {
        /// The server's protocol version.
        protocol_version: u32,
        /// The server's name (`master`, a worker id).
        server: String,
    },
    /// The connection is refused; the server closes it after this frame.
    Refused {
        /// Why, in words.
        reason: String,
    },
}

/// Name of a block held by block managers (`rdd_3_7`, `shuffle_1_2_0`, `user/my-block`, ...).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BlockId(pub String);

impl BlockId {
    /// A block id from any string.
    pub fn new(name: impl Into<String>) -> Self {
        Self(name.into())
    }
}

impl std::fmt::Display for BlockId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a persisted block may live (Spark's storage levels).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StorageLevel {
    /// Memory only; evicted blocks are dropped and recomputed from lineage when needed.
    #[default]
    MemoryOnly,
    /// Memory, spilling least-recently-used blocks to disk when the budget is exceeded.
    MemoryAndDisk,
    /// Disk only.
    DiskOnly,
}

/// Storage figures a block manager reports with every heartbeat.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockStats {
    /// Bytes of blocks held in memory.
    pub memory_used_bytes: u64,
    /// Bytes of blocks spilled to disk.
    pub spilled_bytes: u64,
    /// Number of blocks held (memory and disk).
    pub blocks: u64,
}

/// Requests to the master.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum MasterRequest {
    /// A worker joins (or re-joins after a restart or a lost connection).
    RegisterWorker {
        /// Stable worker id (`--id`, or derived from the work dir).
        worker_id: String,
        /// Address other peers use to reach this worker.
        address: String,
        /// Cores offered for tasks.
        cores: u32,
        /// Byte budget of the worker's memory store.
        memory_budget_bytes: u64,
        /// Process id, for operators.
        pid: u32,
        /// Blocks the worker still holds, with their sizes (empty on a fresh start).
        blocks: Vec<(BlockId, u64)>,
        /// Process id of the worker's watcher, which reports the worker's exit at once.
        #[serde(default)]
        watcher_pid: Option<u32>,
    },
    /// A worker's watcher saw the worker process exit (its pipe closed): the worker is lost
    /// now, not after the heartbeat timeout.
    WorkerExited {
        /// The worker.
        worker_id: String,
        /// The process that exited (a newer process of the same id is not affected).
        pid: u32,
    },
    /// Periodic liveness signal with storage figures.
    Heartbeat {
        /// Sender.
        worker_id: String,
        /// The incarnation the master handed out at registration.
        incarnation: u64,
        /// Current storage figures.
        stats: BlockStats,
    },
    /// A block manager gained or dropped a block.
    BlockUpdate {
        /// Sender.
        worker_id: String,
        /// Sender's incarnation.
        incarnation: u64,
        /// The block.
        block_id: BlockId,
        /// Its size in bytes (ignored when dropped).
        size_bytes: u64,
        /// True when added, false when dropped.
        present: bool,
    },
    /// Where does a block live?
    LocateBlock {
        /// The block.
        block_id: BlockId,
    },
    /// The cluster state, for `cinder status` and `cinder top`.
    Status,
    /// Run a job; the answer comes when it finishes: [`MasterResponse::JobDone`] followed by
    /// the results as a body, or [`MasterResponse::JobFailed`].
    RunJob(crate::wire::JobSpec),
    /// Drop the persisted blocks of a dataset (and the map outputs of a shuffle) on every
    /// worker.
    Unpersist {
        /// The dataset.
        dataset: u64,
        /// Its application.
        #[serde(default)]
        app: String,
    },
    /// A driver starts: the master answers with a new application id and the lease timeout.
    RegisterApplication {
        /// A name for monitors (the program, `cinder train`, ...).
        name: String,
    },
    /// A driver is still there: renews its application's lease.
    RenewLease {
        /// The application.
        app: String,
    },
    /// A driver ends cleanly: its running jobs are cancelled and every block and shuffle
    /// output it owns is dropped at once.
    EndApplication {
        /// The application.
        app: String,
        /// Whether the driver ended with an error.
        failed: bool,
    },
    /// An operator ends an application (`cinder app kill`): like [`Self::EndApplication`],
    /// with state `killed`.
    KillApplication {
        /// The application.
        app: String,
    },
    /// Which member owns a running application (a worker confirms a driver's claim before
    /// serving its blocks).
    ApplicationOwner {
        /// The application.
        app: String,
    },
}

/// The master's answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum MasterResponse {
    /// Registration accepted.
    Registered {
        /// The new incarnation number of this worker id (1 for the first start).
        incarnation: u64,
        /// How often to heartbeat.
        heartbeat_interval_ms: u64,
    },
    /// Heartbeat or update accepted.
    Ack,
    /// The master does not know this worker (any more): register again.
    ReRegister {
        /// Why.
        reason: String,
    },
    /// A newer incarnation of this worker id is alive; this process must stop.
    Superseded {
        /// The live incarnation.
        current_incarnation: u64,
    },
    /// Alive workers that hold a block.
    Locations {
        /// `(worker id, address)` pairs, in a stable order.
        holders: Vec<(String, String)>,
    },
    /// Cluster state.
    Status(ClusterStatus),
    /// A job finished; `len` bytes of rmp-encoded `Vec<PartitionResult>` follow, in partition
    /// order.
    JobDone {
        /// Body length.
        len: u64,
    },
    /// A job failed.
    JobFailed(crate::wire::JobError),
    /// The request failed.
    Error {
        /// Why.
        message: String,
    },
    /// A lease was renewed.
    LeaseRenewed {
        /// Workers alive now (a driver warns while there are none).
        alive_workers: u64,
    },
    /// An application was registered.
    ApplicationRegistered {
        /// Its id.
        app: String,
        /// The driver must renew its lease more often than this (`--app-timeout`).
        lease_timeout_ms: u64,
    },
    /// The member that registered a running application (`None`: not running).
    Owner {
        /// The certificate name of the owner.
        member: Option<String>,
    },
    /// The application is not running (ended, killed, or lost its lease).
    ApplicationGone {
        /// The application.
        app: String,
        /// Its state (`finished`, `failed`, `lost`, `killed`, or `unknown`).
        state: AppState,
    },
}

/// Where an application is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppState {
    /// Its driver is connected and renews its lease.
    Running,
    /// Its driver ended cleanly.
    Finished,
    /// Its driver ended with an error.
    Failed,
    /// Its lease expired (the driver vanished).
    Lost,
    /// An operator killed it (`cinder app kill`).
    Killed,
    /// A state this build does not know (or an id the master never issued).
    #[serde(other)]
    Unknown,
}

impl AppState {
    /// The state's name as in `cinder status --json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Finished => "finished",
            Self::Failed => "failed",
            Self::Lost => "lost",
            Self::Killed => "killed",
            Self::Unknown => "unknown",
        }
    }
}

/// One application in [`ClusterStatus`]. Field names are the `cinder status --json` contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplicationStatus {
    /// Its id.
    pub id: String,
    /// The name its driver gave.
    pub name: String,
    /// `running`, `finished`, `failed`, `lost` or `killed`.
    pub state: AppState,
    /// When it registered (Unix milliseconds).
    pub started_ms: u64,
    /// When it ended (Unix milliseconds); `None` while running.
    pub ended_ms: Option<u64>,
    /// Its jobs running now.
    pub jobs_running: u64,
    /// Blocks it owns on alive workers (persisted partitions, shuffle outputs, broadcasts).
    pub blocks: u64,
    /// Bytes of those blocks.
    pub memory_bytes: u64,
}

/// Liveness of a worker as the master sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkerState {
    /// Registered and heartbeating.
    Alive,
    /// Connection closed or heartbeats missed; its blocks are gone.
    Lost,
}

/// One worker in [`ClusterStatus`]. Field names are the `cinder status --json` contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerStatus {
    /// Stable worker id.
    pub id: String,
    /// Address peers reach it at.
    pub address: String,
    /// `alive` or `lost`.
    pub state: WorkerState,
    /// Incarnation number (1 for the first start, +1 per re-registration).
    pub incarnation: u64,
    /// Cores offered.
    pub cores: u32,
    /// Memory store budget.
    pub memory_budget_bytes: u64,
    /// Memory store use.
    pub memory_used_bytes: u64,
    /// Bytes spilled to disk.
    pub spilled_bytes: u64,
    /// Blocks held.
    pub blocks: u64,
    /// Milliseconds since the last heartbeat (or registration).
    pub last_heartbeat_ms: u64,
    /// Process id.
    pub pid: u32,
    /// Task attempts running on it now (0 from masters that predate this field).
    #[serde(default)]
    pub tasks_running: u64,
    /// Process id of its watcher (reports the worker's exit at once), if it has one.
    #[serde(default)]
    pub watcher_pid: Option<u32>,
}

/// The whole cluster as the master sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterStatus {
    /// The master's listen address.
    pub master: String,
    /// Milliseconds since the master started.
    pub uptime_ms: u64,
    /// Every worker ever registered, ordered by id.
    pub workers: Vec<WorkerStatus>,
    /// Partitions recomputed from lineage since the master started.
    pub recomputed_partitions: u64,
    /// Running jobs (oldest first), then the most recently ended ones (newest first); the
    /// ended ones are a bounded history.
    #[serde(default)]
    pub jobs: Vec<JobStatus>,
    /// The most recent cluster events, newest first (a bounded history).
    #[serde(default)]
    pub events: Vec<ClusterEvent>,
    /// Running applications (oldest first), then the most recently ended ones (newest
    /// first, a bounded history).
    #[serde(default)]
    pub applications: Vec<ApplicationStatus>,
    /// The limits the master enforces on its peers (absent from masters that predate them).
    #[serde(default)]
    pub limits: Option<crate::transport::Limits>,
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Submitted and not ended yet.
    Running,
    /// Every partition's result was delivered.
    Finished,
    /// A task failed for good; the job's error says why.
    Failed,
    /// A state this build does not know (sent by a newer master).
    #[serde(other)]
    Unknown,
}

/// What a stage computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageKind {
    /// The map side of a shuffle: writes shuffle blocks.
    Map,
    /// The job's action over its target's partitions.
    Result,
    /// A kind this build does not know (sent by a newer master).
    #[serde(other)]
    Unknown,
}

/// Whether a stage can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageState {
    /// Waits for the shuffles it reads.
    Waiting,
    /// Its tasks can run (some may be running).
    Running,
    /// Every task is done.
    Done,
    /// A state this build does not know (sent by a newer master).
    #[serde(other)]
    Unknown,
}

/// Progress of one stage of a job. Field names are part of the `cinder status --json` contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageStatus {
    /// Position in the job, upstream stages first; the result stage is last.
    pub index: u32,
    /// `map` or `result`.
    pub kind: StageKind,
    /// `waiting`, `running` or `done`.
    pub state: StageState,
    /// Tasks in the stage (one per partition it computes).
    pub tasks_total: u64,
    /// Tasks whose output is available.
    pub tasks_done: u64,
    /// Task attempts running now.
    pub tasks_running: u64,
    /// Attempts beyond each task's first (failures retried, lost outputs run again).
    pub retries: u64,
}

/// A job in [`ClusterStatus`]. Field names are part of the `cinder status --json` contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobStatus {
    /// Master-assigned job id, increasing.
    pub id: u64,
    /// The application that submitted it.
    #[serde(default)]
    pub application: String,
    /// The action's name (`count`, `collect`, `aggregate`, ...), as the driver named it.
    pub name: String,
    /// `running`, `finished` or `failed`.
    pub state: JobState,
    /// Master uptime (ms) when the job was submitted.
    pub submitted_ms: u64,
    /// Milliseconds from submission to now (running) or to its end.
    pub elapsed_ms: u64,
    /// Tasks over all stages.
    pub tasks_total: u64,
    /// Tasks done over all stages.
    pub tasks_done: u64,
    /// Task attempts running now.
    pub tasks_running: u64,
    /// Retried attempts over all stages.
    pub retries: u64,
    /// Partitions and map outputs recomputed for this job after being lost.
    pub recomputed_partitions: u64,
    /// Its stages, upstream first.
    pub stages: Vec<StageStatus>,
    /// Why it failed (failed jobs only).
    pub error: Option<String>,
}

/// What happened, in [`ClusterEvent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A worker id registered for the first time.
    WorkerJoined,
    /// A known worker id registered again (restart or reconnection): a new incarnation.
    WorkerRejoined,
    /// A worker was declared lost.
    WorkerLost,
    /// Task attempts failed and will run again.
    TaskRetried,
    /// A lost persisted partition or shuffle map output was computed again.
    PartitionRecomputed,
    /// A worker's spilled bytes grew.
    BlocksSpilled,
    /// A job was submitted.
    JobSubmitted,
    /// A job delivered its results.
    JobFinished,
    /// A job failed.
    JobFailed,
    /// A driver registered an application.
    ApplicationStarted,
    /// An application ended (finished, failed, lost or killed) and its blocks were released.
    ApplicationEnded,
    /// The master restarted and recovered its store (applications, their leases restarted).
    MasterRecovered,
    /// A kind this build does not know (sent by a newer master).
    #[serde(other)]
    Unknown,
}

/// One entry of the master's event history. Field names are part of the `cinder status
/// --json` contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterEvent {
    /// Sequence number, increasing from 1 since the master started (gaps: events dropped from
    /// the bounded history).
    pub seq: u64,
    /// Master uptime (ms) when it happened.
    pub at_ms: u64,
    /// What happened.
    pub kind: EventKind,
    /// The worker concerned, if any.
    pub worker: Option<String>,
    /// The job concerned, if any.
    pub job: Option<u64>,
    /// One line for humans.
    pub message: String,
}

/// Requests to a worker (its own service and its block manager).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum WorkerRequest {
    /// Liveness and round-trip probe.
    Ping,
    /// Store a block; exactly `len` raw bytes follow this frame on the stream.
    PutBlock {
        /// The block.
        block_id: BlockId,
        /// Number of body bytes that follow.
        len: u64,
        /// Where it may live.
        #[serde(default)]
        level: StorageLevel,
    },
    /// Read a block held by this worker only (no remote lookup).
    GetBlock {
        /// The block.
        block_id: BlockId,
    },
    /// Make sure this worker holds a block: if it is not local, locate it through the master and
    /// copy it from a peer's block manager.
    FetchBlock {
        /// The block.
        block_id: BlockId,
    },
    /// Drop a block.
    RemoveBlock {
        /// The block.
        block_id: BlockId,
    },
    /// Run a task: answered with [`WorkerResponse::TaskDone`] plus the output as a body, or
    /// [`WorkerResponse::TaskFailed`].
    RunTask(crate::wire::TaskSpec),
    /// Drop every block of an application (its driver ended): persisted partitions, shuffle
    /// outputs, broadcasts, user blocks.
    DropApplication {
        /// The application.
        app: String,
    },
    /// Fault injection (only when the worker runs with `CINDER_FAULT_INJECTION=1`): corrupt a
    /// block's bytes on disk, keeping its checksum.
    CorruptBlock {
        /// The block.
        block_id: BlockId,
    },
    /// Fault injection (only with `CINDER_FAULT_INJECTION=1`): panic inside the Worker actor's
    /// handler. The daemon must end with an error, not live on without its actor. No answer.
    InjectPanic,
}

/// A worker's answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum WorkerResponse {
    /// Answer to [`WorkerRequest::Ping`].
    Pong {
        /// The worker's id.
        worker_id: String,
    },
    /// Block stored.
    Stored {
        /// Its size.
        len: u64,
    },
    /// The block follows this frame as `len` raw bytes.
    Block {
        /// Its size.
        len: u64,
    },
    /// The block is not here (or nowhere, for a fetch).
    NotFound {
        /// The block.
        block_id: BlockId,
    },
    /// The block is now held locally.
    Fetched {
        /// Its size.
        len: u64,
        /// Where it came from: `local` or the id of the peer it was copied from.
        source: String,
    },
    /// A task finished; `len` bytes of rmp-encoded [`crate::wire::TaskOutput`] follow.
    TaskDone {
        /// Counters.
        metrics: crate::wire::TaskMetrics,
        /// Body length.
        len: u64,
    },
    /// A task failed.
    TaskFailed(crate::wire::TaskError),
    /// Block dropped (or was not there).
    Removed {
        /// Whether it existed.
        existed: bool,
    },
    /// The request failed.
    Error {
        /// Why.
        message: String,
    },
    /// An application's blocks were dropped.
    Dropped {
        /// How many.
        blocks: u64,
    },
}

/// A request's variant name, for log spans (without formatting its payload).
pub trait RequestKind {
    /// The variant name.
    fn kind(&self) -> &'static str;
}

impl RequestKind for MasterRequest {
    fn kind(&self) -> &'static str {
        match self {
            Self::RegisterWorker { .. } => "RegisterWorker",
            Self::WorkerExited { .. } => "WorkerExited",
            Self::Heartbeat { .. } => "Heartbeat",
            Self::BlockUpdate { .. } => "BlockUpdate",
            Self::LocateBlock { .. } => "LocateBlock",
            Self::Status => "Status",
            Self::RunJob(_) => "RunJob",
            Self::Unpersist { .. } => "Unpersist",
            Self::RegisterApplication { .. } => "RegisterApplication",
            Self::RenewLease { .. } => "RenewLease",
            Self::EndApplication { .. } => "EndApplication",
            Self::KillApplication { .. } => "KillApplication",
            Self::ApplicationOwner { .. } => "ApplicationOwner",
        }
    }
}

impl RequestKind for WorkerRequest {
    fn kind(&self) -> &'static str {
        match self {
            Self::Ping => "Ping",
            Self::PutBlock { .. } => "PutBlock",
            Self::GetBlock { .. } => "GetBlock",
            Self::FetchBlock { .. } => "FetchBlock",
            Self::RemoveBlock { .. } => "RemoveBlock",
            Self::RunTask(_) => "RunTask",
            Self::CorruptBlock { .. } => "CorruptBlock",
            Self::InjectPanic => "InjectPanic",
            Self::DropApplication { .. } => "DropApplication",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ClusterStatus` as masters encoded it before jobs, events and tasks_running existed.
    #[derive(Serialize)]
    struct OldWorker {
        id: String,
        address: String,
        state: WorkerState,
        incarnation: u64,
        cores: u32,
        memory_budget_bytes: u64,
        memory_used_bytes: u64,
        spilled_bytes: u64,
        blocks: u64,
        last_heartbeat_ms: u64,
        pid: u32,
    }

    #[derive(Serialize)]
    struct OldStatus {
        master: String,
        uptime_ms: u64,
        workers: Vec<OldWorker>,
        recomputed_partitions: u64,
    }

    #[test]
    fn status_from_an_old_master_still_decodes() {
        let old = OldStatus {
            master: "m:1".into(),
            uptime_ms: 5,
            workers: vec![OldWorker {
                id: "w".into(),
                address: "a:1".into(),
                state: WorkerState::Alive,
                incarnation: 1,
                cores: 2,
                memory_budget_bytes: 10,
                memory_used_bytes: 1,
                spilled_bytes: 0,
                blocks: 1,
                last_heartbeat_ms: 3,
                pid: 7,
            }],
            recomputed_partitions: 0,
        };
        let bytes = rmp_serde::to_vec_named(&old).unwrap();
        let status: ClusterStatus = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(status.workers[0].tasks_running, 0);
        assert!(status.jobs.is_empty() && status.events.is_empty());
        let json = serde_json::to_string(&old).unwrap();
        let status: ClusterStatus = serde_json::from_str(&json).unwrap();
        assert_eq!(status.workers[0].pid, 7);
    }

    #[test]
    fn unknown_kinds_from_a_newer_master_decode_as_unknown() {
        let json = r#"{"seq":1,"at_ms":2,"kind":"worker_teleported","worker":null,"job":null,"message":"x"}"#;
        let event: ClusterEvent = serde_json::from_str(json).unwrap();
        assert_eq!(event.kind, EventKind::Unknown);
        let known = ClusterEvent {
            kind: EventKind::BlocksSpilled,
            ..event.clone()
        };
        let json = serde_json::to_value(&known).unwrap();
        assert_eq!(json["kind"], "blocks_spilled");
        let mut value = rmp_serde::to_vec_named(&known).unwrap();
        let decoded: ClusterEvent = rmp_serde::from_slice(&value).unwrap();
        assert_eq!(decoded, known);
        // The same event with a kind name this build does not know, over rmp.
        let pos = value
            .windows(b"blocks_spilled".len())
            .position(|w| w == b"blocks_spilled")
            .unwrap();
        value[pos..pos + 14].copy_from_slice(b"blocks_zapped!");
        let decoded: ClusterEvent = rmp_serde::from_slice(&value).unwrap();
        assert_eq!(decoded.kind, EventKind::Unknown);
        let state: JobState = serde_json::from_str("\"paused\"").unwrap();
        assert_eq!(state, JobState::Unknown);
    }
}
