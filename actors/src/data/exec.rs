//! The worker-side executor: computes one partition from its lineage, reading persisted
//! partitions from the block managers when they exist, persisting what the plan says, and
//! applying the task's action. CPU work runs on tokio's blocking pool so the actor threads that
//! answer heartbeats never wait on it.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;

use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, RecordBatch};
use arrow_schema::{Field, Schema};
use tracing::{debug, warn};

use super::aggregate::aggregate_function;
use super::functions::{column_function, filter_function, generate_function, map_function};
use super::plan::{DatasetId, Op, TextFormat};
use super::relational::{bucketize, cogroup, group_aggregate, hash_join};
use super::stamp::read_unchanged;
use super::{csv, files, ipc, libsvm};
use crate::block_manager::{BlockError, BlockManagerHandle};
use crate::transport::TransportError;
use crate::wire::{StorageLevel, TaskAction, TaskError, TaskMetrics, TaskOutput, TaskSpec};

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Runs tasks on one worker.
#[derive(Clone)]
pub struct Executor {
    blocks: BlockManagerHandle,
}

fn internal(e: impl std::fmt::Display) -> TaskError {
    TaskError::Internal {
        message: e.to_string(),
    }
}

/// Runs CPU-bound work on the blocking pool.
async fn cpu<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, TaskError> + Send + 'static,
) -> Result<T, TaskError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| internal(format!("compute thread failed: {e}")))?
}

impl Executor {
    /// An executor storing and reading blocks through `blocks`.
    pub fn new(blocks: BlockManagerHandle) -> Self {
        Self { blocks }
    }

    /// Runs one task to its output.
    pub async fn run(&self, spec: &TaskSpec) -> Result<(TaskOutput, TaskMetrics), TaskError> {
        let mut metrics = TaskMetrics::default();
        let batch = self
            .partition(spec, spec.target, spec.partition, &mut metrics)
            .await?;
        if let TaskAction::ShuffleWrite {
            shuffle,
            keys,
            num_partitions,
        } = &spec.action
        {
            self.write_shuffle(
                batch,
                &spec.lineage.app,
                *shuffle,
                keys.clone(),
                *num_partitions,
                spec.partition,
            )
            .await?;
            return Ok((TaskOutput::Unit, metrics));
        }
        if let TaskAction::Write { format, dir } = &spec.action {
            let (format, dir) = (*format, dir.clone());
            let (partition, attempt) = (spec.partition, spec.attempt_id);
            cpu(move || {
                files::write_partition(&batch, Path::new(&dir), partition, attempt, format)
                    .map_err(|message| TaskError::Storage { message })
            })
            .await?;
            return Ok((TaskOutput::Unit, metrics));
        }
        let action = spec.action.clone();
        let output = cpu(move || apply_action(batch, &action)).await?;
        Ok((output, metrics))
    }

    /// Map side of a shuffle: buckets the partition and stores every bucket (empty ones too,
    /// so reducers can tell a lost output from an empty one).
    async fn write_shuffle(
        &self,
        batch: RecordBatch,
        app: &str,
        shuffle: DatasetId,
        keys: Vec<String>,
        buckets: u32,
        map: u32,
    ) -> Result<(), TaskError> {
        let encoded = cpu(move || {
            let parts = bucketize(&batch, &keys, buckets, map)
                .map_err(|message| TaskError::BadInput { message })?;
            parts
                .iter()
                .map(|b| ipc::encode(b).map(bytes::Bytes::from).map_err(internal))
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
        for (reduce, bytes) in encoded.into_iter().enumerate() {
            let block = super::plan::shuffle_block(app, shuffle, map, reduce as u32);
            self.blocks
                .put_level(block, bytes, StorageLevel::MemoryAndDisk)
                .await
                .map_err(|e| TaskError::Storage {
                    message: e.to_string(),
                })?;
        }
        Ok(())
    }

    /// Reduce side of a shuffle: bucket `reduce` of every map output, in map order.
    async fn read_shuffle(
        &self,
        spec: &TaskSpec,
        shuffle: DatasetId,
        reduce: u32,
    ) -> Result<RecordBatch, TaskError> {
        let holders = spec
            .shuffles
            .get(&shuffle)
            .ok_or_else(|| internal(format!("no map output locations for shuffle {shuffle}")))?;
        let mut parts = Vec::with_capacity(holders.len());
        for (map, (worker, address)) in holders.iter().enumerate() {
            let block = spec.lineage.shuffle_block(shuffle, map as u32, reduce);
            let lost = |message: String| TaskError::MapOutputLost {
                shuffle,
                map_partition: map as u32,
                worker: worker.clone(),
                message,
            };
            let local = self.blocks.get_local(&block).await.map_err(internal)?;
            let bytes = match local {
                Some(bytes) => bytes,
                None => self
                    .blocks
                    .fetch_from(worker, address, &block)
                    .await
                    .map_err(|e| match e {
                        BlockError::Transport(t @ TransportError::Refused { .. }) => {
                            TaskError::from_transport(worker, &t)
                        }
                        e => lost(e.to_string()),
                    })?
                    .ok_or_else(|| lost(format!("{worker} does not hold {block}")))?,
            };
            parts.push(bytes);
        }
        cpu(move || {
            let batches = parts
                .into_iter()
                .map(|b| ipc::decode_shared(b).map_err(internal))
                .collect::<Result<Vec<_>, _>>()?;
            match batches.first() {
                None => Ok(ipc::empty()),
                Some(first) => arrow_select::concat::concat_batches(&first.schema(), &batches)
                    .map_err(internal),
            }
        })
        .await
    }

    fn partition<'a>(
        &'a self,
        spec: &'a TaskSpec,
        d: DatasetId,
        p: u32,
        metrics: &'a mut TaskMetrics,
    ) -> BoxFuture<'a, Result<RecordBatch, TaskError>> {
        Box::pin(async move {
            let node = spec.lineage.node(d).map_err(internal)?;
            let block = spec.lineage.partition_block(d, p);
            if node.persist.is_some() {
                if let Some(bytes) = self.blocks.get_local(&block).await.map_err(internal)? {
                    metrics.cached_local += 1;
                    return cpu(move || ipc::decode_shared(bytes).map_err(internal)).await;
                }
                match self.blocks.read_remote(&block).await {
                    Ok(Some(bytes)) => {
                        metrics.cached_remote += 1;
                        return cpu(move || ipc::decode_shared(bytes).map_err(internal)).await;
                    }
                    Ok(None) => {}
                    Err(e) => warn!(%block, "remote cached copy unreadable, recomputing: {e}"),
                }
            }
            let batch = self.compute(spec, d, p, metrics).await?;
            metrics.computed += 1;
            if let Some(persist) = node.persist {
                let to_store = batch.clone();
                let bytes = cpu(move || ipc::encode(&to_store).map_err(internal)).await?;
                let bytes = bytes::Bytes::from(bytes);
                self.blocks
                    .put_level(block.clone(), bytes.clone(), persist.level)
                    .await
                    .map_err(|e| TaskError::Storage {
                        message: e.to_string(),
                    })?;
                let copies = usize::from(persist.replication.max(1)) - 1;
                for (peer, address) in spec.replicas.iter().take(copies) {
                    if let Err(e) = self
                        .blocks
                        .push_to(address, block.clone(), bytes.clone(), persist.level)
                        .await
                    {
                        warn!(%block, %peer, "replica not stored: {e}");
                    }
                }
                debug!(%block, rows = batch.num_rows(), "partition persisted");
            }
            Ok(batch)
        })
    }

    async fn compute(
        &self,
        spec: &TaskSpec,
        d: DatasetId,
        p: u32,
        metrics: &mut TaskMetrics,
    ) -> Result<RecordBatch, TaskError> {
        let node = spec.lineage.node(d).map_err(internal)?;
        let partitions = node.num_partitions;
        match node.op.clone() {
            Op::Generate { generator, args } => {
                let func = generate_function(&generator)?;
                cpu(move || {
                    func(p, partitions, &args).map_err(|message| TaskError::UserFunction {
                        name: generator,
                        message,
                    })
                })
                .await
            }
            Op::Collection { partitions } => {
                let bytes = partitions
                    .get(&p)
                    .ok_or_else(|| internal(format!("collection partition {p} not shipped")))?
                    .clone();
                cpu(move || ipc::decode(&bytes).map_err(internal)).await
            }
            Op::TextFile {
                path,
                format,
                splits,
                stamp,
            } => {
                let split = *splits
                    .get(p as usize)
                    .ok_or_else(|| internal(format!("no split for partition {p}")))?;
                cpu(move || {
                    read_unchanged(&path, stamp.as_ref(), || match format {
                        TextFormat::LibSvm { num_features } => {
                            libsvm::read_partition(Path::new(&path), &split, num_features)
                                .map_err(|message| TaskError::BadInput { message })
                        }
                        TextFormat::Csv(layout) => {
                            csv::read_partition(Path::new(&path), &split, &layout)
                                .map_err(|message| TaskError::BadInput { message })
                        }
                    })
                })
                .await
            }
            Op::ParquetFiles { parts, stamps } => {
                let pieces = parts
                    .get(p as usize)
                    .cloned()
                    .ok_or_else(|| internal(format!("no row range for partition {p}")))?;
                let stamps = stamps.clone();
                cpu(move || {
                    let mut batches = Vec::with_capacity(pieces.len());
                    for piece in &pieces {
                        let stamp = stamps.get(&piece.file);
                        batches.push(read_unchanged(&piece.file, stamp, || {
                            files::read_parquet_piece(piece)
                                .map_err(|message| TaskError::BadInput { message })
                        })?);
                    }
                    match batches.len() {
                        1 => Ok(batches.pop().expect("one batch")),
                        0 => Err(internal(format!("partition {p} has no rows to read"))),
                        _ => arrow_select::concat::concat_batches(&batches[0].schema(), &batches)
                            .map_err(internal),
                    }
                })
                .await
            }
            Op::IpcFiles { paths } => {
                let file = paths
                    .get(p as usize)
                    .cloned()
                    .ok_or_else(|| internal(format!("no file for partition {p}")))?;
                cpu(move || {
                    files::read_ipc_file(Path::new(&file))
                        .map_err(|message| TaskError::BadInput { message })
                })
                .await
            }
            Op::MapBatches {
                parent,
                function,
                args,
            } => {
                let func = map_function(&function)?;
                let input = self.partition(spec, parent, p, metrics).await?;
                cpu(move || {
                    func(&input, &args).map_err(|message| TaskError::UserFunction {
                        name: function,
                        message,
                    })
                })
                .await
            }
            Op::Filter {
                parent,
                function,
                args,
            } => {
                let func = filter_function(&function)?;
                let input = self.partition(spec, parent, p, metrics).await?;
                cpu(move || {
                    let mask = func(&input, &args).map_err(|message| TaskError::UserFunction {
                        name: function,
                        message,
                    })?;
                    arrow_select::filter::filter_record_batch(&input, &mask).map_err(internal)
                })
                .await
            }
            Op::Select { parent, columns } => {
                let input = self.partition(spec, parent, p, metrics).await?;
                select(&input, &columns)
            }
            Op::Sample {
                parent,
                lower,
                upper,
                seed,
            } => {
                let input = self.partition(spec, parent, p, metrics).await?;
                cpu(move || {
                    let mask = sample_mask(input.num_rows(), lower, upper, seed, p);
                    arrow_select::filter::filter_record_batch(&input, &mask).map_err(internal)
                })
                .await
            }
            Op::Union { parents } => {
                let (parent, q) = spec.lineage.union_source(&parents, p).map_err(internal)?;
                self.partition(spec, parent, q, metrics).await
            }
            Op::WithColumn {
                parent,
                name,
                function,
                args,
            } => {
                let func = column_function(&function)?;
                let input = self.partition(spec, parent, p, metrics).await?;
                cpu(move || {
                    let column =
                        func(&input, &args).map_err(|message| TaskError::UserFunction {
                            name: function.clone(),
                            message,
                        })?;
                    with_column(&input, &name, column).map_err(|message| TaskError::UserFunction {
                        name: function,
                        message,
                    })
                })
                .await
            }
            Op::Shuffle { .. } => self.read_shuffle(spec, d, p).await,
            Op::GroupAggregate {
                parent,
                keys,
                aggregates,
            } => {
                let input = self.partition(spec, parent, p, metrics).await?;
                cpu(move || {
                    group_aggregate(&input, &keys, &aggregates)
                        .map_err(|message| TaskError::BadInput { message })
                })
                .await
            }
            Op::CoGroup { left, right, keys } => {
                let l = self.partition(spec, left, p, metrics).await?;
                let r = self.partition(spec, right, p, metrics).await?;
                cpu(move || {
                    cogroup(&l, &r, &keys).map_err(|message| TaskError::BadInput { message })
                })
                .await
            }
            Op::Join {
                left,
                right,
                keys,
                kind,
            } => {
                let l = self.partition(spec, left, p, metrics).await?;
                let r = self.partition(spec, right, p, metrics).await?;
                cpu(move || {
                    hash_join(&l, &r, &keys, kind)
                        .map_err(|message| TaskError::BadInput { message })
                })
                .await
            }
        }
    }
}

/// Appends `column` as `name`, replacing a column of that name.
pub fn with_column(
    batch: &RecordBatch,
    name: &str,
    column: ArrayRef,
) -> Result<RecordBatch, String> {
    if column.len() != batch.num_rows() {
        return Err(format!(
            "column has {} rows, the batch {}",
            column.len(),
            batch.num_rows()
        ));
    }
    let schema = batch.schema();
    let mut fields: Vec<Field> = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (i, f) in schema.fields().iter().enumerate() {
        if f.name() != name {
            fields.push(f.as_ref().clone());
            columns.push(batch.column(i).clone());
        }
    }
    fields.push(Field::new(name, column.data_type().clone(), true));
    columns.push(column);
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(|e| e.to_string())
}

/// Projects columns by name; a missing column is bad input naming what exists.
pub fn select(batch: &RecordBatch, columns: &[String]) -> Result<RecordBatch, TaskError> {
    let schema = batch.schema();
    let indices = columns
        .iter()
        .map(|name| {
            schema.index_of(name).map_err(|_| TaskError::BadInput {
                message: format!(
                    "no column {name:?}; columns are {:?}",
                    schema.fields().iter().map(|f| f.name()).collect::<Vec<_>>()
                ),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    batch.project(&indices).map_err(internal)
}

/// Deterministic Bernoulli mask: row `i` of partition `p` is kept when a hash of
/// `(seed, p, i)` falls in `[lower, upper)`.
pub fn sample_mask(rows: usize, lower: f64, upper: f64, seed: u64, partition: u32) -> BooleanArray {
    (0..rows)
        .map(|i| {
            let h = unit_hash(seed, partition, i as u64);
            Some(lower <= h && h < upper)
        })
        .collect()
}

/// A hash of `(seed, partition, row)` mapped to `[0, 1)` (splitmix64).
pub fn unit_hash(seed: u64, partition: u32, row: u64) -> f64 {
    let mut z = seed
        ^ (u64::from(partition)).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ row.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// Applies a task's action to a computed partition.
pub fn apply_action(batch: RecordBatch, action: &TaskAction) -> Result<TaskOutput, TaskError> {
    Ok(match action {
        TaskAction::Count => TaskOutput::Count(batch.num_rows() as u64),
        TaskAction::Collect => TaskOutput::Batch(ipc::encode(&batch).map_err(internal)?),
        TaskAction::Take { limit } => {
            let rows = (*limit as usize).min(batch.num_rows());
            TaskOutput::Batch(ipc::encode(&batch.slice(0, rows)).map_err(internal)?)
        }
        TaskAction::Aggregate { aggregator, args } => {
            let agg = aggregate_function(aggregator)?;
            let partial =
                (agg.partial)(&batch, args).map_err(|message| TaskError::UserFunction {
                    name: aggregator.clone(),
                    message,
                })?;
            TaskOutput::Partial(partial)
        }
        TaskAction::Materialize => TaskOutput::Unit,
        TaskAction::ForEach { function, args } => {
            let func = map_function(function)?;
            func(&batch, args).map_err(|message| TaskError::UserFunction {
                name: function.clone(),
                message,
            })?;
            TaskOutput::Unit
        }
        TaskAction::ShuffleWrite { .. } | TaskAction::Write { .. } => {
            return Err(internal("writes are handled by the executor"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_is_deterministic_and_close_to_the_fraction() {
        let a = sample_mask(10_000, 0.0, 0.3, 42, 3);
        let b = sample_mask(10_000, 0.0, 0.3, 42, 3);
        assert_eq!(a, b);
        let kept = a.values().count_set_bits();
        assert!((2_800..3_200).contains(&kept), "{kept}");
        assert_ne!(
            a,
            sample_mask(10_000, 0.0, 0.3, 43, 3),
            "another seed, another sample"
        );
        let rest = sample_mask(10_000, 0.3, 1.0, 42, 3);
        let both = a.values().count_set_bits() + rest.values().count_set_bits();
        assert_eq!(both, 10_000, "complementary ranges split exactly");
    }
}
