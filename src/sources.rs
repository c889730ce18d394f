//! Creating datasets: in-memory batches, registered generators, LibSVM files.

use std::path::Path;

use arrow_array::RecordBatch;
use cinder_actors::data::plan::{Op, TextFormat};
use cinder_actors::data::{ipc, libsvm, text};
use serde::Serialize;

use crate::dataset::{encode_args, Dataset};
use crate::{Context, Error, Result};

/// Options of [`Context::read_libsvm`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LibSvmOptions {
    /// Vector size; `None` infers it as the largest index in the file (Spark's `numFeatures`).
    pub num_features: Option<u32>,
    /// Number of partitions (line-aligned byte ranges of the file).
    pub partitions: u32,
}

impl Default for LibSvmOptions {
    fn default() -> Self {
        Self {
            num_features: None,
            partitions: 2,
        }
    }
}

impl Context {
    /// A dataset of the given batches, one partition each. The data travels with the jobs
    /// that need it (like Spark's `parallelize`): meant for small data.
    pub fn parallelize(&self, batches: Vec<RecordBatch>) -> Result<Dataset> {
        let partitions = batches
            .iter()
            .enumerate()
            .map(|(i, b)| Ok((i as u32, serde_bytes::ByteBuf::from(ipc::encode(b)?))))
            .collect::<Result<_>>()?;
        let count = batches.len() as u32;
        Ok(Dataset::create(
            &self.inner,
            "parallelize",
            Op::Collection { partitions },
            count,
        ))
    }

    /// A dataset whose partition `p` is made on the workers by a registered generator
    /// (`cinder::register_generator!`), e.g. the built-in `cinder.range`.
    pub fn generate<A: Serialize + ?Sized>(
        &self,
        generator: &str,
        args: &A,
        partitions: u32,
    ) -> Result<Dataset> {
        let op = Op::Generate {
            generator: generator.to_string(),
            args: encode_args(args)?,
        };
        Ok(Dataset::create(&self.inner, generator, op, partitions))
    }

    /// A LibSVM file as columns `label` (Float64) and `features` (sparse vector). The file
    /// must be readable at the same path on every worker. A missing file names the path;
    /// a malformed line fails the job with `file:line: what`.
    pub fn read_libsvm(&self, path: impl AsRef<Path>, options: LibSvmOptions) -> Result<Dataset> {
        let path = absolute(path.as_ref())?;
        let num_features = match options.num_features {
            Some(n) => n,
            None => libsvm::infer_num_features(&path).map_err(Error::Input)?,
        };
        let splits = text::plan_splits(&path, options.partitions.max(1))
            .map_err(|e| Error::Input(e.to_string()))?;
        let op = Op::TextFile {
            path: path.display().to_string(),
            format: TextFormat::LibSvm { num_features },
            splits,
        };
        Ok(Dataset::create(
            &self.inner,
            "libsvm",
            op,
            options.partitions.max(1),
        ))
    }
}

fn absolute(path: &Path) -> Result<std::path::PathBuf> {
    path.canonicalize()
        .map_err(|e| Error::Input(format!("{}: {e}", path.display())))
}
