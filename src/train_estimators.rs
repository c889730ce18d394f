//! `cinder train` for the estimators of issue 17 (naive Bayes, linear SVC, ...): building
//! each estimator from the command line, its `--json` fields, and the models as
//! `cinder predict` / `cinder evaluate` see them (loading, saving, predicting, metrics).

use anyhow::bail;
use cinder::cli_ml::{Algorithm, TrainArgs};
use cinder::Dataset;
use cinder_algorithms::classification::{
    BinaryClassifier, LinearSvc, LinearSvcModel, LogisticRegression, MlpSolver, ModelType,
    MultilayerPerceptronClassifier, MultilayerPerceptronModel, NaiveBayes, NaiveBayesModel,
    OneVsRest, OneVsRestModel,
};
use cinder_algorithms::clustering::{
    BisectingKMeans, BisectingKMeansModel, ClusteringEvaluator, DistanceMeasure, GaussianMixture,
    GaussianMixtureModel,
};
use cinder_algorithms::evaluation::{
    BinaryClassificationEvaluator, MulticlassClassificationEvaluator, RegressionEvaluator,
};
use cinder_algorithms::regression::{
    FactorizationMachine, FactorizationMachineModel, FmKind, FmSolver, GeneralizedLinearRegression,
    GeneralizedLinearRegressionModel, IsotonicRegression, IsotonicRegressionModel,
};
use cinder_algorithms::{FeatureCols, FeatureSpec};
use serde_json::{json, Value};

/// A model of one of the estimators of issue 17.
pub enum EstimatorModel {
    /// Naive Bayes.
    NaiveBayes(NaiveBayesModel),
    /// Linear SVC.
    LinearSvc(LinearSvcModel),
    /// Generalized linear regression (boxed: its summary makes it large).
    Glr(Box<GeneralizedLinearRegressionModel>),
    /// Isotonic regression.
    Isotonic(IsotonicRegressionModel),
    /// Bisecting k-means.
    Bisecting(BisectingKMeansModel),
    /// Gaussian mixture.
    Mixture(GaussianMixtureModel),
    /// One-vs-rest.
    OneVsRest(OneVsRestModel),
    /// Multilayer perceptron.
    Mlp(MultilayerPerceptronModel),
    /// Factorization machine (classifier or regressor).
    Fm(FactorizationMachineModel),
}

/// `(--json object, one line for people, model)`.
pub type Fitted = (Value, String, EstimatorModel);

/// Fits `args.algorithm` (one of this module's) on `data`.
pub fn fit(
    args: &TrainArgs,
    spec: FeatureSpec,
    data: &Dataset,
    on_iter: &mut dyn FnMut(usize, f64),
) -> anyhow::Result<Fitted> {
    Ok(match args.named_algorithm() {
        Algorithm::NaiveBayes => {
            let e = &args.estimators;
            let Some(model_type) = ModelType::parse(&e.model_type) else {
                bail!(
                    "--model-type {:?}: expected multinomial, bernoulli, gaussian or complement",
                    e.model_type
                );
            };
            let model = NaiveBayes {
                smoothing: e.smoothing,
                model_type,
                columns: spec,
                ..NaiveBayes::default()
            }
            .fit(data)?;
            let mut json = json!({"pi": model.pi, "theta": model.theta, "labels": model.labels});
            if model_type == ModelType::Gaussian {
                json["sigma"] = json!(model.sigma);
            }
            let human = format!(
                "naive Bayes ({}): {} classes, {} features",
                model_type.name(),
                model.num_classes(),
                model.num_features()
            );
            (json, human, EstimatorModel::NaiveBayes(model))
        }
        Algorithm::LinearSvc => {
            let model = LinearSvc {
                reg_param: args.reg_param.unwrap_or(0.0),
                max_iter: args.max_iter.unwrap_or(100),
                fit_intercept: args.fit_intercept,
                tol: args.tol.unwrap_or(1e-6),
                standardization: args.standardization,
                threshold: args.threshold.unwrap_or(0.0),
                columns: spec,
                ..LinearSvc::default()
            }
            .fit_with_progress(data, on_iter)?;
            let history = &model.summary.objective_history;
            let json = json!({
                "coefficients": model.coefficients, "intercept": model.intercept,
                "objective_history": history, "iterations": model.summary.iterations,
            });
            let human = format!(
                "linear SVC: {} coefficients, intercept {}, {} iterations, final objective {}",
                model.coefficients.len(),
                model.intercept,
                model.summary.iterations,
                history.last().copied().unwrap_or(f64::NAN)
            );
            (json, human, EstimatorModel::LinearSvc(model))
        }
        Algorithm::GeneralizedLinearRegression => {
            let e = &args.estimators;
            let mut columns = spec;
            // The offset is never a feature (it is there when --features-cols is not given).
            if let (Some(offset), FeatureCols::Columns(names)) =
                (&e.offset_col, &mut columns.features)
            {
                names.retain(|n| n != offset);
            }
            let family = match args.family.as_str() {
                "auto" => "gaussian",
                "multinomial" => bail!(
                    "--family multinomial: generalized linear regression takes gaussian, \
                     binomial, poisson, gamma or tweedie"
                ),
                other => other,
            };
            let model = GeneralizedLinearRegression {
                family: family.to_string(),
                link: e.link.clone(),
                variance_power: e.variance_power,
                link_power: e.link_power,
                fit_intercept: args.fit_intercept,
                max_iter: args.max_iter.unwrap_or(25),
                tol: args.tol.unwrap_or(1e-6),
                reg_param: args.reg_param.unwrap_or(0.0),
                offset_col: e.offset_col.clone(),
                columns,
                ..GeneralizedLinearRegression::default()
            }
            .fit_with_progress(data, on_iter)?;
            let s = &model.summary;
            let mut json = json!({
                "coefficients": model.coefficients, "intercept": model.intercept,
                "iterations": s.iterations, "deviance": s.deviance,
                "null_deviance": s.null_deviance, "dispersion": s.dispersion,
                "residual_degree_of_freedom": s.residual_degree_of_freedom,
                "standard_errors": s.coefficient_standard_errors,
                "t_values": s.t_values, "p_values": s.p_values,
            });
            if let Some(aic) = s.aic {
                json["aic"] = json!(aic);
            }
            let human = format!(
                "generalized linear regression ({family}, {:?} link): {} coefficients, \
                 intercept {}, deviance {}, {} iterations",
                model.link,
                model.coefficients.len(),
                model.intercept,
                s.deviance,
                s.iterations
            );
            (json, human, EstimatorModel::Glr(Box::new(model)))
        }
        Algorithm::IsotonicRegression => {
            let model = IsotonicRegression {
                isotonic: args.estimators.isotonic,
                feature_index: args.estimators.feature_index,
                columns: spec,
                ..IsotonicRegression::default()
            }
            .fit(data)?;
            let json = json!({"boundaries": model.boundaries, "predictions": model.predictions});
            let human = format!(
                "isotonic regression ({}): {} boundaries from {} to {}",
                if model.params.isotonic {
                    "increasing"
                } else {
                    "decreasing"
                },
                model.boundaries.len(),
                model.boundaries[0],
                model.boundaries[model.boundaries.len() - 1]
            );
            (json, human, EstimatorModel::Isotonic(model))
        }
        Algorithm::BisectingKmeans => {
            let distance_measure = match args.distance_measure.as_str() {
                "euclidean" => DistanceMeasure::Euclidean,
                "cosine" => DistanceMeasure::Cosine,
                other => bail!("--distance-measure {other:?}: expected euclidean or cosine"),
            };
            let model = BisectingKMeans {
                k: args.k.unwrap_or(4),
                max_iter: args.max_iter.unwrap_or(20),
                seed: args.seed,
                min_divisible_cluster_size: args.estimators.min_divisible_cluster_size,
                distance_measure,
                columns: spec,
                ..BisectingKMeans::default()
            }
            .fit_with_progress(data, on_iter)?;
            let centers = model.cluster_centers();
            let json = json!({"centers": centers, "cost": model.training_cost});
            let human = format!(
                "bisecting k-means: {} clusters, training cost {}",
                centers.len(),
                model.training_cost
            );
            (json, human, EstimatorModel::Bisecting(model))
        }
        Algorithm::GaussianMixture => {
            let model = GaussianMixture {
                k: args.k.unwrap_or(2),
                max_iter: args.max_iter.unwrap_or(100),
                tol: args.tol.unwrap_or(0.01),
                seed: args.seed,
                columns: spec,
                ..GaussianMixture::default()
            }
            .fit_with_progress(data, on_iter)?;
            let json = json!({
                "log_likelihood": model.log_likelihood, "weights": model.weights,
                "means": model.means, "covariances": model.covariances,
                "iterations": model.iterations,
            });
            let human = format!(
                "Gaussian mixture: {} components, log-likelihood {}, {} iterations",
                model.weights.len(),
                model.log_likelihood,
                model.iterations
            );
            (json, human, EstimatorModel::Mixture(model))
        }
        Algorithm::OneVsRest => {
            let classifier = match args.estimators.classifier.as_str() {
                "logistic-regression" => BinaryClassifier::LogisticRegression(LogisticRegression {
                    max_iter: args.max_iter.unwrap_or(100),
                    reg_param: args.reg_param.unwrap_or(0.0),
                    elastic_net_param: args.elastic_net_param,
                    tol: args.tol.unwrap_or(1e-6),
                    fit_intercept: args.fit_intercept,
                    standardization: args.standardization,
                    ..LogisticRegression::default()
                }),
                "linear-svc" => BinaryClassifier::LinearSvc(LinearSvc {
                    max_iter: args.max_iter.unwrap_or(100),
                    reg_param: args.reg_param.unwrap_or(0.0),
                    tol: args.tol.unwrap_or(1e-6),
                    fit_intercept: args.fit_intercept,
                    standardization: args.standardization,
                    ..LinearSvc::default()
                }),
                other => {
                    bail!("--classifier {other:?}: expected logistic-regression or linear-svc")
                }
            };
            let model = OneVsRest {
                classifier,
                parallelism: args.estimators.parallelism.unwrap_or(usize::MAX),
                columns: spec,
            }
            .fit(data)?;
            let json =
                json!({"coefficient_matrix": model.coefficients, "intercepts": model.intercepts});
            let human = format!(
                "one-vs-rest ({}): {} classes",
                args.estimators.classifier,
                model.intercepts.len()
            );
            (json, human, EstimatorModel::OneVsRest(model))
        }
        Algorithm::MultilayerPerceptronClassifier => {
            let e = &args.estimators;
            let model = MultilayerPerceptronClassifier {
                layers: e.layers.clone().unwrap_or_default(),
                block_size: e.block_size,
                solver: match args.solver.as_str() {
                    "auto" | "l-bfgs" => MlpSolver::LBfgs,
                    "gd" => MlpSolver::Gd,
                    other => bail!("--solver {other:?}: expected l-bfgs or gd"),
                },
                max_iter: args.max_iter.unwrap_or(100),
                tol: args.tol.unwrap_or(1e-6),
                step_size: e.step_size.unwrap_or(0.03),
                seed: args.seed,
                initial_weights: e.initial_weights.clone().unwrap_or_default(),
                columns: spec,
            }
            .fit_with_progress(data, on_iter)?;
            let json = json!({
                "weights": model.weights,
                "objective_history": model.summary.objective_history,
                "iterations": model.summary.iterations,
            });
            let human = format!(
                "multilayer perceptron {:?}: {} weights, {} iterations, final loss {}",
                model.params.layers,
                model.weights.len(),
                model.summary.iterations,
                model
                    .summary
                    .objective_history
                    .last()
                    .copied()
                    .unwrap_or(f64::NAN)
            );
            (json, human, EstimatorModel::Mlp(model))
        }
        Algorithm::FmClassifier | Algorithm::FmRegressor => {
            let e = &args.estimators;
            let kind = if args.named_algorithm() == Algorithm::FmClassifier {
                FmKind::Classifier
            } else {
                FmKind::Regressor
            };
            let model = FactorizationMachine {
                kind,
                factor_size: e.factor_size,
                fit_intercept: args.fit_intercept,
                fit_linear: e.fit_linear,
                reg_param: args.reg_param.unwrap_or(0.0),
                mini_batch_fraction: e.mini_batch_fraction,
                init_std: e.init_std,
                max_iter: args.max_iter.unwrap_or(100),
                step_size: e.step_size.unwrap_or(1.0),
                tol: args.tol.unwrap_or(1e-6),
                solver: match args.solver.as_str() {
                    "auto" | "adamW" => FmSolver::AdamW,
                    "gd" => FmSolver::Gd,
                    other => bail!("--solver {other:?}: expected adamW or gd"),
                },
                seed: args.seed,
                columns: spec,
            }
            .fit_with_progress(data, on_iter)?;
            let json = json!({
                "weights": model.weights, "iterations": model.iterations,
                "loss_history": model.loss_history,
            });
            let human = format!(
                "factorization machine ({kind:?}): {} weights, {} iterations",
                model.weights.len(),
                model.iterations
            );
            (json, human, EstimatorModel::Fm(model))
        }
        other => bail!("{other:?} is not one of the estimators of issue 17"),
    })
}

impl EstimatorModel {
    /// Loads the model in `dir` if `algorithm` (from its metadata) is one of this module's.
    pub fn load(dir: &std::path::Path, algorithm: &str) -> Option<anyhow::Result<Self>> {
        Some(match algorithm {
            "naive-bayes" => NaiveBayesModel::load(dir)
                .map(Self::NaiveBayes)
                .map_err(Into::into),
            "linear-svc" => LinearSvcModel::load(dir)
                .map(Self::LinearSvc)
                .map_err(Into::into),
            "generalized-linear-regression" => GeneralizedLinearRegressionModel::load(dir)
                .map(|m| Self::Glr(Box::new(m)))
                .map_err(Into::into),
            "isotonic-regression" => IsotonicRegressionModel::load(dir)
                .map(Self::Isotonic)
                .map_err(Into::into),
            "bisecting-kmeans" => BisectingKMeansModel::load(dir)
                .map(Self::Bisecting)
                .map_err(Into::into),
            "gaussian-mixture" => GaussianMixtureModel::load(dir)
                .map(Self::Mixture)
                .map_err(Into::into),
            "one-vs-rest" => OneVsRestModel::load(dir)
                .map(Self::OneVsRest)
                .map_err(Into::into),
            "multilayer-perceptron-classifier" => MultilayerPerceptronModel::load(dir)
                .map(Self::Mlp)
                .map_err(Into::into),
            "factorization-machine" => FactorizationMachineModel::load(dir)
                .map(Self::Fm)
                .map_err(Into::into),
            _ => return None,
        })
    }

    /// Saves the model to `dir` (which must not exist).
    pub fn save(&self, dir: &std::path::Path) -> anyhow::Result<()> {
        match self {
            Self::NaiveBayes(m) => m.save(dir)?,
            Self::LinearSvc(m) => m.save(dir)?,
            Self::Glr(m) => m.save(dir)?,
            Self::Isotonic(m) => m.save(dir)?,
            Self::Bisecting(m) => m.save(dir)?,
            Self::Mixture(m) => m.save(dir)?,
            Self::OneVsRest(m) => m.save(dir)?,
            Self::Mlp(m) => m.save(dir)?,
            Self::Fm(m) => m.save(dir)?,
        }
        Ok(())
    }

    /// Features the model was trained on.
    pub fn num_features(&self) -> usize {
        match self {
            Self::NaiveBayes(m) => m.num_features(),
            Self::LinearSvc(m) => m.coefficients.len(),
            Self::Glr(m) => m.coefficients.len(),
            Self::Isotonic(m) => m.params.feature_index + 1,
            Self::Bisecting(m) => m.tree.centers[&1].len(),
            Self::Mixture(m) => m.means.first().map_or(0, Vec::len),
            Self::OneVsRest(m) => m.coefficients.first().map_or(0, Vec::len),
            Self::Mlp(m) => m.params.layers[0],
            Self::Fm(m) => m.num_features,
        }
    }

    /// The columns it reads.
    pub fn columns(&self) -> &FeatureSpec {
        match self {
            Self::NaiveBayes(m) => &m.params.columns,
            Self::LinearSvc(m) => &m.params.columns,
            Self::Glr(m) => &m.params.columns,
            Self::Isotonic(m) => &m.params.columns,
            Self::Bisecting(m) => &m.params.columns,
            Self::Mixture(m) => &m.params.columns,
            Self::OneVsRest(m) => &m.params.columns,
            Self::Mlp(m) => &m.params.columns,
            Self::Fm(m) => &m.params.columns,
        }
    }

    /// Whether it has a label (supervised).
    pub fn supervised(&self) -> bool {
        !matches!(self, Self::Bisecting(_) | Self::Mixture(_))
    }

    /// Adds Spark's prediction columns.
    pub fn transform(&self, data: &Dataset) -> anyhow::Result<Dataset> {
        Ok(match self {
            Self::NaiveBayes(m) => m.transform(data)?,
            Self::LinearSvc(m) => m.transform(data)?,
            Self::Glr(m) => m.transform(data)?,
            Self::Isotonic(m) => m.transform(data)?,
            Self::Bisecting(m) => m.transform(data)?,
            Self::Mixture(m) => m.transform(data)?,
            Self::OneVsRest(m) => m.transform(data)?,
            Self::Mlp(m) => m.transform(data)?,
            Self::Fm(m) => m.transform(data)?,
        })
    }

    /// Spark's evaluator metrics of `predicted` (the output of [`Self::transform`]).
    pub fn metrics(&self, predicted: &Dataset) -> anyhow::Result<Value> {
        let columns = self.columns();
        let (binary, score) = match self {
            Self::NaiveBayes(m) => (m.num_classes() == 2, "probability"),
            Self::LinearSvc(_) => (true, "rawPrediction"),
            Self::OneVsRest(m) => (m.intercepts.len() == 2, "rawPrediction"),
            Self::Mlp(m) => (
                m.params.layers[m.params.layers.len() - 1] == 2,
                "probability",
            ),
            Self::Fm(m) if m.params.kind == FmKind::Classifier => (true, "probability"),
            Self::Bisecting(_) | Self::Mixture(_) => {
                let silhouette = ClusteringEvaluator {
                    columns: columns.clone(),
                    prediction: "prediction".into(),
                }
                .silhouette(predicted)?;
                return Ok(json!({ "silhouette": silhouette }));
            }
            Self::Glr(_) | Self::Isotonic(_) | Self::Fm(_) => {
                let r = RegressionEvaluator {
                    label: columns.label.clone(),
                    prediction: "prediction".into(),
                    weight: columns.weight.clone(),
                    through_origin: false,
                }
                .metrics(predicted)?;
                return Ok(json!({"rmse": r.rmse, "mse": r.mse, "mae": r.mae, "r2": r.r2}));
            }
        };
        classifier_metrics(columns, predicted, binary.then_some(score))
    }
}

/// Multiclass metrics, and the binary areas from `score` (element 1 of a vector column) when
/// the model has two classes.
fn classifier_metrics(
    columns: &FeatureSpec,
    predicted: &Dataset,
    score: Option<&str>,
) -> anyhow::Result<Value> {
    let multi = MulticlassClassificationEvaluator {
        label: columns.label.clone(),
        prediction: "prediction".into(),
        weight: columns.weight.clone(),
    }
    .metrics(predicted)?;
    let mut out = json!({
        "accuracy": multi.accuracy,
        "f1": multi.f1,
        "weightedPrecision": multi.weighted_precision,
        "weightedRecall": multi.weighted_recall,
    });
    if let Some(score) = score {
        let binary = BinaryClassificationEvaluator {
            label: columns.label.clone(),
            score: score.into(),
            weight: columns.weight.clone(),
        }
        .metrics(predicted)?;
        out["areaUnderROC"] = json!(binary.area_under_roc);
        out["areaUnderPR"] = json!(binary.area_under_pr);
    }
    Ok(out)
}

/// Whether `algorithm` (one of this module's) learns from a label.
pub fn supervised(algorithm: Algorithm) -> bool {
    !matches!(
        algorithm,
        Algorithm::Kmeans | Algorithm::BisectingKmeans | Algorithm::GaussianMixture
    )
}

/// Whether a JSON value holds a `null` anywhere (serde_json writes NaN and infinity as null),
/// judged on values, not on text: a key such as `null_deviance` is fine.
pub fn has_null(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.iter().any(has_null),
        Value::Object(fields) => fields.values().any(has_null),
        _ => false,
    }
}
