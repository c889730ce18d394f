//! Worker-side kernels of factorization machines: the loss and gradient of one (seeded
//! mini-batch of a) partition (the `ml.fm.loss` aggregator), and predictions as columns.
//!
//! Weights are laid out as Spark's: the `d × k` factor matrix (row-major per feature), then
//! the `d` linear weights when `fitLinear`, then the intercept when `fitIntercept`.

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, RecordBatch};
use cinder_actors::data::aggregate::Aggregator;
use serde::{Deserialize, Serialize};

use crate::classification::logistic_kernel::{log1p_exp, LossGradient};
use crate::features::{FeatureSpec, Rows};
use crate::vectors::list_column;

/// What a pass needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FmArgs {
    /// Columns.
    pub spec: FeatureSpec,
    /// Features.
    pub num_features: usize,
    /// `factorSize`.
    pub factor_size: usize,
    /// `fitLinear`.
    pub fit_linear: bool,
    /// `fitIntercept`.
    pub fit_intercept: bool,
    /// Logistic loss on labels 0/1 (classifier) instead of squared error (regressor).
    pub logistic: bool,
    /// The weights.
    pub weights: Vec<f64>,
    /// Rows whose hash with `sample_seed` falls below `fraction` form the mini-batch.
    pub fraction: f64,
    /// Seed of this iteration's mini-batch.
    pub sample_seed: u64,
}

impl FmArgs {
    /// The raw output `b + Σ w_i x_i + ½ Σ_f [(Σ_i v_if x_i)² - Σ_i v_if² x_i²]`, and the
    /// per-factor sums `Σ_i v_if x_i`.
    pub fn raw(&self, x: &[(usize, f64)]) -> (f64, Vec<f64>) {
        let (d, k) = (self.num_features, self.factor_size);
        let w = &self.weights;
        let mut out = if self.fit_intercept {
            w[w.len() - 1]
        } else {
            0.0
        };
        let mut sums = vec![0.0; k];
        let mut squares = 0.0;
        for &(i, v) in x {
            if self.fit_linear {
                out += w[d * k + i] * v;
            }
            for f in 0..k {
                let vf = w[i * k + f];
                sums[f] += vf * v;
                squares += vf * vf * v * v;
            }
        }
        out += 0.5 * (sums.iter().map(|s| s * s).sum::<f64>() - squares);
        (out, sums)
    }
}

/// Whether a row is in the mini-batch: a hash of its values and the seed, uniform in [0, 1).
fn sampled(seed: u64, x: &[(usize, f64)], y: f64, fraction: f64) -> bool {
    if fraction >= 1.0 {
        return true;
    }
    let mut h = seed ^ 0x9E37_79B9_7F4A_7C15;
    for v in x.iter().map(|p| p.1).chain([y]) {
        h = (h ^ v.to_bits()).wrapping_add(0x9E37_79B9_7F4A_7C15);
        h = (h ^ (h >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        h = (h ^ (h >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        h ^= h >> 31;
    }
    ((h >> 11) as f64 / (1u64 << 53) as f64) < fraction
}

/// The `ml.fm.loss` aggregator: `Σ loss` and its gradient over the mini-batch.
pub struct FmLoss;

impl Aggregator for FmLoss {
    const NAME: &'static str = "ml.fm.loss";
    type Args = FmArgs;
    type Acc = LossGradient;

    fn zero(a: &FmArgs) -> LossGradient {
        LossGradient {
            gradient: vec![0.0; a.weights.len()],
            ..LossGradient::default()
        }
    }

    fn seq(mut acc: LossGradient, batch: &RecordBatch, a: &FmArgs) -> Result<LossGradient, String> {
        let rows = Rows::new(batch, &a.spec)?;
        let (d, k) = (a.num_features, a.factor_size);
        let mut x = Vec::new();
        for i in 0..rows.len() {
            let y = rows.label(i);
            if a.logistic && y != 0.0 && y != 1.0 {
                return Err(format!("label {y} is not 0 or 1 (FMClassifier is binary)"));
            }
            x.clear();
            let mut wide = None;
            rows.for_each(i, |j, v| {
                if j >= d {
                    wide = Some(j);
                } else if v != 0.0 {
                    x.push((j, v));
                }
            });
            if let Some(j) = wide {
                return Err(format!("feature index {j} beyond the {d} features"));
            }
            if !sampled(a.sample_seed, &x, y, a.fraction) {
                continue;
            }
            let (raw, sums) = a.raw(&x);
            let multiplier = if a.logistic {
                acc.loss += log1p_exp(raw) - y * raw;
                1.0 / (1.0 + (-raw).exp()) - y
            } else {
                acc.loss += 0.5 * (raw - y) * (raw - y);
                raw - y
            };
            acc.weight_sum += 1.0;
            let g = &mut acc.gradient;
            for &(j, v) in &x {
                for f in 0..k {
                    g[j * k + f] += multiplier * v * (sums[f] - a.weights[j * k + f] * v);
                }
                if a.fit_linear {
                    g[d * k + j] += multiplier * v;
                }
            }
            if a.fit_intercept {
                let last = g.len() - 1;
                g[last] += multiplier;
            }
        }
        Ok(acc)
    }

    fn comb(a: LossGradient, b: LossGradient, _: &FmArgs) -> LossGradient {
        a.merge(b)
    }
}
cinder_actors::register_aggregator!(FmLoss);

fn raw_values(batch: &RecordBatch, args: &[u8]) -> Result<(FmArgs, Vec<f64>), String> {
    let a: FmArgs = rmp_serde::from_slice(args).map_err(|e| e.to_string())?;
    let rows = Rows::new_features_only(batch, &a.spec)?;
    let mut x = Vec::new();
    let values = (0..rows.len())
        .map(|i| {
            x.clear();
            rows.for_each(i, |j, v| {
                if j < a.num_features && v != 0.0 {
                    x.push((j, v));
                }
            });
            a.raw(&x).0
        })
        .collect();
    Ok((a, values))
}

/// `ml.fm.prediction`: the regressor's output, or the classifier's class (probability above
/// 0.5, Spark's default threshold).
pub fn prediction_column(batch: &RecordBatch, args: &[u8]) -> Result<ArrayRef, String> {
    let (a, raw) = raw_values(batch, args)?;
    let values: Vec<f64> = raw
        .into_iter()
        .map(|r| {
            if a.logistic {
                f64::from(u8::from(r > 0.0))
            } else {
                r
            }
        })
        .collect();
    Ok(Arc::new(Float64Array::from(values)))
}
cinder_actors::register_column!("ml.fm.prediction", prediction_column);

/// `ml.fm.raw_prediction`: the classifier's `[-r, r]`.
pub fn raw_prediction_column(batch: &RecordBatch, args: &[u8]) -> Result<ArrayRef, String> {
    Ok(list_column(
        raw_values(batch, args)?.1.into_iter().map(|r| vec![-r, r]),
    ))
}
cinder_actors::register_column!("ml.fm.raw_prediction", raw_prediction_column);

/// `ml.fm.probability`: the classifier's `[1 - p, p]`.
pub fn probability_column(batch: &RecordBatch, args: &[u8]) -> Result<ArrayRef, String> {
    Ok(list_column(raw_values(batch, args)?.1.into_iter().map(
        |r| {
            let p = 1.0 / (1.0 + (-r).exp());
            vec![1.0 - p, p]
        },
    )))
}
cinder_actors::register_column!("ml.fm.probability", probability_column);
