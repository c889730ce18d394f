//! Spark's ML workflow on a census-like CSV: index and encode string categories, impute
//! missing ages, assemble and scale features, fit a logistic regression, evaluate it on
//! held-out data with unseen categories, tune it by cross-validation, save the best pipeline
//! and load it back.
//!
//! Run: `cargo run --release --example pipeline`

use cinder::typed_csv::typed_schema;
use cinder::{Context, CsvOptions, Dataset};
use cinder_algorithms::pipeline::{Evaluator, Pipeline, PipelineModel, PipelineSpec};
use cinder_algorithms::tuning::Tuner;

fn read(cx: &Context, name: &str) -> anyhow::Result<Dataset> {
    let path = format!("{}/data/{name}", env!("CARGO_MANIFEST_DIR"));
    // Text columns as strings, numbers as doubles, empty cells as nulls.
    let schema = typed_schema(std::path::Path::new(&path), &[])?;
    let options = CsvOptions {
        schema: Some(schema),
        partitions: Some(4),
        ..CsvOptions::default()
    };
    Ok(cx.read_csv(&path, options)?.cache())
}

/// `regParam=0.1 elasticNetParam=0.0`.
fn show(point: &[(usize, String, serde_json::Value)]) -> String {
    point
        .iter()
        .map(|(_, param, value)| format!("{param}={value}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn main() -> anyhow::Result<()> {
    cinder::daemon::maybe_run_daemon();
    let cx = Context::local(2)?;
    let train = read(&cx, "census_train.csv")?;
    let test = read(&cx, "census_test.csv")?;
    // The spec is Spark's class and parameter names (the same file `cinder train --pipeline`
    // reads): StringIndexer, Imputer, OneHotEncoder, VectorAssembler, StandardScaler,
    // LogisticRegression, and a CrossValidator over regParam x elasticNetParam.
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/census_pipeline.json"
    ))?;
    let spec = PipelineSpec::parse(&text)?;

    let model = Pipeline::<Dataset>::from_specs(&spec.stages)?.fit(&train)?;
    let auc = Evaluator::new("BinaryClassificationEvaluator", Default::default())?;
    println!(
        "test areaUnderROC: {:.4}",
        auc.evaluate(&model.transform(&test)?)?
    );

    let tuning = spec.tuning.as_ref().expect("the spec has a tuning section");
    let result = Tuner::from_spec(tuning)?.fit(&spec, &train)?;
    for (point, metric) in result.points.iter().zip(&result.avg_metrics) {
        println!("{}: avg areaUnderROC {metric:.4}", show(point));
    }
    let best = result.best_model;
    println!(
        "best: {}, test areaUnderROC {:.4}",
        show(&result.points[result.best_index]),
        auc.evaluate(&best.transform(&test)?)?
    );

    let dir = tempfile::tempdir()?;
    let saved = dir.path().join("census-model");
    let classes: Vec<String> = spec.stages.iter().map(|s| s.class.clone()).collect();
    best.save(&saved, &classes, serde_json::Value::Null)?;
    let (loaded, _) = PipelineModel::<Dataset>::load(&saved)?;
    println!(
        "reloaded from {}: test areaUnderROC {:.4}",
        saved.display(),
        auc.evaluate(&loaded.transform(&test)?)?
    );
    Ok(())
}
