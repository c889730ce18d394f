"""Reference results from Spark MLlib for the estimators of issue 17 (naive Bayes, linear SVC,
generalized linear regression, ...), for tests/ml_estimators_spark.rs.

Runs pyspark (local[2]) on Spark's sample data in data/ and on scikit-learn's small real data
sets (written into data/ by this script, split into train and test files) and writes
tests/spark_reference_estimators.json. Re-run with

    python3 tools/spark_reference_estimators.py [--only naive_bayes,linear_svc,...]

after `pip install pyspark==4.3.0 numpy scikit-learn` (Java 17 on the PATH). `--only` re-runs
some groups and keeps the others' recorded answers. The JSON is committed; CI only reads it.
"""

import argparse
import csv
import json
import os

from pyspark.sql import SparkSession
from pyspark.ml.classification import LinearSVC, NaiveBayes
from pyspark.ml.evaluation import MulticlassClassificationEvaluator, RegressionEvaluator
from pyspark.ml.feature import VectorAssembler
from pyspark.ml.regression import GeneralizedLinearRegression

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "data")
OUT = os.path.join(ROOT, "tests", "spark_reference_estimators.json")

MASK = (1 << 64) - 1


def splitmix(seed):
    """splitmix64 as a generator of uniforms in [0, 1)."""
    state = seed & MASK
    while True:
        state = (state + 0x9E3779B97F4A7C15) & MASK
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        yield float((z ^ (z >> 31)) >> 11) / 9007199254740992.0


def write_csv(name, header, rows):
    path = os.path.join(DATA, name)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for r in rows:
            w.writerow([repr(float(v)) if isinstance(v, float) else v for v in r])
    return path


def binary_weighted():
    """data/nb_binary_weighted.csv: 3 classes, 6 binary features, weights in {0.5, 1, 2, 3}."""
    u = splitmix(17)
    rows = []
    for _ in range(240):
        label = int(next(u) * 3)
        feats = []
        for j in range(6):
            p = 0.2 + 0.6 * ((j + label) % 3) / 2.0
            feats.append(1.0 if next(u) < p else 0.0)
        weight = [0.5, 1.0, 2.0, 3.0][int(next(u) * 4)]
        rows.append([float(label), weight] + feats)
    header = ["label", "weight"] + ["f%d" % j for j in range(6)]
    write_csv("nb_binary_weighted.csv", header, rows)
    return header


def sklearn_sets():
    """Iris (gaussian naive Bayes), breast cancer (linear SVC, binomial GLR) and diabetes
    (gaussian, poisson, gamma, tweedie GLR): rows with index % 4 == 3 are the test file."""
    from sklearn import datasets

    written = {}
    for name, loader in [("iris", datasets.load_iris), ("breast_cancer", datasets.load_breast_cancer),
                         ("diabetes", datasets.load_diabetes)]:
        bunch = loader()
        x, y = bunch.data, bunch.target
        header = ["label"] + ["f%d" % j for j in range(x.shape[1])]
        train = [[float(y[i])] + [float(v) for v in x[i]] for i in range(len(y)) if i % 4 != 3]
        test = [[float(y[i])] + [float(v) for v in x[i]] for i in range(len(y)) if i % 4 == 3]
        write_csv("%s_train.csv" % name, header, train)
        write_csv("%s_test.csv" % name, header, test)
        written[name] = header
    return written


def session():
    return (SparkSession.builder.master("local[2]").appName("cinder-reference-estimators")
            .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "4")
            .getOrCreate())


def libsvm(spark, name):
    return spark.read.format("libsvm").load(os.path.join(DATA, name)).cache()


def csv_frame(spark, name, features, extra=()):
    df = spark.read.csv(os.path.join(DATA, name), header=True, inferSchema=True)
    cols = ["label"] + list(extra)
    return VectorAssembler(inputCols=features, outputCol="features").transform(df) \
        .select(*(cols + ["features"])).cache()


def matrix(m):
    return [list(map(float, m.toArray()[i])) for i in range(m.numRows)]


def accuracy(model, df):
    return MulticlassClassificationEvaluator(metricName="accuracy").evaluate(model.transform(df))


def naive_bayes(spark, out):
    sample = libsvm(spark, "sample_libsvm_data.txt")
    header = binary_weighted()
    binary = csv_frame(spark, "nb_binary_weighted.csv", header[2:], extra=["weight"])
    multiclass = libsvm(spark, "sample_multiclass_classification_data.txt")
    iris_train = csv_frame(spark, "iris_train.csv", ["f0", "f1", "f2", "f3"])
    iris_test = csv_frame(spark, "iris_test.csv", ["f0", "f1", "f2", "f3"])
    cases = [
        ("nb_multinomial", sample, dict(modelType="multinomial", smoothing=1.0), None),
        ("nb_complement", sample, dict(modelType="complement", smoothing=0.5), None),
        ("nb_bernoulli_weighted", binary,
         dict(modelType="bernoulli", smoothing=1.0, weightCol="weight"), None),
        ("nb_multinomial_weighted", binary,
         dict(modelType="multinomial", smoothing=0.25, weightCol="weight"), None),
        ("nb_gaussian_multiclass", multiclass, dict(modelType="gaussian"), None),
        ("nb_gaussian_weighted", binary, dict(modelType="gaussian", weightCol="weight"), None),
        ("nb_gaussian_iris", iris_train, dict(modelType="gaussian"), iris_test),
    ]
    for name, df, params, test in cases:
        model = NaiveBayes(**params).fit(df)
        case = {
            "params": params,
            "pi": list(map(float, model.pi.toArray())),
            "theta": matrix(model.theta),
            "training_accuracy": accuracy(model, df),
        }
        if params["modelType"] == "gaussian":
            case["sigma"] = matrix(model.sigma)
        if test is not None:
            case["test_accuracy"] = accuracy(model, test)
        out[name] = case
        print(name, "done")


def linear_svc(spark, out):
    sample = libsvm(spark, "sample_libsvm_data.txt")
    features = ["f%d" % j for j in range(30)]
    train = csv_frame(spark, "breast_cancer_train.csv", features)
    test = csv_frame(spark, "breast_cancer_test.csv", features)
    cases = [
        ("svc_sample", sample, dict(regParam=0.01), None),
        ("svc_sample_nointercept", sample, dict(regParam=0.1, fitIntercept=False), None),
        ("svc_breast_cancer", train, dict(regParam=0.01), test),
        ("svc_breast_cancer_nostd", train, dict(regParam=0.001, standardization=False), test),
    ]
    for name, df, params, test_df in cases:
        model = LinearSVC(maxIter=1000, tol=1e-9, **params).fit(df)
        history = model.summary().objectiveHistory
        case = {
            "params": params,
            "coefficients": list(map(float, model.coefficients.toArray())),
            "intercept": float(model.intercept),
            "objective": float(history[-1]),
            "iterations": len(history) - 1,
            "training_accuracy": accuracy(model, df),
        }
        if test_df is not None:
            case["test_accuracy"] = accuracy(model, test_df)
        out[name] = case
        print(name, "done", case["objective"], case["iterations"])


def counts_with_exposure():
    """data/glr_counts.csv: Poisson counts with a log-exposure offset and weights."""
    import math
    u = splitmix(29)
    rows = []
    for _ in range(300):
        x = [next(u) * 2.0 - 1.0 for _ in range(3)]
        exposure = 0.5 + 2.0 * next(u)
        mean = exposure * math.exp(0.3 + 0.8 * x[0] - 0.5 * x[1] + 0.2 * x[2])
        # Poisson by inversion of one uniform.
        target, k, p = next(u), 0, math.exp(-mean)
        cumulative = p
        while cumulative < target and k < 1000:
            k += 1
            p *= mean / k
            cumulative += p
        weight = [1.0, 2.0, 0.5][int(next(u) * 3)]
        rows.append([float(k), weight, math.log(exposure)] + x)
    write_csv("glr_counts.csv", ["label", "weight", "offset", "f0", "f1", "f2"], rows)


def glr(spark, out):
    counts_with_exposure()
    linear = libsvm(spark, "sample_linear_regression_data.txt")
    cancer = csv_frame(spark, "breast_cancer_train.csv", ["f0", "f1", "f4"])
    features = ["f%d" % j for j in range(10)]
    diabetes = csv_frame(spark, "diabetes_train.csv", features)
    diabetes_test = csv_frame(spark, "diabetes_test.csv", features)
    counts = csv_frame(spark, "glr_counts.csv", ["f0", "f1", "f2"], extra=["weight", "offset"])
    cases = [
        ("glr_gaussian", linear, dict(family="gaussian"), None),
        ("glr_gaussian_reg", linear, dict(family="gaussian", regParam=0.3), None),
        ("glr_binomial", cancer, dict(family="binomial"), None),
        ("glr_binomial_probit", cancer, dict(family="binomial", link="probit"), None),
        ("glr_binomial_cloglog_reg", cancer,
         dict(family="binomial", link="cloglog", regParam=0.01), None),
        ("glr_poisson", diabetes, dict(family="poisson"), diabetes_test),
        ("glr_gamma_log", diabetes, dict(family="gamma", link="log"), diabetes_test),
        ("glr_gamma_identity", diabetes, dict(family="gamma", link="identity"), None),
        ("glr_tweedie", diabetes, dict(family="tweedie", variancePower=1.5, linkPower=0.0),
         diabetes_test),
        ("glr_poisson_offset_weight", counts,
         dict(family="poisson", offsetCol="offset", weightCol="weight"), None),
        ("glr_gaussian_offset", counts, dict(family="gaussian", offsetCol="offset"), None),
        ("glr_gaussian_log", diabetes, dict(family="gaussian", link="log"), None),
        ("glr_poisson_nointercept_reg", counts,
         dict(family="poisson", fitIntercept=False, regParam=0.05, weightCol="weight"), None),
    ]
    for name, df, params, test in cases:
        model = GeneralizedLinearRegression(maxIter=100, tol=1e-10, **params).fit(df)
        s = model.summary
        case = {
            "params": params,
            "coefficients": list(map(float, model.coefficients.toArray())),
            "intercept": float(model.intercept),
            "iterations": s.numIterations,
            "deviance": s.deviance,
            "null_deviance": s.nullDeviance,
            "dispersion": s.dispersion,
            "residual_dof": s.residualDegreeOfFreedom,
            "residual_dof_null": s.residualDegreeOfFreedomNull,
            "standard_errors": list(s.coefficientStandardErrors),
            "t_values": list(s.tValues),
            "p_values": list(s.pValues),
        }
        if params["family"] != "tweedie":
            case["aic"] = s.aic
        if test is not None:
            case["test_rmse"] = RegressionEvaluator(metricName="rmse").evaluate(model.transform(test))
        out[name] = case
        print(name, "done", s.numIterations)


def isotonic(spark, out):
    from pyspark.ml.regression import IsotonicRegression
    sample = libsvm(spark, "sample_isotonic_regression_libsvm_data.txt")
    counts = csv_frame(spark, "glr_counts.csv", ["f0", "f1", "f2"], extra=["weight", "offset"])
    cases = [
        ("iso_sample", sample, dict()),
        ("iso_sample_antitonic", sample, dict(isotonic=False)),
        ("iso_counts_weighted", counts, dict(featureIndex=1, weightCol="weight", isotonic=False)),
        ("iso_counts", counts, dict(featureIndex=0)),
    ]
    for name, df, params in cases:
        model = IsotonicRegression(**params).fit(df)
        out[name] = {
            "params": params,
            "boundaries": list(map(float, model.boundaries.toArray())),
            "predictions": list(map(float, model.predictions.toArray())),
            "training_rmse": RegressionEvaluator(metricName="rmse").evaluate(model.transform(df)),
        }
        print(name, "done", len(out[name]["boundaries"]))


def bisecting(spark, out):
    from pyspark.ml.clustering import BisectingKMeans
    iris = csv_frame(spark, "iris_train.csv", ["f0", "f1", "f2", "f3"])
    diabetes = csv_frame(spark, "diabetes_train.csv", ["f%d" % j for j in range(10)])
    cases = [
        ("bkm_iris_k3", iris, dict(k=3)),
        ("bkm_iris_k6_cosine", iris, dict(k=6, distanceMeasure="cosine")),
        ("bkm_diabetes_k5", diabetes, dict(k=5)),
        ("bkm_diabetes_k8_min10", diabetes, dict(k=8, minDivisibleClusterSize=10.0)),
    ]
    for name, df, params in cases:
        costs = []
        for seed in [1, 2, 3]:
            model = BisectingKMeans(seed=seed, **params).fit(df)
            costs.append(model.summary.trainingCost)
        out[name] = {"params": params, "costs": costs}
        print(name, "done", costs)


def mixture(spark, out):
    from pyspark.ml.clustering import GaussianMixture
    iris = csv_frame(spark, "iris_train.csv", ["f0", "f1", "f2", "f3"])
    diabetes = csv_frame(spark, "diabetes_train.csv", ["f0", "f2", "f3", "f8"])
    cases = [
        ("gmm_iris_k3", iris, dict(k=3)),
        ("gmm_iris_k2_tight", iris, dict(k=2, tol=1e-6, maxIter=300)),
        ("gmm_diabetes_k4", diabetes, dict(k=4)),
    ]
    for name, df, params in cases:
        lls = []
        for seed in range(1, 9):
            model = GaussianMixture(seed=seed, **params).fit(df)
            lls.append(model.summary.logLikelihood)
        out[name] = {"params": params, "log_likelihoods": lls}
        print(name, "done", lls)


def one_vs_rest(spark, out):
    from pyspark.ml.classification import LogisticRegression, OneVsRest
    features = ["f0", "f1", "f2", "f3"]
    iris = csv_frame(spark, "iris_train.csv", features)
    iris_test = csv_frame(spark, "iris_test.csv", features)
    cases = [
        ("ovr_lr_iris", LogisticRegression(regParam=0.01, maxIter=1000, tol=1e-12),
         dict(classifier="logistic-regression", regParam=0.01)),
        ("ovr_svc_iris", LinearSVC(regParam=0.01, maxIter=1000, tol=1e-9),
         dict(classifier="linear-svc", regParam=0.01)),
    ]
    for name, classifier, params in cases:
        model = OneVsRest(classifier=classifier, parallelism=2).fit(iris)
        out[name] = {
            "params": params,
            "coefficients": [list(map(float, m.coefficients.toArray())) for m in model.models],
            "intercepts": [float(m.intercept) for m in model.models],
            "training_accuracy": accuracy(model, iris),
            "test_accuracy": accuracy(model, iris_test),
        }
        print(name, "done", out[name]["test_accuracy"])


def mlp(spark, out):
    from pyspark.ml.classification import MultilayerPerceptronClassifier
    features = ["f0", "f1", "f2", "f3"]
    iris = csv_frame(spark, "iris_train.csv", features)
    iris_test = csv_frame(spark, "iris_test.csv", features)
    multiclass = libsvm(spark, "sample_multiclass_classification_data.txt")
    cases = [
        ("mlp_iris", iris, iris_test, dict(layers=[4, 5, 3])),
        ("mlp_iris_gd", iris, iris_test, dict(layers=[4, 8, 3], solver="gd", stepSize=0.5,
                                               maxIter=200)),
        ("mlp_multiclass", multiclass, multiclass, dict(layers=[4, 6, 4, 3])),
    ]
    for name, df, test, params in cases:
        accs = []
        for seed in range(1, 5):
            model = MultilayerPerceptronClassifier(seed=seed, **params).fit(df)
            accs.append(accuracy(model, test))
        out[name] = {"params": params, "test_accuracies": accs}
        print(name, "done", accs)


def fm(spark, out):
    from pyspark.ml.regression import FMRegressor
    from pyspark.ml.classification import FMClassifier
    features = ["f%d" % j for j in range(10)]
    diabetes = csv_frame(spark, "diabetes_train.csv", features)
    diabetes_test = csv_frame(spark, "diabetes_test.csv", features)
    binary = csv_frame(spark, "nb_binary_weighted.csv", ["f%d" % j for j in range(6)])
    from pyspark.sql import functions as F
    binary = binary.withColumn("label", (F.col("label") == 1.0).cast("double"))
    cases = [
        ("fm_regressor_diabetes", FMRegressor, diabetes, diabetes_test,
         dict(factorSize=4, stepSize=0.1, maxIter=300)),
        ("fm_classifier_binary", FMClassifier, binary, binary,
         dict(factorSize=4, stepSize=0.05, maxIter=200)),
    ]
    for name, cls, df, test, params in cases:
        scores = []
        for seed in range(1, 4):
            model = cls(seed=seed, **params).fit(df)
            if cls is FMRegressor:
                scores.append(RegressionEvaluator(metricName="rmse").evaluate(model.transform(test)))
            else:
                scores.append(accuracy(model, test))
        out[name] = {"params": params, "scores": scores}
        print(name, "done", scores)


GROUPS = {"fm": fm, "mlp": mlp, "one_vs_rest": one_vs_rest, "naive_bayes": naive_bayes, "linear_svc": linear_svc, "glr": glr,
          "isotonic": isotonic, "bisecting": bisecting, "mixture": mixture}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default=",".join(GROUPS))
    args = parser.parse_args()
    out = {}
    if os.path.exists(OUT):
        with open(OUT) as f:
            out = json.load(f)
    sklearn_sets()
    spark = session()
    out["spark_version"] = spark.version
    for group in args.only.split(","):
        GROUPS[group](spark, out)
    with open(OUT, "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
        f.write("\n")
    spark.stop()


if __name__ == "__main__":
    main()
