//! Spark's `Pipeline` and `PipelineModel`: stages fitted in order, each on the output of the
//! models before it; the fitted pipeline transforms with every model in turn.

use crate::frame::Frame;
use crate::pipeline::registry;
use crate::pipeline::spec::StageSpec;
use crate::pipeline::stage::{Estimator, Model, ModelKind};
use crate::MlError;

/// A stage's uid: its class and its index (deterministic, so outputs depend only on data
/// and spec).
pub fn stage_uid(class: &str, index: usize) -> String {
    format!("{class}_{index}")
}

/// An unfitted pipeline.
pub struct Pipeline<F: Frame> {
    /// The stages, in order.
    pub stages: Vec<Box<dyn Estimator<F>>>,
}

/// A fitted pipeline.
pub struct PipelineModel<F: Frame> {
    /// `(uid, model)` per stage, in order.
    pub stages: Vec<(String, Box<dyn Model<F>>)>,
}

impl<F: Frame> Pipeline<F> {
    /// The pipeline of a spec's stages (each built through the registry).
    pub fn from_specs(specs: &[StageSpec]) -> Result<Self, MlError> {
        let stages = specs
            .iter()
            .enumerate()
            .map(|(i, s)| {
                registry::estimator::<F>(&s.class, s.params.clone())
                    .map_err(|e| MlError::Input(format!("stage {i} ({}): {e}", s.class)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { stages })
    }

    /// Fits every stage in order. An estimator that makes many passes fits on a cached copy
    /// of its input, released once it is fitted.
    pub fn fit(&self, data: &F) -> Result<PipelineModel<F>, MlError> {
        let mut models = Vec::with_capacity(self.stages.len());
        let mut owned: Option<F> = None;
        for (i, stage) in self.stages.iter().enumerate() {
            let current = owned.as_ref().unwrap_or(data);
            let context =
                |e: MlError| MlError::Input(format!("stage {i} ({}): {e}", stage.class()));
            let model = if stage.is_iterative() && owned.is_some() {
                let cached = current.cache();
                let fitted = stage.fit(&cached);
                cached.unpersist()?;
                fitted
            } else {
                stage.fit(current)
            }
            .map_err(context)?;
            if i + 1 < self.stages.len() {
                owned = Some(model.transform(current).map_err(context)?);
            }
            models.push((stage_uid(stage.class(), i), model));
        }
        Ok(PipelineModel { stages: models })
    }
}

impl<F: Frame> PipelineModel<F> {
    /// Every stage's transform in turn.
    pub fn transform(&self, data: &F) -> Result<F, MlError> {
        let mut current: Option<F> = None;
        for (uid, model) in &self.stages {
            let input = current.as_ref().unwrap_or(data);
            current = Some(
                model
                    .transform(input)
                    .map_err(|e| MlError::Input(format!("stage {uid}: {e}")))?,
            );
        }
        current.ok_or_else(|| MlError::Input("the pipeline has no stages".into()))
    }

    /// The last stage that predicts (a classifier, regressor or clusterer), if any.
    pub fn predictor(&self) -> Option<&dyn Model<F>> {
        self.stages
            .iter()
            .rev()
            .map(|(_, m)| m.as_ref())
            .find(|m| m.kind() != ModelKind::Transformer)
    }
}
