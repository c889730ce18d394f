//! Line searches along a direction `d` from `x`: `φ(t) = F(x + t d)` and its slope `φ'(t)`.
//!
//! - [`strong_wolfe`] for L-BFGS (Nocedal & Wright, Algorithms 3.5 and 3.6, as Breeze's
//!   `StrongWolfeLineSearch`): grows the step by 1.5 while the slope is still steep, then
//!   zooms into a bracket by safeguarded cubic interpolation until the sufficient decrease
//!   (`c1 = 1e-4`) and strong curvature (`|φ'(t)| ≤ 0.9 |φ'(0)|`) conditions hold. The
//!   curvature condition guarantees `sᵀy > 0`, so every step feeds the history.
//! - [`backtracking`] for OWL-QN (Breeze's `BacktrackingLineSearch`): multiplies the step by
//!   `shrink` while the decrease is insufficient or the slope turned too far up, by 2.1 while
//!   it is still too steep; at most 20 trials.

/// Sufficient-decrease constant.
pub const C1: f64 = 1e-4;
/// Curvature constant.
pub const C2: f64 = 0.9;
/// Strong Wolfe: steps tried before zooming (Breeze: 10).
const MAX_GROW: usize = 10;
/// Strong Wolfe: interpolations inside a bracket (Breeze: 10).
const MAX_ZOOM: usize = 10;
/// Backtracking: trials after the first (Breeze: 20).
const MAX_BACKTRACK: usize = 20;
/// Backtracking: the factor a step grows by while the slope is too steep.
const GROW: f64 = 2.1;
/// Backtracking: the step range.
const MIN_STEP: f64 = 1e-10;
const MAX_STEP: f64 = 1e10;

/// The restriction of the objective to a line.
pub trait LineFunction {
    /// `(φ(t), φ'(t))`; an error of the objective itself ends the search.
    fn at(&mut self, t: f64) -> Result<(f64, f64), crate::MlError>;
}

/// Why a line search found no step.
#[derive(Debug, thiserror::Error)]
pub enum LineSearchError {
    /// `φ'(0) ≥ 0`: the direction does not descend.
    #[error("not a descent direction (slope {0})")]
    NotDescent(f64),
    /// The trial budget ran out without an acceptable step.
    #[error("no acceptable step after {0} trials")]
    Exhausted(usize),
    /// The step shrank below 1e-10.
    #[error("step size underflow")]
    Underflow,
    /// The step grew beyond 1e10.
    #[error("step size overflow")]
    Overflow,
    /// The objective could not be evaluated.
    #[error(transparent)]
    Objective(#[from] crate::MlError),
}

/// A point on the line: step, value, slope.
#[derive(Debug, Clone, Copy)]
struct Point {
    t: f64,
    value: f64,
    slope: f64,
}

/// The minimizer of the cubic through `l` and `r` (values and slopes), kept within the middle
/// 80% of the bracket; the midpoint when the cubic has no real minimizer.
fn interpolate(l: Point, r: Point) -> f64 {
    let (l, r) = if l.t <= r.t { (l, r) } else { (r, l) };
    let d1 = l.slope + r.slope - 3.0 * (l.value - r.value) / (l.t - r.t);
    let d2 = (d1 * d1 - l.slope * r.slope).sqrt();
    let t = r.t - (r.t - l.t) * (r.slope + d2 - d1) / (r.slope - l.slope + 2.0 * d2);
    let (lo, hi) = (l.t + 0.1 * (r.t - l.t), l.t + 0.9 * (r.t - l.t));
    if t.is_nan() {
        0.5 * (l.t + r.t)
    } else {
        t.clamp(lo, hi)
    }
}

/// A step satisfying the strong Wolfe conditions for `φ` with `φ(0) = value0` and
/// `φ'(0) = slope0`, starting at `init`. When the bracket cannot be narrowed to such a step
/// (rounding near the minimum), the best step with sufficient decrease found is returned.
pub fn strong_wolfe(
    phi: &mut dyn LineFunction,
    value0: f64,
    slope0: f64,
    init: f64,
) -> Result<f64, LineSearchError> {
    if slope0.is_nan() || slope0 >= 0.0 {
        return Err(LineSearchError::NotDescent(slope0));
    }
    let origin = Point {
        t: 0.0,
        value: value0,
        slope: slope0,
    };
    let sufficient = |p: &Point| p.value <= value0 + C1 * p.t * slope0;
    let curved = |p: &Point| p.slope.abs() <= C2 * slope0.abs();
    let mut low = origin;
    let mut t = init;
    let mut tried = 0;
    for i in 0..MAX_GROW {
        let (value, slope) = phi.at(t)?;
        tried += 1;
        if !value.is_finite() || !slope.is_finite() {
            t *= 0.5;
            continue;
        }
        let c = Point { t, value, slope };
        if !sufficient(&c) || (i > 0 && c.value >= low.value) {
            return zoom(phi, origin, low, c, &mut tried);
        }
        if curved(&c) {
            return Ok(t);
        }
        if c.slope >= 0.0 {
            return zoom(phi, origin, c, low, &mut tried);
        }
        low = c;
        t *= 1.5;
    }
    if low.t > 0.0 {
        return Ok(low.t);
    }
    Err(LineSearchError::Exhausted(tried))
}

/// Narrows a bracket `[low, high]` (low has sufficient decrease and the lowest value so far;
/// the minimizer lies between) until a strong Wolfe step is found.
fn zoom(
    phi: &mut dyn LineFunction,
    origin: Point,
    mut low: Point,
    mut high: Point,
    tried: &mut usize,
) -> Result<f64, LineSearchError> {
    for _ in 0..MAX_ZOOM {
        let t = interpolate(low, high);
        let (value, slope) = phi.at(t)?;
        *tried += 1;
        let c = Point { t, value, slope };
        let finite = value.is_finite() && slope.is_finite();
        if !finite || value > origin.value + C1 * t * origin.slope || value >= low.value {
            high = c;
        } else {
            if slope.abs() <= C2 * origin.slope.abs() {
                return Ok(t);
            }
            if slope * (high.t - low.t) >= 0.0 {
                high = low;
            }
            low = c;
        }
    }
    // Breeze gives up here and clears the history; the best sufficient-decrease step is
    // still a step downhill.
    if low.t > 0.0 {
        return Ok(low.t);
    }
    Err(LineSearchError::Exhausted(*tried))
}

/// A step for OWL-QN: from `init`, multiplied by `shrink` while `φ(t) > φ(0) + c1 t φ'(0)` or
/// `φ'(t) > -c2 φ'(0)`, by 2.1 while `φ'(t) < c2 φ'(0)`. After 20 trials the best step with
/// sufficient decrease is taken, if any.
///
/// `first_value`, when given, stands in for `φ(init)` in the first trial's decrease test, as
/// in Breeze's OWL-QN (which passes the smooth part's value at the start): once the L1 part
/// exceeds `c1 · init · |φ'(0)|` the first step is then judged by the curvature conditions
/// alone. That is what lets Spark's OWL-QN keep unit steps through the kinks; without it,
/// OWL-QN needs about 25% more iterations on L1-only problems.
pub fn backtracking(
    phi: &mut dyn LineFunction,
    value0: f64,
    slope0: f64,
    init: f64,
    shrink: f64,
    first_value: Option<f64>,
) -> Result<f64, LineSearchError> {
    if slope0.is_nan() || slope0 >= 0.0 {
        return Err(LineSearchError::NotDescent(slope0));
    }
    let mut t = init;
    let mut best: Option<(f64, f64)> = None;
    for trial in 0..=MAX_BACKTRACK {
        let (value, slope) = phi.at(t)?;
        let finite = value.is_finite() && slope.is_finite();
        let tested = match first_value {
            Some(v) if trial == 0 => v,
            _ => value,
        };
        let decrease = finite && tested <= value0 + C1 * t * slope0;
        if decrease && best.is_none_or(|(_, v)| value < v) {
            best = Some((t, value));
        }
        let factor = if !decrease {
            shrink
        } else if slope < C2 * slope0 {
            GROW
        } else if slope > -C2 * slope0 {
            shrink
        } else {
            return Ok(t);
        };
        t *= factor;
        if t < MIN_STEP {
            return best.map(|b| b.0).ok_or(LineSearchError::Underflow);
        }
        if t > MAX_STEP {
            return best.map(|b| b.0).ok_or(LineSearchError::Overflow);
        }
    }
    best.map(|b| b.0)
        .ok_or(LineSearchError::Exhausted(MAX_BACKTRACK + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// φ(t) = (t - 3)² along a line, counting evaluations.
    struct Parabola {
        calls: usize,
    }

    impl LineFunction for Parabola {
        fn at(&mut self, t: f64) -> Result<(f64, f64), crate::MlError> {
            self.calls += 1;
            Ok(((t - 3.0).powi(2), 2.0 * (t - 3.0)))
        }
    }

    #[test]
    fn strong_wolfe_grows_then_zooms_to_a_point_meeting_both_conditions() {
        let mut phi = Parabola { calls: 0 };
        let t = strong_wolfe(&mut phi, 9.0, -6.0, 0.1).unwrap();
        let (value, slope) = ((t - 3.0f64).powi(2), 2.0 * (t - 3.0));
        assert!(value <= 9.0 + C1 * t * -6.0, "t = {t}");
        assert!(slope.abs() <= C2 * 6.0, "t = {t}");
        assert!(phi.calls <= 12, "{} evaluations", phi.calls);
    }

    #[test]
    fn strong_wolfe_zooms_back_from_an_overshoot() {
        let mut phi = Parabola { calls: 0 };
        let t = strong_wolfe(&mut phi, 9.0, -6.0, 100.0).unwrap();
        assert!((t - 3.0).abs() < 2.7, "t = {t}");
    }

    #[test]
    fn ascent_directions_are_refused() {
        let mut phi = Parabola { calls: 0 };
        assert!(matches!(
            strong_wolfe(&mut phi, 9.0, 1.0, 1.0),
            Err(LineSearchError::NotDescent(_))
        ));
        assert!(matches!(
            backtracking(&mut phi, 9.0, 0.0, 1.0, 0.5, None),
            Err(LineSearchError::NotDescent(_))
        ));
        assert_eq!(phi.calls, 0);
    }

    #[test]
    fn backtracking_meets_the_conditions_from_both_sides() {
        for init in [0.01, 1.0, 50.0] {
            let mut phi = Parabola { calls: 0 };
            let t = backtracking(&mut phi, 9.0, -6.0, init, 0.5, None).unwrap();
            let slope = 2.0 * (t - 3.0);
            assert!(slope.abs() <= C2 * 6.0, "init {init}: t = {t}");
        }
    }

    #[test]
    fn cubic_interpolation_finds_a_parabola_minimum_and_stays_inside() {
        let p = |t: f64| Point {
            t,
            value: (t - 3.0).powi(2),
            slope: 2.0 * (t - 3.0),
        };
        assert!((interpolate(p(0.0), p(5.0)) - 3.0).abs() < 1e-12);
        assert!((interpolate(p(5.0), p(0.0)) - 3.0).abs() < 1e-12);
        assert_eq!(interpolate(p(2.9), p(10.0)), 2.9 + 0.1 * 7.1);
    }
}
