//! CSV text into Arrow with a header, a delimiter and a schema (given, or inferred by the
//! driver from the first rows). A split that fails to parse is parsed again line by line to
//! name the first bad line as `file:line`.

use std::path::Path;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Schema};
use serde::{Deserialize, Serialize};

use super::plan::TextSplit;
use super::text::read_split;

/// Column types a CSV dataset can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CsvType {
    /// 64-bit integers.
    Int64,
    /// 64-bit floats.
    Float64,
    /// `true` / `false`.
    Boolean,
    /// Text.
    Utf8,
}

impl CsvType {
    fn arrow(self) -> DataType {
        match self {
            Self::Int64 => DataType::Int64,
            Self::Float64 => DataType::Float64,
            Self::Boolean => DataType::Boolean,
            Self::Utf8 => DataType::Utf8,
        }
    }

    fn from_arrow(t: &DataType) -> Self {
        match t {
            DataType::Int64 | DataType::Int32 | DataType::Int16 | DataType::Int8 => Self::Int64,
            DataType::Float64 | DataType::Float32 => Self::Float64,
            DataType::Boolean => Self::Boolean,
            _ => Self::Utf8,
        }
    }
}

/// How a CSV file is laid out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CsvLayout {
    /// The first line holds column names.
    pub header: bool,
    /// Field delimiter.
    pub delimiter: u8,
    /// Columns and their types.
    pub columns: Vec<(String, CsvType)>,
}

impl CsvLayout {
    /// The Arrow schema of the layout.
    pub fn schema(&self) -> Arc<Schema> {
        Arc::new(Schema::new(
            self.columns
                .iter()
                .map(|(name, t)| Field::new(name, t.arrow(), true))
                .collect::<Vec<_>>(),
        ))
    }
}

/// Infers column names (from the header, or `column_1`, ...) and types from the first
/// `max_rows` rows of a file.
pub fn infer_layout(
    path: &Path,
    header: bool,
    delimiter: u8,
    max_rows: usize,
) -> Result<CsvLayout, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let format = arrow_csv::reader::Format::default()
        .with_header(header)
        .with_delimiter(delimiter);
    let (schema, _) = format
        .infer_schema(file, Some(max_rows))
        .map_err(|e| format!("{}: cannot infer a schema: {e}", path.display()))?;
    Ok(CsvLayout {
        header,
        delimiter,
        columns: schema
            .fields()
            .iter()
            .map(|f| (f.name().clone(), CsvType::from_arrow(f.data_type())))
            .collect(),
    })
}

fn parse(text: &str, layout: &CsvLayout) -> Result<Vec<RecordBatch>, String> {
    let reader = arrow_csv::ReaderBuilder::new(layout.schema())
        .with_header(false)
        .with_delimiter(layout.delimiter)
        .with_batch_size(64 * 1024)
        .build(text.as_bytes())
        .map_err(|e| e.to_string())?;
    reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())
}

/// Reads one split; errors name `file:line` and what was wrong.
pub fn read_partition(
    path: &Path,
    split: &TextSplit,
    layout: &CsvLayout,
) -> Result<RecordBatch, String> {
    let lines = read_split(path, split).map_err(|e| e.to_string())?;
    let data: Vec<&(u64, String)> = lines
        .iter()
        .filter(|(n, line)| !(line.trim().is_empty() || layout.header && *n == 1))
        .collect();
    let mut text = String::with_capacity(data.iter().map(|(_, l)| l.len() + 1).sum());
    for (_, line) in &data {
        text.push_str(line);
        text.push('\n');
    }
    let schema = layout.schema();
    match parse(&text, layout) {
        Ok(batches) => {
            arrow_select::concat::concat_batches(&schema, &batches).map_err(|e| e.to_string())
        }
        Err(whole) => {
            for (number, line) in &data {
                if let Err(e) = parse(&format!("{line}\n"), layout) {
                    return Err(format!("{}:{number}: {e}", path.display()));
                }
            }
            Err(format!("{}: {whole}", path.display()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infers_and_reads_with_line_numbers_in_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, "id,score,name\n1,0.5,a\n2,1.5,b\n3,2.5,c\n").unwrap();
        let layout = infer_layout(&path, true, b',', 100).unwrap();
        assert_eq!(
            layout.columns,
            vec![
                ("id".into(), CsvType::Int64),
                ("score".into(), CsvType::Float64),
                ("name".into(), CsvType::Utf8)
            ]
        );
        let split = TextSplit {
            start: 0,
            end: std::fs::metadata(&path).unwrap().len(),
            first_line: 1,
        };
        let batch = read_partition(&path, &split, &layout).unwrap();
        assert_eq!((batch.num_rows(), batch.num_columns()), (3, 3));

        std::fs::write(&path, "id,score,name\n1,0.5,a\n2,oops,b\n").unwrap();
        let split = TextSplit {
            start: 0,
            end: std::fs::metadata(&path).unwrap().len(),
            first_line: 1,
        };
        let err = read_partition(&path, &split, &layout).unwrap_err();
        assert!(err.contains("t.csv:3:") && err.contains("oops"), "{err}");
    }
}
