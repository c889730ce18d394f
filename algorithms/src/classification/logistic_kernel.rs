//! Worker-side kernels of logistic regression: the loss and gradient of one partition in the
//! standardized space (the `ml.logistic.loss` aggregator), and predictions as columns.

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, RecordBatch};
use cinder_actors::data::aggregate::Aggregator;
use serde::{Deserialize, Serialize};

use crate::blocked;
use crate::features::{FeatureSpec, Rows};

/// Everything a partition needs to compute its loss and gradient.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogisticArgs {
    /// Columns.
    pub spec: FeatureSpec,
    /// `1 / std` per feature (0 for constant features): features are standardized on the fly.
    pub inv_std: Vec<f64>,
    /// Coefficient sets (`sets * num_features`, set-major), then one intercept per set when
    /// `fit_intercept`.
    pub params: Vec<f64>,
    /// 1 for binomial, the number of classes for multinomial.
    pub sets: usize,
    /// Whether `params` ends with intercepts.
    pub fit_intercept: bool,
    /// `mean / std` per feature when the features are centered (Spark's `fitWithMean`: with an
    /// intercept, the margin is `b + Σ β_j (x_j - μ_j) / σ_j`, which conditions the problem
    /// far better when means are large); empty for no centering.
    #[serde(default)]
    pub scaled_mean: Vec<f64>,
}

impl LogisticArgs {
    /// `Σ_j β_kj μ_j / σ_j` for coefficient set `k` (0 without centering).
    fn center_offset(&self, k: usize) -> f64 {
        let d = self.inv_std.len();
        self.scaled_mean
            .iter()
            .zip(&self.params[k * d..(k + 1) * d])
            .map(|(m, b)| m * b)
            .sum()
    }

    /// Removes the centering term from a partition's gradient: `∂/∂β_kj` gets
    /// `-μ_j/σ_j · Σ multiplier_k`.
    fn center_gradient(&self, gradient: &mut [f64], multiplier_sums: &[f64]) {
        let d = self.inv_std.len();
        for (k, sum) in multiplier_sums.iter().enumerate() {
            for (g, m) in gradient[k * d..(k + 1) * d]
                .iter_mut()
                .zip(&self.scaled_mean)
            {
                *g -= sum * m;
            }
        }
    }
}

/// Weighted loss and gradient sums of some partitions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LossGradient {
    /// Σ w · loss.
    pub loss: f64,
    /// Σ w · ∇loss (same layout as the parameters).
    pub gradient: Vec<f64>,
    /// Σ w.
    pub weight_sum: f64,
}

/// `log(1 + exp(z))` without overflow.
pub fn log1p_exp(z: f64) -> f64 {
    if z > 0.0 {
        z + (-z).exp().ln_1p()
    } else {
        z.exp().ln_1p()
    }
}

/// `(log(1 + e^z), 1 / (1 + e^-z))` from one exponential, without overflow.
#[inline]
fn softplus_sigmoid(z: f64) -> (f64, f64) {
    let e = (-z.abs()).exp();
    let inv = 1.0 / (1.0 + e);
    if z > 0.0 {
        (z + e.ln_1p(), inv)
    } else {
        (e.ln_1p(), e * inv)
    }
}

/// Scaled coefficients `β_kj / σ_j` of set `k`, and its margin offset (intercept minus the
/// centering term).
fn scaled_set(a: &LogisticArgs, k: usize) -> (Vec<f64>, f64) {
    let d = a.inv_std.len();
    let coef = a.params[k * d..(k + 1) * d]
        .iter()
        .zip(&a.inv_std)
        .map(|(b, s)| b * s)
        .collect();
    let b = if a.fit_intercept {
        a.params[a.sets * d + k]
    } else {
        0.0
    };
    (coef, b - a.center_offset(k))
}

/// The binomial kernel over dense feature columns, a block of rows at a time
/// ([`crate::blocked`]): margins, then multipliers, then the gradient over the cached block.
fn binomial_dense(
    mut acc: LossGradient,
    rows: &Rows<'_>,
    cols: &[std::borrow::Cow<'_, [f64]>],
    a: &LogisticArgs,
) -> LossGradient {
    let d = a.inv_std.len();
    let (coef, base) = scaled_set(a, 0);
    let (labels, weights) = (rows.labels(), rows.weights());
    let mut z = vec![0.0; blocked::BLOCK];
    let mut multiplier_sum = 0.0;
    for (s, e) in blocked::blocks(rows.len()) {
        let z = &mut z[..e - s];
        blocked::margins(cols, &coef, base, s, z);
        for (r, zr) in z.iter_mut().enumerate() {
            let w = weights.map_or(1.0, |w| w[s + r]);
            let y = labels[s + r];
            let (softplus, p) = softplus_sigmoid(*zr);
            if w != 0.0 {
                acc.loss += w * (softplus - y * *zr);
                acc.weight_sum += w;
            }
            *zr = w * (p - y);
        }
        multiplier_sum += blocked::sum(z);
        blocked::gradient(cols, z, &a.inv_std, s, &mut acc.gradient[..d]);
    }
    if a.fit_intercept {
        acc.gradient[d] += multiplier_sum;
    }
    a.center_gradient(&mut acc.gradient, &[multiplier_sum]);
    acc
}

/// The multinomial kernel over dense feature columns, a block of rows at a time.
fn multinomial_dense(
    mut acc: LossGradient,
    rows: &Rows<'_>,
    cols: &[std::borrow::Cow<'_, [f64]>],
    a: &LogisticArgs,
) -> Result<LossGradient, String> {
    let d = a.inv_std.len();
    let sets: Vec<(Vec<f64>, f64)> = (0..a.sets).map(|k| scaled_set(a, k)).collect();
    let (labels, weights) = (rows.labels(), rows.weights());
    let mut z = vec![vec![0.0; blocked::BLOCK]; a.sets];
    let mut multiplier_sums = vec![0.0; a.sets];
    let mut margins = vec![0.0; a.sets];
    for (s, e) in blocked::blocks(rows.len()) {
        let n = e - s;
        for ((coef, base), zk) in sets.iter().zip(z.iter_mut()) {
            blocked::margins(cols, coef, *base, s, &mut zk[..n]);
        }
        for r in 0..n {
            let w = weights.map_or(1.0, |w| w[s + r]);
            let y = labels[s + r];
            if w == 0.0 {
                z.iter_mut().for_each(|zk| zk[r] = 0.0);
                continue;
            }
            let label = y as usize;
            if label >= a.sets || y.fract() != 0.0 || y < 0.0 {
                return Err(format!("label {y} is not a class in 0..{}", a.sets));
            }
            for (m, zk) in margins.iter_mut().zip(&z) {
                *m = zk[r];
            }
            let max = margins.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let lse = max + margins.iter().map(|m| (m - max).exp()).sum::<f64>().ln();
            acc.loss += w * (lse - margins[label]);
            acc.weight_sum += w;
            for (k, zk) in z.iter_mut().enumerate() {
                let p = (margins[k] - lse).exp();
                zk[r] = w * (p - if k == label { 1.0 } else { 0.0 });
            }
        }
        for (k, zk) in z.iter().enumerate() {
            let m = &zk[..n];
            multiplier_sums[k] += blocked::sum(m);
            blocked::gradient(
                cols,
                m,
                &a.inv_std,
                s,
                &mut acc.gradient[k * d..(k + 1) * d],
            );
        }
    }
    if a.fit_intercept {
        for (k, m) in multiplier_sums.iter().enumerate() {
            acc.gradient[a.sets * d + k] += m;
        }
    }
    a.center_gradient(&mut acc.gradient, &multiplier_sums);
    Ok(acc)
}

/// The `ml.logistic.loss` aggregator.
pub struct LogisticLoss;

impl Aggregator for LogisticLoss {
    const NAME: &'static str = "ml.logistic.loss";
    type Args = LogisticArgs;
    type Acc = LossGradient;

    fn zero(args: &LogisticArgs) -> LossGradient {
        LossGradient {
            gradient: vec![0.0; args.params.len()],
            ..LossGradient::default()
        }
    }

    fn seq(
        mut acc: LossGradient,
        batch: &RecordBatch,
        a: &LogisticArgs,
    ) -> Result<LossGradient, String> {
        let rows = Rows::new(batch, &a.spec)?;
        let d = a.inv_std.len();
        if rows.num_features() > d {
            return Err(format!(
                "{} features, the model has {d}",
                rows.num_features()
            ));
        }
        let intercepts = a.sets * d;
        if let Some(cols) = rows.dense_columns() {
            return match a.sets {
                1 => Ok(binomial_dense(acc, &rows, cols, a)),
                _ => multinomial_dense(acc, &rows, cols, a),
            };
        }
        let mut margins = vec![0.0; a.sets];
        let offsets: Vec<f64> = (0..a.sets).map(|k| a.center_offset(k)).collect();
        let mut multiplier_sums = vec![0.0; a.sets];
        for i in 0..rows.len() {
            let (w, y) = (rows.weight(i), rows.label(i));
            if w == 0.0 {
                continue;
            }
            if a.sets == 1 {
                let b = if a.fit_intercept {
                    a.params[intercepts]
                } else {
                    0.0
                };
                margins[0] = b - offsets[0] + rows.dot_scaled(i, &a.params[..d], &a.inv_std);
            } else {
                for (k, m) in margins.iter_mut().enumerate() {
                    *m = if a.fit_intercept {
                        a.params[intercepts + k]
                    } else {
                        0.0
                    } - offsets[k];
                }
                rows.for_each(i, |j, v| {
                    let x = v * a.inv_std[j];
                    if x != 0.0 {
                        for (k, m) in margins.iter_mut().enumerate() {
                            *m += a.params[k * d + j] * x;
                        }
                    }
                });
            }
            let grad = &mut acc.gradient;
            if a.sets == 1 {
                let z = margins[0];
                acc.loss += w * (log1p_exp(z) - y * z);
                let multiplier = w * (1.0 / (1.0 + (-z).exp()) - y);
                multiplier_sums[0] += multiplier;
                rows.for_each(i, |j, v| grad[j] += multiplier * v * a.inv_std[j]);
                if a.fit_intercept {
                    grad[intercepts] += multiplier;
                }
            } else {
                let max = margins.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let sum: f64 = margins.iter().map(|m| (m - max).exp()).sum();
                let lse = max + sum.ln();
                let label = y as usize;
                if label >= a.sets || y.fract() != 0.0 {
                    return Err(format!("label {y} is not a class in 0..{}", a.sets));
                }
                acc.loss += w * (lse - margins[label]);
                for k in 0..a.sets {
                    let p = (margins[k] - lse).exp();
                    let multiplier = w * (p - if k == label { 1.0 } else { 0.0 });
                    multiplier_sums[k] += multiplier;
                    rows.for_each(i, |j, v| grad[k * d + j] += multiplier * v * a.inv_std[j]);
                    if a.fit_intercept {
                        grad[intercepts + k] += multiplier;
                    }
                }
            }
            acc.weight_sum += w;
        }
        a.center_gradient(&mut acc.gradient, &multiplier_sums);
        Ok(acc)
    }

    fn comb(a: LossGradient, b: LossGradient, _: &LogisticArgs) -> LossGradient {
        a.merge(b)
    }
}

impl LossGradient {
    /// The sum of two partials.
    pub fn merge(mut self, b: LossGradient) -> LossGradient {
        if self.gradient.len() < b.gradient.len() {
            self.gradient.resize(b.gradient.len(), 0.0);
        }
        for (x, y) in self.gradient.iter_mut().zip(&b.gradient) {
            *x += y;
        }
        self.loss += b.loss;
        self.weight_sum += b.weight_sum;
        self
    }
}
cinder_actors::register_aggregator!(LogisticLoss);

/// A fitted model as the prediction kernels need it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogisticPredictArgs {
    /// Columns (only the features are read).
    pub spec: FeatureSpec,
    /// One row per coefficient set, in the original feature space.
    pub coefficients: Vec<Vec<f64>>,
    /// One intercept per set.
    pub intercepts: Vec<f64>,
    /// Binomial decision threshold on P(label = 1).
    pub threshold: f64,
}

impl LogisticPredictArgs {
    pub(crate) fn margins(&self, rows: &Rows<'_>, i: usize) -> Vec<f64> {
        self.coefficients
            .iter()
            .zip(&self.intercepts)
            .map(|(coef, b)| {
                let mut m = *b;
                rows.for_each(i, |j, v| {
                    if let Some(c) = coef.get(j) {
                        m += c * v;
                    }
                });
                m
            })
            .collect()
    }

    /// P(label = 1) for binomial models; the top class probability otherwise.
    pub fn probability(&self, margins: &[f64]) -> f64 {
        if margins.len() == 1 {
            1.0 / (1.0 + (-margins[0]).exp())
        } else {
            let max = margins.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = margins.iter().map(|m| (m - max).exp()).sum();
            1.0 / sum
        }
    }

    /// The predicted class.
    pub fn class(&self, margins: &[f64]) -> f64 {
        if margins.len() == 1 {
            if self.probability(margins) > self.threshold {
                1.0
            } else {
                0.0
            }
        } else {
            let mut best = 0;
            for (k, m) in margins.iter().enumerate() {
                if *m > margins[best] {
                    best = k;
                }
            }
            best as f64
        }
    }
}

fn per_row(
    batch: &RecordBatch,
    args: &[u8],
    f: fn(&LogisticPredictArgs, &[f64]) -> f64,
) -> Result<ArrayRef, String> {
    let model: LogisticPredictArgs = rmp_serde::from_slice(args).map_err(|e| e.to_string())?;
    let spec = FeatureSpec {
        label: model.spec.label.clone(),
        weight: None,
        features: model.spec.features.clone(),
    };
    let rows = Rows::new_features_only(batch, &spec)?;
    let values: Vec<f64> = (0..rows.len())
        .map(|i| f(&model, &model.margins(&rows, i)))
        .collect();
    Ok(Arc::new(Float64Array::from(values)))
}

/// `ml.logistic.prediction`: the predicted class as Float64.
pub fn prediction_column(batch: &RecordBatch, args: &[u8]) -> Result<ArrayRef, String> {
    per_row(batch, args, LogisticPredictArgs::class)
}
cinder_actors::register_column!("ml.logistic.prediction", prediction_column);

/// `ml.logistic.probability`: P(label = 1) (binomial) or the top class probability.
pub fn probability_column(batch: &RecordBatch, args: &[u8]) -> Result<ArrayRef, String> {
    per_row(batch, args, LogisticPredictArgs::probability)
}
cinder_actors::register_column!("ml.logistic.probability", probability_column);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::FeatureCols;
    use arrow_array::builder::{FixedSizeListBuilder, Float64Builder};

    /// The column-wise dense kernel equals the row-wise kernel on the same numbers.
    #[test]
    fn dense_columns_and_vectors_give_the_same_loss_and_gradient() {
        let n = 50;
        let x0: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin()).collect();
        let x1: Vec<f64> = (0..n).map(|i| (i as f64 * 0.11).cos() * 3.0).collect();
        let y: Vec<f64> = (0..n).map(|i| f64::from(i % 3 == 0)).collect();
        let mut list = FixedSizeListBuilder::new(Float64Builder::new(), 2);
        for i in 0..n {
            list.values().append_value(x0[i]);
            list.values().append_value(x1[i]);
            list.append(true);
        }
        let batch = RecordBatch::try_from_iter([
            ("label", Arc::new(Float64Array::from(y)) as ArrayRef),
            ("f0", Arc::new(Float64Array::from(x0)) as ArrayRef),
            ("f1", Arc::new(Float64Array::from(x1)) as ArrayRef),
            ("v", Arc::new(list.finish()) as ArrayRef),
        ])
        .unwrap();
        let args = |features| LogisticArgs {
            spec: FeatureSpec {
                label: "label".into(),
                weight: None,
                features,
            },
            inv_std: vec![0.5, 2.0],
            params: vec![0.3, -0.7, 0.1],
            sets: 1,
            fit_intercept: true,
            scaled_mean: vec![0.25, -1.5],
        };
        let dense = args(FeatureCols::Columns(vec!["f0".into(), "f1".into()]));
        let rows = args(FeatureCols::Vector("v".into()));
        let a = LogisticLoss::seq(LogisticLoss::zero(&dense), &batch, &dense).unwrap();
        let b = LogisticLoss::seq(LogisticLoss::zero(&rows), &batch, &rows).unwrap();
        assert!((a.loss - b.loss).abs() < 1e-12, "{} vs {}", a.loss, b.loss);
        for (x, y) in a.gradient.iter().zip(&b.gradient) {
            assert!(
                (x - y).abs() < 1e-12,
                "{:?} vs {:?}",
                a.gradient,
                b.gradient
            );
        }
        assert_eq!(a.weight_sum, b.weight_sum);
    }

    /// With centering, the gradient matches central differences of the loss, for binomial
    /// (dense path) and multinomial (row path) models, and the loss is the uncentered loss
    /// at the intercept shifted by the offset.
    #[test]
    fn centered_gradients_match_finite_differences() {
        let n = 40;
        let x0: Vec<f64> = (0..n).map(|i| 5.0 + (i as f64 * 0.37).sin()).collect();
        let x1: Vec<f64> = (0..n).map(|i| -3.0 + (i as f64 * 0.11).cos()).collect();
        let y: Vec<f64> = (0..n).map(|i| (i % 3) as f64).collect();
        let batch = RecordBatch::try_from_iter([
            ("label", Arc::new(Float64Array::from(y.clone())) as ArrayRef),
            ("f0", Arc::new(Float64Array::from(x0)) as ArrayRef),
            ("f1", Arc::new(Float64Array::from(x1)) as ArrayRef),
        ])
        .unwrap();
        let spec = FeatureSpec {
            label: "label".into(),
            weight: None,
            features: FeatureCols::Columns(vec!["f0".into(), "f1".into()]),
        };
        for sets in [1, 3] {
            let args = |params: Vec<f64>, scaled_mean: Vec<f64>| LogisticArgs {
                spec: spec.clone(),
                inv_std: vec![0.5, 2.0],
                params,
                sets,
                fit_intercept: true,
                scaled_mean,
            };
            // (Labels 2 make the binomial loss no likelihood, but it stays smooth.)
            let loss =
                |a: &LogisticArgs| LogisticLoss::seq(LogisticLoss::zero(a), &batch, a).unwrap();
            let params: Vec<f64> = (0..sets * 3).map(|i| 0.3 - 0.2 * i as f64).collect();
            let centered = args(params.clone(), vec![2.5, -6.0]);
            let at = loss(&centered);
            for i in 0..params.len() {
                let h = 1e-6;
                let mut up = params.clone();
                up[i] += h;
                let mut down = params.clone();
                down[i] -= h;
                let numeric = (loss(&args(up, vec![2.5, -6.0])).loss
                    - loss(&args(down, vec![2.5, -6.0])).loss)
                    / (2.0 * h);
                assert!(
                    (numeric - at.gradient[i]).abs() < 1e-5 * numeric.abs().max(1.0),
                    "sets {sets}, parameter {i}: {numeric} vs {}",
                    at.gradient[i]
                );
            }
            let mut shifted = params.clone();
            for k in 0..sets {
                shifted[sets * 2 + k] -= 2.5 * params[k * 2] - 6.0 * params[k * 2 + 1];
            }
            let plain = loss(&args(shifted, Vec::new()));
            assert!((plain.loss - at.loss).abs() < 1e-9 * at.loss, "sets {sets}");
        }
    }
}
