//! Spark's `logLoss` metric (`MulticlassClassificationEvaluator`) for logistic models: the
//! weighted mean of `-ln p(label)`, with the probability clipped to `[1e-15, 1 - 1e-15]`,
//! computed on the workers from the model's margins (one pass, partials in partition order).

use arrow_array::RecordBatch;
use cinder_actors::data::aggregate::Aggregator;

use super::logistic_kernel::LogisticPredictArgs;
use super::LogisticRegressionModel;
use crate::features::Rows;
use crate::frame::Frame;
use crate::MlError;

/// Spark's clipping of probabilities in `logLoss`.
const EPS: f64 = 1e-15;

/// Class probabilities from margins: `[1 - p, p]` for one (binomial) margin, the softmax
/// otherwise.
pub fn class_probabilities(margins: &[f64]) -> Vec<f64> {
    if margins.len() == 1 {
        let p = 1.0 / (1.0 + (-margins[0]).exp());
        return vec![1.0 - p, p];
    }
    let max = margins.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exps: Vec<f64> = margins.iter().map(|m| (m - max).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

/// Weighted log-loss sums of a partition: `(Σ w·(-ln p), Σ w)`.
pub struct LogLossAgg;

impl Aggregator for LogLossAgg {
    const NAME: &'static str = "ml.logistic.log_loss";
    type Args = LogisticPredictArgs;
    type Acc = (f64, f64);

    fn zero(_: &LogisticPredictArgs) -> (f64, f64) {
        (0.0, 0.0)
    }

    fn seq(
        acc: (f64, f64),
        batch: &RecordBatch,
        model: &LogisticPredictArgs,
    ) -> Result<(f64, f64), String> {
        let rows = Rows::new(batch, &model.spec)?;
        let (mut loss, mut weight) = acc;
        for i in 0..rows.len() {
            let probabilities = class_probabilities(&model.margins(&rows, i));
            let label = rows.label(i);
            let p = probabilities
                .get(label as usize)
                .copied()
                .filter(|_| label >= 0.0 && label.fract() == 0.0)
                .ok_or_else(|| format!("label {label} is not one of the model's classes"))?;
            let w = rows.weight(i);
            loss += -w * p.clamp(EPS, 1.0 - EPS).ln();
            weight += w;
        }
        Ok((loss, weight))
    }

    fn comb(a: (f64, f64), b: (f64, f64), _: &LogisticPredictArgs) -> (f64, f64) {
        (a.0 + b.0, a.1 + b.1)
    }
}
cinder_actors::register_aggregator!(LogLossAgg);

/// `ml.logistic.probability_vector`: class probabilities (`[1 - p, p]` for binomial models).
pub fn probability_vector_column(
    batch: &RecordBatch,
    args: &[u8],
) -> Result<arrow_array::ArrayRef, String> {
    vector_column(batch, args, class_probabilities)
}
cinder_actors::register_column!("ml.logistic.probability_vector", probability_vector_column);

/// `ml.logistic.raw_prediction`: Spark's `rawPrediction`, the margins (`[-m, m]` for binomial
/// models).
pub fn raw_prediction_column(
    batch: &RecordBatch,
    args: &[u8],
) -> Result<arrow_array::ArrayRef, String> {
    vector_column(batch, args, |m| {
        if m.len() == 1 {
            vec![-m[0], m[0]]
        } else {
            m.to_vec()
        }
    })
}
cinder_actors::register_column!("ml.logistic.raw_prediction", raw_prediction_column);

fn vector_column(
    batch: &RecordBatch,
    args: &[u8],
    f: fn(&[f64]) -> Vec<f64>,
) -> Result<arrow_array::ArrayRef, String> {
    let model: LogisticPredictArgs = rmp_serde::from_slice(args).map_err(|e| e.to_string())?;
    let rows = Rows::new_features_only(batch, &model.spec)?;
    Ok(crate::vectors::list_column(
        (0..rows.len()).map(|i| f(&model.margins(&rows, i))),
    ))
}

impl LogisticRegressionModel {
    /// Spark's `logLoss` of the model on labelled `data`.
    pub fn log_loss<F: Frame>(&self, data: &F) -> Result<f64, MlError> {
        let (loss, weight) = data.tree_aggregate::<LogLossAgg>(&self.predict_args(), 2)?;
        if weight <= 0.0 {
            return Err(MlError::Input("no rows to evaluate".into()));
        }
        Ok(loss / weight)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probabilities_sum_to_one_and_match_the_sigmoid() {
        let p = class_probabilities(&[0.0]);
        assert_eq!(p, vec![0.5, 0.5]);
        let p = class_probabilities(&[2.0]);
        assert!((p[1] - 1.0 / (1.0 + (-2.0f64).exp())).abs() < 1e-15);
        let p = class_probabilities(&[1.0, 2.0, 3.0]);
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(p[2] > p[1] && p[1] > p[0]);
        let big = class_probabilities(&[1000.0, 0.0]);
        assert!(big[0].is_finite() && (big[0] - 1.0).abs() < 1e-12);
    }
}
