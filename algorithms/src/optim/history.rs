//! The limited-memory inverse Hessian of L-BFGS: the last `m` steps `s = x' - x` and gradient
//! changes `y = g' - g`, applied to a vector by the two-loop recursion (Nocedal 1980).
//!
//! A pair is stored only when its curvature `sᵀy` is positive, so the implicit matrix stays
//! positive definite and every direction it produces is a descent direction. Strong-Wolfe steps
//! (L-BFGS) and convex smooth parts (OWL-QN's history holds smooth-gradient changes) give
//! positive curvature anyway; the test guards the rounding noise of the last iterations
//! instead of clearing the history.

use std::collections::VecDeque;

use super::lbfgs::dot;

/// One stored correction pair.
#[derive(Debug, Clone)]
struct Pair {
    s: Vec<f64>,
    y: Vec<f64>,
    /// `sᵀy`, positive.
    sy: f64,
}

/// The last `memory` correction pairs, newest last.
#[derive(Debug, Clone)]
pub struct InverseHessian {
    memory: usize,
    pairs: VecDeque<Pair>,
}

impl InverseHessian {
    /// An empty history (the identity) keeping at most `memory` pairs.
    pub fn new(memory: usize) -> Self {
        assert!(memory > 0, "L-BFGS memory must be positive");
        Self {
            memory,
            pairs: VecDeque::with_capacity(memory),
        }
    }

    /// Number of stored pairs.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether no pair is stored (the approximation is the identity).
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Forgets every pair.
    pub fn clear(&mut self) {
        self.pairs.clear();
    }

    /// Adds the pair `(s, y)`; returns whether it was kept (positive curvature).
    pub fn update(&mut self, s: Vec<f64>, y: Vec<f64>) -> bool {
        let sy = dot(&s, &y);
        let (ss, yy) = (dot(&s, &s), dot(&y, &y));
        // Relative to the sizes of s and y: below this, sᵀy is rounding noise.
        let positive = sy.is_finite() && sy > 1e-10 * (ss * yy).sqrt();
        if !positive {
            return false;
        }
        if self.pairs.len() == self.memory {
            self.pairs.pop_front();
        }
        self.pairs.push_back(Pair { s, y, sy });
        true
    }

    /// `-H · g`: the quasi-Newton direction for gradient `g`. With no pairs, `-g`; otherwise
    /// the initial matrix is `γ I` with `γ = sᵀy / yᵀy` of the newest pair (Breeze's choice).
    pub fn direction(&self, g: &[f64]) -> Vec<f64> {
        let mut q = g.to_vec();
        let mut alphas = Vec::with_capacity(self.pairs.len());
        for p in self.pairs.iter().rev() {
            let a = dot(&p.s, &q) / p.sy;
            for (qi, yi) in q.iter_mut().zip(&p.y) {
                *qi -= a * yi;
            }
            alphas.push(a);
        }
        if let Some(p) = self.pairs.back() {
            let gamma = p.sy / dot(&p.y, &p.y);
            for qi in q.iter_mut() {
                *qi *= gamma;
            }
        }
        for (p, a) in self.pairs.iter().zip(alphas.iter().rev()) {
            let b = dot(&p.y, &q) / p.sy;
            for (qi, si) in q.iter_mut().zip(&p.s) {
                *qi += (a - b) * si;
            }
        }
        for qi in q.iter_mut() {
            *qi = -*qi;
        }
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// BFGS satisfies the secant equation for the newest pair: `H y = s`.
    #[test]
    fn the_newest_pair_satisfies_the_secant_equation() {
        let a = [[4.0, 1.0], [1.0, 3.0]];
        let mul = |v: &[f64]| {
            vec![
                a[0][0] * v[0] + a[0][1] * v[1],
                a[1][0] * v[0] + a[1][1] * v[1],
            ]
        };
        let mut h = InverseHessian::new(2);
        for s in [vec![1.0, 0.0], vec![0.3, 1.0]] {
            let y = mul(&s);
            assert!(h.update(s, y));
        }
        let d = h.direction(&mul(&[0.3, 1.0]));
        assert!(
            (d[0] + 0.3).abs() < 1e-12 && (d[1] + 1.0).abs() < 1e-12,
            "{d:?}"
        );
        // Positive definite: -gᵀ d > 0 for any g.
        for g in [[1.0, 2.0], [-3.0, 0.5], [0.0, -1.0]] {
            assert!(dot(&g, &h.direction(&g)) < 0.0);
        }
    }

    #[test]
    fn pairs_without_positive_curvature_are_refused_and_memory_is_bounded() {
        let mut h = InverseHessian::new(2);
        assert!(!h.update(vec![1.0, 0.0], vec![-1.0, 0.0]));
        assert!(!h.update(vec![0.0, 0.0], vec![0.0, 0.0]));
        assert!(h.is_empty());
        for i in 1..=3 {
            assert!(h.update(vec![f64::from(i), 0.0], vec![1.0, 0.0]));
        }
        assert_eq!(h.len(), 2);
        assert_eq!(h.direction(&[0.0, 0.0]), vec![-0.0, -0.0]);
    }
}
