//! Evaluators with Spark's metric names: regression (`rmse`, `mse`, `mae`, `r2`), binary
//! classification (`areaUnderROC`, `areaUnderPR`), multiclass (`accuracy`, `f1`,
//! `weightedPrecision`, `weightedRecall`); clustering (`silhouette`) lives with k-means.

use std::collections::BTreeMap;

use arrow_array::RecordBatch;
use cinder_actors::data::aggregate::Aggregator;
use serde::{Deserialize, Serialize};

use crate::features::numeric_column;
use crate::frame::Frame;
use crate::MlError;

/// Which columns an evaluator reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvalColumns {
    /// Label column.
    pub label: String,
    /// Prediction (or score) column.
    pub prediction: String,
    /// Optional weight column.
    pub weight: Option<String>,
}

/// Labels, predictions and weights of one batch.
type Triple = (Vec<f64>, Vec<f64>, Vec<f64>);

fn columns(batch: &RecordBatch, c: &EvalColumns) -> Result<Triple, String> {
    let labels = numeric_column(batch, &c.label)?;
    let predictions = crate::vectors::score_column(batch, &c.prediction)?;
    let weights = match &c.weight {
        Some(w) => numeric_column(batch, w)?,
        None => vec![1.0; labels.len()],
    };
    Ok((labels, predictions, weights))
}

/// Weighted sums behind the regression metrics.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RegressionSums {
    w: f64,
    sse: f64,
    sae: f64,
    sum_y: f64,
    sum_y2: f64,
}

/// `ml.eval.regression`.
pub struct RegressionSumsAgg;

impl Aggregator for RegressionSumsAgg {
    const NAME: &'static str = "ml.eval.regression";
    type Args = EvalColumns;
    type Acc = RegressionSums;
    fn zero(_: &EvalColumns) -> RegressionSums {
        RegressionSums::default()
    }
    fn seq(
        mut acc: RegressionSums,
        batch: &RecordBatch,
        c: &EvalColumns,
    ) -> Result<RegressionSums, String> {
        let (y, p, w) = columns(batch, c)?;
        for i in 0..y.len() {
            let e = y[i] - p[i];
            acc.w += w[i];
            acc.sse += w[i] * e * e;
            acc.sae += w[i] * e.abs();
            acc.sum_y += w[i] * y[i];
            acc.sum_y2 += w[i] * y[i] * y[i];
        }
        Ok(acc)
    }
    fn comb(a: RegressionSums, b: RegressionSums, _: &EvalColumns) -> RegressionSums {
        RegressionSums {
            w: a.w + b.w,
            sse: a.sse + b.sse,
            sae: a.sae + b.sae,
            sum_y: a.sum_y + b.sum_y,
            sum_y2: a.sum_y2 + b.sum_y2,
        }
    }
}
cinder_actors::register_aggregator!(RegressionSumsAgg);

/// Regression metrics.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RegressionMetrics {
    /// Root mean squared error.
    pub rmse: f64,
    /// Mean squared error.
    pub mse: f64,
    /// Mean absolute error.
    pub mae: f64,
    /// Coefficient of determination.
    pub r2: f64,
}

/// Spark's `RegressionEvaluator`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegressionEvaluator {
    /// Label column.
    pub label: String,
    /// Prediction column.
    pub prediction: String,
    /// Optional weight column.
    pub weight: Option<String>,
    /// `throughOrigin`: r2 against an uncentered total (models without intercept).
    #[serde(default)]
    pub through_origin: bool,
}

impl RegressionEvaluator {
    /// All four metrics in one pass.
    pub fn metrics<F: Frame>(&self, data: &F) -> Result<RegressionMetrics, MlError> {
        let cols = EvalColumns {
            label: self.label.clone(),
            prediction: self.prediction.clone(),
            weight: self.weight.clone(),
        };
        let s = data.tree_aggregate::<RegressionSumsAgg>(&cols, 2)?;
        if s.w <= 0.0 {
            return Err(MlError::Input("no rows to evaluate".into()));
        }
        let mse = s.sse / s.w;
        let ss_tot = if self.through_origin {
            s.sum_y2
        } else {
            s.sum_y2 - s.sum_y * s.sum_y / s.w
        };
        Ok(RegressionMetrics {
            rmse: mse.sqrt(),
            mse,
            mae: s.sae / s.w,
            r2: 1.0 - s.sse / ss_tot,
        })
    }

    /// One metric by Spark's name (`rmse`, `mse`, `mae`, `r2`).
    pub fn evaluate<F: Frame>(&self, data: &F, metric: &str) -> Result<f64, MlError> {
        let m = self.metrics(data)?;
        match metric {
            "rmse" => Ok(m.rmse),
            "mse" => Ok(m.mse),
            "mae" => Ok(m.mae),
            "r2" => Ok(m.r2),
            other => Err(MlError::Param {
                name: "metricName",
                message: format!("{other:?} is not rmse, mse, mae or r2"),
            }),
        }
    }
}

/// `(score, label, weight)` triples of some partitions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// The triples.
    pub rows: Vec<(f64, f64, f64)>,
}

/// `ml.eval.scores`: gathers scores for curve metrics (sorted on the driver).
pub struct ScoresAgg;

impl Aggregator for ScoresAgg {
    const NAME: &'static str = "ml.eval.scores";
    type Args = EvalColumns;
    type Acc = Scores;
    fn zero(_: &EvalColumns) -> Scores {
        Scores::default()
    }
    fn seq(mut acc: Scores, batch: &RecordBatch, c: &EvalColumns) -> Result<Scores, String> {
        let (y, p, w) = columns(batch, c)?;
        acc.rows.extend((0..y.len()).map(|i| (p[i], y[i], w[i])));
        Ok(acc)
    }
    fn comb(mut a: Scores, b: Scores, _: &EvalColumns) -> Scores {
        a.rows.extend(b.rows);
        a
    }
}
cinder_actors::register_aggregator!(ScoresAgg);

/// Spark's `BinaryClassificationEvaluator` over a score column (probability of class 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BinaryClassificationEvaluator {
    /// Label column (0 or 1).
    pub label: String,
    /// Score column.
    pub score: String,
    /// Optional weight column.
    pub weight: Option<String>,
}

/// Areas under the ROC and precision-recall curves.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BinaryMetrics {
    /// Area under the ROC curve.
    pub area_under_roc: f64,
    /// Area under the precision-recall curve.
    pub area_under_pr: f64,
}

fn trapezoid(points: &[(f64, f64)]) -> f64 {
    points
        .windows(2)
        .map(|w| (w[1].0 - w[0].0) * (w[1].1 + w[0].1) / 2.0)
        .sum()
}

impl BinaryClassificationEvaluator {
    /// Both areas, with Spark's curve construction (one point per distinct score).
    pub fn metrics<F: Frame>(&self, data: &F) -> Result<BinaryMetrics, MlError> {
        let cols = EvalColumns {
            label: self.label.clone(),
            prediction: self.score.clone(),
            weight: self.weight.clone(),
        };
        let mut rows = data.tree_aggregate::<ScoresAgg>(&cols, 2)?.rows;
        rows.sort_by(|a, b| b.0.total_cmp(&a.0));
        let pos: f64 = rows.iter().filter(|r| r.1 > 0.5).map(|r| r.2).sum();
        let neg: f64 = rows.iter().filter(|r| r.1 <= 0.5).map(|r| r.2).sum();
        if pos == 0.0 || neg == 0.0 {
            return Err(MlError::Input("both classes are needed to evaluate".into()));
        }
        let (mut tp, mut fp) = (0.0, 0.0);
        let mut roc = vec![(0.0, 0.0)];
        let mut pr = Vec::new();
        let mut i = 0;
        while i < rows.len() {
            let score = rows[i].0;
            while i < rows.len() && rows[i].0 == score {
                if rows[i].1 > 0.5 {
                    tp += rows[i].2
                } else {
                    fp += rows[i].2
                }
                i += 1;
            }
            roc.push((fp / neg, tp / pos));
            pr.push((tp / pos, tp / (tp + fp)));
        }
        roc.push((1.0, 1.0));
        let first_precision = pr.first().map_or(1.0, |p| p.1);
        pr.insert(0, (0.0, first_precision));
        Ok(BinaryMetrics {
            area_under_roc: trapezoid(&roc),
            area_under_pr: trapezoid(&pr),
        })
    }
}

/// `ml.eval.confusion`: weighted `(label, prediction)` counts.
pub struct ConfusionAgg;

impl Aggregator for ConfusionAgg {
    const NAME: &'static str = "ml.eval.confusion";
    type Args = EvalColumns;
    type Acc = Vec<(u64, u64, f64)>;
    fn zero(_: &EvalColumns) -> Self::Acc {
        Vec::new()
    }
    fn seq(acc: Self::Acc, batch: &RecordBatch, c: &EvalColumns) -> Result<Self::Acc, String> {
        let (y, p, w) = columns(batch, c)?;
        let mut map: BTreeMap<(u64, u64), f64> =
            acc.into_iter().map(|(a, b, w)| ((a, b), w)).collect();
        for i in 0..y.len() {
            *map.entry((y[i].to_bits(), p[i].to_bits())).or_default() += w[i];
        }
        Ok(map.into_iter().map(|((a, b), w)| (a, b, w)).collect())
    }
    fn comb(a: Self::Acc, b: Self::Acc, _: &EvalColumns) -> Self::Acc {
        let mut map: BTreeMap<(u64, u64), f64> = BTreeMap::new();
        for (x, y, w) in a.into_iter().chain(b) {
            *map.entry((x, y)).or_default() += w;
        }
        map.into_iter().map(|((x, y), w)| (x, y, w)).collect()
    }
}
cinder_actors::register_aggregator!(ConfusionAgg);

/// Spark's `MulticlassClassificationEvaluator`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MulticlassClassificationEvaluator {
    /// Label column.
    pub label: String,
    /// Prediction column.
    pub prediction: String,
    /// Optional weight column.
    pub weight: Option<String>,
}

/// Multiclass metrics.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MulticlassMetrics {
    /// Fraction (by weight) predicted right.
    pub accuracy: f64,
    /// Label-weighted F1.
    pub f1: f64,
    /// Label-weighted precision.
    pub weighted_precision: f64,
    /// Label-weighted recall.
    pub weighted_recall: f64,
}

impl MulticlassClassificationEvaluator {
    /// All four metrics.
    pub fn metrics<F: Frame>(&self, data: &F) -> Result<MulticlassMetrics, MlError> {
        let cols = EvalColumns {
            label: self.label.clone(),
            prediction: self.prediction.clone(),
            weight: self.weight.clone(),
        };
        let cells = data.tree_aggregate::<ConfusionAgg>(&cols, 2)?;
        let total: f64 = cells.iter().map(|c| c.2).sum();
        if total <= 0.0 {
            return Err(MlError::Input("no rows to evaluate".into()));
        }
        let mut by_label: BTreeMap<u64, f64> = BTreeMap::new();
        let mut by_prediction: BTreeMap<u64, f64> = BTreeMap::new();
        let mut correct: BTreeMap<u64, f64> = BTreeMap::new();
        for (y, p, w) in &cells {
            *by_label.entry(*y).or_default() += w;
            *by_prediction.entry(*p).or_default() += w;
            if y == p {
                *correct.entry(*y).or_default() += w;
            }
        }
        let (mut precision, mut recall, mut f1) = (0.0, 0.0, 0.0);
        for (label, weight) in &by_label {
            let tp = correct.get(label).copied().unwrap_or(0.0);
            let predicted = by_prediction.get(label).copied().unwrap_or(0.0);
            let p = if predicted > 0.0 { tp / predicted } else { 0.0 };
            let r = tp / weight;
            let share = weight / total;
            precision += share * p;
            recall += share * r;
            f1 += share
                * if p + r > 0.0 {
                    2.0 * p * r / (p + r)
                } else {
                    0.0
                };
        }
        Ok(MulticlassMetrics {
            accuracy: correct.values().sum::<f64>() / total,
            f1,
            weighted_precision: precision,
            weighted_recall: recall,
        })
    }
}
