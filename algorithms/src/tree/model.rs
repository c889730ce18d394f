//! Fitted tree models (one type for Spark's six model classes): predictions as Spark makes
//! them, `rawPrediction` and `probability` for classifiers, `featureImportances` with Spark's
//! normalization, and `toDebugString`.

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, RecordBatch};
use serde::{Deserialize, Serialize};

use super::node::{java_double, DecisionTree, Node};
use super::TreeParams;
use crate::features::{FeatureSpec, Rows};
use crate::frame::Frame;
use crate::MlError;

/// Which of Spark's estimators made a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TreeAlgorithm {
    /// `DecisionTreeClassifier`.
    DecisionTreeClassifier,
    /// `DecisionTreeRegressor`.
    DecisionTreeRegressor,
    /// `RandomForestClassifier`.
    RandomForestClassifier,
    /// `RandomForestRegressor`.
    RandomForestRegressor,
    /// `GBTClassifier`.
    GbtClassifier,
    /// `GBTRegressor`.
    GbtRegressor,
}

impl TreeAlgorithm {
    /// Every algorithm.
    pub const ALL: [Self; 6] = [
        Self::DecisionTreeClassifier,
        Self::DecisionTreeRegressor,
        Self::RandomForestClassifier,
        Self::RandomForestRegressor,
        Self::GbtClassifier,
        Self::GbtRegressor,
    ];

    /// The name models are saved under (`decision-tree-classifier`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::DecisionTreeClassifier => "decision-tree-classifier",
            Self::DecisionTreeRegressor => "decision-tree-regressor",
            Self::RandomForestClassifier => "random-forest-classifier",
            Self::RandomForestRegressor => "random-forest-regressor",
            Self::GbtClassifier => "gbt-classifier",
            Self::GbtRegressor => "gbt-regressor",
        }
    }

    /// Parses [`TreeAlgorithm::name`].
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    /// Spark's model class name.
    pub fn model_class(self) -> &'static str {
        match self {
            Self::DecisionTreeClassifier => "DecisionTreeClassificationModel",
            Self::DecisionTreeRegressor => "DecisionTreeRegressionModel",
            Self::RandomForestClassifier => "RandomForestClassificationModel",
            Self::RandomForestRegressor => "RandomForestRegressionModel",
            Self::GbtClassifier => "GBTClassificationModel",
            Self::GbtRegressor => "GBTRegressionModel",
        }
    }

    /// Whether it predicts classes.
    pub fn is_classifier(self) -> bool {
        matches!(
            self,
            Self::DecisionTreeClassifier | Self::RandomForestClassifier | Self::GbtClassifier
        )
    }
}

/// A fitted decision tree, random forest or gradient-boosted ensemble.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TreeEnsembleModel {
    /// The estimator that made it.
    pub algorithm: TreeAlgorithm,
    /// The trees.
    pub trees: Vec<DecisionTree>,
    /// Tree weights (1 for forests; 1, then `stepSize`, for GBTs).
    pub tree_weights: Vec<f64>,
    /// Vector size.
    pub num_features: usize,
    /// Classes (classifiers; 0 for regressors).
    pub num_classes: usize,
    /// Spark's `featureImportances`.
    pub feature_importances: Vec<f64>,
    /// `thresholds` of a classifier (empty: none).
    pub thresholds: Vec<f64>,
    /// Parameters common to all tree estimators (columns included).
    pub params: TreeParams,
    /// The estimator's other parameters (forest or boosting), for the record.
    pub estimator: serde_json::Value,
}

/// Spark's model names, all one type here.
pub type DecisionTreeClassificationModel = TreeEnsembleModel;
/// See [`TreeEnsembleModel`].
pub type DecisionTreeRegressionModel = TreeEnsembleModel;
/// See [`TreeEnsembleModel`].
pub type RandomForestClassificationModel = TreeEnsembleModel;
/// See [`TreeEnsembleModel`].
pub type RandomForestRegressionModel = TreeEnsembleModel;
/// See [`TreeEnsembleModel`].
pub type GBTClassificationModel = TreeEnsembleModel;
/// See [`TreeEnsembleModel`].
pub type GBTRegressionModel = TreeEnsembleModel;

/// What the prediction kernels need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictArgs {
    /// The model.
    pub algorithm: TreeAlgorithm,
    /// The trees.
    pub trees: Vec<DecisionTree>,
    /// Their weights.
    pub tree_weights: Vec<f64>,
    /// Classes.
    pub num_classes: usize,
    /// Vector size.
    pub num_features: usize,
    /// Classifier thresholds (empty: none).
    pub thresholds: Vec<f64>,
    /// Feature columns.
    pub spec: FeatureSpec,
}

fn class_counts_normalized(n: &Node) -> Vec<f64> {
    let total: f64 = n.stats.iter().sum();
    if total == 0.0 {
        return vec![0.0; n.stats.len()];
    }
    n.stats.iter().map(|c| c / total).collect()
}

/// Index of the first largest value.
fn argmax(v: &[f64]) -> usize {
    let mut best = 0;
    for (k, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = k;
        }
    }
    best
}

impl PredictArgs {
    /// Spark's `rawPrediction` (classifiers) for a dense feature vector.
    pub fn raw(&self, x: &[f64]) -> Vec<f64> {
        match self.algorithm {
            TreeAlgorithm::DecisionTreeClassifier => self.trees[0].leaf(x).stats.clone(),
            TreeAlgorithm::RandomForestClassifier => {
                let mut votes = vec![0.0; self.num_classes];
                for t in &self.trees {
                    for (v, p) in votes.iter_mut().zip(class_counts_normalized(t.leaf(x))) {
                        *v += p;
                    }
                }
                votes
            }
            _ => {
                let m = self.margin(x);
                vec![-m, m]
            }
        }
    }

    /// `Σ weight × tree prediction` (GBT's margin).
    pub fn margin(&self, x: &[f64]) -> f64 {
        self.trees
            .iter()
            .zip(&self.tree_weights)
            .map(|(t, w)| t.leaf(x).prediction * w)
            .sum()
    }

    /// Class probabilities from `rawPrediction`.
    pub fn probability(&self, raw: &[f64]) -> Vec<f64> {
        if self.algorithm == TreeAlgorithm::GbtClassifier {
            let p = 1.0 / (1.0 + (-2.0 * raw[1]).exp());
            return vec![1.0 - p, p];
        }
        let total: f64 = raw.iter().sum();
        if total == 0.0 {
            return raw.to_vec();
        }
        raw.iter().map(|r| r / total).collect()
    }

    /// The prediction for a dense feature vector.
    pub fn predict(&self, x: &[f64]) -> f64 {
        match self.algorithm {
            TreeAlgorithm::DecisionTreeRegressor => self.trees[0].leaf(x).prediction,
            TreeAlgorithm::RandomForestRegressor => {
                self.trees.iter().map(|t| t.leaf(x).prediction).sum::<f64>()
                    / self.trees.len() as f64
            }
            TreeAlgorithm::GbtRegressor => self.margin(x),
            _ => {
                let p = self.probability(&self.raw(x));
                if self.thresholds.is_empty() {
                    argmax(&p) as f64
                } else {
                    let scaled: Vec<f64> = p
                        .iter()
                        .zip(&self.thresholds)
                        .map(|(p, t)| if *t == 0.0 { f64::INFINITY } else { p / t })
                        .collect();
                    argmax(&scaled) as f64
                }
            }
        }
    }

    fn dense_rows(&self, batch: &RecordBatch) -> Result<Vec<Vec<f64>>, String> {
        let rows = Rows::new_features_only(batch, &self.spec)?;
        (0..rows.len())
            .map(|i| {
                let mut x = vec![0.0; self.num_features];
                let mut bad = None;
                rows.for_each(i, |j, v| match x.get_mut(j) {
                    Some(slot) => *slot = v,
                    None => bad = Some(j),
                });
                match bad {
                    Some(j) => Err(format!(
                        "feature index {j} beyond the model's {} features",
                        self.num_features
                    )),
                    None => Ok(x),
                }
            })
            .collect()
    }
}

fn decode(args: &[u8]) -> Result<PredictArgs, String> {
    rmp_serde::from_slice(args).map_err(|e| e.to_string())
}

/// `ml.tree.prediction`.
pub fn prediction_column(batch: &RecordBatch, args: &[u8]) -> Result<ArrayRef, String> {
    let m = decode(args)?;
    let values: Vec<f64> = m.dense_rows(batch)?.iter().map(|x| m.predict(x)).collect();
    Ok(Arc::new(Float64Array::from(values)))
}
cinder_actors::register_column!("ml.tree.prediction", prediction_column);

/// `ml.tree.raw_prediction`.
pub fn raw_prediction_column(batch: &RecordBatch, args: &[u8]) -> Result<ArrayRef, String> {
    let m = decode(args)?;
    let rows = m.dense_rows(batch)?;
    Ok(crate::vectors::list_column(rows.iter().map(|x| m.raw(x))))
}
cinder_actors::register_column!("ml.tree.raw_prediction", raw_prediction_column);

/// `ml.tree.probability`.
pub fn probability_column(batch: &RecordBatch, args: &[u8]) -> Result<ArrayRef, String> {
    let m = decode(args)?;
    let rows = m.dense_rows(batch)?;
    Ok(crate::vectors::list_column(
        rows.iter().map(|x| m.probability(&m.raw(x))),
    ))
}
cinder_actors::register_column!("ml.tree.probability", probability_column);

/// Spark's `TreeEnsembleModel.featureImportances`: per tree `Σ gain × count` per feature
/// (normalized per tree unless `per_tree` is false, as for GBTs), summed and normalized.
pub fn feature_importances(
    trees: &[DecisionTree],
    num_features: usize,
    classification: bool,
    per_tree: bool,
) -> Vec<f64> {
    let count = |n: &Node| {
        if classification {
            n.stats.iter().sum()
        } else {
            n.stats.first().copied().unwrap_or(0.0)
        }
    };
    let mut total = vec![0.0; num_features];
    for t in trees {
        let raw = t.raw_importances(num_features, count);
        let norm = if per_tree { raw.iter().sum() } else { 1.0 };
        if norm != 0.0 {
            for (x, r) in total.iter_mut().zip(&raw) {
                *x += r / norm;
            }
        }
    }
    let sum: f64 = total.iter().sum();
    if sum != 0.0 {
        total.iter_mut().for_each(|x| *x /= sum);
    }
    total
}

impl TreeEnsembleModel {
    /// The prediction kernels' arguments.
    pub fn predict_args(&self) -> PredictArgs {
        PredictArgs {
            algorithm: self.algorithm,
            trees: self.trees.clone(),
            tree_weights: self.tree_weights.clone(),
            num_classes: self.num_classes,
            num_features: self.num_features,
            thresholds: self.thresholds.clone(),
            spec: self.params.columns.clone(),
        }
    }

    /// Adds `prediction`, and for classifiers `rawPrediction` and `probability` (one value
    /// per class, `List<Float64>`).
    pub fn transform<F: Frame>(&self, data: &F) -> Result<F, MlError> {
        let args = rmp_serde::to_vec_named(&self.predict_args())
            .map_err(|e| MlError::Data(e.to_string()))?;
        let mut out = data.with_column("prediction", "ml.tree.prediction", args.clone())?;
        if self.algorithm.is_classifier() {
            out = out
                .with_column("rawPrediction", "ml.tree.raw_prediction", args.clone())?
                .with_column("probability", "ml.tree.probability", args)?;
        }
        Ok(out)
    }

    /// The prediction for one dense feature vector.
    pub fn predict(&self, x: &[f64]) -> f64 {
        self.predict_args().predict(x)
    }

    /// Nodes over all trees.
    pub fn total_num_nodes(&self) -> usize {
        self.trees.iter().map(DecisionTree::num_nodes).sum()
    }

    /// Spark's `toDebugString`.
    pub fn to_debug_string(&self) -> String {
        let class = self.algorithm.model_class();
        let uid = format!("{}_cinder", class.to_ascii_lowercase());
        let (nf, nc) = (self.num_features, self.num_classes);
        match self.algorithm {
            TreeAlgorithm::DecisionTreeClassifier | TreeAlgorithm::DecisionTreeRegressor => {
                let t = &self.trees[0];
                let classes = if self.algorithm.is_classifier() {
                    format!(", numClasses={nc}")
                } else {
                    String::new()
                };
                format!(
                    "{class}: uid={uid}, depth={}, numNodes={}{classes}, numFeatures={nf}\n{}",
                    t.depth(),
                    t.num_nodes(),
                    t.debug_lines(2)
                )
            }
            _ => {
                let classes = if self.algorithm.is_classifier() {
                    format!(", numClasses={nc}")
                } else {
                    String::new()
                };
                let mut out = format!(
                    "{class}: uid={uid}, numTrees={}{classes}, numFeatures={nf}\n",
                    self.trees.len()
                );
                for (i, (t, w)) in self.trees.iter().zip(&self.tree_weights).enumerate() {
                    out.push_str(&format!("  Tree {i} (weight {}):\n", java_double(*w)));
                    out.push_str(&t.debug_lines(4));
                }
                out
            }
        }
    }
}
