//! Worker-side kernels of isotonic regression: a sample of the feature (range bounds), the
//! range bucket of each row as a column (so a hash shuffle on it keeps every bucket's x-range
//! whole), pool-adjacent-violators within each bucket of a partition (the
//! `ml.isotonic.pav` aggregator: the parallel step of Spark's `parallelPoolAdjacentViolators`),
//! and predictions by Spark's interpolation between boundaries.

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch};
use cinder_actors::data::aggregate::Aggregator;
use serde::{Deserialize, Serialize};

use crate::features::{FeatureSpec, Rows};

/// Which columns a pass reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IsotonicArgs {
    /// Label, weight and feature columns.
    pub spec: FeatureSpec,
    /// Spark's `featureIndex`: the feature the fit is over.
    pub feature_index: usize,
    /// `false` fits an antitonic (decreasing) function: labels are negated.
    pub isotonic: bool,
    /// Every `stride`-th row is sampled (`ml.isotonic.sample`).
    pub stride: u64,
    /// Upper bounds of the ranges (bucket `b` holds `bounds[b-1] < x <= bounds[b]`).
    pub bounds: Vec<f64>,
}

/// `(label, feature, weight)` of every row, labels negated for antitonic fits; rows with
/// weight 0 are dropped (as Spark), bad values are errors.
fn triples(batch: &RecordBatch, a: &IsotonicArgs) -> Result<Vec<(f64, f64, f64)>, String> {
    let rows = Rows::new(batch, &a.spec)?;
    if !rows.is_empty() && rows.num_features() <= a.feature_index {
        return Err(format!(
            "featureIndex {} is not below the number of features {}",
            a.feature_index,
            rows.num_features()
        ));
    }
    let sign = if a.isotonic { 1.0 } else { -1.0 };
    let mut out = Vec::with_capacity(rows.len());
    for i in 0..rows.len() {
        let (y, w) = (rows.label(i), rows.weight(i));
        let mut x = 0.0;
        rows.for_each(i, |j, v| {
            if j == a.feature_index {
                x = v;
            }
        });
        if !(w >= 0.0 && w.is_finite()) {
            return Err(format!("weight {w} is not a non-negative number"));
        }
        if !x.is_finite() || !y.is_finite() {
            return Err(format!("label {y} or feature {x} is not finite"));
        }
        if w > 0.0 {
            out.push((sign * y, x, w));
        }
    }
    Ok(out)
}

/// `ml.isotonic.sample`: every `stride`-th feature value of each partition, for range bounds.
pub struct IsotonicSample;

impl Aggregator for IsotonicSample {
    const NAME: &'static str = "ml.isotonic.sample";
    type Args = IsotonicArgs;
    type Acc = (u64, Vec<f64>);

    fn zero(_: &IsotonicArgs) -> (u64, Vec<f64>) {
        (0, Vec::new())
    }

    fn seq(
        mut acc: (u64, Vec<f64>),
        batch: &RecordBatch,
        a: &IsotonicArgs,
    ) -> Result<(u64, Vec<f64>), String> {
        let rows = triples(batch, a)?;
        acc.0 += rows.len() as u64;
        acc.1
            .extend(rows.iter().step_by(a.stride.max(1) as usize).map(|r| r.1));
        Ok(acc)
    }

    fn comb(mut a: (u64, Vec<f64>), b: (u64, Vec<f64>), _: &IsotonicArgs) -> (u64, Vec<f64>) {
        a.0 += b.0;
        a.1.extend(b.1);
        a
    }
}
cinder_actors::register_aggregator!(IsotonicSample);

/// The range bucket of `x`: the first bound `>= x` (the last bucket past every bound).
fn bucket_of(bounds: &[f64], x: f64) -> usize {
    bounds.partition_point(|b| *b < x)
}

/// `ml.isotonic.bucket`: each row's range bucket (Int64).
pub fn bucket_column(batch: &RecordBatch, args: &[u8]) -> Result<ArrayRef, String> {
    let a: IsotonicArgs = rmp_serde::from_slice(args).map_err(|e| e.to_string())?;
    let rows = Rows::new_features_only(batch, &a.spec)?;
    let values: Vec<i64> = (0..rows.len())
        .map(|i| {
            let mut x = 0.0;
            rows.for_each(i, |j, v| {
                if j == a.feature_index {
                    x = v;
                }
            });
            bucket_of(&a.bounds, x) as i64
        })
        .collect();
    Ok(Arc::new(Int64Array::from(values)))
}
cinder_actors::register_column!("ml.isotonic.bucket", bucket_column);

/// Points with equal features merged into one (weighted mean label, summed weight), as Spark's
/// `makeUnique`; `sorted` is ordered by feature.
fn make_unique(sorted: &[(f64, f64, f64)]) -> Vec<(f64, f64, f64)> {
    let mut out: Vec<(f64, f64, f64)> = Vec::with_capacity(sorted.len());
    let mut sum = 0.0;
    for &(y, x, w) in sorted {
        match out.last_mut() {
            Some(last) if last.1 == x => {
                sum += y * w;
                last.2 += w;
                last.0 = sum / last.2;
            }
            _ => {
                sum = y * w;
                out.push((y, x, w));
            }
        }
    }
    out
}

/// Pool adjacent violators over points sorted by feature (Spark's algorithm: merge on `>=`,
/// so equal neighbours pool too), then Spark's output: one point per block of one feature
/// value, else its first and last feature value with half the weight each.
pub fn pool_adjacent_violators(sorted: &[(f64, f64, f64)]) -> Vec<(f64, f64, f64)> {
    let points = make_unique(sorted);
    let n = points.len();
    if n == 0 {
        return Vec::new();
    }
    // bounds[start] = end and bounds[end] = start of each block; sums at the start.
    let mut bounds: Vec<usize> = (0..n).collect();
    let mut sums: Vec<(f64, f64)> = points.iter().map(|(y, _, w)| (*w, w * y)).collect();
    let average = |sums: &[(f64, f64)], i: usize| sums[i].1 / sums[i].0;
    let merge = |bounds: &mut Vec<usize>, sums: &mut Vec<(f64, f64)>, a: usize, b: usize| {
        let end = bounds[b];
        bounds[a] = end;
        bounds[end] = a;
        sums[a] = (sums[a].0 + sums[b].0, sums[a].1 + sums[b].1);
        a
    };
    let mut i = 0;
    while bounds[i] + 1 < n {
        let next = bounds[i] + 1;
        if average(&sums, i) >= average(&sums, next) {
            merge(&mut bounds, &mut sums, i, next);
            while i > 0 && average(&sums, bounds[i - 1]) >= average(&sums, i) {
                let prev = bounds[i - 1];
                i = merge(&mut bounds, &mut sums, prev, i);
            }
        } else {
            i = next;
        }
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < n {
        let end = bounds[i];
        let avg = average(&sums, i);
        if points[end].1 > points[i].1 {
            out.push((avg, points[i].1, sums[i].0 / 2.0));
            out.push((avg, points[end].1, sums[i].0 / 2.0));
        } else {
            out.push((avg, points[i].1, sums[i].0));
        }
        i = end + 1;
    }
    out
}

/// Sorts by feature, then label (Spark's order).
pub fn sort_points(points: &mut [(f64, f64, f64)]) {
    points.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.total_cmp(&b.0)));
}

/// The pooled points of some partitions, per range bucket.
pub type Pooled = Vec<(u64, Vec<(f64, f64, f64)>)>;

/// The `ml.isotonic.pav` aggregator: PAV within each range bucket of a partition.
pub struct IsotonicPav;

impl Aggregator for IsotonicPav {
    const NAME: &'static str = "ml.isotonic.pav";
    type Args = IsotonicArgs;
    type Acc = Pooled;

    fn zero(_: &IsotonicArgs) -> Pooled {
        Vec::new()
    }

    fn seq(mut acc: Pooled, batch: &RecordBatch, a: &IsotonicArgs) -> Result<Pooled, String> {
        let points = triples(batch, a)?;
        // The bucket of a row is a function of its feature (the shuffle put whole buckets
        // here), so it is recomputed rather than read.
        let mut groups: std::collections::BTreeMap<u64, Vec<(f64, f64, f64)>> =
            std::collections::BTreeMap::new();
        for p in points {
            groups
                .entry(bucket_of(&a.bounds, p.1) as u64)
                .or_default()
                .push(p);
        }
        for (bucket, mut group) in groups {
            sort_points(&mut group);
            acc.push((bucket, pool_adjacent_violators(&group)));
        }
        Ok(acc)
    }

    fn comb(mut a: Pooled, b: Pooled, _: &IsotonicArgs) -> Pooled {
        a.extend(b);
        a
    }
}
cinder_actors::register_aggregator!(IsotonicPav);

/// A fitted model as the prediction kernel needs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IsotonicPredictArgs {
    /// Feature columns.
    pub spec: FeatureSpec,
    /// The feature used.
    pub feature_index: usize,
    /// Increasing feature values.
    pub boundaries: Vec<f64>,
    /// The fitted value at each boundary.
    pub predictions: Vec<f64>,
}

impl IsotonicPredictArgs {
    /// Spark's `predict`: the boundary's value on a boundary, linear interpolation between
    /// two, the first or last value outside.
    pub fn predict(&self, x: f64) -> f64 {
        let (b, p) = (&self.boundaries, &self.predictions);
        match b.binary_search_by(|v| v.total_cmp(&x)) {
            Ok(i) => p[i],
            Err(0) => p[0],
            Err(i) if i == b.len() => p[b.len() - 1],
            Err(i) => p[i - 1] + (p[i] - p[i - 1]) * (x - b[i - 1]) / (b[i] - b[i - 1]),
        }
    }
}

/// `ml.isotonic.prediction`: the fitted function at each row's feature.
pub fn prediction_column(batch: &RecordBatch, args: &[u8]) -> Result<ArrayRef, String> {
    let m: IsotonicPredictArgs = rmp_serde::from_slice(args).map_err(|e| e.to_string())?;
    let rows = Rows::new_features_only(batch, &m.spec)?;
    let values: Vec<f64> = (0..rows.len())
        .map(|i| {
            let mut x = 0.0;
            rows.for_each(i, |j, v| {
                if j == m.feature_index {
                    x = v;
                }
            });
            m.predict(x)
        })
        .collect();
    Ok(Arc::new(Float64Array::from(values)))
}
cinder_actors::register_column!("ml.isotonic.prediction", prediction_column);
