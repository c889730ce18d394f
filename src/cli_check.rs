//! Checks of `cinder train` and `cinder predict` command lines before anything starts: every
//! flag given must apply to the chosen algorithm and input format, every value must be in its
//! range, `--out` must be free. A failure is a usage error (exit 2) naming the flag, the value
//! and what is allowed.

use std::path::Path;

use clap::parser::ValueSource;
use clap::ArgMatches;

use crate::cli_estimators::ESTIMATOR_FLAGS;
use crate::cli_ml::{Algorithm, DataFormat, PredictArgs, TrainArgs};

/// Flags only some algorithms read (clap ids), with the algorithms that read them.
const ALGORITHM_FLAGS: &[(&str, &[Algorithm])] = {
    use Algorithm::{Als, Kmeans, LinearRegression as Lin, LogisticRegression as Log};
    use Algorithm::{DecisionTreeClassifier as Dtc, DecisionTreeRegressor as Dtr};
    use Algorithm::{GbtClassifier as Gbc, GbtRegressor as Gbr};
    use Algorithm::{RandomForestClassifier as Rfc, RandomForestRegressor as Rfr};
    &[
        ("reg_param", &[Log, Lin, Als]),
        ("elastic_net_param", &[Log, Lin]),
        ("tol", &[Log, Lin, Kmeans]),
        ("fit_intercept", &[Log, Lin]),
        ("standardization", &[Log, Lin]),
        ("threshold", &[Log]),
        ("family", &[Log]),
        ("solver", &[Lin]),
        ("k", &[Kmeans]),
        ("init_mode", &[Kmeans]),
        ("init_steps", &[Kmeans]),
        ("distance_measure", &[Kmeans]),
        ("seed", &[Kmeans, Als, Dtc, Dtr, Rfc, Rfr, Gbc, Gbr]),
        ("rank", &[Als]),
        ("implicit_prefs", &[Als]),
        ("alpha", &[Als]),
        ("nonnegative", &[Als]),
        ("user_col", &[Als]),
        ("item_col", &[Als]),
        ("rating_col", &[Als]),
        ("label_col", &[Log, Lin, Dtc, Dtr, Rfc, Rfr, Gbc, Gbr]),
        ("weight_col", &[Log, Lin, Dtc, Dtr, Rfc, Rfr, Gbc, Gbr]),
        (
            "features_cols",
            &[Log, Lin, Kmeans, Dtc, Dtr, Rfc, Rfr, Gbc, Gbr],
        ),
        (
            "handle_invalid",
            &[Log, Lin, Kmeans, Dtc, Dtr, Rfc, Rfr, Gbc, Gbr],
        ),
        (
            "test_data",
            &[Log, Lin, Kmeans, Als, Dtc, Dtr, Rfc, Rfr, Gbc, Gbr],
        ),
    ]
};

/// Flags that name columns, which a LibSVM or MovieLens input does not have.
const COLUMN_FLAGS: &[&str] = &["label_col", "weight_col", "features_cols"];

pub(crate) fn given(m: &ArgMatches, id: &str) -> bool {
    m.try_contains_id(id).unwrap_or(false) && m.value_source(id) == Some(ValueSource::CommandLine)
}

fn flag(id: &str) -> String {
    format!("--{}", id.replace('_', "-"))
}

fn algorithm_name(a: Algorithm) -> String {
    clap::ValueEnum::to_possible_value(&a).map_or_else(|| format!("{a:?}"), |v| v.get_name().into())
}

/// The input format as the commands resolve it (explicit, else from the extension).
pub fn resolved_format(format: Option<DataFormat>, data: &Path) -> DataFormat {
    format.unwrap_or_else(|| {
        let ext = data
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        match ext.as_deref() {
            Some("csv") => DataFormat::Csv,
            Some("parquet") => DataFormat::Parquet,
            _ if data.is_dir() => DataFormat::Parquet,
            _ => DataFormat::Libsvm,
        }
    })
}

fn range(id: &str, value: f64, ok: bool, allowed: &str) -> Result<(), String> {
    if ok && value.is_finite() {
        Ok(())
    } else {
        Err(format!("{} {value}: must be {allowed}", flag(id)))
    }
}

/// `--out` must not exist and its parent must be an existing directory.
pub fn check_out(out: &Path) -> Result<(), String> {
    if out.exists() {
        return Err(format!("--out {}: already exists", out.display()));
    }
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    match std::fs::metadata(parent) {
        Ok(m) if m.is_dir() && !m.permissions().readonly() => Ok(()),
        Ok(m) if m.is_dir() => Err(format!(
            "--out {}: {} is not writable",
            out.display(),
            parent.display()
        )),
        _ => Err(format!(
            "--out {}: {} is not an existing directory",
            out.display(),
            parent.display()
        )),
    }
}

/// Checks a `cinder train` command line (`m`: its matches).
pub fn check_train(args: &TrainArgs, m: &ArgMatches) -> Result<(), String> {
    let Some(algorithm) = args.algorithm else {
        return crate::cli_pipeline::check_pipeline_train(args, m);
    };
    let tables = || ALGORITHM_FLAGS.iter().chain(ESTIMATOR_FLAGS);
    for (id, _) in tables() {
        let algorithms: Vec<Algorithm> = tables()
            .filter(|(other, _)| other == id)
            .flat_map(|(_, a)| a.iter().copied())
            .collect();
        if given(m, id) && !algorithms.contains(&algorithm) {
            let readers: Vec<String> = algorithms.iter().map(|a| algorithm_name(*a)).collect();
            return Err(format!(
                "{} does not apply to {} (it is a parameter of {})",
                flag(id),
                algorithm_name(algorithm),
                readers.join(", ")
            ));
        }
    }
    let format = resolved_format(args.input.format, &args.input.data);
    if matches!(format, DataFormat::Libsvm | DataFormat::Movielens) {
        if let Some(id) = COLUMN_FLAGS.iter().find(|id| given(m, id)) {
            let name = clap::ValueEnum::to_possible_value(&format)
                .map_or_else(|| format!("{format:?}"), |v| v.get_name().to_string());
            return Err(format!(
                "{} does not apply to {name} input (it has no named columns)",
                flag(id)
            ));
        }
    }
    if args.input.partitions == Some(0) {
        return Err("--partitions 0: must be at least 1".into());
    }
    if let Some(v) = args.reg_param {
        range("reg_param", v, v >= 0.0, ">= 0")?;
    }
    let v = args.elastic_net_param;
    range(
        "elastic_net_param",
        v,
        (0.0..=1.0).contains(&v),
        "in [0, 1]",
    )?;
    if let Some(v) = args.tol {
        range("tol", v, v >= 0.0, ">= 0")?;
    }
    if let (Some(v), Algorithm::LogisticRegression) = (args.threshold, algorithm) {
        range("threshold", v, (0.0..=1.0).contains(&v), "in [0, 1]")?;
    }
    crate::cli_estimators::check(args)?;
    if let Some(k) = args.k.filter(|k| *k < 2) {
        return Err(format!("--k {k}: must be at least 2"));
    }
    if args.init_steps == 0 {
        return Err("--init-steps 0: must be at least 1".into());
    }
    if args.rank == 0 {
        return Err("--rank 0: must be at least 1".into());
    }
    range("alpha", args.alpha, args.alpha >= 0.0, ">= 0")?;
    crate::cli_trees::check(algorithm, &args.trees, m)?;
    if matches!(
        algorithm,
        Algorithm::GbtClassifier | Algorithm::GbtRegressor
    ) {
        if let Some(s) = args
            .estimators
            .step_size
            .filter(|s| !(*s > 0.0 && *s <= 1.0))
        {
            return Err(format!(
                "--step-size {s}: must be in (0, 1] (stepSize of GBTs)"
            ));
        }
    }
    if let Some(out) = &args.out {
        check_out(out)?;
    }
    Ok(())
}

/// Checks a `cinder predict` command line.
pub fn check_predict(args: &PredictArgs, _m: &ArgMatches) -> Result<(), String> {
    if args.input.partitions == Some(0) {
        return Err("--partitions 0: must be at least 1".into());
    }
    if let Some(out) = &args.out {
        check_out(out)?;
    }
    Ok(())
}

/// `--log-level`: a level (`error`, `warn`, `info`, `debug`, `trace`, `off`) or a filter of
/// comma-separated `target=level` directives.
pub fn check_log_level(filter: &str) -> Result<(), String> {
    const LEVELS: &[&str] = &["error", "warn", "info", "debug", "trace", "off"];
    let bad =
        || format!("--log-level {filter:?}: expected one of {LEVELS:?} or target=level directives");
    if filter.trim().is_empty() {
        return Err(bad());
    }
    for directive in filter.split(',') {
        let level = directive.rsplit_once('=').map_or(directive, |(_, l)| l);
        if !LEVELS.contains(&level.trim().to_ascii_lowercase().as_str()) {
            return Err(bad());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_levels_and_out_paths() {
        assert!(check_log_level("info").is_ok());
        assert!(check_log_level("info,cinder_actors=debug").is_ok());
        assert!(check_log_level("bogus").is_err());
        assert!(check_log_level("info,x=loud").is_err());
        let dir = tempfile::tempdir().unwrap();
        assert!(check_out(&dir.path().join("model")).is_ok());
        assert!(check_out(dir.path())
            .unwrap_err()
            .contains("already exists"));
        let orphan = dir.path().join("missing").join("model");
        assert!(check_out(&orphan)
            .unwrap_err()
            .contains("not an existing directory"));
    }
}
