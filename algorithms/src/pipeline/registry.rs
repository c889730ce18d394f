//! The stage registry: Spark's class name to the stage's constructor and model loader. A new
//! stage implements [`StageClass`] and adds one line to [`stages`].

use std::path::Path;

use crate::feature::{
    Binarizer, Bucketizer, Imputer, IndexToString, MaxAbsScaler, MinMaxScaler, Normalizer,
    OneHotEncoder, Pca, QuantileDiscretizer, StandardScaler, StringIndexer,
    UnivariateFeatureSelector, VarianceThresholdSelector, VectorAssembler,
};
use crate::frame::Frame;
use crate::pipeline::params::ParamMap;
use crate::pipeline::predictors::{
    AlsStage, KMeansStage, LinearRegressionStage, LogisticRegressionStage,
};
use crate::pipeline::stage::{Estimator, Model, StageClass};
use crate::MlError;

/// Builds a stage's estimator from its parameters.
pub type EstimatorFn<F> = fn(ParamMap) -> Result<Box<dyn Estimator<F>>, MlError>;
/// Loads a stage's fitted model from its directory.
pub type LoadFn<F> = fn(&Path, ParamMap) -> Result<Box<dyn Model<F>>, MlError>;

/// One registered class.
pub struct StageEntry<F: Frame> {
    /// Spark's class name.
    pub class: &'static str,
    /// Its estimator.
    pub estimator: EstimatorFn<F>,
    /// Its model loader.
    pub load: LoadFn<F>,
}

/// The entry of a class implementing [`StageClass`].
pub fn entry<F: Frame, S: StageClass<F>>() -> StageEntry<F> {
    StageEntry {
        class: S::CLASS,
        estimator: S::estimator,
        load: S::load,
    }
}

/// Every stage class a pipeline spec may name.
pub fn stages<F: Frame>() -> Vec<StageEntry<F>> {
    vec![
        entry::<F, StringIndexer>(),
        entry::<F, IndexToString>(),
        entry::<F, OneHotEncoder>(),
        entry::<F, VectorAssembler>(),
        entry::<F, Imputer>(),
        entry::<F, StandardScaler>(),
        entry::<F, MinMaxScaler>(),
        entry::<F, MaxAbsScaler>(),
        entry::<F, Normalizer>(),
        entry::<F, Binarizer>(),
        entry::<F, Bucketizer>(),
        entry::<F, QuantileDiscretizer>(),
        entry::<F, Pca>(),
        entry::<F, VarianceThresholdSelector>(),
        entry::<F, UnivariateFeatureSelector>(),
        entry::<F, LogisticRegressionStage>(),
        entry::<F, LinearRegressionStage>(),
        entry::<F, KMeansStage>(),
        entry::<F, AlsStage>(),
    ]
}

fn find<F: Frame>(class: &str) -> Result<StageEntry<F>, MlError> {
    let all = stages::<F>();
    let names: Vec<&str> = all.iter().map(|e| e.class).collect();
    let known = names.join(", ");
    all.into_iter()
        .find(|e| e.class == class)
        .ok_or_else(|| MlError::Input(format!("unknown stage class {class:?} (known: {known})")))
}

/// The estimator of Spark class `class` with `params`.
pub fn estimator<F: Frame>(
    class: &str,
    params: ParamMap,
) -> Result<Box<dyn Estimator<F>>, MlError> {
    (find::<F>(class)?.estimator)(params)
}

/// The fitted model of class `class` saved in `dir`.
pub fn load_model<F: Frame>(
    class: &str,
    dir: &Path,
    params: ParamMap,
) -> Result<Box<dyn Model<F>>, MlError> {
    (find::<F>(class)?.load)(dir, params)
}
