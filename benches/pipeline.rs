//! Cross-validation of a whole pipeline (StringIndexer x2, Imputer, OneHotEncoder,
//! VectorAssembler, LogisticRegression) over a 3 x 2 grid (regParam x elasticNetParam), 3
//! folds (`foldCol`, so both systems see the same folds), on a generated census-like CSV of
//! 1,000,000 rows (string categories, missing cells): Cinder on the embedded cluster (2
//! workers x 1 core, `parallelism` 2) and, where `pyspark` is importable, Spark `local[2]`
//! on the same file in the same run (`tools/spark_bench_pipeline.py`).
//!
//! Run: `cargo bench --bench pipeline` (`CINDER_BENCH_SCALE=0.1` for a quick pass).

use std::io::Write;
use std::process::Command;
use std::time::Instant;

use cinder::typed_csv::typed_schema;
use cinder::{Context, CsvOptions, LocalCluster};
use cinder_algorithms::pipeline::PipelineSpec;
use cinder_algorithms::tuning::Tuner;

struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

const WORK: [&str; 6] = [
    "Private",
    "Self-emp",
    "Local-gov",
    "State-gov",
    "Federal-gov",
    "Without-pay",
];
const EDU: [&str; 7] = [
    "HS-grad",
    "Some-college",
    "Bachelors",
    "Masters",
    "Assoc",
    "11th",
    "Doctorate",
];

fn write_census(path: &std::path::Path, rows: usize) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(out, "age,hours,capital,workclass,education,sex,income,fold")?;
    let mut rng = SplitMix(20_261_208);
    for _ in 0..rows {
        let age = 17.0 + (rng.uniform() * 74.0).floor();
        let hours = (10.0 + rng.uniform() * 60.0).round();
        let capital = if rng.uniform() < 0.9 {
            0.0
        } else {
            (rng.uniform() * 20_000.0).round()
        };
        let work = WORK[((rng.uniform().powi(2)) * 6.0) as usize];
        let edu_index = ((rng.uniform().powf(1.5)) * 7.0) as usize;
        let male = rng.uniform() < 0.65;
        let score = -5.0
            + 0.05 * age
            + 0.04 * hours
            + 0.0001 * capital
            + [0.0, 0.0, 1.0, 1.5, 0.0, 0.0, 2.0][edu_index]
            + if male { 0.4 } else { 0.0 }
            + 2.0 * (rng.uniform() - 0.5);
        let fold = (rng.uniform() * 3.0) as u32;
        let age = if rng.uniform() < 0.05 {
            String::new()
        } else {
            format!("{age:.1}")
        };
        let work = if rng.uniform() < 0.04 { "" } else { work };
        writeln!(
            out,
            "{age},{hours:.1},{capital:.1},{work},{},{},{},{fold}.0",
            EDU[edu_index],
            if male { "Male" } else { "Female" },
            if score > 0.0 { ">50K" } else { "<=50K" }
        )?;
    }
    out.flush()
}

fn spec() -> PipelineSpec {
    serde_json::from_value(serde_json::json!({
        "stages": [
            {"class": "StringIndexer", "params": {"inputCols": ["workclass", "education", "sex"],
                "outputCols": ["w", "e", "s"], "handleInvalid": "keep"}},
            {"class": "StringIndexer", "params": {"inputCol": "income", "outputCol": "label"}},
            {"class": "Imputer", "params": {"inputCols": ["age"], "outputCols": ["age_f"]}},
            {"class": "OneHotEncoder", "params": {"inputCols": ["w", "e", "s"], "outputCols": ["wv", "ev", "sv"]}},
            {"class": "VectorAssembler", "params": {"inputCols": ["age_f", "hours", "capital", "wv", "ev", "sv"],
                "outputCol": "features"}},
            {"class": "LogisticRegression", "params": {"maxIter": 20, "tol": 0.0}}],
        "tuning": {"class": "CrossValidator",
            "params": {"numFolds": 3, "foldCol": "fold", "parallelism": 2},
            "evaluator": {"class": "BinaryClassificationEvaluator"},
            "paramGrid": [{"stage": 5, "param": "regParam", "values": [0.001, 0.01, 0.1]},
                          {"stage": 5, "param": "elasticNetParam", "values": [0.0, 0.5]}]}}))
    .expect("spec")
}

fn main() -> anyhow::Result<()> {
    cinder::daemon::maybe_run_daemon();
    let scale: f64 = std::env::var("CINDER_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let rows = (1_000_000.0 * scale) as usize;
    let dir = tempfile::tempdir()?;
    let csv = dir.path().join("census.csv");
    write_census(&csv, rows)?;
    let spec = spec();
    let spec_path = dir.path().join("spec.json");
    std::fs::write(&spec_path, serde_json::to_string(&spec)?)?;

    let cx = Context::local_with(LocalCluster::builder().workers(2).cores(1))?;
    let options = CsvOptions {
        schema: Some(typed_schema(&csv, &[])?),
        partitions: Some(8),
        ..CsvOptions::default()
    };
    let data = cx.read_csv(&csv, options)?.cache();
    data.count()?;
    let started = Instant::now();
    let tuner = Tuner::from_spec(spec.tuning.as_ref().expect("tuning"))?;
    let result = tuner.fit(&spec, &data)?;
    let cinder_seconds = started.elapsed().as_secs_f64();
    println!(
        "cinder: CV 3 x 2 grid, 3 folds, {rows} rows: {cinder_seconds:.2} s, avg_metrics {:?}, best {}",
        result.avg_metrics, result.best_index
    );

    let spark = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tools/spark_bench_pipeline.py"
        ))
        .arg(&csv)
        .arg(&spec_path)
        .output();
    match spark {
        Ok(out) if out.status.success() => {
            let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
            let seconds = v["fit_seconds"].as_f64().unwrap_or(f64::NAN);
            println!(
                "spark local[2]: {seconds:.2} s, avg_metrics {}, best {}",
                v["avg_metrics"], v["best_index"]
            );
            println!("speedup: {:.1}x", seconds / cinder_seconds);
            let spark_metrics: Vec<f64> = serde_json::from_value(v["avg_metrics"].clone())?;
            let worst = result
                .avg_metrics
                .iter()
                .zip(&spark_metrics)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            println!("largest avg_metrics difference: {worst:.2e}");
        }
        Ok(out) => eprintln!(
            "spark failed: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ),
        Err(e) => eprintln!("spark not run: {e}"),
    }
    Ok(())
}
