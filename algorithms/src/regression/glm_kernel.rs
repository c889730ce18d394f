//! Worker-side kernels of generalized linear regression: one IRLS step's weighted normal
//! equations (the `ml.glr.normal_equations` aggregator: working labels and weights from the
//! current model, then `Σ w' x xᵀ`, `Σ w' x z`, ... in one pass), the sums behind the
//! training summary (`ml.glr.summary`), and predictions as a column.

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, RecordBatch};
use cinder_actors::data::aggregate::Aggregator;
use serde::{Deserialize, Serialize};

use super::glm_family::{GlmFamily, Link};
use crate::features::{numeric_column, FeatureSpec, Rows};
use crate::special::ln_gamma;

/// The model a pass evaluates, or the start (Spark's `FamilyAndLink.initialize`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Current {
    /// Working label `g(μ₀) - offset` with μ₀ from the family, weight `w`.
    Start,
    /// Working label and weight of IRLS at this model.
    Model {
        /// Coefficients (original scale).
        coefficients: Vec<f64>,
        /// Intercept.
        intercept: f64,
    },
}

/// What a partition needs for one pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GlmArgs {
    /// Label, weight and feature columns.
    pub spec: FeatureSpec,
    /// Spark's `offsetCol`.
    pub offset: Option<String>,
    /// The family.
    pub family: GlmFamily,
    /// The link.
    pub link: Link,
    /// Where the working labels come from.
    pub current: Current,
    /// Features (the model's width).
    pub num_features: usize,
}

/// Weighted sums of the normal equations over the features plus a constant column (last).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NormalSums {
    /// `Σ w' x xᵀ`, `(d + 1)²`, row-major, the last row and column for the constant 1.
    pub xtwx: Vec<f64>,
    /// `Σ w' x z` (the last entry is `Σ w' z`).
    pub xtwz: Vec<f64>,
    /// `Σ w' z²`.
    pub ztwz: f64,
    /// Rows.
    pub count: u64,
}

impl NormalSums {
    /// `Σ w'`.
    pub fn weight_sum(&self) -> f64 {
        self.xtwx.last().copied().unwrap_or(0.0)
    }
}

fn offsets(batch: &RecordBatch, offset: &Option<String>) -> Result<Option<Vec<f64>>, String> {
    offset
        .as_ref()
        .map(|c| numeric_column(batch, c))
        .transpose()
}

fn dense_row(rows: &Rows<'_>, i: usize, x: &mut [f64]) {
    x.iter_mut().for_each(|v| *v = 0.0);
    rows.for_each(i, |j, v| {
        if let Some(slot) = x.get_mut(j) {
            *slot = v;
        }
    });
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The `ml.glr.normal_equations` aggregator.
pub struct GlmNormalEquations;

impl Aggregator for GlmNormalEquations {
    const NAME: &'static str = "ml.glr.normal_equations";
    type Args = GlmArgs;
    type Acc = NormalSums;

    fn zero(a: &GlmArgs) -> NormalSums {
        let k = a.num_features + 1;
        NormalSums {
            xtwx: vec![0.0; k * k],
            xtwz: vec![0.0; k],
            ..NormalSums::default()
        }
    }

    fn seq(mut acc: NormalSums, batch: &RecordBatch, a: &GlmArgs) -> Result<NormalSums, String> {
        let rows = Rows::new(batch, &a.spec)?;
        let d = a.num_features;
        if rows.num_features() > d {
            return Err(format!(
                "{} features, the model has {d}",
                rows.num_features()
            ));
        }
        let offsets = offsets(batch, &a.offset)?;
        let k = d + 1;
        let mut x = vec![0.0; k];
        for i in 0..rows.len() {
            let (y, w) = (rows.label(i), rows.weight(i));
            let offset = offsets.as_ref().map_or(0.0, |o| o[i]);
            if !(w >= 0.0 && w.is_finite()) {
                return Err(format!("weight {w} is not a non-negative number"));
            }
            if !offset.is_finite() {
                return Err(format!("offset {offset} is not finite"));
            }
            dense_row(&rows, i, &mut x[..d]);
            x[d] = 1.0;
            let (z, wz) = match &a.current {
                Current::Start => {
                    let mu = a.family.initialize(y, w)?;
                    (a.link.link(mu) - offset, w)
                }
                Current::Model {
                    coefficients,
                    intercept,
                } => {
                    let eta = dot(coefficients, &x[..d]) + intercept + offset;
                    let mu = a.family.project(a.link.unlink(eta));
                    let g = a.link.deriv(mu);
                    (
                        eta - offset + (y - mu) * g,
                        w / (g * g * a.family.variance(mu)),
                    )
                }
            };
            acc.count += 1;
            if wz == 0.0 {
                continue;
            }
            for p in 0..k {
                let wxp = wz * x[p];
                if wxp == 0.0 {
                    continue;
                }
                let row = &mut acc.xtwx[p * k..(p + 1) * k];
                for (q, xq) in x.iter().enumerate().skip(p) {
                    row[q] += wxp * xq;
                }
                acc.xtwz[p] += wxp * z;
            }
            acc.ztwz += wz * z * z;
        }
        Ok(acc)
    }

    fn comb(mut a: NormalSums, b: NormalSums, _: &GlmArgs) -> NormalSums {
        for (x, y) in a.xtwx.iter_mut().zip(&b.xtwx) {
            *x += y;
        }
        for (x, y) in a.xtwz.iter_mut().zip(&b.xtwz) {
            *x += y;
        }
        a.ztwz += b.ztwz;
        a.count += b.count;
        a
    }
}
cinder_actors::register_aggregator!(GlmNormalEquations);

/// A fitted model as the summary and prediction kernels need it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GlmPredictArgs {
    /// Columns (the label and weight only for the summary).
    pub spec: FeatureSpec,
    /// Offset column, added to η when present.
    pub offset: Option<String>,
    /// The family.
    pub family: GlmFamily,
    /// The link.
    pub link: Link,
    /// Coefficients (original scale).
    pub coefficients: Vec<f64>,
    /// Intercept.
    pub intercept: f64,
    /// For the null deviance: the intercept of the model without features.
    pub null_intercept: f64,
}

/// Sums behind Spark's GLR summary.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SummarySums {
    /// Rows.
    pub count: u64,
    /// Σ w.
    pub weight_sum: f64,
    /// Σ ln w (Gaussian AIC).
    pub log_weight_sum: f64,
    /// Σ deviance.
    pub deviance: f64,
    /// Σ deviance of the null model.
    pub null_deviance: f64,
    /// Σ w (y - μ)² / V(μ).
    pub pearson: f64,
    /// Σ of the family's log-likelihood terms that do not need the dispersion (binomial,
    /// Poisson): `-AIC / 2` before the rank penalty.
    pub log_likelihood: f64,
    /// `(y, μ, w)` for the Gamma AIC, which needs the dispersion first.
    pub gamma_terms: Vec<(f64, f64, f64)>,
}

/// The `ml.glr.summary` aggregator.
pub struct GlmSummaryAgg;

impl Aggregator for GlmSummaryAgg {
    const NAME: &'static str = "ml.glr.summary";
    type Args = GlmPredictArgs;
    type Acc = SummarySums;

    fn zero(_: &GlmPredictArgs) -> SummarySums {
        SummarySums::default()
    }

    fn seq(
        mut acc: SummarySums,
        batch: &RecordBatch,
        m: &GlmPredictArgs,
    ) -> Result<SummarySums, String> {
        let rows = Rows::new(batch, &m.spec)?;
        let offsets = offsets(batch, &m.offset)?;
        let d = m.coefficients.len();
        let mut x = vec![0.0; d];
        for i in 0..rows.len() {
            let (y, w) = (rows.label(i), rows.weight(i));
            let offset = offsets.as_ref().map_or(0.0, |o| o[i]);
            dense_row(&rows, i, &mut x);
            let mu = m.family.project(
                m.link
                    .unlink(dot(&m.coefficients, &x) + m.intercept + offset),
            );
            // Spark does not project the null model's mean.
            let null_mu = m.link.unlink(m.null_intercept + offset);
            acc.count += 1;
            acc.weight_sum += w;
            acc.log_weight_sum += w.ln();
            acc.deviance += m.family.deviance(y, mu, w);
            acc.null_deviance += m.family.deviance(y, null_mu, w);
            acc.pearson += w * (y - mu) * (y - mu) / m.family.variance(mu);
            acc.log_likelihood += match m.family {
                GlmFamily::Binomial => {
                    let n = w.round();
                    if n == 0.0 {
                        0.0
                    } else {
                        let k = (y * w).round();
                        ln_gamma(n + 1.0) - ln_gamma(k + 1.0) - ln_gamma(n - k + 1.0)
                            + k * mu.ln()
                            + (n - k) * (1.0 - mu).ln()
                    }
                }
                GlmFamily::Poisson => {
                    let k = y.trunc();
                    w * (k * mu.ln() - mu - ln_gamma(k + 1.0))
                }
                _ => 0.0,
            };
            if m.family == GlmFamily::Gamma {
                acc.gamma_terms.push((y, mu, w));
            }
        }
        Ok(acc)
    }

    fn comb(mut a: SummarySums, b: SummarySums, _: &GlmPredictArgs) -> SummarySums {
        a.count += b.count;
        a.weight_sum += b.weight_sum;
        a.log_weight_sum += b.log_weight_sum;
        a.deviance += b.deviance;
        a.null_deviance += b.null_deviance;
        a.pearson += b.pearson;
        a.log_likelihood += b.log_likelihood;
        a.gamma_terms.extend(b.gamma_terms);
        a
    }
}
cinder_actors::register_aggregator!(GlmSummaryAgg);

/// `ml.glr.prediction`: the mean `μ = g⁻¹(βᵀx + b + offset)` (Spark's `prediction`).
pub fn prediction_column(batch: &RecordBatch, args: &[u8]) -> Result<ArrayRef, String> {
    let m: GlmPredictArgs = rmp_serde::from_slice(args).map_err(|e| e.to_string())?;
    let rows = Rows::new_features_only(batch, &m.spec)?;
    // The offset is used when the data has the column (Spark's `transform`).
    let offsets = match &m.offset {
        Some(c) if batch.column_by_name(c).is_some() => Some(numeric_column(batch, c)?),
        _ => None,
    };
    let mut x = vec![0.0; m.coefficients.len()];
    let values: Vec<f64> = (0..rows.len())
        .map(|i| {
            dense_row(&rows, i, &mut x);
            let offset = offsets.as_ref().map_or(0.0, |o| o[i]);
            m.family.project(
                m.link
                    .unlink(dot(&m.coefficients, &x) + m.intercept + offset),
            )
        })
        .collect();
    Ok(Arc::new(Float64Array::from(values)))
}
cinder_actors::register_column!("ml.glr.prediction", prediction_column);
