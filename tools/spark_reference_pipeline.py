"""Reference results from Spark ML's workflow (featurizers, Pipeline, CrossValidator) for
Cinder's pipeline agreement tests.

Generates a census-like table (string categories, missing cells, categories unseen in
training) into data/census_train.csv and data/census_test.csv, runs the same stages through
pyspark (local[2]) and writes tests/spark_reference_pipeline.json. The specs are Spark's own
class and parameter names, so the Rust tests run the very same JSON. Re-run with
`python3 tools/spark_reference_pipeline.py` after `pip install pyspark==4.3.0 numpy`
(Java 17 on the PATH); the outputs are committed and CI only reads them.
"""

import json
import math
import os
import random
import sys

from pyspark.sql import SparkSession
from pyspark.sql.types import DoubleType, StringType, StructField, StructType
from pyspark.ml import Pipeline
from pyspark.ml import feature as F
from pyspark.ml import classification as C
from pyspark.ml import evaluation as E
from pyspark.ml.tuning import CrossValidator, ParamGridBuilder

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = os.path.join(ROOT, "data", "census_train.csv")
TEST = os.path.join(ROOT, "data", "census_test.csv")
OUT = os.path.join(ROOT, "tests", "spark_reference_pipeline.json")
# `python3 tools/spark_reference_pipeline.py extra`: PCA and the selectors only.
EXTRA_OUT = os.path.join(ROOT, "tests", "spark_reference_pipeline_extra.json")
SPEC = os.path.join(ROOT, "data", "census_pipeline.json")

COLUMNS = ["age", "hours", "capital", "workclass", "education", "shift", "sex", "income", "fold"]
NUMERIC = {"age", "hours", "capital", "fold"}
WORKCLASS = [("Private", 60), ("Self-emp", 15), ("Local-gov", 10), ("State-gov", 8),
             ("Federal-gov", 5), ("Without-pay", 2)]
EDUCATION = [("HS-grad", 32), ("Some-college", 22), ("Bachelors", 20), ("Masters", 9),
             ("Assoc", 9), ("11th", 5), ("Doctorate", 3)]
SHIFTS = ["night", "day", "swing", "early"]


def pick(rng, weighted):
    total = sum(w for _, w in weighted)
    x = rng.uniform(0, total)
    for value, w in weighted:
        x -= w
        if x <= 0:
            return value
    return weighted[-1][0]


def rows(n, seed, unseen):
    rng = random.Random(seed)
    out = []
    for i in range(n):
        age = float(rng.randint(17, 90))
        hours = round(rng.gauss(40, 12), 1)
        capital = 0.0 if rng.random() < 0.9 else float(rng.randint(1000, 20000))
        work = "Never-worked" if unseen and rng.random() < 0.04 else pick(rng, WORKCLASS)
        edu = "Preschool" if unseen and rng.random() < 0.02 else pick(rng, EDUCATION)
        sex = "Male" if rng.random() < 0.65 else "Female"
        score = (-5.0 + 0.05 * age + 0.04 * hours + 0.0001 * capital
                 + {"Bachelors": 1.0, "Masters": 1.5, "Doctorate": 2.0}.get(edu, 0.0)
                 + (0.5 if work in ("Self-emp", "Federal-gov") else 0.0)
                 + (0.4 if sex == "Male" else 0.0) + rng.gauss(0, 1.0))
        income = ">50K" if score > 0 else "<=50K"
        row = {"age": age, "hours": hours, "capital": capital, "workclass": work,
               "education": edu, "shift": SHIFTS[i % 4], "sex": sex, "income": income,
               "fold": float(rng.randint(0, 2))}
        if rng.random() < 0.05:
            row["age"] = None
        if rng.random() < 0.03:
            row["hours"] = None
        if rng.random() < 0.04:
            row["workclass"] = None
        out.append(row)
    return out


def write_csv(path, data):
    with open(path, "w") as f:
        f.write(",".join(COLUMNS) + "\n")
        for r in data:
            cells = []
            for c in COLUMNS:
                v = r[c]
                if v is None:
                    cells.append("")
                elif c in NUMERIC:
                    cells.append(repr(float(v)))
                else:
                    cells.append(v)
            f.write(",".join(cells) + "\n")


def conv(v):
    if isinstance(v, list):
        return [conv(x) for x in v]
    if v == "Infinity":
        return float("inf")
    if v == "-Infinity":
        return float("-inf")
    if v == "NaN":
        return float("nan")
    return v


def stage(s):
    cls = s["class"]
    mod = F if hasattr(F, cls) else C
    return getattr(mod, cls)(**{k: conv(v) for k, v in s.get("params", {}).items()})


def evaluator(s):
    return getattr(E, s["class"])(**s.get("params", {}))


def num(x):
    if x is None:
        return None
    x = float(x)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return x


def dense(v):
    return None if v is None else [num(x) for x in v.toArray().tolist()]


def column(df, name, limit=None):
    values = [r[0] for r in df.select(name).collect()]
    values = values[:limit] if limit else values
    out = []
    for v in values:
        if hasattr(v, "toArray"):
            out.append(dense(v))
        elif isinstance(v, float):
            out.append(num(v))
        else:
            out.append(v)
    return out


def fit_transform(stages, train, test):
    model = Pipeline(stages=[stage(s) for s in stages]).fit(train)
    return model, model.transform(test)


PREP = [
    {"class": "StringIndexer", "params": {"inputCols": ["workclass", "education", "sex"],
                                          "outputCols": ["workclass_idx", "education_idx", "sex_idx"],
                                          "handleInvalid": "keep"}},
    {"class": "StringIndexer", "params": {"inputCol": "income", "outputCol": "label"}},
    {"class": "Imputer", "params": {"inputCols": ["age", "hours"], "outputCols": ["age_f", "hours_f"],
                                    "strategy": "mean"}},
    {"class": "OneHotEncoder", "params": {"inputCols": ["workclass_idx", "education_idx", "sex_idx"],
                                          "outputCols": ["workclass_vec", "education_vec", "sex_vec"]}},
    {"class": "VectorAssembler", "params": {"inputCols": ["age_f", "hours_f", "capital", "workclass_vec",
                                                          "education_vec", "sex_vec"],
                                            "outputCol": "raw"}},
]

LR_SPEC = {
    "stages": [
        {"class": "StringIndexer", "params": {"inputCols": ["workclass", "education", "sex"],
                                              "outputCols": ["workclass_idx", "education_idx", "sex_idx"],
                                              "handleInvalid": "keep"}},
        {"class": "StringIndexer", "params": {"inputCol": "income", "outputCol": "label"}},
        {"class": "Imputer", "params": {"inputCols": ["age", "hours"], "outputCols": ["age_f", "hours_f"],
                                        "strategy": "median"}},
        {"class": "OneHotEncoder", "params": {"inputCols": ["workclass_idx", "education_idx", "sex_idx"],
                                              "outputCols": ["workclass_vec", "education_vec", "sex_vec"]}},
        {"class": "VectorAssembler", "params": {"inputCols": ["age_f", "hours_f", "capital", "workclass_vec",
                                                              "education_vec", "sex_vec"],
                                                "outputCol": "raw"}},
        {"class": "StandardScaler", "params": {"inputCol": "raw", "outputCol": "features"}},
        {"class": "LogisticRegression", "params": {"featuresCol": "features", "labelCol": "label",
                                                   "regParam": 0.01}},
    ],
    "tuning": {"class": "CrossValidator",
               "params": {"numFolds": 3, "seed": 7, "parallelism": 2, "foldCol": "fold"},
               "evaluator": {"class": "BinaryClassificationEvaluator",
                             "params": {"metricName": "areaUnderROC"}},
               "paramGrid": [{"stage": 6, "param": "regParam", "values": [0.001, 0.1]},
                             {"stage": 6, "param": "elasticNetParam", "values": [0.0, 1.0]}]},
}


def main():
    write_csv(TRAIN, rows(2000, 11, unseen=False))
    write_csv(TEST, rows(600, 12, unseen=True))
    with open(SPEC, "w") as f:
        json.dump(LR_SPEC, f, indent=1)
        f.write("\n")
    spark = (SparkSession.builder.master("local[2]").appName("cinder-pipeline-reference")
             .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "4")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    schema = StructType([StructField(c, DoubleType() if c in NUMERIC else StringType(), True)
                         for c in COLUMNS])
    train = spark.read.csv(TRAIN, header=True, schema=schema).cache()
    test = spark.read.csv(TEST, header=True, schema=schema).cache()
    ref = {"spark_version": spark.version, "train_rows": train.count(), "test_rows": test.count(),
           "null_workclass_train": train.filter("workclass IS NULL").count()}

    # StringIndexer orders (multi-column, ties in `shift`).
    orders = {}
    for order in ["frequencyDesc", "frequencyAsc", "alphabetDesc", "alphabetAsc"]:
        m = F.StringIndexer(inputCols=["education", "shift", "workclass"],
                            outputCols=["e", "s", "w"], stringOrderType=order).fit(train)
        orders[order] = m.labelsArray
    ref["indexer_orders"] = orders
    keep_model = F.StringIndexer(inputCol="workclass", outputCol="w", handleInvalid="keep").fit(train)
    ref["workclass_keep_test"] = column(keep_model.transform(test), "w")
    skip_model = F.StringIndexer(inputCol="workclass", outputCol="w", handleInvalid="skip").fit(train)
    ref["workclass_skip_test_rows"] = skip_model.transform(test).count()
    back = F.IndexToString(inputCol="w", outputCol="w_str").transform(keep_model.transform(test))
    ref["index_to_string_test"] = column(back, "w_str")

    # One-hot encodings of the kept indices.
    onehot = {}
    indexed_train = keep_model.transform(train)
    indexed_test = keep_model.transform(test)
    for drop_last in [True, False]:
        for invalid in ["error", "keep"]:
            enc = F.OneHotEncoder(inputCol="w", outputCol="v", dropLast=drop_last,
                                  handleInvalid=invalid).fit(indexed_train)
            onehot[f"dropLast={drop_last},handleInvalid={invalid}"] = column(enc.transform(indexed_test), "v", 60)
    ref["onehot_test"] = onehot

    # Imputer surrogates.
    imputer = {}
    for strategy in ["mean", "median", "mode"]:
        m = F.Imputer(inputCols=["age", "hours"], outputCols=["a", "h"], strategy=strategy).fit(train)
        row = m.surrogateDF.collect()[0]
        imputer[strategy] = [row["age"], row["hours"]]
    m = F.Imputer(inputCol="capital", outputCol="c", strategy="mean", missingValue=0.0).fit(train)
    imputer["capital_missing_zero"] = m.surrogateDF.collect()[0]["capital"]
    ref["imputer"] = imputer

    # The preparation pipeline and what scalers make of its vectors.
    prep_model, prepared = fit_transform(PREP, train, test)
    ref["prep_spec"] = PREP
    ref["prep_raw_test"] = column(prepared, "raw", 80)
    ref["prep_label_test"] = column(prepared, "label")
    scalers = {
        "StandardScaler": {"inputCol": "raw", "outputCol": "out"},
        "StandardScaler_withMean": {"inputCol": "raw", "outputCol": "out", "withMean": True},
        "MinMaxScaler": {"inputCol": "raw", "outputCol": "out"},
        "MaxAbsScaler": {"inputCol": "raw", "outputCol": "out"},
    }
    prepared_train = prep_model.transform(train)
    out = {}
    for name, params in scalers.items():
        cls = name.split("_")[0]
        m = getattr(F, cls)(**params).fit(prepared_train)
        out[name] = column(m.transform(prepared), "out", 80)
    for p in [1.0, 2.0, float("inf")]:
        out[f"Normalizer_p={num(p)}"] = column(
            F.Normalizer(inputCol="raw", outputCol="out", p=p).transform(prepared), "out", 80)
    ref["scalers_test"] = out
    ref["binarizer_test"] = column(
        F.Binarizer(inputCol="hours_f", outputCol="out", threshold=40.0).transform(prepared), "out", 80)
    ref["bucketizer_splits"] = ["-Infinity", 25.0, 40.0, 60.0, "Infinity"]
    ref["bucketizer_test"] = column(
        F.Bucketizer(inputCol="age_f", outputCol="out",
                     splits=[float("-inf"), 25.0, 40.0, 60.0, float("inf")]).transform(prepared), "out")
    qd = F.QuantileDiscretizer(inputCol="hours_f", outputCol="out", numBuckets=4).fit(prepared_train)
    ref["quantile_discretizer_splits"] = [num(x) for x in qd.getSplits()]
    keep_assembler = F.VectorAssembler(inputCols=["age", "hours"], outputCol="out", handleInvalid="keep")
    ref["assembler_keep_test"] = column(keep_assembler.transform(test), "out", 80)
    skip_assembler = F.VectorAssembler(inputCols=["age", "hours"], outputCol="out", handleInvalid="skip")
    ref["assembler_skip_test_rows"] = skip_assembler.transform(test).count()

    # The LR pipeline end to end, then cross-validation with the folds of `fold`.
    ref["lr_spec"] = LR_SPEC
    lr_model, predicted = fit_transform(LR_SPEC["stages"], train, test)
    lr = lr_model.stages[-1]
    metrics = {}
    for m in ["areaUnderROC", "areaUnderPR"]:
        metrics[m] = E.BinaryClassificationEvaluator(metricName=m).evaluate(predicted)
    for m in ["accuracy", "f1", "weightedPrecision", "weightedRecall", "logLoss"]:
        metrics[m] = E.MulticlassClassificationEvaluator(metricName=m).evaluate(predicted)
    ref["lr_test_metrics"] = metrics
    ref["lr_coefficients"] = lr.coefficients.toArray().tolist()
    ref["lr_intercept"] = lr.intercept
    ref["lr_median_surrogates"] = [lr_model.stages[2].surrogateDF.collect()[0][c] for c in ["age", "hours"]]

    tuning = LR_SPEC["tuning"]
    pipeline = Pipeline(stages=[stage(s) for s in LR_SPEC["stages"]])
    lr_stage = pipeline.getStages()[6]
    builder = ParamGridBuilder()
    for g in tuning["paramGrid"]:
        builder = builder.addGrid(lr_stage.getParam(g["param"]), g["values"])
    grid = builder.build()
    cv = CrossValidator(estimator=pipeline, estimatorParamMaps=grid,
                        evaluator=evaluator(tuning["evaluator"]), **tuning["params"])
    cv_model = cv.fit(train)
    ref["cv_avg_metrics"] = list(cv_model.avgMetrics)
    ref["cv_best_index"] = max(range(len(grid)), key=lambda i: cv_model.avgMetrics[i])
    ref["cv_grid"] = [{p.name: v for p, v in point.items()} for point in grid]
    with open(OUT, "w") as f:
        json.dump(ref, f, indent=1)
        f.write("\n")
    spark.stop()


def extra():
    """PCA and the feature selectors on the prepared census vectors."""
    spark = (SparkSession.builder.master("local[2]").appName("cinder-pipeline-reference-extra")
             .config("spark.ui.enabled", "false").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    schema = StructType([StructField(c, DoubleType() if c in NUMERIC else StringType(), True)
                         for c in COLUMNS])
    train = spark.read.csv(TRAIN, header=True, schema=schema).cache()
    test = spark.read.csv(TEST, header=True, schema=schema).cache()
    prep = PREP + [
        {"class": "StringIndexer", "params": {"inputCol": "shift", "outputCol": "shift_idx"}},
        {"class": "VectorAssembler", "params": {"inputCols": ["workclass_idx", "education_idx", "sex_idx",
                                                              "shift_idx"], "outputCol": "cats"}},
    ]
    model = Pipeline(stages=[stage(s) for s in prep]).fit(train)
    prepared_train, prepared_test = model.transform(train), model.transform(test)
    ref = {"spark_version": spark.version, "prep_spec": prep}
    pca = F.PCA(inputCol="raw", outputCol="out", k=3).fit(prepared_train)
    ref["pca_components"] = pca.pc.toArray().T.tolist()
    ref["pca_explained_variance"] = pca.explainedVariance.toArray().tolist()
    ref["pca_test"] = column(pca.transform(prepared_test), "out", 40)
    vts = F.VarianceThresholdSelector(featuresCol="raw", outputCol="out", varianceThreshold=0.2).fit(prepared_train)
    ref["variance_threshold_selected"] = list(vts.selectedFeatures)
    cases = {
        "anova_top5": dict(featuresCol="raw", labelCol="label", featureType="continuous",
                           labelType="categorical", selectionMode="numTopFeatures", selectionThreshold=5),
        "anova_fdr": dict(featuresCol="raw", labelCol="label", featureType="continuous",
                          labelType="categorical", selectionMode="fdr", selectionThreshold=0.01),
        "anova_fwe": dict(featuresCol="raw", labelCol="label", featureType="continuous",
                          labelType="categorical", selectionMode="fwe", selectionThreshold=0.01),
        "chi2_fpr": dict(featuresCol="cats", labelCol="label", featureType="categorical",
                         labelType="categorical", selectionMode="fpr", selectionThreshold=0.05),
        "chi2_top2": dict(featuresCol="cats", labelCol="label", featureType="categorical",
                          labelType="categorical", selectionMode="numTopFeatures", selectionThreshold=2),
        "fregression_percentile": dict(featuresCol="raw", labelCol="capital", featureType="continuous",
                                       labelType="continuous", selectionMode="percentile",
                                       selectionThreshold=0.3),
    }
    ref["univariate"] = {}
    for name, params in cases.items():
        # PySpark takes featureType, labelType and selectionThreshold through setters.
        selector = F.UnivariateFeatureSelector(outputCol="out", featuresCol=params["featuresCol"],
                                               labelCol=params["labelCol"],
                                               selectionMode=params["selectionMode"])
        selector.setFeatureType(params["featureType"]).setLabelType(params["labelType"])
        selector.setSelectionThreshold(float(params["selectionThreshold"]))
        m = selector.fit(prepared_train)
        ref["univariate"][name] = {"params": params, "selected": list(m.selectedFeatures)}
    with open(EXTRA_OUT, "w") as f:
        json.dump(ref, f, indent=1)
        f.write("\n")
    spark.stop()


if __name__ == "__main__":
    if sys.argv[1:] == ["extra"]:
        extra()
    else:
        main()
