//! Tabular featurizers with Spark's names, parameters, defaults and semantics (Spark's
//! `org.apache.spark.ml.feature`). Estimators learn in distributed passes over cached
//! partitions (registered aggregators, partials combined in partition order); models and
//! plain transformers run as registered batch maps on the workers. What a stage learned about
//! a column travels in the column's Arrow field metadata ([`columns`]).

pub mod assembler;
pub mod columns;
pub mod distributions;
pub mod imputer;
pub mod one_hot;
pub mod projection;
pub mod quantiles;
pub mod scalers;
pub mod simple;
pub mod string_indexer;
pub mod univariate;

pub use assembler::VectorAssembler;
pub use imputer::Imputer;
pub use one_hot::OneHotEncoder;
pub use projection::{Pca, VarianceThresholdSelector};
pub use quantiles::QuantileDiscretizer;
pub use scalers::{MaxAbsScaler, MinMaxScaler, StandardScaler};
pub use simple::{Binarizer, Bucketizer, Normalizer};
pub use string_indexer::{IndexToString, StringIndexer};
pub use univariate::UnivariateFeatureSelector;

/// Implements the stage traits for a transformer that learns nothing: a struct with a
/// `params: ParamMap` field (skipped by serde), a `new(ParamMap)` constructor, and a batch
/// map registered under `$function` that takes the struct itself as its arguments (and is
/// what a saved stage holds).
macro_rules! transformer_stage {
    ($ty:ty, $class:literal, $function:literal) => {
        impl $crate::pipeline::stage::Stage for $ty {
            fn class(&self) -> &'static str {
                $class
            }
            fn params(&self) -> &$crate::pipeline::params::ParamMap {
                &self.params
            }
        }

        impl<F: $crate::frame::Frame> $crate::pipeline::stage::Model<F> for $ty {
            fn transform(&self, data: &F) -> Result<F, $crate::MlError> {
                data.map_batches($function, self)
            }
            fn save(&self, dir: &std::path::Path) -> Result<(), $crate::MlError> {
                $crate::pipeline::state::save_state(dir, $class, self)
            }
            fn as_any(&self) -> &dyn std::any::Any {
                self
            }
        }

        impl<F: $crate::frame::Frame> $crate::pipeline::stage::Estimator<F> for $ty {
            fn fit(
                &self,
                _data: &F,
            ) -> Result<Box<dyn $crate::pipeline::stage::Model<F>>, $crate::MlError> {
                Ok(Box::new(self.clone()))
            }
        }

        impl<F: $crate::frame::Frame> $crate::pipeline::stage::StageClass<F> for $ty {
            const CLASS: &'static str = $class;
            fn estimator(
                params: $crate::pipeline::params::ParamMap,
            ) -> Result<Box<dyn $crate::pipeline::stage::Estimator<F>>, $crate::MlError> {
                Ok(Box::new(<$ty>::new(params)?))
            }
            fn load(
                dir: &std::path::Path,
                params: $crate::pipeline::params::ParamMap,
            ) -> Result<Box<dyn $crate::pipeline::stage::Model<F>>, $crate::MlError> {
                let mut stage: $ty = $crate::pipeline::state::load_state(dir, $class)?;
                stage.params = params;
                Ok(Box::new(stage))
            }
        }
    };
}
pub(crate) use transformer_stage;
