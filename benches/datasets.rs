//! Dataset benchmarks, each beside a baseline in the same run, reported as ratios:
//!
//! 1. sum over a cached 1,000,000 x 50 f64 dataset on the embedded cluster vs a plain
//!    single-threaded sum over one `Vec<f64>` of the same numbers (bytes/second);
//! 2. spill store (sled, checksummed) write and read-back throughput vs plain files;
//! 3. a cached-scan job with one worker SIGKILLed mid-job vs the same job without faults.
//!
//! Run: `cargo bench --bench datasets`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use cinder::builtin::{ColumnSums, RangeArgs, SumF64};
use cinder::runtime::block_manager::BlockStore;
use cinder::{BlockId, Context, LocalCluster, StorageLevel};

const ROWS: u64 = 1_000_000;
const COLUMNS: u32 = 50;
const PARTITIONS: u32 = 8;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let exe = env!("CARGO_BIN_EXE_cinder");
    println!("dataset benchmarks (release build, 2 workers x 1 core unless noted)");
    let (cluster_bps, local_bps) = cached_sum(exe);
    let ((sled_w, sled_r), (file_w, file_r)) = spill_throughput();
    let (fault_free, with_kill) = recovery(exe);

    println!();
    println!(
        "{:<44} {:>14} {:>14} {:>8}",
        "benchmark", "cinder", "baseline", "ratio"
    );
    println!(
        "{:<44} {:>10.2} GB/s {:>10.2} GB/s {:>7.2}x",
        "sum, cached 1M x 50 f64 (vs 1-thread Vec)",
        cluster_bps / 1e9,
        local_bps / 1e9,
        cluster_bps / local_bps
    );
    println!(
        "{:<44} {:>10.0} MB/s {:>10.0} MB/s {:>7.2}x",
        "spill write, sled + crc32 (vs plain files)",
        sled_w,
        file_w,
        sled_w / file_w
    );
    println!(
        "{:<44} {:>10.0} MB/s {:>10.0} MB/s {:>7.2}x",
        "spill read-back, verified (vs plain files)",
        sled_r,
        file_r,
        sled_r / file_r
    );
    println!(
        "{:<44} {:>12.2} s {:>12.2} s {:>7.2}x",
        "cached scan, 1 worker killed (vs no fault)",
        with_kill.as_secs_f64(),
        fault_free.as_secs_f64(),
        with_kill.as_secs_f64() / fault_free.as_secs_f64()
    );
    println!("(ratios: cinder / baseline; for the kill, time with the fault / time without)");
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Bytes/second of a column-sum job over a cached dataset, and of one thread summing a Vec.
fn cached_sum(exe: &str) -> (f64, f64) {
    let cx = Context::local_with(
        LocalCluster::builder()
            .workers(2)
            .memory_bytes(1 << 30)
            .executable(exe)
            .log_level("warn"),
    )
    .expect("embedded cluster");
    let args = RangeArgs {
        rows_per_partition: ROWS / u64::from(PARTITIONS),
        columns: COLUMNS,
        seed: 1,
    };
    let cached = cx
        .generate("cinder.range", &args, PARTITIONS)
        .unwrap()
        .cache();
    cached.materialize().unwrap();
    let mut samples = Vec::new();
    let mut result = ColumnSums::default();
    for _ in 0..5 {
        let start = Instant::now();
        result = cached.aggregate::<SumF64>(&()).unwrap();
        samples.push(start.elapsed());
    }
    assert_eq!(result.rows, ROWS);
    let bytes = (ROWS * u64::from(COLUMNS) * 8) as f64;
    let cluster = bytes / median(samples).as_secs_f64();

    // The same numbers in one Vec<f64>, summed by one thread.
    let raw = rmp_serde::to_vec_named(&args).unwrap();
    let mut values = Vec::with_capacity((ROWS * u64::from(COLUMNS)) as usize);
    for p in 0..PARTITIONS {
        let batch = cinder::builtin::range(p, PARTITIONS, &raw).unwrap();
        for c in batch.columns() {
            let c = c
                .as_any()
                .downcast_ref::<arrow_array::Float64Array>()
                .unwrap();
            values.extend_from_slice(c.values());
        }
    }
    let mut samples = Vec::new();
    let mut total = 0.0;
    for _ in 0..5 {
        let start = Instant::now();
        total = std::hint::black_box(&values).iter().sum::<f64>();
        samples.push(start.elapsed());
    }
    let cluster_total: f64 = result.sums.iter().sum();
    assert!(
        (total - cluster_total).abs() / total < 1e-9,
        "{total} vs {cluster_total}"
    );
    (cluster, bytes / median(samples).as_secs_f64())
}

/// MB/s of writing and reading back 256 MiB of 4 MiB blocks: sled spill store vs plain files.
fn spill_throughput() -> ((f64, f64), (f64, f64)) {
    const BLOCKS: usize = 64;
    const SIZE: usize = 4 << 20;
    let dir = tempfile::tempdir().unwrap();
    let blocks: Vec<Bytes> = (0..BLOCKS)
        .map(|b| {
            (0..SIZE)
                .map(|i| (i * 7 + b) as u8)
                .collect::<Vec<u8>>()
                .into()
        })
        .collect();
    let mb = (BLOCKS * SIZE) as f64 / 1e6;

    let mut store = BlockStore::open(0, &dir.path().join("spill")).unwrap();
    let start = Instant::now();
    for (i, b) in blocks.iter().enumerate() {
        store
            .put(
                BlockId::new(format!("b{i}")),
                b.clone(),
                StorageLevel::DiskOnly,
            )
            .unwrap();
    }
    let sled_write = mb / start.elapsed().as_secs_f64();
    let start = Instant::now();
    for i in 0..BLOCKS {
        let back = store.get(&BlockId::new(format!("b{i}"))).unwrap().unwrap();
        assert_eq!(back.len(), SIZE);
    }
    let sled_read = mb / start.elapsed().as_secs_f64();

    let files = dir.path().join("files");
    std::fs::create_dir(&files).unwrap();
    let start = Instant::now();
    for (i, b) in blocks.iter().enumerate() {
        std::fs::write(files.join(format!("b{i}")), b).unwrap();
    }
    let file_write = mb / start.elapsed().as_secs_f64();
    let start = Instant::now();
    for i in 0..BLOCKS {
        let back = std::fs::read(files.join(format!("b{i}"))).unwrap();
        assert_eq!(back.len(), SIZE);
    }
    let file_read = mb / start.elapsed().as_secs_f64();
    ((sled_write, sled_read), (file_write, file_read))
}

/// Wall time of a cached-scan job (12 partitions, 3 workers, 100 ms per task) without faults
/// and with one worker SIGKILLed a third of the way in. Heartbeats: 200 ms, lost after 1.5 s.
fn recovery(exe: &str) -> (Duration, Duration) {
    let mut cx = Context::local_with(
        LocalCluster::builder()
            .workers(3)
            .heartbeat_ms(200, 1500)
            .executable(exe)
            .log_level("warn"),
    )
    .expect("embedded cluster");
    let args = RangeArgs {
        rows_per_partition: 50_000,
        columns: 4,
        seed: 2,
    };
    let cached = cx.generate("cinder.range", &args, 12).unwrap().cache();
    cached.materialize().unwrap();
    let scan = cached.map_batches("cinder.delay", &100u64).unwrap();
    let start = Instant::now();
    let expected = scan.aggregate::<SumF64>(&()).unwrap();
    let fault_free = start.elapsed();

    let job = {
        let scan = scan.clone();
        std::thread::spawn(move || {
            let start = Instant::now();
            let result = scan.aggregate::<SumF64>(&()).unwrap();
            (result, start.elapsed())
        })
    };
    std::thread::sleep(fault_free / 3);
    cx.local_cluster_mut().unwrap().kill_worker(0).unwrap();
    let (result, with_kill) = job.join().unwrap();
    assert_eq!(result, expected, "same result with the fault");
    (fault_free, with_kill)
}
