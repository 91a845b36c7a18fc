"""Spark MLlib's GaussianMixture on the benchmark's rows, from a given start (bench only).

Used by ``bench/dask_scale.py`` (section 3); needs ``pyspark``
(``pip install -r requirements-bench.txt``) and a Java runtime (``java`` on PATH). Neither the
library, the app nor the tests need them.

What runs, and why so:

* The rows are read by the JVM from the Parquet files that ``dask_scale.py`` writes (the same
  ``make_block`` rows as ours), assembled into one vector column, turned into an
  ``RDD[mllib.linalg.Vector]`` inside the JVM (PySpark's ``RowMatrix(DataFrame).rows``) and
  cached there. No Python worker touches a row, so the timed part is Spark's own code only.
* Only the RDD API (``pyspark.mllib.clustering.GaussianMixture``) takes an initial model; the
  DataFrame API (``pyspark.ml.clustering.GaussianMixture``) always starts from its own random
  start. The RDD API is called with our starting weights, means and covariances
  (``PythonMLLibAPI.trainGaussianMixtureModel``, what ``GaussianMixture.train(...,
  initialModel=...)`` calls, handed the JVM RDD directly) and ``convergenceTol=0``, so that it
  runs exactly ``maxIterations`` passes, as our ``tol=0`` run does.
* Seconds per iteration come from two runs from the same start, with ``1`` and ``1 + iters``
  iterations: their difference divided by ``iters``, so that what every run does once (caching
  the Breeze copy of the rows in its first pass, building the model) is not counted.
* The DataFrame API (:func:`run_spark_ml`) is timed too, from its own random start, because
  it is the API people use and its implementation differs (it reports a log-likelihood, which
  the RDD API's model does not: that one is checked against ours).
* CPU seconds are the JVM's: user + system time of every process under this Python process
  once Spark has started (the ``spark-submit`` JVM, plus any Python worker, none of which runs
  here), read with psutil, differenced like the wall time. The driver and the two executor
  threads of ``local[2]`` are all in that one JVM. Garbage collection and JIT threads are
  included: they are part of what Spark costs.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Rows the JVM warms up on before the timed runs.
WARM_UP_ROWS = 500_000

__all__ = ["SparkMLRun", "SparkRun", "run_spark_gmm", "run_spark_ml", "spark_unavailable"]


@dataclass
class SparkRun:
    """What one Spark comparison measured.

    Attributes
    ----------
    rows, partitions : int
    iters : int
        Iterations timed (the difference of the two runs).
    wall, cpu : float
        Seconds per iteration: wall clock, and CPU of the JVM process tree.
    weights : ndarray of shape (n_components,)
    means : ndarray of shape (n_components, n_features)
    covariances : ndarray of shape (n_components, n_features, n_features)
        Spark's model after ``1 + iters`` iterations.
    cache_seconds : float
        Reading the Parquet files into the cached RDD (not timed per iteration).
    """

    rows: int
    partitions: int
    iters: int
    wall: float
    cpu: float
    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    cache_seconds: float


@dataclass
class SparkMLRun:
    """What the DataFrame API's run measured (its own random start: it takes no start).

    Attributes
    ----------
    rows, iters : int
    wall, cpu : float
        Seconds per iteration, as in :class:`SparkRun`.
    reported_log_likelihood : float
        ``summary.logLikelihood / rows`` of the 2-iteration run: Spark computes it in its last
        E-step, so it is the log-likelihood of the model after 1 iteration, which is
        ``model1`` (the same seed gives the same start and the same arithmetic).
    weights, means, covariances : ndarray
        ``model1``: the 1-iteration run's model, to be scored by our pass.
    """

    rows: int
    iters: int
    wall: float
    cpu: float
    reported_log_likelihood: float
    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray


def _session(master: str, driver_memory: str):
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master(master)
        .appName("gmm-bench")
        .config("spark.driver.memory", driver_memory)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        # One partition per Parquet file (250,000 rows), like our one task per block.
        .config("spark.sql.files.maxPartitionBytes", str(10 * 2**20))
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _vectors(spark, parquet: Path):
    """The rows as one ml vector column "x"."""
    from pyspark.ml.feature import VectorAssembler

    frame = spark.read.parquet(str(parquet))
    return VectorAssembler(inputCols=list(frame.columns), outputCol="x").transform(frame)


def run_spark_ml(
    parquet: Path,
    k: int,
    iters: int,
    *,
    master: str = "local[2]",
    driver_memory: str = "6g",
    seed: int = 0,
) -> SparkMLRun:
    """Spark's DataFrame API (``pyspark.ml.clustering.GaussianMixture``), timed per iteration.

    It takes no initial model, so it starts from its own random start (``seed``); runs of
    ``1``, ``2`` and ``1 + iters`` iterations with ``tol=0``. Seconds per iteration: the
    difference of the last and the first, divided by ``iters``.

    Returns
    -------
    SparkMLRun
    """
    from pyspark.ml.clustering import GaussianMixture

    spark = _session(master, driver_memory)
    try:
        data = _vectors(spark, parquet).select("x").cache()
        n = data.count()

        def fit(max_iter: int):
            c0, t0 = _tree_cpu_seconds(), time.perf_counter()
            model = GaussianMixture(featuresCol="x", k=k, maxIter=max_iter, tol=0.0, seed=seed).fit(
                data
            )
            return model, time.perf_counter() - t0, _tree_cpu_seconds() - c0

        # The JVM compiles Spark's hot loops during the first runs: warm it up on a sample so
        # that the two timed runs differ only by their iterations.
        warm = data.sample(fraction=min(1.0, WARM_UP_ROWS / n), seed=seed).cache()
        GaussianMixture(featuresCol="x", k=k, maxIter=2, tol=0.0, seed=seed).fit(warm)
        warm.unpersist()
        model1, wall1, cpu1 = fit(1)
        model2, _, _ = fit(2)
        _, wall_n, cpu_n = fit(1 + iters)
        gaussians = model1.gaussians
        return SparkMLRun(
            rows=n,
            iters=iters,
            wall=(wall_n - wall1) / iters,
            cpu=(cpu_n - cpu1) / iters,
            reported_log_likelihood=model2.summary.logLikelihood / n,
            weights=np.asarray(model1.weights, dtype=float),
            means=np.array([g.mean.toArray() for g in gaussians]),
            covariances=np.array([g.cov.toArray() for g in gaussians]),
        )
    finally:
        spark.stop()


def spark_unavailable() -> str | None:
    """None if pyspark imports and ``java`` is on PATH, else why the comparison is skipped."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install -r requirements-bench.txt)"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "no Java runtime: java is not on PATH and JAVA_HOME is unset"
    return None


def _tree_cpu_seconds() -> float:
    """User + system CPU of every process below this one (the Spark JVM and its children)."""
    import psutil

    total = 0.0
    for proc in psutil.Process().children(recursive=True):
        try:
            t = proc.cpu_times()
        except psutil.NoSuchProcess:  # a Python worker that ended meanwhile
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


def run_spark_gmm(
    parquet: Path,
    weights: np.ndarray,
    means: np.ndarray,
    covariances: np.ndarray,
    iters: int,
    *,
    master: str = "local[2]",
    driver_memory: str = "6g",
) -> SparkRun:
    """Spark MLlib's EM (RDD API) from the given start, timed per iteration.

    Parameters
    ----------
    parquet : Path
        Folder of Parquet files, one float64 column per feature.
    weights : ndarray of shape (n_components,)
    means : ndarray of shape (n_components, n_features)
    covariances : ndarray of shape (n_components, n_features, n_features)
        The start ('full' covariances: the only kind Spark has).
    iters : int
        Iterations timed; Spark runs ``1`` and then ``1 + iters`` iterations.
    master : str, default 'local[2]'
    driver_memory : str, default '6g'
        The JVM's heap: the rows cached as Java objects take several times their raw size.

    Returns
    -------
    SparkRun
    """
    from pyspark.mllib.clustering import GaussianMixtureModel
    from pyspark.mllib.common import callMLlibFunc
    from pyspark.mllib.linalg import DenseMatrix, DenseVector
    from pyspark.mllib.linalg.distributed import RowMatrix
    from pyspark.mllib.util import MLUtils

    k, d = means.shape
    spark = _session(master, driver_memory)
    try:
        t0 = time.perf_counter()
        vectors = MLUtils.convertVectorColumnsFromML(_vectors(spark, parquet).select("x"), "x")
        rows = RowMatrix(vectors)._java_matrix_wrapper._java_model.rows().cache()
        n = int(rows.count())
        partitions = int(rows.getNumPartitions())
        cache_seconds = time.perf_counter() - t0

        start_mu = [DenseVector(m) for m in means]
        # DenseMatrix is column-major; covariances are symmetric, so either order holds.
        start_sigma = [
            DenseMatrix(d, d, np.asarray(c, dtype=float).ravel(order="F")) for c in covariances
        ]

        rows_for_training = [rows]

        def train(max_iterations: int):
            c0, t0 = _tree_cpu_seconds(), time.perf_counter()
            java_model = callMLlibFunc(
                "trainGaussianMixtureModel",
                rows_for_training[0].toJavaRDD(),
                k,
                0.0,  # convergenceTol: run every iteration asked for
                max_iterations,
                0,  # seed: unused with an initial model
                [float(w) for w in weights],
                start_mu,
                start_sigma,
            )
            wall, cpu = time.perf_counter() - t0, _tree_cpu_seconds() - c0
            return GaussianMixtureModel(java_model), wall, cpu

        # Warm the JVM's compiler up (see run_spark_ml) on a sample of the cached rows.
        warm = rows.sample(False, min(1.0, WARM_UP_ROWS / n), 0).cache()
        rows_for_training[0] = warm
        train(2)
        warm.unpersist(False)
        rows_for_training[0] = rows
        _, wall1, cpu1 = train(1)
        model, wall_n, cpu_n = train(1 + iters)
        gaussians = model.gaussians
        return SparkRun(
            rows=n,
            partitions=partitions,
            iters=iters,
            wall=(wall_n - wall1) / iters,
            cpu=(cpu_n - cpu1) / iters,
            weights=np.asarray(model.weights, dtype=float),
            means=np.array([g.mu.toArray() for g in gaussians]),
            covariances=np.array([g.sigma.toArray() for g in gaussians]),
            cache_seconds=cache_seconds,
        )
    finally:
        spark.stop()
