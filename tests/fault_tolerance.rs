//! Fault tolerance over real processes: a SIGKILLed worker in the middle of a job over cached
//! data costs time, never the result; replicas spare recomputation; data beyond the memory
//! budgets spills and gives the same answer; a corrupt spilled block is recomputed, never
//! returned.

mod common;

use std::time::Duration;

use cinder::builtin::{ColumnSums, RangeArgs, SumF64};
use cinder::{Context, Dataset, StorageLevel, WorkerState};
use common::*;

fn range(cx: &Context, partitions: u32, rows: u64) -> Dataset {
    let args = RangeArgs {
        rows_per_partition: rows,
        columns: 3,
        seed: 3,
    };
    cx.generate("cinder.range", &args, partitions).unwrap()
}

fn blocks_reported(cx: &Context, total: u64) -> cinder::ClusterStatus {
    cx.wait_for_status(
        &format!("{total} blocks reported"),
        Duration::from_secs(10),
        |s| {
            s.workers
                .iter()
                .filter(|w| w.state == WorkerState::Alive)
                .map(|w| w.blocks)
                .sum::<u64>()
                == total
        },
    )
    .unwrap()
}

#[test]
fn killing_a_worker_mid_job_recomputes_exactly_its_partitions() {
    let mut cx = Context::local_with(local_builder("ft-kill", 3)).unwrap();
    let cached = range(&cx, 12, 20_000).cache();
    let expected: ColumnSums = cached.aggregate::<SumF64>(&()).unwrap();
    let before = blocks_reported(&cx, 12);
    let lost_blocks = before.workers[0].blocks;
    assert!(
        lost_blocks > 0,
        "worker-1 holds some cached partitions: {before:?}"
    );

    // Each task reads its cached partition, then takes 150 ms: the job spans the kill.
    let slow = cached.map_batches("cinder.delay", &150u64).unwrap();
    let job = std::thread::spawn(move || slow.aggregate::<SumF64>(&()));
    // The fault lands when it matters: worker-1 is running a task of the job (reading its
    // cached partitions) when it is killed.
    cx.wait_for_status("worker-1 to run a task", Duration::from_secs(10), |s| {
        s.workers[0].tasks_running > 0 && s.jobs.iter().any(|j| j.tasks_running > 0)
    })
    .unwrap();
    cx.local_cluster_mut().unwrap().kill_worker(0).unwrap();
    let got = job.join().unwrap().expect("the job survives the kill");
    assert_eq!(got, expected, "bit-identical to the fault-free result");

    let status = cx
        .wait_for_status("worker-1 lost", Duration::from_secs(10), |s| {
            s.workers[0].state == WorkerState::Lost
        })
        .unwrap();
    // Lost partitions are recomputed lazily, when a job needs them: the slow job needed those
    // whose tasks had not finished before the kill.
    assert!(status.recomputed_partitions <= lost_blocks, "{status:?}");
    // A full pass over the cache needs every partition: exactly the lost ones are recomputed.
    assert_eq!(cached.aggregate::<SumF64>(&()).unwrap(), expected);
    assert_eq!(
        cx.status().unwrap().recomputed_partitions,
        lost_blocks,
        "exactly the killed worker's partitions were recomputed"
    );
    // And the cache is whole again: another pass recomputes nothing.
    assert_eq!(cached.aggregate::<SumF64>(&()).unwrap(), expected);
    assert_eq!(cx.status().unwrap().recomputed_partitions, lost_blocks);
    let log = read(&cx.local_cluster().unwrap().log_dir().join("master.log"));
    assert!(log.contains("partition recomputed from lineage"), "{log}");
}

#[test]
fn with_two_replicas_a_kill_costs_no_recomputation() {
    let mut cx = Context::local_with(local_builder("ft-replicas", 3)).unwrap();
    let cached = range(&cx, 8, 5_000).persist(StorageLevel::MemoryAndDisk, 2);
    let expected: ColumnSums = cached.aggregate::<SumF64>(&()).unwrap();
    blocks_reported(&cx, 16);
    cx.local_cluster_mut().unwrap().kill_worker(1).unwrap();
    cx.wait_for_status("worker-2 lost", Duration::from_secs(10), |s| {
        s.workers[1].state == WorkerState::Lost
    })
    .unwrap();
    assert_eq!(cached.aggregate::<SumF64>(&()).unwrap(), expected);
    assert_eq!(
        cx.status().unwrap().recomputed_partitions,
        0,
        "replicas were read instead"
    );
}

#[test]
fn data_beyond_the_memory_budgets_spills_and_gives_the_same_answer() {
    // 8 partitions of ~960 KB against 2 workers with 2 MiB each.
    let cx = Context::local_with(local_builder("ft-spill", 2).memory_bytes(2 << 20)).unwrap();
    let plain = range(&cx, 8, 40_000);
    let expected: ColumnSums = plain.aggregate::<SumF64>(&()).unwrap();
    let cached = range(&cx, 8, 40_000).cache();
    assert_eq!(
        cached.aggregate::<SumF64>(&()).unwrap(),
        expected,
        "first pass (spilling)"
    );
    let status = blocks_reported(&cx, 8);
    let spilled: u64 = status.workers.iter().map(|w| w.spilled_bytes).sum();
    assert!(spilled > 2 << 20, "blocks went to disk: {status:?}");
    for w in &status.workers {
        assert!(w.memory_used_bytes <= 2 << 20, "budget respected: {w:?}");
    }
    assert_eq!(
        cached.aggregate::<SumF64>(&()).unwrap(),
        expected,
        "read back from disk"
    );
    assert_eq!(cx.status().unwrap().recomputed_partitions, 0);
}

#[test]
fn a_corrupt_spilled_block_is_recomputed_never_returned() {
    let builder = local_builder("ft-corrupt", 2).env("CINDER_FAULT_INJECTION", "1");
    let cx = Context::local_with(builder).unwrap();
    let cached = range(&cx, 4, 5_000).persist(StorageLevel::DiskOnly, 1);
    let expected: ColumnSums = cached.aggregate::<SumF64>(&()).unwrap();
    blocks_reported(&cx, 4);
    let block = cached.block_id(0);
    let hits: Vec<bool> = ["worker-1", "worker-2"]
        .iter()
        .map(|w| cx.corrupt_block(w, &block).unwrap())
        .collect();
    assert_eq!(
        hits.iter().filter(|h| **h).count(),
        1,
        "exactly one holder: {hits:?}"
    );

    assert_eq!(cached.aggregate::<SumF64>(&()).unwrap(), expected);
    assert_eq!(cx.status().unwrap().recomputed_partitions, 1);
    let logs = cx.local_cluster().unwrap().log_dir();
    let worker_logs = read(&logs.join("worker-1.log")) + &read(&logs.join("worker-2.log"));
    assert!(worker_logs.contains("is corrupt on disk"), "{worker_logs}");
}

#[test]
fn fault_injection_is_refused_unless_enabled() {
    let cx = local_context("ft-no-injection", 1);
    let err = cx.corrupt_block("worker-1", &cx.block_id("x")).unwrap_err();
    assert!(
        err.to_string().contains("fault injection is disabled"),
        "{err}"
    );
}
