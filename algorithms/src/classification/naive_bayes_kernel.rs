//! Worker-side kernels of naive Bayes: the per-class sums of one partition (the
//! `ml.naive_bayes.sums` aggregator: one pass is the whole fit), and Spark's `rawPrediction`,
//! `probability` and `prediction` columns.

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, RecordBatch};
use cinder_actors::data::aggregate::Aggregator;
use serde::{Deserialize, Serialize};

use crate::features::{FeatureSpec, Rows};
use crate::vectors::list_column;

/// Spark's `modelType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelType {
    /// Counts or frequencies (non-negative features).
    Multinomial,
    /// Binary features (0 or 1).
    Bernoulli,
    /// Real features, one normal distribution per class and feature.
    Gaussian,
    /// Multinomial weights learned from the other classes (Rennie et al., 2003).
    Complement,
}

impl ModelType {
    /// Spark's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Multinomial => "multinomial",
            Self::Bernoulli => "bernoulli",
            Self::Gaussian => "gaussian",
            Self::Complement => "complement",
        }
    }

    /// Parses Spark's name.
    pub fn parse(name: &str) -> Option<Self> {
        [
            Self::Multinomial,
            Self::Bernoulli,
            Self::Gaussian,
            Self::Complement,
        ]
        .into_iter()
        .find(|m| m.name() == name)
    }

    /// Checks one feature value as Spark does (`requireNonnegativeValues`,
    /// `requireZeroOneBernoulliValues`); `Err` names what is wrong.
    fn check_value(self, v: f64) -> Result<(), String> {
        match self {
            Self::Multinomial | Self::Complement if !(v >= 0.0 && v.is_finite()) => Err(format!(
                "{} naive Bayes requires non-negative feature values, found {v}",
                self.name()
            )),
            Self::Bernoulli if v != 0.0 && v != 1.0 => Err(format!(
                "bernoulli naive Bayes requires feature values 0 or 1, found {v}"
            )),
            Self::Gaussian if !v.is_finite() => {
                Err(format!("gaussian naive Bayes found feature value {v}"))
            }
            _ => Ok(()),
        }
    }
}

/// What a partition needs to sum itself up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NaiveBayesArgs {
    /// Columns.
    pub spec: FeatureSpec,
    /// Which checks apply to feature values, and whether squares are summed (gaussian).
    pub model_type: ModelType,
}

/// The sums of one class.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClassSums {
    /// Rows with this label.
    pub count: u64,
    /// Σ w.
    pub weight: f64,
    /// Σ w x_j.
    pub sum: Vec<f64>,
    /// Σ w x_j² (gaussian only; empty otherwise).
    pub sum_sq: Vec<f64>,
}

impl ClassSums {
    fn merge(&mut self, other: &ClassSums) {
        self.count += other.count;
        self.weight += other.weight;
        add_into(&mut self.sum, &other.sum);
        add_into(&mut self.sum_sq, &other.sum_sq);
    }
}

fn add_into(a: &mut Vec<f64>, b: &[f64]) {
    if a.len() < b.len() {
        a.resize(b.len(), 0.0);
    }
    for (x, y) in a.iter_mut().zip(b) {
        *x += y;
    }
}

/// Per-class sums of some partitions, indexed by label (0, 1, 2, ...), and the vector size.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NaiveBayesSums {
    /// One entry per label value up to the largest seen (absent labels have count 0).
    pub classes: Vec<ClassSums>,
    /// The widest feature vector seen.
    pub num_features: usize,
}

/// The `ml.naive_bayes.sums` aggregator.
pub struct NaiveBayesAgg;

impl Aggregator for NaiveBayesAgg {
    const NAME: &'static str = "ml.naive_bayes.sums";
    type Args = NaiveBayesArgs;
    type Acc = NaiveBayesSums;

    fn zero(_: &NaiveBayesArgs) -> NaiveBayesSums {
        NaiveBayesSums::default()
    }

    fn seq(
        mut acc: NaiveBayesSums,
        batch: &RecordBatch,
        a: &NaiveBayesArgs,
    ) -> Result<NaiveBayesSums, String> {
        let rows = Rows::new(batch, &a.spec)?;
        let d = rows.num_features();
        acc.num_features = acc.num_features.max(d);
        let gaussian = a.model_type == ModelType::Gaussian;
        for i in 0..rows.len() {
            let (y, w) = (rows.label(i), rows.weight(i));
            if !(y >= 0.0 && y.fract() == 0.0 && y < 1e9) {
                return Err(format!(
                    "label {y} is not a class index (0, 1, 2, ...) as naive Bayes needs"
                ));
            }
            if !(w >= 0.0 && w.is_finite()) {
                return Err(format!("weight {w} is not a non-negative number"));
            }
            let k = y as usize;
            if acc.classes.len() <= k {
                acc.classes.resize(k + 1, ClassSums::default());
            }
            let class = &mut acc.classes[k];
            if class.sum.len() < d {
                class.sum.resize(d, 0.0);
                if gaussian {
                    class.sum_sq.resize(d, 0.0);
                }
            }
            let mut bad = None;
            rows.for_each(i, |j, v| {
                if let Err(e) = a.model_type.check_value(v) {
                    bad.get_or_insert(e);
                }
                class.sum[j] += w * v;
                if gaussian {
                    class.sum_sq[j] += w * v * v;
                }
            });
            if let Some(e) = bad {
                return Err(e);
            }
            class.count += 1;
            class.weight += w;
        }
        Ok(acc)
    }

    fn comb(mut a: NaiveBayesSums, b: NaiveBayesSums, _: &NaiveBayesArgs) -> NaiveBayesSums {
        if a.classes.len() < b.classes.len() {
            a.classes.resize(b.classes.len(), ClassSums::default());
        }
        for (x, y) in a.classes.iter_mut().zip(&b.classes) {
            x.merge(y);
        }
        a.num_features = a.num_features.max(b.num_features);
        a
    }
}
cinder_actors::register_aggregator!(NaiveBayesAgg);

/// A fitted model as the prediction kernels need it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NaiveBayesPredictArgs {
    /// Columns (only the features are read).
    pub spec: FeatureSpec,
    /// The model type.
    pub model_type: ModelType,
    /// Log class priors.
    pub pi: Vec<f64>,
    /// One row per class: log conditional probabilities (means for gaussian; negated for
    /// complement, as Spark stores them).
    pub theta: Vec<Vec<f64>>,
    /// Variances (gaussian only).
    pub sigma: Vec<Vec<f64>>,
    /// The label of each class row.
    pub labels: Vec<f64>,
}

impl NaiveBayesPredictArgs {
    /// Spark's `rawPrediction` of row `i` (one value per class).
    pub fn raw(&self, rows: &Rows<'_>, i: usize) -> Result<Vec<f64>, String> {
        let k = self.pi.len();
        let mut bad = None;
        let mut dot = |row: &Vec<f64>| {
            let mut s = 0.0;
            rows.for_each(i, |j, v| {
                if let Err(e) = self.model_type.check_value(v) {
                    bad.get_or_insert(e);
                }
                s += row.get(j).copied().unwrap_or(0.0) * v;
            });
            s
        };
        let raw = match self.model_type {
            ModelType::Multinomial => (0..k).map(|c| self.pi[c] + dot(&self.theta[c])).collect(),
            ModelType::Complement => {
                let mut raw: Vec<f64> = (0..k).map(|c| dot(&self.theta[c])).collect();
                let lse = log_sum_exp(&raw);
                raw.iter_mut().for_each(|r| *r -= lse);
                raw
            }
            ModelType::Bernoulli => (0..k)
                .map(|c| {
                    // log p(x) = Σ_j x_j log θ + (1 - x_j) log(1 - θ)
                    let neg: f64 = self.theta[c].iter().map(|t| (-t.exp()).ln_1p()).sum();
                    let diff: Vec<f64> = self.theta[c]
                        .iter()
                        .map(|t| t - (-t.exp()).ln_1p())
                        .collect();
                    self.pi[c] + neg + dot(&diff)
                })
                .collect(),
            ModelType::Gaussian => {
                let d = self.theta.first().map_or(0, Vec::len);
                let mut x = vec![0.0; d];
                rows.for_each(i, |j, v| {
                    if let Some(slot) = x.get_mut(j) {
                        *slot = v;
                    }
                });
                (0..k)
                    .map(|c| {
                        let (mu, var) = (&self.theta[c], &self.sigma[c]);
                        let s: f64 = (0..d).map(|j| (x[j] - mu[j]).powi(2) / var[j]).sum();
                        let log_var: f64 = var.iter().map(|v| v.ln()).sum();
                        self.pi[c] - (s + log_var) / 2.0
                    })
                    .collect()
            }
        };
        match bad {
            Some(e) => Err(e),
            None => Ok(raw),
        }
    }
}

/// `log Σ exp(v)` without overflow.
pub fn log_sum_exp(v: &[f64]) -> f64 {
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    max + v.iter().map(|x| (x - max).exp()).sum::<f64>().ln()
}

/// The softmax of raw scores (Spark's `raw2probability` for naive Bayes).
pub fn softmax(raw: &[f64]) -> Vec<f64> {
    let lse = log_sum_exp(raw);
    raw.iter().map(|r| (r - lse).exp()).collect()
}

/// The index of the largest value (the first on ties, as Spark's `argmax`).
pub fn argmax(v: &[f64]) -> usize {
    let mut best = 0;
    for (k, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = k;
        }
    }
    best
}

fn raw_rows(
    batch: &RecordBatch,
    args: &[u8],
) -> Result<(NaiveBayesPredictArgs, Vec<Vec<f64>>), String> {
    let model: NaiveBayesPredictArgs = rmp_serde::from_slice(args).map_err(|e| e.to_string())?;
    let rows = Rows::new_features_only(batch, &model.spec)?;
    let raw = (0..rows.len())
        .map(|i| model.raw(&rows, i))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((model, raw))
}

/// `ml.naive_bayes.raw_prediction`: Spark's `rawPrediction`.
pub fn raw_prediction_column(batch: &RecordBatch, args: &[u8]) -> Result<ArrayRef, String> {
    Ok(list_column(raw_rows(batch, args)?.1))
}
cinder_actors::register_column!("ml.naive_bayes.raw_prediction", raw_prediction_column);

/// `ml.naive_bayes.probability`: class probabilities.
pub fn probability_column(batch: &RecordBatch, args: &[u8]) -> Result<ArrayRef, String> {
    Ok(list_column(
        raw_rows(batch, args)?.1.iter().map(|r| softmax(r)),
    ))
}
cinder_actors::register_column!("ml.naive_bayes.probability", probability_column);

/// `ml.naive_bayes.prediction`: the label of the class with the largest raw score.
pub fn prediction_column(batch: &RecordBatch, args: &[u8]) -> Result<ArrayRef, String> {
    let (model, raw) = raw_rows(batch, args)?;
    let values: Vec<f64> = raw.iter().map(|r| model.labels[argmax(r)]).collect();
    Ok(Arc::new(Float64Array::from(values)))
}
cinder_actors::register_column!("ml.naive_bayes.prediction", prediction_column);
