//! The multilayer perceptron classifier as Spark's `spark.ml` defines it
//! (`MultilayerPerceptronClassifier`): sigmoid hidden layers, a softmax output, the mean
//! cross-entropy minimized by L-BFGS (`l-bfgs`) or full-batch gradient descent (`gd`,
//! `stepSize`), each objective evaluation one data-parallel pass (backpropagation per
//! partition, partials combined in partition order). Weights start from `initialWeights` or
//! a seeded uniform draw in `±√(6 / (in + out))` per layer.
//!
//! ```
//! use std::sync::Arc;
//! use arrow_array::{ArrayRef, Float64Array, RecordBatch};
//! use cinder_algorithms::classification::MultilayerPerceptronClassifier;
//! use cinder_algorithms::{FeatureCols, FeatureSpec, LocalFrame};
//!
//! // XOR needs the hidden layer.
//! let col = |v: Vec<f64>| Arc::new(Float64Array::from(v)) as ArrayRef;
//! let batch = RecordBatch::try_from_iter([
//!     ("label", col(vec![0.0, 1.0, 1.0, 0.0])),
//!     ("a", col(vec![0.0, 0.0, 1.0, 1.0])),
//!     ("b", col(vec![0.0, 1.0, 0.0, 1.0])),
//! ])
//! .unwrap();
//! let model = MultilayerPerceptronClassifier {
//!     layers: vec![2, 4, 2],
//!     seed: 7,
//!     columns: FeatureSpec {
//!         label: "label".into(),
//!         weight: None,
//!         features: FeatureCols::Columns(vec!["a".into(), "b".into()]),
//!     },
//!     ..MultilayerPerceptronClassifier::default()
//! }
//! .fit(&LocalFrame { batches: vec![batch] })
//! .unwrap();
//! assert_eq!(model.predict(&[0.0, 1.0]), 1.0);
//! assert_eq!(model.predict(&[1.0, 1.0]), 0.0);
//! ```

use serde::{Deserialize, Serialize};

use super::logistic::TrainingSummary;
use super::mlp_kernel::{forward, weight_count, MlpArgs, MlpLoss};
use crate::features::FeatureSpec;
use crate::frame::Frame;
use crate::optim::{minimize, DiffFunction, OptimConfig, OptimResult, StopReason};
use crate::MlError;

/// Spark's `solver`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MlpSolver {
    /// L-BFGS.
    LBfgs,
    /// Gradient descent with `stepSize`.
    Gd,
}

/// The estimator, with Spark's parameter names and defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MultilayerPerceptronClassifier {
    /// `layers`: input size, hidden sizes, number of classes.
    pub layers: Vec<usize>,
    /// `blockSize` (128): rows stacked per matrix product in Spark; accepted for
    /// compatibility (the kernels go row by row over a partition).
    pub block_size: usize,
    /// `solver` (l-bfgs).
    pub solver: MlpSolver,
    /// `maxIter` (100).
    pub max_iter: usize,
    /// `tol` (1e-6).
    pub tol: f64,
    /// `stepSize` (0.03, gd).
    pub step_size: f64,
    /// `seed`.
    pub seed: u64,
    /// `initialWeights` (flat, Spark's order); empty for a seeded draw.
    pub initial_weights: Vec<f64>,
    /// Label (class indices), weight and feature columns.
    pub columns: FeatureSpec,
}

impl Default for MultilayerPerceptronClassifier {
    fn default() -> Self {
        Self {
            layers: Vec::new(),
            block_size: 128,
            solver: MlpSolver::LBfgs,
            max_iter: 100,
            tol: 1e-6,
            step_size: 0.03,
            seed: 0x5eed,
            initial_weights: Vec::new(),
            columns: FeatureSpec::default(),
        }
    }
}

/// A fitted perceptron.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MultilayerPerceptronModel {
    /// Flat weights in Spark's order.
    pub weights: Vec<f64>,
    /// The estimator that produced it.
    pub params: MultilayerPerceptronClassifier,
    /// Objective history, iterations, evaluations.
    pub summary: TrainingSummary,
}

struct MlpCost<'a, F: Frame> {
    data: &'a F,
    args: MlpArgs,
}

impl<F: Frame> DiffFunction for MlpCost<'_, F> {
    fn evaluate(&mut self, x: &[f64]) -> Result<(f64, Vec<f64>), MlError> {
        self.args.weights = x.to_vec();
        let sums = self.data.tree_aggregate::<MlpLoss>(&self.args, 2)?;
        if sums.weight_sum <= 0.0 {
            return Err(MlError::Input(
                "the dataset is empty (or all weights are zero)".into(),
            ));
        }
        let gradient = sums.gradient.iter().map(|g| g / sums.weight_sum).collect();
        Ok((sums.loss / sums.weight_sum, gradient))
    }
}

/// The seeded start: uniform in `±√(6 / (in + out))` per layer (xorshift64*).
fn initial_weights(layers: &[usize], seed: u64) -> Vec<f64> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut weights = Vec::with_capacity(weight_count(layers));
    for w in layers.windows(2) {
        let scale = (6.0 / (w[0] + w[1]) as f64).sqrt();
        for _ in 0..w[0] * w[1] + w[1] {
            weights.push((2.0 * next() - 1.0) * scale);
        }
    }
    weights
}

impl MultilayerPerceptronClassifier {
    fn check(&self) -> Result<(), MlError> {
        let param = |name, message: String| Err(MlError::Param { name, message });
        if self.layers.len() < 2 || self.layers.contains(&0) {
            return param(
                "layers",
                format!(
                    "{:?}: needs at least an input and an output layer, none empty",
                    self.layers
                ),
            );
        }
        if !self.initial_weights.is_empty()
            && self.initial_weights.len() != weight_count(&self.layers)
        {
            return param(
                "initialWeights",
                format!(
                    "{} weights, the layers {:?} have {}",
                    self.initial_weights.len(),
                    self.layers,
                    weight_count(&self.layers)
                ),
            );
        }
        if !(self.step_size > 0.0 && self.step_size.is_finite()) {
            return param("stepSize", format!("{} must be > 0", self.step_size));
        }
        if self.tol.is_nan() || self.tol < 0.0 {
            return param("tol", format!("{} must be >= 0", self.tol));
        }
        Ok(())
    }

    /// Fits the model.
    pub fn fit<F: Frame>(&self, data: &F) -> Result<MultilayerPerceptronModel, MlError> {
        self.fit_with_progress(data, &mut |_, _| {})
    }

    /// Fits the model, calling `progress(iteration, loss)` as it goes.
    pub fn fit_with_progress<F: Frame>(
        &self,
        data: &F,
        progress: &mut dyn FnMut(usize, f64),
    ) -> Result<MultilayerPerceptronModel, MlError> {
        self.check()?;
        let x0 = if self.initial_weights.is_empty() {
            initial_weights(&self.layers, self.seed)
        } else {
            self.initial_weights.clone()
        };
        let mut cost = MlpCost {
            data,
            args: MlpArgs {
                spec: self.columns.clone(),
                layers: self.layers.clone(),
                weights: Vec::new(),
            },
        };
        let result = match self.solver {
            MlpSolver::LBfgs => {
                let config = OptimConfig {
                    max_iter: self.max_iter,
                    tol: self.tol,
                    memory: 10,
                    l1: Vec::new(),
                };
                minimize(&mut cost, x0, &config, progress)?
            }
            MlpSolver::Gd => {
                let mut x = x0;
                let mut history = Vec::new();
                let mut reason = StopReason::MaxIterations;
                for i in 0..self.max_iter {
                    let (loss, gradient) = cost.evaluate(&x)?;
                    history.push(loss);
                    progress(i + 1, loss);
                    for (xi, g) in x.iter_mut().zip(&gradient) {
                        *xi -= self.step_size * g;
                    }
                    let n = history.len();
                    if n > 1
                        && (history[n - 2] - history[n - 1]).abs()
                            <= self.tol * history[n - 2].abs()
                    {
                        reason = StopReason::FunctionValuesConverged;
                        break;
                    }
                }
                OptimResult {
                    iterations: history.len(),
                    evaluations: history.len(),
                    objective_history: history,
                    x,
                    reason,
                }
            }
        };
        Ok(MultilayerPerceptronModel {
            summary: TrainingSummary::from_result(&result),
            weights: result.x,
            params: self.clone(),
        })
    }
}

impl MultilayerPerceptronModel {
    fn predict_args(&self) -> MlpArgs {
        MlpArgs {
            spec: FeatureSpec {
                weight: None,
                ..self.params.columns.clone()
            },
            layers: self.params.layers.clone(),
            weights: self.weights.clone(),
        }
    }

    /// Class probabilities of one feature vector.
    pub fn probabilities(&self, x: &[f64]) -> Vec<f64> {
        forward(&self.params.layers, &self.weights, x)
            .pop()
            .unwrap_or_default()
    }

    /// The most probable class of one feature vector.
    pub fn predict(&self, x: &[f64]) -> f64 {
        super::naive_bayes_kernel::argmax(&self.probabilities(x)) as f64
    }

    /// Adds Spark's columns: `probability` (one value per class) and `prediction`.
    pub fn transform<F: Frame>(&self, data: &F) -> Result<F, MlError> {
        let args = rmp_serde::to_vec_named(&self.predict_args())
            .map_err(|e| MlError::Data(e.to_string()))?;
        data.with_column("probability", "ml.mlp.probability", args.clone())?
            .with_column("prediction", "ml.mlp.prediction", args)
    }

    /// Saves the model to a new directory (one row: the flat weights).
    pub fn save(&self, dir: &std::path::Path) -> Result<(), MlError> {
        let meta = serde_json::json!({
            "estimator": self.params,
            "num_features": self.params.layers[0],
            "num_classes": self.params.layers[self.params.layers.len() - 1],
            "summary": self.summary,
        });
        crate::persistence::save(
            dir,
            "multilayer-perceptron-classifier",
            &meta,
            std::slice::from_ref(&self.weights),
        )
    }

    /// Loads a model saved by [`MultilayerPerceptronModel::save`].
    pub fn load(dir: &std::path::Path) -> Result<Self, MlError> {
        #[derive(Deserialize)]
        struct Meta {
            estimator: MultilayerPerceptronClassifier,
            summary: TrainingSummary,
        }
        let (meta, mut rows): (Meta, Vec<Vec<f64>>) =
            crate::persistence::load(dir, "multilayer-perceptron-classifier")?;
        let expected = weight_count(&meta.estimator.layers);
        match rows.pop() {
            Some(weights) if rows.is_empty() && weights.len() == expected => Ok(Self {
                weights,
                params: meta.estimator,
                summary: meta.summary,
            }),
            _ => Err(MlError::Model {
                path: dir.display().to_string(),
                message: format!("expected one row of {expected} weights"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::FeatureCols;
    use crate::frame::LocalFrame;
    use arrow_array::{ArrayRef, Float64Array, RecordBatch};
    use std::sync::Arc;

    /// Backpropagation's gradient equals central differences of the loss.
    #[test]
    fn gradient_matches_finite_differences() {
        let col = |v: Vec<f64>| Arc::new(Float64Array::from(v)) as ArrayRef;
        let batch = RecordBatch::try_from_iter([
            ("label", col(vec![0.0, 1.0, 2.0, 1.0, 0.0])),
            ("a", col(vec![0.5, -1.0, 2.0, 0.0, 1.5])),
            ("b", col(vec![1.0, 0.25, -0.5, 3.0, 0.0])),
            ("w", col(vec![1.0, 2.0, 0.5, 1.0, 3.0])),
        ])
        .unwrap();
        let data = LocalFrame {
            batches: vec![batch.slice(0, 2), batch.slice(2, 3)],
        };
        let layers = vec![2, 3, 4, 3];
        let mut cost = MlpCost {
            data: &data,
            args: MlpArgs {
                spec: FeatureSpec {
                    label: "label".into(),
                    weight: Some("w".into()),
                    features: FeatureCols::Columns(vec!["a".into(), "b".into()]),
                },
                layers: layers.clone(),
                weights: Vec::new(),
            },
        };
        let x = initial_weights(&layers, 3);
        let (_, gradient) = cost.evaluate(&x).unwrap();
        for i in 0..x.len() {
            let h = 1e-6;
            let mut up = x.clone();
            up[i] += h;
            let mut down = x.clone();
            down[i] -= h;
            let numeric =
                (cost.evaluate(&up).unwrap().0 - cost.evaluate(&down).unwrap().0) / (2.0 * h);
            assert!(
                (numeric - gradient[i]).abs() < 1e-6 * numeric.abs().max(1.0),
                "weight {i}: {numeric} vs {}",
                gradient[i]
            );
        }
    }
}
