"""Reference results from Spark MLlib for Cinder's agreement tests.

Runs Spark MLlib (pyspark, local[2]) on the sample data in data/ and on generated, badly
scaled problems at converged settings and writes tests/spark_reference.json. Re-run with
`python3 tools/spark_reference.py` after `pip install pyspark numpy` (Java 17 must be on the
PATH). The JSON is committed; CI only reads it.

The generated problems (`problems()`) are built bit for bit as tests/ml_problems/mod.rs builds
them: a splitmix64 stream and only +, -, * and comparisons on doubles, so Rust and Python make
the same rows. For them the iterations and the objective evaluations (jobs of
`RDDLossFunction`, counted through the status tracker) are recorded as well.
"""

import json
import os
import sys
import time

from pyspark.sql import SparkSession
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.regression import LinearRegression
from pyspark.ml.clustering import KMeans
from pyspark.ml.recommendation import ALS
from pyspark.ml.evaluation import (BinaryClassificationEvaluator, ClusteringEvaluator,
                                   MulticlassClassificationEvaluator, RegressionEvaluator)
from pyspark.sql import Row

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "data")
OUT = os.path.join(ROOT, "tests", "spark_reference.json")

CONVERGED = dict(maxIter=1000, tol=1e-12)

MASK = (1 << 64) - 1
# 1e-3 .. 1e3: feature j is scaled by SCALES[j % 7] (six orders of magnitude).
SCALES = [1e-3, 1e-2, 1e-1, 1.0, 1e1, 1e2, 1e3]


class Rng:
    """splitmix64, as tests/ml_problems/mod.rs."""

    def __init__(self, seed):
        self.state = seed & MASK

    def next_u64(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def uniform(self):
        return float(self.next_u64() >> 11) * (1.0 / 9007199254740992.0)

    def normal(self):
        """Approximately standard normal: a centered sum of four uniforms, scaled."""
        u = self.uniform() + self.uniform()
        u = u + self.uniform()
        u = u + self.uniform()
        return (u - 2.0) * 1.7320508075688772


def correlated_rows(rng, n, d, copies_from):
    """Rows of 3 latent factors: column j < copies_from loads on factor j % 3 plus noise;
    column j >= copies_from nearly repeats column j - copies_from (noise 1e-3). Returns the
    unscaled columns and the factors."""
    rows, factors = [], []
    for _ in range(n):
        z = [rng.normal(), rng.normal(), rng.normal()]
        base = []
        for j in range(d):
            if j < copies_from:
                v = z[j % 3] * (1.0 + 0.1 * float(j)) + 0.5 * rng.normal()
            else:
                v = base[j - copies_from] + 1e-3 * rng.normal()
            base.append(v)
        rows.append(base)
        factors.append(z)
    return rows, factors


def scaled(base):
    return [(v + 3.0) * SCALES[j % 7] for j, v in enumerate(base)]


def weights(n, seed):
    rng = Rng(seed)
    return [0.5 + 2.0 * rng.uniform() for _ in range(n)]


def scaled_binary():
    """569 x 30, like a real diagnostic table: scales 1e-3..1e3, 10 nearly collinear columns,
    classes separated but for a little noise."""
    rng = Rng(12)
    base, factors = correlated_rows(rng, 569, 30, 20)
    out = []
    for b, z in zip(base, factors):
        t = z[0] + 0.5 * z[1] - 0.25 * z[2] + 0.3 * rng.normal()
        out.append((1.0 if t > 0.0 else 0.0, scaled(b)))
    return out


def multiclass10():
    """800 x 12, 10 classes: argmax of fixed linear scores plus noise, features scaled."""
    rng = Rng(34)
    out = []
    for _ in range(800):
        z = [rng.normal() for _ in range(12)]
        best, label = None, 0
        for k in range(10):
            score = 0.0
            for j in range(12):
                score = score + float((k * 7 + j * 3) % 11 - 5) * 0.2 * z[j]
            score = score + 0.5 * rng.normal()
            if best is None or score > best:
                best, label = score, k
        out.append((float(label), [(v + 1.0) * SCALES[j % 7] for j, v in enumerate(z)]))
    return out


def scaled_linear():
    """500 x 20 regression: scales 1e-3..1e3, 6 nearly collinear columns, label ~ 100 N + 50."""
    rng = Rng(56)
    base, _ = correlated_rows(rng, 500, 20, 14)
    out = []
    for b in base:
        y = 0.0
        for j in range(20):
            y = y + float((j * 5) % 7 - 3) * 0.5 * b[j]
        y = (y + 0.1 * rng.normal()) * 100.0 + 50.0
        out.append((y, scaled(b)))
    return out


def sparse_linear():
    """500 x 20 regression without near copies: 3 latent factors, scales 1e-3..1e3, the label
    made of 6 columns plus noise (the L1 cases: collinear copies make OWL-QN in both systems
    run to maxIter)."""
    rng = Rng(57)
    base, _ = correlated_rows(rng, 500, 20, 20)
    out = []
    for b in base:
        y = 2.0 * b[0] - 1.5 * b[4] + b[7] - 0.5 * b[11] + 0.8 * b[15] - 0.3 * b[19]
        y = (y + rng.normal()) * 10.0 + 5.0
        out.append((y, scaled(b)))
    return out


def problems():
    """Name -> rows (label, features) of the generated problems."""
    return {"scaled_binary": scaled_binary(), "multiclass10": multiclass10(),
            "scaled_linear": scaled_linear(), "sparse_linear": sparse_linear()}


# (case, problem, estimator, params, weighted); the two cases on which Spark stops at maxIter
# come last (they take most of the run).
HARD_CASES = [
    ("lr_scaled_enet", "scaled_binary", "logistic",
     dict(regParam=0.02, elasticNetParam=0.5, family="binomial"), False),
    ("lr_scaled_l2", "scaled_binary", "logistic",
     dict(regParam=0.01, elasticNetParam=0.0, family="binomial"), False),
    ("lr_multi10_enet", "multiclass10", "logistic",
     dict(regParam=0.01, elasticNetParam=0.3, family="multinomial"), False),
    ("lr_multi10_l2", "multiclass10", "logistic",
     dict(regParam=0.005, elasticNetParam=0.0, family="multinomial"), False),
    # regParam 1: at 0.1 the near copies leave a direction so flat that no two converged runs
    # (tol 1e-12) agree to 1e-4; the KKT battery covers 0.1.
    ("linear_scaled_l2", "scaled_linear", "linear",
     dict(regParam=1.0, elasticNetParam=0.0, solver="l-bfgs"), False),
    ("linear_sparse_enet", "sparse_linear", "linear",
     dict(regParam=0.1, elasticNetParam=0.7, solver="l-bfgs"), False),
    ("linear_sparse_l1_weighted", "sparse_linear", "linear",
     dict(regParam=0.5, elasticNetParam=1.0, solver="l-bfgs"), True),
    ("lr_scaled_l1_weighted", "scaled_binary", "logistic",
     dict(regParam=0.05, elasticNetParam=1.0, family="binomial"), True),
    ("lr_scaled_l2_nostd", "scaled_binary", "logistic",
     dict(regParam=0.001, elasticNetParam=0.0, family="binomial", standardization=False), False),
]

WEIGHT_SEED = 99


def loss_evaluations(sc, group):
    """Jobs of a job group that evaluated the loss (one treeAggregate of RDDLossFunction)."""
    count = 0
    for job in sc.statusTracker().getJobIdsForGroup(group):
        info = sc.statusTracker().getJobInfo(job)
        names = [getattr(sc.statusTracker().getStageInfo(s), "name", "") or ""
                 for s in (info.stageIds if info else [])]
        if any("RDDLossFunction" in n for n in names):
            count += 1
    return count


def hard_cases(spark, out, skip_recorded=False, checkpoint=None):
    """Runs the generated cases into `out`; with `skip_recorded`, only those not in it yet;
    `checkpoint(out)` after each case (a long run keeps what it finished)."""
    from pyspark.ml.linalg import Vectors

    sc = spark.sparkContext
    data = problems()
    for name, problem, estimator, params, weighted in HARD_CASES:
        recorded = out.get(name, {})
        if (skip_recorded and recorded.get("params") == params
                and recorded.get("problem") == problem and recorded.get("weighted") == weighted):
            continue
        rows = data[problem]
        w = weights(len(rows), WEIGHT_SEED) if weighted else [1.0] * len(rows)
        frame = spark.createDataFrame(
            [(y, wi, Vectors.dense(x)) for (y, x), wi in zip(rows, w)],
            ["label", "weight", "features"]).repartition(2).cache()
        frame.count()
        extra = dict(weightCol="weight") if weighted else {}
        if estimator == "logistic":
            est = LogisticRegression(**CONVERGED, **params, **extra)
        else:
            est = LinearRegression(**CONVERGED, **params, **extra)
        sc.setJobGroup(name, name)
        start = time.time()
        model = est.fit(frame)
        seconds = time.time() - start
        evaluations = loss_evaluations(sc, name)
        sc.setJobGroup("", "")
        summary = model.summary
        case = dict(problem=problem, weighted=weighted, params=params,
                    iterations=summary.totalIterations,
                    evaluations=evaluations,
                    objective=summary.objectiveHistory[-1],
                    fit_seconds=seconds)
        if estimator == "logistic" and params["family"] == "multinomial":
            case["coefficient_matrix"] = model.coefficientMatrix.toArray().tolist()
            case["intercepts"] = model.interceptVector.toArray().tolist()
        else:
            case["coefficients"] = model.coefficients.toArray().tolist()
            case["intercept"] = model.intercept
        out[name] = case
        frame.unpersist()
        print(f"{name}: {case['iterations']} iterations, {evaluations} evaluations, "
              f"objective {case['objective']:.10g}", file=sys.stderr)
        if checkpoint:
            checkpoint(out)


def main():
    if "--bench" in sys.argv[1:]:
        # For benches/optim.rs: the generated problems only, counts and fit times as JSON on
        # stdout, nothing written.
        spark = session()
        out = {}
        hard_cases(spark, out)
        keys = ("iterations", "evaluations", "fit_seconds", "objective")
        print(json.dumps({name: {k: case[k] for k in keys} for name, case in out.items()}))
        spark.stop()
        return
    if "--evaluators-only" in sys.argv[1:]:
        # Only the evaluator cases, merged into the existing file.
        with open(OUT) as f:
            out = json.load(f)
        spark = session()
        evaluator_cases(spark, out)
        write(out)
        spark.stop()
        return
    if "--hard-only" in sys.argv[1:]:
        # Only the generated problems not recorded yet (or recorded with other parameters),
        # merged into the existing file.
        with open(OUT) as f:
            out = json.load(f)
        known = {case[0] for case in HARD_CASES}
        for name in [n for n, c in out.items() if isinstance(c, dict) and "problem" in c]:
            if name not in known:
                del out[name]
        spark = session()
        hard_cases(spark, out, skip_recorded=True, checkpoint=write)
        spark.stop()
        return
    spark = session()
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

    hard_cases(spark, out, checkpoint=write)
    spark.stop()


def evaluator_cases(spark, out):
    """Spark's evaluators on models fitted with the parameters `cinder train` is run with in
    tests/evaluation.rs, evaluated on their training data: the `training_metrics` contract."""
    binary = spark.read.format("libsvm").load(os.path.join(DATA, "sample_libsvm_data.txt"))
    model = LogisticRegression(family="binomial", regParam=0.01, **CONVERGED).fit(binary)
    scored = model.transform(binary)
    metrics = {m: BinaryClassificationEvaluator(metricName=m).evaluate(scored)
               for m in ("areaUnderROC", "areaUnderPR")}
    metrics.update({m: MulticlassClassificationEvaluator(metricName=m).evaluate(scored)
                    for m in ("accuracy", "f1", "weightedPrecision", "weightedRecall",
                              "logLoss")})
    out["eval_logistic_binomial"] = dict(params=dict(regParam=0.01), metrics=metrics)

    multi = spark.read.format("libsvm").load(
        os.path.join(DATA, "sample_multiclass_classification_data.txt"))
    model = LogisticRegression(family="multinomial", regParam=0.01, **CONVERGED).fit(multi)
    scored = model.transform(multi)
    out["eval_logistic_multinomial"] = dict(params=dict(regParam=0.01), metrics={
        m: MulticlassClassificationEvaluator(metricName=m).evaluate(scored)
        for m in ("accuracy", "f1", "weightedPrecision", "weightedRecall", "logLoss")})

    linear = spark.read.format("libsvm").load(
        os.path.join(DATA, "sample_linear_regression_data.txt"))
    model = LinearRegression(regParam=0.3, **CONVERGED).fit(linear)
    scored = model.transform(linear)
    out["eval_linear"] = dict(params=dict(regParam=0.3), metrics={
        m: RegressionEvaluator(metricName=m).evaluate(scored) for m in ("rmse", "mse", "mae", "r2")})

    points = spark.read.format("libsvm").load(os.path.join(DATA, "sample_kmeans_data.txt"))
    model = KMeans(k=2, seed=1, maxIter=100, tol=1e-12).fit(points)
    out["eval_kmeans"] = dict(params=dict(k=2, seed=1), metrics={
        "silhouette": ClusteringEvaluator().evaluate(model.transform(points))})


def session():
    spark = (SparkSession.builder.master("local[2]").appName("cinder-reference")
             .config("spark.ui.enabled", "false")
             .config("spark.ui.retainedJobs", "100000")
             .config("spark.ui.retainedStages", "100000").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def write(out):
    with open(OUT, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"wrote {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
