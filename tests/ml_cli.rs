//! `cinder train` and `cinder predict` as users run them: the JSON contract of every
//! algorithm, ALS against Spark's recorded RMSE (within 2%), saved models that predict the
//! same as before they were saved, and clear errors for bad model directories.

mod common;

use common::*;
use serde_json::Value;

fn data(file: &str) -> String {
    format!("{}/data/{file}", env!("CARGO_MANIFEST_DIR"))
}

fn train(args: &[&str]) -> Value {
    let mut all = vec!["train"];
    all.extend_from_slice(args);
    all.push("--json");
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
        "exactly one JSON object: {stdout}"
    );
    serde_json::from_str(stdout.trim()).unwrap()
}

fn spark(case: &str) -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/spark_reference.json"
    ))
    .unwrap();
    serde_json::from_str::<Value>(&text).unwrap()[case].clone()
}

#[test]
fn every_algorithm_prints_its_json_contract() {
    let lr = train(&[
        "logistic-regression",
        "--data",
        &data("sample_libsvm_data.txt"),
        "--reg-param",
        "0.01",
        "--max-iter",
        "20",
    ]);
    for key in [
        "coefficients",
        "intercept",
        "objective_history",
        "iterations",
    ] {
        assert!(!lr[key].is_null(), "{key} in {lr}");
    }
    assert_eq!(lr["coefficients"].as_array().unwrap().len(), 692);
    let multi = train(&[
        "logistic-regression",
        "--data",
        &data("sample_multiclass_classification_data.txt"),
        "--max-iter",
        "20",
    ]);
    assert_eq!(multi["coefficient_matrix"].as_array().unwrap().len(), 3);
    assert_eq!(multi["intercepts"].as_array().unwrap().len(), 3);
    let linear = train(&[
        "linear-regression",
        "--data",
        &data("sample_linear_regression_data.txt"),
        "--solver",
        "l-bfgs",
    ]);
    for key in [
        "coefficients",
        "intercept",
        "rmse",
        "r2",
        "objective_history",
        "iterations",
    ] {
        assert!(!linear[key].is_null(), "{key} in {linear}");
    }
    let kmeans = train(&[
        "kmeans",
        "--data",
        &data("sample_kmeans_data.txt"),
        "--k",
        "2",
        "--seed",
        "1",
    ]);
    assert_eq!(kmeans["centers"].as_array().unwrap().len(), 2);
    let spark_cost = spark("kmeans_euclidean")["cost"].as_f64().unwrap();
    assert!((kmeans["cost"].as_f64().unwrap() - spark_cost).abs() <= 1e-6 * spark_cost);
}

#[test]
fn als_training_rmse_is_within_two_percent_of_spark() {
    let ratings = data("als/sample_movielens_ratings.txt");
    for (case, extra) in [
        ("als_explicit", vec![]),
        (
            "als_implicit",
            vec!["--implicit-prefs", "true", "--alpha", "1.0"],
        ),
    ] {
        let mut args = vec![
            "als",
            "--data",
            ratings.as_str(),
            "--format",
            "movielens",
            "--rank",
            "10",
            "--max-iter",
            "10",
            "--reg-param",
            "0.1",
        ];
        args.extend(extra);
        let ours = train(&args);
        assert_eq!(ours["rank"], 10);
        assert_eq!(ours["iterations"], 10);
        let (a, b) = (
            ours["rmse"].as_f64().unwrap(),
            spark(case)["rmse"].as_f64().unwrap(),
        );
        assert!((a - b).abs() <= 0.02 * b, "{case}: rmse {a} vs Spark {b}");
    }
}

#[test]
fn saved_models_predict_identically_and_bad_directories_are_named() {
    let dir = test_dir("ml-cli-models");
    let model = dir.join("lr");
    let input = data("sample_libsvm_data.txt");
    train(&[
        "logistic-regression",
        "--data",
        &input,
        "--reg-param",
        "0.01",
        "--out",
        model.to_str().unwrap(),
    ]);
    assert!(model.join("metadata.json").exists() && model.join("data.arrow").exists());
    let run_predict = |out: &str| {
        let o = run_cinder(&[
            "predict",
            "--model",
            model.to_str().unwrap(),
            "--data",
            &input,
            "--out",
            out,
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        std::fs::read_to_string(std::path::Path::new(out).join("part-00000.csv")).unwrap()
    };
    let first = run_predict(dir.join("p1.csv").to_str().unwrap());
    let second = run_predict(dir.join("p2.csv").to_str().unwrap());
    assert_eq!(first, second);
    assert!(
        first.starts_with(
            "label,rawPrediction_0,rawPrediction_1,probability_0,probability_1,prediction"
        ),
        "{first}"
    );

    let bad = |path: &std::path::Path, needle: &str| {
        let o = run_cinder(&[
            "predict",
            "--model",
            path.to_str().unwrap(),
            "--data",
            &input,
        ]);
        assert_eq!(o.status.code(), Some(1));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(needle), "{err}");
    };
    bad(&dir.join("missing"), "missing/metadata.json");
    let partial = dir.join("partial");
    std::fs::create_dir(&partial).unwrap();
    std::fs::copy(model.join("metadata.json"), partial.join("metadata.json")).unwrap();
    bad(&partial, "partial/data.arrow");
    let corrupt = dir.join("corrupt");
    std::fs::create_dir(&corrupt).unwrap();
    std::fs::write(corrupt.join("metadata.json"), "{not json").unwrap();
    bad(&corrupt, "corrupt");
    let err = run_cinder(&[
        "train",
        "logistic-regression",
        "--data",
        &input,
        "--out",
        model.to_str().unwrap(),
    ]);
    assert_eq!(
        err.status.code(),
        Some(2),
        "refuses to overwrite a model, before training"
    );
}

#[test]
fn train_runs_on_a_started_cluster_too() {
    let cx = local_context("ml-cli-started", 2);
    let cluster = cx.local_cluster().unwrap();
    let dir = cluster.cluster_dir().to_str().unwrap().to_string();
    let master = cluster.master_addr().to_string();
    let json = train(&[
        "kmeans",
        "--data",
        &data("sample_kmeans_data.txt"),
        "--k",
        "2",
        "--seed",
        "1",
        "--cluster",
        &dir,
        "--master",
        &master,
    ]);
    let spark_cost = spark("kmeans_euclidean")["cost"].as_f64().unwrap();
    assert!((json["cost"].as_f64().unwrap() - spark_cost).abs() <= 1e-6 * spark_cost);
    // The jobs ran on this cluster: its master saw them.
    let status = cx.status().unwrap();
    assert!(
        !status.jobs.is_empty(),
        "jobs recorded by the started cluster's master"
    );
}
