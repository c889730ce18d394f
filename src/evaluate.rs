//! Saved and freshly trained models as the CLI sees them: loading any of them, predicting, and
//! evaluating with Spark's evaluator metric names (`cinder train --test-data`,
//! `cinder evaluate`).

use anyhow::{bail, Context as _};
use cinder::cli_ml::EvaluateArgs;
use cinder::{Context, Dataset};
use cinder_algorithms::classification::LogisticRegressionModel;
use cinder_algorithms::clustering::{ClusteringEvaluator, KMeansModel};
use cinder_algorithms::evaluation::{
    BinaryClassificationEvaluator, MulticlassClassificationEvaluator, RegressionEvaluator,
};
use cinder_algorithms::persistence::Metadata;
use cinder_algorithms::regression::LinearRegressionModel;
use cinder_algorithms::tree::{TreeAlgorithm, TreeEnsembleModel};
use cinder_algorithms::FeatureSpec;
use serde_json::{json, Value};

/// A model of one of the feature-based algorithms.
pub enum Trained {
    /// Logistic regression.
    Logistic(LogisticRegressionModel),
    /// Linear regression.
    Linear(LinearRegressionModel),
    /// K-means.
    Kmeans(KMeansModel),
    /// A decision tree, random forest or GBT.
    Tree(TreeEnsembleModel),
    /// One of the estimators of issue 17 (naive Bayes, linear SVC, ...).
    Estimator(crate::train_estimators::EstimatorModel),
}

impl Trained {
    /// Loads the model in `dir` described by `metadata`.
    pub fn load(dir: &std::path::Path, metadata: &Metadata) -> anyhow::Result<Self> {
        Ok(match metadata.algorithm.as_str() {
            "logistic-regression" => Self::Logistic(LogisticRegressionModel::load(dir)?),
            "linear-regression" => Self::Linear(LinearRegressionModel::load(dir)?),
            "kmeans" => Self::Kmeans(KMeansModel::load(dir)?),
            name if TreeAlgorithm::parse(name).is_some() => {
                Self::Tree(TreeEnsembleModel::load(dir)?)
            }
            other => match crate::train_estimators::EstimatorModel::load(dir, other) {
                Some(model) => Self::Estimator(model?),
                None => bail!("{}: {other:?} models are not evaluated here", dir.display()),
            },
        })
    }

    /// Saves the model to `dir` (which must not exist).
    pub fn save(&self, dir: &std::path::Path) -> anyhow::Result<()> {
        match self {
            Self::Logistic(m) => m.save(dir)?,
            Self::Linear(m) => m.save(dir)?,
            Self::Kmeans(m) => m.save(dir)?,
            Self::Tree(m) => m.save(dir)?,
            Self::Estimator(m) => m.save(dir)?,
        }
        Ok(())
    }

    /// Features the model was trained on.
    pub fn num_features(&self) -> usize {
        match self {
            Self::Logistic(m) => m.coefficient_matrix.first().map_or(0, Vec::len),
            Self::Linear(m) => m.coefficients.len(),
            Self::Kmeans(m) => m.centers.first().map_or(0, Vec::len),
            Self::Tree(m) => m.num_features,
            Self::Estimator(m) => m.num_features(),
        }
    }

    /// The columns it reads.
    pub fn columns(&self) -> &FeatureSpec {
        match self {
            Self::Logistic(m) => &m.params.columns,
            Self::Linear(m) => &m.params.columns,
            Self::Kmeans(m) => &m.params.columns,
            Self::Tree(m) => &m.params.columns,
            Self::Estimator(m) => m.columns(),
        }
    }

    /// Whether it has a label (supervised).
    pub fn supervised(&self) -> bool {
        match self {
            Self::Estimator(m) => m.supervised(),
            other => !matches!(other, Self::Kmeans(_)),
        }
    }

    /// Adds `prediction` (and `probability` for classifiers).
    pub fn transform(&self, data: &Dataset) -> anyhow::Result<Dataset> {
        Ok(match self {
            Self::Logistic(m) => m.transform(data)?,
            Self::Linear(m) => m.transform(data)?,
            Self::Kmeans(m) => m.transform(data)?,
            Self::Tree(m) => m.transform(data)?,
            Self::Estimator(m) => m.transform(data)?,
        })
    }

    /// Spark's evaluator metrics of `predicted` (the output of [`Self::transform`]).
    pub fn metrics(&self, predicted: &Dataset) -> anyhow::Result<Value> {
        let columns = self.columns();
        let label = columns.label.clone();
        let weight = columns.weight.clone();
        Ok(match self {
            Self::Logistic(m) => {
                let multi = MulticlassClassificationEvaluator {
                    label: label.clone(),
                    prediction: "prediction".into(),
                    weight: weight.clone(),
                }
                .metrics(predicted)?;
                let mut out = json!({
                    "accuracy": multi.accuracy,
                    "f1": multi.f1,
                    "weightedPrecision": multi.weighted_precision,
                    "weightedRecall": multi.weighted_recall,
                    "logLoss": m.log_loss(predicted)?,
                });
                if !m.multinomial {
                    let binary = BinaryClassificationEvaluator {
                        label,
                        score: "probability".into(),
                        weight,
                    }
                    .metrics(predicted)?;
                    out["areaUnderROC"] = json!(binary.area_under_roc);
                    out["areaUnderPR"] = json!(binary.area_under_pr);
                }
                out
            }
            Self::Linear(m) => {
                let r = RegressionEvaluator {
                    label,
                    prediction: "prediction".into(),
                    weight,
                    through_origin: !m.params.fit_intercept,
                }
                .metrics(predicted)?;
                json!({"rmse": r.rmse, "mse": r.mse, "mae": r.mae, "r2": r.r2})
            }
            Self::Tree(m) => crate::train_trees::metrics(m, predicted, label, weight)?,
            Self::Kmeans(_) => {
                let silhouette = ClusteringEvaluator {
                    columns: columns.clone(),
                    prediction: "prediction".into(),
                }
                .silhouette(predicted)?;
                json!({ "silhouette": silhouette })
            }
            Self::Estimator(m) => m.metrics(predicted)?,
        })
    }
}

/// Metrics of `model` on `data` (loaded with the model's columns).
pub fn metrics_on(model: &Trained, data: &Dataset) -> anyhow::Result<Value> {
    model.metrics(&model.transform(data)?)
}

/// `cinder evaluate --model DIR --data PATH [--json]`.
pub fn evaluate(args: &EvaluateArgs) -> anyhow::Result<()> {
    if cinder_algorithms::pipeline::persist::is_pipeline(&args.model) {
        return crate::train_pipeline::evaluate(args);
    }
    let (metadata, _) = cinder_algorithms::persistence::load_any(&args.model)?;
    let model = Trained::load(&args.model, &metadata)?;
    let name = format!("cinder evaluate {}", metadata.algorithm);
    let metrics = crate::train::as_application(&args.placement, &name, |cx: &Context| {
        let data = crate::train::load_for_model(cx, &args.input, &model, &args.model)?;
        metrics_on(&model, &data)
            .with_context(|| format!("evaluating on {}", args.input.data.display()))
    })?;
    if args.json {
        println!(
            "{}",
            json!({"algorithm": metadata.algorithm, "metrics": metrics})
        );
    } else {
        println!("{} on {}:", metadata.algorithm, args.input.data.display());
        if let Value::Object(fields) = &metrics {
            for (name, value) in fields {
                println!("  {name:<18} {value}");
            }
        }
    }
    Ok(())
}
