//! Errors of the ML library.

/// Why training, prediction, evaluation or persistence failed.
#[derive(Debug, thiserror::Error)]
pub enum MlError {
    /// The cluster or dataset layer failed (the message says where).
    #[error("{0}")]
    Data(String),
    /// The input does not fit the algorithm (labels, columns, sizes).
    #[error("invalid input: {0}")]
    Input(String),
    /// A parameter is out of range.
    #[error("invalid parameter {name}: {message}")]
    Param {
        /// Spark's parameter name.
        name: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The optimizer could not make progress.
    #[error("optimization failed: {0}")]
    Optimizer(String),
    /// A saved model could not be written or read.
    #[error("model at {path}: {message}")]
    Model {
        /// The model directory.
        path: String,
        /// What is wrong.
        message: String,
    },
}
