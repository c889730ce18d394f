//! Membership over real processes: registration, a SIGKILLed worker reported at once by its
//! watcher, a hung (SIGSTOPped) worker lost after the heartbeat timeout, loss at once on a
//! clean shutdown, and re-registration of a restarted worker.

mod common;

use std::time::{Duration, Instant};

use cinder::builtin::{ColumnSums, RangeArgs, SumF64};
use cinder::WorkerState;
use common::*;

fn state_of(cx: &cinder::Context, id: &str) -> (WorkerState, u64) {
    let status = cx.status().unwrap();
    let w = status
        .workers
        .iter()
        .find(|w| w.id == id)
        .expect("worker listed");
    (w.state, w.incarnation)
}

#[test]
fn workers_register_with_their_resources() {
    let cx = local_context("register", 2);
    let status = cx.status().unwrap();
    assert_eq!(status.workers.len(), 2);
    let ids: Vec<_> = status.workers.iter().map(|w| w.id.as_str()).collect();
    assert_eq!(ids, ["worker-1", "worker-2"]);
    for w in &status.workers {
        assert_eq!(w.state, WorkerState::Alive);
        assert_eq!(w.cores, 1);
        assert_eq!(w.memory_budget_bytes, 512 << 20);
        assert_eq!(w.incarnation, 1);
        assert!(w.address.starts_with("127.0.0.1:"), "{}", w.address);
        assert!(w.pid > 0);
    }
    // Heartbeats keep flowing: the age stays below the timeout over several intervals.
    std::thread::sleep(Duration::from_millis(700));
    for w in cx.status().unwrap().workers {
        assert!(
            w.last_heartbeat_ms < 1500,
            "{} silent for {} ms",
            w.id,
            w.last_heartbeat_ms
        );
        assert_eq!(w.state, WorkerState::Alive);
    }
}

#[test]
fn hung_worker_is_lost_within_timeout_and_comes_back_on_restart() {
    let mut cx = local_context("sigstop", 2);
    // A hung process (SIGSTOP): its watcher sees nothing, heartbeats are the detector.
    let pid = cx.local_cluster().unwrap().workers()[0].pid().unwrap();
    let killed_at = Instant::now();
    // SAFETY: a signal to our own child.
    unsafe {
        libc::kill(pid as i32, libc::SIGSTOP);
    }
    cx.wait_for_status("worker-1 lost", Duration::from_secs(10), |s| {
        s.workers
            .iter()
            .any(|w| w.id == "worker-1" && w.state == WorkerState::Lost)
    })
    .unwrap();
    let detection = killed_at.elapsed();
    // `cinder status` (the operator's view) agrees.
    let cluster = cx.local_cluster().unwrap();
    let out = run_cinder(&[
        "status",
        "--cluster",
        cluster.cluster_dir().to_str().unwrap(),
        "--master",
        cluster.master_addr(),
        "--json",
    ]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["workers"][0]["id"], "worker-1");
    assert_eq!(json["workers"][0]["state"], "lost");
    assert_eq!(json["workers"][1]["state"], "alive");
    // Timeout 1500 ms, checked every 100 ms; allow scheduling slack on a loaded 2-core box.
    assert!(
        detection < Duration::from_millis(1500 + 1500),
        "detected after {detection:?}"
    );
    assert!(
        detection >= Duration::from_millis(1000),
        "declared lost too early: {detection:?}"
    );
    assert_eq!(
        state_of(&cx, "worker-2").0,
        WorkerState::Alive,
        "the other worker is untouched"
    );

    cx.local_cluster_mut().unwrap().restart_worker(0).unwrap();
    cx.wait_for_status("worker-1 alive again", Duration::from_secs(20), |s| {
        s.workers
            .iter()
            .any(|w| w.id == "worker-1" && w.state == WorkerState::Alive)
    })
    .unwrap();
    assert_eq!(
        state_of(&cx, "worker-1"),
        (WorkerState::Alive, 2),
        "a new incarnation"
    );
    let log = read(&cx.local_cluster().unwrap().log_dir().join("master.log"));
    assert!(
        log.contains("worker lost: no heartbeat within the timeout worker=worker-1"),
        "{log}"
    );
}

#[test]
fn clean_shutdown_is_detected_at_once_by_the_closed_connection() {
    let cx = local_context("sigterm", 1);
    let pid = cx.local_cluster().unwrap().workers()[0].pid().unwrap();
    let stopped_at = Instant::now();
    unsafe {
        libc::kill(pid as i32, libc::SIGTERM);
    }
    cx.wait_for_status("worker-1 lost", Duration::from_secs(10), |s| {
        s.workers[0].state == WorkerState::Lost
    })
    .unwrap();
    // Well under the 1500 ms heartbeat timeout: the close frame told the master.
    assert!(
        stopped_at.elapsed() < Duration::from_millis(1200),
        "{:?}",
        stopped_at.elapsed()
    );
    let log = read(&cx.local_cluster().unwrap().log_dir().join("master.log"));
    assert!(log.contains("worker lost: connection closed"), "{log}");
}

#[test]
fn a_sigkilled_worker_is_reported_by_its_watcher_at_once_and_the_job_is_unchanged() {
    // Heartbeats could not detect it in this test: the timeout is a minute.
    let builder = local_builder("watcher", 3).heartbeat_ms(200, 60_000);
    let mut cx = cinder::Context::local_with(builder).unwrap();
    let status = cx.status().unwrap();
    let watcher = status.workers[0]
        .watcher_pid
        .expect("the worker reports its watcher");
    assert!(process_alive(watcher));
    let args = RangeArgs {
        rows_per_partition: 20_000,
        columns: 3,
        seed: 3,
    };
    let cached = cx.generate("cinder.range", &args, 12).unwrap().cache();
    let expected: ColumnSums = cached.aggregate::<SumF64>(&()).unwrap();
    let slow = cached.map_batches("cinder.delay", &150u64).unwrap();
    let job = std::thread::spawn(move || slow.aggregate::<SumF64>(&()));
    // The kill lands while worker-1 runs a task of the job.
    cx.wait_for_status("worker-1 to run a task", Duration::from_secs(10), |s| {
        s.workers[0].tasks_running > 0
    })
    .unwrap();
    let killed_at = Instant::now();
    cx.local_cluster_mut().unwrap().kill_worker(0).unwrap();
    cx.wait_for_status("worker-1 lost", Duration::from_secs(10), |s| {
        s.workers[0].state == WorkerState::Lost
    })
    .unwrap();
    let detection = killed_at.elapsed();
    assert!(
        detection < Duration::from_secs(5),
        "reported by the watcher, not the minute-long heartbeat timeout: {detection:?}"
    );
    let got = job.join().unwrap().expect("the job survives the kill");
    assert_eq!(got, expected, "bit-identical to the fault-free result");
    let events = cx.status().unwrap().events;
    assert!(
        events
            .iter()
            .any(|e| e.worker.as_deref() == Some("worker-1")
                && e.message.contains("exited (reported by its watcher)")),
        "{events:?}"
    );
    wait_for(
        "the watcher to exit after reporting",
        Duration::from_secs(5),
        || (!process_alive(watcher)).then_some(()),
    );
}
