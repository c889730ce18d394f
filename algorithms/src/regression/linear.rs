//! Linear regression as Spark's `spark.ml` defines it: squared error on standardized features
//! and label (`regParam / std(label)` as the effective penalty, like glmnet), solved by L-BFGS
//! (OWL-QN with an L1 part) or in one pass from the normal equations; coefficients returned on
//! the original scale with the intercept in closed form.

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use super::linear_kernel::{GramMatrix, LeastSquaresArgs, LeastSquaresLoss, LinearPredictArgs};
use crate::classification::logistic::TrainingSummary;
use crate::evaluation::{RegressionEvaluator, RegressionMetrics};
use crate::features::{penalty_weights, summarize, FeatureSpec, Summary};
use crate::frame::Frame;
use crate::optim::{minimize, DiffFunction, OptimConfig};
use crate::MlError;

/// Spark's `solver` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Solver {
    /// Normal equations for up to 4096 features, else L-BFGS.
    Auto,
    /// Quasi-Newton on the distributed loss.
    LBfgs,
    /// One pass of sufficient statistics, solved on the driver.
    Normal,
}

/// The estimator, with Spark's parameter names and defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearRegression {
    /// `maxIter` (100).
    pub max_iter: usize,
    /// `regParam` (0).
    pub reg_param: f64,
    /// `elasticNetParam` (0).
    pub elastic_net_param: f64,
    /// `tol` (1e-6).
    pub tol: f64,
    /// `fitIntercept` (true).
    pub fit_intercept: bool,
    /// `standardization` (true).
    pub standardization: bool,
    /// `solver` (auto).
    pub solver: Solver,
    /// `aggregationDepth` (2).
    pub aggregation_depth: u32,
    /// Label, weight and feature columns.
    pub columns: FeatureSpec,
}

impl Default for LinearRegression {
    fn default() -> Self {
        Self {
            max_iter: 100,
            reg_param: 0.0,
            elastic_net_param: 0.0,
            tol: 1e-6,
            fit_intercept: true,
            standardization: true,
            solver: Solver::Auto,
            aggregation_depth: 2,
            columns: FeatureSpec::default(),
        }
    }
}

/// A fitted linear regression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearRegressionModel {
    /// Coefficients, original scale.
    pub coefficients: Vec<f64>,
    /// Intercept.
    pub intercept: f64,
    /// The estimator that produced it.
    pub params: LinearRegression,
    /// Objective history and iterations.
    pub summary: TrainingSummary,
    /// Root mean squared error on the training data.
    pub rmse: f64,
    /// Coefficient of determination on the training data.
    pub r2: f64,
}

impl LinearRegressionModel {
    /// The arguments of the prediction column function.
    pub fn predict_args(&self) -> LinearPredictArgs {
        LinearPredictArgs {
            spec: self.params.columns.clone(),
            coefficients: self.coefficients.clone(),
            intercept: self.intercept,
        }
    }

    /// Adds a `prediction` column.
    pub fn transform<F: Frame>(&self, data: &F) -> Result<F, MlError> {
        let args = rmp_serde::to_vec_named(&self.predict_args())
            .map_err(|e| MlError::Data(e.to_string()))?;
        data.with_column("prediction", "ml.linear.prediction", args)
    }

    /// Regression metrics of the model on a dataset.
    pub fn evaluate<F: Frame>(&self, data: &F) -> Result<RegressionMetrics, MlError> {
        let predicted = self.transform(data)?;
        RegressionEvaluator {
            label: self.params.columns.label.clone(),
            prediction: "prediction".into(),
            weight: self.params.columns.weight.clone(),
            through_origin: !self.params.fit_intercept,
        }
        .metrics(&predicted)
    }
}

struct LeastSquaresCost<'a, F: Frame> {
    data: &'a F,
    args: LeastSquaresArgs,
    weight_sum: f64,
    l2: Vec<f64>,
    depth: u32,
}

impl<F: Frame> DiffFunction for LeastSquaresCost<'_, F> {
    fn evaluate(&mut self, x: &[f64]) -> Result<(f64, Vec<f64>), MlError> {
        self.args.coefficients = x.to_vec();
        let sums = self
            .data
            .tree_aggregate::<LeastSquaresLoss>(&self.args, self.depth)?;
        regularized(
            sums.loss / self.weight_sum,
            sums.gradient.iter().map(|g| g / self.weight_sum).collect(),
            x,
            &self.l2,
        )
    }
}

fn regularized(
    mut loss: f64,
    mut gradient: Vec<f64>,
    x: &[f64],
    l2: &[f64],
) -> Result<(f64, Vec<f64>), MlError> {
    gradient.resize(x.len(), 0.0);
    for (i, w) in l2.iter().enumerate() {
        loss += 0.5 * w * x[i] * x[i];
        gradient[i] += w * x[i];
    }
    Ok((loss, gradient))
}

/// The standardized quadratic `½ βᵀ A β - bᵀ β + c` of the normal solver, for OWL-QN.
struct Quadratic {
    a: DMatrix<f64>,
    b: DVector<f64>,
    l2: Vec<f64>,
}

impl DiffFunction for Quadratic {
    fn evaluate(&mut self, x: &[f64]) -> Result<(f64, Vec<f64>), MlError> {
        let beta = DVector::from_column_slice(x);
        let ab = &self.a * &beta;
        let loss = 0.5 * beta.dot(&ab) - self.b.dot(&beta);
        regularized(loss, (ab - &self.b).as_slice().to_vec(), x, &self.l2)
    }
}

impl LinearRegression {
    fn check(&self) -> Result<(), MlError> {
        if self.reg_param < 0.0 || !self.reg_param.is_finite() {
            return Err(MlError::Param {
                name: "regParam",
                message: format!("{} must be >= 0", self.reg_param),
            });
        }
        if !(0.0..=1.0).contains(&self.elastic_net_param) {
            return Err(MlError::Param {
                name: "elasticNetParam",
                message: format!("{} must be in [0, 1]", self.elastic_net_param),
            });
        }
        Ok(())
    }

    /// Fits the model.
    pub fn fit<F: Frame>(&self, data: &F) -> Result<LinearRegressionModel, MlError> {
        self.fit_with_progress(data, &mut |_, _| {})
    }

    /// Fits the model, calling `progress(iteration, objective)` as it goes.
    pub fn fit_with_progress<F: Frame>(
        &self,
        data: &F,
        progress: &mut dyn FnMut(usize, f64),
    ) -> Result<LinearRegressionModel, MlError> {
        self.check()?;
        let summary: Summary = summarize(data, &self.columns, self.aggregation_depth)?;
        let d = summary.num_features();
        let (mean, std) = (summary.mean(), summary.std());
        let (y_mean, raw_y_std) = (summary.label_mean(), summary.label_std());
        if raw_y_std == 0.0 && (self.fit_intercept || y_mean == 0.0) {
            // A constant label: no training needed (Spark does the same).
            let intercept = if self.fit_intercept { y_mean } else { 0.0 };
            return self.finish(data, vec![0.0; d], intercept, TrainingSummary::default());
        }
        let y_std = if raw_y_std > 0.0 {
            raw_y_std
        } else {
            y_mean.abs()
        };
        let (inv_std, l1w, l1, l2) = self.penalties(&std, y_std);
        let config = OptimConfig {
            max_iter: self.max_iter,
            tol: self.tol,
            memory: 10,
            l1: if l1w > 0.0 { l1 } else { Vec::new() },
        };
        let c = if self.fit_intercept { 1.0 } else { 0.0 };
        let use_normal = match self.solver {
            Solver::Normal => true,
            Solver::LBfgs => false,
            Solver::Auto => d <= 4096,
        };
        let (coefficients, history) = if use_normal {
            self.normal(data, &summary, &config, progress)?
        } else {
            let scaled_mean: Vec<f64> = (0..d).map(|j| c * mean[j] * inv_std[j]).collect();
            let mut cost = LeastSquaresCost {
                data,
                args: LeastSquaresArgs {
                    spec: self.columns.clone(),
                    inv_std: inv_std.clone(),
                    scaled_mean,
                    label_std: y_std,
                    label_center: c * y_mean,
                    coefficients: Vec::new(),
                },
                weight_sum: summary.weight_sum,
                l2,
                depth: self.aggregation_depth,
            };
            let result = minimize(&mut cost, vec![0.0; d], &config, progress)?;
            let coefficients = (0..d).map(|j| result.x[j] * y_std * inv_std[j]).collect();
            (coefficients, TrainingSummary::from_result(&result))
        };
        let intercept = if self.fit_intercept {
            y_mean
                - coefficients
                    .iter()
                    .zip(&mean)
                    .map(|(b, m)| b * m)
                    .sum::<f64>()
        } else {
            0.0
        };
        self.finish(data, coefficients, intercept, history)
    }

    /// `1/σ` per feature, the effective L1 weight, and the per-coordinate L1 and L2 weights:
    /// Spark's penalty `regParam / σ_y` on the standardized coefficients (per-feature `1/σ`,
    /// `1/σ²` without `standardization`).
    fn penalties(&self, std: &[f64], y_std: f64) -> (Vec<f64>, f64, Vec<f64>, Vec<f64>) {
        let inv_std: Vec<f64> = std
            .iter()
            .map(|s| if *s > 0.0 { 1.0 / s } else { 0.0 })
            .collect();
        let effective = self.reg_param / y_std;
        let (l1w, l2w) = (
            self.elastic_net_param * effective,
            (1.0 - self.elastic_net_param) * effective,
        );
        let l2 = penalty_weights(std, l2w, self.standardization, 2);
        let l1 = penalty_weights(std, l1w, self.standardization, 1);
        (inv_std, l1w, l1, l2)
    }

    /// The `normal` solver: one pass of sufficient statistics, then the same standardized
    /// objective solved on the driver (Cholesky for L2, OWL-QN with an L1 part). Like
    /// Spark's `WeightedLeastSquares`, it scales by population standard deviations.
    fn normal<F: Frame>(
        &self,
        data: &F,
        summary: &Summary,
        config: &OptimConfig,
        progress: &mut dyn FnMut(usize, f64),
    ) -> Result<(Vec<f64>, TrainingSummary), MlError> {
        let d = summary.num_features();
        let c = if self.fit_intercept { 1.0 } else { 0.0 };
        let gram =
            data.tree_aggregate::<GramMatrix>(&(self.columns.clone(), d), self.aggregation_depth)?;
        let w = gram.weight_sum;
        let mean = summary.mean();
        let y_mean = summary.label_mean();
        let pop = |sum: f64, sum_sq: f64| (sum_sq / w - (sum / w).powi(2)).max(0.0).sqrt();
        let std: Vec<f64> = (0..d)
            .map(|j| pop(summary.sum[j], summary.sum_sq[j]))
            .collect();
        let y_pop = pop(summary.label_sum, summary.label_sq_sum);
        let y_std = if y_pop > 0.0 { y_pop } else { y_mean.abs() };
        let (inv_std, l1w, l1, l2) = self.penalties(&std, y_std);
        let a = DMatrix::from_fn(d, d, |j, k| {
            (gram.xx[j * d + k] / w - c * mean[j] * mean[k]) * inv_std[j] * inv_std[k]
        });
        let b = DVector::from_fn(d, |j, _| {
            (gram.xy[j] / w - c * mean[j] * y_mean) * inv_std[j] / y_std
        });
        let (beta, history) = if l1w == 0.0 {
            let mut system = a.clone();
            for j in 0..d {
                system[(j, j)] += l2[j];
                if inv_std[j] == 0.0 {
                    system[(j, j)] = 1.0;
                }
            }
            let solution = system
                .clone()
                .cholesky()
                .map(|ch| ch.solve(&b))
                .or_else(|| system.lu().solve(&b))
                .ok_or_else(|| MlError::Optimizer("the normal equations are singular".into()))?;
            let history = TrainingSummary {
                objective_history: vec![0.0],
                iterations: 1,
                evaluations: 1,
                stop_reason: None,
            };
            (solution.as_slice().to_vec(), history)
        } else {
            let config = OptimConfig {
                l1,
                ..config.clone()
            };
            let mut quadratic = Quadratic { a, b, l2 };
            let result = minimize(&mut quadratic, vec![0.0; d], &config, progress)?;
            (result.x.clone(), TrainingSummary::from_result(&result))
        };
        let coefficients = (0..d).map(|j| beta[j] * y_std * inv_std[j]).collect();
        Ok((coefficients, history))
    }

    fn finish<F: Frame>(
        &self,
        data: &F,
        coefficients: Vec<f64>,
        intercept: f64,
        summary: TrainingSummary,
    ) -> Result<LinearRegressionModel, MlError> {
        let mut model = LinearRegressionModel {
            coefficients,
            intercept,
            params: self.clone(),
            summary,
            rmse: 0.0,
            r2: 0.0,
        };
        let metrics = model.evaluate(data)?;
        model.rmse = metrics.rmse;
        model.r2 = metrics.r2;
        Ok(model)
    }
}

impl LinearRegressionModel {
    /// Saves the model to a new directory (see [`crate::persistence`]).
    pub fn save(&self, dir: &std::path::Path) -> Result<(), MlError> {
        let meta = serde_json::json!({
            "estimator": self.params,
            "summary": self.summary,
            "num_features": self.coefficients.len(),
            "rmse": self.rmse,
            "r2": self.r2,
        });
        crate::persistence::save(
            dir,
            "linear-regression",
            &meta,
            &[self.coefficients.clone(), vec![self.intercept]],
        )
    }

    /// Loads a model saved by [`LinearRegressionModel::save`].
    pub fn load(dir: &std::path::Path) -> Result<Self, MlError> {
        #[derive(Deserialize)]
        struct Meta {
            estimator: LinearRegression,
            summary: TrainingSummary,
            rmse: f64,
            r2: f64,
        }
        let (meta, rows): (Meta, Vec<Vec<f64>>) =
            crate::persistence::load(dir, "linear-regression")?;
        let bad = |m: &str| MlError::Model {
            path: dir.display().to_string(),
            message: m.into(),
        };
        let [coefficients, intercept] =
            <[Vec<f64>; 2]>::try_from(rows).map_err(|_| bad("expected 2 rows"))?;
        let intercept = *intercept.first().ok_or_else(|| bad("no intercept"))?;
        Ok(Self {
            coefficients,
            intercept,
            params: meta.estimator,
            summary: meta.summary,
            rmse: meta.rmse,
            r2: meta.r2,
        })
    }
}
