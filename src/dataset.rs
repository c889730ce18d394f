//! [`Dataset`]: a node of the lineage graph, with transformations (lazy) and actions (jobs).
//!
//! Transformations only add nodes to the driver's lineage graph; actions ship the lineage a
//! job needs to the master, which runs one task per partition on the workers. Results come back
//! in partition order and are combined on the driver in that order, so they never depend on
//! which worker computed what (or how many times).

use std::sync::Arc;

use arrow_array::RecordBatch;
use cinder_actors::data::aggregate::Aggregator;
use cinder_actors::data::files::FileFormat;
use cinder_actors::data::ipc;
use cinder_actors::data::plan::{op_parents, DatasetId, DatasetNode, Lineage, Op, Persist};
use cinder_actors::data::relational::{AggSpec, JoinKind};
use cinder_actors::wire::{JobSpec, StorageLevel, TaskAction, TaskOutput};
use serde::Serialize;

use crate::context::Inner;
use crate::{Error, Result};

/// A distributed collection of Arrow record batches, one per partition.
#[derive(Clone)]
pub struct Dataset {
    inner: Arc<Inner>,
    id: DatasetId,
    num_partitions: u32,
}

impl std::fmt::Debug for Dataset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dataset")
            .field("id", &self.id)
            .field("partitions", &self.num_partitions)
            .finish()
    }
}

pub(crate) fn encode_args<T: Serialize + ?Sized>(args: &T) -> Result<Vec<u8>> {
    rmp_serde::to_vec_named(args).map_err(|e| Error::Encoding(e.to_string()))
}

impl Dataset {
    /// Adds a node to the lineage graph and returns its dataset.
    pub(crate) fn create(inner: &Arc<Inner>, name: &str, op: Op, num_partitions: u32) -> Self {
        let id = inner.next_id();
        let node = DatasetNode {
            id,
            name: name.to_string(),
            op,
            num_partitions,
            persist: None,
        };
        inner
            .lineage
            .lock()
            .expect("lineage lock")
            .nodes
            .insert(id, node);
        Self {
            inner: inner.clone(),
            id,
            num_partitions,
        }
    }

    /// The dataset's id in the lineage graph.
    pub fn id(&self) -> DatasetId {
        self.id
    }

    /// Number of partitions.
    pub fn num_partitions(&self) -> u32 {
        self.num_partitions
    }

    fn derive(&self, name: &str, op: Op) -> Dataset {
        Dataset::create(&self.inner, name, op, self.num_partitions)
    }

    /// Applies a registered batch function (see `cinder::register_map!`) to every partition.
    pub fn map_batches<A: Serialize + ?Sized>(&self, function: &str, args: &A) -> Result<Dataset> {
        let op = Op::MapBatches {
            parent: self.id,
            function: function.to_string(),
            args: encode_args(args)?,
        };
        Ok(self.derive(function, op))
    }

    /// Keeps the rows for which a registered predicate holds (see `cinder::register_filter!`).
    pub fn filter<A: Serialize + ?Sized>(&self, function: &str, args: &A) -> Result<Dataset> {
        let op = Op::Filter {
            parent: self.id,
            function: function.to_string(),
            args: encode_args(args)?,
        };
        Ok(self.derive(function, op))
    }

    /// Keeps the named columns, in that order.
    pub fn select(&self, columns: &[&str]) -> Dataset {
        let op = Op::Select {
            parent: self.id,
            columns: columns.iter().map(|c| c.to_string()).collect(),
        };
        self.derive("select", op)
    }

    /// A Bernoulli sample keeping each row with probability `fraction`, deterministic per
    /// `seed` (recomputation keeps exactly the same rows).
    pub fn sample(&self, fraction: f64, seed: u64) -> Result<Dataset> {
        if !(0.0..=1.0).contains(&fraction) {
            return Err(Error::Input(format!(
                "sample fraction {fraction} is not in [0, 1]"
            )));
        }
        let op = Op::Sample {
            parent: self.id,
            lower: 0.0,
            upper: fraction,
            seed,
        };
        Ok(self.derive("sample", op))
    }

    /// Splits rows at random into datasets sized by `weights` (normalized), deterministic per
    /// `seed`: every row lands in exactly one of them.
    pub fn random_split(&self, weights: &[f64], seed: u64) -> Result<Vec<Dataset>> {
        let total: f64 = weights.iter().sum();
        if weights.is_empty() || weights.iter().any(|w| !w.is_finite() || *w < 0.0) || total <= 0.0
        {
            return Err(Error::Input(format!(
                "random_split weights {weights:?} must be non-negative with a positive sum"
            )));
        }
        let mut lower = 0.0;
        let mut out = Vec::with_capacity(weights.len());
        for (i, w) in weights.iter().enumerate() {
            let upper = if i + 1 == weights.len() {
                1.0
            } else {
                lower + w / total
            };
            let op = Op::Sample {
                parent: self.id,
                lower,
                upper,
                seed,
            };
            out.push(self.derive("random_split", op));
            lower = upper;
        }
        Ok(out)
    }

    /// The partitions of `self` followed by those of `other`.
    pub fn union(&self, other: &Dataset) -> Dataset {
        let op = Op::Union {
            parents: vec![self.id, other.id],
        };
        Dataset::create(
            &self.inner,
            "union",
            op,
            self.num_partitions + other.num_partitions,
        )
    }

    /// Adds (or replaces) column `name` computed by a registered column function
    /// (`cinder::register_column!`).
    pub fn with_column<A: Serialize + ?Sized>(
        &self,
        name: &str,
        function: &str,
        args: &A,
    ) -> Result<Dataset> {
        let op = Op::WithColumn {
            parent: self.id,
            name: name.to_string(),
            function: function.to_string(),
            args: encode_args(args)?,
        };
        Ok(self.derive(function, op))
    }

    /// Like [`Dataset::with_column`] with arguments already encoded (MessagePack bytes).
    pub fn with_column_raw(&self, name: &str, function: &str, args: Vec<u8>) -> Dataset {
        let op = Op::WithColumn {
            parent: self.id,
            name: name.to_string(),
            function: function.to_string(),
            args,
        };
        self.derive(function, op)
    }

    fn shuffle(&self, keys: &[&str], partitions: u32) -> Result<Dataset> {
        if partitions == 0 {
            return Err(Error::Input("a shuffle needs at least 1 partition".into()));
        }
        let op = Op::Shuffle {
            parent: self.id,
            keys: keys.iter().map(|k| k.to_string()).collect(),
        };
        Ok(Dataset::create(&self.inner, "shuffle", op, partitions))
    }

    /// Redistributes rows round-robin into `partitions` partitions (a shuffle through the
    /// block managers).
    pub fn repartition(&self, partitions: u32) -> Result<Dataset> {
        self.shuffle(&[], partitions)
    }

    /// Redistributes rows by a stable hash of the key columns: equal keys end up in the same
    /// partition.
    pub fn repartition_by(&self, keys: &[&str], partitions: u32) -> Result<Dataset> {
        if keys.is_empty() {
            return Err(Error::Input(
                "repartition_by needs at least one key column".into(),
            ));
        }
        self.shuffle(keys, partitions)
    }

    /// Groups rows by the key columns (shuffling them into `partitions` partitions) and
    /// computes the aggregates; within a partition, groups come out sorted by key.
    pub fn group_aggregate(
        &self,
        keys: &[&str],
        aggregates: &[AggSpec],
        partitions: u32,
    ) -> Result<Dataset> {
        let shuffled = self.repartition_by(keys, partitions)?;
        let op = Op::GroupAggregate {
            parent: shuffled.id,
            keys: keys.iter().map(|k| k.to_string()).collect(),
            aggregates: aggregates.to_vec(),
        };
        Ok(shuffled.derive("group_aggregate", op))
    }

    /// Joins with `other` on same-named key columns, both sides shuffled by the keys into
    /// `partitions` partitions.
    pub fn join(
        &self,
        other: &Dataset,
        keys: &[&str],
        kind: JoinKind,
        partitions: u32,
    ) -> Result<Dataset> {
        let left = self.repartition_by(keys, partitions)?;
        let right = other.repartition_by(keys, partitions)?;
        let op = Op::Join {
            left: left.id,
            right: right.id,
            keys: keys.iter().map(|k| k.to_string()).collect(),
            kind,
        };
        Ok(left.derive("join", op))
    }

    /// Groups both datasets by same-named key columns (shuffled into `partitions`
    /// partitions): one row per key, with the key columns and `left` / `right` list columns of
    /// each side's other columns.
    pub fn cogroup(&self, other: &Dataset, keys: &[&str], partitions: u32) -> Result<Dataset> {
        let left = self.repartition_by(keys, partitions)?;
        let right = other.repartition_by(keys, partitions)?;
        let op = Op::CoGroup {
            left: left.id,
            right: right.id,
            keys: keys.iter().map(|k| k.to_string()).collect(),
        };
        Ok(left.derive("cogroup", op))
    }

    /// Keeps computed partitions in the workers' block managers at `level`, with
    /// `replication` copies on distinct workers. Takes effect from the next action.
    pub fn persist(&self, level: StorageLevel, replication: u8) -> Dataset {
        let mut lineage = self.inner.lineage.lock().expect("lineage lock");
        if let Some(node) = lineage.nodes.get_mut(&self.id) {
            node.persist = Some(Persist {
                level,
                replication: replication.max(1),
            });
        }
        self.clone()
    }

    /// `persist(MemoryAndDisk, 1)`.
    pub fn cache(&self) -> Dataset {
        self.persist(StorageLevel::MemoryAndDisk, 1)
    }

    /// Stops persisting and drops the persisted partitions from every worker.
    pub fn unpersist(&self) -> Result<()> {
        if let Some(node) = self
            .inner
            .lineage
            .lock()
            .expect("lineage lock")
            .nodes
            .get_mut(&self.id)
        {
            node.persist = None;
        }
        self.inner.unpersist(self.id)
    }

    /// The block holding persisted partition `partition` of this dataset
    /// (`rdd_<app>_<dataset>_<partition>`).
    pub fn block_id(&self, partition: u32) -> cinder_actors::wire::BlockId {
        cinder_actors::data::plan::partition_block(&self.inner.app, self.id, partition)
    }

    /// The lineage this dataset depends on (itself included).
    pub fn lineage(&self) -> Lineage {
        let all = self.inner.lineage.lock().expect("lineage lock");
        let mut out = Lineage::for_app(all.app.clone());
        let mut stack = vec![self.id];
        while let Some(id) = stack.pop() {
            if out.nodes.contains_key(&id) {
                continue;
            }
            if let Some(node) = all.nodes.get(&id) {
                stack.extend(op_parents(&node.op));
                out.nodes.insert(id, node.clone());
            }
        }
        out
    }

    fn run(&self, name: &str, action: TaskAction) -> Result<Vec<TaskOutput>> {
        let spec = JobSpec {
            name: name.to_string(),
            target: self.id,
            lineage: self.lineage(),
            action,
            partitions: Vec::new(),
        };
        Ok(self
            .inner
            .run_job(spec)?
            .into_iter()
            .map(|r| r.output)
            .collect())
    }

    /// Number of rows.
    pub fn count(&self) -> Result<u64> {
        self.run("count", TaskAction::Count)?
            .into_iter()
            .map(|o| match o {
                TaskOutput::Count(n) => Ok(n),
                other => Err(unexpected(other)),
            })
            .sum()
    }

    /// Every partition's batch, in partition order.
    pub fn collect(&self) -> Result<Vec<RecordBatch>> {
        batches(self.run("collect", TaskAction::Collect)?)
    }

    /// All rows in one batch (partitions concatenated in order).
    pub fn collect_batch(&self) -> Result<RecordBatch> {
        concat(self.collect()?)
    }

    /// The first `n` rows, in partition order.
    pub fn take(&self, n: u64) -> Result<RecordBatch> {
        let parts = batches(self.run("take", TaskAction::Take { limit: n })?)?;
        let all = concat(parts)?;
        Ok(all.slice(0, (n as usize).min(all.num_rows())))
    }

    /// Writes the dataset as one file per partition into directory `path`, which must not
    /// exist. Files are written into a hidden temporary directory next to it, which is renamed
    /// to `path` (with a `_SUCCESS` marker) only when every partition is written: a failed
    /// write leaves nothing at `path`. The path must be on storage shared by the driver and
    /// the workers (any local path for the embedded cluster).
    pub fn write(&self, path: impl AsRef<std::path::Path>, format: FileFormat) -> Result<()> {
        let path = path.as_ref();
        if path.exists() {
            return Err(Error::Input(format!("{}: already exists", path.display())));
        }
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        };
        let parent = parent
            .canonicalize()
            .map_err(|e| Error::Input(format!("{}: {e}", parent.display())))?;
        let name = path
            .file_name()
            .ok_or_else(|| Error::Input(format!("{}: not a directory name", path.display())))?;
        let tmp = parent.join(format!(
            ".{}.cinder-tmp-{}-{}",
            name.to_string_lossy(),
            std::process::id(),
            self.inner.next_id()
        ));
        std::fs::create_dir(&tmp).map_err(|e| Error::Input(format!("{}: {e}", tmp.display())))?;
        let action = TaskAction::Write {
            format,
            dir: tmp.display().to_string(),
        };
        let commit = self.run("write", action).and_then(|_| {
            std::fs::write(tmp.join("_SUCCESS"), b"")
                .and_then(|_| std::fs::rename(&tmp, parent.join(name)))
                .map_err(|e| Error::Input(format!("{}: cannot commit: {e}", path.display())))
        });
        if commit.is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        commit
    }

    /// Writes the dataset to `dir` as Arrow IPC files and returns a dataset reading them back:
    /// its lineage starts at the files (long iterative jobs stop growing their lineage).
    pub fn checkpoint(&self, dir: impl AsRef<std::path::Path>) -> Result<Dataset> {
        let dir = dir.as_ref();
        self.write(dir, FileFormat::ArrowIpc)?;
        let paths = (0..self.num_partitions)
            .map(|p| {
                cinder_actors::data::files::part_file(dir, p, FileFormat::ArrowIpc)
                    .canonicalize()
                    .map(|p| p.display().to_string())
                    .map_err(|e| Error::Input(format!("{}: {e}", dir.display())))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Dataset::create(
            &self.inner,
            "checkpoint",
            Op::IpcFiles { paths },
            self.num_partitions,
        ))
    }

    /// Runs a registered map function on every partition for its side effects.
    pub fn foreach_partition<A: Serialize + ?Sized>(&self, function: &str, args: &A) -> Result<()> {
        let action = TaskAction::ForEach {
            function: function.to_string(),
            args: encode_args(args)?,
        };
        self.run("foreach_partition", action).map(|_| ())
    }

    /// Computes (and persists, if asked) every partition without returning data.
    pub fn materialize(&self) -> Result<()> {
        self.run("materialize", TaskAction::Materialize).map(|_| ())
    }

    fn partials<A: Aggregator>(&self, args: &A::Args) -> Result<(Vec<Vec<u8>>, Vec<u8>)> {
        let args = encode_args(args)?;
        let action = TaskAction::Aggregate {
            aggregator: A::NAME.to_string(),
            args: args.clone(),
        };
        let partials = self
            .run(A::NAME, action)?
            .into_iter()
            .map(|o| match o {
                TaskOutput::Partial(bytes) => Ok(bytes),
                other => Err(unexpected(other)),
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((partials, args))
    }

    /// Folds every partition with a registered [`Aggregator`] (`cinder::register_aggregator!`)
    /// and combines the partials in partition order.
    pub fn aggregate<A: Aggregator>(&self, args: &A::Args) -> Result<A::Acc> {
        let (partials, args) = self.partials::<A>(args)?;
        let combined = combine::<A>(&partials, &args)?;
        decode(&combined)
    }

    /// Like [`Dataset::aggregate`], combining partials in a fixed tree of the given depth
    /// (adjacent partitions first). For an associative `comb` it equals `aggregate`; either
    /// way the result depends only on the data, never on the workers.
    pub fn tree_aggregate<A: Aggregator>(&self, args: &A::Args, depth: u32) -> Result<A::Acc> {
        let (mut level, args) = self.partials::<A>(args)?;
        let depth = depth.max(1);
        let fan_in = ((level.len() as f64).powf(1.0 / f64::from(depth)).ceil() as usize).max(2);
        while level.len() > 1 {
            level = level
                .chunks(fan_in)
                .map(|group| combine::<A>(group, &args))
                .collect::<Result<Vec<_>>>()?;
        }
        match level.pop() {
            Some(bytes) => decode(&combine::<A>(&[bytes], &args)?),
            None => decode(&combine::<A>(&[], &args)?),
        }
    }
}

fn combine<A: Aggregator>(partials: &[Vec<u8>], args: &[u8]) -> Result<Vec<u8>> {
    cinder_actors::data::aggregate::combine_shim::<A>(partials, args)
        .map_err(|message| Error::Input(format!("aggregator {}: {message}", A::NAME)))
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    rmp_serde::from_slice(bytes).map_err(|e| Error::Encoding(e.to_string()))
}

fn unexpected(output: TaskOutput) -> Error {
    Error::Encoding(format!("unexpected task output {output:?}"))
}

fn batches(outputs: Vec<TaskOutput>) -> Result<Vec<RecordBatch>> {
    outputs
        .into_iter()
        .map(|o| match o {
            TaskOutput::Batch(bytes) => Ok(ipc::decode(&bytes)?),
            other => Err(unexpected(other)),
        })
        .collect()
}

fn concat(parts: Vec<RecordBatch>) -> Result<RecordBatch> {
    let Some(first) = parts.iter().find(|b| b.num_columns() > 0) else {
        return Ok(parts.into_iter().next().unwrap_or_else(ipc::empty));
    };
    let schema = first.schema();
    Ok(arrow_select::concat::concat_batches(&schema, &parts)?)
}
