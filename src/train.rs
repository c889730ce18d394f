//! `cinder train` and `cinder predict`: the ML library from the command line, with progress
//! on a terminal and exactly one JSON object on stdout with `--json`.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::{bail, Context as _};
use cinder::cli_ml::{
    Algorithm, DataArgs, DataFormat, HandleInvalid, Placement, PredictArgs, TrainArgs,
};
use cinder::{Context, CsvOptions, CsvType, Dataset, FileFormat, LibSvmOptions, ParquetOptions};
use cinder_algorithms::classification::{Family, LogisticRegression, LogisticRegressionModel};
use cinder_algorithms::clustering::{DistanceMeasure, InitMode, KMeans};
use cinder_algorithms::persistence::load_any;
use cinder_algorithms::recommendation::als_kernel::RatingColumns;
use cinder_algorithms::recommendation::{Als, AlsModel, ColdStartStrategy};
use cinder_algorithms::regression::{LinearRegression, Solver};
use cinder_algorithms::validity::{first_non_finite, Checked};
use cinder_algorithms::{FeatureCols, FeatureSpec};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use crate::evaluate::{metrics_on, Trained};

fn connect(placement: &Placement, app_name: &str) -> anyhow::Result<Context> {
    let cx = match (&placement.cluster, &placement.master) {
        (Some(dir), Some(master)) => Context::connect_named(master, dir, app_name)
            .with_context(|| format!("connecting to {master}"))?,
        _ => {
            let builder = cinder::LocalCluster::builder().workers(placement.workers);
            Context::local_named(builder, app_name).context("starting the embedded cluster")?
        }
    };
    cx.set_master_timeout(placement.master_timeout.0);
    Ok(cx)
}

/// Runs `body` as one application: whatever it cached is released when it ends, on success
/// and on error (the context's drop ends the application, which drops its blocks and shuffle
/// outputs on every worker); an error ends it `failed`.
pub(crate) fn as_application<T>(
    placement: &Placement,
    app_name: &str,
    body: impl FnOnce(&Context) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let cx = connect(placement, app_name)?;
    let result = body(&cx);
    if result.is_err() {
        cx.mark_failed();
    }
    drop(cx);
    result
}

fn format_of(input: &DataArgs) -> DataFormat {
    cinder::cli_check::resolved_format(input.format, &input.data)
}

/// Checks a CSV input on the driver before any job: an empty file, a header without rows, a
/// LibSVM file read as CSV, and text columns among the ones to train on are named here with
/// the path, instead of surfacing as a worker's type error.
fn check_csv(path: &std::path::Path, used: &[&str]) -> anyhow::Result<()> {
    use cinder::runtime::data::csv::{infer_layout, CsvType};
    use std::io::BufRead;
    let file = std::fs::File::open(path).with_context(|| format!("{}", path.display()))?;
    let mut lines = std::io::BufReader::new(file).lines();
    let header = match lines.next() {
        Some(line) => line.with_context(|| format!("{}: line 1", path.display()))?,
        None => bail!("{}: empty file (no header, no rows)", path.display()),
    };
    if !header.contains(',') && header.contains(':') && header.contains(' ') {
        bail!(
            "{}: line 1 looks like LibSVM (`label index:value ...`), not CSV: use --format libsvm",
            path.display()
        );
    }
    if lines.map_while(Result::ok).all(|l| l.trim().is_empty()) {
        bail!("{}: a header and no data rows", path.display());
    }
    let layout = infer_layout(path, true, b',', 1000).map_err(anyhow::Error::msg)?;
    for (name, kind) in &layout.columns {
        if *kind == CsvType::Utf8 && used.contains(&name.as_str()) {
            bail!(
                "{}: column {name:?} holds text, not numbers (choose numeric columns with \
                 --label-col / --features-cols)",
                path.display()
            );
        }
    }
    Ok(())
}

/// Column names of a CSV or Parquet input, in order.
fn column_names(cx: &Context, input: &DataArgs, format: DataFormat) -> anyhow::Result<Vec<String>> {
    Ok(match format {
        DataFormat::Csv => {
            check_csv(&input.data, &[])?;
            cinder::runtime::data::csv::infer_layout(&input.data, true, b',', 1000)
                .map_err(anyhow::Error::msg)?
                .columns
                .into_iter()
                .map(|(n, _)| n)
                .collect()
        }
        _ => {
            let ds = cx.read_parquet(&input.data)?;
            let first = ds.take(1)?;
            first
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect()
        }
    })
}

/// Applies `--handle-invalid` before any training: `error` names the file, the column and
/// the value of the first non-finite value an estimator would consume; `skip` drops such
/// rows (an input with nothing left is an error).
fn check_finite(
    data: Dataset,
    spec: &FeatureSpec,
    supervised: bool,
    path: &std::path::Path,
    handle: HandleInvalid,
) -> anyhow::Result<Dataset> {
    let checked = Checked {
        spec: spec.clone(),
        supervised,
    };
    match handle {
        HandleInvalid::Error => {
            let bad = data.filter("ml.non_finite_rows", &checked)?.take(1)?;
            if bad.num_rows() > 0 {
                let what = first_non_finite(&bad, &checked)
                    .map_err(anyhow::Error::msg)?
                    .map_or_else(
                        || "a value is not finite".to_string(),
                        |(_, w)| w.to_string(),
                    );
                bail!(
                    "{}: {what} (NaN or infinity cannot be trained on; --handle-invalid skip drops such rows)",
                    path.display()
                );
            }
            Ok(data)
        }
        HandleInvalid::Skip => {
            let kept = data.filter("ml.finite_rows", &checked)?.cache();
            if kept.count()? == 0 {
                bail!(
                    "{}: no row is left once rows with NaN or infinity are skipped",
                    path.display()
                );
            }
            Ok(kept)
        }
    }
}

/// Loads the input and says where label, weight and features are. Unsupervised algorithms (`supervised` false) take every column as a
/// feature by default (no column is set aside as a label).
pub(crate) fn load_for(
    cx: &Context,
    input: &DataArgs,
    supervised: bool,
    num_features: Option<u32>,
) -> anyhow::Result<(Dataset, FeatureSpec)> {
    let format = format_of(input);
    let partitions = input.partitions;
    let files = crate::inputs::input_files(&input.data)?;
    let (ds, label, features) = match format {
        DataFormat::Libsvm => {
            // One vector size for every file: the model's, or the widest file's.
            let num_features = match num_features {
                Some(n) => n,
                None => files
                    .iter()
                    .map(|f| {
                        cinder::runtime::data::libsvm::infer_num_features(f)
                            .map_err(anyhow::Error::msg)
                    })
                    .collect::<anyhow::Result<Vec<u32>>>()?
                    .into_iter()
                    .max()
                    .unwrap_or(0),
            };
            let ds = crate::inputs::read_all(&files, |f| {
                let options = LibSvmOptions {
                    num_features: Some(num_features),
                    partitions,
                };
                Ok(cx.read_libsvm(f, options)?)
            })?;
            (
                ds,
                "label".to_string(),
                FeatureCols::Vector("features".into()),
            )
        }
        DataFormat::Csv | DataFormat::Parquet => {
            let first = DataArgs {
                data: files[0].clone(),
                ..input.clone()
            };
            let names = column_names(cx, &first, format)?;
            let label = input
                .label_col
                .clone()
                .unwrap_or_else(|| names.first().cloned().unwrap_or_default());
            if !names.contains(&label) {
                bail!(
                    "{}: no label column {label:?} (columns: {names:?})",
                    input.data.display()
                );
            }
            let features = match &input.features_cols {
                Some(cols) => cols.clone(),
                None => names
                    .iter()
                    .filter(|n| {
                        (!supervised || **n != label) && Some(*n) != input.weight_col.as_ref()
                    })
                    .cloned()
                    .collect(),
            };
            if let Some(missing) = features.iter().find(|f| !names.contains(f)) {
                bail!(
                    "{}: no feature column {missing:?} (columns: {names:?})",
                    input.data.display()
                );
            }
            if format == DataFormat::Csv {
                let mut used: Vec<&str> = features.iter().map(String::as_str).collect();
                if supervised {
                    used.push(&label);
                }
                used.extend(input.weight_col.as_deref());
                for file in &files {
                    check_csv(file, &used)?;
                }
            }
            let ds = if format == DataFormat::Csv {
                crate::inputs::read_all(&files, |f| {
                    let options = CsvOptions {
                        partitions,
                        ..CsvOptions::default()
                    };
                    Ok(cx.read_csv(f, options)?)
                })?
            } else {
                let options = ParquetOptions { partitions };
                if input.data.is_dir() {
                    cx.read_parquet_with(&input.data, options)?
                } else {
                    crate::inputs::read_all(&files, |f| Ok(cx.read_parquet_with(f, options)?))?
                }
            };
            (ds, label, FeatureCols::Columns(features))
        }
        DataFormat::Movielens => bail!("--format movielens is for als"),
    };
    let spec = FeatureSpec {
        label,
        weight: input.weight_col.clone(),
        features,
    };
    Ok((ds.cache(), spec))
}

fn progress_bar(quiet: bool) -> ProgressBar {
    let bar = if quiet || !std::io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
    };
    bar.set_style(ProgressStyle::with_template("{spinner} {elapsed} {msg}").expect("template"));
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// `cinder train ALGO ...`.
pub fn train(args: &TrainArgs) -> anyhow::Result<()> {
    let Some(algorithm) = args.algorithm else {
        return crate::train_pipeline::train(args);
    };
    let algorithm = clap::ValueEnum::to_possible_value(&algorithm)
        .map_or_else(|| format!("{algorithm:?}"), |v| v.get_name().to_string());
    let name = format!("cinder train {algorithm}");
    as_application(&args.placement, &name, |cx| train_in(cx, args))
}

fn train_in(cx: &Context, args: &TrainArgs) -> anyhow::Result<()> {
    let algorithm = args.algorithm.context("no algorithm")?;
    if algorithm == Algorithm::Als {
        return train_als(cx, args);
    }
    let started = std::time::Instant::now();
    let supervised = crate::train_estimators::supervised(algorithm);
    let (data, spec) = load_for(cx, &args.input, supervised, None)?;
    let data = check_finite(
        data,
        &spec,
        supervised,
        &args.input.data,
        args.handle_invalid,
    )?;
    let test = match &args.test_data {
        Some(path) => {
            let input = DataArgs {
                data: path.clone(),
                ..args.input.clone()
            };
            let (test, _) = load_for(cx, &input, supervised, None)?;
            Some(check_finite(
                test,
                &spec,
                supervised,
                path,
                args.handle_invalid,
            )?)
        }
        None => None,
    };
    let loaded = started.elapsed();
    let bar = progress_bar(false);
    bar.set_message("computing statistics");
    let mut on_iter =
        |i: usize, value: f64| bar.set_message(format!("iteration {i}: objective {value:.6}"));
    let (mut json, human, model) = match algorithm {
        Algorithm::LogisticRegression => {
            let estimator = LogisticRegression {
                max_iter: args.max_iter.unwrap_or(100),
                reg_param: args.reg_param.unwrap_or(0.0),
                elastic_net_param: args.elastic_net_param,
                tol: args.tol.unwrap_or(1e-6),
                fit_intercept: args.fit_intercept,
                standardization: args.standardization,
                threshold: args.threshold.unwrap_or(0.5),
                family: match args.family.as_str() {
                    "auto" => Family::Auto,
                    "binomial" => Family::Binomial,
                    "multinomial" => Family::Multinomial,
                    other => bail!("--family {other:?}: expected auto, binomial or multinomial"),
                },
                columns: spec,
                ..LogisticRegression::default()
            };
            let model = estimator.fit_with_progress(&data, &mut on_iter)?;
            let (json, human) = logistic_output(&model);
            (json, human, Trained::Logistic(model))
        }
        Algorithm::LinearRegression => {
            let estimator = LinearRegression {
                max_iter: args.max_iter.unwrap_or(100),
                reg_param: args.reg_param.unwrap_or(0.0),
                elastic_net_param: args.elastic_net_param,
                tol: args.tol.unwrap_or(1e-6),
                fit_intercept: args.fit_intercept,
                standardization: args.standardization,
                solver: match args.solver.as_str() {
                    "auto" => Solver::Auto,
                    "l-bfgs" => Solver::LBfgs,
                    "normal" => Solver::Normal,
                    other => bail!("--solver {other:?}: expected auto, l-bfgs or normal"),
                },
                columns: spec,
                ..LinearRegression::default()
            };
            let model = estimator.fit_with_progress(&data, &mut on_iter)?;
            let json = json!({
                "coefficients": model.coefficients, "intercept": model.intercept,
                "rmse": model.rmse, "r2": model.r2,
                "objective_history": model.summary.objective_history,
                "iterations": model.summary.iterations,
            });
            let human = format!(
                "linear regression: {} coefficients, intercept {}, rmse {}, r2 {}, {}",
                model.coefficients.len(),
                number(model.intercept),
                number(model.rmse),
                number(model.r2),
                iterations(model.summary.iterations)
            );
            (json, human, Trained::Linear(model))
        }
        Algorithm::Kmeans => {
            let estimator = KMeans {
                k: args.k.unwrap_or(2),
                max_iter: args.max_iter.unwrap_or(20),
                tol: args.tol.unwrap_or(1e-4),
                seed: args.seed,
                init_mode: match args.init_mode.as_str() {
                    "k-means||" => InitMode::KMeansParallel,
                    "random" => InitMode::Random,
                    other => bail!("--init-mode {other:?}: expected k-means|| or random"),
                },
                init_steps: args.init_steps,
                distance_measure: match args.distance_measure.as_str() {
                    "euclidean" => DistanceMeasure::Euclidean,
                    "cosine" => DistanceMeasure::Cosine,
                    other => bail!("--distance-measure {other:?}: expected euclidean or cosine"),
                },
                columns: spec,
            };
            let model = estimator.fit_with_progress(&data, &mut on_iter)?;
            let json = json!({"centers": model.centers, "cost": model.cost, "iterations": model.iterations});
            let human = format!(
                "k-means: {} centers, cost {}, {}",
                model.centers.len(),
                number(model.cost),
                iterations(model.iterations)
            );
            (json, human, Trained::Kmeans(model))
        }
        Algorithm::Als => unreachable!("handled above"),
        Algorithm::DecisionTreeClassifier
        | Algorithm::DecisionTreeRegressor
        | Algorithm::RandomForestClassifier
        | Algorithm::RandomForestRegressor
        | Algorithm::GbtClassifier
        | Algorithm::GbtRegressor => {
            let (json, human, model) = crate::train_trees::fit(args, spec, &data, &mut on_iter)?;
            (json, human, Trained::Tree(model))
        }
        Algorithm::NaiveBayes
        | Algorithm::LinearSvc
        | Algorithm::GeneralizedLinearRegression
        | Algorithm::IsotonicRegression
        | Algorithm::BisectingKmeans
        | Algorithm::GaussianMixture
        | Algorithm::OneVsRest
        | Algorithm::MultilayerPerceptronClassifier
        | Algorithm::FmClassifier
        | Algorithm::FmRegressor => {
            let (json, human, model) =
                crate::train_estimators::fit(args, spec, &data, &mut on_iter)?;
            (json, human, Trained::Estimator(model))
        }
    };
    let fitted = started.elapsed() - loaded;
    bar.set_message("evaluating");
    if crate::train_estimators::has_null(&json) {
        bail!(
            "{}: training produced non-finite values (NaN or infinity); check the data's scale \
             or the parameters",
            args.input.data.display()
        );
    }
    let training = metrics_on(&model, &data)?;
    json["training_metrics"] = training.clone();
    let tested = match &test {
        Some(test) => {
            let metrics = metrics_on(&model, test).with_context(|| {
                format!(
                    "evaluating on --test-data {}",
                    args.test_data
                        .as_ref()
                        .map_or(String::new(), |p| p.display().to_string())
                )
            })?;
            json["test_metrics"] = metrics.clone();
            Some(metrics)
        }
        None => None,
    };
    bar.finish_and_clear();
    if let Some(out) = &args.out {
        model.save(out)?;
    }
    if args.json {
        println!("{json}");
    } else {
        println!("{human}");
        println!("training metrics: {}", metric_line(&training));
        if let Some(tested) = &tested {
            println!("test metrics:     {}", metric_line(tested));
        }
        println!(
            "time: load {:.2} s, fit {:.2} s, total {:.2} s",
            loaded.as_secs_f64(),
            fitted.as_secs_f64(),
            started.elapsed().as_secs_f64()
        );
        if let Some(out) = &args.out {
            println!("model saved to {}", out.display());
        }
    }
    Ok(())
}

/// Loads data to apply `model` to. The model decides how it is read: a LibSVM file with the
/// model's numFeatures (wider data is refused: "model has 10 features, data has 692"), and
/// CSV/Parquet columns must hold the model's features.
pub(crate) fn load_for_model(
    cx: &Context,
    input: &DataArgs,
    model: &Trained,
    model_dir: &std::path::Path,
) -> anyhow::Result<Dataset> {
    let model_features = model.num_features();
    if format_of(input) == DataFormat::Libsvm {
        let found = cinder::runtime::data::libsvm::infer_num_features(&input.data)
            .map_err(anyhow::Error::msg)? as usize;
        if found > model_features {
            bail!(
                "{}: model has {model_features} features, data has {found} ({})",
                input.data.display(),
                model_dir.display()
            );
        }
    }
    let (data, _) = load_for(cx, input, model.supervised(), Some(model_features as u32))?;
    let sample = data.take(1)?;
    if sample.num_rows() > 0 {
        let rows = cinder_algorithms::features::Rows::new_features_only(&sample, model.columns())
            .map_err(|e| anyhow::anyhow!("{}: {e}", input.data.display()))?;
        if rows.num_features() != model_features {
            bail!(
                "{}: model has {model_features} features, data has {} ({})",
                input.data.display(),
                rows.num_features(),
                model_dir.display()
            );
        }
    }
    Ok(data)
}

/// `1 iteration`, `n iterations`.
fn iterations(n: usize) -> String {
    if n == 1 {
        "1 iteration".into()
    } else {
        format!("{n} iterations")
    }
}

/// A number for people: plain decimals where they read well, scientific notation for the
/// very small and very large.
fn number(x: f64) -> String {
    if x == 0.0 || (1e-4..1e7).contains(&x.abs()) {
        format!("{x:.6}")
    } else {
        format!("{x:.6e}")
    }
}

/// `name value, name value, ...` of a metrics object.
fn metric_line(metrics: &serde_json::Value) -> String {
    metrics
        .as_object()
        .map(|fields| {
            fields
                .iter()
                .map(|(k, v)| match v.as_f64() {
                    Some(x) => format!("{k} {}", number(x)),
                    None => format!("{k} {v}"),
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// Ratings as `user`, `item`, `rating` columns (MovieLens `u::i::r::t`, CSV or Parquet).
fn load_ratings(cx: &Context, input: &DataArgs) -> anyhow::Result<(Dataset, RatingColumns)> {
    let format = match input.format {
        Some(f) => f,
        None if input.data.to_string_lossy().contains("movielens") => DataFormat::Movielens,
        None => format_of(input),
    };
    match format {
        DataFormat::Movielens => {
            // `u::i::r::t` read as ':'-separated fields with empty ones between.
            let text = |n: &str| (n.to_string(), CsvType::Utf8);
            let schema = vec![
                ("user".to_string(), CsvType::Int64),
                text("_a"),
                ("item".to_string(), CsvType::Int64),
                text("_b"),
                ("rating".to_string(), CsvType::Float64),
                text("_c"),
                ("timestamp".to_string(), CsvType::Int64),
            ];
            let options = CsvOptions {
                header: false,
                delimiter: b':',
                schema: Some(schema),
                partitions: input.partitions,
            };
            let ds = cx
                .read_csv(&input.data, options)?
                .select(&["user", "item", "rating"]);
            let columns = RatingColumns {
                user: "user".into(),
                item: "item".into(),
                rating: "rating".into(),
            };
            Ok((ds, columns))
        }
        DataFormat::Csv => Ok((
            cx.read_csv(
                &input.data,
                CsvOptions {
                    partitions: input.partitions,
                    ..CsvOptions::default()
                },
            )?,
            RatingColumns {
                user: input.user_col.clone(),
                item: input.item_col.clone(),
                rating: input.rating_col.clone(),
            },
        )),
        DataFormat::Parquet => Ok((
            cx.read_parquet_with(
                &input.data,
                ParquetOptions {
                    partitions: input.partitions,
                },
            )?,
            RatingColumns {
                user: input.user_col.clone(),
                item: input.item_col.clone(),
                rating: input.rating_col.clone(),
            },
        )),
        DataFormat::Libsvm => bail!("als reads ratings: use --format movielens, csv or parquet"),
    }
}

fn train_als(cx: &Context, args: &TrainArgs) -> anyhow::Result<()> {
    let (ratings, columns) = load_ratings(cx, &args.input)?;
    let estimator = Als {
        rank: args.rank,
        max_iter: args.max_iter.unwrap_or(10),
        reg_param: args.reg_param.unwrap_or(0.1),
        implicit_prefs: args.implicit_prefs,
        alpha: args.alpha,
        nonnegative: args.nonnegative,
        seed: args.seed,
        columns,
        ..Als::default()
    };
    let bar = progress_bar(false);
    let model = estimator.fit_with_progress(&ratings, &mut |i, _| {
        bar.set_message(format!("iteration {i}"))
    })?;
    let test_rmse = match &args.test_data {
        Some(path) => {
            let input = DataArgs {
                data: path.clone(),
                ..args.input.clone()
            };
            let (test, columns) = load_ratings(cx, &input)?;
            let predicted = model.transform(&test)?.filter("ml.not_nan", "prediction")?;
            let metrics = cinder_algorithms::evaluation::RegressionEvaluator {
                label: columns.rating.clone(),
                prediction: "prediction".into(),
                weight: None,
                through_origin: false,
            }
            .metrics(&predicted)
            .with_context(|| format!("evaluating on --test-data {}", path.display()))?;
            Some(metrics.rmse)
        }
        None => None,
    };
    bar.finish_and_clear();
    if let Some(out) = &args.out {
        model.save(out)?;
    }
    if args.json {
        let mut json =
            json!({"rmse": model.rmse, "rank": estimator.rank, "iterations": model.iterations});
        json["training_metrics"] = json!({ "rmse": model.rmse });
        if let Some(rmse) = test_rmse {
            json["test_metrics"] = json!({ "rmse": rmse });
        }
        println!("{json}");
    } else {
        if let Some(rmse) = test_rmse {
            println!("test metrics: rmse {rmse:.6}");
        }
        println!(
            "als: {} users, {} items, rank {}, training rmse {}, {}",
            model.user_factors.len(),
            model.item_factors.len(),
            estimator.rank,
            number(model.rmse),
            iterations(model.iterations)
        );
        if let Some(out) = &args.out {
            println!("model saved to {}", out.display());
        }
    }
    Ok(())
}

fn logistic_output(model: &LogisticRegressionModel) -> (serde_json::Value, String) {
    let history = &model.summary.objective_history;
    let json = if model.multinomial {
        json!({
            "coefficient_matrix": model.coefficient_matrix, "intercepts": model.intercepts,
            "objective_history": history, "iterations": model.summary.iterations,
        })
    } else {
        json!({
            "coefficients": model.coefficients(), "intercept": model.intercept(),
            "objective_history": history, "iterations": model.summary.iterations,
        })
    };
    let human = format!(
        "logistic regression ({}): {} classes, {} features, {}, final objective {}",
        if model.multinomial {
            "multinomial"
        } else {
            "binomial"
        },
        model.num_classes,
        model.coefficient_matrix[0].len(),
        iterations(model.summary.iterations),
        number(history.last().copied().unwrap_or(f64::NAN))
    );
    (json, human)
}

/// `cinder predict --model DIR --data PATH [--out PATH]`.
pub fn predict(args: &PredictArgs) -> anyhow::Result<()> {
    if cinder_algorithms::pipeline::persist::is_pipeline(&args.model) {
        return crate::train_pipeline::predict(args);
    }
    let (metadata, _) = load_any(&args.model)?;
    let name = format!("cinder predict {}", metadata.algorithm);
    as_application(&args.placement, &name, |cx| predict_in(cx, args, &metadata))
}

fn predict_in(
    cx: &Context,
    args: &PredictArgs,
    metadata: &cinder_algorithms::persistence::Metadata,
) -> anyhow::Result<()> {
    if metadata.algorithm == "als" {
        let model = AlsModel::load(&args.model)?;
        // The model's column names, so a model trained with --user-col userId predicts on
        // its own kind of file; the rating column may be absent (pairs to score).
        let model_columns = &model.params.columns;
        let input = DataArgs {
            user_col: model_columns.user.clone(),
            item_col: model_columns.item.clone(),
            rating_col: model_columns.rating.clone(),
            ..args.input.clone()
        };
        let (ratings, columns) = load_ratings(cx, &input)?;
        let mut predicted = model.transform(&ratings)?;
        let drop_unknown = match args.cold_start_strategy.as_deref() {
            Some(strategy) => strategy == "drop",
            None => model.params.cold_start_strategy == ColdStartStrategy::Drop,
        };
        if drop_unknown {
            predicted = predicted.filter("ml.not_nan", "prediction")?;
        }
        let present = schema_names(&predicted)?;
        let keep: Vec<&str> = [&columns.user, &columns.item, &columns.rating]
            .into_iter()
            .filter(|c| present.contains(c))
            .map(String::as_str)
            .chain(["prediction"])
            .collect();
        return emit(&predicted.select(&keep), args.out.as_deref());
    }
    let model = Trained::load(&args.model, metadata)?;
    let data = load_for_model(cx, &args.input, &model, &args.model)?;
    let predicted = model.transform(&data)?;
    let label = if model.supervised() {
        model.columns().label.clone()
    } else {
        String::new()
    };
    let names = schema_names(&predicted)?;
    let mut keep: Vec<&str> = Vec::new();
    if names.contains(&label) {
        keep.push(&label);
    }
    for column in ["rawPrediction", "probability"] {
        if names.iter().any(|n| n == column) {
            keep.push(column);
        }
    }
    keep.push("prediction");
    emit(&predicted.select(&keep), args.out.as_deref())
}

/// Writes predictions to `out` (CSV when it ends in `.csv`, else Parquet), or prints them.
/// `cinder recommend`: the model's top-k items for all its users or the ones listed.
pub fn recommend(args: &cinder::cli_ml::RecommendArgs) -> anyhow::Result<()> {
    let model = AlsModel::load(&args.model)?;
    let users: Vec<i64> = if args.users == "all" {
        model.user_factors.keys().copied().collect()
    } else {
        args.users
            .split(',')
            .map(|id| {
                id.trim()
                    .parse::<i64>()
                    .with_context(|| format!("--users: {id:?} is not a user id (an integer)"))
            })
            .collect::<anyhow::Result<_>>()?
    };
    if let Some(out) = &args.out {
        cinder::cli_check::check_out(out).map_err(anyhow::Error::msg)?;
    }
    let name = "cinder recommend";
    as_application(&args.placement, name, |cx| {
        let chunk = users.len().div_ceil(4).max(1);
        let batches = users
            .chunks(chunk)
            .map(|ids| {
                let ids = arrow_array::Int64Array::from(ids.to_vec());
                arrow_array::RecordBatch::try_from_iter([(
                    "user",
                    std::sync::Arc::new(ids) as arrow_array::ArrayRef,
                )])
                .map_err(anyhow::Error::from)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let ids = cx.parallelize(batches)?;
        let args_k = model.recommend_args("user", args.k as usize);
        let recommended = ids.map_batches("ml.als.recommend", &args_k)?;
        match &args.out {
            Some(_) => emit(&recommended, args.out.as_deref()),
            None => {
                use std::io::Write;
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "user,item,rating");
                for batch in recommended.collect()? {
                    let col = |i: usize| batch.column(i).clone();
                    let (u, it, r) = (col(0), col(1), col(2));
                    let u = u
                        .as_any()
                        .downcast_ref::<arrow_array::Int64Array>()
                        .context("user")?;
                    let it = it
                        .as_any()
                        .downcast_ref::<arrow_array::Int64Array>()
                        .context("item")?;
                    let r = r
                        .as_any()
                        .downcast_ref::<arrow_array::Float64Array>()
                        .context("rating")?;
                    for i in 0..batch.num_rows() {
                        if writeln!(out, "{},{},{}", u.value(i), it.value(i), r.value(i)).is_err() {
                            return Ok(());
                        }
                    }
                }
                Ok(())
            }
        }
    })
}

/// A dataset's column names (from a zero-row job).
fn schema_names(ds: &Dataset) -> anyhow::Result<Vec<String>> {
    Ok(ds
        .take(0)?
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect())
}

pub(crate) fn emit(predictions: &Dataset, out: Option<&std::path::Path>) -> anyhow::Result<()> {
    match out {
        Some(out) => {
            if out.extension().is_some_and(|e| e == "csv") {
                // CSV has no list type: one column per class (`probability_0`, ...).
                let flat = predictions.map_batches("ml.expand_vectors", &())?;
                flat.write(out, FileFormat::Csv)?;
            } else {
                predictions.write(out, FileFormat::Parquet)?;
            }
            println!("predictions written to {}", out.display());
            Ok(())
        }
        None => print_predictions(&predictions.map_batches("ml.expand_vectors", &())?),
    }
}

/// Prints predictions as CSV with a header: a row id `row`, then the columns a CSV file of
/// the same predictions has.
fn print_predictions(ds: &Dataset) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let mut row = 0usize;
    let mut header = false;
    for batch in ds.collect()? {
        if !header {
            let names: Vec<String> = batch
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
            if writeln!(out, "row,{}", names.join(",")).is_err() {
                return Ok(());
            }
            header = true;
        }
        let columns: Vec<Vec<String>> = batch
            .columns()
            .iter()
            .map(|c| (0..c.len()).map(|i| arrow_cell(c, i)).collect())
            .collect();
        for i in 0..batch.num_rows() {
            let cells: Vec<&str> = columns.iter().map(|c| c[i].as_str()).collect();
            if writeln!(out, "{row},{}", cells.join(",")).is_err() {
                return Ok(());
            }
            row += 1;
        }
    }
    Ok(())
}

/// One numeric cell as text (Float64, Int64, Int32; anything else through its Debug form).
fn arrow_cell(column: &arrow_array::ArrayRef, i: usize) -> String {
    use arrow_array::{Array, Float64Array, Int32Array, Int64Array};
    if column.is_null(i) {
        return String::new();
    }
    let any = column.as_any();
    if let Some(v) = any.downcast_ref::<Float64Array>() {
        return v.value(i).to_string();
    }
    if let Some(v) = any.downcast_ref::<Int64Array>() {
        return v.value(i).to_string();
    }
    if let Some(v) = any.downcast_ref::<Int32Array>() {
        return v.value(i).to_string();
    }
    if let Some(v) = any.downcast_ref::<arrow_array::StringArray>() {
        return v.value(i).to_string();
    }
    format!("{:?}", column.slice(i, 1))
}
