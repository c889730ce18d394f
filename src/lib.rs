//! Cinder: an actor-based, fault-tolerant cluster runtime for machine learning.
//!
//! This crate is the facade users depend on: the job API ([`Context`]), the embedded local
//! cluster ([`LocalCluster`]), the daemon entry points ([`daemon`]) and the `cinder` CLI.
//! The runtime itself lives in [`cinder_actors`], re-exported as [`runtime`].

#![warn(missing_docs)]

pub mod cert;
pub mod cli;
pub mod cli_check;
pub mod cli_estimators;
pub mod cli_ml;
pub mod cli_pipeline;
pub mod cli_trees;
pub mod context;
pub mod daemon;
pub mod dataset;
pub mod duration;
pub mod error;
pub mod local;
pub mod logging;
mod master_link;
pub mod ml;
mod shutdown;
pub mod size;
pub mod sources;
pub mod status;
pub mod top;
pub mod typed_csv;
pub mod watcher;

pub use cinder_actors as runtime;
pub use cinder_actors::data::aggregate::Aggregator;
pub use cinder_actors::data::builtin;
pub use cinder_actors::data::csv::CsvType;
pub use cinder_actors::data::files::FileFormat;
pub use cinder_actors::data::relational::{AggFunc, AggSpec, JoinKind};
pub use cinder_actors::wire::StorageLevel;
pub use cinder_actors::wire::{BlockId, ClusterStatus, WorkerState, WorkerStatus};
pub use cinder_actors::{
    register_aggregator, register_column, register_filter, register_generator, register_map,
};
pub use context::Context;
pub use dataset::Dataset;
pub use error::{Error, Result};
pub use local::{LocalCluster, LocalClusterBuilder};
pub use shutdown::hold_if_interrupted;
pub use sources::{CsvOptions, LibSvmOptions, ParquetOptions};
