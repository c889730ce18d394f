//! Decision trees and random forests: one tree without sampling, or `numTrees` trees grown
//! together, each on its seeded bootstrap sample and with seeded feature subsets per node.

use serde::{Deserialize, Serialize};

use super::bagging::Bagging;
use super::binned::BagArgs;
use super::histogram::Target;
use super::learner::{grow, GrowParams};
use super::model::{feature_importances, TreeAlgorithm, TreeEnsembleModel};
use super::prepare::{prepare, Prepared};
use super::{Impurity, TreeParams};
use crate::frame::Frame;
use crate::MlError;

/// Spark's `featureSubsetStrategy`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeatureSubsetStrategy {
    /// `all` for one tree; `sqrt` (classification) or `onethird` (regression) for forests.
    Auto,
    /// Every feature.
    All,
    /// `ceil(n / 3)`.
    OneThird,
    /// `ceil(sqrt(n))`.
    Sqrt,
    /// `max(1, ceil(log2(n)))`.
    Log2,
    /// `min(k, n)` features.
    Count(usize),
    /// `ceil(fraction × n)`, fraction in `(0, 1]`.
    Fraction(f64),
}

impl FeatureSubsetStrategy {
    /// Parses Spark's spelling: `auto`, `all`, `onethird`, `sqrt`, `log2`, an integer `n` or
    /// a fraction in `(0, 1]`.
    pub fn parse(text: &str) -> Result<Self, MlError> {
        let t = text.trim().to_ascii_lowercase();
        Ok(match t.as_str() {
            "auto" => Self::Auto,
            "all" => Self::All,
            "onethird" => Self::OneThird,
            "sqrt" => Self::Sqrt,
            "log2" => Self::Log2,
            _ => {
                if let Ok(n) = t.parse::<usize>() {
                    if n > 0 {
                        return Ok(Self::Count(n));
                    }
                } else if let Ok(f) = t.parse::<f64>() {
                    if f > 0.0 && f <= 1.0 {
                        return Ok(Self::Fraction(f));
                    }
                }
                return Err(MlError::Param {
                    name: "featureSubsetStrategy",
                    message: format!(
                        "{text:?}: expected auto, all, onethird, sqrt, log2, an integer n > 0 \
                         or a fraction in (0, 1]"
                    ),
                });
            }
        })
    }

    /// Features per node out of `n`.
    pub fn features_per_node(&self, n: usize, num_trees: usize, classifier: bool) -> usize {
        let nf = n as f64;
        let k = match self {
            Self::Auto if num_trees == 1 => n,
            Self::Auto if classifier => nf.sqrt().ceil() as usize,
            Self::Auto => (nf / 3.0).ceil() as usize,
            Self::All => n,
            Self::OneThird => (nf / 3.0).ceil() as usize,
            Self::Sqrt => nf.sqrt().ceil() as usize,
            Self::Log2 => ((nf.ln() / 2f64.ln()).ceil() as usize).max(1),
            Self::Count(k) => (*k).min(n),
            Self::Fraction(f) => (f * nf).ceil() as usize,
        };
        k.clamp(1, n.max(1))
    }
}

/// Fits `num_trees` trees together and wraps them as a model.
#[allow(clippy::too_many_arguments)]
pub(crate) fn fit_forest<F: Frame>(
    data: &F,
    params: &TreeParams,
    algorithm: TreeAlgorithm,
    num_trees: usize,
    subsampling_rate: f64,
    bootstrap: bool,
    strategy: &FeatureSubsetStrategy,
    thresholds: Vec<f64>,
    estimator: serde_json::Value,
    progress: &mut dyn FnMut(usize),
) -> Result<TreeEnsembleModel, MlError> {
    let classifier = algorithm.is_classifier();
    params.validate(classifier)?;
    if num_trees == 0 {
        return Err(MlError::Param {
            name: "numTrees",
            message: "must be at least 1".into(),
        });
    }
    if !(subsampling_rate > 0.0 && subsampling_rate <= 1.0) {
        return Err(MlError::Param {
            name: "subsamplingRate",
            message: format!("{subsampling_rate} is not in (0, 1]"),
        });
    }
    let Prepared {
        binned,
        info,
        num_classes,
        ..
    } = prepare(data, params, classifier)?;
    check_thresholds(&thresholds, num_classes)?;
    let num_features = info.thresholds.len();
    let grow_params = GrowParams {
        impurity: params.impurity,
        num_classes,
        max_depth: params.max_depth,
        min_instances_per_node: params.min_instances_per_node,
        min_weight_fraction_per_node: params.min_weight_fraction_per_node,
        min_info_gain: params.min_info_gain,
        max_memory_in_mb: params.max_memory_in_mb,
        features_per_node: strategy.features_per_node(num_features, num_trees, classifier),
        seed: params.seed,
    };
    let with_replacement = bootstrap && num_trees > 1;
    let bagging = if with_replacement || subsampling_rate < 1.0 {
        Bagging {
            rate: subsampling_rate,
            with_replacement,
            seed: params.seed,
        }
    } else {
        Bagging::none()
    };
    let ids: Vec<u64> = (0..num_trees as u64).collect();
    // With sampling, every row's count per tree is computed once and cached beside the bins.
    let bagged = if bagging == Bagging::none() {
        None
    } else {
        let args = BagArgs {
            bagging,
            trees: num_trees,
        };
        match binned
            .map_batches("ml.tree.bag", &args)
            .and_then(|f| f.cached())
        {
            Ok(f) => Some(f),
            Err(e) => {
                binned.uncache()?;
                return Err(e);
            }
        }
    };
    let grown = grow(
        bagged.as_ref().unwrap_or(&binned),
        &info,
        &grow_params,
        bagging,
        Target::Label,
        &ids,
        progress,
    );
    if let Some(bagged) = &bagged {
        bagged.uncache()?;
    }
    binned.uncache()?;
    let trees = grown?;
    let feature_importances = feature_importances(&trees, num_features, classifier, true);
    Ok(TreeEnsembleModel {
        algorithm,
        tree_weights: vec![1.0; trees.len()],
        trees,
        num_features,
        num_classes,
        feature_importances,
        thresholds,
        params: params.clone(),
        estimator,
    })
}

/// Spark's `thresholds`: one non-negative value per class, at most one zero.
pub(crate) fn check_thresholds(thresholds: &[f64], num_classes: usize) -> Result<(), MlError> {
    if thresholds.is_empty() {
        return Ok(());
    }
    let bad = |message: String| {
        Err(MlError::Param {
            name: "thresholds",
            message,
        })
    };
    if thresholds.len() != num_classes {
        return bad(format!(
            "{} values for {num_classes} classes",
            thresholds.len()
        ));
    }
    if thresholds.iter().any(|t| !(t.is_finite() && *t >= 0.0)) {
        return bad("values must be finite and non-negative".into());
    }
    if thresholds.iter().filter(|t| **t == 0.0).count() > 1 {
        return bad("at most one value may be 0".into());
    }
    Ok(())
}

/// Spark's `DecisionTreeClassifier`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionTreeClassifier {
    /// Tree parameters (impurity gini by default).
    pub params: TreeParams,
    /// `thresholds` (empty: none).
    pub thresholds: Vec<f64>,
}

impl Default for DecisionTreeClassifier {
    fn default() -> Self {
        Self {
            params: TreeParams::with_impurity(Impurity::Gini),
            thresholds: Vec::new(),
        }
    }
}

impl DecisionTreeClassifier {
    /// Fits the tree.
    pub fn fit<F: Frame>(&self, data: &F) -> Result<TreeEnsembleModel, MlError> {
        fit_forest(
            data,
            &self.params,
            TreeAlgorithm::DecisionTreeClassifier,
            1,
            1.0,
            false,
            &FeatureSubsetStrategy::All,
            self.thresholds.clone(),
            serde_json::json!({}),
            &mut |_| {},
        )
    }
}

/// Spark's `DecisionTreeRegressor`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionTreeRegressor {
    /// Tree parameters (impurity variance).
    pub params: TreeParams,
}

impl Default for DecisionTreeRegressor {
    fn default() -> Self {
        Self {
            params: TreeParams::with_impurity(Impurity::Variance),
        }
    }
}

impl DecisionTreeRegressor {
    /// Fits the tree.
    pub fn fit<F: Frame>(&self, data: &F) -> Result<TreeEnsembleModel, MlError> {
        fit_forest(
            data,
            &self.params,
            TreeAlgorithm::DecisionTreeRegressor,
            1,
            1.0,
            false,
            &FeatureSubsetStrategy::All,
            Vec::new(),
            serde_json::json!({}),
            &mut |_| {},
        )
    }
}

/// The parameters forests add (Spark's `RandomForestParams`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForestParams {
    /// `numTrees` (20).
    pub num_trees: usize,
    /// `subsamplingRate` (1).
    pub subsampling_rate: f64,
    /// `bootstrap` (true).
    pub bootstrap: bool,
    /// `featureSubsetStrategy` (auto).
    pub feature_subset_strategy: FeatureSubsetStrategy,
}

impl Default for ForestParams {
    fn default() -> Self {
        Self {
            num_trees: 20,
            subsampling_rate: 1.0,
            bootstrap: true,
            feature_subset_strategy: FeatureSubsetStrategy::Auto,
        }
    }
}

/// Spark's `RandomForestClassifier`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RandomForestClassifier {
    /// Tree parameters (impurity gini by default).
    pub params: TreeParams,
    /// Forest parameters.
    pub forest: ForestParams,
    /// `thresholds` (empty: none).
    pub thresholds: Vec<f64>,
}

impl Default for RandomForestClassifier {
    fn default() -> Self {
        Self {
            params: TreeParams::with_impurity(Impurity::Gini),
            forest: ForestParams::default(),
            thresholds: Vec::new(),
        }
    }
}

impl RandomForestClassifier {
    /// Fits the forest.
    pub fn fit<F: Frame>(&self, data: &F) -> Result<TreeEnsembleModel, MlError> {
        self.fit_with_progress(data, &mut |_| {})
    }

    /// Fits the forest, calling `progress(level)` after each level.
    pub fn fit_with_progress<F: Frame>(
        &self,
        data: &F,
        progress: &mut dyn FnMut(usize),
    ) -> Result<TreeEnsembleModel, MlError> {
        let f = &self.forest;
        fit_forest(
            data,
            &self.params,
            TreeAlgorithm::RandomForestClassifier,
            f.num_trees,
            f.subsampling_rate,
            f.bootstrap,
            &f.feature_subset_strategy,
            self.thresholds.clone(),
            serde_json::to_value(f).unwrap_or_default(),
            progress,
        )
    }
}

/// Spark's `RandomForestRegressor`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RandomForestRegressor {
    /// Tree parameters (impurity variance).
    pub params: TreeParams,
    /// Forest parameters.
    pub forest: ForestParams,
}

impl Default for RandomForestRegressor {
    fn default() -> Self {
        Self {
            params: TreeParams::with_impurity(Impurity::Variance),
            forest: ForestParams::default(),
        }
    }
}

impl RandomForestRegressor {
    /// Fits the forest.
    pub fn fit<F: Frame>(&self, data: &F) -> Result<TreeEnsembleModel, MlError> {
        self.fit_with_progress(data, &mut |_| {})
    }

    /// Fits the forest, calling `progress(level)` after each level.
    pub fn fit_with_progress<F: Frame>(
        &self,
        data: &F,
        progress: &mut dyn FnMut(usize),
    ) -> Result<TreeEnsembleModel, MlError> {
        let f = &self.forest;
        fit_forest(
            data,
            &self.params,
            TreeAlgorithm::RandomForestRegressor,
            f.num_trees,
            f.subsampling_rate,
            f.bootstrap,
            &f.feature_subset_strategy,
            Vec::new(),
            serde_json::to_value(f).unwrap_or_default(),
            progress,
        )
    }
}
