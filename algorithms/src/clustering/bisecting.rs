//! Bisecting k-means as Spark's `spark.ml` defines it (`BisectingKMeans`): top-down divisive
//! clustering. Level by level, every divisible leaf (at least `minDivisibleClusterSize` points
//! and a positive cost; the largest first when fewer splits are needed) is split into two
//! centers perturbed from its own, refined by `maxIter` assignment passes over its points;
//! one distributed pass per refinement serves every leaf split at that level. The model is the
//! tree; a point's cluster is the leaf it descends to, and `trainingCost` sums the leaves'
//! costs.
//!
//! ```
//! use std::sync::Arc;
//! use arrow_array::{ArrayRef, Float64Array, RecordBatch};
//! use cinder_algorithms::clustering::BisectingKMeans;
//! use cinder_algorithms::{FeatureCols, FeatureSpec, LocalFrame};
//!
//! let col = |v: Vec<f64>| Arc::new(Float64Array::from(v)) as ArrayRef;
//! let batch = RecordBatch::try_from_iter([
//!     ("x", col(vec![0.0, 0.1, 0.2, 5.0, 5.1, 5.2, 9.0, 9.1])),
//! ])
//! .unwrap();
//! let model = BisectingKMeans {
//!     k: 3,
//!     columns: FeatureSpec {
//!         label: String::new(),
//!         weight: None,
//!         features: FeatureCols::Columns(vec!["x".into()]),
//!     },
//!     ..BisectingKMeans::default()
//! }
//! .fit(&LocalFrame { batches: vec![batch] })
//! .unwrap();
//! assert_eq!(model.cluster_centers().len(), 3);
//! assert!(model.training_cost < 0.1);
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::bisecting_kernel::{BisectingSplit, ClusterSums, SplitArgs, Tree};
use super::kmeans::DistanceMeasure;
use crate::features::{FeatureSpec, FeatureWidth};
use crate::frame::Frame;
use crate::MlError;

/// The estimator, with Spark's parameter names and defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BisectingKMeans {
    /// `k` (4): the number of leaf clusters wanted (fewer when clusters cannot be split).
    pub k: usize,
    /// `maxIter` (20): refinement passes per split.
    pub max_iter: usize,
    /// `seed`.
    pub seed: u64,
    /// `minDivisibleClusterSize` (1.0): points (>= 1) or a fraction of them (< 1).
    pub min_divisible_cluster_size: f64,
    /// `distanceMeasure` (euclidean).
    pub distance_measure: DistanceMeasure,
    /// `aggregationDepth` (2).
    pub aggregation_depth: u32,
    /// Feature (and `weightCol`) columns.
    pub columns: FeatureSpec,
}

impl Default for BisectingKMeans {
    fn default() -> Self {
        Self {
            k: 4,
            max_iter: 20,
            seed: 0x5eed,
            min_divisible_cluster_size: 1.0,
            distance_measure: DistanceMeasure::Euclidean,
            aggregation_depth: 2,
            columns: FeatureSpec::default(),
        }
    }
}

/// A fitted bisecting k-means: the cluster tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BisectingKMeansModel {
    /// Centers of every node (root 1, children `2i`, `2i + 1`).
    pub tree: Tree,
    /// Spark's `trainingCost`: the sum of the leaves' costs.
    pub training_cost: f64,
    /// The estimator that produced it.
    pub params: BisectingKMeans,
}

/// A cluster's center and cost from its sums.
fn summary(s: &ClusterSums, cosine: bool) -> (Vec<f64>, f64) {
    let mean: Vec<f64> = s.sum.iter().map(|v| v / s.weight).collect();
    if cosine {
        let norm = s.sum.iter().map(|v| v * v).sum::<f64>().sqrt();
        let center = if norm > 0.0 {
            s.sum.iter().map(|v| v / norm).collect()
        } else {
            mean
        };
        (center, (s.weight - norm).max(0.0))
    } else {
        let sq: f64 = mean.iter().map(|v| v * v).sum();
        (mean, (s.sum_sq - s.weight * sq).max(0.0))
    }
}

/// xorshift64* uniforms in [0, 1) for the split perturbations.
struct Rng(u64);

impl Rng {
    /// A generator whose state is the seed scrambled by splitmix64's finalizer (every seed
    /// bit matters; never the all-zero state).
    fn seeded(seed: u64) -> Self {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Self((z ^ (z >> 31)) | 1)
    }

    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Spark's `splitCenter`: the center moved by `±1e-4·‖c‖` times a uniform noise vector (both
/// normalized again for cosine).
fn split_center(center: &[f64], rng: &mut Rng, cosine: bool) -> (Vec<f64>, Vec<f64>) {
    let level = 1e-4 * center.iter().map(|v| v * v).sum::<f64>().sqrt();
    let noise: Vec<f64> = center.iter().map(|_| rng.next()).collect();
    let shift = |sign: f64| -> Vec<f64> {
        let mut v: Vec<f64> = center
            .iter()
            .zip(&noise)
            .map(|(c, n)| c + sign * level * n)
            .collect();
        if cosine {
            let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
            if norm > 0.0 {
                v.iter_mut().for_each(|x| *x /= norm);
            }
        }
        v
    };
    (shift(-1.0), shift(1.0))
}

impl BisectingKMeans {
    fn check(&self) -> Result<(), MlError> {
        let param = |name, message: String| Err(MlError::Param { name, message });
        if self.k < 2 {
            return param("k", format!("{} must be at least 2", self.k));
        }
        let m = self.min_divisible_cluster_size;
        if !(m > 0.0 && m.is_finite()) {
            return param("minDivisibleClusterSize", format!("{m} must be > 0"));
        }
        Ok(())
    }

    /// Fits the model.
    pub fn fit<F: Frame>(&self, data: &F) -> Result<BisectingKMeansModel, MlError> {
        self.fit_with_progress(data, &mut |_, _| {})
    }

    /// Fits the model, calling `progress(level, cost)` after each level.
    pub fn fit_with_progress<F: Frame>(
        &self,
        data: &F,
        progress: &mut dyn FnMut(usize, f64),
    ) -> Result<BisectingKMeansModel, MlError> {
        self.check()?;
        let cosine = self.distance_measure == DistanceMeasure::Cosine;
        let width = data.tree_aggregate::<FeatureWidth>(&self.columns, self.aggregation_depth)?;
        let mut args = SplitArgs {
            spec: self.columns.clone(),
            width: width as usize,
            cosine,
            tree: Tree::default(),
            candidates: BTreeMap::new(),
        };
        let root = data
            .tree_aggregate::<BisectingSplit>(&args, self.aggregation_depth)?
            .remove(&1)
            .filter(|s| s.weight > 0.0)
            .ok_or_else(|| {
                MlError::Input("the dataset is empty (or all weights are zero)".into())
            })?;
        let (center, cost) = summary(&root, cosine);
        args.tree.centers.insert(1, center);
        // Active leaves: (row count, cost) of the leaves made at the last level.
        let mut active: BTreeMap<u64, (u64, f64)> = BTreeMap::from([(1, (root.count, cost))]);
        let mut leaf_costs: BTreeMap<u64, f64> = BTreeMap::from([(1, cost)]);
        let min_size = if self.min_divisible_cluster_size >= 1.0 {
            self.min_divisible_cluster_size.ceil() as u64
        } else {
            (self.min_divisible_cluster_size * root.count as f64).ceil() as u64
        };
        let mut needed = self.k - 1;
        let mut level = 1;
        while !active.is_empty() && needed > 0 && level < 63 {
            let mut divisible: Vec<(u64, (u64, f64))> = active
                .iter()
                .filter(|(_, (n, c))| *n >= min_size && *c > f64::EPSILON * *n as f64)
                .map(|(i, s)| (*i, *s))
                .collect();
            if divisible.len() > needed {
                divisible.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(&b.0)));
                divisible.truncate(needed);
            }
            if divisible.is_empty() {
                break;
            }
            let mut rng = Rng::seeded(self.seed ^ level as u64);
            let mut candidates = BTreeMap::new();
            for (i, _) in &divisible {
                let (l, r) = split_center(&args.tree.centers[i], &mut rng, cosine);
                candidates.insert(2 * i, l);
                candidates.insert(2 * i + 1, r);
            }
            let mut sums = BTreeMap::new();
            for _ in 0..self.max_iter.max(1) {
                args.candidates = candidates.clone();
                sums = data.tree_aggregate::<BisectingSplit>(&args, self.aggregation_depth)?;
                for (child, s) in &sums {
                    if s.weight > 0.0 {
                        candidates.insert(*child, summary(s, cosine).0);
                    }
                }
            }
            active.clear();
            for (i, _) in &divisible {
                let (l, r) = (2 * i, 2 * i + 1);
                let ok = |c: &u64| sums.get(c).is_some_and(|s| s.weight > 0.0);
                if !(ok(&l) && ok(&r)) {
                    continue; // One side got no point: the leaf stays whole.
                }
                leaf_costs.remove(i);
                for c in [l, r] {
                    let s = &sums[&c];
                    let (center, cost) = summary(s, cosine);
                    args.tree.centers.insert(c, center);
                    leaf_costs.insert(c, cost);
                    active.insert(c, (s.count, cost));
                }
                needed -= 1;
            }
            progress(level, leaf_costs.values().sum());
            level += 1;
        }
        Ok(BisectingKMeansModel {
            tree: args.tree,
            training_cost: leaf_costs.values().sum(),
            params: self.clone(),
        })
    }
}

impl BisectingKMeansModel {
    /// Leaf centers, in cluster-index order.
    pub fn cluster_centers(&self) -> Vec<Vec<f64>> {
        self.tree
            .leaves()
            .iter()
            .map(|l| self.tree.centers[l].clone())
            .collect()
    }

    fn predict_args(&self) -> SplitArgs {
        SplitArgs {
            spec: FeatureSpec {
                weight: None,
                ..self.params.columns.clone()
            },
            width: self.tree.centers[&1].len(),
            cosine: self.params.distance_measure == DistanceMeasure::Cosine,
            tree: self.tree.clone(),
            candidates: BTreeMap::new(),
        }
    }

    /// Adds Spark's `prediction` column: the cluster index (leaves left to right).
    pub fn transform<F: Frame>(&self, data: &F) -> Result<F, MlError> {
        let args = rmp_serde::to_vec_named(&self.predict_args())
            .map_err(|e| MlError::Data(e.to_string()))?;
        data.with_column("prediction", "ml.bisecting.prediction", args)
    }

    /// Saves the model to a new directory (rows: `[index, center...]` per tree node).
    pub fn save(&self, dir: &std::path::Path) -> Result<(), MlError> {
        let meta = serde_json::json!({
            "estimator": self.params,
            "num_features": self.tree.centers[&1].len(),
            "training_cost": self.training_cost,
        });
        let rows: Vec<Vec<f64>> = self
            .tree
            .centers
            .iter()
            .map(|(i, c)| {
                std::iter::once(*i as f64)
                    .chain(c.iter().copied())
                    .collect()
            })
            .collect();
        crate::persistence::save(dir, "bisecting-kmeans", &meta, &rows)
    }

    /// Loads a model saved by [`BisectingKMeansModel::save`].
    pub fn load(dir: &std::path::Path) -> Result<Self, MlError> {
        #[derive(Deserialize)]
        struct Meta {
            estimator: BisectingKMeans,
            training_cost: f64,
        }
        let (meta, rows): (Meta, Vec<Vec<f64>>) =
            crate::persistence::load(dir, "bisecting-kmeans")?;
        let mut tree = Tree::default();
        for row in rows {
            match row.split_first() {
                Some((i, c)) if *i >= 1.0 && i.fract() == 0.0 => {
                    tree.centers.insert(*i as u64, c.to_vec());
                }
                _ => {
                    return Err(MlError::Model {
                        path: dir.display().to_string(),
                        message: "a tree row without a node index".into(),
                    })
                }
            }
        }
        if !tree.centers.contains_key(&1) {
            return Err(MlError::Model {
                path: dir.display().to_string(),
                message: "no root node".into(),
            });
        }
        Ok(Self {
            tree,
            training_cost: meta.training_cost,
            params: meta.estimator,
        })
    }
}
