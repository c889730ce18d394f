//! `foldCol` folds: the rows of one fold (validation) or of all the others (training).

use arrow_array::RecordBatch;
use serde::{Deserialize, Serialize};

use crate::feature::columns::{decode_args, double_values, keep_rows};

/// Arguments of `ml.tuning.fold`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoldArgs {
    /// `foldCol`.
    pub column: String,
    /// The fold.
    pub fold: usize,
    /// `numFolds` (a value outside `0..num_folds` is an error naming it).
    pub num_folds: usize,
    /// Keep the fold's rows (validation) rather than the others (training).
    pub validation: bool,
}

fn fold_rows(batch: &RecordBatch, args: &[u8]) -> Result<RecordBatch, String> {
    let a: FoldArgs = decode_args(args, "foldCol")?;
    let keep = double_values(batch, &a.column)?
        .into_iter()
        .map(|v| match v {
            Some(x) if x >= 0.0 && x.fract() == 0.0 && (x as usize) < a.num_folds => {
                Ok(((x as usize) == a.fold) == a.validation)
            }
            other => Err(format!(
                "CrossValidator: foldCol {:?} holds {} (fold numbers are 0..{})",
                a.column,
                other.map_or("null".to_string(), |x| x.to_string()),
                a.num_folds
            )),
        })
        .collect::<Result<Vec<bool>, String>>()?;
    keep_rows(batch, &keep)
}
cinder_actors::register_map!("ml.tuning.fold", fold_rows);
