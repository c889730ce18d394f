//! [`Tuner`]: `CrossValidator` and `TrainValidationSplit` over a pipeline spec.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use super::folds::FoldArgs;
use crate::frame::Frame;
use crate::pipeline::evaluators::Evaluator;
use crate::pipeline::spec::{expand_grid, GridPoint, PipelineSpec, TuningSpec};
use crate::pipeline::workflow::{Pipeline, PipelineModel};
use crate::MlError;

/// How the data is split for validation.
#[derive(Debug, Clone, PartialEq)]
pub enum Validation {
    /// k-fold cross-validation.
    CrossValidator {
        /// `numFolds` (3).
        num_folds: usize,
        /// `seed`.
        seed: u64,
        /// `foldCol`: user-given folds `0..numFolds` instead of random ones.
        fold_col: Option<String>,
    },
    /// One random split.
    TrainValidationSplit {
        /// `trainRatio` (0.75).
        train_ratio: f64,
        /// `seed`.
        seed: u64,
    },
}

/// A tuning run's settings.
#[derive(Debug, Clone)]
pub struct Tuner {
    /// The splits.
    pub validation: Validation,
    /// `parallelism`: fits run at the same time (1).
    pub parallelism: usize,
    /// The evaluator that ranks the grid points.
    pub evaluator: Evaluator,
}

/// What tuning found.
pub struct TuningResult<F: Frame> {
    /// The grid, in order.
    pub points: Vec<GridPoint>,
    /// Spark's `avgMetrics` (for `TrainValidationSplit`, its `validationMetrics`), in grid
    /// order.
    pub avg_metrics: Vec<f64>,
    /// The best point (the first of equals, as Spark's `maxBy`/`minBy`).
    pub best_index: usize,
    /// The pipeline refitted on all the data with the best point (Spark's `bestModel`).
    pub best_model: PipelineModel<F>,
}

/// Spark's default seed of `CrossValidator`/`TrainValidationSplit` is the hash of the class
/// name; Cinder's is this fixed number.
const DEFAULT_SEED: u64 = 0x5eed;

impl Tuner {
    /// The tuner a spec's `tuning` section describes.
    pub fn from_spec(spec: &TuningSpec) -> Result<Self, MlError> {
        let p = &spec.params;
        let validation = match spec.class.as_str() {
            "CrossValidator" => {
                p.check_known(
                    "CrossValidator",
                    &[
                        "numFolds",
                        "seed",
                        "parallelism",
                        "foldCol",
                        "collectSubModels",
                    ],
                )?;
                let num_folds = p.usize_or("numFolds", 3)?;
                if num_folds < 2 {
                    return Err(MlError::Input(format!(
                        "CrossValidator: numFolds {num_folds} must be at least 2"
                    )));
                }
                Validation::CrossValidator {
                    num_folds,
                    seed: p.seed_or("seed", DEFAULT_SEED)?,
                    fold_col: p.opt_str("foldCol")?.filter(|c| !c.is_empty()),
                }
            }
            "TrainValidationSplit" => {
                p.check_known(
                    "TrainValidationSplit",
                    &["trainRatio", "seed", "parallelism", "collectSubModels"],
                )?;
                let train_ratio = p.f64_or("trainRatio", 0.75)?;
                if !(train_ratio > 0.0 && train_ratio < 1.0) {
                    return Err(MlError::Input(format!(
                        "TrainValidationSplit: trainRatio {train_ratio} must be in (0, 1)"
                    )));
                }
                Validation::TrainValidationSplit {
                    train_ratio,
                    seed: p.seed_or("seed", DEFAULT_SEED)?,
                }
            }
            other => {
                return Err(MlError::Input(format!(
                    "unknown tuning class {other:?} (CrossValidator or TrainValidationSplit)"
                )))
            }
        };
        let parallelism = p.usize_or("parallelism", 1)?;
        if parallelism == 0 {
            return Err(MlError::Input("parallelism must be at least 1".into()));
        }
        Ok(Self {
            validation,
            parallelism,
            evaluator: Evaluator::new(&spec.evaluator.class, spec.evaluator.params.clone())?,
        })
    }

    /// `(training, validation)` pairs, cached.
    fn splits<F: Frame + Clone>(&self, data: &F) -> Result<Vec<(F, F)>, MlError> {
        let pairs = match &self.validation {
            Validation::CrossValidator {
                num_folds,
                fold_col: Some(column),
                ..
            } => (0..*num_folds)
                .map(|fold| {
                    let args = |validation| FoldArgs {
                        column: column.clone(),
                        fold,
                        num_folds: *num_folds,
                        validation,
                    };
                    Ok((
                        data.map_batches("ml.tuning.fold", &args(false))?,
                        data.map_batches("ml.tuning.fold", &args(true))?,
                    ))
                })
                .collect::<Result<Vec<_>, MlError>>()?,
            Validation::CrossValidator {
                num_folds, seed, ..
            } => {
                let parts = data.random_split(&vec![1.0; *num_folds], *seed)?;
                let mut pairs = Vec::with_capacity(*num_folds);
                for i in 0..*num_folds {
                    let mut training: Option<F> = None;
                    for (j, part) in parts.iter().enumerate() {
                        if j != i {
                            training = Some(match training {
                                Some(t) => t.union(part)?,
                                None => part.clone(),
                            });
                        }
                    }
                    let training = training.expect("at least 2 folds");
                    let validation = parts[i].clone();
                    pairs.push((training, validation));
                }
                pairs
            }
            Validation::TrainValidationSplit { train_ratio, seed } => {
                let mut parts = data.random_split(&[*train_ratio, 1.0 - train_ratio], *seed)?;
                let validation = parts.pop().expect("two parts");
                vec![(parts.pop().expect("two parts"), validation)]
            }
        };
        Ok(pairs
            .into_iter()
            .map(|(t, v)| (t.cache(), v.cache()))
            .collect())
    }

    /// Fits and evaluates every grid point on every split, then refits the best on `data`.
    pub fn fit<F: Frame + Clone + Sync>(
        &self,
        spec: &PipelineSpec,
        data: &F,
    ) -> Result<TuningResult<F>, MlError> {
        let grid = spec
            .tuning
            .as_ref()
            .map(|t| expand_grid(&t.param_grid))
            .transpose()?
            .unwrap_or_else(|| vec![Vec::new()]);
        // Every point's stages are checked before any job runs.
        for point in &grid {
            Pipeline::<F>::from_specs(&spec.stages_with(point))?;
        }
        let splits = self.splits(data)?;
        let items: Vec<(usize, usize)> = (0..splits.len())
            .flat_map(|s| (0..grid.len()).map(move |g| (s, g)))
            .collect();
        let results: Mutex<Vec<Option<Result<f64, MlError>>>> =
            Mutex::new((0..items.len()).map(|_| None).collect());
        let next = AtomicUsize::new(0);
        let run = |(s, g): (usize, usize)| -> Result<f64, MlError> {
            let (training, validation) = &splits[s];
            let model = Pipeline::<F>::from_specs(&spec.stages_with(&grid[g]))?.fit(training)?;
            self.evaluator.evaluate(&model.transform(validation)?)
        };
        std::thread::scope(|scope| {
            for _ in 0..self.parallelism.min(items.len()).max(1) {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= items.len() {
                        break;
                    }
                    let result = run(items[i]);
                    let failed = result.is_err();
                    results.lock().expect("results lock")[i] = Some(result);
                    if failed {
                        next.store(items.len(), Ordering::SeqCst);
                    }
                });
            }
        });
        for (t, v) in &splits {
            t.unpersist()?;
            v.unpersist()?;
        }
        let results = results.into_inner().expect("results lock");
        let mut sums = vec![0.0; grid.len()];
        for (i, result) in results.into_iter().enumerate() {
            match result {
                Some(Ok(metric)) => sums[items[i].1] += metric,
                Some(Err(e)) => {
                    return Err(MlError::Input(format!(
                        "split {} of grid point {}: {e}",
                        items[i].0, items[i].1
                    )))
                }
                None => {}
            }
        }
        let avg_metrics: Vec<f64> = sums.iter().map(|s| s / splits.len() as f64).collect();
        if let Some(i) = avg_metrics.iter().position(|m| m.is_nan()) {
            return Err(MlError::Input(format!(
                "grid point {i}: the {} is NaN",
                self.evaluator.metric_name()
            )));
        }
        let mut best_index = 0;
        for (i, m) in avg_metrics.iter().enumerate() {
            let better = if self.evaluator.is_larger_better() {
                *m > avg_metrics[best_index]
            } else {
                *m < avg_metrics[best_index]
            };
            if better {
                best_index = i;
            }
        }
        let best_model =
            Pipeline::<F>::from_specs(&spec.stages_with(&grid[best_index]))?.fit(data)?;
        Ok(TuningResult {
            points: grid,
            avg_metrics,
            best_index,
            best_model,
        })
    }
}
