//! Lineage: datasets as nodes of a graph of deterministic transformations. Any partition can be
//! recomputed from its lineage, bit for bit: every operator is a pure function of its inputs,
//! the partition index and (for sampling) a seed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::wire::{BlockId, StorageLevel};

/// Identifies a dataset within a driver's lineage graph (unique within its application).
pub type DatasetId = u64;

/// Identifies an application: one driver's registration with the master
/// (`app-<master start, Unix ms>-<sequence>`), unique across drivers and master restarts.
/// It never contains `_`, so block names that carry it can be split.
pub type AppId = String;

/// How a dataset is persisted once computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Persist {
    /// Where blocks live.
    pub level: StorageLevel,
    /// Copies kept on distinct workers (1 or more).
    pub replication: u8,
}

/// Text formats a [`Op::TextFile`] source parses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TextFormat {
    /// LibSVM `label index:value ...` with 1-based indices; vectors of `num_features`.
    LibSvm {
        /// Vector size (Spark's `numFeatures`).
        num_features: u32,
    },
    /// CSV with a known layout.
    Csv(crate::data::csv::CsvLayout),
}

/// A line-aligned byte range of a text file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextSplit {
    /// First byte (start of a line).
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
    /// 1-based number of the split's first line in the file.
    pub first_line: u64,
}

/// How a dataset's partitions are made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Op {
    /// Partition `p` is `generator(p, args)`, a registered deterministic source.
    Generate {
        /// Registered generator name.
        generator: String,
        /// Its arguments (rmp bytes).
        #[serde(with = "serde_bytes")]
        args: Vec<u8>,
    },
    /// In-memory data from the driver: partition index -> Arrow IPC bytes (pruned per task).
    Collection {
        /// The partitions.
        partitions: BTreeMap<u32, serde_bytes::ByteBuf>,
    },
    /// A text file read in line-aligned splits, one per partition.
    TextFile {
        /// Path readable by every worker.
        path: String,
        /// How to parse lines.
        format: TextFormat,
        /// One split per partition.
        splits: Vec<TextSplit>,
        /// The file's length and modification time when planned; a worker that finds them
        /// changed fails the task (`None` from drivers that did not record it: unchecked).
        #[serde(default)]
        stamp: Option<crate::data::stamp::FileStamp>,
    },
    /// Parquet files cut into row ranges ([`crate::data::partitioning::split_rows`]): each
    /// partition reads its pieces (row ranges of row groups) and nothing else.
    ParquetFiles {
        /// The pieces of each partition, in row order.
        parts: Vec<Vec<crate::data::partitioning::ParquetPiece>>,
        /// Each file's length and modification time when planned (files without one are
        /// not checked).
        #[serde(default)]
        stamps: BTreeMap<String, crate::data::stamp::FileStamp>,
    },
    /// Arrow IPC files, one per partition (checkpoints are read back this way).
    IpcFiles {
        /// The files.
        paths: Vec<String>,
    },
    /// A registered function applied to each partition's batch.
    MapBatches {
        /// Input dataset.
        parent: DatasetId,
        /// Registered function name.
        function: String,
        /// Its arguments (rmp bytes).
        #[serde(with = "serde_bytes")]
        args: Vec<u8>,
    },
    /// Rows for which a registered predicate holds.
    Filter {
        /// Input dataset.
        parent: DatasetId,
        /// Registered predicate name.
        function: String,
        /// Its arguments (rmp bytes).
        #[serde(with = "serde_bytes")]
        args: Vec<u8>,
    },
    /// A subset of columns, in the given order.
    Select {
        /// Input dataset.
        parent: DatasetId,
        /// Column names.
        columns: Vec<String>,
    },
    /// Rows whose hash of `(seed, partition, row)`, mapped to `[0, 1)`, falls in
    /// `[lower, upper)`: a Bernoulli sample of `upper - lower`. Disjoint ranges with one seed
    /// split a dataset exactly (`random_split`).
    Sample {
        /// Input dataset.
        parent: DatasetId,
        /// Lower bound of the kept range.
        lower: f64,
        /// Upper bound of the kept range.
        upper: f64,
        /// Seed.
        seed: u64,
    },
    /// The partitions of several datasets, one after the other.
    Union {
        /// Input datasets, in order.
        parents: Vec<DatasetId>,
    },
    /// A new column computed by a registered function from each batch.
    WithColumn {
        /// Input dataset.
        parent: DatasetId,
        /// Name of the new (or replaced) column.
        name: String,
        /// Registered column function name.
        function: String,
        /// Its arguments (rmp bytes).
        #[serde(with = "serde_bytes")]
        args: Vec<u8>,
    },
    /// A shuffle boundary: rows of `parent` redistributed into this dataset's partitions by a
    /// stable hash of `keys` (round-robin without keys). Map outputs live in the block managers
    /// as `shuffle_<id>_<map>_<reduce>` blocks.
    Shuffle {
        /// Input dataset (the map side).
        parent: DatasetId,
        /// Key columns; empty for round-robin.
        keys: Vec<String>,
    },
    /// Grouped aggregation of a dataset already shuffled by the same keys.
    GroupAggregate {
        /// A [`Op::Shuffle`] by `keys`.
        parent: DatasetId,
        /// Key columns.
        keys: Vec<String>,
        /// Output aggregates.
        aggregates: Vec<crate::data::relational::AggSpec>,
    },
    /// Both sides' rows grouped per key, for two datasets shuffled by the same keys into the
    /// same number of partitions.
    CoGroup {
        /// Left [`Op::Shuffle`].
        left: DatasetId,
        /// Right [`Op::Shuffle`].
        right: DatasetId,
        /// Key columns (same names on both sides).
        keys: Vec<String>,
    },
    /// A join of two datasets shuffled by the same keys into the same number of partitions.
    Join {
        /// Left [`Op::Shuffle`].
        left: DatasetId,
        /// Right [`Op::Shuffle`].
        right: DatasetId,
        /// Key columns (same names on both sides).
        keys: Vec<String>,
        /// Inner or left.
        kind: crate::data::relational::JoinKind,
    },
}

/// One dataset of the graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetNode {
    /// Its id.
    pub id: DatasetId,
    /// A name for logs.
    pub name: String,
    /// How its partitions are made.
    pub op: Op,
    /// Number of partitions.
    pub num_partitions: u32,
    /// Persistence, if any.
    pub persist: Option<Persist>,
}

/// Why a lineage graph is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// A node refers to a dataset not in the graph.
    #[error("dataset {0} is not in the lineage")]
    Missing(DatasetId),
    /// A partition index is out of range.
    #[error("dataset {dataset} has {count} partitions; {partition} is out of range")]
    NoSuchPartition {
        /// The dataset.
        dataset: DatasetId,
        /// Requested partition.
        partition: u32,
        /// Partitions it has.
        count: u32,
    },
    /// A dataset depends on itself.
    #[error("the lineage has a cycle through dataset {0}")]
    Cycle(DatasetId),
    /// A node's id differs from its key in the graph.
    #[error("dataset {key} is stored under another id ({id})")]
    IdMismatch {
        /// The key.
        key: DatasetId,
        /// The node's own id.
        id: DatasetId,
    },
    /// The graph is larger than the master accepts.
    #[error("the lineage has {nodes} datasets; at most {max} are accepted")]
    TooLarge {
        /// Datasets in the graph.
        nodes: usize,
        /// The limit.
        max: usize,
    },
    /// A dataset has more partitions than the master accepts.
    #[error("dataset {dataset} has {count} partitions; at most {max} are accepted")]
    TooManyPartitions {
        /// The dataset.
        dataset: DatasetId,
        /// Its partitions.
        count: u32,
        /// The limit.
        max: u32,
    },
}

/// Most datasets one submitted lineage may hold.
pub const MAX_LINEAGE_NODES: usize = 100_000;

/// Most partitions one dataset may have.
pub const MAX_PARTITIONS: u32 = 1_000_000;

/// A set of datasets closed under their dependencies, all of one application.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Lineage {
    /// The application the datasets belong to; block names carry it.
    #[serde(default)]
    pub app: AppId,
    /// The nodes by id.
    pub nodes: BTreeMap<DatasetId, DatasetNode>,
}

/// The datasets an operator reads from, in order.
pub fn op_parents(op: &Op) -> Vec<DatasetId> {
    match op {
        Op::Generate { .. }
        | Op::Collection { .. }
        | Op::TextFile { .. }
        | Op::ParquetFiles { .. }
        | Op::IpcFiles { .. } => vec![],
        Op::MapBatches { parent, .. }
        | Op::Filter { parent, .. }
        | Op::Select { parent, .. }
        | Op::Sample { parent, .. }
        | Op::WithColumn { parent, .. }
        | Op::Shuffle { parent, .. }
        | Op::GroupAggregate { parent, .. } => vec![*parent],
        Op::Union { parents } => parents.clone(),
        Op::Join { left, right, .. } | Op::CoGroup { left, right, .. } => vec![*left, *right],
    }
}

/// The block id of one reduce partition of one map output of a shuffle of application `app`.
pub fn shuffle_block(app: &str, shuffle: DatasetId, map: u32, reduce: u32) -> BlockId {
    BlockId(format!("shuffle_{app}_{shuffle}_{map}_{reduce}"))
}

/// The block id of a persisted partition of application `app`.
pub fn partition_block(app: &str, dataset: DatasetId, partition: u32) -> BlockId {
    BlockId(format!("rdd_{app}_{dataset}_{partition}"))
}

/// The prefix shared by every persisted partition of one dataset.
pub fn dataset_block_prefix(app: &str, dataset: DatasetId) -> String {
    format!("rdd_{app}_{dataset}_")
}

/// The prefix shared by every map output of one shuffle.
pub fn shuffle_block_prefix(app: &str, shuffle: DatasetId) -> String {
    format!("shuffle_{app}_{shuffle}_")
}

/// Block kinds whose names carry their application: `<kind>_<app>_...`.
pub const APP_BLOCK_KINDS: [&str; 4] = ["rdd", "shuffle", "broadcast", "user"];

/// The application a block belongs to, when its name carries one
/// (`rdd_<app>_…`, `shuffle_<app>_…`, `broadcast_<app>_…`, `user_<app>_…`).
pub fn block_app(block: &BlockId) -> Option<&str> {
    let (kind, rest) = block.0.split_once('_')?;
    if !APP_BLOCK_KINDS.contains(&kind) {
        return None;
    }
    let app = rest.split('_').next()?;
    (!app.is_empty()).then_some(app)
}

/// The dataset of a persisted partition's block (`rdd_<app>_<dataset>_<partition>`).
pub fn block_dataset(block: &BlockId) -> Option<(&str, DatasetId)> {
    let rest = block.0.strip_prefix("rdd_")?;
    let mut parts = rest.split('_');
    let app = parts.next()?;
    let dataset = parts.next()?.parse().ok()?;
    Some((app, dataset))
}

impl Lineage {
    /// An empty lineage of application `app`.
    pub fn for_app(app: impl Into<AppId>) -> Self {
        Self {
            app: app.into(),
            nodes: BTreeMap::new(),
        }
    }

    /// The block of a persisted partition of this lineage's application.
    pub fn partition_block(&self, dataset: DatasetId, partition: u32) -> BlockId {
        partition_block(&self.app, dataset, partition)
    }

    /// The block of one map output of a shuffle of this lineage's application.
    pub fn shuffle_block(&self, shuffle: DatasetId, map: u32, reduce: u32) -> BlockId {
        shuffle_block(&self.app, shuffle, map, reduce)
    }

    /// Checks a submitted lineage before anything runs: bounded size, ids consistent, every
    /// referenced dataset present (the target too), partition counts bounded, no cycles.
    pub fn validate(&self, target: DatasetId) -> Result<(), PlanError> {
        if self.nodes.len() > MAX_LINEAGE_NODES {
            return Err(PlanError::TooLarge {
                nodes: self.nodes.len(),
                max: MAX_LINEAGE_NODES,
            });
        }
        self.node(target)?;
        for (&key, node) in &self.nodes {
            if node.id != key {
                return Err(PlanError::IdMismatch { key, id: node.id });
            }
            if node.num_partitions > MAX_PARTITIONS {
                return Err(PlanError::TooManyPartitions {
                    dataset: key,
                    count: node.num_partitions,
                    max: MAX_PARTITIONS,
                });
            }
            for parent in op_parents(&node.op) {
                self.node(parent)?;
            }
        }
        // Iterative depth-first search with colours: 1 = on the stack, 2 = done.
        let mut colour: BTreeMap<DatasetId, u8> = BTreeMap::new();
        for &start in self.nodes.keys() {
            if colour.contains_key(&start) {
                continue;
            }
            let mut stack = vec![(start, false)];
            while let Some((id, children_done)) = stack.pop() {
                if children_done {
                    colour.insert(id, 2);
                    continue;
                }
                match colour.get(&id) {
                    Some(2) => continue,
                    Some(_) => return Err(PlanError::Cycle(id)),
                    None => {}
                }
                colour.insert(id, 1);
                stack.push((id, true));
                for parent in self.parents(id) {
                    match colour.get(&parent) {
                        Some(1) => return Err(PlanError::Cycle(parent)),
                        Some(_) => {}
                        None => stack.push((parent, false)),
                    }
                }
            }
        }
        Ok(())
    }

    /// A node by id.
    pub fn node(&self, id: DatasetId) -> Result<&DatasetNode, PlanError> {
        self.nodes.get(&id).ok_or(PlanError::Missing(id))
    }

    /// The parent partitions partition `p` of `d` is computed from (narrow dependencies).
    pub fn dependencies(&self, d: DatasetId, p: u32) -> Result<Vec<(DatasetId, u32)>, PlanError> {
        let node = self.node(d)?;
        if p >= node.num_partitions {
            return Err(PlanError::NoSuchPartition {
                dataset: d,
                partition: p,
                count: node.num_partitions,
            });
        }
        Ok(match &node.op {
            Op::Generate { .. }
            | Op::Collection { .. }
            | Op::TextFile { .. }
            | Op::ParquetFiles { .. }
            | Op::IpcFiles { .. }
            | Op::Shuffle { .. } => vec![],
            Op::MapBatches { parent, .. }
            | Op::Filter { parent, .. }
            | Op::Select { parent, .. }
            | Op::Sample { parent, .. }
            | Op::WithColumn { parent, .. }
            | Op::GroupAggregate { parent, .. } => vec![(*parent, p)],
            Op::Union { parents } => vec![self.union_source(parents, p)?],
            Op::Join { left, right, .. } | Op::CoGroup { left, right, .. } => {
                vec![(*left, p), (*right, p)]
            }
        })
    }

    /// Every dataset `d` reads from, across shuffle boundaries too.
    pub fn parents(&self, d: DatasetId) -> Vec<DatasetId> {
        let Ok(node) = self.node(d) else {
            return Vec::new();
        };
        op_parents(&node.op)
    }

    /// The shuffles partition `p` of `d` reads from through narrow dependencies (the stage
    /// boundaries below it).
    pub fn shuffles_below(&self, d: DatasetId, p: u32) -> Vec<DatasetId> {
        let mut out = Vec::new();
        let mut stack = vec![(d, p)];
        while let Some((id, part)) = stack.pop() {
            if let Ok(node) = self.node(id) {
                if matches!(node.op, Op::Shuffle { .. }) {
                    if !out.contains(&id) {
                        out.push(id);
                    }
                    continue;
                }
            }
            stack.extend(self.dependencies(id, part).unwrap_or_default());
        }
        out
    }

    /// Which parent partition a union's partition `p` is.
    pub fn union_source(
        &self,
        parents: &[DatasetId],
        p: u32,
    ) -> Result<(DatasetId, u32), PlanError> {
        let mut offset = 0;
        for parent in parents {
            let count = self.node(*parent)?.num_partitions;
            if p < offset + count {
                return Ok((*parent, p - offset));
            }
            offset += count;
        }
        Err(PlanError::NoSuchPartition {
            dataset: parents.first().copied().unwrap_or_default(),
            partition: p,
            count: offset,
        })
    }

    /// The sub-lineage partition `p` of `d` needs, with in-memory collections cut down to the
    /// partitions actually read.
    pub fn prune_for(&self, d: DatasetId, p: u32) -> Result<Lineage, PlanError> {
        let mut out = Lineage::for_app(self.app.clone());
        let mut stack = vec![(d, p)];
        let mut needed: BTreeMap<DatasetId, Vec<u32>> = BTreeMap::new();
        while let Some((id, part)) = stack.pop() {
            needed.entry(id).or_default().push(part);
            stack.extend(self.dependencies(id, part)?);
        }
        // A union maps its partitions by its parents' partition counts: every parent's node
        // must travel, even those the partition does not read (their data does not).
        let mut shells = Vec::new();
        for id in needed.keys() {
            if let Op::Union { parents } = &self.node(*id)?.op {
                shells.extend(parents.iter().filter(|p| !needed.contains_key(p)).copied());
            }
        }
        for id in shells {
            let mut node = self.node(id)?.clone();
            if let Op::Collection { partitions } = &mut node.op {
                partitions.clear();
            }
            out.nodes.insert(id, node);
        }
        for (id, parts) in needed {
            let mut node = self.node(id)?.clone();
            if let Op::Collection { partitions } = &mut node.op {
                partitions.retain(|k, _| parts.contains(k));
            }
            out.nodes.insert(id, node);
        }
        Ok(out)
    }

    /// The file input partition `p` of `d` reads through narrow dependencies, for error
    /// messages: `PATH from line N` (text) or `PATH row group G from row R` (Parquet).
    pub fn describe_input(&self, d: DatasetId, p: u32) -> Option<String> {
        let mut current = (d, p);
        for _ in 0..self.nodes.len().max(1) {
            let node = self.node(current.0).ok()?;
            match &node.op {
                Op::TextFile { path, splits, .. } => {
                    let split = splits.get(current.1 as usize)?;
                    return Some(format!("{path} from line {}", split.first_line));
                }
                Op::ParquetFiles { parts, .. } => {
                    let piece = parts.get(current.1 as usize)?.first()?;
                    return Some(format!(
                        "{} row group {} from row {}",
                        piece.file, piece.row_group, piece.offset
                    ));
                }
                Op::IpcFiles { paths } => return paths.get(current.1 as usize).cloned(),
                _ => {}
            }
            match self.dependencies(current.0, current.1) {
                Ok(deps) if !deps.is_empty() => current = deps[0],
                _ => return None,
            }
        }
        None
    }

    /// The persisted partitions (nearest first) whose blocks could serve partition `p` of `d`
    /// without computing: the partition itself and its narrow ancestors.
    pub fn persisted_chain(&self, d: DatasetId, p: u32) -> Vec<BlockId> {
        let mut out = Vec::new();
        let mut current = Some((d, p));
        while let Some((id, part)) = current {
            let Ok(node) = self.node(id) else { break };
            if node.persist.is_some() {
                out.push(self.partition_block(id, part));
            }
            current = match self.dependencies(id, part) {
                Ok(deps) if deps.len() == 1 => Some(deps[0]),
                _ => None,
            };
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: DatasetId, op: Op, n: u32, persisted: bool) -> DatasetNode {
        DatasetNode {
            id,
            name: format!("d{id}"),
            op,
            num_partitions: n,
            persist: persisted.then_some(Persist {
                level: StorageLevel::MemoryAndDisk,
                replication: 1,
            }),
        }
    }

    fn graph() -> Lineage {
        let mut l = Lineage::default();
        let parts = (0..3)
            .map(|i| (i, serde_bytes::ByteBuf::from(vec![i as u8])))
            .collect();
        l.nodes
            .insert(1, node(1, Op::Collection { partitions: parts }, 3, false));
        let gen = Op::Generate {
            generator: "g".into(),
            args: vec![],
        };
        l.nodes.insert(2, node(2, gen, 2, false));
        l.nodes.insert(
            3,
            node(
                3,
                Op::Union {
                    parents: vec![1, 2],
                },
                5,
                false,
            ),
        );
        let map = Op::MapBatches {
            parent: 3,
            function: "f".into(),
            args: vec![],
        };
        l.nodes.insert(4, node(4, map, 5, true));
        l
    }

    #[test]
    fn union_maps_partitions_in_order() {
        let l = graph();
        assert_eq!(l.dependencies(3, 2).unwrap(), vec![(1, 2)]);
        assert_eq!(l.dependencies(3, 3).unwrap(), vec![(2, 0)]);
        assert!(matches!(
            l.dependencies(3, 5),
            Err(PlanError::NoSuchPartition { .. })
        ));
    }

    #[test]
    fn pruning_keeps_only_needed_collection_partitions() {
        let l = graph();
        let pruned = l.prune_for(4, 1).unwrap();
        assert_eq!(
            pruned.nodes.keys().copied().collect::<Vec<_>>(),
            vec![1, 2, 3, 4],
            "the union's other parent travels for its partition count"
        );
        assert_eq!(pruned.union_source(&[1, 2], 1).unwrap(), (1, 1));
        let Op::Collection { partitions } = &pruned.nodes[&1].op else {
            panic!()
        };
        assert_eq!(partitions.keys().copied().collect::<Vec<_>>(), vec![1]);
        let pruned = l.prune_for(4, 4).unwrap();
        let Op::Collection { partitions } = &pruned.nodes[&1].op else {
            panic!()
        };
        assert!(
            partitions.is_empty(),
            "partition 4 comes from the generator: the collection travels without data"
        );
        assert_eq!(pruned.union_source(&[1, 2], 4).unwrap(), (2, 1));
    }

    #[test]
    fn validation_refuses_cycles_missing_parents_and_bad_ids() {
        let l = graph();
        assert_eq!(l.validate(4), Ok(()));
        assert_eq!(l.validate(9), Err(PlanError::Missing(9)));
        let mut cyclic = graph();
        cyclic.nodes.get_mut(&3).unwrap().op = Op::Union {
            parents: vec![1, 4],
        };
        assert!(matches!(cyclic.validate(4), Err(PlanError::Cycle(_))));
        let mut dangling = graph();
        dangling.nodes.remove(&2);
        assert_eq!(dangling.validate(4), Err(PlanError::Missing(2)));
        let mut renamed = graph();
        renamed.nodes.get_mut(&2).unwrap().id = 7;
        assert!(matches!(
            renamed.validate(4),
            Err(PlanError::IdMismatch { key: 2, id: 7 })
        ));
        // A diamond (two paths to one node) is not a cycle.
        let mut diamond = graph();
        diamond.nodes.get_mut(&3).unwrap().op = Op::Union {
            parents: vec![1, 1],
        };
        assert_eq!(diamond.validate(4), Ok(()));
    }

    #[test]
    fn block_names_carry_their_application() {
        let block = partition_block("app-17-0001", 3, 7);
        assert_eq!(block.0, "rdd_app-17-0001_3_7");
        assert_eq!(block_app(&block), Some("app-17-0001"));
        assert_eq!(block_dataset(&block), Some(("app-17-0001", 3)));
        let shuffle = shuffle_block("app-17-0002", 5, 1, 0);
        assert_eq!(block_app(&shuffle), Some("app-17-0002"));
        assert!(shuffle
            .0
            .starts_with(&shuffle_block_prefix("app-17-0002", 5)));
        assert_eq!(block_app(&BlockId::new("mine")), None);
        assert_eq!(block_app(&BlockId::new("other_app-1_x")), None);
        assert_eq!(block_app(&BlockId::new("rdd__1_2")), None);
    }

    #[test]
    fn persisted_chain_walks_narrow_ancestors() {
        let mut l = graph();
        l.nodes.get_mut(&1).unwrap().persist = l.nodes[&4].persist;
        assert_eq!(
            l.persisted_chain(4, 0),
            vec![partition_block("", 4, 0), partition_block("", 1, 0)]
        );
        assert_eq!(l.persisted_chain(4, 3), vec![partition_block("", 4, 3)]);
    }
}
