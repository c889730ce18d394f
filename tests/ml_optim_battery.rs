//! The optimizer on hard problems, checked by the optimality (KKT) conditions of Spark's
//! objective recomputed independently from the rows (`ml_problems`): at every non-zero
//! coefficient the smooth gradient plus the L1 subgradient is within 1e-6 of 0, at every zero
//! coefficient the smooth gradient is within the L1 weight. In process (`LocalFrame`), at
//! `tol` 1e-12 with a budget of 5000 iterations for logistic regression: at that tolerance the
//! function-value test fires only once 20 consecutive objectives agree within 1e-12 of f(x0),
//! which on the weighted L1 case takes from about 700 to about 5000 iterations depending on the
//! last bits of the gradient sums (the kernels' summation order), with the same optimum.

mod ml_problems;

use cinder_algorithms::classification::{Family, LogisticRegression};
use cinder_algorithms::regression::{LinearRegression, Solver};
use ml_problems::*;

/// Slack on zero coordinates: |∂f| may exceed the L1 weight by the optimizer's gradient
/// floor (1e-8), no more.
const ZERO_SLACK: f64 = 1e-8;

fn logistic(
    case: &str,
    rows: &Rows,
    weights: Option<&[f64]>,
    penalty: Penalty,
    family: Family,
) -> Kkt {
    let (frame, columns) = frame(rows, weights, 3);
    let model = LogisticRegression {
        max_iter: 5000,
        tol: 1e-12,
        reg_param: penalty.reg,
        elastic_net_param: penalty.alpha,
        standardization: penalty.standardization,
        family,
        columns,
        ..LogisticRegression::default()
    }
    .fit(&frame)
    .unwrap();
    let s = &model.summary;
    assert!(
        s.stop_reason.is_some_and(|r| r.is_converged()),
        "{case}: stopped because {:?} after {} iterations",
        s.stop_reason,
        s.iterations
    );
    assert!(s.evaluations > s.iterations, "{case}: {s:?}");
    let kkt = logistic_kkt(
        rows,
        weights,
        &model.coefficient_matrix,
        &model.intercepts,
        penalty,
    );
    eprintln!(
        "{case}: {} iterations, {} evaluations, {kkt:?}",
        s.iterations, s.evaluations
    );
    kkt.assert_optimal(case, ZERO_SLACK);
    kkt
}

fn linear(case: &str, rows: &Rows, weights: Option<&[f64]>, penalty: Penalty) -> Kkt {
    let (frame, columns) = frame(rows, weights, 3);
    let model = LinearRegression {
        max_iter: 1000,
        tol: 1e-12,
        reg_param: penalty.reg,
        elastic_net_param: penalty.alpha,
        standardization: penalty.standardization,
        solver: Solver::LBfgs,
        columns,
        ..LinearRegression::default()
    }
    .fit(&frame)
    .unwrap();
    let s = &model.summary;
    assert!(
        s.stop_reason.is_some_and(|r| r.is_converged()),
        "{case}: stopped because {:?} after {} iterations",
        s.stop_reason,
        s.iterations
    );
    let kkt = linear_kkt(rows, weights, &model.coefficients, penalty);
    eprintln!(
        "{case}: {} iterations, {} evaluations, {kkt:?}",
        s.iterations, s.evaluations
    );
    kkt.assert_optimal(case, ZERO_SLACK);
    kkt
}

fn penalty(reg: f64, alpha: f64) -> Penalty {
    Penalty {
        reg,
        alpha,
        standardization: true,
    }
}

#[test]
fn binomial_on_features_over_six_orders_of_magnitude() {
    let rows = scaled_binary();
    logistic(
        "scaled enet",
        &rows,
        None,
        penalty(0.02, 0.5),
        Family::Binomial,
    );
    logistic(
        "scaled l2",
        &rows,
        None,
        penalty(0.01, 0.0),
        Family::Binomial,
    );
}

/// Without standardization the penalty on the standardized coefficients is `λ/σ_j²`: about
/// 1e3 on the 1e-3-scaled columns and 1e-9 on the 1e3-scaled ones, whose near copies are then
/// left practically unregularized, a direction of curvature about 1e-6. Spark and Cinder both
/// stop at `maxIter` 1000 short of the optimum (KKT residual about 9e-3); a diagonal change of
/// variables for the penalty was tried and does not help, the flat direction is in the data.
#[test]
#[ignore = "known limit: unstandardized penalty leaves near-copy columns unregularized; no convergence in 1000 iterations (Spark neither)"]
fn binomial_unstandardized_on_features_over_six_orders_of_magnitude() {
    let unstandardized = Penalty {
        standardization: false,
        ..penalty(0.001, 0.0)
    };
    logistic(
        "scaled l2 nostd",
        &scaled_binary(),
        None,
        unstandardized,
        Family::Binomial,
    );
}

#[test]
fn binomial_with_weights_and_l1_keeps_exact_zeros() {
    let rows = scaled_binary();
    let w = weights(rows.len(), WEIGHT_SEED);
    let kkt = logistic(
        "weighted l1",
        &rows,
        Some(&w),
        penalty(0.05, 1.0),
        Family::Binomial,
    );
    assert!(kkt.zeros >= 10, "{kkt:?}");
}

#[test]
fn many_zero_coefficients_under_l1() {
    let rows = sparse_truth();
    let kkt = logistic(
        "sparse l1",
        &rows,
        None,
        penalty(0.03, 1.0),
        Family::Binomial,
    );
    assert!(kkt.zeros >= 40, "most of 60 coefficients are 0: {kkt:?}");
}

#[test]
fn near_separable_classes() {
    let rows = near_separable();
    logistic(
        "near separable l2",
        &rows,
        None,
        penalty(1e-3, 0.0),
        Family::Binomial,
    );
    logistic(
        "near separable enet",
        &rows,
        None,
        penalty(1e-3, 0.5),
        Family::Binomial,
    );
}

#[test]
fn multinomial_with_ten_classes() {
    let rows = multiclass10();
    logistic(
        "multi10 enet",
        &rows,
        None,
        penalty(0.01, 0.3),
        Family::Multinomial,
    );
    logistic(
        "multi10 l2",
        &rows,
        None,
        penalty(0.005, 0.0),
        Family::Multinomial,
    );
}

#[test]
fn linear_regression_lbfgs_on_collinear_scaled_columns() {
    linear("linear l2", &scaled_linear(), None, penalty(0.1, 0.0));
}

#[test]
fn linear_regression_owlqn_with_and_without_weights() {
    let rows = sparse_linear();
    linear("linear enet", &rows, None, penalty(0.1, 0.7));
    let w = weights(rows.len(), WEIGHT_SEED);
    let kkt = linear("linear weighted l1", &rows, Some(&w), penalty(0.5, 1.0));
    assert!(kkt.zeros >= 1, "{kkt:?}");
}
