//! Read-only views of the scheduler for monitors (`cinder status`, `cinder top`): progress of
//! each active job by stage, where an attempt runs, which jobs read a dataset, and the final
//! progress of jobs that ended. Like the rest of the scheduler, nothing here reads a clock.

use super::{Job, Scheduler, SlotState, Stage, StageKind};
use crate::data::plan::DatasetId;
use crate::wire::{StageKind as WireStageKind, StageState, StageStatus};

/// At most this many ended jobs wait for [`Scheduler::take_ended`]; older ones are dropped.
pub const MAX_ENDED: usize = 256;

/// Where a current task attempt runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptInfo {
    /// The job.
    pub job_id: u64,
    /// The stage's index in the job (upstream first).
    pub stage: u32,
    /// The partition the task computes.
    pub partition: u32,
    /// The worker running it.
    pub worker: String,
}

impl Scheduler {
    /// Progress of every active job, oldest job first, each with its stages upstream first.
    pub fn progress(&self) -> Vec<(u64, Vec<StageStatus>)> {
        self.jobs
            .iter()
            .map(|(id, job)| (*id, self.stages_of(job)))
            .collect()
    }

    /// Progress of one active job.
    pub fn job_progress(&self, job_id: u64) -> Option<Vec<StageStatus>> {
        self.jobs.get(&job_id).map(|job| self.stages_of(job))
    }

    /// The current attempt `attempt_id`: None once it ended or was superseded.
    pub fn attempt(&self, attempt_id: u64) -> Option<AttemptInfo> {
        let at = self.attempts.get(&attempt_id)?;
        let task = self
            .jobs
            .get(&at.job)?
            .stages
            .get(at.stage)?
            .tasks
            .get(&at.partition)?;
        match &task.state {
            SlotState::Running {
                worker,
                attempt_id: a,
            } if *a == attempt_id => Some(AttemptInfo {
                job_id: at.job,
                stage: at.stage as u32,
                partition: at.partition,
                worker: worker.clone(),
            }),
            _ => None,
        }
    }

    /// Attempts running on `worker`, by job, stage and partition.
    pub fn running_tasks_on(&self, worker: &str) -> Vec<AttemptInfo> {
        let mut out = Vec::new();
        for (job_id, job) in &self.jobs {
            for (stage_index, stage) in job.stages.iter().enumerate() {
                for (partition, task) in &stage.tasks {
                    if matches!(&task.state, SlotState::Running { worker: w, .. } if w == worker) {
                        out.push(AttemptInfo {
                            job_id: *job_id,
                            stage: stage_index as u32,
                            partition: *partition,
                            worker: worker.to_string(),
                        });
                    }
                }
            }
        }
        out
    }

    /// Active jobs whose lineage includes `dataset`, oldest first.
    pub fn jobs_using(&self, app: &str, dataset: DatasetId) -> Vec<u64> {
        self.jobs
            .iter()
            .filter(|(_, job)| {
                job.spec.lineage.app == app && job.spec.lineage.nodes.contains_key(&dataset)
            })
            .map(|(id, _)| *id)
            .collect()
    }

    /// The final progress of jobs that ended (finished or failed) since the last call, in the
    /// order they ended. At most [`MAX_ENDED`] are kept between calls.
    pub fn take_ended(&mut self) -> Vec<(u64, Vec<StageStatus>)> {
        self.ended.drain(..).collect()
    }

    /// Remembers a job's progress just before it leaves the scheduler.
    pub(super) fn note_ended(&mut self, job_id: u64) {
        if let Some(mut stages) = self.job_progress(job_id) {
            // Whatever still runs belongs to an ended job: its results will be ignored.
            for stage in &mut stages {
                stage.tasks_running = 0;
            }
            if self.ended.len() >= MAX_ENDED {
                self.ended.pop_front();
            }
            self.ended.push_back((job_id, stages));
        }
    }

    fn stages_of(&self, job: &Job) -> Vec<StageStatus> {
        job.stages
            .iter()
            .enumerate()
            .map(|(index, stage)| self.stage_status(job, index, stage))
            .collect()
    }

    fn stage_status(&self, job: &Job, index: usize, stage: &Stage) -> StageStatus {
        let outputs = match &stage.kind {
            StageKind::ShuffleMap { shuffle, .. } => self
                .map_outputs
                .get(&(job.spec.lineage.app.clone(), *shuffle)),
            StageKind::Result => None,
        };
        let (mut done, mut running, mut retries) = (0u64, 0u64, 0u64);
        for (partition, task) in &stage.tasks {
            let is_done = match (&stage.kind, &task.state) {
                (StageKind::ShuffleMap { .. }, _) => {
                    outputs.is_some_and(|o| o.contains_key(partition))
                }
                (StageKind::Result, state) => matches!(state, SlotState::Done(_)),
            };
            done += u64::from(is_done);
            running += u64::from(matches!(task.state, SlotState::Running { .. }));
            // An idle task that already ran failed and waits for its next attempt.
            retries += u64::from(match task.state {
                SlotState::Idle { .. } => task.attempts,
                _ => task.attempts.saturating_sub(1),
            });
        }
        let total = stage.tasks.len() as u64;
        let ready = stage
            .parents
            .iter()
            .all(|s| self.shuffle_complete(&job.spec.lineage, *s));
        let state = if done == total {
            StageState::Done
        } else if running > 0 || ready {
            StageState::Running
        } else {
            StageState::Waiting
        };
        StageStatus {
            index: index as u32,
            kind: match stage.kind {
                StageKind::ShuffleMap { .. } => WireStageKind::Map,
                StageKind::Result => WireStageKind::Result,
            },
            state,
            tasks_total: total,
            tasks_done: done,
            tasks_running: running,
            retries,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::data::plan::{DatasetNode, Lineage, Op};
    use crate::scheduler::{JobOutcome, Placement, SchedulerConfig};
    use crate::wire::{JobSpec, TaskAction, TaskError, TaskOutput};

    struct Anywhere;

    impl Placement for Anywhere {
        fn preferred(&self, _spec: &JobSpec, _d: DatasetId, _p: u32) -> Vec<String> {
            vec![]
        }
        fn replicas(&self, _worker: &str) -> Vec<(String, String)> {
            vec![]
        }
        fn address(&self, worker: &str) -> Option<String> {
            Some(format!("{worker}:1"))
        }
    }

    /// `gen` (3 partitions) shuffled into 2 partitions: a map stage and a result stage.
    fn shuffled() -> JobSpec {
        let mut lineage = Lineage::default();
        let node = |id, op, num_partitions| DatasetNode {
            id,
            name: format!("d{id}"),
            op,
            num_partitions,
            persist: None,
        };
        let generate = Op::Generate {
            generator: "g".into(),
            args: vec![],
        };
        lineage.nodes.insert(1, node(1, generate, 3));
        let shuffle = Op::Shuffle {
            parent: 1,
            keys: vec![],
        };
        lineage.nodes.insert(2, node(2, shuffle, 2));
        JobSpec {
            name: "count".into(),
            target: 2,
            lineage,
            action: TaskAction::Count,
            partitions: vec![],
        }
    }

    fn free(n: usize) -> BTreeMap<String, usize> {
        [("a".to_string(), n)].into()
    }

    fn summary(stages: &[StageStatus]) -> Vec<(StageState, u64, u64, u64, u64)> {
        stages
            .iter()
            .map(|s| {
                let counts = (s.tasks_done, s.tasks_total, s.tasks_running, s.retries);
                (s.state, counts.0, counts.1, counts.2, counts.3)
            })
            .collect()
    }

    #[test]
    fn progress_follows_stages_tasks_and_retries_to_the_end() {
        let mut s = Scheduler::new(SchedulerConfig::default());
        assert!(s.submit(0, 5, shuffled()).is_none());
        let stages = s.job_progress(5).unwrap();
        assert_eq!(stages[0].kind, WireStageKind::Map);
        assert_eq!(stages[1].kind, WireStageKind::Result);
        assert_eq!(
            summary(&stages),
            vec![
                (StageState::Running, 0, 3, 0, 0),
                (StageState::Waiting, 0, 2, 0, 0)
            ]
        );
        let maps = s.launches(0, &mut free(8), &Anywhere);
        assert_eq!(maps.len(), 3, "the result stage waits for the shuffle");
        assert_eq!(summary(&s.job_progress(5).unwrap())[0].3, 3);
        for l in &maps {
            assert!(s
                .task_succeeded(l.spec.attempt_id, "a", TaskOutput::Unit)
                .is_none());
        }
        assert_eq!(
            summary(&s.job_progress(5).unwrap()),
            vec![
                (StageState::Done, 3, 3, 0, 0),
                (StageState::Running, 0, 2, 0, 0)
            ]
        );
        let results = s.launches(0, &mut free(8), &Anywhere);
        assert_eq!(results.len(), 2);
        let err = TaskError::Unreachable {
            worker: "a".into(),
            message: "gone".into(),
        };
        assert!(s.task_failed(0, results[0].spec.attempt_id, err).is_none());
        assert_eq!(
            summary(&s.job_progress(5).unwrap())[1],
            (StageState::Running, 0, 2, 1, 1),
            "a failed attempt waiting for its retry counts as a retry"
        );
        let retry = s.launches(0, &mut free(8), &Anywhere);
        assert_eq!(retry.len(), 1);
        assert!(s.take_ended().is_empty());
        assert!(s
            .task_succeeded(retry[0].spec.attempt_id, "a", TaskOutput::Count(1))
            .is_none());
        let done = s.task_succeeded(results[1].spec.attempt_id, "a", TaskOutput::Count(2));
        assert!(matches!(done, Some(JobOutcome::Finished { job_id: 5, .. })));
        assert!(s.progress().is_empty());
        let ended = s.take_ended();
        assert_eq!(ended.len(), 1);
        assert_eq!(ended[0].0, 5);
        assert_eq!(
            summary(&ended[0].1),
            vec![
                (StageState::Done, 3, 3, 0, 0),
                (StageState::Done, 2, 2, 0, 1)
            ]
        );
        assert!(s.take_ended().is_empty(), "taken once");
    }

    #[test]
    fn attempts_running_tasks_and_readers_of_a_dataset() {
        let mut s = Scheduler::new(SchedulerConfig::default());
        s.submit(0, 1, shuffled());
        let maps = s.launches(0, &mut free(2), &Anywhere);
        let first = s.attempt(maps[0].spec.attempt_id).unwrap();
        assert_eq!(
            (
                first.job_id,
                first.stage,
                first.partition,
                first.worker.as_str()
            ),
            (1, 0, 0, "a")
        );
        assert_eq!(s.running_tasks_on("a").len(), 2);
        assert!(s.running_tasks_on("b").is_empty());
        assert_eq!(s.jobs_using("", 1), vec![1]);
        assert!(s.jobs_using("", 9).is_empty());
        assert!(s.jobs_using("other", 1).is_empty());
        s.worker_lost(0, "a");
        assert!(s.attempt(maps[0].spec.attempt_id).is_none(), "superseded");
        assert!(s.running_tasks_on("a").is_empty());
        assert_eq!(summary(&s.job_progress(1).unwrap())[0].4, 2);
    }

    #[test]
    fn ended_jobs_waiting_to_be_taken_are_bounded() {
        let mut s = Scheduler::new(SchedulerConfig::default());
        let err = TaskError::MissingFunction {
            name: "nope".into(),
            kind: "map".into(),
        };
        for job in 0..(MAX_ENDED as u64 + 5) {
            s.submit(0, job, shuffled());
            let l = s.launches(0, &mut free(1), &Anywhere);
            let outcome = s.task_failed(0, l[0].spec.attempt_id, err.clone());
            assert!(matches!(outcome, Some(JobOutcome::Failed(_))));
        }
        let ended = s.take_ended();
        assert_eq!(ended.len(), MAX_ENDED);
        assert_eq!(ended[0].0, 5, "the oldest were dropped");
        assert_eq!(summary(&ended[0].1)[0], (StageState::Running, 0, 3, 0, 0));
    }
}
