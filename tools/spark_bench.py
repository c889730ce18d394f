"""Spark MLlib side of `cargo bench --bench ml`: fits one algorithm on a Parquet file written
by the benchmark and prints {"fit_seconds": s, "quality": q} on stdout."""

import json
import sys
import time

from pyspark.sql import SparkSession
from pyspark.ml.feature import VectorAssembler

task, path = sys.argv[1], sys.argv[2]
spark = (SparkSession.builder.master("local[2]").appName("cinder-bench")
         .config("spark.ui.enabled", "false").config("spark.driver.memory", "4g").getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
df = spark.read.parquet(path)

if task in ("lr", "linear", "kmeans"):
    cols = [c for c in df.columns if c.startswith("f")]
    df = VectorAssembler(inputCols=cols, outputCol="features").transform(df).select("label", "features")
df = df.cache()
df.count()

start = time.time()
if task == "lr":
    from pyspark.ml.classification import LogisticRegression
    model = LogisticRegression(maxIter=20, tol=0.0).fit(df)
    seconds = time.time() - start
    quality = model.summary.areaUnderROC
elif task == "linear":
    from pyspark.ml.regression import LinearRegression
    model = LinearRegression(maxIter=20, tol=0.0, solver="l-bfgs").fit(df)
    seconds = time.time() - start
    quality = model.summary.rootMeanSquaredError
elif task == "kmeans":
    from pyspark.ml.clustering import KMeans
    model = KMeans(k=10, maxIter=20, tol=0.0, seed=1).fit(df)
    seconds = time.time() - start
    quality = model.summary.trainingCost
else:
    from pyspark.ml.recommendation import ALS
    from pyspark.ml.evaluation import RegressionEvaluator
    model = ALS(rank=10, maxIter=10, regParam=0.1, userCol="user", itemCol="item",
                ratingCol="rating").fit(df)
    seconds = time.time() - start
    quality = RegressionEvaluator(metricName="rmse", labelCol="rating",
                                  predictionCol="prediction").evaluate(model.transform(df))
print(json.dumps({"fit_seconds": seconds, "quality": quality}))
spark.stop()
