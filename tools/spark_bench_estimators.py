"""Spark MLlib side of `cargo bench --bench estimators`: fits one estimator of issue 17 on a
Parquet file written by the benchmark and prints {"fit_seconds": s, "quality": q} on stdout."""

import json
import sys
import time

from pyspark.sql import SparkSession
from pyspark.ml.feature import VectorAssembler
from pyspark.ml.evaluation import MulticlassClassificationEvaluator, RegressionEvaluator

task, path = sys.argv[1], sys.argv[2]
spark = (SparkSession.builder.master("local[2]").appName("cinder-bench-estimators")
         .config("spark.ui.enabled", "false").config("spark.driver.memory", "4g").getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
df = spark.read.parquet(path)
cols = [c for c in df.columns if c.startswith("f")]
df = VectorAssembler(inputCols=cols, outputCol="features").transform(df).select("label", "features")
df = df.cache()
df.count()

accuracy = MulticlassClassificationEvaluator(metricName="accuracy")
start = time.time()
if task == "nb":
    from pyspark.ml.classification import NaiveBayes
    model = NaiveBayes(modelType="gaussian").fit(df)
    seconds = time.time() - start
    quality = accuracy.evaluate(model.transform(df))
elif task == "svc":
    from pyspark.ml.classification import LinearSVC
    model = LinearSVC(maxIter=20, tol=0.0, regParam=0.01).fit(df)
    seconds = time.time() - start
    quality = accuracy.evaluate(model.transform(df))
elif task == "glr":
    from pyspark.ml.regression import GeneralizedLinearRegression
    model = GeneralizedLinearRegression(family="poisson", maxIter=10, tol=0.0).fit(df)
    seconds = time.time() - start
    quality = model.summary.deviance
else:
    from pyspark.ml.classification import MultilayerPerceptronClassifier
    model = MultilayerPerceptronClassifier(layers=[50, 64, 32, 2], maxIter=20, tol=0.0,
                                           seed=1).fit(df)
    seconds = time.time() - start
    quality = accuracy.evaluate(model.transform(df))
print(json.dumps({"fit_seconds": seconds, "quality": quality}))
spark.stop()
