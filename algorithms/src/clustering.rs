//! Clustering: k-means (`k-means||` and `random` initialization, Euclidean and cosine
//! distances), bisecting k-means, Gaussian mixtures (EM), and the silhouette evaluator.

pub mod bisecting;
pub mod bisecting_kernel;
pub mod gaussian_mixture;
pub mod gaussian_mixture_kernel;
pub mod kmeans;
pub mod kmeans_kernel;
pub mod silhouette;

pub use bisecting::{BisectingKMeans, BisectingKMeansModel};
pub use gaussian_mixture::{GaussianMixture, GaussianMixtureModel};
pub use kmeans::{DistanceMeasure, InitMode, KMeans, KMeansModel};
pub use silhouette::ClusteringEvaluator;
