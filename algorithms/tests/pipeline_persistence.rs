//! Saved pipelines: every featurizer class and an estimator through save and load give the
//! same output bits; corrupt, partial and foreign directories are errors naming the file;
//! tuning by random folds and by a train/validation split covers every row exactly once per
//! split and does not depend on `parallelism`.

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray};
use cinder_algorithms::feature::columns::{nominal_names, nominal_size, vector_size};
use cinder_algorithms::pipeline::spec::{PipelineSpec, StageSpec};
use cinder_algorithms::pipeline::{Pipeline, PipelineModel};
use cinder_algorithms::tuning::Tuner;
use cinder_algorithms::LocalFrame;
use serde_json::json;

/// 3 partitions of a small table: a category with a missing cell, two numbers (one with a
/// null and a NaN), a binary label that depends on them.
fn frame() -> LocalFrame {
    let batches = (0..3)
        .map(|p| {
            let n = 40;
            let cat: Vec<Option<&str>> = (0..n)
                .map(|i| match (i + p) % 5 {
                    0 => None,
                    1 | 2 => Some("a"),
                    3 => Some("b"),
                    _ => Some("c"),
                })
                .collect();
            let x: Vec<Option<f64>> = (0..n)
                .map(|i| match i {
                    7 => None,
                    11 => Some(f64::NAN),
                    _ => Some(((i * 7 + p * 3) % 23) as f64 - 5.0),
                })
                .collect();
            let y: Vec<f64> = (0..n).map(|i| ((i * 13 + p) % 17) as f64 / 4.0).collect();
            let label: Vec<f64> = (0..n)
                .map(|i| f64::from(((i * 7 + p * 3) % 23 + (i * 13 + p) % 17) % 3 == 0))
                .collect();
            RecordBatch::try_from_iter([
                ("cat", Arc::new(StringArray::from(cat)) as ArrayRef),
                ("x", Arc::new(Float64Array::from(x)) as ArrayRef),
                ("y", Arc::new(Float64Array::from(y)) as ArrayRef),
                ("label", Arc::new(Float64Array::from(label)) as ArrayRef),
            ])
            .unwrap()
        })
        .collect();
    LocalFrame { batches }
}

fn every_stage() -> PipelineSpec {
    serde_json::from_value(json!({"stages": [
        {"class": "StringIndexer", "params": {"inputCol": "cat", "outputCol": "cat_idx", "handleInvalid": "keep", "stringOrderType": "alphabetAsc"}},
        {"class": "OneHotEncoder", "params": {"inputCol": "cat_idx", "outputCol": "cat_vec"}},
        {"class": "Imputer", "params": {"inputCols": ["x"], "outputCols": ["x_f"], "strategy": "median"}},
        {"class": "Binarizer", "params": {"inputCol": "y", "outputCol": "y_bin", "threshold": 2.0}},
        {"class": "Bucketizer", "params": {"inputCol": "y", "outputCol": "y_bucket", "splits": ["-Infinity", 1.0, 2.5, "Infinity"]}},
        {"class": "QuantileDiscretizer", "params": {"inputCol": "x_f", "outputCol": "x_q", "numBuckets": 3}},
        {"class": "VectorAssembler", "params": {"inputCols": ["x_f", "y", "cat_vec"], "outputCol": "raw"}},
        {"class": "MinMaxScaler", "params": {"inputCol": "raw", "outputCol": "mm"}},
        {"class": "MaxAbsScaler", "params": {"inputCol": "mm", "outputCol": "ma"}},
        {"class": "Normalizer", "params": {"inputCol": "ma", "outputCol": "nz", "p": "Infinity"}},
        {"class": "StandardScaler", "params": {"inputCol": "raw", "outputCol": "features", "withMean": true}},
        {"class": "LogisticRegression", "params": {"regParam": 0.1, "maxIter": 30}},
        {"class": "IndexToString", "params": {"inputCol": "cat_idx", "outputCol": "cat_back"}}
    ]}))
    .unwrap()
}

#[test]
fn every_stage_saves_and_loads_to_the_same_bits() {
    let data = frame();
    let spec = every_stage();
    let model = Pipeline::<LocalFrame>::from_specs(&spec.stages)
        .unwrap()
        .fit(&data)
        .unwrap();
    let before = model.transform(&data).unwrap();
    let schema = before.batches[0].schema();
    // Metadata for later stages: the indexer's names (with "__unknown"), vector sizes.
    let idx = schema.field_with_name("cat_idx").unwrap();
    assert_eq!(
        nominal_names(idx).unwrap(),
        ["a", "b", "c", "__unknown"].map(String::from)
    );
    assert_eq!(nominal_size(idx), Some(4));
    let cat_vec = schema.field_with_name("cat_vec").unwrap();
    assert_eq!(vector_size(cat_vec), Some(3));
    assert_eq!(vector_size(schema.field_with_name("raw").unwrap()), Some(5));

    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("p");
    let classes: Vec<String> = spec.stages.iter().map(|s| s.class.clone()).collect();
    model.save(&saved, &classes, json!({"note": 1})).unwrap();
    let (loaded, metadata) = PipelineModel::<LocalFrame>::load(&saved).unwrap();
    assert_eq!(metadata.extra, json!({"note": 1}));
    assert_eq!(metadata.stages[5].class, "QuantileDiscretizer");
    let after = loaded.transform(&data).unwrap();
    assert_eq!(before.batches, after.batches);
    assert!(
        model.save(&saved, &classes, json!(null)).is_err(),
        "refuses to overwrite"
    );

    // Foreign, partial and corrupt directories.
    let meta = saved.join("stages/7_MinMaxScaler_7/metadata.json");
    let text = std::fs::read_to_string(&meta).unwrap();
    std::fs::write(&meta, text.replace("MinMaxScaler", "MaxAbsScaler")).unwrap();
    let e = PipelineModel::<LocalFrame>::load(&saved)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("checksum") && e.contains("7_MinMaxScaler_7"),
        "{e}"
    );
    std::fs::write(&meta, text).unwrap();
    std::fs::remove_file(saved.join("stages/11_LogisticRegression_11/data.arrow")).unwrap();
    let e = PipelineModel::<LocalFrame>::load(&saved)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("data.arrow"), "{e}");
    let e = PipelineModel::<LocalFrame>::load(dir.path())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("metadata.json"), "{e}");
}

#[test]
fn bad_parameters_name_the_stage_and_the_parameter() {
    let bad = |stage: serde_json::Value| {
        let specs: Vec<StageSpec> = serde_json::from_value(json!([stage])).unwrap();
        Pipeline::<LocalFrame>::from_specs(&specs)
            .err()
            .unwrap()
            .to_string()
    };
    let e = bad(
        json!({"class": "Bucketizer", "params": {"inputCol": "y", "outputCol": "b", "splits": [0, 0, 1]}}),
    );
    assert!(
        e.contains("strictly increasing") && e.contains("stage 0"),
        "{e}"
    );
    let e = bad(
        json!({"class": "Imputer", "params": {"inputCol": "x", "outputCol": "f", "strategy": "max"}}),
    );
    assert!(e.contains("strategy") && e.contains("max"), "{e}");
    let e = bad(json!({"class": "LogisticRegression", "params": {"predictionCol": "p"}}));
    assert!(e.contains("predictionCol"), "{e}");
    let e = bad(
        json!({"class": "OneHotEncoder", "params": {"inputCols": ["a", "b"], "outputCols": ["c"]}}),
    );
    assert!(e.contains("pair up"), "{e}");
    let e = bad(
        json!({"class": "MinMaxScaler", "params": {"inputCol": "a", "outputCol": "b", "min": 1, "max": 1}}),
    );
    assert!(e.contains("min"), "{e}");
}

fn tuning_spec(tuning: serde_json::Value) -> PipelineSpec {
    serde_json::from_value(json!({
        "stages": [
            {"class": "Imputer", "params": {"inputCol": "x", "outputCol": "x_f"}},
            {"class": "VectorAssembler", "params": {"inputCols": ["x_f", "y"], "outputCol": "features"}},
            {"class": "LinearRegression", "params": {"labelCol": "y", "maxIter": 20}}],
        "tuning": tuning}))
    .unwrap()
}

#[test]
fn random_folds_and_train_validation_split_are_deterministic() {
    let data = frame();
    for tuning in [
        json!({"class": "CrossValidator", "params": {"numFolds": 3, "seed": 5, "parallelism": 3},
               "evaluator": {"class": "RegressionEvaluator", "params": {"labelCol": "y"}},
               "paramGrid": [{"stage": 2, "param": "regParam", "values": [0.0, 0.5, 5.0]}]}),
        json!({"class": "TrainValidationSplit", "params": {"trainRatio": 0.6, "seed": 5, "parallelism": 2},
               "evaluator": {"class": "RegressionEvaluator", "params": {"labelCol": "y", "metricName": "r2"}},
               "paramGrid": [{"stage": 2, "param": "regParam", "values": [0.0, 0.5, 5.0]}]}),
    ] {
        let spec = tuning_spec(tuning);
        let tuner = Tuner::from_spec(spec.tuning.as_ref().unwrap()).unwrap();
        let a = tuner.fit(&spec, &data).unwrap();
        let mut serial = tuner.clone();
        serial.parallelism = 1;
        let b = serial.fit(&spec, &data).unwrap();
        let bits = |m: &[f64]| m.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&a.avg_metrics), bits(&b.avg_metrics));
        assert_eq!(a.avg_metrics.len(), 3);
        // y is a feature of itself: no penalty fits it best (smallest rmse, largest r2).
        assert_eq!(a.best_index, 0, "{:?}", a.avg_metrics);
        let larger = tuner.evaluator.is_larger_better();
        assert!(a
            .avg_metrics
            .windows(2)
            .all(|w| if larger { w[0] >= w[1] } else { w[0] <= w[1] }));
    }
    let bad = tuning_spec(json!({"class": "CrossValidator", "params": {"numFolds": 1},
        "evaluator": {"class": "RegressionEvaluator"}}));
    assert!(Tuner::from_spec(bad.tuning.as_ref().unwrap()).is_err());
}
