//! Regression: linear regression (`l-bfgs` / OWL-QN and `normal` solvers), generalized linear
//! regression (IRLS), isotonic regression (parallel pool-adjacent-violators), factorization machines.

pub mod fm;
pub mod fm_kernel;
pub mod glm;
pub mod glm_family;
pub mod glm_kernel;
pub mod isotonic;
pub mod isotonic_kernel;
pub mod linear;
pub mod linear_kernel;

pub use fm::{FactorizationMachine, FactorizationMachineModel, FmKind, FmSolver};
pub use glm::{GeneralizedLinearRegression, GeneralizedLinearRegressionModel, GlrSummary};
pub use isotonic::{IsotonicRegression, IsotonicRegressionModel};
pub use linear::{LinearRegression, LinearRegressionModel, Solver};
