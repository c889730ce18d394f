//! Aggregators: typed folds over partitions whose partial results travel as bytes and are
//! combined in partition order, so results never depend on which worker computed what.

use arrow_array::RecordBatch;
use serde::{de::DeserializeOwned, Serialize};

use crate::wire::TaskError;

/// A fold over partitions: `zero`, then `seq` per partition, then `comb` of partials in
/// partition order. `comb` must be associative for `tree_aggregate` to equal `aggregate`.
pub trait Aggregator: 'static {
    /// Stable registration name.
    const NAME: &'static str;
    /// Arguments shipped with the job.
    type Args: Serialize + DeserializeOwned;
    /// The accumulator.
    type Acc: Serialize + DeserializeOwned;
    /// The empty accumulator.
    fn zero(args: &Self::Args) -> Self::Acc;
    /// Folds one partition into an accumulator.
    fn seq(acc: Self::Acc, batch: &RecordBatch, args: &Self::Args) -> Result<Self::Acc, String>;
    /// Combines two partials.
    fn comb(a: Self::Acc, b: Self::Acc, args: &Self::Args) -> Self::Acc;
}

/// Byte-level combine: `(partials in order, args) -> combined`.
pub type CombineFn = fn(&[Vec<u8>], &[u8]) -> Result<Vec<u8>, String>;

/// Byte-level entry points of a registered aggregator.
pub struct AggregateFunction {
    /// Stable name.
    pub name: &'static str,
    /// `(batch, args) -> partial` for one partition.
    pub partial: fn(&RecordBatch, &[u8]) -> Result<Vec<u8>, String>,
    /// `(partials in order, args) -> combined`.
    pub combine: CombineFn,
}

inventory::collect!(AggregateFunction);

/// Looks up an aggregator.
pub fn aggregate_function(name: &str) -> Result<&'static AggregateFunction, TaskError> {
    inventory::iter::<AggregateFunction>
        .into_iter()
        .find(|f| f.name == name)
        .ok_or_else(|| TaskError::MissingFunction {
            name: name.to_string(),
            kind: "aggregate".into(),
        })
}

fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, String> {
    rmp_serde::from_slice(bytes).map_err(|e| format!("cannot decode {what}: {e}"))
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, String> {
    rmp_serde::to_vec_named(value).map_err(|e| e.to_string())
}

/// Byte-level `partial` of aggregator `A` (used by [`crate::register_aggregator`]).
pub fn partial_shim<A: Aggregator>(batch: &RecordBatch, args: &[u8]) -> Result<Vec<u8>, String> {
    let args: A::Args = decode(args, "aggregator arguments")?;
    let acc = A::seq(A::zero(&args), batch, &args)?;
    encode(&acc)
}

/// Byte-level `combine` of aggregator `A`: folds partials left to right, in the given order.
pub fn combine_shim<A: Aggregator>(partials: &[Vec<u8>], args: &[u8]) -> Result<Vec<u8>, String> {
    let args: A::Args = decode(args, "aggregator arguments")?;
    let mut acc = A::zero(&args);
    for partial in partials {
        acc = A::comb(acc, decode(partial, "partial")?, &args);
    }
    encode(&acc)
}

/// Registers an [`Aggregator`] type: `register_aggregator!(SumColumns);`.
#[macro_export]
macro_rules! register_aggregator {
    ($agg:ty) => {
        $crate::inventory::submit! {
            $crate::data::aggregate::AggregateFunction {
                name: <$agg as $crate::data::aggregate::Aggregator>::NAME,
                partial: $crate::data::aggregate::partial_shim::<$agg>,
                combine: $crate::data::aggregate::combine_shim::<$agg>,
            }
        }
    };
}
