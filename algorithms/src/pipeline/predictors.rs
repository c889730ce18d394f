//! The library's estimators as pipeline stages, unchanged: each stage reads Spark's
//! parameters into the estimator's struct, fits it, and saves the fitted model in the
//! model's own format (`metadata.json` + `data.arrow`) inside the stage directory.

use crate::classification::{Family, LogisticRegression, LogisticRegressionModel};
use crate::clustering::{DistanceMeasure, InitMode, KMeans, KMeansModel};
use crate::features::{FeatureCols, FeatureSpec};
use crate::pipeline::params::ParamMap;
use crate::pipeline::stage::ModelKind;
use crate::recommendation::als_kernel::RatingColumns;
use crate::recommendation::{Als, AlsModel, ColdStartStrategy};
use crate::regression::{LinearRegression, LinearRegressionModel, Solver};
use crate::MlError;

/// Output columns the models write under fixed names: a spec may name them only as they
/// are (Spark's defaults).
fn fixed_outputs(class: &str, params: &ParamMap, outputs: &[(&str, &str)]) -> Result<(), MlError> {
    for (param, fixed) in outputs {
        if let Some(value) = params.opt_str(param)? {
            if value != *fixed {
                return Err(MlError::Input(format!(
                    "{class}: {param} must be {fixed:?} (the column this model writes), not \
                     {value:?}"
                )));
            }
        }
    }
    Ok(())
}

fn feature_spec(params: &ParamMap, label: bool) -> Result<FeatureSpec, MlError> {
    Ok(FeatureSpec {
        label: if label {
            params.str_or("labelCol", "label")?
        } else {
            "label".into()
        },
        weight: params.opt_str("weightCol")?.filter(|w| !w.is_empty()),
        features: FeatureCols::Vector(params.str_or("featuresCol", "features")?),
    })
}

const CLASSIFIER_OUTPUTS: [(&str, &str); 3] = [
    ("predictionCol", "prediction"),
    ("probabilityCol", "probability"),
    ("rawPredictionCol", "rawPrediction"),
];

fn logistic(params: &ParamMap) -> Result<LogisticRegression, MlError> {
    params.check_known(
        "LogisticRegression",
        &[
            "featuresCol",
            "labelCol",
            "weightCol",
            "predictionCol",
            "probabilityCol",
            "rawPredictionCol",
            "maxIter",
            "regParam",
            "elasticNetParam",
            "tol",
            "fitIntercept",
            "standardization",
            "threshold",
            "family",
            "aggregationDepth",
        ],
    )?;
    fixed_outputs("LogisticRegression", params, &CLASSIFIER_OUTPUTS)?;
    let d = LogisticRegression::default();
    Ok(LogisticRegression {
        max_iter: params.usize_or("maxIter", d.max_iter)?,
        reg_param: params.f64_or("regParam", d.reg_param)?,
        elastic_net_param: params.f64_or("elasticNetParam", d.elastic_net_param)?,
        tol: params.f64_or("tol", d.tol)?,
        fit_intercept: params.bool_or("fitIntercept", d.fit_intercept)?,
        standardization: params.bool_or("standardization", d.standardization)?,
        threshold: params.f64_or("threshold", d.threshold)?,
        family: match params
            .choice_or("family", "auto", &["auto", "binomial", "multinomial"])?
            .as_str()
        {
            "binomial" => Family::Binomial,
            "multinomial" => Family::Multinomial,
            _ => Family::Auto,
        },
        aggregation_depth: params.usize_or("aggregationDepth", 2)? as u32,
        columns: feature_spec(params, true)?,
    })
}

fn linear(params: &ParamMap) -> Result<LinearRegression, MlError> {
    params.check_known(
        "LinearRegression",
        &[
            "featuresCol",
            "labelCol",
            "weightCol",
            "predictionCol",
            "maxIter",
            "regParam",
            "elasticNetParam",
            "tol",
            "fitIntercept",
            "standardization",
            "solver",
            "aggregationDepth",
        ],
    )?;
    fixed_outputs(
        "LinearRegression",
        params,
        &[("predictionCol", "prediction")],
    )?;
    let d = LinearRegression::default();
    Ok(LinearRegression {
        max_iter: params.usize_or("maxIter", d.max_iter)?,
        reg_param: params.f64_or("regParam", d.reg_param)?,
        elastic_net_param: params.f64_or("elasticNetParam", d.elastic_net_param)?,
        tol: params.f64_or("tol", d.tol)?,
        fit_intercept: params.bool_or("fitIntercept", d.fit_intercept)?,
        standardization: params.bool_or("standardization", d.standardization)?,
        solver: match params
            .choice_or("solver", "auto", &["auto", "l-bfgs", "normal"])?
            .as_str()
        {
            "l-bfgs" => Solver::LBfgs,
            "normal" => Solver::Normal,
            _ => Solver::Auto,
        },
        aggregation_depth: params.usize_or("aggregationDepth", 2)? as u32,
        columns: feature_spec(params, true)?,
    })
}

fn kmeans(params: &ParamMap) -> Result<KMeans, MlError> {
    params.check_known(
        "KMeans",
        &[
            "featuresCol",
            "weightCol",
            "predictionCol",
            "k",
            "maxIter",
            "tol",
            "seed",
            "initMode",
            "initSteps",
            "distanceMeasure",
        ],
    )?;
    fixed_outputs("KMeans", params, &[("predictionCol", "prediction")])?;
    let d = KMeans::default();
    Ok(KMeans {
        k: params.usize_or("k", d.k)?,
        max_iter: params.usize_or("maxIter", d.max_iter)?,
        tol: params.f64_or("tol", d.tol)?,
        seed: params.seed_or("seed", d.seed)?,
        init_mode: match params
            .choice_or("initMode", "k-means||", &["k-means||", "random"])?
            .as_str()
        {
            "random" => InitMode::Random,
            _ => InitMode::KMeansParallel,
        },
        init_steps: params.usize_or("initSteps", d.init_steps)?,
        distance_measure: match params
            .choice_or("distanceMeasure", "euclidean", &["euclidean", "cosine"])?
            .as_str()
        {
            "cosine" => DistanceMeasure::Cosine,
            _ => DistanceMeasure::Euclidean,
        },
        columns: feature_spec(params, false)?,
    })
}

fn als(params: &ParamMap) -> Result<Als, MlError> {
    params.check_known(
        "ALS",
        &[
            "userCol",
            "itemCol",
            "ratingCol",
            "predictionCol",
            "rank",
            "maxIter",
            "regParam",
            "implicitPrefs",
            "alpha",
            "nonnegative",
            "numUserBlocks",
            "numItemBlocks",
            "seed",
            "coldStartStrategy",
        ],
    )?;
    fixed_outputs("ALS", params, &[("predictionCol", "prediction")])?;
    let d = Als::default();
    Ok(Als {
        rank: params.usize_or("rank", d.rank)?,
        max_iter: params.usize_or("maxIter", d.max_iter)?,
        reg_param: params.f64_or("regParam", d.reg_param)?,
        implicit_prefs: params.bool_or("implicitPrefs", d.implicit_prefs)?,
        alpha: params.f64_or("alpha", d.alpha)?,
        nonnegative: params.bool_or("nonnegative", d.nonnegative)?,
        num_user_blocks: params.usize_or("numUserBlocks", 10)? as u32,
        num_item_blocks: params.usize_or("numItemBlocks", 10)? as u32,
        seed: params.seed_or("seed", d.seed)?,
        cold_start_strategy: match params
            .choice_or("coldStartStrategy", "nan", &["nan", "drop"])?
            .as_str()
        {
            "drop" => ColdStartStrategy::Drop,
            _ => ColdStartStrategy::Nan,
        },
        columns: RatingColumns {
            user: params.str_or("userCol", "user")?,
            item: params.str_or("itemCol", "item")?,
            rating: params.str_or("ratingCol", "rating")?,
        },
    })
}

/// Declares a stage over an existing estimator and model: `$stage` (the estimator stage) and
/// `$fitted` (the model stage), Spark's `$class`, how parameters build the estimator
/// (`$build`: `fn(&ParamMap) -> Result<Estimator, MlError>`), the model's kind and the label
/// column it was trained on. The estimator needs `fit<F: Frame>(&self, &F) -> Result<Model,
/// MlError>`; the model `transform<F: Frame>`, `save(&Path)` and `load(&Path)` (the library's
/// conventions). Other modules of the crate use it as
/// `crate::pipeline::predictors::predictor_stage!`, then add one line to the registry.
macro_rules! predictor_stage {
    ($stage:ident, $fitted:ident, $class:literal, $est:ty, $model:ty, $build:path, $kind:expr,
     |$m:ident| $label:expr) => {
        #[doc = concat!("Spark's `", $class, "` as a pipeline stage.")]
        #[derive(Debug, Clone)]
        pub struct $stage {
            params: $crate::pipeline::params::ParamMap,
            /// The estimator the parameters describe.
            pub estimator: $est,
        }

        #[doc = concat!("A fitted `", $class, "` stage.")]
        #[derive(Debug, Clone)]
        pub struct $fitted {
            params: $crate::pipeline::params::ParamMap,
            /// The fitted model.
            pub model: $model,
        }

        impl $stage {
            /// The stage from Spark's parameters.
            pub fn new(
                params: $crate::pipeline::params::ParamMap,
            ) -> Result<Self, $crate::MlError> {
                Ok(Self {
                    estimator: $build(&params)?,
                    params,
                })
            }
        }

        impl $crate::pipeline::stage::Stage for $stage {
            fn class(&self) -> &'static str {
                $class
            }
            fn params(&self) -> &$crate::pipeline::params::ParamMap {
                &self.params
            }
        }

        impl $crate::pipeline::stage::Stage for $fitted {
            fn class(&self) -> &'static str {
                $class
            }
            fn params(&self) -> &$crate::pipeline::params::ParamMap {
                &self.params
            }
        }

        impl<F: $crate::frame::Frame> $crate::pipeline::stage::Estimator<F> for $stage {
            fn fit(
                &self,
                data: &F,
            ) -> Result<Box<dyn $crate::pipeline::stage::Model<F>>, $crate::MlError> {
                Ok(Box::new($fitted {
                    params: self.params.clone(),
                    model: self.estimator.fit(data)?,
                }))
            }
            fn is_iterative(&self) -> bool {
                true
            }
        }

        impl<F: $crate::frame::Frame> $crate::pipeline::stage::Model<F> for $fitted {
            fn transform(&self, data: &F) -> Result<F, $crate::MlError> {
                self.model.transform(data)
            }
            fn save(&self, dir: &std::path::Path) -> Result<(), $crate::MlError> {
                self.model.save(dir)
            }
            fn kind(&self) -> $crate::pipeline::stage::ModelKind {
                $kind
            }
            fn label_col(&self) -> Option<String> {
                let $m = &self.model;
                $label
            }
            fn as_any(&self) -> &dyn std::any::Any {
                self
            }
        }

        impl<F: $crate::frame::Frame> $crate::pipeline::stage::StageClass<F> for $stage {
            const CLASS: &'static str = $class;
            fn estimator(
                params: $crate::pipeline::params::ParamMap,
            ) -> Result<Box<dyn $crate::pipeline::stage::Estimator<F>>, $crate::MlError> {
                Ok(Box::new(Self::new(params)?))
            }
            fn load(
                dir: &std::path::Path,
                params: $crate::pipeline::params::ParamMap,
            ) -> Result<Box<dyn $crate::pipeline::stage::Model<F>>, $crate::MlError> {
                Ok(Box::new($fitted {
                    params,
                    model: <$model>::load(dir)?,
                }))
            }
        }
    };
}
// Re-exported for the crate's other estimators (trees, ...), which wrap themselves with it.
#[allow(unused_imports)]
pub(crate) use predictor_stage;

predictor_stage!(
    LogisticRegressionStage,
    LogisticRegressionStageModel,
    "LogisticRegression",
    LogisticRegression,
    LogisticRegressionModel,
    logistic,
    ModelKind::Classifier,
    |m| Some(m.params.columns.label.clone())
);
predictor_stage!(
    LinearRegressionStage,
    LinearRegressionStageModel,
    "LinearRegression",
    LinearRegression,
    LinearRegressionModel,
    linear,
    ModelKind::Regressor,
    |m| Some(m.params.columns.label.clone())
);
predictor_stage!(
    KMeansStage,
    KMeansStageModel,
    "KMeans",
    KMeans,
    KMeansModel,
    kmeans,
    ModelKind::Clusterer,
    |_m| None
);
predictor_stage!(
    AlsStage,
    AlsStageModel,
    "ALS",
    Als,
    AlsModel,
    als,
    ModelKind::Regressor,
    |m| Some(m.params.columns.rating.clone())
);
