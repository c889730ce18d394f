"""Reference results of Spark MLlib's tree ensembles for Cinder's agreement tests.

Runs pyspark (local[2]) on small data sets and writes tests/spark_reference_trees.json:
each decision tree's and GBT's `toDebugString` (the exact split structure), feature
importances and training predictions, and the test quality (AUC / RMSE) of forests and GBTs.
Re-run with `python3 tools/spark_reference_trees.py` after `pip install pyspark==4.3.0
scikit-learn numpy` (Java 17 on the PATH). The JSON and the data files are committed; CI only
reads them.

Data: Spark's sample_libsvm_data, sample_multiclass_classification_data and
sample_linear_regression_data (copied into data/), and two of scikit-learn's real data sets
written by this script into data/trees/ as LibSVM files, split by row index (every fourth row
is the test set): breast_cancer (569 x 30, binary) and diabetes (442 x 10, regression), and
copies with a few columns cut into quantile categories 0..k-1 (`*_cat_*`, indexed by Spark's
VectorIndexer, whose column metadata makes them categorical). All have fewer than 10,000 rows,
so Spark uses every row to choose its thresholds.
"""

import json
import os

from pyspark.ml.classification import (DecisionTreeClassifier, GBTClassifier,
                                       RandomForestClassifier)
from pyspark.ml.evaluation import BinaryClassificationEvaluator, RegressionEvaluator
from pyspark.ml.feature import VectorIndexer
from pyspark.ml.regression import DecisionTreeRegressor, GBTRegressor, RandomForestRegressor
from pyspark.sql import SparkSession

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "data")
TREES = os.path.join(DATA, "trees")
OUT = os.path.join(ROOT, "tests", "spark_reference_trees.json")


def write_libsvm(path, xs, ys):
    with open(path, "w") as f:
        for x, y in zip(xs, ys):
            cells = " ".join(f"{j + 1}:{repr(float(v))}" for j, v in enumerate(x) if v != 0)
            f.write(f"{repr(float(y))} {cells}\n".rstrip() + "\n")


def quantile_codes(column, k):
    """Category 0..k-1 of each value: its quantile bin among the column's sorted values."""
    ranked = sorted(column)
    cuts = [ranked[(len(ranked) * q) // k] for q in range(1, k)]
    return [float(sum(v >= c for c in cuts)) for v in column]


def categorical(xs, columns):
    """A copy of the rows with `columns` ({index: categories}) replaced by category indices."""
    xs = [list(x) for x in xs]
    for j, k in columns.items():
        codes = quantile_codes([x[j] for x in xs], k) if k > 2 else None
        for i, x in enumerate(xs):
            x[j] = codes[i] if codes else float(x[j] > min(r[j] for r in xs))
    return xs


# Data sets with categorical features: {index: number of categories}.
CATEGORICAL = {
    "breast_cancer_cat": ("breast_cancer", {0: 5, 1: 4, 2: 6}),
    "diabetes_cat": ("diabetes", {0: 6, 1: 2}),
}


def sklearn_data():
    from sklearn.datasets import load_breast_cancer, load_diabetes
    os.makedirs(TREES, exist_ok=True)
    loaders = {"breast_cancer": load_breast_cancer, "diabetes": load_diabetes}
    for name, loader in list(loaders.items()) + [(n, None) for n in CATEGORICAL]:
        if loader is None:
            base, columns = CATEGORICAL[name]
            d = loaders[base]()
            xs, ys = categorical(d.data.tolist(), columns), d.target.tolist()
        else:
            d = loader()
            xs, ys = d.data.tolist(), d.target.tolist()
        train = [i for i in range(len(xs)) if i % 4 != 3]
        test = [i for i in range(len(xs)) if i % 4 == 3]
        write_libsvm(os.path.join(TREES, f"{name}_train.txt"),
                     [xs[i] for i in train], [ys[i] for i in train])
        write_libsvm(os.path.join(TREES, f"{name}_test.txt"),
                     [xs[i] for i in test], [ys[i] for i in test])


FILES = {
    "sample_libsvm": ("sample_libsvm_data.txt", 692),
    "multiclass": ("sample_multiclass_classification_data.txt", 4),
    "linear": ("sample_linear_regression_data.txt", 10),
    "breast_cancer_train": ("trees/breast_cancer_train.txt", 30),
    "breast_cancer_test": ("trees/breast_cancer_test.txt", 30),
    "diabetes_train": ("trees/diabetes_train.txt", 10),
    "diabetes_test": ("trees/diabetes_test.txt", 10),
    "breast_cancer_cat_train": ("trees/breast_cancer_cat_train.txt", 30),
    "breast_cancer_cat_test": ("trees/breast_cancer_cat_test.txt", 30),
    "diabetes_cat_train": ("trees/diabetes_cat_train.txt", 10),
    "diabetes_cat_test": ("trees/diabetes_cat_test.txt", 10),
}

ESTIMATORS = {
    "decision-tree-classifier": DecisionTreeClassifier,
    "decision-tree-regressor": DecisionTreeRegressor,
    "random-forest-classifier": RandomForestClassifier,
    "random-forest-regressor": RandomForestRegressor,
    "gbt-classifier": GBTClassifier,
    "gbt-regressor": GBTRegressor,
}

# (name, algorithm, training data, test data or None, Spark parameters, exact structure?)
CASES = [
    ("dt_gini_sample_libsvm", "decision-tree-classifier", "sample_libsvm", None, {}, True),
    ("dt_entropy_sample_libsvm", "decision-tree-classifier", "sample_libsvm", None,
     {"impurity": "entropy"}, True),
    ("dt_gini_multiclass", "decision-tree-classifier", "multiclass", None,
     {"maxDepth": 6}, True),
    ("dt_entropy_multiclass_bins8", "decision-tree-classifier", "multiclass", None,
     {"impurity": "entropy", "maxBins": 8, "minInstancesPerNode": 3}, True),
    ("dt_gini_breast_cancer", "decision-tree-classifier", "breast_cancer_train",
     "breast_cancer_test", {"maxDepth": 4, "minInfoGain": 0.001}, True),
    ("dt_variance_linear", "decision-tree-regressor", "linear", None, {"maxDepth": 4}, True),
    ("dt_variance_diabetes", "decision-tree-regressor", "diabetes_train", "diabetes_test",
     {"maxDepth": 4, "minInstancesPerNode": 5}, True),
    ("gbt_classifier_breast_cancer", "gbt-classifier", "breast_cancer_train",
     "breast_cancer_test", {"maxIter": 10, "maxDepth": 3}, True),
    ("gbt_regressor_diabetes", "gbt-regressor", "diabetes_train", "diabetes_test",
     {"maxIter": 10, "maxDepth": 3}, True),
    ("gbt_regressor_absolute_diabetes", "gbt-regressor", "diabetes_train", "diabetes_test",
     {"maxIter": 10, "maxDepth": 3, "lossType": "absolute"}, True),
    ("rf_classifier_breast_cancer", "random-forest-classifier", "breast_cancer_train",
     "breast_cancer_test", {"numTrees": 50, "maxDepth": 6, "seed": 7}, False),
    ("rf_regressor_diabetes", "random-forest-regressor", "diabetes_train", "diabetes_test",
     {"numTrees": 50, "maxDepth": 6, "seed": 7}, False),
    ("gbt_classifier_breast_cancer_long", "gbt-classifier", "breast_cancer_train",
     "breast_cancer_test", {"maxIter": 40, "maxDepth": 4}, False),
    # Categorical features (ordered splits: regression and binary classification), their
    # arity in the column metadata as VectorIndexer records it.
    ("dt_categorical_breast_cancer", "decision-tree-classifier", "breast_cancer_cat_train",
     "breast_cancer_cat_test", {"maxDepth": 4}, True),
    ("dt_categorical_diabetes", "decision-tree-regressor", "diabetes_cat_train",
     "diabetes_cat_test", {"maxDepth": 4}, True),
    ("gbt_categorical_breast_cancer", "gbt-classifier", "breast_cancer_cat_train",
     "breast_cancer_cat_test", {"maxIter": 5, "maxDepth": 3}, True),
]


def vec(v):
    return [float(x) for x in v.toArray()]


def main():
    sklearn_data()
    spark = (SparkSession.builder.master("local[2]").appName("cinder-trees-reference")
             .config("spark.ui.enabled", "false").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")

    def load(key):
        path, n = FILES[key]
        return spark.read.format("libsvm").option("numFeatures", n).load(
            os.path.join(DATA, path)).cache()

    out = {"spark_version": spark.version, "cases": []}
    for name, algorithm, train, test, params, exact in CASES:
        est = ESTIMATORS[algorithm](**params)
        data = load(train)
        base = train[:-len("_train")]
        indexer = None
        if base in CATEGORICAL:
            columns = CATEGORICAL[base][1]
            indexer = VectorIndexer(inputCol="features", outputCol="indexed",
                                    maxCategories=max(columns.values())).fit(data)
            arities = {j: len(m) for j, m in indexer.categoryMaps.items()}
            assert arities == columns, (arities, columns)
            for j, m in indexer.categoryMaps.items():
                assert all(float(v) == float(i) for v, i in m.items()), "identity maps"
            data = indexer.transform(data)
            est = est.setFeaturesCol("indexed")
        model = est.fit(data)
        classifier = algorithm.endswith("classifier")
        case = {
            "name": name, "algorithm": algorithm, "data": FILES[train][0],
            "num_features": FILES[train][1], "params": params, "exact": exact,
            "debug": model.toDebugString,
            "feature_importances": vec(model.featureImportances),
        }
        if hasattr(model, "trees"):
            case["total_num_nodes"] = model.totalNumNodes
            case["tree_weights"] = [float(w) for w in model.treeWeights]
        else:
            case["total_num_nodes"] = model.numNodes
        predicted = model.transform(data).select("prediction").collect()
        case["training_predictions"] = [float(r.prediction) for r in predicted]
        if test is not None:
            case["test_data"] = FILES[test][0]
            test_data = load(test)
            if indexer is not None:
                test_data = indexer.transform(test_data)
            scored = model.transform(test_data)
            if classifier:
                case["test_auc"] = BinaryClassificationEvaluator(
                    rawPredictionCol="probability", metricName="areaUnderROC").evaluate(scored)
            else:
                case["test_rmse"] = RegressionEvaluator(metricName="rmse").evaluate(scored)
        if indexer is not None:
            case["categorical_features"] = {str(j): k for j, k in CATEGORICAL[base][1].items()}
        out["cases"].append(case)
        print(name, case.get("test_auc", case.get("test_rmse", "")), case["total_num_nodes"])
    with open(OUT, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    spark.stop()


if __name__ == "__main__":
    main()
