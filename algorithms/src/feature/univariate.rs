//! Spark's `UnivariateFeatureSelector`: each feature scored against the label by the test
//! `featureType` and `labelType` call for (categorical/categorical: chi-squared;
//! continuous/categorical: ANOVA F; continuous/continuous: F-value of the correlation), then
//! selected by `selectionMode` (numTopFeatures 50, percentile 0.1, fpr, fdr, fwe 0.05) on the
//! p-values, ties by feature index, as Spark does. One distributed pass of sufficient
//! statistics per fit.

use std::collections::BTreeMap;
use std::path::Path;

use arrow_array::RecordBatch;
use cinder_actors::data::aggregate::Aggregator;
use serde::{Deserialize, Serialize};

use super::columns::{double_values, vector_values};
use super::distributions::{chi_squared_sf, f_sf};
use super::projection::{ProjectionModel, ProjectionState};
use crate::frame::Frame;
use crate::pipeline::params::ParamMap;
use crate::pipeline::stage::{Estimator, Model, Stage, StageClass};
use crate::pipeline::state::load_state;
use crate::MlError;

/// Which test scores the features.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Test {
    /// Chi-squared independence (categorical features and label).
    ChiSquared,
    /// ANOVA F (continuous features, categorical label).
    Anova,
    /// F-value of the Pearson correlation (continuous features and label).
    FRegression,
}

/// Arguments of [`UnivariateAgg`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnivariateArgs {
    /// `featuresCol`.
    pub features: String,
    /// `labelCol`.
    pub label: String,
    /// The test.
    pub test: Test,
}

/// Sufficient statistics of the three tests.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UnivariateStats {
    /// Rows.
    pub count: u64,
    /// Chi-squared: per feature, counts of `(feature value bits, label bits)`.
    pub pairs: Vec<BTreeMap<(u64, u64), u64>>,
    /// ANOVA: per label (bits): rows, Σ x_j, Σ x_j².
    pub classes: BTreeMap<u64, (u64, Vec<f64>, Vec<f64>)>,
    /// F-regression: Σ x_j, Σ x_j², Σ x_j y, and Σ y, Σ y² (last two entries).
    pub moments: Vec<f64>,
}

/// `ml.feature.univariate`.
pub struct UnivariateAgg;

impl Aggregator for UnivariateAgg {
    const NAME: &'static str = "ml.feature.univariate";
    type Args = UnivariateArgs;
    type Acc = UnivariateStats;

    fn zero(_: &UnivariateArgs) -> UnivariateStats {
        UnivariateStats::default()
    }

    fn seq(
        mut acc: UnivariateStats,
        batch: &RecordBatch,
        a: &UnivariateArgs,
    ) -> Result<UnivariateStats, String> {
        let labels = double_values(batch, &a.label)?;
        for (row, y) in vector_values(batch, &a.features)?.into_iter().zip(labels) {
            let (Some(x), Some(y)) = (row, y) else {
                return Err(format!("a null in {:?} or {:?}", a.features, a.label));
            };
            let d = x.len();
            acc.count += 1;
            match a.test {
                Test::ChiSquared => {
                    acc.pairs.resize(d.max(acc.pairs.len()), BTreeMap::new());
                    for (j, v) in x.iter().enumerate() {
                        *acc.pairs[j].entry((v.to_bits(), y.to_bits())).or_insert(0) += 1;
                    }
                }
                Test::Anova => {
                    let e = acc
                        .classes
                        .entry(y.to_bits())
                        .or_insert_with(|| (0, vec![0.0; d], vec![0.0; d]));
                    e.0 += 1;
                    for (j, v) in x.iter().enumerate() {
                        e.1[j] += v;
                        e.2[j] += v * v;
                    }
                }
                Test::FRegression => {
                    acc.moments.resize((3 * d + 2).max(acc.moments.len()), 0.0);
                    for (j, v) in x.iter().enumerate() {
                        acc.moments[j] += v;
                        acc.moments[d + j] += v * v;
                        acc.moments[2 * d + j] += v * y;
                    }
                    acc.moments[3 * d] += y;
                    acc.moments[3 * d + 1] += y * y;
                }
            }
        }
        Ok(acc)
    }

    fn comb(mut a: UnivariateStats, b: UnivariateStats, _: &UnivariateArgs) -> UnivariateStats {
        a.count += b.count;
        a.pairs
            .resize(a.pairs.len().max(b.pairs.len()), BTreeMap::new());
        for (x, y) in a.pairs.iter_mut().zip(b.pairs) {
            for (k, v) in y {
                *x.entry(k).or_insert(0) += v;
            }
        }
        for (label, (n, s, q)) in b.classes {
            let e = a
                .classes
                .entry(label)
                .or_insert_with(|| (0, vec![0.0; s.len()], vec![0.0; s.len()]));
            e.0 += n;
            e.1.iter_mut().zip(&s).for_each(|(x, y)| *x += y);
            e.2.iter_mut().zip(&q).for_each(|(x, y)| *x += y);
        }
        a.moments.resize(a.moments.len().max(b.moments.len()), 0.0);
        a.moments
            .iter_mut()
            .zip(&b.moments)
            .for_each(|(x, y)| *x += y);
        a
    }
}
cinder_actors::register_aggregator!(UnivariateAgg);

/// The p-value of every feature.
pub fn p_values(stats: &UnivariateStats, test: Test) -> Vec<f64> {
    let n = stats.count as f64;
    match test {
        Test::ChiSquared => stats
            .pairs
            .iter()
            .map(|counts| {
                let mut rows: BTreeMap<u64, f64> = BTreeMap::new();
                let mut cols: BTreeMap<u64, f64> = BTreeMap::new();
                for ((v, y), c) in counts {
                    *rows.entry(*v).or_insert(0.0) += *c as f64;
                    *cols.entry(*y).or_insert(0.0) += *c as f64;
                }
                let mut stat = 0.0;
                for (v, r) in &rows {
                    for (y, c) in &cols {
                        let expected = r * c / n;
                        let observed = counts.get(&(*v, *y)).copied().unwrap_or(0) as f64;
                        stat += (observed - expected).powi(2) / expected;
                    }
                }
                let df = (rows.len() as f64 - 1.0) * (cols.len() as f64 - 1.0);
                if df <= 0.0 {
                    1.0
                } else {
                    chi_squared_sf(stat, df)
                }
            })
            .collect(),
        Test::Anova => {
            let d = stats.classes.values().next().map_or(0, |c| c.1.len());
            let k = stats.classes.len() as f64;
            (0..d)
                .map(|j| {
                    let total: f64 = stats.classes.values().map(|c| c.1[j]).sum();
                    let total_sq: f64 = stats.classes.values().map(|c| c.2[j]).sum();
                    let mean = total / n;
                    let ssb: f64 = stats
                        .classes
                        .values()
                        .map(|(m, s, _)| {
                            let mk = s[j] / *m as f64;
                            *m as f64 * (mk - mean) * (mk - mean)
                        })
                        .sum();
                    let ssw = total_sq - n * mean * mean - ssb;
                    let f = (ssb / (k - 1.0)) / (ssw / (n - k));
                    if f.is_nan() {
                        1.0
                    } else {
                        f_sf(f, k - 1.0, n - k)
                    }
                })
                .collect()
        }
        Test::FRegression => {
            let d = stats.moments.len().saturating_sub(2) / 3;
            let m = &stats.moments;
            let (sy, syy) = (m[3 * d], m[3 * d + 1]);
            (0..d)
                .map(|j| {
                    let (sx, sxx, sxy) = (m[j], m[d + j], m[2 * d + j]);
                    let cov = sxy - sx * sy / n;
                    let vx = sxx - sx * sx / n;
                    let vy = syy - sy * sy / n;
                    let r = cov / (vx * vy).sqrt();
                    let dof = n - 2.0;
                    let f = r * r / (1.0 - r * r) * dof;
                    if f.is_nan() {
                        1.0
                    } else {
                        f_sf(f, 1.0, dof)
                    }
                })
                .collect()
        }
    }
}

/// The features `selectionMode` keeps (sorted), from their p-values.
pub fn select(p: &[f64], mode: &str, threshold: f64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|a, b| p[*a].total_cmp(&p[*b]).then(a.cmp(b)));
    let d = p.len() as f64;
    let mut chosen: Vec<usize> = match mode {
        "numTopFeatures" => order.into_iter().take(threshold as usize).collect(),
        "percentile" => order.into_iter().take((d * threshold) as usize).collect(),
        "fpr" => order.into_iter().filter(|j| p[*j] < threshold).collect(),
        "fwe" => order
            .into_iter()
            .filter(|j| p[*j] < threshold / d)
            .collect(),
        _ => {
            // fdr: Benjamini-Hochberg.
            let last = order
                .iter()
                .enumerate()
                .filter(|(i, j)| p[**j] <= threshold * (*i as f64 + 1.0) / d)
                .map(|(i, _)| i)
                .next_back();
            match last {
                Some(i) => order[..=i].to_vec(),
                None => Vec::new(),
            }
        }
    };
    chosen.sort_unstable();
    chosen
}

/// Spark's `UnivariateFeatureSelector`.
#[derive(Debug, Clone)]
pub struct UnivariateFeatureSelector {
    params: ParamMap,
    args: UnivariateArgs,
    output: String,
    mode: String,
    threshold: f64,
}

impl UnivariateFeatureSelector {
    /// The estimator from Spark's parameters.
    pub fn new(params: ParamMap) -> Result<Self, MlError> {
        let class = "UnivariateFeatureSelector";
        params.check_known(
            class,
            &[
                "featuresCol",
                "labelCol",
                "outputCol",
                "featureType",
                "labelType",
                "selectionMode",
                "selectionThreshold",
            ],
        )?;
        let types = ["categorical", "continuous"];
        let required = |name: &str| -> Result<String, MlError> {
            params
                .get(name)
                .ok_or_else(|| MlError::Input(format!("{class}: {name} is not set")))?;
            params.choice_or(name, "", &types)
        };
        let test = match (
            required("featureType")?.as_str(),
            required("labelType")?.as_str(),
        ) {
            ("categorical", "categorical") => Test::ChiSquared,
            ("continuous", "categorical") => Test::Anova,
            ("continuous", "continuous") => Test::FRegression,
            _ => {
                return Err(MlError::Input(format!(
                    "{class}: categorical features with a continuous label have no test"
                )))
            }
        };
        let mode = params.choice_or(
            "selectionMode",
            "numTopFeatures",
            &["numTopFeatures", "percentile", "fpr", "fdr", "fwe"],
        )?;
        let default = match mode.as_str() {
            "numTopFeatures" => 50.0,
            "percentile" => 0.1,
            _ => 0.05,
        };
        let threshold = params.f64_or("selectionThreshold", default)?;
        let valid = match mode.as_str() {
            "numTopFeatures" => threshold >= 1.0 && threshold.fract() == 0.0,
            _ => (0.0..=1.0).contains(&threshold),
        };
        if !valid {
            return Err(MlError::Input(format!(
                "{class}: selectionThreshold {threshold} does not fit selectionMode {mode}"
            )));
        }
        Ok(Self {
            args: UnivariateArgs {
                features: params.str_or("featuresCol", "features")?,
                label: params.str_or("labelCol", "label")?,
                test,
            },
            output: params.str_or("outputCol", "UnivariateFeatureSelector_output")?,
            mode,
            threshold,
            params,
        })
    }
}

impl Stage for UnivariateFeatureSelector {
    fn class(&self) -> &'static str {
        "UnivariateFeatureSelector"
    }
    fn params(&self) -> &ParamMap {
        &self.params
    }
}

impl<F: Frame> Estimator<F> for UnivariateFeatureSelector {
    fn fit(&self, data: &F) -> Result<Box<dyn Model<F>>, MlError> {
        let stats = data.tree_aggregate::<UnivariateAgg>(&self.args, 2)?;
        if stats.count < 3 {
            return Err(MlError::Input(
                "UnivariateFeatureSelector: fewer than 3 rows".into(),
            ));
        }
        let p = p_values(&stats, self.args.test);
        Ok(Box::new(ProjectionModel::new(
            "UnivariateFeatureSelector",
            self.params.clone(),
            ProjectionState {
                input: self.args.features.clone(),
                output: self.output.clone(),
                matrix: Vec::new(),
                selected: select(&p, &self.mode, self.threshold),
                explained_variance: Vec::new(),
            },
        )))
    }
}

impl<F: Frame> StageClass<F> for UnivariateFeatureSelector {
    const CLASS: &'static str = "UnivariateFeatureSelector";
    fn estimator(params: ParamMap) -> Result<Box<dyn Estimator<F>>, MlError> {
        Ok(Box::new(Self::new(params)?))
    }
    fn load(dir: &Path, params: ParamMap) -> Result<Box<dyn Model<F>>, MlError> {
        Ok(Box::new(ProjectionModel::new(
            "UnivariateFeatureSelector",
            params,
            load_state(dir, "UnivariateFeatureSelector")?,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_modes() {
        let p = [0.5, 0.001, 0.04, 0.01, 0.2];
        assert_eq!(select(&p, "numTopFeatures", 2.0), vec![1, 3]);
        assert_eq!(select(&p, "percentile", 0.6), vec![1, 2, 3]);
        assert_eq!(select(&p, "fpr", 0.05), vec![1, 2, 3]);
        assert_eq!(select(&p, "fwe", 0.05), vec![1]);
        // BH at 0.05 with 5 features: 0.001 <= 0.01, 0.01 <= 0.02, 0.04 > 0.03.
        assert_eq!(select(&p, "fdr", 0.05), vec![1, 3]);
    }
}
