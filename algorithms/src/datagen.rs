//! Deterministic synthetic data for benchmarks and tests: registered generators whose partition
//! `p` depends only on `(seed, p)`, so every run (and every recomputation) sees the same rows.

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch};
use cinder_actors::data::exec::unit_hash;
use serde::{Deserialize, Serialize};

/// Arguments of the synthetic generators.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SyntheticArgs {
    /// Rows per partition.
    pub rows_per_partition: u64,
    /// Feature columns `f0..` (clusters: dimensions; ratings: unused).
    pub features: u32,
    /// Clusters (k-means data) or users (ratings).
    pub groups: u64,
    /// Items (ratings).
    pub items: u64,
    /// Seed.
    pub seed: u64,
}

fn decode(args: &[u8]) -> Result<SyntheticArgs, String> {
    rmp_serde::from_slice(args).map_err(|e| format!("bad arguments: {e}"))
}

/// True coefficient `j` of the linear and logistic generators.
pub fn true_weight(j: u32) -> f64 {
    let sign = if j % 2 == 0 { 1.0 } else { -1.0 };
    sign * f64::from(1 + j % 5) / 5.0
}

fn features(a: &SyntheticArgs, p: u32) -> Vec<Vec<f64>> {
    (0..a.features)
        .map(|j| {
            (0..a.rows_per_partition)
                .map(|r| {
                    2.0 * unit_hash(a.seed, p, r * u64::from(a.features + 1) + u64::from(j)) - 1.0
                })
                .collect()
        })
        .collect()
}

fn noise(a: &SyntheticArgs, p: u32, r: u64) -> f64 {
    2.0 * unit_hash(a.seed ^ 0x9e37, p, r) - 1.0
}

fn batch(cols: Vec<Vec<f64>>, label: Vec<f64>) -> Result<RecordBatch, String> {
    let mut fields: Vec<(String, ArrayRef)> =
        vec![("label".into(), Arc::new(Float64Array::from(label)))];
    for (j, c) in cols.into_iter().enumerate() {
        fields.push((format!("f{j}"), Arc::new(Float64Array::from(c))));
    }
    RecordBatch::try_from_iter(fields).map_err(|e| e.to_string())
}

/// `ml.synthetic.classification`: features uniform in [-1, 1], label 1 when a fixed linear
/// score plus noise is positive.
pub fn classification(p: u32, _n: u32, args: &[u8]) -> Result<RecordBatch, String> {
    let a = decode(args)?;
    let cols = features(&a, p);
    let label = (0..a.rows_per_partition as usize)
        .map(|r| {
            let score: f64 = cols
                .iter()
                .enumerate()
                .map(|(j, c)| true_weight(j as u32) * c[r])
                .sum();
            if score + noise(&a, p, r as u64) > 0.0 {
                1.0
            } else {
                0.0
            }
        })
        .collect();
    batch(cols, label)
}
cinder_actors::register_generator!("ml.synthetic.classification", classification);

/// `ml.synthetic.regression`: label = 2 + Σ w_j f_j + noise.
pub fn regression(p: u32, _n: u32, args: &[u8]) -> Result<RecordBatch, String> {
    let a = decode(args)?;
    let cols = features(&a, p);
    let label = (0..a.rows_per_partition as usize)
        .map(|r| {
            2.0 + cols
                .iter()
                .enumerate()
                .map(|(j, c)| true_weight(j as u32) * c[r])
                .sum::<f64>()
                + 0.1 * noise(&a, p, r as u64)
        })
        .collect();
    batch(cols, label)
}
cinder_actors::register_generator!("ml.synthetic.regression", regression);

/// `ml.synthetic.clusters`: `groups` well separated centers plus uniform noise.
pub fn clusters(p: u32, _n: u32, args: &[u8]) -> Result<RecordBatch, String> {
    let a = decode(args)?;
    let cols = features(&a, p);
    let shifted: Vec<Vec<f64>> = cols
        .iter()
        .enumerate()
        .map(|(j, c)| {
            c.iter()
                .enumerate()
                .map(|(r, v)| {
                    let g = unit_hash(a.seed ^ 0x51, p, r as u64) * a.groups as f64;
                    let center = ((g as u64 * 7 + j as u64 * 3) % 11) as f64 * 2.0;
                    center + 0.5 * v
                })
                .collect()
        })
        .collect();
    batch(shifted, vec![0.0; a.rows_per_partition as usize])
}
cinder_actors::register_generator!("ml.synthetic.clusters", clusters);

/// `ml.synthetic.ratings`: `user`, `item`, `rating` from rank-3 latent factors plus noise,
/// ratings in [1, 5].
pub fn ratings(p: u32, _n: u32, args: &[u8]) -> Result<RecordBatch, String> {
    let a = decode(args)?;
    let n = a.rows_per_partition;
    let latent = |kind: u32, id: u64, d: u64| 2.0 * unit_hash(a.seed, kind, id * 3 + d) - 1.0;
    let mut users = Vec::with_capacity(n as usize);
    let mut items = Vec::with_capacity(n as usize);
    let mut ratings = Vec::with_capacity(n as usize);
    for r in 0..n {
        let u = (unit_hash(a.seed ^ 1, p, r) * a.groups as f64) as u64;
        let i = (unit_hash(a.seed ^ 2, p, r) * a.items as f64) as u64;
        let score: f64 = (0..3).map(|d| latent(1, u, d) * latent(2, i, d)).sum();
        let rating = (3.0 + 1.5 * score + 0.5 * noise(&a, p, r)).clamp(1.0, 5.0);
        users.push(u as i64);
        items.push(i as i64);
        ratings.push(rating);
    }
    RecordBatch::try_from_iter([
        ("user", Arc::new(Int64Array::from(users)) as ArrayRef),
        ("item", Arc::new(Int64Array::from(items)) as ArrayRef),
        ("rating", Arc::new(Float64Array::from(ratings)) as ArrayRef),
    ])
    .map_err(|e| e.to_string())
}
cinder_actors::register_generator!("ml.synthetic.ratings", ratings);
