//! A worker SIGKILLed in the middle of training costs time, never the model: the model is
//! bit-identical to the one trained without the fault (partials are combined in partition
//! order, so every iteration sees exactly the same sums).

mod common;

use std::time::Duration;

use cinder::{Context, LibSvmOptions};
use cinder_algorithms::classification::LogisticRegression;
use cinder_algorithms::clustering::KMeans;
use common::*;

#[test]
fn training_survives_a_killed_worker_with_a_bit_identical_model() {
    let mut cx = Context::local_with(local_builder("ml-kill", 3)).unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/sample_libsvm_data.txt");
    let data = cx
        .read_libsvm(
            path,
            LibSvmOptions {
                num_features: None,
                partitions: Some(6),
            },
        )
        .unwrap()
        .cache();
    // Every pass over the data takes a while, so the kill lands mid-training.
    let slow = data.map_batches("cinder.delay", &25u64).unwrap();
    let estimator = LogisticRegression {
        reg_param: 0.01,
        max_iter: 25,
        tol: 0.0,
        ..Default::default()
    };
    let expected = estimator.fit(&slow).unwrap();

    let trainer = {
        let (slow, estimator) = (slow.clone(), estimator.clone());
        std::thread::spawn(move || estimator.fit(&slow))
    };
    std::thread::sleep(Duration::from_millis(800));
    cx.local_cluster_mut().unwrap().kill_worker(1).unwrap();
    let got = trainer.join().unwrap().expect("training survives the kill");
    let bits = |m: &cinder_algorithms::classification::LogisticRegressionModel| -> Vec<u64> {
        m.coefficients()
            .iter()
            .chain(&m.intercepts)
            .map(|v| v.to_bits())
            .collect()
    };
    assert_eq!(bits(&got), bits(&expected), "bit-identical coefficients");
    assert_eq!(
        got.summary.objective_history,
        expected.summary.objective_history
    );
    assert_eq!(
        cx.status().unwrap().workers[1].state,
        cinder::WorkerState::Lost
    );

    // K-means on the surviving workers gives the same model as before the kill, too.
    let kmeans = KMeans {
        k: 2,
        seed: 3,
        ..Default::default()
    };
    let a = kmeans.fit(&data).unwrap();
    let b = kmeans.fit(&data).unwrap();
    assert_eq!(a.centers, b.centers);
}
