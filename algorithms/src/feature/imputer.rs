//! Spark's `Imputer`: missing values (null, NaN and `missingValue`, default NaN) of numeric
//! columns replaced by each column's mean, median (approximate, `relativeError`) or mode
//! (the smallest of the most frequent values), computed over the non-missing values in one
//! distributed pass.

use std::any::Any;
use std::collections::HashMap;
use std::path::Path;

use arrow_array::RecordBatch;
use cinder_actors::data::aggregate::Aggregator;
use serde::{Deserialize, Serialize};

use super::columns::{decode_args, double_column, double_values, with_columns};
use super::quantiles::{QuantileArgs, QuantilesAgg};
use crate::frame::Frame;
use crate::pipeline::params::{number_value, ParamMap};
use crate::pipeline::stage::{Estimator, Model, Stage, StageClass};
use crate::pipeline::state::{load_state, save_state};
use crate::MlError;

/// Spark's `Imputer` estimator.
#[derive(Debug, Clone)]
pub struct Imputer {
    params: ParamMap,
    columns: Vec<(String, String)>,
    strategy: String,
    missing_value: f64,
    relative_error: f64,
}

/// What a fitted imputer learned: Spark's `surrogateDF`, one value per input column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImputerState {
    /// `(inputCol, outputCol)` pairs.
    pub columns: Vec<(String, String)>,
    /// The replacement of each column's missing values.
    pub surrogates: Vec<f64>,
    /// `missingValue` (as JSON: `"NaN"` for NaN).
    pub missing_value: serde_json::Value,
}

/// Spark's `ImputerModel`.
#[derive(Debug, Clone)]
pub struct ImputerModel {
    params: ParamMap,
    /// What it learned.
    pub state: ImputerState,
}

impl Imputer {
    /// The estimator from Spark's parameters.
    pub fn new(params: ParamMap) -> Result<Self, MlError> {
        params.check_known(
            "Imputer",
            &[
                "inputCol",
                "outputCol",
                "inputCols",
                "outputCols",
                "strategy",
                "missingValue",
                "relativeError",
            ],
        )?;
        let relative_error = params.f64_or("relativeError", 0.001)?;
        if !(0.0..=1.0).contains(&relative_error) {
            return Err(MlError::Input(format!(
                "Imputer: relativeError {relative_error} is not in [0, 1]"
            )));
        }
        Ok(Self {
            columns: params.in_out_cols("Imputer", None)?,
            strategy: params.choice_or("strategy", "mean", &["mean", "median", "mode"])?,
            missing_value: params.f64_or("missingValue", f64::NAN)?,
            relative_error,
            params,
        })
    }

    fn is_missing(&self, x: f64) -> bool {
        x.is_nan() || x == self.missing_value
    }
}

/// Arguments of [`ImputerStatsAgg`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatsArgs {
    /// Columns.
    pub columns: Vec<String>,
    /// `missingValue` (besides null and NaN).
    pub missing: f64,
    /// Count every distinct value (for the mode).
    pub counts: bool,
}

/// Per column: the sum and number of non-missing values, and (for the mode) each distinct
/// value's count, sorted by value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ColumnStats {
    /// Σ x.
    pub sum: f64,
    /// Non-missing values.
    pub count: u64,
    /// `(value, count)` sorted by value.
    pub counts: Vec<(f64, u64)>,
}

fn merge_counts(a: &[(f64, u64)], b: &[(f64, u64)]) -> Vec<(f64, u64)> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if j == b.len() || (i < a.len() && a[i].0 < b[j].0) {
            out.push(a[i]);
            i += 1;
        } else if i == a.len() || b[j].0 < a[i].0 {
            out.push(b[j]);
            j += 1;
        } else {
            out.push((a[i].0, a[i].1 + b[j].1));
            i += 1;
            j += 1;
        }
    }
    out
}

/// `ml.feature.imputer_stats`.
pub struct ImputerStatsAgg;

impl Aggregator for ImputerStatsAgg {
    const NAME: &'static str = "ml.feature.imputer_stats";
    type Args = StatsArgs;
    type Acc = Vec<ColumnStats>;

    fn zero(args: &StatsArgs) -> Self::Acc {
        vec![ColumnStats::default(); args.columns.len()]
    }

    fn seq(mut acc: Self::Acc, batch: &RecordBatch, args: &StatsArgs) -> Result<Self::Acc, String> {
        for (stats, name) in acc.iter_mut().zip(&args.columns) {
            let mut values: Vec<f64> = double_values(batch, name)?
                .into_iter()
                .flatten()
                .filter(|x| !x.is_nan() && *x != args.missing)
                .collect();
            stats.sum += values.iter().sum::<f64>();
            stats.count += values.len() as u64;
            if args.counts {
                values.sort_by(f64::total_cmp);
                let mut counts: Vec<(f64, u64)> = Vec::new();
                for v in values {
                    match counts.last_mut() {
                        Some(last) if last.0 == v => last.1 += 1,
                        _ => counts.push((v, 1)),
                    }
                }
                stats.counts = merge_counts(&stats.counts, &counts);
            }
        }
        Ok(acc)
    }

    fn comb(a: Self::Acc, b: Self::Acc, _: &StatsArgs) -> Self::Acc {
        a.into_iter()
            .zip(b)
            .map(|(x, y)| ColumnStats {
                sum: x.sum + y.sum,
                count: x.count + y.count,
                counts: merge_counts(&x.counts, &y.counts),
            })
            .collect()
    }
}
cinder_actors::register_aggregator!(ImputerStatsAgg);

impl Stage for Imputer {
    fn class(&self) -> &'static str {
        "Imputer"
    }
    fn params(&self) -> &ParamMap {
        &self.params
    }
}

impl<F: Frame> Estimator<F> for Imputer {
    fn fit(&self, data: &F) -> Result<Box<dyn Model<F>>, MlError> {
        let columns: Vec<String> = self.columns.iter().map(|(i, _)| i.clone()).collect();
        let stats = data.tree_aggregate::<ImputerStatsAgg>(
            &StatsArgs {
                columns: columns.clone(),
                missing: self.missing_value,
                counts: self.strategy == "mode",
            },
            2,
        )?;
        let medians = if self.strategy == "median" {
            Some(data.tree_aggregate::<QuantilesAgg>(
                &QuantileArgs {
                    columns: columns.clone(),
                    missing: Some(self.missing_value).filter(|m| !m.is_nan()),
                    relative_error: self.relative_error,
                },
                2,
            )?)
        } else {
            None
        };
        let mut surrogates = Vec::new();
        for (j, (s, name)) in stats.iter().zip(&columns).enumerate() {
            if s.count == 0 {
                return Err(MlError::Input(format!(
                    "Imputer: surrogate cannot be computed: all the values in {name:?} are \
                     null, NaN or missingValue ({})",
                    self.missing_value
                )));
            }
            let value = match self.strategy.as_str() {
                "median" => medians
                    .as_ref()
                    .and_then(|m| m[j].query(0.5, self.relative_error)),
                "mode" => s
                    .counts
                    .iter()
                    .fold(None::<(f64, u64)>, |best, c| match best {
                        Some(b) if b.1 >= c.1 => Some(b),
                        _ => Some(*c),
                    })
                    .map(|(v, _)| v),
                _ => Some(s.sum / s.count as f64),
            };
            surrogates.push(value.ok_or_else(|| {
                MlError::Input(format!("Imputer: no surrogate for column {name:?}"))
            })?);
        }
        debug_assert!(surrogates.iter().all(|s| !self.is_missing(*s)));
        Ok(Box::new(ImputerModel {
            params: self.params.clone(),
            state: ImputerState {
                columns: self.columns.clone(),
                surrogates,
                missing_value: number_value(self.missing_value),
            },
        }))
    }
}

fn impute(batch: &RecordBatch, args: &[u8]) -> Result<RecordBatch, String> {
    let state: ImputerState = decode_args(args, "Imputer")?;
    let missing = crate::pipeline::params::value_number(&state.missing_value).unwrap_or(f64::NAN);
    let mut outputs = Vec::new();
    for ((input, output), surrogate) in state.columns.iter().zip(&state.surrogates) {
        let values: Vec<f64> = double_values(batch, input)?
            .into_iter()
            .map(|v| match v {
                None => *surrogate,
                Some(x) if x == missing || (missing.is_nan() && x.is_nan()) => *surrogate,
                Some(x) => x,
            })
            .collect();
        outputs.push((output.clone(), double_column(values), HashMap::new()));
    }
    with_columns(batch, outputs)
}
cinder_actors::register_map!("ml.feature.imputer", impute);

impl Stage for ImputerModel {
    fn class(&self) -> &'static str {
        "Imputer"
    }
    fn params(&self) -> &ParamMap {
        &self.params
    }
}

impl<F: Frame> Model<F> for ImputerModel {
    fn transform(&self, data: &F) -> Result<F, MlError> {
        data.map_batches("ml.feature.imputer", &self.state)
    }
    fn save(&self, dir: &Path) -> Result<(), MlError> {
        save_state(dir, "Imputer", &self.state)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl<F: Frame> StageClass<F> for Imputer {
    const CLASS: &'static str = "Imputer";
    fn estimator(params: ParamMap) -> Result<Box<dyn Estimator<F>>, MlError> {
        Ok(Box::new(Self::new(params)?))
    }
    fn load(dir: &Path, params: ParamMap) -> Result<Box<dyn Model<F>>, MlError> {
        Ok(Box::new(ImputerModel {
            params,
            state: load_state(dir, "Imputer")?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_merge_by_value() {
        let a = [(1.0, 2), (3.0, 1)];
        let b = [(1.0, 1), (2.0, 5)];
        assert_eq!(merge_counts(&a, &b), vec![(1.0, 3), (2.0, 5), (3.0, 1)]);
    }
}
