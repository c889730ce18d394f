//! Jobs and tasks on the wire: what the driver submits to the master, what the master sends to
//! workers, what comes back, and the typed failures that travel all the way to the scheduler.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::data::plan::{DatasetId, Lineage};
use crate::transport::TransportError;

/// What a job does with each partition of its target dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TaskAction {
    /// Count rows.
    Count,
    /// Return the partition (Arrow IPC bytes).
    Collect,
    /// Return at most this many rows of the partition.
    Take {
        /// Row limit.
        limit: u64,
    },
    /// Fold the partition with a registered aggregator; return the partial (rmp bytes).
    Aggregate {
        /// Registered aggregator name.
        aggregator: String,
        /// Its arguments (rmp bytes).
        #[serde(with = "serde_bytes")]
        args: Vec<u8>,
    },
    /// Compute (and persist, per the plan) without returning data.
    Materialize,
    /// Map side of a shuffle: split the partition into `num_partitions` buckets by `keys` and
    /// store each as block `shuffle_<shuffle>_<partition>_<bucket>`.
    ShuffleWrite {
        /// The shuffle dataset.
        shuffle: DatasetId,
        /// Key columns; empty for round-robin.
        keys: Vec<String>,
        /// Reduce partitions.
        num_partitions: u32,
    },
    /// Write the partition as `dir/part-NNNNN.ext` (under an attempt-unique name first).
    Write {
        /// The format.
        format: crate::data::files::FileFormat,
        /// The (temporary) output directory, shared by driver and workers.
        dir: String,
    },
    /// Run a registered map function for its side effects; return nothing.
    ForEach {
        /// Registered map function.
        function: String,
        /// Its arguments (rmp bytes).
        #[serde(with = "serde_bytes")]
        args: Vec<u8>,
    },
}

/// A job: an action over some partitions of a dataset, with the lineage needed to compute them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSpec {
    /// A name for logs and monitors.
    pub name: String,
    /// The dataset acted on.
    pub target: DatasetId,
    /// Every dataset the target depends on (and the target).
    pub lineage: Lineage,
    /// The action.
    pub action: TaskAction,
    /// Partitions to run; empty means all.
    pub partitions: Vec<u32>,
}

/// One task: compute one partition of the target and apply the action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskSpec {
    /// Job id (master-assigned).
    pub job_id: u64,
    /// Attempt id, unique per master; results of stale attempts are ignored.
    pub attempt_id: u64,
    /// The dataset.
    pub target: DatasetId,
    /// The partition.
    pub partition: u32,
    /// Lineage pruned to what this partition needs.
    pub lineage: Lineage,
    /// The action.
    pub action: TaskAction,
    /// Workers to copy persisted blocks to (replication > 1), as `(id, address)`.
    pub replicas: Vec<(String, String)>,
    /// For every shuffle the task reads: `(worker id, address)` holding each map output, by
    /// map partition.
    pub shuffles: BTreeMap<DatasetId, Vec<(String, String)>>,
}

/// A task's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TaskOutput {
    /// Row count.
    Count(u64),
    /// Arrow IPC bytes of (part of) the partition.
    Batch(#[serde(with = "serde_bytes")] Vec<u8>),
    /// An aggregator's partial (rmp bytes).
    Partial(#[serde(with = "serde_bytes")] Vec<u8>),
    /// Nothing (materialize).
    Unit,
}

/// Counters a task reports with its result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskMetrics {
    /// Persisted partitions read from this worker's block manager.
    pub cached_local: u32,
    /// Persisted partitions read from another worker's block manager.
    pub cached_remote: u32,
    /// Partitions computed from their parents or sources.
    pub computed: u32,
}

/// Why a task failed, classified for the scheduler.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum TaskError {
    /// The worker's executable has no function of that name (same-binary model).
    #[error("function {name:?} ({kind}) is not registered in this worker's executable")]
    MissingFunction {
        /// Function name.
        name: String,
        /// `map`, `filter`, `aggregate`, `generate`.
        kind: String,
    },
    /// A user function returned an error.
    #[error("function {name:?} failed: {message}")]
    UserFunction {
        /// Function name.
        name: String,
        /// Its message.
        message: String,
    },
    /// Input data is malformed (file, line, what).
    #[error("{message}")]
    BadInput {
        /// File, line and what was wrong.
        message: String,
    },
    /// A block could not be read from a peer.
    #[error("fetching block {block} failed: {message}")]
    FetchFailed {
        /// The block.
        block: String,
        /// Why.
        message: String,
    },
    /// A shuffle map output could not be read: its map task must run again.
    #[error(
        "map output {map_partition} of shuffle {shuffle} on {worker} is unavailable: {message}"
    )]
    MapOutputLost {
        /// The shuffle dataset.
        shuffle: DatasetId,
        /// The map partition.
        map_partition: u32,
        /// Where it was.
        worker: String,
        /// Why it could not be read.
        message: String,
    },
    /// The worker running the task was lost.
    #[error("worker {worker} was lost while running the task")]
    WorkerLost {
        /// The worker.
        worker: String,
    },
    /// The task could not be delivered or its answer not received.
    #[error("cannot reach worker {worker}: {message}")]
    Unreachable {
        /// The worker.
        worker: String,
        /// Why.
        message: String,
    },
    /// A worker refused the connection (foreign credentials, a protocol version mismatch):
    /// a configuration problem that another attempt cannot fix, so the job fails at once
    /// instead of retrying it as [`TaskError::Unreachable`].
    #[error("worker {worker} refused the connection: {message}")]
    Refused {
        /// The worker (or the peer holding the data the task read).
        worker: String,
        /// Why, as the transport said it.
        message: String,
    },
    /// An input file changed after the job was planned (length or modification time): the
    /// partitions already computed and the ones still to read would mix two versions.
    #[error("input changed since the job was planned: {path}")]
    InputChanged {
        /// The file.
        path: String,
    },
    /// Storing a block failed.
    #[error("storage: {message}")]
    Storage {
        /// Why.
        message: String,
    },
    /// The job was cancelled (its application ended or was killed, or no worker was alive
    /// for too long).
    #[error("cancelled: {reason}")]
    Cancelled {
        /// Why.
        reason: String,
    },
    /// A bug or unexpected state.
    #[error("internal: {message}")]
    Internal {
        /// Why.
        message: String,
    },
}

impl TaskError {
    /// Worth another attempt (on this or another worker)?
    pub fn is_retryable(&self) -> bool {
        !matches!(
            self,
            Self::MissingFunction { .. }
                | Self::UserFunction { .. }
                | Self::BadInput { .. }
                | Self::Refused { .. }
                | Self::InputChanged { .. }
                | Self::Cancelled { .. }
        )
    }

    /// A failure to talk to `worker`, keeping the transport's class: a refusal (credentials,
    /// protocol version) is [`TaskError::Refused`], never retried; everything else is
    /// [`TaskError::Unreachable`], retried like before.
    pub fn from_transport(worker: &str, error: &TransportError) -> Self {
        match error {
            TransportError::Refused { .. } => Self::Refused {
                worker: worker.to_string(),
                message: error.to_string(),
            },
            _ => Self::Unreachable {
                worker: worker.to_string(),
                message: error.to_string(),
            },
        }
    }

    /// Counts toward the task's attempt limit? Losing a worker does not (it says nothing
    /// about the task), but the total number of attempts is still bounded.
    pub fn counts_toward_limit(&self) -> bool {
        !matches!(self, Self::WorkerLost { .. } | Self::MapOutputLost { .. })
    }
}

/// Why a job failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobError {
    /// The job.
    pub job_id: u64,
    /// The dataset whose partition failed.
    pub dataset: DatasetId,
    /// The partition.
    pub partition: u32,
    /// The stage.
    pub stage: u32,
    /// Attempts made.
    pub attempts: u32,
    /// The last cause.
    pub cause: TaskError,
    /// The input the failed partition reads (`PATH from line N`, `PATH row group G`), when
    /// it comes from a file.
    #[serde(default)]
    pub input: Option<String>,
}

impl std::fmt::Display for JobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "job {} failed: ", self.job_id)?;
        if let Some(input) = &self.input {
            write!(f, "input {input}: ")?;
        }
        write!(
            f,
            "partition {} of dataset {} (stage {}) after {} attempt(s): {}",
            self.partition, self.dataset, self.stage, self.attempts, self.cause
        )
    }
}

impl std::error::Error for JobError {}

/// One partition's result in a finished job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionResult {
    /// The partition.
    pub partition: u32,
    /// Its output.
    pub output: TaskOutput,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A refused credential used to reach the scheduler as `Unreachable` and be retried four
    /// times (with a misleading "cannot reach" message): the class is kept now.
    #[test]
    fn transport_errors_keep_their_class() {
        let addr = "127.0.0.1:9".parse().unwrap();
        let refused = TransportError::Refused {
            addr,
            reason: "peer rejected our credentials".into(),
        };
        let e = TaskError::from_transport("w1", &refused);
        assert!(matches!(e, TaskError::Refused { .. }), "{e:?}");
        assert!(!e.is_retryable());
        assert!(e.to_string().contains("refused"), "{e}");
        let lost = TransportError::ConnectionLost {
            addr,
            reason: "reset".into(),
        };
        let e = TaskError::from_transport("w1", &lost);
        assert!(matches!(e, TaskError::Unreachable { .. }), "{e:?}");
        assert!(e.is_retryable());
    }
}
