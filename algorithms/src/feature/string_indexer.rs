//! Spark's `StringIndexer` (single and multi-column, `handleInvalid` error|skip|keep,
//! `stringOrderType`) and `IndexToString`. Fitting counts the values of every input column
//! in one distributed pass (`ml.feature.string_counts`, partials combined in partition
//! order); the model maps labels to indices on the workers (`ml.feature.string_indexer`) and
//! records the labels in the output column's metadata (see [`super::columns`]).

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use arrow_array::RecordBatch;
use cinder_actors::data::aggregate::Aggregator;
use serde::{Deserialize, Serialize};

use super::columns::{
    decode_args, double_values, field, keep_rows, nominal_metadata, nominal_names, string_column,
    string_values, with_columns,
};
use crate::frame::Frame;
use crate::pipeline::params::ParamMap;
use crate::pipeline::stage::{Estimator, Model, Stage, StageClass};
use crate::pipeline::state::{load_state, save_state};
use crate::MlError;

/// The label `handleInvalid = keep` gives to unseen values (Spark's `__unknown`).
pub const UNKNOWN_LABEL: &str = "__unknown";

/// Spark's `StringIndexer`: each input column's values get indices `0, 1, ...` in
/// `stringOrderType` order (frequencyDesc by default; equal frequencies in alphabetical
/// order, as Spark breaks ties). Nulls are never counted and are invalid when transformed.
#[derive(Debug, Clone)]
pub struct StringIndexer {
    params: ParamMap,
    columns: Vec<(String, String)>,
    handle_invalid: String,
    order: String,
}

/// What a fitted `StringIndexer` learned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexerState {
    /// `(inputCol, outputCol)` pairs.
    pub columns: Vec<(String, String)>,
    /// Spark's `labelsArray`: the labels of each input column in index order.
    pub labels_array: Vec<Vec<String>>,
    /// `handleInvalid`.
    pub handle_invalid: String,
}

/// A fitted `StringIndexer` (Spark's `StringIndexerModel`).
#[derive(Debug, Clone)]
pub struct StringIndexerModel {
    params: ParamMap,
    /// What it learned.
    pub state: IndexerState,
}

impl StringIndexer {
    /// The estimator from Spark's parameters.
    pub fn new(params: ParamMap) -> Result<Self, MlError> {
        params.check_known(
            "StringIndexer",
            &[
                "inputCol",
                "outputCol",
                "inputCols",
                "outputCols",
                "handleInvalid",
                "stringOrderType",
            ],
        )?;
        Ok(Self {
            columns: params.in_out_cols("StringIndexer", None)?,
            handle_invalid: params.choice_or(
                "handleInvalid",
                "error",
                &["error", "skip", "keep"],
            )?,
            order: params.choice_or(
                "stringOrderType",
                "frequencyDesc",
                &[
                    "frequencyDesc",
                    "frequencyAsc",
                    "alphabetDesc",
                    "alphabetAsc",
                ],
            )?,
            params,
        })
    }
}

/// Orders counted labels as `stringOrderType` says (ties broken alphabetically, ascending).
pub fn order_labels(counts: &BTreeMap<String, u64>, order: &str) -> Vec<String> {
    let mut labels: Vec<(&String, u64)> = counts.iter().map(|(k, v)| (k, *v)).collect();
    match order {
        "frequencyAsc" => labels.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(b.0))),
        "alphabetDesc" => labels.sort_by(|a, b| b.0.cmp(a.0)),
        "alphabetAsc" => labels.sort_by(|a, b| a.0.cmp(b.0)),
        _ => labels.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0))),
    }
    labels.into_iter().map(|(l, _)| l.clone()).collect()
}

/// `ml.feature.string_counts`: non-null value counts of each named column.
pub struct StringCounts;

impl Aggregator for StringCounts {
    const NAME: &'static str = "ml.feature.string_counts";
    type Args = Vec<String>;
    type Acc = Vec<BTreeMap<String, u64>>;

    fn zero(columns: &Vec<String>) -> Self::Acc {
        vec![BTreeMap::new(); columns.len()]
    }

    fn seq(
        mut acc: Self::Acc,
        batch: &RecordBatch,
        columns: &Vec<String>,
    ) -> Result<Self::Acc, String> {
        for (counts, name) in acc.iter_mut().zip(columns) {
            for value in string_values(batch, name)?.into_iter().flatten() {
                *counts.entry(value).or_insert(0) += 1;
            }
        }
        Ok(acc)
    }

    fn comb(mut a: Self::Acc, b: Self::Acc, _: &Vec<String>) -> Self::Acc {
        for (x, y) in a.iter_mut().zip(b) {
            for (k, v) in y {
                *x.entry(k).or_insert(0) += v;
            }
        }
        a
    }
}
cinder_actors::register_aggregator!(StringCounts);

impl Stage for StringIndexer {
    fn class(&self) -> &'static str {
        "StringIndexer"
    }
    fn params(&self) -> &ParamMap {
        &self.params
    }
}

impl<F: Frame> Estimator<F> for StringIndexer {
    fn fit(&self, data: &F) -> Result<Box<dyn Model<F>>, MlError> {
        let inputs: Vec<String> = self.columns.iter().map(|(i, _)| i.clone()).collect();
        let counts = data.tree_aggregate::<StringCounts>(&inputs, 2)?;
        let labels_array = counts
            .iter()
            .map(|c| order_labels(c, &self.order))
            .collect();
        Ok(Box::new(StringIndexerModel {
            params: self.params.clone(),
            state: IndexerState {
                columns: self.columns.clone(),
                labels_array,
                handle_invalid: self.handle_invalid.clone(),
            },
        }))
    }
}

/// `ml.feature.string_indexer`: the indices of a batch's labels (and the rows kept).
pub fn index_batch(batch: &RecordBatch, state: &IndexerState) -> Result<RecordBatch, String> {
    let rows = batch.num_rows();
    let mut keep = vec![true; rows];
    let mut outputs = Vec::new();
    for ((input, output), labels) in state.columns.iter().zip(&state.labels_array) {
        let index: HashMap<&str, usize> = labels
            .iter()
            .enumerate()
            .map(|(i, l)| (l.as_str(), i))
            .collect();
        let values = string_values(batch, input)?;
        let mut indices = Vec::with_capacity(rows);
        for (row, value) in values.iter().enumerate() {
            match value.as_deref().and_then(|v| index.get(v)) {
                Some(i) => indices.push(*i as f64),
                None => match state.handle_invalid.as_str() {
                    "keep" => indices.push(labels.len() as f64),
                    "skip" => {
                        keep[row] = false;
                        indices.push(f64::NAN);
                    }
                    _ => {
                        return Err(match value {
                            None => format!(
                                "StringIndexer: column {input:?} holds a null value \
                                 (handleInvalid=error; use skip or keep)"
                            ),
                            Some(v) => format!(
                                "StringIndexer: unseen label {v:?} in column {input:?} \
                                 (handleInvalid=error; use skip or keep)"
                            ),
                        })
                    }
                },
            }
        }
        let mut names = labels.clone();
        if state.handle_invalid == "keep" {
            names.push(UNKNOWN_LABEL.to_string());
        }
        outputs.push((
            output.clone(),
            super::columns::double_column(indices),
            nominal_metadata(names.len(), Some(&names)),
        ));
    }
    keep_rows(&with_columns(batch, outputs)?, &keep)
}

fn index_batch_fn(batch: &RecordBatch, args: &[u8]) -> Result<RecordBatch, String> {
    index_batch(batch, &decode_args(args, "StringIndexer")?)
}
cinder_actors::register_map!("ml.feature.string_indexer", index_batch_fn);

impl Stage for StringIndexerModel {
    fn class(&self) -> &'static str {
        "StringIndexer"
    }
    fn params(&self) -> &ParamMap {
        &self.params
    }
}

impl<F: Frame> Model<F> for StringIndexerModel {
    fn transform(&self, data: &F) -> Result<F, MlError> {
        data.map_batches("ml.feature.string_indexer", &self.state)
    }
    fn save(&self, dir: &Path) -> Result<(), MlError> {
        save_state(dir, "StringIndexer", &self.state)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl<F: Frame> StageClass<F> for StringIndexer {
    const CLASS: &'static str = "StringIndexer";
    fn estimator(params: ParamMap) -> Result<Box<dyn Estimator<F>>, MlError> {
        Ok(Box::new(Self::new(params)?))
    }
    fn load(dir: &Path, params: ParamMap) -> Result<Box<dyn Model<F>>, MlError> {
        Ok(Box::new(StringIndexerModel {
            params,
            state: load_state(dir, "StringIndexer")?,
        }))
    }
}

/// Spark's `IndexToString`: indices back to labels, from the `labels` parameter or else the
/// input column's metadata (an index with no label is an error naming it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IndexToString {
    #[serde(skip)]
    params: ParamMap,
    input: String,
    output: String,
    labels: Option<Vec<String>>,
}

impl IndexToString {
    /// The transformer from Spark's parameters.
    pub fn new(params: ParamMap) -> Result<Self, MlError> {
        params.check_known("IndexToString", &["inputCol", "outputCol", "labels"])?;
        let input = params
            .opt_str("inputCol")?
            .ok_or_else(|| MlError::Input("IndexToString: inputCol is not set".into()))?;
        Ok(Self {
            output: params.str_or("outputCol", &format!("IndexToString_output_{input}"))?,
            input,
            labels: params.opt_strings("labels")?,
            params,
        })
    }
}

fn index_to_string(batch: &RecordBatch, args: &[u8]) -> Result<RecordBatch, String> {
    let stage: IndexToString = decode_args(args, "IndexToString")?;
    let labels = match &stage.labels {
        Some(l) => l.clone(),
        None => nominal_names(field(batch, &stage.input)?).ok_or_else(|| {
            format!(
                "IndexToString: column {:?} has no label metadata and no labels are set",
                stage.input
            )
        })?,
    };
    let values = double_values(batch, &stage.input)?
        .into_iter()
        .map(|v| match v {
            None => Ok(None),
            Some(x) if x >= 0.0 && x.fract() == 0.0 && (x as usize) < labels.len() => {
                Ok(Some(labels[x as usize].clone()))
            }
            Some(x) => Err(format!(
                "IndexToString: unseen index {x} in column {:?} ({} labels)",
                stage.input,
                labels.len()
            )),
        })
        .collect::<Result<Vec<_>, String>>()?;
    with_columns(
        batch,
        vec![(stage.output.clone(), string_column(&values), HashMap::new())],
    )
}
cinder_actors::register_map!("ml.feature.index_to_string", index_to_string);

super::transformer_stage!(IndexToString, "IndexToString", "ml.feature.index_to_string");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spark_orders_with_alphabetical_tie_breaks() {
        let counts: BTreeMap<String, u64> = [("b", 2), ("a", 2), ("c", 5), ("d", 1)]
            .map(|(k, v)| (k.to_string(), v))
            .into();
        assert_eq!(order_labels(&counts, "frequencyDesc"), ["c", "a", "b", "d"]);
        assert_eq!(order_labels(&counts, "frequencyAsc"), ["d", "a", "b", "c"]);
        assert_eq!(order_labels(&counts, "alphabetDesc"), ["d", "c", "b", "a"]);
        assert_eq!(order_labels(&counts, "alphabetAsc"), ["a", "b", "c", "d"]);
    }
}
