//! The linear support vector classifier as Spark's `spark.ml` defines it (`LinearSVC`): the
//! mean weighted hinge loss plus `regParam/2 · ‖β‖²` (on standardized coefficients unless
//! `standardization` is false), minimized over standardized, centered features by the driver's
//! quasi-Newton loop (Spark runs OWL-QN with a zero L1 part, i.e. L-BFGS with a backtracking
//! line search), one distributed pass per objective evaluation.
//!
//! ```
//! use std::sync::Arc;
//! use arrow_array::{ArrayRef, Float64Array, RecordBatch};
//! use cinder_algorithms::classification::LinearSvc;
//! use cinder_algorithms::{FeatureCols, FeatureSpec, LocalFrame};
//!
//! let col = |v: Vec<f64>| Arc::new(Float64Array::from(v)) as ArrayRef;
//! let batch = RecordBatch::try_from_iter([
//!     ("label", col(vec![0.0, 0.0, 0.0, 1.0, 1.0, 1.0])),
//!     ("x", col(vec![-3.0, -2.0, -1.5, 1.0, 2.0, 2.5])),
//! ])
//! .unwrap();
//! let data = LocalFrame { batches: vec![batch] };
//! let model = LinearSvc {
//!     reg_param: 0.01,
//!     columns: FeatureSpec {
//!         label: "label".into(),
//!         weight: None,
//!         features: FeatureCols::Columns(vec!["x".into()]),
//!     },
//!     ..LinearSvc::default()
//! }
//! .fit(&data)
//! .unwrap();
//! // Separable data: every training point ends up on the right side of the margin.
//! assert!(model.coefficients[0] > 0.0);
//! assert!(model.intercept + model.coefficients[0] * -1.5 < 0.0);
//! assert!(model.intercept + model.coefficients[0] * 1.0 > 0.0);
//! ```

use serde::{Deserialize, Serialize};

use super::linear_svc_kernel::{HingeArgs, HingeLoss, SvcPredictArgs};
use super::logistic::TrainingSummary;
use crate::features::{penalty_weights, summarize, FeatureSpec};
use crate::frame::Frame;
use crate::optim::{minimize, DiffFunction, OptimConfig};
use crate::MlError;

/// The estimator, with Spark's parameter names and defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearSvc {
    /// `regParam` (0).
    pub reg_param: f64,
    /// `maxIter` (100).
    pub max_iter: usize,
    /// `fitIntercept` (true).
    pub fit_intercept: bool,
    /// `tol` (1e-6).
    pub tol: f64,
    /// `standardization` (true).
    pub standardization: bool,
    /// `threshold` (0.0): on the margin `βᵀx + b`, not a probability.
    pub threshold: f64,
    /// `aggregationDepth` (2).
    pub aggregation_depth: u32,
    /// Label, weight (`weightCol`) and feature columns.
    pub columns: FeatureSpec,
}

impl Default for LinearSvc {
    fn default() -> Self {
        Self {
            reg_param: 0.0,
            max_iter: 100,
            fit_intercept: true,
            tol: 1e-6,
            standardization: true,
            threshold: 0.0,
            aggregation_depth: 2,
            columns: FeatureSpec::default(),
        }
    }
}

/// A fitted linear SVC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearSvcModel {
    /// Coefficients on the original feature scale.
    pub coefficients: Vec<f64>,
    /// Intercept (0 without `fitIntercept`).
    pub intercept: f64,
    /// The estimator that produced it.
    pub params: LinearSvc,
    /// Objective history, iterations, evaluations, stop reason.
    pub summary: TrainingSummary,
}

struct HingeCost<'a, F: Frame> {
    data: &'a F,
    args: HingeArgs,
    weight_sum: f64,
    l2: Vec<f64>,
    depth: u32,
}

impl<F: Frame> DiffFunction for HingeCost<'_, F> {
    fn evaluate(&mut self, x: &[f64]) -> Result<(f64, Vec<f64>), MlError> {
        self.args.params = x.to_vec();
        let sums = self
            .data
            .tree_aggregate::<HingeLoss>(&self.args, self.depth)?;
        let mut loss = sums.loss / self.weight_sum;
        let mut gradient: Vec<f64> = sums.gradient.iter().map(|g| g / self.weight_sum).collect();
        gradient.resize(x.len(), 0.0);
        for (i, w) in self.l2.iter().enumerate() {
            loss += 0.5 * w * x[i] * x[i];
            gradient[i] += w * x[i];
        }
        Ok((loss, gradient))
    }
}

/// Feature statistics the objective depends on.
struct Scaling {
    inv_std: Vec<f64>,
    scaled_mean: Vec<f64>,
    l2: Vec<f64>,
    weight_sum: f64,
}

impl LinearSvc {
    fn check(&self) -> Result<(), MlError> {
        let param = |name, message: String| Err(MlError::Param { name, message });
        if !(self.reg_param >= 0.0 && self.reg_param.is_finite()) {
            return param("regParam", format!("{} must be >= 0", self.reg_param));
        }
        if self.tol.is_nan() || self.tol < 0.0 {
            return param("tol", format!("{} must be >= 0", self.tol));
        }
        if !self.threshold.is_finite() {
            return param("threshold", format!("{} must be finite", self.threshold));
        }
        Ok(())
    }

    fn scaling<F: Frame>(&self, data: &F) -> Result<Scaling, MlError> {
        let summary = summarize(data, &self.columns, self.aggregation_depth)?;
        if summary.non_class_labels > 0 || summary.histogram.len() > 2 {
            return Err(MlError::Input(
                "linear SVC needs labels 0 and 1 (it is a binary classifier)".into(),
            ));
        }
        if summary.histogram.len() < 2 {
            return Err(MlError::Input(
                "linear SVC needs 2 classes, the labels have 1".into(),
            ));
        }
        let std = summary.std();
        let inv_std: Vec<f64> = std
            .iter()
            .map(|s| if *s > 0.0 { 1.0 / s } else { 0.0 })
            .collect();
        let scaled_mean = if self.fit_intercept {
            summary
                .mean()
                .iter()
                .zip(&inv_std)
                .map(|(m, s)| m * s)
                .collect()
        } else {
            Vec::new()
        };
        let mut l2 = penalty_weights(&std, self.reg_param, self.standardization, 2);
        if self.fit_intercept {
            l2.push(0.0);
        }
        Ok(Scaling {
            inv_std,
            scaled_mean,
            l2,
            weight_sum: summary.weight_sum,
        })
    }

    fn cost<'a, F: Frame>(&self, data: &'a F, s: &Scaling) -> HingeCost<'a, F> {
        HingeCost {
            data,
            args: HingeArgs {
                spec: self.columns.clone(),
                inv_std: s.inv_std.clone(),
                params: Vec::new(),
                fit_intercept: self.fit_intercept,
                scaled_mean: s.scaled_mean.clone(),
            },
            weight_sum: s.weight_sum,
            l2: s.l2.clone(),
            depth: self.aggregation_depth,
        }
    }

    /// Fits the model.
    pub fn fit<F: Frame>(&self, data: &F) -> Result<LinearSvcModel, MlError> {
        self.fit_with_progress(data, &mut |_, _| {})
    }

    /// Fits the model, calling `progress(iteration, objective)` as it goes.
    pub fn fit_with_progress<F: Frame>(
        &self,
        data: &F,
        progress: &mut dyn FnMut(usize, f64),
    ) -> Result<LinearSvcModel, MlError> {
        self.check()?;
        let scaling = self.scaling(data)?;
        let d = scaling.inv_std.len();
        let n_params = d + usize::from(self.fit_intercept);
        let mut cost = self.cost(data, &scaling);
        let config = OptimConfig {
            max_iter: self.max_iter,
            tol: self.tol,
            memory: 10,
            // Spark's `BreezeOWLQN` with a zero L1 part: OWL-QN's backtracking line search.
            l1: vec![0.0; n_params],
        };
        let result = minimize(&mut cost, vec![0.0; n_params], &config, progress)?;
        let summary = TrainingSummary::from_result(&result);
        let x = result.x;
        let shift: f64 = scaling
            .scaled_mean
            .iter()
            .zip(&x[..d])
            .map(|(m, b)| m * b)
            .sum();
        Ok(LinearSvcModel {
            coefficients: (0..d).map(|j| x[j] * scaling.inv_std[j]).collect(),
            intercept: if self.fit_intercept {
                x[d] - shift
            } else {
                0.0
            },
            params: self.clone(),
            summary,
        })
    }

    /// Spark's objective (mean weighted hinge loss plus the L2 penalty) at a model given on the
    /// original scale: what the fit minimizes, for comparing solutions.
    pub fn objective<F: Frame>(
        &self,
        data: &F,
        coefficients: &[f64],
        intercept: f64,
    ) -> Result<f64, MlError> {
        let scaling = self.scaling(data)?;
        let d = scaling.inv_std.len();
        let mut x: Vec<f64> = (0..d)
            .map(|j| {
                if scaling.inv_std[j] > 0.0 {
                    coefficients.get(j).copied().unwrap_or(0.0) / scaling.inv_std[j]
                } else {
                    0.0
                }
            })
            .collect();
        if self.fit_intercept {
            let shift: f64 = scaling.scaled_mean.iter().zip(&x).map(|(m, b)| m * b).sum();
            x.push(intercept + shift);
        }
        Ok(self.cost(data, &scaling).evaluate(&x)?.0)
    }
}

impl LinearSvcModel {
    /// The arguments of the prediction column functions.
    pub fn predict_args(&self) -> SvcPredictArgs {
        SvcPredictArgs {
            spec: self.params.columns.clone(),
            coefficients: self.coefficients.clone(),
            intercept: self.intercept,
            threshold: self.params.threshold,
        }
    }

    /// Adds Spark's columns: `rawPrediction` (`[-m, m]`, `List<Float64>`) and `prediction`
    /// (1 when the margin `m` exceeds `threshold`).
    pub fn transform<F: Frame>(&self, data: &F) -> Result<F, MlError> {
        let args = rmp_serde::to_vec_named(&self.predict_args())
            .map_err(|e| MlError::Data(e.to_string()))?;
        data.with_column(
            "rawPrediction",
            "ml.linear_svc.raw_prediction",
            args.clone(),
        )?
        .with_column("prediction", "ml.linear_svc.prediction", args)
    }

    /// Saves the model to a new directory (rows: coefficients, then `[intercept]`).
    pub fn save(&self, dir: &std::path::Path) -> Result<(), MlError> {
        let meta = serde_json::json!({
            "estimator": self.params,
            "num_features": self.coefficients.len(),
            "summary": self.summary,
        });
        let rows = vec![self.coefficients.clone(), vec![self.intercept]];
        crate::persistence::save(dir, "linear-svc", &meta, &rows)
    }

    /// Loads a model saved by [`LinearSvcModel::save`].
    pub fn load(dir: &std::path::Path) -> Result<Self, MlError> {
        #[derive(Deserialize)]
        struct Meta {
            estimator: LinearSvc,
            summary: TrainingSummary,
        }
        let (meta, rows): (Meta, Vec<Vec<f64>>) = crate::persistence::load(dir, "linear-svc")?;
        match rows.as_slice() {
            [coefficients, intercept] if intercept.len() == 1 => Ok(Self {
                coefficients: coefficients.clone(),
                intercept: intercept[0],
                params: meta.estimator,
                summary: meta.summary,
            }),
            _ => Err(MlError::Model {
                path: dir.display().to_string(),
                message: format!("{} rows, expected coefficients and intercept", rows.len()),
            }),
        }
    }
}
