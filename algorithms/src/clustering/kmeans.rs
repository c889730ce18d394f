//! K-means with Spark's parameters: `k-means||` (or `random`) initialization from a seed,
//! Lloyd iterations as one distributed pass each, convergence when every center moves less
//! than `tol`, and the training cost.

use serde::{Deserialize, Serialize};

use super::kmeans_kernel::{closest, distance, Assign, KMeansArgs, Sample, SampleArgs};
use crate::features::{FeatureSpec, FeatureWidth};
use crate::frame::Frame;
use crate::MlError;

/// Spark's `initMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum InitMode {
    /// Scalable k-means++ (Bahmani et al.).
    KMeansParallel,
    /// `k` points chosen uniformly at random.
    Random,
}

/// Spark's `distanceMeasure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DistanceMeasure {
    /// Squared Euclidean distance.
    Euclidean,
    /// `1 - cosine similarity`.
    Cosine,
}

/// The estimator, with Spark's parameter names and defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KMeans {
    /// `k` (2).
    pub k: usize,
    /// `maxIter` (20).
    pub max_iter: usize,
    /// `tol` (1e-4).
    pub tol: f64,
    /// `seed`.
    pub seed: u64,
    /// `initMode` (k-means||).
    pub init_mode: InitMode,
    /// `initSteps` (2).
    pub init_steps: usize,
    /// `distanceMeasure` (euclidean).
    pub distance_measure: DistanceMeasure,
    /// Feature (and weight) columns; the label is not read.
    pub columns: FeatureSpec,
}

impl Default for KMeans {
    fn default() -> Self {
        Self {
            k: 2,
            max_iter: 20,
            tol: 1e-4,
            seed: 0x5eed,
            init_mode: InitMode::KMeansParallel,
            init_steps: 2,
            distance_measure: DistanceMeasure::Euclidean,
            columns: FeatureSpec::default(),
        }
    }
}

/// A fitted k-means model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KMeansModel {
    /// Cluster centers.
    pub centers: Vec<Vec<f64>>,
    /// Sum of (weighted) distances of points to their closest center.
    pub cost: f64,
    /// Lloyd iterations run.
    pub iterations: usize,
    /// The estimator that produced it.
    pub params: KMeans,
}

impl KMeansModel {
    fn args(&self) -> KMeansArgs {
        KMeansArgs {
            spec: self.params.columns.clone(),
            width: self.centers.first().map_or(0, Vec::len),
            centers: self.centers.clone(),
            cosine: self.params.distance_measure == DistanceMeasure::Cosine,
        }
    }

    /// Adds a `prediction` column: the index of the closest center.
    pub fn transform<F: Frame>(&self, data: &F) -> Result<F, MlError> {
        let args =
            rmp_serde::to_vec_named(&self.args()).map_err(|e| MlError::Data(e.to_string()))?;
        data.with_column("prediction", "ml.kmeans.prediction", args)
    }

    /// The cost of this model on a dataset.
    pub fn compute_cost<F: Frame>(&self, data: &F) -> Result<f64, MlError> {
        Ok(data.tree_aggregate::<Assign>(&self.args(), 2)?.cost)
    }
}

/// A small seeded generator for driver-side choices (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Weighted k-means++ over candidates, then Lloyd iterations (Spark's `LocalKMeans`).
fn local_kmeans(
    points: &[Vec<f64>],
    weights: &[f64],
    k: usize,
    seed: u64,
    cosine: bool,
) -> Vec<Vec<f64>> {
    let mut rng = Rng(seed | 1);
    let pick = |rng: &mut Rng, scores: &[f64]| {
        let total: f64 = scores.iter().sum();
        let mut r = rng.next() * total;
        for (i, s) in scores.iter().enumerate() {
            r -= s;
            if r <= 0.0 && *s > 0.0 {
                return i;
            }
        }
        scores.iter().rposition(|s| *s > 0.0).unwrap_or(0)
    };
    let mut centers = vec![points[pick(&mut rng, weights)].clone()];
    while centers.len() < k {
        let scores: Vec<f64> = points
            .iter()
            .zip(weights)
            .map(|(p, w)| w * closest(p, &centers, cosine).1)
            .collect();
        if scores.iter().all(|s| *s <= 0.0) {
            break;
        }
        centers.push(points[pick(&mut rng, &scores)].clone());
    }
    for _ in 0..30 {
        let mut sums = vec![vec![0.0; points[0].len()]; centers.len()];
        let mut counts = vec![0.0; centers.len()];
        for (p, w) in points.iter().zip(weights) {
            let (c, _) = closest(p, &centers, cosine);
            counts[c] += w;
            for (s, v) in sums[c].iter_mut().zip(p) {
                *s += w * v;
            }
        }
        for (c, (sum, n)) in sums.iter().zip(&counts).enumerate() {
            if *n > 0.0 {
                centers[c] = finish_center(sum, *n, cosine);
            }
        }
    }
    centers
}

fn finish_center(sum: &[f64], weight: f64, cosine: bool) -> Vec<f64> {
    let mut c: Vec<f64> = sum.iter().map(|v| v / weight).collect();
    if cosine {
        let norm = c.iter().map(|v| v * v).sum::<f64>().sqrt();
        if norm > 0.0 {
            c.iter_mut().for_each(|v| *v /= norm);
        }
    }
    c
}

impl KMeans {
    /// Fits the model.
    pub fn fit<F: Frame>(&self, data: &F) -> Result<KMeansModel, MlError> {
        self.fit_with_progress(data, &mut |_, _| {})
    }

    /// Fits the model, calling `progress(iteration, cost)` after every Lloyd iteration.
    pub fn fit_with_progress<F: Frame>(
        &self,
        data: &F,
        progress: &mut dyn FnMut(usize, f64),
    ) -> Result<KMeansModel, MlError> {
        if self.k < 2 {
            return Err(MlError::Param {
                name: "k",
                message: format!("{} must be at least 2", self.k),
            });
        }
        let width = data.tree_aggregate::<FeatureWidth>(&self.columns, 2)? as usize;
        if width == 0 {
            return Err(MlError::Input("no features (or no rows)".into()));
        }
        let cosine = self.distance_measure == DistanceMeasure::Cosine;
        let base = KMeansArgs {
            spec: self.columns.clone(),
            width,
            centers: Vec::new(),
            cosine,
        };
        let mut centers = self.initialize(data, &base)?;
        let mut iterations = 0;
        while iterations < self.max_iter {
            let args = KMeansArgs {
                centers: centers.clone(),
                ..base.clone()
            };
            let a = data.tree_aggregate::<Assign>(&args, 2)?;
            iterations += 1;
            let mut converged = true;
            let mut next = centers.clone();
            for (k, (sum, w)) in a.sums.iter().zip(&a.weights).enumerate() {
                if *w > 0.0 {
                    next[k] = finish_center(sum, *w, cosine);
                    let moved = distance(&next[k], &centers[k], cosine);
                    let limit = if cosine {
                        self.tol
                    } else {
                        self.tol * self.tol
                    };
                    if moved > limit {
                        converged = false;
                    }
                }
            }
            progress(iterations, a.cost);
            centers = next;
            if converged {
                break;
            }
        }
        let args = KMeansArgs {
            centers: centers.clone(),
            ..base
        };
        let final_cost = data.tree_aggregate::<Assign>(&args, 2)?.cost;
        Ok(KMeansModel {
            centers,
            cost: final_cost,
            iterations,
            params: self.clone(),
        })
    }

    fn initialize<F: Frame>(&self, data: &F, base: &KMeansArgs) -> Result<Vec<Vec<f64>>, MlError> {
        let uniform = |keep: usize, seed: u64| -> Result<Vec<Vec<f64>>, MlError> {
            let args = SampleArgs {
                base: base.clone(),
                seed,
                keep,
                factor: 0.0,
                total_cost: 0.0,
            };
            Ok(data
                .tree_aggregate::<Sample>(&args, 2)?
                .points
                .into_iter()
                .map(|(_, p)| p)
                .collect())
        };
        if self.init_mode == InitMode::Random {
            let centers = uniform(self.k, self.seed)?;
            if centers.len() < self.k {
                return Err(MlError::Input(format!(
                    "{} points for k = {}",
                    centers.len(),
                    self.k
                )));
            }
            return Ok(centers);
        }
        let mut candidates = uniform(1, self.seed)?;
        if candidates.is_empty() {
            return Err(MlError::Input("the dataset is empty".into()));
        }
        for step in 0..self.init_steps {
            let args = KMeansArgs {
                centers: candidates.clone(),
                ..base.clone()
            };
            let total_cost = data.tree_aggregate::<Assign>(&args, 2)?.cost;
            if total_cost <= 0.0 {
                break;
            }
            let sample = SampleArgs {
                base: args,
                seed: self.seed.wrapping_add(step as u64 + 1),
                keep: 0,
                factor: 2.0 * self.k as f64,
                total_cost,
            };
            let chosen = data.tree_aggregate::<Sample>(&sample, 2)?;
            for (_, p) in chosen.points {
                if !candidates.contains(&p) {
                    candidates.push(p);
                }
            }
        }
        if candidates.len() <= self.k {
            return Ok(candidates);
        }
        let args = KMeansArgs {
            centers: candidates.clone(),
            ..base.clone()
        };
        let weights = data.tree_aggregate::<Assign>(&args, 2)?.weights;
        Ok(local_kmeans(
            &candidates,
            &weights,
            self.k,
            self.seed,
            base.cosine,
        ))
    }
}

impl KMeansModel {
    /// Saves the model to a new directory (see [`crate::persistence`]).
    pub fn save(&self, dir: &std::path::Path) -> Result<(), MlError> {
        let meta = serde_json::json!({
            "estimator": self.params,
            "cost": self.cost,
            "iterations": self.iterations,
            "num_features": self.centers.first().map_or(0, Vec::len),
        });
        crate::persistence::save(dir, "kmeans", &meta, &self.centers)
    }

    /// Loads a model saved by [`KMeansModel::save`].
    pub fn load(dir: &std::path::Path) -> Result<Self, MlError> {
        #[derive(Deserialize)]
        struct Meta {
            estimator: KMeans,
            cost: f64,
            iterations: usize,
        }
        let (meta, centers): (Meta, Vec<Vec<f64>>) = crate::persistence::load(dir, "kmeans")?;
        if centers.is_empty() {
            return Err(MlError::Model {
                path: dir.display().to_string(),
                message: "no centers".into(),
            });
        }
        Ok(Self {
            centers,
            cost: meta.cost,
            iterations: meta.iterations,
            params: meta.estimator,
        })
    }
}
