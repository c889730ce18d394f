//! The per-level pass (`ml.tree.histograms`): every cached binned row is routed down each tree
//! being grown to the node it is in now; when that node is open in this pass, the row's
//! statistics (times its bootstrap count) are added to the node's histogram of every feature
//! the node considers. Partials are flat `f64` arrays added in partition order, so the
//! histograms, and with them the splits, do not depend on which worker computed what.

use arrow_array::RecordBatch;
use cinder_actors::data::aggregate::Aggregator;
use serde::{Deserialize, Serialize};

use super::bagging::{Bagging, Sampler};
use super::binned::{bin_in, Binned};

/// No feature / no slot.
pub const NONE: u32 = u32::MAX;

/// A node as the workers route rows: internal nodes send `bin <= bin` left; an open node
/// names its histogram slot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Route {
    /// Feature of an internal node, [`NONE`] otherwise.
    pub feature: u32,
    /// Highest bin going left.
    pub bin: u32,
    /// Left child.
    pub left: u32,
    /// Right child.
    pub right: u32,
    /// Histogram slot of an open node in this pass, [`NONE`] otherwise.
    pub slot: u32,
    /// Per category, whether it goes left (categorical splits; empty otherwise).
    pub left_categories: Vec<bool>,
}

/// What a tree fits: the label, the label as -1/+1 (GBT classification), or a loss's
/// pseudo-residual at the running prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Target {
    /// The label; a class index for classification.
    Label,
    /// `2y - 1`.
    Signed,
    /// `-∂loss/∂prediction` of the (signed, for logistic) label.
    Residual(Loss),
}

/// Spark's GBT losses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Loss {
    /// `log(1 + exp(-2 y F))` on -1/+1 labels (classification).
    Logistic,
    /// `(y - F)²`.
    Squared,
    /// `|y - F|`.
    Absolute,
}

impl Loss {
    /// Spark's `-gradient(prediction, label)`.
    #[inline]
    pub fn residual(self, y: f64, f: f64) -> f64 {
        match self {
            Self::Logistic => 4.0 * y / (1.0 + (2.0 * y * f).exp()),
            Self::Squared => 2.0 * (y - f),
            Self::Absolute => {
                if y - f < 0.0 {
                    -1.0
                } else {
                    1.0
                }
            }
        }
    }

    /// Spark's `computeError(prediction, label)`.
    pub fn error(self, y: f64, f: f64) -> f64 {
        match self {
            Self::Logistic => {
                let m = 2.0 * y * f;
                if m < -30.0 {
                    -m
                } else {
                    (-m).exp().ln_1p()
                }
            }
            Self::Squared => (y - f) * (y - f),
            Self::Absolute => (y - f).abs(),
        }
    }
}

/// One open node's histograms in this pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Slot {
    /// Position of its tree in [`HistogramArgs::trees`].
    pub tree: u32,
    /// Features it considers, ascending.
    pub features: Vec<u32>,
}

/// Arguments of one pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistogramArgs {
    /// Two bytes per bin.
    pub wide: bool,
    /// Bins per feature.
    pub num_bins: Vec<u32>,
    /// Values per bin (see [`super::impurity::Impurity::stats_size`]).
    pub stats_size: u32,
    /// Class statistics (label is a class index) rather than moments.
    pub classification: bool,
    /// What the trees fit.
    pub target: Target,
    /// Row sampling.
    pub bagging: Bagging,
    /// The trees being grown, with their bagging ids.
    pub trees: Vec<(u64, Vec<Route>)>,
    /// Open nodes.
    pub slots: Vec<Slot>,
}

impl HistogramArgs {
    /// Offset of each slot's block and, within it, of each of its features.
    pub fn layout(&self) -> (Vec<usize>, Vec<Vec<usize>>, usize) {
        let s = self.stats_size as usize;
        let mut starts = Vec::with_capacity(self.slots.len());
        let mut feature_offsets = Vec::with_capacity(self.slots.len());
        let mut total = 0usize;
        for slot in &self.slots {
            starts.push(total);
            let mut offsets = Vec::with_capacity(slot.features.len());
            let mut within = 0usize;
            for f in &slot.features {
                offsets.push(within);
                within += self.num_bins[*f as usize] as usize * s;
            }
            feature_offsets.push(offsets);
            total += within;
        }
        (starts, feature_offsets, total)
    }
}

/// Histogram values, shipped sparse (index, value; `+0.0` left out, every other value kept
/// bit for bit) when fewer than a third are non-zero, as
/// they are at deep levels, where most nodes see few of the bins.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Hist(pub Vec<f64>);

#[derive(Serialize, Deserialize)]
struct HistWire {
    len: usize,
    index: Vec<u32>,
    value: Vec<f64>,
}

impl Serialize for Hist {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let nonzero = self.0.iter().filter(|v| v.to_bits() != 0).count();
        let wire = if nonzero * 3 < self.0.len() {
            let (index, value) = self
                .0
                .iter()
                .enumerate()
                .filter(|(_, v)| v.to_bits() != 0)
                .map(|(i, v)| (i as u32, *v))
                .unzip();
            HistWire {
                len: self.0.len(),
                index,
                value,
            }
        } else {
            HistWire {
                len: self.0.len(),
                index: Vec::new(),
                value: self.0.clone(),
            }
        };
        wire.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Hist {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let w = HistWire::deserialize(deserializer)?;
        if w.index.is_empty() && w.value.len() == w.len {
            return Ok(Self(w.value));
        }
        if w.index.len() != w.value.len() || w.index.iter().any(|i| *i as usize >= w.len) {
            return Err(serde::de::Error::custom("malformed sparse histogram"));
        }
        let mut values = vec![0.0; w.len];
        for (i, v) in w.index.iter().zip(&w.value) {
            values[*i as usize] = *v;
        }
        Ok(Self(values))
    }
}

/// `ml.tree.histograms`.
pub struct Histograms;

impl Aggregator for Histograms {
    const NAME: &'static str = "ml.tree.histograms";
    type Args = HistogramArgs;
    type Acc = Hist;

    fn zero(a: &HistogramArgs) -> Hist {
        Hist(vec![0.0; a.layout().2])
    }

    fn seq(acc: Hist, batch: &RecordBatch, a: &HistogramArgs) -> Result<Hist, String> {
        let mut acc = acc.0;
        let rows = Binned::new(batch, a.wide)?;
        let (starts, offsets, _) = a.layout();
        let s = a.stats_size as usize;
        let sampler = Sampler::new(a.bagging);
        let needs_prediction = matches!(a.target, Target::Residual(_));
        if needs_prediction && rows.predictions.is_none() {
            return Err("boosting needs the running predictions".into());
        }
        for i in 0..rows.len() {
            let y = rows.labels[i];
            let target = match a.target {
                Target::Label => y,
                Target::Signed => 2.0 * y - 1.0,
                Target::Residual(loss) => {
                    let f = rows.predictions.map_or(0.0, |p| p[i]);
                    let y = if loss == Loss::Logistic {
                        2.0 * y - 1.0
                    } else {
                        y
                    };
                    loss.residual(y, f)
                }
            };
            let class = if a.classification {
                let k = target as usize;
                if target < 0.0 || target.fract() != 0.0 || k + 1 >= s {
                    return Err(format!(
                        "row {i}: label {y} is not a class index below {}",
                        s - 1
                    ));
                }
                k
            } else {
                0
            };
            let w = rows.weights[i];
            let row = rows.row(i);
            let wide = a.wide;
            for (tree_id, routes) in &a.trees {
                let count = match rows.counts {
                    Some(counts) => match counts.value(i).get(*tree_id as usize) {
                        Some(c) => u32::from(*c),
                        None => return Err(format!("no bootstrap count of tree {tree_id}")),
                    },
                    None => sampler.count(*tree_id, rows.keys[i]),
                };
                if count == 0 {
                    continue;
                }
                let mut r = &routes[0];
                while r.feature != NONE {
                    let b = bin_in(row, r.feature as usize, wide);
                    let left = if r.left_categories.is_empty() {
                        b <= r.bin as usize
                    } else {
                        r.left_categories.get(b).copied().unwrap_or(false)
                    };
                    let next = if left { r.left } else { r.right };
                    r = &routes[next as usize];
                }
                if r.slot == NONE {
                    continue;
                }
                let slot = r.slot as usize;
                let c = f64::from(count);
                let instance = c * w;
                let start = starts[slot];
                for (k, f) in a.slots[slot].features.iter().enumerate() {
                    let at = start + offsets[slot][k] + bin_in(row, *f as usize, wide) * s;
                    let bin = &mut acc[at..at + s];
                    if a.classification {
                        bin[class] += instance;
                    } else {
                        bin[0] += instance;
                        bin[1] += instance * target;
                        bin[2] += instance * target * target;
                    }
                    bin[s - 1] += c;
                }
            }
        }
        Ok(Hist(acc))
    }

    fn comb(mut a: Hist, b: Hist, _: &HistogramArgs) -> Hist {
        for (x, y) in a.0.iter_mut().zip(&b.0) {
            *x += y;
        }
        a
    }
}
cinder_actors::register_aggregator!(Histograms);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparse_and_dense_histograms_round_trip() {
        for values in [vec![0.0; 10], vec![1.0, 0.0, 2.5, -0.0, 3.0], {
            let mut v = vec![0.0; 100];
            v[7] = 1.5;
            v
        }] {
            let h = Hist(values.clone());
            let bytes = rmp_serde::to_vec_named(&h).unwrap();
            let back: Hist = rmp_serde::from_slice(&bytes).unwrap();
            assert_eq!(
                back.0.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                values.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn losses_give_spark_residuals() {
        assert_eq!(Loss::Squared.residual(3.0, 1.0), 4.0);
        assert_eq!(Loss::Absolute.residual(0.0, 1.0), -1.0);
        assert_eq!(Loss::Absolute.residual(1.0, 1.0), 1.0);
        assert!((Loss::Logistic.residual(1.0, 0.0) - 2.0).abs() < 1e-15);
        assert!((Loss::Logistic.error(1.0, 0.0) - 2f64.ln()).abs() < 1e-15);
    }
}
