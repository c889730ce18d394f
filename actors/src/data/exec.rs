//! The worker-side executor: computes one partition from its lineage, reading persisted
//! partitions from the block managers when they exist, persisting what the plan says, and
//! applying the task's action. CPU work runs on tokio's blocking pool so the actor threads that
//! answer heartbeats never wait on it.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;

use arrow_array::{BooleanArray, RecordBatch};
use tracing::{debug, warn};

use super::aggregate::aggregate_function;
use super::functions::{filter_function, generate_function, map_function};
use super::plan::{partition_block, DatasetId, Op, TextFormat};
use super::{ipc, libsvm};
use crate::block_manager::BlockManagerHandle;
use crate::wire::{TaskAction, TaskError, TaskMetrics, TaskOutput, TaskSpec};

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
        let action = spec.action.clone();
        let output = cpu(move || apply_action(batch, &action)).await?;
        Ok((output, metrics))
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
            let block = partition_block(d, p);
            if node.persist.is_some() {
                if let Some(bytes) = self.blocks.get_local(&block).await.map_err(internal)? {
                    metrics.cached_local += 1;
                    return cpu(move || ipc::decode(&bytes).map_err(internal)).await;
                }
                match self.blocks.read_remote(&block).await {
                    Ok(Some(bytes)) => {
                        metrics.cached_remote += 1;
                        return cpu(move || ipc::decode(&bytes).map_err(internal)).await;
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
            } => {
                let split = *splits
                    .get(p as usize)
                    .ok_or_else(|| internal(format!("no split for partition {p}")))?;
                cpu(move || match format {
                    TextFormat::LibSvm { num_features } => {
                        libsvm::read_partition(Path::new(&path), &split, num_features)
                            .map_err(|message| TaskError::BadInput { message })
                    }
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
        }
    }
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
