//! Flags of the estimators of issue 17 (naive Bayes, linear SVC, generalized linear
//! regression, ...) for `cinder train`, flattened into [`crate::cli_ml::TrainArgs`], and which
//! algorithms read which flag (merged with `cli_check`'s table). Flags shared with the first
//! algorithms (`--reg-param`, `--max-iter`, `--tol`, `--seed`, `--k`, `--threshold`,
//! `--family`, ...) stay in `cli_ml`; only new Spark parameters live here.

use clap::Args;

use crate::cli_ml::{Algorithm, TrainArgs};

/// Spark parameters only the estimators of issue 17 read (kebab-case of Spark's names).
#[derive(Debug, Clone, Args)]
pub struct EstimatorArgs {
    /// modelType (naive Bayes): multinomial, bernoulli, gaussian or complement.
    #[arg(long, default_value = "multinomial",
          value_parser = ["multinomial", "bernoulli", "gaussian", "complement"])]
    pub model_type: String,
    /// smoothing (naive Bayes): additive smoothing, >= 0.
    #[arg(long, default_value_t = 1.0, allow_hyphen_values = true)]
    pub smoothing: f64,
    /// link (generalized linear regression): identity, logit, log, inverse, probit, cloglog
    /// or sqrt [default: the family's canonical link].
    #[arg(long, value_parser = ["identity", "logit", "log", "inverse", "probit", "cloglog", "sqrt"])]
    pub link: Option<String>,
    /// variancePower (generalized linear regression, tweedie): 0 or >= 1.
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
    pub variance_power: f64,
    /// linkPower (generalized linear regression, tweedie) [default: 1 - variancePower].
    #[arg(long, allow_hyphen_values = true)]
    pub link_power: Option<f64>,
    /// offsetCol (generalized linear regression): a column added to the linear predictor
    /// (CSV/Parquet; never taken as a feature).
    #[arg(long, value_name = "NAME")]
    pub offset_col: Option<String>,
    /// isotonic (isotonic regression): true for an increasing fit, false for decreasing.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub isotonic: bool,
    /// featureIndex (isotonic regression): the feature the fit is over.
    #[arg(long, default_value_t = 0)]
    pub feature_index: usize,
    /// minDivisibleClusterSize (bisecting k-means): points (>= 1) or a fraction of them (< 1)
    /// a cluster needs to be split.
    #[arg(long, default_value_t = 1.0, allow_hyphen_values = true)]
    pub min_divisible_cluster_size: f64,
    /// classifier (one-vs-rest): the binary classifier of each class, which takes its own
    /// flags (--reg-param, --max-iter, ...).
    #[arg(long, default_value = "logistic-regression",
          value_parser = ["logistic-regression", "linear-svc"])]
    pub classifier: String,
    /// parallelism (one-vs-rest): binary fits at a time [default: every class at once; Spark's
    /// default is 1].
    #[arg(long, value_name = "N")]
    pub parallelism: Option<usize>,
    /// layers (multilayer perceptron): input size, hidden sizes, classes, comma separated.
    #[arg(long, value_name = "N,N,...", value_delimiter = ',')]
    pub layers: Option<Vec<usize>>,
    /// blockSize (multilayer perceptron; accepted, no effect on the model).
    #[arg(long, default_value_t = 128)]
    pub block_size: usize,
    /// stepSize (multilayer perceptron gd [default: 0.03]; factorization machines
    /// [default: 1.0]).
    #[arg(long, allow_hyphen_values = true)]
    pub step_size: Option<f64>,
    /// initialWeights (multilayer perceptron): flat weights in Spark's order, comma
    /// separated.
    #[arg(
        long,
        value_name = "W,W,...",
        value_delimiter = ',',
        allow_hyphen_values = true
    )]
    pub initial_weights: Option<Vec<f64>>,
    /// factorSize (factorization machines).
    #[arg(long, default_value_t = 8)]
    pub factor_size: usize,
    /// fitLinear (factorization machines).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub fit_linear: bool,
    /// miniBatchFraction (factorization machines): in (0, 1].
    #[arg(long, default_value_t = 1.0, allow_hyphen_values = true)]
    pub mini_batch_fraction: f64,
    /// initStd (factorization machines): standard deviation of the initial factors.
    #[arg(long, default_value_t = 0.01, allow_hyphen_values = true)]
    pub init_std: f64,
}

/// Flags of [`EstimatorArgs`] and shared flags the new estimators read (clap ids), with the
/// algorithms that read them; `cli_check` accepts a flag when any table lists the algorithm.
/// Flags in neither table (`--max-iter`, `--out`, ...) apply to every algorithm.
pub const ESTIMATOR_FLAGS: &[(&str, &[Algorithm])] = {
    use Algorithm::{
        BisectingKmeans as Bkm, FmClassifier as Fmc, FmRegressor as Fmr, GaussianMixture as Gmm,
        GeneralizedLinearRegression as Glr, IsotonicRegression as Iso, LinearSvc as Svc,
        MultilayerPerceptronClassifier as Mlp, NaiveBayes as Nb, OneVsRest as Ovr,
    };
    &[
        ("model_type", &[Nb]),
        ("smoothing", &[Nb]),
        ("link", &[Glr]),
        ("variance_power", &[Glr]),
        ("link_power", &[Glr]),
        ("offset_col", &[Glr]),
        ("isotonic", &[Iso]),
        ("feature_index", &[Iso]),
        ("min_divisible_cluster_size", &[Bkm]),
        ("k", &[Bkm, Gmm]),
        ("seed", &[Bkm, Gmm, Mlp, Fmc, Fmr]),
        ("distance_measure", &[Bkm]),
        ("family", &[Glr]),
        ("classifier", &[Ovr]),
        ("layers", &[Mlp]),
        ("block_size", &[Mlp]),
        (
            "step_size",
            &[
                Mlp,
                Fmc,
                Fmr,
                Algorithm::GbtClassifier,
                Algorithm::GbtRegressor,
            ],
        ),
        ("factor_size", &[Fmc, Fmr]),
        ("fit_linear", &[Fmc, Fmr]),
        ("mini_batch_fraction", &[Fmc, Fmr]),
        ("init_std", &[Fmc, Fmr]),
        ("initial_weights", &[Mlp]),
        ("solver", &[Mlp, Fmc, Fmr]),
        ("parallelism", &[Ovr]),
        ("reg_param", &[Svc, Glr, Ovr, Fmc, Fmr]),
        ("elastic_net_param", &[Ovr]),
        ("tol", &[Svc, Glr, Gmm, Ovr, Mlp, Fmc, Fmr]),
        ("fit_intercept", &[Svc, Glr, Ovr, Fmc, Fmr]),
        ("standardization", &[Svc, Ovr]),
        ("threshold", &[Svc]),
        ("label_col", &[Nb, Svc, Glr, Iso, Ovr, Mlp, Fmc, Fmr]),
        ("weight_col", &[Nb, Svc, Glr, Iso, Bkm, Gmm, Ovr, Mlp]),
        (
            "features_cols",
            &[Nb, Svc, Glr, Iso, Bkm, Gmm, Ovr, Mlp, Fmc, Fmr],
        ),
        (
            "handle_invalid",
            &[Nb, Svc, Glr, Iso, Bkm, Gmm, Ovr, Mlp, Fmc, Fmr],
        ),
        (
            "test_data",
            &[Nb, Svc, Glr, Iso, Bkm, Gmm, Ovr, Mlp, Fmc, Fmr],
        ),
    ]
};

/// Range checks of the estimators' values (usage errors naming the flag).
pub fn check(args: &TrainArgs) -> Result<(), String> {
    let e = &args.estimators;
    if !(e.smoothing >= 0.0 && e.smoothing.is_finite()) {
        return Err(format!("--smoothing {}: must be >= 0", e.smoothing));
    }
    match (args.named_algorithm(), args.family.as_str()) {
        (Algorithm::LogisticRegression, f) if !matches!(f, "auto" | "binomial" | "multinomial") => {
            return Err(format!(
                "--family {f}: logistic regression takes auto, binomial or multinomial"
            ));
        }
        (Algorithm::GeneralizedLinearRegression, "multinomial") => {
            return Err(
                "--family multinomial: generalized linear regression takes gaussian, \
                 binomial, poisson, gamma or tweedie"
                    .into(),
            );
        }
        _ => {}
    }
    if args.named_algorithm() == Algorithm::MultilayerPerceptronClassifier {
        match &e.layers {
            None => return Err("--layers is required (input size, hidden sizes, classes)".into()),
            Some(l) if l.len() < 2 || l.contains(&0) => {
                return Err(format!("--layers {l:?}: at least two layers, none empty"))
            }
            _ => {}
        }
        if matches!(args.solver.as_str(), "normal" | "adamW") {
            return Err(format!(
                "--solver {}: the multilayer perceptron takes l-bfgs or gd",
                args.solver
            ));
        }
    }
    if let Some(s) = e.step_size.filter(|s| !(*s > 0.0 && s.is_finite())) {
        return Err(format!("--step-size {s}: must be > 0"));
    }
    let f = e.mini_batch_fraction;
    if !(f > 0.0 && f <= 1.0) {
        return Err(format!("--mini-batch-fraction {f}: must be in (0, 1]"));
    }
    if !(e.init_std >= 0.0 && e.init_std.is_finite()) {
        return Err(format!("--init-std {}: must be >= 0", e.init_std));
    }
    if e.factor_size == 0 {
        return Err("--factor-size 0: must be at least 1".into());
    }
    if matches!(
        args.named_algorithm(),
        Algorithm::FmClassifier | Algorithm::FmRegressor
    ) && matches!(args.solver.as_str(), "normal" | "l-bfgs")
    {
        return Err(format!(
            "--solver {}: factorization machines take adamW or gd",
            args.solver
        ));
    }
    if args.named_algorithm() == Algorithm::LinearRegression
        && matches!(args.solver.as_str(), "gd" | "adamW")
    {
        return Err(format!(
            "--solver {}: linear regression takes auto, l-bfgs or normal",
            args.solver
        ));
    }
    if e.parallelism == Some(0) {
        return Err("--parallelism 0: must be at least 1".into());
    }
    let m = e.min_divisible_cluster_size;
    if !(m > 0.0 && m.is_finite()) {
        return Err(format!("--min-divisible-cluster-size {m}: must be > 0"));
    }
    let vp = e.variance_power;
    if !(vp == 0.0 || vp >= 1.0) || !vp.is_finite() {
        return Err(format!("--variance-power {vp}: must be 0 or >= 1"));
    }
    if let Some(p) = e.link_power {
        if !p.is_finite() {
            return Err(format!("--link-power {p}: must be finite"));
        }
        if args.family != "tweedie" {
            return Err(
                "--link-power applies to --family tweedie (other families take --link)".into(),
            );
        }
    }
    if e.link.is_some() && args.family == "tweedie" {
        return Err("--link does not apply to --family tweedie (use --link-power)".into());
    }
    if e.offset_col.is_some()
        && !matches!(
            crate::cli_check::resolved_format(args.input.format, &args.input.data),
            crate::cli_ml::DataFormat::Csv | crate::cli_ml::DataFormat::Parquet
        )
    {
        return Err("--offset-col needs CSV or Parquet input (named columns)".into());
    }
    if let Some(t) = args.threshold {
        if args.named_algorithm() == Algorithm::LinearSvc && !t.is_finite() {
            return Err(format!("--threshold {t}: must be a finite margin"));
        }
    }
    Ok(())
}
