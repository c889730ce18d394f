//! `cinder train --pipeline SPEC.json`, and `cinder predict` / `cinder evaluate` on saved
//! pipelines. The `--json` object is a contract: `"stages": [{"class", "uid"}]`,
//! `"test_metrics"` (with `--test-data`, by the kind of the last predicting stage, as in
//! single-algorithm training) and, with tuning, `"tuning": {"avg_metrics", "best_index",
//! "best_params": [{"stage", "param", "value"}], "metric_name"}`.

use anyhow::{bail, Context as _};
use cinder::cli_ml::{DataArgs, DataFormat, EvaluateArgs, PredictArgs, TrainArgs};
use cinder::typed_csv::{parse_schema, type_name, typed_schema};
use cinder::{Context, CsvOptions, CsvType, Dataset, ParquetOptions};
use cinder_algorithms::clustering::ClusteringEvaluator;
use cinder_algorithms::evaluation::{
    BinaryClassificationEvaluator, MulticlassClassificationEvaluator, RegressionEvaluator,
};
use cinder_algorithms::pipeline::predictors::{
    KMeansStageModel, LinearRegressionStageModel, LogisticRegressionStageModel,
};
use cinder_algorithms::pipeline::spec::GridPoint;
use cinder_algorithms::pipeline::{ModelKind, Pipeline, PipelineModel, PipelineSpec};
use cinder_algorithms::tuning::Tuner;
use serde_json::{json, Value};

use crate::train::as_application;

/// How the training input was read, saved with the pipeline so prediction reads the same way.
fn input_record(format: DataFormat, schema: &Option<Vec<(String, CsvType)>>) -> Value {
    let format = clap::ValueEnum::to_possible_value(&format)
        .map_or_else(|| format!("{format:?}"), |v| v.get_name().to_string());
    json!({
        "format": format,
        "schema": schema.as_ref().map(|columns| columns
            .iter()
            .map(|(n, t)| json!([n, type_name(*t)]))
            .collect::<Vec<_>>()),
    })
}

/// Types saved with a pipeline, as `--schema` overrides.
fn saved_schema(extra: &Value) -> anyhow::Result<Vec<(String, CsvType)>> {
    let Some(columns) = extra["input"]["schema"].as_array() else {
        return Ok(Vec::new());
    };
    let text = columns
        .iter()
        .filter_map(|c| Some(format!("{}:{}", c[0].as_str()?, c[1].as_str()?)))
        .collect::<Vec<_>>()
        .join(",");
    Ok(parse_schema(&text)?)
}

/// Reads an input with types: CSV typed (overrides by name; `strict` refuses names the file
/// lacks), Parquet as it is, LibSVM as `label` + `features`.
fn read_input(
    cx: &Context,
    input: &DataArgs,
    overrides: &[(String, CsvType)],
    strict: bool,
) -> anyhow::Result<(Dataset, Value)> {
    let format = cinder::cli_check::resolved_format(input.format, &input.data);
    let files = crate::inputs::input_files(&input.data)?;
    let partitions = input.partitions;
    let (ds, schema) = match format {
        DataFormat::Csv => {
            let inferred = typed_schema(&files[0], &[])?;
            let usable: Vec<(String, CsvType)> = overrides
                .iter()
                .filter(|(n, _)| strict || inferred.iter().any(|(m, _)| m == n))
                .cloned()
                .collect();
            let schema = typed_schema(&files[0], &usable)?;
            let ds = crate::inputs::read_all(&files, |f| {
                let options = CsvOptions {
                    partitions,
                    schema: Some(schema.clone()),
                    ..CsvOptions::default()
                };
                Ok(cx.read_csv(f, options)?)
            })?;
            (ds, Some(schema))
        }
        DataFormat::Parquet => {
            let options = ParquetOptions { partitions };
            let ds = if input.data.is_dir() {
                cx.read_parquet_with(&input.data, options)?
            } else {
                crate::inputs::read_all(&files, |f| Ok(cx.read_parquet_with(f, options)?))?
            };
            (ds, None)
        }
        DataFormat::Libsvm => (crate::train::load_for(cx, input, true, None)?.0, None),
        DataFormat::Movielens => bail!("--format movielens is not read by pipelines"),
    };
    Ok((ds.cache(), input_record(format, &schema)))
}

/// `cinder train --pipeline SPEC.json ...`.
pub fn train(args: &TrainArgs) -> anyhow::Result<()> {
    let path = args.pipeline.as_ref().context("no --pipeline")?;
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    let spec = PipelineSpec::parse(&text).with_context(|| format!("{}", path.display()))?;
    // Every stage (and the tuning section) is checked before the cluster starts.
    Pipeline::<Dataset>::from_specs(&spec.stages).with_context(|| format!("{}", path.display()))?;
    let tuner = spec
        .tuning
        .as_ref()
        .map(Tuner::from_spec)
        .transpose()
        .with_context(|| format!("{}: tuning", path.display()))?;
    let overrides = match &args.schema {
        Some(s) => parse_schema(s)?,
        None => Vec::new(),
    };
    as_application(&args.placement, "cinder train --pipeline", |cx| {
        train_in(cx, args, &spec, tuner.as_ref(), &overrides)
    })
}

fn point_json(point: &GridPoint) -> Value {
    Value::Array(
        point
            .iter()
            .map(|(stage, param, value)| json!({"stage": stage, "param": param, "value": value}))
            .collect(),
    )
}

fn train_in(
    cx: &Context,
    args: &TrainArgs,
    spec: &PipelineSpec,
    tuner: Option<&Tuner>,
    overrides: &[(String, CsvType)],
) -> anyhow::Result<()> {
    let (data, input) = read_input(cx, &args.input, overrides, true)?;
    let mut extra = json!({"spec": spec, "input": input});
    let mut out = json!({});
    let model = match tuner {
        Some(tuner) => {
            let result = tuner.fit(spec, &data)?;
            let tuning = json!({
                "avg_metrics": result.avg_metrics,
                "best_index": result.best_index,
                "best_params": point_json(&result.points[result.best_index]),
                "metric_name": tuner.evaluator.metric_name(),
            });
            extra["tuning"] = tuning.clone();
            extra["tuning"]["grid"] = Value::Array(result.points.iter().map(point_json).collect());
            out["tuning"] = tuning;
            result.best_model
        }
        None => Pipeline::<Dataset>::from_specs(&spec.stages)?.fit(&data)?,
    };
    out["stages"] = Value::Array(
        spec.stages
            .iter()
            .zip(&model.stages)
            .map(|(s, (uid, _))| json!({"class": s.class, "uid": uid}))
            .collect(),
    );
    if let Some(path) = &args.test_data {
        let input = DataArgs {
            data: path.clone(),
            ..args.input.clone()
        };
        let schema = saved_schema(&extra)?;
        let (test, _) = read_input(cx, &input, &schema, false)?;
        let metrics = metrics_of(&model, &model.transform(&test)?)
            .with_context(|| format!("evaluating on --test-data {}", path.display()))?;
        out["test_metrics"] = metrics;
    }
    if let Some(dir) = &args.out {
        let classes: Vec<String> = spec.stages.iter().map(|s| s.class.clone()).collect();
        model.save(dir, &classes, extra)?;
    }
    if args.json {
        println!("{out}");
    } else {
        print_human(&out, args.out.as_deref());
    }
    Ok(())
}

fn print_human(out: &Value, saved: Option<&std::path::Path>) {
    let stages: Vec<String> = out["stages"]
        .as_array()
        .map(|s| {
            s.iter()
                .filter_map(|x| x["uid"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    println!("pipeline: {}", stages.join(" -> "));
    if let Some(t) = out.get("tuning") {
        println!(
            "tuning: {} {} per grid point, best {} {}",
            t["metric_name"].as_str().unwrap_or("metric"),
            t["avg_metrics"],
            t["best_index"],
            t["best_params"]
        );
    }
    if let Some(Value::Object(metrics)) = out.get("test_metrics") {
        let line: Vec<String> = metrics.iter().map(|(k, v)| format!("{k} {v}")).collect();
        println!("test metrics: {}", line.join(", "));
    }
    if let Some(dir) = saved {
        println!("pipeline saved to {}", dir.display());
    }
}

/// The metrics of the last predicting stage's kind, as single-algorithm training reports
/// them.
pub fn metrics_of(model: &PipelineModel<Dataset>, predicted: &Dataset) -> anyhow::Result<Value> {
    let Some(predictor) = model.predictor() else {
        bail!("the pipeline has no predicting stage to evaluate");
    };
    let label = predictor.label_col().unwrap_or_else(|| "label".into());
    Ok(match predictor.kind() {
        ModelKind::Classifier => {
            let multi = MulticlassClassificationEvaluator {
                label: label.clone(),
                prediction: "prediction".into(),
                weight: None,
            }
            .metrics(predicted)?;
            let mut out = json!({
                "accuracy": multi.accuracy,
                "f1": multi.f1,
                "weightedPrecision": multi.weighted_precision,
                "weightedRecall": multi.weighted_recall,
            });
            if let Some(lr) = predictor
                .as_any()
                .downcast_ref::<LogisticRegressionStageModel>()
            {
                out["logLoss"] = json!(lr.model.log_loss(predicted)?);
                if !lr.model.multinomial {
                    let binary = BinaryClassificationEvaluator {
                        label,
                        score: "probability".into(),
                        weight: None,
                    }
                    .metrics(predicted)?;
                    out["areaUnderROC"] = json!(binary.area_under_roc);
                    out["areaUnderPR"] = json!(binary.area_under_pr);
                }
            }
            out
        }
        ModelKind::Regressor => {
            let through_origin = predictor
                .as_any()
                .downcast_ref::<LinearRegressionStageModel>()
                .is_some_and(|m| !m.model.params.fit_intercept);
            let predicted = predicted.filter("ml.not_nan", "prediction")?;
            let r = RegressionEvaluator {
                label,
                prediction: "prediction".into(),
                weight: None,
                through_origin,
            }
            .metrics(&predicted)?;
            json!({"rmse": r.rmse, "mse": r.mse, "mae": r.mae, "r2": r.r2})
        }
        ModelKind::Clusterer => {
            let km = predictor
                .as_any()
                .downcast_ref::<KMeansStageModel>()
                .context("a clusterer without features")?;
            let silhouette = ClusteringEvaluator {
                columns: km.model.params.columns.clone(),
                prediction: "prediction".into(),
            }
            .silhouette(predicted)?;
            json!({ "silhouette": silhouette })
        }
        ModelKind::Transformer => bail!("the pipeline has no predicting stage to evaluate"),
    })
}

fn load(dir: &std::path::Path) -> anyhow::Result<(PipelineModel<Dataset>, Value)> {
    let (model, metadata) = PipelineModel::<Dataset>::load(dir)?;
    Ok((model, metadata.extra))
}

/// `cinder predict --model DIR` on a saved pipeline: the label (when the data has it),
/// `rawPrediction`, `probability`, `prediction`, and the outputs of stages after the
/// predictor (an `IndexToString` gives string labels back).
pub fn predict(args: &PredictArgs) -> anyhow::Result<()> {
    let (model, extra) = load(&args.model)?;
    let schema = saved_schema(&extra)?;
    as_application(&args.placement, "cinder predict pipeline", |cx| {
        let (data, _) = read_input(cx, &args.input, &schema, false)?;
        let predicted = model.transform(&data)?;
        let names: Vec<String> = predicted
            .take(0)?
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let position = model
            .stages
            .iter()
            .rposition(|(_, m)| m.kind() != ModelKind::Transformer);
        let mut keep: Vec<String> = Vec::new();
        if let Some(label) = position.and_then(|p| model.stages[p].1.label_col()) {
            keep.push(label);
        }
        keep.extend(["rawPrediction", "probability", "prediction"].map(String::from));
        for (_, stage) in &model.stages[position.map_or(0, |p| p + 1)..] {
            if let Some(Value::String(out)) = stage.params().get("outputCol") {
                keep.push(out.clone());
            }
        }
        let keep: Vec<&str> = keep
            .iter()
            .filter(|c| names.contains(c))
            .map(String::as_str)
            .collect();
        crate::train::emit(&predicted.select(&keep), args.out.as_deref())
    })
}

/// `cinder evaluate --model DIR` on a saved pipeline: `{"algorithm": "pipeline", "stages",
/// "metrics"}`.
pub fn evaluate(args: &EvaluateArgs) -> anyhow::Result<()> {
    let (model, extra) = load(&args.model)?;
    let schema = saved_schema(&extra)?;
    let metrics = as_application(&args.placement, "cinder evaluate pipeline", |cx| {
        let (data, _) = read_input(cx, &args.input, &schema, false)?;
        metrics_of(&model, &model.transform(&data)?)
            .with_context(|| format!("evaluating on {}", args.input.data.display()))
    })?;
    let stages: Vec<Value> = model
        .stages
        .iter()
        .map(|(uid, m)| json!({"class": m.class(), "uid": uid}))
        .collect();
    if args.json {
        println!(
            "{}",
            json!({"algorithm": "pipeline", "stages": stages, "metrics": metrics})
        );
    } else {
        println!("pipeline on {}:", args.input.data.display());
        if let Value::Object(fields) = &metrics {
            for (name, value) in fields {
                println!("  {name:<18} {value}");
            }
        }
    }
    Ok(())
}
