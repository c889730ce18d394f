"""Reference results from Spark MLlib for Cinder's agreement tests.

Runs Spark MLlib (pyspark, local[2]) on the sample data in data/ at converged settings and
writes tests/spark_reference.json. Re-run with `python3 tools/spark_reference.py` after
`pip install pyspark` (Java 17 must be on the PATH). The JSON is committed; CI only reads it.
"""

import json
import os
import sys

from pyspark.sql import SparkSession
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.regression import LinearRegression
from pyspark.ml.clustering import KMeans
from pyspark.ml.recommendation import ALS
from pyspark.ml.evaluation import RegressionEvaluator
from pyspark.sql import Row

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "data")
OUT = os.path.join(ROOT, "tests", "spark_reference.json")

CONVERGED = dict(maxIter=1000, tol=1e-12)


def main():
    spark = (SparkSession.builder.master("local[2]").appName("cinder-reference")
             .config("spark.ui.enabled", "false").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    out = {"spark_version": spark.version}

    binary = spark.read.format("libsvm").load(os.path.join(DATA, "sample_libsvm_data.txt"))
    for name, params in {
        "lr_binomial_l2": dict(regParam=0.01, elasticNetParam=0.0),
        "lr_binomial_enet": dict(regParam=0.01, elasticNetParam=0.5),
        "lr_binomial_l1_nointercept": dict(regParam=0.02, elasticNetParam=1.0, fitIntercept=False),
    }.items():
        model = LogisticRegression(family="binomial", **CONVERGED, **params).fit(binary)
        out[name] = dict(params=params, coefficients=model.coefficients.toArray().tolist(),
                         intercept=model.intercept,
                         iterations=model.summary.totalIterations,
                         auc=model.summary.areaUnderROC)

    multi = spark.read.format("libsvm").load(
        os.path.join(DATA, "sample_multiclass_classification_data.txt"))
    for name, params in {
        "lr_multinomial_l2": dict(regParam=0.01, elasticNetParam=0.0),
        "lr_multinomial_enet": dict(regParam=0.01, elasticNetParam=0.3),
        "lr_multinomial_l2_nostd": dict(regParam=0.01, elasticNetParam=0.0, standardization=False),
    }.items():
        model = LogisticRegression(family="multinomial", **CONVERGED, **params).fit(multi)
        out[name] = dict(params=params,
                         coefficient_matrix=model.coefficientMatrix.toArray().tolist(),
                         intercepts=model.interceptVector.toArray().tolist(),
                         accuracy=model.summary.accuracy)

    linear = spark.read.format("libsvm").load(
        os.path.join(DATA, "sample_linear_regression_data.txt"))
    for name, params in {
        "linear_l2": dict(regParam=0.3, elasticNetParam=0.0, solver="l-bfgs"),
        "linear_enet": dict(regParam=0.3, elasticNetParam=0.8, solver="l-bfgs"),
        "linear_normal": dict(regParam=0.3, elasticNetParam=0.0, solver="normal"),
        "linear_noreg": dict(regParam=0.0, elasticNetParam=0.0, solver="l-bfgs"),
        "linear_l2_nostd_nointercept": dict(regParam=0.1, elasticNetParam=0.0, solver="l-bfgs",
                                            standardization=False, fitIntercept=False),
    }.items():
        model = LinearRegression(**CONVERGED, **params).fit(linear)
        out[name] = dict(params=params, coefficients=model.coefficients.toArray().tolist(),
                         intercept=model.intercept, rmse=model.summary.rootMeanSquaredError,
                         r2=model.summary.r2)

    points = spark.read.format("libsvm").load(os.path.join(DATA, "sample_kmeans_data.txt"))
    for name, params in {
        "kmeans_euclidean": dict(k=2, seed=1),
        "kmeans_random_init": dict(k=2, seed=1, initMode="random"),
    }.items():
        model = KMeans(maxIter=100, tol=1e-12, **params).fit(points)
        centers = sorted(c.tolist() for c in model.clusterCenters())
        out[name] = dict(params=params, centers=centers, cost=model.summary.trainingCost)
    # sample_kmeans_data holds a zero vector (undefined under cosine): use the iris-like data.
    for name, params in {
        "kmeans_cosine": dict(k=3, seed=1, distanceMeasure="cosine"),
        "kmeans_multiclass_k3": dict(k=3, seed=1),
    }.items():
        model = KMeans(maxIter=100, tol=1e-12, **params).fit(multi)
        centers = sorted(c.tolist() for c in model.clusterCenters())
        out[name] = dict(params=params, centers=centers, cost=model.summary.trainingCost)

    lines = spark.read.text(os.path.join(DATA, "als", "sample_movielens_ratings.txt")).rdd
    ratings = spark.createDataFrame(lines.map(lambda r: r.value.split("::")).map(
        lambda p: Row(userId=int(p[0]), movieId=int(p[1]), rating=float(p[2]))))
    for name, params in {
        "als_explicit": dict(rank=10, maxIter=10, regParam=0.1, seed=42),
        "als_implicit": dict(rank=10, maxIter=10, regParam=0.1, seed=42,
                             implicitPrefs=True, alpha=1.0),
    }.items():
        model = ALS(userCol="userId", itemCol="movieId", ratingCol="rating",
                    coldStartStrategy="drop", **params).fit(ratings)
        rmse = RegressionEvaluator(metricName="rmse", labelCol="rating",
                                   predictionCol="prediction").evaluate(model.transform(ratings))
        out[name] = dict(params=params, rmse=rmse)

    with open(OUT, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    spark.stop()
    print(f"wrote {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
