"""Speed and memory of one EM iteration: gmm_core (numba engine) against scikit-learn.

``python bench/em_speed.py`` runs everything (about 4 minutes on 2 idle cores, up to 10 on a
busy machine); ``--quick`` runs reduced sizes and skips the cold compile (under a minute);
``--cases AF`` runs a subset (A-D speed, E memory, F float32, K compile; H, history memory,
only when asked for: ``--cases H``). The cases of the "Speed" issue:

====  =========  ==  ==  ==========  ===============================================
case  n          d   K   covariance  target
====  =========  ==  ==  ==========  ===============================================
A     1,000,000  2   8   full        per iteration at least 15x faster
B     200,000    10  8   full        at least 6x faster
C     200,000    50  4   full        at least 2x faster
D     1,000,000  10  16  diag        at least 8x faster
E     1,000,000  2   8   full        peak memory added by the fit <= 1/4 of sklearn's
F     case A in float32              at least 1.7x faster than our float64, accuracy shown
====  =========  ==  ==  ==========  ===============================================

What is timed, and why it is fair
---------------------------------
Both sides run the public estimator API from the same starting point (``weights_init``,
``means_init``, ``precisions_init``, so neither runs k-means) with ``tol=0`` and their default
threading (scikit-learn: numpy, and OpenBLAS on every core; ours: numba on every core):
``GaussianMixture(max_iter=m).fit(X)`` and ``GaussianMixtureEM(max_iter=m).fit(X)``. A fit
with ``m`` iterations costs ``fixed + m * per_iteration``, where ``fixed`` holds input
validation, the start, and scikit-learn's final E-step (which our ``fit`` does not do). So
both are fitted with ``m1`` and ``m2`` iterations and

    per_iteration = median over repetitions of (T(m2) - T(m1)) / (m2 - m1)

is one E-step plus one M-step (for ours including the history snapshot). The two sides
alternate (and swap order every repetition), and the two fits of a pair run seconds apart,
so that the load of a shared machine hits both sides alike and slow drifts cancel. Before
timing, ours loads its compiled kernels with a small fit (the compile rows show that cost).

Agreement: the parameters of both after ``m2`` iterations, ``max |ours - sklearn| / max
|sklearn|`` over weights, means and covariances (target 1e-8).

Memory (E): each side in a fresh subprocess, after its libraries are imported and (ours) the
compiled kernels loaded by a small warm-up fit: ``tracemalloc`` peak during the fit (numpy
allocations of both sides; blind to numba's own scratch, a few tens of kB per thread), and
the RSS high-water mark (``VmHWM`` of /proc/self/status, reset through /proc/self/clear_refs)
minus the RSS before the fit. The data are built before either measurement.

float32 (F): ours in float64 and in float32 on case A's data, interleaved as above, with all
threads and then on one thread. A pass in float32 takes half the time of one in float64, but
an iteration also holds costs that do not shrink with the dtype (the M-step, waking the worker
threads, which takes milliseconds at times on a shared virtual machine), so the ratio per
iteration with all threads is the noisier of the two.

History (H, issue 13): the memory a fit's ``history_`` holds, K = 20 full components on the
standardised wine data (178 rows, 13 features), 1,000 iterations (``--quick``: 100), 20
restarts, ``tol=0``, with ``keep_history='all'`` and ``'best'``, each in a fresh process:
``history_.nbytes`` (its arrays), the ``tracemalloc`` peak during the fit and what stays
allocated after it (the history and the model), and the RSS high-water mark added.

Compile (K): a subprocess with ``NUMBA_CACHE_DIR`` pointing to an empty temporary directory
compiles the kernels the cases use (cold: once per machine), a second one loads them from that
cache (warm: once per process).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@dataclass(frozen=True)
class Case:
    name: str
    n: int
    d: int
    k: int
    covariance_type: str
    target: str


CASES = {
    "A": Case("A", 1_000_000, 2, 8, "full", ">= 15x"),
    "B": Case("B", 200_000, 10, 8, "full", ">= 6x"),
    "C": Case("C", 200_000, 50, 4, "full", ">= 2x"),
    "D": Case("D", 1_000_000, 10, 16, "diag", ">= 8x"),
    "E": Case("E", 1_000_000, 2, 8, "full", "mem <= 1/4"),
}
QUICK_N = {"A": 200_000, "B": 50_000, "C": 40_000, "D": 150_000, "E": 300_000}


# ---------------------------------------------------------------------------- data and fits
def make_data(case: Case, n: int, dtype=np.float64, seed: int = 0) -> np.ndarray:
    """K Gaussian clusters with random shapes, overlapping enough that EM has work to do."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(case.k, case.d))
    labels = rng.integers(0, case.k, n)
    X = np.empty((n, case.d))
    for k in range(case.k):
        rows = labels == k
        a = rng.normal(scale=0.4, size=(case.d, case.d)) + np.eye(case.d)
        X[rows] = centres[k] + rng.standard_normal((int(rows.sum()), case.d)) @ a
    return np.ascontiguousarray(X, dtype=dtype)


def make_start(X: np.ndarray, case: Case, seed: int = 1) -> dict:
    """A rough start in X's dtype: K random rows as means, Dirichlet weights, isotropic."""
    rng = np.random.default_rng(seed)
    n, d = X.shape
    k = case.k
    means = X[rng.choice(n, size=k, replace=False)].astype(np.float64)
    weights = rng.dirichlet(np.full(k, 5.0))
    scale = 1.0 / float(X.astype(np.float64).var(axis=0).mean())
    if case.covariance_type == "full":
        precisions = np.broadcast_to(np.eye(d) * scale, (k, d, d)).copy()
    else:
        precisions = np.full((k, d), scale)
    start = {"weights_init": weights, "means_init": means, "precisions_init": precisions}
    return {key: value.astype(X.dtype) for key, value in start.items()}


#: Our engine in every timing. Pinned: with 'auto' the engine depends on the planned work, so
#: the short fit of a pair ran numpy and the long one numba, and their difference (the time
#: per iteration) came out negative.
ENGINE = "numba"


def timed_fit(side: str, case: Case, start: dict, X: np.ndarray, max_iter: int):
    """Seconds of ``fit`` and the fitted estimator; ``side`` is 'sklearn' or 'ours'."""
    common = dict(covariance_type=case.covariance_type, tol=0.0, max_iter=max_iter, **start)
    if side == "sklearn":
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.mixture import GaussianMixture

        est = GaussianMixture(case.k, **common)
        # tol=0 never converges and scikit-learn has no switch for its warning: the one
        # filter change here (a single-threaded script) is around its fit only.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            t0 = time.perf_counter()
            est.fit(X)
            return time.perf_counter() - t0, est
    from gmm_core import GaussianMixtureEM

    est = GaussianMixtureEM(case.k, engine=ENGINE, **common)
    t0 = time.perf_counter()
    est.fit(X, warn_convergence=False)
    elapsed = time.perf_counter() - t0
    assert est.engine_ == ENGINE
    return elapsed, est


def warm_up(case: Case, dtype=np.float64) -> None:
    """Import numba and load (or compile) the kernels ``case`` uses, on a small sample."""
    small = make_data(case, 3000, dtype=dtype, seed=2)
    timed_fit("ours", case, make_start(small, case), small, 1)


def parameter_difference(a, b) -> float:
    from gmm_core.compare import max_relative_difference

    return max(
        max_relative_difference(getattr(a, name), getattr(b, name))
        for name in ("weights_", "means_", "covariances_")
    )


def per_iteration(
    runs: dict[str, Callable[[int], tuple[float, object]]], m1: int, m2: int, reps: int
) -> tuple[dict[str, float], dict[str, object]]:
    """Interleaved timings of ``runs[name](max_iter)``.

    Returns seconds per iteration for every run (median over repetitions of the paired
    difference) and each run's last estimator fitted with ``m2`` iterations.
    """
    names = list(runs)
    diffs: dict[str, list[float]] = {name: [] for name in names}
    last = {}
    for rep in range(reps):
        for name in names if rep % 2 == 0 else names[::-1]:
            t1, _ = runs[name](m1)
            t2, last[name] = runs[name](m2)
            diffs[name].append((t2 - t1) / (m2 - m1))
    return {name: statistics.median(values) for name, values in diffs.items()}, last


# ---------------------------------------------------------------------------- subprocess probes
def _status(field: str) -> int:
    """A field of /proc/self/status, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return -1


def memory_probe(side: str, n: int, max_iter: int) -> dict:
    """Peak memory added by one fit of case E's shape (run in a fresh process)."""
    import tracemalloc

    import sklearn.mixture  # noqa: F401

    import gmm_core  # noqa: F401  (does not import numba)

    case = CASES["E"]
    X = make_data(case, n)
    start = make_start(X, case)
    rss = _status("VmRSS")
    if side == "ours":
        warm_up(case)
    else:
        small = make_data(case, 3000, seed=2)
        timed_fit(side, case, make_start(small, case), small, 1)
    warm_up_rss = _status("VmRSS") - rss
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        hwm_reset = True
    except OSError:
        hwm_reset = False
    rss = _status("VmRSS")
    tracemalloc.start()
    timed_fit(side, case, start, X, max_iter)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "tracemalloc_peak": peak,
        "rss_peak_added": _status("VmHWM") - rss if hwm_reset else None,
        "warm_up_rss": warm_up_rss,
    }


HISTORY = dict(n_components=20, n_init=20, tol=0.0, random_state=42)


def history_probe(keep: str, max_iter: int) -> dict:
    """Memory of one fit's history on the wine data (run in a fresh process)."""
    import tracemalloc

    from sklearn.datasets import load_wine
    from sklearn.preprocessing import StandardScaler

    from gmm_core import GaussianMixtureEM

    X = StandardScaler().fit_transform(load_wine().data)
    # Load the kernels first (not measured); a small warm-up, so that the RSS it leaves in
    # the allocator's pools does not hide the fit's.
    warm = dict(HISTORY, n_init=1)
    GaussianMixtureEM(**warm, max_iter=1, engine=ENGINE).fit(X, warn_convergence=False)
    try:
        Path("/proc/self/clear_refs").write_text("5")
        hwm_reset = True
    except OSError:
        hwm_reset = False
    rss = _status("VmRSS")
    tracemalloc.start()
    t0 = time.perf_counter()
    model = GaussianMixtureEM(**HISTORY, max_iter=max_iter, keep_history=keep, engine=ENGINE)
    model.fit(X, warn_convergence=False)
    seconds = time.perf_counter() - t0
    held, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "nbytes": model.history_.nbytes,
        "tracemalloc_held": held,
        "tracemalloc_peak": peak,
        "rss_peak_added": _status("VmHWM") - rss if hwm_reset else None,
        "seconds": seconds,
        "iterations": sum(len(run) - 1 for run in model.history_.runs),
    }


def compile_probe(n: int) -> dict:
    """Seconds of the first call of each kernel the cases use (compile or cache load)."""
    from gmm_core.params import MixtureParams  # gmm_core itself, without numba

    t0 = time.perf_counter()
    import numba  # noqa: F401

    out = {"import numba": time.perf_counter() - t0}
    t0 = time.perf_counter()
    from gmm_core.engines import get_engine

    engine = get_engine(ENGINE)
    assert engine.unavailable() is None  # imports the kernels' module
    out["import gmm_core._fast"] = time.perf_counter() - t0
    kernels = [
        ("A,E: full d=2 float64", CASES["A"], np.float64),
        ("F: full d=2 float32", CASES["A"], np.float32),
        ("B,C: full d>2 float64", CASES["B"], np.float64),
        ("D: diag float64", CASES["D"], np.float64),
    ]
    for label, case, dtype in kernels:
        X = make_data(case, n, dtype=dtype)
        start = make_start(X, case)
        params = MixtureParams.from_precisions(
            start["weights_init"],
            start["means_init"],
            start["precisions_init"],
            case.covariance_type,
        )
        t0 = time.perf_counter()
        engine.accumulate(X, params)
        out[label] = time.perf_counter() - t0
    return out


def run_probe(args: list[str], env: dict | None = None) -> dict:
    result = subprocess.run(
        [sys.executable, __file__, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"probe {args} failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------- report
def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"


def speed_rows(names: str, quick: bool, m1: int, m2: int, reps: int) -> None:
    header = (
        f"{'case':4} {'n':>9} {'d':>3} {'K':>3} {'cov':5} {'sklearn/iter':>12} "
        f"{'ours/iter':>10} {'speed-up':>9} {'target':>7} {'max rel diff':>13}"
    )
    print(header)
    print("-" * len(header))
    for name in names:
        case = CASES[name]
        n = QUICK_N[name] if quick else case.n
        X = make_data(case, n)
        start = make_start(X, case)
        warm_up(case)
        per_iter, last = per_iteration(
            {
                side: functools.partial(timed_fit, side, case, start, X)
                for side in ("sklearn", "ours")
            },
            m1,
            m2,
            reps,
        )
        diff = parameter_difference(last["ours"], last["sklearn"])
        print(
            f"{name:4} {n:>9,} {case.d:>3} {case.k:>3} {case.covariance_type:5} "
            f"{ms(per_iter['sklearn']):>12} {ms(per_iter['ours']):>10} "
            f"{per_iter['sklearn'] / per_iter['ours']:>8.1f}x {case.target:>7} {diff:>13.1e}",
            flush=True,
        )


def memory_rows(quick: bool) -> None:
    n = QUICK_N["E"] if quick else CASES["E"].n
    mem = {side: run_probe(["--memory-probe", side, "--n", str(n)]) for side in ("sklearn", "ours")}
    print(f"\nE: n={n:,}, d=2, K=8, full: peak memory added by fit(max_iter=3), target ours <= 1/4")
    for label, key in (
        ("tracemalloc peak", "tracemalloc_peak"),
        ("RSS high-water", "rss_peak_added"),
    ):
        sk, ours = mem["sklearn"][key], mem["ours"][key]
        if sk is None or ours is None:
            print(f"  {label:16}: not available on this system")
            continue
        print(
            f"  {label:16}: sklearn {sk / 2**20:7.1f} MiB   ours {ours / 2**20:7.2f} MiB   "
            f"ours/sklearn = {ours / sk:.5f}"
        )
    print(
        f"  (not counted above, once per process: a first small fit adds "
        f"{mem['ours']['warm_up_rss'] / 2**20:.0f} MiB RSS to ours (numba, LLVM, the kernels), "
        f"{mem['sklearn']['warm_up_rss'] / 2**20:.0f} MiB to scikit-learn's)",
        flush=True,
    )


def float32_rows(quick: bool, m1: int, m2: int, reps: int) -> None:
    import numba

    case = CASES["A"]
    n = QUICK_N["A"] if quick else case.n
    data = {"float64": make_data(case, n)}
    data["float32"] = data["float64"].astype(np.float32)
    starts = {name: make_start(X, case) for name, X in data.items()}
    warm_up(case, np.float32)
    runs = {
        name: functools.partial(timed_fit, "ours", case, starts[name], data[name]) for name in data
    }
    per_iter, last = per_iteration(runs, m1, m2, reps)
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        one_thread, _ = per_iteration(runs, m1, m2, max(3, reps // 2))
    finally:
        numba.set_num_threads(threads)
    ours = parameter_difference(last["float32"], last["float64"])
    sk = {name: timed_fit("sklearn", case, starts[name], data[name], m2)[1] for name in data}
    theirs = parameter_difference(sk["float32"], sk["float64"])
    print(
        f"\nF: case A in float32 (n={n:,}): ours float64 {ms(per_iter['float64'])}/iter, "
        f"float32 {ms(per_iter['float32'])}/iter: "
        f"{per_iter['float64'] / per_iter['float32']:.2f}x (target >= 1.7x)"
    )
    print(
        f"  on one thread (no worker threads to wake, nothing shared): float64 "
        f"{ms(one_thread['float64'])}/iter, float32 {ms(one_thread['float32'])}/iter: "
        f"{one_thread['float64'] / one_thread['float32']:.2f}x"
    )
    print(
        f"  accuracy after {m2} iterations, max rel diff of the float32 fit from the float64 fit:"
        f" ours {ours:.1e}, scikit-learn {theirs:.1e}; ours keeps float32 "
        f"(means_.dtype = {last['float32'].means_.dtype})",
        flush=True,
    )


def history_rows(quick: bool) -> None:
    max_iter = 100 if quick else 1000
    print(
        f"\nH: history_ of K=20 full on wine (178 x 13), {max_iter} iterations, 20 restarts, "
        "tol=0 (each in a fresh process; tracemalloc slows the fit)"
    )
    for keep in ("all", "best"):
        probe = run_probe(["--history-probe", keep, "--n", str(max_iter)])
        rss = probe["rss_peak_added"]
        print(
            f"  keep_history={keep!r:6}: history_.nbytes {probe['nbytes'] / 2**20:8.1f} MiB, "
            f"held after fit {probe['tracemalloc_held'] / 2**20:8.1f} MiB, "
            f"peak during fit {probe['tracemalloc_peak'] / 2**20:8.1f} MiB, RSS high-water "
            f"{'n/a' if rss is None else f'{rss / 2**20:.1f} MiB'}, "
            f"{probe['iterations']} iterations in {probe['seconds']:.1f} s",
            flush=True,
        )


def compile_rows(quick: bool) -> None:
    probe_n = 2000
    if quick:
        warm = run_probe(["--compile-probe", "--n", str(probe_n)])
        print("\nK: first call per process, warm on-disk cache (cold compile skipped by --quick)")
        for label, seconds in warm.items():
            print(f"  {label:22} {seconds:6.2f} s")
        return
    with tempfile.TemporaryDirectory() as cache:
        env = {"NUMBA_CACHE_DIR": cache}
        cold = run_probe(["--compile-probe", "--n", str(probe_n)], env)
        warm = run_probe(["--compile-probe", "--n", str(probe_n)], env)
    print("\nK: first call: cold (compile, once per machine) / warm (load from on-disk cache)")
    for label in cold:
        print(f"  {label:22} cold {cold[label]:6.2f} s   warm {warm[label]:6.2f} s")
    total = sum(seconds for label, seconds in cold.items() if not label.startswith("import"))
    print(f"  all four kernels compiled in {total:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="reduced sizes, under a minute")
    parser.add_argument(
        "--cases",
        default="ABCDEFK",
        help="A-D speed, E memory, F float32, K compile, H history memory (not by default)",
    )
    parser.add_argument("--reps", type=int, default=None, help="timed repetitions")
    parser.add_argument("--memory-probe", choices=["sklearn", "ours"], help=argparse.SUPPRESS)
    parser.add_argument("--compile-probe", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--history-probe", choices=["all", "best"], help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_probe:
        print(json.dumps(memory_probe(args.memory_probe, args.n, 3)))
        return
    if args.compile_probe:
        print(json.dumps(compile_probe(args.n)))
        return
    if args.history_probe:
        print(json.dumps(history_probe(args.history_probe, args.n)))
        return

    import numba
    import sklearn

    t_start = time.perf_counter()
    quick = args.quick
    reps = args.reps or (3 if quick else 5)
    m1, m2 = (1, 5) if quick else (1, 11)
    print(
        f"numpy {np.__version__}, scikit-learn {sklearn.__version__}, numba {numba.__version__} "
        f"({numba.config.NUMBA_NUM_THREADS} threads), {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f} at start{'; QUICK sizes' if quick else ''}"
    )
    print(
        f"per iteration = median over {reps} interleaved repetitions of "
        f"(T(fit, max_iter={m2}) - T(fit, max_iter={m1})) / {m2 - m1}\n"
    )
    speed = "".join(name for name in args.cases if name in "ABCD")
    if speed:
        speed_rows(speed, quick, m1, m2, reps)
    if "E" in args.cases:
        memory_rows(quick)
    if "F" in args.cases:
        # Only ours runs here, a few ms per iteration: more iterations and repetitions for the
        # same noise (a shared machine's scheduler delays a thread by milliseconds at times).
        float32_rows(quick, m1, m1 + 2 * (m2 - m1), 2 * reps - 1)
    if "K" in args.cases:
        compile_rows(quick)
    if "H" in args.cases:
        history_rows(quick)
    print(
        f"\ntotal {time.perf_counter() - t_start:.0f} s, load average "
        f"{os.getloadavg()[0]:.2f} at end"
    )


if __name__ == "__main__":
    main()
