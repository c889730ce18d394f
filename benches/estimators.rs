//! Benchmarks of the estimators of issue 17 on the project's deterministic data
//! (`ml.synthetic.classification`, 1,000,000 x 50 dense), fit time on the embedded cluster
//! (2 workers), and where `pyspark` is importable Spark MLlib `local[2]` on the same rows:
//!
//! - naive Bayes (gaussian): one pass;
//! - linear SVC, regParam 0.01, 20 iterations, tol 0;
//! - generalized linear regression, poisson (labels 0/1 are counts), 10 IRLS iterations;
//! - multilayer perceptron 50-64-32-2, 20 L-BFGS iterations.
//!
//! Run: `cargo bench --bench estimators` (`CINDER_BENCH_SCALE=0.1` for a quick pass).

use std::process::Command;
use std::time::Instant;

use cinder::{Context, Dataset, FileFormat, LocalCluster};
use cinder_algorithms::classification::{
    LinearSvc, ModelType, MultilayerPerceptronClassifier, NaiveBayes,
};
use cinder_algorithms::datagen::SyntheticArgs;
use cinder_algorithms::evaluation::MulticlassClassificationEvaluator;
use cinder_algorithms::regression::GeneralizedLinearRegression;
use cinder_algorithms::{FeatureCols, FeatureSpec};

const PARTITIONS: u32 = 8;

/// One line of the table: name, cinder seconds, cinder quality, Spark's (seconds, quality).
type Row = (&'static str, f64, String, Option<(f64, f64)>);

fn spark(task: &str, parquet: &std::path::Path) -> Option<(f64, f64)> {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tools/spark_bench_estimators.py"
    );
    let out = Command::new("python3")
        .arg(script)
        .arg(task)
        .arg(parquet)
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!("spark {task} failed");
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    Some((v["fit_seconds"].as_f64()?, v["quality"].as_f64()?))
}

fn accuracy(predicted: &Dataset) -> f64 {
    MulticlassClassificationEvaluator {
        label: "label".into(),
        prediction: "prediction".into(),
        weight: None,
    }
    .metrics(predicted)
    .unwrap()
    .accuracy
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
    let with_spark = Command::new("python3")
        .args(["-c", "import pyspark"])
        .status()
        .is_ok_and(|s| s.success());
    let args = SyntheticArgs {
        rows_per_partition: rows / u64::from(PARTITIONS),
        features: 50,
        groups: 0,
        items: 0,
        seed: 7,
    };
    let data = cx
        .generate("ml.synthetic.classification", &args, PARTITIONS)
        .unwrap()
        .cache();
    data.materialize().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    if with_spark {
        data.write(&path, FileFormat::Parquet).unwrap();
    }
    let columns = FeatureSpec {
        label: "label".into(),
        weight: None,
        features: FeatureCols::Columns((0..50).map(|j| format!("f{j}")).collect()),
    };
    let mut table: Vec<Row> = Vec::new();
    let mut run = |name: &'static str, task: &str, fit: &mut dyn FnMut() -> (String, f64)| {
        let start = Instant::now();
        let (what, quality) = fit();
        let seconds = start.elapsed().as_secs_f64();
        let spark = with_spark.then(|| spark(task, &path)).flatten();
        table.push((name, seconds, format!("{what} {quality:.6}"), spark));
    };
    run("naive Bayes (gaussian)", "nb", &mut || {
        let model = NaiveBayes {
            model_type: ModelType::Gaussian,
            columns: columns.clone(),
            ..NaiveBayes::default()
        }
        .fit(&data)
        .unwrap();
        (
            "accuracy".into(),
            accuracy(&model.transform(&data).unwrap()),
        )
    });
    run("linear SVC, 20 iterations", "svc", &mut || {
        let model = LinearSvc {
            reg_param: 0.01,
            max_iter: 20,
            tol: 0.0,
            columns: columns.clone(),
            ..LinearSvc::default()
        }
        .fit(&data)
        .unwrap();
        (
            "accuracy".into(),
            accuracy(&model.transform(&data).unwrap()),
        )
    });
    run("GLR poisson, 10 iterations", "glr", &mut || {
        let model = GeneralizedLinearRegression {
            family: "poisson".into(),
            max_iter: 10,
            tol: 0.0,
            columns: columns.clone(),
            ..GeneralizedLinearRegression::default()
        }
        .fit(&data)
        .unwrap();
        ("deviance".into(), model.summary.deviance)
    });
    run("MLP 50-64-32-2, 20 iterations", "mlp", &mut || {
        let model = MultilayerPerceptronClassifier {
            layers: vec![50, 64, 32, 2],
            max_iter: 20,
            tol: 0.0,
            seed: 1,
            columns: columns.clone(),
            ..MultilayerPerceptronClassifier::default()
        }
        .fit(&data)
        .unwrap();
        (
            "accuracy".into(),
            accuracy(&model.transform(&data).unwrap()),
        )
    });
    println!();
    println!(
        "{:<32} {:>10} {:>22} {:>10} {:>14} {:>9}",
        "benchmark", "cinder s", "quality", "spark s", "spark quality", "speedup"
    );
    for (name, seconds, quality, spark) in &table {
        let (s, q, r) = match spark {
            Some((s, q)) => (
                format!("{s:.2}"),
                format!("{q:.6}"),
                format!("{:.2}x", s / seconds),
            ),
            None => ("-".into(), "-".into(), "-".into()),
        };
        println!("{name:<32} {seconds:>10.2} {quality:>22} {s:>10} {q:>14} {r:>9}");
    }
    println!("(speedup = Spark fit time / cinder fit time; rows: {rows})");
}
