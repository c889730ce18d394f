//! The stage model of Spark's `org.apache.spark.ml`: an [`Estimator`] fits a [`Model`] on a
//! dataset; a model (a fitted `Transformer`) adds columns. Transformers that learn nothing
//! (`VectorAssembler`, `Binarizer`, ...) are estimators whose fit returns themselves, so a
//! pipeline is a list of estimators and its fit a list of models.

use std::any::Any;
use std::path::Path;

use crate::frame::Frame;
use crate::pipeline::params::ParamMap;
use crate::MlError;

/// What every stage has: Spark's class name and the parameters set on it.
pub trait Stage {
    /// Spark's simple class name (`StringIndexer`, `LogisticRegression`, ...).
    fn class(&self) -> &'static str;
    /// The parameters explicitly set, by Spark's names.
    fn params(&self) -> &ParamMap;
}

/// What a fitted stage predicts, which decides the metrics `cinder train --test-data`
/// reports for a pipeline ending with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// Adds `rawPrediction`, `probability` and `prediction` (a class index).
    Classifier,
    /// Adds `prediction` (a number).
    Regressor,
    /// Adds `prediction` (a cluster index).
    Clusterer,
    /// Anything else (featurizers).
    Transformer,
}

/// A fitted stage (Spark's `Model`, or a `Transformer` that learns nothing).
pub trait Model<F: Frame>: Stage + Send + Sync {
    /// The data with this stage's output columns added (and, with `handleInvalid` skip,
    /// rows dropped).
    fn transform(&self, data: &F) -> Result<F, MlError>;
    /// Writes what the stage learned to `dir` (which does not exist yet).
    fn save(&self, dir: &Path) -> Result<(), MlError>;
    /// What it predicts.
    fn kind(&self) -> ModelKind {
        ModelKind::Transformer
    }
    /// The label column of a predictor (`labelCol`), for evaluation.
    fn label_col(&self) -> Option<String> {
        None
    }
    /// The concrete model, for callers that need more than the trait (a classifier's log
    /// loss).
    fn as_any(&self) -> &dyn Any;
}

/// A stage that learns from data (Spark's `Estimator`).
pub trait Estimator<F: Frame>: Stage + Send + Sync {
    /// Fits on `data` (which the caller caches when the estimator makes many passes).
    fn fit(&self, data: &F) -> Result<Box<dyn Model<F>>, MlError>;
    /// Whether the fit makes many passes over the data (the pipeline then caches its input).
    fn is_iterative(&self) -> bool {
        false
    }
}

/// A class the stage registry knows: how to build its estimator from parameters and how to
/// load its fitted model. Implementing it and adding one line to
/// [`crate::pipeline::registry::stages`] makes a class usable in specs, grids and saved
/// pipelines.
pub trait StageClass<F: Frame> {
    /// Spark's simple class name.
    const CLASS: &'static str;
    /// The estimator with these parameters (unknown names and bad values are errors).
    fn estimator(params: ParamMap) -> Result<Box<dyn Estimator<F>>, MlError>;
    /// The fitted model saved in `dir` by [`Model::save`], with its stage's parameters.
    fn load(dir: &Path, params: ParamMap) -> Result<Box<dyn Model<F>>, MlError>;
}
