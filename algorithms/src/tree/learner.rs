//! The driver's side of tree growing: level by level, every open node of every tree being
//! grown gets its histograms from one pass over the cached bins (several passes when they
//! would not fit the memory budget), and the best split is chosen here with Spark's
//! arithmetic and tie-break (the first feature, then the first threshold, of highest gain).

use super::bagging::{unit, Bagging};
use super::histogram::{HistogramArgs, Histograms, Route, Slot, Target, NONE};
use super::impurity::{split_stats, Calculator, Impurity, Limits, SplitStats, EPSILON};
use super::node::{DecisionTree, Node, Split};
use crate::frame::Frame;
use crate::MlError;

/// Most histogram values one pass ships (about 8 MiB), whatever `maxMemoryInMB` allows, so
/// every partial fits one wire frame.
const MAX_VALUES_PER_PASS: usize = 1 << 20;

/// What growing needs to know about the binned data.
#[derive(Debug, Clone)]
pub struct BinnedInfo {
    /// Thresholds per feature (bins = thresholds + 1).
    pub thresholds: Vec<Vec<f64>>,
    /// Two bytes per bin.
    pub wide: bool,
    /// Σ w over the data (for `minWeightFractionPerNode`).
    pub total_weight: f64,
    /// Categories of each feature (0: continuous).
    pub categories: Vec<usize>,
}

impl BinnedInfo {
    /// Bins of feature `f`: its categories, or its thresholds + 1.
    pub fn num_bins(&self, f: usize) -> usize {
        match self.categories.get(f) {
            Some(k) if *k > 0 => *k,
            _ => self.thresholds[f].len() + 1,
        }
    }
}

/// Tree parameters shared by every estimator (Spark's names).
#[derive(Debug, Clone, PartialEq)]
pub struct GrowParams {
    /// `impurity`.
    pub impurity: Impurity,
    /// Classes (classification), else 0.
    pub num_classes: usize,
    /// `maxDepth`.
    pub max_depth: usize,
    /// `minInstancesPerNode`.
    pub min_instances_per_node: usize,
    /// `minWeightFractionPerNode`.
    pub min_weight_fraction_per_node: f64,
    /// `minInfoGain`.
    pub min_info_gain: f64,
    /// `maxMemoryInMB`.
    pub max_memory_in_mb: usize,
    /// Features each node considers.
    pub features_per_node: usize,
    /// Seed of the feature subsets.
    pub seed: u64,
}

/// An open node (tree, arena index) and the features it considers.
type OpenNode = ((usize, usize), Vec<u32>);

struct Grown {
    level: usize,
    heap_id: u64,
    calc: Option<Calculator>,
    impurity: f64,
    gain: f64,
    split: Option<Split>,
    open: bool,
    /// The node's own split search found no allowed split.
    invalid: bool,
}

/// Grows `ids.len()` trees at once (tree `t` samples rows with bagging id `ids[t]`) and calls
/// `progress(level)` after each level.
pub fn grow<F: Frame>(
    binned: &F,
    info: &BinnedInfo,
    params: &GrowParams,
    bagging: Bagging,
    target: Target,
    ids: &[u64],
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<DecisionTree>, MlError> {
    let num_features = info.thresholds.len();
    let stats_size = params.impurity.stats_size(params.num_classes);
    let num_bins: Vec<u32> = (0..num_features).map(|f| info.num_bins(f) as u32).collect();
    let limits = Limits {
        min_instances: params.min_instances_per_node as f64,
        min_weight: params.min_weight_fraction_per_node * info.total_weight,
        min_info_gain: params.min_info_gain,
    };
    let mut trees: Vec<Vec<Grown>> = ids
        .iter()
        .map(|_| {
            vec![Grown {
                level: 0,
                heap_id: 1,
                calc: None,
                impurity: 0.0,
                gain: 0.0,
                split: None,
                open: true,
                invalid: false,
            }]
        })
        .collect();
    let budget_values = (params.max_memory_in_mb.max(1) * (1 << 20) / 8).min(MAX_VALUES_PER_PASS);
    let mut level = 0;
    loop {
        let open: Vec<(usize, usize)> = trees
            .iter()
            .enumerate()
            .flat_map(|(t, nodes)| {
                nodes
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| n.open)
                    .map(move |(i, _)| (t, i))
            })
            .collect();
        if open.is_empty() {
            break;
        }
        // Groups of open nodes whose histograms fit the budget (at least one node each).
        let mut groups: Vec<Vec<OpenNode>> = vec![Vec::new()];
        let mut used = 0usize;
        for &(t, i) in &open {
            let features = node_features(
                num_features,
                params.features_per_node,
                params.seed,
                ids[t],
                trees[t][i].heap_id,
            );
            let size: usize = features
                .iter()
                .map(|f| num_bins[*f as usize] as usize * stats_size)
                .sum();
            if used + size > budget_values && !groups.last().is_some_and(Vec::is_empty) {
                groups.push(Vec::new());
                used = 0;
            }
            used += size;
            groups.last_mut().expect("a group").push(((t, i), features));
        }
        for group in groups {
            let mut slot_of = vec![Vec::new(); trees.len()];
            for (t, nodes) in trees.iter().enumerate() {
                slot_of[t] = vec![NONE; nodes.len()];
            }
            let mut slots = Vec::with_capacity(group.len());
            let mut used_trees: Vec<usize> = Vec::new();
            for ((t, i), features) in &group {
                slot_of[*t][*i] = slots.len() as u32;
                if !used_trees.contains(t) {
                    used_trees.push(*t);
                }
                slots.push((*t, features.clone()));
            }
            used_trees.sort_unstable();
            let position = |t: usize| used_trees.iter().position(|u| *u == t).expect("tree") as u32;
            let args = HistogramArgs {
                wide: info.wide,
                num_bins: num_bins.clone(),
                stats_size: stats_size as u32,
                classification: params.impurity.is_classification(),
                target,
                bagging,
                trees: used_trees
                    .iter()
                    .map(|t| (ids[*t], routes(&trees[*t], &slot_of[*t])))
                    .collect(),
                slots: slots
                    .iter()
                    .map(|(t, features)| Slot {
                        tree: position(*t),
                        features: features.clone(),
                    })
                    .collect(),
            };
            let hist = binned.tree_aggregate::<Histograms>(&args, 2)?.0;
            let (starts, offsets, _) = args.layout();
            for (s, ((t, i), features)) in group.iter().enumerate() {
                let blocks: Vec<&[f64]> = features
                    .iter()
                    .enumerate()
                    .map(|(k, f)| {
                        let at = starts[s] + offsets[s][k];
                        &hist[at..at + num_bins[*f as usize] as usize * stats_size]
                    })
                    .collect();
                let best = best_split(
                    trees[*t][*i].calc.as_ref(),
                    features,
                    &blocks,
                    &info.categories,
                    stats_size,
                    params.impurity,
                    &limits,
                );
                apply(&mut trees[*t], *i, best, info, params);
            }
        }
        progress(level);
        level += 1;
    }
    Ok(trees
        .into_iter()
        .map(|nodes| finish(nodes, params.impurity))
        .collect())
}

/// The features node `heap_id` of tree `tree` considers: all, or a seeded subset (ascending).
fn node_features(num: usize, per_node: usize, seed: u64, tree: u64, heap_id: u64) -> Vec<u32> {
    let mut all: Vec<u32> = (0..num as u32).collect();
    if per_node >= num {
        return all;
    }
    for k in 0..per_node {
        let u = unit(
            seed ^ 0x7EA7_u64,
            tree,
            heap_id.wrapping_mul(1 << 20) + k as u64,
        );
        let j = k + ((u * (num - k) as f64) as usize).min(num - k - 1);
        all.swap(k, j);
    }
    all.truncate(per_node);
    all.sort_unstable();
    all
}

fn routes(nodes: &[Grown], slots: &[u32]) -> Vec<Route> {
    nodes
        .iter()
        .zip(slots)
        .map(|(n, slot)| match &n.split {
            Some(s) => Route {
                feature: s.feature as u32,
                bin: s.bin as u32,
                left: s.left as u32,
                right: s.right as u32,
                slot: NONE,
                left_categories: s.category_mask(),
            },
            None => Route {
                feature: NONE,
                bin: 0,
                left: 0,
                right: 0,
                slot: *slot,
                left_categories: Vec::new(),
            },
        })
        .collect()
}

/// A chosen split: the feature, the threshold's index (continuous), and the left categories,
/// ascending (categorical; empty for continuous features).
type Choice = (usize, usize, Vec<f64>);

/// The best split of one node (Spark's `binsToBestSplit`: continuous features and ordered
/// categorical ones).
fn best_split(
    known: Option<&Calculator>,
    features: &[u32],
    blocks: &[&[f64]],
    categories: &[usize],
    stats_size: usize,
    impurity: Impurity,
    limits: &Limits,
) -> (Option<Choice>, SplitStats) {
    let mut chained: Option<SplitStats> = known.map(|c| SplitStats {
        gain: 0.0,
        impurity: c.impurity(impurity),
        parent: c.clone(),
        children: None,
    });
    let mut best: Option<(Choice, SplitStats)> = None;
    for (k, f) in features.iter().enumerate() {
        let block = blocks[k];
        let bins = block.len() / stats_size;
        let num_splits = bins - 1;
        if num_splits == 0 {
            continue;
        }
        let categorical = categories.get(*f as usize).is_some_and(|c| *c > 0);
        // The order bins accumulate in: ascending, or categories by Spark's centroid.
        let order: Vec<usize> = if categorical {
            category_order(block, stats_size, impurity)
        } else {
            (0..bins).collect()
        };
        let mut cumulative = block.to_vec();
        for w in order.windows(2) {
            let (from, to) = (w[0], w[1]);
            for v in 0..stats_size {
                cumulative[to * stats_size + v] += cumulative[from * stats_size + v];
            }
        }
        let bin =
            |b: usize| Calculator::from_bin(&cumulative[b * stats_size..(b + 1) * stats_size]);
        let total = bin(order[num_splits]);
        let mut feature_best: Option<(usize, SplitStats)> = None;
        for (s, b) in order[..num_splits].iter().enumerate() {
            let left = bin(*b);
            let right = total.subtract(&left);
            let stats = split_stats(chained.as_ref(), left, right, impurity, limits);
            chained = Some(stats.clone());
            if feature_best
                .as_ref()
                .is_none_or(|(_, b)| stats.gain > b.gain)
            {
                feature_best = Some((s, stats));
            }
        }
        let (s, stats) = feature_best.expect("at least one split");
        if best.as_ref().is_none_or(|(_, b)| stats.gain > b.gain) {
            let left = if categorical {
                let mut left: Vec<f64> = order[..=s].iter().map(|c| *c as f64).collect();
                left.sort_by(f64::total_cmp);
                left
            } else {
                Vec::new()
            };
            best = Some(((*f as usize, s, left), stats));
        }
    }
    match best {
        Some((choice, stats)) => (Some(choice), stats),
        None => {
            let parent = match known {
                Some(c) => c.clone(),
                None => {
                    let block = blocks.first().copied().unwrap_or(&[]);
                    let mut sum = vec![0.0; stats_size];
                    for bin in block.chunks(stats_size) {
                        for (x, y) in sum.iter_mut().zip(bin) {
                            *x += y;
                        }
                    }
                    Calculator::from_bin(&sum)
                }
            };
            (None, SplitStats::invalid(parent, impurity))
        }
    }
}

/// Spark's order of an ordered categorical feature's categories: by the class-1 count
/// (binary classification) or the mean label (regression), empty categories last, ties in
/// category order.
fn category_order(block: &[f64], stats_size: usize, impurity: Impurity) -> Vec<usize> {
    let mut centroids: Vec<(usize, f64)> = block
        .chunks(stats_size)
        .enumerate()
        .map(|(c, bin)| {
            let calc = Calculator::from_bin(bin);
            let centroid = if calc.count(impurity) == 0.0 {
                f64::MAX
            } else if impurity.is_classification() {
                calc.stats[1]
            } else {
                calc.predict(impurity)
            };
            (c, centroid)
        })
        .collect();
    centroids.sort_by(|a, b| a.1.total_cmp(&b.1));
    centroids.into_iter().map(|(c, _)| c).collect()
}

fn apply(
    nodes: &mut Vec<Grown>,
    i: usize,
    (choice, stats): (Option<Choice>, SplitStats),
    info: &BinnedInfo,
    params: &GrowParams,
) {
    let level = nodes[i].level;
    let heap_id = nodes[i].heap_id;
    nodes[i].open = false;
    nodes[i].impurity = stats.impurity;
    nodes[i].calc = Some(stats.parent.clone());
    nodes[i].invalid = stats.gain == f64::MIN;
    let leaf = stats.gain <= 0.0 || level == params.max_depth;
    let (Some((feature, bin, categories)), Some((left, right)), false) =
        (choice, stats.children, leaf)
    else {
        return;
    };
    nodes[i].gain = stats.gain;
    let child_is_leaf = level + 1 == params.max_depth;
    let mut child = |calc: Calculator, id: u64| {
        let imp = calc.impurity(params.impurity);
        let open = !(child_is_leaf || imp.abs() < EPSILON);
        nodes.push(Grown {
            level: level + 1,
            heap_id: id,
            calc: Some(calc),
            impurity: imp,
            gain: 0.0,
            split: None,
            open,
            invalid: false,
        });
        nodes.len() - 1
    };
    let l = child(left, 2 * heap_id);
    let r = child(right, 2 * heap_id + 1);
    let threshold = if categories.is_empty() {
        info.thresholds[feature][bin]
    } else {
        0.0
    };
    nodes[i].split = Some(Split {
        feature,
        threshold,
        bin,
        left: l,
        right: r,
        categories,
        num_categories: info.categories.get(feature).copied().unwrap_or(0),
    });
}

/// The model tree, with Spark's pruning (`LearningNode.toNode(prune = true)`): a split
/// whose two children are leaves predicting the same value becomes a leaf (bottom-up), and a
/// leaf whose split search found no allowed split has impurity -1.
fn finish(nodes: Vec<Grown>, impurity: Impurity) -> DecisionTree {
    fn build(nodes: &[Grown], i: usize, impurity: Impurity, out: &mut Vec<Node>) {
        let n = &nodes[i];
        let calc = n.calc.clone().unwrap_or(Calculator {
            stats: Vec::new(),
            raw_count: 0.0,
        });
        let at = out.len();
        out.push(Node {
            prediction: if calc.stats.is_empty() {
                0.0
            } else {
                calc.predict(impurity)
            },
            impurity: if n.invalid { -1.0 } else { n.impurity },
            stats: calc.stats,
            raw_count: calc.raw_count,
            gain: n.gain,
            split: None,
        });
        let Some(split) = &n.split else { return };
        let left = out.len();
        build(nodes, split.left, impurity, out);
        let right = out.len();
        build(nodes, split.right, impurity, out);
        let (l, r) = (&out[left], &out[right]);
        if l.split.is_none() && r.split.is_none() && l.prediction == r.prediction {
            let prediction = l.prediction;
            out.truncate(at + 1);
            out[at].prediction = prediction;
            out[at].impurity = n.impurity;
            out[at].gain = 0.0;
            return;
        }
        out[at].split = Some(Split {
            left,
            right,
            ..split.clone()
        });
    }
    let mut out = Vec::with_capacity(nodes.len());
    build(&nodes, 0, impurity, &mut out);
    DecisionTree { nodes: out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_subsets_are_seeded_sorted_and_distinct() {
        let a = node_features(50, 8, 3, 1, 5);
        assert_eq!(a.len(), 8);
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(a, node_features(50, 8, 3, 1, 5));
        assert_ne!(a, node_features(50, 8, 3, 2, 5));
        assert_eq!(node_features(4, 4, 0, 0, 1), vec![0, 1, 2, 3]);
    }
}
