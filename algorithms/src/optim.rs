//! Optimizers run on the driver, converging the way Spark's (Breeze's) do: L-BFGS with a
//! strong-Wolfe line search, and OWL-QN (Andrew & Gao, 2007) when an L1 penalty is present,
//! both stopped by Breeze's convergence test so that `tol` means what it means in Spark.
//! Each function evaluation is one distributed job; both iterations and evaluations are
//! counted.
//!
//! - [`lbfgs`]: the iteration loop shared by both methods ([`minimize`]);
//! - [`history`]: the limited-memory inverse Hessian (two-loop recursion);
//! - [`line_search`]: strong Wolfe (L-BFGS) and backtracking (OWL-QN) line searches;
//! - [`owlqn`]: the pseudo-gradient and orthant projection of the L1 part;
//! - [`convergence`]: Breeze's stopping rules.

pub mod convergence;
pub mod history;
pub mod lbfgs;
pub mod line_search;
pub mod owlqn;

pub use convergence::StopReason;
pub use lbfgs::{minimize, DiffFunction, OptimConfig, OptimResult};
