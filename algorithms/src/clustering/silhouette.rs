//! Spark's `ClusteringEvaluator` (silhouette with squared Euclidean distance), computed in two
//! passes from per-cluster statistics instead of all pairs.

use std::collections::BTreeMap;

use arrow_array::RecordBatch;
use cinder_actors::data::aggregate::Aggregator;
use serde::{Deserialize, Serialize};

use super::kmeans_kernel::points;
use crate::features::{numeric_column, FeatureSpec};
use crate::frame::Frame;
use crate::MlError;

/// Columns and sizes the silhouette kernels read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SilhouetteArgs {
    /// Feature columns.
    pub spec: FeatureSpec,
    /// Vector size.
    pub width: usize,
    /// Cluster prediction column.
    pub prediction: String,
    /// Per cluster: (weight, Σ w x, Σ w ||x||²), from the first pass.
    pub clusters: BTreeMap<u64, (f64, Vec<f64>, f64)>,
}

/// `ml.silhouette.stats`: per-cluster weight, vector sum and squared-norm sum.
pub struct ClusterStats;

impl Aggregator for ClusterStats {
    const NAME: &'static str = "ml.silhouette.stats";
    type Args = SilhouetteArgs;
    type Acc = BTreeMap<u64, (f64, Vec<f64>, f64)>;
    fn zero(_: &SilhouetteArgs) -> Self::Acc {
        BTreeMap::new()
    }
    fn seq(
        mut acc: Self::Acc,
        batch: &RecordBatch,
        a: &SilhouetteArgs,
    ) -> Result<Self::Acc, String> {
        let clusters = numeric_column(batch, &a.prediction)?;
        for ((p, w), c) in points(batch, &a.spec, a.width, false)?
            .into_iter()
            .zip(clusters)
        {
            let e = acc
                .entry(c as u64)
                .or_insert_with(|| (0.0, vec![0.0; a.width], 0.0));
            e.0 += w;
            for (s, v) in e.1.iter_mut().zip(&p) {
                *s += w * v;
            }
            e.2 += w * p.iter().map(|v| v * v).sum::<f64>();
        }
        Ok(acc)
    }
    fn comb(mut a: Self::Acc, b: Self::Acc, _: &SilhouetteArgs) -> Self::Acc {
        for (k, (w, s, n)) in b {
            let e = a.entry(k).or_insert_with(|| (0.0, vec![0.0; s.len()], 0.0));
            e.0 += w;
            for (x, y) in e.1.iter_mut().zip(&s) {
                *x += y;
            }
            e.2 += n;
        }
        a
    }
}
cinder_actors::register_aggregator!(ClusterStats);

/// `ml.silhouette.score`: Σ w · s(x) and Σ w.
pub struct SilhouetteScore;

impl Aggregator for SilhouetteScore {
    const NAME: &'static str = "ml.silhouette.score";
    type Args = SilhouetteArgs;
    type Acc = (f64, f64);
    fn zero(_: &SilhouetteArgs) -> (f64, f64) {
        (0.0, 0.0)
    }
    fn seq(
        mut acc: (f64, f64),
        batch: &RecordBatch,
        a: &SilhouetteArgs,
    ) -> Result<(f64, f64), String> {
        let clusters = numeric_column(batch, &a.prediction)?;
        for ((p, w), c) in points(batch, &a.spec, a.width, false)?
            .into_iter()
            .zip(clusters)
        {
            let norm: f64 = p.iter().map(|v| v * v).sum();
            let avg = |(n, y, psi): &(f64, Vec<f64>, f64)| {
                norm + psi / n - 2.0 * p.iter().zip(y).map(|(x, y)| x * y).sum::<f64>() / n
            };
            let own = c as u64;
            let Some(mine) = a.clusters.get(&own) else {
                continue;
            };
            let s = if mine.0 <= 1.0 {
                0.0
            } else {
                let within = avg(mine) * mine.0 / (mine.0 - 1.0);
                let nearest = a
                    .clusters
                    .iter()
                    .filter(|(k, _)| **k != own)
                    .map(|(_, stats)| avg(stats))
                    .fold(f64::INFINITY, f64::min);
                if within < nearest {
                    1.0 - within / nearest
                } else if within > nearest {
                    nearest / within - 1.0
                } else {
                    0.0
                }
            };
            acc.0 += w * s;
            acc.1 += w;
        }
        Ok(acc)
    }
    fn comb(a: (f64, f64), b: (f64, f64), _: &SilhouetteArgs) -> (f64, f64) {
        (a.0 + b.0, a.1 + b.1)
    }
}
cinder_actors::register_aggregator!(SilhouetteScore);

/// Spark's `ClusteringEvaluator` with `silhouette` and squared Euclidean distance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusteringEvaluator {
    /// Feature columns.
    pub columns: FeatureSpec,
    /// Cluster prediction column.
    pub prediction: String,
}

impl ClusteringEvaluator {
    /// The mean silhouette (weighted).
    pub fn silhouette<F: Frame>(&self, data: &F) -> Result<f64, MlError> {
        let width =
            data.tree_aggregate::<crate::features::FeatureWidth>(&self.columns, 2)? as usize;
        let mut args = SilhouetteArgs {
            spec: self.columns.clone(),
            width,
            prediction: self.prediction.clone(),
            clusters: BTreeMap::new(),
        };
        args.clusters = data.tree_aggregate::<ClusterStats>(&args, 2)?;
        if args.clusters.len() < 2 {
            return Err(MlError::Input(
                "the silhouette needs at least two clusters".into(),
            ));
        }
        let (sum, weight) = data.tree_aggregate::<SilhouetteScore>(&args, 2)?;
        Ok(sum / weight)
    }
}
