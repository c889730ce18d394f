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

#[test]
fn generalized_linear_regression_json_offset_and_test_metrics() {
    let json = saved_model_evaluates_the_same(
        "ml-est-cli-glr",
        &[
            "generalized-linear-regression",
            "--data",
            &data("diabetes_train.csv"),
            "--family",
            "tweedie",
            "--variance-power",
            "1.5",
            "--link-power",
            "0",
            "--max-iter",
            "100",
            "--tol",
            "1e-10",
        ],
        &data("diabetes_test.csv"),
    );
    let tweedie = spark("glr_tweedie");
    for (key, spark_key) in [("coefficients", "coefficients"), ("p_values", "p_values")] {
        let ours = json[key].as_array().unwrap();
        let theirs = tweedie[spark_key].as_array().unwrap();
        assert_eq!(ours.len(), theirs.len(), "{key}");
        for (a, b) in ours.iter().zip(theirs) {
            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            assert!(
                (a - b).abs() <= 1e-4 * b.abs().max(1.0),
                "{key}: {a} vs Spark {b}"
            );
        }
    }
    assert!(
        json.get("aic").is_none(),
        "no AIC for tweedie, as Spark: {json}"
    );
    let rmse = json["test_metrics"]["rmse"].as_f64().unwrap();
    let spark_rmse = tweedie["test_rmse"].as_f64().unwrap();
    assert!(
        (rmse - spark_rmse).abs() < 1e-4 * spark_rmse,
        "{rmse} vs {spark_rmse}"
    );

    // The offset column is read as an offset, never as a feature.
    let json = train(&[
        "generalized-linear-regression",
        "--data",
        &data("glr_counts.csv"),
        "--family",
        "poisson",
        "--offset-col",
        "offset",
        "--weight-col",
        "weight",
    ]);
    let spark = spark("glr_poisson_offset_weight");
    assert_eq!(json["coefficients"].as_array().unwrap().len(), 3, "{json}");
    let (a, b) = (
        json["intercept"].as_f64().unwrap(),
        spark["intercept"].as_f64().unwrap(),
    );
    assert!((a - b).abs() <= 1e-4 * b.abs().max(1.0), "{a} vs Spark {b}");
    assert!(json["aic"].is_f64());

    for (args, needle) in [
        (
            vec!["--family", "poisson", "--link", "logit"],
            "logit is not a link of the poisson family",
        ),
        (vec!["--family", "gamma"], "gamma labels must be positive"),
    ] {
        let mut all = vec![
            "train",
            "generalized-linear-regression",
            "--data",
            "",
            "--workers",
            "1",
        ];
        let path = data("glr_counts.csv");
        all[3] = &path;
        all.extend(args);
        let out = run_cinder(&all);
        assert_eq!(out.status.code(), Some(1), "{all:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{err}");
    }
    let out = run_cinder(&[
        "train",
        "generalized-linear-regression",
        "--data",
        &data("sample_linear_regression_data.txt"),
        "--offset-col",
        "offset",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--offset-col needs CSV or Parquet"));
}

#[test]
fn isotonic_regression_json() {
    let json = saved_model_evaluates_the_same(
        "ml-est-cli-iso",
        &[
            "isotonic-regression",
            "--data",
            &data("sample_isotonic_regression_libsvm_data.txt"),
            "--isotonic",
            "false",
        ],
        &data("sample_isotonic_regression_libsvm_data.txt"),
    );
    let spark = spark("iso_sample_antitonic");
    assert_eq!(json["boundaries"], spark["boundaries"]);
    let (ours, theirs) = (
        json["predictions"].as_array().unwrap(),
        spark["predictions"].as_array().unwrap(),
    );
    assert_eq!(ours.len(), theirs.len());
    for (a, b) in ours.iter().zip(theirs) {
        assert!((a.as_f64().unwrap() - b.as_f64().unwrap()).abs() < 1e-9);
    }
    assert!(json["test_metrics"]["rmse"].is_f64());
}

#[test]
fn bisecting_kmeans_json() {
    let json = saved_model_evaluates_the_same(
        "ml-est-cli-bkm",
        &[
            "bisecting-kmeans",
            "--data",
            &data("iris_train.csv"),
            "--features-cols",
            "f0,f1,f2,f3",
            "--k",
            "3",
            "--seed",
            "1",
        ],
        &data("iris_test.csv"),
    );
    let spark = spark("bkm_iris_k3");
    let cost = json["cost"].as_f64().unwrap();
    let spark_cost = spark["costs"][0].as_f64().unwrap();
    assert!(cost <= spark_cost * 1.05, "{cost} vs Spark {spark_cost}");
    assert_eq!(json["centers"].as_array().unwrap().len(), 3);
    assert!(json["test_metrics"]["silhouette"].as_f64().unwrap() > 0.5);
    let out = run_cinder(&[
        "train",
        "bisecting-kmeans",
        "--data",
        &data("iris_train.csv"),
        "--min-divisible-cluster-size",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn gaussian_mixture_json() {
    let json = saved_model_evaluates_the_same(
        "ml-est-cli-gmm",
        &[
            "gaussian-mixture",
            "--data",
            &data("iris_train.csv"),
            "--features-cols",
            "f0,f1,f2,f3",
            "--k",
            "3",
            "--seed",
            "2",
        ],
        &data("iris_test.csv"),
    );
    assert!(json["log_likelihood"].is_f64(), "{json}");
    assert_eq!(json["weights"].as_array().unwrap().len(), 3);
    assert_eq!(json["covariances"][0].as_array().unwrap().len(), 16);
    assert!(json["test_metrics"]["silhouette"].is_f64());
}

#[test]
fn one_vs_rest_json() {
    let json = saved_model_evaluates_the_same(
        "ml-est-cli-ovr",
        &[
            "one-vs-rest",
            "--data",
            &data("iris_train.csv"),
            "--classifier",
            "linear-svc",
            "--reg-param",
            "0.01",
            "--max-iter",
            "50",
        ],
        &data("iris_test.csv"),
    );
    assert_eq!(json["coefficient_matrix"].as_array().unwrap().len(), 3);
    assert!(
        json["test_metrics"]["accuracy"].as_f64().unwrap() > 0.9,
        "{json}"
    );
    let out = run_cinder(&[
        "train",
        "one-vs-rest",
        "--data",
        &data("iris_train.csv"),
        "--parallelism",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn multilayer_perceptron_json() {
    let json = saved_model_evaluates_the_same(
        "ml-est-cli-mlp",
        &[
            "multilayer-perceptron-classifier",
            "--data",
            &data("iris_train.csv"),
            "--layers",
            "4,5,3",
            "--seed",
            "1",
        ],
        &data("iris_test.csv"),
    );
    // 4·5 + 5 + 5·3 + 3 weights, flat in Spark's order.
    assert_eq!(json["weights"].as_array().unwrap().len(), 43);
    let spark = spark("mlp_iris");
    let accuracy = json["test_metrics"]["accuracy"].as_f64().unwrap();
    assert!(accuracy >= spark["test_accuracies"][0].as_f64().unwrap() - 0.05);
    let out = run_cinder(&[
        "train",
        "multilayer-perceptron-classifier",
        "--data",
        &data("iris_train.csv"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--layers is required"));
    let out = run_cinder(&[
        "train",
        "multilayer-perceptron-classifier",
        "--data",
        &data("iris_train.csv"),
        "--layers",
        "4,3",
        "--initial-weights",
        "0.5,0.5",
        "--workers",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("initialWeights"));
}

#[test]
fn factorization_machine_json() {
    let json = saved_model_evaluates_the_same(
        "ml-est-cli-fm",
        &[
            "fm-regressor",
            "--data",
            &data("diabetes_train.csv"),
            "--factor-size",
            "4",
            "--step-size",
            "0.1",
            "--max-iter",
            "100",
        ],
        &data("diabetes_test.csv"),
    );
    // 10 features · 4 factors + 10 linear weights + the intercept.
    assert_eq!(json["weights"].as_array().unwrap().len(), 51);
    let spark = spark("fm_regressor_diabetes");
    let rmse = json["test_metrics"]["rmse"].as_f64().unwrap();
    assert!(rmse < 1.2 * spark["scores"][0].as_f64().unwrap(), "{rmse}");
    let out = run_cinder(&[
        "train",
        "fm-classifier",
        "--data",
        &data("diabetes_train.csv"),
        "--solver",
        "l-bfgs",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("adamW or gd"));
}
