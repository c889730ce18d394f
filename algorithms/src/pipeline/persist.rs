//! Saved pipelines: one directory with `metadata.json` (the stages' classes, uids and
//! parameters, each stage directory's metadata checksum, and what the caller adds: the
//! input schema, the spec, tuning results) and `stages/<index>_<uid>/` per stage in the
//! stage's own format (models: `metadata.json` and `data.arrow`; featurizers:
//! `metadata.json` and `data.json`, both checksummed). Written to a temporary directory
//! renamed into place, so a directory either holds a whole pipeline or does not exist.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::frame::Frame;
use crate::pipeline::params::ParamMap;
use crate::pipeline::registry;
use crate::pipeline::state::model_error;
use crate::pipeline::workflow::PipelineModel;
use crate::MlError;

/// Version of the pipeline directory layout.
pub const PIPELINE_FORMAT_VERSION: u32 = 1;

/// One stage in `metadata.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedStage {
    /// Spark's class name of the stage (the estimator's, as in the spec).
    pub class: String,
    /// Its uid.
    pub uid: String,
    /// Its parameters.
    pub params: ParamMap,
    /// Its directory, relative to the pipeline's (`stages/<index>_<uid>`).
    pub dir: String,
    /// CRC-32 of the stage directory's `metadata.json` (which holds its data's checksum).
    pub metadata_crc32: u32,
}

/// `metadata.json` of a saved pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipelineMetadata {
    /// Always `PipelineModel`.
    pub class: String,
    /// [`PIPELINE_FORMAT_VERSION`].
    pub format_version: u32,
    /// Version of the crate that wrote it.
    pub crate_version: String,
    /// The stages in order.
    pub stages: Vec<SavedStage>,
    /// What the caller saved with the pipeline (input schema, spec, tuning results).
    #[serde(default)]
    pub extra: Value,
}

/// Whether `dir` holds a saved pipeline (rather than a single model).
pub fn is_pipeline(dir: &Path) -> bool {
    std::fs::read(dir.join("metadata.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .is_some_and(|v| v.get("class").and_then(Value::as_str) == Some("PipelineModel"))
}

impl<F: Frame> PipelineModel<F> {
    /// Writes the fitted pipeline (with the classes of its spec's stages and `extra`) to
    /// the new directory `dir`.
    pub fn save(&self, dir: &Path, classes: &[String], extra: Value) -> Result<(), MlError> {
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
            cinder_actors::private_fs::create_dir_all(&tmp.join("stages"))
                .map_err(|e| model_error(&tmp, e))?;
            let mut stages = Vec::new();
            for (i, (uid, model)) in self.stages.iter().enumerate() {
                let rel = format!("stages/{i}_{uid}");
                let stage_dir = tmp.join(&rel);
                model.save(&stage_dir)?;
                let meta = std::fs::read(stage_dir.join("metadata.json"))
                    .map_err(|e| model_error(&stage_dir, e))?;
                stages.push(SavedStage {
                    class: classes
                        .get(i)
                        .cloned()
                        .unwrap_or_else(|| model.class().to_string()),
                    uid: uid.clone(),
                    params: model.params().clone(),
                    dir: rel,
                    metadata_crc32: crc32fast::hash(&meta),
                });
            }
            let metadata = PipelineMetadata {
                class: "PipelineModel".into(),
                format_version: PIPELINE_FORMAT_VERSION,
                crate_version: env!("CARGO_PKG_VERSION").to_string(),
                stages,
                extra,
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

    /// Loads a pipeline saved by [`PipelineModel::save`], with its metadata.
    pub fn load(dir: &Path) -> Result<(Self, PipelineMetadata), MlError> {
        let meta_path = dir.join("metadata.json");
        let text = std::fs::read(&meta_path).map_err(|e| model_error(&meta_path, e))?;
        let metadata: PipelineMetadata = serde_json::from_slice(&text)
            .map_err(|e| model_error(&meta_path, format!("corrupt: {e}")))?;
        if metadata.class != "PipelineModel" {
            return Err(model_error(
                dir,
                format!("holds a {}, not a PipelineModel", metadata.class),
            ));
        }
        if metadata.format_version != PIPELINE_FORMAT_VERSION {
            return Err(model_error(
                &meta_path,
                format!(
                    "format version {} (this build reads {PIPELINE_FORMAT_VERSION})",
                    metadata.format_version
                ),
            ));
        }
        let mut stages = Vec::new();
        for s in &metadata.stages {
            if s.dir.contains("..") || Path::new(&s.dir).is_absolute() {
                return Err(model_error(
                    &meta_path,
                    format!("bad stage directory {:?}", s.dir),
                ));
            }
            let stage_dir: PathBuf = dir.join(&s.dir);
            let meta_file = stage_dir.join("metadata.json");
            let meta = std::fs::read(&meta_file).map_err(|e| model_error(&meta_file, e))?;
            let found = crc32fast::hash(&meta);
            if found != s.metadata_crc32 {
                return Err(model_error(
                    &meta_file,
                    format!(
                        "checksum mismatch (CRC-32 {found:08x}, the pipeline's metadata.json \
                         says {:08x})",
                        s.metadata_crc32
                    ),
                ));
            }
            let model = registry::load_model::<F>(&s.class, &stage_dir, s.params.clone())?;
            stages.push((s.uid.clone(), model));
        }
        Ok((Self { stages }, metadata))
    }
}
