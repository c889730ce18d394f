//! The pipeline spec (`cinder train --pipeline SPEC.json`, a public contract): stages by
//! Spark's class names and parameters, and optional tuning.
//!
//! ```json
//! {"stages": [{"class": "StringIndexer", "params": {"inputCol": "income", "outputCol": "label"}},
//!             {"class": "VectorAssembler", "params": {"inputCols": ["age"], "outputCol": "features"}},
//!             {"class": "LogisticRegression", "params": {}}],
//!  "tuning": {"class": "CrossValidator", "params": {"numFolds": 3, "seed": 7},
//!             "evaluator": {"class": "BinaryClassificationEvaluator", "params": {}},
//!             "paramGrid": [{"stage": 2, "param": "regParam", "values": [0.001, 0.1]}]}}
//! ```

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::pipeline::params::ParamMap;
use crate::MlError;

/// A whole spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSpec {
    /// The stages, in order.
    pub stages: Vec<StageSpec>,
    /// Optional tuning (`CrossValidator` or `TrainValidationSplit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tuning: Option<TuningSpec>,
}

/// One stage (or evaluator): Spark's class name and parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageSpec {
    /// Spark's simple class name.
    pub class: String,
    /// Spark's parameter names and values.
    #[serde(default)]
    pub params: ParamMap,
}

/// The tuning section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TuningSpec {
    /// `CrossValidator` or `TrainValidationSplit`.
    pub class: String,
    /// Its parameters (`numFolds`, `seed`, `parallelism`, `foldCol`, `trainRatio`).
    #[serde(default)]
    pub params: ParamMap,
    /// The evaluator that ranks the grid.
    pub evaluator: StageSpec,
    /// The grid (PySpark's `ParamGridBuilder.addGrid` calls, in order).
    #[serde(rename = "paramGrid", default)]
    pub param_grid: Vec<GridEntry>,
}

/// One `addGrid`: a stage's parameter and its values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridEntry {
    /// 0-based index into `stages`.
    pub stage: usize,
    /// Spark's parameter name.
    pub param: String,
    /// The values to try.
    pub values: Vec<Value>,
}

/// One point of a grid: `(stage, param, value)` settings.
pub type GridPoint = Vec<(usize, String, Value)>;

impl PipelineSpec {
    /// Parses a spec; errors say what is wrong and where (serde's line and column).
    pub fn parse(text: &str) -> Result<Self, MlError> {
        let spec: Self = serde_json::from_str(text)
            .map_err(|e| MlError::Input(format!("pipeline spec: {e}")))?;
        if spec.stages.is_empty() {
            return Err(MlError::Input("pipeline spec: no stages".into()));
        }
        if let Some(t) = &spec.tuning {
            for (i, g) in t.param_grid.iter().enumerate() {
                if g.stage >= spec.stages.len() {
                    return Err(MlError::Input(format!(
                        "pipeline spec: paramGrid[{i}] names stage {} of {} (0-based)",
                        g.stage,
                        spec.stages.len()
                    )));
                }
                if g.values.is_empty() {
                    return Err(MlError::Input(format!(
                        "pipeline spec: paramGrid[{i}] ({}) has no values",
                        g.param
                    )));
                }
            }
        }
        Ok(spec)
    }

    /// The stages with one grid point's settings applied.
    pub fn stages_with(&self, point: &GridPoint) -> Vec<StageSpec> {
        let mut stages = self.stages.clone();
        for (stage, param, value) in point {
            stages[*stage].params.set(param, value.clone());
        }
        stages
    }
}

/// Expands a grid as PySpark's `ParamGridBuilder.build` does: the product of the entries'
/// values, the first entry varying slowest. An empty grid is one empty point. Setting the
/// same parameter of the same stage twice is an error.
pub fn expand_grid(entries: &[GridEntry]) -> Result<Vec<GridPoint>, MlError> {
    for (i, a) in entries.iter().enumerate() {
        if entries[..i]
            .iter()
            .any(|b| b.stage == a.stage && b.param == a.param)
        {
            return Err(MlError::Input(format!(
                "paramGrid sets {} of stage {} twice",
                a.param, a.stage
            )));
        }
    }
    let mut points: Vec<GridPoint> = vec![Vec::new()];
    for entry in entries {
        points = points
            .into_iter()
            .flat_map(|p| {
                entry.values.iter().map(move |v| {
                    let mut q = p.clone();
                    q.push((entry.stage, entry.param.clone(), v.clone()));
                    q
                })
            })
            .collect();
    }
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_expands_first_entry_slowest() {
        let spec = PipelineSpec::parse(
            r#"{"stages": [{"class": "A"}, {"class": "B", "params": {"x": 1}}],
                "tuning": {"class": "CrossValidator", "evaluator": {"class": "E"},
                           "paramGrid": [{"stage": 1, "param": "p", "values": [1, 2]},
                                         {"stage": 1, "param": "q", "values": ["a", "b", "c"]}]}}"#,
        )
        .unwrap();
        let points = expand_grid(&spec.tuning.as_ref().unwrap().param_grid).unwrap();
        assert_eq!(points.len(), 6);
        let flat: Vec<(Value, Value)> = points
            .iter()
            .map(|p| (p[0].2.clone(), p[1].2.clone()))
            .collect();
        assert_eq!(flat[0], (Value::from(1), Value::from("a")));
        assert_eq!(flat[1], (Value::from(1), Value::from("b")));
        assert_eq!(flat[3], (Value::from(2), Value::from("a")));
        let stages = spec.stages_with(&points[5]);
        assert_eq!(stages[1].params.get("q"), Some(&Value::from("c")));
        assert_eq!(stages[1].params.get("x"), Some(&Value::from(1)));
    }

    #[test]
    fn bad_specs_are_named() {
        assert!(PipelineSpec::parse(r#"{"stages": []}"#).is_err());
        let e = PipelineSpec::parse(r#"{"stages": [{"class": "A", "parms": {}}]}"#).unwrap_err();
        assert!(e.to_string().contains("parms"), "{e}");
        let e = PipelineSpec::parse(
            r#"{"stages": [{"class": "A"}], "tuning": {"class": "CrossValidator",
               "evaluator": {"class": "E"}, "paramGrid": [{"stage": 3, "param": "p", "values": [1]}]}}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("stage 3"), "{e}");
    }
}
