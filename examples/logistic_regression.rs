//! Logistic regression on Spark's sample data, on the embedded cluster: fit, evaluate, save,
//! load, predict.
//!
//! Run: `cargo run --release --example logistic_regression`

use cinder::{Context, LibSvmOptions};
use cinder_algorithms::classification::LogisticRegression;
use cinder_algorithms::evaluation::BinaryClassificationEvaluator;

fn main() -> anyhow::Result<()> {
    cinder::daemon::maybe_run_daemon();
    let cx = Context::local(2)?;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/sample_libsvm_data.txt");
    let data = cx
        .read_libsvm(
            path,
            LibSvmOptions {
                num_features: None,
                partitions: Some(4),
            },
        )?
        .cache();
    let estimator = LogisticRegression {
        reg_param: 0.01,
        elastic_net_param: 0.5,
        ..Default::default()
    };
    let model = estimator.fit_with_progress(&data, &mut |i, objective| {
        println!("iteration {i}: {objective:.6}")
    })?;
    let nonzero = model.coefficients().iter().filter(|c| **c != 0.0).count();
    println!(
        "{nonzero} of {} coefficients are non-zero; intercept {:.4}",
        model.coefficients().len(),
        model.intercept()
    );
    let scored = model.transform(&data)?;
    let metrics = BinaryClassificationEvaluator {
        label: "label".into(),
        score: "probability".into(),
        weight: None,
    }
    .metrics(&scored)?;
    println!(
        "areaUnderROC {:.4}, areaUnderPR {:.4}",
        metrics.area_under_roc, metrics.area_under_pr
    );
    let dir = std::env::temp_dir().join(format!("cinder-lr-model-{}", std::process::id()));
    model.save(&dir)?;
    let loaded = cinder_algorithms::classification::LogisticRegressionModel::load(&dir)?;
    anyhow::ensure!(
        loaded.coefficient_matrix == model.coefficient_matrix,
        "loaded model differs"
    );
    println!("saved and reloaded from {}", dir.display());
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
