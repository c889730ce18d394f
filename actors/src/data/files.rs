//! Partitions to and from files: Parquet, CSV and Arrow IPC writers (one file per partition,
//! written under a temporary name and renamed into place), Parquet row-group and Arrow IPC
//! file readers.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use serde::{Deserialize, Serialize};

/// File formats datasets are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FileFormat {
    /// Apache Parquet (snappy).
    Parquet,
    /// CSV with a header line.
    Csv,
    /// Arrow IPC file format.
    ArrowIpc,
}

impl FileFormat {
    /// The file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Parquet => "parquet",
            Self::Csv => "csv",
            Self::ArrowIpc => "arrow",
        }
    }
}

/// The final name of partition `p`'s file in a written directory.
pub fn part_file(dir: &Path, partition: u32, format: FileFormat) -> PathBuf {
    dir.join(format!("part-{partition:05}.{}", format.extension()))
}

/// Writes one partition as `dir/part-NNNNN.ext`: first under a name unique to the attempt,
/// then renamed, so a reader never sees half a file.
pub fn write_partition(
    batch: &RecordBatch,
    dir: &Path,
    partition: u32,
    attempt: u64,
    format: FileFormat,
) -> Result<(), String> {
    let target = part_file(dir, partition, format);
    let tmp = target.with_extension(format!("{}.attempt-{attempt}", format.extension()));
    let at = |e: &dyn std::fmt::Display| format!("{}: {e}", tmp.display());
    let file = File::create(&tmp).map_err(|e| at(&e))?;
    let mut out = BufWriter::new(file);
    match format {
        FileFormat::Parquet => {
            let props = parquet::file::properties::WriterProperties::builder()
                .set_compression(parquet::basic::Compression::SNAPPY)
                .build();
            let mut writer =
                parquet::arrow::ArrowWriter::try_new(&mut out, batch.schema(), Some(props))
                    .map_err(|e| at(&e))?;
            writer.write(batch).map_err(|e| at(&e))?;
            writer.close().map_err(|e| at(&e))?;
        }
        FileFormat::Csv => {
            let mut writer = arrow_csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut out);
            writer.write(batch).map_err(|e| at(&e))?;
        }
        FileFormat::ArrowIpc => {
            let mut writer = arrow_ipc::writer::FileWriter::try_new(&mut out, &batch.schema())
                .map_err(|e| at(&e))?;
            writer.write(batch).map_err(|e| at(&e))?;
            writer.finish().map_err(|e| at(&e))?;
        }
    }
    let file = out.into_inner().map_err(|e| at(&e))?;
    file.sync_all().map_err(|e| at(&e))?;
    std::fs::rename(&tmp, &target).map_err(|e| at(&e))
}

/// Reads one row group of a Parquet file.
pub fn read_parquet_row_group(path: &Path, row_group: usize) -> Result<RecordBatch, String> {
    let at = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let file = File::open(path).map_err(|e| at(&e))?;
    let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| at(&e))?;
    let schema = builder.schema().clone();
    let reader = builder
        .with_row_groups(vec![row_group])
        .with_batch_size(64 * 1024)
        .build()
        .map_err(|e| at(&e))?;
    let batches = reader.collect::<Result<Vec<_>, _>>().map_err(|e| at(&e))?;
    arrow_select::concat::concat_batches(&schema, &batches).map_err(|e| at(&e))
}

/// Reads one piece of a Parquet partition: `piece.rows` rows of one row group from
/// `piece.offset`. With a page index in the file, only the pages holding those rows are read
/// and decoded.
pub fn read_parquet_piece(
    piece: &crate::data::partitioning::ParquetPiece,
) -> Result<RecordBatch, String> {
    use parquet::arrow::arrow_reader::{
        ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection, RowSelector,
    };
    let path = Path::new(&piece.file);
    let at = |e: &dyn std::fmt::Display| {
        format!(
            "{} row group {} rows {}..{}: {e}",
            path.display(),
            piece.row_group,
            piece.offset,
            piece.offset + piece.rows
        )
    };
    let file = File::open(path).map_err(|e| at(&e))?;
    let options = ArrowReaderOptions::new()
        .with_offset_index_policy(parquet::file::metadata::PageIndexPolicy::Optional);
    let builder =
        ParquetRecordBatchReaderBuilder::try_new_with_options(file, options).map_err(|e| at(&e))?;
    let groups = builder.metadata().num_row_groups();
    if piece.row_group as usize >= groups {
        return Err(at(&format!("the file has {groups} row groups")));
    }
    let schema = builder.schema().clone();
    let selection = RowSelection::from(vec![
        RowSelector::skip(piece.offset as usize),
        RowSelector::select(piece.rows as usize),
    ]);
    let reader = builder
        .with_row_groups(vec![piece.row_group as usize])
        .with_row_selection(selection)
        .with_batch_size(64 * 1024)
        .build()
        .map_err(|e| at(&e))?;
    let batches = reader.collect::<Result<Vec<_>, _>>().map_err(|e| at(&e))?;
    let batch = arrow_select::concat::concat_batches(&schema, &batches).map_err(|e| at(&e))?;
    if batch.num_rows() as u64 != piece.rows {
        return Err(at(&format!(
            "read {} rows, the plan expected {}",
            batch.num_rows(),
            piece.rows
        )));
    }
    Ok(batch)
}

/// Rows of each row group of a Parquet file, and the file's uncompressed data size in bytes.
pub fn parquet_layout(path: &Path) -> Result<(Vec<u64>, u64), String> {
    let at = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let file = File::open(path).map_err(|e| at(&e))?;
    let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| at(&e))?;
    let groups = builder.metadata().row_groups();
    let rows = groups.iter().map(|g| g.num_rows().max(0) as u64).collect();
    let bytes = groups
        .iter()
        .map(|g| g.total_byte_size().max(0) as u64)
        .sum();
    Ok((rows, bytes))
}

/// Row groups of a Parquet file.
pub fn parquet_row_groups(path: &Path) -> Result<usize, String> {
    let at = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let file = File::open(path).map_err(|e| at(&e))?;
    let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| at(&e))?;
    Ok(builder.metadata().num_row_groups())
}

/// Reads every batch of an Arrow IPC file as one batch.
pub fn read_ipc_file(path: &Path) -> Result<RecordBatch, String> {
    let at = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let file = File::open(path).map_err(|e| at(&e))?;
    let reader = arrow_ipc::reader::FileReader::try_new(file, None).map_err(|e| at(&e))?;
    let schema = reader.schema();
    let batches = reader.collect::<Result<Vec<_>, _>>().map_err(|e| at(&e))?;
    match batches.len() {
        0 => Ok(RecordBatch::new_empty(schema)),
        _ => arrow_select::concat::concat_batches(&schema, &batches).map_err(|e| at(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn every_format_round_trips_or_fails_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let batch = RecordBatch::try_from_iter([
            (
                "x",
                Arc::new(arrow_array::Int64Array::from(vec![1, 2, 3])) as _,
            ),
            (
                "y",
                Arc::new(arrow_array::Float64Array::from(vec![0.5, 1.5, 2.5])) as _,
            ),
        ])
        .unwrap();
        for format in [FileFormat::Parquet, FileFormat::Csv, FileFormat::ArrowIpc] {
            write_partition(&batch, dir.path(), 3, 9, format).unwrap();
            assert!(part_file(dir.path(), 3, format).exists());
        }
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 3, "no attempt files left: {names:?}");
        assert_eq!(
            read_parquet_row_group(&part_file(dir.path(), 3, FileFormat::Parquet), 0).unwrap(),
            batch
        );
        assert_eq!(
            read_ipc_file(&part_file(dir.path(), 3, FileFormat::ArrowIpc)).unwrap(),
            batch
        );
        let csv = std::fs::read_to_string(part_file(dir.path(), 3, FileFormat::Csv)).unwrap();
        assert!(csv.starts_with("x,y\n1,0.5\n"), "{csv}");
        let err = read_parquet_row_group(&dir.path().join("missing.parquet"), 0).unwrap_err();
        assert!(err.contains("missing.parquet"), "{err}");
    }
}
