//! Saving and loading tree models in the common model format ([`crate::persistence`]): the
//! parameters and scalar results in `metadata.json`, one row per node in `data.arrow`:
//! `[tree, prediction, impurity, gain, raw count, feature (-1: leaf), threshold, bin, left,
//! right, tree weight, categories of the feature, left categories n, stats..., the n left
//! categories]`, nodes of a tree in arena order. Every value the model
//! computes with is in `data.arrow` (exact doubles); importances are computed again on load.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::model::{feature_importances, TreeAlgorithm, TreeEnsembleModel};
use super::node::{DecisionTree, Node, Split};
use super::TreeParams;
use crate::MlError;

#[derive(Serialize, Deserialize)]
struct Meta {
    params: TreeParams,
    estimator: serde_json::Value,
    num_features: usize,
    num_classes: usize,
    thresholds: Vec<f64>,
    num_trees: usize,
    total_num_nodes: usize,
}

const FIXED: usize = 13;

impl TreeEnsembleModel {
    /// Saves the model to a new directory.
    pub fn save(&self, dir: &Path) -> Result<(), MlError> {
        let meta = Meta {
            params: self.params.clone(),
            estimator: self.estimator.clone(),
            num_features: self.num_features,
            num_classes: self.num_classes,
            thresholds: self.thresholds.clone(),
            num_trees: self.trees.len(),
            total_num_nodes: self.total_num_nodes(),
        };
        let mut rows = Vec::with_capacity(self.total_num_nodes());
        for (t, tree) in self.trees.iter().enumerate() {
            for n in &tree.nodes {
                let mut row = vec![
                    t as f64,
                    n.prediction,
                    n.impurity,
                    n.gain,
                    n.raw_count,
                    -1.0,
                    0.0,
                    0.0,
                    0.0,
                    0.0,
                    self.tree_weights[t],
                    0.0,
                    0.0,
                ];
                if let Some(s) = &n.split {
                    row[5] = s.feature as f64;
                    row[6] = s.threshold;
                    row[7] = s.bin as f64;
                    row[8] = s.left as f64;
                    row[9] = s.right as f64;
                    row[11] = s.num_categories as f64;
                    row[12] = s.categories.len() as f64;
                }
                row.extend(&n.stats);
                if let Some(s) = &n.split {
                    row.extend(&s.categories);
                }
                rows.push(row);
            }
        }
        crate::persistence::save(dir, self.algorithm.name(), &meta, &rows)
    }

    /// Loads a model saved by [`TreeEnsembleModel::save`] (any of the six algorithms).
    pub fn load(dir: &Path) -> Result<Self, MlError> {
        let bad = |message: String| MlError::Model {
            path: dir.display().to_string(),
            message,
        };
        let (metadata, _) = crate::persistence::load_any(dir)?;
        let algorithm = TreeAlgorithm::parse(&metadata.algorithm).ok_or_else(|| {
            bad(format!(
                "holds a {} model, not a tree model",
                metadata.algorithm
            ))
        })?;
        let (meta, rows): (Meta, Vec<Vec<f64>>) = crate::persistence::load(dir, algorithm.name())?;
        let mut tree_weights = vec![f64::NAN; meta.num_trees];
        let mut trees: Vec<DecisionTree> = (0..meta.num_trees)
            .map(|_| DecisionTree { nodes: Vec::new() })
            .collect();
        for (i, row) in rows.iter().enumerate() {
            if row.len() < FIXED {
                return Err(bad(format!("node row {i} has {} values", row.len())));
            }
            let t = row[0] as usize;
            let tree = trees
                .get_mut(t)
                .ok_or_else(|| bad(format!("node row {i} names tree {t} of {}", meta.num_trees)))?;
            tree_weights[t] = row[10];
            let left_categories = row[12] as usize;
            if row.len() < FIXED + left_categories {
                return Err(bad(format!("node row {i} has {} values", row.len())));
            }
            let stats_end = row.len() - left_categories;
            let split = if row[5] >= 0.0 {
                Some(Split {
                    feature: row[5] as usize,
                    threshold: row[6],
                    bin: row[7] as usize,
                    left: row[8] as usize,
                    right: row[9] as usize,
                    num_categories: row[11] as usize,
                    categories: row[stats_end..].to_vec(),
                })
            } else {
                None
            };
            tree.nodes.push(Node {
                prediction: row[1],
                impurity: row[2],
                gain: row[3],
                raw_count: row[4],
                split,
                stats: row[FIXED..stats_end].to_vec(),
            });
        }
        for (t, tree) in trees.iter().enumerate() {
            let n = tree.nodes.len();
            let broken = n == 0
                || tree.nodes.iter().enumerate().any(|(i, node)| {
                    node.split.as_ref().is_some_and(|s| {
                        // Children come after their parent: no cycles.
                        s.left <= i
                            || s.right <= i
                            || s.left >= n
                            || s.right >= n
                            || s.feature >= meta.num_features
                    })
                });
            if broken {
                return Err(bad(format!("tree {t} is empty or links outside itself")));
            }
        }
        let classification = matches!(
            algorithm,
            TreeAlgorithm::DecisionTreeClassifier | TreeAlgorithm::RandomForestClassifier
        );
        let per_tree = !matches!(
            algorithm,
            TreeAlgorithm::GbtClassifier | TreeAlgorithm::GbtRegressor
        );
        let feature_importances =
            feature_importances(&trees, meta.num_features, classification, per_tree);
        Ok(Self {
            algorithm,
            trees,
            tree_weights,
            num_features: meta.num_features,
            num_classes: meta.num_classes,
            feature_importances,
            thresholds: meta.thresholds,
            params: meta.params,
            estimator: meta.estimator,
        })
    }
}
