//! A worker SIGKILLed while it holds cached partitions of a generalized linear regression's
//! (or a multilayer perceptron's) data and runs one of its passes: the fit finishes on the
//! other workers with a model bit-identical to the fault-free one (each pass combines
//! partials in partition order).

mod common;

use std::time::{Duration, Instant};

use cinder::{Context, CsvOptions};
use cinder_algorithms::regression::GeneralizedLinearRegression;
use cinder_algorithms::{FeatureCols, FeatureSpec};
use common::*;

#[test]
fn glr_survives_a_killed_worker_with_a_bit_identical_model() {
    let mut cx = Context::local_with(local_builder("ml-est-kill", 3)).unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/diabetes_train.csv");
    let data = cx
        .read_csv(
            path,
            CsvOptions {
                partitions: Some(6),
                ..CsvOptions::default()
            },
        )
        .unwrap()
        .cache();
    // Every pass takes a while, so the kill lands in the middle of the IRLS iterations.
    let slow = data.map_batches("cinder.delay", &40u64).unwrap();
    let estimator = GeneralizedLinearRegression {
        family: "poisson".into(),
        max_iter: 8,
        tol: 0.0,
        columns: FeatureSpec {
            label: "label".into(),
            weight: None,
            features: FeatureCols::Columns((0..10).map(|j| format!("f{j}")).collect()),
        },
        ..GeneralizedLinearRegression::default()
    };
    let expected = estimator.fit(&slow).unwrap();

    let (tx, rx) = std::sync::mpsc::channel();
    let trainer = {
        let (slow, estimator) = (slow.clone(), estimator.clone());
        std::thread::spawn(move || {
            estimator.fit_with_progress(&slow, &mut |i, _| {
                let _ = tx.send(i);
            })
        })
    };
    // Wait for the second IRLS step, then for worker 1 to hold cached partitions and run a
    // task of the current pass.
    while rx
        .recv_timeout(Duration::from_secs(60))
        .expect("IRLS progresses")
        < 2
    {}
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = cx.status().unwrap();
        let w = &status.workers[1];
        if w.blocks > 0 && w.tasks_running > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "worker 1 never ran a pass: {w:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    cx.local_cluster_mut().unwrap().kill_worker(1).unwrap();
    assert!(
        !trainer.is_finished(),
        "the kill landed before the fit ended"
    );
    let got = trainer.join().unwrap().expect("training survives the kill");
    let bits = |m: &cinder_algorithms::regression::GeneralizedLinearRegressionModel| {
        m.coefficients
            .iter()
            .chain([&m.intercept, &m.summary.deviance])
            .chain(&m.summary.coefficient_standard_errors)
            .map(|v| v.to_bits())
            .collect::<Vec<u64>>()
    };
    assert_eq!(
        bits(&got),
        bits(&expected),
        "bit-identical model and summary"
    );
    assert_eq!(got.summary.iterations, expected.summary.iterations);
    assert_eq!(
        cx.status().unwrap().workers[1].state,
        cinder::WorkerState::Lost
    );
}

#[test]
fn mlp_survives_a_killed_worker_with_a_bit_identical_model() {
    use cinder_algorithms::classification::MultilayerPerceptronClassifier;
    let mut cx = Context::local_with(local_builder("ml-est-kill-mlp", 3)).unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/iris_train.csv");
    let data = cx
        .read_csv(
            path,
            CsvOptions {
                partitions: Some(6),
                ..CsvOptions::default()
            },
        )
        .unwrap()
        .cache();
    let slow = data.map_batches("cinder.delay", &30u64).unwrap();
    let estimator = MultilayerPerceptronClassifier {
        layers: vec![4, 5, 3],
        max_iter: 15,
        tol: 0.0,
        seed: 11,
        columns: FeatureSpec {
            label: "label".into(),
            weight: None,
            features: FeatureCols::Columns((0..4).map(|j| format!("f{j}")).collect()),
        },
        ..MultilayerPerceptronClassifier::default()
    };
    let expected = estimator.fit(&slow).unwrap();

    let (tx, rx) = std::sync::mpsc::channel();
    let trainer = {
        let (slow, estimator) = (slow.clone(), estimator.clone());
        std::thread::spawn(move || {
            estimator.fit_with_progress(&slow, &mut |i, _| {
                let _ = tx.send(i);
            })
        })
    };
    // Wait for the third L-BFGS iteration, then for worker 1 to hold cached partitions and
    // run a task of the current gradient pass.
    while rx
        .recv_timeout(Duration::from_secs(60))
        .expect("training progresses")
        < 3
    {}
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = cx.status().unwrap();
        let w = &status.workers[1];
        if w.blocks > 0 && w.tasks_running > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "worker 1 never ran a pass: {w:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    cx.local_cluster_mut().unwrap().kill_worker(1).unwrap();
    assert!(
        !trainer.is_finished(),
        "the kill landed before the fit ended"
    );
    let got = trainer.join().unwrap().expect("training survives the kill");
    let bits = |w: &[f64]| w.iter().map(|v| v.to_bits()).collect::<Vec<u64>>();
    assert_eq!(
        bits(&got.weights),
        bits(&expected.weights),
        "bit-identical weights"
    );
    assert_eq!(
        got.summary.objective_history,
        expected.summary.objective_history
    );
    assert_eq!(
        cx.status().unwrap().workers[1].state,
        cinder::WorkerState::Lost
    );
}
