//! Worker-side kernels of ALS: with ratings partitioned by the side being solved, each
//! partition builds and solves the regularized normal equations of its users (or items)
//! against the other side's factors (`ml.als.solve`); plus ids, training error and
//! predictions.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, RecordBatch};
use cinder_actors::data::aggregate::Aggregator;
use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use crate::features::numeric_column;

/// Rating columns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RatingColumns {
    /// User id column (integers).
    pub user: String,
    /// Item id column (integers).
    pub item: String,
    /// Rating column.
    pub rating: String,
}

fn triples(batch: &RecordBatch, c: &RatingColumns) -> Result<Vec<(i64, i64, f64)>, String> {
    let users = numeric_column(batch, &c.user)?;
    let items = numeric_column(batch, &c.item)?;
    let ratings = numeric_column(batch, &c.rating)?;
    users
        .iter()
        .zip(&items)
        .zip(&ratings)
        .map(|((u, i), r)| {
            if u.fract() != 0.0 || i.fract() != 0.0 {
                return Err(format!("ids must be integers, got user {u}, item {i}"));
            }
            Ok((*u as i64, *i as i64, *r))
        })
        .collect()
}

/// `ml.als.ids`: the distinct user and item ids.
pub struct Ids;

impl Aggregator for Ids {
    const NAME: &'static str = "ml.als.ids";
    type Args = RatingColumns;
    type Acc = (Vec<i64>, Vec<i64>, u64);
    fn zero(_: &RatingColumns) -> Self::Acc {
        (Vec::new(), Vec::new(), 0)
    }
    fn seq(acc: Self::Acc, batch: &RecordBatch, c: &RatingColumns) -> Result<Self::Acc, String> {
        let mut users: std::collections::BTreeSet<i64> = acc.0.into_iter().collect();
        let mut items: std::collections::BTreeSet<i64> = acc.1.into_iter().collect();
        let rows = triples(batch, c)?;
        for (u, i, _) in &rows {
            users.insert(*u);
            items.insert(*i);
        }
        Ok((
            users.into_iter().collect(),
            items.into_iter().collect(),
            acc.2 + rows.len() as u64,
        ))
    }
    fn comb(a: Self::Acc, b: Self::Acc, _: &RatingColumns) -> Self::Acc {
        let mut users: std::collections::BTreeSet<i64> = a.0.into_iter().collect();
        users.extend(b.0);
        let mut items: std::collections::BTreeSet<i64> = a.1.into_iter().collect();
        items.extend(b.1);
        (
            users.into_iter().collect(),
            items.into_iter().collect(),
            a.2 + b.2,
        )
    }
}
cinder_actors::register_aggregator!(Ids);

/// Arguments of one half-iteration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SolveArgs {
    /// Columns.
    pub columns: RatingColumns,
    /// Solve for users (true) or items (false).
    pub users: bool,
    /// The other side's factors by id.
    pub fixed: BTreeMap<i64, Vec<f64>>,
    /// Factor size.
    pub rank: usize,
    /// `regParam`, scaled per id by its number of ratings (ALS-WR, as Spark).
    pub reg_param: f64,
    /// Implicit feedback (Hu, Koren, Volinsky) with confidence `1 + alpha |r|`.
    pub implicit: bool,
    /// `alpha`.
    pub alpha: f64,
    /// Non-negative least squares.
    pub nonnegative: bool,
    /// `YᵀY` of the fixed factors (implicit only), row-major.
    pub yty: Vec<f64>,
}

/// Solves `min ½ xᵀAx - bᵀx` with `x ≥ 0` by coordinate descent (A positive definite).
fn nnls(a: &DMatrix<f64>, b: &DVector<f64>) -> DVector<f64> {
    let n = b.len();
    let mut x: DVector<f64> = DVector::zeros(n);
    for _ in 0..500 {
        let mut change: f64 = 0.0;
        for j in 0..n {
            let r: f64 = b[j] - (0..n).map(|k| a[(j, k)] * x[k]).sum::<f64>() + a[(j, j)] * x[j];
            let next: f64 = (r / a[(j, j)]).max(0.0);
            change = change.max((next - x[j]).abs());
            x[j] = next;
        }
        if change < 1e-12 {
            break;
        }
    }
    x
}

/// `ml.als.solve`: new factors for the ids of this side found in the partitions.
pub struct Solve;

impl Aggregator for Solve {
    const NAME: &'static str = "ml.als.solve";
    type Args = SolveArgs;
    type Acc = Vec<(i64, Vec<f64>)>;
    fn zero(_: &SolveArgs) -> Self::Acc {
        Vec::new()
    }
    fn seq(mut acc: Self::Acc, batch: &RecordBatch, a: &SolveArgs) -> Result<Self::Acc, String> {
        let k = a.rank;
        let mut systems: BTreeMap<i64, (DMatrix<f64>, DVector<f64>, f64)> = BTreeMap::new();
        for (u, i, r) in triples(batch, &a.columns)? {
            let (id, other) = if a.users { (u, i) } else { (i, u) };
            let Some(y) = a.fixed.get(&other) else {
                continue;
            };
            let entry = systems
                .entry(id)
                .or_insert_with(|| (DMatrix::zeros(k, k), DVector::zeros(k), 0.0));
            // In-place rank-1 updates: no allocation per rating.
            let (weight, target, counts) = if a.implicit {
                let c1 = a.alpha * r.abs();
                if r > 0.0 {
                    (c1, 1.0 + c1, 1.0)
                } else {
                    (c1, 0.0, 0.0)
                }
            } else {
                (1.0, r, 1.0)
            };
            for (p, yp) in y.iter().enumerate().take(k) {
                let wp = weight * yp;
                for (q, yq) in y.iter().enumerate().take(k) {
                    entry.0[(p, q)] += wp * yq;
                }
                entry.1[p] += target * yp;
            }
            entry.2 += counts;
        }
        for (id, (mut ata, atb, n)) in systems {
            if a.implicit {
                ata += DMatrix::from_row_slice(k, k, &a.yty);
            }
            for d in 0..k {
                ata[(d, d)] += a.reg_param * n;
            }
            let x = if a.nonnegative {
                nnls(&ata, &atb)
            } else {
                match ata.clone().cholesky() {
                    Some(ch) => ch.solve(&atb),
                    None => ata
                        .lu()
                        .solve(&atb)
                        .ok_or_else(|| format!("singular system for id {id}"))?,
                }
            };
            acc.push((id, x.as_slice().to_vec()));
        }
        Ok(acc)
    }
    fn comb(mut a: Self::Acc, b: Self::Acc, _: &SolveArgs) -> Self::Acc {
        a.extend(b);
        a
    }
}
cinder_actors::register_aggregator!(Solve);

/// Both sides' factors, for errors and predictions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FactorArgs {
    /// Columns.
    pub columns: RatingColumns,
    /// User factors.
    pub users: BTreeMap<i64, Vec<f64>>,
    /// Item factors.
    pub items: BTreeMap<i64, Vec<f64>>,
}

impl FactorArgs {
    /// `xᵤ · yᵢ`, or NaN when either id is unknown (cold start).
    pub fn predict(&self, user: i64, item: i64) -> f64 {
        match (self.users.get(&user), self.items.get(&item)) {
            (Some(x), Some(y)) => x.iter().zip(y).map(|(a, b)| a * b).sum(),
            _ => f64::NAN,
        }
    }
}

/// `ml.als.error`: Σ (r - x·y)² and the count over known pairs.
pub struct SquaredError;

impl Aggregator for SquaredError {
    const NAME: &'static str = "ml.als.error";
    type Args = FactorArgs;
    type Acc = (f64, u64);
    fn zero(_: &FactorArgs) -> (f64, u64) {
        (0.0, 0)
    }
    fn seq(mut acc: (f64, u64), batch: &RecordBatch, a: &FactorArgs) -> Result<(f64, u64), String> {
        for (u, i, r) in triples(batch, &a.columns)? {
            let p = a.predict(u, i);
            if p.is_finite() {
                acc.0 += (r - p) * (r - p);
                acc.1 += 1;
            }
        }
        Ok(acc)
    }
    fn comb(a: (f64, u64), b: (f64, u64), _: &FactorArgs) -> (f64, u64) {
        (a.0 + b.0, a.1 + b.1)
    }
}
cinder_actors::register_aggregator!(SquaredError);

/// `ml.als.prediction`: predicted ratings (NaN for unknown users or items).
pub fn prediction_column(batch: &RecordBatch, args: &[u8]) -> Result<ArrayRef, String> {
    let a: FactorArgs = rmp_serde::from_slice(args).map_err(|e| e.to_string())?;
    let users = numeric_column(batch, &a.columns.user)?;
    let items = numeric_column(batch, &a.columns.item)?;
    let values: Vec<f64> = users
        .iter()
        .zip(&items)
        .map(|(u, i)| a.predict(*u as i64, *i as i64))
        .collect();
    Ok(Arc::new(Float64Array::from(values)))
}
cinder_actors::register_column!("ml.als.prediction", prediction_column);

/// `ml.not_nan`: keeps rows whose Float64 column (argument: its name) is not NaN.
pub fn not_nan(batch: &RecordBatch, args: &[u8]) -> Result<arrow_array::BooleanArray, String> {
    let name: String = rmp_serde::from_slice(args).map_err(|e| e.to_string())?;
    Ok(numeric_column(batch, &name)?
        .iter()
        .map(|v| Some(!v.is_nan()))
        .collect())
}
cinder_actors::register_filter!("ml.not_nan", not_nan);
