//! The binned training set the workers cache: per row the label, the weight, a stable row key
//! (for seeded bagging) and every feature's bin as one byte (up to 256 bins) or two, in a
//! fixed-size binary column. Built once by `ml.tree.bin`; every level's pass reads only it.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, FixedSizeBinaryArray, Float64Array, RecordBatch, UInt64Array};
use arrow_schema::{DataType, Field, Schema};
use serde::{Deserialize, Serialize};

use super::bagging::row_key;
use super::splits::bin_of;
use crate::features::{numeric_column, FeatureSpec, Rows};

/// Column names of the binned batches.
pub const LABEL: &str = "label";
/// Instance weights.
pub const WEIGHT: &str = "weight";
/// Row keys.
pub const KEY: &str = "key";
/// Bins.
pub const BINS: &str = "bins";
/// GBT's running prediction.
pub const PREDICTION: &str = "prediction";
/// A forest's bootstrap counts: one byte per tree.
pub const COUNTS: &str = "counts";

/// Arguments of `ml.tree.bag`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BagArgs {
    /// The sampling.
    pub bagging: super::bagging::Bagging,
    /// Trees (bagging ids `0..trees`).
    pub trees: usize,
}

/// `ml.tree.bag`: the binned batch with every row's bootstrap count per tree (at most 255),
/// computed once instead of at every level (Spark's cached `BaggedPoint`).
pub fn bag_batch(batch: &RecordBatch, args: &[u8]) -> Result<RecordBatch, String> {
    let a: BagArgs = rmp_serde::from_slice(args).map_err(|e| e.to_string())?;
    let keys = batch
        .column_by_name(KEY)
        .and_then(|c| c.as_any().downcast_ref::<UInt64Array>())
        .ok_or("binned batch without keys")?;
    let sampler = super::bagging::Sampler::new(a.bagging);
    let width = a.trees.max(1);
    let mut bytes = vec![0u8; keys.len() * width];
    for (i, key) in keys.values().iter().enumerate() {
        for t in 0..a.trees {
            bytes[i * width + t] = sampler.count(t as u64, *key).min(255) as u8;
        }
    }
    let counts: ArrayRef = if keys.is_empty() {
        Arc::new(FixedSizeBinaryArray::new_null(width as i32, 0))
    } else {
        Arc::new(
            FixedSizeBinaryArray::try_from_iter(bytes.chunks(width)).map_err(|e| e.to_string())?,
        )
    };
    cinder_actors::data::exec::with_column(batch, COUNTS, counts)
}
cinder_actors::register_map!("ml.tree.bag", bag_batch);

/// A hash of a partition's content (labels, and the features of its first rows): with the
/// row's position it keys the row, the same every time the partition is computed.
pub fn partition_salt(batch: &RecordBatch, spec: &FeatureSpec) -> Result<u64, String> {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&(batch.num_rows() as u64).to_le_bytes());
    for y in numeric_column(batch, &spec.label)? {
        hasher.update(&y.to_le_bytes());
    }
    let rows = Rows::new_features_only(batch, spec)?;
    for i in 0..rows.len().min(16) {
        rows.for_each(i, |j, v| {
            hasher.update(&(j as u64).to_le_bytes());
            hasher.update(&v.to_le_bytes());
        });
    }
    let low = u64::from(hasher.finalize());
    Ok(low | (low << 32))
}

/// Arguments of `ml.tree.bin`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BinArgs {
    /// Where label, weight and features are.
    pub spec: FeatureSpec,
    /// Ascending thresholds per feature.
    pub thresholds: Vec<Vec<f64>>,
    /// Two bytes per bin (more than 256 bins).
    pub wide: bool,
    /// Categories per feature (0: continuous): a categorical value must be `0..categories`
    /// and is its own bin.
    #[serde(default)]
    pub categories: Vec<usize>,
}

/// `ml.tree.bin`: the binned form of a batch.
pub fn bin_batch(batch: &RecordBatch, args: &[u8]) -> Result<RecordBatch, String> {
    let a: BinArgs = rmp_serde::from_slice(args).map_err(|e| e.to_string())?;
    let rows = Rows::new(batch, &a.spec)?;
    let salt = partition_salt(batch, &a.spec)?;
    let width = a.thresholds.len();
    let bytes = if a.wide { 2 } else { 1 };
    let mut dense = vec![0.0f64; width];
    let mut out = vec![0u8; rows.len() * width * bytes];
    let mut labels = Vec::with_capacity(rows.len());
    let mut weights = Vec::with_capacity(rows.len());
    for i in 0..rows.len() {
        let (y, w) = (rows.label(i), rows.weight(i));
        if !y.is_finite() {
            return Err(format!("row {i}: label {y} is not finite"));
        }
        if !(w.is_finite() && w >= 0.0) {
            return Err(format!(
                "row {i}: weight {w} is not a finite non-negative number"
            ));
        }
        dense.iter_mut().for_each(|v| *v = 0.0);
        let mut bad = None;
        rows.for_each(i, |j, v| match dense.get_mut(j) {
            Some(slot) if v.is_finite() => *slot = v,
            _ => bad = Some((j, v)),
        });
        if let Some((j, v)) = bad {
            return Err(format!(
                "row {i}: feature {j} = {v} (features must be finite, fewer than {width})"
            ));
        }
        let row = &mut out[i * width * bytes..(i + 1) * width * bytes];
        for (j, v) in dense.iter().enumerate() {
            let b = match a.categories.get(j) {
                Some(k) if *k > 0 => {
                    if !(*v >= 0.0 && v.fract() == 0.0 && *v < *k as f64) {
                        return Err(format!(
                            "row {i}: categorical feature {j} = {v} is not a category index \
                             below {k}"
                        ));
                    }
                    *v as usize
                }
                _ => bin_of(*v, &a.thresholds[j]),
            };
            if a.wide {
                row[2 * j..2 * j + 2].copy_from_slice(&(b as u16).to_le_bytes());
            } else {
                row[j] = b as u8;
            }
        }
        labels.push(y);
        weights.push(w);
    }
    let keys: Vec<u64> = (0..rows.len() as u64).map(|i| row_key(salt, i)).collect();
    let size = (width * bytes).max(1);
    let bins = if width == 0 {
        FixedSizeBinaryArray::try_from_iter(std::iter::repeat_n([0u8], rows.len()))
    } else {
        FixedSizeBinaryArray::try_from_iter(out.chunks(size))
    };
    let bins: ArrayRef = if rows.is_empty() {
        Arc::new(FixedSizeBinaryArray::new_null(size as i32, 0))
    } else {
        Arc::new(bins.map_err(|e| e.to_string())?)
    };
    let schema = Schema::new(vec![
        Field::new(LABEL, DataType::Float64, false),
        Field::new(WEIGHT, DataType::Float64, false),
        Field::new(KEY, DataType::UInt64, false),
        Field::new(BINS, bins.data_type().clone(), true),
    ]);
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(Float64Array::from(labels)),
            Arc::new(Float64Array::from(weights)),
            Arc::new(UInt64Array::from(keys)),
            bins,
        ],
    )
    .map_err(|e| e.to_string())
}
cinder_actors::register_map!("ml.tree.bin", bin_batch);

/// Row-wise access to a binned batch.
pub struct Binned<'a> {
    /// Labels.
    pub labels: &'a [f64],
    /// Weights.
    pub weights: &'a [f64],
    /// Row keys.
    pub keys: &'a [u64],
    /// GBT's running predictions, when the batch has them.
    pub predictions: Option<&'a [f64]>,
    /// A forest's cached bootstrap counts, when the batch has them.
    pub counts: Option<&'a FixedSizeBinaryArray>,
    bins: &'a FixedSizeBinaryArray,
    wide: bool,
}

fn f64s<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a [f64], String> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<Float64Array>())
        .map(|a| a.values().as_ref())
        .ok_or_else(|| format!("binned batch without a Float64 {name:?} column"))
}

impl<'a> Binned<'a> {
    /// Views a batch made by `ml.tree.bin`.
    pub fn new(batch: &'a RecordBatch, wide: bool) -> Result<Self, String> {
        let keys = batch
            .column_by_name(KEY)
            .and_then(|c| c.as_any().downcast_ref::<UInt64Array>())
            .ok_or("binned batch without keys")?;
        let bins = batch
            .column_by_name(BINS)
            .and_then(|c| c.as_any().downcast_ref::<FixedSizeBinaryArray>())
            .ok_or("binned batch without bins")?;
        let predictions = match batch.column_by_name(PREDICTION) {
            Some(_) => Some(f64s(batch, PREDICTION)?),
            None => None,
        };
        let counts = batch
            .column_by_name(COUNTS)
            .and_then(|c| c.as_any().downcast_ref::<FixedSizeBinaryArray>());
        Ok(Self {
            counts,
            labels: f64s(batch, LABEL)?,
            weights: f64s(batch, WEIGHT)?,
            keys: keys.values().as_ref(),
            predictions,
            bins,
            wide,
        })
    }

    /// Rows.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True without rows.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The bin of feature `j` of row `i`.
    #[inline]
    pub fn bin(&self, i: usize, j: usize) -> usize {
        bin_in(self.row(i), j, self.wide)
    }

    /// Row `i`'s bins as bytes (read them with [`bin_in`]).
    #[inline]
    pub fn row(&self, i: usize) -> &'a [u8] {
        self.bins.value(i)
    }

    /// Whether bins take two bytes.
    pub fn wide(&self) -> bool {
        self.wide
    }

    /// Bytes the bins take (the cache's size, against 8 bytes per value raw).
    pub fn bin_bytes(&self) -> usize {
        self.bins.len() * self.bins.value_length() as usize
    }
}

/// The bin of feature `j` in a row's bytes.
#[inline]
pub fn bin_in(row: &[u8], j: usize, wide: bool) -> usize {
    if wide {
        usize::from(u16::from_le_bytes([row[2 * j], row[2 * j + 1]]))
    } else {
        usize::from(row[j])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::FeatureCols;

    #[test]
    fn binning_keeps_labels_weights_and_orders_bins_like_thresholds() {
        let batch = RecordBatch::try_from_iter([
            (
                "y",
                Arc::new(Float64Array::from(vec![1.0, 0.0, 1.0])) as ArrayRef,
            ),
            (
                "a",
                Arc::new(Float64Array::from(vec![0.5, 2.0, 9.0])) as ArrayRef,
            ),
            (
                "b",
                Arc::new(Float64Array::from(vec![-1.0, 0.0, 1.0])) as ArrayRef,
            ),
        ])
        .unwrap();
        let spec = FeatureSpec {
            label: "y".into(),
            weight: None,
            features: FeatureCols::Columns(vec!["a".into(), "b".into()]),
        };
        for wide in [false, true] {
            let args = BinArgs {
                spec: spec.clone(),
                thresholds: vec![vec![1.0, 5.0], vec![0.0]],
                wide,
                categories: Vec::new(),
            };
            let out = bin_batch(&batch, &rmp_serde::to_vec_named(&args).unwrap()).unwrap();
            let b = Binned::new(&out, wide).unwrap();
            assert_eq!(b.labels, &[1.0, 0.0, 1.0]);
            assert_eq!(b.weights, &[1.0, 1.0, 1.0]);
            let bins: Vec<(usize, usize)> = (0..3).map(|i| (b.bin(i, 0), b.bin(i, 1))).collect();
            assert_eq!(bins, vec![(0, 0), (1, 0), (2, 1)]);
            let again = bin_batch(&batch, &rmp_serde::to_vec_named(&args).unwrap()).unwrap();
            assert_eq!(
                Binned::new(&again, wide).unwrap().keys,
                b.keys,
                "stable keys"
            );
            let bagging = super::super::bagging::Bagging {
                rate: 1.0,
                with_replacement: true,
                seed: 9,
            };
            let bag = BagArgs { bagging, trees: 5 };
            let bagged = bag_batch(&out, &rmp_serde::to_vec_named(&bag).unwrap()).unwrap();
            let rows = Binned::new(&bagged, wide).unwrap();
            let counts = rows.counts.expect("a counts column");
            for i in 0..3 {
                for t in 0..5u64 {
                    let cached = u32::from(counts.value(i)[t as usize]);
                    assert_eq!(cached, bagging.count(t, rows.keys[i]), "row {i}, tree {t}");
                }
            }
        }
    }
}
