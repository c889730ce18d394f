//! Reading and writing the columns featurizers work on, and the Arrow field metadata through
//! which stages tell later ones what they learned.
//!
//! # Field metadata (a documented contract)
//!
//! - A **nominal** column (the output of `StringIndexer`, `QuantileDiscretizer`,
//!   `Bucketizer`) carries `ml_attr.type = "nominal"`, `ml_attr.num_values = "<n>"` and, when
//!   the values have names, `ml_attr.values = <JSON array of strings>` in index order
//!   (with `handleInvalid` keep, `StringIndexer` appends `"__unknown"`, as Spark does).
//!   `OneHotEncoder` reads the number of values, `IndexToString` the names.
//! - A **vector** column (the output of `OneHotEncoder`, `VectorAssembler`, the scalers)
//!   carries `ml_attr.num_attrs = "<size>"`, so `VectorAssembler` knows sizes without rows.
//!
//! Spark keeps the same facts in its `ml_attr` column metadata (`NominalAttribute`,
//! `AttributeGroup`).

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::builder::{Float64Builder, Int32Builder, ListBuilder, StringBuilder};
use arrow_array::{
    Array, ArrayRef, BooleanArray, FixedSizeListArray, Float32Array, Float64Array, Int32Array,
    Int64Array, LargeStringArray, ListArray, RecordBatch, StringArray, StructArray,
};
use arrow_schema::{DataType, Field, Fields, Schema};

/// Metadata key of the attribute type (`nominal`).
pub const ATTR_TYPE: &str = "ml_attr.type";
/// Metadata key of a nominal column's number of values.
pub const ATTR_NUM_VALUES: &str = "ml_attr.num_values";
/// Metadata key of a nominal column's value names (a JSON array of strings).
pub const ATTR_VALUES: &str = "ml_attr.values";
/// Metadata key of a vector column's size.
pub const ATTR_NUM_ATTRS: &str = "ml_attr.num_attrs";

/// Metadata of a nominal column with `num_values` values, named when `names` is given.
pub fn nominal_metadata(num_values: usize, names: Option<&[String]>) -> HashMap<String, String> {
    let mut m = HashMap::new();
    m.insert(ATTR_TYPE.to_string(), "nominal".to_string());
    m.insert(ATTR_NUM_VALUES.to_string(), num_values.to_string());
    if let Some(names) = names {
        m.insert(
            ATTR_VALUES.to_string(),
            serde_json::to_string(names).expect("strings serialize"),
        );
    }
    m
}

/// Metadata of a vector column of `size` elements.
pub fn vector_metadata(size: usize) -> HashMap<String, String> {
    HashMap::from([(ATTR_NUM_ATTRS.to_string(), size.to_string())])
}

/// The number of values a nominal column's metadata records.
pub fn nominal_size(field: &Field) -> Option<usize> {
    field.metadata().get(ATTR_NUM_VALUES)?.parse().ok()
}

/// The value names a nominal column's metadata records.
pub fn nominal_names(field: &Field) -> Option<Vec<String>> {
    serde_json::from_str(field.metadata().get(ATTR_VALUES)?).ok()
}

/// The size a vector column's metadata records.
pub fn vector_size(field: &Field) -> Option<usize> {
    field.metadata().get(ATTR_NUM_ATTRS)?.parse().ok()
}

/// The field of column `name`, or an error naming the columns there are.
pub fn field<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a Field, String> {
    let schema = batch.schema_ref();
    schema.index_of(name).map(|i| schema.field(i)).map_err(|_| {
        format!(
            "no column {name:?} (columns: {:?})",
            schema.fields().iter().map(|f| f.name()).collect::<Vec<_>>()
        )
    })
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef, String> {
    batch.column_by_name(name).ok_or_else(|| {
        format!(
            "no column {name:?} (columns: {:?})",
            batch
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect::<Vec<_>>()
        )
    })
}

/// A double as Spark casts it to a string (Java's `Double.toString` for the usual range:
/// `1.0`, `0.25`, `1.0E7`).
pub fn java_double_string(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let a = x.abs();
    if a == 0.0 || (1e-3..1e7).contains(&a) {
        let s = format!("{x}");
        if s.contains('.') {
            s
        } else {
            format!("{s}.0")
        }
    } else {
        let s = format!("{x:e}");
        let (mantissa, exponent) = s.split_once('e').expect("exponent");
        let mantissa = if mantissa.contains('.') {
            mantissa.to_string()
        } else {
            format!("{mantissa}.0")
        };
        format!("{mantissa}E{exponent}")
    }
}

/// A column as optional strings: text as it is, numbers and booleans as Spark casts them.
pub fn string_values(batch: &RecordBatch, name: &str) -> Result<Vec<Option<String>>, String> {
    let col = column(batch, name)?;
    let any = col.as_any();
    let n = col.len();
    let get = |f: &dyn Fn(usize) -> String| -> Vec<Option<String>> {
        (0..n).map(|i| (!col.is_null(i)).then(|| f(i))).collect()
    };
    Ok(match col.data_type() {
        DataType::Utf8 => {
            let a = any.downcast_ref::<StringArray>().expect("utf8");
            get(&|i| a.value(i).to_string())
        }
        DataType::LargeUtf8 => {
            let a = any.downcast_ref::<LargeStringArray>().expect("large utf8");
            get(&|i| a.value(i).to_string())
        }
        DataType::Boolean => {
            let a = any.downcast_ref::<BooleanArray>().expect("bool");
            get(&|i| a.value(i).to_string())
        }
        DataType::Int64 => {
            let a = any.downcast_ref::<Int64Array>().expect("i64");
            get(&|i| a.value(i).to_string())
        }
        DataType::Int32 => {
            let a = any.downcast_ref::<Int32Array>().expect("i32");
            get(&|i| a.value(i).to_string())
        }
        DataType::Float64 => {
            let a = any.downcast_ref::<Float64Array>().expect("f64");
            get(&|i| java_double_string(a.value(i)))
        }
        other => return Err(format!("column {name:?} is {other}, not text or a number")),
    })
}

/// A numeric column as optional doubles (nulls as `None`; NaN stays NaN).
pub fn double_values(batch: &RecordBatch, name: &str) -> Result<Vec<Option<f64>>, String> {
    let col = column(batch, name)?;
    let any = col.as_any();
    let n = col.len();
    let get = |f: &dyn Fn(usize) -> f64| -> Vec<Option<f64>> {
        (0..n).map(|i| (!col.is_null(i)).then(|| f(i))).collect()
    };
    Ok(match col.data_type() {
        DataType::Float64 => {
            let a = any.downcast_ref::<Float64Array>().expect("f64");
            get(&|i| a.value(i))
        }
        DataType::Float32 => {
            let a = any.downcast_ref::<Float32Array>().expect("f32");
            get(&|i| f64::from(a.value(i)))
        }
        DataType::Int64 => {
            let a = any.downcast_ref::<Int64Array>().expect("i64");
            get(&|i| a.value(i) as f64)
        }
        DataType::Int32 => {
            let a = any.downcast_ref::<Int32Array>().expect("i32");
            get(&|i| f64::from(a.value(i)))
        }
        DataType::Boolean => {
            let a = any.downcast_ref::<BooleanArray>().expect("bool");
            get(&|i| if a.value(i) { 1.0 } else { 0.0 })
        }
        other => return Err(format!("column {name:?} is {other}, not numeric")),
    })
}

/// Whether a column holds vectors (sparse struct, fixed-size list or list of doubles).
pub fn is_vector(field: &Field) -> bool {
    matches!(
        field.data_type(),
        DataType::Struct(_) | DataType::FixedSizeList(_, _) | DataType::List(_)
    )
}

/// A vector column as optional dense rows (sparse vectors expanded).
pub fn vector_values(batch: &RecordBatch, name: &str) -> Result<Vec<Option<Vec<f64>>>, String> {
    let col = column(batch, name)?;
    let not_vector = || {
        format!(
            "column {name:?} of type {} is not a vector",
            col.data_type()
        )
    };
    if let Some(s) = col.as_any().downcast_ref::<StructArray>() {
        let size = s
            .column_by_name("size")
            .and_then(|c| c.as_any().downcast_ref::<Int32Array>())
            .ok_or_else(not_vector)?;
        let indices = s
            .column_by_name("indices")
            .and_then(|c| c.as_any().downcast_ref::<ListArray>())
            .ok_or_else(not_vector)?;
        let values = s
            .column_by_name("values")
            .and_then(|c| c.as_any().downcast_ref::<ListArray>())
            .ok_or_else(not_vector)?;
        return (0..s.len())
            .map(|i| {
                if s.is_null(i) {
                    return Ok(None);
                }
                let mut row = vec![0.0; size.value(i).max(0) as usize];
                let idx = indices.value(i);
                let idx = idx
                    .as_any()
                    .downcast_ref::<Int32Array>()
                    .ok_or_else(not_vector)?;
                let val = values.value(i);
                let val = val
                    .as_any()
                    .downcast_ref::<Float64Array>()
                    .ok_or_else(not_vector)?;
                for (j, v) in idx.values().iter().zip(val.values()) {
                    let j = *j as usize;
                    if j >= row.len() {
                        return Err(format!("column {name:?}: index {j} out of its vector size"));
                    }
                    row[j] = *v;
                }
                Ok(Some(row))
            })
            .collect();
    }
    if let Some(list) = col.as_any().downcast_ref::<FixedSizeListArray>() {
        return (0..list.len())
            .map(|i| {
                if list.is_null(i) {
                    return Ok(None);
                }
                let v = list.value(i);
                let v = v
                    .as_any()
                    .downcast_ref::<Float64Array>()
                    .ok_or_else(not_vector)?;
                Ok(Some(v.values().to_vec()))
            })
            .collect();
    }
    if let Some(list) = col.as_any().downcast_ref::<ListArray>() {
        return (0..list.len())
            .map(|i| {
                if list.is_null(i) {
                    return Ok(None);
                }
                let v = list.value(i);
                let v = v
                    .as_any()
                    .downcast_ref::<Float64Array>()
                    .ok_or_else(not_vector)?;
                Ok(Some(v.values().to_vec()))
            })
            .collect();
    }
    Err(not_vector())
}

/// A dense vector column (`FixedSizeList<Float64>` of `width`).
pub fn dense_column(rows: &[Vec<f64>], width: usize) -> Result<ArrayRef, String> {
    let mut values = Vec::with_capacity(rows.len() * width);
    for row in rows {
        if row.len() != width {
            return Err(format!(
                "a vector of {} values where {width} were expected",
                row.len()
            ));
        }
        values.extend_from_slice(row);
    }
    let item = Arc::new(Field::new("item", DataType::Float64, false));
    FixedSizeListArray::try_new(
        item,
        width as i32,
        Arc::new(Float64Array::from(values)),
        None,
    )
    .map(|a| Arc::new(a) as ArrayRef)
    .map_err(|e| e.to_string())
}

/// A sparse vector column (struct of `size`, `indices`, `values`, the LibSVM reader's layout).
pub fn sparse_column(size: usize, rows: &[Vec<(i32, f64)>]) -> ArrayRef {
    let mut sizes = Int32Builder::new();
    let mut indices =
        ListBuilder::new(Int32Builder::new()).with_field(Field::new("item", DataType::Int32, true));
    let mut values = ListBuilder::new(Float64Builder::new()).with_field(Field::new(
        "item",
        DataType::Float64,
        true,
    ));
    for row in rows {
        sizes.append_value(size as i32);
        for (j, v) in row {
            indices.values().append_value(*j);
            values.values().append_value(*v);
        }
        indices.append(true);
        values.append(true);
    }
    let sizes: ArrayRef = Arc::new(sizes.finish());
    let indices: ArrayRef = Arc::new(indices.finish());
    let values: ArrayRef = Arc::new(values.finish());
    let fields = Fields::from(vec![
        Field::new("size", DataType::Int32, false),
        Field::new("indices", indices.data_type().clone(), false),
        Field::new("values", values.data_type().clone(), false),
    ]);
    Arc::new(StructArray::new(fields, vec![sizes, indices, values], None))
}

/// A string column.
pub fn string_column(values: &[Option<String>]) -> ArrayRef {
    let mut b = StringBuilder::new();
    for v in values {
        b.append_option(v.as_deref());
    }
    Arc::new(b.finish())
}

/// A double column.
pub fn double_column(values: Vec<f64>) -> ArrayRef {
    Arc::new(Float64Array::from(values))
}

/// `batch` with `columns` added (a column of the same name is replaced), each with its
/// field metadata.
pub fn with_columns(
    batch: &RecordBatch,
    columns: Vec<(String, ArrayRef, HashMap<String, String>)>,
) -> Result<RecordBatch, String> {
    let schema = batch.schema();
    let mut fields: Vec<Field> = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for (i, f) in schema.fields().iter().enumerate() {
        if !columns.iter().any(|(n, _, _)| n == f.name()) {
            fields.push(f.as_ref().clone());
            arrays.push(batch.column(i).clone());
        }
    }
    for (name, array, metadata) in columns {
        if array.len() != batch.num_rows() {
            return Err(format!(
                "column {name:?} has {} rows, the batch {}",
                array.len(),
                batch.num_rows()
            ));
        }
        fields.push(Field::new(name, array.data_type().clone(), true).with_metadata(metadata));
        arrays.push(array);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).map_err(|e| e.to_string())
}

/// `batch` without the rows where `keep` is false.
pub fn keep_rows(batch: &RecordBatch, keep: &[bool]) -> Result<RecordBatch, String> {
    if keep.iter().all(|k| *k) {
        return Ok(batch.clone());
    }
    let mask = BooleanArray::from(keep.to_vec());
    arrow_select::filter::filter_record_batch(batch, &mask).map_err(|e| e.to_string())
}

/// Decodes a batch function's MessagePack arguments.
pub fn decode_args<T: serde::de::DeserializeOwned>(args: &[u8], what: &str) -> Result<T, String> {
    rmp_serde::from_slice(args).map_err(|e| format!("{what}: bad arguments: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_print_as_java_does() {
        assert_eq!(java_double_string(1.0), "1.0");
        assert_eq!(java_double_string(0.25), "0.25");
        assert_eq!(java_double_string(-3.0), "-3.0");
        assert_eq!(java_double_string(1e7), "1.0E7");
        assert_eq!(java_double_string(1.5e-4), "1.5E-4");
    }

    #[test]
    fn sparse_and_dense_vectors_read_back() {
        let sparse = sparse_column(3, &[vec![(1, 2.0)], vec![]]);
        let dense = dense_column(&[vec![1.0, 2.0], vec![3.0, 4.0]], 2).unwrap();
        let batch = RecordBatch::try_from_iter([("s", sparse), ("d", dense)]).unwrap();
        assert_eq!(
            vector_values(&batch, "s").unwrap(),
            vec![Some(vec![0.0, 2.0, 0.0]), Some(vec![0.0; 3])]
        );
        assert_eq!(vector_values(&batch, "d").unwrap()[1], Some(vec![3.0, 4.0]));
        let out = with_columns(
            &batch,
            vec![(
                "s".into(),
                double_column(vec![1.0, 2.0]),
                vector_metadata(7),
            )],
        )
        .unwrap();
        assert_eq!(out.num_columns(), 2);
        assert_eq!(vector_size(out.schema().field(1)), Some(7));
    }
}
