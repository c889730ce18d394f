//! Tree ensembles on a real cluster: a worker SIGKILLed while a forest and a GBT train costs
//! time, never the model (every level's histograms are combined in partition order, and the
//! bootstrap sample of a recomputed partition is the same); the command line's JSON contract;
//! bad flags are usage errors (exit 2) naming the flag.

mod common;

use std::time::Duration;

use cinder::{Context, LibSvmOptions};
use cinder_algorithms::tree::{GBTClassifier, RandomForestClassifier, TreeEnsembleModel};
use common::*;
use serde_json::Value;

fn data(file: &str) -> String {
    format!("{}/data/{file}", env!("CARGO_MANIFEST_DIR"))
}

fn bits(m: &TreeEnsembleModel) -> Vec<u64> {
    m.trees
        .iter()
        .flat_map(|t| &t.nodes)
        .flat_map(|n| {
            let split = n
                .split
                .as_ref()
                .map_or((0, 0.0), |s| (s.feature, s.threshold));
            n.stats
                .iter()
                .chain([n.prediction, n.impurity, n.gain, split.1].iter())
                .map(|v| v.to_bits())
                .chain([split.0 as u64])
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn forest_and_gbt_survive_a_killed_worker_with_bit_identical_models() {
    let mut cx = Context::local_with(local_builder("ml-trees-kill", 3)).unwrap();
    let data = cx
        .read_libsvm(
            data("trees/breast_cancer_train.txt"),
            LibSvmOptions {
                num_features: None,
                partitions: Some(6),
            },
        )
        .unwrap()
        .cache();
    // Every pass over the data takes a while, so the kills land mid-training.
    let slow = data.map_batches("cinder.delay", &20u64).unwrap();
    let mut forest = RandomForestClassifier::default();
    forest.forest.num_trees = 10;
    forest.params.max_depth = 4;
    let mut gbt = GBTClassifier::default();
    gbt.boost.max_iter = 6;
    gbt.params.max_depth = 3;
    let expected_forest = forest.fit(&slow).unwrap();
    let expected_gbt = gbt.fit(&slow).unwrap();

    let trainer = {
        let (slow, forest, gbt) = (slow.clone(), forest.clone(), gbt.clone());
        std::thread::spawn(move || {
            let f = forest.fit(&slow);
            let g = gbt.fit(&slow);
            (f, g)
        })
    };
    std::thread::sleep(Duration::from_millis(700));
    assert!(!trainer.is_finished(), "the kill lands mid-training");
    cx.local_cluster_mut().unwrap().kill_worker(1).unwrap();
    let (got_forest, got_gbt) = trainer.join().unwrap();
    let got_forest = got_forest.expect("the forest survives the kill");
    assert_eq!(
        cx.status().unwrap().workers[1].state,
        cinder::WorkerState::Lost,
        "the kill landed"
    );
    let got_gbt = got_gbt.expect("the GBT survives the kill");
    assert_eq!(
        bits(&got_forest),
        bits(&expected_forest),
        "bit-identical forest"
    );
    assert_eq!(got_forest, expected_forest);
    assert_eq!(bits(&got_gbt), bits(&expected_gbt), "bit-identical GBT");
    assert_eq!(got_gbt, expected_gbt);
    assert_eq!(got_forest.trees.len(), 10);
    assert_eq!(got_gbt.trees.len(), 6);
}

fn cinder_json(args: &[&str]) -> Value {
    let out = run_cinder(args);
    assert!(
        out.status.success(),
        "cinder {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap()
}

#[test]
fn tree_commands_print_their_json_contract_and_saved_models_evaluate_alike() {
    let dir = test_dir("ml-trees-cli");
    let (train, test) = (
        data("trees/breast_cancer_train.txt"),
        data("trees/breast_cancer_test.txt"),
    );
    let model = dir.join("rf");
    let rf = cinder_json(&[
        "train",
        "random-forest-classifier",
        "--data",
        &train,
        "--test-data",
        &test,
        "--num-trees",
        "5",
        "--max-depth",
        "4",
        "--feature-subset-strategy",
        "sqrt",
        "--bootstrap",
        "true",
        "--seed",
        "3",
        "--json",
        "--out",
        model.to_str().unwrap(),
    ]);
    assert_eq!(rf["num_trees"], 5);
    let importances = rf["feature_importances"].as_array().unwrap();
    assert_eq!(importances.len(), 30);
    let sum: f64 = importances.iter().map(|v| v.as_f64().unwrap()).sum();
    assert!((sum - 1.0).abs() < 1e-12);
    assert!(rf["total_num_nodes"].as_u64().unwrap() >= 5);
    let auc = rf["test_metrics"]["areaUnderROC"].as_f64().unwrap();
    assert!(auc > 0.9, "{rf}");
    let evaluated = cinder_json(&[
        "evaluate",
        "--model",
        model.to_str().unwrap(),
        "--data",
        &test,
        "--json",
    ]);
    assert_eq!(evaluated["algorithm"], "random-forest-classifier");
    assert_eq!(
        evaluated["metrics"], rf["test_metrics"],
        "the saved model evaluates alike"
    );

    let gbt = cinder_json(&[
        "train",
        "gbt-regressor",
        "--data",
        &data("trees/diabetes_train.txt"),
        "--test-data",
        &data("trees/diabetes_test.txt"),
        "--max-iter",
        "5",
        "--max-depth",
        "3",
        "--step-size",
        "0.2",
        "--loss-type",
        "absolute",
        "--json",
    ]);
    assert_eq!(gbt["num_trees"], 5);
    assert_eq!(gbt["tree_weights"][1], 0.2);
    assert!(gbt["test_metrics"]["rmse"].as_f64().unwrap() > 0.0);
}

#[test]
fn bad_tree_flags_are_usage_errors_naming_the_flag() {
    let train = data("trees/breast_cancer_train.txt");
    for (args, expected) in [
        (
            vec!["decision-tree-classifier", "--max-depth", "31"],
            "--max-depth 31",
        ),
        (
            vec!["random-forest-regressor", "--max-bins", "1"],
            "--max-bins 1",
        ),
        (
            vec!["random-forest-classifier", "--subsampling-rate", "1.5"],
            "--subsampling-rate 1.5",
        ),
        (
            vec![
                "random-forest-classifier",
                "--feature-subset-strategy",
                "most",
            ],
            "--feature-subset-strategy most",
        ),
        (
            vec!["gbt-classifier", "--loss-type", "squared"],
            "--loss-type squared",
        ),
        (
            vec!["decision-tree-regressor", "--impurity", "gini"],
            "--impurity gini",
        ),
        (
            vec!["decision-tree-classifier", "--num-trees", "3"],
            "--num-trees",
        ),
        (
            vec!["random-forest-classifier", "--max-iter", "3"],
            "--max-iter",
        ),
        (
            vec!["logistic-regression", "--max-depth", "3"],
            "--max-depth",
        ),
        (vec!["gbt-regressor", "--step-size", "0"], "--step-size 0"),
        (
            vec!["random-forest-classifier", "--bootstrap", "maybe"],
            "--bootstrap",
        ),
    ] {
        let mut all = vec!["train"];
        all.extend(&args);
        all.extend(["--data", &train]);
        let out = run_cinder(&all);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}
