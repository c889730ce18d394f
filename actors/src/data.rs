//! The data layer: lineage plans, Arrow partitions, registered user functions, sources, and the
//! worker-side executor that computes a partition from its lineage.

pub mod aggregate;
pub mod builtin;
pub mod csv;
pub mod exec;
pub mod files;
pub mod functions;
pub mod ipc;
pub mod keys;
pub mod libsvm;
pub mod partitioning;
pub mod plan;
pub mod relational;
pub mod stamp;
pub mod text;
