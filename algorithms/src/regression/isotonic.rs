//! Isotonic regression as Spark's `spark.ml` defines it (`IsotonicRegression`): the weighted
//! least-squares monotone (or, with `isotonic` false, antitonic) fit of the label on one
//! feature (`featureIndex`), by Spark's parallel pool-adjacent-violators: the rows are
//! shuffled into contiguous feature ranges (bounds from a sample), each partition pools its
//! ranges, and the driver pools the pooled points; the model is Spark's `boundaries` and
//! `predictions`, interpolated linearly between boundaries.
//!
//! ```
//! use std::sync::Arc;
//! use arrow_array::{ArrayRef, Float64Array, RecordBatch};
//! use cinder_algorithms::regression::IsotonicRegression;
//! use cinder_algorithms::{FeatureCols, FeatureSpec, LocalFrame};
//!
//! let col = |v: Vec<f64>| Arc::new(Float64Array::from(v)) as ArrayRef;
//! let batch = RecordBatch::try_from_iter([
//!     ("label", col(vec![1.0, 3.0, 2.0, 4.0])),
//!     ("x", col(vec![1.0, 2.0, 3.0, 4.0])),
//! ])
//! .unwrap();
//! let model = IsotonicRegression {
//!     columns: FeatureSpec {
//!         label: "label".into(),
//!         weight: None,
//!         features: FeatureCols::Columns(vec!["x".into()]),
//!     },
//!     ..IsotonicRegression::default()
//! }
//! .fit(&LocalFrame { batches: vec![batch] })
//! .unwrap();
//! // 3 then 2 violate monotonicity: both become 2.5.
//! assert_eq!(model.boundaries, vec![1.0, 2.0, 3.0, 4.0]);
//! assert_eq!(model.predictions, vec![1.0, 2.5, 2.5, 4.0]);
//! assert_eq!(model.predict(2.5), 2.5);
//! ```

use serde::{Deserialize, Serialize};

use super::isotonic_kernel::{
    pool_adjacent_violators, sort_points, IsotonicArgs, IsotonicPav, IsotonicPredictArgs,
    IsotonicSample,
};
use crate::features::FeatureSpec;
use crate::frame::Frame;
use crate::MlError;

/// The column holding each row's feature range during a fit.
const BUCKET_COLUMN: &str = "__isotonic_bucket";
/// Roughly how many feature values are sampled for the range bounds.
const SAMPLE_SIZE: u64 = 10_000;

/// The estimator, with Spark's parameter names and defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IsotonicRegression {
    /// `isotonic` (true): increasing; false: decreasing.
    pub isotonic: bool,
    /// `featureIndex` (0): which feature of the vector (or of the feature columns).
    pub feature_index: usize,
    /// Feature ranges pooled in parallel (4; Spark uses the input's partition count). The
    /// model does not depend on it.
    pub partitions: u32,
    /// `aggregationDepth` (2).
    pub aggregation_depth: u32,
    /// Label, weight (`weightCol`) and feature columns.
    pub columns: FeatureSpec,
}

impl Default for IsotonicRegression {
    fn default() -> Self {
        Self {
            isotonic: true,
            feature_index: 0,
            partitions: 4,
            aggregation_depth: 2,
            columns: FeatureSpec::default(),
        }
    }
}

/// A fitted isotonic regression: Spark's `boundaries` and `predictions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IsotonicRegressionModel {
    /// Increasing feature values where the fitted function changes slope.
    pub boundaries: Vec<f64>,
    /// The fitted value at each boundary (monotone).
    pub predictions: Vec<f64>,
    /// The estimator that produced it.
    pub params: IsotonicRegression,
}

impl IsotonicRegression {
    /// Fits the model.
    pub fn fit<F: Frame>(&self, data: &F) -> Result<IsotonicRegressionModel, MlError> {
        let mut args = IsotonicArgs {
            spec: self.columns.clone(),
            feature_index: self.feature_index,
            isotonic: self.isotonic,
            stride: u64::MAX,
            bounds: Vec::new(),
        };
        let (count, _) = data.tree_aggregate::<IsotonicSample>(&args, self.aggregation_depth)?;
        if count == 0 {
            return Err(MlError::Input(
                "the dataset is empty (or all weights are zero)".into(),
            ));
        }
        args.stride = (count / SAMPLE_SIZE).max(1);
        let (_, mut sample) =
            data.tree_aggregate::<IsotonicSample>(&args, self.aggregation_depth)?;
        sample.sort_by(f64::total_cmp);
        let ranges = self.partitions.max(1) as usize;
        let mut bounds: Vec<f64> = (1..ranges)
            .map(|r| sample[r * sample.len() / ranges])
            .collect();
        bounds.dedup();
        args.bounds = bounds;
        let bytes = rmp_serde::to_vec_named(&args).map_err(|e| MlError::Data(e.to_string()))?;
        let ranged = data
            .with_column(BUCKET_COLUMN, "ml.isotonic.bucket", bytes)?
            .partition_by(&[BUCKET_COLUMN], ranges as u32)?;
        let pooled = ranged.tree_aggregate::<IsotonicPav>(&args, self.aggregation_depth)?;
        let mut points: Vec<(f64, f64, f64)> =
            pooled.into_iter().flat_map(|(_, points)| points).collect();
        sort_points(&mut points);
        let pooled = pool_adjacent_violators(&points);
        let sign = if self.isotonic { 1.0 } else { -1.0 };
        Ok(IsotonicRegressionModel {
            boundaries: pooled.iter().map(|p| p.1).collect(),
            predictions: pooled.iter().map(|p| sign * p.0).collect(),
            params: self.clone(),
        })
    }
}

impl IsotonicRegressionModel {
    /// The arguments of the prediction column function.
    pub fn predict_args(&self) -> IsotonicPredictArgs {
        IsotonicPredictArgs {
            spec: self.params.columns.clone(),
            feature_index: self.params.feature_index,
            boundaries: self.boundaries.clone(),
            predictions: self.predictions.clone(),
        }
    }

    /// The fitted function at `x` (Spark's `predict`).
    pub fn predict(&self, x: f64) -> f64 {
        self.predict_args().predict(x)
    }

    /// Adds Spark's `prediction` column.
    pub fn transform<F: Frame>(&self, data: &F) -> Result<F, MlError> {
        let args = rmp_serde::to_vec_named(&self.predict_args())
            .map_err(|e| MlError::Data(e.to_string()))?;
        data.with_column("prediction", "ml.isotonic.prediction", args)
    }

    /// Saves the model to a new directory (rows: boundaries, predictions).
    pub fn save(&self, dir: &std::path::Path) -> Result<(), MlError> {
        let meta = serde_json::json!({
            "estimator": self.params,
            "num_features": self.params.feature_index + 1,
        });
        let rows = vec![self.boundaries.clone(), self.predictions.clone()];
        crate::persistence::save(dir, "isotonic-regression", &meta, &rows)
    }

    /// Loads a model saved by [`IsotonicRegressionModel::save`].
    pub fn load(dir: &std::path::Path) -> Result<Self, MlError> {
        #[derive(Deserialize)]
        struct Meta {
            estimator: IsotonicRegression,
        }
        let (meta, rows): (Meta, Vec<Vec<f64>>) =
            crate::persistence::load(dir, "isotonic-regression")?;
        match rows.as_slice() {
            [b, p] if b.len() == p.len() && !b.is_empty() => Ok(Self {
                boundaries: b.clone(),
                predictions: p.clone(),
                params: meta.estimator,
            }),
            _ => Err(MlError::Model {
                path: dir.display().to_string(),
                message: "expected boundaries and predictions of equal length".into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::FeatureCols;
    use crate::frame::LocalFrame;
    use arrow_array::{ArrayRef, Float64Array, RecordBatch};
    use std::sync::Arc;

    fn frame(y: &[f64], x: &[f64], w: &[f64], parts: usize) -> LocalFrame {
        let col = |v: &[f64]| Arc::new(Float64Array::from(v.to_vec())) as ArrayRef;
        let batch =
            RecordBatch::try_from_iter([("label", col(y)), ("x", col(x)), ("w", col(w))]).unwrap();
        let n = y.len();
        LocalFrame {
            batches: (0..parts)
                .map(|p| batch.slice(p * n / parts, (p + 1) * n / parts - p * n / parts))
                .collect(),
        }
    }

    fn estimator(isotonic: bool, partitions: u32) -> IsotonicRegression {
        IsotonicRegression {
            isotonic,
            partitions,
            columns: FeatureSpec {
                label: "label".into(),
                weight: Some("w".into()),
                features: FeatureCols::Columns(vec!["x".into()]),
            },
            ..IsotonicRegression::default()
        }
    }

    /// The fit is monotone, minimizes the weighted squared error among monotone fits (no
    /// pooled block can be split or shifted: every block's value is its weighted mean and
    /// neighbouring blocks increase), and does not depend on how the rows are partitioned.
    #[test]
    fn parallel_pav_is_the_monotone_least_squares_fit() {
        let n = 300;
        let x: Vec<f64> = (0..n).map(|i| ((i * 37) % n) as f64 / 7.0).collect();
        let y: Vec<f64> = x
            .iter()
            .enumerate()
            .map(|(i, x)| x.sqrt() + ((i * 13) % 7) as f64 - 3.0)
            .collect();
        let w: Vec<f64> = (0..n).map(|i| [0.5, 1.0, 2.0, 0.0][i % 4]).collect();
        for isotonic in [true, false] {
            let one = estimator(isotonic, 1).fit(&frame(&y, &x, &w, 1)).unwrap();
            let many = estimator(isotonic, 5).fit(&frame(&y, &x, &w, 7)).unwrap();
            assert_eq!(one.boundaries, many.boundaries, "isotonic {isotonic}");
            for (a, b) in one.predictions.iter().zip(&many.predictions) {
                assert!((a - b).abs() < 1e-12);
            }
            let sign = if isotonic { 1.0 } else { -1.0 };
            for p in one.predictions.windows(2) {
                assert!(sign * (p[1] - p[0]) >= 0.0, "monotone");
            }
            // Each fitted value is the weighted mean of the rows it covers.
            let fitted = |xv: f64| one.predict(xv);
            let mut by_value: std::collections::BTreeMap<u64, (f64, f64)> = Default::default();
            for i in 0..n {
                if w[i] > 0.0 {
                    let e = by_value.entry(fitted(x[i]).to_bits()).or_default();
                    e.0 += w[i] * y[i];
                    e.1 += w[i];
                }
            }
            for (bits, (sum, weight)) in by_value {
                let v = f64::from_bits(bits);
                assert!((sum / weight - v).abs() < 1e-9, "{v} vs {}", sum / weight);
            }
        }
    }
}
