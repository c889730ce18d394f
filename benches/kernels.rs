//! Per-pass cost of the ML kernels on one core, against the memory-bandwidth baseline measured
//! in the same run: a plain sum over the same bytes (`blocked::sum` over every column).
//!
//! - logistic regression (binomial), 1,000,000 x 50 dense columns;
//! - linear regression (least squares), 1,000,000 x 50;
//! - k-means assignment, 1,000,000 x 20, k = 10;
//! - logistic regression over sparse (LibSVM-like) rows, 1,000,000 rows x 20 non-zeros of
//!   100,000 features, against a hand-written CSR margin-and-gradient loop.
//!
//! Each figure is the median of 7 passes over data already in memory. Run:
//! `cargo bench --bench kernels` (`CINDER_BENCH_SCALE=0.1` for a quick pass).

use std::sync::Arc;
use std::time::Instant;

use arrow_array::{ArrayRef, Float64Array, Int32Array, ListArray, RecordBatch, StructArray};
use arrow_buffer::OffsetBuffer;
use arrow_schema::{DataType, Field};
use cinder_actors::data::aggregate::Aggregator;
use cinder_algorithms::blocked;
use cinder_algorithms::classification::logistic_kernel::{LogisticArgs, LogisticLoss};
use cinder_algorithms::clustering::kmeans_kernel::{Assign, KMeansArgs};
use cinder_algorithms::regression::linear_kernel::{LeastSquaresArgs, LeastSquaresLoss};
use cinder_algorithms::{FeatureCols, FeatureSpec};

const PASSES: usize = 7;

fn median_seconds(mut f: impl FnMut() -> f64) -> f64 {
    let mut times: Vec<f64> = (0..PASSES)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(f());
            start.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[PASSES / 2]
}

fn value(i: usize, j: usize) -> f64 {
    let h = (i as u64)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .wrapping_add(j as u64 * 0xbf58_476d_1ce4_e5b9);
    ((h >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
}

fn dense(rows: usize, cols: usize) -> RecordBatch {
    let mut fields: Vec<(String, ArrayRef)> = vec![(
        "label".into(),
        Arc::new(Float64Array::from_iter_values(
            (0..rows).map(|i| f64::from(value(i, 999) > 0.0)),
        )),
    )];
    for j in 0..cols {
        fields.push((
            format!("f{j}"),
            Arc::new(Float64Array::from_iter_values(
                (0..rows).map(|i| value(i, j)),
            )),
        ));
    }
    RecordBatch::try_from_iter(fields).unwrap()
}

fn spec(cols: usize) -> FeatureSpec {
    FeatureSpec {
        label: "label".into(),
        weight: None,
        features: FeatureCols::Columns((0..cols).map(|j| format!("f{j}")).collect()),
    }
}

/// The bandwidth baseline: one pass summing every feature column.
fn plain_sum(batch: &RecordBatch) -> f64 {
    batch
        .columns()
        .iter()
        .map(|c| {
            let values = c.as_any().downcast_ref::<Float64Array>().unwrap().values();
            blocked::sum(values)
        })
        .sum()
}

struct Sparse {
    batch: RecordBatch,
    offsets: Vec<i32>,
    indices: Vec<i32>,
    values: Vec<f64>,
    labels: Vec<f64>,
}

fn sparse(rows: usize, nnz: usize, width: usize) -> Sparse {
    let offsets: Vec<i32> = (0..=rows).map(|i| (i * nnz) as i32).collect();
    let mut indices = Vec::with_capacity(rows * nnz);
    for i in 0..rows {
        let mut row: Vec<i32> = (0..nnz)
            .map(|k| ((value(i, k) + 1.0) / 2.0 * width as f64) as i32 % width as i32)
            .collect();
        row.sort_unstable();
        indices.extend(row);
    }
    let values: Vec<f64> = (0..rows * nnz).map(|k| value(k, 7)).collect();
    let labels: Vec<f64> = (0..rows).map(|i| f64::from(value(i, 999) > 0.0)).collect();
    let list = |child: ArrayRef, name: &str, dt: DataType| {
        Arc::new(ListArray::new(
            Arc::new(Field::new(name, dt, false)),
            OffsetBuffer::new(offsets.clone().into()),
            child,
            None,
        )) as ArrayRef
    };
    let features = StructArray::from(vec![
        (
            Arc::new(Field::new("size", DataType::Int32, false)),
            Arc::new(Int32Array::from(vec![width as i32; rows])) as ArrayRef,
        ),
        (
            Arc::new(Field::new(
                "indices",
                DataType::List(Arc::new(Field::new("item", DataType::Int32, false))),
                false,
            )),
            list(
                Arc::new(Int32Array::from(indices.clone())),
                "item",
                DataType::Int32,
            ),
        ),
        (
            Arc::new(Field::new(
                "values",
                DataType::List(Arc::new(Field::new("item", DataType::Float64, false))),
                false,
            )),
            list(
                Arc::new(Float64Array::from(values.clone())),
                "item",
                DataType::Float64,
            ),
        ),
    ]);
    let batch = RecordBatch::try_from_iter([
        (
            "label",
            Arc::new(Float64Array::from(labels.clone())) as ArrayRef,
        ),
        ("features", Arc::new(features) as ArrayRef),
    ])
    .unwrap();
    Sparse {
        batch,
        offsets,
        indices,
        values,
        labels,
    }
}

/// The hand-written CSR baseline: margin, sigmoid multiplier and gradient per row.
fn csr_pass(s: &Sparse, coef: &[f64], grad: &mut [f64]) -> f64 {
    let mut loss = 0.0;
    for i in 0..s.labels.len() {
        let (a, b) = (s.offsets[i] as usize, s.offsets[i + 1] as usize);
        let mut z = 0.0;
        for k in a..b {
            z += coef[s.indices[k] as usize] * s.values[k];
        }
        let e = (-z.abs()).exp();
        let p = if z > 0.0 {
            1.0 / (1.0 + e)
        } else {
            e / (1.0 + e)
        };
        loss += z.max(0.0) + e.ln_1p() - s.labels[i] * z;
        let m = p - s.labels[i];
        for k in a..b {
            grad[s.indices[k] as usize] += m * s.values[k];
        }
    }
    loss
}

fn report(name: &str, bytes: f64, kernel: f64, baseline: f64, baseline_name: &str) {
    println!(
        "{name:<40} {:>9.1} ms {:>8.2} GB/s {:>9.1} ms {:>7.2}x  ({baseline_name})",
        kernel * 1e3,
        bytes / kernel / 1e9,
        baseline * 1e3,
        kernel / baseline
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let scale: f64 = std::env::var("CINDER_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let rows = (1_000_000.0 * scale) as usize;
    println!(
        "{:<40} {:>12} {:>13} {:>12} {:>8}",
        "kernel (one core, one pass)", "time", "throughput", "baseline", "ratio"
    );

    let batch = dense(rows, 50);
    let bytes = (rows * 51 * 8) as f64;
    let baseline = median_seconds(|| plain_sum(&batch));
    let args = LogisticArgs {
        spec: spec(50),
        inv_std: vec![1.0; 50],
        params: (0..51).map(|j| 0.01 * j as f64).collect(),
        sets: 1,
        fit_intercept: true,
        scaled_mean: Vec::new(),
    };
    let t = median_seconds(|| {
        LogisticLoss::seq(LogisticLoss::zero(&args), &batch, &args)
            .unwrap()
            .loss
    });
    report(
        "logistic 1M x 50",
        bytes,
        t,
        baseline,
        "plain sum, same bytes",
    );
    let args = LeastSquaresArgs {
        spec: spec(50),
        inv_std: vec![1.0; 50],
        scaled_mean: vec![0.0; 50],
        label_std: 1.0,
        label_center: 0.0,
        coefficients: (0..50).map(|j| 0.01 * j as f64).collect(),
    };
    let t = median_seconds(|| {
        LeastSquaresLoss::seq(LeastSquaresLoss::zero(&args), &batch, &args)
            .unwrap()
            .loss
    });
    report(
        "linear 1M x 50",
        bytes,
        t,
        baseline,
        "plain sum, same bytes",
    );
    drop(batch);

    let batch = dense(rows, 20);
    let bytes = (rows * 21 * 8) as f64;
    let baseline = median_seconds(|| plain_sum(&batch));
    let args = KMeansArgs {
        spec: spec(20),
        width: 20,
        centers: (0..10)
            .map(|k| (0..20).map(|j| value(k, j)).collect())
            .collect(),
        cosine: false,
    };
    let t = median_seconds(|| {
        Assign::seq(Assign::zero(&args), &batch, &args)
            .unwrap()
            .cost
    });
    report(
        "k-means assign 1M x 20, k = 10",
        bytes,
        t,
        baseline,
        "plain sum, same bytes",
    );
    drop(batch);

    let width = 100_000;
    let s = sparse(rows, 20, width);
    let bytes = (s.values.len() * 12) as f64;
    let coef: Vec<f64> = (0..width).map(|j| value(j, 3) * 0.01).collect();
    let baseline = median_seconds(|| {
        let mut grad = vec![0.0; width];
        csr_pass(&s, &coef, &mut grad)
    });
    let mut params = coef.clone();
    params.push(0.0);
    let args = LogisticArgs {
        spec: FeatureSpec::default(),
        inv_std: vec![1.0; width],
        params,
        sets: 1,
        fit_intercept: true,
        scaled_mean: Vec::new(),
    };
    let t = median_seconds(|| {
        LogisticLoss::seq(LogisticLoss::zero(&args), &s.batch, &args)
            .unwrap()
            .loss
    });
    report(
        "logistic sparse 1M x 20 nnz of 100k",
        bytes,
        t,
        baseline,
        "hand-written CSR loop",
    );
}
