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
}

/// Flags of [`EstimatorArgs`] and shared flags the new estimators read (clap ids), with the
/// algorithms that read them; `cli_check` accepts a flag when any table lists the algorithm.
/// Flags in neither table (`--max-iter`, `--out`, ...) apply to every algorithm.
pub const ESTIMATOR_FLAGS: &[(&str, &[Algorithm])] = {
    use Algorithm::{LinearSvc as Svc, NaiveBayes as Nb};
    &[
        ("model_type", &[Nb]),
        ("smoothing", &[Nb]),
        ("reg_param", &[Svc]),
        ("tol", &[Svc]),
        ("fit_intercept", &[Svc]),
        ("standardization", &[Svc]),
        ("threshold", &[Svc]),
        ("label_col", &[Nb, Svc]),
        ("weight_col", &[Nb, Svc]),
        ("features_cols", &[Nb, Svc]),
        ("handle_invalid", &[Nb, Svc]),
        ("test_data", &[Nb, Svc]),
    ]
};

/// Range checks of the estimators' values (usage errors naming the flag).
pub fn check(args: &TrainArgs) -> Result<(), String> {
    let e = &args.estimators;
    if !(e.smoothing >= 0.0 && e.smoothing.is_finite()) {
        return Err(format!("--smoothing {}: must be >= 0", e.smoothing));
    }
    if let Some(t) = args.threshold {
        if args.algorithm == Algorithm::LinearSvc && !t.is_finite() {
            return Err(format!("--threshold {t}: must be a finite margin"));
        }
    }
    Ok(())
}
