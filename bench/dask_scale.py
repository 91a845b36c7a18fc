"""Dask scale-out: seconds per EM iteration, the cluster's overhead, and an out-of-core run.

    python -u bench/dask_scale.py [--quick] [--rows N] [--ooc-rows M] [--iters I]
                               [--rounds R] [--chunk-rows C] [--engine numba|numpy]
                               [--workers W] [--skip-dask] [--spark-master local[2]]
                               [--malloc-trim-threshold BYTES|unset] [--no-profile]
                               [--skip-ooc] [--skip-spark]

1. In memory vs a LocalCluster: N rows x 4 (default 10 million; --quick 1 million), K = 8,
   'full'. The same E-step pass (and M-step) timed in this process on a NumPy array, with the
   engine on one thread (the pass's own CPU cost) and on every core (numba's threads: the best
   wall time), and through gmm_core.dask_em on a ``distributed.LocalCluster`` of W worker
   processes of one thread each (numba pinned to one thread per worker, so both use the same
   cores), the array persisted on the workers (by this script: the library never persists)
   in chunks of C rows (default 1,250,000: ~50 ms tasks; Dask's own cost per task is a few
   ms) dealt out to the workers in turn. R rounds alternate the Dask and in-process timings
   (and the pass run directly in the workers, outside any task); each column's minimum is
   reported. docs/scale_out.md has the measured numbers.
   The in-process passes run before the cluster starts: a Nanny sets its workers'
   ``pre-spawn-environ`` (NUMBA_NUM_THREADS=1 ...) in *this* process's ``os.environ`` too, and
   numba imported after that would run on one thread only. Reported: wall seconds per
   iteration, CPU seconds per iteration (this process, the workers and the scheduler for Dask;
   a LocalCluster's scheduler runs inside this process, so it is counted once, with it), and
   the overhead ratios (Dask / one process); and the largest difference between the runs' means.
2. Out of core: M rows x 4 (default 50 million; --quick 5 million) written to Parquet in a
   temporary folder (250,000 rows per file), read back with ``dask.dataframe.read_parquet``
   on every pass (no persist). Reported: seconds per iteration and the peak resident memory of
   each worker (sampled every 0.2 s), against the data's size.
3. Spark MLlib's GaussianMixture (``bench/spark_gmm.py``) on the same N rows, read by the JVM
   from Parquet, from the same start as section 1, ``local[2]``, a fixed number of iterations:
   wall and CPU (the JVM's) seconds per iteration, the ratios to ours, and how far Spark's
   parameters and the log-likelihood of its model are from ours after the same iterations
   (ours rerun with ``reg_covar = 0``: Spark adds no regularisation). Only where pyspark and a
   JRE are installed (``pip install -r requirements-bench.txt``); otherwise the reason is
   printed.

The load average of the machine (``os.getloadavg``) is printed with the numbers: on a shared
machine they are only comparable at a similar load.

Worker processes run with Dask's default ``MALLOC_TRIM_THRESHOLD_`` (65536) unless
``--malloc-trim-threshold`` sets another (``unset``: glibc's own, dynamic, thresholds). Setting
any glibc malloc threshold turns off glibc's dynamic mmap threshold, so every NumPy temporary
above 128 KiB becomes a fresh ``mmap`` that is page-faulted in and given back at once; the
prototype measured 2.4x the CPU for the numpy engine's temporaries in workers. The numba
engine allocates almost nothing per pass. ``--no-profile`` turns off the workers' statistical
profiler (a thread sampling the running task's stack every 10 ms).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gmm_core import GaussianMixtureEM
from gmm_core.em import m_step
from gmm_core.engines import accumulate_statistics
from gmm_core.init import initial_params
from gmm_core.params import MixtureParams

K, D = 8, 4
#: Rows per block (per Parquet file out of core): 8 MB of float64.
BLOCK = 250_000
CENTRES = np.random.default_rng(12345).normal(scale=5.0, size=(K, D))


def make_block(index: int, rows: int = BLOCK) -> np.ndarray:
    """Rows ``index * BLOCK ...`` of the synthetic data: the same wherever it is made."""
    rng = np.random.default_rng([2024, index])
    labels = rng.integers(0, K, rows)
    return CENTRES[labels] + rng.normal(size=(rows, D))


def block_sizes(n: int) -> list[int]:
    return [min(BLOCK, n - s) for s in range(0, n, BLOCK)]


def load() -> str:
    return "load average {:.2f} {:.2f} {:.2f} on {} cores".format(*os.getloadavg(), os.cpu_count())


def start_params(sample: np.ndarray):
    return initial_params(
        sample,
        K,
        covariance_type="full",
        init_params="kmeans",
        random_state=np.random.RandomState(0),
    )


def cluster(args):
    import dask
    import distributed

    # Setting the key replaces Dask's whole default dict (MALLOC_TRIM_THRESHOLD_ included):
    # start from it, so that the workers run as a user's would.
    env = dict(dask.config.get("distributed.nanny.pre-spawn-environ"))
    env.update({"NUMBA_NUM_THREADS": 1, "OMP_NUM_THREADS": 1, "OPENBLAS_NUM_THREADS": 1})
    if args.malloc_trim_threshold == "unset":
        env["MALLOC_TRIM_THRESHOLD_"] = None  # Dask's way of leaving a variable unset
    elif args.malloc_trim_threshold is not None:
        env["MALLOC_TRIM_THRESHOLD_"] = int(args.malloc_trim_threshold)
    dask.config.set(
        {
            "distributed.nanny.pre-spawn-environ": env,
            "distributed.worker.profile.enabled": not args.no_profile,
        }
    )
    print(
        "  workers: MALLOC_TRIM_THRESHOLD_={}, profiler {}".format(
            env.get("MALLOC_TRIM_THRESHOLD_", "unset") or "unset",
            "off" if args.no_profile else "on (Dask's default)",
        )
    )
    c = distributed.LocalCluster(
        n_workers=args.workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=":0",  # a free port, never the default 8787
        memory_limit=0,
    )
    return c, distributed.Client(c)


def _process_cpu() -> tuple[int, float]:
    import psutil

    t = psutil.Process().cpu_times()
    return os.getpid(), t.user + t.system


def cpu_seconds(client) -> float:
    """CPU seconds so far of this process, the workers and the scheduler, each counted once.

    A LocalCluster's scheduler runs in this process: adding its CPU to this process's would
    count the client, the scheduler and the M-step twice.
    """
    seen = dict([_process_cpu(), client.run_on_scheduler(_process_cpu)])
    seen.update(client.run(_process_cpu).values())
    return sum(seen.values())


def make_rows(n: int) -> np.ndarray:
    """The first ``n`` rows of the synthetic data, in memory."""
    return np.concatenate([make_block(i, s) for i, s in enumerate(block_sizes(n))])


def make_rows_at(first: int, n: int) -> np.ndarray:
    """Rows ``first ... first + n`` of the synthetic data (``first`` a multiple of BLOCK)."""
    if first % BLOCK:
        raise ValueError(f"first must be a multiple of {BLOCK}; got {first}")
    sizes = block_sizes(n)
    return np.concatenate([make_block(first // BLOCK + i, s) for i, s in enumerate(sizes)])


def _local_pass(params, engine, reps, keys, dask_worker=None) -> tuple[int, float]:
    """In a worker: the block pass over the chunks (``keys``) it holds, as tasks run it."""
    from gmm_core.dask_em import _block_statistics, _statistics_length

    chunks = [dask_worker.data[k] for k in keys if k in dask_worker.data]
    length, _ = _statistics_length(params.n_components, params.n_features, "full")
    c0 = time.thread_time()
    for _ in range(reps):
        for chunk in chunks:
            _block_statistics(chunk, params=params, engine=engine, chunk_size=None, length=length)
    return len(chunks), (time.thread_time() - c0) / max(reps, 1)


def bench_start() -> MixtureParams:
    """The start every engine and Spark take: k-means on the first 100,000 rows."""
    return start_params(make_block(0)[:100_000])


def in_process(args) -> dict:
    """The rows in this process, the start, the kernels loaded, numba's thread count read.

    Must run before the cluster starts (see the module's docstring).
    """
    n = args.rows
    print(f"\n== in memory vs LocalCluster: {n:,} rows x {D}, K = {K}, full, {args.engine}")
    X = make_rows(n)
    start = bench_start()
    accumulate_statistics(X[:10_000], start, engine=args.engine)  # load the kernels
    cores = os.cpu_count() or 1
    if args.engine == "numba":
        import numba

        cores = numba.get_num_threads()
    return {"X": X, "start": start, "cores": cores}


def time_in_process(args, mem: dict, threads: int) -> tuple[float, float, np.ndarray]:
    """Wall and CPU seconds per iteration in this process on ``threads`` threads; the means."""
    from threadpoolctl import threadpool_limits

    numba = None
    if args.engine == "numba":
        import numba

        numba.set_num_threads(threads)
    X, params = mem["X"], mem["start"]
    with threadpool_limits(threads):  # BLAS (the numpy engine's products)
        c0, t0 = time.process_time(), time.perf_counter()
        for _ in range(args.iters):
            params = m_step(accumulate_statistics(X, params, engine=args.engine), "full", 1e-6)
        wall = (time.perf_counter() - t0) / args.iters
        cpu = (time.process_time() - c0) / args.iters
    if numba:
        numba.set_num_threads(mem["cores"])
    return wall, cpu, params.means


def idle_cpu_per_second(client, seconds: float = 3.0) -> float:
    """CPU seconds per second that the idle cluster (and this process) spends anyway."""
    c0 = cpu_seconds(client)
    time.sleep(seconds)
    return (cpu_seconds(client) - c0) / seconds


def on_cluster(args, client, mem: dict) -> dict:
    """The same passes through gmm_core.dask_em on the cluster, in rounds with the others."""
    import dask.array as da
    import distributed

    from gmm_core.dask_em import dask_statistics

    start = mem["start"]
    # The same rows, made on the workers and persisted there, the chunks dealt out in turn
    # (left to the scheduler, 10 million rows once landed 13 blocks to 3: the idle worker
    # then steals tasks and copies their blocks on every pass).
    workers = sorted(client.scheduler_info()["workers"])
    step = args.chunk_rows
    firsts = range(0, args.rows, step)
    futures = [
        client.submit(
            make_rows_at, first, min(step, args.rows - first), workers=[workers[i % len(workers)]]
        )
        for i, first in enumerate(firsts)
    ]
    Xd = da.concatenate(
        [
            da.from_delayed(f, shape=(min(step, args.rows - first), D), dtype=np.float64)
            for f, first in zip(futures, firsts, strict=True)
        ]
    )
    distributed.wait(futures)
    keys = [f.key for f in futures]
    held = [n for n, _ in client.run(_local_pass, start, args.engine, 0, keys).values()]
    print(
        f"  Dask: {Xd.numblocks[0]} chunks of {step:,} rows persisted on {args.workers} workers "
        f"x 1 thread ({', '.join(map(str, held))} each)"
    )
    dask_statistics(Xd[:10_000], start, engine=args.engine)  # kernels loaded on the workers
    dask_statistics(Xd, start, engine=args.engine)
    idle = idle_cpu_per_second(client)
    print(f"  idle cluster + this process: {idle:.3f} CPU s per second")
    rows = []
    header = (
        "round   load | Dask wall    CPU | in workers CPU | 1 thread CPU | all cores wall    CPU"
    )
    print("  " + header)
    for r in range(args.rounds):
        params, cpu0, t0 = start, cpu_seconds(client), time.perf_counter()
        for _ in range(args.iters):
            params = m_step(dask_statistics(Xd, params, engine=args.engine), "full", 1e-6)
        wall = (time.perf_counter() - t0) / args.iters
        cpu = (cpu_seconds(client) - cpu0) / args.iters
        # The pass alone, run by each worker on the chunks it holds, outside Dask's tasks:
        # what the same processes spend on the arithmetic itself.
        local = sum(
            c for _, c in client.run(_local_pass, start, args.engine, args.iters, keys).values()
        )
        wall1, cpu1, means = time_in_process(args, mem, 1)
        wall_all, cpu_all, _ = time_in_process(args, mem, mem["cores"])
        avg = os.getloadavg()[0]
        rows.append((wall, cpu, local, wall1, cpu1, wall_all, cpu_all))
        print(
            f"  {r + 1:5d} {avg:6.2f} | {wall:9.3f} {cpu:6.3f} | {local:14.3f} | {cpu1:12.3f} "
            f"| {wall_all:14.3f} {cpu_all:6.3f}"
        )
    best = np.min(np.array(rows), axis=0)
    wall, cpu, local, wall1, cpu1, wall_all, cpu_all = (float(v) for v in best)
    diff = np.abs(params.means - means).max() / np.abs(means).max()
    print(f"  best of {args.rounds} rounds (each column's minimum; seconds per iteration):")
    print(f"  CPU overhead, Dask / one process, 1 thread  : x{cpu / cpu1:.2f}")
    print(f"  CPU overhead, Dask / one process, all cores : x{cpu / cpu_all:.2f}")
    print(f"  CPU overhead, Dask / the pass in the workers: x{cpu / local:.2f}")
    print(f"  wall, Dask / one process on all cores       : x{wall / wall_all:.2f}")
    print(
        f"  (the idle cluster's {idle:.3f} CPU s/s over Dask's {wall:.3f} s wall: "
        f"{idle * wall:.3f} CPU s of each iteration)"
    )
    print(f"  means after {args.iters} iterations differ by {diff:.1e} (relative)")
    client.cancel(futures)
    return {"wall": wall, "cpu": cpu, "one": (wall1, cpu1), "all": (wall_all, cpu_all)}


def write_parquet(folder: Path, n: int) -> float:
    import pyarrow as pa
    import pyarrow.parquet as pq

    t0 = time.perf_counter()
    for i, s in enumerate(block_sizes(n)):
        block = make_block(i, s)
        table = pa.table({f"x{j}": block[:, j] for j in range(D)})
        pq.write_table(table, folder / f"part.{i:05d}.parquet")
    return time.perf_counter() - t0


def out_of_core(args, client) -> None:
    import dask.dataframe as dd

    n = args.ooc_rows
    gib = n * D * 8 / 2**30
    print(f"\n== out of core: {n:,} rows x {D} float64 ({gib:.2f} GiB) from Parquet, K = {K}")
    folder = Path(tempfile.mkdtemp(prefix="gmm-dask-"))
    try:
        print(f"  written in {write_parquet(folder, n):.1f} s to {folder}")
        frame = dd.read_parquet(folder)
        start = start_params(make_block(0, 100_000))
        model = GaussianMixtureEM(
            K,
            engine=args.engine,
            tol=0,
            max_iter=args.iters,
            weights_init=start.weights,
            means_init=start.means,
            precisions_init=start.precisions,
        )
        peaks: dict[str, int] = {}
        stop = threading.Event()

        def rss():
            import psutil

            return psutil.Process().memory_info().rss

        def sample():
            while not stop.is_set():
                try:
                    for w, m in client.run(rss).items():
                        peaks[w] = max(peaks.get(w, 0), m)
                except Exception:  # the cluster closing under us
                    return
                stop.wait(0.2)

        baseline = client.run(rss)
        watcher = threading.Thread(target=sample, daemon=True)
        watcher.start()
        times = []
        last = [time.perf_counter()]

        def progress(run, n_runs, snap):
            now = time.perf_counter()
            times.append(now - last[0])
            last[0] = now

        from gmm_core.dask_em import fit_dask

        t0 = time.perf_counter()
        fit_dask(model, frame, progress=progress, warn_convergence=False)
        total = time.perf_counter() - t0
        stop.set()
        watcher.join()
        # times[0] includes the row counts of the partitions (from the Parquet metadata).
        per = np.median(times[1:]) if len(times) > 1 else total
        print(f"  {len(times)} passes in {total:.1f} s: {per:.2f} s per iteration (median)")
        for w in sorted(peaks):
            print(
                f"  worker {w}: {baseline[w] / 2**20:.0f} MiB idle, peak {peaks[w] / 2**20:.0f} MiB"
            )
        print(f"  mean log-likelihood {model.history_[-1].log_likelihood:.6f}")
        print(f"  {load()}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def spark(args, mem: dict | None, dask_result: dict | None) -> None:
    """Spark MLlib from the same start as ours, on the same rows; ratios and agreement."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from spark_gmm import run_spark_gmm, run_spark_ml, spark_unavailable

    n = args.rows
    print(f"\n== Spark MLlib GaussianMixture (RDD API, initial model), {args.spark_master}")
    reason = spark_unavailable()
    if reason is not None:
        print(f"  skipped: {reason}")
        return
    folder = Path(tempfile.mkdtemp(prefix="gmm-spark-"))
    try:
        write_parquet(folder, n)
        start = bench_start()
        run = run_spark_gmm(
            folder,
            start.weights,
            start.means,
            start.covariances,
            args.iters,
            master=args.spark_master,
        )
        ml = run_spark_ml(folder, K, args.iters, master=args.spark_master)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(
        f"  {n:,} rows in {run.partitions} partitions, cached in the JVM in "
        f"{run.cache_seconds:.1f} s (not timed below)"
    )
    label = "Spark"
    print(f"  {label:34}: {run.wall:.3f} s/iteration wall, {run.cpu:.3f} s CPU   [{load()}]")
    print("    (CPU: the JVM process tree; the difference of a 1 and a 1 + iters iteration run)")
    if mem is not None:
        c1, wa = mem["one"][1], mem["all"][0]
        print(f"  CPU, Spark / ours in one process, 1 thread : x{run.cpu / c1:.1f}")
        print(f"  wall, Spark / ours in one process, all cores: x{run.wall / wa:.1f}")
    if dask_result is not None:
        print(f"  CPU, Spark / ours on Dask                  : x{run.cpu / dask_result['cpu']:.1f}")
        print(
            f"  wall, Spark / ours on Dask                 : x{run.wall / dask_result['wall']:.1f}"
        )

    # Ours from the same start, as many iterations as Spark's model had, without reg_covar
    # (Spark adds none), in one process: the two should be the same arithmetic.
    X = mem["X"] if mem is not None else make_rows(n)
    ours = start
    for _ in range(1 + args.iters):
        ours = m_step(accumulate_statistics(X, ours, engine=args.engine), "full", 0.0)
    theirs = MixtureParams.from_covariances(
        run.weights, run.means, run.covariances, covariance_type="full"
    )

    def rel(a, b):
        return np.abs(a - b).max() / np.abs(b).max()

    def mean_log_likelihood(params):
        return accumulate_statistics(X, params, engine=args.engine).log_likelihood_sum / n

    print(f"  after {1 + args.iters} iterations from the same start, Spark vs ours (reg_covar=0):")
    print(
        f"    weights {rel(run.weights, ours.weights):.1e}, "
        f"means {rel(run.means, ours.means):.1e}, "
        f"covariances {rel(run.covariances, ours.covariances):.1e} (largest relative difference)"
    )
    ll_spark, ll_ours = mean_log_likelihood(theirs), mean_log_likelihood(ours)
    print(
        f"    mean log-likelihood of the final model: Spark's {ll_spark:.12f}, "
        f"ours {ll_ours:.12f} (difference {ll_spark - ll_ours:.1e})"
    )
    print(
        "    (both scored by our pass: MLlib's RDD model does not report its log-likelihood; "
        "in the last pass Spark computes it of the previous model and discards it)"
    )

    print(
        "\n  Spark's DataFrame API (pyspark.ml.clustering.GaussianMixture, its own random start):"
    )
    label = "Spark ml"
    print(f"  {label:34}: {ml.wall:.3f} s/iteration wall, {ml.cpu:.3f} s CPU   [{load()}]")
    if mem is not None:
        print(f"  CPU, Spark ml / ours in one process, 1 thread : x{ml.cpu / c1:.1f}")
    if dask_result is not None:
        print(
            f"  CPU, Spark ml / ours on Dask                  : x{ml.cpu / dask_result['cpu']:.1f}"
        )
    model1 = MixtureParams.from_covariances(ml.weights, ml.means, ml.covariances, "full")
    ll_ours = mean_log_likelihood(model1)
    print(
        f"  Spark ml's reported log-likelihood of its 1-iteration model, per row: "
        f"{ml.reported_log_likelihood:.12f}; ours of the same model {ll_ours:.12f} "
        f"(difference {ml.reported_log_likelihood - ll_ours:.1e})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="1 million rows, 5 million out of core"
    )
    parser.add_argument("--rows", type=int)
    parser.add_argument("--ooc-rows", type=int)
    parser.add_argument(
        "--chunk-rows",
        type=int,
        help=f"rows per Dask chunk in memory (a multiple of {BLOCK:,}; default 1,250,000, "
        "less when that leaves fewer than 2 chunks per worker)",
    )
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument(
        "--rounds", type=int, default=3, help="Dask and in-process timings, alternated"
    )
    parser.add_argument("--engine", default="numba", choices=["numba", "numpy"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--malloc-trim-threshold",
        help="the workers' MALLOC_TRIM_THRESHOLD_ in bytes, or 'unset' (default: Dask's)",
    )
    parser.add_argument(
        "--no-profile", action="store_true", help="turn off the workers' statistical profiler"
    )
    parser.add_argument("--skip-ooc", action="store_true")
    parser.add_argument("--skip-dask", action="store_true", help="no cluster at all")
    parser.add_argument("--skip-spark", action="store_true")
    parser.add_argument("--spark-master", default="local[2]")
    args = parser.parse_args()
    args.rows = args.rows or (1_000_000 if args.quick else 10_000_000)
    if args.chunk_rows is None:
        per_worker = args.rows // (2 * args.workers) // BLOCK * BLOCK
        args.chunk_rows = max(BLOCK, min(1_250_000, per_worker))
    if args.chunk_rows <= 0 or args.chunk_rows % BLOCK:
        parser.error(f"--chunk-rows must be a positive multiple of {BLOCK:,}")
    args.ooc_rows = args.ooc_rows or (5_000_000 if args.quick else 50_000_000)
    print(load())
    mem = in_process(args)  # before the cluster: see the module's docstring
    dask_result = None
    if args.skip_dask:
        wall1, cpu1, _ = time_in_process(args, mem, 1)
        wall_all, cpu_all, _ = time_in_process(args, mem, mem["cores"])
        print(f"  one process, 1 thread: {wall1:.3f} s/iteration wall, {cpu1:.3f} s CPU")
        print(f"  all {mem['cores']} cores: {wall_all:.3f} s/iteration wall, {cpu_all:.3f} s CPU")
        print(f"  [{load()}]")
        mem.update(one=(wall1, cpu1), all=(wall_all, cpu_all))
    else:
        c, client = cluster(args)
        try:
            dask_result = on_cluster(args, client, mem)
            mem.update(one=dask_result["one"], all=dask_result["all"])
            if not args.skip_ooc:
                out_of_core(args, client)
        finally:
            client.close()
            c.close()
    if not args.skip_spark:
        spark(args, mem, dask_result)


if __name__ == "__main__":
    main()
