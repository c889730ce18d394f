//! Spark's model selection (`org.apache.spark.ml.tuning`): `CrossValidator` (`numFolds` 3,
//! `seed`, `parallelism` 1, `foldCol`) and `TrainValidationSplit` (`trainRatio` 0.75, `seed`,
//! `parallelism`) over a grid expanded as PySpark's `ParamGridBuilder` does
//! ([`crate::pipeline::spec::expand_grid`]).
//!
//! The folds are cut once (a seeded random split, or the `foldCol` values) and cached; the
//! fits of every (fold, grid point) run on up to `parallelism` driver threads, each a
//! distributed fit on the cluster. Each metric lands in its own slot and the averages are
//! summed in fold order, so the results do not depend on scheduling, placement or worker
//! failures (recomputed partitions are bit-identical).

mod folds;
mod validator;

pub use validator::{Tuner, TuningResult, Validation};
