//! The job scheduler as a pure state machine. A job is split into stages at shuffle
//! boundaries: one map stage per shuffle it needs (whose outputs are kept and reused by later
//! jobs) and a result stage. Tasks are placed where their cached blocks live (falling back to
//! any free slot after a locality wait); failures are classified (retryable or not, counting
//! toward the limit or not); a lost worker's running tasks are resubmitted and its map outputs
//! forgotten, so exactly the map tasks that produced them run again. Nothing here reads a clock
//! or a socket: the master actor feeds events in and carries launches out.

use std::collections::{BTreeMap, BTreeSet};

use tracing::info;

use crate::data::plan::{AppId, DatasetId, Lineage, Op};
use crate::wire::{
    JobError, JobSpec, PartitionResult, TaskAction, TaskError, TaskOutput, TaskSpec,
};

/// Scheduler limits.
#[derive(Debug, Clone, Copy)]
pub struct SchedulerConfig {
    /// Failures (that count) after which a task fails its job (Spark's default 4).
    pub max_task_failures: u32,
    /// Upper bound on attempts of one task whatever the causes.
    pub max_task_attempts: u32,
    /// How long a task waits for a slot on a worker holding its cached data.
    pub locality_wait_ms: u64,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            max_task_failures: 4,
            max_task_attempts: 16,
            locality_wait_ms: 3_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum SlotState {
    Idle { since_ms: u64 },
    Running { worker: String, attempt_id: u64 },
    Done(TaskOutput),
}

#[derive(Debug)]
struct TaskSlot {
    state: SlotState,
    failures: u32,
    attempts: u32,
}

#[derive(Debug, Clone)]
enum StageKind {
    ShuffleMap {
        shuffle: DatasetId,
        keys: Vec<String>,
        reduce_partitions: u32,
    },
    Result,
}

#[derive(Debug)]
struct Stage {
    kind: StageKind,
    /// The dataset whose partitions the tasks compute.
    target: DatasetId,
    /// Shuffles this stage reads.
    parents: Vec<DatasetId>,
    tasks: BTreeMap<u32, TaskSlot>,
}

#[derive(Debug)]
struct Job {
    spec: JobSpec,
    stages: Vec<Stage>,
}

/// A task to send to a worker.
#[derive(Debug, Clone, PartialEq)]
pub struct Launch {
    /// The worker.
    pub worker: String,
    /// The task.
    pub spec: TaskSpec,
}

/// A job reached its end.
#[derive(Debug, Clone, PartialEq)]
pub enum JobOutcome {
    /// Every partition's result, in partition order.
    Finished {
        /// The job.
        job_id: u64,
        /// Results.
        results: Vec<PartitionResult>,
    },
    /// A task failed for good.
    Failed(JobError),
}

/// What the scheduler needs to know about the cluster when placing tasks.
pub trait Placement {
    /// Workers holding cached data for partition `p` of `dataset`, best first.
    fn preferred(&self, spec: &JobSpec, dataset: DatasetId, partition: u32) -> Vec<String>;
    /// `(id, address)` of workers to copy persisted blocks to when `worker` runs a task.
    fn replicas(&self, worker: &str) -> Vec<(String, String)>;
    /// Address of an alive worker.
    fn address(&self, worker: &str) -> Option<String>;
}

#[derive(Debug, Clone, Copy)]
struct AttemptRef {
    job: u64,
    stage: usize,
    partition: u32,
}

/// Jobs, their stages, tasks and attempts, and the shuffle map outputs they produced.
#[derive(Debug)]
pub struct Scheduler {
    config: SchedulerConfig,
    jobs: BTreeMap<u64, Job>,
    attempts: BTreeMap<u64, AttemptRef>,
    next_attempt: u64,
    /// (application, shuffle) -> map partition -> worker holding its output.
    map_outputs: BTreeMap<ShuffleKey, BTreeMap<u32, String>>,
    lost_outputs: BTreeSet<(ShuffleKey, u32)>,
    /// The application that got the last slot: the next round of launches starts after it.
    last_app: Option<AppId>,
    recomputed_map_outputs: u64,
    /// Final progress of jobs that ended, until the master takes it (bounded).
    ended: std::collections::VecDeque<(u64, Vec<crate::wire::StageStatus>)>,
}

/// A shuffle of one application: dataset ids are unique only within their application.
type ShuffleKey = (AppId, DatasetId);

fn key(lineage: &Lineage, shuffle: DatasetId) -> ShuffleKey {
    (lineage.app.clone(), shuffle)
}

/// The shuffles `d` reads through narrow dependencies (all partitions).
fn narrow_shuffles(lineage: &Lineage, d: DatasetId) -> Vec<DatasetId> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    let mut stack = vec![d];
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        match lineage.node(id).map(|n| &n.op) {
            Ok(Op::Shuffle { .. }) => out.push(id),
            Ok(_) => stack.extend(lineage.parents(id)),
            Err(_) => {}
        }
    }
    out.sort_unstable();
    out
}

fn partitions_of(lineage: &Lineage, d: DatasetId) -> u32 {
    lineage.node(d).map_or(0, |n| n.num_partitions)
}

fn slots(partitions: impl IntoIterator<Item = u32>, now_ms: u64) -> BTreeMap<u32, TaskSlot> {
    partitions
        .into_iter()
        .map(|p| {
            let slot = TaskSlot {
                state: SlotState::Idle { since_ms: now_ms },
                failures: 0,
                attempts: 0,
            };
            (p, slot)
        })
        .collect()
}

/// Map stages in dependency order (upstream first), then nothing: the caller adds the result.
fn map_stages(lineage: &Lineage, shuffles: &[DatasetId], now_ms: u64, out: &mut Vec<Stage>) {
    for &shuffle in shuffles {
        if out
            .iter()
            .any(|s| matches!(s.kind, StageKind::ShuffleMap { shuffle: x, .. } if x == shuffle))
        {
            continue;
        }
        let Ok(node) = lineage.node(shuffle) else {
            continue;
        };
        let Op::Shuffle { parent, keys } = &node.op else {
            continue;
        };
        let upstream = narrow_shuffles(lineage, *parent);
        map_stages(lineage, &upstream, now_ms, out);
        out.push(Stage {
            kind: StageKind::ShuffleMap {
                shuffle,
                keys: keys.clone(),
                reduce_partitions: node.num_partitions,
            },
            target: *parent,
            parents: upstream,
            tasks: slots(0..partitions_of(lineage, *parent), now_ms),
        });
    }
}

impl Scheduler {
    /// An empty scheduler.
    pub fn new(config: SchedulerConfig) -> Self {
        Self {
            config,
            jobs: BTreeMap::new(),
            attempts: BTreeMap::new(),
            next_attempt: 1,
            map_outputs: BTreeMap::new(),
            lost_outputs: BTreeSet::new(),
            last_app: None,
            recomputed_map_outputs: 0,
            ended: std::collections::VecDeque::new(),
        }
    }

    /// Shuffle map outputs run again after being lost.
    pub fn recomputed_map_outputs(&self) -> u64 {
        self.recomputed_map_outputs
    }

    /// Adds a job. A job over no partitions finishes at once.
    pub fn submit(&mut self, now_ms: u64, job_id: u64, spec: JobSpec) -> Option<JobOutcome> {
        let partitions: Vec<u32> = if spec.partitions.is_empty() {
            (0..partitions_of(&spec.lineage, spec.target)).collect()
        } else {
            spec.partitions.clone()
        };
        if partitions.is_empty() {
            return Some(JobOutcome::Finished {
                job_id,
                results: vec![],
            });
        }
        let parents = narrow_shuffles(&spec.lineage, spec.target);
        let mut stages = Vec::new();
        map_stages(&spec.lineage, &parents, now_ms, &mut stages);
        stages.push(Stage {
            kind: StageKind::Result,
            target: spec.target,
            parents,
            tasks: slots(partitions, now_ms),
        });
        self.jobs.insert(job_id, Job { spec, stages });
        None
    }

    /// Tasks running on `worker`.
    pub fn running_on(&self, worker: &str) -> usize {
        self.jobs
            .values()
            .flat_map(|j| &j.stages)
            .flat_map(|s| s.tasks.values())
            .filter(|t| matches!(&t.state, SlotState::Running { worker: w, .. } if w == worker))
            .count()
    }

    /// Jobs not finished yet.
    pub fn active_jobs(&self) -> usize {
        self.jobs.len()
    }

    fn shuffle_complete(&self, lineage: &Lineage, shuffle: DatasetId) -> bool {
        let Ok(node) = lineage.node(shuffle) else {
            return false;
        };
        let Op::Shuffle { parent, .. } = &node.op else {
            return false;
        };
        let maps = partitions_of(lineage, *parent);
        // A shuffle of an empty dataset has no map task and is complete at once.
        maps == 0
            || self
                .map_outputs
                .get(&key(lineage, shuffle))
                .is_some_and(|outputs| (0..maps).all(|m| outputs.contains_key(&m)))
    }

    /// Places pending tasks on free slots (`free`: worker id -> free slots, updated in place).
    ///
    /// Fair between applications: slots are handed out one task at a time, round-robin over
    /// the applications with pending tasks (starting after the one that got the last slot),
    /// so no application starves however many tasks another has queued. Within an
    /// application, jobs go in submission order, stages upstream first, tasks in partition
    /// order; a task whose cached data lives on busy workers waits up to the locality wait.
    pub fn launches(
        &mut self,
        now_ms: u64,
        free: &mut BTreeMap<String, usize>,
        placement: &dyn Placement,
    ) -> Vec<Launch> {
        let mut out = Vec::new();
        let mut apps: Vec<AppId> = Vec::new();
        for job in self.jobs.values() {
            if !apps.contains(&job.spec.lineage.app) {
                apps.push(job.spec.lineage.app.clone());
            }
        }
        apps.sort();
        if let Some(last) = &self.last_app {
            let start = apps.iter().position(|a| a > last).unwrap_or(0);
            apps.rotate_left(start);
        }
        let mut waiting = apps;
        // Each round gives every application with launchable work one task; bounded by the
        // free slots (each launch takes one).
        while !waiting.is_empty() && free.values().any(|n| *n > 0) {
            let mut next_round = Vec::with_capacity(waiting.len());
            for app in waiting {
                if free.values().all(|n| *n == 0) {
                    break;
                }
                if self.launch_one(now_ms, &app, free, placement, &mut out) {
                    self.last_app = Some(app.clone());
                    next_round.push(app);
                }
            }
            waiting = next_round;
        }
        out
    }

    /// Launches one task of `app` (oldest job, upstream stage, lowest partition first) if one
    /// can run now; true when it did.
    fn launch_one(
        &mut self,
        now_ms: u64,
        app: &str,
        free: &mut BTreeMap<String, usize>,
        placement: &dyn Placement,
        out: &mut Vec<Launch>,
    ) -> bool {
        let job_ids: Vec<u64> = self
            .jobs
            .iter()
            .filter(|(_, j)| j.spec.lineage.app == app)
            .map(|(id, _)| *id)
            .collect();
        for job_id in job_ids {
            for stage_index in 0..self.jobs[&job_id].stages.len() {
                let (ready, shuffles) = self.stage_ready(job_id, stage_index, placement);
                if !ready {
                    continue;
                }
                let before = out.len();
                self.launch_stage(now_ms, job_id, stage_index, &shuffles, free, placement, out);
                if out.len() > before {
                    return true;
                }
            }
        }
        false
    }

    /// Jobs of `app` not finished yet.
    pub fn jobs_of(&self, app: &str) -> u64 {
        self.jobs
            .values()
            .filter(|j| j.spec.lineage.app == app)
            .count() as u64
    }

    /// The application a job belongs to.
    pub fn app_of(&self, job_id: u64) -> Option<&str> {
        self.jobs.get(&job_id).map(|j| j.spec.lineage.app.as_str())
    }

    /// Fails every job of `app` with [`TaskError::Cancelled`] and forgets its map outputs
    /// (its application ended). Returns the failed jobs' outcomes.
    pub fn cancel_app(&mut self, app: &str, reason: &str) -> Vec<JobOutcome> {
        let ids: Vec<u64> = self
            .jobs
            .iter()
            .filter(|(_, j)| j.spec.lineage.app == app)
            .map(|(id, _)| *id)
            .collect();
        let outcomes = ids
            .into_iter()
            .map(|id| self.cancel_job(id, reason))
            .collect();
        self.map_outputs.retain(|(a, _), _| a != app);
        self.lost_outputs.retain(|((a, _), _)| a != app);
        outcomes
    }

    /// Fails one job with [`TaskError::Cancelled`].
    pub fn cancel_job(&mut self, job_id: u64, reason: &str) -> JobOutcome {
        let (dataset, attempts) = self.jobs.get(&job_id).map_or((0, 0), |j| {
            let result = j.stages.last();
            (
                j.spec.target,
                result.map_or(0, |s| {
                    s.tasks.values().map(|t| t.attempts).max().unwrap_or(0)
                }),
            )
        });
        let stage = self
            .jobs
            .get(&job_id)
            .map_or(0, |j| j.stages.len().saturating_sub(1) as u32);
        self.drop_job(job_id);
        JobOutcome::Failed(JobError {
            job_id,
            dataset,
            partition: 0,
            stage,
            attempts,
            cause: TaskError::Cancelled {
                reason: reason.to_string(),
            },
        })
    }

    /// Forgets the map outputs of one shuffle (its dataset was unpersisted).
    pub fn forget_shuffle(&mut self, app: &str, shuffle: DatasetId) {
        let k = (app.to_string(), shuffle);
        self.map_outputs.remove(&k);
        self.lost_outputs.retain(|(s, _)| *s != k);
    }

    /// Ids of the jobs running now.
    pub fn job_ids(&self) -> Vec<u64> {
        self.jobs.keys().copied().collect()
    }

    /// Whether a stage can run now, with the map output locations of the shuffles it reads.
    fn stage_ready(
        &self,
        job_id: u64,
        stage_index: usize,
        placement: &dyn Placement,
    ) -> (bool, BTreeMap<DatasetId, Vec<(String, String)>>) {
        let job = &self.jobs[&job_id];
        let stage = &job.stages[stage_index];
        let mut locations = BTreeMap::new();
        for &shuffle in &stage.parents {
            if !self.shuffle_complete(&job.spec.lineage, shuffle) {
                return (false, locations);
            }
            let mut holders = Vec::new();
            let outputs = self.map_outputs.get(&key(&job.spec.lineage, shuffle));
            for worker in outputs.into_iter().flat_map(|o| o.values()) {
                match placement.address(worker) {
                    Some(address) => holders.push((worker.clone(), address)),
                    None => return (false, locations),
                }
            }
            locations.insert(shuffle, holders);
        }
        (true, locations)
    }

    #[allow(clippy::too_many_arguments)]
    fn launch_stage(
        &mut self,
        now_ms: u64,
        job_id: u64,
        stage_index: usize,
        shuffles: &BTreeMap<DatasetId, Vec<(String, String)>>,
        free: &mut BTreeMap<String, usize>,
        placement: &dyn Placement,
        out: &mut Vec<Launch>,
    ) {
        let wait = self.config.locality_wait_ms;
        let job = self.jobs.get_mut(&job_id).expect("job");
        let stage = &mut job.stages[stage_index];
        let done_maps = match &stage.kind {
            StageKind::ShuffleMap { shuffle, .. } => self
                .map_outputs
                .get(&key(&job.spec.lineage, *shuffle))
                .cloned()
                .unwrap_or_default(),
            StageKind::Result => BTreeMap::new(),
        };
        for (&partition, task) in stage.tasks.iter_mut() {
            let needed = match (&stage.kind, &task.state) {
                (_, SlotState::Running { .. }) => false,
                (StageKind::ShuffleMap { .. }, _) => !done_maps.contains_key(&partition),
                (StageKind::Result, SlotState::Idle { .. }) => true,
                (StageKind::Result, SlotState::Done(_)) => false,
            };
            if !needed {
                continue;
            }
            let since_ms = match task.state {
                SlotState::Idle { since_ms } => since_ms,
                _ => now_ms,
            };
            let preferred: Vec<String> = placement
                .preferred(&job.spec, stage.target, partition)
                .into_iter()
                .filter(|w| free.contains_key(w))
                .collect();
            let local = preferred.iter().find(|w| free[*w] > 0).cloned();
            let worker = match local {
                Some(w) => w,
                None if !preferred.is_empty() && now_ms.saturating_sub(since_ms) < wait => continue,
                None => match most_free(free) {
                    Some(w) => w,
                    None => return,
                },
            };
            *free.get_mut(&worker).expect("free slot") -= 1;
            let attempt_id = self.next_attempt;
            self.next_attempt += 1;
            self.attempts.insert(
                attempt_id,
                AttemptRef {
                    job: job_id,
                    stage: stage_index,
                    partition,
                },
            );
            task.attempts += 1;
            task.state = SlotState::Running {
                worker: worker.clone(),
                attempt_id,
            };
            let lineage = job
                .spec
                .lineage
                .prune_for(stage.target, partition)
                .unwrap_or_else(|_| job.spec.lineage.clone());
            let action = match &stage.kind {
                StageKind::ShuffleMap {
                    shuffle,
                    keys,
                    reduce_partitions,
                } => TaskAction::ShuffleWrite {
                    shuffle: *shuffle,
                    keys: keys.clone(),
                    num_partitions: *reduce_partitions,
                },
                StageKind::Result => job.spec.action.clone(),
            };
            let needs: BTreeSet<DatasetId> = lineage
                .shuffles_below(stage.target, partition)
                .into_iter()
                .collect();
            out.push(Launch {
                spec: TaskSpec {
                    job_id,
                    attempt_id,
                    target: stage.target,
                    partition,
                    lineage,
                    action,
                    replicas: placement.replicas(&worker),
                    shuffles: shuffles
                        .iter()
                        .filter(|(s, _)| needs.contains(s))
                        .map(|(s, h)| (*s, h.clone()))
                        .collect(),
                },
                worker,
            });
            // One task per call: the caller hands slots out round-robin between
            // applications.
            return;
        }
    }

    /// A task attempt succeeded on `worker`. Stale attempts (already resubmitted) are ignored.
    pub fn task_succeeded(
        &mut self,
        attempt_id: u64,
        worker: &str,
        output: TaskOutput,
    ) -> Option<JobOutcome> {
        let at = self.attempts.remove(&attempt_id)?;
        let job = self.jobs.get_mut(&at.job)?;
        let stage = &mut job.stages[at.stage];
        let task = stage.tasks.get_mut(&at.partition)?;
        if !matches!(&task.state, SlotState::Running { attempt_id: a, .. } if *a == attempt_id) {
            return None;
        }
        match &stage.kind {
            StageKind::ShuffleMap { shuffle, .. } => {
                let shuffle = *shuffle;
                let k = key(&job.spec.lineage, shuffle);
                task.state = SlotState::Done(TaskOutput::Unit);
                self.map_outputs
                    .entry(k.clone())
                    .or_default()
                    .insert(at.partition, worker.to_string());
                if self.lost_outputs.remove(&(k, at.partition)) {
                    self.recomputed_map_outputs += 1;
                    info!(shuffle, map = at.partition, %worker, "lost map output recomputed");
                }
                None
            }
            StageKind::Result => {
                task.state = SlotState::Done(output);
                if !stage
                    .tasks
                    .values()
                    .all(|t| matches!(t.state, SlotState::Done(_)))
                {
                    return None;
                }
                self.note_ended(at.job);
                let job = self.jobs.remove(&at.job).expect("job present");
                let result = job.stages.into_iter().last().expect("result stage");
                let results = result
                    .tasks
                    .into_iter()
                    .map(|(partition, t)| PartitionResult {
                        partition,
                        output: match t.state {
                            SlotState::Done(output) => output,
                            _ => unreachable!("all done"),
                        },
                    })
                    .collect();
                Some(JobOutcome::Finished {
                    job_id: at.job,
                    results,
                })
            }
        }
    }

    fn forget_output(&mut self, k: &ShuffleKey, map: u32, worker: &str) {
        let held_there = self
            .map_outputs
            .get(k)
            .and_then(|o| o.get(&map))
            .is_some_and(|w| w == worker);
        if held_there {
            self.map_outputs.get_mut(k).expect("outputs").remove(&map);
            self.lost_outputs.insert((k.clone(), map));
            info!(app = %k.0, shuffle = k.1, map, %worker, "map output lost; its map task will run again");
        }
    }

    /// A task attempt failed. Retryable failures are resubmitted until the limits; others
    /// fail the job at once. A lost map output is forgotten so its map task runs again.
    pub fn task_failed(
        &mut self,
        now_ms: u64,
        attempt_id: u64,
        error: TaskError,
    ) -> Option<JobOutcome> {
        let at = self.attempts.remove(&attempt_id)?;
        if let TaskError::MapOutputLost {
            shuffle,
            map_partition,
            worker,
            ..
        } = &error
        {
            if let Some(app) = self.app_of(at.job) {
                let k = (app.to_string(), *shuffle);
                self.forget_output(&k, *map_partition, worker);
            }
        }
        let config = self.config;
        let job = self.jobs.get_mut(&at.job)?;
        let target = job.stages[at.stage].target;
        let task = job.stages[at.stage].tasks.get_mut(&at.partition)?;
        if !matches!(&task.state, SlotState::Running { attempt_id: a, .. } if *a == attempt_id) {
            return None;
        }
        if error.counts_toward_limit() {
            task.failures += 1;
        }
        let give_up = !error.is_retryable()
            || task.failures >= config.max_task_failures
            || task.attempts >= config.max_task_attempts;
        if give_up {
            let failure = JobError {
                job_id: at.job,
                dataset: target,
                partition: at.partition,
                stage: at.stage as u32,
                attempts: task.attempts,
                cause: error,
            };
            self.drop_job(at.job);
            return Some(JobOutcome::Failed(failure));
        }
        task.state = SlotState::Idle { since_ms: now_ms };
        None
    }

    /// A worker was lost: its map outputs are forgotten and its running tasks fail with
    /// [`TaskError::WorkerLost`]. Running tasks elsewhere that read a shuffle it held map
    /// outputs of fail (uncounted) with [`TaskError::MapOutputLost`] and run again once the
    /// outputs are recomputed, instead of waiting for their fetches from the dead process to
    /// time out (found by cinder-chaos `kill-restart`).
    pub fn worker_lost(&mut self, now_ms: u64, worker: &str) -> Vec<JobOutcome> {
        let held: Vec<(ShuffleKey, u32)> = self
            .map_outputs
            .iter()
            .flat_map(|(s, outputs)| {
                outputs
                    .iter()
                    .filter(|(_, w)| *w == worker)
                    .map(move |(m, _)| (s.clone(), *m))
            })
            .collect();
        let mut lost_reads: BTreeMap<ShuffleKey, u32> = BTreeMap::new();
        for (k, map) in held {
            lost_reads.entry(k.clone()).or_insert(map);
            self.forget_output(&k, map, worker);
        }
        let mut lost: Vec<(u64, TaskError)> = Vec::new();
        let stages = self
            .jobs
            .values()
            .flat_map(|j| j.stages.iter().map(move |s| (&j.spec.lineage.app, s)));
        for (app, stage) in stages {
            let reads_lost = stage
                .parents
                .iter()
                .find_map(|p| lost_reads.get(&(app.clone(), *p)).map(|m| (*p, *m)));
            for task in stage.tasks.values() {
                let SlotState::Running {
                    worker: w,
                    attempt_id,
                } = &task.state
                else {
                    continue;
                };
                if w == worker {
                    let error = TaskError::WorkerLost {
                        worker: worker.to_string(),
                    };
                    lost.push((*attempt_id, error));
                } else if let Some((shuffle, map_partition)) = reads_lost {
                    let error = TaskError::MapOutputLost {
                        shuffle,
                        map_partition,
                        worker: worker.to_string(),
                        message: format!("{worker} was lost"),
                    };
                    lost.push((*attempt_id, error));
                }
            }
        }
        lost.into_iter()
            .filter_map(|(attempt, error)| self.task_failed(now_ms, attempt, error))
            .collect()
    }

    fn drop_job(&mut self, job_id: u64) {
        self.note_ended(job_id);
        self.jobs.remove(&job_id);
        self.attempts.retain(|_, at| at.job != job_id);
    }
}

fn most_free(free: &BTreeMap<String, usize>) -> Option<String> {
    free.iter()
        .filter(|(_, n)| **n > 0)
        .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
        .map(|(w, _)| w.clone())
}

mod progress;
pub use progress::{AttemptInfo, MAX_ENDED};
#[cfg(test)]
mod tests;
