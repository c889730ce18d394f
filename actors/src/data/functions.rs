//! Registered functions: the same-binary model. A function is registered under a stable name
//! at compile time (with [`inventory`]); tasks refer to it by name, and a worker started from
//! the same executable finds it. A name the worker lacks fails the task with
//! [`TaskError::MissingFunction`], never a panic.

use arrow_array::{ArrayRef, BooleanArray, RecordBatch};

use crate::wire::TaskError;

/// Signature of a batch map: `(batch, args) -> batch`.
pub type MapFn = fn(&RecordBatch, &[u8]) -> Result<RecordBatch, String>;
/// Signature of a row predicate: `(batch, args) -> keep mask`.
pub type FilterFn = fn(&RecordBatch, &[u8]) -> Result<BooleanArray, String>;
/// Signature of a column function: `(batch, args) -> new column`.
pub type ColumnFn = fn(&RecordBatch, &[u8]) -> Result<ArrayRef, String>;
/// Signature of a source: `(partition, partitions, args) -> batch`.
pub type GenerateFn = fn(u32, u32, &[u8]) -> Result<RecordBatch, String>;

/// A registered batch map.
pub struct MapFunction {
    /// Stable name.
    pub name: &'static str,
    /// The function.
    pub func: MapFn,
}

/// A registered predicate.
pub struct FilterFunction {
    /// Stable name.
    pub name: &'static str,
    /// The function.
    pub func: FilterFn,
}

/// A registered deterministic source.
pub struct GenerateFunction {
    /// Stable name.
    pub name: &'static str,
    /// The function.
    pub func: GenerateFn,
}

/// A registered column function (for `with_column`).
pub struct ColumnFunction {
    /// Stable name.
    pub name: &'static str,
    /// The function.
    pub func: ColumnFn,
}

inventory::collect!(ColumnFunction);
inventory::collect!(MapFunction);
inventory::collect!(FilterFunction);
inventory::collect!(GenerateFunction);

fn missing(name: &str, kind: &str) -> TaskError {
    TaskError::MissingFunction {
        name: name.to_string(),
        kind: kind.to_string(),
    }
}

/// Looks up a map function.
pub fn map_function(name: &str) -> Result<MapFn, TaskError> {
    inventory::iter::<MapFunction>
        .into_iter()
        .find(|f| f.name == name)
        .map(|f| f.func)
        .ok_or_else(|| missing(name, "map"))
}

/// Looks up a predicate.
pub fn filter_function(name: &str) -> Result<FilterFn, TaskError> {
    inventory::iter::<FilterFunction>
        .into_iter()
        .find(|f| f.name == name)
        .map(|f| f.func)
        .ok_or_else(|| missing(name, "filter"))
}

/// Looks up a column function.
pub fn column_function(name: &str) -> Result<ColumnFn, TaskError> {
    inventory::iter::<ColumnFunction>
        .into_iter()
        .find(|f| f.name == name)
        .map(|f| f.func)
        .ok_or_else(|| missing(name, "column"))
}

/// Looks up a generator.
pub fn generate_function(name: &str) -> Result<GenerateFn, TaskError> {
    inventory::iter::<GenerateFunction>
        .into_iter()
        .find(|f| f.name == name)
        .map(|f| f.func)
        .ok_or_else(|| missing(name, "generate"))
}

/// Registers a batch map under a name: `register_map!("my.double", double);` where
/// `fn double(batch: &RecordBatch, args: &[u8]) -> Result<RecordBatch, String>`.
#[macro_export]
macro_rules! register_map {
    ($name:expr, $func:path) => {
        $crate::inventory::submit! {
            $crate::data::functions::MapFunction { name: $name, func: $func }
        }
    };
}

/// Registers a predicate: `register_filter!("my.positive", positive);`.
#[macro_export]
macro_rules! register_filter {
    ($name:expr, $func:path) => {
        $crate::inventory::submit! {
            $crate::data::functions::FilterFunction { name: $name, func: $func }
        }
    };
}

/// Registers a generator: `register_generator!("my.source", source);`.
#[macro_export]
macro_rules! register_generator {
    ($name:expr, $func:path) => {
        $crate::inventory::submit! {
            $crate::data::functions::GenerateFunction { name: $name, func: $func }
        }
    };
}

/// Registers a column function: `register_column!("my.ratio", ratio);`.
#[macro_export]
macro_rules! register_column {
    ($name:expr, $func:path) => {
        $crate::inventory::submit! {
            $crate::data::functions::ColumnFunction { name: $name, func: $func }
        }
    };
}
