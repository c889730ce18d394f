//! `cinder train --test-data` and `cinder evaluate` against metrics computed independently here
//! from the model's own coefficients and the test file.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

fn rng(seed: u64) -> impl FnMut() -> f64 {
    let mut state = seed ^ 0x9e37_79b9_7f4a_7c15;
    move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 11) as f64) / ((1u64 << 53) as f64)
    }
}

/// `label,x1,x2` rows; `classify` makes the label 0/1 with some noise, else a noisy linear
/// response.
fn write_csv(path: &Path, rows: usize, seed: u64, classify: bool) -> Vec<(f64, [f64; 2])> {
    let mut next = rng(seed);
    let mut text = String::from("label,x1,x2\n");
    let mut out = Vec::new();
    for _ in 0..rows {
        let x = [next() * 4.0 - 2.0, next() * 4.0 - 2.0];
        let signal = 1.5 * x[0] - 0.8 * x[1] + 0.3;
        let y = if classify {
            f64::from(u8::from(signal + (next() - 0.5) * 3.0 > 0.0))
        } else {
            signal + (next() - 0.5)
        };
        text.push_str(&format!("{y},{},{}\n", x[0], x[1]));
        out.push((y, x));
    }
    std::fs::write(path, text).unwrap();
    out
}

fn train_json(args: &[&str]) -> Value {
    let out = run_cinder(args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn close(name: &str, got: &Value, want: f64) {
    let got = got.as_f64().unwrap_or_else(|| panic!("{name} missing"));
    assert!(
        (got - want).abs() <= 1e-9 * want.abs().max(1.0),
        "{name}: cinder {got}, independent {want}"
    );
}

#[test]
fn regression_metrics_match_an_independent_computation() {
    let dir = test_dir("eval-linear");
    let (train, test) = (dir.join("train.csv"), dir.join("test.csv"));
    write_csv(&train, 300, 1, false);
    let rows = write_csv(&test, 200, 2, false);
    let model_dir = dir.join("model");
    let json = train_json(&[
        "train",
        "linear-regression",
        "--data",
        train.to_str().unwrap(),
        "--test-data",
        test.to_str().unwrap(),
        "--out",
        model_dir.to_str().unwrap(),
        "--json",
    ]);
    let beta: Vec<f64> = serde_json::from_value(json["coefficients"].clone()).unwrap();
    let b0 = json["intercept"].as_f64().unwrap();
    let n = rows.len() as f64;
    let errors: Vec<f64> = rows
        .iter()
        .map(|(y, x)| y - (b0 + beta[0] * x[0] + beta[1] * x[1]))
        .collect();
    let mse = errors.iter().map(|e| e * e).sum::<f64>() / n;
    let mae = errors.iter().map(|e| e.abs()).sum::<f64>() / n;
    let mean = rows.iter().map(|r| r.0).sum::<f64>() / n;
    let total = rows.iter().map(|r| (r.0 - mean).powi(2)).sum::<f64>();
    let r2 = 1.0 - mse * n / total;
    let m = &json["test_metrics"];
    close("mse", &m["mse"], mse);
    close("rmse", &m["rmse"], mse.sqrt());
    close("mae", &m["mae"], mae);
    close("r2", &m["r2"], r2);
    assert!(json["training_metrics"]["r2"].as_f64().unwrap() > 0.8);
    // `cinder evaluate` on the saved model gives the same figures.
    let evaluated = train_json(&[
        "evaluate",
        "--model",
        model_dir.to_str().unwrap(),
        "--data",
        test.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(evaluated["algorithm"], "linear-regression");
    assert_eq!(evaluated["metrics"], json["test_metrics"]);
}

#[test]
fn classification_metrics_match_an_independent_computation() {
    let dir = test_dir("eval-logistic");
    let (train, test) = (dir.join("train.csv"), dir.join("test.csv"));
    write_csv(&train, 300, 3, true);
    let rows = write_csv(&test, 150, 4, true);
    let json = train_json(&[
        "train",
        "logistic-regression",
        "--data",
        train.to_str().unwrap(),
        "--test-data",
        test.to_str().unwrap(),
        "--json",
    ]);
    let beta: Vec<f64> = serde_json::from_value(json["coefficients"].clone()).unwrap();
    let b0 = json["intercept"].as_f64().unwrap();
    let scored: Vec<(f64, f64)> = rows
        .iter()
        .map(|(y, x)| {
            let margin = b0 + beta[0] * x[0] + beta[1] * x[1];
            (*y, 1.0 / (1.0 + (-margin).exp()))
        })
        .collect();
    let n = scored.len() as f64;
    let correct = scored
        .iter()
        .filter(|(y, p)| (*p > 0.5) == (*y > 0.5))
        .count() as f64;
    // AUC as the probability that a positive outscores a negative (ties count half).
    let (pos, neg): (Vec<_>, Vec<_>) = scored.iter().partition(|(y, _)| *y > 0.5);
    let mut wins = 0.0;
    for (_, p) in &pos {
        for (_, q) in &neg {
            wins += if p > q {
                1.0
            } else if p == q {
                0.5
            } else {
                0.0
            };
        }
    }
    let auc = wins / (pos.len() * neg.len()) as f64;
    let log_loss = scored
        .iter()
        .map(|(y, p)| {
            let p_label = if *y > 0.5 { *p } else { 1.0 - p };
            -p_label.clamp(1e-15, 1.0 - 1e-15).ln()
        })
        .sum::<f64>()
        / n;
    let m = &json["test_metrics"];
    close("logLoss", &m["logLoss"], log_loss);
    close("accuracy", &m["accuracy"], correct / n);
    close("areaUnderROC", &m["areaUnderROC"], auc);
    for key in ["areaUnderPR", "f1", "weightedPrecision", "weightedRecall"] {
        let v = m[key].as_f64().unwrap_or_else(|| panic!("{key}"));
        assert!((0.0..=1.0).contains(&v), "{key} {v}");
    }
    assert!(json["training_metrics"]["areaUnderROC"].as_f64().unwrap() > 0.8);
}

#[test]
fn data_may_be_a_directory_of_part_files_or_a_glob() {
    let dir = test_dir("eval-inputs");
    let parts = dir.join("parts");
    std::fs::create_dir_all(&parts).unwrap();
    write_csv(&parts.join("part-00000.csv"), 100, 5, false);
    write_csv(&parts.join("part-00001.csv"), 100, 6, false);
    std::fs::write(parts.join("_SUCCESS"), "").unwrap();
    let train = |data: &str| {
        train_json(&[
            "train",
            "linear-regression",
            "--data",
            data,
            "--format",
            "csv",
            "--json",
        ])
    };
    let from_dir = train(parts.to_str().unwrap());
    let from_glob = train(parts.join("part-*.csv").to_str().unwrap());
    assert_eq!(from_dir, from_glob);
    // The same rows in one file give the same model (up to summation order).
    let mut text = String::from("label,x1,x2\n");
    for part in ["part-00000.csv", "part-00001.csv"] {
        let body = std::fs::read_to_string(parts.join(part)).unwrap();
        text.push_str(body.split_once('\n').unwrap().1);
    }
    let single = dir.join("all.csv");
    std::fs::write(&single, text).unwrap();
    let from_file = train(single.to_str().unwrap());
    let coef =
        |v: &Value| -> Vec<f64> { serde_json::from_value(v["coefficients"].clone()).unwrap() };
    for (a, b) in coef(&from_dir).iter().zip(coef(&from_file)) {
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }
    let missing = run_cinder(&[
        "train",
        "kmeans",
        "--data",
        dir.join("nothing-*.csv").to_str().unwrap(),
    ]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("names no input file"));
}

#[test]
fn recommendations_are_the_users_best_predicted_items() {
    let dir = test_dir("eval-recommend");
    let model = dir.join("als");
    let ratings = format!(
        "{}/data/als/sample_movielens_ratings.txt",
        env!("CARGO_MANIFEST_DIR")
    );
    let trained = run_cinder(&[
        "train",
        "als",
        "--data",
        &ratings,
        "--format",
        "movielens",
        "--rank",
        "5",
        "--out",
        model.to_str().unwrap(),
    ]);
    assert!(
        trained.status.success(),
        "{}",
        String::from_utf8_lossy(&trained.stderr)
    );
    let out = run_cinder(&[
        "recommend",
        "--model",
        model.to_str().unwrap(),
        "--users",
        "3",
        "--k",
        "4",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<(i64, i64, f64)> = text
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[0].parse().unwrap(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
            )
        })
        .collect();
    assert_eq!(rows.len(), 4, "{text}");
    assert!(rows.iter().all(|r| r.0 == 3));
    assert!(
        rows.windows(2).all(|w| w[0].2 >= w[1].2),
        "best first: {text}"
    );
    // Independently: predict user 3 with every item the data knows; the recommended items
    // are the 4 highest predictions, with the same ratings.
    let items: std::collections::BTreeSet<i64> = std::fs::read_to_string(&ratings)
        .unwrap()
        .lines()
        .filter_map(|l| l.split("::").nth(1)?.parse().ok())
        .collect();
    let pairs = dir.join("pairs.csv");
    let mut csv = String::from("user,item\n");
    for item in &items {
        csv.push_str(&format!("3,{item}\n"));
    }
    std::fs::write(&pairs, csv).unwrap();
    let predicted = run_cinder(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--data",
        pairs.to_str().unwrap(),
    ]);
    assert!(
        predicted.status.success(),
        "{}",
        String::from_utf8_lossy(&predicted.stderr)
    );
    let mut scores: Vec<(i64, f64)> = String::from_utf8(predicted.stdout)
        .unwrap()
        .lines()
        .skip(1) // row,user,item,prediction
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f[1], "3", "{l}");
            (f[2].parse().unwrap(), f[f.len() - 1].parse().unwrap())
        })
        .collect();
    scores.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    for ((_, item, rating), (best, score)) in rows.iter().zip(&scores) {
        assert_eq!(item, best);
        assert!((rating - score).abs() < 1e-9, "{rating} vs {score}");
    }
}

/// Spark's evaluators on the same data and parameters (`tools/spark_reference.py`, cases
/// `eval_*`): the `training_metrics` agree.
#[test]
fn training_metrics_agree_with_sparks_evaluators() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/spark_reference.json"
    ))
    .unwrap();
    let spark: Value = serde_json::from_str(&text).unwrap();
    let data = |f: &str| format!("{}/data/{f}", env!("CARGO_MANIFEST_DIR"));
    let converged = ["--max-iter", "1000", "--tol", "1e-12", "--json"];
    let cases: [(&str, Vec<String>); 4] = [
        (
            "eval_logistic_binomial",
            vec!["logistic-regression", "--reg-param", "0.01"]
                .into_iter()
                .map(String::from)
                .chain(["--data".into(), data("sample_libsvm_data.txt")])
                .collect(),
        ),
        (
            "eval_logistic_multinomial",
            vec![
                "logistic-regression",
                "--reg-param",
                "0.01",
                "--family",
                "multinomial",
            ]
            .into_iter()
            .map(String::from)
            .chain([
                "--data".into(),
                data("sample_multiclass_classification_data.txt"),
            ])
            .collect(),
        ),
        (
            "eval_linear",
            vec!["linear-regression", "--reg-param", "0.3"]
                .into_iter()
                .map(String::from)
                .chain(["--data".into(), data("sample_linear_regression_data.txt")])
                .collect(),
        ),
        (
            "eval_kmeans",
            vec!["kmeans", "--k", "2", "--seed", "1"]
                .into_iter()
                .map(String::from)
                .chain(["--data".into(), data("sample_kmeans_data.txt")])
                .collect(),
        ),
    ];
    for (case, args) in cases {
        let mut all: Vec<&str> = vec!["train"];
        all.extend(args.iter().map(String::as_str));
        if case == "eval_kmeans" {
            all.push("--json");
        } else {
            all.extend(converged);
        }
        let json = train_json(&all);
        let ours = &json["training_metrics"];
        let theirs = spark[case]["metrics"]
            .as_object()
            .unwrap_or_else(|| panic!("{case} missing from spark_reference.json"));
        for (metric, value) in theirs {
            let (a, b) = (ours[metric].as_f64().unwrap(), value.as_f64().unwrap());
            assert!(
                (a - b).abs() <= 1e-4 * b.abs().max(1.0),
                "{case} {metric}: cinder {a}, spark {b}"
            );
        }
    }
}
