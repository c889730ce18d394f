//! Regression: linear regression (`l-bfgs` / OWL-QN and `normal` solvers), generalized linear
//! regression (IRLS).

pub mod glm;
pub mod glm_family;
pub mod glm_kernel;
pub mod linear;
pub mod linear_kernel;

pub use glm::{GeneralizedLinearRegression, GeneralizedLinearRegressionModel, GlrSummary};
pub use linear::{LinearRegression, LinearRegressionModel, Solver};
