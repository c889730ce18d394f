//! Bad input as users have it, table-driven over the `cinder` binary: each case's exit code
//! (2 usage, 1 runtime), a message naming what and where, nothing on stdout for a failed run,
//! and nothing written to `--out`. Plus the inputs that must work: NaN rows skipped on
//! request, k-means using every CSV column, a flipped byte in a saved model.

mod common;

use std::path::Path;

use common::*;

fn data(file: &str) -> String {
    format!("{}/data/{file}", env!("CARGO_MANIFEST_DIR"))
}

struct Case {
    name: &'static str,
    args: Vec<String>,
    code: i32,
    /// Every one of these must appear in stderr.
    says: Vec<String>,
}

fn case(name: &'static str, args: &[&str], code: i32, says: &[&str]) -> Case {
    Case {
        name,
        args: args.iter().map(|s| s.to_string()).collect(),
        code,
        says: says.iter().map(|s| s.to_string()).collect(),
    }
}

fn check(cases: Vec<Case>, out: Option<&Path>) {
    let mut failures = Vec::new();
    for c in cases {
        let args: Vec<&str> = c.args.iter().map(String::as_str).collect();
        let output = run_cinder(&args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let mut problems = Vec::new();
        if output.status.code() != Some(c.code) {
            problems.push(format!(
                "exit {:?}, expected {}",
                output.status.code(),
                c.code
            ));
        }
        for needle in &c.says {
            if !stderr.contains(needle.as_str()) {
                problems.push(format!("stderr lacks {needle:?}"));
            }
        }
        if !stdout.trim().is_empty() {
            problems.push(format!("stdout not empty: {stdout:?}"));
        }
        if out.is_some_and(Path::exists) {
            problems.push("--out was written".into());
        }
        if stderr.contains("panicked") {
            problems.push("panicked".into());
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{}: {}\n  stderr: {stderr}",
                c.name,
                problems.join("; ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn usage_errors_exit_2_at_once_naming_the_flag_and_the_range() {
    let lib = data("sample_libsvm_data.txt");
    let dir = test_dir("bad-usage");
    let out = dir.join("model");
    let out_s = out.to_str().unwrap();
    let train = |extra: &[&str]| {
        let mut v = vec!["train", "logistic-regression", "--data", lib.as_str()];
        v.extend_from_slice(extra);
        v.extend_from_slice(&["--out", out_s]);
        v.into_iter().map(str::to_string).collect::<Vec<_>>()
    };
    let c = |name, extra: &[&str], says: &[&str]| Case {
        name,
        args: train(extra),
        code: 2,
        says: says.iter().map(|s| s.to_string()).collect(),
    };
    let existing = dir.to_str().unwrap().to_string();
    let cases = vec![
        c(
            "negative regParam",
            &["--reg-param", "-1"],
            &["--reg-param -1", ">= 0"],
        ),
        c(
            "elasticNet above 1",
            &["--elastic-net-param", "1.5"],
            &["--elastic-net-param", "[0, 1]"],
        ),
        c("negative tol", &["--tol", "-1e-6"], &["--tol"]),
        c(
            "threshold above 1",
            &["--threshold", "2"],
            &["--threshold 2"],
        ),
        c(
            "k-means flag",
            &["--k", "3"],
            &["--k does not apply to logistic-regression", "kmeans"],
        ),
        c("ALS flag", &["--rank", "3"], &["--rank does not apply"]),
        c(
            "columns on LibSVM",
            &["--features-cols", "a,b"],
            &["--features-cols", "libsvm"],
        ),
        c(
            "label column on LibSVM",
            &["--label-col", "y"],
            &["--label-col"],
        ),
        c(
            "zero partitions",
            &["--partitions", "0"],
            &["--partitions 0"],
        ),
        c(
            "unknown family",
            &["--family", "poisson"],
            &["--family", "binomial"],
        ),
        c("NaN regParam", &["--reg-param", "NaN"], &["--reg-param"]),
        case_args(
            "existing --out",
            &[
                "train",
                "logistic-regression",
                "--data",
                &lib,
                "--out",
                &existing,
            ],
            &["--out", "already exists"],
        ),
        case_args(
            "--out under a missing directory",
            &[
                "train",
                "logistic-regression",
                "--data",
                &lib,
                "--out",
                "/nonexistent/cinder/m",
            ],
            &["--out", "not an existing directory"],
        ),
        case_args(
            "bogus log level",
            &["--log-level", "bogus", "train", "kmeans", "--data", &lib],
            &["--log-level", "bogus"],
        ),
        case_args(
            "init steps 0",
            &["train", "kmeans", "--data", &lib, "--init-steps", "0"],
            &["--init-steps 0"],
        ),
        case_args(
            "k of 1",
            &["train", "kmeans", "--data", &lib, "--k", "1"],
            &["--k 1", "at least 2"],
        ),
        case_args(
            "unknown distance",
            &[
                "train",
                "kmeans",
                "--data",
                &lib,
                "--distance-measure",
                "manhattan",
            ],
            &["--distance-measure", "cosine"],
        ),
        case_args(
            "negative implicit alpha",
            &[
                "train",
                "als",
                "--data",
                &lib,
                "--implicit-prefs",
                "true",
                "--alpha",
                "-1",
            ],
            &["--alpha -1", ">= 0"],
        ),
        case_args(
            "threshold to linear regression",
            &[
                "train",
                "linear-regression",
                "--data",
                &lib,
                "--threshold",
                "0.3",
            ],
            &["--threshold does not apply to linear-regression"],
        ),
    ];
    check(cases, Some(&out));
}

fn case_args(name: &'static str, args: &[&str], says: &[&str]) -> Case {
    case(name, args, 2, says)
}

#[test]
fn data_errors_name_the_file_and_the_value_and_skip_works() {
    let dir = test_dir("bad-data");
    let nan = dir.join("nan.csv");
    std::fs::write(
        &nan,
        "label,x1,x2\n1,0.5,1.0\n0,nan,2.0\n1,0.1,inf\n0,0.3,0.2\n1,0.9,0.1\n0,0.2,0.8\n",
    )
    .unwrap();
    let all_nan = dir.join("all_nan.csv");
    std::fs::write(&all_nan, "label,x1\n1,nan\n0,nan\n").unwrap();
    let out = dir.join("model");
    let (nan_s, out_s) = (nan.to_str().unwrap(), out.to_str().unwrap());
    let cases = vec![
        case(
            "NaN feature",
            &[
                "train",
                "logistic-regression",
                "--data",
                nan_s,
                "--json",
                "--out",
                out_s,
            ],
            1,
            &[nan_s, "column \"x1\" is NaN", "--handle-invalid skip"],
        ),
        case(
            "nothing left after skipping",
            &[
                "train",
                "linear-regression",
                "--data",
                all_nan.to_str().unwrap(),
                "--handle-invalid",
                "skip",
                "--out",
                out_s,
            ],
            1,
            &["no row is left"],
        ),
        case(
            "missing file",
            &[
                "train",
                "kmeans",
                "--data",
                "/nonexistent/x.txt",
                "--out",
                out_s,
            ],
            1,
            &["/nonexistent/x.txt"],
        ),
    ];
    check(cases, Some(&out));
    // Skipping trains on the finite rows, and no JSON model ever holds a null.
    for algorithm in ["logistic-regression", "linear-regression", "kmeans"] {
        let output = run_cinder(&[
            "train",
            algorithm,
            "--data",
            nan_s,
            "--handle-invalid",
            "skip",
            "--json",
        ]);
        assert!(
            output.status.success(),
            "{algorithm}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let json = String::from_utf8(output.stdout).unwrap();
        assert!(!json.contains("null"), "{algorithm}: {json}");
    }
    // k-means on a CSV uses every column (no column is a label): 3-dimensional centers.
    let output = run_cinder(&[
        "train",
        "kmeans",
        "--data",
        nan_s,
        "--handle-invalid",
        "skip",
        "--json",
    ]);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["centers"][0].as_array().unwrap().len(), 3, "{json}");
}

#[test]
fn saved_models_guard_their_integrity_and_their_feature_count() {
    let dir = test_dir("bad-model");
    let model = dir.join("model");
    let (model_s, lib) = (model.to_str().unwrap(), data("sample_libsvm_data.txt"));
    // A model over 3 features, then data with 692.
    let small = dir.join("small.txt");
    std::fs::write(
        &small,
        "1 1:0.5 2:1.0 3:0.1\n0 1:0.1 2:0.2 3:0.9\n1 1:0.9 3:0.2\n0 2:0.8\n",
    )
    .unwrap();
    let trained = run_cinder(&[
        "train",
        "logistic-regression",
        "--data",
        small.to_str().unwrap(),
        "--out",
        model_s,
    ]);
    assert!(
        trained.status.success(),
        "{}",
        String::from_utf8_lossy(&trained.stderr)
    );
    let ok = run_cinder(&[
        "predict",
        "--model",
        model_s,
        "--data",
        small.to_str().unwrap(),
    ]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let cases = vec![case(
        "more features than the model",
        &["predict", "--model", model_s, "--data", &lib],
        1,
        &["model has 3 features, data has 692", &lib],
    )];
    check(cases, None);
    // One flipped byte in data.arrow is an error naming the file, never another model.
    let data_file = model.join("data.arrow");
    let mut bytes = std::fs::read(&data_file).unwrap();
    let last = bytes.len() / 2;
    bytes[last] ^= 0x40;
    std::fs::write(&data_file, bytes).unwrap();
    let cases = vec![case(
        "flipped byte",
        &[
            "predict",
            "--model",
            model_s,
            "--data",
            small.to_str().unwrap(),
        ],
        1,
        &["data.arrow", "checksum mismatch"],
    )];
    check(cases, None);
}
