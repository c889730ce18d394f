//! Reading and writing files over a real cluster: Parquet, CSV and Arrow IPC round trips,
//! atomic writes that leave nothing behind on failure, CSV errors with line numbers, and
//! checkpoints that cut lineage.

mod common;

use arrow_array::{Array, Float64Array, Int64Array};
use cinder::builtin::{ColumnSums, RangeArgs, SumF64};
use cinder::{CsvOptions, CsvType, FileFormat};
use common::*;

fn range(cx: &cinder::Context) -> cinder::Dataset {
    let args = RangeArgs {
        rows_per_partition: 1_000,
        columns: 3,
        seed: 4,
    };
    cx.generate("cinder.range", &args, 4).unwrap()
}

#[test]
fn parquet_csv_and_ipc_round_trip() {
    let cx = local_context("io-roundtrip", 2);
    let dir = test_dir("io-roundtrip-out");
    let ds = range(&cx);
    let original = ds.collect_batch().unwrap();

    ds.write(dir.join("pq"), FileFormat::Parquet).unwrap();
    assert!(dir.join("pq/_SUCCESS").exists());
    let back = cx.read_parquet(dir.join("pq")).unwrap();
    assert_eq!(back.num_partitions(), 4);
    assert_eq!(back.collect_batch().unwrap(), original, "parquet is exact");

    ds.write(dir.join("ipc"), FileFormat::ArrowIpc).unwrap();
    assert_eq!(
        cx.read_ipc(dir.join("ipc"))
            .unwrap()
            .collect_batch()
            .unwrap(),
        original
    );

    ds.write(dir.join("csv"), FileFormat::Csv).unwrap();
    let part = dir.join("csv/part-00000.csv");
    let csv = cx.read_csv(&part, CsvOptions::default()).unwrap();
    let batch = csv.collect_batch().unwrap();
    assert_eq!(batch.num_rows(), 1_000);
    let c0 = batch
        .column(0)
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap();
    let o0 = original
        .column(0)
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap();
    assert_eq!(
        c0.values()[..],
        o0.values()[..1_000],
        "floats survive CSV exactly"
    );

    let err = ds.write(dir.join("pq"), FileFormat::Parquet).unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
}

#[test]
fn a_failed_write_leaves_nothing_behind() {
    let cx = local_context("io-failed-write", 2);
    let dir = test_dir("io-failed-write-out");
    let broken = range(&cx)
        .map_batches("user.missing_function", &())
        .unwrap();
    let err = broken
        .write(dir.join("out"), FileFormat::Parquet)
        .unwrap_err();
    assert!(err.to_string().contains("user.missing_function"), "{err}");
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "nothing written: {left:?}");
}

#[test]
fn csv_schema_inference_given_schema_and_bad_lines() {
    let cx = local_context("io-csv", 1);
    let dir = test_dir("io-csv-in");
    let path = dir.join("people.csv");
    let mut text = String::from("id;age;name\n");
    for i in 0..200 {
        text.push_str(&format!("{i};{};p{i}\n", 20 + i % 50));
    }
    std::fs::write(&path, &text).unwrap();
    let options = CsvOptions {
        delimiter: b';',
        partitions: Some(3),
        ..Default::default()
    };
    let ds = cx.read_csv(&path, options.clone()).unwrap();
    let batch = ds.collect_batch().unwrap();
    assert_eq!(batch.num_rows(), 200);
    let ids = batch
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    assert_eq!(
        ids.values().to_vec(),
        (0..200).collect::<Vec<i64>>(),
        "split order is file order"
    );

    let given = CsvOptions {
        schema: Some(vec![
            ("id".into(), CsvType::Utf8),
            ("age".into(), CsvType::Float64),
            ("name".into(), CsvType::Utf8),
        ]),
        ..options.clone()
    };
    let typed = cx.read_csv(&path, given).unwrap().collect_batch().unwrap();
    assert!(typed
        .column(1)
        .as_any()
        .downcast_ref::<Float64Array>()
        .is_some());

    text.push_str("200;old;p200\n");
    std::fs::write(&path, &text).unwrap();
    let err = cx
        .read_csv(
            &path,
            CsvOptions {
                schema: Some(vec![
                    ("id".into(), CsvType::Int64),
                    ("age".into(), CsvType::Int64),
                    ("name".into(), CsvType::Utf8),
                ]),
                ..options
            },
        )
        .unwrap()
        .count()
        .unwrap_err();
    assert!(err.to_string().contains("people.csv:202:"), "{err}");
    let err = cx
        .read_csv(dir.join("nope.csv"), CsvOptions::default())
        .unwrap_err();
    assert!(err.to_string().contains("nope.csv"), "{err}");
}

#[test]
fn checkpoints_cut_lineage_and_keep_results() {
    let cx = local_context("io-checkpoint", 2);
    let dir = test_dir("io-checkpoint-out");
    let long = range(&cx).sample(0.9, 1).unwrap().select(&["c0", "c2"]);
    let expected: ColumnSums = long.aggregate::<SumF64>(&()).unwrap();
    let saved = long.checkpoint(dir.join("ckpt")).unwrap();
    assert_eq!(
        saved.lineage().nodes.len(),
        1,
        "lineage starts at the files"
    );
    assert_eq!(saved.aggregate::<SumF64>(&()).unwrap(), expected);
    saved.foreach_partition("cinder.delay", &1u64).unwrap();
    assert_eq!(
        saved.collect().unwrap()[0].column(0).len(),
        long.collect().unwrap()[0].num_rows()
    );
}

/// One Parquet row group is cut into row ranges: the default count depends only on the file
/// (at least 4 partitions), a chosen count is honoured, and the rows come back exactly, in
/// order, whatever the cut.
#[test]
fn a_single_parquet_row_group_fills_every_partition() {
    let cx = local_context("io-parquet-ranges", 2);
    let dir = test_dir("io-parquet-ranges-out");
    let one = cx
        .generate(
            "cinder.range",
            &RangeArgs {
                rows_per_partition: 1_001,
                columns: 2,
                seed: 9,
            },
            1,
        )
        .unwrap();
    let original = one.collect_batch().unwrap();
    one.write(dir.join("pq"), FileFormat::Parquet).unwrap();
    let file = dir.join("pq/part-00000.parquet");
    let by_default = cx.read_parquet(&file).unwrap();
    assert_eq!(
        by_default.num_partitions(),
        4,
        "at least 4, from the input alone"
    );
    assert_eq!(by_default.collect_batch().unwrap(), original);
    for n in [3, 7] {
        let ds = cx
            .read_parquet_with(
                &file,
                cinder::ParquetOptions {
                    partitions: Some(n),
                },
            )
            .unwrap();
        assert_eq!(ds.num_partitions(), n);
        let parts = ds.collect().unwrap();
        let sizes: Vec<usize> = parts.iter().map(|b| b.num_rows()).collect();
        assert!(
            sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1,
            "even ranges: {sizes:?}"
        );
        assert_eq!(ds.collect_batch().unwrap(), original, "{n} partitions");
    }
}

/// A text or Parquet split is a byte range or row group of the file as planned: read from a
/// file rewritten since, it would mix two versions of the data. The job fails instead, with
/// the file named, whether the file changed before the first run or before a recomputation.
#[test]
fn an_input_changed_since_planning_fails_the_job() {
    let cx = local_context("io-input-changed", 1);
    let dir = test_dir("io-input-changed-data");
    let file = dir.join("points.csv");
    let rows = |n: usize| {
        let mut text = String::from("x,y\n");
        for i in 0..n {
            text.push_str(&format!("{i},{}\n", i * 2));
        }
        text
    };
    std::fs::write(&file, rows(10)).unwrap();
    let options = || CsvOptions {
        partitions: Some(2),
        ..CsvOptions::default()
    };
    let changed = |path: &std::path::Path| {
        format!(
            "input changed since the job was planned: {}",
            path.canonicalize().unwrap().display()
        )
    };

    // Cached, then rewritten: the cached partitions still answer; a recomputation refuses.
    let cached = cx.read_csv(&file, options()).unwrap().cache();
    assert_eq!(cached.count().unwrap(), 10);
    std::fs::write(&file, rows(25)).unwrap();
    assert_eq!(cached.count().unwrap(), 10, "served from the cache");
    cached.unpersist().unwrap();
    let err = cached.count().unwrap_err().to_string();
    assert!(err.contains(&changed(&file)), "{err}");
    assert!(err.contains("after 1 attempt(s)"), "not retried: {err}");

    // Planned, then rewritten before the action.
    let planned = cx.read_csv(&file, options()).unwrap();
    std::fs::write(&file, rows(7)).unwrap();
    let err = planned.count().unwrap_err().to_string();
    assert!(err.contains(&changed(&file)), "{err}");
    assert_eq!(cx.read_csv(&file, options()).unwrap().count().unwrap(), 7);

    // Parquet: a file replaced by another one between planning and the action.
    range(&cx)
        .write(dir.join("a"), FileFormat::Parquet)
        .unwrap();
    cx.generate(
        "cinder.range",
        &RangeArgs {
            rows_per_partition: 10,
            columns: 3,
            seed: 5,
        },
        1,
    )
    .unwrap()
    .write(dir.join("b"), FileFormat::Parquet)
    .unwrap();
    let part = dir.join("a/part-00000.parquet");
    let parquet = cx.read_parquet(&part).unwrap();
    std::fs::copy(dir.join("b/part-00000.parquet"), &part).unwrap();
    let err = parquet.count().unwrap_err().to_string();
    assert!(err.contains(&changed(&part)), "{err}");
}
