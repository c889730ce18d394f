//! Spark's impurities (`gini`, `entropy`, `variance`) over sufficient statistics, and the
//! gain of a split (`RandomForest.calculateImpurityStats`), computed with Spark's arithmetic
//! so that equal data gives equal gains and therefore equal splits.
//!
//! A node's statistics are `stats_size` values: classification holds the weighted count of
//! each class and then the raw (unweighted, bagged) row count; regression holds `Σ w`,
//! `Σ w y`, `Σ w y²` and the raw count.

use serde::{Deserialize, Serialize};

/// Spark's `Utils.EPSILON` (the machine epsilon): a child whose impurity is below it is a leaf.
pub const EPSILON: f64 = f64::EPSILON;

/// Spark's `impurity` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Impurity {
    /// Gini impurity (classification; Spark's default for classifiers).
    Gini,
    /// Entropy in bits (classification).
    Entropy,
    /// Weighted variance of the label (regression, and every GBT tree).
    Variance,
}

impl Impurity {
    /// Parses Spark's name (`gini`, `entropy`, `variance`).
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "gini" => Some(Self::Gini),
            "entropy" => Some(Self::Entropy),
            "variance" => Some(Self::Variance),
            _ => None,
        }
    }

    /// Spark's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Gini => "gini",
            Self::Entropy => "entropy",
            Self::Variance => "variance",
        }
    }

    /// Whether it measures class labels.
    pub fn is_classification(self) -> bool {
        self != Self::Variance
    }

    /// Values per bin: the classes (or 3 moments) and the raw count.
    pub fn stats_size(self, num_classes: usize) -> usize {
        if self.is_classification() {
            num_classes + 1
        } else {
            4
        }
    }
}

/// The statistics of a set of rows (Spark's `ImpurityCalculator`): `stats` without the raw
/// count, and the raw count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calculator {
    /// Class counts (weighted), or `[Σ w, Σ w y, Σ w y²]`.
    pub stats: Vec<f64>,
    /// Rows, counted with their bootstrap multiplicity but without weights.
    pub raw_count: f64,
}

impl Calculator {
    /// Reads one bin (`stats_size` values, raw count last).
    pub fn from_bin(bin: &[f64]) -> Self {
        let (stats, raw) = bin.split_at(bin.len() - 1);
        Self {
            stats: stats.to_vec(),
            raw_count: raw[0],
        }
    }

    /// Weighted row count.
    pub fn count(&self, impurity: Impurity) -> f64 {
        if impurity.is_classification() {
            self.stats.iter().sum()
        } else {
            self.stats[0]
        }
    }

    /// `self + other`, element by element (Spark's `add`).
    pub fn add(&self, other: &Self) -> Self {
        Self {
            stats: self
                .stats
                .iter()
                .zip(&other.stats)
                .map(|(a, b)| a + b)
                .collect(),
            raw_count: self.raw_count + other.raw_count,
        }
    }

    /// `self - other`, element by element (Spark's `subtract`).
    pub fn subtract(&self, other: &Self) -> Self {
        Self {
            stats: self
                .stats
                .iter()
                .zip(&other.stats)
                .map(|(a, b)| a - b)
                .collect(),
            raw_count: self.raw_count - other.raw_count,
        }
    }

    /// The impurity of these rows (0 for none).
    pub fn impurity(&self, impurity: Impurity) -> f64 {
        match impurity {
            Impurity::Gini => {
                let total = self.count(impurity);
                if total == 0.0 {
                    return 0.0;
                }
                let mut value = 1.0;
                for c in &self.stats {
                    let freq = c / total;
                    value -= freq * freq;
                }
                value
            }
            Impurity::Entropy => {
                let total = self.count(impurity);
                if total == 0.0 {
                    return 0.0;
                }
                let mut value = 0.0;
                for c in &self.stats {
                    if *c != 0.0 {
                        let freq = c / total;
                        value -= freq * (freq.ln() / std::f64::consts::LN_2);
                    }
                }
                value
            }
            Impurity::Variance => {
                let (count, sum, sum_sq) = (self.stats[0], self.stats[1], self.stats[2]);
                if count == 0.0 {
                    return 0.0;
                }
                (sum_sq - (sum * sum) / count) / count
            }
        }
    }

    /// The node's prediction: the first most frequent class, or the weighted mean label.
    pub fn predict(&self, impurity: Impurity) -> f64 {
        let count = self.count(impurity);
        if count == 0.0 {
            return 0.0;
        }
        if impurity.is_classification() {
            let mut best = (0usize, f64::MIN);
            for (k, c) in self.stats.iter().enumerate() {
                if *c > best.1 {
                    best = (k, *c);
                }
            }
            best.0 as f64
        } else {
            self.stats[1] / count
        }
    }
}

/// Minimums a split's children must meet (Spark's metadata fields).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// `minInstancesPerNode`, on raw counts.
    pub min_instances: f64,
    /// `minWeightFractionPerNode` times the total weight.
    pub min_weight: f64,
    /// `minInfoGain`.
    pub min_info_gain: f64,
}

/// A candidate split's outcome (Spark's `ImpurityStats`).
#[derive(Debug, Clone, PartialEq)]
pub struct SplitStats {
    /// Information gain (`f64::MIN` when the split is not allowed).
    pub gain: f64,
    /// The parent's impurity.
    pub impurity: f64,
    /// The parent's statistics.
    pub parent: Calculator,
    /// Left and right children (absent for a refused split).
    pub children: Option<(Calculator, Calculator)>,
}

impl SplitStats {
    /// A refused split: gain `f64::MIN`, Spark's `getInvalidImpurityStats`.
    pub fn invalid(parent: Calculator, impurity: Impurity) -> Self {
        Self {
            gain: f64::MIN,
            impurity: parent.impurity(impurity),
            parent,
            children: None,
        }
    }
}

/// Spark's `calculateImpurityStats`: the gain of splitting into `left` and `right`, where the
/// parent's statistics come from `known` (the node's own, or the previous candidate's) or,
/// for the first candidate at the root, from `left + right`.
pub fn split_stats(
    known: Option<&SplitStats>,
    left: Calculator,
    right: Calculator,
    impurity: Impurity,
    limits: &Limits,
) -> SplitStats {
    let (parent, parent_impurity) = match known {
        Some(s) => (s.parent.clone(), s.impurity),
        None => {
            let p = left.add(&right);
            let i = p.impurity(impurity);
            (p, i)
        }
    };
    let (left_count, right_count) = (left.count(impurity), right.count(impurity));
    if left.raw_count < limits.min_instances
        || right.raw_count < limits.min_instances
        || left_count < limits.min_weight
        || right_count < limits.min_weight
    {
        return SplitStats {
            gain: f64::MIN,
            impurity: parent.impurity(impurity),
            parent,
            children: None,
        };
    }
    let total = left_count + right_count;
    let gain = parent_impurity
        - (left_count / total) * left.impurity(impurity)
        - (right_count / total) * right.impurity(impurity);
    if gain < limits.min_info_gain {
        return SplitStats {
            gain: f64::MIN,
            impurity: parent.impurity(impurity),
            parent,
            children: None,
        };
    }
    SplitStats {
        gain,
        impurity: parent_impurity,
        parent,
        children: Some((left, right)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calc(stats: &[f64], raw: f64) -> Calculator {
        Calculator {
            stats: stats.to_vec(),
            raw_count: raw,
        }
    }

    #[test]
    fn impurities_match_their_definitions() {
        let c = calc(&[3.0, 1.0], 4.0);
        assert!((c.impurity(Impurity::Gini) - (1.0 - 0.5625 - 0.0625)).abs() < 1e-15);
        let h = -(0.75f64 * 0.75f64.log2() + 0.25 * 0.25f64.log2());
        assert!((c.impurity(Impurity::Entropy) - h).abs() < 1e-15);
        assert_eq!(c.predict(Impurity::Gini), 0.0);
        // Σw = 3, Σwy = 6 (1, 2, 3), Σwy² = 14: variance 2/3.
        let r = calc(&[3.0, 6.0, 14.0], 3.0);
        assert!((r.impurity(Impurity::Variance) - 2.0 / 3.0).abs() < 1e-15);
        assert_eq!(r.predict(Impurity::Variance), 2.0);
        assert_eq!(calc(&[0.0, 0.0], 0.0).impurity(Impurity::Gini), 0.0);
    }

    #[test]
    fn limits_refuse_small_children_and_small_gains() {
        let limits = Limits {
            min_instances: 2.0,
            min_weight: 0.0,
            min_info_gain: 0.0,
        };
        let s = split_stats(
            None,
            calc(&[1.0, 0.0], 1.0),
            calc(&[1.0, 2.0], 3.0),
            Impurity::Gini,
            &limits,
        );
        assert_eq!(s.gain, f64::MIN);
        let ok = split_stats(
            None,
            calc(&[2.0, 0.0], 2.0),
            calc(&[0.0, 2.0], 2.0),
            Impurity::Gini,
            &limits,
        );
        assert!(
            (ok.gain - 0.5).abs() < 1e-15,
            "a pure split gains the parent's 0.5"
        );
        let strict = Limits {
            min_info_gain: 0.6,
            ..limits
        };
        let refused = split_stats(
            None,
            calc(&[2.0, 0.0], 2.0),
            calc(&[0.0, 2.0], 2.0),
            Impurity::Gini,
            &strict,
        );
        assert_eq!(refused.gain, f64::MIN);
    }
}
