//! L-BFGS with OWL-QN for L1 penalties (Andrew & Gao, 2007): the pseudo-gradient, orthant
//! projection of the direction and of each trial point, and an Armijo backtracking line
//! search. Without L1 weights it is plain L-BFGS.

use std::collections::VecDeque;

use crate::MlError;

/// A smooth objective: value and gradient at `x` (the L1 part is handled by the optimizer).
pub trait DiffFunction {
    /// `(f(x), ∇f(x))`.
    fn evaluate(&mut self, x: &[f64]) -> Result<(f64, Vec<f64>), MlError>;
}

/// Optimizer settings.
#[derive(Debug, Clone)]
pub struct OptimConfig {
    /// Maximum iterations (Spark's `maxIter`).
    pub max_iter: usize,
    /// Convergence tolerance on the relative objective improvement (Spark's `tol`).
    pub tol: f64,
    /// History size (Spark uses 10).
    pub memory: usize,
    /// Per-coordinate L1 weights; empty for none.
    pub l1: Vec<f64>,
}

/// What the optimizer found.
#[derive(Debug, Clone)]
pub struct OptimResult {
    /// The minimizer.
    pub x: Vec<f64>,
    /// Objective (with the L1 part) at the start and after every iteration.
    pub objective_history: Vec<f64>,
    /// Iterations run.
    pub iterations: usize,
    /// Whether a convergence test was met (otherwise `max_iter` or a stalled line search).
    pub converged: bool,
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

fn l1_value(x: &[f64], l1: &[f64]) -> f64 {
    l1.iter().zip(x).map(|(w, v)| w * v.abs()).sum()
}

/// The OWL-QN pseudo-gradient (the gradient when there is no L1 part).
fn pseudo_gradient(x: &[f64], g: &[f64], l1: &[f64]) -> Vec<f64> {
    if l1.is_empty() {
        return g.to_vec();
    }
    x.iter()
        .zip(g)
        .zip(l1)
        .map(|((&xi, &gi), &w)| {
            if w == 0.0 {
                gi
            } else if xi > 0.0 {
                gi + w
            } else if xi < 0.0 {
                gi - w
            } else if gi + w < 0.0 {
                gi + w
            } else if gi - w > 0.0 {
                gi - w
            } else {
                0.0
            }
        })
        .collect()
}

/// Two-loop recursion: `-H · g`.
fn direction(g: &[f64], history: &VecDeque<(Vec<f64>, Vec<f64>, f64)>) -> Vec<f64> {
    let mut q = g.to_vec();
    let mut alphas = Vec::with_capacity(history.len());
    for (s, y, rho) in history.iter().rev() {
        let a = rho * dot(s, &q);
        for (qi, yi) in q.iter_mut().zip(y) {
            *qi -= a * yi;
        }
        alphas.push(a);
    }
    if let Some((s, y, _)) = history.back() {
        let gamma = dot(s, y) / dot(y, y);
        for qi in q.iter_mut() {
            *qi *= gamma;
        }
    }
    for ((s, y, rho), a) in history.iter().zip(alphas.iter().rev()) {
        let b = rho * dot(y, &q);
        for (qi, si) in q.iter_mut().zip(s) {
            *qi += (a - b) * si;
        }
    }
    q.iter().map(|v| -v).collect()
}

/// Minimizes `f(x) + Σ l1_i |x_i|` from `x0`, calling `on_iteration(iteration, objective)`
/// after every iteration.
pub fn minimize(
    f: &mut dyn DiffFunction,
    x0: Vec<f64>,
    config: &OptimConfig,
    on_iteration: &mut dyn FnMut(usize, f64),
) -> Result<OptimResult, MlError> {
    let l1 = &config.l1;
    if !l1.is_empty() && l1.len() != x0.len() {
        return Err(MlError::Optimizer(format!(
            "{} L1 weights for {} parameters",
            l1.len(),
            x0.len()
        )));
    }
    let mut x = x0;
    let (loss, mut g) = f.evaluate(&x)?;
    let mut value = loss + l1_value(&x, l1);
    let mut history_values = vec![value];
    let mut memory: VecDeque<(Vec<f64>, Vec<f64>, f64)> = VecDeque::new();
    let mut iterations = 0;
    let mut converged = false;
    while iterations < config.max_iter {
        let pg = pseudo_gradient(&x, &g, l1);
        let pg_norm = norm(&pg);
        if pg_norm <= 1e-12 * value.abs().max(1.0) {
            converged = true;
            break;
        }
        let mut d = direction(&pg, &memory);
        if !l1.is_empty() {
            for (di, pgi) in d.iter_mut().zip(&pg) {
                if *di * *pgi >= 0.0 {
                    *di = 0.0;
                }
            }
        }
        let mut slope = dot(&d, &pg);
        if slope >= 0.0 || !slope.is_finite() {
            memory.clear();
            d = pg.iter().map(|v| -v).collect();
            slope = dot(&d, &pg);
        }
        // Orthant for OWL-QN: the sign of x, or of the descent direction at zero.
        let orthant: Vec<f64> = x
            .iter()
            .zip(&pg)
            .map(|(&xi, &pgi)| {
                if xi != 0.0 {
                    xi.signum()
                } else {
                    -pgi.signum()
                }
            })
            .collect();
        let mut step = if memory.is_empty() {
            (1.0 / pg_norm).min(1.0)
        } else {
            1.0
        };
        let mut accepted = None;
        for _ in 0..40 {
            let mut trial: Vec<f64> = x.iter().zip(&d).map(|(xi, di)| xi + step * di).collect();
            if !l1.is_empty() {
                for ((t, o), w) in trial.iter_mut().zip(&orthant).zip(l1) {
                    if *w != 0.0 && t.signum() != *o {
                        *t = 0.0;
                    }
                }
            }
            let (trial_loss, trial_g) = f.evaluate(&trial)?;
            let trial_value = trial_loss + l1_value(&trial, l1);
            let decrease: f64 = if l1.is_empty() {
                step * slope
            } else {
                pg.iter()
                    .zip(trial.iter().zip(&x))
                    .map(|(p, (t, xi))| p * (t - xi))
                    .sum()
            };
            // Below machine precision the Armijo test is noise: accept any non-increase,
            // and stop searching (instead of halving dozens of times) when there is none.
            let tiny = (1e-4 * decrease).abs() <= 4.0 * f64::EPSILON * value.abs();
            let armijo = trial_value <= value + 1e-4 * decrease;
            if trial_value.is_finite() && (armijo || (tiny && trial_value <= value)) {
                accepted = Some((trial, trial_g, trial_value));
                break;
            }
            if tiny {
                break;
            }
            step *= 0.5;
        }
        let Some((next, next_g, next_value)) = accepted else {
            // No decrease possible at machine precision: we are at the minimum.
            converged = true;
            break;
        };
        iterations += 1;
        let s: Vec<f64> = next.iter().zip(&x).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = next_g.iter().zip(&g).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &y);
        if sy > 1e-12 * norm(&s) * norm(&y) && sy > 0.0 {
            memory.push_back((s, y, 1.0 / sy));
            if memory.len() > config.memory.max(1) {
                memory.pop_front();
            }
        }
        x = next;
        g = next_g;
        value = next_value;
        history_values.push(value);
        on_iteration(iterations, value);
        // Like Breeze: converged when the objective improved by less than `tol` (relative)
        // over the last (up to) 10 iterations.
        let window = history_values.len().min(11);
        let old = history_values[history_values.len() - window];
        let improvement = (old - value).abs() / value.abs().max(old.abs()).max(1e-300);
        if improvement < config.tol {
            converged = true;
            break;
        }
    }
    Ok(OptimResult {
        x,
        objective_history: history_values,
        iterations,
        converged,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Quadratic {
        center: Vec<f64>,
        scale: Vec<f64>,
    }

    impl DiffFunction for Quadratic {
        fn evaluate(&mut self, x: &[f64]) -> Result<(f64, Vec<f64>), MlError> {
            let mut value = 0.0;
            let mut g = vec![0.0; x.len()];
            for i in 0..x.len() {
                let d = x[i] - self.center[i];
                value += 0.5 * self.scale[i] * d * d;
                g[i] = self.scale[i] * d;
            }
            Ok((value, g))
        }
    }

    fn config(l1: Vec<f64>) -> OptimConfig {
        OptimConfig {
            max_iter: 200,
            tol: 1e-14,
            memory: 10,
            l1,
        }
    }

    #[test]
    fn lbfgs_finds_an_ill_conditioned_quadratic_minimum() {
        let mut f = Quadratic {
            center: vec![1.0, -2.0, 3.0],
            scale: vec![1.0, 100.0, 0.01],
        };
        let r = minimize(&mut f, vec![0.0; 3], &config(vec![]), &mut |_, _| {}).unwrap();
        for (x, c) in r.x.iter().zip(&f.center) {
            assert!((x - c).abs() < 1e-6, "{:?}", r.x);
        }
        assert!(r.converged);
        assert!(
            r.objective_history.windows(2).all(|w| w[1] <= w[0]),
            "monotone"
        );
    }

    #[test]
    fn owlqn_soft_thresholds() {
        // argmin 0.5 s (x - c)^2 + w |x| = soft(c, w / s).
        let mut f = Quadratic {
            center: vec![1.0, -2.0, 0.3],
            scale: vec![1.0, 2.0, 1.0],
        };
        let r = minimize(
            &mut f,
            vec![0.0; 3],
            &config(vec![0.5, 1.0, 0.5]),
            &mut |_, _| {},
        )
        .unwrap();
        let want = [0.5, -1.5, 0.0];
        for (x, w) in r.x.iter().zip(want) {
            assert!((x - w).abs() < 1e-7, "{:?}", r.x);
        }
        assert_eq!(r.x[2], 0.0, "exact zeros");
    }
}
