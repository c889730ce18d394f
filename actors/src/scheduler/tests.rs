//! Deterministic tests of the scheduler with virtual workers and a virtual clock.

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::data::plan::{DatasetNode, Lineage, Op, Persist};
use crate::wire::{StorageLevel, TaskAction};

struct Cluster {
    /// partition -> holder of its cached block.
    cached: BTreeMap<u32, String>,
}

impl Placement for Cluster {
    fn preferred(&self, _spec: &JobSpec, _d: DatasetId, p: u32) -> Vec<String> {
        self.cached.get(&p).cloned().into_iter().collect()
    }
    fn replicas(&self, _worker: &str) -> Vec<(String, String)> {
        vec![]
    }
    fn address(&self, worker: &str) -> Option<String> {
        Some(format!("{worker}:1"))
    }
}

fn spec(partitions: u32) -> JobSpec {
    let mut lineage = Lineage::default();
    lineage.nodes.insert(
        1,
        DatasetNode {
            id: 1,
            name: "gen".into(),
            op: Op::Generate {
                generator: "g".into(),
                args: vec![],
            },
            num_partitions: partitions,
            persist: Some(Persist {
                level: StorageLevel::MemoryAndDisk,
                replication: 1,
            }),
        },
    );
    JobSpec {
        name: "t".into(),
        target: 1,
        lineage,
        action: TaskAction::Count,
        partitions: vec![],
    }
}

fn free(slots: &[(&str, usize)]) -> BTreeMap<String, usize> {
    slots.iter().map(|(w, n)| (w.to_string(), *n)).collect()
}

#[test]
fn tasks_go_where_their_blocks_live() {
    let mut s = Scheduler::new(SchedulerConfig::default());
    s.submit(0, 1, spec(4));
    let cluster = Cluster {
        cached: [(0, "b"), (1, "a"), (2, "b"), (3, "a")]
            .map(|(p, w)| (p, w.to_string()))
            .into(),
    };
    let launches = s.launches(0, &mut free(&[("a", 2), ("b", 2)]), &cluster);
    let placed: Vec<(u32, &str)> = launches
        .iter()
        .map(|l| (l.spec.partition, l.worker.as_str()))
        .collect();
    assert_eq!(placed, vec![(0, "b"), (1, "a"), (2, "b"), (3, "a")]);
}

#[test]
fn locality_wait_then_any_slot() {
    let mut s = Scheduler::new(SchedulerConfig::default());
    s.submit(0, 1, spec(2));
    let cluster = Cluster {
        cached: [(0, "a".to_string()), (1, "a".to_string())].into(),
    };
    let first = s.launches(0, &mut free(&[("a", 1), ("b", 1)]), &cluster);
    assert_eq!(first.len(), 1, "partition 1 waits for a");
    assert!(s
        .launches(1_000, &mut free(&[("a", 0), ("b", 1)]), &cluster)
        .is_empty());
    let late = s.launches(3_000, &mut free(&[("a", 0), ("b", 1)]), &cluster);
    assert_eq!((late[0].spec.partition, late[0].worker.as_str()), (1, "b"));
}

#[test]
fn results_come_back_in_partition_order_whoever_finishes_first() {
    let mut s = Scheduler::new(SchedulerConfig::default());
    s.submit(0, 7, spec(3));
    let none = Cluster {
        cached: BTreeMap::new(),
    };
    let launches = s.launches(0, &mut free(&[("a", 3)]), &none);
    assert!(s
        .task_succeeded(launches[2].spec.attempt_id, "a", TaskOutput::Count(2))
        .is_none());
    assert!(s
        .task_succeeded(launches[0].spec.attempt_id, "a", TaskOutput::Count(0))
        .is_none());
    let done = s
        .task_succeeded(launches[1].spec.attempt_id, "a", TaskOutput::Count(1))
        .unwrap();
    let JobOutcome::Finished { job_id, results } = done else {
        panic!()
    };
    assert_eq!(job_id, 7);
    assert_eq!(
        results.iter().map(|r| r.output.clone()).collect::<Vec<_>>(),
        (0..3).map(TaskOutput::Count).collect::<Vec<_>>()
    );
}

#[test]
fn retryable_failures_are_bounded_and_name_the_partition() {
    let mut s = Scheduler::new(SchedulerConfig::default());
    s.submit(0, 1, spec(1));
    let none = Cluster {
        cached: BTreeMap::new(),
    };
    let err = TaskError::FetchFailed {
        block: "rdd_1_0".into(),
        message: "gone".into(),
    };
    for attempt in 1..=4 {
        let l = s.launches(0, &mut free(&[("a", 1)]), &none);
        let outcome = s.task_failed(0, l[0].spec.attempt_id, err.clone());
        if attempt < 4 {
            assert!(outcome.is_none());
        } else {
            let Some(JobOutcome::Failed(e)) = outcome else {
                panic!("{outcome:?}")
            };
            assert_eq!((e.partition, e.attempts, e.stage), (0, 4, 0));
            assert!(e.to_string().contains("partition 0 of dataset 1"), "{e}");
        }
    }
}

#[test]
fn non_retryable_failures_end_the_job_at_once() {
    let mut s = Scheduler::new(SchedulerConfig::default());
    s.submit(0, 1, spec(2));
    let none = Cluster {
        cached: BTreeMap::new(),
    };
    let l = s.launches(0, &mut free(&[("a", 2)]), &none);
    let err = TaskError::MissingFunction {
        name: "nope".into(),
        kind: "map".into(),
    };
    assert!(matches!(
        s.task_failed(0, l[1].spec.attempt_id, err),
        Some(JobOutcome::Failed(_))
    ));
    assert_eq!(s.active_jobs(), 0);
    assert!(
        s.task_succeeded(l[0].spec.attempt_id, "a", TaskOutput::Count(1))
            .is_none(),
        "stale"
    );
}

/// Seeded simulation: workers die at random moments; every job still finishes with every
/// partition's result exactly once, and stale attempts never overwrite a result.
#[test]
fn random_worker_losses_never_lose_or_duplicate_results() {
    for seed in 0..300u64 {
        let mut rng = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut s = Scheduler::new(SchedulerConfig {
            locality_wait_ms: 0,
            ..Default::default()
        });
        let parts = 1 + (next() % 12) as u32;
        s.submit(0, 1, spec(parts));
        let none = Cluster {
            cached: BTreeMap::new(),
        };
        let mut alive: BTreeSet<String> = ["a", "b", "c"].map(String::from).into();
        let mut running: Vec<Launch> = Vec::new();
        let mut outcome = None;
        for now in 0..10_000u64 {
            let mut slots: BTreeMap<String, usize> = alive
                .iter()
                .map(|w| (w.clone(), 2usize.saturating_sub(s.running_on(w))))
                .collect();
            running.extend(s.launches(now, &mut slots, &none));
            match next() % 10 {
                0 if alive.len() > 1 => {
                    let victim = alive
                        .iter()
                        .nth((next() % alive.len() as u64) as usize)
                        .unwrap()
                        .clone();
                    alive.remove(&victim);
                    outcome = outcome.or(s.worker_lost(now, &victim).into_iter().next());
                    // The victim's answers may still arrive late: they must be ignored.
                }
                1 if alive.len() < 3 => {
                    alive.insert(["a", "b", "c"][(next() % 3) as usize].to_string());
                }
                _ if !running.is_empty() => {
                    let l = running.remove((next() % running.len() as u64) as usize);
                    let out = TaskOutput::Count(u64::from(l.spec.partition));
                    outcome = outcome.or(s.task_succeeded(l.spec.attempt_id, "a", out));
                }
                _ => {}
            }
            if outcome.is_some() {
                break;
            }
        }
        let Some(JobOutcome::Finished { results, .. }) = outcome else {
            panic!("seed {seed}: job did not finish: {outcome:?}");
        };
        let got: Vec<_> = results
            .iter()
            .map(|r| (r.partition, r.output.clone()))
            .collect();
        let want: Vec<_> = (0..parts)
            .map(|p| (p, TaskOutput::Count(u64::from(p))))
            .collect();
        assert_eq!(got, want, "seed {seed}");
    }
}

/// A job of `app`: a shuffle (dataset 2) of a generator with `maps` partitions into 2.
fn shuffle_spec(app: &str, maps: u32) -> JobSpec {
    let mut lineage = Lineage::for_app(app);
    let gen = Op::Generate {
        generator: "g".into(),
        args: vec![],
    };
    let shuffle = Op::Shuffle {
        parent: 1,
        keys: vec![],
    };
    for (id, op, n) in [(1, gen, maps), (2, shuffle, 2)] {
        let node = DatasetNode {
            id,
            name: format!("d{id}"),
            op,
            num_partitions: n,
            persist: None,
        };
        lineage.nodes.insert(id, node);
    }
    JobSpec {
        name: "shuffled".into(),
        target: 2,
        lineage,
        action: TaskAction::Count,
        partitions: vec![],
    }
}

fn in_app(app: &str, mut job: JobSpec) -> JobSpec {
    job.lineage.app = app.to_string();
    job
}

#[test]
fn slots_are_shared_round_robin_between_applications() {
    let mut s = Scheduler::new(SchedulerConfig::default());
    // The first application queues 100 tasks before the second submits 2.
    s.submit(0, 1, in_app("app-a", spec(100)));
    s.submit(0, 2, in_app("app-b", spec(2)));
    let none = Cluster {
        cached: BTreeMap::new(),
    };
    let launches = s.launches(0, &mut free(&[("w", 2)]), &none);
    let jobs: BTreeSet<u64> = launches.iter().map(|l| l.spec.job_id).collect();
    assert_eq!(jobs, BTreeSet::from([1, 2]), "each application gets a slot");
    // One slot frees: the application after the last one served gets it, alternately.
    let mut order = Vec::new();
    for _ in 0..4 {
        let l = s.launches(0, &mut free(&[("w", 1)]), &none);
        order.push(l[0].spec.job_id);
    }
    assert_eq!(
        order,
        vec![1, 2, 1, 1],
        "b has only 2 tasks; a is never starved"
    );
}

#[test]
fn equal_shuffle_ids_of_two_applications_are_kept_apart() {
    let mut s = Scheduler::new(SchedulerConfig::default());
    let none = Cluster {
        cached: BTreeMap::new(),
    };
    s.submit(0, 1, shuffle_spec("app-a", 1));
    let maps = s.launches(0, &mut free(&[("w", 4)]), &none);
    assert_eq!(maps.len(), 1);
    assert!(s
        .task_succeeded(maps[0].spec.attempt_id, "w", TaskOutput::Unit)
        .is_none());
    // Application b's dataset 2 is another shuffle: its map stage must run, not reuse a's.
    s.submit(0, 2, shuffle_spec("app-b", 1));
    let next = s.launches(0, &mut free(&[("w", 8)]), &none);
    let b_map = next
        .iter()
        .find(|l| l.spec.job_id == 2)
        .expect("b's map task");
    assert!(matches!(b_map.spec.action, TaskAction::ShuffleWrite { .. }));
    assert_eq!(b_map.spec.lineage.app, "app-b");
    // Cancelling a leaves b alone and forgets a's map outputs.
    let cancelled = s.cancel_app("app-a", "driver ended");
    assert_eq!(cancelled.len(), 1);
    assert!(matches!(
        &cancelled[0],
        JobOutcome::Failed(e) if matches!(e.cause, TaskError::Cancelled { .. })
    ));
    assert_eq!(s.jobs_of("app-a"), 0);
    assert_eq!(s.jobs_of("app-b"), 1);
    assert!(!s.shuffle_complete(&shuffle_spec("app-a", 1).lineage, 2));
}

#[test]
fn a_shuffle_of_an_empty_dataset_completes() {
    let mut s = Scheduler::new(SchedulerConfig::default());
    assert_eq!(s.submit(0, 1, shuffle_spec("app-a", 0)), None);
    let none = Cluster {
        cached: BTreeMap::new(),
    };
    let launches = s.launches(0, &mut free(&[("w", 4)]), &none);
    assert_eq!(launches.len(), 2, "both reduce partitions run at once");
    assert!(launches
        .iter()
        .all(|l| matches!(l.spec.action, TaskAction::Count)));
}
