//! Classification: logistic regression (binomial and multinomial), naive Bayes, linear SVC, one-vs-rest, multilayer perceptron.

pub mod linear_svc;
pub mod linear_svc_kernel;
pub mod log_loss;
pub mod logistic;
pub mod logistic_kernel;
pub mod mlp;
pub mod mlp_kernel;
pub mod naive_bayes;
pub mod naive_bayes_kernel;
pub mod one_vs_rest;

pub use linear_svc::{LinearSvc, LinearSvcModel};
pub use logistic::{Family, LogisticRegression, LogisticRegressionModel};
pub use mlp::{MlpSolver, MultilayerPerceptronClassifier, MultilayerPerceptronModel};
pub use naive_bayes::{ModelType, NaiveBayes, NaiveBayesModel};
pub use one_vs_rest::{BinaryClassifier, OneVsRest, OneVsRestModel};
