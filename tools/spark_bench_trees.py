"""Spark MLlib side of `cargo bench --bench trees`: fits a random forest classifier or a GBT
regressor on a Parquet training file written by the benchmark, scores the test file, and
prints {"fit_seconds": s, "quality": q} on stdout (test AUC for the forest, test RMSE for the
GBT).

Usage: spark_bench_trees.py rf|gbt TRAIN TEST NUM_TREES_OR_ITERS MAX_DEPTH
"""

import json
import sys
import time

from pyspark.ml.classification import RandomForestClassifier
from pyspark.ml.evaluation import BinaryClassificationEvaluator, RegressionEvaluator
from pyspark.ml.feature import VectorAssembler
from pyspark.ml.regression import GBTRegressor
from pyspark.sql import SparkSession

task, train_path, test_path, count, depth = sys.argv[1:6]
count, depth = int(count), int(depth)
spark = (SparkSession.builder.master("local[2]").appName("cinder-bench-trees")
         .config("spark.ui.enabled", "false").config("spark.driver.memory", "4g").getOrCreate())
spark.sparkContext.setLogLevel("ERROR")


def load(path):
    df = spark.read.parquet(path)
    cols = [c for c in df.columns if c.startswith("f")]
    df = VectorAssembler(inputCols=cols, outputCol="features").transform(df)
    df = df.select("label", "features").cache()
    df.count()
    return df


train, test = load(train_path), load(test_path)
start = time.time()
if task == "rf":
    model = RandomForestClassifier(numTrees=count, maxDepth=depth, seed=7).fit(train)
    seconds = time.time() - start
    quality = BinaryClassificationEvaluator(rawPredictionCol="probability").evaluate(
        model.transform(test))
else:
    model = GBTRegressor(maxIter=count, maxDepth=depth, seed=7).fit(train)
    seconds = time.time() - start
    quality = RegressionEvaluator(metricName="rmse").evaluate(model.transform(test))
print(json.dumps({"fit_seconds": seconds, "quality": quality}))
spark.stop()
