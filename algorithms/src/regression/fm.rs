//! Factorization machines as Spark's `spark.ml` defines them (`FMRegressor`,
//! `FMClassifier`): `b + Σ w_i x_i + Σ_{i<j} ⟨v_i, v_j⟩ x_i x_j`, squared error (regressor) or
//! logistic loss (classifier, labels 0/1), trained by mini-batch `adamW` (default) or `gd`
//! (step `stepSize / √t`) with an L2 `regParam`, stopping when the weights move by less than
//! `tol · max(‖w‖, 1)`. Each iteration is one pass over a seeded mini-batch
//! (`miniBatchFraction`), partials in partition order; factors start normal with `initStd`.
//!
//! ```
//! use std::sync::Arc;
//! use arrow_array::{ArrayRef, Float64Array, RecordBatch};
//! use cinder_algorithms::regression::{FactorizationMachine, FmKind};
//! use cinder_algorithms::{FeatureCols, FeatureSpec, LocalFrame};
//!
//! // y = 2·a·b: only the interaction explains it.
//! let a: Vec<f64> = (0..60).map(|i| (i % 6) as f64 / 3.0).collect();
//! let b: Vec<f64> = (0..60).map(|i| (i % 5) as f64 / 2.0).collect();
//! let y: Vec<f64> = a.iter().zip(&b).map(|(a, b)| 2.0 * a * b).collect();
//! let col = |v: Vec<f64>| Arc::new(Float64Array::from(v)) as ArrayRef;
//! let batch = RecordBatch::try_from_iter([("label", col(y)), ("a", col(a)), ("b", col(b))]).unwrap();
//! let model = FactorizationMachine {
//!     kind: FmKind::Regressor,
//!     factor_size: 2,
//!     step_size: 0.1,
//!     max_iter: 500,
//!     columns: FeatureSpec {
//!         label: "label".into(),
//!         weight: None,
//!         features: FeatureCols::Columns(vec!["a".into(), "b".into()]),
//!     },
//!     ..FactorizationMachine::default()
//! }
//! .fit(&LocalFrame { batches: vec![batch] })
//! .unwrap();
//! assert!((model.predict(&[1.0, 1.5]) - 3.0).abs() < 0.3);
//! ```

use serde::{Deserialize, Serialize};

use super::fm_kernel::{FmArgs, FmLoss};
use crate::features::{FeatureSpec, FeatureWidth};
use crate::frame::Frame;
use crate::MlError;

/// Which Spark estimator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FmKind {
    /// `FMRegressor` (squared error).
    Regressor,
    /// `FMClassifier` (logistic loss, labels 0/1).
    Classifier,
}

/// Spark's `solver`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FmSolver {
    /// Adam with decoupled weight decay.
    AdamW,
    /// Gradient descent, step `stepSize / √t`.
    Gd,
}

/// The estimator (`FMRegressor` or `FMClassifier`), with Spark's parameter names and defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FactorizationMachine {
    /// Regressor or classifier.
    pub kind: FmKind,
    /// `factorSize` (8).
    pub factor_size: usize,
    /// `fitIntercept` (true).
    pub fit_intercept: bool,
    /// `fitLinear` (true).
    pub fit_linear: bool,
    /// `regParam` (0).
    pub reg_param: f64,
    /// `miniBatchFraction` (1.0).
    pub mini_batch_fraction: f64,
    /// `initStd` (0.01).
    pub init_std: f64,
    /// `maxIter` (100).
    pub max_iter: usize,
    /// `stepSize` (1.0).
    pub step_size: f64,
    /// `tol` (1e-6).
    pub tol: f64,
    /// `solver` (adamW).
    pub solver: FmSolver,
    /// `seed`.
    pub seed: u64,
    /// Label and feature columns.
    pub columns: FeatureSpec,
}

impl Default for FactorizationMachine {
    fn default() -> Self {
        Self {
            kind: FmKind::Regressor,
            factor_size: 8,
            fit_intercept: true,
            fit_linear: true,
            reg_param: 0.0,
            mini_batch_fraction: 1.0,
            init_std: 0.01,
            max_iter: 100,
            step_size: 1.0,
            tol: 1e-6,
            solver: FmSolver::AdamW,
            seed: 0x5eed,
            columns: FeatureSpec::default(),
        }
    }
}

/// A fitted factorization machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FactorizationMachineModel {
    /// All weights in Spark's layout (factors, linear, intercept).
    pub weights: Vec<f64>,
    /// Features.
    pub num_features: usize,
    /// Iterations run.
    pub iterations: usize,
    /// The mean mini-batch loss of every iteration.
    pub loss_history: Vec<f64>,
    /// The estimator that produced it.
    pub params: FactorizationMachine,
}

/// A normal draw (Box-Muller over xorshift64*).
fn normals(n: usize, seed: u64, std: f64) -> Vec<f64> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut uniform = || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        ((state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    (0..n)
        .map(|_| {
            let (u, v) = (uniform(), uniform());
            std * (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
        })
        .collect()
}

impl FactorizationMachine {
    fn check(&self) -> Result<(), MlError> {
        let param = |name, message: String| Err(MlError::Param { name, message });
        if self.factor_size == 0 {
            return param("factorSize", "0 must be at least 1".into());
        }
        if !(self.mini_batch_fraction > 0.0 && self.mini_batch_fraction <= 1.0) {
            return param(
                "miniBatchFraction",
                format!("{} must be in (0, 1]", self.mini_batch_fraction),
            );
        }
        if !(self.step_size > 0.0 && self.step_size.is_finite()) {
            return param("stepSize", format!("{} must be > 0", self.step_size));
        }
        if !(self.reg_param >= 0.0 && self.reg_param.is_finite()) {
            return param("regParam", format!("{} must be >= 0", self.reg_param));
        }
        if !(self.init_std >= 0.0 && self.init_std.is_finite()) {
            return param("initStd", format!("{} must be >= 0", self.init_std));
        }
        Ok(())
    }

    fn args(&self, d: usize) -> FmArgs {
        FmArgs {
            spec: self.columns.clone(),
            num_features: d,
            factor_size: self.factor_size,
            fit_linear: self.fit_linear,
            fit_intercept: self.fit_intercept,
            logistic: self.kind == FmKind::Classifier,
            weights: Vec::new(),
            fraction: self.mini_batch_fraction,
            sample_seed: 0,
        }
    }

    /// Fits the model.
    pub fn fit<F: Frame>(&self, data: &F) -> Result<FactorizationMachineModel, MlError> {
        self.fit_with_progress(data, &mut |_, _| {})
    }

    /// Fits the model, calling `progress(iteration, loss)` after each iteration.
    pub fn fit_with_progress<F: Frame>(
        &self,
        data: &F,
        progress: &mut dyn FnMut(usize, f64),
    ) -> Result<FactorizationMachineModel, MlError> {
        self.check()?;
        let d = data.tree_aggregate::<FeatureWidth>(&self.columns, 2)? as usize;
        let k = self.factor_size;
        let n = d * k + if self.fit_linear { d } else { 0 } + usize::from(self.fit_intercept);
        let mut w = normals(d * k, self.seed, self.init_std);
        w.resize(n, 0.0);
        let mut args = self.args(d);
        let (mut m, mut v) = (vec![0.0; n], vec![0.0; n]);
        let (beta1, beta2, eps) = (0.9f64, 0.999f64, 1e-8);
        let mut history = Vec::new();
        let mut iterations = 0;
        for t in 1..=self.max_iter {
            args.weights = w.clone();
            args.sample_seed = self.seed.wrapping_add(t as u64);
            let sums = data.tree_aggregate::<FmLoss>(&args, 2)?;
            iterations = t;
            if sums.weight_sum == 0.0 {
                continue; // An empty mini-batch moves nothing (as Spark).
            }
            let g: Vec<f64> = sums.gradient.iter().map(|g| g / sums.weight_sum).collect();
            let loss = sums.loss / sums.weight_sum;
            history.push(loss);
            progress(t, loss);
            let previous = w.clone();
            match self.solver {
                FmSolver::AdamW => {
                    let (c1, c2) = (1.0 - beta1.powi(t as i32), 1.0 - beta2.powi(t as i32));
                    for i in 0..n {
                        m[i] = beta1 * m[i] + (1.0 - beta1) * g[i];
                        v[i] = beta2 * v[i] + (1.0 - beta2) * g[i] * g[i];
                        let step = (m[i] / c1) / ((v[i] / c2).sqrt() + eps);
                        w[i] -= self.step_size * (step + self.reg_param * w[i]);
                    }
                }
                FmSolver::Gd => {
                    let step = self.step_size / (t as f64).sqrt();
                    for i in 0..n {
                        w[i] = w[i] * (1.0 - step * self.reg_param) - step * g[i];
                    }
                }
            }
            let moved: f64 = w
                .iter()
                .zip(&previous)
                .map(|(a, b)| (a - b) * (a - b))
                .sum::<f64>()
                .sqrt();
            let norm: f64 = w.iter().map(|a| a * a).sum::<f64>().sqrt();
            if !moved.is_finite() {
                return Err(MlError::Optimizer(format!(
                    "the weights diverged at iteration {t} (try a smaller stepSize)"
                )));
            }
            if moved < self.tol * norm.max(1.0) {
                break;
            }
        }
        Ok(FactorizationMachineModel {
            weights: w,
            num_features: d,
            iterations,
            loss_history: history,
            params: self.clone(),
        })
    }
}

impl FactorizationMachineModel {
    fn predict_args(&self) -> FmArgs {
        FmArgs {
            spec: FeatureSpec {
                weight: None,
                ..self.params.columns.clone()
            },
            weights: self.weights.clone(),
            ..self.params.args(self.num_features)
        }
    }

    /// The regressor's output, or the classifier's class, for one dense feature vector.
    pub fn predict(&self, x: &[f64]) -> f64 {
        let pairs: Vec<(usize, f64)> = x
            .iter()
            .copied()
            .enumerate()
            .filter(|p| p.1 != 0.0)
            .collect();
        let raw = self.predict_args().raw(&pairs).0;
        match self.params.kind {
            FmKind::Regressor => raw,
            FmKind::Classifier => f64::from(u8::from(raw > 0.0)),
        }
    }

    /// Adds Spark's columns: `prediction`, and for the classifier `rawPrediction` and
    /// `probability`.
    pub fn transform<F: Frame>(&self, data: &F) -> Result<F, MlError> {
        let args = rmp_serde::to_vec_named(&self.predict_args())
            .map_err(|e| MlError::Data(e.to_string()))?;
        match self.params.kind {
            FmKind::Regressor => data.with_column("prediction", "ml.fm.prediction", args),
            FmKind::Classifier => data
                .with_column("rawPrediction", "ml.fm.raw_prediction", args.clone())?
                .with_column("probability", "ml.fm.probability", args.clone())?
                .with_column("prediction", "ml.fm.prediction", args),
        }
    }

    /// Saves the model to a new directory (one row: the weights).
    pub fn save(&self, dir: &std::path::Path) -> Result<(), MlError> {
        let meta = serde_json::json!({
            "estimator": self.params,
            "num_features": self.num_features,
            "iterations": self.iterations,
        });
        crate::persistence::save(
            dir,
            "factorization-machine",
            &meta,
            std::slice::from_ref(&self.weights),
        )
    }

    /// Loads a model saved by [`FactorizationMachineModel::save`].
    pub fn load(dir: &std::path::Path) -> Result<Self, MlError> {
        #[derive(Deserialize)]
        struct Meta {
            estimator: FactorizationMachine,
            num_features: usize,
            iterations: usize,
        }
        let (meta, mut rows): (Meta, Vec<Vec<f64>>) =
            crate::persistence::load(dir, "factorization-machine")?;
        let p = &meta.estimator;
        let d = meta.num_features;
        let expected =
            d * p.factor_size + if p.fit_linear { d } else { 0 } + usize::from(p.fit_intercept);
        match rows.pop() {
            Some(weights) if rows.is_empty() && weights.len() == expected => Ok(Self {
                weights,
                num_features: d,
                iterations: meta.iterations,
                loss_history: Vec::new(),
                params: meta.estimator,
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

    /// The kernel's gradient equals central differences of its loss, for both losses.
    #[test]
    fn gradient_matches_finite_differences() {
        let col = |v: Vec<f64>| Arc::new(Float64Array::from(v)) as ArrayRef;
        let batch = RecordBatch::try_from_iter([
            ("label", col(vec![1.0, 0.0, 1.0, 0.0, 1.0])),
            ("a", col(vec![0.5, -1.0, 2.0, 0.0, 1.5])),
            ("b", col(vec![1.0, 0.25, -0.5, 3.0, 0.0])),
            ("c", col(vec![0.0, 2.0, 1.0, -1.0, 0.5])),
        ])
        .unwrap();
        let data = LocalFrame {
            batches: vec![batch.slice(0, 2), batch.slice(2, 3)],
        };
        for kind in [FmKind::Regressor, FmKind::Classifier] {
            let fm = FactorizationMachine {
                kind,
                factor_size: 2,
                columns: FeatureSpec {
                    label: "label".into(),
                    weight: None,
                    features: FeatureCols::Columns(vec!["a".into(), "b".into(), "c".into()]),
                },
                ..FactorizationMachine::default()
            };
            let mut args = fm.args(3);
            let n = 3 * 2 + 3 + 1;
            let x = normals(n, 5, 0.5);
            let loss = |args: &mut FmArgs, w: &[f64]| {
                args.weights = w.to_vec();
                data.tree_aggregate::<FmLoss>(args, 2).unwrap()
            };
            let at = loss(&mut args, &x);
            for i in 0..n {
                let h = 1e-6;
                let (mut up, mut down) = (x.clone(), x.clone());
                up[i] += h;
                down[i] -= h;
                let numeric = (loss(&mut args, &up).loss - loss(&mut args, &down).loss) / (2.0 * h);
                assert!(
                    (numeric - at.gradient[i]).abs() < 1e-6 * numeric.abs().max(1.0),
                    "{kind:?} weight {i}: {numeric} vs {}",
                    at.gradient[i]
                );
            }
        }
    }
}
