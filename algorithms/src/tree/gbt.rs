//! Gradient-boosted trees (Spark's `GradientBoostedTrees.boost`): the first tree fits the
//! label (as -1/+1 for classification) with weight 1, every later tree fits the loss's
//! pseudo-residuals with weight `stepSize`. The running prediction is a cached column of the
//! binned data (`ml.tree.gbt_update`), replaced after each tree.

use std::sync::Arc;

use arrow_array::{Float64Array, RecordBatch};
use serde::{Deserialize, Serialize};

use super::bagging::Bagging;
use super::binned::{Binned, PREDICTION};
use super::histogram::{Loss, Target};
use super::learner::{grow, GrowParams};
use super::model::{feature_importances, TreeAlgorithm, TreeEnsembleModel};
use super::node::DecisionTree;
use super::prepare::{prepare, Prepared};
use super::{FeatureSubsetStrategy, Impurity, TreeParams};
use crate::frame::Frame;
use crate::MlError;

/// The parameters boosting adds (Spark's `GBTParams`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoostParams {
    /// `maxIter` (20): trees.
    pub max_iter: usize,
    /// `stepSize` (0.1), in `(0, 1]`.
    pub step_size: f64,
    /// `lossType` (logistic for the classifier; squared or absolute for the regressor).
    pub loss_type: Loss,
    /// `subsamplingRate` (1).
    pub subsampling_rate: f64,
    /// `featureSubsetStrategy` (all).
    pub feature_subset_strategy: FeatureSubsetStrategy,
}

/// Spark's `GBTClassifier` (binary).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GBTClassifier {
    /// Tree parameters (impurity is always variance).
    pub params: TreeParams,
    /// Boosting parameters.
    pub boost: BoostParams,
    /// `thresholds` (empty: none).
    pub thresholds: Vec<f64>,
}

impl Default for GBTClassifier {
    fn default() -> Self {
        Self {
            params: TreeParams::with_impurity(Impurity::Variance),
            boost: BoostParams {
                max_iter: 20,
                step_size: 0.1,
                loss_type: Loss::Logistic,
                subsampling_rate: 1.0,
                feature_subset_strategy: FeatureSubsetStrategy::All,
            },
            thresholds: Vec::new(),
        }
    }
}

/// Spark's `GBTRegressor`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GBTRegressor {
    /// Tree parameters (impurity is always variance).
    pub params: TreeParams,
    /// Boosting parameters.
    pub boost: BoostParams,
}

impl Default for GBTRegressor {
    fn default() -> Self {
        Self {
            params: TreeParams::with_impurity(Impurity::Variance),
            boost: BoostParams {
                loss_type: Loss::Squared,
                ..GBTClassifier::default().boost
            },
        }
    }
}

impl GBTClassifier {
    /// Fits the ensemble.
    pub fn fit<F: Frame>(&self, data: &F) -> Result<TreeEnsembleModel, MlError> {
        self.fit_with_progress(data, &mut |_, _| {})
    }

    /// Fits, calling `progress(iteration, training loss)` after each tree.
    pub fn fit_with_progress<F: Frame>(
        &self,
        data: &F,
        progress: &mut dyn FnMut(usize, f64),
    ) -> Result<TreeEnsembleModel, MlError> {
        if self.boost.loss_type != Loss::Logistic {
            return Err(MlError::Param {
                name: "lossType",
                message: "GBTClassifier supports only logistic".into(),
            });
        }
        boost(
            data,
            &self.params,
            &self.boost,
            TreeAlgorithm::GbtClassifier,
            self.thresholds.clone(),
            progress,
        )
    }
}

impl GBTRegressor {
    /// Fits the ensemble.
    pub fn fit<F: Frame>(&self, data: &F) -> Result<TreeEnsembleModel, MlError> {
        self.fit_with_progress(data, &mut |_, _| {})
    }

    /// Fits, calling `progress(iteration, training loss)` after each tree.
    pub fn fit_with_progress<F: Frame>(
        &self,
        data: &F,
        progress: &mut dyn FnMut(usize, f64),
    ) -> Result<TreeEnsembleModel, MlError> {
        if self.boost.loss_type == Loss::Logistic {
            return Err(MlError::Param {
                name: "lossType",
                message: "GBTRegressor supports squared and absolute".into(),
            });
        }
        boost(
            data,
            &self.params,
            &self.boost,
            TreeAlgorithm::GbtRegressor,
            Vec::new(),
            progress,
        )
    }
}

/// Arguments of `ml.tree.gbt_update`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateArgs {
    /// Two bytes per bin.
    pub wide: bool,
    /// The new tree.
    pub tree: DecisionTree,
    /// Its weight.
    pub weight: f64,
}

/// `ml.tree.gbt_update`: the binned batch with `prediction += weight × tree(bins)` (the
/// column starts at 0).
pub fn update_batch(batch: &RecordBatch, args: &[u8]) -> Result<RecordBatch, String> {
    let a: UpdateArgs = rmp_serde::from_slice(args).map_err(|e| e.to_string())?;
    let rows = Binned::new(batch, a.wide)?;
    let values: Vec<f64> = (0..rows.len())
        .map(|i| {
            let old = rows.predictions.map_or(0.0, |p| p[i]);
            old + a.weight * a.tree.leaf_binned(|j| rows.bin(i, j)).prediction
        })
        .collect();
    cinder_actors::data::exec::with_column(batch, PREDICTION, Arc::new(Float64Array::from(values)))
}
cinder_actors::register_map!("ml.tree.gbt_update", update_batch);

fn boost<F: Frame>(
    data: &F,
    params: &TreeParams,
    boost: &BoostParams,
    algorithm: TreeAlgorithm,
    thresholds: Vec<f64>,
    progress: &mut dyn FnMut(usize, f64),
) -> Result<TreeEnsembleModel, MlError> {
    let classifier = algorithm.is_classifier();
    // Every tree is a regression tree on variance, whatever the estimator.
    let tree_params = TreeParams {
        impurity: Impurity::Variance,
        ..params.clone()
    };
    tree_params.validate(false)?;
    if boost.max_iter == 0 {
        return Err(MlError::Param {
            name: "maxIter",
            message: "must be at least 1".into(),
        });
    }
    if !(boost.step_size > 0.0 && boost.step_size <= 1.0) {
        return Err(MlError::Param {
            name: "stepSize",
            message: format!("{} is not in (0, 1]", boost.step_size),
        });
    }
    if !(boost.subsampling_rate > 0.0 && boost.subsampling_rate <= 1.0) {
        return Err(MlError::Param {
            name: "subsamplingRate",
            message: format!("{} is not in (0, 1]", boost.subsampling_rate),
        });
    }
    let Prepared {
        binned,
        info,
        summary,
        ..
    } = prepare(data, &tree_params, false)?;
    let num_classes = if classifier {
        if summary.non_class_labels > 0 || summary.histogram.len() > 2 {
            binned.uncache()?;
            return Err(MlError::Input(
                "GBTClassifier needs labels 0 and 1 (binary classification)".into(),
            ));
        }
        2
    } else {
        0
    };
    super::estimators::check_thresholds(&thresholds, num_classes)?;
    let num_features = info.thresholds.len();
    let grow_params = GrowParams {
        impurity: Impurity::Variance,
        num_classes: 0,
        max_depth: params.max_depth,
        min_instances_per_node: params.min_instances_per_node,
        min_weight_fraction_per_node: params.min_weight_fraction_per_node,
        min_info_gain: params.min_info_gain,
        max_memory_in_mb: params.max_memory_in_mb,
        features_per_node: boost
            .feature_subset_strategy
            .features_per_node(num_features, 1, false),
        seed: params.seed,
    };
    let mut trees = Vec::with_capacity(boost.max_iter);
    let mut weights = Vec::with_capacity(boost.max_iter);
    let mut current: Option<F> = None;
    let result = (|| -> Result<(), MlError> {
        for m in 0..boost.max_iter {
            let target = match (m, classifier) {
                (0, false) => Target::Label,
                (0, true) => Target::Signed,
                _ => Target::Residual(boost.loss_type),
            };
            let bagging = if boost.subsampling_rate < 1.0 {
                Bagging {
                    rate: boost.subsampling_rate,
                    with_replacement: false,
                    seed: params.seed.wrapping_add(m as u64),
                }
            } else {
                Bagging::none()
            };
            let source = current.as_ref().unwrap_or(&binned);
            let tree = grow(
                source,
                &info,
                &grow_params,
                bagging,
                target,
                &[m as u64],
                &mut |_| {},
            )?
            .pop()
            .expect("one tree");
            let weight = if m == 0 { 1.0 } else { boost.step_size };
            let next = source
                .map_batches(
                    "ml.tree.gbt_update",
                    &UpdateArgs {
                        wide: info.wide,
                        tree: tree.clone(),
                        weight,
                    },
                )?
                .cached()?;
            let loss = next.tree_aggregate::<TrainingLoss>(
                &LossArgs {
                    wide: info.wide,
                    loss: boost.loss_type,
                    signed: classifier,
                },
                2,
            )?;
            if let Some(old) = current.replace(next) {
                old.uncache()?;
            }
            trees.push(tree);
            weights.push(weight);
            progress(m + 1, loss.0 / loss.1.max(f64::MIN_POSITIVE));
        }
        Ok(())
    })();
    if let Some(last) = &current {
        last.uncache()?;
    }
    binned.uncache()?;
    result?;
    let feature_importances = feature_importances(&trees, num_features, false, false);
    Ok(TreeEnsembleModel {
        algorithm,
        trees,
        tree_weights: weights,
        num_features,
        num_classes,
        feature_importances,
        thresholds,
        params: tree_params,
        estimator: serde_json::to_value(boost).unwrap_or_default(),
    })
}

/// Arguments of `ml.tree.gbt_loss`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LossArgs {
    /// Two bytes per bin.
    pub wide: bool,
    /// The loss.
    pub loss: Loss,
    /// Labels as -1/+1.
    pub signed: bool,
}

/// `ml.tree.gbt_loss`: `(Σ w loss, Σ w)` at the running prediction.
pub struct TrainingLoss;

impl cinder_actors::data::aggregate::Aggregator for TrainingLoss {
    const NAME: &'static str = "ml.tree.gbt_loss";
    type Args = LossArgs;
    type Acc = (f64, f64);

    fn zero(_: &LossArgs) -> (f64, f64) {
        (0.0, 0.0)
    }

    fn seq(acc: (f64, f64), batch: &RecordBatch, a: &LossArgs) -> Result<(f64, f64), String> {
        let rows = Binned::new(batch, a.wide)?;
        let p = rows.predictions.ok_or("no running prediction")?;
        let (mut sum, mut weight) = acc;
        for ((y, w), f) in rows.labels.iter().zip(rows.weights).zip(p) {
            let y = if a.signed { 2.0 * y - 1.0 } else { *y };
            sum += w * a.loss.error(y, *f);
            weight += w;
        }
        Ok((sum, weight))
    }

    fn comb(a: (f64, f64), b: (f64, f64), _: &LossArgs) -> (f64, f64) {
        (a.0 + b.0, a.1 + b.1)
    }
}
cinder_actors::register_aggregator!(TrainingLoss);
