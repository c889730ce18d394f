//! Regression test for a bug the chaos harness found (`kill-restart`): a worker SIGKILLed and
//! restarted faster than the heartbeat timeout registered as a new incarnation while the
//! master still counted the old one alive, so the tasks that had been running on the dead
//! process were only retried when their RPCs timed out (about 10 s later). The master now
//! declares the old incarnation lost when the new one registers.

use std::time::{Duration, Instant};

use cinder::builtin::{ColumnSums, RangeArgs, SumF64};
use cinder::{Context, LocalCluster};

#[test]
fn a_worker_restarted_before_its_loss_is_detected_has_its_tasks_retried_at_once() {
    let dir = tempfile::Builder::new()
        .prefix("chaos-restart-")
        .tempdir()
        .unwrap();
    let builder = LocalCluster::builder()
        .workers(2)
        .cores(2)
        .executable(env!("CARGO_BIN_EXE_cinder-chaos"))
        .dir(dir.path())
        .heartbeat_ms(200, 1500)
        .log_level("info");
    let mut cx = Context::local_with(builder).unwrap();
    cx.wait_for_workers(2, Duration::from_secs(20)).unwrap();
    let args = RangeArgs {
        rows_per_partition: 1_000,
        columns: 2,
        seed: 1,
    };
    let data = cx.generate("cinder.range", &args, 8).unwrap();
    let expected: ColumnSums = data.aggregate::<SumF64>(&()).unwrap();
    // Every task takes 1.5 s: the kill lands while each worker runs two.
    let slow = data.map_batches("cinder.delay", &1_500u64).unwrap();
    let job = std::thread::spawn(move || slow.aggregate::<SumF64>(&()));
    std::thread::sleep(Duration::from_millis(500));
    let cluster = cx.local_cluster_mut().unwrap();
    cluster.kill_worker(0).unwrap();
    let restarted = Instant::now();
    cluster.restart_worker(0).unwrap();
    let got = job.join().unwrap().expect("the job survives the kill");
    assert_eq!(got, expected);
    // 8 tasks of 1.5 s on 4 slots, some run twice: well under the ~10 s the lost attempts
    // used to wait for their RPCs to time out.
    let after = restarted.elapsed();
    assert!(
        after < Duration::from_secs(7),
        "took {after:?} after the restart"
    );
    let log =
        std::fs::read_to_string(cx.local_cluster().unwrap().log_dir().join("master.log")).unwrap();
    // Whichever comes first declares the old process lost at once: its watcher's report of
    // the exit, or the new incarnation's registration.
    assert!(
        log.contains("superseded by a new registration")
            || log.contains("exited (reported by its watcher)"),
        "{log}"
    );
}
