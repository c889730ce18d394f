//! Linear regression with elastic net on Spark's sample data, both solvers.
//!
//! Run: `cargo run --release --example linear_regression`

use cinder::{Context, LibSvmOptions};
use cinder_algorithms::regression::{LinearRegression, Solver};

fn main() -> anyhow::Result<()> {
    cinder::daemon::maybe_run_daemon();
    let cx = Context::local(2)?;
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/sample_linear_regression_data.txt"
    );
    let data = cx
        .read_libsvm(
            path,
            LibSvmOptions {
                num_features: None,
                partitions: Some(4),
            },
        )?
        .cache();
    for solver in [Solver::LBfgs, Solver::Normal] {
        let model = LinearRegression {
            reg_param: 0.3,
            elastic_net_param: 0.8,
            solver,
            ..Default::default()
        }
        .fit(&data)?;
        println!(
            "{solver:?}: intercept {:.4}, rmse {:.4}, r2 {:.4}, {} iterations, coefficients {:?}",
            model.intercept, model.rmse, model.r2, model.summary.iterations, model.coefficients
        );
    }
    Ok(())
}
