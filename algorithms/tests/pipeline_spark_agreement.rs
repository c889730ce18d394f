//! The ML workflow against Spark: featurizers, the LR pipeline and cross-validation on the
//! census-like table of `tools/spark_reference_pipeline.py`, whose answers (pyspark 4.3) are
//! in `tests/spark_reference_pipeline.json`. Runs in process on `LocalFrame`s of 3
//! partitions (the kernels the cluster runs, combined in partition order). Each comparison
//! is also checked on its own terms where it can be (ranks of quantiles in the data, unit
//! norms, ranges, indices against label counts).

use std::path::PathBuf;

use arrow_array::RecordBatch;
use cinder_actors::data::csv::{infer_layout, read_partition, CsvType};
use cinder_actors::data::plan::TextSplit;
use cinder_algorithms::feature::columns::{double_values, string_values, vector_values};
use cinder_algorithms::feature::string_indexer::StringIndexerModel;
use cinder_algorithms::pipeline::spec::{PipelineSpec, StageSpec};
use cinder_algorithms::pipeline::{Pipeline, PipelineModel};
use cinder_algorithms::tuning::Tuner;
use cinder_algorithms::{Frame, LocalFrame};
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn reference() -> Value {
    let text = std::fs::read_to_string(root().join("tests/spark_reference_pipeline.json"))
        .expect("reference");
    serde_json::from_str(&text).expect("json")
}

/// A CSV file read as pipelines read it (numbers as doubles), in 3 partitions.
fn load(name: &str) -> LocalFrame {
    let path = root().join("data").join(name);
    let mut layout = infer_layout(&path, true, b',', usize::MAX).expect("layout");
    for column in &mut layout.columns {
        if column.1 == CsvType::Int64 {
            column.1 = CsvType::Float64;
        }
    }
    let split = TextSplit {
        start: 0,
        end: std::fs::metadata(&path).expect("file").len(),
        first_line: 1,
    };
    let batch = read_partition(&path, &split, &layout).expect("read");
    let n = batch.num_rows();
    let cuts = [0, n / 3, 2 * n / 3, n];
    LocalFrame {
        batches: cuts
            .windows(2)
            .map(|w| batch.slice(w[0], w[1] - w[0]))
            .collect(),
    }
}

fn stages(value: &Value) -> Vec<StageSpec> {
    serde_json::from_value(value.clone()).expect("stages")
}

fn fit(specs: &[StageSpec], train: &LocalFrame) -> PipelineModel<LocalFrame> {
    Pipeline::<LocalFrame>::from_specs(specs)
        .expect("pipeline")
        .fit(train)
        .expect("fit")
}

fn concat(frame: &LocalFrame) -> RecordBatch {
    arrow_select::concat::concat_batches(&frame.batches[0].schema(), &frame.batches)
        .expect("concat")
}

fn number(v: &Value) -> f64 {
    match v {
        Value::String(s) if s == "NaN" => f64::NAN,
        Value::String(s) if s == "Infinity" => f64::INFINITY,
        Value::String(s) if s == "-Infinity" => f64::NEG_INFINITY,
        other => other.as_f64().expect("number"),
    }
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= tol * (1.0 + b.abs())
}

fn assert_vectors(name: &str, ours: &[Option<Vec<f64>>], spark: &Value, tol: f64) {
    let spark = spark.as_array().expect("rows");
    assert!(!spark.is_empty(), "{name}: no reference rows");
    for (i, row) in spark.iter().enumerate() {
        let expected: Vec<f64> = row.as_array().expect("vector").iter().map(number).collect();
        let got = ours[i]
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: row {i} is null"));
        assert_eq!(got.len(), expected.len(), "{name}: row {i} size");
        for (j, (a, b)) in got.iter().zip(&expected).enumerate() {
            assert!(close(*a, *b, tol), "{name}: row {i}[{j}]: {a} vs Spark {b}");
        }
    }
}

fn spec(class: &str, params: Value) -> StageSpec {
    serde_json::from_value(serde_json::json!({"class": class, "params": params})).expect("spec")
}

#[test]
fn typed_csv_and_string_indexer_agree_with_spark() {
    let r = reference();
    let (train, test) = (load("census_train.csv"), load("census_test.csv"));
    let all = concat(&train);
    assert_eq!(all.num_rows() as u64, r["train_rows"].as_u64().unwrap());
    let nulls = string_values(&all, "workclass")
        .unwrap()
        .iter()
        .filter(|v| v.is_none())
        .count();
    assert_eq!(nulls as u64, r["null_workclass_train"].as_u64().unwrap());

    for (order, expected) in r["indexer_orders"].as_object().unwrap() {
        let s = spec(
            "StringIndexer",
            serde_json::json!({"inputCols": ["education", "shift", "workclass"],
                               "outputCols": ["e", "s", "w"], "stringOrderType": order}),
        );
        let model = fit(&[s], &train);
        let indexer = model.stages[0]
            .1
            .as_any()
            .downcast_ref::<StringIndexerModel>()
            .unwrap();
        let expected: Vec<Vec<String>> = serde_json::from_value(expected.clone()).unwrap();
        assert_eq!(indexer.state.labels_array, expected, "{order}");
        // On its own terms: frequencyDesc counts never increase along the labels.
        if order == "frequencyDesc" {
            let education = string_values(&all, "education").unwrap();
            let count = |l: &str| education.iter().filter(|v| v.as_deref() == Some(l)).count();
            let counts: Vec<usize> = expected[0].iter().map(|l| count(l)).collect();
            assert!(counts.windows(2).all(|w| w[0] >= w[1]), "{counts:?}");
        }
    }

    let keep = fit(
        &[spec(
            "StringIndexer",
            serde_json::json!({"inputCol": "workclass", "outputCol": "w", "handleInvalid": "keep"}),
        )],
        &train,
    );
    let kept = concat(&keep.transform(&test).unwrap());
    let ours: Vec<f64> = double_values(&kept, "w")
        .unwrap()
        .into_iter()
        .map(|v| v.unwrap())
        .collect();
    let spark: Vec<f64> = r["workclass_keep_test"]
        .as_array()
        .unwrap()
        .iter()
        .map(number)
        .collect();
    assert_eq!(ours, spark);
    let back = fit(
        &[
            spec(
                "StringIndexer",
                serde_json::json!({"inputCol": "workclass", "outputCol": "w", "handleInvalid": "keep"}),
            ),
            spec(
                "IndexToString",
                serde_json::json!({"inputCol": "w", "outputCol": "w_str"}),
            ),
        ],
        &train,
    );
    let strings = string_values(&concat(&back.transform(&test).unwrap()), "w_str").unwrap();
    let spark: Vec<Option<String>> =
        serde_json::from_value(r["index_to_string_test"].clone()).unwrap();
    assert_eq!(strings, spark);

    let skip = fit(
        &[spec(
            "StringIndexer",
            serde_json::json!({"inputCol": "workclass", "outputCol": "w", "handleInvalid": "skip"}),
        )],
        &train,
    );
    let rows: usize = skip
        .transform(&test)
        .unwrap()
        .batches
        .iter()
        .map(|b| b.num_rows())
        .sum();
    assert_eq!(rows as u64, r["workclass_skip_test_rows"].as_u64().unwrap());

    let error = fit(
        &[spec(
            "StringIndexer",
            serde_json::json!({"inputCol": "workclass", "outputCol": "w"}),
        )],
        &train,
    );
    let e = error.transform(&test).unwrap_err().to_string();
    assert!(
        e.contains("workclass") && e.contains("handleInvalid"),
        "{e}"
    );
}

#[test]
fn one_hot_and_imputer_agree_with_spark() {
    let r = reference();
    let (train, test) = (load("census_train.csv"), load("census_test.csv"));
    let indexer = spec(
        "StringIndexer",
        serde_json::json!({"inputCol": "workclass", "outputCol": "w", "handleInvalid": "keep"}),
    );
    for (key, expected) in r["onehot_test"].as_object().unwrap() {
        let drop_last = key.contains("dropLast=True");
        let invalid = if key.contains("handleInvalid=keep") {
            "keep"
        } else {
            "error"
        };
        let encoder = spec(
            "OneHotEncoder",
            serde_json::json!({"inputCol": "w", "outputCol": "v", "dropLast": drop_last, "handleInvalid": invalid}),
        );
        let model = fit(&[indexer.clone(), encoder], &train);
        let out = concat(&model.transform(&test).unwrap());
        let vectors = vector_values(&out, "v").unwrap();
        assert_vectors(key, &vectors, expected, 0.0);
        assert!(vectors
            .iter()
            .flatten()
            .all(|v| v.iter().sum::<f64>() <= 1.0));
    }

    let train_all = concat(&train);
    for strategy in ["mean", "median", "mode"] {
        let imputer = spec(
            "Imputer",
            serde_json::json!({"inputCols": ["age", "hours"], "outputCols": ["a", "h"], "strategy": strategy}),
        );
        let model = fit(&[imputer], &train);
        let out = concat(&model.transform(&train).unwrap());
        for (j, (input, output)) in [("age", "a"), ("hours", "h")].iter().enumerate() {
            let raw = double_values(&train_all, input).unwrap();
            let filled = double_values(&out, output).unwrap();
            let missing = raw
                .iter()
                .position(|v| v.is_none())
                .expect("a missing cell");
            let ours = filled[missing].unwrap();
            let spark = number(&r["imputer"][strategy][j]);
            let mut present: Vec<f64> = raw.iter().flatten().copied().collect();
            present.sort_by(f64::total_cmp);
            match strategy {
                "median" => {
                    // Within Spark's relativeError (0.001) in rank, both of them.
                    let rank = |x: f64| present.partition_point(|v| *v < x) as f64;
                    let target = 0.5 * present.len() as f64;
                    let bound = 0.001 * present.len() as f64 + 1.0;
                    for x in [ours, spark] {
                        let (lo, hi) = (rank(x), present.partition_point(|v| *v <= x) as f64);
                        assert!(lo - bound <= target && target <= hi + bound, "{input}: {x}");
                    }
                }
                "mean" => {
                    let mean = present.iter().sum::<f64>() / present.len() as f64;
                    assert!(
                        close(ours, spark, 1e-12) && close(ours, mean, 1e-12),
                        "{input}"
                    );
                }
                _ => assert_eq!(ours, spark, "{input} mode"),
            }
            assert!(filled.iter().all(|v| v.is_some_and(|x| !x.is_nan())));
        }
    }
    let zero = spec(
        "Imputer",
        serde_json::json!({"inputCol": "capital", "outputCol": "c", "missingValue": 0.0}),
    );
    let model = fit(&[zero], &train);
    let out = concat(&model.transform(&train).unwrap());
    let c = double_values(&out, "c").unwrap();
    let surrogate = number(&r["imputer"]["capital_missing_zero"]);
    assert!(c.iter().flatten().all(|x| *x != 0.0));
    assert!(c.iter().flatten().any(|x| close(*x, surrogate, 1e-12)));
}

#[test]
fn assembler_scalers_and_discretizers_agree_with_spark() {
    let r = reference();
    let (train, test) = (load("census_train.csv"), load("census_test.csv"));
    let prep = stages(&r["prep_spec"]);
    let prep_model = fit(&prep, &train);
    let prepared = prep_model.transform(&test).unwrap();
    let prepared_train = prep_model.transform(&train).unwrap();
    let out = concat(&prepared);
    assert_vectors(
        "raw",
        &vector_values(&out, "raw").unwrap(),
        &r["prep_raw_test"],
        1e-12,
    );
    let labels: Vec<f64> = double_values(&out, "label")
        .unwrap()
        .into_iter()
        .map(|v| v.unwrap())
        .collect();
    let spark: Vec<f64> = r["prep_label_test"]
        .as_array()
        .unwrap()
        .iter()
        .map(number)
        .collect();
    assert_eq!(labels, spark);

    for (name, expected) in r["scalers_test"].as_object().unwrap() {
        let stage = if let Some(p) = name.strip_prefix("Normalizer_p=") {
            spec(
                "Normalizer",
                serde_json::json!({"inputCol": "raw", "outputCol": "out", "p": p.parse::<f64>().ok().filter(|x| x.is_finite()).map_or(Value::from(p), Value::from)}),
            )
        } else if name == "StandardScaler_withMean" {
            spec(
                "StandardScaler",
                serde_json::json!({"inputCol": "raw", "outputCol": "out", "withMean": true}),
            )
        } else {
            spec(
                name,
                serde_json::json!({"inputCol": "raw", "outputCol": "out"}),
            )
        };
        let model = fit(std::slice::from_ref(&stage), &prepared_train);
        let scaled = concat(&model.transform(&prepared).unwrap());
        let vectors = vector_values(&scaled, "out").unwrap();
        assert_vectors(name, &vectors, expected, 1e-9);
        if name == "Normalizer_p=2.0" {
            for v in vectors.iter().flatten() {
                let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
                assert!((norm - 1.0).abs() < 1e-12);
            }
        }
    }

    let binarized = fit(
        &[spec(
            "Binarizer",
            serde_json::json!({"inputCol": "hours_f", "outputCol": "out", "threshold": 40.0}),
        )],
        &prepared_train,
    );
    let got: Vec<f64> = double_values(&concat(&binarized.transform(&prepared).unwrap()), "out")
        .unwrap()
        .into_iter()
        .map(|v| v.unwrap())
        .collect();
    let spark: Vec<f64> = r["binarizer_test"]
        .as_array()
        .unwrap()
        .iter()
        .map(number)
        .collect();
    assert_eq!(&got[..spark.len()], &spark[..]);

    let bucketizer = spec(
        "Bucketizer",
        serde_json::json!({"inputCol": "age_f", "outputCol": "out", "splits": r["bucketizer_splits"]}),
    );
    let model = fit(&[bucketizer], &prepared_train);
    let got: Vec<f64> = double_values(&concat(&model.transform(&prepared).unwrap()), "out")
        .unwrap()
        .into_iter()
        .map(|v| v.unwrap())
        .collect();
    let spark: Vec<f64> = r["bucketizer_test"]
        .as_array()
        .unwrap()
        .iter()
        .map(number)
        .collect();
    assert_eq!(got, spark);

    let qd = spec(
        "QuantileDiscretizer",
        serde_json::json!({"inputCol": "hours_f", "outputCol": "out", "numBuckets": 4}),
    );
    let model = fit(&[qd], &prepared_train);
    let bucketed = concat(&model.transform(&prepared_train).unwrap());
    let hours: Vec<f64> = double_values(&concat(&prepared_train), "hours_f")
        .unwrap()
        .into_iter()
        .flatten()
        .collect();
    let mut sorted = hours.clone();
    sorted.sort_by(f64::total_cmp);
    let spark: Vec<f64> = r["quantile_discretizer_splits"]
        .as_array()
        .unwrap()
        .iter()
        .map(number)
        .collect();
    assert_eq!(spark.len(), 5);
    let buckets = double_values(&bucketed, "out").unwrap();
    // Our splits are within relativeError in rank of the quartiles, as Spark's are: the
    // bucket sizes are each a quarter of the rows, up to ties and ε·n.
    for b in 0..4 {
        let size = buckets.iter().filter(|v| **v == Some(b as f64)).count() as f64;
        let spark_size = hours
            .iter()
            .filter(|x| spark[b] <= **x && (**x < spark[b + 1] || (b == 3 && **x == spark[4])))
            .count() as f64;
        let ties = sorted.windows(2).filter(|w| w[0] == w[1]).count() as f64;
        assert!(
            (size - spark_size).abs() <= 0.002 * hours.len() as f64 + ties,
            "bucket {b}"
        );
    }

    let keep = fit(
        &[spec(
            "VectorAssembler",
            serde_json::json!({"inputCols": ["age", "hours"], "outputCol": "out", "handleInvalid": "keep"}),
        )],
        &test,
    );
    let kept = concat(&keep.transform(&test).unwrap());
    assert_vectors(
        "assembler keep",
        &vector_values(&kept, "out").unwrap(),
        &r["assembler_keep_test"],
        0.0,
    );
    let skip = fit(
        &[spec(
            "VectorAssembler",
            serde_json::json!({"inputCols": ["age", "hours"], "outputCol": "out", "handleInvalid": "skip"}),
        )],
        &test,
    );
    let rows: usize = skip
        .transform(&test)
        .unwrap()
        .batches
        .iter()
        .map(|b| b.num_rows())
        .sum();
    assert_eq!(rows as u64, r["assembler_skip_test_rows"].as_u64().unwrap());
    let error = fit(
        &[spec(
            "VectorAssembler",
            serde_json::json!({"inputCols": ["age", "hours"], "outputCol": "out"}),
        )],
        &test,
    );
    assert!(error
        .transform(&test)
        .unwrap_err()
        .to_string()
        .contains("age"));
}

#[test]
fn lr_pipeline_and_cross_validation_agree_with_spark() {
    let r = reference();
    let (train, test) = (load("census_train.csv"), load("census_test.csv"));
    let spec: PipelineSpec = serde_json::from_value(r["lr_spec"].clone()).unwrap();
    let model = fit(&spec.stages, &train);
    let predicted = model.transform(&test).unwrap();
    let evaluate = |class: &str, metric: &str| {
        cinder_algorithms::pipeline::Evaluator::new(
            class,
            serde_json::from_value(serde_json::json!({"metricName": metric})).unwrap(),
        )
        .unwrap()
        .evaluate(&predicted)
        .unwrap()
    };
    let spark = &r["lr_test_metrics"];
    for metric in ["areaUnderROC", "areaUnderPR"] {
        let ours = evaluate("BinaryClassificationEvaluator", metric);
        let theirs = spark[metric].as_f64().unwrap();
        assert!(
            (ours - theirs).abs() <= 0.005,
            "{metric}: {ours} vs Spark {theirs}"
        );
    }
    for metric in ["accuracy", "f1", "weightedPrecision", "weightedRecall"] {
        let ours = evaluate("MulticlassClassificationEvaluator", metric);
        let theirs = spark[metric].as_f64().unwrap();
        assert!(
            (ours - theirs).abs() <= 0.005,
            "{metric}: {ours} vs Spark {theirs}"
        );
    }

    let tuner = Tuner::from_spec(spec.tuning.as_ref().unwrap()).unwrap();
    let result = tuner.fit(&spec, &train).unwrap();
    let theirs: Vec<f64> = r["cv_avg_metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(number)
        .collect();
    assert_eq!(result.avg_metrics.len(), theirs.len());
    for (i, (a, b)) in result.avg_metrics.iter().zip(&theirs).enumerate() {
        assert!((a - b).abs() <= 0.005, "grid point {i}: {a} vs Spark {b}");
    }
    assert_eq!(
        result.best_index as u64,
        r["cv_best_index"].as_u64().unwrap()
    );
    // Parallelism changes nothing: the same bits with one thread.
    let mut serial = tuner.clone();
    serial.parallelism = 1;
    let again = serial.fit(&spec, &train).unwrap();
    assert_eq!(
        again
            .avg_metrics
            .iter()
            .map(|x| x.to_bits())
            .collect::<Vec<_>>(),
        result
            .avg_metrics
            .iter()
            .map(|x| x.to_bits())
            .collect::<Vec<_>>()
    );
    let _ = train.cache();
}

fn reference_extra() -> Value {
    let text = std::fs::read_to_string(root().join("tests/spark_reference_pipeline_extra.json"))
        .expect("reference");
    serde_json::from_str(&text).expect("json")
}

#[test]
fn pca_and_selectors_agree_with_spark() {
    let r = reference_extra();
    let (train, test) = (load("census_train.csv"), load("census_test.csv"));
    let prep = fit(&stages(&r["prep_spec"]), &train);
    let (prepared_train, prepared) = (
        prep.transform(&train).unwrap(),
        prep.transform(&test).unwrap(),
    );

    let pca = fit(
        &[spec(
            "PCA",
            serde_json::json!({"inputCol": "raw", "outputCol": "out", "k": 3}),
        )],
        &prepared_train,
    );
    let state = &pca.stages[0]
        .1
        .as_any()
        .downcast_ref::<cinder_algorithms::feature::projection::ProjectionModel>()
        .unwrap()
        .state;
    let spark_pc: Vec<Vec<f64>> = serde_json::from_value(r["pca_components"].clone()).unwrap();
    // Components agree up to sign; the sign of each decides how the outputs compare.
    let mut signs = Vec::new();
    for (ours, theirs) in state.matrix.iter().zip(&spark_pc) {
        let dot: f64 = ours.iter().zip(theirs).map(|(a, b)| a * b).sum();
        let sign = dot.signum();
        for (a, b) in ours.iter().zip(theirs) {
            assert!(close(a * sign, *b, 1e-9), "component {a} vs Spark {b}");
        }
        // On its own terms: unit length.
        assert!((ours.iter().map(|x| x * x).sum::<f64>() - 1.0).abs() < 1e-12);
        signs.push(sign);
    }
    let spark_ev: Vec<f64> = serde_json::from_value(r["pca_explained_variance"].clone()).unwrap();
    for (a, b) in state.explained_variance.iter().zip(&spark_ev) {
        assert!(close(*a, *b, 1e-9), "explained variance {a} vs Spark {b}");
    }
    let out = concat(&pca.transform(&prepared).unwrap());
    let projected: Vec<Option<Vec<f64>>> = vector_values(&out, "out")
        .unwrap()
        .into_iter()
        .map(|v| v.map(|v| v.iter().zip(&signs).map(|(x, s)| x * s).collect()))
        .collect();
    assert_vectors("PCA", &projected, &r["pca_test"], 1e-9);

    let vts = fit(
        &[spec(
            "VarianceThresholdSelector",
            serde_json::json!({"featuresCol": "raw", "outputCol": "out", "varianceThreshold": 0.2}),
        )],
        &prepared_train,
    );
    let selected = &vts.stages[0]
        .1
        .as_any()
        .downcast_ref::<cinder_algorithms::feature::projection::ProjectionModel>()
        .unwrap()
        .state
        .selected;
    let spark: Vec<usize> =
        serde_json::from_value(r["variance_threshold_selected"].clone()).unwrap();
    assert_eq!(selected, &spark);

    for (name, case) in r["univariate"].as_object().unwrap() {
        let mut params = case["params"].clone();
        params["outputCol"] = "out".into();
        let model = fit(
            &[spec("UnivariateFeatureSelector", params)],
            &prepared_train,
        );
        let selected = &model.stages[0]
            .1
            .as_any()
            .downcast_ref::<cinder_algorithms::feature::projection::ProjectionModel>()
            .unwrap()
            .state
            .selected;
        // Spark lists its selectedFeatures in p-value (or row) order and transforms with
        // them sorted; Cinder keeps them sorted.
        let mut spark: Vec<usize> = serde_json::from_value(case["selected"].clone()).unwrap();
        spark.sort_unstable();
        assert_eq!(selected, &spark, "{name}");
        assert!(
            !selected.is_empty(),
            "{name}: a case that selects something"
        );
    }
}
