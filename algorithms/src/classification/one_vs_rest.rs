//! One-vs-rest as Spark's `spark.ml` defines it (`OneVsRest`): one binary classifier per class
//! (that class against all others, on a label column computed on the workers), fitted
//! concurrently (`parallelism` at a time); a row's class is the one whose model gives the
//! largest margin (`rawPrediction(1)`). The binary classifiers are linear (logistic regression
//! or linear SVC), so the model is one coefficient vector and intercept per class.
//!
//! ```
//! use std::sync::Arc;
//! use arrow_array::{ArrayRef, Float64Array, RecordBatch};
//! use cinder_algorithms::classification::{BinaryClassifier, LogisticRegression, OneVsRest};
//! use cinder_algorithms::{FeatureCols, FeatureSpec, LocalFrame};
//!
//! let col = |v: Vec<f64>| Arc::new(Float64Array::from(v)) as ArrayRef;
//! let batch = RecordBatch::try_from_iter([
//!     ("label", col(vec![0.0, 0.0, 1.0, 1.0, 2.0, 2.0])),
//!     ("x", col(vec![-5.0, -4.0, 0.0, 0.5, 4.0, 5.0])),
//! ])
//! .unwrap();
//! let model = OneVsRest {
//!     classifier: BinaryClassifier::LogisticRegression(LogisticRegression {
//!         reg_param: 0.1,
//!         ..LogisticRegression::default()
//!     }),
//!     parallelism: 3,
//!     columns: FeatureSpec {
//!         label: "label".into(),
//!         weight: None,
//!         features: FeatureCols::Columns(vec!["x".into()]),
//!     },
//! }
//! .fit(&LocalFrame { batches: vec![batch] })
//! .unwrap();
//! assert_eq!(model.coefficients.len(), 3);
//! assert_eq!(model.predict(&[-4.5]), 0.0);
//! assert_eq!(model.predict(&[4.5]), 2.0);
//! ```

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, RecordBatch};
use serde::{Deserialize, Serialize};

use super::linear_svc::LinearSvc;
use super::logistic::LogisticRegression;
use crate::features::{numeric_column, summarize, FeatureSpec, Rows};
use crate::frame::Frame;
use crate::vectors::list_column;
use crate::MlError;

/// The binary classifier of each class (Spark's `classifier`), with its own parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BinaryClassifier {
    /// `LogisticRegression` (binomial).
    LogisticRegression(LogisticRegression),
    /// `LinearSVC`.
    LinearSvc(LinearSvc),
}

/// The estimator, with Spark's parameter names and defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OneVsRest {
    /// `classifier`: the binary classifier (its columns are replaced by the ones below).
    pub classifier: BinaryClassifier,
    /// `parallelism` (1): binary fits run at a time.
    pub parallelism: usize,
    /// Label (class indices 0, 1, ...), weight (`weightCol`) and feature columns.
    pub columns: FeatureSpec,
}

/// A fitted one-vs-rest model: one linear model per class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OneVsRestModel {
    /// Coefficients of class `k`'s model (original scale).
    pub coefficients: Vec<Vec<f64>>,
    /// Intercept of class `k`'s model.
    pub intercepts: Vec<f64>,
    /// The estimator that produced it.
    pub params: OneVsRest,
}

/// One class's binary model: coefficients and intercept.
type LinearPart = (Vec<f64>, f64);

/// Arguments of `ml.ovr.binary_label`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct BinaryLabel {
    label: String,
    class: f64,
}

/// `ml.ovr.binary_label`: 1 where the label is the class, else 0.
pub fn binary_label_column(batch: &RecordBatch, args: &[u8]) -> Result<ArrayRef, String> {
    let a: BinaryLabel = rmp_serde::from_slice(args).map_err(|e| e.to_string())?;
    let labels = numeric_column(batch, &a.label)?;
    let values: Vec<f64> = labels
        .iter()
        .map(|y| f64::from(u8::from(*y == a.class)))
        .collect();
    Ok(Arc::new(Float64Array::from(values)))
}
cinder_actors::register_column!("ml.ovr.binary_label", binary_label_column);

impl OneVsRest {
    /// Fits one binary model per class, `parallelism` at a time.
    pub fn fit<F: Frame + Sync>(&self, data: &F) -> Result<OneVsRestModel, MlError> {
        if self.parallelism == 0 {
            return Err(MlError::Param {
                name: "parallelism",
                message: "0 must be at least 1".into(),
            });
        }
        let summary = summarize(data, &self.columns, 2)?;
        if summary.non_class_labels > 0 {
            return Err(MlError::Input(format!(
                "{} labels are not class indices 0, 1, 2, ...",
                summary.non_class_labels
            )));
        }
        let classes = summary.histogram.len();
        if classes < 2 {
            return Err(MlError::Input(
                "one-vs-rest needs at least 2 classes".into(),
            ));
        }
        let fit_class = |k: usize| -> Result<LinearPart, MlError> {
            let column = format!("__ovr_label_{k}");
            let args = rmp_serde::to_vec_named(&BinaryLabel {
                label: self.columns.label.clone(),
                class: k as f64,
            })
            .map_err(|e| MlError::Data(e.to_string()))?;
            let binary = data.with_column(&column, "ml.ovr.binary_label", args)?;
            let columns = FeatureSpec {
                label: column,
                ..self.columns.clone()
            };
            Ok(match &self.classifier {
                BinaryClassifier::LogisticRegression(lr) => {
                    let m = LogisticRegression {
                        columns,
                        family: super::logistic::Family::Binomial,
                        ..lr.clone()
                    }
                    .fit(&binary)?;
                    (m.coefficients().to_vec(), m.intercept())
                }
                BinaryClassifier::LinearSvc(svc) => {
                    let m = LinearSvc {
                        columns,
                        ..svc.clone()
                    }
                    .fit(&binary)?;
                    (m.coefficients, m.intercept)
                }
            })
        };
        let mut fitted: Vec<Option<Result<LinearPart, MlError>>> =
            (0..classes).map(|_| None).collect();
        for start in (0..classes).step_by(self.parallelism) {
            let end = start.saturating_add(self.parallelism).min(classes);
            std::thread::scope(|scope| {
                let handles: Vec<_> = (start..end)
                    .map(|k| scope.spawn(move || (k, fit_class(k))))
                    .collect();
                for handle in handles {
                    // A panicked fit leaves its slot empty (reported below).
                    if let Ok((k, result)) = handle.join() {
                        fitted[k] = Some(result);
                    }
                }
            });
        }
        let mut coefficients = Vec::new();
        let mut intercepts = Vec::new();
        for (k, result) in fitted.into_iter().enumerate() {
            let (c, b) = result.ok_or_else(|| {
                MlError::Optimizer(format!("the binary fit of class {k} panicked"))
            })??;
            coefficients.push(c);
            intercepts.push(b);
        }
        Ok(OneVsRestModel {
            coefficients,
            intercepts,
            params: self.clone(),
        })
    }
}

/// Arguments of the prediction columns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct OvrPredict {
    spec: FeatureSpec,
    coefficients: Vec<Vec<f64>>,
    intercepts: Vec<f64>,
}

fn margins(batch: &RecordBatch, args: &[u8]) -> Result<Vec<Vec<f64>>, String> {
    let m: OvrPredict = rmp_serde::from_slice(args).map_err(|e| e.to_string())?;
    let rows = Rows::new_features_only(batch, &m.spec)?;
    Ok((0..rows.len())
        .map(|i| {
            m.coefficients
                .iter()
                .zip(&m.intercepts)
                .map(|(c, b)| {
                    let mut s = *b;
                    rows.for_each(i, |j, v| s += c.get(j).copied().unwrap_or(0.0) * v);
                    s
                })
                .collect()
        })
        .collect())
}

/// `ml.ovr.raw_prediction`: every class model's margin.
pub fn raw_prediction_column(batch: &RecordBatch, args: &[u8]) -> Result<ArrayRef, String> {
    Ok(list_column(margins(batch, args)?))
}
cinder_actors::register_column!("ml.ovr.raw_prediction", raw_prediction_column);

/// `ml.ovr.prediction`: the class with the largest margin.
pub fn prediction_column(batch: &RecordBatch, args: &[u8]) -> Result<ArrayRef, String> {
    let values: Vec<f64> = margins(batch, args)?
        .iter()
        .map(|m| super::naive_bayes_kernel::argmax(m) as f64)
        .collect();
    Ok(Arc::new(Float64Array::from(values)))
}
cinder_actors::register_column!("ml.ovr.prediction", prediction_column);

impl OneVsRestModel {
    /// The class of one feature vector (largest margin; the first on ties).
    pub fn predict(&self, x: &[f64]) -> f64 {
        let m: Vec<f64> = self
            .coefficients
            .iter()
            .zip(&self.intercepts)
            .map(|(c, b)| b + c.iter().zip(x).map(|(u, v)| u * v).sum::<f64>())
            .collect();
        super::naive_bayes_kernel::argmax(&m) as f64
    }

    /// Adds Spark's columns: `rawPrediction` (each class model's margin) and `prediction`.
    pub fn transform<F: Frame>(&self, data: &F) -> Result<F, MlError> {
        let args = rmp_serde::to_vec_named(&OvrPredict {
            spec: self.params.columns.clone(),
            coefficients: self.coefficients.clone(),
            intercepts: self.intercepts.clone(),
        })
        .map_err(|e| MlError::Data(e.to_string()))?;
        data.with_column("rawPrediction", "ml.ovr.raw_prediction", args.clone())?
            .with_column("prediction", "ml.ovr.prediction", args)
    }

    /// Saves the model to a new directory (rows: the intercepts, then each class's
    /// coefficients).
    pub fn save(&self, dir: &std::path::Path) -> Result<(), MlError> {
        let meta = serde_json::json!({
            "estimator": self.params,
            "num_features": self.coefficients.first().map_or(0, Vec::len),
            "num_classes": self.intercepts.len(),
        });
        let mut rows = vec![self.intercepts.clone()];
        rows.extend(self.coefficients.iter().cloned());
        crate::persistence::save(dir, "one-vs-rest", &meta, &rows)
    }

    /// Loads a model saved by [`OneVsRestModel::save`].
    pub fn load(dir: &std::path::Path) -> Result<Self, MlError> {
        #[derive(Deserialize)]
        struct Meta {
            estimator: OneVsRest,
        }
        let (meta, mut rows): (Meta, Vec<Vec<f64>>) = crate::persistence::load(dir, "one-vs-rest")?;
        if rows.is_empty() || rows.len() != rows[0].len() + 1 {
            return Err(MlError::Model {
                path: dir.display().to_string(),
                message: format!(
                    "{} rows, expected intercepts and one row per class",
                    rows.len()
                ),
            });
        }
        let intercepts = rows.remove(0);
        Ok(Self {
            coefficients: rows,
            intercepts,
            params: meta.estimator,
        })
    }
}
