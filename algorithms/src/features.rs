//! Reading labels, weights and feature vectors out of Arrow batches, and the summarizer that
//! computes Spark's feature statistics (weighted mean and unbiased variance) in one pass.

use std::borrow::Cow;

use arrow_array::{
    Array, FixedSizeListArray, Float64Array, Int32Array, Int64Array, ListArray, RecordBatch,
    StructArray,
};
use arrow_schema::DataType;
use cinder_actors::data::aggregate::Aggregator;
use serde::{Deserialize, Serialize};

/// Where the features are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FeatureCols {
    /// One vector column: a sparse struct (LibSVM) or a fixed-size list of Float64 (dense).
    Vector(String),
    /// Several numeric columns, one feature each (CSV).
    Columns(Vec<String>),
}

/// Which columns hold the label, the weight and the features.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureSpec {
    /// Label column (numeric).
    pub label: String,
    /// Optional instance weight column (Spark's `weightCol`).
    pub weight: Option<String>,
    /// Features.
    pub features: FeatureCols,
}

impl Default for FeatureSpec {
    fn default() -> Self {
        Self {
            label: "label".into(),
            weight: None,
            features: FeatureCols::Vector("features".into()),
        }
    }
}

enum Kind<'a> {
    Sparse {
        offsets: &'a [i32],
        indices: &'a [i32],
        values: &'a [f64],
    },
    Dense {
        values: &'a [f64],
        width: usize,
    },
    Columns(Vec<Cow<'a, [f64]>>),
}

/// Row-wise access to one batch's labels, weights and features.
pub struct Rows<'a> {
    labels: Cow<'a, [f64]>,
    weights: Option<Cow<'a, [f64]>>,
    kind: Kind<'a>,
    size: usize,
}

/// A numeric column's values, borrowed when it already is Float64 (the hot path of every
/// kernel), converted otherwise.
pub fn column_values<'a>(batch: &'a RecordBatch, name: &str) -> Result<Cow<'a, [f64]>, String> {
    let column = batch
        .column_by_name(name)
        .ok_or_else(|| format!("no column {name:?}"))?;
    match column.as_any().downcast_ref::<Float64Array>() {
        Some(values) if values.null_count() == 0 => Ok(Cow::Borrowed(values.values())),
        _ => numeric_column(batch, name).map(Cow::Owned),
    }
}

/// A numeric column as f64 values (nulls are an error naming the column).
pub fn numeric_column(batch: &RecordBatch, name: &str) -> Result<Vec<f64>, String> {
    let column = batch
        .column_by_name(name)
        .ok_or_else(|| format!("no column {name:?}"))?;
    if column.null_count() > 0 {
        return Err(format!(
            "column {name:?} has {} null values",
            column.null_count()
        ));
    }
    let any = column.as_any();
    match column.data_type() {
        DataType::Float64 => Ok(any
            .downcast_ref::<Float64Array>()
            .expect("f64")
            .values()
            .to_vec()),
        DataType::Int64 => Ok(any
            .downcast_ref::<Int64Array>()
            .expect("i64")
            .values()
            .iter()
            .map(|v| *v as f64)
            .collect()),
        DataType::Int32 => Ok(any
            .downcast_ref::<Int32Array>()
            .expect("i32")
            .values()
            .iter()
            .map(|v| f64::from(*v))
            .collect()),
        other => Err(format!("column {name:?} is {other}, not numeric")),
    }
}

impl<'a> Rows<'a> {
    /// Views a batch through a spec; errors name the column that does not fit.
    pub fn new(batch: &'a RecordBatch, spec: &FeatureSpec) -> Result<Self, String> {
        let labels = column_values(batch, &spec.label)?;
        let weights = match &spec.weight {
            Some(w) => Some(column_values(batch, w)?),
            None => None,
        };
        let (kind, size) = feature_kind(batch, &spec.features)?;
        Ok(Self {
            labels,
            weights,
            kind,
            size,
        })
    }

    /// Views only the features of a batch (prediction: there may be no label column).
    pub fn new_features_only(batch: &'a RecordBatch, spec: &FeatureSpec) -> Result<Self, String> {
        let (kind, size) = feature_kind(batch, &spec.features)?;
        Ok(Self {
            labels: Cow::Owned(vec![0.0; batch.num_rows()]),
            weights: None,
            kind,
            size,
        })
    }

    /// Rows in the batch.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Vector size.
    pub fn num_features(&self) -> usize {
        self.size
    }

    /// Label of row `i`.
    pub fn label(&self, i: usize) -> f64 {
        self.labels[i]
    }

    /// Weight of row `i` (1 without a weight column).
    pub fn weight(&self, i: usize) -> f64 {
        self.weights.as_ref().map_or(1.0, |w| w[i])
    }

    /// Calls `f(index, value)` for every stored feature of row `i`.
    #[inline]
    pub fn for_each(&self, i: usize, mut f: impl FnMut(usize, f64)) {
        match &self.kind {
            Kind::Sparse {
                offsets,
                indices,
                values,
            } => {
                let (a, b) = (offsets[i] as usize, offsets[i + 1] as usize);
                for k in a..b {
                    f(indices[k] as usize, values[k]);
                }
            }
            Kind::Dense { values, width } => {
                for (j, v) in values[i * width..(i + 1) * width].iter().enumerate() {
                    f(j, *v);
                }
            }
            Kind::Columns(cols) => {
                for (j, col) in cols.iter().enumerate() {
                    f(j, col[i]);
                }
            }
        }
    }

    /// The feature columns when they are separate dense columns (column-wise kernels).
    pub fn dense_columns(&self) -> Option<&[Cow<'a, [f64]>]> {
        match &self.kind {
            Kind::Columns(cols) => Some(cols),
            _ => None,
        }
    }

    /// Every row's weight (`None`: all 1, no weight column).
    pub fn weights(&self) -> Option<&[f64]> {
        self.weights.as_deref()
    }

    /// Every row's label.
    pub fn labels(&self) -> &[f64] {
        &self.labels
    }

    /// `Σ_j coef[j] * scale[j] * x_j` for row `i`.
    #[inline]
    pub fn dot_scaled(&self, i: usize, coef: &[f64], scale: &[f64]) -> f64 {
        let mut sum = 0.0;
        self.for_each(i, |j, v| sum += coef[j] * scale[j] * v);
        sum
    }
}

/// How the features of a batch are stored, and the vector size.
fn feature_kind<'a>(
    batch: &'a RecordBatch,
    features: &FeatureCols,
) -> Result<(Kind<'a>, usize), String> {
    match features {
        FeatureCols::Columns(names) => {
            let cols = names
                .iter()
                .map(|n| column_values(batch, n))
                .collect::<Result<Vec<_>, _>>()?;
            let size = cols.len();
            Ok((Kind::Columns(cols), size))
        }
        FeatureCols::Vector(name) => {
            let column = batch
                .column_by_name(name)
                .ok_or_else(|| format!("no column {name:?}"))?;
            vector_kind(column.as_ref(), name)
        }
    }
}

fn vector_kind<'a>(column: &'a dyn Array, name: &str) -> Result<(Kind<'a>, usize), String> {
    if let Some(s) = column.as_any().downcast_ref::<StructArray>() {
        let bad = || format!("column {name:?} is not a sparse vector (size, indices, values)");
        let size = s
            .column_by_name("size")
            .and_then(|c| c.as_any().downcast_ref::<Int32Array>())
            .ok_or_else(bad)?;
        let indices = s
            .column_by_name("indices")
            .and_then(|c| c.as_any().downcast_ref::<ListArray>())
            .ok_or_else(bad)?;
        let values = s
            .column_by_name("values")
            .and_then(|c| c.as_any().downcast_ref::<ListArray>())
            .ok_or_else(bad)?;
        if indices.value_offsets() != values.value_offsets() {
            return Err(format!(
                "column {name:?}: indices and values differ in length"
            ));
        }
        let idx = indices
            .values()
            .as_any()
            .downcast_ref::<Int32Array>()
            .ok_or_else(bad)?;
        let vals = values
            .values()
            .as_any()
            .downcast_ref::<Float64Array>()
            .ok_or_else(bad)?;
        let width = size.values().iter().copied().max().unwrap_or(0).max(0) as usize;
        return Ok((
            Kind::Sparse {
                offsets: indices.value_offsets(),
                indices: idx.values(),
                values: vals.values(),
            },
            width,
        ));
    }
    if let Some(list) = column.as_any().downcast_ref::<FixedSizeListArray>() {
        let width = list.value_length() as usize;
        let vals = list
            .values()
            .as_any()
            .downcast_ref::<Float64Array>()
            .ok_or_else(|| format!("column {name:?} is not a list of Float64"))?;
        let start = list.offset() * width;
        return Ok((
            Kind::Dense {
                values: &vals.values()[start..start + list.len() * width],
                width,
            },
            width,
        ));
    }
    Err(format!(
        "column {name:?} of type {} is not a feature vector",
        column.data_type()
    ))
}

/// Weighted first and second moments of features and label, and the label histogram.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Rows.
    pub count: u64,
    /// Σ w.
    pub weight_sum: f64,
    /// Σ w².
    pub weight_sq_sum: f64,
    /// Σ w x_j.
    pub sum: Vec<f64>,
    /// Σ w x_j².
    pub sum_sq: Vec<f64>,
    /// Σ w y.
    pub label_sum: f64,
    /// Σ w y².
    pub label_sq_sum: f64,
    /// Σ w per integer label value 0, 1, ... (classification).
    pub histogram: Vec<f64>,
    /// Labels that are not non-negative integers.
    pub non_class_labels: u64,
}

fn unbiased(sum: f64, sum_sq: f64, w: f64, w2: f64) -> f64 {
    let denom = w - w2 / w;
    if denom <= 0.0 {
        return 0.0;
    }
    ((sum_sq - sum * sum / w) / denom).max(0.0)
}

impl Summary {
    /// Vector size.
    pub fn num_features(&self) -> usize {
        self.sum.len()
    }

    /// Weighted means of the features.
    pub fn mean(&self) -> Vec<f64> {
        self.sum.iter().map(|s| s / self.weight_sum).collect()
    }

    /// Unbiased weighted standard deviations of the features (Spark's summarizer).
    pub fn std(&self) -> Vec<f64> {
        self.sum
            .iter()
            .zip(&self.sum_sq)
            .map(|(s, s2)| unbiased(*s, *s2, self.weight_sum, self.weight_sq_sum).sqrt())
            .collect()
    }

    /// Weighted label mean.
    pub fn label_mean(&self) -> f64 {
        self.label_sum / self.weight_sum
    }

    /// Unbiased weighted label standard deviation.
    pub fn label_std(&self) -> f64 {
        unbiased(
            self.label_sum,
            self.label_sq_sum,
            self.weight_sum,
            self.weight_sq_sum,
        )
        .sqrt()
    }
}

/// The `ml.summary` aggregator: a [`Summary`] of a dataset under a [`FeatureSpec`].
pub struct Summarizer;

impl Aggregator for Summarizer {
    const NAME: &'static str = "ml.summary";
    type Args = FeatureSpec;
    type Acc = Summary;

    fn zero(_: &FeatureSpec) -> Summary {
        Summary::default()
    }

    fn seq(mut acc: Summary, batch: &RecordBatch, spec: &FeatureSpec) -> Result<Summary, String> {
        let rows = Rows::new(batch, spec)?;
        if acc.sum.len() < rows.num_features() {
            acc.sum.resize(rows.num_features(), 0.0);
            acc.sum_sq.resize(rows.num_features(), 0.0);
        }
        for i in 0..rows.len() {
            let (w, y) = (rows.weight(i), rows.label(i));
            if w < 0.0 || !w.is_finite() {
                return Err(format!("weight {w} is not a finite non-negative number"));
            }
            if !y.is_finite() {
                return Err(format!("label {y} is not finite"));
            }
            acc.count += 1;
            acc.weight_sum += w;
            acc.weight_sq_sum += w * w;
            acc.label_sum += w * y;
            acc.label_sq_sum += w * y * y;
            if y >= 0.0 && y.fract() == 0.0 && y < 1e6 {
                let k = y as usize;
                if acc.histogram.len() <= k {
                    acc.histogram.resize(k + 1, 0.0);
                }
                acc.histogram[k] += w;
            } else {
                acc.non_class_labels += 1;
            }
            let (sum, sum_sq) = (&mut acc.sum, &mut acc.sum_sq);
            rows.for_each(i, |j, v| {
                sum[j] += w * v;
                sum_sq[j] += w * v * v;
            });
        }
        Ok(acc)
    }

    fn comb(mut a: Summary, b: Summary, _: &FeatureSpec) -> Summary {
        let width = a.sum.len().max(b.sum.len());
        a.sum.resize(width, 0.0);
        a.sum_sq.resize(width, 0.0);
        for (x, y) in a.sum.iter_mut().zip(&b.sum) {
            *x += y;
        }
        for (x, y) in a.sum_sq.iter_mut().zip(&b.sum_sq) {
            *x += y;
        }
        if a.histogram.len() < b.histogram.len() {
            a.histogram.resize(b.histogram.len(), 0.0);
        }
        for (x, y) in a.histogram.iter_mut().zip(&b.histogram) {
            *x += y;
        }
        Summary {
            count: a.count + b.count,
            weight_sum: a.weight_sum + b.weight_sum,
            weight_sq_sum: a.weight_sq_sum + b.weight_sq_sum,
            label_sum: a.label_sum + b.label_sum,
            label_sq_sum: a.label_sq_sum + b.label_sq_sum,
            non_class_labels: a.non_class_labels + b.non_class_labels,
            ..a
        }
    }
}
cinder_actors::register_aggregator!(Summarizer);

/// The `ml.width` aggregator: the vector size of a dataset's features (labels not read).
pub struct FeatureWidth;

impl Aggregator for FeatureWidth {
    const NAME: &'static str = "ml.width";
    type Args = FeatureSpec;
    type Acc = u64;

    fn zero(_: &FeatureSpec) -> u64 {
        0
    }

    fn seq(acc: u64, batch: &RecordBatch, spec: &FeatureSpec) -> Result<u64, String> {
        let rows = Rows::new_features_only(batch, spec)?;
        Ok(acc.max(rows.num_features() as u64))
    }

    fn comb(a: u64, b: u64, _: &FeatureSpec) -> u64 {
        a.max(b)
    }
}
cinder_actors::register_aggregator!(FeatureWidth);

/// Summarizes a dataset and refuses an empty one (or one whose weights are all zero).
pub fn summarize<F: crate::frame::Frame>(
    data: &F,
    spec: &FeatureSpec,
    depth: u32,
) -> Result<Summary, crate::MlError> {
    let summary = data.tree_aggregate::<Summarizer>(spec, depth)?;
    if summary.count == 0 || summary.weight_sum <= 0.0 {
        return Err(crate::MlError::Input(
            "the dataset is empty (or all weights are zero)".into(),
        ));
    }
    Ok(summary)
}

/// Per-feature penalty weights in the standardized space: `weight` for every feature when
/// `standardization` is on; otherwise `weight / σ^power` (0 for constant features), which
/// penalizes the coefficients on their original scale (Spark's semantics).
pub fn penalty_weights(std: &[f64], weight: f64, standardization: bool, power: i32) -> Vec<f64> {
    std.iter()
        .map(|s| {
            if standardization {
                weight
            } else if *s > 0.0 {
                weight / s.powi(power)
            } else {
                0.0
            }
        })
        .collect()
}
