//! The job scheduler as a pure state machine: jobs are split into one task per partition,
//! tasks are placed where their cached blocks live (falling back to any free slot after a
//! locality wait), failures are classified (retryable or not, counting toward the limit or
//! not), and a lost worker's running tasks are resubmitted. Nothing here reads a clock or a
//! socket; the master actor feeds it events and carries out its launches.

use std::collections::BTreeMap;

use crate::data::plan::DatasetId;
use crate::wire::{JobError, JobSpec, PartitionResult, TaskError, TaskOutput, TaskSpec};

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
    Pending { since_ms: u64 },
    Running { worker: String, attempt_id: u64 },
    Done(TaskOutput),
}

#[derive(Debug)]
struct TaskSlot {
    partition: u32,
    state: SlotState,
    failures: u32,
    attempts: u32,
    last_error: Option<TaskError>,
}

#[derive(Debug)]
struct Job {
    spec: JobSpec,
    tasks: Vec<TaskSlot>,
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
}

/// Jobs, their tasks and attempts.
#[derive(Debug)]
pub struct Scheduler {
    config: SchedulerConfig,
    jobs: BTreeMap<u64, Job>,
    attempts: BTreeMap<u64, (u64, usize)>,
    next_attempt: u64,
}

impl Scheduler {
    /// An empty scheduler.
    pub fn new(config: SchedulerConfig) -> Self {
        Self {
            config,
            jobs: BTreeMap::new(),
            attempts: BTreeMap::new(),
            next_attempt: 1,
        }
    }

    /// Adds a job. A job over no partitions finishes at once.
    pub fn submit(&mut self, now_ms: u64, job_id: u64, spec: JobSpec) -> Option<JobOutcome> {
        let partitions: Vec<u32> = if spec.partitions.is_empty() {
            let count = spec
                .lineage
                .node(spec.target)
                .map_or(0, |n| n.num_partitions);
            (0..count).collect()
        } else {
            spec.partitions.clone()
        };
        if partitions.is_empty() {
            return Some(JobOutcome::Finished {
                job_id,
                results: vec![],
            });
        }
        let tasks = partitions
            .into_iter()
            .map(|partition| TaskSlot {
                partition,
                state: SlotState::Pending { since_ms: now_ms },
                failures: 0,
                attempts: 0,
                last_error: None,
            })
            .collect();
        self.jobs.insert(job_id, Job { spec, tasks });
        None
    }

    /// Tasks running on `worker`.
    pub fn running_on(&self, worker: &str) -> usize {
        self.jobs
            .values()
            .flat_map(|j| &j.tasks)
            .filter(|t| matches!(&t.state, SlotState::Running { worker: w, .. } if w == worker))
            .count()
    }

    /// Jobs not finished yet.
    pub fn active_jobs(&self) -> usize {
        self.jobs.len()
    }

    /// Places pending tasks on free slots (`free`: worker id -> free slots, updated in place).
    /// Jobs go in submission order, tasks in partition order; a task whose cached data lives
    /// on busy workers waits up to the locality wait before taking any free slot.
    pub fn launches(
        &mut self,
        now_ms: u64,
        free: &mut BTreeMap<String, usize>,
        placement: &dyn Placement,
    ) -> Vec<Launch> {
        let mut out = Vec::new();
        let wait = self.config.locality_wait_ms;
        for (&job_id, job) in &mut self.jobs {
            for (index, task) in job.tasks.iter_mut().enumerate() {
                let SlotState::Pending { since_ms } = task.state else {
                    continue;
                };
                if free.values().all(|n| *n == 0) {
                    return out;
                }
                let preferred: Vec<String> = placement
                    .preferred(&job.spec, job.spec.target, task.partition)
                    .into_iter()
                    .filter(|w| free.contains_key(w))
                    .collect();
                let local = preferred.iter().find(|w| free[*w] > 0).cloned();
                let worker = match local {
                    Some(w) => w,
                    None if !preferred.is_empty() && now_ms.saturating_sub(since_ms) < wait => {
                        continue;
                    }
                    None => match most_free(free) {
                        Some(w) => w,
                        None => return out,
                    },
                };
                *free.get_mut(&worker).expect("free slot") -= 1;
                let attempt_id = self.next_attempt;
                self.next_attempt += 1;
                self.attempts.insert(attempt_id, (job_id, index));
                task.attempts += 1;
                task.state = SlotState::Running {
                    worker: worker.clone(),
                    attempt_id,
                };
                let lineage = job
                    .spec
                    .lineage
                    .prune_for(job.spec.target, task.partition)
                    .unwrap_or_else(|_| job.spec.lineage.clone());
                out.push(Launch {
                    spec: TaskSpec {
                        job_id,
                        attempt_id,
                        target: job.spec.target,
                        partition: task.partition,
                        lineage,
                        action: job.spec.action.clone(),
                        replicas: placement.replicas(&worker),
                    },
                    worker,
                });
            }
        }
        out
    }

    /// A task attempt succeeded. Stale attempts (already resubmitted) are ignored.
    pub fn task_succeeded(&mut self, attempt_id: u64, output: TaskOutput) -> Option<JobOutcome> {
        let (job_id, index) = self.attempts.remove(&attempt_id)?;
        let job = self.jobs.get_mut(&job_id)?;
        let task = &mut job.tasks[index];
        if !matches!(&task.state, SlotState::Running { attempt_id: a, .. } if *a == attempt_id) {
            return None;
        }
        task.state = SlotState::Done(output);
        if job
            .tasks
            .iter()
            .all(|t| matches!(t.state, SlotState::Done(_)))
        {
            let job = self.jobs.remove(&job_id).expect("job present");
            let results = job
                .tasks
                .into_iter()
                .map(|t| PartitionResult {
                    partition: t.partition,
                    output: match t.state {
                        SlotState::Done(output) => output,
                        _ => unreachable!("all done"),
                    },
                })
                .collect();
            return Some(JobOutcome::Finished { job_id, results });
        }
        None
    }

    /// A task attempt failed. Retryable failures are resubmitted until the limits; others
    /// fail the job at once.
    pub fn task_failed(
        &mut self,
        now_ms: u64,
        attempt_id: u64,
        error: TaskError,
    ) -> Option<JobOutcome> {
        let (job_id, index) = self.attempts.remove(&attempt_id)?;
        let job = self.jobs.get_mut(&job_id)?;
        let task = &mut job.tasks[index];
        if !matches!(&task.state, SlotState::Running { attempt_id: a, .. } if *a == attempt_id) {
            return None;
        }
        if error.counts_toward_limit() {
            task.failures += 1;
        }
        let give_up = !error.is_retryable()
            || task.failures >= self.config.max_task_failures
            || task.attempts >= self.config.max_task_attempts;
        task.last_error = Some(error.clone());
        if give_up {
            let failure = JobError {
                job_id,
                dataset: job.spec.target,
                partition: task.partition,
                stage: 0,
                attempts: task.attempts,
                cause: error,
            };
            self.drop_job(job_id);
            return Some(JobOutcome::Failed(failure));
        }
        task.state = SlotState::Pending { since_ms: now_ms };
        None
    }

    /// A worker was lost: its running tasks fail with [`TaskError::WorkerLost`].
    pub fn worker_lost(&mut self, now_ms: u64, worker: &str) -> Vec<JobOutcome> {
        let lost: Vec<u64> = self
            .jobs
            .values()
            .flat_map(|j| &j.tasks)
            .filter_map(|t| match &t.state {
                SlotState::Running {
                    worker: w,
                    attempt_id,
                } if w == worker => Some(*attempt_id),
                _ => None,
            })
            .collect();
        lost.into_iter()
            .filter_map(|attempt| {
                self.task_failed(
                    now_ms,
                    attempt,
                    TaskError::WorkerLost {
                        worker: worker.to_string(),
                    },
                )
            })
            .collect()
    }

    fn drop_job(&mut self, job_id: u64) {
        self.jobs.remove(&job_id);
        self.attempts.retain(|_, (j, _)| *j != job_id);
    }
}

fn most_free(free: &BTreeMap<String, usize>) -> Option<String> {
    free.iter()
        .filter(|(_, n)| **n > 0)
        .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
        .map(|(w, _)| w.clone())
}

#[cfg(test)]
mod tests;
