//! A fitted decision tree: nodes in an arena (root first), each with Spark's impurity
//! statistics; prediction on raw features or on bins, Spark's `toDebugString` lines, and the
//! per-tree feature importances (`gain × weighted count` per split).

use serde::{Deserialize, Serialize};

/// How an internal node splits: `x[feature] <= threshold` (equivalently `bin <= bin`) goes
/// left, or for a categorical feature, `x[feature]` among `categories`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Split {
    /// Feature index.
    pub feature: usize,
    /// Threshold on the raw value.
    pub threshold: f64,
    /// The same threshold as a bin: bins up to it go left.
    pub bin: usize,
    /// Left child (arena index).
    pub left: usize,
    /// Right child (arena index).
    pub right: usize,
    /// Categories going left, ascending (categorical features; empty for continuous ones).
    #[serde(default)]
    pub categories: Vec<f64>,
    /// The feature's number of categories (0: continuous).
    #[serde(default)]
    pub num_categories: usize,
}

impl Split {
    /// Whether a raw value goes left.
    #[inline]
    pub fn goes_left(&self, v: f64) -> bool {
        if self.num_categories == 0 {
            v <= self.threshold
        } else {
            self.categories.contains(&v)
        }
    }

    /// Whether a bin goes left.
    #[inline]
    pub fn bin_goes_left(&self, bin: usize) -> bool {
        if self.num_categories == 0 {
            bin <= self.bin
        } else {
            self.categories.contains(&(bin as f64))
        }
    }

    /// Per category, whether it goes left (empty for continuous features).
    pub fn category_mask(&self) -> Vec<bool> {
        let mut mask = vec![false; self.num_categories];
        for c in &self.categories {
            if let Some(m) = mask.get_mut(*c as usize) {
                *m = true;
            }
        }
        mask
    }
}

/// One node with its statistics (Spark's `Node` and `ImpurityStats`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// Predicted class or value.
    pub prediction: f64,
    /// Impurity of the node's rows.
    pub impurity: f64,
    /// Class counts (weighted) or `[Σ w, Σ w y, Σ w y²]`.
    pub stats: Vec<f64>,
    /// Rows (bagged, unweighted).
    pub raw_count: f64,
    /// Information gain of the split (internal nodes; 0 for leaves).
    pub gain: f64,
    /// The split, for internal nodes.
    pub split: Option<Split>,
}

/// A decision tree, root at index 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionTree {
    /// The nodes.
    pub nodes: Vec<Node>,
}

impl DecisionTree {
    /// The leaf a dense feature vector falls into.
    pub fn leaf(&self, x: &[f64]) -> &Node {
        let mut n = &self.nodes[0];
        while let Some(s) = &n.split {
            let v = x.get(s.feature).copied().unwrap_or(0.0);
            n = &self.nodes[if s.goes_left(v) { s.left } else { s.right }];
        }
        n
    }

    /// The leaf of a binned row (`bin(j)` is feature `j`'s bin).
    #[inline]
    pub fn leaf_binned(&self, bin: impl Fn(usize) -> usize) -> &Node {
        let mut n = &self.nodes[0];
        while let Some(s) = &n.split {
            n = &self.nodes[if s.bin_goes_left(bin(s.feature)) {
                s.left
            } else {
                s.right
            }];
        }
        n
    }

    /// Nodes.
    pub fn num_nodes(&self) -> usize {
        self.nodes.len()
    }

    /// Depth (a single leaf has depth 0).
    pub fn depth(&self) -> usize {
        fn go(t: &DecisionTree, i: usize) -> usize {
            match &t.nodes[i].split {
                Some(s) => 1 + go(t, s.left).max(go(t, s.right)),
                None => 0,
            }
        }
        go(self, 0)
    }

    /// `Σ gain × weighted count` per feature over the internal nodes (Spark's
    /// `computeFeatureImportance`), before normalization.
    pub fn raw_importances(&self, num_features: usize, count: impl Fn(&Node) -> f64) -> Vec<f64> {
        let mut out = vec![0.0; num_features];
        for n in &self.nodes {
            if let Some(s) = &n.split {
                out[s.feature] += n.gain * count(n);
            }
        }
        out
    }

    /// Spark's `subtreeToString`: `If (feature f <= t)` / `Else (feature f > t)` /
    /// `Predict: p` lines, one more space of indent per level.
    pub fn debug_lines(&self, indent: usize) -> String {
        let mut out = String::new();
        self.write_node(0, indent, &mut out);
        out
    }

    fn write_node(&self, i: usize, indent: usize, out: &mut String) {
        let pad = " ".repeat(indent);
        let n = &self.nodes[i];
        match &n.split {
            Some(s) => {
                let (yes, no) = if s.num_categories == 0 {
                    let t = java_double(s.threshold);
                    (format!("<= {t}"), format!("> {t}"))
                } else {
                    let set: Vec<String> = s.categories.iter().map(|c| java_double(*c)).collect();
                    let set = format!("{{{}}}", set.join(","));
                    (format!("in {set}"), format!("not in {set}"))
                };
                out.push_str(&format!("{pad}If (feature {} {yes})\n", s.feature));
                self.write_node(s.left, indent + 1, out);
                out.push_str(&format!("{pad}Else (feature {} {no})\n", s.feature));
                self.write_node(s.right, indent + 1, out);
            }
            None => out.push_str(&format!("{pad}Predict: {}\n", java_double(n.prediction))),
        }
    }
}

/// A double as Java's `Double.toString` writes it (`1.0`, `70.5`, `1.0E-4`, `1.5E7`).
pub fn java_double(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let a = v.abs();
    if a == 0.0 || (1e-3..1e7).contains(&a) {
        let s = format!("{v}");
        if s.contains('.') {
            s
        } else {
            format!("{s}.0")
        }
    } else {
        let s = format!("{v:e}");
        let (mantissa, exponent) = s.split_once('e').unwrap_or((&s, "0"));
        let mantissa = if mantissa.contains('.') {
            mantissa.to_string()
        } else {
            format!("{mantissa}.0")
        };
        format!("{mantissa}E{exponent}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(p: f64) -> Node {
        Node {
            prediction: p,
            impurity: 0.0,
            stats: vec![1.0],
            raw_count: 1.0,
            gain: 0.0,
            split: None,
        }
    }

    #[test]
    fn prediction_goes_left_at_or_below_the_threshold() {
        let mut root = leaf(0.0);
        root.gain = 0.5;
        root.split = Some(Split {
            feature: 1,
            threshold: 2.5,
            bin: 3,
            left: 1,
            right: 2,
            categories: Vec::new(),
            num_categories: 0,
        });
        let t = DecisionTree {
            nodes: vec![root, leaf(10.0), leaf(20.0)],
        };
        assert_eq!(t.leaf(&[0.0, 2.5]).prediction, 10.0);
        assert_eq!(t.leaf(&[0.0, 2.6]).prediction, 20.0);
        assert_eq!(t.leaf_binned(|_| 3).prediction, 10.0);
        assert_eq!(t.leaf_binned(|_| 4).prediction, 20.0);
        assert_eq!(t.depth(), 1);
        assert_eq!(
            t.debug_lines(2),
            "  If (feature 1 <= 2.5)\n   Predict: 10.0\n  Else (feature 1 > 2.5)\n   Predict: 20.0\n"
        );
        assert_eq!(t.raw_importances(3, |n| n.raw_count), vec![0.0, 0.5, 0.0]);
    }

    #[test]
    fn doubles_print_as_java_does() {
        assert_eq!(java_double(1.0), "1.0");
        assert_eq!(java_double(70.5), "70.5");
        assert_eq!(java_double(-0.25), "-0.25");
        assert_eq!(java_double(1e-4), "1.0E-4");
        assert_eq!(java_double(1.5e7), "1.5E7");
        assert_eq!(java_double(0.0), "0.0");
    }
}
