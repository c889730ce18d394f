//! `cinder train` for the tree estimators: builds Spark's estimator from the flags, fits it,
//! and describes the model (`num_trees`, `total_num_nodes`, `feature_importances` in --json).

use anyhow::bail;
use cinder::cli_ml::{Algorithm, TrainArgs};
use cinder::Dataset;
use cinder_algorithms::tree::estimators::ForestParams;
use cinder_algorithms::tree::{
    DecisionTreeClassifier, DecisionTreeRegressor, FeatureSubsetStrategy, GBTClassifier,
    GBTRegressor, Impurity, Loss, RandomForestClassifier, RandomForestRegressor, TreeEnsembleModel,
    TreeParams,
};
use cinder_algorithms::FeatureSpec;
use serde_json::{json, Value};

/// The tree parameters the flags give (impurity defaulting to gini or variance).
fn tree_params(
    args: &TrainArgs,
    spec: FeatureSpec,
    classifier: bool,
) -> anyhow::Result<TreeParams> {
    let t = &args.trees;
    let impurity = match t.impurity.as_deref() {
        Some(name) => match Impurity::parse(name) {
            Some(i) => i,
            None => bail!("--impurity {name:?}: expected gini, entropy or variance"),
        },
        None if classifier => Impurity::Gini,
        None => Impurity::Variance,
    };
    Ok(TreeParams {
        max_depth: t.max_depth,
        max_bins: t.max_bins,
        min_instances_per_node: t.min_instances_per_node,
        min_weight_fraction_per_node: t.min_weight_fraction_per_node,
        min_info_gain: t.min_info_gain,
        max_memory_in_mb: t.max_memory_in_mb,
        impurity,
        seed: args.seed,
        categorical_features: Default::default(),
        columns: spec,
    })
}

fn strategy(
    args: &TrainArgs,
    default: FeatureSubsetStrategy,
) -> anyhow::Result<FeatureSubsetStrategy> {
    Ok(match &args.trees.feature_subset_strategy {
        Some(s) => FeatureSubsetStrategy::parse(s)?,
        None => default,
    })
}

/// Fits the tree algorithm the command line names; `on_iter(i, value)` reports progress
/// (levels for trees and forests, iterations and training loss for GBTs).
pub(crate) fn fit(
    args: &TrainArgs,
    spec: FeatureSpec,
    data: &Dataset,
    on_iter: &mut dyn FnMut(usize, f64),
) -> anyhow::Result<(Value, String, TreeEnsembleModel)> {
    let t = &args.trees;
    let algorithm = args
        .algorithm
        .ok_or_else(|| anyhow::anyhow!("no tree algorithm named"))?;
    let classifier = matches!(
        algorithm,
        Algorithm::DecisionTreeClassifier
            | Algorithm::RandomForestClassifier
            | Algorithm::GbtClassifier
    );
    let params = tree_params(args, spec, classifier)?;
    let forest = || -> anyhow::Result<ForestParams> {
        Ok(ForestParams {
            num_trees: t.num_trees,
            subsampling_rate: t.subsampling_rate,
            bootstrap: t.bootstrap,
            feature_subset_strategy: strategy(args, FeatureSubsetStrategy::Auto)?,
        })
    };
    let mut levels = |level: usize| on_iter(level + 1, f64::NAN);
    let model = match algorithm {
        Algorithm::DecisionTreeClassifier => DecisionTreeClassifier {
            params,
            thresholds: Vec::new(),
        }
        .fit(data)?,
        Algorithm::DecisionTreeRegressor => DecisionTreeRegressor { params }.fit(data)?,
        Algorithm::RandomForestClassifier => RandomForestClassifier {
            params,
            forest: forest()?,
            thresholds: Vec::new(),
        }
        .fit_with_progress(data, &mut levels)?,
        Algorithm::RandomForestRegressor => RandomForestRegressor {
            params,
            forest: forest()?,
        }
        .fit_with_progress(data, &mut levels)?,
        Algorithm::GbtClassifier | Algorithm::GbtRegressor => {
            let loss = match (t.loss_type.as_deref(), classifier) {
                (Some("squared"), _) => Loss::Squared,
                (Some("absolute"), _) => Loss::Absolute,
                (Some("logistic"), _) | (None, true) => Loss::Logistic,
                (None, false) => Loss::Squared,
                (Some(other), _) => {
                    bail!("--loss-type {other:?}: expected logistic, squared or absolute")
                }
            };
            let mut gbt = GBTRegressor {
                params,
                ..GBTRegressor::default()
            };
            gbt.boost.max_iter = args.max_iter.unwrap_or(20);
            gbt.boost.step_size = args.estimators.step_size.unwrap_or(0.1);
            gbt.boost.loss_type = loss;
            gbt.boost.subsampling_rate = t.subsampling_rate;
            gbt.boost.feature_subset_strategy = strategy(args, FeatureSubsetStrategy::All)?;
            if classifier {
                GBTClassifier {
                    params: gbt.params,
                    boost: gbt.boost,
                    thresholds: Vec::new(),
                }
                .fit_with_progress(data, on_iter)?
            } else {
                gbt.fit_with_progress(data, on_iter)?
            }
        }
        other => bail!("{other:?} is not a tree algorithm"),
    };
    let json = json!({
        "num_trees": model.trees.len(),
        "total_num_nodes": model.total_num_nodes(),
        "feature_importances": model.feature_importances,
        "tree_weights": model.tree_weights,
        "depth": model.trees.iter().map(|t| t.depth()).max().unwrap_or(0),
        "num_classes": model.num_classes,
    });
    let human = format!(
        "{}: {} tree{}, {} nodes, depth {}, {} features\n{}",
        model.algorithm.model_class(),
        model.trees.len(),
        if model.trees.len() == 1 { "" } else { "s" },
        model.total_num_nodes(),
        model.trees.iter().map(|t| t.depth()).max().unwrap_or(0),
        model.num_features,
        debug_preview(&model.to_debug_string()),
    );
    Ok((json, human, model))
}

/// The first lines of `toDebugString` (a forest's is long).
fn debug_preview(debug: &str) -> String {
    const LINES: usize = 40;
    let lines: Vec<&str> = debug.lines().collect();
    if lines.len() <= LINES {
        return debug.trim_end().to_string();
    }
    format!(
        "{}\n  ... ({} more lines)",
        lines[..LINES].join("\n"),
        lines.len() - LINES
    )
}

/// Spark's evaluator metrics of a tree model's predictions: accuracy, f1, weighted precision
/// and recall (and areaUnderROC/PR for two classes) for classifiers; rmse, mse, mae, r2 for
/// regressors.
pub(crate) fn metrics(
    model: &TreeEnsembleModel,
    predicted: &Dataset,
    label: String,
    weight: Option<String>,
) -> anyhow::Result<Value> {
    use cinder_algorithms::evaluation::{
        BinaryClassificationEvaluator, MulticlassClassificationEvaluator, RegressionEvaluator,
    };
    if !model.algorithm.is_classifier() {
        let r = RegressionEvaluator {
            label,
            prediction: "prediction".into(),
            weight,
            through_origin: false,
        }
        .metrics(predicted)?;
        return Ok(json!({"rmse": r.rmse, "mse": r.mse, "mae": r.mae, "r2": r.r2}));
    }
    let multi = MulticlassClassificationEvaluator {
        label: label.clone(),
        prediction: "prediction".into(),
        weight: weight.clone(),
    }
    .metrics(predicted)?;
    let mut out = json!({
        "accuracy": multi.accuracy,
        "f1": multi.f1,
        "weightedPrecision": multi.weighted_precision,
        "weightedRecall": multi.weighted_recall,
    });
    if model.num_classes == 2 {
        let binary = BinaryClassificationEvaluator {
            label,
            score: "probability".into(),
            weight,
        }
        .metrics(predicted)?;
        out["areaUnderROC"] = json!(binary.area_under_roc);
        out["areaUnderPR"] = json!(binary.area_under_pr);
    }
    Ok(out)
}
