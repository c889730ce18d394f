//! Worker-side kernels of the Gaussian mixture: a seeded sample of rows for the start
//! (`ml.gmm.sample`), one EM expectation pass (`ml.gmm.expectation`: responsibilities of every
//! row, and the weighted sums the maximization step needs, with the log-likelihood), and
//! predictions (`probability` per component, `prediction` the most probable).

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, RecordBatch};
use cinder_actors::data::aggregate::Aggregator;
use serde::{Deserialize, Serialize};

use super::kmeans_kernel::points;
use crate::features::FeatureSpec;
use crate::vectors::list_column;

/// Spark's `MLUtils.EPSILON`, added to every component's density.
const EPSILON: f64 = f64::EPSILON;

/// A component as the kernels use it: `ln π_k - ½(d ln 2π + ln|Σ|)` and `Σ⁺` (row-major).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Component {
    /// The mixing weight π_k.
    pub weight: f64,
    /// The mean.
    pub mean: Vec<f64>,
    /// The (pseudo-)inverse of the covariance, `d × d` row-major.
    pub precision: Vec<f64>,
    /// `-½ (d ln 2π + ln pseudo-det Σ)`.
    pub log_norm: f64,
}

impl Component {
    /// The density N(x | μ, Σ) (Spark's `MultivariateGaussian.pdf`).
    pub fn pdf(&self, x: &[f64]) -> f64 {
        let d = self.mean.len();
        let diff: Vec<f64> = x.iter().zip(&self.mean).map(|(a, b)| a - b).collect();
        let mut quad = 0.0;
        for i in 0..d {
            let row = &self.precision[i * d..(i + 1) * d];
            quad += diff[i] * row.iter().zip(&diff).map(|(p, v)| p * v).sum::<f64>();
        }
        (self.log_norm - 0.5 * quad).exp()
    }
}

/// What a pass needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GmmArgs {
    /// Feature (and weight) columns.
    pub spec: FeatureSpec,
    /// Vector size.
    pub width: usize,
    /// The current components.
    pub components: Vec<Component>,
    /// Sample: the seed and how many rows to keep.
    pub seed: u64,
    /// Rows the sample keeps.
    pub keep: usize,
}

/// The responsibilities of one point (Spark: `ε + π_k N(x|k)`, normalized) and `ln Σ_k`.
pub fn responsibilities(components: &[Component], x: &[f64]) -> (Vec<f64>, f64) {
    let mut p: Vec<f64> = components
        .iter()
        .map(|c| EPSILON + c.weight * c.pdf(x))
        .collect();
    let sum: f64 = p.iter().sum();
    p.iter_mut().for_each(|v| *v /= sum);
    (p, sum.ln())
}

/// Weighted sums of an expectation pass.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExpectationSums {
    /// Σ w p_k per component.
    pub weights: Vec<f64>,
    /// Σ w p_k x per component.
    pub means: Vec<Vec<f64>>,
    /// Σ w p_k x xᵀ per component (`d × d`, row-major).
    pub second: Vec<Vec<f64>>,
    /// Σ w ln Σ_k (ε + π_k N(x|k)).
    pub log_likelihood: f64,
    /// Σ w.
    pub total_weight: f64,
}

/// The `ml.gmm.expectation` aggregator.
pub struct GmmExpectation;

impl Aggregator for GmmExpectation {
    const NAME: &'static str = "ml.gmm.expectation";
    type Args = GmmArgs;
    type Acc = ExpectationSums;

    fn zero(a: &GmmArgs) -> ExpectationSums {
        let (k, d) = (a.components.len(), a.width);
        ExpectationSums {
            weights: vec![0.0; k],
            means: vec![vec![0.0; d]; k],
            second: vec![vec![0.0; d * d]; k],
            ..ExpectationSums::default()
        }
    }

    fn seq(
        mut acc: ExpectationSums,
        batch: &RecordBatch,
        a: &GmmArgs,
    ) -> Result<ExpectationSums, String> {
        let d = a.width;
        for (x, w) in points(batch, &a.spec, d, false)? {
            if !(w >= 0.0 && w.is_finite()) {
                return Err(format!("weight {w} is not a non-negative number"));
            }
            if w == 0.0 {
                continue;
            }
            let (p, ln_sum) = responsibilities(&a.components, &x);
            acc.log_likelihood += w * ln_sum;
            acc.total_weight += w;
            for (k, pk) in p.iter().enumerate() {
                let wp = w * pk;
                acc.weights[k] += wp;
                for i in 0..d {
                    acc.means[k][i] += wp * x[i];
                    let row = &mut acc.second[k][i * d..(i + 1) * d];
                    for (j, r) in row.iter_mut().enumerate().skip(i) {
                        *r += wp * x[i] * x[j];
                    }
                }
            }
        }
        Ok(acc)
    }

    fn comb(mut a: ExpectationSums, b: ExpectationSums, _: &GmmArgs) -> ExpectationSums {
        let add = |x: &mut [f64], y: &[f64]| x.iter_mut().zip(y).for_each(|(u, v)| *u += v);
        add(&mut a.weights, &b.weights);
        for (x, y) in a.means.iter_mut().zip(&b.means) {
            add(x, y);
        }
        for (x, y) in a.second.iter_mut().zip(&b.second) {
            add(x, y);
        }
        a.log_likelihood += b.log_likelihood;
        a.total_weight += b.total_weight;
        a
    }
}
cinder_actors::register_aggregator!(GmmExpectation);

/// A row's sampling key: its values hashed with the seed (splitmix64), so the sample is the
/// same whatever the partitioning.
fn key(seed: u64, x: &[f64], w: f64) -> u64 {
    let mut h = seed ^ 0x9E37_79B9_7F4A_7C15;
    for v in x.iter().chain([&w]) {
        h = (h ^ v.to_bits()).wrapping_add(0x9E37_79B9_7F4A_7C15);
        h = (h ^ (h >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        h = (h ^ (h >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        h ^= h >> 31;
    }
    h
}

/// A seeded sample: the rows with the smallest keys.
pub type Sample = Vec<(u64, Vec<f64>, f64)>;

/// The `ml.gmm.sample` aggregator.
pub struct GmmSample;

impl Aggregator for GmmSample {
    const NAME: &'static str = "ml.gmm.sample";
    type Args = GmmArgs;
    type Acc = Sample;

    fn zero(_: &GmmArgs) -> Sample {
        Vec::new()
    }

    fn seq(mut acc: Sample, batch: &RecordBatch, a: &GmmArgs) -> Result<Sample, String> {
        for (x, w) in points(batch, &a.spec, a.width, false)? {
            if w > 0.0 {
                acc.push((key(a.seed, &x, w), x, w));
            }
        }
        acc.sort_by(|p, q| {
            p.0.cmp(&q.0)
                .then(p.1.partial_cmp(&q.1).unwrap_or(std::cmp::Ordering::Equal))
        });
        acc.truncate(a.keep);
        Ok(acc)
    }

    fn comb(mut a: Sample, b: Sample, args: &GmmArgs) -> Sample {
        a.extend(b);
        a.sort_by(|p, q| {
            p.0.cmp(&q.0)
                .then(p.1.partial_cmp(&q.1).unwrap_or(std::cmp::Ordering::Equal))
        });
        a.truncate(args.keep);
        a
    }
}
cinder_actors::register_aggregator!(GmmSample);

fn posterior(batch: &RecordBatch, args: &[u8]) -> Result<Vec<Vec<f64>>, String> {
    let a: GmmArgs = rmp_serde::from_slice(args).map_err(|e| e.to_string())?;
    let spec = FeatureSpec {
        weight: None,
        ..a.spec.clone()
    };
    Ok(points(batch, &spec, a.width, false)?
        .iter()
        .map(|(x, _)| responsibilities(&a.components, x).0)
        .collect())
}

/// `ml.gmm.probability`: each component's posterior probability.
pub fn probability_column(batch: &RecordBatch, args: &[u8]) -> Result<ArrayRef, String> {
    Ok(list_column(posterior(batch, args)?))
}
cinder_actors::register_column!("ml.gmm.probability", probability_column);

/// `ml.gmm.prediction`: the most probable component.
pub fn prediction_column(batch: &RecordBatch, args: &[u8]) -> Result<ArrayRef, String> {
    let values: Vec<f64> = posterior(batch, args)?
        .iter()
        .map(|p| crate::classification::naive_bayes_kernel::argmax(p) as f64)
        .collect();
    Ok(Arc::new(Float64Array::from(values)))
}
cinder_actors::register_column!("ml.gmm.prediction", prediction_column);
