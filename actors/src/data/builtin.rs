//! Built-in operators every worker carries: a deterministic numeric generator, column sums,
//! a threshold filter, and a delay (for tests and the chaos harness to make jobs take time).

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, BooleanArray, Float64Array, RecordBatch};
use serde::{Deserialize, Serialize};

use super::aggregate::Aggregator;
use super::exec::unit_hash;

/// Arguments of the `cinder.range` generator.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RangeArgs {
    /// Rows in every partition.
    pub rows_per_partition: u64,
    /// Float64 columns `c0`, `c1`, ...
    pub columns: u32,
    /// Seed of the values.
    pub seed: u64,
}

/// `cinder.range`: partition `p` holds `rows_per_partition` rows of `columns` Float64 columns
/// with values in `[0, 1)` that depend only on `(seed, p, row, column)`.
pub fn range(partition: u32, _partitions: u32, args: &[u8]) -> Result<RecordBatch, String> {
    let args: RangeArgs = rmp_serde::from_slice(args).map_err(|e| format!("bad arguments: {e}"))?;
    let columns: Vec<(String, ArrayRef)> = (0..args.columns)
        .map(|c| {
            let values = (0..args.rows_per_partition).map(|row| {
                unit_hash(
                    args.seed,
                    partition,
                    row * u64::from(args.columns) + u64::from(c),
                )
            });
            (
                format!("c{c}"),
                Arc::new(Float64Array::from_iter_values(values)) as ArrayRef,
            )
        })
        .collect();
    if columns.is_empty() {
        return Err("columns must be at least 1".into());
    }
    RecordBatch::try_from_iter(columns).map_err(|e| e.to_string())
}
crate::register_generator!("cinder.range", range);

/// `cinder.delay`: returns its input unchanged after sleeping `args` milliseconds (u64).
pub fn delay(batch: &RecordBatch, args: &[u8]) -> Result<RecordBatch, String> {
    let ms: u64 = rmp_serde::from_slice(args).map_err(|e| format!("bad arguments: {e}"))?;
    std::thread::sleep(std::time::Duration::from_millis(ms.min(60_000)));
    Ok(batch.clone())
}
crate::register_map!("cinder.delay", delay);

/// Arguments of `cinder.greater_than`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdArgs {
    /// A Float64 column.
    pub column: String,
    /// Rows with a value above it are kept.
    pub value: f64,
}

/// `cinder.greater_than`: keeps rows whose Float64 `column` is above `value`.
pub fn greater_than(batch: &RecordBatch, args: &[u8]) -> Result<BooleanArray, String> {
    let args: ThresholdArgs =
        rmp_serde::from_slice(args).map_err(|e| format!("bad arguments: {e}"))?;
    let column = batch
        .column_by_name(&args.column)
        .ok_or_else(|| format!("no column {:?}", args.column))?;
    let values = column
        .as_any()
        .downcast_ref::<Float64Array>()
        .ok_or_else(|| format!("column {:?} is not Float64", args.column))?;
    Ok(values.iter().map(|v| v.map(|v| v > args.value)).collect())
}
crate::register_filter!("cinder.greater_than", greater_than);

/// Arguments of `cinder.floor_times`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FloorTimesArgs {
    /// A Float64 column.
    pub column: String,
    /// Multiplier applied before flooring.
    pub factor: f64,
}

/// `cinder.floor_times`: an Int64 column `floor(column * factor)` (e.g. a bucket key).
pub fn floor_times(batch: &RecordBatch, args: &[u8]) -> Result<ArrayRef, String> {
    let args: FloorTimesArgs =
        rmp_serde::from_slice(args).map_err(|e| format!("bad arguments: {e}"))?;
    let values = batch
        .column_by_name(&args.column)
        .ok_or_else(|| format!("no column {:?}", args.column))?
        .as_any()
        .downcast_ref::<Float64Array>()
        .ok_or_else(|| format!("column {:?} is not Float64", args.column))?;
    Ok(Arc::new(
        values
            .iter()
            .map(|v| v.map(|v| (v * args.factor).floor() as i64))
            .collect::<arrow_array::Int64Array>(),
    ))
}
crate::register_column!("cinder.floor_times", floor_times);

/// Sums of every Float64 column and the row count.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ColumnSums {
    /// Rows seen.
    pub rows: u64,
    /// One sum per Float64 column, in schema order.
    pub sums: Vec<f64>,
}

/// `cinder.sum_f64`: [`ColumnSums`] over a dataset.
pub struct SumF64;

impl Aggregator for SumF64 {
    const NAME: &'static str = "cinder.sum_f64";
    type Args = ();
    type Acc = ColumnSums;

    fn zero(_: &()) -> ColumnSums {
        ColumnSums::default()
    }

    fn seq(mut acc: ColumnSums, batch: &RecordBatch, _: &()) -> Result<ColumnSums, String> {
        let columns: Vec<&Float64Array> = batch
            .columns()
            .iter()
            .filter_map(|c| c.as_any().downcast_ref::<Float64Array>())
            .collect();
        if acc.sums.is_empty() {
            acc.sums = vec![0.0; columns.len()];
        }
        if acc.sums.len() != columns.len() {
            return Err(format!(
                "{} Float64 columns, expected {}",
                columns.len(),
                acc.sums.len()
            ));
        }
        for (sum, column) in acc.sums.iter_mut().zip(columns) {
            *sum += column.values().iter().sum::<f64>();
        }
        acc.rows += batch.num_rows() as u64;
        Ok(acc)
    }

    fn comb(a: ColumnSums, b: ColumnSums, _: &()) -> ColumnSums {
        if a.sums.is_empty() {
            return ColumnSums {
                rows: a.rows + b.rows,
                sums: b.sums,
            };
        }
        if b.sums.is_empty() {
            return ColumnSums {
                rows: a.rows + b.rows,
                sums: a.sums,
            };
        }
        ColumnSums {
            rows: a.rows + b.rows,
            sums: a.sums.iter().zip(&b.sums).map(|(x, y)| x + y).collect(),
        }
    }
}
crate::register_aggregator!(SumF64);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::aggregate::aggregate_function;
    use crate::data::functions::{filter_function, generate_function, map_function};

    #[test]
    fn builtins_are_registered_and_deterministic() {
        let gen = generate_function("cinder.range").unwrap();
        let args = rmp_serde::to_vec_named(&RangeArgs {
            rows_per_partition: 100,
            columns: 3,
            seed: 7,
        })
        .unwrap();
        let a = gen(2, 4, &args).unwrap();
        assert_eq!(a, gen(2, 4, &args).unwrap());
        assert_ne!(a, gen(3, 4, &args).unwrap());
        assert_eq!((a.num_rows(), a.num_columns()), (100, 3));
        assert!(map_function("cinder.delay").is_ok());
        let keep = filter_function("cinder.greater_than").unwrap();
        let t = rmp_serde::to_vec_named(&ThresholdArgs {
            column: "c0".into(),
            value: 0.5,
        })
        .unwrap();
        let mask = keep(&a, &t).unwrap();
        assert!(mask.true_count() > 20 && mask.true_count() < 80);
        let sum = aggregate_function("cinder.sum_f64").unwrap();
        let unit = rmp_serde::to_vec_named(&()).unwrap();
        let partial = (sum.partial)(&a, &unit).unwrap();
        let total: ColumnSums =
            rmp_serde::from_slice(&(sum.combine)(&[partial.clone(), partial], &unit).unwrap())
                .unwrap();
        assert_eq!(total.rows, 200);
        assert!(matches!(
            map_function("nope"),
            Err(crate::wire::TaskError::MissingFunction { .. })
        ));
    }
}
