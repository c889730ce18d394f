//! [`Frame`]: what algorithms need from a dataset, and [`LocalFrame`], an in-process
//! implementation over record batches (the same kernels, no cluster).

use arrow_array::{ArrayRef, RecordBatch};
use cinder_actors::data::aggregate::{aggregate_function, Aggregator};
use cinder_actors::data::functions::column_function;

use serde::Serialize;

use crate::MlError;

/// A partitioned dataset algorithms can fold and extend.
pub trait Frame: Sized {
    /// Folds every partition with aggregator `A` and combines the partials in partition order
    /// (in a tree of the given depth).
    fn tree_aggregate<A: Aggregator>(&self, args: &A::Args, depth: u32) -> Result<A::Acc, MlError>;

    /// The dataset with a column added by a registered column function.
    fn with_column(&self, name: &str, function: &str, args: Vec<u8>) -> Result<Self, MlError>;

    /// The rows redistributed by a stable hash of the key columns (equal keys together),
    /// kept in memory for repeated passes.
    fn partition_by(&self, keys: &[&str], partitions: u32) -> Result<Self, MlError>;

    /// The dataset with every partition replaced by a registered batch map's output
    /// (`register_map!`): pipeline stages add columns (with field metadata) and drop rows.
    fn map_batches<A: Serialize + ?Sized>(&self, function: &str, args: &A)
        -> Result<Self, MlError>;

    /// Splits the rows at random into parts sized by `weights`, deterministic per `seed`
    /// (every row in exactly one part); cross-validation's folds.
    fn random_split(&self, weights: &[f64], seed: u64) -> Result<Vec<Self>, MlError>;

    /// The partitions of `self` followed by those of `other`.
    fn union(&self, other: &Self) -> Result<Self, MlError>;

    /// The same rows, kept in memory after the first pass (for iterative estimators).
    fn cache(&self) -> Self;

    /// Releases what [`Frame::cache`] kept (a no-op for data that was not cached).
    fn unpersist(&self) -> Result<(), MlError>;

    /// [`Frame::cache`] as a fallible call (the tree learner's spelling).
    fn cached(&self) -> Result<Self, MlError> {
        Ok(self.cache())
    }

    /// [`Frame::unpersist`] (the tree learner's spelling).
    fn uncache(&self) -> Result<(), MlError> {
        self.unpersist()
    }
}

/// Record batches in process, one per partition.
#[derive(Debug, Clone)]
pub struct LocalFrame {
    /// The partitions.
    pub batches: Vec<RecordBatch>,
}

impl Frame for LocalFrame {
    fn tree_aggregate<A: Aggregator>(
        &self,
        args: &A::Args,
        _depth: u32,
    ) -> Result<A::Acc, MlError> {
        let bytes = rmp_serde::to_vec_named(args).map_err(|e| MlError::Data(e.to_string()))?;
        let agg = aggregate_function(A::NAME).map_err(|e| MlError::Data(e.to_string()))?;
        let partials = self
            .batches
            .iter()
            .map(|b| (agg.partial)(b, &bytes))
            .collect::<Result<Vec<_>, _>>()
            .map_err(MlError::Data)?;
        let combined = (agg.combine)(&partials, &bytes).map_err(MlError::Data)?;
        rmp_serde::from_slice(&combined).map_err(|e| MlError::Data(e.to_string()))
    }

    fn with_column(&self, name: &str, function: &str, args: Vec<u8>) -> Result<Self, MlError> {
        let func = column_function(function).map_err(|e| MlError::Data(e.to_string()))?;
        let batches = self
            .batches
            .iter()
            .map(|b| {
                let column: ArrayRef = func(b, &args).map_err(MlError::Data)?;
                cinder_actors::data::exec::with_column(b, name, column).map_err(MlError::Data)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { batches })
    }

    fn partition_by(&self, keys: &[&str], partitions: u32) -> Result<Self, MlError> {
        let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        let mut buckets: Vec<Vec<RecordBatch>> = vec![Vec::new(); partitions.max(1) as usize];
        for (m, batch) in self.batches.iter().enumerate() {
            let parts =
                cinder_actors::data::relational::bucketize(batch, &keys, partitions, m as u32)
                    .map_err(MlError::Data)?;
            for (r, part) in parts.into_iter().enumerate() {
                buckets[r].push(part);
            }
        }
        let batches = buckets
            .into_iter()
            .map(|parts| {
                let schema = parts[0].schema();
                arrow_select::concat::concat_batches(&schema, &parts)
                    .map_err(|e| MlError::Data(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { batches })
    }

    fn map_batches<A: Serialize + ?Sized>(
        &self,
        function: &str,
        args: &A,
    ) -> Result<Self, MlError> {
        let bytes = rmp_serde::to_vec_named(args).map_err(|e| MlError::Data(e.to_string()))?;
        let func = cinder_actors::data::functions::map_function(function)
            .map_err(|e| MlError::Data(e.to_string()))?;
        let batches = self
            .batches
            .iter()
            .map(|b| func(b, &bytes).map_err(MlError::Data))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { batches })
    }

    fn random_split(&self, weights: &[f64], seed: u64) -> Result<Vec<Self>, MlError> {
        let total: f64 = weights.iter().sum();
        if weights.is_empty() || weights.iter().any(|w| !w.is_finite() || *w < 0.0) || total <= 0.0
        {
            return Err(MlError::Input(format!(
                "random_split weights {weights:?} must be non-negative with a positive sum"
            )));
        }
        let mut lower = 0.0;
        let mut parts = Vec::with_capacity(weights.len());
        for (i, w) in weights.iter().enumerate() {
            let upper = if i + 1 == weights.len() {
                1.0
            } else {
                lower + w / total
            };
            let batches = self
                .batches
                .iter()
                .enumerate()
                .map(|(p, b)| {
                    let mask = cinder_actors::data::exec::sample_mask(
                        b.num_rows(),
                        lower,
                        upper,
                        seed,
                        p as u32,
                    );
                    arrow_select::filter::filter_record_batch(b, &mask)
                        .map_err(|e| MlError::Data(e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            parts.push(Self { batches });
            lower = upper;
        }
        Ok(parts)
    }

    fn union(&self, other: &Self) -> Result<Self, MlError> {
        let mut batches = self.batches.clone();
        batches.extend(other.batches.iter().cloned());
        Ok(Self { batches })
    }

    fn cache(&self) -> Self {
        self.clone()
    }

    fn unpersist(&self) -> Result<(), MlError> {
        Ok(())
    }
}
