//! Spark's transformers that learn nothing: `Binarizer`, `Bucketizer` (also the model of
//! `QuantileDiscretizer`) and `Normalizer`.

use std::collections::HashMap;

use arrow_array::{ArrayRef, Float64Array, RecordBatch};
use serde::{Deserialize, Serialize};

use super::columns::{
    decode_args, dense_column, double_values, field, is_vector, keep_rows, nominal_metadata,
    vector_metadata, vector_values, with_columns,
};
use crate::pipeline::params::ParamMap;
use crate::MlError;

/// Spark's `Binarizer`: `1.0` where a value is greater than `threshold` (default 0), else
/// `0.0`, for numeric and vector columns (single or multi-column with `thresholds`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Binarizer {
    #[serde(skip)]
    params: ParamMap,
    columns: Vec<(String, String)>,
    #[serde(with = "crate::pipeline::params::lenient_f64_vec")]
    thresholds: Vec<f64>,
}

impl Binarizer {
    /// The transformer from Spark's parameters.
    pub fn new(params: ParamMap) -> Result<Self, MlError> {
        params.check_known(
            "Binarizer",
            &[
                "inputCol",
                "outputCol",
                "inputCols",
                "outputCols",
                "threshold",
                "thresholds",
            ],
        )?;
        let columns = params.in_out_cols("Binarizer", None)?;
        let thresholds = match params.opt_f64s("thresholds")? {
            Some(t) if t.len() == columns.len() => t,
            Some(t) => {
                return Err(MlError::Input(format!(
                    "Binarizer: {} thresholds for {} columns",
                    t.len(),
                    columns.len()
                )))
            }
            None => vec![params.f64_or("threshold", 0.0)?; columns.len()],
        };
        Ok(Self {
            params,
            columns,
            thresholds,
        })
    }
}

fn binarize(batch: &RecordBatch, args: &[u8]) -> Result<RecordBatch, String> {
    let stage: Binarizer = decode_args(args, "Binarizer")?;
    let bin = |x: f64, t: f64| if x > t { 1.0 } else { 0.0 };
    let mut outputs = Vec::new();
    for ((input, output), t) in stage.columns.iter().zip(&stage.thresholds) {
        if is_vector(field(batch, input)?) {
            let rows: Vec<Vec<f64>> = vector_values(batch, input)?
                .into_iter()
                .map(|v| v.unwrap_or_default().iter().map(|x| bin(*x, *t)).collect())
                .collect();
            let width = rows.first().map_or(0, Vec::len);
            outputs.push((
                output.clone(),
                dense_column(&rows, width)?,
                vector_metadata(width),
            ));
        } else {
            let values: Float64Array = double_values(batch, input)?
                .into_iter()
                .map(|v| v.map(|x| bin(x, *t)))
                .collect();
            outputs.push((
                output.clone(),
                std::sync::Arc::new(values) as ArrayRef,
                HashMap::new(),
            ));
        }
    }
    with_columns(batch, outputs)
}
cinder_actors::register_map!("ml.feature.binarizer", binarize);

super::transformer_stage!(Binarizer, "Binarizer", "ml.feature.binarizer");

/// Spark's `Bucketizer`: a value `x` goes to bucket `i` when `splits[i] <= x < splits[i+1]`
/// (the last bucket includes its upper bound); values outside the splits are an error;
/// NaN and null are invalid (`handleInvalid` error|skip|keep; keep puts them in an extra
/// bucket `splits.len() - 1`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bucketizer {
    #[serde(skip)]
    params: ParamMap,
    columns: Vec<(String, String)>,
    #[serde(with = "crate::pipeline::params::lenient_f64_vecs")]
    splits: Vec<Vec<f64>>,
    handle_invalid: String,
}

impl Bucketizer {
    /// The transformer from Spark's parameters (`splits`, or `splitsArray` with
    /// `inputCols`).
    pub fn new(params: ParamMap) -> Result<Self, MlError> {
        params.check_known(
            "Bucketizer",
            &[
                "inputCol",
                "outputCol",
                "inputCols",
                "outputCols",
                "splits",
                "splitsArray",
                "handleInvalid",
            ],
        )?;
        let columns = params.in_out_cols("Bucketizer", None)?;
        let splits = match (params.opt_f64s("splits")?, params.get("splitsArray")) {
            (Some(s), None) if columns.len() == 1 => vec![s],
            (None, Some(serde_json::Value::Array(items))) if items.len() == columns.len() => items
                .iter()
                .map(|v| {
                    ParamMap::new()
                        .with("s", v.clone())
                        .opt_f64s("s")?
                        .ok_or_else(|| MlError::Input("Bucketizer: empty splitsArray".into()))
                })
                .collect::<Result<Vec<_>, _>>()?,
            _ => {
                return Err(MlError::Input(
                    "Bucketizer: set splits (with inputCol) or splitsArray (one per inputCols)"
                        .into(),
                ))
            }
        };
        for s in &splits {
            check_splits(s)?;
        }
        Ok(Self {
            columns,
            splits,
            handle_invalid: params.choice_or(
                "handleInvalid",
                "error",
                &["error", "skip", "keep"],
            )?,
            params,
        })
    }

    /// The Bucketizer `QuantileDiscretizer` fits.
    pub fn fitted(
        params: ParamMap,
        columns: Vec<(String, String)>,
        splits: Vec<Vec<f64>>,
        handle_invalid: String,
    ) -> Self {
        Self {
            params,
            columns,
            splits,
            handle_invalid,
        }
    }

    /// The splits of each column.
    pub fn splits(&self) -> &[Vec<f64>] {
        &self.splits
    }
}

fn check_splits(splits: &[f64]) -> Result<(), MlError> {
    if splits.len() < 3 {
        return Err(MlError::Input(format!(
            "Bucketizer: splits {splits:?} need at least 3 values"
        )));
    }
    if splits.iter().any(|x| x.is_nan()) || splits.windows(2).any(|w| w[0] >= w[1]) {
        return Err(MlError::Input(format!(
            "Bucketizer: splits {splits:?} must be strictly increasing"
        )));
    }
    Ok(())
}

/// The bucket of `x` (Spark's `binarySearchForBuckets`), `None` when out of bounds.
pub fn bucket_of(splits: &[f64], x: f64) -> Option<usize> {
    let last = *splits.last()?;
    if x == last {
        return Some(splits.len() - 2);
    }
    let pos = splits.partition_point(|s| *s <= x);
    (pos > 0 && pos < splits.len()).then(|| pos - 1)
}

fn bucketize(batch: &RecordBatch, args: &[u8]) -> Result<RecordBatch, String> {
    let stage: Bucketizer = decode_args(args, "Bucketizer")?;
    let mut keep = vec![true; batch.num_rows()];
    let mut outputs = Vec::new();
    for ((input, output), splits) in stage.columns.iter().zip(&stage.splits) {
        let mut values = Vec::with_capacity(batch.num_rows());
        for (i, v) in double_values(batch, input)?.into_iter().enumerate() {
            match v {
                Some(x) if !x.is_nan() => match bucket_of(splits, x) {
                    Some(b) => values.push(Some(b as f64)),
                    None => {
                        return Err(format!(
                            "Bucketizer: value {x} of column {input:?} is out of the bounds \
                             {}..{}",
                            splits[0],
                            splits[splits.len() - 1]
                        ))
                    }
                },
                _ => match stage.handle_invalid.as_str() {
                    "keep" => values.push(Some((splits.len() - 1) as f64)),
                    "skip" => {
                        keep[i] = false;
                        values.push(None)
                    }
                    _ => {
                        return Err(format!(
                            "Bucketizer: column {input:?} holds {} (handleInvalid=error; use \
                             skip or keep)",
                            if v.is_none() { "null" } else { "NaN" }
                        ))
                    }
                },
            }
        }
        let names: Vec<String> = splits
            .windows(2)
            .map(|w| format!("{}, {}", w[0], w[1]))
            .collect();
        let column: ArrayRef = std::sync::Arc::new(Float64Array::from(values));
        outputs.push((
            output.clone(),
            column,
            nominal_metadata(names.len(), Some(&names)),
        ));
    }
    keep_rows(&with_columns(batch, outputs)?, &keep)
}
cinder_actors::register_map!("ml.feature.bucketizer", bucketize);

super::transformer_stage!(Bucketizer, "Bucketizer", "ml.feature.bucketizer");

/// Spark's `Normalizer`: each vector divided by its `p`-norm (default 2; a zero vector is
/// left as it is).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Normalizer {
    #[serde(skip)]
    params: ParamMap,
    input: String,
    output: String,
    #[serde(with = "crate::pipeline::params::lenient_f64")]
    p: f64,
}

impl Normalizer {
    /// The transformer from Spark's parameters.
    pub fn new(params: ParamMap) -> Result<Self, MlError> {
        params.check_known("Normalizer", &["inputCol", "outputCol", "p"])?;
        let p = params.f64_or("p", 2.0)?;
        if p.is_nan() || p < 1.0 {
            return Err(MlError::Input(format!("Normalizer: p = {p} must be >= 1")));
        }
        let input = params
            .opt_str("inputCol")?
            .ok_or_else(|| MlError::Input("Normalizer: inputCol is not set".into()))?;
        Ok(Self {
            output: params.str_or("outputCol", &format!("Normalizer_output_{input}"))?,
            input,
            p,
            params,
        })
    }
}

/// The `p`-norm of `v`, as Spark's `Vectors.norm` computes it.
pub fn p_norm(v: &[f64], p: f64) -> f64 {
    if p == 1.0 {
        v.iter().map(|x| x.abs()).sum()
    } else if p == 2.0 {
        v.iter().map(|x| x * x).sum::<f64>().sqrt()
    } else if p.is_infinite() {
        v.iter().fold(0.0, |m, x| m.max(x.abs()))
    } else {
        v.iter().map(|x| x.abs().powf(p)).sum::<f64>().powf(1.0 / p)
    }
}

fn normalize(batch: &RecordBatch, args: &[u8]) -> Result<RecordBatch, String> {
    let stage: Normalizer = decode_args(args, "Normalizer")?;
    let rows: Vec<Vec<f64>> = vector_values(batch, &stage.input)?
        .into_iter()
        .map(|v| {
            let mut v = v.unwrap_or_default();
            let norm = p_norm(&v, stage.p);
            if norm != 0.0 {
                v.iter_mut().for_each(|x| *x /= norm);
            }
            v
        })
        .collect();
    let width = rows.first().map_or(0, Vec::len);
    with_columns(
        batch,
        vec![(
            stage.output.clone(),
            dense_column(&rows, width)?,
            vector_metadata(width),
        )],
    )
}
cinder_actors::register_map!("ml.feature.normalizer", normalize);

super::transformer_stage!(Normalizer, "Normalizer", "ml.feature.normalizer");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_follow_spark() {
        let s = [f64::NEG_INFINITY, 0.0, 1.0, 2.0];
        assert_eq!(bucket_of(&s, -5.0), Some(0));
        assert_eq!(bucket_of(&s, 0.0), Some(1));
        assert_eq!(bucket_of(&s, 1.5), Some(2));
        assert_eq!(bucket_of(&s, 2.0), Some(2));
        assert_eq!(bucket_of(&s, 2.5), None);
        assert!(check_splits(&[0.0, 0.0, 1.0]).is_err());
        assert!((p_norm(&[3.0, -4.0], 2.0) - 5.0).abs() < 1e-15);
        assert_eq!(p_norm(&[3.0, -4.0], f64::INFINITY), 4.0);
    }
}
