//! Saving and loading models: a directory with `metadata.json` (algorithm, parameters,
//! format version, crate version) and the model data as an Arrow IPC file (`data.arrow`).
//! A missing, partial or corrupt directory gives an error naming the file and the problem.

use std::path::Path;
use std::sync::Arc;

use arrow_array::{Array, Float64Array, ListArray, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::MlError;

/// Version of the on-disk layout.
pub const FORMAT_VERSION: u32 = 1;

/// `metadata.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    /// `logistic-regression`, `linear-regression`, `kmeans`, ...
    pub algorithm: String,
    /// [`FORMAT_VERSION`] of the writer.
    pub format_version: u32,
    /// Version of the crate that wrote it.
    pub crate_version: String,
    /// The estimator's parameters and scalar results.
    pub params: serde_json::Value,
    /// Rows in `data.arrow`.
    pub rows: usize,
    /// CRC-32 of `data.arrow`, verified on load (a flipped byte is an error, never a
    /// different model). Absent in models written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_crc32: Option<u32>,
}

fn err(path: &Path, message: impl std::fmt::Display) -> MlError {
    MlError::Model {
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

/// Writes `dir/metadata.json` and `dir/data.arrow` (rows of Float64 vectors). Refuses to
/// overwrite; writes to a temporary directory renamed into place.
pub fn save(
    dir: &Path,
    algorithm: &str,
    params: &impl Serialize,
    rows: &[Vec<f64>],
) -> Result<(), MlError> {
    if dir.exists() {
        return Err(err(dir, "already exists"));
    }
    let name = dir
        .file_name()
        .ok_or_else(|| err(dir, "not a directory name"))?;
    let tmp = dir.with_file_name(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    cinder_actors::private_fs::create_dir_all(&tmp).map_err(|e| err(&tmp, e))?;
    let result = (|| {
        let params = serde_json::to_value(params).map_err(|e| err(dir, e))?;
        if let Some((i, _)) = rows
            .iter()
            .enumerate()
            .find(|(_, r)| r.iter().any(|v| !v.is_finite()))
        {
            return Err(err(
                dir,
                format!("row {i} of the model holds a non-finite value"),
            ));
        }
        let values = ListArray::from_iter_primitive::<arrow_array::types::Float64Type, _, _>(
            rows.iter().map(|r| Some(r.iter().map(|v| Some(*v)))),
        );
        let schema = Arc::new(Schema::new(vec![Field::new(
            "values",
            values.data_type().clone(),
            true,
        )]));
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(values)])
            .map_err(|e| err(dir, e))?;
        let mut data = Vec::new();
        let mut writer =
            arrow_ipc::writer::FileWriter::try_new(&mut data, &schema).map_err(|e| err(dir, e))?;
        writer.write(&batch).map_err(|e| err(dir, e))?;
        writer.finish().map_err(|e| err(dir, e))?;
        drop(writer);
        cinder_actors::private_fs::write(&tmp.join("data.arrow"), &data)
            .map_err(|e| err(&tmp, e))?;
        let metadata = Metadata {
            algorithm: algorithm.to_string(),
            format_version: FORMAT_VERSION,
            crate_version: env!("CARGO_PKG_VERSION").to_string(),
            params,
            rows: rows.len(),
            data_crc32: Some(crc32fast::hash(&data)),
        };
        let json = serde_json::to_string_pretty(&metadata).map_err(|e| err(dir, e))?;
        cinder_actors::private_fs::write(&tmp.join("metadata.json"), json.as_bytes())
            .map_err(|e| err(&tmp, e))?;
        std::fs::rename(&tmp, dir).map_err(|e| err(dir, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

/// Reads a model directory written by [`save`], checking the algorithm and format version.
pub fn load<P: DeserializeOwned>(
    dir: &Path,
    algorithm: &str,
) -> Result<(P, Vec<Vec<f64>>), MlError> {
    let (metadata, rows) = load_any(dir)?;
    if metadata.algorithm != algorithm {
        return Err(err(
            dir,
            format!("holds a {} model, not {algorithm}", metadata.algorithm),
        ));
    }
    let params = serde_json::from_value(metadata.params).map_err(|e| {
        err(
            &dir.join("metadata.json"),
            format!("unreadable parameters: {e}"),
        )
    })?;
    Ok((params, rows))
}

/// Reads the metadata and data of any model directory.
pub fn load_any(dir: &Path) -> Result<(Metadata, Vec<Vec<f64>>), MlError> {
    let meta_path = dir.join("metadata.json");
    let text = std::fs::read_to_string(&meta_path).map_err(|e| err(&meta_path, e))?;
    let metadata: Metadata =
        serde_json::from_str(&text).map_err(|e| err(&meta_path, format!("corrupt: {e}")))?;
    if metadata.format_version != FORMAT_VERSION {
        return Err(err(
            &meta_path,
            format!(
                "format version {} (this build reads {FORMAT_VERSION})",
                metadata.format_version
            ),
        ));
    }
    let data_path = dir.join("data.arrow");
    let data = std::fs::read(&data_path).map_err(|e| err(&data_path, e))?;
    if let Some(expected) = metadata.data_crc32 {
        let found = crc32fast::hash(&data);
        if found != expected {
            return Err(err(
                &data_path,
                format!(
                    "checksum mismatch (CRC-32 {found:08x}, metadata.json says {expected:08x}): \
                     the file is corrupt or was modified"
                ),
            ));
        }
    }
    let reader = arrow_ipc::reader::FileReader::try_new(std::io::Cursor::new(data), None)
        .map_err(|e| err(&data_path, format!("corrupt: {e}")))?;
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| err(&data_path, format!("corrupt: {e}")))?;
        let list = batch
            .column(0)
            .as_any()
            .downcast_ref::<ListArray>()
            .filter(|l| l.value_type() == DataType::Float64)
            .ok_or_else(|| err(&data_path, "not a list of Float64 values"))?;
        for i in 0..list.len() {
            let v = list.value(i);
            let v = v
                .as_any()
                .downcast_ref::<Float64Array>()
                .ok_or_else(|| err(&data_path, "bad row"))?;
            rows.push(v.values().to_vec());
        }
    }
    if rows.len() != metadata.rows {
        return Err(err(
            &data_path,
            format!(
                "{} rows, metadata says {} (partial model?)",
                rows.len(),
                metadata.rows
            ),
        ));
    }
    Ok((metadata, rows))
}
