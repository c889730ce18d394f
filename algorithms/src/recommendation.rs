//! Collaborative filtering: alternating least squares (explicit and implicit feedback).

pub mod als;
pub mod als_kernel;
pub mod recommend;

pub use als::{Als, AlsModel, ColdStartStrategy};
