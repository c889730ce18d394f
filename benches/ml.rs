//! ML benchmarks on the project's own deterministic data (`ml.synthetic.*` generators), fit
//! time and peak memory on the embedded cluster (2 workers x 1 core), and where `pyspark` is
//! importable, Spark MLlib `local[2]` on the same rows (written to Parquet) in the same run.
//!
//! - logistic regression, 1,000,000 x 50 dense, 20 iterations, tol 0;
//! - linear regression, 1,000,000 x 50, 20 iterations, tol 0 (l-bfgs);
//! - k-means, 1,000,000 x 20, k = 10, 20 iterations;
//! - ALS, 1,000,000 ratings, 20,000 users x 5,000 items, rank 10, 10 iterations.
//!
//! Run: `cargo bench --bench ml` (set `CINDER_BENCH_SCALE=0.1` for a quick pass).

use std::process::Command;
use std::time::Instant;

use cinder::{Context, Dataset, FileFormat, LocalCluster};
use cinder_algorithms::classification::LogisticRegression;
use cinder_algorithms::clustering::KMeans;
use cinder_algorithms::datagen::SyntheticArgs;
use cinder_algorithms::evaluation::BinaryClassificationEvaluator;
use cinder_algorithms::recommendation::als_kernel::RatingColumns;
use cinder_algorithms::recommendation::Als;
use cinder_algorithms::regression::{LinearRegression, Solver};
use cinder_algorithms::{FeatureCols, FeatureSpec};

const PARTITIONS: u32 = 8;

struct Row {
    name: &'static str,
    seconds: f64,
    peak_mib: f64,
    quality: (&'static str, f64),
    spark: Option<(f64, f64)>,
}

fn peak_rss_mib(pids: &[u32]) -> f64 {
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .filter_map(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_string)
        })
        .filter_map(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<f64>().ok())
        })
        .sum::<f64>()
        / 1024.0
}

fn pyspark() -> bool {
    Command::new("python3")
        .args(["-c", "import pyspark"])
        .status()
        .is_ok_and(|s| s.success())
}

fn spark(task: &str, parquet: &std::path::Path, extra: &[&str]) -> Option<(f64, f64)> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tools/spark_bench.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(task)
        .arg(parquet)
        .args(extra)
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "spark {task} failed: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    Some((v["fit_seconds"].as_f64()?, v["quality"].as_f64()?))
}

fn dense(cols: u32) -> FeatureSpec {
    FeatureSpec {
        label: "label".into(),
        weight: None,
        features: FeatureCols::Columns((0..cols).map(|j| format!("f{j}")).collect()),
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let scale: f64 = std::env::var("CINDER_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let rows = (1_000_000.0 * scale) as u64;
    let cx = Context::local_with(
        LocalCluster::builder()
            .workers(2)
            .memory_bytes(2 << 30)
            .executable(env!("CARGO_BIN_EXE_cinder"))
            .log_level("warn"),
    )
    .expect("embedded cluster");
    let cluster = cx.local_cluster().unwrap();
    let mut pids: Vec<u32> = cluster.workers().iter().filter_map(|w| w.pid()).collect();
    pids.extend(cluster.master_pid());
    pids.push(std::process::id());
    let with_spark = pyspark();
    let dir = tempfile::tempdir().unwrap();
    let gen = |name: &str, features: u32, groups: u64, items: u64| -> Dataset {
        let args = SyntheticArgs {
            rows_per_partition: rows / u64::from(PARTITIONS),
            features,
            groups,
            items,
            seed: 7,
        };
        let ds = cx.generate(name, &args, PARTITIONS).unwrap().cache();
        ds.materialize().unwrap();
        ds
    };
    let parquet = |ds: &Dataset, name: &str| {
        let path = dir.path().join(name);
        if with_spark {
            ds.write(&path, FileFormat::Parquet).unwrap();
        }
        path
    };
    let mut table = Vec::new();

    let data = gen("ml.synthetic.classification", 50, 0, 0);
    let start = Instant::now();
    let model = LogisticRegression {
        max_iter: 20,
        tol: 0.0,
        columns: dense(50),
        ..Default::default()
    }
    .fit(&data)
    .unwrap();
    let seconds = start.elapsed().as_secs_f64();
    let auc = BinaryClassificationEvaluator {
        label: "label".into(),
        score: "probability".into(),
        weight: None,
    }
    .metrics(&model.transform(&data).unwrap())
    .unwrap()
    .area_under_roc;
    let path = parquet(&data, "lr");
    table.push(Row {
        name: "logistic regression 1M x 50",
        seconds,
        peak_mib: peak_rss_mib(&pids),
        quality: ("AUC", auc),
        spark: with_spark.then(|| spark("lr", &path, &[])).flatten(),
    });
    data.unpersist().unwrap();

    let data = gen("ml.synthetic.regression", 50, 0, 0);
    let start = Instant::now();
    let model = LinearRegression {
        max_iter: 20,
        tol: 0.0,
        solver: Solver::LBfgs,
        columns: dense(50),
        ..Default::default()
    }
    .fit(&data)
    .unwrap();
    let seconds = start.elapsed().as_secs_f64();
    let path = parquet(&data, "linear");
    table.push(Row {
        name: "linear regression 1M x 50",
        seconds,
        peak_mib: peak_rss_mib(&pids),
        quality: ("RMSE", model.rmse),
        spark: with_spark.then(|| spark("linear", &path, &[])).flatten(),
    });
    data.unpersist().unwrap();

    let data = gen("ml.synthetic.clusters", 20, 10, 0);
    let start = Instant::now();
    let spec = FeatureSpec {
        features: FeatureCols::Columns((0..20).map(|j| format!("f{j}")).collect()),
        ..dense(0)
    };
    let model = KMeans {
        k: 10,
        max_iter: 20,
        tol: 0.0,
        seed: 1,
        columns: spec,
        ..Default::default()
    }
    .fit(&data)
    .unwrap();
    let seconds = start.elapsed().as_secs_f64();
    let path = parquet(&data, "kmeans");
    table.push(Row {
        name: "k-means 1M x 20, k = 10",
        seconds,
        peak_mib: peak_rss_mib(&pids),
        quality: ("cost", model.cost),
        spark: with_spark.then(|| spark("kmeans", &path, &[])).flatten(),
    });
    data.unpersist().unwrap();

    let data = gen("ml.synthetic.ratings", 0, 20_000, 5_000);
    let start = Instant::now();
    let columns = RatingColumns {
        user: "user".into(),
        item: "item".into(),
        rating: "rating".into(),
    };
    let model = Als {
        rank: 10,
        max_iter: 10,
        columns,
        ..Default::default()
    }
    .fit(&data)
    .unwrap();
    let seconds = start.elapsed().as_secs_f64();
    let path = parquet(&data, "als");
    table.push(Row {
        name: "ALS 1M ratings, rank 10",
        seconds,
        peak_mib: peak_rss_mib(&pids),
        quality: ("RMSE", model.rmse),
        spark: with_spark.then(|| spark("als", &path, &[])).flatten(),
    });

    println!();
    println!(
        "{:<30} {:>10} {:>12} {:>18} {:>10} {:>16} {:>10}",
        "benchmark", "cinder s", "peak MiB", "quality", "spark s", "spark quality", "speedup"
    );
    for r in &table {
        let (spark_s, spark_q, ratio) = match r.spark {
            Some((s, q)) => (
                format!("{s:.2}"),
                format!("{q:.6}"),
                format!("{:.2}x", s / r.seconds),
            ),
            None => ("-".into(), "-".into(), "-".into()),
        };
        println!(
            "{:<30} {:>10.2} {:>12.0} {:>18} {:>10} {:>16} {:>10}",
            r.name,
            r.seconds,
            r.peak_mib,
            format!("{} {:.6}", r.quality.0, r.quality.1),
            spark_s,
            spark_q,
            ratio
        );
    }
    println!("(peak MiB: high-water RSS of master + workers + driver; speedup = Spark fit time / cinder fit time; rows scaled by {scale})");
}
