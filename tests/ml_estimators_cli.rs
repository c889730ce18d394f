//! `cinder train` for the estimators of issue 17 as users run them: the issue's `--json`
//! fields, `--test-data` metrics equal to Spark's recorded test accuracy, saved models that
//! `cinder predict` and `cinder evaluate` read back, and flags refused where they do not apply.

mod common;

use common::*;
use serde_json::Value;

fn data(file: &str) -> String {
    format!("{}/data/{file}", env!("CARGO_MANIFEST_DIR"))
}

fn train(args: &[&str]) -> Value {
    let mut all = vec!["train"];
    all.extend_from_slice(args);
    all.extend(["--json", "--workers", "1"]);
    let out = run_cinder(&all);
    assert!(
        out.status.success(),
        "cinder {all:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.trim().lines().count(),
        1,
        "one JSON object: {stdout}"
    );
    serde_json::from_str(stdout.trim()).unwrap()
}

fn spark(case: &str) -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/spark_reference_estimators.json"
    ))
    .unwrap();
    serde_json::from_str::<Value>(&text).unwrap()[case].clone()
}

/// Trains, saves, and checks that `cinder evaluate` on the saved model gives the test metrics
/// `cinder train --test-data` printed.
fn saved_model_evaluates_the_same(name: &str, args: &[&str], test: &str) -> Value {
    let dir = test_dir(name);
    let model = dir.join("model");
    let mut all = args.to_vec();
    all.extend(["--test-data", test, "--out", model.to_str().unwrap()]);
    let json = train(&all);
    let out = run_cinder(&[
        "evaluate",
        "--model",
        model.to_str().unwrap(),
        "--data",
        test,
        "--json",
        "--workers",
        "1",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let evaluated: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(evaluated["metrics"], json["test_metrics"], "{name}");
    let predicted = run_cinder(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--data",
        test,
        "--workers",
        "1",
    ]);
    assert!(predicted.status.success());
    let text = String::from_utf8_lossy(&predicted.stdout);
    assert!(
        text.lines().next().unwrap().ends_with(",prediction"),
        "{text}"
    );
    json
}

#[test]
fn naive_bayes_json_and_test_metrics() {
    let json = saved_model_evaluates_the_same(
        "ml-est-cli-nb",
        &[
            "naive-bayes",
            "--data",
            &data("iris_train.csv"),
            "--model-type",
            "gaussian",
        ],
        &data("iris_test.csv"),
    );
    for key in ["pi", "theta", "sigma"] {
        assert!(json[key].is_array(), "{key} in {json}");
    }
    let spark = spark("nb_gaussian_iris");
    assert_eq!(json["test_metrics"]["accuracy"], spark["test_accuracy"]);
    assert_eq!(
        json["training_metrics"]["accuracy"],
        spark["training_accuracy"]
    );

    let out = run_cinder(&[
        "train",
        "naive-bayes",
        "--data",
        &data("iris_train.csv"),
        "--reg-param",
        "0.1",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--reg-param does not apply to naive-bayes"),
        "{err}"
    );
    let out = run_cinder(&[
        "train",
        "naive-bayes",
        "--data",
        &data("sample_multiclass_classification_data.txt"),
        "--workers",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("non-negative feature values"), "{err}");
}

#[test]
fn linear_svc_json_and_test_metrics() {
    let json = saved_model_evaluates_the_same(
        "ml-est-cli-svc",
        &[
            "linear-svc",
            "--data",
            &data("breast_cancer_train.csv"),
            "--reg-param",
            "0.01",
            "--max-iter",
            "50",
            "--threshold",
            "-0.25",
        ],
        &data("breast_cancer_test.csv"),
    );
    assert_eq!(json["coefficients"].as_array().unwrap().len(), 30, "{json}");
    assert!(json["intercept"].is_f64(), "{json}");
    let metrics = &json["test_metrics"];
    for key in ["accuracy", "f1", "areaUnderROC", "areaUnderPR"] {
        assert!(metrics[key].as_f64().unwrap() > 0.9, "{key} in {metrics}");
    }
    let out = run_cinder(&[
        "train",
        "linear-svc",
        "--data",
        &data("iris_train.csv"),
        "--workers",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("binary classifier"), "{err}");
}
