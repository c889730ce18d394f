//! Worker-side kernels of the linear SVC: the hinge loss and a subgradient of one partition in
//! the standardized, centered space (the `ml.linear_svc.hinge` aggregator, Spark's
//! `HingeBlockAggregator`), and predictions as columns.

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, RecordBatch};
use cinder_actors::data::aggregate::Aggregator;
use serde::{Deserialize, Serialize};

use super::logistic_kernel::LossGradient;
use crate::features::{FeatureSpec, Rows};
use crate::vectors::list_column;

/// What a partition needs to compute its hinge loss and subgradient.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HingeArgs {
    /// Columns.
    pub spec: FeatureSpec,
    /// `1 / std` per feature (0 for constant features).
    pub inv_std: Vec<f64>,
    /// Coefficients in the standardized space, then the intercept when `fit_intercept`.
    pub params: Vec<f64>,
    /// Whether `params` ends with an intercept.
    pub fit_intercept: bool,
    /// `mean / std` per feature when centered (with an intercept, as Spark); empty otherwise.
    pub scaled_mean: Vec<f64>,
}

/// The `ml.linear_svc.hinge` aggregator: `Σ w · max(0, 1 - y'·m)` with `y' = 2y - 1`, and
/// the subgradient that counts a row only when `1 - y'·m > 0` (as Spark).
pub struct HingeLoss;

impl Aggregator for HingeLoss {
    const NAME: &'static str = "ml.linear_svc.hinge";
    type Args = HingeArgs;
    type Acc = LossGradient;

    fn zero(args: &HingeArgs) -> LossGradient {
        LossGradient {
            gradient: vec![0.0; args.params.len()],
            ..LossGradient::default()
        }
    }

    fn seq(
        mut acc: LossGradient,
        batch: &RecordBatch,
        a: &HingeArgs,
    ) -> Result<LossGradient, String> {
        let rows = Rows::new(batch, &a.spec)?;
        let d = a.inv_std.len();
        if rows.num_features() > d {
            return Err(format!(
                "{} features, the model has {d}",
                rows.num_features()
            ));
        }
        let offset: f64 = a
            .scaled_mean
            .iter()
            .zip(&a.params[..d])
            .map(|(m, b)| m * b)
            .sum();
        let intercept = if a.fit_intercept { a.params[d] } else { 0.0 };
        let mut multiplier_sum = 0.0;
        for i in 0..rows.len() {
            let (w, y) = (rows.weight(i), rows.label(i));
            if y != 0.0 && y != 1.0 {
                return Err(format!("label {y} is not 0 or 1 (linear SVC is binary)"));
            }
            if w == 0.0 {
                continue;
            }
            acc.weight_sum += w;
            let margin = intercept - offset + rows.dot_scaled(i, &a.params[..d], &a.inv_std);
            let signed = 2.0 * y - 1.0;
            let slack = 1.0 - signed * margin;
            if slack > 0.0 {
                acc.loss += w * slack;
                let multiplier = -signed * w;
                multiplier_sum += multiplier;
                let grad = &mut acc.gradient;
                rows.for_each(i, |j, v| grad[j] += multiplier * v * a.inv_std[j]);
            }
        }
        if a.fit_intercept {
            acc.gradient[d] += multiplier_sum;
        }
        for (g, m) in acc.gradient[..d].iter_mut().zip(&a.scaled_mean) {
            *g -= multiplier_sum * m;
        }
        Ok(acc)
    }

    fn comb(a: LossGradient, b: LossGradient, _: &HingeArgs) -> LossGradient {
        a.merge(b)
    }
}
cinder_actors::register_aggregator!(HingeLoss);

/// A fitted model as the prediction kernels need it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SvcPredictArgs {
    /// Columns (only the features are read).
    pub spec: FeatureSpec,
    /// Coefficients on the original scale.
    pub coefficients: Vec<f64>,
    /// Intercept.
    pub intercept: f64,
    /// The margin above which the prediction is 1.
    pub threshold: f64,
}

fn margins(batch: &RecordBatch, args: &[u8]) -> Result<(SvcPredictArgs, Vec<f64>), String> {
    let model: SvcPredictArgs = rmp_serde::from_slice(args).map_err(|e| e.to_string())?;
    let rows = Rows::new_features_only(batch, &model.spec)?;
    let m = (0..rows.len())
        .map(|i| {
            let mut m = model.intercept;
            rows.for_each(i, |j, v| {
                m += model.coefficients.get(j).copied().unwrap_or(0.0) * v
            });
            m
        })
        .collect();
    Ok((model, m))
}

/// `ml.linear_svc.raw_prediction`: Spark's `rawPrediction`, `[-m, m]`.
pub fn raw_prediction_column(batch: &RecordBatch, args: &[u8]) -> Result<ArrayRef, String> {
    Ok(list_column(
        margins(batch, args)?.1.into_iter().map(|m| vec![-m, m]),
    ))
}
cinder_actors::register_column!("ml.linear_svc.raw_prediction", raw_prediction_column);

/// `ml.linear_svc.prediction`: 1 when the margin exceeds the threshold, else 0.
pub fn prediction_column(batch: &RecordBatch, args: &[u8]) -> Result<ArrayRef, String> {
    let (model, m) = margins(batch, args)?;
    let values: Vec<f64> = m
        .into_iter()
        .map(|m| if m > model.threshold { 1.0 } else { 0.0 })
        .collect();
    Ok(Arc::new(Float64Array::from(values)))
}
cinder_actors::register_column!("ml.linear_svc.prediction", prediction_column);
