//! Spark's `PCA` (the top `k` principal components of the covariance matrix; the model
//! projects vectors without centering them, as Spark's does) and `VarianceThresholdSelector`
//! (keeps the features whose sample variance exceeds `varianceThreshold`). Both learn from
//! one distributed pass; the models run as one batch map (`ml.feature.projection`).

use std::any::Any;
use std::path::Path;

use arrow_array::RecordBatch;
use cinder_actors::data::aggregate::Aggregator;
use nalgebra::{DMatrix, SymmetricEigen};
use serde::{Deserialize, Serialize};

use super::columns::{decode_args, dense_column, vector_metadata, vector_values, with_columns};
use super::scalers::VectorStatsAgg;
use crate::frame::Frame;
use crate::pipeline::params::ParamMap;
use crate::pipeline::stage::{Estimator, Model, Stage, StageClass};
use crate::pipeline::state::{load_state, save_state};
use crate::MlError;

/// `Σ x`, `Σ x xᵀ` and the row count of a vector column (the Gramian behind a covariance).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Gram {
    /// Rows.
    pub count: u64,
    /// Σ x.
    pub sum: Vec<f64>,
    /// Σ x xᵀ, row-major, `d × d`.
    pub outer: Vec<f64>,
}

/// `ml.feature.gram`: [`Gram`] of the named vector column.
pub struct GramAgg;

impl Aggregator for GramAgg {
    const NAME: &'static str = "ml.feature.gram";
    type Args = String;
    type Acc = Gram;

    fn zero(_: &String) -> Gram {
        Gram::default()
    }

    fn seq(mut acc: Gram, batch: &RecordBatch, column: &String) -> Result<Gram, String> {
        for row in vector_values(batch, column)?.into_iter().flatten() {
            let d = row.len();
            if acc.sum.is_empty() {
                acc.sum = vec![0.0; d];
                acc.outer = vec![0.0; d * d];
            } else if acc.sum.len() != d {
                return Err(format!(
                    "column {column:?} holds vectors of different sizes"
                ));
            }
            acc.count += 1;
            for i in 0..d {
                acc.sum[i] += row[i];
                for j in 0..d {
                    acc.outer[i * d + j] += row[i] * row[j];
                }
            }
        }
        Ok(acc)
    }

    fn comb(a: Gram, b: Gram, _: &String) -> Gram {
        if a.count == 0 {
            return b;
        }
        if b.count == 0 {
            return a;
        }
        Gram {
            count: a.count + b.count,
            sum: a.sum.iter().zip(&b.sum).map(|(x, y)| x + y).collect(),
            outer: a.outer.iter().zip(&b.outer).map(|(x, y)| x + y).collect(),
        }
    }
}
cinder_actors::register_aggregator!(GramAgg);

/// A fitted projection: `y = M x` (PCA: the components as rows) or a selection of
/// features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectionState {
    /// `inputCol` / `featuresCol`.
    pub input: String,
    /// `outputCol`.
    pub output: String,
    /// PCA: `k` rows of `d` values (Spark's `pc`, transposed).
    pub matrix: Vec<Vec<f64>>,
    /// The selected feature indices (selectors; empty for PCA).
    pub selected: Vec<usize>,
    /// PCA: Spark's `explainedVariance`.
    pub explained_variance: Vec<f64>,
}

fn project(batch: &RecordBatch, args: &[u8]) -> Result<RecordBatch, String> {
    let s: ProjectionState = decode_args(args, "projection")?;
    let width = if s.matrix.is_empty() {
        s.selected.len()
    } else {
        s.matrix.len()
    };
    let rows = vector_values(batch, &s.input)?
        .into_iter()
        .map(|v| {
            let v = v.ok_or_else(|| format!("column {:?} holds a null vector", s.input))?;
            if s.matrix.is_empty() {
                s.selected
                    .iter()
                    .map(|j| {
                        v.get(*j).copied().ok_or_else(|| {
                            format!(
                                "column {:?}: a vector of {} values has no feature {j}",
                                s.input,
                                v.len()
                            )
                        })
                    })
                    .collect::<Result<Vec<f64>, String>>()
            } else {
                s.matrix
                    .iter()
                    .map(|row| {
                        if row.len() != v.len() {
                            return Err(format!(
                                "column {:?} has {} values, the model was fitted on {}",
                                s.input,
                                v.len(),
                                row.len()
                            ));
                        }
                        Ok(row.iter().zip(&v).map(|(a, b)| a * b).sum())
                    })
                    .collect()
            }
        })
        .collect::<Result<Vec<Vec<f64>>, String>>()?;
    with_columns(
        batch,
        vec![(
            s.output.clone(),
            dense_column(&rows, width)?,
            vector_metadata(width),
        )],
    )
}
cinder_actors::register_map!("ml.feature.projection", project);

/// A fitted `PCA` or `VarianceThresholdSelector`.
#[derive(Debug, Clone)]
pub struct ProjectionModel {
    class: &'static str,
    params: ParamMap,
    /// What it learned.
    pub state: ProjectionState,
}

impl ProjectionModel {
    /// A fitted projection of class `class`.
    pub fn new(class: &'static str, params: ParamMap, state: ProjectionState) -> Self {
        Self {
            class,
            params,
            state,
        }
    }
}

impl Stage for ProjectionModel {
    fn class(&self) -> &'static str {
        self.class
    }
    fn params(&self) -> &ParamMap {
        &self.params
    }
}

impl<F: Frame> Model<F> for ProjectionModel {
    fn transform(&self, data: &F) -> Result<F, MlError> {
        data.map_batches("ml.feature.projection", &self.state)
    }
    fn save(&self, dir: &Path) -> Result<(), MlError> {
        save_state(dir, self.class, &self.state)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Spark's `PCA` (`inputCol`, `outputCol`, `k`).
#[derive(Debug, Clone)]
pub struct Pca {
    params: ParamMap,
    input: String,
    output: String,
    k: usize,
}

impl Pca {
    /// The estimator from Spark's parameters.
    pub fn new(params: ParamMap) -> Result<Self, MlError> {
        params.check_known("PCA", &["inputCol", "outputCol", "k"])?;
        let input = params
            .opt_str("inputCol")?
            .ok_or_else(|| MlError::Input("PCA: inputCol is not set".into()))?;
        let output = params
            .opt_str("outputCol")?
            .ok_or_else(|| MlError::Input("PCA: outputCol is not set".into()))?;
        let k = params
            .get("k")
            .map(|_| params.usize_or("k", 0))
            .transpose()?
            .ok_or_else(|| MlError::Input("PCA: k is not set".into()))?;
        if k == 0 {
            return Err(MlError::Input("PCA: k must be at least 1".into()));
        }
        Ok(Self {
            params,
            input,
            output,
            k,
        })
    }
}

impl Stage for Pca {
    fn class(&self) -> &'static str {
        "PCA"
    }
    fn params(&self) -> &ParamMap {
        &self.params
    }
}

impl<F: Frame> Estimator<F> for Pca {
    fn fit(&self, data: &F) -> Result<Box<dyn Model<F>>, MlError> {
        let g = data.tree_aggregate::<GramAgg>(&self.input, 2)?;
        let d = g.sum.len();
        if g.count < 2 {
            return Err(MlError::Input(format!(
                "PCA: column {:?} needs at least 2 rows",
                self.input
            )));
        }
        if self.k > d {
            return Err(MlError::Input(format!(
                "PCA: k = {} is more than the {d} features of {:?}",
                self.k, self.input
            )));
        }
        let n = g.count as f64;
        let mean: Vec<f64> = g.sum.iter().map(|s| s / n).collect();
        let cov = DMatrix::from_fn(d, d, |i, j| {
            (g.outer[i * d + j] - n * mean[i] * mean[j]) / (n - 1.0)
        });
        let eigen = SymmetricEigen::new(cov);
        let mut order: Vec<usize> = (0..d).collect();
        order.sort_by(|a, b| eigen.eigenvalues[*b].total_cmp(&eigen.eigenvalues[*a]));
        let total: f64 = eigen.eigenvalues.iter().map(|v| v.max(0.0)).sum();
        let matrix = order[..self.k]
            .iter()
            .map(|c| eigen.eigenvectors.column(*c).iter().copied().collect())
            .collect();
        let explained_variance = order[..self.k]
            .iter()
            .map(|c| eigen.eigenvalues[*c].max(0.0) / total)
            .collect();
        Ok(Box::new(ProjectionModel {
            class: "PCA",
            params: self.params.clone(),
            state: ProjectionState {
                input: self.input.clone(),
                output: self.output.clone(),
                matrix,
                selected: Vec::new(),
                explained_variance,
            },
        }))
    }
}

impl<F: Frame> StageClass<F> for Pca {
    const CLASS: &'static str = "PCA";
    fn estimator(params: ParamMap) -> Result<Box<dyn Estimator<F>>, MlError> {
        Ok(Box::new(Self::new(params)?))
    }
    fn load(dir: &Path, params: ParamMap) -> Result<Box<dyn Model<F>>, MlError> {
        Ok(Box::new(ProjectionModel {
            class: "PCA",
            params,
            state: load_state(dir, "PCA")?,
        }))
    }
}

/// Spark's `VarianceThresholdSelector` (`featuresCol`, `outputCol`, `varianceThreshold` 0):
/// keeps the features whose sample variance is above the threshold (a constant feature
/// has variance 0).
#[derive(Debug, Clone)]
pub struct VarianceThresholdSelector {
    params: ParamMap,
    input: String,
    output: String,
    threshold: f64,
}

impl VarianceThresholdSelector {
    /// The estimator from Spark's parameters.
    pub fn new(params: ParamMap) -> Result<Self, MlError> {
        params.check_known(
            "VarianceThresholdSelector",
            &["featuresCol", "outputCol", "varianceThreshold"],
        )?;
        let threshold = params.f64_or("varianceThreshold", 0.0)?;
        if threshold.is_nan() || threshold < 0.0 {
            return Err(MlError::Input(format!(
                "VarianceThresholdSelector: varianceThreshold {threshold} must be >= 0"
            )));
        }
        Ok(Self {
            input: params.str_or("featuresCol", "features")?,
            output: params.str_or("outputCol", "VarianceThresholdSelector_output")?,
            threshold,
            params,
        })
    }
}

impl Stage for VarianceThresholdSelector {
    fn class(&self) -> &'static str {
        "VarianceThresholdSelector"
    }
    fn params(&self) -> &ParamMap {
        &self.params
    }
}

impl<F: Frame> Estimator<F> for VarianceThresholdSelector {
    fn fit(&self, data: &F) -> Result<Box<dyn Model<F>>, MlError> {
        let stats = data.tree_aggregate::<VectorStatsAgg>(&self.input, 2)?;
        let std = stats.std();
        let selected = (0..stats.sum.len())
            .filter(|j| {
                let variance = if stats.max[*j] == stats.min[*j] {
                    0.0
                } else {
                    std[*j] * std[*j]
                };
                variance > self.threshold
            })
            .collect();
        Ok(Box::new(ProjectionModel {
            class: "VarianceThresholdSelector",
            params: self.params.clone(),
            state: ProjectionState {
                input: self.input.clone(),
                output: self.output.clone(),
                matrix: Vec::new(),
                selected,
                explained_variance: Vec::new(),
            },
        }))
    }
}

impl<F: Frame> StageClass<F> for VarianceThresholdSelector {
    const CLASS: &'static str = "VarianceThresholdSelector";
    fn estimator(params: ParamMap) -> Result<Box<dyn Estimator<F>>, MlError> {
        Ok(Box::new(Self::new(params)?))
    }
    fn load(dir: &Path, params: ParamMap) -> Result<Box<dyn Model<F>>, MlError> {
        Ok(Box::new(ProjectionModel {
            class: "VarianceThresholdSelector",
            params,
            state: load_state(dir, "VarianceThresholdSelector")?,
        }))
    }
}
