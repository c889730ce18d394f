//! Spark's `VectorAssembler`: numeric and vector columns into one dense vector column, with
//! `handleInvalid` error (a null or NaN is an error naming the column), skip (such rows are
//! dropped) or keep (nulls become NaN).

use arrow_array::RecordBatch;
use serde::{Deserialize, Serialize};

use super::columns::{
    decode_args, dense_column, double_values, field, is_vector, keep_rows, vector_metadata,
    vector_size, vector_values, with_columns,
};
use crate::pipeline::params::ParamMap;
use crate::MlError;

/// Spark's `VectorAssembler` (a transformer: it learns nothing).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VectorAssembler {
    #[serde(skip)]
    params: ParamMap,
    inputs: Vec<String>,
    output: String,
    handle_invalid: String,
}

impl VectorAssembler {
    /// The transformer from Spark's parameters.
    pub fn new(params: ParamMap) -> Result<Self, MlError> {
        params.check_known(
            "VectorAssembler",
            &["inputCols", "outputCol", "handleInvalid"],
        )?;
        let inputs = params
            .opt_strings("inputCols")?
            .filter(|c| !c.is_empty())
            .ok_or_else(|| MlError::Input("VectorAssembler: inputCols is not set".into()))?;
        Ok(Self {
            inputs,
            output: params.str_or("outputCol", "VectorAssembler_output")?,
            handle_invalid: params.choice_or(
                "handleInvalid",
                "error",
                &["error", "skip", "keep"],
            )?,
            params,
        })
    }
}

fn assemble(batch: &RecordBatch, args: &[u8]) -> Result<RecordBatch, String> {
    let stage: VectorAssembler = decode_args(args, "VectorAssembler")?;
    let rows = batch.num_rows();
    let mut out: Vec<Vec<f64>> = vec![Vec::new(); rows];
    let mut keep = vec![true; rows];
    let invalid = |name: &str, what: &str| {
        format!(
            "VectorAssembler: column {name:?} holds {what} (handleInvalid=error; use skip or \
             keep)"
        )
    };
    for name in &stage.inputs {
        let f = field(batch, name)?;
        if is_vector(f) {
            let values = vector_values(batch, name)?;
            let size = vector_size(f)
                .or_else(|| values.iter().flatten().next().map(Vec::len))
                .unwrap_or(0);
            for (i, v) in values.into_iter().enumerate() {
                match v {
                    Some(v) if v.len() != size => {
                        return Err(format!(
                            "VectorAssembler: column {name:?} has a vector of {} values \
                             where {size} were expected",
                            v.len()
                        ))
                    }
                    Some(v) => {
                        if v.iter().any(|x| x.is_nan()) {
                            match stage.handle_invalid.as_str() {
                                "error" => return Err(invalid(name, "NaN")),
                                "skip" => keep[i] = false,
                                _ => {}
                            }
                        }
                        out[i].extend(v)
                    }
                    None => match stage.handle_invalid.as_str() {
                        "error" => return Err(invalid(name, "a null vector")),
                        "skip" => {
                            keep[i] = false;
                            out[i].extend(std::iter::repeat_n(f64::NAN, size))
                        }
                        _ => out[i].extend(std::iter::repeat_n(f64::NAN, size)),
                    },
                }
            }
        } else {
            for (i, v) in double_values(batch, name)?.into_iter().enumerate() {
                let x = v.unwrap_or(f64::NAN);
                if x.is_nan() {
                    match stage.handle_invalid.as_str() {
                        "error" => {
                            return Err(invalid(name, if v.is_none() { "null" } else { "NaN" }))
                        }
                        "skip" => keep[i] = false,
                        _ => {}
                    }
                }
                out[i].push(x);
            }
        }
    }
    let width = out.first().map_or_else(
        || {
            stage
                .inputs
                .iter()
                .map(|n| field(batch, n).ok().and_then(vector_size).unwrap_or(1))
                .sum()
        },
        Vec::len,
    );
    let column = dense_column(&out, width)?;
    let batch = with_columns(
        batch,
        vec![(stage.output.clone(), column, vector_metadata(width))],
    )?;
    keep_rows(&batch, &keep)
}
cinder_actors::register_map!("ml.feature.vector_assembler", assemble);

super::transformer_stage!(
    VectorAssembler,
    "VectorAssembler",
    "ml.feature.vector_assembler"
);
