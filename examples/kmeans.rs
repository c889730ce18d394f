//! K-means on Spark's sample data, with the silhouette of the clustering.
//!
//! Run: `cargo run --release --example kmeans`

use cinder::{Context, LibSvmOptions};
use cinder_algorithms::clustering::{ClusteringEvaluator, KMeans};

fn main() -> anyhow::Result<()> {
    cinder::daemon::maybe_run_daemon();
    let cx = Context::local(2)?;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/sample_kmeans_data.txt");
    let data = cx
        .read_libsvm(
            path,
            LibSvmOptions {
                num_features: None,
                partitions: Some(2),
            },
        )?
        .cache();
    let model = KMeans {
        k: 2,
        seed: 1,
        ..Default::default()
    }
    .fit(&data)?;
    println!(
        "centers {:?}, cost {:.6}, {} iterations",
        model.centers, model.cost, model.iterations
    );
    let clustered = model.transform(&data)?;
    let silhouette = ClusteringEvaluator {
        columns: model.params.columns.clone(),
        prediction: "prediction".into(),
    }
    .silhouette(&clustered)?;
    println!("silhouette {silhouette:.4}");
    Ok(())
}
