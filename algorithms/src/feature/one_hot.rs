//! Spark's `OneHotEncoder` (`dropLast`, `handleInvalid` error|keep): category indices to
//! sparse one-hot vectors. Fitting reads each input column's number of values from its
//! nominal metadata (a `StringIndexer`'s output) or, without metadata, from the largest index
//! in the data (one distributed pass, `ml.feature.category_sizes`).

use std::any::Any;
use std::path::Path;

use arrow_array::RecordBatch;
use cinder_actors::data::aggregate::Aggregator;
use serde::{Deserialize, Serialize};

use super::columns::{
    decode_args, double_values, field, nominal_size, sparse_column, vector_metadata, with_columns,
};
use crate::frame::Frame;
use crate::pipeline::params::ParamMap;
use crate::pipeline::stage::{Estimator, Model, Stage, StageClass};
use crate::pipeline::state::{load_state, save_state};
use crate::MlError;

/// Spark's `OneHotEncoder` estimator.
#[derive(Debug, Clone)]
pub struct OneHotEncoder {
    params: ParamMap,
    columns: Vec<(String, String)>,
    drop_last: bool,
    handle_invalid: String,
}

/// What a fitted encoder learned: Spark's `categorySizes`, with its settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OneHotState {
    /// `(inputCol, outputCol)` pairs.
    pub columns: Vec<(String, String)>,
    /// Number of categories of each input column.
    pub category_sizes: Vec<usize>,
    /// `dropLast`.
    pub drop_last: bool,
    /// `handleInvalid`.
    pub handle_invalid: String,
}

/// Spark's `OneHotEncoderModel`.
#[derive(Debug, Clone)]
pub struct OneHotEncoderModel {
    params: ParamMap,
    /// What it learned.
    pub state: OneHotState,
}

impl OneHotEncoder {
    /// The estimator from Spark's parameters.
    pub fn new(params: ParamMap) -> Result<Self, MlError> {
        params.check_known(
            "OneHotEncoder",
            &[
                "inputCol",
                "outputCol",
                "inputCols",
                "outputCols",
                "dropLast",
                "handleInvalid",
            ],
        )?;
        Ok(Self {
            columns: params.in_out_cols("OneHotEncoder", None)?,
            drop_last: params.bool_or("dropLast", true)?,
            handle_invalid: params.choice_or("handleInvalid", "error", &["error", "keep"])?,
            params,
        })
    }
}

/// Per input column: the size its metadata records, and the largest value seen.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CategorySizes {
    /// Sizes from metadata.
    pub metadata: Vec<Option<usize>>,
    /// Largest non-null value.
    pub max: Vec<f64>,
}

/// `ml.feature.category_sizes`.
pub struct CategorySizesAgg;

impl Aggregator for CategorySizesAgg {
    const NAME: &'static str = "ml.feature.category_sizes";
    type Args = Vec<String>;
    type Acc = CategorySizes;

    fn zero(columns: &Vec<String>) -> CategorySizes {
        CategorySizes {
            metadata: vec![None; columns.len()],
            max: vec![f64::NEG_INFINITY; columns.len()],
        }
    }

    fn seq(
        mut acc: CategorySizes,
        batch: &RecordBatch,
        columns: &Vec<String>,
    ) -> Result<CategorySizes, String> {
        for (j, name) in columns.iter().enumerate() {
            acc.metadata[j] = acc.metadata[j].or(nominal_size(field(batch, name)?));
            for v in double_values(batch, name)?.into_iter().flatten() {
                if v < 0.0 || v.fract() != 0.0 || v.is_nan() {
                    return Err(format!(
                        "OneHotEncoder: column {name:?} holds {v}, not a category index"
                    ));
                }
                acc.max[j] = acc.max[j].max(v);
            }
        }
        Ok(acc)
    }

    fn comb(mut a: CategorySizes, b: CategorySizes, _: &Vec<String>) -> CategorySizes {
        for j in 0..a.max.len() {
            a.metadata[j] = a.metadata[j].or(b.metadata[j]);
            a.max[j] = a.max[j].max(b.max[j]);
        }
        a
    }
}
cinder_actors::register_aggregator!(CategorySizesAgg);

impl Stage for OneHotEncoder {
    fn class(&self) -> &'static str {
        "OneHotEncoder"
    }
    fn params(&self) -> &ParamMap {
        &self.params
    }
}

impl<F: Frame> Estimator<F> for OneHotEncoder {
    fn fit(&self, data: &F) -> Result<Box<dyn Model<F>>, MlError> {
        let inputs: Vec<String> = self.columns.iter().map(|(i, _)| i.clone()).collect();
        let sizes = data.tree_aggregate::<CategorySizesAgg>(&inputs, 2)?;
        let category_sizes = sizes
            .metadata
            .iter()
            .zip(&sizes.max)
            .map(|(m, max)| {
                m.unwrap_or(if max.is_finite() {
                    *max as usize + 1
                } else {
                    0
                })
            })
            .collect();
        Ok(Box::new(OneHotEncoderModel {
            params: self.params.clone(),
            state: OneHotState {
                columns: self.columns.clone(),
                category_sizes,
                drop_last: self.drop_last,
                handle_invalid: self.handle_invalid.clone(),
            },
        }))
    }
}

impl OneHotState {
    /// The output vector size of input column `j` (Spark: one more with `keep`, one fewer
    /// with `dropLast`).
    pub fn vector_size(&self, j: usize) -> usize {
        let keep = usize::from(self.handle_invalid == "keep");
        (self.category_sizes[j] + keep).saturating_sub(usize::from(self.drop_last))
    }
}

/// `ml.feature.one_hot`.
pub fn encode_batch(batch: &RecordBatch, state: &OneHotState) -> Result<RecordBatch, String> {
    let mut outputs = Vec::new();
    for (j, (input, output)) in state.columns.iter().enumerate() {
        let categories = state.category_sizes[j];
        let size = state.vector_size(j);
        let rows = double_values(batch, input)?
            .into_iter()
            .map(|v| {
                let index = match v {
                    Some(x) if x >= 0.0 && x.fract() == 0.0 && (x as usize) < categories => {
                        x as usize
                    }
                    _ if state.handle_invalid == "keep" => categories,
                    other => {
                        return Err(format!(
                            "OneHotEncoder: column {input:?} holds {} where {categories} \
                             categories were seen in training (handleInvalid=error; use keep)",
                            other.map_or("null".to_string(), |x| x.to_string())
                        ))
                    }
                };
                Ok(if index < size {
                    vec![(index as i32, 1.0)]
                } else {
                    Vec::new()
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        outputs.push((
            output.clone(),
            sparse_column(size, &rows),
            vector_metadata(size),
        ));
    }
    with_columns(batch, outputs)
}

fn encode_batch_fn(batch: &RecordBatch, args: &[u8]) -> Result<RecordBatch, String> {
    encode_batch(batch, &decode_args(args, "OneHotEncoder")?)
}
cinder_actors::register_map!("ml.feature.one_hot", encode_batch_fn);

impl Stage for OneHotEncoderModel {
    fn class(&self) -> &'static str {
        "OneHotEncoder"
    }
    fn params(&self) -> &ParamMap {
        &self.params
    }
}

impl<F: Frame> Model<F> for OneHotEncoderModel {
    fn transform(&self, data: &F) -> Result<F, MlError> {
        data.map_batches("ml.feature.one_hot", &self.state)
    }
    fn save(&self, dir: &Path) -> Result<(), MlError> {
        save_state(dir, "OneHotEncoder", &self.state)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl<F: Frame> StageClass<F> for OneHotEncoder {
    const CLASS: &'static str = "OneHotEncoder";
    fn estimator(params: ParamMap) -> Result<Box<dyn Estimator<F>>, MlError> {
        Ok(Box::new(Self::new(params)?))
    }
    fn load(dir: &Path, params: ParamMap) -> Result<Box<dyn Model<F>>, MlError> {
        Ok(Box::new(OneHotEncoderModel {
            params,
            state: load_state(dir, "OneHotEncoder")?,
        }))
    }
}
