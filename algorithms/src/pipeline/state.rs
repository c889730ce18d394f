//! The saved form of a featurizer's fitted state: a stage directory with `metadata.json`
//! (class, format version, crate version, CRC-32 of the data) and `data.json` (what the stage
//! learned, Spark's names where Spark has them). Written to a temporary directory renamed
//! into place; a flipped byte is an error on load, never a different model.

use std::path::Path;

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::MlError;

/// Version of the stage directory layout.
pub const STATE_FORMAT_VERSION: u32 = 1;

/// `metadata.json` of a featurizer stage directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateMetadata {
    /// Spark's class name of the model's stage.
    pub class: String,
    /// [`STATE_FORMAT_VERSION`] of the writer.
    pub format_version: u32,
    /// Version of the crate that wrote it.
    pub crate_version: String,
    /// CRC-32 of `data.json`.
    pub data_crc32: u32,
}

/// An error about `path`.
pub fn model_error(path: &Path, message: impl std::fmt::Display) -> MlError {
    MlError::Model {
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

/// Writes `state` of a `class` stage into the new directory `dir`, atomically.
pub fn save_state(dir: &Path, class: &str, state: &impl Serialize) -> Result<(), MlError> {
    if dir.exists() {
        return Err(model_error(dir, "already exists"));
    }
    let name = dir
        .file_name()
        .ok_or_else(|| model_error(dir, "not a directory name"))?;
    let tmp = dir.with_file_name(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        cinder_actors::private_fs::create_dir_all(&tmp).map_err(|e| model_error(&tmp, e))?;
        let data = serde_json::to_vec_pretty(state).map_err(|e| model_error(dir, e))?;
        cinder_actors::private_fs::write(&tmp.join("data.json"), &data)
            .map_err(|e| model_error(&tmp, e))?;
        let metadata = StateMetadata {
            class: class.to_string(),
            format_version: STATE_FORMAT_VERSION,
            crate_version: env!("CARGO_PKG_VERSION").to_string(),
            data_crc32: crc32fast::hash(&data),
        };
        let json = serde_json::to_vec_pretty(&metadata).map_err(|e| model_error(dir, e))?;
        cinder_actors::private_fs::write(&tmp.join("metadata.json"), &json)
            .map_err(|e| model_error(&tmp, e))?;
        std::fs::rename(&tmp, dir).map_err(|e| model_error(dir, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

/// Reads the state of a `class` stage saved by [`save_state`], checking class, version and
/// checksum.
pub fn load_state<T: DeserializeOwned>(dir: &Path, class: &str) -> Result<T, MlError> {
    let meta_path = dir.join("metadata.json");
    let text = std::fs::read(&meta_path).map_err(|e| model_error(&meta_path, e))?;
    let metadata: StateMetadata = serde_json::from_slice(&text)
        .map_err(|e| model_error(&meta_path, format!("corrupt: {e}")))?;
    if metadata.class != class {
        return Err(model_error(
            dir,
            format!("holds a {} stage, not {class}", metadata.class),
        ));
    }
    if metadata.format_version != STATE_FORMAT_VERSION {
        return Err(model_error(
            &meta_path,
            format!(
                "format version {} (this build reads {STATE_FORMAT_VERSION})",
                metadata.format_version
            ),
        ));
    }
    let data_path = dir.join("data.json");
    let data = std::fs::read(&data_path).map_err(|e| model_error(&data_path, e))?;
    let found = crc32fast::hash(&data);
    if found != metadata.data_crc32 {
        return Err(model_error(
            &data_path,
            format!(
                "checksum mismatch (CRC-32 {found:08x}, metadata.json says {:08x}): the file \
                 is corrupt or was modified",
                metadata.data_crc32
            ),
        ));
    }
    serde_json::from_slice(&data).map_err(|e| model_error(&data_path, format!("corrupt: {e}")))
}
