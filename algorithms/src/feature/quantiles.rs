//! Approximate quantiles with a bounded rank error (Spark's `approxQuantile` idea) and
//! Spark's `QuantileDiscretizer`, whose fit is a `Bucketizer`.
//!
//! Each partition sorts its values and keeps every `s`-th one (`s = ⌊ε·n⌋`, at least 1) with
//! the number of values it stands for; partials are concatenated in partition order. A
//! query walks the merged samples by cumulative weight, as Spark's Greenwald-Khanna query
//! does: the answer is a value of the data whose rank is within `ε·n` of the target
//! (exact, and equal to Spark's, when no partition holds more than `1/ε` values).

use std::path::Path;

use arrow_array::RecordBatch;
use cinder_actors::data::aggregate::Aggregator;
use serde::{Deserialize, Serialize};

use super::columns::double_values;
use super::simple::Bucketizer;
use crate::frame::Frame;
use crate::pipeline::params::ParamMap;
use crate::pipeline::stage::{Estimator, Model, Stage, StageClass};
use crate::MlError;

/// Weighted samples of one column's values (null and NaN left out).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QuantileSummary {
    /// `(value, number of values it stands for)`, sorted within each partition's run.
    pub samples: Vec<(f64, u64)>,
    /// Values summarized.
    pub count: u64,
}

impl QuantileSummary {
    /// The summary of `values` (NaN left out) with relative rank error `epsilon`.
    pub fn of(mut values: Vec<f64>, epsilon: f64) -> Self {
        values.retain(|x| !x.is_nan());
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let step = ((epsilon * n as f64).floor() as usize).max(1);
        let mut samples = Vec::with_capacity(n / step + 1);
        let mut start = 0;
        while start < n {
            let end = (start + step).min(n);
            samples.push((values[end - 1], (end - start) as u64));
            start = end;
        }
        Self {
            samples,
            count: n as u64,
        }
    }

    /// Appends another partition's summary.
    pub fn merge(mut self, other: Self) -> Self {
        self.samples.extend(other.samples);
        self.count += other.count;
        self
    }

    /// The value at quantile `q` (Spark's query: the first and last values near the ends,
    /// else the first sample whose cumulative weight reaches `⌈q·n⌉`). `None` when empty.
    pub fn query(&self, q: f64, epsilon: f64) -> Option<f64> {
        let mut sorted = self.samples.clone();
        sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
        let first = sorted.first()?.0;
        let last = sorted.last()?.0;
        if q <= epsilon {
            return Some(first);
        }
        if q >= 1.0 - epsilon {
            return Some(last);
        }
        let rank = (q * self.count as f64).ceil() as u64;
        let mut cumulative = 0;
        for (value, weight) in &sorted {
            cumulative += weight;
            if cumulative >= rank {
                return Some(*value);
            }
        }
        Some(last)
    }
}

/// Arguments of [`QuantilesAgg`]: the columns, the value counted as missing (besides null
/// and NaN) and the relative error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantileArgs {
    /// Columns.
    pub columns: Vec<String>,
    /// A value left out like a null (`Imputer`'s `missingValue`), if any.
    pub missing: Option<f64>,
    /// `relativeError`.
    pub relative_error: f64,
}

/// `ml.feature.quantiles`: a [`QuantileSummary`] per column.
pub struct QuantilesAgg;

impl Aggregator for QuantilesAgg {
    const NAME: &'static str = "ml.feature.quantiles";
    type Args = QuantileArgs;
    type Acc = Vec<QuantileSummary>;

    fn zero(args: &QuantileArgs) -> Self::Acc {
        vec![QuantileSummary::default(); args.columns.len()]
    }

    fn seq(acc: Self::Acc, batch: &RecordBatch, args: &QuantileArgs) -> Result<Self::Acc, String> {
        acc.into_iter()
            .zip(&args.columns)
            .map(|(summary, name)| {
                let values: Vec<f64> = double_values(batch, name)?
                    .into_iter()
                    .flatten()
                    .filter(|x| Some(*x) != args.missing)
                    .collect();
                Ok(summary.merge(QuantileSummary::of(values, args.relative_error)))
            })
            .collect()
    }

    fn comb(a: Self::Acc, b: Self::Acc, _: &QuantileArgs) -> Self::Acc {
        a.into_iter().zip(b).map(|(x, y)| x.merge(y)).collect()
    }
}
cinder_actors::register_aggregator!(QuantilesAgg);

/// Spark's `QuantileDiscretizer`: `numBuckets` (2) buckets from approximate quantiles
/// (`relativeError` 0.001); the fitted model is a [`Bucketizer`] with splits
/// `-∞, q(1/n), ..., q((n-1)/n), +∞` (duplicates dropped, as Spark does).
#[derive(Debug, Clone)]
pub struct QuantileDiscretizer {
    params: ParamMap,
    columns: Vec<(String, String)>,
    num_buckets: Vec<usize>,
    relative_error: f64,
    handle_invalid: String,
}

impl QuantileDiscretizer {
    /// The estimator from Spark's parameters.
    pub fn new(params: ParamMap) -> Result<Self, MlError> {
        params.check_known(
            "QuantileDiscretizer",
            &[
                "inputCol",
                "outputCol",
                "inputCols",
                "outputCols",
                "numBuckets",
                "numBucketsArray",
                "relativeError",
                "handleInvalid",
            ],
        )?;
        let columns = params.in_out_cols("QuantileDiscretizer", None)?;
        let num_buckets = match params.opt_f64s("numBucketsArray")? {
            Some(a) if a.len() == columns.len() => a.iter().map(|x| *x as usize).collect(),
            Some(_) => {
                return Err(MlError::Input(
                    "QuantileDiscretizer: numBucketsArray needs one value per column".into(),
                ))
            }
            None => vec![params.usize_or("numBuckets", 2)?; columns.len()],
        };
        if num_buckets.iter().any(|b| *b < 2) {
            return Err(MlError::Input(
                "QuantileDiscretizer: numBuckets must be at least 2".into(),
            ));
        }
        let relative_error = params.f64_or("relativeError", 0.001)?;
        if !(0.0..=1.0).contains(&relative_error) {
            return Err(MlError::Input(format!(
                "QuantileDiscretizer: relativeError {relative_error} is not in [0, 1]"
            )));
        }
        Ok(Self {
            columns,
            num_buckets,
            relative_error,
            handle_invalid: params.choice_or(
                "handleInvalid",
                "error",
                &["error", "skip", "keep"],
            )?,
            params,
        })
    }
}

impl Stage for QuantileDiscretizer {
    fn class(&self) -> &'static str {
        "QuantileDiscretizer"
    }
    fn params(&self) -> &ParamMap {
        &self.params
    }
}

impl<F: Frame> Estimator<F> for QuantileDiscretizer {
    fn fit(&self, data: &F) -> Result<Box<dyn Model<F>>, MlError> {
        let args = QuantileArgs {
            columns: self.columns.iter().map(|(i, _)| i.clone()).collect(),
            missing: None,
            relative_error: self.relative_error,
        };
        let summaries = data.tree_aggregate::<QuantilesAgg>(&args, 2)?;
        let mut splits = Vec::new();
        for ((summary, buckets), (input, _)) in
            summaries.iter().zip(&self.num_buckets).zip(&self.columns)
        {
            let mut s: Vec<f64> = (0..=*buckets)
                .map(|i| {
                    summary
                        .query(i as f64 / *buckets as f64, self.relative_error)
                        .ok_or_else(|| {
                            MlError::Input(format!(
                                "QuantileDiscretizer: column {input:?} has no value"
                            ))
                        })
                })
                .collect::<Result<_, _>>()?;
            s[0] = f64::NEG_INFINITY;
            *s.last_mut().expect("splits") = f64::INFINITY;
            s.dedup();
            if s.len() < 3 {
                // Spark: a single distinct value gives the splits -∞, value, +∞.
                let v = summary.query(0.5, self.relative_error).unwrap_or(0.0);
                s = vec![f64::NEG_INFINITY, v, f64::INFINITY];
            }
            splits.push(s);
        }
        Ok(Box::new(Bucketizer::fitted(
            self.params.clone(),
            self.columns.clone(),
            splits,
            self.handle_invalid.clone(),
        )))
    }
}

impl<F: Frame> StageClass<F> for QuantileDiscretizer {
    const CLASS: &'static str = "QuantileDiscretizer";
    fn estimator(params: ParamMap) -> Result<Box<dyn Estimator<F>>, MlError> {
        Ok(Box::new(Self::new(params)?))
    }
    fn load(dir: &Path, params: ParamMap) -> Result<Box<dyn Model<F>>, MlError> {
        <Bucketizer as StageClass<F>>::load(dir, params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_when_small_and_bounded_when_compressed() {
        let values: Vec<f64> = (1..=10).map(f64::from).collect();
        let s = QuantileSummary::of(values, 0.001);
        assert_eq!(s.query(0.5, 0.001), Some(5.0));
        assert_eq!(s.query(0.0, 0.001), Some(1.0));
        assert_eq!(s.query(1.0, 0.001), Some(10.0));
        // Two partitions of 10,000 values, ε = 0.01: the rank error stays within ε·n.
        let a = QuantileSummary::of((0..10_000).map(|i| f64::from(i * 2)).collect(), 0.01);
        let b = QuantileSummary::of((0..10_000).map(|i| f64::from(i * 2 + 1)).collect(), 0.01);
        let m = a.merge(b);
        assert!(m.samples.len() < 300);
        for q in [0.1, 0.25, 0.5, 0.9] {
            let v = m.query(q, 0.01).unwrap();
            let rank = v + 1.0; // values are 0..20000, rank of v is v + 1
            assert!((rank - q * 20_000.0).abs() <= 0.01 * 20_000.0, "q {q}: {v}");
        }
    }
}
