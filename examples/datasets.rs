//! Load -> transform -> cache -> actions on the embedded cluster, with a user function that
//! runs on the workers (the same-binary model: the workers are this very executable).
//!
//! Run: `cargo run --release --example datasets`

use std::sync::Arc;
use std::time::Duration;

use arrow_array::{Array, ArrayRef, Float64Array, Int64Array, RecordBatch};
use cinder::builtin::{ColumnSums, SumF64, ThresholdArgs};
use cinder::{AggFunc, AggSpec, Context, LibSvmOptions};

/// A user function: the label as a sign, -1.0 for 0 and +1.0 for 1.
fn label_sign(batch: &RecordBatch, _args: &[u8]) -> Result<ArrayRef, String> {
    let labels = batch
        .column_by_name("label")
        .and_then(|c| c.as_any().downcast_ref::<Float64Array>())
        .ok_or("no Float64 label column")?;
    Ok(Arc::new(
        labels
            .iter()
            .map(|l| l.map(|l| 2.0 * l - 1.0))
            .collect::<Float64Array>(),
    ))
}
cinder::register_column!("example.label_sign", label_sign);

fn main() -> anyhow::Result<()> {
    cinder::daemon::maybe_run_daemon();
    let cx = Context::local(2)?;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/sample_libsvm_data.txt");
    let options = LibSvmOptions {
        num_features: None,
        partitions: Some(4),
    };
    let data = cx.read_libsvm(path, options)?.cache();
    println!(
        "loaded {} rows in {} partitions",
        data.count()?,
        data.num_partitions()
    );

    let positives = data.filter(
        "cinder.greater_than",
        &ThresholdArgs {
            column: "label".into(),
            value: 0.5,
        },
    )?;
    println!("positive examples: {}", positives.count()?);

    let signs = data
        .with_column("sign", "example.label_sign", &())?
        .select(&["sign"]);
    let sums: ColumnSums = signs.aggregate::<SumF64>(&())?;
    println!("sum of signs (positives - negatives): {}", sums.sums[0]);

    let counts = data.select(&["label"]).group_aggregate(
        &["label"],
        &[AggSpec {
            column: String::new(),
            func: AggFunc::Count,
            alias: "rows".into(),
        }],
        2,
    )?;
    for batch in counts.collect()? {
        let labels = batch
            .column(0)
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        let rows = batch
            .column(1)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        for i in 0..batch.num_rows() {
            println!("label {}: {} rows", labels.value(i), rows.value(i));
        }
    }
    // Block figures travel with heartbeats (every second): wait for the cache to show.
    let status = cx.wait_for_status("cached blocks reported", Duration::from_secs(5), |s| {
        s.workers.iter().map(|w| w.blocks).sum::<u64>() >= 4
    })?;
    for w in &status.workers {
        println!(
            "{}: {} cached blocks, {} bytes in memory",
            w.id, w.blocks, w.memory_used_bytes
        );
    }
    Ok(())
}
