//! Optimizers run on the driver: L-BFGS, and OWL-QN when an L1 penalty is present (the
//! solvers Spark uses through Breeze). Each function evaluation is one distributed job.

pub mod lbfgs;

pub use lbfgs::{minimize, DiffFunction, OptimConfig, OptimResult};
