//! Command-line parameters of the tree estimators (`cinder train decision-tree-classifier`,
//! `random-forest-*`, `gbt-*`): Spark's names in kebab-case, Spark's defaults, and the check
//! that each is given only to the algorithms that read it and within its range.

use clap::parser::ValueSource;
use clap::{ArgMatches, Args};

use crate::cli_ml::Algorithm;

/// The six tree algorithms.
pub const TREE_ALGORITHMS: &[Algorithm] = &[
    Algorithm::DecisionTreeClassifier,
    Algorithm::DecisionTreeRegressor,
    Algorithm::RandomForestClassifier,
    Algorithm::RandomForestRegressor,
    Algorithm::GbtClassifier,
    Algorithm::GbtRegressor,
];

const FORESTS: &[Algorithm] = &[
    Algorithm::RandomForestClassifier,
    Algorithm::RandomForestRegressor,
];
const GBTS: &[Algorithm] = &[Algorithm::GbtClassifier, Algorithm::GbtRegressor];
const FORESTS_AND_GBTS: &[Algorithm] = &[
    Algorithm::RandomForestClassifier,
    Algorithm::RandomForestRegressor,
    Algorithm::GbtClassifier,
    Algorithm::GbtRegressor,
];
const DT_AND_FORESTS: &[Algorithm] = &[
    Algorithm::DecisionTreeClassifier,
    Algorithm::DecisionTreeRegressor,
    Algorithm::RandomForestClassifier,
    Algorithm::RandomForestRegressor,
];

/// Whether `a` is one of the tree algorithms.
pub fn is_tree(a: Algorithm) -> bool {
    TREE_ALGORITHMS.contains(&a)
}

/// Tree parameters of `cinder train` (flattened into its arguments).
#[derive(Debug, Clone, Args)]
pub struct TreeArgs {
    /// maxDepth (trees; 0 is a single leaf, at most 30).
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub max_depth: usize,
    /// maxBins (trees; at least 2).
    #[arg(long, default_value_t = 32, value_name = "N")]
    pub max_bins: usize,
    /// minInstancesPerNode (trees).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub min_instances_per_node: usize,
    /// minWeightFractionPerNode (trees; in [0, 0.5)).
    #[arg(long, default_value_t = 0.0, value_name = "F")]
    pub min_weight_fraction_per_node: f64,
    /// minInfoGain (trees).
    #[arg(long, default_value_t = 0.0, value_name = "F")]
    pub min_info_gain: f64,
    /// maxMemoryInMB (trees): the histograms of one pass at most this large.
    #[arg(long, default_value_t = 256, value_name = "MB")]
    pub max_memory_in_mb: usize,
    /// impurity (trees): gini or entropy for classifiers, variance for regressors [default:
    /// gini; variance].
    #[arg(long, value_parser = ["gini", "entropy", "variance"])]
    pub impurity: Option<String>,
    /// numTrees (random forests).
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub num_trees: usize,
    /// subsamplingRate (random forests, GBTs; in (0, 1]).
    #[arg(long, default_value_t = 1.0, value_name = "F")]
    pub subsampling_rate: f64,
    /// bootstrap (random forests).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub bootstrap: bool,
    /// featureSubsetStrategy (random forests, GBTs): auto, all, onethird, sqrt, log2, an
    /// integer n or a fraction in (0, 1] [default: auto; all for GBTs].
    #[arg(long, value_name = "STRATEGY")]
    pub feature_subset_strategy: Option<String>,
    /// lossType (GBTs): logistic (classifier); squared or absolute (regressor).
    #[arg(long, value_parser = ["logistic", "squared", "absolute"])]
    pub loss_type: Option<String>,
}

/// Tree flags (clap ids) and the algorithms that read them.
const TREE_FLAGS: &[(&str, &[Algorithm])] = &[
    ("max_depth", TREE_ALGORITHMS),
    ("max_bins", TREE_ALGORITHMS),
    ("min_instances_per_node", TREE_ALGORITHMS),
    ("min_weight_fraction_per_node", TREE_ALGORITHMS),
    ("min_info_gain", TREE_ALGORITHMS),
    ("max_memory_in_mb", TREE_ALGORITHMS),
    ("impurity", DT_AND_FORESTS),
    ("num_trees", FORESTS),
    ("subsampling_rate", FORESTS_AND_GBTS),
    ("bootstrap", FORESTS),
    ("feature_subset_strategy", FORESTS_AND_GBTS),
    ("loss_type", GBTS),
];

fn given(m: &ArgMatches, id: &str) -> bool {
    m.try_contains_id(id).unwrap_or(false) && m.value_source(id) == Some(ValueSource::CommandLine)
}

fn name(a: Algorithm) -> String {
    clap::ValueEnum::to_possible_value(&a).map_or_else(|| format!("{a:?}"), |v| v.get_name().into())
}

/// Checks the tree flags of a `cinder train` command line: each only where it applies, each
/// value in range (a usage error names the flag, the value and what is allowed).
pub fn check(algorithm: Algorithm, t: &TreeArgs, m: &ArgMatches) -> Result<(), String> {
    for (id, readers) in TREE_FLAGS {
        if given(m, id) && !readers.contains(&algorithm) {
            let names: Vec<String> = readers.iter().map(|a| name(*a)).collect();
            return Err(format!(
                "--{} does not apply to {} (it is a parameter of {})",
                id.replace('_', "-"),
                name(algorithm),
                names.join(", ")
            ));
        }
    }
    if !is_tree(algorithm) {
        return Ok(());
    }
    if given(m, "max_iter") && !GBTS.contains(&algorithm) {
        return Err(format!(
            "--max-iter does not apply to {} (of the trees, GBTs iterate)",
            name(algorithm)
        ));
    }
    let fail = |flag: &str, value: String, allowed: &str| {
        Err(format!("--{flag} {value}: must be {allowed}"))
    };
    if t.max_depth > 30 {
        return fail("max-depth", t.max_depth.to_string(), "at most 30");
    }
    if !(2..=65_536).contains(&t.max_bins) {
        return fail("max-bins", t.max_bins.to_string(), "in [2, 65536]");
    }
    if t.min_instances_per_node == 0 {
        return fail("min-instances-per-node", "0".into(), "at least 1");
    }
    let w = t.min_weight_fraction_per_node;
    if !(0.0..0.5).contains(&w) {
        return fail("min-weight-fraction-per-node", w.to_string(), "in [0, 0.5)");
    }
    if !(t.min_info_gain.is_finite() && t.min_info_gain >= 0.0) {
        return fail("min-info-gain", t.min_info_gain.to_string(), ">= 0");
    }
    if t.max_memory_in_mb == 0 {
        return fail("max-memory-in-mb", "0".into(), "at least 1");
    }
    if t.num_trees == 0 {
        return fail("num-trees", "0".into(), "at least 1");
    }
    let r = t.subsampling_rate;
    if !(r > 0.0 && r <= 1.0) {
        return fail("subsampling-rate", r.to_string(), "in (0, 1]");
    }
    if let Some(strategy) = &t.feature_subset_strategy {
        cinder_algorithms::tree::FeatureSubsetStrategy::parse(strategy)
            .map_err(|e| format!("--feature-subset-strategy {strategy}: {e}"))?;
    }
    let classifier = matches!(
        algorithm,
        Algorithm::DecisionTreeClassifier
            | Algorithm::RandomForestClassifier
            | Algorithm::GbtClassifier
    );
    match (t.impurity.as_deref(), classifier) {
        (Some("variance"), true) => {
            return fail(
                "impurity",
                "variance".into(),
                "gini or entropy for a classifier",
            )
        }
        (Some(i @ ("gini" | "entropy")), false) => {
            return fail("impurity", i.into(), "variance for a regressor")
        }
        _ => {}
    }
    match (t.loss_type.as_deref(), algorithm) {
        (Some(l @ ("squared" | "absolute")), Algorithm::GbtClassifier) => {
            fail("loss-type", l.into(), "logistic for gbt-classifier")
        }
        (Some("logistic"), Algorithm::GbtRegressor) => fail(
            "loss-type",
            "logistic".into(),
            "squared or absolute for gbt-regressor",
        ),
        _ => Ok(()),
    }
}
