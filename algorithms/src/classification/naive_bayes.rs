//! Naive Bayes as Spark's `spark.ml` defines it (`NaiveBayes`): multinomial, complement,
//! Bernoulli and Gaussian models, additive smoothing, instance weights. One distributed pass
//! sums the data per class (partials combined in partition order); the model is computed from
//! those sums on the driver exactly as Spark computes it.
//!
//! ```
//! use std::sync::Arc;
//! use arrow_array::{ArrayRef, Float64Array, RecordBatch};
//! use cinder_algorithms::classification::{ModelType, NaiveBayes};
//! use cinder_algorithms::{FeatureCols, FeatureSpec, LocalFrame};
//!
//! let col = |v: Vec<f64>| Arc::new(Float64Array::from(v)) as ArrayRef;
//! let batch = RecordBatch::try_from_iter([
//!     ("label", col(vec![0.0, 0.0, 1.0, 1.0])),
//!     ("a", col(vec![3.0, 2.0, 0.0, 1.0])),
//!     ("b", col(vec![0.0, 1.0, 4.0, 2.0])),
//! ])
//! .unwrap();
//! let data = LocalFrame { batches: vec![batch] };
//! let model = NaiveBayes {
//!     model_type: ModelType::Multinomial,
//!     columns: FeatureSpec {
//!         label: "label".into(),
//!         weight: None,
//!         features: FeatureCols::Columns(vec!["a".into(), "b".into()]),
//!     },
//!     ..NaiveBayes::default()
//! }
//! .fit(&data)
//! .unwrap();
//! // Class priors: log((2 + 1) / (4 + 2 * 1)) for both classes.
//! assert!((model.pi[0] - (0.5f64).ln()).abs() < 1e-12);
//! // Class 0 saw 5 counts of `a` and 1 of `b`: θ = log((5 + 1) / (6 + 2)).
//! assert!((model.theta[0][0] - (6.0f64 / 8.0).ln()).abs() < 1e-12);
//! ```

use serde::{Deserialize, Serialize};

pub use super::naive_bayes_kernel::ModelType;
use super::naive_bayes_kernel::{NaiveBayesAgg, NaiveBayesArgs, NaiveBayesPredictArgs};
use crate::features::FeatureSpec;
use crate::frame::Frame;
use crate::MlError;

/// The estimator, with Spark's parameter names and defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NaiveBayes {
    /// `smoothing` (1.0): additive (Laplace) smoothing; not used by `gaussian`.
    pub smoothing: f64,
    /// `modelType` (multinomial).
    pub model_type: ModelType,
    /// Label, weight (`weightCol`) and feature columns.
    pub columns: FeatureSpec,
    /// `aggregationDepth` of the one pass (2).
    pub aggregation_depth: u32,
}

impl Default for NaiveBayes {
    fn default() -> Self {
        Self {
            smoothing: 1.0,
            model_type: ModelType::Multinomial,
            columns: FeatureSpec::default(),
            aggregation_depth: 2,
        }
    }
}

/// A fitted naive Bayes model: Spark's `pi`, `theta` and `sigma`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NaiveBayesModel {
    /// Log class priors, one per class present in the training labels (in label order).
    pub pi: Vec<f64>,
    /// One row per class: log conditional probabilities (multinomial, Bernoulli), their
    /// negation (complement, as Spark stores it), or the feature means (gaussian).
    pub theta: Vec<Vec<f64>>,
    /// Gaussian only: one row per class of feature variances (plus Spark's epsilon); empty
    /// for the other types.
    pub sigma: Vec<Vec<f64>>,
    /// The label of each class row (0, 1, 2, ... when every class index occurs).
    pub labels: Vec<f64>,
    /// The estimator that produced it.
    pub params: NaiveBayes,
}

impl NaiveBayes {
    fn check(&self) -> Result<(), MlError> {
        if !(self.smoothing >= 0.0 && self.smoothing.is_finite()) {
            return Err(MlError::Param {
                name: "smoothing",
                message: format!("{} must be >= 0", self.smoothing),
            });
        }
        Ok(())
    }

    /// Fits the model with one pass over the data.
    pub fn fit<F: Frame>(&self, data: &F) -> Result<NaiveBayesModel, MlError> {
        self.check()?;
        let args = NaiveBayesArgs {
            spec: self.columns.clone(),
            model_type: self.model_type,
        };
        let sums = data.tree_aggregate::<NaiveBayesAgg>(&args, self.aggregation_depth)?;
        let present: Vec<(f64, &super::naive_bayes_kernel::ClassSums)> = sums
            .classes
            .iter()
            .enumerate()
            .filter(|(_, c)| c.count > 0)
            .map(|(k, c)| (k as f64, c))
            .collect();
        if present.is_empty() {
            return Err(MlError::Input("the dataset is empty".into()));
        }
        let d = sums.num_features;
        let total: f64 = present.iter().map(|(_, c)| c.weight).sum();
        if total <= 0.0 {
            return Err(MlError::Input("all weights are zero".into()));
        }
        let feature = |v: &[f64], j: usize| v.get(j).copied().unwrap_or(0.0);
        let labels: Vec<f64> = present.iter().map(|(l, _)| *l).collect();
        let (pi, theta, sigma) = if self.model_type == ModelType::Gaussian {
            gaussian(&present, d, total)
        } else {
            let k = present.len() as f64;
            let lambda = self.smoothing;
            let pi_denom = (total + k * lambda).ln();
            let mut all = vec![0.0; d];
            for (_, c) in &present {
                for (j, a) in all.iter_mut().enumerate() {
                    *a += feature(&c.sum, j);
                }
            }
            let mut pi = Vec::new();
            let mut theta = Vec::new();
            for (_, c) in &present {
                pi.push((c.weight + lambda).ln() - pi_denom);
                let counts: Vec<f64> = match self.model_type {
                    ModelType::Complement => (0..d).map(|j| all[j] - feature(&c.sum, j)).collect(),
                    _ => (0..d).map(|j| feature(&c.sum, j)).collect(),
                };
                let denom = match self.model_type {
                    ModelType::Bernoulli => (c.weight + 2.0 * lambda).ln(),
                    _ => (counts.iter().sum::<f64>() + d as f64 * lambda).ln(),
                };
                let sign = if self.model_type == ModelType::Complement {
                    -1.0
                } else {
                    1.0
                };
                theta.push(
                    counts
                        .iter()
                        .map(|n| sign * ((n + lambda).ln() - denom))
                        .collect(),
                );
            }
            (pi, theta, Vec::new())
        };
        Ok(NaiveBayesModel {
            pi,
            theta,
            sigma,
            labels,
            params: self.clone(),
        })
    }
}

type Tables = (Vec<f64>, Vec<Vec<f64>>, Vec<Vec<f64>>);

/// Spark's Gaussian model from the class sums: priors `log(W_c / W)`, means, and variances
/// `E[x²] - E[x]²` plus `1e-9` times the largest overall variance (scikit-learn's
/// `var_smoothing`, which Spark copies).
fn gaussian(
    present: &[(f64, &super::naive_bayes_kernel::ClassSums)],
    d: usize,
    total: f64,
) -> Tables {
    let at = |v: &[f64], j: usize| v.get(j).copied().unwrap_or(0.0);
    let epsilon = (0..d)
        .map(|j| {
            let (mut sum, mut sq) = (0.0, 0.0);
            for (_, c) in present {
                // Spark sums mean · weight, which is the weighted sum up to rounding.
                sum += at(&c.sum, j) / c.weight * c.weight;
                sq += at(&c.sum_sq, j);
            }
            sq / total - sum * sum / total / total
        })
        .fold(f64::NEG_INFINITY, f64::max)
        * 1e-9;
    let epsilon = if d == 0 { 0.0 } else { epsilon };
    let mut pi = Vec::new();
    let mut theta = Vec::new();
    let mut sigma = Vec::new();
    for (_, c) in present {
        pi.push(c.weight.ln() - total.ln());
        let mean: Vec<f64> = (0..d).map(|j| at(&c.sum, j) / c.weight).collect();
        sigma.push(
            (0..d)
                .map(|j| epsilon + at(&c.sum_sq, j) / c.weight - mean[j] * mean[j])
                .collect(),
        );
        theta.push(mean);
    }
    (pi, theta, sigma)
}

impl NaiveBayesModel {
    /// Classes (rows of `theta`).
    pub fn num_classes(&self) -> usize {
        self.pi.len()
    }

    /// Features.
    pub fn num_features(&self) -> usize {
        self.theta.first().map_or(0, Vec::len)
    }

    /// The arguments of the prediction column functions.
    pub fn predict_args(&self) -> NaiveBayesPredictArgs {
        NaiveBayesPredictArgs {
            spec: self.params.columns.clone(),
            model_type: self.params.model_type,
            pi: self.pi.clone(),
            theta: self.theta.clone(),
            sigma: self.sigma.clone(),
            labels: self.labels.clone(),
        }
    }

    /// Adds Spark's columns: `rawPrediction` and `probability` (`List<Float64>`, one value
    /// per class) and `prediction` (the label of the largest raw score).
    pub fn transform<F: Frame>(&self, data: &F) -> Result<F, MlError> {
        let args = rmp_serde::to_vec_named(&self.predict_args())
            .map_err(|e| MlError::Data(e.to_string()))?;
        data.with_column(
            "rawPrediction",
            "ml.naive_bayes.raw_prediction",
            args.clone(),
        )?
        .with_column("probability", "ml.naive_bayes.probability", args.clone())?
        .with_column("prediction", "ml.naive_bayes.prediction", args)
    }

    /// Saves the model to a new directory (see [`crate::persistence`]): rows `pi`, `labels`,
    /// then `theta`'s rows, then `sigma`'s.
    pub fn save(&self, dir: &std::path::Path) -> Result<(), MlError> {
        let mut rows = vec![self.pi.clone(), self.labels.clone()];
        rows.extend(self.theta.iter().cloned());
        rows.extend(self.sigma.iter().cloned());
        let meta = serde_json::json!({
            "estimator": self.params,
            "num_classes": self.num_classes(),
            "num_features": self.num_features(),
        });
        crate::persistence::save(dir, "naive-bayes", &meta, &rows)
    }

    /// Loads a model saved by [`NaiveBayesModel::save`].
    pub fn load(dir: &std::path::Path) -> Result<Self, MlError> {
        #[derive(Deserialize)]
        struct Meta {
            estimator: NaiveBayes,
            num_classes: usize,
        }
        let (meta, rows): (Meta, Vec<Vec<f64>>) = crate::persistence::load(dir, "naive-bayes")?;
        let k = meta.num_classes;
        let gaussian = meta.estimator.model_type == ModelType::Gaussian;
        let expected = 2 + k * if gaussian { 2 } else { 1 };
        if rows.len() != expected || rows[0].len() != k || rows[1].len() != k {
            return Err(MlError::Model {
                path: dir.display().to_string(),
                message: format!("{} rows for {k} classes (expected {expected})", rows.len()),
            });
        }
        let mut rows = rows.into_iter();
        let pi = rows.next().unwrap_or_default();
        let labels = rows.next().unwrap_or_default();
        let theta: Vec<Vec<f64>> = rows.by_ref().take(k).collect();
        let sigma: Vec<Vec<f64>> = rows.collect();
        Ok(Self {
            pi,
            theta,
            sigma,
            labels,
            params: meta.estimator,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::FeatureCols;
    use crate::frame::LocalFrame;
    use arrow_array::{ArrayRef, Float64Array, RecordBatch};
    use std::sync::Arc;

    fn frame(label: Vec<f64>, a: Vec<f64>, b: Vec<f64>, w: Vec<f64>) -> LocalFrame {
        let col = |v: Vec<f64>| Arc::new(Float64Array::from(v)) as ArrayRef;
        let n = label.len();
        let batch = RecordBatch::try_from_iter([
            ("label", col(label)),
            ("a", col(a)),
            ("b", col(b)),
            ("w", col(w)),
        ])
        .unwrap();
        // Two partitions of unequal size.
        LocalFrame {
            batches: vec![batch.slice(0, n / 3), batch.slice(n / 3, n - n / 3)],
        }
    }

    fn spec(weight: bool) -> FeatureSpec {
        FeatureSpec {
            label: "label".into(),
            weight: weight.then(|| "w".to_string()),
            features: FeatureCols::Columns(vec!["a".into(), "b".into()]),
        }
    }

    /// Integer weights equal repeated rows, for every model type.
    #[test]
    fn integer_weights_equal_repeated_rows() {
        let label = vec![0.0, 1.0, 2.0, 0.0, 1.0, 2.0, 1.0];
        let a = vec![1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0];
        let b = vec![0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0];
        let w = vec![1.0, 2.0, 3.0, 1.0, 1.0, 2.0, 1.0];
        let (mut rl, mut ra, mut rb) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..label.len() {
            for _ in 0..w[i] as usize {
                rl.push(label[i]);
                ra.push(a[i]);
                rb.push(b[i]);
            }
        }
        let ones = vec![1.0; rl.len()];
        for model_type in [
            ModelType::Multinomial,
            ModelType::Bernoulli,
            ModelType::Complement,
            ModelType::Gaussian,
        ] {
            let weighted = NaiveBayes {
                model_type,
                smoothing: 0.5,
                columns: spec(true),
                ..NaiveBayes::default()
            }
            .fit(&frame(label.clone(), a.clone(), b.clone(), w.clone()))
            .unwrap();
            let repeated = NaiveBayes {
                model_type,
                smoothing: 0.5,
                columns: spec(false),
                ..NaiveBayes::default()
            }
            .fit(&frame(rl.clone(), ra.clone(), rb.clone(), ones.clone()))
            .unwrap();
            let flat = |m: &NaiveBayesModel| -> Vec<f64> {
                m.pi.iter()
                    .chain(m.theta.iter().flatten())
                    .chain(m.sigma.iter().flatten())
                    .copied()
                    .collect()
            };
            for (x, y) in flat(&weighted).iter().zip(flat(&repeated)) {
                assert!((x - y).abs() < 1e-12, "{model_type:?}: {x} vs {y}");
            }
        }
    }

    /// Bernoulli probabilities are a distribution over the 2^d binary vectors per class.
    #[test]
    fn bernoulli_class_conditionals_sum_to_one() {
        let model = NaiveBayes {
            model_type: ModelType::Bernoulli,
            columns: spec(false),
            ..NaiveBayes::default()
        }
        .fit(&frame(
            vec![0.0, 1.0, 1.0, 0.0],
            vec![1.0, 0.0, 1.0, 1.0],
            vec![0.0, 1.0, 1.0, 0.0],
            vec![1.0; 4],
        ))
        .unwrap();
        let priors: f64 = model.pi.iter().map(|p| p.exp()).sum();
        assert!((priors - 1.0).abs() < 1e-12);
        for theta in &model.theta {
            let p: Vec<f64> = theta.iter().map(|t| t.exp()).collect();
            let total: f64 = (0..4)
                .map(|bits: u32| {
                    (0..2)
                        .map(|j| if bits >> j & 1 == 1 { p[j] } else { 1.0 - p[j] })
                        .product::<f64>()
                })
                .sum();
            assert!((total - 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn bad_values_are_named() {
        let data = frame(
            vec![0.0, 1.0],
            vec![-1.0, 0.0],
            vec![0.0, 1.0],
            vec![1.0; 2],
        );
        let err = NaiveBayes {
            columns: spec(false),
            ..NaiveBayes::default()
        }
        .fit(&data)
        .unwrap_err()
        .to_string();
        assert!(err.contains("non-negative") && err.contains("-1"), "{err}");
        let data = frame(vec![0.0, 1.0], vec![2.0, 0.0], vec![0.0, 1.0], vec![1.0; 2]);
        let err = NaiveBayes {
            model_type: ModelType::Bernoulli,
            columns: spec(false),
            ..NaiveBayes::default()
        }
        .fit(&data)
        .unwrap_err()
        .to_string();
        assert!(err.contains("0 or 1"), "{err}");
        let data = frame(vec![0.5, 1.0], vec![2.0, 0.0], vec![0.0, 1.0], vec![1.0; 2]);
        let err = NaiveBayes {
            columns: spec(false),
            ..NaiveBayes::default()
        }
        .fit(&data)
        .unwrap_err()
        .to_string();
        assert!(err.contains("label 0.5"), "{err}");
    }

    #[test]
    fn save_and_load_round_trip() {
        let dir = std::env::temp_dir().join(format!("cinder-nb-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for (i, model_type) in [ModelType::Gaussian, ModelType::Complement]
            .into_iter()
            .enumerate()
        {
            let model = NaiveBayes {
                model_type,
                columns: spec(false),
                ..NaiveBayes::default()
            }
            .fit(&frame(
                vec![0.0, 1.0, 1.0, 0.0, 2.0],
                vec![1.0, 0.0, 3.0, 1.0, 2.0],
                vec![0.5, 1.0, 1.0, 0.0, 4.0],
                vec![1.0; 5],
            ))
            .unwrap();
            let path = dir.join(format!("m{i}"));
            model.save(&path).unwrap();
            assert_eq!(NaiveBayesModel::load(&path).unwrap(), model);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
