//! Worker-side kernels of the multilayer perceptron: the cross-entropy loss and its gradient
//! over one partition by backpropagation (the `ml.mlp.loss` aggregator: data-parallel
//! gradients, partials in partition order), and predictions as columns.
//!
//! Weights are flat in Spark's order: for each layer, its `out × in` weight matrix
//! (column-major, as Spark's `AffineLayer`), then its `out` biases.

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, RecordBatch};
use cinder_actors::data::aggregate::Aggregator;
use serde::{Deserialize, Serialize};

use super::logistic_kernel::LossGradient;
use crate::features::{FeatureSpec, Rows};
use crate::vectors::list_column;

/// What a partition needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MlpArgs {
    /// Columns.
    pub spec: FeatureSpec,
    /// Layer sizes, input first, classes last.
    pub layers: Vec<usize>,
    /// Flat weights.
    pub weights: Vec<f64>,
}

/// The number of weights of a topology.
pub fn weight_count(layers: &[usize]) -> usize {
    layers.windows(2).map(|w| w[0] * w[1] + w[1]).sum()
}

/// Activations of every layer for input `x` (sigmoid hidden layers, softmax output).
pub fn forward(layers: &[usize], weights: &[f64], x: &[f64]) -> Vec<Vec<f64>> {
    let mut acts = vec![x.to_vec()];
    let mut offset = 0;
    let last = layers.len() - 2;
    for (l, w) in layers.windows(2).enumerate() {
        let (n_in, n_out) = (w[0], w[1]);
        let matrix = &weights[offset..offset + n_in * n_out];
        let bias = &weights[offset + n_in * n_out..offset + n_in * n_out + n_out];
        offset += n_in * n_out + n_out;
        let input = &acts[l];
        let mut z = bias.to_vec();
        for (i, v) in input.iter().enumerate() {
            if *v != 0.0 {
                let column = &matrix[i * n_out..(i + 1) * n_out];
                for (zo, m) in z.iter_mut().zip(column) {
                    *zo += m * v;
                }
            }
        }
        if l == last {
            let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = z.iter().map(|v| (v - max).exp()).sum();
            z.iter_mut().for_each(|v| *v = (*v - max).exp() / sum);
        } else {
            z.iter_mut().for_each(|v| *v = 1.0 / (1.0 + (-*v).exp()));
        }
        acts.push(z);
    }
    acts
}

/// The `ml.mlp.loss` aggregator: `Σ w · (-ln p_label)` and its gradient.
pub struct MlpLoss;

impl Aggregator for MlpLoss {
    const NAME: &'static str = "ml.mlp.loss";
    type Args = MlpArgs;
    type Acc = LossGradient;

    fn zero(a: &MlpArgs) -> LossGradient {
        LossGradient {
            gradient: vec![0.0; a.weights.len()],
            ..LossGradient::default()
        }
    }

    fn seq(
        mut acc: LossGradient,
        batch: &RecordBatch,
        a: &MlpArgs,
    ) -> Result<LossGradient, String> {
        let rows = Rows::new(batch, &a.spec)?;
        let (d, k) = (a.layers[0], a.layers[a.layers.len() - 1]);
        if !rows.is_empty() && rows.num_features() != d {
            return Err(format!(
                "{} features, the first layer has {d}",
                rows.num_features()
            ));
        }
        let mut x = vec![0.0; d];
        for i in 0..rows.len() {
            let (y, w) = (rows.label(i), rows.weight(i));
            if !(y >= 0.0 && y.fract() == 0.0 && (y as usize) < k) {
                return Err(format!(
                    "label {y} is not a class in 0..{k} (the last layer)"
                ));
            }
            if w == 0.0 {
                continue;
            }
            x.iter_mut().for_each(|v| *v = 0.0);
            rows.for_each(i, |j, v| x[j] = v);
            let acts = forward(&a.layers, &a.weights, &x);
            let out = &acts[acts.len() - 1];
            let label = y as usize;
            acc.loss += -w * out[label].max(1e-300).ln();
            acc.weight_sum += w;
            // δ of the softmax + cross-entropy output: p - onehot.
            let mut delta: Vec<f64> = out.clone();
            delta[label] -= 1.0;
            delta.iter_mut().for_each(|v| *v *= w);
            let mut offset = a.weights.len();
            for l in (0..a.layers.len() - 1).rev() {
                let (n_in, n_out) = (a.layers[l], a.layers[l + 1]);
                offset -= n_in * n_out + n_out;
                let input = &acts[l];
                let grad = &mut acc.gradient[offset..offset + n_in * n_out + n_out];
                for (ii, v) in input.iter().enumerate() {
                    if *v != 0.0 {
                        for (o, dl) in delta.iter().enumerate() {
                            grad[ii * n_out + o] += dl * v;
                        }
                    }
                }
                for (o, dl) in delta.iter().enumerate() {
                    grad[n_in * n_out + o] += dl;
                }
                if l > 0 {
                    let matrix = &a.weights[offset..offset + n_in * n_out];
                    delta = (0..n_in)
                        .map(|ii| {
                            let back: f64 = matrix[ii * n_out..(ii + 1) * n_out]
                                .iter()
                                .zip(&delta)
                                .map(|(m, dl)| m * dl)
                                .sum();
                            back * input[ii] * (1.0 - input[ii])
                        })
                        .collect();
                }
            }
        }
        Ok(acc)
    }

    fn comb(a: LossGradient, b: LossGradient, _: &MlpArgs) -> LossGradient {
        a.merge(b)
    }
}
cinder_actors::register_aggregator!(MlpLoss);

fn outputs(batch: &RecordBatch, args: &[u8]) -> Result<Vec<Vec<f64>>, String> {
    let a: MlpArgs = rmp_serde::from_slice(args).map_err(|e| e.to_string())?;
    let rows = Rows::new_features_only(batch, &a.spec)?;
    let d = a.layers[0];
    let mut x = vec![0.0; d];
    Ok((0..rows.len())
        .map(|i| {
            x.iter_mut().for_each(|v| *v = 0.0);
            rows.for_each(i, |j, v| {
                if let Some(slot) = x.get_mut(j) {
                    *slot = v;
                }
            });
            forward(&a.layers, &a.weights, &x).pop().unwrap_or_default()
        })
        .collect())
}

/// `ml.mlp.probability`: the softmax output.
pub fn probability_column(batch: &RecordBatch, args: &[u8]) -> Result<ArrayRef, String> {
    Ok(list_column(outputs(batch, args)?))
}
cinder_actors::register_column!("ml.mlp.probability", probability_column);

/// `ml.mlp.prediction`: the most probable class.
pub fn prediction_column(batch: &RecordBatch, args: &[u8]) -> Result<ArrayRef, String> {
    let values: Vec<f64> = outputs(batch, args)?
        .iter()
        .map(|p| super::naive_bayes_kernel::argmax(p) as f64)
        .collect();
    Ok(Arc::new(Float64Array::from(values)))
}
cinder_actors::register_column!("ml.mlp.prediction", prediction_column);
