//! The Master actor: owns [`Membership`] and the [`Scheduler`], answers master requests in
//! arrival order, launches tasks on workers and turns their answers back into events.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Addr, AsyncContext, Context, Handler, Message};
use tokio::sync::oneshot;
use tracing::{info, warn};

use super::history::{count, human_bytes, History, HistoryLimits};
use super::membership::{HeartbeatOutcome, Membership, Registration};
use crate::clock::Clock;
use crate::data::plan::DatasetId;
use crate::scheduler::{JobOutcome, Launch, Placement, Scheduler, SchedulerConfig};
use crate::transport::{endpoint::resolve, PeerInfo, PeerPool};
use crate::wire::{
    BlockId, ClusterStatus, EventKind, JobSpec, MasterRequest, MasterResponse, StageStatus,
    TaskError, TaskMetrics, TaskOutput, WorkerRequest, WorkerResponse,
};

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
        }
    }

    fn on_request(&mut self, peer: &PeerInfo, request: MasterRequest) -> MasterResponse {
        let now = self.clock.now_ms();
        match request {
            MasterRequest::RegisterWorker {
                worker_id,
                address,
                cores,
                memory_budget_bytes,
                pid,
                blocks,
            } => {
                let reg = Registration {
                    worker_id: worker_id.clone(),
                    address: address.clone(),
                    cores,
                    memory_budget_bytes,
                    pid,
                    blocks,
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
                    let job = rdd_dataset(&block_id)
                        .and_then(|d| self.scheduler.jobs_using(d).first().copied());
                    let message = format!("{block_id} recomputed from lineage on {worker_id}");
                    self.history
                        .partition_recomputed(now, job, Some(&worker_id), message);
                }
                outcome_response(outcome)
            }
            MasterRequest::LocateBlock { block_id } => MasterResponse::Locations {
                holders: self.membership.locate(&block_id),
            },
            MasterRequest::Status => MasterResponse::Status(self.status(now)),
            MasterRequest::Unpersist { dataset } => {
                self.unpersist(dataset);
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
        }
    }

    fn unpersist(&mut self, dataset: DatasetId) {
        for (block, holders) in self.membership.forget_blocks(&format!("rdd_{dataset}_")) {
            for holder in holders {
                let Some(address) = self.membership.address_of(&holder) else {
                    continue;
                };
                let pool = self.pool.clone();
                let block = block.clone();
                tokio::spawn(async move {
                    let request = WorkerRequest::RemoveBlock { block_id: block };
                    if let Ok(addr) = resolve(&address).await {
                        if let Ok(conn) = pool.get(addr).await {
                            let _ = conn.request::<_, WorkerResponse>(&request).await;
                        }
                    }
                });
            }
        }
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

/// The dataset of a persisted partition's block (`rdd_<dataset>_<partition>`).
fn rdd_dataset(block: &BlockId) -> Option<DatasetId> {
    block
        .0
        .strip_prefix("rdd_")?
        .split('_')
        .next()?
        .parse()
        .ok()
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
                let lost = self.membership.connection_closed(peer.conn_id);
                self.workers_lost(lost, &format!("connection closed ({reason})"));
                MasterResponse::Ack
            }
            MasterMsg::CheckHeartbeats => {
                let lost = self.membership.expire(now);
                self.workers_lost(lost, "no heartbeat within the timeout");
                MasterResponse::Ack
            }
            MasterMsg::SubmitJob { spec, reply } => {
                let job_id = self.next_job_id;
                self.next_job_id += 1;
                info!(job = job_id, name = %spec.name, dataset = spec.target, "job submitted");
                self.history.job_submitted(now, job_id, &spec.name);
                self.waiters.insert(job_id, (spec.name.clone(), reply));
                if let Some(outcome) = self.scheduler.submit(now, job_id, spec) {
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
