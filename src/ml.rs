//! The ML library on distributed datasets: [`Dataset`] is a [`Frame`], so every estimator in
//! [`cinder_algorithms`] trains on the cluster.

use cinder_actors::data::aggregate::Aggregator;
use cinder_algorithms::{Frame, MlError};

use crate::Dataset;

impl Frame for Dataset {
    fn tree_aggregate<A: Aggregator>(&self, args: &A::Args, depth: u32) -> Result<A::Acc, MlError> {
        Dataset::tree_aggregate::<A>(self, args, depth).map_err(|e| MlError::Data(e.to_string()))
    }

    fn with_column(&self, name: &str, function: &str, args: Vec<u8>) -> Result<Self, MlError> {
        Ok(self.with_column_raw(name, function, args))
    }

    fn partition_by(&self, keys: &[&str], partitions: u32) -> Result<Self, MlError> {
        Ok(self
            .repartition_by(keys, partitions)
            .map_err(|e| MlError::Data(e.to_string()))?
            .cache())
    }

    fn map_batches<A: serde::Serialize>(&self, function: &str, args: &A) -> Result<Self, MlError> {
        Dataset::map_batches(self, function, args).map_err(|e| MlError::Data(e.to_string()))
    }

    fn cached(&self) -> Result<Self, MlError> {
        Ok(self.cache())
    }

    fn uncache(&self) -> Result<(), MlError> {
        self.unpersist().map_err(|e| MlError::Data(e.to_string()))
    }
}
