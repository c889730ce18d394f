//! Spark's evaluators as stages with `metricName`s: `BinaryClassificationEvaluator`
//! (areaUnderROC, areaUnderPR), `MulticlassClassificationEvaluator` (f1, accuracy,
//! weightedPrecision, weightedRecall), `RegressionEvaluator` (rmse, mse, mae, r2) and
//! `ClusteringEvaluator` (silhouette), over the library's metric computations.

use crate::clustering::ClusteringEvaluator;
use crate::evaluation::{
    BinaryClassificationEvaluator, MulticlassClassificationEvaluator, RegressionEvaluator,
};
use crate::features::{FeatureCols, FeatureSpec};
use crate::frame::Frame;
use crate::pipeline::params::ParamMap;
use crate::MlError;

/// One evaluator stage.
#[derive(Debug, Clone)]
pub struct Evaluator {
    class: &'static str,
    params: ParamMap,
    metric: String,
    label: String,
    prediction: String,
    weight: Option<String>,
    features: String,
}

/// The evaluator classes known, with their metric names (the first is Spark's default).
pub const EVALUATORS: [(&str, &[&str]); 4] = [
    (
        "BinaryClassificationEvaluator",
        &["areaUnderROC", "areaUnderPR"],
    ),
    (
        "MulticlassClassificationEvaluator",
        &["f1", "accuracy", "weightedPrecision", "weightedRecall"],
    ),
    ("RegressionEvaluator", &["rmse", "mse", "mae", "r2"]),
    ("ClusteringEvaluator", &["silhouette"]),
];

impl Evaluator {
    /// The evaluator of Spark class `class` with `params`.
    pub fn new(class: &str, params: ParamMap) -> Result<Self, MlError> {
        let (class, metrics) = EVALUATORS
            .iter()
            .find(|(c, _)| *c == class)
            .copied()
            .ok_or_else(|| {
                MlError::Input(format!(
                    "unknown evaluator class {class:?} (known: {})",
                    EVALUATORS.map(|e| e.0).join(", ")
                ))
            })?;
        params.check_known(
            class,
            &[
                "metricName",
                "labelCol",
                "predictionCol",
                "rawPredictionCol",
                "weightCol",
                "featuresCol",
            ],
        )?;
        let prediction = if class == "BinaryClassificationEvaluator" {
            params.str_or("rawPredictionCol", "rawPrediction")?
        } else {
            params.str_or("predictionCol", "prediction")?
        };
        Ok(Self {
            class,
            metric: params.choice_or("metricName", metrics[0], metrics)?,
            label: params.str_or("labelCol", "label")?,
            weight: params.opt_str("weightCol")?.filter(|w| !w.is_empty()),
            features: params.str_or("featuresCol", "features")?,
            prediction,
            params,
        })
    }

    /// Spark's class name.
    pub fn class(&self) -> &'static str {
        self.class
    }

    /// The parameters set.
    pub fn params(&self) -> &ParamMap {
        &self.params
    }

    /// `metricName`.
    pub fn metric_name(&self) -> &str {
        &self.metric
    }

    /// Whether a larger metric is better (Spark's `isLargerBetter`).
    pub fn is_larger_better(&self) -> bool {
        !matches!(self.metric.as_str(), "rmse" | "mse" | "mae")
    }

    /// The metric on predicted data.
    pub fn evaluate<F: Frame>(&self, data: &F) -> Result<f64, MlError> {
        match self.class {
            "BinaryClassificationEvaluator" => {
                let m = BinaryClassificationEvaluator {
                    label: self.label.clone(),
                    score: self.prediction.clone(),
                    weight: self.weight.clone(),
                }
                .metrics(data)?;
                Ok(if self.metric == "areaUnderPR" {
                    m.area_under_pr
                } else {
                    m.area_under_roc
                })
            }
            "MulticlassClassificationEvaluator" => {
                let m = MulticlassClassificationEvaluator {
                    label: self.label.clone(),
                    prediction: self.prediction.clone(),
                    weight: self.weight.clone(),
                }
                .metrics(data)?;
                Ok(match self.metric.as_str() {
                    "accuracy" => m.accuracy,
                    "weightedPrecision" => m.weighted_precision,
                    "weightedRecall" => m.weighted_recall,
                    _ => m.f1,
                })
            }
            "RegressionEvaluator" => RegressionEvaluator {
                label: self.label.clone(),
                prediction: self.prediction.clone(),
                weight: self.weight.clone(),
                through_origin: false,
            }
            .evaluate(data, &self.metric),
            _ => ClusteringEvaluator {
                columns: FeatureSpec {
                    label: self.label.clone(),
                    weight: self.weight.clone(),
                    features: FeatureCols::Vector(self.features.clone()),
                },
                prediction: self.prediction.clone(),
            }
            .silhouette(data),
        }
    }
}
