//! Hard optimization problems for the ML tests and the optimizer benchmark, and an
//! independent optimality (KKT) check of fitted models.
//!
//! The generated problems are built bit for bit as `tools/spark_reference.py` builds them (a
//! splitmix64 stream; only `+`, `-`, `*` and comparisons on doubles), so Spark's recorded
//! answers apply to exactly these rows. The KKT check recomputes Spark's objective from the
//! rows with plain loops (two-pass weighted statistics, no kernel, no optimizer), so a mistake
//! shared by Cinder's kernels and optimizer cannot hide.

#![allow(dead_code)]

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, RecordBatch};
use cinder_algorithms::{FeatureCols, FeatureSpec, LocalFrame};

/// Rows of a problem: `(label, features)`.
pub type Rows = Vec<(f64, Vec<f64>)>;

/// 1e-3 .. 1e3: feature j is scaled by `SCALES[j % 7]` (six orders of magnitude).
pub const SCALES: [f64; 7] = [1e-3, 1e-2, 1e-1, 1.0, 1e1, 1e2, 1e3];

/// The seed of the weight column of weighted cases.
pub const WEIGHT_SEED: u64 = 99;

/// splitmix64, as `tools/spark_reference.py`.
pub struct Rng(u64);

impl Rng {
    /// A stream from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0)
    }

    /// Approximately standard normal: a centered sum of four uniforms, scaled.
    pub fn normal(&mut self) -> f64 {
        let mut u = self.uniform() + self.uniform();
        u += self.uniform();
        u += self.uniform();
        (u - 2.0) * 1.732_050_807_568_877_2
    }
}

/// Rows of 3 latent factors: column `j < copies_from` loads on factor `j % 3` plus noise;
/// column `j >= copies_from` nearly repeats column `j - copies_from` (noise 1e-3). Unscaled
/// columns and the factors.
fn correlated_rows(
    rng: &mut Rng,
    n: usize,
    d: usize,
    copies_from: usize,
) -> (Vec<Vec<f64>>, Vec<[f64; 3]>) {
    let mut rows = Vec::with_capacity(n);
    let mut factors = Vec::with_capacity(n);
    for _ in 0..n {
        let z = [rng.normal(), rng.normal(), rng.normal()];
        let mut base: Vec<f64> = Vec::with_capacity(d);
        for j in 0..d {
            let v = if j < copies_from {
                z[j % 3] * (1.0 + 0.1 * j as f64) + 0.5 * rng.normal()
            } else {
                base[j - copies_from] + 1e-3 * rng.normal()
            };
            base.push(v);
        }
        rows.push(base);
        factors.push(z);
    }
    (rows, factors)
}

fn scaled(base: &[f64]) -> Vec<f64> {
    base.iter()
        .enumerate()
        .map(|(j, v)| (v + 3.0) * SCALES[j % 7])
        .collect()
}

/// Positive weights in [0.5, 2.5).
pub fn weights(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = Rng::new(seed);
    (0..n).map(|_| 0.5 + 2.0 * rng.uniform()).collect()
}

/// 569 x 30, like a real diagnostic table: scales 1e-3..1e3, 10 nearly collinear columns,
/// classes separated but for a little noise.
pub fn scaled_binary() -> Rows {
    let mut rng = Rng::new(12);
    let (base, factors) = correlated_rows(&mut rng, 569, 30, 20);
    base.iter()
        .zip(&factors)
        .map(|(b, z)| {
            let t = z[0] + 0.5 * z[1] - 0.25 * z[2] + 0.3 * rng.normal();
            (if t > 0.0 { 1.0 } else { 0.0 }, scaled(b))
        })
        .collect()
}

/// 800 x 12, 10 classes: argmax of fixed linear scores plus noise, features scaled.
pub fn multiclass10() -> Rows {
    let mut rng = Rng::new(34);
    (0..800)
        .map(|_| {
            let z: Vec<f64> = (0..12).map(|_| rng.normal()).collect();
            let (mut best, mut label) = (f64::NEG_INFINITY, 0);
            for k in 0..10i64 {
                let mut score = 0.0;
                for (j, zj) in z.iter().enumerate() {
                    score += ((k * 7 + j as i64 * 3) % 11 - 5) as f64 * 0.2 * zj;
                }
                score += 0.5 * rng.normal();
                if score > best {
                    (best, label) = (score, k);
                }
            }
            let x = z
                .iter()
                .enumerate()
                .map(|(j, v)| (v + 1.0) * SCALES[j % 7])
                .collect();
            (label as f64, x)
        })
        .collect()
}

/// 500 x 20 regression: scales 1e-3..1e3, 6 nearly collinear columns, label ~ 100 N + 50.
pub fn scaled_linear() -> Rows {
    let mut rng = Rng::new(56);
    let (base, _) = correlated_rows(&mut rng, 500, 20, 14);
    base.iter()
        .map(|b| {
            let mut y = 0.0;
            for (j, bj) in b.iter().enumerate() {
                y += (((j * 5) % 7) as i64 - 3) as f64 * 0.5 * bj;
            }
            ((y + 0.1 * rng.normal()) * 100.0 + 50.0, scaled(b))
        })
        .collect()
}

/// 500 x 20 regression without near copies: 3 latent factors, scales 1e-3..1e3, the label
/// made of 6 columns plus noise.
pub fn sparse_linear() -> Rows {
    let mut rng = Rng::new(57);
    let (base, _) = correlated_rows(&mut rng, 500, 20, 20);
    base.iter()
        .map(|b| {
            let y = 2.0 * b[0] - 1.5 * b[4] + b[7] - 0.5 * b[11] + 0.8 * b[15] - 0.3 * b[19];
            ((y + rng.normal()) * 10.0 + 5.0, scaled(b))
        })
        .collect()
}

/// A problem by the name `tools/spark_reference.py` records it under.
pub fn problem(name: &str) -> Rows {
    match name {
        "scaled_binary" => scaled_binary(),
        "multiclass10" => multiclass10(),
        "scaled_linear" => scaled_linear(),
        "sparse_linear" => sparse_linear(),
        other => panic!("no problem {other}"),
    }
}

/// The rows as an in-process frame of `partitions` batches with columns `label`, `weight`
/// (1 when `weights` is `None`) and `f0..`, and the spec that reads them.
pub fn frame(rows: &Rows, weights: Option<&[f64]>, partitions: usize) -> (LocalFrame, FeatureSpec) {
    let d = rows[0].1.len();
    let per = rows.len().div_ceil(partitions.max(1));
    let batches = (0..rows.len())
        .step_by(per)
        .map(|start| {
            let end = (start + per).min(rows.len());
            let mut columns: Vec<(String, ArrayRef)> = vec![
                (
                    "label".into(),
                    Arc::new(Float64Array::from_iter_values(
                        rows[start..end].iter().map(|r| r.0),
                    )),
                ),
                (
                    "weight".into(),
                    Arc::new(Float64Array::from_iter_values(
                        (start..end).map(|i| weights.map_or(1.0, |w| w[i])),
                    )),
                ),
            ];
            for j in 0..d {
                columns.push((
                    format!("f{j}"),
                    Arc::new(Float64Array::from_iter_values(
                        rows[start..end].iter().map(|r| r.1[j]),
                    )),
                ));
            }
            RecordBatch::try_from_iter(columns).unwrap()
        })
        .collect();
    let spec = FeatureSpec {
        label: "label".into(),
        weight: weights.map(|_| "weight".to_string()),
        features: FeatureCols::Columns((0..d).map(|j| format!("f{j}")).collect()),
    };
    (LocalFrame { batches }, spec)
}

/// Spark's penalty: `regParam`, `elasticNetParam`, `standardization`.
#[derive(Debug, Clone, Copy)]
pub struct Penalty {
    /// `regParam`.
    pub reg: f64,
    /// `elasticNetParam`.
    pub alpha: f64,
    /// `standardization`.
    pub standardization: bool,
}

/// The worst optimality residuals of a fit, in Spark's standardized space.
#[derive(Debug, Clone, Copy, Default)]
pub struct Kkt {
    /// max |∂f/∂β_j + l1_j sign(β_j)| over non-zero coefficients (and intercepts).
    pub nonzero: f64,
    /// max (|∂f/∂β_j| - l1_j) over zero coefficients: ≤ 0 at an optimum.
    pub zero_excess: f64,
    /// Coefficients exactly zero.
    pub zeros: usize,
}

impl Kkt {
    fn add(&mut self, beta: f64, grad: f64, l1: f64) {
        if beta != 0.0 {
            let r = (grad + l1 * beta.signum()).abs();
            self.nonzero = self.nonzero.max(r);
        } else {
            self.zeros += 1;
            let excess = grad.abs() - l1;
            self.zero_excess = self.zero_excess.max(excess);
        }
    }

    /// Asserts the conditions: residual ≤ 1e-6 on non-zero coordinates, |∂f| ≤ l1 (plus
    /// `slack`) on zero coordinates.
    pub fn assert_optimal(&self, case: &str, slack: f64) {
        assert!(self.nonzero <= 1e-6, "{case}: KKT residual {self:?}");
        assert!(self.zero_excess <= slack, "{case}: KKT at zeros {self:?}");
    }
}

/// Weighted mean and unbiased standard deviation of every column, two-pass.
fn moments(columns: impl Iterator<Item = Vec<f64>>, w: &[f64]) -> Vec<(f64, f64)> {
    let ws: f64 = w.iter().sum();
    let ws2: f64 = w.iter().map(|v| v * v).sum();
    columns
        .map(|c| {
            let mean = c.iter().zip(w).map(|(x, wi)| wi * x).sum::<f64>() / ws;
            let m2: f64 = c.iter().zip(w).map(|(x, wi)| wi * (x - mean).powi(2)).sum();
            (mean, (m2 / (ws - ws2 / ws)).sqrt())
        })
        .collect()
}

fn unit_weights(rows: &Rows, weights: Option<&[f64]>) -> Vec<f64> {
    weights.map_or_else(|| vec![1.0; rows.len()], <[f64]>::to_vec)
}

/// Per-coordinate (l1, l2) weights on the standardized coefficient of a feature with std `s`.
fn penalty_on(p: Penalty, s: f64, effective: f64) -> (f64, f64) {
    let (l1, l2) = (p.alpha * effective, (1.0 - p.alpha) * effective);
    if p.standardization {
        (l1, l2)
    } else {
        (l1 / s, l2 / (s * s))
    }
}

/// KKT residuals of a logistic model (binomial: one row; multinomial: one row per class)
/// with original-scale `coefficients` and `intercepts`.
pub fn logistic_kkt(
    rows: &Rows,
    weights: Option<&[f64]>,
    coefficients: &[Vec<f64>],
    intercepts: &[f64],
    p: Penalty,
) -> Kkt {
    let w = unit_weights(rows, weights);
    let ws: f64 = w.iter().sum();
    let d = rows[0].1.len();
    let stats = moments((0..d).map(|j| rows.iter().map(|r| r.1[j]).collect()), &w);
    let sets = coefficients.len();
    let mut grad = vec![vec![0.0; d]; sets];
    let mut grad_b = vec![0.0; sets];
    for ((y, x), wi) in rows.iter().zip(&w) {
        let margins: Vec<f64> = (0..sets)
            .map(|k| {
                intercepts[k]
                    + x.iter()
                        .zip(&coefficients[k])
                        .map(|(a, b)| a * b)
                        .sum::<f64>()
            })
            .collect();
        let residuals: Vec<f64> = if sets == 1 {
            vec![1.0 / (1.0 + (-margins[0]).exp()) - y]
        } else {
            let max = margins.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let z: f64 = margins.iter().map(|m| (m - max).exp()).sum();
            (0..sets)
                .map(|k| (margins[k] - max).exp() / z - f64::from(*y as usize == k))
                .collect()
        };
        for k in 0..sets {
            grad_b[k] += wi * residuals[k] / ws;
            for j in 0..d {
                if stats[j].1 > 0.0 {
                    grad[k][j] += wi * residuals[k] * x[j] / stats[j].1 / ws;
                }
            }
        }
    }
    let mut kkt = Kkt::default();
    for k in 0..sets {
        for j in 0..d {
            let s = stats[j].1;
            let beta = coefficients[k][j] * s;
            let (l1, l2) = penalty_on(p, s, p.reg);
            kkt.add(beta, grad[k][j] + l2 * beta, l1);
        }
        kkt.add(1.0, grad_b[k], 0.0);
    }
    kkt
}

/// KKT residuals of a linear model (intercept fitted) in Spark's standardized space.
pub fn linear_kkt(rows: &Rows, weights: Option<&[f64]>, coefficients: &[f64], p: Penalty) -> Kkt {
    let w = unit_weights(rows, weights);
    let ws: f64 = w.iter().sum();
    let d = rows[0].1.len();
    let stats = moments((0..d).map(|j| rows.iter().map(|r| r.1[j]).collect()), &w);
    let (y_mean, y_std) = moments(std::iter::once(rows.iter().map(|r| r.0).collect()), &w)[0];
    let mut grad = vec![0.0; d];
    for ((y, x), wi) in rows.iter().zip(&w) {
        let fit: f64 = (0..d).map(|j| coefficients[j] * (x[j] - stats[j].0)).sum();
        let r = (fit - (y - y_mean)) / y_std;
        for j in 0..d {
            grad[j] += wi * r * (x[j] - stats[j].0) / stats[j].1 / ws;
        }
    }
    let mut kkt = Kkt::default();
    for j in 0..d {
        let s = stats[j].1;
        let beta = coefficients[j] * s / y_std;
        let (l1, l2) = penalty_on(p, s, p.reg / y_std);
        kkt.add(beta, grad[j] + l2 * beta, l1);
    }
    kkt
}

/// 400 x 8 with classes almost separable by the first factor (label noise 0.02): the
/// unregularized optimum is far out, so only the penalty keeps the problem bounded.
pub fn near_separable() -> Rows {
    let mut rng = Rng::new(78);
    let (base, factors) = correlated_rows(&mut rng, 400, 8, 6);
    base.iter()
        .zip(&factors)
        .map(|(b, z)| {
            let t = z[0] + 0.02 * rng.normal();
            (if t > 0.0 { 1.0 } else { 0.0 }, scaled(b))
        })
        .collect()
}

/// 300 x 60 where only 5 independent features matter: under L1 most coefficients are 0.
pub fn sparse_truth() -> Rows {
    let mut rng = Rng::new(90);
    (0..300)
        .map(|_| {
            let x: Vec<f64> = (0..60).map(|_| rng.normal()).collect();
            let t =
                x[0] - 0.8 * x[7] + 0.6 * x[19] + 0.5 * x[33] - 0.4 * x[51] + 0.5 * rng.normal();
            let scaled = x
                .iter()
                .enumerate()
                .map(|(j, v)| v * SCALES[j % 7])
                .collect();
            (if t > 0.0 { 1.0 } else { 0.0 }, scaled)
        })
        .collect()
}
