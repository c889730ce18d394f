//! Regression: linear regression (`l-bfgs` / OWL-QN and `normal` solvers).

pub mod linear;
pub mod linear_kernel;

pub use linear::{LinearRegression, LinearRegressionModel, Solver};
