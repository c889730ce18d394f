//! The optimizers on the hard problems (features over six orders of magnitude, nearly
//! collinear columns, weights, 10 classes; `tests/ml_problems`): iterations, objective
//! evaluations and fit time to convergence (`maxIter` 1000, `tol` 1e-12), Cinder beside
//! Spark MLlib.
//!
//! Cinder runs in process (`LocalFrame`, 2 partitions), so its time is the optimizer and the
//! kernels without cluster round trips; on a cluster each evaluation adds one job's latency.
//! Spark runs `local[2]` through `tools/spark_reference.py --bench` when `pyspark` is
//! importable; otherwise the counts recorded in `tests/spark_reference.json` are shown (with
//! the fit times of the machine that recorded them, marked `*`).
//!
//! Run: `cargo bench --bench optim` (`-- --recorded` to show the recorded Spark figures
//! without running Spark).

#[path = "../tests/ml_problems/mod.rs"]
mod ml_problems;

use std::process::Command;
use std::time::Instant;

use cinder_algorithms::classification::{Family, LogisticRegression};
use cinder_algorithms::regression::{LinearRegression, Solver};
use serde_json::Value;

/// Fit counts and seconds.
struct Fit {
    iterations: u64,
    evaluations: u64,
    seconds: f64,
}

fn reference() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/spark_reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("reference file")).unwrap()
}

/// Spark's counts and times measured now, when pyspark runs.
fn spark_live() -> Option<Value> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tools/spark_reference.py");
    let out = Command::new("python3")
        .args([script, "--bench"])
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!("pyspark unavailable: Spark counts from tests/spark_reference.json");
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

fn cinder(name: &str, case: &Value) -> Fit {
    let rows = ml_problems::problem(case["problem"].as_str().unwrap());
    let weights = case["weighted"]
        .as_bool()
        .unwrap_or(false)
        .then(|| ml_problems::weights(rows.len(), ml_problems::WEIGHT_SEED));
    let (frame, columns) = ml_problems::frame(&rows, weights.as_deref(), 2);
    let p = &case["params"];
    let reg = p["regParam"].as_f64().unwrap();
    let alpha = p["elasticNetParam"].as_f64().unwrap();
    let standardization = p["standardization"].as_bool().unwrap_or(true);
    let start = Instant::now();
    let summary = if name.starts_with("linear") {
        LinearRegression {
            max_iter: 1000,
            tol: 1e-12,
            reg_param: reg,
            elastic_net_param: alpha,
            standardization,
            solver: Solver::LBfgs,
            columns,
            ..LinearRegression::default()
        }
        .fit(&frame)
        .unwrap()
        .summary
    } else {
        LogisticRegression {
            max_iter: 1000,
            tol: 1e-12,
            reg_param: reg,
            elastic_net_param: alpha,
            standardization,
            family: if p["family"] == "multinomial" {
                Family::Multinomial
            } else {
                Family::Binomial
            },
            columns,
            ..LogisticRegression::default()
        }
        .fit(&frame)
        .unwrap()
        .summary
    };
    Fit {
        iterations: summary.iterations as u64,
        evaluations: summary.evaluations as u64,
        seconds: start.elapsed().as_secs_f64(),
    }
}

fn spark_fit(case: &Value) -> Option<Fit> {
    Some(Fit {
        iterations: case["iterations"].as_u64()?,
        evaluations: case["evaluations"].as_u64()?,
        seconds: case["fit_seconds"].as_f64()?,
    })
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let refs = reference();
    let live = if std::env::args().any(|a| a == "--recorded") {
        None
    } else {
        spark_live()
    };
    println!(
        "{:<28} {:>12} {:>12} {:>10}   {:>12} {:>12} {:>10}",
        "problem", "cinder iter", "cinder eval", "cinder s", "spark iter", "spark eval", "spark s"
    );
    for (name, case) in refs.as_object().unwrap() {
        if case.get("problem").is_none() {
            continue;
        }
        let ours = cinder(name, case);
        let (spark, mark) = match live.as_ref().and_then(|l| spark_fit(&l[name])) {
            Some(fit) => (Some(fit), ""),
            None => (spark_fit(case), "*"),
        };
        let spark = spark.map_or_else(
            || format!("{:>12} {:>12} {:>10}", "-", "-", "-"),
            |s| {
                format!(
                    "{:>12} {:>12} {:>9.3}{mark}",
                    s.iterations, s.evaluations, s.seconds
                )
            },
        );
        println!(
            "{:<28} {:>12} {:>12} {:>10.3}   {spark}",
            name, ours.iterations, ours.evaluations, ours.seconds
        );
    }
    println!("(Cinder in process; Spark local[2]; * = recorded by tools/spark_reference.py)");
}
