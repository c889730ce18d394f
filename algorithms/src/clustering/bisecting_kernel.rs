//! Worker-side kernels of bisecting k-means: each point descends the current cluster tree
//! (the closer child at every split, as Spark assigns points level by level) to its leaf; a
//! point of a leaf being split goes to the closer of the two candidate centers and is summed
//! there (the `ml.bisecting.split` aggregator); predictions are the leaf's index.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, RecordBatch};
use cinder_actors::data::aggregate::Aggregator;
use serde::{Deserialize, Serialize};

use super::kmeans_kernel::{distance, points};
use crate::features::FeatureSpec;

/// The cluster tree: node `i` has children `2i` and `2i + 1` when both are present; the root
/// is 1 (Spark's indices).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    /// Center of every node.
    pub centers: BTreeMap<u64, Vec<f64>>,
}

impl Tree {
    /// The leaf a point descends to.
    pub fn leaf(&self, p: &[f64], cosine: bool) -> u64 {
        let mut i = 1;
        while let (Some(left), Some(right)) =
            (self.centers.get(&(2 * i)), self.centers.get(&(2 * i + 1)))
        {
            i = if distance(p, right, cosine) < distance(p, left, cosine) {
                2 * i + 1
            } else {
                2 * i
            };
        }
        i
    }

    /// Leaves left to right (Spark's cluster indices 0, 1, ...).
    pub fn leaves(&self) -> Vec<u64> {
        let mut out = Vec::new();
        let mut stack = vec![1u64];
        while let Some(i) = stack.pop() {
            if self.centers.contains_key(&(2 * i)) && self.centers.contains_key(&(2 * i + 1)) {
                stack.push(2 * i + 1);
                stack.push(2 * i);
            } else {
                out.push(i);
            }
        }
        out
    }
}

/// What a split pass needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitArgs {
    /// Feature columns (and the weight).
    pub spec: FeatureSpec,
    /// Vector size.
    pub width: usize,
    /// Cosine distance (points at unit length).
    pub cosine: bool,
    /// The tree so far.
    pub tree: Tree,
    /// Candidate centers of the children of the leaves being split (`2i`, `2i + 1`); empty
    /// for the root's summary.
    pub candidates: BTreeMap<u64, Vec<f64>>,
}

/// Weighted sums of one cluster.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterSums {
    /// Σ w.
    pub weight: f64,
    /// Rows.
    pub count: u64,
    /// Σ w x.
    pub sum: Vec<f64>,
    /// Σ w ‖x‖².
    pub sum_sq: f64,
}

impl ClusterSums {
    fn add(&mut self, p: &[f64], w: f64) {
        if self.sum.is_empty() {
            self.sum = vec![0.0; p.len()];
        }
        self.weight += w;
        self.count += 1;
        for (s, v) in self.sum.iter_mut().zip(p) {
            *s += w * v;
        }
        self.sum_sq += w * p.iter().map(|v| v * v).sum::<f64>();
    }

    fn merge(&mut self, o: &ClusterSums) {
        if self.sum.is_empty() {
            self.sum = vec![0.0; o.sum.len()];
        }
        self.weight += o.weight;
        self.count += o.count;
        for (s, v) in self.sum.iter_mut().zip(&o.sum) {
            *s += v;
        }
        self.sum_sq += o.sum_sq;
    }
}

/// The `ml.bisecting.split` aggregator: sums per candidate child (or per root with no
/// candidates).
pub struct BisectingSplit;

impl Aggregator for BisectingSplit {
    const NAME: &'static str = "ml.bisecting.split";
    type Args = SplitArgs;
    type Acc = BTreeMap<u64, ClusterSums>;

    fn zero(_: &SplitArgs) -> BTreeMap<u64, ClusterSums> {
        BTreeMap::new()
    }

    fn seq(
        mut acc: BTreeMap<u64, ClusterSums>,
        batch: &RecordBatch,
        a: &SplitArgs,
    ) -> Result<BTreeMap<u64, ClusterSums>, String> {
        for (p, w) in points(batch, &a.spec, a.width, a.cosine)? {
            if !(w >= 0.0 && w.is_finite()) {
                return Err(format!("weight {w} is not a non-negative number"));
            }
            let target = if a.candidates.is_empty() {
                1
            } else {
                let leaf = a.tree.leaf(&p, a.cosine);
                match (
                    a.candidates.get(&(2 * leaf)),
                    a.candidates.get(&(2 * leaf + 1)),
                ) {
                    (Some(l), Some(r)) => {
                        if distance(&p, r, a.cosine) < distance(&p, l, a.cosine) {
                            2 * leaf + 1
                        } else {
                            2 * leaf
                        }
                    }
                    _ => continue,
                }
            };
            acc.entry(target).or_default().add(&p, w);
        }
        Ok(acc)
    }

    fn comb(
        mut a: BTreeMap<u64, ClusterSums>,
        b: BTreeMap<u64, ClusterSums>,
        _: &SplitArgs,
    ) -> BTreeMap<u64, ClusterSums> {
        for (k, v) in b {
            a.entry(k).or_default().merge(&v);
        }
        a
    }
}
cinder_actors::register_aggregator!(BisectingSplit);

/// `ml.bisecting.prediction`: the index of each point's leaf (left to right).
pub fn prediction_column(batch: &RecordBatch, args: &[u8]) -> Result<ArrayRef, String> {
    let a: SplitArgs = rmp_serde::from_slice(args).map_err(|e| e.to_string())?;
    let leaves = a.tree.leaves();
    let values = points(batch, &a.spec, a.width, a.cosine)?
        .iter()
        .map(|(p, _)| {
            let leaf = a.tree.leaf(p, a.cosine);
            leaves.iter().position(|l| *l == leaf).unwrap_or(0) as f64
        })
        .collect::<Vec<f64>>();
    Ok(Arc::new(Float64Array::from(values)))
}
cinder_actors::register_column!("ml.bisecting.prediction", prediction_column);
