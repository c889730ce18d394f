//! CSV with types, for pipelines: text columns stay strings, every number is a double, empty
//! cells are nulls (Spark's `inferSchema` idea), with an optional `--schema name:type,...`
//! override (`string|double|long|boolean`). The schema is inferred on the driver from the
//! whole file and then given to the ordinary CSV reader, so the runtime's reader is
//! unchanged: a typed read is a read with an explicit schema.

use std::path::Path;

use crate::{CsvType, Error, Result};

/// Parses `--schema name:type,...` (types `string`, `double`, `long`, `boolean`).
pub fn parse_schema(text: &str) -> Result<Vec<(String, CsvType)>> {
    text.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|item| {
            let (name, kind) = item.rsplit_once(':').ok_or_else(|| {
                Error::Input(format!(
                    "--schema {item:?}: expected name:type (type string, double, long or boolean)"
                ))
            })?;
            let kind = match kind.trim() {
                "string" => CsvType::Utf8,
                "double" => CsvType::Float64,
                "long" => CsvType::Int64,
                "boolean" => CsvType::Boolean,
                other => {
                    return Err(Error::Input(format!(
                        "--schema {item:?}: type {other:?} is not string, double, long or boolean"
                    )))
                }
            };
            Ok((name.trim().to_string(), kind))
        })
        .collect()
}

/// The name of a type in `--schema` terms.
pub fn type_name(kind: CsvType) -> &'static str {
    match kind {
        CsvType::Utf8 => "string",
        CsvType::Float64 => "double",
        CsvType::Int64 => "long",
        CsvType::Boolean => "boolean",
    }
}

/// The typed schema of a CSV file with a header: inferred from every row (integers read as
/// doubles), then `overrides` applied by name (a name the file lacks is an error naming the
/// columns it has).
pub fn typed_schema(
    path: &Path,
    overrides: &[(String, CsvType)],
) -> Result<Vec<(String, CsvType)>> {
    let layout = crate::runtime::data::csv::infer_layout(path, true, b',', usize::MAX)
        .map_err(Error::Input)?;
    let mut columns: Vec<(String, CsvType)> = layout
        .columns
        .into_iter()
        .map(|(name, kind)| {
            let kind = if kind == CsvType::Int64 {
                CsvType::Float64
            } else {
                kind
            };
            (name, kind)
        })
        .collect();
    for (name, kind) in overrides {
        match columns.iter_mut().find(|(n, _)| n == name) {
            Some(column) => column.1 = *kind,
            None => {
                return Err(Error::Input(format!(
                    "{}: --schema names column {name:?}, the file has {:?}",
                    path.display(),
                    columns.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>()
                )))
            }
        }
    }
    Ok(columns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_doubles_and_overrides_apply() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, "id,age,name,ok\n1,30.5,a,true\n2,,b,false\n").unwrap();
        let columns = typed_schema(&path, &[]).unwrap();
        assert_eq!(
            columns,
            vec![
                ("id".into(), CsvType::Float64),
                ("age".into(), CsvType::Float64),
                ("name".into(), CsvType::Utf8),
                ("ok".into(), CsvType::Boolean)
            ]
        );
        let over = parse_schema("id:string, ok:long").unwrap();
        let columns = typed_schema(&path, &over).unwrap();
        assert_eq!(columns[0].1, CsvType::Utf8);
        assert_eq!(columns[3].1, CsvType::Int64);
        assert!(parse_schema("id:int")
            .unwrap_err()
            .to_string()
            .contains("not string"));
        assert!(parse_schema("id").is_err());
        assert!(typed_schema(&path, &parse_schema("nope:string").unwrap())
            .unwrap_err()
            .to_string()
            .contains("nope"));
    }
}
