//! Blocked, vectorisable loops over dense feature columns: the inner loops of every dense
//! kernel (logistic and linear regression, k-means).
//!
//! Rows are taken [`BLOCK`] at a time: a block's margins are computed column by column (each
//! column a unit-stride stream), then its multipliers, then the gradient's dot products over the
//! same block while it is still in cache. So a pass reads each value from memory once. Sums
//! use [`LANES`] independent accumulators combined in a fixed order: the loops vectorise and the
//! adds do not wait on each other, and the result depends only on the data, never on timing.

use std::borrow::Cow;

/// Rows per block: `BLOCK × 50 columns × 8 bytes` = 200 KiB, well inside a core's L2.
pub const BLOCK: usize = 512;

/// Independent accumulators of a dot product.
pub const LANES: usize = 8;

/// `Σ a_i b_i` over the common length, with [`LANES`] accumulators combined pairwise.
#[inline]
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f64; LANES];
    let mut ca = a.chunks_exact(LANES);
    let mut cb = b.chunks_exact(LANES);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for l in 0..LANES {
            acc[l] += x[l] * y[l];
        }
    }
    for (l, (x, y)) in ca.remainder().iter().zip(cb.remainder()).enumerate() {
        acc[l] += x * y;
    }
    fold(acc)
}

/// `Σ a_i` with [`LANES`] accumulators combined pairwise.
#[inline]
pub fn sum(a: &[f64]) -> f64 {
    let mut acc = [0.0f64; LANES];
    let mut ca = a.chunks_exact(LANES);
    for x in &mut ca {
        for l in 0..LANES {
            acc[l] += x[l];
        }
    }
    for (l, x) in ca.remainder().iter().enumerate() {
        acc[l] += x;
    }
    fold(acc)
}

#[inline]
fn fold(acc: [f64; LANES]) -> f64 {
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))
}

/// `out[r] += c · x[r]`.
#[inline]
pub fn axpy(c: f64, x: &[f64], out: &mut [f64]) {
    for (o, v) in out.iter_mut().zip(x) {
        *o += c * v;
    }
}

/// Row blocks `[start, end)` of `n` rows.
pub fn blocks(n: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..n).step_by(BLOCK).map(move |s| (s, (s + BLOCK).min(n)))
}

/// Margins of rows `[start, end)`: `out[r] = base + Σ_j coef[j] · cols[j][start + r]`
/// (columns with a zero coefficient are skipped).
#[inline]
pub fn margins(cols: &[Cow<'_, [f64]>], coef: &[f64], base: f64, start: usize, out: &mut [f64]) {
    let end = start + out.len();
    out.fill(base);
    for (col, &c) in cols.iter().zip(coef) {
        if c != 0.0 {
            axpy(c, &col[start..end], out);
        }
    }
}

/// Adds `scale[j] · Σ_r m[r] · cols[j][start + r]` to `grad[j]` for every column whose scale
/// is not zero.
#[inline]
pub fn gradient(cols: &[Cow<'_, [f64]>], m: &[f64], scale: &[f64], start: usize, grad: &mut [f64]) {
    let end = start + m.len();
    for ((col, &s), g) in cols.iter().zip(scale).zip(grad.iter_mut()) {
        if s != 0.0 {
            *g += dot(m, &col[start..end]) * s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_dot(a: &[f64], b: &[f64]) -> f64 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn dot_and_sum_agree_with_plain_loops_at_every_length() {
        for n in [0, 1, 7, 8, 9, 63, 64, 65, 1000] {
            let a: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin()).collect();
            let b: Vec<f64> = (0..n).map(|i| (i as f64 * 0.11).cos()).collect();
            assert!((dot(&a, &b) - naive_dot(&a, &b)).abs() < 1e-12, "n = {n}");
            assert!((sum(&a) - a.iter().sum::<f64>()).abs() < 1e-12, "n = {n}");
        }
    }

    #[test]
    fn blocks_cover_every_row_once() {
        for n in [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + 5] {
            let covered: usize = blocks(n).map(|(s, e)| e - s).sum();
            assert_eq!(covered, n);
            assert!(blocks(n).all(|(s, e)| s < e && e - s <= BLOCK));
        }
    }

    #[test]
    fn margins_and_gradient_match_a_row_by_row_computation() {
        let n = 2 * BLOCK + 3;
        let cols: Vec<Cow<'_, [f64]>> = (0..5)
            .map(|j| {
                Cow::Owned(
                    (0..n)
                        .map(|i| ((i * 7 + j * 3) % 11) as f64 - 5.0)
                        .collect(),
                )
            })
            .collect();
        let coef = [0.5, 0.0, -1.25, 2.0, 0.75];
        let scale = [1.0, 2.0, 0.0, 0.5, 1.0];
        let mut grad = vec![0.0; 5];
        for (s, e) in blocks(n) {
            let mut z = vec![0.0; e - s];
            margins(&cols, &coef, 0.25, s, &mut z);
            for (r, zr) in z.iter().enumerate() {
                let want: f64 = 0.25 + (0..5).map(|j| coef[j] * cols[j][s + r]).sum::<f64>();
                assert!((zr - want).abs() < 1e-12);
            }
            gradient(&cols, &z, &scale, s, &mut grad);
        }
        for j in 0..5 {
            let want: f64 = (0..n)
                .map(|i| {
                    let z: f64 = 0.25 + (0..5).map(|k| coef[k] * cols[k][i]).sum::<f64>();
                    z * cols[j][i] * scale[j]
                })
                .sum();
            assert!(
                (grad[j] - want).abs() < 1e-9 * want.abs().max(1.0),
                "j = {j}"
            );
        }
    }
}
