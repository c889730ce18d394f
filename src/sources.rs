//! Creating datasets: in-memory batches, registered generators, LibSVM files.

use std::collections::BTreeMap;
use std::path::Path;

use arrow_array::RecordBatch;
use cinder_actors::data::csv::{CsvLayout, CsvType};
use cinder_actors::data::partitioning::{default_partitions, split_rows};
use cinder_actors::data::plan::{Op, TextFormat};
use cinder_actors::data::stamp::FileStamp;
use cinder_actors::data::{csv, ipc, libsvm, text};
use serde::Serialize;

use crate::dataset::{encode_args, Dataset};
use crate::{Context, Error, Result};

/// Options of [`Context::read_libsvm`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LibSvmOptions {
    /// Vector size; `None` infers it as the largest index in the file (Spark's `numFeatures`).
    pub num_features: Option<u32>,
    /// Number of partitions (line-aligned byte ranges of the file); `None`: one per 16 MiB,
    /// at least 4.
    pub partitions: Option<u32>,
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
        let stamp = stamp_of(&path)?;
        let num_features = match options.num_features {
            Some(n) => n,
            None => libsvm::infer_num_features(&path).map_err(Error::Input)?,
        };
        let partitions = text_partitions(options.partitions, &stamp);
        let splits =
            text::plan_splits(&path, partitions).map_err(|e| Error::Input(e.to_string()))?;
        let op = Op::TextFile {
            path: path.display().to_string(),
            format: TextFormat::LibSvm { num_features },
            splits,
            stamp: Some(stamp),
        };
        Ok(Dataset::create(&self.inner, "libsvm", op, partitions))
    }
}

/// The file's length and modification time, taken before anything is read from it: a worker
/// that finds another stamp fails the task ("input changed since the job was planned").
fn stamp_of(path: &Path) -> Result<FileStamp> {
    FileStamp::of(path).map_err(|e| Error::Input(format!("{}: {e}", path.display())))
}

/// A text file's partitions: the caller's choice, or one per 16 MiB of the file, at least 4.
fn text_partitions(chosen: Option<u32>, stamp: &FileStamp) -> u32 {
    chosen
        .unwrap_or_else(|| default_partitions(stamp.len))
        .max(1)
}

fn absolute(path: &Path) -> Result<std::path::PathBuf> {
    path.canonicalize()
        .map_err(|e| Error::Input(format!("{}: {e}", path.display())))
}

/// Options of [`Context::read_parquet_with`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParquetOptions {
    /// Number of partitions (row ranges); `None`: one per 16 MiB of uncompressed data, at
    /// least 4.
    pub partitions: Option<u32>,
}

/// Options of [`Context::read_csv`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvOptions {
    /// The first line holds column names (default true).
    pub header: bool,
    /// Field delimiter (default `,`).
    pub delimiter: u8,
    /// Columns and types; `None` infers them from the first 1,000 rows.
    pub schema: Option<Vec<(String, CsvType)>>,
    /// Number of partitions (line-aligned byte ranges of the file); `None`: one per 16 MiB,
    /// at least 4.
    pub partitions: Option<u32>,
}

impl Default for CsvOptions {
    fn default() -> Self {
        Self {
            header: true,
            delimiter: b',',
            schema: None,
            partitions: None,
        }
    }
}

impl Context {
    /// A CSV file with a header (or not) and a given or inferred schema. The file must be
    /// readable at the same path on every worker. A malformed line fails the job with
    /// `file:line: what`.
    pub fn read_csv(&self, path: impl AsRef<Path>, options: CsvOptions) -> Result<Dataset> {
        let path = absolute(path.as_ref())?;
        let stamp = stamp_of(&path)?;
        let layout = match options.schema {
            Some(columns) => CsvLayout {
                header: options.header,
                delimiter: options.delimiter,
                columns,
            },
            None => csv::infer_layout(&path, options.header, options.delimiter, 1_000)
                .map_err(Error::Input)?,
        };
        let partitions = text_partitions(options.partitions, &stamp);
        let splits =
            text::plan_splits(&path, partitions).map_err(|e| Error::Input(e.to_string()))?;
        let op = Op::TextFile {
            path: path.display().to_string(),
            format: TextFormat::Csv(layout),
            splits,
            stamp: Some(stamp),
        };
        Ok(Dataset::create(&self.inner, "csv", op, partitions))
    }

    /// A Parquet file, or a directory of `*.parquet` files, in
    /// [`default_partitions`](cinder_actors::data::partitioning::default_partitions) of its
    /// uncompressed size (one per 16 MiB, at least 4).
    pub fn read_parquet(&self, path: impl AsRef<Path>) -> Result<Dataset> {
        self.read_parquet_with(path, ParquetOptions::default())
    }

    /// A Parquet file, or a directory of `*.parquet` files, cut into row ranges (a large row
    /// group is split across partitions; each task decodes only its rows).
    pub fn read_parquet_with(
        &self,
        path: impl AsRef<Path>,
        options: ParquetOptions,
    ) -> Result<Dataset> {
        let files = data_files(&absolute(path.as_ref())?, "parquet")?;
        let mut layout = Vec::new();
        let mut stamps = BTreeMap::new();
        let mut bytes = 0u64;
        for file in files {
            let stamp = stamp_of(&file)?;
            let (groups, size) =
                cinder_actors::data::files::parquet_layout(&file).map_err(Error::Input)?;
            bytes += size;
            layout.push((file.display().to_string(), groups));
            stamps.insert(file.display().to_string(), stamp);
        }
        let partitions = options
            .partitions
            .unwrap_or_else(|| default_partitions(bytes));
        let parts = split_rows(&layout, partitions.max(1));
        let count = parts.len() as u32;
        Ok(Dataset::create(
            &self.inner,
            "parquet",
            Op::ParquetFiles { parts, stamps },
            count,
        ))
    }

    /// An Arrow IPC file, or a directory of `*.arrow` files: one partition per file.
    pub fn read_ipc(&self, path: impl AsRef<Path>) -> Result<Dataset> {
        let paths: Vec<String> = data_files(&absolute(path.as_ref())?, "arrow")?
            .into_iter()
            .map(|p| p.display().to_string())
            .collect();
        let count = paths.len() as u32;
        Ok(Dataset::create(
            &self.inner,
            "ipc",
            Op::IpcFiles { paths },
            count,
        ))
    }
}

/// A file, or the files with `extension` in a directory, sorted by name.
fn data_files(path: &Path, extension: &str) -> Result<Vec<std::path::PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let entries =
        std::fs::read_dir(path).map_err(|e| Error::Input(format!("{}: {e}", path.display())))?;
    let mut files: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == extension))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(Error::Input(format!(
            "{}: no .{extension} files",
            path.display()
        )));
    }
    Ok(files)
}
