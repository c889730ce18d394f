//! Tree ensemble benchmarks on the project's deterministic data (`ml.synthetic.*`), fit time
//! on the embedded cluster (2 workers), and where `pyspark` is importable, Spark MLlib
//! `local[2]` on the same rows (written to Parquet) in the same run, with test quality of both
//! and the size of the binned cache against the raw data:
//!
//! - random forest classifier, 1,000,000 x 50, 100 trees, depth 8 (test AUC);
//! - GBT regressor, 1,000,000 x 50, 100 iterations, depth 5 (test RMSE).
//!
//! Run: `cargo bench --bench trees`. `CINDER_BENCH_SCALE=0.1` scales the rows, and
//! `CINDER_BENCH_TREES=0.2` the trees and iterations, for a quicker pass.

use std::process::Command;
use std::time::Instant;

use cinder::{Context, Dataset, FileFormat, LocalCluster};
use cinder_algorithms::datagen::SyntheticArgs;
use cinder_algorithms::evaluation::{BinaryClassificationEvaluator, RegressionEvaluator};
use cinder_algorithms::tree::{GBTRegressor, RandomForestClassifier, TreeEnsembleModel};
use cinder_algorithms::{FeatureCols, FeatureSpec};

const PARTITIONS: u32 = 8;
const FEATURES: u32 = 50;

fn env_f64(name: &str) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0)
}

fn spark(
    task: &str,
    train: &std::path::Path,
    test: &std::path::Path,
    count: usize,
    depth: usize,
) -> Option<(f64, f64)> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tools/spark_bench_trees.py");
    let out = Command::new("python3")
        .arg(script)
        .args([
            task,
            &train.display().to_string(),
            &test.display().to_string(),
        ])
        .args([count.to_string(), depth.to_string()])
        .output()
        .ok()?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        eprintln!(
            "spark {task} failed: {}",
            stderr.lines().last().unwrap_or("")
        );
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    Some((v["fit_seconds"].as_f64()?, v["quality"].as_f64()?))
}

fn pyspark() -> bool {
    Command::new("python3")
        .args(["-c", "import pyspark"])
        .status()
        .is_ok_and(|s| s.success())
}

fn spec() -> FeatureSpec {
    FeatureSpec {
        label: "label".into(),
        weight: None,
        features: FeatureCols::Columns((0..FEATURES).map(|j| format!("f{j}")).collect()),
    }
}

fn quality(model: &TreeEnsembleModel, test: &Dataset) -> f64 {
    let predicted = model.transform(test).unwrap();
    if model.algorithm.is_classifier() {
        BinaryClassificationEvaluator {
            label: "label".into(),
            score: "probability".into(),
            weight: None,
        }
        .metrics(&predicted)
        .unwrap()
        .area_under_roc
    } else {
        RegressionEvaluator {
            label: "label".into(),
            prediction: "prediction".into(),
            weight: None,
            through_origin: false,
        }
        .metrics(&predicted)
        .unwrap()
        .rmse
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let scale = env_f64("CINDER_BENCH_SCALE");
    let tree_scale = env_f64("CINDER_BENCH_TREES");
    let rows = (1_000_000.0 * scale) as u64;
    let cx = Context::local_with(
        LocalCluster::builder()
            .workers(2)
            .memory_bytes(3 << 30)
            .executable(env!("CARGO_BIN_EXE_cinder"))
            .log_level("warn"),
    )
    .expect("embedded cluster");
    let with_spark = pyspark();
    let dir = tempfile::tempdir().unwrap();
    let gen = |name: &str, rows: u64, seed: u64| -> Dataset {
        let args = SyntheticArgs {
            rows_per_partition: rows / u64::from(PARTITIONS),
            features: FEATURES,
            groups: 0,
            items: 0,
            seed,
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
    let num_trees = ((100.0 * tree_scale) as usize).max(1);
    let mut table = Vec::new();

    let train = gen("ml.synthetic.classification", rows, 7);
    let test = gen("ml.synthetic.classification", rows / 10, 8);
    let mut rf = RandomForestClassifier::default();
    rf.params.columns = spec();
    rf.params.max_depth = 8;
    rf.params.seed = 7;
    rf.forest.num_trees = num_trees;
    let start = Instant::now();
    let model = rf.fit(&train).unwrap();
    let seconds = start.elapsed().as_secs_f64();
    let auc = quality(&model, &test);
    let (a, b) = (parquet(&train, "rf_train"), parquet(&test, "rf_test"));
    table.push((
        format!("random forest {rows} x 50, {num_trees} trees, depth 8"),
        seconds,
        ("AUC", auc),
        with_spark
            .then(|| spark("rf", &a, &b, num_trees, 8))
            .flatten(),
    ));
    train.unpersist().unwrap();
    test.unpersist().unwrap();

    let train = gen("ml.synthetic.regression", rows, 7);
    let test = gen("ml.synthetic.regression", rows / 10, 8);
    let mut gbt = GBTRegressor::default();
    gbt.params.columns = spec();
    gbt.params.seed = 7;
    gbt.boost.max_iter = num_trees;
    let start = Instant::now();
    let model = gbt.fit(&train).unwrap();
    let seconds = start.elapsed().as_secs_f64();
    let rmse = quality(&model, &test);
    let (a, b) = (parquet(&train, "gbt_train"), parquet(&test, "gbt_test"));
    table.push((
        format!("GBT regressor {rows} x 50, {num_trees} iterations, depth 5"),
        seconds,
        ("RMSE", rmse),
        with_spark
            .then(|| spark("gbt", &a, &b, num_trees, 5))
            .flatten(),
    ));

    println!();
    println!(
        "{:<55} {:>10} {:>16} {:>10} {:>16} {:>10}",
        "benchmark", "cinder s", "quality", "spark s", "spark quality", "speedup"
    );
    for (name, seconds, (metric, q), spark) in &table {
        let (spark_s, spark_q, ratio) = match spark {
            Some((s, sq)) => (
                format!("{s:.2}"),
                format!("{sq:.6}"),
                format!("{:.2}x", s / seconds),
            ),
            None => ("-".into(), "-".into(), "-".into()),
        };
        println!(
            "{name:<55} {seconds:>10.2} {:>16} {spark_s:>10} {spark_q:>16} {ratio:>10}",
            format!("{metric} {q:.6}")
        );
    }
    // The binned cache: label, weight, key (8 bytes each) and one byte per feature, against
    // the raw rows' 8 bytes per value.
    let raw = rows * u64::from(FEATURES + 1) * 8;
    let binned = rows * (24 + u64::from(FEATURES));
    println!(
        "binned cache {:.1} MiB vs raw {:.1} MiB ({:.2}x smaller); speedup = Spark fit time / cinder fit time",
        binned as f64 / (1 << 20) as f64,
        raw as f64 / (1 << 20) as f64,
        raw as f64 / binned as f64
    );
}
