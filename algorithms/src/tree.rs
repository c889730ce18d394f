//! Tree ensembles as Spark's `spark.ml` defines them: `DecisionTreeClassifier`,
//! `DecisionTreeRegressor`, `RandomForestClassifier`, `RandomForestRegressor`,
//! `GBTClassifier` and `GBTRegressor`, with Spark's parameters, defaults and split choice.
//!
//! The protocol: candidate thresholds from one pass (Spark's `findSplits`, every row on small
//! data); the rows binned once into a cached dataset of one or two bytes per feature
//! (`ml.tree.bin`); then per tree level one pass (`ml.tree.histograms`) that builds the
//! histograms of every open node of every tree at once, combined in partition order; the
//! driver picks each node's best split. GBTs keep their running prediction as a cached column
//! updated after each tree.
//!
//! Categorical features ([`TreeParams::categorical_features`], Spark's feature index → number
//! of categories, as the indexers' column metadata records them) take the values
//! `0..categories` and are split as Spark splits ordered categorical features: categories
//! sorted by their mean label (regression) or class-1 count (binary classification), the best
//! prefix going left. Multiclass classification on a categorical feature with few categories
//! (Spark's unordered features) is refused.

pub mod bagging;
pub mod binned;
pub mod estimators;
pub mod gbt;
pub mod histogram;
pub mod impurity;
pub mod learner;
pub mod model;
pub mod node;
pub mod persist;
pub mod prepare;
pub mod splits;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use estimators::{
    DecisionTreeClassifier, DecisionTreeRegressor, FeatureSubsetStrategy, ForestParams,
    RandomForestClassifier, RandomForestRegressor,
};
pub use gbt::{BoostParams, GBTClassifier, GBTRegressor};
pub use histogram::Loss;
pub use impurity::Impurity;
pub use model::{TreeAlgorithm, TreeEnsembleModel};

use crate::features::FeatureSpec;
use crate::MlError;

/// The parameters every tree estimator has (Spark's `DecisionTreeParams`), with Spark's
/// defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TreeParams {
    /// `maxDepth` (5), at most 30.
    pub max_depth: usize,
    /// `maxBins` (32), at least 2.
    pub max_bins: usize,
    /// `minInstancesPerNode` (1).
    pub min_instances_per_node: usize,
    /// `minWeightFractionPerNode` (0), in `[0, 0.5)`.
    pub min_weight_fraction_per_node: f64,
    /// `minInfoGain` (0).
    pub min_info_gain: f64,
    /// `maxMemoryInMB` (256): histograms of one pass at most this large.
    pub max_memory_in_mb: usize,
    /// `impurity` (gini for classifiers, variance for regressors and GBTs).
    pub impurity: Impurity,
    /// `seed`.
    pub seed: u64,
    /// Categorical features: index → number of categories (values `0..categories`); one
    /// category is treated as continuous, like Spark.
    #[serde(default)]
    pub categorical_features: BTreeMap<usize, usize>,
    /// Label, weight (`weightCol`) and feature columns.
    pub columns: FeatureSpec,
}

impl TreeParams {
    /// Spark's defaults with the given impurity.
    pub fn with_impurity(impurity: Impurity) -> Self {
        Self {
            max_depth: 5,
            max_bins: 32,
            min_instances_per_node: 1,
            min_weight_fraction_per_node: 0.0,
            min_info_gain: 0.0,
            max_memory_in_mb: 256,
            impurity,
            seed: 0x5eed,
            categorical_features: BTreeMap::new(),
            columns: FeatureSpec::default(),
        }
    }

    /// Checks every parameter's range, naming the parameter.
    pub fn validate(&self, classifier: bool) -> Result<(), MlError> {
        let bad = |name: &'static str, message: String| Err(MlError::Param { name, message });
        if self.max_depth > 30 {
            return bad("maxDepth", format!("{} is above 30", self.max_depth));
        }
        if self.max_bins < 2 || self.max_bins > 65_536 {
            return bad("maxBins", format!("{} is not in [2, 65536]", self.max_bins));
        }
        if self.min_instances_per_node < 1 {
            return bad("minInstancesPerNode", "must be at least 1".into());
        }
        if !(0.0..0.5).contains(&self.min_weight_fraction_per_node) {
            return bad(
                "minWeightFractionPerNode",
                format!("{} is not in [0, 0.5)", self.min_weight_fraction_per_node),
            );
        }
        if !self.min_info_gain.is_finite() || self.min_info_gain < 0.0 {
            return bad(
                "minInfoGain",
                format!("{} is not a non-negative number", self.min_info_gain),
            );
        }
        if self.max_memory_in_mb == 0 {
            return bad("maxMemoryInMB", "must be positive".into());
        }
        if classifier != self.impurity.is_classification() {
            return bad(
                "impurity",
                format!(
                    "{} is for {}",
                    self.impurity.name(),
                    if classifier {
                        "regression"
                    } else {
                        "classification"
                    }
                ),
            );
        }
        if let Some((j, k)) = self
            .categorical_features
            .iter()
            .find(|(_, k)| **k > self.max_bins)
        {
            return bad(
                "maxBins",
                format!(
                    "{} is below the {k} categories of categorical feature {j} (maxBins must \
                     be at least every categorical feature's number of categories)",
                    self.max_bins
                ),
            );
        }
        Ok(())
    }
}
