"""Microseconds per M-step of mclust's fourteen models, before and after the compiled kernels.

    python bench/mstep_speed.py [--before 751c598] [--no-sweep] [--budget 0.5]

The implementation "before" is ``gmm_core/mclust_models.py`` at the commit ``--before`` (all
NumPy), read with ``git show`` and loaded under another name; "after" is the working tree's
(:mod:`gmm_core._mstep_kernels` for VEI, VEE, EVE, VVE and VEV). Both run side by side in one
process on the same statistics:

(a) Old Faithful, K = 3; (b) standardised wine (178 x 13), K = 4; (c) synthetic statistics,
d = 10, K = 9, 20 rows per component. Statistics from Dirichlet responsibilities (seed 0).

Per model: ``cold`` is an M-step from mclust's fixed start (``start=None``, what mstep()
does), ``warm`` one started from its own previous estimate, as the EM loop does for the
warm-started models (VEI, VEV, EVE, VVE). Each timing is the best of a few repetitions
within ``--budget`` seconds. Then the time of ``selection.sweep(X, 9, covariance_types=[m],
tol=1e-5)`` on wine for EVE and VVE, with each implementation's M-step. The machine is
shared: the load average is printed next to the numbers.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gmm_core import mclust_models as new  # noqa: E402


def load_old(commit: str):
    source = subprocess.run(
        ["git", "show", f"{commit}:gmm_core/mclust_models.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(f"/tmp/mstep_speed_old_{commit}.py")
    path.write_text(source)
    # a name inside the package so that its relative imports (params) resolve
    spec = importlib.util.spec_from_file_location("gmm_core._mstep_speed_old", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def cases():
    from sklearn.datasets import load_wine
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    faithful = np.loadtxt(
        ROOT / "gmm_core" / "datasets" / "faithful.csv", delimiter=",", skiprows=1
    )
    wine = StandardScaler().fit_transform(load_wine().data)
    synthetic = rng.normal(size=(180, 10)) @ rng.normal(size=(10, 10))
    out = {}
    for name, X, K in (
        ("(a) faithful K=3", faithful, 3),
        ("(b) wine K=4", wine, 4),
        ("(c) synthetic d=10 K=9", synthetic, 9),
    ):
        z = rng.dirichlet(np.ones(K), size=X.shape[0])
        out[name] = (*new.sufficient_statistics(X, z), X.shape[0])
    return out, wine


def best_time(fn, budget: float) -> float:
    fn()
    best, spent, reps = np.inf, 0.0, 0
    while reps < 3 or (spent < budget and reps < 2000):
        t = time.perf_counter()
        fn()
        dt = time.perf_counter() - t
        best, spent, reps = min(best, dt), spent + dt, reps + 1
        if dt > budget:
            break
    return best


def time_model(module, model, stats, budget):
    N, means, W, n = stats
    step = module.M_STEPS[model]
    try:
        first = step(N, means, W, n)
    except module.SingularCovarianceError:
        return None
    cold = best_time(lambda: step(N, means, W, n), budget)
    warm = best_time(lambda: step(N, means, W, n, start=first), budget)
    return cold, warm, first.inner_iterations


def load() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", default="751c598")
    parser.add_argument("--budget", type=float, default=0.5)
    parser.add_argument("--no-sweep", action="store_true")
    args = parser.parse_args()
    old = load_old(args.before)
    data, wine = cases()
    for m in new.MODELS:  # compile (or load the cache) before timing
        new.M_STEPS[m](*data["(a) faithful K=3"][:3], data["(a) faithful K=3"][3])
    print(f"M-steps, us (best of repetitions); {load()}")
    for name, stats in data.items():
        print(f"\n{name}")
        print(
            f"{'model':6} {'cold before':>12} {'cold after':>11} {'x':>6} "
            f"{'warm before':>12} {'warm after':>11} {'x':>6} {'inner':>6}"
        )
        for m in new.MODELS:
            b = time_model(old, m, stats, args.budget)
            a = time_model(new, m, stats, args.budget)
            if a is None or b is None:
                print(f"{m:6} singular")
                continue
            print(
                f"{m:6} {b[0] * 1e6:12.0f} {a[0] * 1e6:11.0f} {b[0] / a[0]:6.1f} "
                f"{b[1] * 1e6:12.0f} {a[1] * 1e6:11.0f} {b[1] / a[1]:6.1f} {a[2]:6d}"
            )
        print(load())
    if args.no_sweep:
        return
    from gmm_core.selection import sweep

    print(f"\nsweep(wine, 9, covariance_types=[m], tol=1e-5), s; {load()}")
    saved = dict(new.M_STEPS)
    try:
        for m in ("EVE", "VVE"):
            times = {}
            for label, module in (("after", new), ("before", old)):
                new.M_STEPS[m] = module.M_STEPS[m]
                t = time.perf_counter()
                sweep(wine, 9, covariance_types=[m], tol=1e-5)
                times[label] = time.perf_counter() - t
                new.M_STEPS[m] = saved[m]
            print(
                f"{m}: before {times['before']:.2f}  after {times['after']:.2f}  "
                f"x{times['before'] / times['after']:.1f}   {load()}"
            )
    finally:
        new.M_STEPS.update(saved)


if __name__ == "__main__":
    main()
