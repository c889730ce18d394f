//! The master's bounded memory of what happened, for `cinder status` and `cinder top`: an event
//! log (workers joining and lost, retries, recomputations, spills, jobs) and the jobs that
//! ended. Both are bounded in count and in (estimated) bytes, so a long-lived master answering
//! status requests never grows without limit nor builds a status frame near the frame limit.
//!
//! A pure data structure: the master actor feeds it, with times from its clock.

use std::collections::{BTreeMap, VecDeque};

use crate::wire::{ClusterEvent, EventKind, JobState, JobStatus, StageStatus};

/// Longest event message kept, in bytes (longer ones are cut with `…`).
pub const MAX_MESSAGE_BYTES: usize = 300;
/// Longest job name kept, in bytes.
pub const MAX_NAME_BYTES: usize = 120;
/// Longest job error kept, in bytes.
pub const MAX_ERROR_BYTES: usize = 600;
/// Most stages kept per ended job (the result stage is always the last one kept).
pub const MAX_STAGES: usize = 64;

/// Estimated bytes of an event besides its strings.
const EVENT_OVERHEAD: usize = 64;
/// Estimated bytes of an ended job besides its strings and stages.
const JOB_OVERHEAD: usize = 160;
/// Estimated bytes of one stage.
const STAGE_BYTES: usize = 64;

/// How much history the master keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryLimits {
    /// Most events kept.
    pub max_events: usize,
    /// Most (estimated) bytes of events kept.
    pub max_event_bytes: usize,
    /// Most ended jobs kept.
    pub max_jobs: usize,
    /// Most (estimated) bytes of ended jobs kept.
    pub max_job_bytes: usize,
}

impl Default for HistoryLimits {
    fn default() -> Self {
        Self {
            max_events: 1_000,
            max_event_bytes: 256 << 10,
            max_jobs: 100,
            max_job_bytes: 128 << 10,
        }
    }
}

#[derive(Debug, Clone)]
struct RunningJob {
    name: String,
    application: String,
    submitted_ms: u64,
    recomputed: u64,
}

/// Events and ended jobs, newest kept, oldest dropped first.
#[derive(Debug)]
pub struct History {
    limits: HistoryLimits,
    events: VecDeque<(ClusterEvent, usize)>,
    event_bytes: usize,
    next_seq: u64,
    running: BTreeMap<u64, RunningJob>,
    ended: VecDeque<(JobStatus, usize)>,
    job_bytes: usize,
}

impl History {
    /// An empty history with these limits.
    pub fn new(limits: HistoryLimits) -> Self {
        Self {
            limits,
            events: VecDeque::new(),
            event_bytes: 0,
            next_seq: 1,
            running: BTreeMap::new(),
            ended: VecDeque::new(),
            job_bytes: 0,
        }
    }

    /// Records an event at `at_ms` (master uptime).
    pub fn record(
        &mut self,
        at_ms: u64,
        kind: EventKind,
        worker: Option<&str>,
        job: Option<u64>,
        message: impl Into<String>,
    ) {
        let event = ClusterEvent {
            seq: self.next_seq,
            at_ms,
            kind,
            worker: worker.map(|w| truncate(w.to_string(), MAX_NAME_BYTES)),
            job,
            message: truncate(message.into(), MAX_MESSAGE_BYTES),
        };
        self.next_seq += 1;
        let bytes =
            EVENT_OVERHEAD + event.message.len() + event.worker.as_ref().map_or(0, String::len);
        self.event_bytes += bytes;
        self.events.push_back((event, bytes));
        while self.events.len() > 1
            && (self.events.len() > self.limits.max_events
                || self.event_bytes > self.limits.max_event_bytes)
        {
            if let Some((_, b)) = self.events.pop_front() {
                self.event_bytes -= b;
            }
        }
    }

    /// A job was submitted: remembered until [`History::job_ended`], and an event.
    pub fn job_submitted(&mut self, at_ms: u64, job_id: u64, name: &str, application: &str) {
        let name = truncate(name.to_string(), MAX_NAME_BYTES);
        let application = truncate(application.to_string(), MAX_NAME_BYTES);
        let message = format!("job {job_id} ({name}) submitted");
        self.running.insert(
            job_id,
            RunningJob {
                name,
                application,
                submitted_ms: at_ms,
                recomputed: 0,
            },
        );
        self.record(at_ms, EventKind::JobSubmitted, None, Some(job_id), message);
    }

    /// A lost partition or map output was computed again (for `job`, when known).
    pub fn partition_recomputed(
        &mut self,
        at_ms: u64,
        job: Option<u64>,
        worker: Option<&str>,
        message: impl Into<String>,
    ) {
        if let Some(running) = job.and_then(|j| self.running.get_mut(&j)) {
            running.recomputed += 1;
        }
        self.record(at_ms, EventKind::PartitionRecomputed, worker, job, message);
    }

    /// A job ended with its final `stages`; `error` is why it failed (None: it finished).
    /// It moves to the bounded list of ended jobs, and an event is recorded.
    pub fn job_ended(
        &mut self,
        at_ms: u64,
        job_id: u64,
        mut stages: Vec<StageStatus>,
        error: Option<String>,
    ) {
        let running = self.running.remove(&job_id).unwrap_or_else(|| RunningJob {
            name: format!("job {job_id}"),
            application: String::new(),
            submitted_ms: at_ms,
            recomputed: 0,
        });
        if stages.len() > MAX_STAGES {
            let last = stages.pop();
            stages.truncate(MAX_STAGES - 1);
            stages.extend(last);
        }
        let state = if error.is_some() {
            JobState::Failed
        } else {
            JobState::Finished
        };
        let mut job = job_status(job_id, &running, at_ms, stages, state);
        job.error = error.map(|e| truncate(e, MAX_ERROR_BYTES));
        let elapsed = human_ms(job.elapsed_ms);
        let (kind, message) = match &job.error {
            None => (
                EventKind::JobFinished,
                format!(
                    "job {job_id} ({}) finished in {elapsed}: {}, {}",
                    job.name,
                    count(job.tasks_total, "task"),
                    count(job.retries, "retry")
                ),
            ),
            Some(e) => (
                EventKind::JobFailed,
                format!("job {job_id} ({}) failed after {elapsed}: {e}", job.name),
            ),
        };
        self.record(at_ms, kind, None, Some(job_id), message);
        let bytes = JOB_OVERHEAD
            + job.name.len()
            + job.application.len()
            + job.error.as_ref().map_or(0, String::len)
            + job.stages.len() * STAGE_BYTES;
        self.job_bytes += bytes;
        self.ended.push_back((job, bytes));
        while self.ended.len() > 1
            && (self.ended.len() > self.limits.max_jobs
                || self.job_bytes > self.limits.max_job_bytes)
        {
            if let Some((_, b)) = self.ended.pop_front() {
                self.job_bytes -= b;
            }
        }
    }

    /// The name a running job was submitted with.
    pub fn job_name(&self, job_id: u64) -> Option<&str> {
        self.running.get(&job_id).map(|j| j.name.as_str())
    }

    /// Running jobs (from `active`: the scheduler's progress, oldest first), then ended jobs,
    /// newest first.
    pub fn jobs(&self, now_ms: u64, active: &[(u64, Vec<StageStatus>)]) -> Vec<JobStatus> {
        let mut out: Vec<JobStatus> = active
            .iter()
            .map(|(id, stages)| {
                let unknown;
                let running = match self.running.get(id) {
                    Some(r) => r,
                    None => {
                        unknown = RunningJob {
                            name: format!("job {id}"),
                            application: String::new(),
                            submitted_ms: now_ms,
                            recomputed: 0,
                        };
                        &unknown
                    }
                };
                job_status(*id, running, now_ms, stages.clone(), JobState::Running)
            })
            .collect();
        out.extend(self.ended.iter().rev().map(|(j, _)| j.clone()));
        out
    }

    /// Events, newest first.
    pub fn events(&self) -> Vec<ClusterEvent> {
        self.events.iter().rev().map(|(e, _)| e.clone()).collect()
    }

    /// Estimated bytes held by events and ended jobs: `(events, jobs)`.
    pub fn bytes(&self) -> (usize, usize) {
        (self.event_bytes, self.job_bytes)
    }
}

fn job_status(
    id: u64,
    running: &RunningJob,
    now_ms: u64,
    stages: Vec<StageStatus>,
    state: JobState,
) -> JobStatus {
    let sum = |f: fn(&StageStatus) -> u64| stages.iter().map(f).sum::<u64>();
    JobStatus {
        id,
        application: running.application.clone(),
        name: running.name.clone(),
        state,
        submitted_ms: running.submitted_ms,
        elapsed_ms: now_ms.saturating_sub(running.submitted_ms),
        tasks_total: sum(|s| s.tasks_total),
        tasks_done: sum(|s| s.tasks_done),
        tasks_running: sum(|s| s.tasks_running),
        retries: sum(|s| s.retries),
        recomputed_partitions: running.recomputed,
        stages,
        error: None,
    }
}

/// `s` cut to at most `max` bytes on a character boundary, with `…` when cut.
pub fn truncate(mut s: String, max: usize) -> String {
    if s.len() <= max {
        return s;
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s.push('…');
    s
}

/// `1 task`, `2 tasks`, `3 retries`.
pub fn count(n: u64, noun: &str) -> String {
    match (n, noun.strip_suffix('y')) {
        (1, _) => format!("1 {noun}"),
        (_, Some(stem)) => format!("{n} {stem}ies"),
        (_, None) => format!("{n} {noun}s"),
    }
}

/// `1536` -> `1.5 KiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `1234` -> `1.2s`, `75000` -> `1m15s`.
pub fn human_ms(ms: u64) -> String {
    if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else if ms < 3_600_000 {
        format!("{}m{}s", ms / 60_000, (ms / 1000) % 60)
    } else {
        format!("{}h{}m", ms / 3_600_000, (ms / 60_000) % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{StageKind, StageState};

    fn stage(index: u32, done: u64, total: u64, retries: u64) -> StageStatus {
        StageStatus {
            index,
            kind: StageKind::Result,
            state: StageState::Running,
            tasks_total: total,
            tasks_done: done,
            tasks_running: 0,
            retries,
        }
    }

    #[test]
    fn events_are_bounded_by_count_newest_first() {
        let mut h = History::new(HistoryLimits {
            max_events: 3,
            ..Default::default()
        });
        for i in 0..10u64 {
            h.record(i, EventKind::WorkerJoined, Some("w"), None, format!("e{i}"));
        }
        let events = h.events();
        let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
        assert_eq!(
            seqs,
            vec![10, 9, 8],
            "newest first, sequence keeps counting"
        );
        assert_eq!(events[0].message, "e9");
        assert_eq!(events[0].worker.as_deref(), Some("w"));
    }

    #[test]
    fn events_are_bounded_by_bytes_and_long_messages_are_cut() {
        let limits = HistoryLimits {
            max_events: 1_000,
            max_event_bytes: 4 * (EVENT_OVERHEAD + MAX_MESSAGE_BYTES),
            ..Default::default()
        };
        let mut h = History::new(limits);
        for i in 0..50u64 {
            // Multi-byte characters: cutting must respect character boundaries.
            h.record(i, EventKind::TaskRetried, None, Some(i), "é".repeat(1_000));
        }
        let events = h.events();
        assert_eq!(events.len(), 4);
        assert!(h.bytes().0 <= limits.max_event_bytes);
        for e in &events {
            assert!(e.message.len() <= MAX_MESSAGE_BYTES, "{}", e.message.len());
            assert!(e.message.ends_with('…'));
        }
        assert_eq!(events[0].job, Some(49));
    }

    #[test]
    fn one_event_larger_than_the_budget_is_still_kept() {
        let mut h = History::new(HistoryLimits {
            max_event_bytes: 10,
            ..Default::default()
        });
        h.record(1, EventKind::WorkerLost, None, None, "first");
        h.record(2, EventKind::WorkerLost, None, None, "second");
        let events = h.events();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].message, "second");
    }

    #[test]
    fn jobs_run_then_end_with_their_final_progress() {
        let mut h = History::new(HistoryLimits::default());
        h.job_submitted(1_000, 7, "count", "app-1-0001");
        h.partition_recomputed(1_500, Some(7), Some("w2"), "rdd_1_3 recomputed");
        h.partition_recomputed(1_600, None, None, "unattributed");
        let running = h.jobs(2_500, &[(7, vec![stage(0, 1, 4, 0)])]);
        assert_eq!(running.len(), 1);
        let j = &running[0];
        assert_eq!(
            (j.state, j.elapsed_ms, j.tasks_done, j.tasks_total),
            (JobState::Running, 1_500, 1, 4)
        );
        assert_eq!(j.recomputed_partitions, 1);
        assert_eq!(h.job_name(7), Some("count"));

        h.job_ended(4_000, 7, vec![stage(0, 3, 3, 1), stage(1, 4, 4, 2)], None);
        h.job_submitted(4_100, 8, "collect", "app-1-0001");
        h.job_ended(
            4_200,
            8,
            vec![stage(0, 0, 2, 0)],
            Some("partition 0 of dataset 1 failed: boom".into()),
        );
        assert_eq!(h.job_name(7), None);
        let jobs = h.jobs(9_000, &[]);
        let summary: Vec<(u64, JobState, u64, u64, u64)> = jobs
            .iter()
            .map(|j| (j.id, j.state, j.elapsed_ms, j.tasks_done, j.retries))
            .collect();
        assert_eq!(
            summary,
            vec![
                (8, JobState::Failed, 100, 0, 0),
                (7, JobState::Finished, 3_000, 7, 3)
            ],
            "ended jobs newest first, elapsed frozen at their end"
        );
        assert!(jobs[0].error.as_deref().unwrap().contains("boom"));
        let kinds: Vec<EventKind> = h.events().iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            vec![
                EventKind::JobFailed,
                EventKind::JobSubmitted,
                EventKind::JobFinished,
                EventKind::PartitionRecomputed,
                EventKind::PartitionRecomputed,
                EventKind::JobSubmitted
            ]
        );
        assert!(h.events()[2]
            .message
            .contains("finished in 3.0s: 7 tasks, 3 retries"));
    }

    #[test]
    fn ended_jobs_are_bounded_by_count_and_bytes() {
        let limits = HistoryLimits {
            max_jobs: 5,
            ..Default::default()
        };
        let mut h = History::new(limits);
        for id in 0..20u64 {
            h.job_submitted(id, id, "count", "app-1-0001");
            h.job_ended(id + 1, id, vec![stage(0, 1, 1, 0)], None);
        }
        let ids: Vec<u64> = h.jobs(100, &[]).iter().map(|j| j.id).collect();
        assert_eq!(ids, vec![19, 18, 17, 16, 15]);

        let limits = HistoryLimits {
            max_job_bytes: 3 * (JOB_OVERHEAD + MAX_NAME_BYTES + 10 + MAX_ERROR_BYTES + STAGE_BYTES),
            ..Default::default()
        };
        let mut h = History::new(limits);
        let long = "x".repeat(10_000);
        for id in 0..20u64 {
            h.job_submitted(id, id, &long, "app-1-0001");
            h.job_ended(id + 1, id, vec![stage(0, 0, 1, 0)], Some(long.clone()));
        }
        let jobs = h.jobs(100, &[]);
        assert_eq!(jobs.len(), 3);
        assert!(h.bytes().1 <= limits.max_job_bytes);
        assert!(jobs.iter().all(|j| j.name.len() <= MAX_NAME_BYTES
            && j.error.as_ref().unwrap().len() <= MAX_ERROR_BYTES));
    }

    #[test]
    fn ended_jobs_keep_a_bounded_number_of_stages_and_the_result_stage() {
        let mut h = History::new(HistoryLimits::default());
        h.job_submitted(0, 1, "count", "app-1-0001");
        let stages: Vec<StageStatus> = (0..100).map(|i| stage(i, 1, 1, 0)).collect();
        h.job_ended(1, 1, stages, None);
        let job = &h.jobs(2, &[])[0];
        assert_eq!(job.stages.len(), MAX_STAGES);
        assert_eq!(job.stages.last().unwrap().index, 99);
    }

    #[test]
    fn a_job_ending_unannounced_still_gets_a_record() {
        let mut h = History::new(HistoryLimits::default());
        h.job_ended(50, 3, vec![], None);
        let jobs = h.jobs(60, &[(4, vec![])]);
        assert_eq!(jobs[0].name, "job 4");
        assert_eq!(
            (jobs[1].name.as_str(), jobs[1].state),
            ("job 3", JobState::Finished)
        );
    }

    #[test]
    fn formatting_helpers() {
        assert_eq!(truncate("abc".into(), 3), "abc");
        assert_eq!(truncate("abcdef".into(), 4), "a…");
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
        assert_eq!(human_ms(1_234), "1.2s");
        assert_eq!(human_ms(75_000), "1m15s");
        assert_eq!(count(1, "retry"), "1 retry");
        assert_eq!(count(3, "retry"), "3 retries");
        assert_eq!(count(0, "running task"), "0 running tasks");
    }
}
