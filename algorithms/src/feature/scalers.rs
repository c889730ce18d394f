//! Spark's vector scalers: `StandardScaler` (`withMean` false, `withStd` true; unbiased
//! standard deviation; a constant feature scales to 0), `MinMaxScaler` (`min` 0, `max` 1; a
//! constant feature maps to the middle of the range) and `MaxAbsScaler`. Fitting is one
//! distributed pass of per-element moments and extremes (`ml.feature.vector_stats`); the
//! models apply Spark's formulas (a multiplication by a precomputed scale, as Spark does, so
//! results agree to the last bits).

use std::any::Any;
use std::path::Path;

use arrow_array::RecordBatch;
use cinder_actors::data::aggregate::Aggregator;
use serde::{Deserialize, Serialize};

use super::columns::{decode_args, dense_column, vector_metadata, vector_values, with_columns};
use crate::frame::Frame;
use crate::pipeline::params::ParamMap;
use crate::pipeline::stage::{Estimator, Model, Stage, StageClass};
use crate::pipeline::state::{load_state, save_state};
use crate::MlError;

/// Per-element statistics of a vector column (null rows left out).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VectorStats {
    /// Rows.
    pub count: u64,
    /// Σ x.
    pub sum: Vec<f64>,
    /// Σ x².
    pub sum_sq: Vec<f64>,
    /// Minimum.
    pub min: Vec<f64>,
    /// Maximum.
    pub max: Vec<f64>,
}

impl VectorStats {
    fn grow(&mut self, n: usize) {
        if self.sum.len() < n {
            self.sum.resize(n, 0.0);
            self.sum_sq.resize(n, 0.0);
            self.min.resize(n, f64::INFINITY);
            self.max.resize(n, f64::NEG_INFINITY);
        }
    }

    /// Means.
    pub fn mean(&self) -> Vec<f64> {
        self.sum.iter().map(|s| s / self.count as f64).collect()
    }

    /// Unbiased standard deviations (0 with fewer than two rows).
    pub fn std(&self) -> Vec<f64> {
        let n = self.count as f64;
        self.sum
            .iter()
            .zip(&self.sum_sq)
            .map(|(s, s2)| {
                if self.count < 2 {
                    0.0
                } else {
                    ((s2 - s * s / n) / (n - 1.0)).max(0.0).sqrt()
                }
            })
            .collect()
    }
}

/// `ml.feature.vector_stats`: [`VectorStats`] of the named column.
pub struct VectorStatsAgg;

impl Aggregator for VectorStatsAgg {
    const NAME: &'static str = "ml.feature.vector_stats";
    type Args = String;
    type Acc = VectorStats;

    fn zero(_: &String) -> VectorStats {
        VectorStats::default()
    }

    fn seq(
        mut acc: VectorStats,
        batch: &RecordBatch,
        column: &String,
    ) -> Result<VectorStats, String> {
        for row in vector_values(batch, column)?.into_iter().flatten() {
            acc.grow(row.len());
            acc.count += 1;
            for (j, x) in row.iter().enumerate() {
                acc.sum[j] += x;
                acc.sum_sq[j] += x * x;
                acc.min[j] = acc.min[j].min(*x);
                acc.max[j] = acc.max[j].max(*x);
            }
        }
        Ok(acc)
    }

    fn comb(mut a: VectorStats, b: VectorStats, _: &String) -> VectorStats {
        a.grow(b.sum.len());
        a.count += b.count;
        for j in 0..b.sum.len() {
            a.sum[j] += b.sum[j];
            a.sum_sq[j] += b.sum_sq[j];
            a.min[j] = a.min[j].min(b.min[j]);
            a.max[j] = a.max[j].max(b.max[j]);
        }
        a
    }
}
cinder_actors::register_aggregator!(VectorStatsAgg);

/// A fitted scaler: `y_j = (x_j - shift_j) * scale_j + offset_j`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScalerState {
    /// `inputCol`.
    pub input: String,
    /// `outputCol`.
    pub output: String,
    /// Subtracted first (the mean with `withMean`, else 0).
    #[serde(with = "crate::pipeline::params::lenient_f64_vec")]
    pub shift: Vec<f64>,
    /// Multiplied next.
    #[serde(with = "crate::pipeline::params::lenient_f64_vec")]
    pub scale: Vec<f64>,
    /// Added last.
    #[serde(with = "crate::pipeline::params::lenient_f64_vec")]
    pub offset: Vec<f64>,
    /// What Spark's model exposes (`mean`/`std`, `originalMin`/`originalMax`, `maxAbs`).
    pub learned: Vec<(String, Vec<f64>)>,
}

fn scale_batch(batch: &RecordBatch, args: &[u8]) -> Result<RecordBatch, String> {
    let s: ScalerState = decode_args(args, "scaler")?;
    let width = s.scale.len();
    let rows = vector_values(batch, &s.input)?
        .into_iter()
        .map(|v| {
            let v = v.ok_or_else(|| format!("column {:?} holds a null vector", s.input))?;
            if v.len() != width {
                return Err(format!(
                    "column {:?} has a vector of {} values, the scaler was fitted on {width}",
                    s.input,
                    v.len()
                ));
            }
            Ok(v.iter()
                .enumerate()
                .map(|(j, x)| (x - s.shift[j]) * s.scale[j] + s.offset[j])
                .collect())
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
cinder_actors::register_map!("ml.feature.scaler", scale_batch);

/// A fitted `StandardScaler`, `MinMaxScaler` or `MaxAbsScaler`.
#[derive(Debug, Clone)]
pub struct ScalerModel {
    class: &'static str,
    params: ParamMap,
    /// What it learned.
    pub state: ScalerState,
}

impl Stage for ScalerModel {
    fn class(&self) -> &'static str {
        self.class
    }
    fn params(&self) -> &ParamMap {
        &self.params
    }
}

impl<F: Frame> Model<F> for ScalerModel {
    fn transform(&self, data: &F) -> Result<F, MlError> {
        data.map_batches("ml.feature.scaler", &self.state)
    }
    fn save(&self, dir: &Path) -> Result<(), MlError> {
        save_state(dir, self.class, &self.state)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The kind of scaler and its settings.
#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Standard { with_mean: bool, with_std: bool },
    MinMax { min: f64, max: f64 },
    MaxAbs,
}

/// The common estimator behind the three scalers.
#[derive(Debug, Clone)]
struct Scaler {
    class: &'static str,
    params: ParamMap,
    input: String,
    output: String,
    kind: Kind,
}

impl Scaler {
    fn new(class: &'static str, params: ParamMap, extra: &[&str]) -> Result<Self, MlError> {
        let mut known = vec!["inputCol", "outputCol"];
        known.extend_from_slice(extra);
        params.check_known(class, &known)?;
        let input = params
            .opt_str("inputCol")?
            .ok_or_else(|| MlError::Input(format!("{class}: inputCol is not set")))?;
        let output = params
            .opt_str("outputCol")?
            .ok_or_else(|| MlError::Input(format!("{class}: outputCol is not set")))?;
        let kind = match class {
            "StandardScaler" => Kind::Standard {
                with_mean: params.bool_or("withMean", false)?,
                with_std: params.bool_or("withStd", true)?,
            },
            "MinMaxScaler" => {
                let (min, max) = (params.f64_or("min", 0.0)?, params.f64_or("max", 1.0)?);
                if min.is_nan() || max.is_nan() || min >= max {
                    return Err(MlError::Input(format!(
                        "MinMaxScaler: min {min} must be below max {max}"
                    )));
                }
                Kind::MinMax { min, max }
            }
            _ => Kind::MaxAbs,
        };
        Ok(Self {
            class,
            params,
            input,
            output,
            kind,
        })
    }

    fn fit_state<F: Frame>(&self, data: &F) -> Result<ScalerState, MlError> {
        let stats = data.tree_aggregate::<VectorStatsAgg>(&self.input, 2)?;
        if stats.count == 0 {
            return Err(MlError::Input(format!(
                "{}: column {:?} has no rows to fit on",
                self.class, self.input
            )));
        }
        let n = stats.sum.len();
        let (shift, scale, offset, learned) = match self.kind {
            Kind::Standard {
                with_mean,
                with_std,
            } => {
                let (mean, std) = (stats.mean(), stats.std());
                let shift = if with_mean {
                    mean.clone()
                } else {
                    vec![0.0; n]
                };
                let scale = if with_std {
                    std.iter()
                        .map(|s| if *s == 0.0 { 0.0 } else { 1.0 / s })
                        .collect()
                } else {
                    vec![1.0; n]
                };
                let learned = vec![("mean".to_string(), mean), ("std".to_string(), std)];
                (shift, scale, vec![0.0; n], learned)
            }
            Kind::MinMax { min, max } => {
                let range = max - min;
                let (mut shift, mut scale, mut offset) = (Vec::new(), Vec::new(), Vec::new());
                for j in 0..n {
                    let r = stats.max[j] - stats.min[j];
                    if r != 0.0 {
                        shift.push(stats.min[j]);
                        scale.push(range / r);
                        offset.push(min);
                    } else {
                        shift.push(0.0);
                        scale.push(0.0);
                        offset.push(0.5 * range + min);
                    }
                }
                let learned = vec![
                    ("originalMin".to_string(), stats.min.clone()),
                    ("originalMax".to_string(), stats.max.clone()),
                ];
                (shift, scale, offset, learned)
            }
            Kind::MaxAbs => {
                let max_abs: Vec<f64> = (0..n)
                    .map(|j| stats.min[j].abs().max(stats.max[j].abs()))
                    .collect();
                let scale = max_abs
                    .iter()
                    .map(|m| if *m == 0.0 { 1.0 } else { 1.0 / m })
                    .collect();
                (
                    vec![0.0; n],
                    scale,
                    vec![0.0; n],
                    vec![("maxAbs".to_string(), max_abs)],
                )
            }
        };
        Ok(ScalerState {
            input: self.input.clone(),
            output: self.output.clone(),
            shift,
            scale,
            offset,
            learned,
        })
    }
}

macro_rules! scaler {
    ($name:ident, $class:literal, $extra:expr, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone)]
        pub struct $name(Scaler);

        impl $name {
            /// The estimator from Spark's parameters.
            pub fn new(params: ParamMap) -> Result<Self, MlError> {
                Ok(Self(Scaler::new($class, params, $extra)?))
            }
        }

        impl Stage for $name {
            fn class(&self) -> &'static str {
                $class
            }
            fn params(&self) -> &ParamMap {
                &self.0.params
            }
        }

        impl<F: Frame> Estimator<F> for $name {
            fn fit(&self, data: &F) -> Result<Box<dyn Model<F>>, MlError> {
                Ok(Box::new(ScalerModel {
                    class: $class,
                    params: self.0.params.clone(),
                    state: self.0.fit_state(data)?,
                }))
            }
        }

        impl<F: Frame> StageClass<F> for $name {
            const CLASS: &'static str = $class;
            fn estimator(params: ParamMap) -> Result<Box<dyn Estimator<F>>, MlError> {
                Ok(Box::new(Self::new(params)?))
            }
            fn load(dir: &Path, params: ParamMap) -> Result<Box<dyn Model<F>>, MlError> {
                Ok(Box::new(ScalerModel {
                    class: $class,
                    params,
                    state: load_state(dir, $class)?,
                }))
            }
        }
    };
}

scaler!(
    StandardScaler,
    "StandardScaler",
    &["withMean", "withStd"],
    "Spark's `StandardScaler` (`withMean` false, `withStd` true)."
);
scaler!(
    MinMaxScaler,
    "MinMaxScaler",
    &["min", "max"],
    "Spark's `MinMaxScaler` (`min` 0, `max` 1)."
);
scaler!(MaxAbsScaler, "MaxAbsScaler", &[], "Spark's `MaxAbsScaler`.");
