//! Clustering: k-means (`k-means||` and `random` initialization, Euclidean and cosine
//! distances) and the silhouette evaluator.

pub mod kmeans;
pub mod kmeans_kernel;
pub mod silhouette;

pub use kmeans::{DistanceMeasure, InitMode, KMeans, KMeansModel};
pub use silhouette::ClusteringEvaluator;
