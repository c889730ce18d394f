//! Worker-side kernels of k-means: assignment sums (`ml.kmeans.assign`), seeded sampling for
//! initialization (`ml.kmeans.sample`), and cluster predictions as a column.

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, RecordBatch};
use cinder_actors::data::aggregate::Aggregator;
use cinder_actors::data::exec::unit_hash;
use serde::{Deserialize, Serialize};

use crate::blocked;
use crate::features::{FeatureSpec, Rows};

/// Points of a batch as dense vectors (unit length for cosine), with their weights.
pub fn points(
    batch: &RecordBatch,
    spec: &FeatureSpec,
    width: usize,
    cosine: bool,
) -> Result<Vec<(Vec<f64>, f64)>, String> {
    let rows = Rows::new_features_only(batch, spec)?;
    let weights: Vec<f64> = match &spec.weight {
        Some(w) => crate::features::numeric_column(batch, w)?,
        None => vec![1.0; rows.len()],
    };
    (0..rows.len())
        .map(|i| {
            let mut p = vec![0.0; width];
            let mut bad = None;
            rows.for_each(i, |j, v| match p.get_mut(j) {
                Some(slot) => *slot = v,
                None => bad = Some(j),
            });
            if let Some(j) = bad {
                return Err(format!("feature index {j} beyond the {width} features"));
            }
            if cosine {
                let norm = p.iter().map(|v| v * v).sum::<f64>().sqrt();
                if norm == 0.0 {
                    return Err("cosine distance is undefined for zero vectors".into());
                }
                p.iter_mut().for_each(|v| *v /= norm);
            }
            Ok((p, weights[i]))
        })
        .collect()
}

/// Distance between a point and a center.
pub fn distance(a: &[f64], b: &[f64], cosine: bool) -> f64 {
    if cosine {
        let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        let nb = b.iter().map(|v| v * v).sum::<f64>().sqrt();
        1.0 - dot / nb
    } else {
        a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
    }
}

/// Index and distance of the closest center (ties: the lowest index).
pub fn closest(p: &[f64], centers: &[Vec<f64>], cosine: bool) -> (usize, f64) {
    let mut best = (0, f64::INFINITY);
    for (k, c) in centers.iter().enumerate() {
        let d = distance(p, c, cosine);
        if d < best.1 {
            best = (k, d);
        }
    }
    best
}

/// Euclidean assignment over dense feature columns, a block of rows at a time: the distances
/// to every center column by column, the closest center per row (ties: the lowest index), then
/// the per-center sums. Each distance adds its terms in feature order and each sum its rows in
/// row order, as the row-by-row loop does, so the results are the same bits.
fn assign_dense(
    acc: &mut Assignment,
    cols: &[std::borrow::Cow<'_, [f64]>],
    weights: Option<&[f64]>,
    centers: &[Vec<f64>],
) {
    let n = cols.first().map_or(0, |c| c.len());
    let mut dist = vec![vec![0.0; blocked::BLOCK]; centers.len()];
    let mut best = vec![0usize; blocked::BLOCK];
    for (s, e) in blocked::blocks(n) {
        let len = e - s;
        for dk in dist.iter_mut() {
            dk[..len].fill(0.0);
        }
        for (j, col) in cols.iter().enumerate() {
            let x = &col[s..e];
            for (dk, center) in dist.iter_mut().zip(centers) {
                let c = center[j];
                for (d, v) in dk[..len].iter_mut().zip(x) {
                    *d += (v - c) * (v - c);
                }
            }
        }
        for r in 0..len {
            let mut b = (0, f64::INFINITY);
            for (k, dk) in dist.iter().enumerate() {
                if dk[r] < b.1 {
                    b = (k, dk[r]);
                }
            }
            best[r] = b.0;
            let w = weights.map_or(1.0, |w| w[s + r]);
            acc.cost += w * b.1;
            acc.weights[b.0] += w;
        }
        for (j, col) in cols.iter().enumerate() {
            for (r, v) in col[s..e].iter().enumerate() {
                let w = weights.map_or(1.0, |w| w[s + r]);
                acc.sums[best[r]][j] += w * v;
            }
        }
    }
}

/// Arguments shared by the k-means kernels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KMeansArgs {
    /// Feature columns (and weight).
    pub spec: FeatureSpec,
    /// Vector size.
    pub width: usize,
    /// Current centers.
    pub centers: Vec<Vec<f64>>,
    /// Cosine distance (points normalized) instead of squared Euclidean.
    pub cosine: bool,
}

/// Per-center weighted sums and the total cost.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    /// Σ w x per center.
    pub sums: Vec<Vec<f64>>,
    /// Σ w per center.
    pub weights: Vec<f64>,
    /// Σ w · distance to the closest center.
    pub cost: f64,
}

/// `ml.kmeans.assign`.
pub struct Assign;

impl Aggregator for Assign {
    const NAME: &'static str = "ml.kmeans.assign";
    type Args = KMeansArgs;
    type Acc = Assignment;
    fn zero(a: &KMeansArgs) -> Assignment {
        Assignment {
            sums: vec![vec![0.0; a.width]; a.centers.len()],
            weights: vec![0.0; a.centers.len()],
            cost: 0.0,
        }
    }
    fn seq(mut acc: Assignment, batch: &RecordBatch, a: &KMeansArgs) -> Result<Assignment, String> {
        if !a.cosine {
            let rows = Rows::new_features_only(batch, &a.spec)?;
            if let Some(cols) = rows.dense_columns().filter(|c| c.len() == a.width) {
                let weights = match &a.spec.weight {
                    Some(w) => Some(crate::features::column_values(batch, w)?),
                    None => None,
                };
                assign_dense(&mut acc, cols, weights.as_deref(), &a.centers);
                return Ok(acc);
            }
        }
        for (p, w) in points(batch, &a.spec, a.width, a.cosine)? {
            let (k, d) = closest(&p, &a.centers, a.cosine);
            acc.cost += w * d;
            acc.weights[k] += w;
            for (s, v) in acc.sums[k].iter_mut().zip(&p) {
                *s += w * v;
            }
        }
        Ok(acc)
    }
    fn comb(mut a: Assignment, b: Assignment, _: &KMeansArgs) -> Assignment {
        for (x, y) in a.sums.iter_mut().zip(&b.sums) {
            for (u, v) in x.iter_mut().zip(y) {
                *u += v;
            }
        }
        for (x, y) in a.weights.iter_mut().zip(&b.weights) {
            *x += y;
        }
        a.cost += b.cost;
        a
    }
}
cinder_actors::register_aggregator!(Assign);

/// Arguments of the sampling kernel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleArgs {
    /// Points and centers.
    pub base: KMeansArgs,
    /// Seed of this sampling round.
    pub seed: u64,
    /// With no centers: keep the `keep` points of smallest hash (uniform sample). With
    /// centers: keep each point with probability `min(1, factor · w · d / total_cost)`.
    pub keep: usize,
    /// Oversampling factor (`2k` in k-means||).
    pub factor: f64,
    /// Cost of the current centers over the whole dataset.
    pub total_cost: f64,
}

/// Sampled points with their hash (for the uniform case).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sampled {
    /// `(hash, point)`.
    pub points: Vec<(f64, Vec<f64>)>,
}

/// `ml.kmeans.sample`: a seeded sample of points, deterministic per (seed, partition, row).
pub struct Sample;

impl Aggregator for Sample {
    const NAME: &'static str = "ml.kmeans.sample";
    type Args = SampleArgs;
    type Acc = Sampled;
    fn zero(_: &SampleArgs) -> Sampled {
        Sampled::default()
    }
    fn seq(mut acc: Sampled, batch: &RecordBatch, a: &SampleArgs) -> Result<Sampled, String> {
        // The partition index is not known here; the first value of the batch salts the hash.
        let pts = points(batch, &a.base.spec, a.base.width, a.base.cosine)?;
        let salt = pts.first().map_or(0, |(p, _)| {
            p.iter().fold(0u64, |h, v| h.rotate_left(7) ^ v.to_bits())
        });
        for (row, (p, w)) in pts.into_iter().enumerate() {
            let h = unit_hash(a.seed ^ salt, 0, row as u64);
            if a.base.centers.is_empty() {
                acc.points.push((h, p));
            } else {
                let (_, d) = closest(&p, &a.base.centers, a.base.cosine);
                if h < (a.factor * w * d / a.total_cost).min(1.0) {
                    acc.points.push((h, p));
                }
            }
        }
        if a.base.centers.is_empty() {
            acc.points.sort_by(|x, y| x.0.total_cmp(&y.0));
            acc.points.truncate(a.keep);
        }
        Ok(acc)
    }
    fn comb(mut a: Sampled, b: Sampled, args: &SampleArgs) -> Sampled {
        a.points.extend(b.points);
        if args.base.centers.is_empty() {
            a.points.sort_by(|x, y| x.0.total_cmp(&y.0));
            a.points.truncate(args.keep);
        }
        a
    }
}
cinder_actors::register_aggregator!(Sample);

/// `ml.kmeans.prediction`: the index of the closest center, as Float64.
pub fn prediction_column(batch: &RecordBatch, args: &[u8]) -> Result<ArrayRef, String> {
    let a: KMeansArgs = rmp_serde::from_slice(args).map_err(|e| e.to_string())?;
    let values: Vec<f64> = points(batch, &a.spec, a.width, a.cosine)?
        .iter()
        .map(|(p, _)| closest(p, &a.centers, a.cosine).0 as f64)
        .collect();
    Ok(Arc::new(Float64Array::from(values)))
}
cinder_actors::register_column!("ml.kmeans.prediction", prediction_column);
