//! The Master actor: owns [`Membership`] and the [`Scheduler`], answers master requests in
//! arrival order, launches tasks on workers and turns their answers back into events.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Addr, AsyncContext, Context, Handler, Message};
use tokio::sync::oneshot;
use tracing::{info, warn};

use super::applications::Applications;
use super::history::{count, human_bytes, History, HistoryLimits};
use super::membership::{HeartbeatOutcome, Membership, Registration};
use crate::clock::Clock;
use crate::data::plan::{
    block_app, block_dataset, dataset_block_prefix, shuffle_block_prefix, DatasetId,
    APP_BLOCK_KINDS,
};
use crate::scheduler::{JobOutcome, Launch, Placement, Scheduler, SchedulerConfig};
use crate::transport::{endpoint::resolve, PeerInfo, PeerPool};
use crate::wire::{
    AppState, ClusterStatus, EventKind, JobError, JobSpec, MasterRequest, MasterResponse,
    StageStatus, TaskError, TaskMetrics, TaskOutput, WorkerRequest, WorkerResponse,
};

/// How a QUIC connection that idle-timed out is reported (quinn's `ConnectionError::TimedOut`).
const IDLE_TIMEOUT_REASON: &str = "timed out";

/// Deadline of one task on a worker (loss of the worker is detected much earlier).
pub const TASK_TIMEOUT: Duration = Duration::from_secs(3600);

/// Everything the Master actor accepts. Replies are [`MasterResponse`]s.
#[derive(Debug)]
pub enum MasterMsg {
    /// A request that arrived over the wire from `peer`.
    Request {
        /// The connection it came on.
        peer: PeerInfo,
        /// The request.
        request: MasterRequest,
    },
    /// A hello-checked connection closed; workers registered on it are lost at once.
    ConnectionClosed {
        /// The connection.
        peer: PeerInfo,
        /// Why it closed.
        reason: String,
    },
    /// Time to declare silent workers lost (sent by the actor's own timer; tests may send it).
    CheckHeartbeats,
    /// Run a job; `reply` gets its outcome when it ends.
    SubmitJob {
        /// Who submitted it (only the member that registered the job's application, or an
        /// admin, may).
        peer: PeerInfo,
        /// The job.
        spec: JobSpec,
        /// Where the outcome goes.
        reply: oneshot::Sender<JobOutcome>,
    },
    /// A worker finished a task attempt.
    TaskSucceeded {
        /// The attempt.
        attempt_id: u64,
        /// Who ran it.
        worker: String,
        /// Its output.
        output: TaskOutput,
        /// Its counters.
        metrics: TaskMetrics,
    },
    /// A task attempt failed (on the worker, or on the way there and back).
    TaskFailed {
        /// The attempt.
        attempt_id: u64,
        /// Who ran it.
        worker: String,
        /// Why.
        error: TaskError,
    },
}

impl Message for MasterMsg {
    type Result = MasterResponse;
}

/// The master actor. Private state; reach it through its `Addr` (in process) or
/// [`super::MasterClient`] (over QUIC).
pub struct Master {
    membership: Membership,
    scheduler: Scheduler,
    clock: Arc<dyn Clock>,
    address: String,
    heartbeat_interval: Duration,
    pool: PeerPool,
    next_job_id: u64,
    waiters: HashMap<u64, (String, oneshot::Sender<JobOutcome>)>,
    history: History,
    /// Final progress of jobs that ended during the message being handled.
    ended: BTreeMap<u64, Vec<StageStatus>>,
    apps: Applications,
    /// Unix time (ms) when the master's clock read 0.
    start_unix_ms: u64,
    /// Jobs fail after this long without a live worker.
    no_worker_timeout_ms: u64,
    /// Since when (master clock) jobs have been waiting with no live worker.
    no_worker_since_ms: Option<u64>,
    /// Master clock at the last timer tick (a long gap means the process was paused).
    last_tick_ms: u64,
    /// The recovery store, when the master has a work directory.
    store: Option<super::store::MasterStore>,
}

/// Default `--app-timeout`: a driver that has not renewed its lease for this long is lost.
pub const DEFAULT_APP_TIMEOUT: Duration = Duration::from_secs(30);

/// Default `--no-worker-timeout`: jobs fail after this long without a live worker.
pub const DEFAULT_NO_WORKER_TIMEOUT: Duration = Duration::from_secs(60);

fn unix_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Master {
    /// A master advertising `address`, expecting heartbeats every `heartbeat_interval`,
    /// declaring workers lost after `heartbeat_timeout` of silence, and reaching workers
    /// through `pool`.
    pub fn new(
        address: String,
        heartbeat_interval: Duration,
        heartbeat_timeout: Duration,
        clock: Arc<dyn Clock>,
        pool: PeerPool,
    ) -> Self {
        let clock_ms = clock.now_ms();
        Self {
            membership: Membership::new(heartbeat_timeout.as_millis() as u64),
            scheduler: Scheduler::new(SchedulerConfig::default()),
            clock,
            address,
            heartbeat_interval,
            pool,
            next_job_id: 1,
            waiters: HashMap::new(),
            history: History::new(HistoryLimits::default()),
            ended: BTreeMap::new(),
            apps: Applications::new(unix_now_ms(), DEFAULT_APP_TIMEOUT.as_millis() as u64),
            last_tick_ms: clock_ms,
            store: None,
            start_unix_ms: unix_now_ms().saturating_sub(clock_ms),
            no_worker_timeout_ms: DEFAULT_NO_WORKER_TIMEOUT.as_millis() as u64,
            no_worker_since_ms: None,
        }
    }

    /// Keeps running applications in `store` from now on, after recovering the ones it holds
    /// (a restarted master): their leases start over, so their drivers have a full
    /// `--app-timeout` to reconnect, and blocks that workers report for them are kept.
    pub fn with_store(
        mut self,
        store: super::store::MasterStore,
    ) -> Result<Self, super::store::StoreError> {
        let now = self.clock.now_ms();
        let incarnation = store.next_incarnation()?;
        let apps = store.apps()?;
        for app in &apps {
            self.apps
                .restore(now, &app.id, &app.name, &app.owner, app.started_unix_ms);
        }
        if incarnation > 1 {
            let message = format!(
                "master restarted (start {incarnation}): recovered {}",
                count(apps.len() as u64, "running application")
            );
            info!("{message}");
            self.history
                .record(now, EventKind::MasterRecovered, None, None, message);
        }
        self.store = Some(store);
        Ok(self)
    }

    /// Sets `--app-timeout` (leases) and `--no-worker-timeout`.
    pub fn with_timeouts(mut self, app_timeout: Duration, no_worker_timeout: Duration) -> Self {
        let start = self.start_unix_ms + self.clock.now_ms();
        self.apps = Applications::new(start, app_timeout.as_millis() as u64);
        self.no_worker_timeout_ms = no_worker_timeout.as_millis() as u64;
        self
    }

    fn on_request(&mut self, peer: &PeerInfo, request: MasterRequest) -> MasterResponse {
        let now = self.clock.now_ms();
        if let Some(app) = owned_app(&request) {
            if let Some(message) = self.not_owner(peer, app) {
                warn!(peer = %peer.remote, "refused: {message}");
                return MasterResponse::Error { message };
            }
        }
        match request {
            MasterRequest::RegisterApplication { name } => self.register_app(now, peer, &name),
            MasterRequest::RenewLease { app } => match self.apps.renew(now, &app) {
                Ok(()) => MasterResponse::LeaseRenewed {
                    alive_workers: self.membership.alive().len() as u64,
                },
                Err(state) => MasterResponse::ApplicationGone { app, state },
            },
            MasterRequest::EndApplication { app, failed } => {
                let state = if failed {
                    AppState::Failed
                } else {
                    AppState::Finished
                };
                self.release_app(&app, state, "its driver ended");
                MasterResponse::Ack
            }
            MasterRequest::KillApplication { app } => {
                if self.release_app(&app, AppState::Killed, "was killed by an operator") {
                    MasterResponse::Ack
                } else {
                    let state = self.apps.state(&app);
                    MasterResponse::ApplicationGone { app, state }
                }
            }
            MasterRequest::RegisterWorker {
                worker_id,
                address,
                cores,
                memory_budget_bytes,
                pid,
                blocks,
                watcher_pid,
            } => {
                // Blocks of applications that are not running (ended while the worker was
                // away, or issued by an earlier master) can never be read again: drop them.
                let (blocks, stale): (Vec<_>, Vec<_>) = blocks
                    .into_iter()
                    .partition(|(b, _)| block_app(b).is_none_or(|app| self.apps.is_running(app)));
                let mut stale_apps: Vec<String> = stale
                    .iter()
                    .filter_map(|(b, _)| block_app(b).map(str::to_string))
                    .collect();
                stale_apps.dedup();
                for app in stale_apps {
                    info!(worker = %worker_id, %app, "dropping blocks of an application that is not running");
                    self.send_to(&address, WorkerRequest::DropApplication { app });
                }
                let reg = Registration {
                    worker_id: worker_id.clone(),
                    address: address.clone(),
                    cores,
                    memory_budget_bytes,
                    pid,
                    blocks,
                    watcher_pid,
                };
                // A live incarnation re-registering means its old process is gone (killed and
                // restarted faster than the heartbeat timeout): it is lost now, so its running
                // attempts are retried at once instead of waiting for their RPCs to time out
                // (found by cinder-chaos `kill-restart`).
                if self.membership.alive().contains(&worker_id) {
                    self.workers_lost(vec![worker_id.clone()], "superseded by a new registration");
                }
                let incarnation = self.membership.register(now, peer.conn_id, reg);
                info!(worker = %worker_id, %address, incarnation, cores, memory_budget_bytes, "worker registered");
                let (kind, message) = if incarnation == 1 {
                    let memory = human_bytes(memory_budget_bytes);
                    let message = format!(
                        "{worker_id} joined at {address} ({}, {memory})",
                        count(cores.into(), "core")
                    );
                    (EventKind::WorkerJoined, message)
                } else {
                    let message = format!(
                        "{worker_id} registered again at {address} (incarnation {incarnation})"
                    );
                    (EventKind::WorkerRejoined, message)
                };
                self.history
                    .record(now, kind, Some(&worker_id), None, message);
                MasterResponse::Registered {
                    incarnation,
                    heartbeat_interval_ms: self.heartbeat_interval.as_millis() as u64,
                }
            }
            MasterRequest::Heartbeat {
                worker_id,
                incarnation,
                stats,
            } => {
                let before = self.membership.stats_of(&worker_id).unwrap_or_default();
                let outcome = self
                    .membership
                    .heartbeat(now, &worker_id, incarnation, stats);
                if outcome == HeartbeatOutcome::Ack && stats.spilled_bytes > before.spilled_bytes {
                    let grown = stats.spilled_bytes - before.spilled_bytes;
                    let message = format!(
                        "{worker_id} spilled {} to disk ({} spilled in all)",
                        human_bytes(grown),
                        human_bytes(stats.spilled_bytes)
                    );
                    self.history.record(
                        now,
                        EventKind::BlocksSpilled,
                        Some(&worker_id),
                        None,
                        message,
                    );
                }
                outcome_response(outcome)
            }
            MasterRequest::BlockUpdate {
                worker_id,
                incarnation,
                block_id,
                size_bytes,
                present,
            } => {
                if present && block_app(&block_id).is_some_and(|a| !self.apps.is_running(a)) {
                    // Written by a task of an application that has ended since: never kept.
                    if let Some(address) = self.membership.address_of(&worker_id) {
                        self.send_to(&address, WorkerRequest::RemoveBlock { block_id });
                    }
                    return MasterResponse::Ack;
                }
                let before = self.membership.recomputed_partitions();
                let outcome = self.membership.block_update(
                    now,
                    &worker_id,
                    incarnation,
                    block_id.clone(),
                    size_bytes,
                    present,
                );
                if self.membership.recomputed_partitions() > before {
                    let job = block_dataset(&block_id)
                        .and_then(|(app, d)| self.scheduler.jobs_using(app, d).first().copied());
                    let message = format!("{block_id} recomputed from lineage on {worker_id}");
                    self.history
                        .partition_recomputed(now, job, Some(&worker_id), message);
                }
                outcome_response(outcome)
            }
            MasterRequest::WorkerExited { worker_id, pid } => {
                // Only the process that registered last counts: a report about an older
                // process of a restarted worker is stale.
                if self.membership.process_exited(&worker_id, pid) {
                    let why = format!("its process {pid} exited (reported by its watcher)");
                    self.workers_lost(vec![worker_id], &why);
                }
                MasterResponse::Ack
            }
            MasterRequest::ApplicationOwner { app } => MasterResponse::Owner {
                member: self.apps.owner(&app).map(str::to_string),
            },
            MasterRequest::LocateBlock { block_id } => MasterResponse::Locations {
                holders: self.membership.locate(&block_id),
            },
            MasterRequest::Status => MasterResponse::Status(self.status(now)),
            MasterRequest::Unpersist { dataset, app } => {
                self.unpersist(&app, dataset);
                MasterResponse::Ack
            }
            MasterRequest::RunJob(_) => MasterResponse::Error {
                message: "jobs are submitted through the job service".into(),
            },
        }
    }

    /// The cluster as `cinder status` and `cinder top` show it.
    fn status(&self, now: u64) -> ClusterStatus {
        let mut workers = self.membership.snapshot(now);
        for w in &mut workers {
            w.tasks_running = self.scheduler.running_on(&w.id) as u64;
        }
        ClusterStatus {
            master: self.address.clone(),
            uptime_ms: now,
            workers,
            recomputed_partitions: self.membership.recomputed_partitions()
                + self.scheduler.recomputed_map_outputs(),
            jobs: self.history.jobs(now, &self.scheduler.progress()),
            events: self.history.events(),
            applications: self.applications(),
            limits: None,
        }
    }

    /// Why `peer` may not act for `app`: only the member that registered an application (or
    /// an admin) renews, ends or unpersists it.
    fn not_owner(&self, peer: &PeerInfo, app: &str) -> Option<String> {
        let owner = self.apps.owner(app)?;
        if peer.identity.role == crate::transport::Role::Admin || owner == peer.identity.name {
            return None;
        }
        Some(format!(
            "application {app} belongs to member {owner:?}, not {:?}",
            peer.identity.name
        ))
    }

    /// Applications with their live figures.
    fn applications(&self) -> Vec<crate::wire::ApplicationStatus> {
        let blocks = self.membership.blocks_by_app();
        self.apps.snapshot(|app| {
            let (n, bytes) = blocks.get(app).copied().unwrap_or_default();
            (self.scheduler.jobs_of(app), n, bytes)
        })
    }

    fn register_app(&mut self, now: u64, peer: &PeerInfo, name: &str) -> MasterResponse {
        let name: String = name.chars().take(200).collect();
        let started = self.start_unix_ms + now;
        let app = self
            .apps
            .register_for(now, started, &name, &peer.identity.name);
        if let Some(store) = &self.store {
            let stored = super::store::StoredApp {
                id: app.clone(),
                name: name.clone(),
                owner: peer.identity.name.clone(),
                started_unix_ms: started,
            };
            // Written before the driver hears of it: a restarted master knows every
            // application a driver may name.
            if let Err(e) = store.put_app(&stored) {
                warn!(%app, "cannot record the application: {e}");
                self.apps.end(started, &app, AppState::Failed);
                return MasterResponse::Error {
                    message: format!("cannot record the application: {e}"),
                };
            }
        }
        info!(%app, %name, peer = %peer.remote, "application registered");
        let message = format!("application {app} ({name}) started from {}", peer.remote);
        self.history
            .record(now, EventKind::ApplicationStarted, None, None, message);
        MasterResponse::ApplicationRegistered {
            app,
            lease_timeout_ms: self.apps.lease_timeout_ms(),
        }
    }

    /// Ends a running application: its jobs are cancelled, its map outputs forgotten and
    /// every worker drops its blocks. False when it was not running.
    fn release_app(&mut self, app: &str, state: AppState, why: &str) -> bool {
        let now = self.clock.now_ms();
        if !self.apps.end(self.start_unix_ms + now, app, state) {
            return false;
        }
        if let Some(store) = &self.store {
            if let Err(e) = store.remove_app(app) {
                warn!(%app, "cannot record the application's end (a restarted master would take it back until its lease expires): {e}");
            }
        }
        let reason = format!("application {app} {why}");
        for outcome in self.scheduler.cancel_app(app, &reason) {
            self.finish(outcome);
        }
        for kind in APP_BLOCK_KINDS {
            self.membership.forget_blocks(&format!("{kind}_{app}_"));
        }
        for worker in self.membership.alive() {
            if let Some(address) = self.membership.address_of(&worker) {
                let app = app.to_string();
                self.send_to(&address, WorkerRequest::DropApplication { app });
            }
        }
        info!(%app, state = state.as_str(), "application ended: {why}");
        let message = format!("application {app} {}: {why}", state.as_str());
        self.history
            .record(now, EventKind::ApplicationEnded, None, None, message);
        true
    }

    /// Sends a request to a worker without waiting for the answer (drops are idempotent).
    fn send_to(&self, address: &str, request: WorkerRequest) {
        let pool = self.pool.clone();
        let address = address.to_string();
        tokio::spawn(async move {
            if let Ok(addr) = resolve(&address).await {
                if let Ok(conn) = pool.get(addr).await {
                    let _ = conn.request::<_, WorkerResponse>(&request).await;
                }
            }
        });
    }

    /// Drops a dataset's persisted partitions and, when it is a shuffle, its map outputs.
    fn unpersist(&mut self, app: &str, dataset: DatasetId) {
        self.scheduler.forget_shuffle(app, dataset);
        let prefixes = [
            dataset_block_prefix(app, dataset),
            shuffle_block_prefix(app, dataset),
        ];
        for prefix in prefixes {
            for (block, holders) in self.membership.forget_blocks(&prefix) {
                for holder in holders {
                    if let Some(address) = self.membership.address_of(&holder) {
                        let block_id = block.clone();
                        self.send_to(&address, WorkerRequest::RemoveBlock { block_id });
                    }
                }
            }
        }
    }

    /// Timers: silent workers, expired leases, jobs without any live worker.
    fn check_timers(&mut self) {
        let now = self.clock.now_ms();
        let period = (self.heartbeat_interval / 2).max(Duration::from_millis(50));
        let gap = now.saturating_sub(self.last_tick_ms);
        self.last_tick_ms = now;
        if gap > 4 * period.as_millis() as u64 + 1_000 {
            // The process was paused (SIGSTOP, a stalled host): drivers had no chance to
            // renew and workers' heartbeats sat unread, so leases and heartbeat deadlines
            // restart before anyone is judged on stale timers.
            warn!(
                gap_ms = gap,
                "master timers resumed after a pause; renewing every lease and waiting a heartbeat timeout for every worker"
            );
            self.apps.renew_all(now);
            self.membership.grace_all(now);
        }
        let lost = self.membership.expire(now);
        self.workers_lost(lost, "no heartbeat within the timeout");
        for app in self.apps.expired(now) {
            let why = format!(
                "lost its driver (lease not renewed within {} ms)",
                self.apps.lease_timeout_ms()
            );
            self.release_app(&app, AppState::Lost, &why);
        }
        self.check_no_worker(now);
    }

    /// Fails every job once no worker has been alive for `no_worker_timeout_ms`.
    fn check_no_worker(&mut self, now: u64) {
        if self.scheduler.active_jobs() == 0 || !self.membership.alive().is_empty() {
            self.no_worker_since_ms = None;
            return;
        }
        let since = *self.no_worker_since_ms.get_or_insert(now);
        if now.saturating_sub(since) < self.no_worker_timeout_ms {
            return;
        }
        let reason = format!(
            "no live worker for {} s (--no-worker-timeout)",
            self.no_worker_timeout_ms / 1000
        );
        warn!("{reason}: failing every running job");
        for job in self.scheduler.job_ids() {
            let outcome = self.scheduler.cancel_job(job, &reason);
            self.finish(outcome);
        }
        self.no_worker_since_ms = None;
    }

    fn workers_lost(&mut self, ids: Vec<String>, why: &str) {
        let now = self.clock.now_ms();
        for id in ids {
            warn!(worker = %id, "worker lost: {why}");
            let running = self.scheduler.running_tasks_on(&id);
            let message = format!(
                "{id} lost ({why}); {} to retry",
                count(running.len() as u64, "running task")
            );
            self.history
                .record(now, EventKind::WorkerLost, Some(&id), None, message);
            for outcome in self.scheduler.worker_lost(now, &id) {
                self.finish(outcome);
            }
            let mut per_job: BTreeMap<u64, usize> = BTreeMap::new();
            for task in running {
                *per_job.entry(task.job_id).or_default() += 1;
            }
            for (job, tasks) in per_job {
                if let Some(name) = self.history.job_name(job) {
                    let tasks = count(tasks as u64, "task");
                    let message = format!("job {job} ({name}): {tasks} retried, {id} lost");
                    self.history
                        .record(now, EventKind::TaskRetried, Some(&id), Some(job), message);
                }
            }
        }
    }

    fn finish(&mut self, outcome: JobOutcome) {
        let job_id = match &outcome {
            JobOutcome::Finished { job_id, .. } => *job_id,
            JobOutcome::Failed(e) => e.job_id,
        };
        match &outcome {
            JobOutcome::Finished { results, .. } => {
                info!(job = job_id, partitions = results.len(), "job finished")
            }
            JobOutcome::Failed(e) => warn!(job = job_id, "{e}"),
        }
        self.ended.extend(self.scheduler.take_ended());
        let stages = self.ended.remove(&job_id).unwrap_or_default();
        let error = match &outcome {
            JobOutcome::Finished { .. } => None,
            JobOutcome::Failed(e) => Some(e.to_string()),
        };
        self.history
            .job_ended(self.clock.now_ms(), job_id, stages, error);
        if let Some((_, reply)) = self.waiters.remove(&job_id) {
            let _ = reply.send(outcome);
        }
    }

    /// Why a submitted job cannot run: its application is not running, or its lineage is
    /// malformed (checked before anything is scheduled).
    fn refusal(&self, spec: &JobSpec) -> Option<TaskError> {
        let app = &spec.lineage.app;
        if !self.apps.is_running(app) {
            let state = self.apps.state(app);
            return Some(TaskError::Cancelled {
                reason: format!(
                    "application {app:?} is not running here ({}); register first",
                    state.as_str()
                ),
            });
        }
        spec.lineage
            .validate(spec.target)
            .err()
            .map(|e| TaskError::BadInput {
                message: format!("invalid lineage: {e}"),
            })
    }

    /// Launches whatever pending tasks fit the free slots.
    fn dispatch(&mut self, me: Addr<Self>) {
        if self.scheduler.active_jobs() == 0 {
            return;
        }
        let mut free: BTreeMap<String, usize> = self
            .membership
            .alive_cores()
            .into_iter()
            .map(|(id, cores)| {
                let running = self.scheduler.running_on(&id);
                (id, (cores as usize).saturating_sub(running))
            })
            .collect();
        let placement = ClusterPlacement {
            membership: &self.membership,
        };
        let launches = self
            .scheduler
            .launches(self.clock.now_ms(), &mut free, &placement);
        for launch in launches {
            let address = self
                .membership
                .address_of(&launch.worker)
                .unwrap_or_default();
            tokio::spawn(run_remote(self.pool.clone(), address, launch, me.clone()));
        }
    }
}

/// Sends a task to its worker and reports the answer to the master.
async fn run_remote(pool: PeerPool, address: String, launch: Launch, master: Addr<Master>) {
    let Launch { worker, spec } = launch;
    let attempt_id = spec.attempt_id;
    let unreachable = |message: String| MasterMsg::TaskFailed {
        attempt_id,
        worker: worker.clone(),
        error: TaskError::Unreachable {
            worker: worker.clone(),
            message,
        },
    };
    let result = async {
        let addr = resolve(&address).await?;
        let conn = pool.get(addr).await?;
        conn.request_body_within(
            &WorkerRequest::RunTask(spec),
            |r: &WorkerResponse| match r {
                WorkerResponse::TaskDone { len, .. } => Some(*len),
                _ => None,
            },
            TASK_TIMEOUT,
        )
        .await
    }
    .await;
    let msg = match result {
        Ok((WorkerResponse::TaskDone { metrics, .. }, Some(body))) => {
            match rmp_serde::from_slice::<TaskOutput>(&body) {
                Ok(output) => MasterMsg::TaskSucceeded {
                    attempt_id,
                    worker: worker.clone(),
                    output,
                    metrics,
                },
                Err(e) => unreachable(format!("undecodable task output: {e}")),
            }
        }
        Ok((WorkerResponse::TaskFailed(error), _)) => MasterMsg::TaskFailed {
            attempt_id,
            worker: worker.clone(),
            error,
        },
        Ok((other, _)) => unreachable(format!("unexpected answer {other:?}")),
        Err(e) => MasterMsg::TaskFailed {
            attempt_id,
            worker: worker.clone(),
            error: TaskError::from_transport(&worker, &e),
        },
    };
    master.do_send(msg);
}

/// Placement over the master's view of the cluster.
struct ClusterPlacement<'a> {
    membership: &'a Membership,
}

impl Placement for ClusterPlacement<'_> {
    fn preferred(&self, spec: &JobSpec, dataset: DatasetId, partition: u32) -> Vec<String> {
        for block in spec.lineage.persisted_chain(dataset, partition) {
            let holders = self.membership.locate(&block);
            if !holders.is_empty() {
                return holders.into_iter().map(|(id, _)| id).collect();
            }
        }
        Vec::new()
    }

    fn address(&self, worker: &str) -> Option<String> {
        self.membership.address_of(worker)
    }

    fn replicas(&self, worker: &str) -> Vec<(String, String)> {
        let alive: Vec<String> = self
            .membership
            .alive_cores()
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let start = alive
            .iter()
            .position(|id| id == worker)
            .map_or(0, |i| i + 1);
        alive
            .iter()
            .cycle()
            .skip(start)
            .take(alive.len())
            .filter(|id| *id != worker)
            .filter_map(|id| self.membership.address_of(id).map(|a| (id.clone(), a)))
            .collect()
    }
}

/// The application a driver request acts on (its own, which must be checked).
fn owned_app(request: &MasterRequest) -> Option<&str> {
    match request {
        MasterRequest::RenewLease { app }
        | MasterRequest::EndApplication { app, .. }
        | MasterRequest::Unpersist { app, .. } => Some(app),
        _ => None,
    }
}

fn outcome_response(outcome: HeartbeatOutcome) -> MasterResponse {
    match outcome {
        HeartbeatOutcome::Ack => MasterResponse::Ack,
        HeartbeatOutcome::ReRegister(reason) => MasterResponse::ReRegister { reason },
        HeartbeatOutcome::Superseded(current_incarnation) => MasterResponse::Superseded {
            current_incarnation,
        },
    }
}

impl Actor for Master {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let period = (self.heartbeat_interval / 2).max(Duration::from_millis(50));
        ctx.run_interval(period, |_, ctx| ctx.notify(MasterMsg::CheckHeartbeats));
        info!(address = %self.address, "master started");
    }
}

impl Handler<MasterMsg> for Master {
    type Result = actix::MessageResult<MasterMsg>;

    fn handle(&mut self, msg: MasterMsg, ctx: &mut Self::Context) -> Self::Result {
        let now = self.clock.now_ms();
        let response = match msg {
            MasterMsg::Request { peer, request } => self.on_request(&peer, request),
            MasterMsg::ConnectionClosed { peer, reason } => {
                if reason == IDLE_TIMEOUT_REASON {
                    // Silence, not an exit: a SIGKILLed worker is reported by its watcher long
                    // before QUIC's idle timeout, and after a pause of the master itself every
                    // connection times out at once. Heartbeats judge silence.
                    info!(peer = %peer.name, "connection idle-timed out; heartbeats decide whether its worker is lost");
                } else {
                    let lost = self.membership.connection_closed(peer.conn_id);
                    self.workers_lost(lost, &format!("connection closed ({reason})"));
                }
                MasterResponse::Ack
            }
            MasterMsg::CheckHeartbeats => {
                self.check_timers();
                MasterResponse::Ack
            }
            MasterMsg::SubmitJob { peer, spec, reply } => {
                let job_id = self.next_job_id;
                self.next_job_id += 1;
                let app = spec.lineage.app.clone();
                info!(job = job_id, name = %spec.name, %app, dataset = spec.target, "job submitted");
                self.history.job_submitted(now, job_id, &spec.name, &app);
                self.waiters.insert(job_id, (spec.name.clone(), reply));
                let not_owner = self.not_owner(&peer, &spec.lineage.app).map(|message| {
                    warn!(peer = %peer.remote, "refused: {message}");
                    TaskError::Cancelled {
                        reason: format!("permission denied: {message}"),
                    }
                });
                let refused = not_owner.or_else(|| self.refusal(&spec)).map(|cause| {
                    JobOutcome::Failed(JobError {
                        job_id,
                        dataset: spec.target,
                        partition: 0,
                        stage: 0,
                        attempts: 0,
                        cause,
                        input: None,
                    })
                });
                let outcome = match refused {
                    Some(outcome) => Some(outcome),
                    None => self.scheduler.submit(now, job_id, spec),
                };
                if let Some(outcome) = outcome {
                    self.finish(outcome);
                }
                MasterResponse::Ack
            }
            MasterMsg::TaskSucceeded {
                attempt_id,
                worker,
                output,
                metrics,
            } => {
                tracing::debug!(attempt_id, %worker, ?metrics, "task succeeded");
                let attempt = self.scheduler.attempt(attempt_id);
                let recomputed = self.scheduler.recomputed_map_outputs();
                let outcome = self.scheduler.task_succeeded(attempt_id, &worker, output);
                if let Some(at) = attempt {
                    if self.scheduler.recomputed_map_outputs() > recomputed {
                        let message = format!(
                            "job {} stage {}: lost map output {} recomputed on {worker}",
                            at.job_id, at.stage, at.partition
                        );
                        self.history.partition_recomputed(
                            now,
                            Some(at.job_id),
                            Some(&worker),
                            message,
                        );
                    }
                }
                if let Some(outcome) = outcome {
                    self.finish(outcome);
                }
                MasterResponse::Ack
            }
            MasterMsg::TaskFailed {
                attempt_id,
                worker,
                error,
            } => {
                warn!(attempt_id, %worker, "task attempt failed: {error}");
                let attempt = self.scheduler.attempt(attempt_id);
                let cause = error.to_string();
                match self.scheduler.task_failed(now, attempt_id, error) {
                    Some(outcome) => self.finish(outcome),
                    None => {
                        if let Some(at) = attempt {
                            let message = format!(
                                "job {} stage {} partition {}: attempt on {worker} failed, retrying: {cause}",
                                at.job_id, at.stage, at.partition
                            );
                            self.history.record(
                                now,
                                EventKind::TaskRetried,
                                Some(&worker),
                                Some(at.job_id),
                                message,
                            );
                        }
                    }
                }
                MasterResponse::Ack
            }
        };
        self.ended.clear();
        self.dispatch(ctx.address());
        actix::MessageResult(response)
    }
}
