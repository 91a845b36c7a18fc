"""Dask scale-out: seconds per EM iteration, the cluster's overhead, and an out-of-core run.

    python bench/dask_scale.py [--quick] [--rows N] [--ooc-rows M] [--iters I]
                               [--engine numba|numpy] [--workers W]
                               [--malloc-trim-threshold BYTES] [--skip-ooc]

1. In memory vs a LocalCluster: N rows x 4 (default 10 million; --quick 1 million), K = 8,
   'full'. The same E-step pass (and M-step) timed in this process on a NumPy array (the
   engine's own threads: numba uses every core) and through gmm_core.dask_em on a
   ``distributed.LocalCluster`` of W worker processes of one thread each (numba pinned to one
   thread per worker, so both use the same cores), the array persisted on the workers (by this
   script: the library never persists). Reported: wall seconds per iteration, CPU seconds per
   iteration (this process, plus the workers' and the scheduler's for Dask), and the overhead
   ratio (Dask / one process) of both; and the largest difference between the two runs' means.
2. Out of core: M rows x 4 (default 50 million; --quick 5 million) written to Parquet in a
   temporary folder (250,000 rows per file), read back with ``dask.dataframe.read_parquet``
   on every pass (no persist). Reported: seconds per iteration and the peak resident memory of
   each worker (sampled every 0.2 s), against the data's size.
3. Spark MLlib's GaussianMixture on the same rows only where pyspark and a JRE are installed;
   otherwise the reason is printed.

The load average of the machine (``os.getloadavg``) is printed with the numbers: on a shared
machine they are only comparable at a similar load.

Worker processes run with Dask's default ``MALLOC_TRIM_THRESHOLD_`` (65536) unless
``--malloc-trim-threshold`` sets another. With it, every large NumPy temporary is a fresh
``mmap`` that is page-faulted in and given back at once; the prototype measured 2.4x the CPU for
the numpy engine's temporaries in workers. The numba engine allocates almost nothing per pass.
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

    env = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    if args.malloc_trim_threshold is not None:
        env["MALLOC_TRIM_THRESHOLD_"] = str(args.malloc_trim_threshold)
    dask.config.set({"distributed.nanny.pre-spawn-environ": env})
    c = distributed.LocalCluster(
        n_workers=args.workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=":0",  # a free port, never the default 8787
        memory_limit=0,
    )
    return c, distributed.Client(c)


def cpu_seconds(client) -> float:
    import psutil

    def mine():
        t = psutil.Process().cpu_times()
        return t.user + t.system

    workers = client.run(mine)
    return sum(workers.values()) + client.run_on_scheduler(mine)


def in_memory_vs_cluster(args, client) -> None:
    import dask.array as da

    from gmm_core.dask_em import dask_statistics

    n = args.rows
    sizes = block_sizes(n)
    print(f"\n== in memory vs LocalCluster: {n:,} rows x {D}, K = {K}, full, {args.engine}")
    X = np.concatenate([make_block(i, s) for i, s in enumerate(sizes)])
    start = start_params(X[:100_000])
    # One process: the engine on the whole array (numba's threads use every core).
    accumulate_statistics(X[:10_000], start, engine=args.engine)  # load the kernels
    params, c0, t0 = start, time.process_time(), time.perf_counter()
    for _ in range(args.iters):
        stats = accumulate_statistics(X, params, engine=args.engine)
        params = m_step(stats, "full", 1e-6)
    wall_mem = (time.perf_counter() - t0) / args.iters
    cpu_mem = (time.process_time() - c0) / args.iters
    means_memory = params.means
    del X
    # The cluster: the same blocks, made on the workers and persisted there.
    parts = [
        da.from_delayed(
            __import__("dask").delayed(make_block)(i, s), shape=(s, D), dtype=np.float64
        )
        for i, s in enumerate(sizes)
    ]
    Xd = da.concatenate(parts).persist()
    __import__("distributed").wait(Xd)
    dask_statistics(Xd[:10_000], start, engine=args.engine)  # kernels loaded on the workers
    dask_statistics(Xd, start, engine=args.engine)
    params, cw0, cc0, t0 = start, cpu_seconds(client), time.process_time(), time.perf_counter()
    for _ in range(args.iters):
        stats = dask_statistics(Xd, params, engine=args.engine)
        params = m_step(stats, "full", 1e-6)
    wall_dask = (time.perf_counter() - t0) / args.iters
    cpu_dask = (cpu_seconds(client) - cw0 + time.process_time() - cc0) / args.iters
    diff = np.abs(params.means - means_memory).max() / np.abs(means_memory).max()
    print(f"  one process : {wall_mem:.3f} s/iteration wall, {cpu_mem:.3f} s CPU")
    print(f"  Dask        : {wall_dask:.3f} s/iteration wall, {cpu_dask:.3f} s CPU "
          f"({args.workers} workers x 1 thread, {Xd.numblocks[0]} blocks)")  # fmt: skip
    print(f"  overhead    : wall x{wall_dask / wall_mem:.2f}, CPU x{cpu_dask / cpu_mem:.2f}")
    print(f"  means after {args.iters} iterations differ by {diff:.1e} (relative)")
    print(f"  {load()}")
    client.cancel(Xd)


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


def spark(args) -> None:
    print("\n== Spark MLlib GaussianMixture")
    try:
        import pyspark  # noqa: F401
    except ImportError:
        print("  skipped: pyspark is not installed (pip install pyspark)")
        return
    if shutil.which("java") is None:
        print("  skipped: no Java runtime (java) on PATH")
        return
    print("  skipped: the Spark comparison is not written yet (pyspark and java are present)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="1 million rows, 5 million out of core"
    )
    parser.add_argument("--rows", type=int)
    parser.add_argument("--ooc-rows", type=int)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--engine", default="numba", choices=["numba", "numpy"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--malloc-trim-threshold", type=int)
    parser.add_argument("--skip-ooc", action="store_true")
    args = parser.parse_args()
    args.rows = args.rows or (1_000_000 if args.quick else 10_000_000)
    args.ooc_rows = args.ooc_rows or (5_000_000 if args.quick else 50_000_000)
    print(load())
    c, client = cluster(args)
    try:
        in_memory_vs_cluster(args, client)
        if not args.skip_ooc:
            out_of_core(args, client)
    finally:
        client.close()
        c.close()
    spark(args)


if __name__ == "__main__":
    main()
