//! Breeze's stopping rules (`FirstOrderMinimizer.defaultConvergenceCheck`, as Spark builds
//! its optimizers with `tol`), checked after every iteration and at the start, first match wins:
//!
//! 1. `maxIter` iterations done;
//! 2. function values: the objective differs from the largest of the last 20 objectives by at
//!    most `tol · |f(x₀)|`, relative to the objective at the *start* (the window starts with
//!    `+∞`, so this cannot fire before iteration 20);
//! 3. gradient: `‖∇‖ ≤ max(tol · |f(x)|, 1e-8)` for the (pseudo-)gradient of the whole
//!    objective;
//! 4. the line search failed twice in a row (the first failure only clears the history).

use std::collections::VecDeque;
use std::fmt;

use serde::{Deserialize, Serialize};

/// How many objective values the function-value test looks back over (Breeze's `fvalMemory`
/// as Spark gets it).
pub const FVAL_MEMORY: usize = 20;

/// Absolute floor of the gradient-norm test.
pub const GRADIENT_FLOOR: f64 = 1e-8;

/// Why the optimizer stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// `max_iter` iterations were run.
    MaxIterations,
    /// The objective stopped improving (test 2).
    FunctionValuesConverged,
    /// The gradient is (nearly) zero (test 3).
    GradientConverged,
    /// No acceptable step could be found, even from a cleared history.
    SearchFailed,
}

impl StopReason {
    /// Whether this is a convergence test rather than a budget or a failure.
    pub fn is_converged(self) -> bool {
        matches!(
            self,
            StopReason::FunctionValuesConverged | StopReason::GradientConverged
        )
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StopReason::MaxIterations => "max iterations reached",
            StopReason::FunctionValuesConverged => "function values converged",
            StopReason::GradientConverged => "gradient converged",
            StopReason::SearchFailed => "line search failed",
        })
    }
}

/// The state the tests look at.
#[derive(Debug, Clone)]
pub struct Convergence {
    max_iter: usize,
    tol: f64,
    initial_value: f64,
    window: VecDeque<f64>,
}

impl Convergence {
    /// Tests for `max_iter` and `tol`, objective `initial_value` at the start.
    pub fn new(max_iter: usize, tol: f64, initial_value: f64) -> Self {
        let mut window = VecDeque::with_capacity(FVAL_MEMORY + 1);
        window.push_back(f64::INFINITY);
        Self {
            max_iter,
            tol,
            initial_value,
            window,
        }
    }

    /// Records the objective of a new iterate.
    pub fn record(&mut self, value: f64) {
        self.window.push_back(value);
        while self.window.len() > FVAL_MEMORY {
            self.window.pop_front();
        }
    }

    /// The first test met at an iterate (`iterations` done, objective `value`, whole-objective
    /// gradient norm `gradient_norm`), if any.
    pub fn check(&self, iterations: usize, value: f64, gradient_norm: f64) -> Option<StopReason> {
        if iterations >= self.max_iter {
            return Some(StopReason::MaxIterations);
        }
        let worst = self
            .window
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        if self.window.len() >= 2 && (value - worst).abs() <= self.tol * self.initial_value.abs() {
            return Some(StopReason::FunctionValuesConverged);
        }
        if gradient_norm <= (self.tol * value.abs()).max(GRADIENT_FLOOR) {
            return Some(StopReason::GradientConverged);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_values_need_a_full_window_and_compare_to_the_start() {
        let mut c = Convergence::new(1000, 1e-6, 10.0);
        // Flat from the first iteration: still not converged until 20 values are recorded.
        for i in 1..FVAL_MEMORY {
            c.record(1.0);
            assert_eq!(c.check(i, 1.0, 1.0), None, "iteration {i}");
        }
        c.record(1.0);
        assert_eq!(
            c.check(FVAL_MEMORY, 1.0, 1.0),
            Some(StopReason::FunctionValuesConverged)
        );
        // An improvement of 5e-6 over the window is within tol · |f0| = 1e-5: converged.
        let mut c = Convergence::new(1000, 1e-6, 10.0);
        for i in 0..FVAL_MEMORY {
            c.record(1.0 - 5e-6 * i as f64 / FVAL_MEMORY as f64);
        }
        assert_eq!(
            c.check(FVAL_MEMORY, 1.0 - 5e-6, 1.0),
            Some(StopReason::FunctionValuesConverged)
        );
        // The same improvement relative to a start of 1.0 is not enough.
        let mut c = Convergence::new(1000, 1e-6, 1.0);
        for i in 0..FVAL_MEMORY {
            c.record(1.0 - 5e-5 * i as f64 / FVAL_MEMORY as f64);
        }
        assert_eq!(c.check(FVAL_MEMORY, 1.0 - 5e-5, 1.0), None);
    }

    #[test]
    fn gradient_test_is_relative_with_an_absolute_floor_and_max_iter_comes_first() {
        let c = Convergence::new(5, 1e-12, 1.0);
        assert_eq!(c.check(1, 100.0, 2e-8), None);
        assert_eq!(c.check(1, 100.0, 1e-8), Some(StopReason::GradientConverged));
        let c = Convergence::new(5, 1e-3, 1.0);
        assert_eq!(c.check(1, 100.0, 0.09), Some(StopReason::GradientConverged));
        assert_eq!(c.check(5, 100.0, 0.0), Some(StopReason::MaxIterations));
    }
}
