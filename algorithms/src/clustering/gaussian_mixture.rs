//! Gaussian mixtures as Spark's `spark.ml` fits them (`GaussianMixture`): expectation-
//! maximization with full covariance matrices. The start is Spark's: `5k` sampled rows (seeded)
//! cut into `k` slices, each giving a weight, a mean and a diagonal covariance. Each iteration
//! is one distributed expectation pass (responsibilities and their weighted moments, partials
//! in partition order) and a maximization on the driver; it stops after `maxIter` iterations
//! or when the log-likelihood changes by at most `tol`. Densities use the pseudo-inverse and
//! pseudo-determinant of each covariance, as Spark's `MultivariateGaussian`.
//!
//! ```
//! use std::sync::Arc;
//! use arrow_array::{ArrayRef, Float64Array, RecordBatch};
//! use cinder_algorithms::clustering::GaussianMixture;
//! use cinder_algorithms::{FeatureCols, FeatureSpec, LocalFrame};
//!
//! let xs: Vec<f64> = (0..40)
//!     .map(|i| if i % 2 == 0 { (i % 7) as f64 * 0.1 } else { 10.0 + (i % 5) as f64 * 0.1 })
//!     .collect();
//! let batch =
//!     RecordBatch::try_from_iter([("x", Arc::new(Float64Array::from(xs)) as ArrayRef)]).unwrap();
//! let model = GaussianMixture {
//!     k: 2,
//!     columns: FeatureSpec {
//!         label: String::new(),
//!         weight: None,
//!         features: FeatureCols::Columns(vec!["x".into()]),
//!     },
//!     ..GaussianMixture::default()
//! }
//! .fit(&LocalFrame { batches: vec![batch] })
//! .unwrap();
//! let mut means: Vec<f64> = model.means.iter().map(|m| m[0]).collect();
//! means.sort_by(f64::total_cmp);
//! assert!((means[0] - 0.3).abs() < 0.1 && (means[1] - 10.2).abs() < 0.1);
//! ```

use nalgebra::{DMatrix, SymmetricEigen};
use serde::{Deserialize, Serialize};

use super::gaussian_mixture_kernel::{Component, GmmArgs, GmmExpectation, GmmSample};
use crate::features::{FeatureSpec, FeatureWidth};
use crate::frame::Frame;
use crate::MlError;

/// Rows sampled per component for the start (Spark's `numSamples`).
const SAMPLES_PER_COMPONENT: usize = 5;

/// The estimator, with Spark's parameter names and defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GaussianMixture {
    /// `k` (2): components.
    pub k: usize,
    /// `maxIter` (100).
    pub max_iter: usize,
    /// `tol` (0.01): on the change of the total log-likelihood.
    pub tol: f64,
    /// `seed`.
    pub seed: u64,
    /// `aggregationDepth` (2).
    pub aggregation_depth: u32,
    /// Feature (and `weightCol`) columns.
    pub columns: FeatureSpec,
}

impl Default for GaussianMixture {
    fn default() -> Self {
        Self {
            k: 2,
            max_iter: 100,
            tol: 0.01,
            seed: 0x5eed,
            aggregation_depth: 2,
            columns: FeatureSpec::default(),
        }
    }
}

/// A fitted mixture: Spark's `weights` and `gaussians` (means and covariances).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GaussianMixtureModel {
    /// Mixing weights (sum to 1).
    pub weights: Vec<f64>,
    /// Component means.
    pub means: Vec<Vec<f64>>,
    /// Component covariances, `d × d` row-major.
    pub covariances: Vec<Vec<f64>>,
    /// Spark's `summary.logLikelihood`: the total (weighted) log-likelihood of the last
    /// expectation pass.
    pub log_likelihood: f64,
    /// EM iterations run.
    pub iterations: usize,
    /// The estimator that produced it.
    pub params: GaussianMixture,
}

/// A component's density terms from its parameters (pseudo-inverse and pseudo-determinant
/// over eigenvalues above `ε · max · d`, as Spark).
fn component(weight: f64, mean: &[f64], cov: &[f64]) -> Component {
    let d = mean.len();
    let eigen = SymmetricEigen::new(DMatrix::from_row_slice(d, d, cov));
    let max = eigen.eigenvalues.iter().copied().fold(0.0, f64::max);
    let tol = f64::EPSILON * max * d as f64;
    let mut precision = vec![0.0; d * d];
    let mut log_det = 0.0;
    for (e, value) in eigen.eigenvalues.iter().enumerate() {
        if *value > tol {
            log_det += value.ln();
            let u = eigen.eigenvectors.column(e);
            for i in 0..d {
                for j in 0..d {
                    precision[i * d + j] += u[i] * u[j] / value;
                }
            }
        }
    }
    Component {
        weight,
        mean: mean.to_vec(),
        precision,
        log_norm: -0.5 * (d as f64 * (2.0 * std::f64::consts::PI).ln() + log_det),
    }
}

impl GaussianMixture {
    fn check(&self) -> Result<(), MlError> {
        let param = |name, message: String| Err(MlError::Param { name, message });
        if self.k < 2 {
            return param("k", format!("{} must be at least 2", self.k));
        }
        if self.tol.is_nan() || self.tol < 0.0 {
            return param("tol", format!("{} must be >= 0", self.tol));
        }
        Ok(())
    }

    /// Fits the model.
    pub fn fit<F: Frame>(&self, data: &F) -> Result<GaussianMixtureModel, MlError> {
        self.fit_with_progress(data, &mut |_, _| {})
    }

    /// Fits the model, calling `progress(iteration, log_likelihood)` as it goes.
    pub fn fit_with_progress<F: Frame>(
        &self,
        data: &F,
        progress: &mut dyn FnMut(usize, f64),
    ) -> Result<GaussianMixtureModel, MlError> {
        self.check()?;
        let d =
            data.tree_aggregate::<FeatureWidth>(&self.columns, self.aggregation_depth)? as usize;
        let mut args = GmmArgs {
            spec: self.columns.clone(),
            width: d,
            components: Vec::new(),
            seed: self.seed,
            keep: self.k * SAMPLES_PER_COMPONENT,
        };
        let sample = data.tree_aggregate::<GmmSample>(&args, self.aggregation_depth)?;
        if sample.len() < self.k {
            return Err(MlError::Input(format!(
                "{} rows with positive weight for {} components",
                sample.len(),
                self.k
            )));
        }
        let total: f64 = sample.iter().map(|s| s.2).sum();
        let per = sample.len() / self.k;
        let (mut weights, mut means, mut covariances) = (Vec::new(), Vec::new(), Vec::new());
        for slice in sample.chunks(per).take(self.k) {
            let w: f64 = slice.iter().map(|s| s.2).sum();
            let mean: Vec<f64> = (0..d)
                .map(|j| slice.iter().map(|s| s.2 * s.1[j]).sum::<f64>() / w)
                .collect();
            let mut cov = vec![0.0; d * d];
            for j in 0..d {
                cov[j * d + j] = slice
                    .iter()
                    .map(|s| s.2 * (s.1[j] - mean[j]).powi(2))
                    .sum::<f64>()
                    / w;
            }
            weights.push(w / total);
            means.push(mean);
            covariances.push(cov);
        }
        let mut log_likelihood = f64::MIN;
        let mut previous = 0.0;
        let mut iterations = 0;
        while iterations < self.max_iter && (log_likelihood - previous).abs() > self.tol {
            args.components = (0..self.k)
                .map(|k| component(weights[k], &means[k], &covariances[k]))
                .collect();
            let sums = data.tree_aggregate::<GmmExpectation>(&args, self.aggregation_depth)?;
            previous = log_likelihood;
            log_likelihood = sums.log_likelihood;
            for k in 0..self.k {
                let wk = sums.weights[k];
                if wk <= 0.0 {
                    continue; // An empty component keeps its parameters.
                }
                weights[k] = wk / sums.total_weight;
                means[k] = sums.means[k].iter().map(|v| v / wk).collect();
                for i in 0..d {
                    for j in i..d {
                        let v = sums.second[k][i * d + j] / wk - means[k][i] * means[k][j];
                        covariances[k][i * d + j] = v;
                        covariances[k][j * d + i] = v;
                    }
                }
            }
            iterations += 1;
            progress(iterations, log_likelihood);
        }
        Ok(GaussianMixtureModel {
            weights,
            means,
            covariances,
            log_likelihood,
            iterations,
            params: self.clone(),
        })
    }
}

impl GaussianMixtureModel {
    fn predict_args(&self) -> GmmArgs {
        GmmArgs {
            spec: FeatureSpec {
                weight: None,
                ..self.params.columns.clone()
            },
            width: self.means.first().map_or(0, Vec::len),
            components: (0..self.weights.len())
                .map(|k| component(self.weights[k], &self.means[k], &self.covariances[k]))
                .collect(),
            seed: 0,
            keep: 0,
        }
    }

    /// Adds Spark's columns: `probability` (each component's posterior, `List<Float64>`) and
    /// `prediction` (the most probable component).
    pub fn transform<F: Frame>(&self, data: &F) -> Result<F, MlError> {
        let args = rmp_serde::to_vec_named(&self.predict_args())
            .map_err(|e| MlError::Data(e.to_string()))?;
        data.with_column("probability", "ml.gmm.probability", args.clone())?
            .with_column("prediction", "ml.gmm.prediction", args)
    }

    /// Saves the model to a new directory (rows: weights, then each mean, then each
    /// covariance).
    pub fn save(&self, dir: &std::path::Path) -> Result<(), MlError> {
        let meta = serde_json::json!({
            "estimator": self.params,
            "num_features": self.means.first().map_or(0, Vec::len),
            "log_likelihood": self.log_likelihood,
            "iterations": self.iterations,
        });
        let mut rows = vec![self.weights.clone()];
        rows.extend(self.means.iter().cloned());
        rows.extend(self.covariances.iter().cloned());
        crate::persistence::save(dir, "gaussian-mixture", &meta, &rows)
    }

    /// Loads a model saved by [`GaussianMixtureModel::save`].
    pub fn load(dir: &std::path::Path) -> Result<Self, MlError> {
        #[derive(Deserialize)]
        struct Meta {
            estimator: GaussianMixture,
            log_likelihood: f64,
            iterations: usize,
        }
        let (meta, rows): (Meta, Vec<Vec<f64>>) =
            crate::persistence::load(dir, "gaussian-mixture")?;
        let k = rows.first().map_or(0, Vec::len);
        if k == 0 || rows.len() != 1 + 2 * k {
            return Err(MlError::Model {
                path: dir.display().to_string(),
                message: format!("{} rows for {k} components", rows.len()),
            });
        }
        Ok(Self {
            weights: rows[0].clone(),
            means: rows[1..=k].to_vec(),
            covariances: rows[k + 1..].to_vec(),
            log_likelihood: meta.log_likelihood,
            iterations: meta.iterations,
            params: meta.estimator,
        })
    }
}
