//! The iteration loop of L-BFGS and OWL-QN, as Breeze runs them for Spark:
//!
//! - direction: the two-loop recursion on the gradient (L-BFGS) or on the pseudo-gradient,
//!   then aligned with it (OWL-QN);
//! - step: strong Wolfe from `1/‖d‖` on the first iteration and 1 after (L-BFGS);
//!   backtracking along the orthant-projected line from `0.5/‖∇f‖` with shrink 0.1 on the
//!   first iteration, from 1 with shrink 0.5 after, the first trial's decrease judged as
//!   Breeze judges it (see [`backtracking`]) (OWL-QN);
//! - history: the step and the change of the smooth gradient, kept only with positive
//!   curvature (so never cleared for being indefinite);
//! - a failed line search clears the history once; a second failure in a row stops;
//! - stopping: [`super::convergence`].

use super::convergence::{Convergence, StopReason};
use super::history::InverseHessian;
use super::line_search::{backtracking, strong_wolfe, LineFunction, LineSearchError};
use super::owlqn::{align, l1_value, orthant, project, pseudo_gradient};
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
    /// Convergence tolerance, as Breeze reads it (Spark's `tol`; see
    /// [`super::convergence`]).
    pub tol: f64,
    /// History size (Spark uses 10).
    pub memory: usize,
    /// Per-coordinate L1 weights (non-negative); empty for plain L-BFGS. Non-empty selects
    /// OWL-QN (and its backtracking line search) even when every weight is zero: that is what
    /// Spark's `LinearSVC` runs on its non-smooth hinge loss, where a strong-Wolfe search stalls.
    pub l1: Vec<f64>,
}

/// What the optimizer found.
#[derive(Debug, Clone)]
pub struct OptimResult {
    /// The minimizer.
    pub x: Vec<f64>,
    /// Objective (with the L1 part) at the start and after every iteration.
    pub objective_history: Vec<f64>,
    /// Iterations run (accepted steps).
    pub iterations: usize,
    /// Objective evaluations, the first one included (each is one distributed job).
    pub evaluations: usize,
    /// Why it stopped.
    pub reason: StopReason,
}

impl OptimResult {
    /// Whether a convergence test was met (rather than `max_iter` or a failed search).
    pub fn converged(&self) -> bool {
        self.reason.is_converged()
    }
}

pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

pub(crate) fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

/// An iterate: the point, the smooth part's value and gradient, and the whole objective's
/// value and (pseudo-)gradient.
#[derive(Debug, Clone)]
struct Iterate {
    x: Vec<f64>,
    grad: Vec<f64>,
    /// The smooth part's value.
    loss: f64,
    /// The whole objective's value.
    value: f64,
    adjusted_grad: Vec<f64>,
}

/// The objective with its L1 part, counting evaluations.
struct Objective<'a> {
    f: &'a mut dyn DiffFunction,
    l1: &'a [f64],
    evaluations: usize,
}

impl Objective<'_> {
    fn at(&mut self, x: Vec<f64>) -> Result<Iterate, MlError> {
        let (loss, grad) = self.f.evaluate(&x)?;
        if grad.len() != x.len() {
            return Err(MlError::Optimizer(format!(
                "gradient of length {} for {} parameters",
                grad.len(),
                x.len()
            )));
        }
        self.evaluations += 1;
        let value = loss + l1_value(&x, self.l1);
        let adjusted_grad = pseudo_gradient(&x, &grad, self.l1);
        Ok(Iterate {
            x,
            grad,
            loss,
            value,
            adjusted_grad,
        })
    }
}

/// `φ(t)` along `d` from an iterate, projected onto an orthant for OWL-QN; remembers the
/// last trial so the accepted step is not evaluated twice.
struct Line<'o, 'a> {
    objective: &'o mut Objective<'a>,
    from: &'o Iterate,
    d: &'o [f64],
    orthant: Option<Vec<f64>>,
    last: Option<(f64, Iterate)>,
}

impl Line<'_, '_> {
    fn point(&self, t: f64) -> Vec<f64> {
        let mut x: Vec<f64> = self
            .from
            .x
            .iter()
            .zip(self.d)
            .map(|(x, d)| x + t * d)
            .collect();
        if let Some(o) = &self.orthant {
            project(&mut x, o, self.objective.l1);
        }
        x
    }

    /// The iterate at step `t` (the remembered one when it was the last trial).
    fn take(mut self, t: f64) -> Result<Iterate, MlError> {
        match self.last.take() {
            Some((last, it)) if last == t => Ok(it),
            _ => self.objective.at(self.point(t)),
        }
    }
}

impl LineFunction for Line<'_, '_> {
    fn at(&mut self, t: f64) -> Result<(f64, f64), MlError> {
        let it = self.objective.at(self.point(t))?;
        // OWL-QN: the slope of the pseudo-gradient along d (as Breeze; the exact slope of
        // the projected path differs only where a coordinate was clipped to 0).
        let slope = dot(&it.adjusted_grad, self.d);
        let value = it.value;
        self.last = Some((t, it));
        Ok((value, slope))
    }
}

/// One iteration from `state`: the next iterate, or why no step was found.
fn step(
    objective: &mut Objective<'_>,
    state: &Iterate,
    history: &InverseHessian,
    first: bool,
) -> Result<Iterate, LineSearchError> {
    let owlqn = !objective.l1.is_empty();
    let mut d = history.direction(&state.adjusted_grad);
    if owlqn {
        align(&mut d, &state.adjusted_grad, objective.l1);
    }
    let slope0 = dot(&d, &state.adjusted_grad);
    let d_norm = norm(&d);
    let grad_norm = norm(&state.grad);
    let value0 = state.value;
    let mut line = Line {
        orthant: owlqn.then(|| orthant(&state.x, &state.adjusted_grad)),
        objective,
        from: state,
        d: &d,
        last: None,
    };
    let t = if owlqn {
        let (init, shrink) = if first && grad_norm > 0.0 {
            (0.5 / grad_norm, 0.1)
        } else {
            (1.0, 0.5)
        };
        backtracking(&mut line, value0, slope0, init, shrink, Some(state.loss))?
    } else {
        let init = if first { 1.0 / d_norm } else { 1.0 };
        let t = strong_wolfe(&mut line, value0, slope0, init)?;
        if t * grad_norm < 1e-10 {
            return Err(LineSearchError::Underflow);
        }
        t
    };
    Ok(line.take(t)?)
}

/// Minimizes `f(x) + Σ l1_i |x_i|` from `x0`, calling `on_iteration(iteration, objective)`
/// after every iteration.
pub fn minimize(
    f: &mut dyn DiffFunction,
    x0: Vec<f64>,
    config: &OptimConfig,
    on_iteration: &mut dyn FnMut(usize, f64),
) -> Result<OptimResult, MlError> {
    let l1: &[f64] = &config.l1;
    if !l1.is_empty() && l1.len() != x0.len() {
        return Err(MlError::Optimizer(format!(
            "{} L1 weights for {} parameters",
            l1.len(),
            x0.len()
        )));
    }
    if let Some(w) = l1
        .iter()
        .find(|w| w.is_nan() || **w < 0.0 || w.is_infinite())
    {
        return Err(MlError::Optimizer(format!("L1 weight {w} is not >= 0")));
    }
    let mut objective = Objective {
        f,
        l1,
        evaluations: 0,
    };
    let mut state = objective.at(x0)?;
    let mut check = Convergence::new(config.max_iter, config.tol, state.value);
    let mut history = InverseHessian::new(config.memory.max(1));
    let mut objective_history = vec![state.value];
    let mut iterations = 0;
    let mut failed_once = false;
    let reason = loop {
        if let Some(reason) = check.check(iterations, state.value, norm(&state.adjusted_grad)) {
            break reason;
        }
        match step(&mut objective, &state, &history, iterations == 0) {
            Ok(next) => {
                let s = next.x.iter().zip(&state.x).map(|(a, b)| a - b).collect();
                let y = next
                    .grad
                    .iter()
                    .zip(&state.grad)
                    .map(|(a, b)| a - b)
                    .collect();
                history.update(s, y);
                state = next;
                iterations += 1;
                failed_once = false;
                check.record(state.value);
                objective_history.push(state.value);
                on_iteration(iterations, state.value);
            }
            Err(LineSearchError::Objective(e)) => return Err(e),
            Err(_) if !failed_once && !history.is_empty() => {
                failed_once = true;
                history.clear();
            }
            Err(_) => break StopReason::SearchFailed,
        }
    };
    Ok(OptimResult {
        x: state.x,
        objective_history,
        iterations,
        evaluations: objective.evaluations,
        reason,
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
        assert!(r.converged(), "{}", r.reason);
        assert!(r.evaluations > r.iterations);
        assert!(
            r.objective_history.windows(2).all(|w| w[1] <= w[0]),
            "monotone"
        );
    }

    #[test]
    fn owlqn_soft_thresholds() {
        // argmin 0.5 s (x - c)^2 + w |x| = soft(c, w / s).
        let mut f = Quadratic {
            center: vec![1.0, -2.0, 0.3, 4.0],
            scale: vec![1.0, 2.0, 1.0, 1.0],
        };
        let r = minimize(
            &mut f,
            vec![0.0; 4],
            &config(vec![0.5, 1.0, 0.5, 0.0]),
            &mut |_, _| {},
        )
        .unwrap();
        let want = [0.5, -1.5, 0.0, 4.0];
        for (x, w) in r.x.iter().zip(want) {
            assert!((x - w).abs() < 1e-7, "{:?}", r.x);
        }
        assert_eq!(r.x[2], 0.0, "exact zeros");
        assert!(r.converged(), "{}", r.reason);
    }

    /// Rosenbrock's valley: curved, badly conditioned, the classic L-BFGS test.
    struct Rosenbrock;

    impl DiffFunction for Rosenbrock {
        fn evaluate(&mut self, x: &[f64]) -> Result<(f64, Vec<f64>), MlError> {
            let (a, b) = (x[0], x[1]);
            let value = (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2);
            let g = vec![
                -2.0 * (1.0 - a) - 400.0 * a * (b - a * a),
                200.0 * (b - a * a),
            ];
            Ok((value, g))
        }
    }

    #[test]
    fn lbfgs_with_strong_wolfe_solves_rosenbrock_in_few_evaluations() {
        let r = minimize(
            &mut Rosenbrock,
            vec![-1.2, 1.0],
            &config(vec![]),
            &mut |_, _| {},
        )
        .unwrap();
        assert!(
            (r.x[0] - 1.0).abs() < 1e-6 && (r.x[1] - 1.0).abs() < 1e-6,
            "{:?}",
            r.x
        );
        assert!(r.iterations < 60, "{} iterations", r.iterations);
        assert!(r.evaluations < 100, "{} evaluations", r.evaluations);
    }

    #[test]
    fn max_iter_stops_and_says_so() {
        let mut f = Quadratic {
            center: vec![1.0, -2.0, 3.0],
            scale: vec![1.0, 1e4, 1e-4],
        };
        let cfg = OptimConfig {
            max_iter: 2,
            ..config(vec![])
        };
        let r = minimize(&mut f, vec![0.0; 3], &cfg, &mut |_, _| {}).unwrap();
        assert_eq!((r.iterations, r.reason), (2, StopReason::MaxIterations));
        assert_eq!(r.objective_history.len(), 3);
    }

    #[test]
    fn bad_l1_weights_are_refused() {
        let mut f = Quadratic {
            center: vec![1.0],
            scale: vec![1.0],
        };
        for l1 in [vec![1.0, 1.0], vec![-1.0], vec![f64::NAN]] {
            assert!(minimize(&mut f, vec![0.0], &config(l1), &mut |_, _| {}).is_err());
        }
    }
}
