//! Shuffles over real processes: repartition, grouped aggregation and joins through the block
//! managers, and a worker SIGKILLed during a shuffle job: lost map outputs run again and the
//! result is unchanged.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::{Array, Float64Array, Int64Array, RecordBatch, StringArray};
use cinder::builtin::{FloorTimesArgs, RangeArgs};
use cinder::{AggFunc, AggSpec, Context, Dataset, JoinKind};
use common::*;

fn keyed(cx: &Context, partitions: u32, rows: u64) -> Dataset {
    let args = RangeArgs {
        rows_per_partition: rows,
        columns: 2,
        seed: 21,
    };
    cx.generate("cinder.range", &args, partitions)
        .unwrap()
        .with_column(
            "k",
            "cinder.floor_times",
            &FloorTimesArgs {
                column: "c0".into(),
                factor: 10.0,
            },
        )
        .unwrap()
}

fn aggs() -> Vec<AggSpec> {
    vec![
        AggSpec {
            column: String::new(),
            func: AggFunc::Count,
            alias: "n".into(),
        },
        AggSpec {
            column: "c1".into(),
            func: AggFunc::Sum,
            alias: "total".into(),
        },
    ]
}

/// key -> (count, sum of c1) from a grouped result.
fn groups(batch: &RecordBatch) -> BTreeMap<i64, (i64, f64)> {
    let k = batch
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    let n = batch
        .column(1)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    let s = batch
        .column(2)
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap();
    (0..batch.num_rows())
        .map(|i| (k.value(i), (n.value(i), s.value(i))))
        .collect()
}

/// The same grouping computed locally over the collected rows, in partition and row order.
fn local_groups(batch: &RecordBatch) -> BTreeMap<i64, (i64, f64)> {
    let c1 = batch
        .column_by_name("c1")
        .unwrap()
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap();
    let k = batch
        .column_by_name("k")
        .unwrap()
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    let mut out: BTreeMap<i64, (i64, f64)> = BTreeMap::new();
    for i in 0..batch.num_rows() {
        let e = out.entry(k.value(i)).or_default();
        e.0 += 1;
        e.1 += c1.value(i);
    }
    out
}

#[test]
fn group_aggregate_join_and_repartition() {
    let cx = local_context("shuffle-ops", 2);
    let ds = keyed(&cx, 6, 2_000);
    let rows = ds.collect_batch().unwrap();

    let grouped = ds.group_aggregate(&["k"], &aggs(), 3).unwrap();
    assert_eq!(grouped.num_partitions(), 3);
    let got = groups(&grouped.collect_batch().unwrap());
    assert_eq!(got.len(), 10);
    assert_eq!(got, local_groups(&rows), "bit-identical to the local fold");

    let again = repartitioned_rows(&ds.repartition(5).unwrap());
    assert_eq!(
        again,
        sorted_rows(&rows),
        "repartition keeps every row exactly once"
    );

    let names = cx
        .parallelize(vec![RecordBatch::try_from_iter([
            ("k", Arc::new(Int64Array::from(vec![0, 3, 3, 42])) as _),
            (
                "name",
                Arc::new(StringArray::from(vec!["zero", "three", "drei", "none"])) as _,
            ),
        ])
        .unwrap()])
        .unwrap();
    let joined = ds.join(&names, &["k"], JoinKind::Inner, 4).unwrap();
    let expected = got[&0].0 + 2 * got[&3].0;
    assert_eq!(joined.count().unwrap() as i64, expected);
    let left = ds
        .join(&names, &["k"], JoinKind::Left, 4)
        .unwrap()
        .collect_batch()
        .unwrap();
    assert_eq!(left.num_rows() as i64, 12_000 + got[&3].0);
    assert_eq!(
        left.column_by_name("name").unwrap().null_count() as i64,
        12_000 - got[&0].0 - got[&3].0
    );
}

fn sorted_rows(batch: &RecordBatch) -> Vec<(u64, u64)> {
    let c0 = batch
        .column(0)
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap();
    let c1 = batch
        .column(1)
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap();
    let mut rows: Vec<_> = (0..batch.num_rows())
        .map(|i| (c0.value(i).to_bits(), c1.value(i).to_bits()))
        .collect();
    rows.sort_unstable();
    rows
}

fn repartitioned_rows(ds: &Dataset) -> Vec<(u64, u64)> {
    assert_eq!(ds.num_partitions(), 5);
    sorted_rows(&ds.collect_batch().unwrap())
}

#[test]
fn killing_a_worker_during_a_shuffle_reruns_lost_map_outputs() {
    let mut cx = Context::local_with(local_builder("shuffle-kill", 3)).unwrap();
    // Fault-free result on its own lineage (its shuffle outputs are not reused below).
    let expected = groups(
        &keyed(&cx, 12, 5_000)
            .group_aggregate(&["k"], &aggs(), 4)
            .unwrap()
            .collect_batch()
            .unwrap(),
    );

    // Map tasks take 150 ms each: 12 of them on 3 one-core workers span the kill.
    let slow = keyed(&cx, 12, 5_000)
        .map_batches("cinder.delay", &150u64)
        .unwrap();
    let grouped = slow.group_aggregate(&["k"], &aggs(), 4).unwrap();
    let job = std::thread::spawn(move || grouped.collect_batch());
    std::thread::sleep(Duration::from_millis(400));
    cx.local_cluster_mut().unwrap().kill_worker(2).unwrap();
    let got = groups(&job.join().unwrap().expect("the job survives the kill"));
    assert_eq!(got, expected, "bit-identical to the fault-free result");

    let status = cx.status().unwrap();
    assert!(
        status.recomputed_partitions >= 1,
        "lost map outputs ran again: {status:?}"
    );
    let log = read(&cx.local_cluster().unwrap().log_dir().join("master.log"));
    assert!(log.contains("map output lost"), "{log}");
    assert!(log.contains("lost map output recomputed"), "{log}");
}
