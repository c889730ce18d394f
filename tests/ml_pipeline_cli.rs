//! `cinder train --pipeline` as users run it: the `--json` contract (stages, test metrics,
//! tuning), test metrics within 0.005 of Spark's on the census-like table, a saved pipeline
//! that a new process loads and that predicts and evaluates to the same bits, string labels
//! back from `IndexToString`, and usage errors (exit 2) for algorithm flags given with
//! `--pipeline`.

mod common;

use common::*;
use serde_json::Value;

fn data(file: &str) -> String {
    format!("{}/data/{file}", env!("CARGO_MANIFEST_DIR"))
}

fn reference() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/spark_reference_pipeline.json"
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

fn json_of(args: &[&str]) -> Value {
    let out = run_cinder(args);
    assert!(
        out.status.success(),
        "cinder {args:?}: {}",
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

fn write_spec(dir: &std::path::Path, name: &str, spec: &Value) -> String {
    let path = dir.join(name);
    std::fs::write(&path, spec.to_string()).unwrap();
    path.display().to_string()
}

#[test]
fn pipeline_trains_saves_and_predicts_the_same_in_a_new_process() {
    let dir = test_dir("pipeline_cli_saved");
    let reference = reference();
    let mut spec = reference["lr_spec"].clone();
    spec.as_object_mut().unwrap().remove("tuning");
    // String predictions back: IndexToString over the label indexer's metadata.
    spec["stages"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"class": "IndexToString",
            "params": {"inputCol": "prediction", "outputCol": "predicted_income",
                       "labels": ["<=50K", ">50K"]}}));
    let spec_path = write_spec(&dir, "spec.json", &spec);
    let model = dir.join("model");
    let model_s = model.display().to_string();
    let (train, test) = (data("census_train.csv"), data("census_test.csv"));
    let out = json_of(&[
        "train",
        "--pipeline",
        &spec_path,
        "--data",
        &train,
        "--test-data",
        &test,
        "--out",
        &model_s,
        "--json",
    ]);
    let stages = out["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 8);
    assert_eq!(
        stages[0],
        serde_json::json!({"class": "StringIndexer", "uid": "StringIndexer_0"})
    );
    assert_eq!(stages[6]["uid"], "LogisticRegression_6");
    let spark = &reference["lr_test_metrics"];
    for metric in ["areaUnderROC", "areaUnderPR", "accuracy", "f1", "logLoss"] {
        let (ours, theirs) = (
            out["test_metrics"][metric].as_f64().unwrap(),
            spark[metric].as_f64().unwrap(),
        );
        assert!(
            (ours - theirs).abs() <= 0.005,
            "{metric}: {ours} vs Spark {theirs}"
        );
    }
    assert!(out.get("tuning").is_none());
    assert!(model.join("metadata.json").is_file());
    assert!(model
        .join("stages/6_LogisticRegression_6/data.arrow")
        .is_file());

    // A new process: the same metrics, bit for bit.
    let evaluated = json_of(&["evaluate", "--model", &model_s, "--data", &test, "--json"]);
    assert_eq!(evaluated["metrics"], out["test_metrics"]);
    assert_eq!(evaluated["algorithm"], "pipeline");

    // Predictions twice from the saved pipeline: the same bytes, string labels included.
    let predict = || {
        let out = run_cinder(&["predict", "--model", &model_s, "--data", &test]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let first = predict();
    assert_eq!(first, predict());
    let mut lines = first.lines();
    let header = lines.next().unwrap();
    assert!(header.ends_with(",prediction,predicted_income"), "{header}");
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 600);
    for row in &rows {
        let cells: Vec<&str> = row.split(',').collect();
        let (prediction, income) = (cells[cells.len() - 2], cells[cells.len() - 1]);
        assert_eq!(
            income,
            if prediction == "1" { ">50K" } else { "<=50K" },
            "{row}"
        );
    }

    // A corrupted stage is an error naming the file, never a different model.
    let data_json = model.join("stages/0_StringIndexer_0/data.json");
    let text = std::fs::read_to_string(&data_json).unwrap();
    std::fs::write(&data_json, text.replacen("Private", "Privatf", 1)).unwrap();
    let out = run_cinder(&["evaluate", "--model", &model_s, "--data", &test]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("checksum") && stderr.contains("data.json"),
        "{stderr}"
    );
}

#[test]
fn tuning_prints_its_contract_and_agrees_with_spark() {
    let dir = test_dir("pipeline_cli_tuning");
    let reference = reference();
    let spec_path = write_spec(&dir, "spec.json", &reference["lr_spec"]);
    let train = data("census_train.csv");
    let out = json_of(&[
        "train",
        "--pipeline",
        &spec_path,
        "--data",
        &train,
        "--json",
    ]);
    let tuning = &out["tuning"];
    let ours: Vec<f64> = tuning["avg_metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let theirs: Vec<f64> = reference["cv_avg_metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(ours.len(), 4);
    for (a, b) in ours.iter().zip(&theirs) {
        assert!((a - b).abs() <= 0.005, "{a} vs Spark {b}");
    }
    let best = tuning["best_index"].as_u64().unwrap() as usize;
    assert_eq!(best as u64, reference["cv_best_index"].as_u64().unwrap());
    assert!(ours.iter().all(|m| *m <= ours[best]));
    // Grid order: the first entry (regParam) varies slowest.
    let grid = &reference["cv_grid"][best];
    assert_eq!(
        tuning["best_params"],
        serde_json::json!([
            {"stage": 6, "param": "regParam", "value": grid["regParam"]},
            {"stage": 6, "param": "elasticNetParam", "value": grid["elasticNetParam"]}
        ])
    );
}

#[test]
fn usage_errors_name_the_flag_or_the_stage() {
    let dir = test_dir("pipeline_cli_usage");
    let spec = serde_json::json!({"stages": [{"class": "LogisticRegression", "params": {}}]});
    let spec_path = write_spec(&dir, "spec.json", &spec);
    let train = data("census_train.csv");
    let out = run_cinder(&[
        "train",
        "--pipeline",
        &spec_path,
        "--data",
        &train,
        "--reg-param",
        "0.1",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--reg-param does not apply with --pipeline")
    );
    let out = run_cinder(&[
        "train",
        "logistic-regression",
        "--pipeline",
        &spec_path,
        "--data",
        &train,
    ]);
    assert_eq!(out.status.code(), Some(2));

    let bad = serde_json::json!({"stages": [{"class": "StringIndexr", "params": {}}]});
    let bad_path = write_spec(&dir, "bad.json", &bad);
    let out = run_cinder(&["train", "--pipeline", &bad_path, "--data", &train]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("StringIndexr") && stderr.contains("stage 0"),
        "{stderr}"
    );

    let typo = serde_json::json!({"stages": [{"class": "StringIndexer", "params": {"inputCol": "sex", "outputCol": "s", "handleInvalid": "drop"}}]});
    let typo_path = write_spec(&dir, "typo.json", &typo);
    let out = run_cinder(&["train", "--pipeline", &typo_path, "--data", &train]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("handleInvalid") && stderr.contains("drop"),
        "{stderr}"
    );

    let out = run_cinder(&[
        "train",
        "--pipeline",
        &spec_path,
        "--data",
        &train,
        "--schema",
        "age:int",
    ]);
    assert_eq!(out.status.code(), Some(2));
}
