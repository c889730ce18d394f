//! The block-manager protocol over real worker processes: put and get, streamed large blocks,
//! a block stored on one worker read from another, budgets, removal, and storage figures
//! reported to the master.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;

fn pattern(len: usize, seed: u8) -> Bytes {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect::<Vec<_>>()
        .into()
}

#[test]
fn a_block_put_on_one_worker_is_read_from_another() {
    let cx = local_context("blocks-remote", 2);
    let id = cx.block_id("user/remote");
    let data = pattern(3 << 20, 9);
    assert_eq!(
        cx.put_block("worker-1", &id, data.clone()).unwrap(),
        data.len() as u64
    );
    assert_eq!(cx.get_block("worker-1", &id).unwrap().as_ref(), Some(&data));
    assert_eq!(
        cx.get_block("worker-2", &id).unwrap(),
        None,
        "not copied yet"
    );

    let outcome = cx.fetch_block("worker-2", &id).unwrap().expect("found");
    assert_eq!(outcome.source, "worker-1");
    assert_eq!(outcome.len, data.len() as u64);
    assert_eq!(
        cx.get_block("worker-2", &id).unwrap().as_ref(),
        Some(&data),
        "same bytes"
    );
    // A second fetch is served locally.
    assert_eq!(
        cx.fetch_block("worker-2", &id).unwrap().unwrap().source,
        "local"
    );
    assert_eq!(
        cx.fetch_block("worker-2", &cx.block_id("missing")).unwrap(),
        None
    );

    // Both copies are visible to the master with the next heartbeat.
    cx.wait_for_status("two blocks reported", Duration::from_secs(5), |s| {
        s.workers
            .iter()
            .all(|w| w.blocks == 1 && w.memory_used_bytes == data.len() as u64)
    })
    .unwrap();
}

#[test]
fn large_blocks_stream_and_budgets_hold() {
    let builder = local_builder("blocks-large", 1).memory_bytes(96 << 20);
    let cx = cinder::Context::local_with(builder).unwrap();
    let big = pattern(64 << 20, 1);
    let id = cx.block_id("big");
    cx.put_block("worker-1", &id, big.clone()).unwrap();
    let back = cx.get_block("worker-1", &id).unwrap().unwrap();
    assert!(back == big, "64 MiB block round-trips byte for byte");

    // 96 MiB budget: a memory-only block larger than the whole budget is refused clearly.
    let too_much = Bytes::from(vec![0u8; 100 << 20]);
    let err = cx
        .put_block("worker-1", &cx.block_id("overflow"), too_much)
        .unwrap_err();
    assert!(err.to_string().contains("does not fit"), "{err}");
    assert_eq!(
        cx.get_block("worker-1", &id).unwrap().as_ref(),
        Some(&big),
        "untouched"
    );

    // One that fits the budget but not beside "big" evicts it (memory only: dropped).
    let second = cx.block_id("second");
    cx.put_block("worker-1", &second, pattern(40 << 20, 2))
        .unwrap();
    assert_eq!(
        cx.get_block("worker-1", &id).unwrap(),
        None,
        "least recently used, evicted"
    );
    cx.wait_for_status("one block left", Duration::from_secs(5), |s| {
        s.workers[0].blocks == 1 && s.workers[0].memory_used_bytes == 40 << 20
    })
    .unwrap();
    assert!(cx.remove_block("worker-1", &second).unwrap());
    assert!(!cx.remove_block("worker-1", &second).unwrap());
    cx.wait_for_status("no blocks left", Duration::from_secs(5), |s| {
        s.workers[0].blocks == 0
    })
    .unwrap();
}

#[test]
fn a_lost_workers_blocks_are_no_longer_located() {
    let mut cx = local_context("blocks-lost", 2);
    let id = cx.block_id("only-copy");
    cx.put_block("worker-1", &id, pattern(1000, 3)).unwrap();
    cx.local_cluster_mut().unwrap().kill_worker(0).unwrap();
    cx.wait_for_status("worker-1 lost", Duration::from_secs(10), |s| {
        s.workers[0].state == cinder::WorkerState::Lost
    })
    .unwrap();
    assert_eq!(cx.fetch_block("worker-2", &id).unwrap(), None);
    let err = cx.get_block("worker-1", &id).unwrap_err();
    assert!(matches!(err, cinder::Error::UnknownWorker(_)), "{err}");
}
