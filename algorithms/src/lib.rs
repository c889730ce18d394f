//! The Cinder ML library. Each algorithm is a driver-side loop (optimizer, center updates)
//! over worker-side kernels: registered [`cinder_actors::data::aggregate::Aggregator`]s that
//! fold cached partitions into partial sums combined in partition order. Objectives, defaults
//! and parameter names follow Spark MLlib's `spark.ml`, so results agree with Spark's.
//!
//! Algorithms reach data through the [`frame::Frame`] trait: the `cinder` crate implements it
//! for distributed datasets, and [`frame::LocalFrame`] runs the same kernels in process.

#![warn(missing_docs)]

pub mod blocked;
pub mod classification;
pub mod clustering;
pub mod datagen;
pub mod error;
pub mod evaluation;
pub mod feature;
pub mod features;
pub mod frame;
pub mod optim;
pub mod persistence;
pub mod pipeline;
pub mod recommendation;
pub mod regression;
pub mod special;
pub mod tree;
pub mod tuning;
pub mod validity;
pub mod vectors;

pub use error::MlError;
pub use features::{FeatureCols, FeatureSpec};
pub use frame::{Frame, LocalFrame};
