//! Before any tree grows: the data's statistics (rows, weight, classes, features), the
//! candidate thresholds of every feature, and the binned dataset cached on the workers.

use super::binned::BinArgs;
use super::learner::BinnedInfo;
use super::splits::{continuous_thresholds, sample_fraction, FeatureSamples, SampleArgs};
use super::TreeParams;
use crate::features::{summarize, Summary};
use crate::frame::Frame;
use crate::MlError;

/// The binned, cached training set and what growing needs to know about it.
pub struct Prepared<F> {
    /// `label`, `weight`, `key`, `bins` per row, cached.
    pub binned: F,
    /// Thresholds and totals.
    pub info: BinnedInfo,
    /// The input's statistics.
    pub summary: Summary,
    /// Classes (classification: largest label + 1), else 0.
    pub num_classes: usize,
}

/// Summarizes, finds thresholds and caches the binned rows.
pub fn prepare<F: Frame>(
    data: &F,
    params: &TreeParams,
    classifier: bool,
) -> Result<Prepared<F>, MlError> {
    let summary = summarize(data, &params.columns, 2)?;
    let num_features = summary.num_features();
    if num_features == 0 {
        return Err(MlError::Input("no features".into()));
    }
    let num_classes = if classifier {
        if summary.non_class_labels > 0 {
            return Err(MlError::Input(format!(
                "{} labels are not class indices 0, 1, 2, ... (a classifier needs them)",
                summary.non_class_labels
            )));
        }
        summary.histogram.len().max(2)
    } else {
        0
    };
    let num_bins = params.max_bins.min(summary.count as usize).max(1);
    let mut categories = vec![0usize; num_features];
    for (j, k) in &params.categorical_features {
        let slot = categories.get_mut(*j).ok_or_else(|| MlError::Param {
            name: "categoricalFeatures",
            message: format!("feature {j} is beyond the {num_features} features"),
        })?;
        if *k > num_bins {
            return Err(MlError::Param {
                name: "maxBins",
                message: format!(
                    "{num_bins} bins (maxBins, at most the number of rows) for categorical \
                     feature {j} with {k} categories"
                ),
            });
        }
        // Spark treats a single category as continuous.
        if *k > 1 {
            *slot = *k;
        }
    }
    if num_classes > 2 {
        // Spark's unordered features: 2 * (2^(k-1) - 1) <= maxBins.
        let max_unordered = ((((num_bins / 2 + 1) as f64).ln() / 2f64.ln()) + 1.0).floor() as usize;
        if let Some(j) =
            (0..num_features).find(|j| categories[*j] > 1 && categories[*j] <= max_unordered)
        {
            return Err(MlError::Param {
                name: "categoricalFeatures",
                message: format!(
                    "feature {j} has {} categories: with {num_classes} classes Spark splits it \
                     on unordered category subsets, which are not supported yet",
                    categories[j]
                ),
            });
        }
    }
    let fraction = sample_fraction(params.max_bins, summary.count);
    let samples = data.tree_aggregate::<FeatureSamples>(
        &SampleArgs {
            spec: params.columns.clone(),
            num_features,
            fraction,
            seed: params.seed,
        },
        2,
    )?;
    let weighted = fraction * summary.weight_sum;
    let thresholds: Vec<Vec<f64>> = samples
        .values
        .iter()
        .zip(&samples.seen)
        .zip(&categories)
        .map(|((values, seen), k)| {
            if *k > 0 {
                Vec::new()
            } else {
                continuous_thresholds(values, weighted, *seen, num_bins - 1)
            }
        })
        .collect();
    let wide = thresholds.iter().any(|t| t.len() + 1 > 256) || categories.iter().any(|k| *k > 256);
    let binned = data
        .map_batches(
            "ml.tree.bin",
            &BinArgs {
                spec: params.columns.clone(),
                thresholds: thresholds.clone(),
                wide,
                categories: categories.clone(),
            },
        )?
        .cached()?;
    Ok(Prepared {
        binned,
        info: BinnedInfo {
            thresholds,
            wide,
            total_weight: summary.weight_sum,
            categories,
        },
        summary,
        num_classes,
    })
}
