//! Command-line arguments of `cinder train` and `cinder predict`: Spark's parameter names in
//! kebab-case.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

/// Algorithms `cinder train` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Algorithm {
    /// Logistic regression (binomial or multinomial).
    LogisticRegression,
    /// Linear regression.
    LinearRegression,
    /// K-means clustering.
    Kmeans,
    /// Alternating least squares (collaborative filtering).
    Als,
    /// Decision tree classifier (Spark's DecisionTreeClassifier).
    DecisionTreeClassifier,
    /// Decision tree regressor (Spark's DecisionTreeRegressor).
    DecisionTreeRegressor,
    /// Random forest classifier (Spark's RandomForestClassifier).
    RandomForestClassifier,
    /// Random forest regressor (Spark's RandomForestRegressor).
    RandomForestRegressor,
    /// Gradient-boosted trees, binary classification (Spark's GBTClassifier).
    GbtClassifier,
    /// Gradient-boosted trees, regression (Spark's GBTRegressor).
    GbtRegressor,
    /// Naive Bayes (multinomial, Bernoulli, Gaussian, complement).
    NaiveBayes,
    /// Linear support vector classifier (hinge loss).
    LinearSvc,
    /// Generalized linear regression (IRLS).
    GeneralizedLinearRegression,
    /// Isotonic regression (parallel pool-adjacent-violators).
    IsotonicRegression,
    /// Bisecting k-means (divisive hierarchical clustering).
    BisectingKmeans,
    /// Gaussian mixture (EM, full covariances).
    GaussianMixture,
    /// One-vs-rest over a binary classifier (--classifier).
    OneVsRest,
    /// Multilayer perceptron classifier (sigmoid hidden layers, softmax output).
    MultilayerPerceptronClassifier,
    /// Factorization machine classifier (logistic loss, labels 0/1).
    FmClassifier,
    /// Factorization machine regressor (squared error).
    FmRegressor,
}

/// Input formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DataFormat {
    /// `label index:value ...`.
    Libsvm,
    /// CSV with a header.
    Csv,
    /// Parquet file or directory.
    Parquet,
    /// `user::item::rating::time` (Spark's MovieLens sample).
    Movielens,
}

/// What to do with rows holding a non-finite value (Spark's `handleInvalid`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HandleInvalid {
    /// Fail, naming the file, the column and the value.
    Error,
    /// Drop such rows before training.
    Skip,
}

/// Where to run.
#[derive(Debug, Clone, Args)]
pub struct Placement {
    /// Worker processes of the embedded cluster (at least 1; when no --master is given).
    #[arg(long, default_value_t = 2, value_name = "N", value_parser = crate::cli::parse_count::<usize>)]
    pub workers: usize,
    /// Credentials of a started cluster (with --master).
    #[arg(long, env = "CINDER_CLUSTER", value_name = "DIR", requires = "master")]
    pub cluster: Option<PathBuf>,
    /// Master of a started cluster.
    #[arg(long, env = "CINDER_MASTER", value_name = "ADDR", requires = "cluster")]
    pub master: Option<String>,
    /// How long to keep trying to reach a master that stopped answering (restarted, paused)
    /// before failing; the running job is resubmitted when it answers (e.g. 60s, 500ms).
    #[arg(
        long,
        env = "CINDER_MASTER_TIMEOUT",
        default_value = "60s",
        value_name = "DURATION"
    )]
    pub master_timeout: crate::duration::HumanDuration,
}

/// Where the data is and how to read it.
#[derive(Debug, Clone, Args)]
pub struct DataArgs {
    /// Input file (or Parquet directory), readable by every worker.
    #[arg(long, value_name = "PATH")]
    pub data: PathBuf,
    /// Input format [default: from the extension; libsvm otherwise].
    #[arg(long, value_enum)]
    pub format: Option<DataFormat>,
    /// Partitions to split the input into [default: one per 16 MiB of input, at least 4;
    /// never the cluster's size, so results are the same bits on any cluster].
    #[arg(long, value_name = "N")]
    pub partitions: Option<u32>,
    /// CSV/Parquet label column [default: the first column].
    #[arg(long, value_name = "NAME")]
    pub label_col: Option<String>,
    /// CSV/Parquet feature columns, comma separated [default: all columns but the label].
    #[arg(long, value_name = "A,B,...", value_delimiter = ',')]
    pub features_cols: Option<Vec<String>>,
    /// Instance weight column (Spark's weightCol).
    #[arg(long, value_name = "NAME")]
    pub weight_col: Option<String>,
    /// ALS user column.
    #[arg(long, default_value = "user", value_name = "NAME")]
    pub user_col: String,
    /// ALS item column.
    #[arg(long, default_value = "item", value_name = "NAME")]
    pub item_col: String,
    /// ALS rating column.
    #[arg(long, default_value = "rating", value_name = "NAME")]
    pub rating_col: String,
}

/// `cinder train ALGO ...` or `cinder train --pipeline SPEC.json ...`.
#[derive(Debug, Clone, Args)]
pub struct TrainArgs {
    /// The algorithm (omitted with --pipeline).
    #[arg(
        value_enum,
        required_unless_present = "pipeline",
        conflicts_with = "pipeline"
    )]
    pub algorithm: Option<Algorithm>,
    /// Fit the pipeline this JSON spec describes (Spark's class and parameter names; see
    /// the README's "Pipelines").
    #[arg(long, value_name = "SPEC.json")]
    pub pipeline: Option<PathBuf>,
    /// With --pipeline, CSV column types that override inference: `name:type,...` with type
    /// string, double, long or boolean (saved with the pipeline).
    #[arg(long, value_name = "NAME:TYPE,...", requires = "pipeline")]
    pub schema: Option<String>,
    #[command(flatten)]
    /// Input.
    pub input: DataArgs,
    #[command(flatten)]
    /// Cluster.
    pub placement: Placement,
    /// Save the model to this directory (must not exist).
    #[arg(long, value_name = "MODEL_DIR")]
    pub out: Option<PathBuf>,
    /// Print exactly one JSON object on stdout (progress goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// Tree parameters (decision trees, random forests, GBTs).
    #[command(flatten)]
    pub trees: crate::cli_trees::TreeArgs,
    /// maxIter [default: 100; k-means 20; ALS 10; GBTs 20].
    #[arg(long)]
    pub max_iter: Option<usize>,
    /// regParam [default: 0; ALS 0.1].
    #[arg(long, allow_hyphen_values = true)]
    pub reg_param: Option<f64>,
    /// elasticNetParam (0 = L2, 1 = L1).
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
    pub elastic_net_param: f64,
    /// tol [default: 1e-6; k-means 1e-4].
    #[arg(long, allow_hyphen_values = true)]
    pub tol: Option<f64>,
    /// fitIntercept.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub fit_intercept: bool,
    /// standardization.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub standardization: bool,
    /// threshold: on P(label = 1) for binomial logistic regression [default: 0.5]; on the
    /// margin for linear SVC [default: 0].
    #[arg(long, allow_hyphen_values = true)]
    pub threshold: Option<f64>,
    /// family: auto, binomial or multinomial (logistic regression); gaussian, binomial,
    /// poisson, gamma or tweedie (generalized linear regression, where auto is gaussian).
    #[arg(long, default_value = "auto", value_parser = [
        "auto", "binomial", "multinomial", "gaussian", "poisson", "gamma", "tweedie",
    ])]
    pub family: String,
    /// solver: auto, l-bfgs or normal (linear regression); auto, l-bfgs or gd (multilayer
    /// perceptron, where auto is l-bfgs); auto, adamW or gd (factorization machines, where
    /// auto is adamW).
    #[arg(long, default_value = "auto", value_parser = ["auto", "l-bfgs", "normal", "gd", "adamW"])]
    pub solver: String,
    /// k (k-means [default: 2]; bisecting k-means [default: 4]).
    #[arg(long)]
    pub k: Option<usize>,
    /// initMode (k-means): k-means|| or random.
    #[arg(long, default_value = "k-means||", value_parser = ["k-means||", "random"])]
    pub init_mode: String,
    /// initSteps (k-means).
    #[arg(long, default_value_t = 2)]
    pub init_steps: usize,
    /// distanceMeasure (k-means): euclidean or cosine.
    #[arg(long, default_value = "euclidean", value_parser = ["euclidean", "cosine"])]
    pub distance_measure: String,
    /// seed (k-means, ALS, trees).
    #[arg(long, default_value_t = 0x5eed)]
    pub seed: u64,
    /// rank (ALS).
    #[arg(long, default_value_t = 10)]
    pub rank: usize,
    /// implicitPrefs (ALS).
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set)]
    pub implicit_prefs: bool,
    /// alpha (ALS, implicit).
    #[arg(long, default_value_t = 1.0, allow_hyphen_values = true)]
    pub alpha: f64,
    /// nonnegative (ALS).
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set)]
    pub nonnegative: bool,
    /// Evaluate the model on this file too (same format and columns as --data); the metrics
    /// go to `test_metrics` in --json.
    #[arg(long, value_name = "PATH")]
    pub test_data: Option<PathBuf>,
    /// handleInvalid: what to do with rows holding NaN or infinity.
    #[arg(long, value_enum, default_value = "error")]
    pub handle_invalid: HandleInvalid,
    /// Parameters of the estimators of issue 17 (naive Bayes, linear SVC, ...).
    #[command(flatten)]
    pub estimators: crate::cli_estimators::EstimatorArgs,
}

impl TrainArgs {
    /// The algorithm named on the command line. Only for code that runs once one is named
    /// (single-algorithm training); with `--pipeline` there is none, and this panics.
    pub fn named_algorithm(&self) -> Algorithm {
        self.algorithm
            .expect("single-algorithm code reached without an algorithm (a --pipeline run)")
    }
}

/// `cinder predict --model DIR --data PATH [--out PATH]`.
#[derive(Debug, Clone, Args)]
pub struct PredictArgs {
    /// A model directory written by `cinder train --out`.
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,
    #[command(flatten)]
    /// Input.
    pub input: DataArgs,
    #[command(flatten)]
    /// Cluster.
    pub placement: Placement,
    /// Write predictions here (a directory; Parquet, or CSV when the name ends in .csv);
    /// without it, print the same columns as CSV with a header and a row id `row`.
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
    /// ALS: what to do with users or items the model never saw (`nan` keeps the row with a
    /// NaN prediction, `drop` leaves it out) [default: the model's].
    #[arg(long, value_parser = ["nan", "drop"])]
    pub cold_start_strategy: Option<String>,
}

/// `cinder evaluate --model DIR --data PATH [--json]`.
#[derive(Debug, Clone, Args)]
pub struct EvaluateArgs {
    /// A model directory written by `cinder train --out`.
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,
    #[command(flatten)]
    /// Input.
    pub input: DataArgs,
    #[command(flatten)]
    /// Cluster.
    pub placement: Placement,
    /// Print exactly one JSON object: `{"algorithm", "metrics"}`.
    #[arg(long)]
    pub json: bool,
}

/// `cinder recommend --model DIR --users all|ID,ID,... --k K [--out PATH]`.
#[derive(Debug, Clone, Args)]
pub struct RecommendArgs {
    /// An ALS model directory written by `cinder train als --out`.
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,
    /// `all` (Spark's recommendForAllUsers) or comma-separated user ids
    /// (recommendForUserSubset).
    #[arg(long, default_value = "all", value_name = "all|ID,ID,...")]
    pub users: String,
    /// Items per user.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub k: u32,
    #[command(flatten)]
    /// Cluster.
    pub placement: Placement,
    /// Write `user,item,rating` rows here (a directory; Parquet, or CSV when the name ends in
    /// .csv); without it, print them as CSV lines.
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
}
