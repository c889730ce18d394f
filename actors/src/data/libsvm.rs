//! LibSVM text (`label index:value ...`, 1-based ascending indices) into Arrow: a `label`
//! Float64 column and a sparse `features` vector column, with Spark's `numFeatures` semantics
//! (given, or inferred as the largest index over the whole file).

use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{Float64Builder, Int32Builder, ListBuilder};
use arrow_array::{ArrayRef, Float64Array, Int32Array, RecordBatch, StructArray};
use arrow_schema::{DataType, Field, Fields, Schema};

use super::plan::TextSplit;
use super::text::{read_split, TextError};

/// The Arrow type of a sparse vector: `struct<size: int32, indices: list<int32>,
/// values: list<float64>>` (0-based indices, ascending).
pub fn sparse_vector_type() -> DataType {
    DataType::Struct(sparse_fields())
}

fn sparse_fields() -> Fields {
    Fields::from(vec![
        Field::new("size", DataType::Int32, false),
        Field::new(
            "indices",
            DataType::List(Arc::new(Field::new("item", DataType::Int32, true))),
            false,
        ),
        Field::new(
            "values",
            DataType::List(Arc::new(Field::new("item", DataType::Float64, true))),
            false,
        ),
    ])
}

/// The schema of a LibSVM dataset.
pub fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("label", DataType::Float64, false),
        Field::new("features", sparse_vector_type(), false),
    ]))
}

/// One parsed line: label and 0-based `(index, value)` pairs.
pub type Row = (f64, Vec<(i32, f64)>);

/// Parses one line; `Ok(None)` for blank and `#` comment lines. Errors say what was wrong.
pub fn parse_line(line: &str) -> Result<Option<Row>, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let mut tokens = line.split_whitespace();
    let label_text = tokens.next().expect("non-empty line has a token");
    let label: f64 = label_text
        .parse()
        .map_err(|_| format!("label {label_text:?} is not a number"))?;
    let mut items = Vec::new();
    let mut previous = 0i64;
    for token in tokens {
        let (index, value) = token
            .split_once(':')
            .ok_or_else(|| format!("item {token:?} is not index:value"))?;
        let index: i64 = index
            .parse()
            .map_err(|_| format!("index {index:?} in {token:?} is not an integer"))?;
        if index < 1 || index > i32::MAX as i64 {
            return Err(format!(
                "index {index} in {token:?} must be between 1 and {}",
                i32::MAX
            ));
        }
        if index <= previous {
            return Err(format!(
                "indices must be one-based and ascending, but {index} follows {previous}"
            ));
        }
        previous = index;
        let value: f64 = value
            .parse()
            .map_err(|_| format!("value {value:?} in {token:?} is not a number"))?;
        items.push(((index - 1) as i32, value));
    }
    Ok(Some((label, items)))
}

/// Builds a batch from parsed rows with vectors of `num_features`.
pub fn to_batch(rows: &[Row], num_features: u32) -> RecordBatch {
    let labels = Float64Array::from_iter_values(rows.iter().map(|r| r.0));
    let sizes = Int32Array::from(vec![num_features as i32; rows.len()]);
    let mut indices =
        ListBuilder::new(Int32Builder::new()).with_field(Field::new("item", DataType::Int32, true));
    let mut values = ListBuilder::new(Float64Builder::new()).with_field(Field::new(
        "item",
        DataType::Float64,
        true,
    ));
    for (_, items) in rows {
        for (i, v) in items {
            indices.values().append_value(*i);
            values.values().append_value(*v);
        }
        indices.append(true);
        values.append(true);
    }
    let features = StructArray::new(
        sparse_fields(),
        vec![
            Arc::new(sizes) as ArrayRef,
            Arc::new(indices.finish()),
            Arc::new(values.finish()),
        ],
        None,
    );
    RecordBatch::try_new(schema(), vec![Arc::new(labels), Arc::new(features)])
        .expect("columns match the schema")
}

/// Reads and parses one split; errors name `file:line` and what was wrong.
pub fn read_partition(
    path: &Path,
    split: &TextSplit,
    num_features: u32,
) -> Result<RecordBatch, String> {
    let lines = read_split(path, split).map_err(|e: TextError| e.to_string())?;
    let mut rows = Vec::with_capacity(lines.len());
    for (number, line) in lines {
        let at = |what: String| format!("{}:{number}: {what}", path.display());
        if let Some(row) = parse_line(&line).map_err(at)? {
            if let Some((i, _)) = row.1.last() {
                if *i as u32 >= num_features {
                    return Err(at(format!(
                        "index {} exceeds numFeatures = {num_features}",
                        i + 1
                    )));
                }
            }
            rows.push(row);
        }
    }
    Ok(to_batch(&rows, num_features))
}

/// Spark's inferred `numFeatures`: the largest 1-based index in the file. Errors name
/// `file:line`.
pub fn infer_num_features(path: &Path) -> Result<u32, String> {
    let split = TextSplit {
        start: 0,
        end: std::fs::metadata(path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .len(),
        first_line: 1,
    };
    let mut max = 0u32;
    for (number, line) in read_split(path, &split).map_err(|e| e.to_string())? {
        let row =
            parse_line(&line).map_err(|what| format!("{}:{number}: {what}", path.display()))?;
        if let Some((_, items)) = row {
            if let Some((i, _)) = items.last() {
                max = max.max(*i as u32 + 1);
            }
        }
    }
    Ok(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_spark_style_lines() {
        let (label, items) = parse_line("1 3:0.5 10:2e-1").unwrap().unwrap();
        assert_eq!(label, 1.0);
        assert_eq!(items, vec![(2, 0.5), (9, 0.2)]);
        assert_eq!(parse_line("   ").unwrap(), None);
        assert_eq!(parse_line("# comment").unwrap(), None);
        assert_eq!(parse_line("0").unwrap().unwrap().1, vec![]);
    }

    #[test]
    fn malformed_lines_say_what_is_wrong() {
        for (line, needle) in [
            ("x 1:2", "label"),
            ("1 1:2 3", "index:value"),
            ("1 0:2", "between 1"),
            ("1 3:1 2:1", "ascending"),
            ("1 2:abc", "value"),
            ("1 a:1", "integer"),
        ] {
            let e = parse_line(line).unwrap_err();
            assert!(e.contains(needle), "{line}: {e}");
        }
    }

    #[test]
    fn errors_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.txt");
        std::fs::write(&path, "1 1:1\n0 2:1\n1 2:x\n").unwrap();
        let split = TextSplit {
            start: 0,
            end: 18,
            first_line: 1,
        };
        let e = read_partition(&path, &split, 5).unwrap_err();
        assert!(
            e.ends_with("d.txt:3: value \"x\" in \"2:x\" is not a number"),
            "{e}"
        );
        assert!(infer_num_features(&dir.path().join("missing"))
            .unwrap_err()
            .contains("missing"));
    }

    #[test]
    fn batch_has_sparse_vectors() {
        let rows = vec![(1.0, vec![(0, 1.0), (4, 2.0)]), (0.0, vec![])];
        let batch = to_batch(&rows, 5);
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(batch.schema().field(1).data_type(), &sparse_vector_type());
    }
}
