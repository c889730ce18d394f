//! A worker SIGKILLed during cross-validation changes nothing: the same `avg_metrics`, best
//! index and best model, bit for bit (folds are recomputed from lineage, partials combined in
//! partition order, each grid point's metric in its own slot).

mod common;

use std::time::Duration;

use cinder::typed_csv::typed_schema;
use cinder::{Context, CsvOptions};
use cinder_algorithms::pipeline::predictors::LogisticRegressionStageModel;
use cinder_algorithms::pipeline::PipelineSpec;
use cinder_algorithms::tuning::{Tuner, TuningResult};
use common::*;

fn spec() -> PipelineSpec {
    serde_json::from_value(serde_json::json!({
        "stages": [
            {"class": "StringIndexer", "params": {"inputCols": ["workclass", "education"],
                "outputCols": ["w", "e"], "handleInvalid": "keep"}},
            {"class": "StringIndexer", "params": {"inputCol": "income", "outputCol": "label"}},
            {"class": "Imputer", "params": {"inputCols": ["age", "hours"], "outputCols": ["a", "h"]}},
            {"class": "OneHotEncoder", "params": {"inputCols": ["w", "e"], "outputCols": ["wv", "ev"]}},
            {"class": "VectorAssembler", "params": {"inputCols": ["a", "h", "wv", "ev"], "outputCol": "features"}},
            {"class": "LogisticRegression", "params": {"maxIter": 8, "tol": 0.0}}],
        "tuning": {"class": "CrossValidator", "params": {"numFolds": 3, "seed": 7, "parallelism": 2},
            "evaluator": {"class": "BinaryClassificationEvaluator"},
            "paramGrid": [{"stage": 5, "param": "regParam", "values": [0.01, 0.3]}]}}))
    .unwrap()
}

fn fingerprint(r: &TuningResult<cinder::Dataset>) -> (Vec<u64>, usize, Vec<u64>) {
    let lr = r
        .best_model
        .stages
        .last()
        .unwrap()
        .1
        .as_any()
        .downcast_ref::<LogisticRegressionStageModel>()
        .unwrap();
    let coefficients = lr
        .model
        .coefficients()
        .iter()
        .chain(&lr.model.intercepts)
        .map(|v| v.to_bits())
        .collect();
    (
        r.avg_metrics.iter().map(|v| v.to_bits()).collect(),
        r.best_index,
        coefficients,
    )
}

#[test]
fn cross_validation_survives_a_killed_worker_bit_for_bit() {
    let mut cx = Context::local_with(local_builder("pipeline-kill", 3)).unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/census_train.csv");
    let schema = typed_schema(std::path::Path::new(path), &[]).unwrap();
    let options = CsvOptions {
        schema: Some(schema),
        partitions: Some(6),
        ..CsvOptions::default()
    };
    let data = cx.read_csv(path, options).unwrap().cache();
    // Every pass takes a while, so the kill lands in the middle of the folds' fits.
    let slow = data.map_batches("cinder.delay", &20u64).unwrap();
    let spec = spec();
    let tuner = Tuner::from_spec(spec.tuning.as_ref().unwrap()).unwrap();
    let expected = fingerprint(&tuner.fit(&spec, &slow).unwrap());

    let runner = {
        let (slow, spec, tuner) = (slow.clone(), spec.clone(), tuner.clone());
        std::thread::spawn(move || tuner.fit(&spec, &slow).map(|r| fingerprint(&r)))
    };
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        !runner.is_finished(),
        "the kill must land while tuning runs"
    );
    cx.local_cluster_mut().unwrap().kill_worker(1).unwrap();
    let got = runner.join().unwrap().expect("tuning survives the kill");
    assert_eq!(
        got, expected,
        "bit-identical avg_metrics, best index and best model"
    );
    assert_eq!(
        cx.status().unwrap().workers[1].state,
        cinder::WorkerState::Lost
    );
}
