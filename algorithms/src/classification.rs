//! Classification: logistic regression (binomial and multinomial).

pub mod log_loss;
pub mod logistic;
pub mod logistic_kernel;

pub use logistic::{Family, LogisticRegression, LogisticRegressionModel};
