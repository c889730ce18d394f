//! The job API over a real embedded cluster: sources, transformations and actions, lineage
//! determinism, and clear errors for missing functions, missing files and malformed lines.

mod common;

use std::sync::Arc;

use arrow_array::{Array, Float64Array, Int64Array, RecordBatch, StructArray};
use cinder::builtin::{ColumnSums, RangeArgs, SumF64, ThresholdArgs};
use cinder::{Dataset, LibSvmOptions};
use common::*;

fn range(cx: &cinder::Context, partitions: u32, rows: u64) -> Dataset {
    let args = RangeArgs {
        rows_per_partition: rows,
        columns: 3,
        seed: 11,
    };
    cx.generate("cinder.range", &args, partitions).unwrap()
}

fn ints(values: &[i64]) -> RecordBatch {
    RecordBatch::try_from_iter([("x", Arc::new(Int64Array::from(values.to_vec())) as _)]).unwrap()
}

#[test]
fn actions_over_generated_and_parallelized_data() {
    let cx = local_context("datasets-actions", 2);
    let ds = range(&cx, 6, 1_000);
    assert_eq!(ds.count().unwrap(), 6_000);
    let batch = ds.collect_batch().unwrap();
    assert_eq!((batch.num_rows(), batch.num_columns()), (6_000, 3));

    // The aggregate equals a local fold of the collected rows, in partition order.
    let sums: ColumnSums = ds.aggregate::<SumF64>(&()).unwrap();
    assert_eq!(sums.rows, 6_000);
    let mut local = vec![0.0f64; 3];
    for part in ds.collect().unwrap() {
        for (c, total) in local.iter_mut().enumerate() {
            let col = part
                .column(c)
                .as_any()
                .downcast_ref::<Float64Array>()
                .unwrap();
            *total += col.values().iter().sum::<f64>();
        }
    }
    assert_eq!(sums.sums, local, "bit-identical to the local fold");
    let tree: ColumnSums = ds.tree_aggregate::<SumF64>(&(), 2).unwrap();
    assert_eq!(tree.rows, 6_000);
    for (a, b) in tree.sums.iter().zip(&sums.sums) {
        assert!((a - b).abs() < 1e-9, "{a} vs {b}");
    }

    let take = ds.take(1_500).unwrap();
    assert_eq!(take.num_rows(), 1_500);
    assert_eq!(take, batch.slice(0, 1_500), "take keeps partition order");

    let small = cx
        .parallelize(vec![ints(&[1, 2]), ints(&[3]), ints(&[])])
        .unwrap();
    let union = small.union(&small);
    assert_eq!(union.num_partitions(), 6);
    let all = union.collect_batch().unwrap();
    let xs = all.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
    assert_eq!(xs.values().to_vec(), vec![1, 2, 3, 1, 2, 3]);
}

#[test]
fn transformations_are_deterministic_per_seed() {
    let cx = local_context("datasets-transform", 2);
    let ds = range(&cx, 4, 2_000);
    let high = ds
        .filter(
            "cinder.greater_than",
            &ThresholdArgs {
                column: "c1".into(),
                value: 0.75,
            },
        )
        .unwrap();
    let n = high.count().unwrap();
    assert!((1_700..2_300).contains(&n), "{n}");
    assert_eq!(high.count().unwrap(), n);

    let picked = ds.select(&["c2", "c0"]).collect_batch().unwrap();
    let names: Vec<_> = picked
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, ["c2", "c0"]);

    let sample = ds.sample(0.25, 5).unwrap();
    assert_eq!(
        sample.collect_batch().unwrap(),
        sample.collect_batch().unwrap()
    );
    let parts = ds.random_split(&[0.6, 0.4], 9).unwrap();
    let (a, b) = (parts[0].count().unwrap(), parts[1].count().unwrap());
    assert_eq!(a + b, 8_000, "every row lands in exactly one split");
    assert!((4_500..5_100).contains(&a), "{a}");

    let doubled = ds.map_batches("cinder.delay", &0u64).unwrap();
    assert_eq!(
        doubled.collect_batch().unwrap(),
        ds.collect_batch().unwrap()
    );
}

#[test]
fn persist_and_unpersist_manage_blocks_on_the_workers() {
    let cx = local_context("datasets-persist", 2);
    let ds = range(&cx, 4, 500).persist(cinder::StorageLevel::MemoryOnly, 1);
    ds.materialize().unwrap();
    cx.wait_for_status("4 blocks", std::time::Duration::from_secs(10), |s| {
        s.workers.iter().map(|w| w.blocks).sum::<u64>() == 4
    })
    .unwrap();
    ds.unpersist().unwrap();
    cx.wait_for_status("no blocks", std::time::Duration::from_secs(10), |s| {
        s.workers
            .iter()
            .all(|w| w.blocks == 0 && w.memory_used_bytes == 0)
    })
    .unwrap();
    assert_eq!(ds.count().unwrap(), 2_000, "still computable from lineage");
}

#[test]
fn missing_functions_and_columns_fail_clearly() {
    let cx = local_context("datasets-errors", 1);
    let ds = range(&cx, 2, 10);
    let err = ds
        .map_batches("user.not_in_this_binary", &())
        .unwrap()
        .count()
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("\"user.not_in_this_binary\"") && text.contains("not registered"),
        "{text}"
    );
    assert!(text.contains("after 1 attempt"), "not retried: {text}");

    let err = ds.select(&["nope"]).count().unwrap_err().to_string();
    assert!(err.contains("no column \"nope\""), "{err}");
    // The cluster still works after failed jobs.
    assert_eq!(ds.count().unwrap(), 20);
}

#[test]
fn libsvm_loads_with_spark_semantics_and_reports_bad_lines() {
    let cx = local_context("datasets-libsvm", 2);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/sample_libsvm_data.txt");
    let ds = cx
        .read_libsvm(
            path,
            LibSvmOptions {
                num_features: None,
                partitions: Some(3),
            },
        )
        .unwrap();
    assert_eq!(ds.count().unwrap(), 100);
    let batch = ds.collect_batch().unwrap();
    let features = batch
        .column(1)
        .as_any()
        .downcast_ref::<StructArray>()
        .unwrap();
    let sizes = features
        .column(0)
        .as_any()
        .downcast_ref::<arrow_array::Int32Array>()
        .unwrap();
    assert!(
        sizes.iter().all(|s| s == Some(692)),
        "numFeatures inferred as 692"
    );
    let labels = batch
        .column(0)
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap();
    assert_eq!(labels.values().iter().filter(|l| **l == 1.0).count(), 57);

    let err = cx
        .read_libsvm("/no/such/file.txt", LibSvmOptions::default())
        .unwrap_err();
    assert!(err.to_string().contains("/no/such/file.txt"), "{err}");

    let dir = test_dir("datasets-libsvm-bad");
    let bad = dir.join("bad.txt");
    std::fs::write(&bad, "1 1:0.5\n0 2:1.5\n1 3:zero\n").unwrap();
    let ds = cx
        .read_libsvm(
            &bad,
            LibSvmOptions {
                num_features: Some(10),
                partitions: Some(2),
            },
        )
        .unwrap();
    let err = ds.count().unwrap_err().to_string();
    assert!(err.contains("bad.txt:3: value \"zero\""), "{err}");
    let err = cx
        .read_libsvm(&bad, LibSvmOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("bad.txt:3"), "inference reports it too: {err}");
}
