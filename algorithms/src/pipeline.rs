//! Spark's ML workflow (`org.apache.spark.ml`): stages ([`stage`]) addressed by Spark's
//! class and parameter names ([`params`], [`registry`]), [`workflow::Pipeline`] and
//! [`workflow::PipelineModel`], evaluators ([`evaluators`]), the JSON spec `cinder train
//! --pipeline` reads ([`spec`]) and saved pipelines ([`persist`]).

pub mod evaluators;
pub mod params;
pub mod persist;
pub mod predictors;
pub mod registry;
pub mod spec;
pub mod stage;
pub mod state;
pub mod workflow;

pub use evaluators::Evaluator;
pub use params::ParamMap;
pub use spec::PipelineSpec;
pub use stage::{Estimator, Model, ModelKind, Stage, StageClass};
pub use workflow::{Pipeline, PipelineModel};
