//! Worker-side kernels of linear regression: the least-squares loss and gradient in Spark's
//! standardized space (`ml.linear.loss`), the sufficient statistics of the normal equations
//! (`ml.linear.gram`), and predictions as a column.

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, RecordBatch};
use cinder_actors::data::aggregate::Aggregator;
use serde::{Deserialize, Serialize};

use crate::blocked;
use crate::classification::logistic_kernel::LossGradient;
use crate::features::{FeatureSpec, Rows};

/// What a partition needs to compute the least-squares loss and gradient.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeastSquaresArgs {
    /// Columns.
    pub spec: FeatureSpec,
    /// `1 / std` per feature (0 for constant features).
    pub inv_std: Vec<f64>,
    /// `mean / std` per feature when fitting an intercept (features are centered), else 0.
    pub scaled_mean: Vec<f64>,
    /// Label scale.
    pub label_std: f64,
    /// Label center (the mean when fitting an intercept, else 0).
    pub label_center: f64,
    /// Coefficients in the standardized space.
    pub coefficients: Vec<f64>,
}

/// The least-squares kernel over dense feature columns, a block of rows at a time
/// ([`crate::blocked`]): predictions, then residual multipliers, then the gradient.
fn least_squares_dense(
    mut acc: LossGradient,
    rows: &Rows<'_>,
    cols: &[std::borrow::Cow<'_, [f64]>],
    a: &LeastSquaresArgs,
    offset: f64,
) -> LossGradient {
    let coef: Vec<f64> = a
        .coefficients
        .iter()
        .zip(&a.inv_std)
        .map(|(b, s)| b * s)
        .collect();
    let (labels, weights) = (rows.labels(), rows.weights());
    let mut z = vec![0.0; blocked::BLOCK];
    let mut sum_wdiff = 0.0;
    for (s, e) in blocked::blocks(rows.len()) {
        let z = &mut z[..e - s];
        blocked::margins(cols, &coef, -offset, s, z);
        for (r, zr) in z.iter_mut().enumerate() {
            let w = weights.map_or(1.0, |w| w[s + r]);
            let diff = *zr - (labels[s + r] - a.label_center) / a.label_std;
            if w != 0.0 {
                acc.loss += 0.5 * w * diff * diff;
                acc.weight_sum += w;
            }
            *zr = w * diff;
        }
        sum_wdiff += blocked::sum(z);
        let d = a.inv_std.len().min(acc.gradient.len());
        blocked::gradient(cols, z, &a.inv_std, s, &mut acc.gradient[..d]);
    }
    for (g, m) in acc.gradient.iter_mut().zip(&a.scaled_mean) {
        *g -= sum_wdiff * m;
    }
    acc
}

/// The `ml.linear.loss` aggregator: `Σ w (x'·β' - y')² / 2` and its gradient.
pub struct LeastSquaresLoss;

impl Aggregator for LeastSquaresLoss {
    const NAME: &'static str = "ml.linear.loss";
    type Args = LeastSquaresArgs;
    type Acc = LossGradient;

    fn zero(a: &LeastSquaresArgs) -> LossGradient {
        LossGradient {
            gradient: vec![0.0; a.coefficients.len()],
            ..LossGradient::default()
        }
    }

    fn seq(
        mut acc: LossGradient,
        batch: &RecordBatch,
        a: &LeastSquaresArgs,
    ) -> Result<LossGradient, String> {
        let rows = Rows::new(batch, &a.spec)?;
        if rows.num_features() > a.inv_std.len() {
            return Err(format!(
                "{} features, the model has {}",
                rows.num_features(),
                a.inv_std.len()
            ));
        }
        let offset: f64 = a
            .coefficients
            .iter()
            .zip(&a.scaled_mean)
            .map(|(b, m)| b * m)
            .sum();
        if let Some(cols) = rows.dense_columns() {
            return Ok(least_squares_dense(acc, &rows, cols, a, offset));
        }
        let mut sum_wdiff = 0.0;
        for i in 0..rows.len() {
            let w = rows.weight(i);
            if w == 0.0 {
                continue;
            }
            let prediction = rows.dot_scaled(i, &a.coefficients, &a.inv_std) - offset;
            let target = (rows.label(i) - a.label_center) / a.label_std;
            let diff = prediction - target;
            acc.loss += 0.5 * w * diff * diff;
            let grad = &mut acc.gradient;
            rows.for_each(i, |j, v| grad[j] += w * diff * v * a.inv_std[j]);
            sum_wdiff += w * diff;
            acc.weight_sum += w;
        }
        for (g, m) in acc.gradient.iter_mut().zip(&a.scaled_mean) {
            *g -= sum_wdiff * m;
        }
        Ok(acc)
    }

    fn comb(a: LossGradient, b: LossGradient, _: &LeastSquaresArgs) -> LossGradient {
        a.merge(b)
    }
}
cinder_actors::register_aggregator!(LeastSquaresLoss);

/// Weighted sufficient statistics of the normal equations.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Gram {
    /// Σ w x xᵀ, row-major `d × d`.
    pub xx: Vec<f64>,
    /// Σ w x y.
    pub xy: Vec<f64>,
    /// Σ w.
    pub weight_sum: f64,
}

/// The `ml.linear.gram` aggregator (one pass for the `normal` solver).
pub struct GramMatrix;

impl Aggregator for GramMatrix {
    const NAME: &'static str = "ml.linear.gram";
    type Args = (FeatureSpec, usize);
    type Acc = Gram;

    fn zero(args: &(FeatureSpec, usize)) -> Gram {
        let d = args.1;
        Gram {
            xx: vec![0.0; d * d],
            xy: vec![0.0; d],
            weight_sum: 0.0,
        }
    }

    fn seq(
        mut acc: Gram,
        batch: &RecordBatch,
        args: &(FeatureSpec, usize),
    ) -> Result<Gram, String> {
        let (spec, d) = args;
        let rows = Rows::new(batch, spec)?;
        let mut active: Vec<(usize, f64)> = Vec::new();
        for i in 0..rows.len() {
            let (w, y) = (rows.weight(i), rows.label(i));
            active.clear();
            rows.for_each(i, |j, v| active.push((j, v)));
            for &(j, v) in &active {
                if j >= *d {
                    return Err(format!("feature index {j} beyond {d}"));
                }
                acc.xy[j] += w * v * y;
                for &(k, u) in &active {
                    acc.xx[j * d + k] += w * v * u;
                }
            }
            acc.weight_sum += w;
        }
        Ok(acc)
    }

    fn comb(mut a: Gram, b: Gram, _: &(FeatureSpec, usize)) -> Gram {
        for (x, y) in a.xx.iter_mut().zip(&b.xx) {
            *x += y;
        }
        for (x, y) in a.xy.iter_mut().zip(&b.xy) {
            *x += y;
        }
        a.weight_sum += b.weight_sum;
        a
    }
}
cinder_actors::register_aggregator!(GramMatrix);

/// A linear model as the prediction kernel needs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearPredictArgs {
    /// Columns (only the features are read).
    pub spec: FeatureSpec,
    /// Coefficients, original scale.
    pub coefficients: Vec<f64>,
    /// Intercept.
    pub intercept: f64,
}

/// `ml.linear.prediction`: `coefficients · x + intercept`.
pub fn prediction_column(batch: &RecordBatch, args: &[u8]) -> Result<ArrayRef, String> {
    let model: LinearPredictArgs = rmp_serde::from_slice(args).map_err(|e| e.to_string())?;
    let rows = Rows::new_features_only(batch, &model.spec)?;
    let values: Vec<f64> = (0..rows.len())
        .map(|i| {
            let mut y = model.intercept;
            rows.for_each(i, |j, v| {
                if let Some(c) = model.coefficients.get(j) {
                    y += c * v;
                }
            });
            y
        })
        .collect();
    Ok(Arc::new(Float64Array::from(values)))
}
cinder_actors::register_column!("ml.linear.prediction", prediction_column);
