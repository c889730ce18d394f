//! Collaborative filtering: alternating least squares (explicit and implicit feedback).

pub mod als;
pub mod als_kernel;

pub use als::{Als, AlsModel, ColdStartStrategy};
