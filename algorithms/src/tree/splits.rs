//! Candidate thresholds of continuous features, as Spark's `RandomForest.findSplits` chooses
//! them: the non-zero values of a (sampled) set of rows are counted per distinct value, the
//! zeros are added as one count, and thresholds are midpoints between adjacent distinct values,
//! every one of them when there are few enough, else at the weighted quantiles. On data of at
//! most `max(maxBins², 10000)` rows every row is used, so the thresholds equal Spark's.

use arrow_array::RecordBatch;
use cinder_actors::data::aggregate::Aggregator;
use serde::{Deserialize, Serialize};

use super::binned::partition_salt;
use crate::features::{FeatureSpec, Rows};

/// Spark's sample fraction for finding splits: all rows up to `max(maxBins², 10000)`.
pub fn sample_fraction(max_bins: usize, num_examples: u64) -> f64 {
    let required = (max_bins * max_bins).max(10_000) as f64;
    if required < num_examples as f64 {
        required / num_examples as f64
    } else {
        1.0
    }
}

/// Spark's `findSplitsForContinuousFeature`: `values` are the distinct non-zero values with
/// their summed weights, ascending; `weighted_samples` is the expected weight of the sample
/// (zeros included); `unweighted` the number of non-zero values seen (for the tolerance).
pub fn continuous_thresholds(
    values: &[(f64, f64)],
    weighted_samples: f64,
    unweighted: f64,
    num_splits: usize,
) -> Vec<f64> {
    if values.is_empty() {
        return Vec::new();
    }
    let part: f64 = values.iter().map(|(_, w)| w).sum();
    let tolerance = EPSILON_SPARK * unweighted * 100.0;
    let mut counts: Vec<(f64, f64)> = values.to_vec();
    if weighted_samples - part > tolerance {
        counts.push((0.0, weighted_samples - part));
        counts.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    let possible = counts.len() - 1;
    if possible == 0 {
        return Vec::new();
    }
    if possible <= num_splits {
        return (1..=possible)
            .map(|i| (counts[i - 1].0 + counts[i].0) / 2.0)
            .collect();
    }
    let stride = weighted_samples / (num_splits + 1) as f64;
    let mut splits = Vec::new();
    let mut current = counts[0].1;
    let mut target = stride;
    for i in 1..counts.len() {
        let previous = current;
        current += counts[i].1;
        if (previous - target).abs() < (current - target).abs() {
            splits.push((counts[i - 1].0 + counts[i].0) / 2.0);
            target += stride;
        }
    }
    splits
}

const EPSILON_SPARK: f64 = f64::EPSILON;

/// Arguments of `ml.tree.samples`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleArgs {
    /// Label, weight and features.
    pub spec: FeatureSpec,
    /// Vector size.
    pub num_features: usize,
    /// Fraction of rows kept (1: all).
    pub fraction: f64,
    /// Seed of the row sample.
    pub seed: u64,
}

/// Per feature, the distinct non-zero values (ascending) with their summed weights, and the
/// number of non-zero values seen.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FeatureValues {
    /// `(value, Σ w)` per feature.
    pub values: Vec<Vec<(f64, f64)>>,
    /// Non-zero values seen per feature.
    pub seen: Vec<f64>,
}

fn merge(a: &[(f64, f64)], b: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if j == b.len() || (i < a.len() && a[i].0 < b[j].0) {
            out.push(a[i]);
            i += 1;
        } else if i == a.len() || b[j].0 < a[i].0 {
            out.push(b[j]);
            j += 1;
        } else {
            out.push((a[i].0, a[i].1 + b[j].1));
            i += 1;
            j += 1;
        }
    }
    out
}

/// `ml.tree.samples`: the distinct feature values of a seeded row sample.
pub struct FeatureSamples;

impl Aggregator for FeatureSamples {
    const NAME: &'static str = "ml.tree.samples";
    type Args = SampleArgs;
    type Acc = FeatureValues;

    fn zero(a: &SampleArgs) -> FeatureValues {
        FeatureValues {
            values: vec![Vec::new(); a.num_features],
            seen: vec![0.0; a.num_features],
        }
    }

    fn seq(
        mut acc: FeatureValues,
        batch: &RecordBatch,
        a: &SampleArgs,
    ) -> Result<FeatureValues, String> {
        let rows = Rows::new(batch, &a.spec)?;
        let salt = partition_salt(batch, &a.spec)?;
        let mut local: Vec<Vec<(f64, f64)>> = vec![Vec::new(); a.num_features];
        for i in 0..rows.len() {
            if a.fraction < 1.0 && super::bagging::unit(a.seed, salt, i as u64) >= a.fraction {
                continue;
            }
            let w = rows.weight(i);
            let mut bad = None;
            rows.for_each(i, |j, v| {
                if v != 0.0 {
                    match local.get_mut(j) {
                        Some(list) if v.is_finite() => list.push((v, w)),
                        _ => bad = Some((j, v)),
                    }
                }
            });
            if let Some((j, v)) = bad {
                return Err(format!(
                    "row {i}: feature {j} = {v} (features must be finite and below {})",
                    a.num_features
                ));
            }
        }
        for (j, mut list) in local.into_iter().enumerate() {
            acc.seen[j] += list.len() as f64;
            list.sort_by(|x, y| x.0.total_cmp(&y.0));
            let mut distinct: Vec<(f64, f64)> = Vec::with_capacity(list.len());
            for (v, w) in list {
                match distinct.last_mut() {
                    Some(last) if last.0 == v => last.1 += w,
                    _ => distinct.push((v, w)),
                }
            }
            acc.values[j] = merge(&acc.values[j], &distinct);
        }
        Ok(acc)
    }

    fn comb(mut a: FeatureValues, b: FeatureValues, _: &SampleArgs) -> FeatureValues {
        for (j, list) in b.values.iter().enumerate() {
            a.values[j] = merge(&a.values[j], list);
            a.seen[j] += b.seen[j];
        }
        a
    }
}
cinder_actors::register_aggregator!(FeatureSamples);

/// The bin of `value` among ascending `thresholds` (Spark's `TreePoint.findBin`): the number
/// of thresholds below it, so `value <= thresholds[s]` exactly when its bin is at most `s`.
#[inline]
pub fn bin_of(value: f64, thresholds: &[f64]) -> usize {
    thresholds.partition_point(|t| *t < value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_values_give_every_midpoint_and_zeros_count() {
        // Values 1, 2 (non-zero) in 4 rows: two zeros are implied.
        let t = continuous_thresholds(&[(1.0, 1.0), (2.0, 1.0)], 4.0, 2.0, 31);
        assert_eq!(t, vec![0.5, 1.5]);
        let none = continuous_thresholds(&[(3.0, 2.0)], 2.0, 2.0, 31);
        assert!(none.is_empty(), "a constant feature has no split");
    }

    #[test]
    fn many_values_give_weighted_quantiles() {
        let values: Vec<(f64, f64)> = (1..=100).map(|v| (f64::from(v), 1.0)).collect();
        let t = continuous_thresholds(&values, 100.0, 100.0, 3);
        assert_eq!(t, vec![25.5, 50.5, 75.5]);
        for (v, expected) in [(25.0, 0), (25.5, 0), (26.0, 1), (100.0, 3), (-1.0, 0)] {
            assert_eq!(bin_of(v, &t), expected, "bin of {v}");
        }
    }

    #[test]
    fn merging_sums_equal_values() {
        let m = merge(&[(1.0, 1.0), (3.0, 2.0)], &[(1.0, 0.5), (2.0, 1.0)]);
        assert_eq!(m, vec![(1.0, 1.5), (2.0, 1.0), (3.0, 2.0)]);
    }
}
