//! Rows with non-finite values (NaN, ±inf): readers pass them through (an imputer needs them),
//! estimators must not consume them. `ml.finite_rows` keeps the rows whose label, weight and
//! features are all finite (Spark's `handleInvalid = skip`); `ml.non_finite_rows` keeps the
//! others, so a driver can name the first offending value before any training.

use arrow_array::{BooleanArray, RecordBatch};

use crate::features::{FeatureCols, FeatureSpec, Rows};

/// Where a row is not finite: the label, the weight, or a feature (index and name).
#[derive(Debug, Clone, PartialEq)]
pub enum NonFinite {
    /// The label.
    Label(f64),
    /// The instance weight.
    Weight(f64),
    /// A feature: its 0-based index, its column name when features are columns, the value.
    Feature {
        /// 0-based feature index.
        index: usize,
        /// The column holding it (CSV/Parquet columns), if any.
        column: Option<String>,
        /// The value.
        value: f64,
    },
}

impl std::fmt::Display for NonFinite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Label(v) => write!(f, "the label is {v}"),
            Self::Weight(v) => write!(f, "the weight is {v}"),
            Self::Feature {
                column: Some(c),
                value,
                ..
            } => write!(f, "column {c:?} is {value}"),
            Self::Feature { index, value, .. } => {
                write!(
                    f,
                    "feature {} (1-based, as in LibSVM) is {value}",
                    index + 1
                )
            }
        }
    }
}

/// What to check: the columns, and whether the label and weight count (supervised) or only
/// the features (clustering).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Checked {
    /// The columns.
    pub spec: FeatureSpec,
    /// Whether the label and weight are read.
    pub supervised: bool,
}

impl Checked {
    fn rows<'a>(&self, batch: &'a RecordBatch) -> Result<Rows<'a>, String> {
        if self.supervised {
            Rows::new(batch, &self.spec)
        } else {
            Rows::new_features_only(batch, &self.spec)
        }
    }
}

/// The first non-finite value of row `i`, if any.
pub fn row_non_finite(rows: &Rows<'_>, spec: &FeatureSpec, i: usize) -> Option<NonFinite> {
    let label = rows.label(i);
    if !label.is_finite() {
        return Some(NonFinite::Label(label));
    }
    let weight = rows.weight(i);
    if !weight.is_finite() {
        return Some(NonFinite::Weight(weight));
    }
    let mut found = None;
    rows.for_each(i, |j, v| {
        if found.is_none() && !v.is_finite() {
            let column = match &spec.features {
                FeatureCols::Columns(names) => names.get(j).cloned(),
                FeatureCols::Vector(_) => None,
            };
            found = Some(NonFinite::Feature {
                index: j,
                column,
                value: v,
            });
        }
    });
    found
}

/// The first non-finite value of a batch: `(row, what)`.
pub fn first_non_finite(
    batch: &RecordBatch,
    checked: &Checked,
) -> Result<Option<(usize, NonFinite)>, String> {
    let rows = checked.rows(batch)?;
    Ok((0..rows.len()).find_map(|i| row_non_finite(&rows, &checked.spec, i).map(|w| (i, w))))
}

fn mask(batch: &RecordBatch, args: &[u8], keep_finite: bool) -> Result<BooleanArray, String> {
    let checked: Checked = rmp_serde::from_slice(args).map_err(|e| e.to_string())?;
    let rows = checked.rows(batch)?;
    Ok((0..rows.len())
        .map(|i| Some(row_non_finite(&rows, &checked.spec, i).is_none() == keep_finite))
        .collect())
}

/// `ml.finite_rows` (argument: a [`Checked`]): rows whose label, weight and features are
/// all finite.
pub fn finite_rows(batch: &RecordBatch, args: &[u8]) -> Result<BooleanArray, String> {
    mask(batch, args, true)
}
cinder_actors::register_filter!("ml.finite_rows", finite_rows);

/// `ml.non_finite_rows` (argument: a [`Checked`]): rows holding a non-finite value.
pub fn non_finite_rows(batch: &RecordBatch, args: &[u8]) -> Result<BooleanArray, String> {
    mask(batch, args, false)
}
cinder_actors::register_filter!("ml.non_finite_rows", non_finite_rows);

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{ArrayRef, Float64Array};
    use std::sync::Arc;

    #[test]
    fn non_finite_labels_weights_and_features_are_found_and_filtered() {
        let col = |v: Vec<f64>| Arc::new(Float64Array::from(v)) as ArrayRef;
        let batch = RecordBatch::try_from_iter([
            ("label", col(vec![1.0, f64::NAN, 0.0, 1.0])),
            ("x1", col(vec![0.5, 1.0, f64::INFINITY, 2.0])),
            ("x2", col(vec![0.5, 1.0, 1.0, 2.0])),
        ])
        .unwrap();
        let spec = FeatureSpec {
            label: "label".into(),
            weight: None,
            features: FeatureCols::Columns(vec!["x1".into(), "x2".into()]),
        };
        let checked = Checked {
            spec: spec.clone(),
            supervised: true,
        };
        let (row, what) = first_non_finite(&batch, &checked).unwrap().unwrap();
        assert_eq!(row, 1);
        assert!(matches!(what, NonFinite::Label(v) if v.is_nan()));
        let features_only = Checked {
            supervised: false,
            ..checked.clone()
        };
        let (row, _) = first_non_finite(&batch, &features_only).unwrap().unwrap();
        assert_eq!(row, 2, "the NaN label does not count for clustering");
        let args = rmp_serde::to_vec_named(&checked).unwrap();
        let keep = finite_rows(&batch, &args).unwrap();
        assert_eq!(
            keep.iter().collect::<Vec<_>>(),
            vec![Some(true), Some(false), Some(false), Some(true)]
        );
        let bad = non_finite_rows(&batch, &args).unwrap();
        assert_eq!(bad.true_count(), 2);
        let rows = Rows::new(&batch, &spec).unwrap();
        assert_eq!(
            row_non_finite(&rows, &spec, 2).unwrap().to_string(),
            "column \"x1\" is inf"
        );
    }
}
