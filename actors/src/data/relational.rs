//! Relational kernels on one partition: shuffle bucketing, grouped aggregation and hash joins.
//! Every output order is a function of the input order only (groups sorted by key, join rows
//! in left order then right order), so recomputation gives the same bytes.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, Float64Array, Int32Array, Int64Array, RecordBatch, UInt32Array,
};
use arrow_schema::{DataType, Field, Schema};
use serde::{Deserialize, Serialize};

use super::keys::{build_column, key_indices, key_of, stable_hash};

/// Splits a partition's rows into `buckets` batches: by a stable hash of the key columns, or
/// round-robin (starting at the map partition index) when there are no keys.
pub fn bucketize(
    batch: &RecordBatch,
    keys: &[String],
    buckets: u32,
    map_partition: u32,
) -> Result<Vec<RecordBatch>, String> {
    let n = buckets.max(1) as usize;
    let mut rows: Vec<Vec<u32>> = vec![Vec::new(); n];
    if keys.is_empty() {
        for row in 0..batch.num_rows() {
            rows[(map_partition as usize + row) % n].push(row as u32);
        }
    } else {
        let indices = key_indices(batch, keys)?;
        for row in 0..batch.num_rows() {
            let key = key_of(batch, &indices, row)?;
            rows[(stable_hash(&key) % n as u64) as usize].push(row as u32);
        }
    }
    rows.into_iter()
        .map(|r| {
            arrow_select::take::take_record_batch(batch, &UInt32Array::from(r))
                .map_err(|e| e.to_string())
        })
        .collect()
}

/// An aggregate function of [`group_aggregate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AggFunc {
    /// Rows in the group (Int64).
    Count,
    /// Sum (Float64).
    Sum,
    /// Minimum (Float64).
    Min,
    /// Maximum (Float64).
    Max,
    /// Mean (Float64).
    Mean,
}

/// One output column of a grouped aggregation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AggSpec {
    /// Numeric input column (ignored by `Count`).
    pub column: String,
    /// The function.
    pub func: AggFunc,
    /// Output column name.
    pub alias: String,
}

#[derive(Debug, Clone, Copy)]
struct Acc {
    count: i64,
    sum: f64,
    min: f64,
    max: f64,
}

impl Acc {
    fn new() -> Self {
        Self {
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }
}

fn numeric(batch: &RecordBatch, name: &str) -> Result<Vec<Option<f64>>, String> {
    let column = batch
        .column_by_name(name)
        .ok_or_else(|| format!("no column {name:?} to aggregate"))?;
    let any = column.as_any();
    Ok(match column.data_type() {
        DataType::Float64 => any
            .downcast_ref::<Float64Array>()
            .expect("f64")
            .iter()
            .collect(),
        DataType::Int64 => any
            .downcast_ref::<Int64Array>()
            .expect("i64")
            .iter()
            .map(|v| v.map(|v| v as f64))
            .collect(),
        DataType::Int32 => any
            .downcast_ref::<Int32Array>()
            .expect("i32")
            .iter()
            .map(|v| v.map(f64::from))
            .collect(),
        other => return Err(format!("cannot aggregate column {name:?} of type {other}")),
    })
}

/// Groups rows by the key columns and computes the aggregates; groups come out sorted by key.
pub fn group_aggregate(
    batch: &RecordBatch,
    keys: &[String],
    aggs: &[AggSpec],
) -> Result<RecordBatch, String> {
    let indices = key_indices(batch, keys)?;
    let inputs: Vec<Option<Vec<Option<f64>>>> = aggs
        .iter()
        .map(|a| match a.func {
            AggFunc::Count => Ok(None),
            _ => numeric(batch, &a.column).map(Some),
        })
        .collect::<Result<_, _>>()?;
    let mut groups: BTreeMap<Vec<super::keys::KeyValue>, Vec<Acc>> = BTreeMap::new();
    for row in 0..batch.num_rows() {
        let key = key_of(batch, &indices, row)?;
        let accs = groups
            .entry(key)
            .or_insert_with(|| vec![Acc::new(); aggs.len()]);
        for (acc, input) in accs.iter_mut().zip(&inputs) {
            match input {
                None => acc.count += 1,
                Some(values) => {
                    if let Some(v) = values[row] {
                        acc.count += 1;
                        acc.sum += v;
                        acc.min = acc.min.min(v);
                        acc.max = acc.max.max(v);
                    }
                }
            }
        }
    }
    let schema = batch.schema();
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (k, &i) in indices.iter().enumerate() {
        let field = schema.field(i);
        let values: Vec<_> = groups.keys().map(|key| &key[k]).collect();
        columns.push(build_column(field.data_type(), &values)?);
        fields.push(Field::new(field.name(), field.data_type().clone(), true));
    }
    for (a, spec) in aggs.iter().enumerate() {
        let accs = groups.values().map(|accs| accs[a]);
        let column: ArrayRef = match spec.func {
            AggFunc::Count => Arc::new(Int64Array::from_iter_values(accs.map(|acc| acc.count))),
            func => Arc::new(
                accs.map(|acc| match func {
                    _ if acc.count == 0 => None,
                    AggFunc::Sum => Some(acc.sum),
                    AggFunc::Min => Some(acc.min),
                    AggFunc::Max => Some(acc.max),
                    AggFunc::Mean => Some(acc.sum / acc.count as f64),
                    AggFunc::Count => unreachable!(),
                })
                .collect::<Float64Array>(),
            ),
        };
        let data_type = column.data_type().clone();
        columns.push(column);
        fields.push(Field::new(&spec.alias, data_type, true));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(|e| e.to_string())
}

/// Which rows a join keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JoinKind {
    /// Rows with a match on both sides.
    Inner,
    /// Every left row; right columns null without a match.
    Left,
}

/// Joins two co-partitioned batches on same-named key columns. Output: the left columns, then
/// the right non-key columns (suffixed `_right` when a name clashes); rows in left order, each
/// left row's matches in right order.
pub fn hash_join(
    left: &RecordBatch,
    right: &RecordBatch,
    keys: &[String],
    kind: JoinKind,
) -> Result<RecordBatch, String> {
    let left_keys = key_indices(left, keys)?;
    let right_keys = key_indices(right, keys)?;
    let mut table: HashMap<Vec<super::keys::KeyValue>, Vec<u32>> = HashMap::new();
    for row in 0..right.num_rows() {
        table
            .entry(key_of(right, &right_keys, row)?)
            .or_default()
            .push(row as u32);
    }
    let mut left_rows = Vec::new();
    let mut right_rows: Vec<Option<u32>> = Vec::new();
    for row in 0..left.num_rows() {
        let key = key_of(left, &left_keys, row)?;
        let matches = if key.contains(&super::keys::KeyValue::Null) {
            None
        } else {
            table.get(&key)
        };
        match matches {
            Some(rows) => {
                for r in rows {
                    left_rows.push(row as u32);
                    right_rows.push(Some(*r));
                }
            }
            None if kind == JoinKind::Left => {
                left_rows.push(row as u32);
                right_rows.push(None);
            }
            None => {}
        }
    }
    let left_take = UInt32Array::from(left_rows);
    let right_take = UInt32Array::from(right_rows);
    let mut fields: Vec<Field> = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    let left_schema = left.schema();
    for (i, field) in left_schema.fields().iter().enumerate() {
        columns.push(
            arrow_select::take::take(left.column(i), &left_take, None)
                .map_err(|e| e.to_string())?,
        );
        fields.push(field.as_ref().clone());
    }
    let right_schema = right.schema();
    for (i, field) in right_schema.fields().iter().enumerate() {
        if right_keys.contains(&i) {
            continue;
        }
        let name = if left_schema.index_of(field.name()).is_ok() {
            format!("{}_right", field.name())
        } else {
            field.name().clone()
        };
        columns.push(
            arrow_select::take::take(right.column(i), &right_take, None)
                .map_err(|e| e.to_string())?,
        );
        fields.push(Field::new(name, field.data_type().clone(), true));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(|e| e.to_string())
}

/// Groups both sides by the key columns: one row per key present on either side (sorted by
/// key), with the key columns, then `left` and `right` list-of-struct columns holding each
/// side's non-key columns of that key's rows (in input order).
pub fn cogroup(
    left: &RecordBatch,
    right: &RecordBatch,
    keys: &[String],
) -> Result<RecordBatch, String> {
    let left_keys = key_indices(left, keys)?;
    let right_keys = key_indices(right, keys)?;
    let mut groups: BTreeMap<Vec<super::keys::KeyValue>, (Vec<u32>, Vec<u32>)> = BTreeMap::new();
    for row in 0..left.num_rows() {
        groups
            .entry(key_of(left, &left_keys, row)?)
            .or_default()
            .0
            .push(row as u32);
    }
    for row in 0..right.num_rows() {
        groups
            .entry(key_of(right, &right_keys, row)?)
            .or_default()
            .1
            .push(row as u32);
    }
    let schema = left.schema();
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (k, &i) in left_keys.iter().enumerate() {
        let field = schema.field(i);
        let values: Vec<_> = groups.keys().map(|key| &key[k]).collect();
        columns.push(build_column(field.data_type(), &values)?);
        fields.push(Field::new(field.name(), field.data_type().clone(), true));
    }
    for (name, side, side_keys, pick) in [
        ("left", left, &left_keys, 0usize),
        ("right", right, &right_keys, 1usize),
    ] {
        let rows: Vec<&Vec<u32>> = groups
            .values()
            .map(|(l, r)| if pick == 0 { l } else { r })
            .collect();
        let list = rows_as_lists(side, side_keys, &rows)?;
        fields.push(Field::new(name, list.data_type().clone(), false));
        columns.push(list);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(|e| e.to_string())
}

/// A list column whose i-th entry holds the non-key columns of `groups[i]`'s rows.
fn rows_as_lists(
    batch: &RecordBatch,
    key_cols: &[usize],
    groups: &[&Vec<u32>],
) -> Result<ArrayRef, String> {
    let schema = batch.schema();
    let keep: Vec<usize> = (0..batch.num_columns())
        .filter(|i| !key_cols.contains(i))
        .collect();
    let order = UInt32Array::from(
        groups
            .iter()
            .flat_map(|g| g.iter().copied())
            .collect::<Vec<_>>(),
    );
    let mut struct_fields = Vec::new();
    let mut struct_columns = Vec::new();
    for &i in &keep {
        struct_fields.push(Arc::new(Field::new(
            schema.field(i).name(),
            schema.field(i).data_type().clone(),
            true,
        )));
        struct_columns.push(
            arrow_select::take::take(batch.column(i), &order, None).map_err(|e| e.to_string())?,
        );
    }
    let values = arrow_array::StructArray::try_new_with_length(
        struct_fields.into(),
        struct_columns,
        None,
        order.len(),
    )
    .map_err(|e| e.to_string())?;
    let offsets = arrow_buffer::OffsetBuffer::from_lengths(groups.iter().map(|g| g.len()));
    let item = Arc::new(Field::new("item", values.data_type().clone(), true));
    let list = arrow_array::ListArray::try_new(item, offsets, Arc::new(values), None)
        .map_err(|e| e.to_string())?;
    Ok(Arc::new(list))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::StringArray;

    fn batch(keys: Vec<i64>, values: Vec<f64>) -> RecordBatch {
        RecordBatch::try_from_iter([
            ("k", Arc::new(Int64Array::from(keys)) as ArrayRef),
            ("v", Arc::new(Float64Array::from(values)) as ArrayRef),
        ])
        .unwrap()
    }

    #[test]
    fn buckets_partition_rows_by_key() {
        let b = batch(
            (0..100).map(|i| i % 7).collect(),
            (0..100).map(f64::from).collect(),
        );
        let parts = bucketize(&b, &["k".into()], 4, 0).unwrap();
        assert_eq!(parts.iter().map(|p| p.num_rows()).sum::<usize>(), 100);
        for (i, p) in parts.iter().enumerate() {
            let keys = p.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
            for k in keys.values() {
                assert_eq!(
                    stable_hash(&[super::super::keys::KeyValue::Int(*k)]) % 4,
                    i as u64
                );
            }
        }
        let rr = bucketize(&b, &[], 3, 1).unwrap();
        assert_eq!(
            rr.iter().map(|p| p.num_rows()).collect::<Vec<_>>(),
            vec![33, 34, 33]
        );
    }

    #[test]
    fn group_aggregate_sorts_groups_and_computes() {
        let b = batch(vec![2, 1, 2, 1, 2], vec![1.0, 10.0, 3.0, 20.0, 5.0]);
        let aggs = [
            AggSpec {
                column: String::new(),
                func: AggFunc::Count,
                alias: "n".into(),
            },
            AggSpec {
                column: "v".into(),
                func: AggFunc::Sum,
                alias: "s".into(),
            },
            AggSpec {
                column: "v".into(),
                func: AggFunc::Mean,
                alias: "m".into(),
            },
            AggSpec {
                column: "v".into(),
                func: AggFunc::Max,
                alias: "x".into(),
            },
        ];
        let out = group_aggregate(&b, &["k".into()], &aggs).unwrap();
        let col = |i: usize| out.column(i).clone();
        assert_eq!(
            col(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .values()
                .to_vec(),
            vec![1, 2]
        );
        assert_eq!(
            col(1)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .values()
                .to_vec(),
            vec![2, 3]
        );
        assert_eq!(
            col(2)
                .as_any()
                .downcast_ref::<Float64Array>()
                .unwrap()
                .values()
                .to_vec(),
            vec![30.0, 9.0]
        );
        assert_eq!(
            col(3)
                .as_any()
                .downcast_ref::<Float64Array>()
                .unwrap()
                .values()
                .to_vec(),
            vec![15.0, 3.0]
        );
        assert_eq!(
            col(4)
                .as_any()
                .downcast_ref::<Float64Array>()
                .unwrap()
                .values()
                .to_vec(),
            vec![20.0, 5.0]
        );
        assert!(group_aggregate(&b, &["zz".into()], &aggs)
            .unwrap_err()
            .contains("zz"));
    }

    #[test]
    fn cogroup_lists_each_sides_rows_per_key() {
        let left = batch(vec![1, 2, 1], vec![0.1, 0.2, 0.3]);
        let right = batch(vec![3, 1], vec![9.0, 8.0]);
        let out = cogroup(&left, &right, &["k".into()]).unwrap();
        assert_eq!(out.num_rows(), 3, "keys 1, 2, 3");
        let l = out
            .column(1)
            .as_any()
            .downcast_ref::<arrow_array::ListArray>()
            .unwrap();
        let r = out
            .column(2)
            .as_any()
            .downcast_ref::<arrow_array::ListArray>()
            .unwrap();
        assert_eq!(
            (l.value_length(0), l.value_length(1), l.value_length(2)),
            (2, 1, 0)
        );
        assert_eq!(
            (r.value_length(0), r.value_length(1), r.value_length(2)),
            (1, 0, 1)
        );
        let first = l.value(0);
        let vs = first
            .as_any()
            .downcast_ref::<arrow_array::StructArray>()
            .unwrap()
            .column(0)
            .clone();
        assert_eq!(
            vs.as_any()
                .downcast_ref::<Float64Array>()
                .unwrap()
                .values()
                .to_vec(),
            vec![0.1, 0.3]
        );
    }

    #[test]
    fn joins_keep_left_order_and_null_fill() {
        let left = batch(vec![1, 2, 3], vec![0.1, 0.2, 0.3]);
        let right = RecordBatch::try_from_iter([
            ("k", Arc::new(Int64Array::from(vec![3, 1, 1])) as ArrayRef),
            (
                "name",
                Arc::new(StringArray::from(vec!["c", "a", "a2"])) as ArrayRef,
            ),
        ])
        .unwrap();
        let inner = hash_join(&left, &right, &["k".into()], JoinKind::Inner).unwrap();
        assert_eq!(inner.num_rows(), 3);
        let names = inner
            .column(2)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!(
            names.iter().collect::<Vec<_>>(),
            vec![Some("a"), Some("a2"), Some("c")]
        );
        let outer = hash_join(&left, &right, &["k".into()], JoinKind::Left).unwrap();
        assert_eq!(outer.num_rows(), 4);
        assert_eq!(outer.column(2).null_count(), 1);
    }
}
