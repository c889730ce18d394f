"""Spark side of `cargo bench --bench pipeline`: cross-validates the pipeline spec (Spark's
class and parameter names) on the CSV the benchmark wrote and prints
{"fit_seconds", "avg_metrics", "best_index"} on stdout."""

import json
import sys
import time

from pyspark.sql import SparkSession
from pyspark.sql.types import DoubleType, StringType, StructField, StructType
from pyspark.ml import Pipeline
from pyspark.ml import feature as F
from pyspark.ml import classification as C
from pyspark.ml import evaluation as E
from pyspark.ml.tuning import CrossValidator, ParamGridBuilder

csv, spec_path = sys.argv[1], sys.argv[2]
spec = json.load(open(spec_path))
spark = (SparkSession.builder.master("local[2]").appName("cinder-bench-pipeline")
         .config("spark.ui.enabled", "false").config("spark.driver.memory", "4g").getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
text = {"workclass", "education", "sex", "income"}
header = open(csv).readline().strip().split(",")
schema = StructType([StructField(c, StringType() if c in text else DoubleType(), True) for c in header])
df = spark.read.csv(csv, header=True, schema=schema).repartition(8).cache()
df.count()


def stage(s):
    mod = F if hasattr(F, s["class"]) else C
    return getattr(mod, s["class"])(**s.get("params", {}))


start = time.time()
stages = [stage(s) for s in spec["stages"]]
tuning = spec["tuning"]
builder = ParamGridBuilder()
for g in tuning["paramGrid"]:
    builder = builder.addGrid(stages[g["stage"]].getParam(g["param"]), g["values"])
cv = CrossValidator(estimator=Pipeline(stages=stages), estimatorParamMaps=builder.build(),
                    evaluator=getattr(E, tuning["evaluator"]["class"])(**tuning["evaluator"].get("params", {})),
                    **tuning["params"])
model = cv.fit(df)
seconds = time.time() - start
metrics = list(model.avgMetrics)
print(json.dumps({"fit_seconds": seconds, "avg_metrics": metrics,
                  "best_index": max(range(len(metrics)), key=lambda i: metrics[i])}))
spark.stop()
