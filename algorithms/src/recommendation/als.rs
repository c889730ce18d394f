//! Alternating least squares as Spark's `spark.ml` ALS: explicit or implicit feedback, rank,
//! `regParam` scaled by each user's and item's number of ratings, optional non-negativity,
//! seeded initialization, `coldStartStrategy` `nan` or `drop`. Ratings are partitioned by user
//! and by item (`numUserBlocks`, `numItemBlocks`) and kept in memory; each half-iteration is one
//! distributed job solving every user's (or item's) normal equations where its ratings live.

use std::collections::BTreeMap;

use cinder_actors::data::exec::unit_hash;
use serde::{Deserialize, Serialize};

use super::als_kernel::{FactorArgs, Ids, RatingColumns, Solve, SolveArgs, SquaredError};
use crate::frame::Frame;
use crate::MlError;

/// Spark's `coldStartStrategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ColdStartStrategy {
    /// Unknown users or items predict NaN.
    Nan,
    /// Rows with unknown users or items are dropped from predictions.
    Drop,
}

/// The estimator, with Spark's parameter names and defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Als {
    /// `rank` (10).
    pub rank: usize,
    /// `maxIter` (10).
    pub max_iter: usize,
    /// `regParam` (0.1).
    pub reg_param: f64,
    /// `implicitPrefs` (false).
    pub implicit_prefs: bool,
    /// `alpha` (1.0).
    pub alpha: f64,
    /// `nonnegative` (false).
    pub nonnegative: bool,
    /// `numUserBlocks` (10).
    pub num_user_blocks: u32,
    /// `numItemBlocks` (10).
    pub num_item_blocks: u32,
    /// `seed`.
    pub seed: u64,
    /// `coldStartStrategy` (nan).
    pub cold_start_strategy: ColdStartStrategy,
    /// Rating columns.
    pub columns: RatingColumns,
}

impl Default for Als {
    fn default() -> Self {
        Self {
            rank: 10,
            max_iter: 10,
            reg_param: 0.1,
            implicit_prefs: false,
            alpha: 1.0,
            nonnegative: false,
            num_user_blocks: 10,
            num_item_blocks: 10,
            seed: 0x5eed,
            cold_start_strategy: ColdStartStrategy::Nan,
            columns: RatingColumns {
                user: "user".into(),
                item: "item".into(),
                rating: "rating".into(),
            },
        }
    }
}

/// A fitted ALS model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlsModel {
    /// User factors by id.
    pub user_factors: BTreeMap<i64, Vec<f64>>,
    /// Item factors by id.
    pub item_factors: BTreeMap<i64, Vec<f64>>,
    /// Root mean squared error over the training ratings.
    pub rmse: f64,
    /// Iterations run.
    pub iterations: usize,
    /// The estimator that produced it.
    pub params: Als,
}

impl AlsModel {
    fn factor_args(&self) -> FactorArgs {
        FactorArgs {
            columns: self.params.columns.clone(),
            users: self.user_factors.clone(),
            items: self.item_factors.clone(),
        }
    }

    /// Adds a `prediction` column (NaN for unknown ids under the `nan` strategy).
    pub fn transform<F: Frame>(&self, data: &F) -> Result<F, MlError> {
        let args = rmp_serde::to_vec_named(&self.factor_args())
            .map_err(|e| MlError::Data(e.to_string()))?;
        data.with_column("prediction", "ml.als.prediction", args)
    }

    /// Root mean squared error over the known pairs of a ratings dataset.
    pub fn rmse<F: Frame>(&self, data: &F) -> Result<f64, MlError> {
        let (sse, n) = data.tree_aggregate::<SquaredError>(&self.factor_args(), 2)?;
        if n == 0 {
            return Err(MlError::Input(
                "no rating with a known user and item".into(),
            ));
        }
        Ok((sse / n as f64).sqrt())
    }
}

/// Spark-like initialization: Gaussian entries, each factor scaled to unit length (absolute
/// values when non-negative), deterministic per (seed, side, id).
fn init(
    ids: &[i64],
    rank: usize,
    seed: u64,
    side: u32,
    nonnegative: bool,
) -> BTreeMap<i64, Vec<f64>> {
    ids.iter()
        .map(|&id| {
            let mut v: Vec<f64> = (0..rank)
                .map(|r| {
                    let u1 = unit_hash(
                        seed,
                        side,
                        (id as u64).wrapping_mul(2 * rank as u64 + 1) + 2 * r as u64,
                    )
                    .max(1e-300);
                    let u2 = unit_hash(
                        seed,
                        side,
                        (id as u64).wrapping_mul(2 * rank as u64 + 1) + 2 * r as u64 + 1,
                    );
                    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
                })
                .collect();
            let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-300);
            v.iter_mut()
                .for_each(|x| *x = if nonnegative { x.abs() } else { *x } / norm);
            (id, v)
        })
        .collect()
}

fn gram(factors: &BTreeMap<i64, Vec<f64>>, rank: usize) -> Vec<f64> {
    let mut g = vec![0.0; rank * rank];
    for v in factors.values() {
        for a in 0..rank {
            for b in 0..rank {
                g[a * rank + b] += v[a] * v[b];
            }
        }
    }
    g
}

impl Als {
    /// Fits the model.
    pub fn fit<F: Frame>(&self, ratings: &F) -> Result<AlsModel, MlError> {
        self.fit_with_progress(ratings, &mut |_, _| {})
    }

    /// Fits the model, calling `progress(iteration, 0.0)` after every iteration.
    pub fn fit_with_progress<F: Frame>(
        &self,
        ratings: &F,
        progress: &mut dyn FnMut(usize, f64),
    ) -> Result<AlsModel, MlError> {
        if self.rank == 0 {
            return Err(MlError::Param {
                name: "rank",
                message: "must be at least 1".into(),
            });
        }
        if self.reg_param < 0.0 {
            return Err(MlError::Param {
                name: "regParam",
                message: format!("{} must be >= 0", self.reg_param),
            });
        }
        let c = &self.columns;
        let by_user = ratings.partition_by(&[c.user.as_str()], self.num_user_blocks.max(1))?;
        let by_item = ratings.partition_by(&[c.item.as_str()], self.num_item_blocks.max(1))?;
        let (user_ids, item_ids, count) = by_user.tree_aggregate::<Ids>(c, 2)?;
        if count == 0 {
            return Err(MlError::Input("no ratings".into()));
        }
        let mut users = init(&user_ids, self.rank, self.seed, 0, self.nonnegative);
        let mut items = init(&item_ids, self.rank, self.seed, 1, self.nonnegative);
        let solve = |users_side: bool,
                     fixed: &BTreeMap<i64, Vec<f64>>,
                     data: &F|
         -> Result<BTreeMap<i64, Vec<f64>>, MlError> {
            let args = SolveArgs {
                columns: c.clone(),
                users: users_side,
                fixed: fixed.clone(),
                rank: self.rank,
                reg_param: self.reg_param,
                implicit: self.implicit_prefs,
                alpha: self.alpha,
                nonnegative: self.nonnegative,
                yty: if self.implicit_prefs {
                    gram(fixed, self.rank)
                } else {
                    Vec::new()
                },
            };
            Ok(data
                .tree_aggregate::<Solve>(&args, 2)?
                .into_iter()
                .collect())
        };
        for iteration in 1..=self.max_iter {
            let new_items = solve(false, &users, &by_item)?;
            items.extend(new_items);
            let new_users = solve(true, &items, &by_user)?;
            users.extend(new_users);
            progress(iteration, 0.0);
        }
        let mut model = AlsModel {
            user_factors: users,
            item_factors: items,
            rmse: 0.0,
            iterations: self.max_iter,
            params: self.clone(),
        };
        model.rmse = model.rmse(&by_user)?;
        Ok(model)
    }
}

impl AlsModel {
    /// Saves the model to a new directory: one row per user then per item, `[id, factors...]`.
    pub fn save(&self, dir: &std::path::Path) -> Result<(), MlError> {
        let mut rows: Vec<Vec<f64>> = Vec::new();
        for (id, f) in self.user_factors.iter().chain(&self.item_factors) {
            let mut row = vec![*id as f64];
            row.extend(f);
            rows.push(row);
        }
        let meta = serde_json::json!({
            "estimator": self.params, "rmse": self.rmse, "iterations": self.iterations,
            "users": self.user_factors.len(),
        });
        crate::persistence::save(dir, "als", &meta, &rows)
    }

    /// Loads a model saved by [`AlsModel::save`].
    pub fn load(dir: &std::path::Path) -> Result<Self, MlError> {
        #[derive(Deserialize)]
        struct Meta {
            estimator: Als,
            rmse: f64,
            iterations: usize,
            users: usize,
        }
        let (meta, rows): (Meta, Vec<Vec<f64>>) = crate::persistence::load(dir, "als")?;
        if meta.users > rows.len() || rows.iter().any(|r| r.len() != meta.estimator.rank + 1) {
            return Err(MlError::Model {
                path: dir.display().to_string(),
                message: "factor rows do not match the rank".into(),
            });
        }
        let split = |rows: &[Vec<f64>]| {
            rows.iter()
                .map(|r| (r[0] as i64, r[1..].to_vec()))
                .collect()
        };
        Ok(Self {
            user_factors: split(&rows[..meta.users]),
            item_factors: split(&rows[meta.users..]),
            rmse: meta.rmse,
            iterations: meta.iterations,
            params: meta.estimator,
        })
    }
}
