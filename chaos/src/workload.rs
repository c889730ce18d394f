//! The workloads a scenario runs: each is prepared (data generated and cached, untimed), then
//! run while faults are injected, and reduces its result to an [`Outcome`] compared bit for bit
//! with the fault-free run.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use arrow_array::RecordBatch;
use cinder::builtin::{ColumnSums, FloorTimesArgs, RangeArgs, SumF64};
use cinder::{AggFunc, AggSpec, Context, Dataset, FileFormat, LibSvmOptions, StorageLevel};
use cinder_algorithms::classification::LogisticRegression;
use cinder_algorithms::clustering::KMeans;
use serde::{Deserialize, Serialize};

use crate::rng::fnv1a;

/// What a scenario computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    /// A cached range dataset scanned by a slow aggregation, then a full pass over the cache.
    CachedScan,
    /// Repartition, then group by a derived key and aggregate (two shuffles).
    Shuffle,
    /// A cached dataset several times the workers' memory budgets (spills to sled), scanned.
    Spill,
    /// Logistic regression (L-BFGS) on the sample LibSVM data.
    LogReg,
    /// K-means on the sample LibSVM data.
    KMeans,
    /// A slow Parquet write (atomic: all files and `_SUCCESS`, or nothing).
    Write,
}

impl Workload {
    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Workload::CachedScan => "cached-scan",
            Workload::Shuffle => "shuffle",
            Workload::Spill => "spill",
            Workload::LogReg => "logreg",
            Workload::KMeans => "kmeans",
            Workload::Write => "write",
        }
    }

    /// Every workload.
    pub const ALL: [Workload; 6] = [
        Workload::CachedScan,
        Workload::Shuffle,
        Workload::Spill,
        Workload::LogReg,
        Workload::KMeans,
        Workload::Write,
    ];

    /// The workload named `name` (as in reports).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|w| w.name() == name)
    }

    /// Memory budget per worker for this workload.
    pub fn memory_bytes(self) -> u64 {
        match self {
            // 12 partitions of ~960 KB against 3 workers of 2 MiB: about twice the budgets.
            Workload::Spill => 2 << 20,
            _ => 256 << 20,
        }
    }

    /// Generates and caches the data (untimed), returning what [`Prepared::run`] needs.
    pub fn prepare(self, cx: &Context, seed: u64) -> Result<Prepared> {
        let range = |partitions: u32, rows: u64| -> Result<Dataset> {
            let args = RangeArgs {
                rows_per_partition: rows,
                columns: 3,
                seed,
            };
            Ok(cx.generate("cinder.range", &args, partitions)?)
        };
        let prepared = match self {
            Workload::CachedScan => {
                let cached = range(24, 5_000)?.cache();
                cached.count()?;
                Prepared {
                    workload: self,
                    data: cached.clone(),
                    cached: Some(cached),
                    output: None,
                }
            }
            Workload::Shuffle => Prepared {
                workload: self,
                data: range(12, 4_000)?,
                cached: None,
                output: None,
            },
            Workload::Write => Prepared {
                workload: self,
                data: range(2, 2_000)?,
                cached: None,
                output: None,
            },
            Workload::Spill => {
                let cached = range(12, 40_000)?.persist(StorageLevel::MemoryAndDisk, 1);
                cached.count()?;
                Prepared {
                    workload: self,
                    data: cached.clone(),
                    cached: Some(cached),
                    output: None,
                }
            }
            Workload::LogReg | Workload::KMeans => {
                let data = cx
                    .read_libsvm(
                        sample_data(),
                        LibSvmOptions {
                            num_features: None,
                            partitions: Some(6),
                        },
                    )?
                    .cache();
                data.count()?;
                Prepared {
                    workload: self,
                    data: data.clone(),
                    cached: Some(data),
                    output: None,
                }
            }
        };
        Ok(prepared)
    }
}

/// The sample LibSVM data of the repository.
pub fn sample_data() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../data/sample_libsvm_data.txt"
    ))
}

/// A prepared workload; `run` is the timed part during which faults land.
#[derive(Clone)]
pub struct Prepared {
    /// Which workload.
    pub workload: Workload,
    /// The input dataset.
    pub data: Dataset,
    /// The persisted dataset, if the workload caches one (its blocks are
    /// `rdd_<app>_<dataset>_<partition>`).
    pub cached: Option<Dataset>,
    /// Where [`Workload::Write`] writes (set by the harness).
    pub output: Option<PathBuf>,
}

/// A result reduced to what is compared: row count, a checksum and the exact bits of every
/// number in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// Rows the result covers (input rows for aggregations, output rows for tables).
    pub rows: u64,
    /// FNV-1a over the result's bytes.
    pub checksum: u64,
    /// Every floating-point number of the result, as bits.
    pub bits: Vec<u64>,
}

impl Outcome {
    fn from_bits(rows: u64, bits: Vec<u64>) -> Self {
        let checksum = fnv1a(bits.iter().flat_map(|b| b.to_le_bytes()));
        Self {
            rows,
            checksum,
            bits,
        }
    }
}

fn sums_bits(s: &ColumnSums) -> Vec<u64> {
    s.sums.iter().map(|v| v.to_bits()).collect()
}

fn batch_outcome(batch: &RecordBatch, extra: Vec<u64>) -> Result<Outcome> {
    let mut bytes = Vec::new();
    {
        let mut writer = arrow_ipc::writer::StreamWriter::try_new(&mut bytes, &batch.schema())?;
        writer.write(batch)?;
        writer.finish()?;
    }
    let mut bits = extra;
    bits.push(fnv1a(bytes.iter().copied()));
    Ok(Outcome::from_bits(batch.num_rows() as u64, bits))
}

impl Prepared {
    /// Runs the timed part of the workload (slowed so that faults land inside it).
    pub fn run(&self) -> Result<Outcome> {
        match self.workload {
            Workload::CachedScan => {
                let slow = self.data.map_batches("cinder.delay", &300u64)?;
                let a: ColumnSums = slow.aggregate::<SumF64>(&()).context("slow scan")?;
                // A full pass over the cache: every lost partition is recomputed.
                let b: ColumnSums = self.data.aggregate::<SumF64>(&()).context("full pass")?;
                anyhow::ensure!(a == b, "slow scan {a:?} and full pass {b:?} differ");
                Ok(Outcome::from_bits(a.rows, sums_bits(&a)))
            }
            Workload::Spill => {
                let slow = self.data.map_batches("cinder.delay", &250u64)?;
                let a: ColumnSums = slow.aggregate::<SumF64>(&()).context("slow scan")?;
                let b: ColumnSums = self.data.aggregate::<SumF64>(&()).context("full pass")?;
                anyhow::ensure!(a == b, "slow scan {a:?} and full pass {b:?} differ");
                Ok(Outcome::from_bits(a.rows, sums_bits(&a)))
            }
            Workload::Shuffle => {
                let keyed = self
                    .data
                    .map_batches("cinder.delay", &250u64)?
                    .with_column(
                        "k",
                        "cinder.floor_times",
                        &FloorTimesArgs {
                            column: "c0".into(),
                            factor: 10.0,
                        },
                    )?
                    .repartition(8)?;
                let grouped = keyed.group_aggregate(
                    &["k"],
                    &[
                        AggSpec {
                            column: "c1".into(),
                            func: AggFunc::Sum,
                            alias: "s".into(),
                        },
                        AggSpec {
                            column: "c2".into(),
                            func: AggFunc::Count,
                            alias: "n".into(),
                        },
                    ],
                    6,
                )?;
                let batch = grouped.collect_batch().context("group aggregate")?;
                let counted = count_column(&batch, "n")?;
                let input = self.data.count().context("input count")?;
                anyhow::ensure!(
                    counted == input,
                    "group counts add up to {counted} rows, the input has {input}"
                );
                batch_outcome(&batch, vec![counted])
            }
            Workload::Write => {
                let out = self.output.as_ref().context("no output path")?;
                self.data
                    .map_batches("cinder.delay", &400u64)?
                    .write(out, FileFormat::Parquet)
                    .context("parquet write")?;
                let mut names: Vec<PathBuf> = std::fs::read_dir(out)?
                    .map(|e| e.map(|e| e.path()))
                    .collect::<std::io::Result<_>>()?;
                names.sort();
                anyhow::ensure!(
                    names.iter().any(|p| p.ends_with("_SUCCESS")),
                    "no _SUCCESS in {}",
                    out.display()
                );
                let mut bytes = Vec::new();
                for name in &names {
                    bytes.extend(std::fs::read(name)?);
                }
                Ok(Outcome::from_bits(
                    names.len() as u64,
                    vec![fnv1a(bytes.iter().copied())],
                ))
            }
            Workload::LogReg => {
                let slow = self.data.map_batches("cinder.delay", &20u64)?;
                let model = LogisticRegression {
                    reg_param: 0.01,
                    max_iter: 20,
                    tol: 0.0,
                    ..Default::default()
                }
                .fit(&slow)
                .context("logistic regression")?;
                let bits = model
                    .coefficients()
                    .iter()
                    .chain(&model.intercepts)
                    .chain(&model.summary.objective_history)
                    .map(|v| v.to_bits())
                    .collect();
                Ok(Outcome::from_bits(
                    model.summary.objective_history.len() as u64,
                    bits,
                ))
            }
            Workload::KMeans => {
                let slow = self.data.map_batches("cinder.delay", &20u64)?;
                let model = KMeans {
                    k: 3,
                    seed: 3,
                    max_iter: 20,
                    ..Default::default()
                }
                .fit(&slow)
                .context("k-means")?;
                let mut bits: Vec<u64> = model
                    .centers
                    .iter()
                    .flatten()
                    .map(|v| v.to_bits())
                    .collect();
                bits.push(model.cost.to_bits());
                Ok(Outcome::from_bits(model.iterations as u64, bits))
            }
        }
    }
}

fn count_column(batch: &RecordBatch, name: &str) -> Result<u64> {
    let column = batch
        .column_by_name(name)
        .with_context(|| format!("no column {name} in {:?}", batch.schema()))?;
    if let Some(a) = column.as_any().downcast_ref::<arrow_array::UInt64Array>() {
        return Ok(a.values().iter().sum());
    }
    if let Some(a) = column.as_any().downcast_ref::<arrow_array::Int64Array>() {
        return Ok(a.values().iter().map(|v| *v as u64).sum());
    }
    anyhow::bail!("column {name} is {:?}, not an integer", column.data_type())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_workload_is_found_by_its_name() {
        for w in Workload::ALL {
            assert_eq!(Workload::from_name(w.name()), Some(w));
        }
        assert_eq!(Workload::from_name("nope"), None);
    }
}
