//! Vector columns as Spark's models write them (`probability`, `rawPrediction`: one value per
//! class, `List<Float64>` in Arrow), and their two flat views: the score a binary evaluator
//! reads (element 1, as Spark's `BinaryClassificationEvaluator` does) and one column per
//! element for CSV files and terminals (`probability_0`, `probability_1`, ...).

use std::sync::Arc;

use arrow_array::builder::{Float64Builder, ListBuilder};
use arrow_array::{Array, ArrayRef, Float64Array, ListArray, RecordBatch};
use arrow_schema::{DataType, Field, Schema};

use crate::features::numeric_column;

/// A `List<Float64>` column from rows of values.
pub fn list_column(rows: impl IntoIterator<Item = Vec<f64>>) -> ArrayRef {
    let mut builder = ListBuilder::new(Float64Builder::new());
    for row in rows {
        builder.values().append_slice(&row);
        builder.append(true);
    }
    Arc::new(builder.finish())
}

fn list_rows(column: &ArrayRef) -> Option<Vec<Vec<f64>>> {
    let list = column.as_any().downcast_ref::<ListArray>()?;
    (0..list.len())
        .map(|i| {
            let values = list.value(i);
            values
                .as_any()
                .downcast_ref::<Float64Array>()
                .map(|v| v.values().to_vec())
        })
        .collect()
}

/// A score column: numeric as it is, or element 1 of a vector column (P(label = 1) of a
/// `probability` column, the positive margin of a `rawPrediction` column).
pub fn score_column(batch: &RecordBatch, name: &str) -> Result<Vec<f64>, String> {
    let column = batch
        .column_by_name(name)
        .ok_or_else(|| format!("no column {name:?}"))?;
    if let Some(rows) = list_rows(column) {
        return rows
            .into_iter()
            .map(|r| {
                r.get(1)
                    .copied()
                    .ok_or_else(|| format!("column {name:?} has vectors of fewer than 2 values"))
            })
            .collect();
    }
    numeric_column(batch, name)
}

/// `ml.expand_vectors`: every `List<Float64>` column `c` becomes columns `c_0`, `c_1`, ...
/// (as many as its longest row; shorter rows are padded with NaN); other columns stay.
pub fn expand_vectors(batch: &RecordBatch, _args: &[u8]) -> Result<RecordBatch, String> {
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        match (field.data_type(), list_rows(column)) {
            (DataType::List(_), Some(rows)) => {
                let width = rows.iter().map(Vec::len).max().unwrap_or(0);
                for k in 0..width {
                    let values: Float64Array = rows
                        .iter()
                        .map(|r| Some(r.get(k).copied().unwrap_or(f64::NAN)))
                        .collect();
                    fields.push(Field::new(
                        format!("{}_{k}", field.name()),
                        DataType::Float64,
                        false,
                    ));
                    columns.push(Arc::new(values));
                }
            }
            _ => {
                fields.push(field.as_ref().clone());
                columns.push(column.clone());
            }
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(|e| e.to_string())
}
cinder_actors::register_map!("ml.expand_vectors", expand_vectors);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_expand_and_score() {
        let batch = RecordBatch::try_from_iter([
            (
                "label",
                Arc::new(Float64Array::from(vec![1.0, 0.0])) as ArrayRef,
            ),
            ("probability", list_column([vec![0.2, 0.8], vec![0.9, 0.1]])),
        ])
        .unwrap();
        assert_eq!(score_column(&batch, "probability").unwrap(), vec![0.8, 0.1]);
        assert_eq!(score_column(&batch, "label").unwrap(), vec![1.0, 0.0]);
        let flat = expand_vectors(&batch, &[]).unwrap();
        let names: Vec<String> = flat
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names, ["label", "probability_0", "probability_1"]);
        assert_eq!(
            numeric_column(&flat, "probability_0").unwrap(),
            vec![0.2, 0.9]
        );
    }
}
