//! Generalized linear regression as Spark's `spark.ml` defines it
//! (`GeneralizedLinearRegression`): Gaussian, binomial, Poisson, Gamma and Tweedie families
//! with their links, offsets, weights and an L2 penalty, fitted by iteratively reweighted
//! least squares: each iteration is one distributed pass that builds the weighted normal
//! equations at the current model (partials in partition order), solved on the driver.
//! Gaussian with the identity link is one weighted least-squares solve, as in Spark. The
//! training summary carries Spark's deviance, null deviance, AIC, dispersion, standard errors,
//! t- and p-values.
//!
//! ```
//! use std::sync::Arc;
//! use arrow_array::{ArrayRef, Float64Array, RecordBatch};
//! use cinder_algorithms::regression::GeneralizedLinearRegression;
//! use cinder_algorithms::{FeatureCols, FeatureSpec, LocalFrame};
//!
//! // Counts whose log-mean is linear in x.
//! let x: Vec<f64> = (0..40).map(|i| i as f64 / 10.0).collect();
//! let y: Vec<f64> = x.iter().map(|x| (0.5 + 0.4 * x).exp().round()).collect();
//! let col = |v: Vec<f64>| Arc::new(Float64Array::from(v)) as ArrayRef;
//! let batch = RecordBatch::try_from_iter([("label", col(y)), ("x", col(x))]).unwrap();
//! let model = GeneralizedLinearRegression {
//!     family: "poisson".into(),
//!     columns: FeatureSpec {
//!         label: "label".into(),
//!         weight: None,
//!         features: FeatureCols::Columns(vec!["x".into()]),
//!     },
//!     ..GeneralizedLinearRegression::default()
//! }
//! .fit(&LocalFrame { batches: vec![batch] })
//! .unwrap();
//! assert!((model.coefficients[0] - 0.4).abs() < 0.05);
//! assert!(model.summary.deviance < model.summary.null_deviance);
//! ```

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

pub use super::glm_family::{GlmFamily, Link};
use super::glm_kernel::{
    Current, GlmArgs, GlmNormalEquations, GlmPredictArgs, GlmSummaryAgg, NormalSums,
};
use crate::features::{FeatureCols, FeatureSpec, FeatureWidth};
use crate::frame::Frame;
use crate::special::{erfc, ln_gamma, student_t_two_sided};
use crate::MlError;

/// The estimator, with Spark's parameter names and defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeneralizedLinearRegression {
    /// `family` (gaussian): gaussian, binomial, poisson, gamma or tweedie.
    pub family: String,
    /// `link` (the family's canonical link): identity, logit, log, inverse, probit, cloglog,
    /// sqrt; not used by tweedie.
    pub link: Option<String>,
    /// `variancePower` (0.0; tweedie): 0 or at least 1.
    pub variance_power: f64,
    /// `linkPower` (tweedie; default `1 - variancePower`).
    pub link_power: Option<f64>,
    /// `fitIntercept` (true).
    pub fit_intercept: bool,
    /// `maxIter` (25).
    pub max_iter: usize,
    /// `tol` (1e-6): on the largest change of a coefficient or the intercept.
    pub tol: f64,
    /// `regParam` (0): L2 penalty.
    pub reg_param: f64,
    /// `offsetCol`.
    pub offset_col: Option<String>,
    /// `aggregationDepth` (2).
    pub aggregation_depth: u32,
    /// Label, weight (`weightCol`) and feature columns.
    pub columns: FeatureSpec,
}

impl Default for GeneralizedLinearRegression {
    fn default() -> Self {
        Self {
            family: "gaussian".into(),
            link: None,
            variance_power: 0.0,
            link_power: None,
            fit_intercept: true,
            max_iter: 25,
            tol: 1e-6,
            reg_param: 0.0,
            offset_col: None,
            aggregation_depth: 2,
            columns: FeatureSpec::default(),
        }
    }
}

/// Spark's `GeneralizedLinearRegressionTrainingSummary`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GlrSummary {
    /// IRLS iterations (1 for Gaussian with the identity link).
    pub iterations: usize,
    /// Residual deviance.
    pub deviance: f64,
    /// Deviance of the intercept-only model (with the offset).
    pub null_deviance: f64,
    /// Akaike's information criterion (none for Tweedie, as in Spark).
    pub aic: Option<f64>,
    /// Dispersion: 1 for binomial and Poisson, else Pearson's χ² over the residual degrees of
    /// freedom.
    pub dispersion: f64,
    /// Rows minus coefficients (intercept included).
    pub residual_degree_of_freedom: f64,
    /// Rows minus the intercept.
    pub residual_degree_of_freedom_null: f64,
    /// Standard errors: the coefficients', then the intercept's.
    pub coefficient_standard_errors: Vec<f64>,
    /// t (or z) statistics, same order.
    pub t_values: Vec<f64>,
    /// Two-sided p-values, same order (normal for binomial and Poisson, Student's t else).
    pub p_values: Vec<f64>,
}

/// A fitted generalized linear regression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeneralizedLinearRegressionModel {
    /// Coefficients (original scale).
    pub coefficients: Vec<f64>,
    /// Intercept (0 without `fitIntercept`).
    pub intercept: f64,
    /// The family Spark resolves (Tweedie with power 0, 1, 2 is Gaussian, Poisson, Gamma).
    pub family: GlmFamily,
    /// The link.
    pub link: Link,
    /// The estimator that produced it.
    pub params: GeneralizedLinearRegression,
    /// The training summary.
    pub summary: GlrSummary,
}

/// One weighted least-squares solution and the diagonal of `(XᵀWX + penalty)⁻¹`.
struct Wls {
    coefficients: Vec<f64>,
    intercept: f64,
    diag_inv: Vec<f64>,
}

fn singular() -> MlError {
    MlError::Input(
        "the weighted normal equations are singular (collinear or constant features); \
         a regParam > 0 makes them solvable"
            .into(),
    )
}

/// Spark's `WeightedLeastSquares` (normal equations, no L1): minimizes
/// `½ Σ w (z - βᵀx - b)² / Σ w + ½ Σ_j p_j β_j²` with `p_j = λ` (`standardize` false), or
/// `λ σ_j² / σ_z` (features and label standardized; population deviations).
fn solve_wls(
    s: &NormalSums,
    d: usize,
    fit_intercept: bool,
    reg: f64,
    standardize: bool,
) -> Result<Wls, MlError> {
    let k = d + 1;
    let w = s.weight_sum();
    if w <= 0.0 {
        return Err(MlError::Input("all weights are zero".into()));
    }
    let at = |p: usize, q: usize| s.xtwx[p.min(q) * k + p.max(q)] / w;
    let mean: Vec<f64> = (0..d).map(|j| at(j, d)).collect();
    let z_mean = s.xtwz[d] / w;
    let z_var = (s.ztwz / w - z_mean * z_mean).max(0.0);
    if standardize && z_var == 0.0 && (fit_intercept || z_mean == 0.0) {
        // Spark: a constant label is fitted by the intercept alone.
        return Ok(Wls {
            coefficients: vec![0.0; d],
            intercept: if fit_intercept { z_mean } else { 0.0 },
            diag_inv: vec![0.0; d + usize::from(fit_intercept)],
        });
    }
    let penalty: Vec<f64> = (0..d)
        .map(|j| {
            if !standardize {
                reg
            } else {
                let var = (at(j, j) - mean[j] * mean[j]).max(0.0);
                reg * var / z_var.sqrt()
            }
        })
        .collect();
    let mut a = DMatrix::zeros(d, d);
    let mut r = DVector::zeros(d);
    for p in 0..d {
        for q in 0..d {
            a[(p, q)] = at(p, q)
                - if fit_intercept {
                    mean[p] * mean[q]
                } else {
                    0.0
                };
        }
        a[(p, p)] += penalty[p];
        r[p] = s.xtwz[p] / w - if fit_intercept { mean[p] * z_mean } else { 0.0 };
    }
    let beta = if d == 0 {
        DVector::zeros(0)
    } else {
        a.cholesky().ok_or_else(singular)?.solve(&r)
    };
    let coefficients: Vec<f64> = beta.iter().copied().collect();
    let intercept = if fit_intercept {
        z_mean
            - coefficients
                .iter()
                .zip(&mean)
                .map(|(b, m)| b * m)
                .sum::<f64>()
    } else {
        0.0
    };
    // (XᵀWX + W·penalty)⁻¹ over the features and the constant column.
    let n = d + usize::from(fit_intercept);
    let mut full = DMatrix::zeros(n, n);
    for p in 0..n {
        for q in 0..n {
            full[(p, q)] = at(p, q);
        }
        if p < d {
            full[(p, p)] += penalty[p];
        }
    }
    let inverse = full.cholesky().ok_or_else(singular)?.inverse();
    let diag_inv = (0..n).map(|i| inverse[(i, i)] / w).collect();
    Ok(Wls {
        coefficients,
        intercept,
        diag_inv,
    })
}

impl GeneralizedLinearRegression {
    /// The family and link Spark resolves from the parameters, checked.
    pub fn family_and_link(&self) -> Result<(GlmFamily, Link), MlError> {
        let param = |name, message: String| MlError::Param { name, message };
        let vp = self.variance_power;
        if !(vp == 0.0 || vp >= 1.0) || !vp.is_finite() {
            return Err(param("variancePower", format!("{vp} must be 0 or >= 1")));
        }
        let family = GlmFamily::from_params(&self.family, vp).ok_or_else(|| {
            param(
                "family",
                format!(
                    "{:?}: expected gaussian, binomial, poisson, gamma or tweedie",
                    self.family
                ),
            )
        })?;
        let link = if self.family == "tweedie" {
            match self.link_power {
                Some(p) if p.is_finite() => Link::Power(p),
                Some(p) => return Err(param("linkPower", format!("{p} must be finite"))),
                None => family.default_link(),
            }
        } else {
            match &self.link {
                Some(name) => {
                    let link = Link::from_name(name).ok_or_else(|| {
                        param(
                            "link",
                            format!(
                                "{name:?}: expected identity, logit, log, inverse, probit, \
                                 cloglog or sqrt"
                            ),
                        )
                    })?;
                    if !family.supports(link) {
                        return Err(param(
                            "link",
                            format!("{name} is not a link of the {} family", self.family),
                        ));
                    }
                    link
                }
                None => family.default_link(),
            }
        };
        Ok((family, link))
    }

    fn check(&self) -> Result<(), MlError> {
        let param = |name, message: String| Err(MlError::Param { name, message });
        if !(self.reg_param >= 0.0 && self.reg_param.is_finite()) {
            return param("regParam", format!("{} must be >= 0", self.reg_param));
        }
        if self.tol.is_nan() || self.tol < 0.0 {
            return param("tol", format!("{} must be >= 0", self.tol));
        }
        Ok(())
    }

    /// Fits the model.
    pub fn fit<F: Frame>(&self, data: &F) -> Result<GeneralizedLinearRegressionModel, MlError> {
        self.fit_with_progress(data, &mut |_, _| {})
    }

    /// Fits the model, calling `progress(iteration, largest change)` after each IRLS step.
    pub fn fit_with_progress<F: Frame>(
        &self,
        data: &F,
        progress: &mut dyn FnMut(usize, f64),
    ) -> Result<GeneralizedLinearRegressionModel, MlError> {
        self.check()?;
        let (family, link) = self.family_and_link()?;
        let d =
            data.tree_aggregate::<FeatureWidth>(&self.columns, self.aggregation_depth)? as usize;
        if d == 0 && !self.fit_intercept {
            return Err(MlError::Input(
                "no features and no intercept: nothing to fit".into(),
            ));
        }
        let (wls, iterations) = self.irls(data, family, link, d, progress)?;
        let mut model = GeneralizedLinearRegressionModel {
            coefficients: wls.coefficients,
            intercept: wls.intercept,
            family,
            link,
            params: self.clone(),
            summary: GlrSummary::default(),
        };
        model.summary = model.training_summary(data, &wls.diag_inv, iterations)?;
        Ok(model)
    }

    fn irls<F: Frame>(
        &self,
        data: &F,
        family: GlmFamily,
        link: Link,
        d: usize,
        progress: &mut dyn FnMut(usize, f64),
    ) -> Result<(Wls, usize), MlError> {
        let mut args = GlmArgs {
            spec: self.columns.clone(),
            offset: self.offset_col.clone(),
            family,
            link,
            current: Current::Start,
            num_features: d,
        };
        let pass = |args: &GlmArgs| {
            data.tree_aggregate::<GlmNormalEquations>(args, self.aggregation_depth)
        };
        let start = pass(&args)?;
        if start.count == 0 {
            return Err(MlError::Input("the dataset is empty".into()));
        }
        let mut model = solve_wls(&start, d, self.fit_intercept, self.reg_param, true)?;
        if family == GlmFamily::Gaussian && link == Link::Identity {
            return Ok((model, 1));
        }
        let mut iterations = 0;
        while iterations < self.max_iter {
            args.current = Current::Model {
                coefficients: model.coefficients.clone(),
                intercept: model.intercept,
            };
            let next = solve_wls(&pass(&args)?, d, self.fit_intercept, self.reg_param, false)?;
            let change = model
                .coefficients
                .iter()
                .zip(&next.coefficients)
                .map(|(a, b)| (a - b).abs())
                .fold((model.intercept - next.intercept).abs(), f64::max);
            model = next;
            iterations += 1;
            progress(iterations, change);
            if change < self.tol {
                break;
            }
            if !change.is_finite() {
                return Err(MlError::Optimizer(format!(
                    "IRLS diverged at iteration {iterations} (the {} family with this link \
                     does not fit the data's range)",
                    self.family
                )));
            }
        }
        Ok((model, iterations))
    }
}

impl GeneralizedLinearRegressionModel {
    /// The arguments of the prediction and summary kernels.
    pub fn predict_args(&self) -> GlmPredictArgs {
        GlmPredictArgs {
            spec: self.params.columns.clone(),
            offset: self.params.offset_col.clone(),
            family: self.family,
            link: self.link,
            coefficients: self.coefficients.clone(),
            intercept: self.intercept,
            null_intercept: 0.0,
        }
    }

    /// Adds Spark's `prediction` column: the mean `g⁻¹(βᵀx + b + offset)` (the offset when
    /// the data has the offset column).
    pub fn transform<F: Frame>(&self, data: &F) -> Result<F, MlError> {
        let args = rmp_serde::to_vec_named(&self.predict_args())
            .map_err(|e| MlError::Data(e.to_string()))?;
        data.with_column("prediction", "ml.glr.prediction", args)
    }

    /// The intercept of the model without features (Spark's null model): `g(ȳ_w)` without
    /// an offset, an intercept-only IRLS fit with one.
    fn null_intercept<F: Frame>(&self, data: &F) -> Result<f64, MlError> {
        let p = &self.params;
        if !p.fit_intercept {
            return Ok(0.0);
        }
        let columns = FeatureSpec {
            features: FeatureCols::Columns(Vec::new()),
            ..p.columns.clone()
        };
        if p.offset_col.is_none() {
            let sums = data.tree_aggregate::<GlmNormalEquations>(
                &GlmArgs {
                    spec: columns,
                    offset: None,
                    family: GlmFamily::Gaussian,
                    link: Link::Identity,
                    current: Current::Start,
                    num_features: 0,
                },
                p.aggregation_depth,
            )?;
            return Ok(self.link.link(sums.xtwz[0] / sums.weight_sum()));
        }
        let null = GeneralizedLinearRegression {
            columns,
            ..p.clone()
        };
        Ok(null
            .irls(data, self.family, self.link, 0, &mut |_, _| {})?
            .0
            .intercept)
    }

    fn training_summary<F: Frame>(
        &self,
        data: &F,
        diag_inv: &[f64],
        iterations: usize,
    ) -> Result<GlrSummary, MlError> {
        let p = &self.params;
        let args = GlmPredictArgs {
            null_intercept: self.null_intercept(data)?,
            ..self.predict_args()
        };
        let sums = data.tree_aggregate::<GlmSummaryAgg>(&args, p.aggregation_depth)?;
        let n = sums.count as f64;
        let rank = (self.coefficients.len() + usize::from(p.fit_intercept)) as f64;
        let dof = n - rank;
        let fixed = self.family.fixed_dispersion(&p.family);
        let dispersion = if fixed { 1.0 } else { sums.pearson / dof };
        let aic = match self.family {
            GlmFamily::Gaussian => Some(
                n * ((sums.deviance / n * 2.0 * std::f64::consts::PI).ln() + 1.0) + 2.0
                    - sums.log_weight_sum,
            ),
            GlmFamily::Binomial | GlmFamily::Poisson => Some(-2.0 * sums.log_likelihood),
            GlmFamily::Gamma => {
                let disp = sums.deviance / sums.weight_sum;
                let shape = 1.0 / disp;
                let ll: f64 = sums
                    .gamma_terms
                    .iter()
                    .map(|(y, mu, w)| {
                        let scale = mu * disp;
                        w * ((shape - 1.0) * y.ln()
                            - y / scale
                            - ln_gamma(shape)
                            - shape * scale.ln())
                    })
                    .sum();
                Some(-2.0 * ll + 2.0)
            }
            GlmFamily::Tweedie(_) => None,
        }
        .map(|aic| aic + 2.0 * rank);
        let estimates: Vec<f64> = self
            .coefficients
            .iter()
            .copied()
            .chain(p.fit_intercept.then_some(self.intercept))
            .collect();
        let standard_errors: Vec<f64> = diag_inv.iter().map(|v| (v * dispersion).sqrt()).collect();
        let t_values: Vec<f64> = estimates
            .iter()
            .zip(&standard_errors)
            .map(|(b, se)| b / se)
            .collect();
        let p_values = t_values
            .iter()
            .map(|t| {
                if fixed {
                    erfc(t.abs() / std::f64::consts::SQRT_2)
                } else {
                    student_t_two_sided(*t, dof)
                }
            })
            .collect();
        Ok(GlrSummary {
            iterations,
            deviance: sums.deviance,
            null_deviance: sums.null_deviance,
            aic,
            dispersion,
            residual_degree_of_freedom: dof,
            residual_degree_of_freedom_null: n - f64::from(u8::from(p.fit_intercept)),
            coefficient_standard_errors: standard_errors,
            t_values,
            p_values,
        })
    }

    /// Saves the model to a new directory (rows: coefficients, `[intercept]`).
    pub fn save(&self, dir: &std::path::Path) -> Result<(), MlError> {
        let meta = serde_json::json!({
            "estimator": self.params,
            "num_features": self.coefficients.len(),
            "summary": self.summary,
        });
        let rows = vec![self.coefficients.clone(), vec![self.intercept]];
        crate::persistence::save(dir, "generalized-linear-regression", &meta, &rows)
    }

    /// Loads a model saved by [`GeneralizedLinearRegressionModel::save`].
    pub fn load(dir: &std::path::Path) -> Result<Self, MlError> {
        #[derive(Deserialize)]
        struct Meta {
            estimator: GeneralizedLinearRegression,
            summary: GlrSummary,
        }
        let (meta, rows): (Meta, Vec<Vec<f64>>) =
            crate::persistence::load(dir, "generalized-linear-regression")?;
        let bad = |message: String| MlError::Model {
            path: dir.display().to_string(),
            message,
        };
        let (family, link) = meta
            .estimator
            .family_and_link()
            .map_err(|e| bad(e.to_string()))?;
        match rows.as_slice() {
            [coefficients, intercept] if intercept.len() == 1 => Ok(Self {
                coefficients: coefficients.clone(),
                intercept: intercept[0],
                family,
                link,
                params: meta.estimator,
                summary: meta.summary,
            }),
            _ => Err(bad(format!(
                "{} rows, expected coefficients and intercept",
                rows.len()
            ))),
        }
    }
}
