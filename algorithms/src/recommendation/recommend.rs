//! Top-k recommendations from a fitted ALS model, as Spark's `recommendForAllUsers` and
//! `recommendForUserSubset`: a dataset of user ids is mapped, partition by partition on the
//! workers, to `(user, item, rating)` rows, the user's `k` best items by predicted rating
//! (ties broken by the smaller item id), best first.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch};
use serde::{Deserialize, Serialize};

use super::als::AlsModel;
use crate::features::numeric_column;

/// Arguments of `ml.als.recommend`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecommendArgs {
    /// The column of user ids in the input.
    pub user_column: String,
    /// User factors by id.
    pub users: BTreeMap<i64, Vec<f64>>,
    /// Item factors by id.
    pub items: BTreeMap<i64, Vec<f64>>,
    /// Items per user.
    pub k: usize,
}

/// The `k` best items of one user's factor vector: `(item, rating)`, best first.
pub fn top_items(user: &[f64], items: &BTreeMap<i64, Vec<f64>>, k: usize) -> Vec<(i64, f64)> {
    let mut scored: Vec<(i64, f64)> = items
        .iter()
        .map(|(id, y)| (*id, user.iter().zip(y).map(|(a, b)| a * b).sum()))
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    scored.truncate(k);
    scored
}

/// `ml.als.recommend`: one input row per user id, `k` output rows `user, item, rating` per
/// known user (unknown users yield none).
pub fn recommend_batch(batch: &RecordBatch, args: &[u8]) -> Result<RecordBatch, String> {
    let a: RecommendArgs = rmp_serde::from_slice(args).map_err(|e| e.to_string())?;
    let ids = numeric_column(batch, &a.user_column)?;
    let (mut users, mut items, mut ratings) = (Vec::new(), Vec::new(), Vec::new());
    for id in ids {
        let id = id as i64;
        let Some(factors) = a.users.get(&id) else {
            continue;
        };
        for (item, rating) in top_items(factors, &a.items, a.k) {
            users.push(id);
            items.push(item);
            ratings.push(rating);
        }
    }
    RecordBatch::try_from_iter([
        ("user", Arc::new(Int64Array::from(users)) as ArrayRef),
        ("item", Arc::new(Int64Array::from(items)) as ArrayRef),
        ("rating", Arc::new(Float64Array::from(ratings)) as ArrayRef),
    ])
    .map_err(|e| e.to_string())
}
cinder_actors::register_map!("ml.als.recommend", recommend_batch);

impl AlsModel {
    /// The arguments of `ml.als.recommend` for `k` items per user of column `user_column`
    /// (map a dataset of user ids with them).
    pub fn recommend_args(&self, user_column: &str, k: usize) -> RecommendArgs {
        RecommendArgs {
            user_column: user_column.to_string(),
            users: self.user_factors.clone(),
            items: self.item_factors.clone(),
            k,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_items_are_the_best_dot_products_ties_by_id() {
        let items: BTreeMap<i64, Vec<f64>> = [
            (1, vec![1.0, 0.0]),
            (2, vec![0.0, 1.0]),
            (3, vec![1.0, 1.0]),
            (4, vec![0.0, 1.0]),
        ]
        .into();
        assert_eq!(top_items(&[1.0, 2.0], &items, 2), vec![(3, 3.0), (2, 2.0)]);
        assert_eq!(
            top_items(&[0.0, 1.0], &items, 3),
            vec![(2, 1.0), (3, 1.0), (4, 1.0)]
        );
        assert_eq!(top_items(&[1.0, 0.0], &items, 10).len(), 4);
    }
}
