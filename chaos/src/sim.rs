//! The deterministic level: the master's scheduling and recovery logic
//! ([`cinder_actors::scheduler::Scheduler`] and [`cinder_actors::master::Membership`]) driven
//! the way the master actor drives them, by virtual workers and a virtual clock, with a fault
//! schedule drawn from one seed: workers killed (and restarted as new incarnations),
//! heartbeats delayed past the timeout (the worker keeps running: a zombie), a worker
//! restarted while its old process is paused (the old one must be `Superseded`), lost map
//! outputs, unreachable workers. No sockets, no threads: thousands of seeds per second.
//!
//! Checked for every seed: the job ends (bounded virtual time); when it finishes, every
//! partition's result is there exactly once, in order, and none comes from an attempt of an
//! incarnation the master had already declared lost or superseded (such attempts answer with
//! a poison value); no task is launched on a worker the membership does not consider alive; a
//! superseded incarnation's heartbeat is answered `Superseded`; a failed job fails only with
//! the documented retry-budget error.

use std::collections::{BTreeMap, BTreeSet};

use cinder_actors::data::plan::DatasetId;
use cinder_actors::data::plan::{DatasetNode, Lineage, Op};
use cinder_actors::master::membership::Registration;
use cinder_actors::master::{HeartbeatOutcome, Membership};
use cinder_actors::scheduler::{JobOutcome, Launch, Placement, Scheduler, SchedulerConfig};
use cinder_actors::wire::{BlockStats, JobError, JobSpec, TaskAction, TaskError, TaskOutput};

use crate::rng::Rng;

const HEARTBEAT_MS: u64 = 200;
const TIMEOUT_MS: u64 = 1_500;
const STEP_MS: u64 = 10;
const MAX_MS: u64 = 600_000;
const POISON: u64 = u64::MAX;

/// What one simulated seed did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SimReport {
    /// Virtual milliseconds until the job ended.
    pub virtual_ms: u64,
    /// Worker processes killed.
    pub kills: u64,
    /// Workers restarted (new incarnations).
    pub restarts: u64,
    /// Heartbeat pauses (some past the timeout).
    pub delayed_heartbeats: u64,
    /// Workers declared lost by the membership.
    pub losses: u64,
    /// Map outputs reported lost by reduce tasks.
    pub lost_map_outputs: u64,
    /// Answers from attempts of lost or superseded incarnations (all must be ignored).
    pub stale_answers: u64,
    /// The job failed with the retry-budget error (allowed, counted).
    pub failed: bool,
}

struct VirtualWorker {
    id: String,
    /// Registered incarnation of the running process (0: not registered).
    incarnation: u64,
    running: bool,
    /// Heartbeats are held back until then (a stall or a slow network).
    paused_until: u64,
    next_heartbeat: u64,
    /// An older process of the same id, paused while a new one registered: (incarnation,
    /// wakes at).
    zombie: Option<(u64, u64)>,
}

struct Attempt {
    launch: Launch,
    incarnation: u64,
    done_at: u64,
}

struct Cluster<'a>(&'a Membership);

impl Placement for Cluster<'_> {
    fn preferred(&self, _spec: &JobSpec, _d: DatasetId, _p: u32) -> Vec<String> {
        Vec::new()
    }
    fn replicas(&self, _worker: &str) -> Vec<(String, String)> {
        Vec::new()
    }
    fn address(&self, worker: &str) -> Option<String> {
        self.0
            .alive()
            .contains(worker)
            .then(|| format!("{worker}:1"))
    }
}

fn job(maps: u32, reduces: u32) -> JobSpec {
    let mut lineage = Lineage::default();
    let node = |id, name: &str, op, n| DatasetNode {
        id,
        name: name.into(),
        op,
        num_partitions: n,
        persist: None,
    };
    lineage.nodes.insert(
        1,
        node(
            1,
            "gen",
            Op::Generate {
                generator: "g".into(),
                args: vec![],
            },
            maps,
        ),
    );
    lineage.nodes.insert(
        2,
        node(
            2,
            "shuffle",
            Op::Shuffle {
                parent: 1,
                keys: vec![],
            },
            reduces,
        ),
    );
    JobSpec {
        name: "sim".into(),
        target: 2,
        lineage,
        action: TaskAction::Count,
        partitions: vec![],
    }
}

fn registration(id: &str) -> Registration {
    Registration {
        worker_id: id.to_string(),
        address: format!("{id}:1"),
        cores: 2,
        memory_budget_bytes: 1 << 20,
        pid: 1,
        blocks: Vec::new(),
        watcher_pid: None,
    }
}

/// The master's wiring: a registration of an id whose incarnation is still alive first
/// declares that incarnation lost (as `Master` does).
#[allow(clippy::too_many_arguments)]
fn register(
    now: u64,
    m: &mut Membership,
    s: &mut Scheduler,
    id: &str,
    conn: u64,
    lost: &mut BTreeSet<(String, u64)>,
    report: &mut SimReport,
    outcome: &mut Option<JobOutcome>,
) -> u64 {
    // Whatever the master does, every older incarnation is superseded from now on.
    if let Some(old) = m.snapshot(now).iter().find(|w| w.id == id) {
        lost.insert((id.to_string(), old.incarnation));
    }
    if m.alive().contains(id) {
        report.losses += 1;
        for o in s.worker_lost(now, id) {
            outcome.get_or_insert(o);
        }
    }
    m.register(now, conn, registration(id))
}

/// Simulates one seed; `Err` names the violated invariant.
pub fn simulate(seed: u64) -> Result<SimReport, String> {
    let mut rng = Rng::new(seed);
    let mut report = SimReport::default();
    let mut m = Membership::new(TIMEOUT_MS);
    let config = SchedulerConfig {
        locality_wait_ms: 0,
        ..Default::default()
    };
    let mut s = Scheduler::new(config);
    let (maps, reduces) = (1 + rng.below(8) as u32, 1 + rng.below(8) as u32);
    let mut workers: Vec<VirtualWorker> = (0..3)
        .map(|i| VirtualWorker {
            id: format!("w{i}"),
            incarnation: 0,
            running: true,
            paused_until: 0,
            next_heartbeat: 0,
            zombie: None,
        })
        .collect();
    let mut conn = 0u64;
    // (worker, incarnation) pairs the master declared lost or superseded.
    let mut lost: BTreeSet<(String, u64)> = BTreeSet::new();
    let mut outcome: Option<JobOutcome> = None;
    for w in &mut workers {
        conn += 1;
        w.incarnation = register(
            0,
            &mut m,
            &mut s,
            &w.id,
            conn,
            &mut lost,
            &mut report,
            &mut outcome,
        );
    }
    if let Some(o) = s.submit(0, 1, job(maps, reduces)) {
        outcome = Some(o);
    }
    let mut attempts: Vec<Attempt> = Vec::new();
    let mut now = 0;
    while outcome.is_none() {
        now += STEP_MS;
        if now > MAX_MS {
            return Err(format!(
                "seed {seed}: the job did not end within {MAX_MS} virtual ms"
            ));
        }
        // Heartbeats.
        for w in &mut workers {
            if let Some((inc, wakes)) = w.zombie {
                if now >= wakes {
                    let got = m.heartbeat(now, &w.id, inc, BlockStats::default());
                    if !matches!(got, HeartbeatOutcome::Superseded(_)) {
                        return Err(format!("seed {seed}: zombie {} #{inc} got {got:?}", w.id));
                    }
                    w.zombie = None; // it stops, as a superseded worker does
                }
            }
            if !w.running || now < w.paused_until || now < w.next_heartbeat {
                continue;
            }
            w.next_heartbeat = now + HEARTBEAT_MS;
            match m.heartbeat(now, &w.id, w.incarnation, BlockStats::default()) {
                HeartbeatOutcome::Ack => {}
                HeartbeatOutcome::ReRegister(_) => {
                    conn += 1;
                    w.incarnation = register(
                        now,
                        &mut m,
                        &mut s,
                        &w.id,
                        conn,
                        &mut lost,
                        &mut report,
                        &mut outcome,
                    );
                }
                HeartbeatOutcome::Superseded(n) => {
                    return Err(format!(
                        "seed {seed}: live {} #{} superseded by #{n}",
                        w.id, w.incarnation
                    ));
                }
            }
        }
        // Failure detection.
        let snapshot = m.snapshot(now);
        for id in m.expire(now) {
            let inc = snapshot
                .iter()
                .find(|w| w.id == id)
                .map_or(0, |w| w.incarnation);
            lost.insert((id.clone(), inc));
            report.losses += 1;
            for o in s.worker_lost(now, &id) {
                outcome.get_or_insert(o);
            }
        }
        // Faults.
        let roll = rng.below(1000);
        let pick = rng.below(workers.len() as u64) as usize;
        let live = workers.iter().filter(|w| w.running).count();
        let w = &mut workers[pick];
        match roll {
            0..=4 if w.running && live > 1 => {
                w.running = false;
                report.kills += 1;
            }
            5..=14 if !w.running => {
                w.running = true;
                w.paused_until = 0;
                conn += 1;
                w.incarnation = register(
                    now,
                    &mut m,
                    &mut s,
                    &w.id,
                    conn,
                    &mut lost,
                    &mut report,
                    &mut outcome,
                );
                report.restarts += 1;
            }
            15..=19 if w.running && now >= w.paused_until => {
                w.paused_until = now + rng.between(100, 3 * TIMEOUT_MS);
                report.delayed_heartbeats += 1;
            }
            20..=21 if w.running && now < w.paused_until && w.zombie.is_none() => {
                // A new process of the same id starts while the old one is paused.
                w.zombie = Some((w.incarnation, w.paused_until));
                w.paused_until = 0;
                conn += 1;
                w.incarnation = register(
                    now,
                    &mut m,
                    &mut s,
                    &w.id,
                    conn,
                    &mut lost,
                    &mut report,
                    &mut outcome,
                );
                report.restarts += 1;
            }
            22..=31 => {
                // A reduce task finds one of its map outputs gone.
                let reducing: Vec<usize> = (0..attempts.len())
                    .filter(|i| !attempts[*i].launch.spec.shuffles.is_empty())
                    .collect();
                if !reducing.is_empty() {
                    let a =
                        attempts.swap_remove(reducing[rng.below(reducing.len() as u64) as usize]);
                    let (&shuffle, holders) =
                        a.launch.spec.shuffles.iter().next().expect("a shuffle");
                    let map = rng.below(holders.len() as u64) as usize;
                    let error = TaskError::MapOutputLost {
                        shuffle,
                        map_partition: map as u32,
                        worker: holders[map].0.clone(),
                        message: "sim: gone".into(),
                    };
                    report.lost_map_outputs += 1;
                    if let Some(o) = s.task_failed(now, a.launch.spec.attempt_id, error) {
                        outcome.get_or_insert(o);
                    }
                }
            }
            _ => {}
        }
        // Answers.
        let mut i = 0;
        while i < attempts.len() {
            if attempts[i].done_at > now {
                i += 1;
                continue;
            }
            let a = attempts.swap_remove(i);
            let w = workers
                .iter()
                .find(|w| w.id == a.launch.worker)
                .expect("known worker");
            let zombie_alive = w.zombie.is_some_and(|(inc, _)| inc == a.incarnation);
            let process_alive = (w.running && w.incarnation == a.incarnation) || zombie_alive;
            let attempt = a.launch.spec.attempt_id;
            if !process_alive {
                // The process is gone: sometimes the RPC fails, sometimes nothing comes back.
                if rng.chance(0.3) {
                    let error = TaskError::Unreachable {
                        worker: w.id.clone(),
                        message: "sim: no answer".into(),
                    };
                    if let Some(o) = s.task_failed(now, attempt, error) {
                        outcome.get_or_insert(o);
                    }
                }
                continue;
            }
            let stale = lost.contains(&(w.id.clone(), a.incarnation));
            report.stale_answers += u64::from(stale);
            let output = if a.launch.spec.shuffles.is_empty() && a.launch.spec.target == 1 {
                TaskOutput::Unit
            } else if stale {
                TaskOutput::Count(POISON)
            } else {
                TaskOutput::Count(u64::from(a.launch.spec.partition) * 7 + 1)
            };
            if let Some(o) = s.task_succeeded(attempt, &w.id, output) {
                outcome.get_or_insert(o);
            }
        }
        // Launches on free slots, as the master's dispatch does.
        let alive = m.alive();
        let mut free: BTreeMap<String, usize> = m
            .alive_cores()
            .into_iter()
            .map(|(id, cores)| {
                let busy = s.running_on(&id);
                (id, (cores as usize).saturating_sub(busy))
            })
            .collect();
        for launch in s.launches(now, &mut free, &Cluster(&m)) {
            if !alive.contains(&launch.worker) {
                return Err(format!(
                    "seed {seed}: launched on {} which is not alive",
                    launch.worker
                ));
            }
            let w = workers
                .iter()
                .find(|w| w.id == launch.worker)
                .expect("known worker");
            attempts.push(Attempt {
                incarnation: w.incarnation,
                done_at: now + rng.between(10, 400),
                launch,
            });
        }
    }
    report.virtual_ms = now;
    match outcome.expect("loop ends with an outcome") {
        JobOutcome::Finished { results, .. } => {
            let got: Vec<(u32, TaskOutput)> = results
                .into_iter()
                .map(|r| (r.partition, r.output))
                .collect();
            let want: Vec<(u32, TaskOutput)> = (0..reduces)
                .map(|p| (p, TaskOutput::Count(u64::from(p) * 7 + 1)))
                .collect();
            if got != want {
                return Err(format!("seed {seed}: results {got:?}, expected {want:?}"));
            }
        }
        JobOutcome::Failed(e) => {
            check_retry_budget_error(&e, &config)
                .map_err(|why| format!("seed {seed}: undocumented job failure ({why}): {e}"))?;
            report.failed = true;
        }
    }
    Ok(report)
}

/// The only way the simulated job may fail: the scheduler's retry budget, spent on the faults
/// the simulator injects. The cause must be one of their kinds (an unreachable worker counts
/// toward `max_task_failures`; a lost worker or map output only toward `max_task_attempts`)
/// and the attempts must have reached the matching limit. Anything else (a user, input or
/// internal error, or a job given up early) is a bug, whatever its text says.
pub fn check_retry_budget_error(e: &JobError, config: &SchedulerConfig) -> Result<(), String> {
    match &e.cause {
        TaskError::Unreachable { .. }
        | TaskError::WorkerLost { .. }
        | TaskError::MapOutputLost { .. } => check_budget_spent(e, config),
        other => Err(format!("cause of kind {} is never injected", kind(other))),
    }
}

/// The scheduler's retry-budget rule, by kind: the last cause is retryable and the attempts
/// reached its limit (`max_task_failures` for causes that count toward it, else
/// `max_task_attempts`). The real-process harness checks a failed job with it.
pub fn check_budget_spent(e: &JobError, config: &SchedulerConfig) -> Result<(), String> {
    if !e.cause.is_retryable() {
        return Err(format!(
            "cause of kind {} is not retryable: no budget was spent",
            kind(&e.cause)
        ));
    }
    let limit = if e.cause.counts_toward_limit() {
        config.max_task_failures
    } else {
        config.max_task_attempts
    };
    if e.attempts < limit {
        return Err(format!(
            "given up after {} attempt(s), before the limit of {limit}",
            e.attempts
        ));
    }
    Ok(())
}

/// The variant name of a task error, for messages.
fn kind(e: &TaskError) -> String {
    let debug = format!("{e:?}");
    debug
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or_default()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(cause: TaskError, attempts: u32) -> JobError {
        JobError {
            job_id: 1,
            dataset: 2,
            partition: 0,
            stage: 1,
            attempts,
            cause,
            input: None,
        }
    }

    /// Every job error's text contains "attempt(s)", so the old `contains("attempt")` check
    /// accepted any failure at all; the kind and the attempt count decide now.
    #[test]
    fn only_the_retry_budget_error_is_documented() {
        let config = SchedulerConfig::default();
        let unreachable = || TaskError::Unreachable {
            worker: "w0".into(),
            message: "sim: no answer".into(),
        };
        let lost = || TaskError::WorkerLost {
            worker: "w0".into(),
        };
        assert!(check_retry_budget_error(&failure(unreachable(), 4), &config).is_ok());
        assert!(check_retry_budget_error(&failure(lost(), 16), &config).is_ok());
        let internal = failure(
            TaskError::Internal {
                message: "stale attempt".into(),
            },
            16,
        );
        assert!(internal.to_string().contains("attempt"), "{internal}");
        assert!(check_retry_budget_error(&internal, &config).is_err());
        let bad_input = failure(
            TaskError::BadInput {
                message: "x".into(),
            },
            1,
        );
        assert!(check_retry_budget_error(&bad_input, &config).is_err());
        assert!(check_retry_budget_error(&failure(unreachable(), 2), &config).is_err());
        assert!(check_retry_budget_error(&failure(lost(), 5), &config).is_err());
    }

    #[test]
    fn thousands_of_seeds_keep_every_invariant() {
        let start = std::time::Instant::now();
        let mut total = SimReport::default();
        let seeds = 3_000u64;
        for seed in 0..seeds {
            let r = simulate(seed).unwrap_or_else(|e| panic!("{e}"));
            total.kills += r.kills;
            total.restarts += r.restarts;
            total.losses += r.losses;
            total.delayed_heartbeats += r.delayed_heartbeats;
            total.lost_map_outputs += r.lost_map_outputs;
            total.stale_answers += r.stale_answers;
            total.failed |= r.failed;
        }
        // The schedule really exercises every fault.
        assert!(total.kills > 100, "{total:?}");
        assert!(total.restarts > 100, "{total:?}");
        assert!(total.losses > 100, "{total:?}");
        assert!(total.lost_map_outputs > 100, "{total:?}");
        assert!(total.stale_answers > 10, "{total:?}");
        eprintln!("{seeds} seeds in {:?}: {total:?}", start.elapsed());
    }

    struct AllAlive;

    impl Placement for AllAlive {
        fn preferred(&self, _spec: &JobSpec, _d: DatasetId, _p: u32) -> Vec<String> {
            Vec::new()
        }
        fn replicas(&self, _worker: &str) -> Vec<(String, String)> {
            Vec::new()
        }
        fn address(&self, worker: &str) -> Option<String> {
            Some(format!("{worker}:1"))
        }
    }

    /// Found by `kill-restart`: a reduce task reading map outputs of a worker that died kept
    /// waiting for its fetch to time out (10 s) after the master knew the worker was lost.
    #[test]
    fn readers_of_a_lost_workers_map_outputs_run_again_at_once() {
        let mut s = Scheduler::new(SchedulerConfig {
            locality_wait_ms: 0,
            ..Default::default()
        });
        assert!(s.submit(0, 1, job(2, 1)).is_none());
        let slots = |ws: &[&str]| -> BTreeMap<String, usize> {
            ws.iter().map(|w| (w.to_string(), 1)).collect()
        };
        let maps = s.launches(0, &mut slots(&["a", "b"]), &AllAlive);
        assert_eq!(maps.len(), 2);
        for l in &maps {
            assert!(s
                .task_succeeded(l.spec.attempt_id, &l.worker, TaskOutput::Unit)
                .is_none());
        }
        let reduce = s.launches(1, &mut slots(&["b"]), &AllAlive);
        assert_eq!(reduce.len(), 1);
        assert_eq!(s.running_on("b"), 1);
        assert!(s.worker_lost(2, "a").is_empty());
        assert_eq!(s.running_on("b"), 0, "the reader on b was stopped waiting");
        let late = s.task_succeeded(reduce[0].spec.attempt_id, "b", TaskOutput::Count(9));
        assert!(late.is_none(), "its late answer is ignored");
        // The lost map output runs again on b, then the reduce, and the job finishes.
        let again = s.launches(3, &mut slots(&["b"]), &AllAlive);
        assert_eq!(again.len(), 1);
        assert!(s
            .task_succeeded(again[0].spec.attempt_id, "b", TaskOutput::Unit)
            .is_none());
        let reduce = s.launches(4, &mut slots(&["b"]), &AllAlive);
        let done = s.task_succeeded(reduce[0].spec.attempt_id, "b", TaskOutput::Count(1));
        assert!(
            matches!(done, Some(JobOutcome::Finished { .. })),
            "{done:?}"
        );
    }

    #[test]
    fn the_budget_rule_follows_the_kind_of_the_cause() {
        let config = SchedulerConfig::default();
        let storage = || TaskError::Storage {
            message: "disk full".into(),
        };
        assert!(check_budget_spent(&failure(storage(), 4), &config).is_ok());
        assert!(check_budget_spent(&failure(storage(), 3), &config).is_err());
        let refused = TaskError::Refused {
            worker: "w0".into(),
            message: "foreign credentials".into(),
        };
        assert!(check_budget_spent(&failure(refused, 1), &config).is_err());
        let lost = TaskError::MapOutputLost {
            shuffle: 1,
            map_partition: 0,
            worker: "w0".into(),
            message: "gone".into(),
        };
        assert!(check_budget_spent(&failure(lost, 4), &config).is_err());
    }

    #[test]
    fn a_seed_replays_identically() {
        for seed in [1, 2, 99] {
            assert_eq!(simulate(seed), simulate(seed));
        }
    }
}
