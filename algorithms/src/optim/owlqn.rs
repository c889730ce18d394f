//! The L1 part of OWL-QN (Andrew & Gao, 2007): the objective's value, the pseudo-gradient
//! (the minimum-norm subgradient, which is zero exactly at a minimum), the orthant a step may
//! explore, and the projection of trial points onto it. Coordinates with weight 0 are smooth.

/// `Σ l1_i |x_i|` (0 when `l1` is empty).
pub fn l1_value(x: &[f64], l1: &[f64]) -> f64 {
    l1.iter().zip(x).map(|(w, v)| w * v.abs()).sum()
}

/// The pseudo-gradient of `f + Σ l1_i |x_i|` at `x`, given `g = ∇f(x)`; `g` itself when `l1`
/// is empty.
pub fn pseudo_gradient(x: &[f64], g: &[f64], l1: &[f64]) -> Vec<f64> {
    if l1.is_empty() {
        return g.to_vec();
    }
    x.iter()
        .zip(g)
        .zip(l1)
        .map(|((&xi, &gi), &w)| {
            if w == 0.0 {
                gi
            } else if xi != 0.0 {
                gi + w * xi.signum()
            } else if gi - w > 0.0 {
                gi - w
            } else if gi + w < 0.0 {
                gi + w
            } else {
                0.0
            }
        })
        .collect()
}

/// The orthant of an iteration: the sign of `x_i`, or at zero the sign of the steepest descent
/// `-pg_i` (0 when the pseudo-gradient is 0 there: the coordinate stays at 0).
pub fn orthant(x: &[f64], pg: &[f64]) -> Vec<f64> {
    x.iter()
        .zip(pg)
        .map(|(&xi, &pgi)| {
            if xi != 0.0 {
                xi.signum()
            } else if pgi != 0.0 {
                -pgi.signum()
            } else {
                0.0
            }
        })
        .collect()
}

/// Sets to zero every L1-weighted coordinate of `x` that left its orthant (or is on a zero
/// orthant). Smooth coordinates (weight 0) move freely.
pub fn project(x: &mut [f64], orthant: &[f64], l1: &[f64]) {
    for ((xi, o), w) in x.iter_mut().zip(orthant).zip(l1) {
        if *w != 0.0 && (*xi == 0.0 || xi.signum() != *o) {
            *xi = 0.0;
        }
    }
}

/// Zeroes the L1-weighted components of a quasi-Newton direction `d` that do not descend
/// along the pseudo-gradient (`d_i · pg_i ≥ 0`), so `d` stays in the orthant `-pg` points
/// into. Only non-negative terms of `dᵀpg` are removed, so a descent direction stays one.
pub fn align(d: &mut [f64], pg: &[f64], l1: &[f64]) {
    for ((di, pgi), w) in d.iter_mut().zip(pg).zip(l1) {
        if *w != 0.0 && *di * *pgi >= 0.0 {
            *di = 0.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudo_gradient_is_the_minimum_norm_subgradient() {
        let l1 = [1.0, 1.0, 1.0, 1.0, 0.0];
        let x = [2.0, -1.0, 0.0, 0.0, 0.0];
        let g = [0.5, 0.5, 0.5, 3.0, 0.25];
        assert_eq!(
            pseudo_gradient(&x, &g, &l1),
            vec![1.5, -0.5, 0.0, 2.0, 0.25]
        );
        assert_eq!(pseudo_gradient(&x, &[-3.0; 5], &l1)[2], -2.0);
    }

    #[test]
    fn projection_keeps_points_in_the_orthant() {
        let x = [1.0, 0.0, 0.0, -2.0, 1.0];
        let pg = [0.3, 0.5, -0.5, 0.0, 0.1];
        let l1 = [1.0, 1.0, 1.0, 1.0, 0.0];
        let o = orthant(&x, &pg);
        assert_eq!(o, vec![1.0, -1.0, 1.0, -1.0, 1.0]);
        let mut trial = vec![-0.1, -0.2, -0.3, -1.0, -0.5];
        project(&mut trial, &o, &l1);
        assert_eq!(
            trial,
            vec![0.0, -0.2, 0.0, -1.0, -0.5],
            "smooth coordinates move freely"
        );
        let mut d = vec![-1.0, 1.0, 1.0, 0.5, 0.5];
        align(&mut d, &[0.3, -0.5, 0.5, 0.0, 0.1], &l1);
        assert_eq!(d, vec![-1.0, 1.0, 0.0, 0.0, 0.5]);
    }
}
