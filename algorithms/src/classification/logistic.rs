//! Logistic regression as Spark's `spark.ml` defines it: binomial or multinomial, L2 and
//! elastic-net penalties on the standardized coefficients (L-BFGS, or OWL-QN with an L1 part),
//! coefficients returned on the original scale.

use serde::{Deserialize, Serialize};

use super::logistic_kernel::{LogisticArgs, LogisticLoss, LogisticPredictArgs};
use crate::features::{penalty_weights, summarize, FeatureSpec, Summary};
use crate::frame::Frame;
use crate::optim::{minimize, DiffFunction, OptimConfig, OptimResult, StopReason};
use crate::MlError;

/// Spark's `family` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// Binomial for two classes, multinomial for more.
    Auto,
    /// Two classes, one coefficient vector.
    Binomial,
    /// One coefficient vector per class (softmax).
    Multinomial,
}

/// The estimator, with Spark's parameter names and defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogisticRegression {
    /// `maxIter` (100).
    pub max_iter: usize,
    /// `regParam` (0).
    pub reg_param: f64,
    /// `elasticNetParam` (0: L2; 1: L1).
    pub elastic_net_param: f64,
    /// `tol` (1e-6).
    pub tol: f64,
    /// `fitIntercept` (true).
    pub fit_intercept: bool,
    /// `standardization` (true).
    pub standardization: bool,
    /// `threshold` (0.5).
    pub threshold: f64,
    /// `family` (auto).
    pub family: Family,
    /// `aggregationDepth` (2).
    pub aggregation_depth: u32,
    /// Label, weight (`weightCol`) and feature columns.
    pub columns: FeatureSpec,
}

impl Default for LogisticRegression {
    fn default() -> Self {
        Self {
            max_iter: 100,
            reg_param: 0.0,
            elastic_net_param: 0.0,
            tol: 1e-6,
            fit_intercept: true,
            standardization: true,
            threshold: 0.5,
            family: Family::Auto,
            aggregation_depth: 2,
            columns: FeatureSpec::default(),
        }
    }
}

/// Objective history, iterations and objective evaluations of a fit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainingSummary {
    /// The objective (loss + penalty) before the first and after every iteration.
    pub objective_history: Vec<f64>,
    /// Iterations run.
    pub iterations: usize,
    /// Objective evaluations (distributed passes over the data), the first one included.
    #[serde(default)]
    pub evaluations: usize,
    /// Why the optimizer stopped (`None` for closed-form solutions and older models).
    #[serde(default)]
    pub stop_reason: Option<StopReason>,
}

impl TrainingSummary {
    /// The summary of an optimizer run.
    pub fn from_result(result: &OptimResult) -> Self {
        Self {
            objective_history: result.objective_history.clone(),
            iterations: result.iterations,
            evaluations: result.evaluations,
            stop_reason: Some(result.reason),
        }
    }
}

/// A fitted logistic regression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogisticRegressionModel {
    /// One row per coefficient set (1 for binomial), original feature scale.
    pub coefficient_matrix: Vec<Vec<f64>>,
    /// One intercept per set.
    pub intercepts: Vec<f64>,
    /// Classes seen in training.
    pub num_classes: usize,
    /// Whether the model is multinomial.
    pub multinomial: bool,
    /// The estimator that produced it.
    pub params: LogisticRegression,
    /// Training summary.
    pub summary: TrainingSummary,
}

impl LogisticRegressionModel {
    /// Binomial coefficients.
    pub fn coefficients(&self) -> &[f64] {
        &self.coefficient_matrix[0]
    }

    /// Binomial intercept.
    pub fn intercept(&self) -> f64 {
        self.intercepts[0]
    }

    /// The arguments of the prediction column functions.
    pub fn predict_args(&self) -> LogisticPredictArgs {
        LogisticPredictArgs {
            spec: self.params.columns.clone(),
            coefficients: self.coefficient_matrix.clone(),
            intercepts: self.intercepts.clone(),
            threshold: self.params.threshold,
        }
    }

    /// Adds Spark's columns: `rawPrediction` (the margins, `[-m, m]` for binomial models) and
    /// `probability` (class probabilities), both `List<Float64>` with one value per class,
    /// and `prediction` (the class).
    pub fn transform<F: Frame>(&self, data: &F) -> Result<F, MlError> {
        let args = rmp_serde::to_vec_named(&self.predict_args())
            .map_err(|e| MlError::Data(e.to_string()))?;
        data.with_column("rawPrediction", "ml.logistic.raw_prediction", args.clone())?
            .with_column(
                "probability",
                "ml.logistic.probability_vector",
                args.clone(),
            )?
            .with_column("prediction", "ml.logistic.prediction", args)
    }
}

struct LogisticCost<'a, F: Frame> {
    data: &'a F,
    args: LogisticArgs,
    weight_sum: f64,
    l2: Vec<f64>,
    depth: u32,
}

impl<F: Frame> DiffFunction for LogisticCost<'_, F> {
    fn evaluate(&mut self, x: &[f64]) -> Result<(f64, Vec<f64>), MlError> {
        self.args.params = x.to_vec();
        let sums = self
            .data
            .tree_aggregate::<LogisticLoss>(&self.args, self.depth)?;
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

impl LogisticRegression {
    fn check(&self) -> Result<(), MlError> {
        let param = |name, message: String| Err(MlError::Param { name, message });
        if self.reg_param < 0.0 || !self.reg_param.is_finite() {
            return param("regParam", format!("{} must be >= 0", self.reg_param));
        }
        if !(0.0..=1.0).contains(&self.elastic_net_param) {
            return param(
                "elasticNetParam",
                format!("{} must be in [0, 1]", self.elastic_net_param),
            );
        }
        if !(0.0..=1.0).contains(&self.threshold) {
            return param("threshold", format!("{} must be in [0, 1]", self.threshold));
        }
        if self.tol < 0.0 {
            return param("tol", format!("{} must be >= 0", self.tol));
        }
        Ok(())
    }

    /// Fits the model.
    pub fn fit<F: Frame>(&self, data: &F) -> Result<LogisticRegressionModel, MlError> {
        self.fit_with_progress(data, &mut |_, _| {})
    }

    /// Fits the model, calling `progress(iteration, objective)` as it goes.
    pub fn fit_with_progress<F: Frame>(
        &self,
        data: &F,
        progress: &mut dyn FnMut(usize, f64),
    ) -> Result<LogisticRegressionModel, MlError> {
        self.check()?;
        let summary: Summary = summarize(data, &self.columns, self.aggregation_depth)?;
        if summary.non_class_labels > 0 {
            return Err(MlError::Input(format!(
                "{} labels are not class indices 0, 1, 2, ...",
                summary.non_class_labels
            )));
        }
        let num_classes = summary.histogram.len().max(2);
        let multinomial = match self.family {
            Family::Auto => num_classes > 2,
            Family::Binomial if num_classes > 2 => {
                return Err(MlError::Param {
                    name: "family",
                    message: format!("binomial needs 2 classes, the labels have {num_classes}"),
                })
            }
            Family::Binomial => false,
            Family::Multinomial => true,
        };
        let sets = if multinomial { num_classes } else { 1 };
        let d = summary.num_features();
        let std = summary.std();
        let inv_std: Vec<f64> = std
            .iter()
            .map(|s| if *s > 0.0 { 1.0 / s } else { 0.0 })
            .collect();
        let n_params = sets * d + if self.fit_intercept { sets } else { 0 };

        let (l1w, l2w) = (
            self.elastic_net_param * self.reg_param,
            (1.0 - self.elastic_net_param) * self.reg_param,
        );
        let l2_features = penalty_weights(&std, l2w, self.standardization, 2);
        let l1_features = penalty_weights(&std, l1w, self.standardization, 1);
        let mut l2 = vec![0.0; n_params];
        let mut l1 = vec![0.0; n_params];
        for k in 0..sets {
            l2[k * d..(k + 1) * d].copy_from_slice(&l2_features);
            l1[k * d..(k + 1) * d].copy_from_slice(&l1_features);
        }
        let mut x0 = vec![0.0; n_params];
        if self.fit_intercept {
            let h = &summary.histogram;
            if multinomial {
                let raw: Vec<f64> = (0..sets)
                    .map(|k| h.get(k).copied().unwrap_or(0.0).ln_1p())
                    .collect();
                let mean = raw.iter().sum::<f64>() / sets as f64;
                for k in 0..sets {
                    x0[sets * d + k] = raw[k] - mean;
                }
            } else {
                let (n0, n1) = (
                    h.first().copied().unwrap_or(0.0),
                    h.get(1).copied().unwrap_or(0.0),
                );
                if n0 > 0.0 && n1 > 0.0 {
                    x0[d] = (n1 / n0).ln();
                }
            }
        }
        // Spark's `fitWithMean`: with an intercept, optimize over centered features (the same
        // objective, the intercept reparametrized) and shift the intercepts back at the end.
        let scaled_mean: Vec<f64> = if self.fit_intercept {
            let mean = summary.mean();
            mean.iter().zip(&inv_std).map(|(m, s)| m * s).collect()
        } else {
            Vec::new()
        };
        let center_shift = |x: &[f64], k: usize| -> f64 {
            scaled_mean
                .iter()
                .zip(&x[k * d..(k + 1) * d])
                .map(|(m, b)| m * b)
                .sum()
        };
        if self.fit_intercept {
            for k in 0..sets {
                x0[sets * d + k] += center_shift(&x0, k);
            }
        }
        let mut cost = LogisticCost {
            data,
            args: LogisticArgs {
                spec: self.columns.clone(),
                inv_std: inv_std.clone(),
                params: Vec::new(),
                sets,
                fit_intercept: self.fit_intercept,
                scaled_mean: scaled_mean.clone(),
            },
            weight_sum: summary.weight_sum,
            l2,
            depth: self.aggregation_depth,
        };
        let config = OptimConfig {
            max_iter: self.max_iter,
            tol: self.tol,
            memory: 10,
            l1: if l1w > 0.0 { l1 } else { Vec::new() },
        };
        let result = minimize(&mut cost, x0, &config, progress)?;
        let summary = TrainingSummary::from_result(&result);
        let mut x = result.x;
        if self.fit_intercept {
            for k in 0..sets {
                x[sets * d + k] -= center_shift(&x, k);
            }
        }
        let mut coefficient_matrix: Vec<Vec<f64>> = (0..sets)
            .map(|k| (0..d).map(|j| x[k * d + j] * inv_std[j]).collect())
            .collect();
        let mut intercepts: Vec<f64> = if self.fit_intercept {
            x[sets * d..].to_vec()
        } else {
            vec![0.0; sets]
        };
        if multinomial {
            if self.reg_param == 0.0 {
                for j in 0..d {
                    let mean = coefficient_matrix.iter().map(|c| c[j]).sum::<f64>() / sets as f64;
                    for c in coefficient_matrix.iter_mut() {
                        c[j] -= mean;
                    }
                }
            }
            let mean = intercepts.iter().sum::<f64>() / sets as f64;
            for b in intercepts.iter_mut() {
                *b -= mean;
            }
        }
        Ok(LogisticRegressionModel {
            coefficient_matrix,
            intercepts,
            num_classes,
            multinomial,
            params: self.clone(),
            summary,
        })
    }
}

impl LogisticRegressionModel {
    /// Saves the model to a new directory (see [`crate::persistence`]).
    pub fn save(&self, dir: &std::path::Path) -> Result<(), MlError> {
        let mut rows = self.coefficient_matrix.clone();
        rows.push(self.intercepts.clone());
        let meta = serde_json::json!({
            "estimator": self.params,
            "num_classes": self.num_classes,
            "num_features": self.coefficient_matrix.first().map_or(0, Vec::len),
            "multinomial": self.multinomial,
            "summary": self.summary,
        });
        crate::persistence::save(dir, "logistic-regression", &meta, &rows)
    }

    /// Loads a model saved by [`LogisticRegressionModel::save`].
    pub fn load(dir: &std::path::Path) -> Result<Self, MlError> {
        #[derive(Deserialize)]
        struct Meta {
            estimator: LogisticRegression,
            num_classes: usize,
            multinomial: bool,
            summary: TrainingSummary,
        }
        let (meta, mut rows): (Meta, _) = crate::persistence::load(dir, "logistic-regression")?;
        let intercepts = rows.pop().ok_or_else(|| MlError::Model {
            path: dir.display().to_string(),
            message: "no intercept row".into(),
        })?;
        if rows.is_empty() || rows.len() != intercepts.len() {
            return Err(MlError::Model {
                path: dir.display().to_string(),
                message: format!(
                    "{} coefficient rows for {} intercepts",
                    rows.len(),
                    intercepts.len()
                ),
            });
        }
        Ok(Self {
            coefficient_matrix: rows,
            intercepts,
            num_classes: meta.num_classes,
            multinomial: meta.multinomial,
            params: meta.estimator,
            summary: meta.summary,
        })
    }
}
