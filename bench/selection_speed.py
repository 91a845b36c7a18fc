"""Model selection: our sweep against R's ``Mclust`` and a scikit-learn sweep, same grid.

For each data set, in one run and on the same numbers:

* **ours**: :func:`gmm_core.selection.sweep` with its defaults (mclust's hierarchical start
  shared by every model, tol 1e-5 for every cell, the contenders refitted to 1e-8), over
  K = 1..9 and either mclust's fourteen models or the four that scikit-learn has too
  (VVV, EEE, VVI, VII);
* **Mclust**: ``Mclust(X, G = 1:9, modelNames = ...)`` with mclust's defaults, timed inside R
  with ``system.time`` (R's start-up and reading the CSV are not counted), when ``Rscript``
  and the mclust package are installed (``apt-get install -y r-base-core r-cran-mclust``);
  skipped with the reason otherwise;
* **scikit-learn**: ``GaussianMixture`` for the four covariance types and K = 1..9, one
  k-means start per cell, once with scikit-learn's defaults (tol 1e-3, max_iter 100) and once
  run as far as ours (tol 1e-5, max_iter 1000), BIC of every cell.

Each time is the fastest of three runs in one process (for Mclust, in one R session), so that
neither side pays for its first calls. Ours fits the cells in threads, one per core (the
sweep's default ``n_jobs``). It prints wall seconds and CPU seconds (ours and scikit-learn's:
this process's CPU time; mclust's: R's user + system time), the ratios, and the model each
one chooses with its BIC (in scikit-learn's sign: lower is better; mclust's BIC is the
negative).

Usage::

    python bench/selection_speed.py            # Old Faithful, 20,000 x 2 synthetic, wine
    python bench/selection_speed.py --quick    # Old Faithful only

The machine's load average is printed with the results: on a busy machine the wall times of
all three grow, the compiled engine's threads most.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout, as the other benches
    sys.path.insert(0, str(ROOT))

from gmm_core import GaussianMixtureEM  # noqa: E402
from gmm_core.params import MCLUST_MODELS, SKLEARN_TO_MCLUST  # noqa: E402
from gmm_core.selection import SWEEP_TOL, sweep  # noqa: E402

G = 9
#: Each side's time is the fastest of this many runs in one process (R's: one R session), so
#: that neither pays for first calls (numba's cache, R's lazy loading) in what is compared.
REPEATS = 3
FOUR = ("VVV", "EEE", "VVI", "VII")

R_SCRIPT = r"""
suppressMessages(library(mclust))
args <- commandArgs(trailingOnly = TRUE)
X <- as.matrix(read.csv(args[1]))
models <- strsplit(args[2], ",")[[1]]
# the fastest of REPEATS runs in this R session, as ours is the fastest of as many
timing <- NULL
for (run in seq_len(as.integer(args[3]))) {
    this <- system.time(fit <- Mclust(X, G = 1:9, modelNames = models, verbose = FALSE))
    if (is.null(timing) || this[["elapsed"]] < timing[["elapsed"]]) timing <- this
}
cat(sprintf(paste0('{"elapsed": %.4f, "cpu": %.4f, "model": "%s", "G": %d, ',
    '"bic": %.6f, "version": "%s"}\n'), timing[["elapsed"]],
    timing[["user.self"]] + timing[["sys.self"]], fit$modelName, fit$G,
    fit$bic, as.character(packageVersion("mclust"))))
"""


def datasets(quick: bool) -> dict[str, np.ndarray]:
    """The data sets: shipped with the package, or generated from a fixed seed."""
    faithful = pd.read_csv(ROOT / "gmm_core" / "datasets" / "faithful.csv").to_numpy(float)
    if quick:
        return {"Old Faithful (272 x 2)": faithful}
    rng = np.random.default_rng(0)
    parts = []
    for centre in rng.uniform(-10, 10, (6, 2)):
        a = rng.normal(size=(2, 2))
        parts.append(rng.multivariate_normal(centre, a @ a.T + 0.5 * np.eye(2), 20_000 // 6))
    synthetic = np.concatenate(parts)
    rng.shuffle(synthetic)
    wine = load_wine().data
    wine = (wine - wine.mean(axis=0)) / wine.std(axis=0)
    return {
        "Old Faithful (272 x 2)": faithful,
        f"6 Gaussians ({len(synthetic):,} x 2)": synthetic,
        "wine, standardised (178 x 13)": wine,
    }


def timed(function):
    """Wall and CPU seconds of ``function()`` and its result."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def fastest(function) -> tuple[float, float, object]:
    """:func:`timed` of the fastest of :data:`REPEATS` calls (by wall time)."""
    return min((timed(function) for _ in range(REPEATS)), key=lambda run: run[0])


def ours(X: np.ndarray, models: tuple[str, ...] | None) -> dict:
    kwargs = {} if models is None else {"covariance_types": models}
    wall, cpu, result = fastest(lambda: sweep(X, G, keep_models=False, **kwargs))
    best = result.best("bic")
    return {
        "wall": wall,
        "cpu": cpu,
        "choice": f"{best['covariance_type']}, K = {best['n_components']}",
        "bic": float(best["bic"]),
        "cells": len(result.table),
        "iterations": int(result.table["n_iter"].sum()),
    }


def rscript(script: str, X: np.ndarray, *args: str) -> subprocess.CompletedProcess:
    """Run an R script on ``X`` (written as a CSV, its path the first argument)."""
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "x.csv"
        pd.DataFrame(X, columns=[f"x{j}" for j in range(X.shape[1])]).to_csv(data, index=False)
        path = Path(folder) / "run.R"
        path.write_text(script)
        return subprocess.run(
            ["Rscript", str(path), str(data), *args], capture_output=True, text=True, check=False
        )


def mclust(X: np.ndarray, models: tuple[str, ...]) -> dict | str:
    """Mclust's timing and choice, or why it could not run."""
    if shutil.which("Rscript") is None:
        return "Rscript is not installed (apt-get install -y r-base-core r-cran-mclust)"
    done = rscript(R_SCRIPT, X, ",".join(models), str(REPEATS))
    if done.returncode != 0:
        return f"Mclust did not run: {done.stderr.strip().splitlines()[-1:]}"
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        "wall": out["elapsed"],
        "cpu": out["cpu"],
        "choice": f"{out['model']}, K = {out['G']}",
        "bic": -out["bic"],
        "version": out["version"],
    }


R_CELLS = r"""
suppressMessages(library(mclust))
args <- commandArgs(trailingOnly = TRUE)
X <- as.matrix(read.csv(args[1]))
tree <- hc(X, modelName = "VVV", use = "SVD")  # Mclust's default start
for (model in strsplit(args[2], ",")[[1]]) for (G in as.integer(strsplit(args[3], ",")[[1]])) {
    z <- unmap(hclass(tree, G))
    timing <- system.time(fit <- me(X, modelName = model, z = z))
    loglik <- if (is.na(fit$loglik)) "null" else sprintf("%.6f", fit$loglik)
    cat(sprintf('{"model": "%s", "G": %d, "cpu": %.4f, "loglik": %s}\n',
        model, G, timing[["user.self"]] + timing[["sys.self"]], loglik))
}
"""


def same_cells(X: np.ndarray, models: tuple[str, ...], ks: tuple[int, ...]) -> str:
    """The cells both programs fit, one thread each: our EM against mclust's ``me()``.

    The same hierarchical start (mclust's ``hclass``, which ours reproduces), each side's
    tolerance as in the sweep; CPU seconds summed over the cells. A cell that mclust returns
    as NA (a singular covariance) counts on neither side.
    """
    if shutil.which("Rscript") is None:
        return "  skipped: Rscript is not installed"
    done = rscript(R_CELLS, X, ",".join(models), ",".join(map(str, ks)))
    if done.returncode != 0:
        return f"  skipped: me() did not run: {done.stderr.strip().splitlines()[-1:]}"
    theirs = [json.loads(row) for row in done.stdout.strip().splitlines()]
    fitted = [cell for cell in theirs if cell["loglik"] is not None]
    ours_cpu = 0.0
    for cell in fitted:
        model = GaussianMixtureEM(
            cell["G"],
            covariance_type=cell["model"],
            init_params="hc",
            tol=SWEEP_TOL,
            max_iter=1000,
            keep_history="trace",
            engine="numba",  # as the sweep decides for its thousand fits
        )
        ours_cpu += fastest(lambda model=model: model.fit(X))[1]
    mclust_cpu = sum(cell["cpu"] for cell in fitted)
    gave_up = [f"{c['model']} {c['G']}" for c in theirs if c["loglik"] is None]
    return (
        f"  the {len(fitted)} cells of {', '.join(models)} that both fit (K = "
        f"{', '.join(map(str, ks))}): ours {ours_cpu:.2f} s CPU, mclust's me() "
        f"{mclust_cpu:.2f} s ({mclust_cpu / ours_cpu:.1f}x); NA in mclust: "
        f"{', '.join(gave_up) or 'none'}"
    )


def sklearn_sweep(X: np.ndarray, tol: float, max_iter: int) -> dict:
    def run() -> tuple[str, float]:
        best = (None, np.inf)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            for covariance_type in ("full", "tied", "diag", "spherical"):
                for k in range(1, G + 1):
                    model = GaussianMixture(
                        k,
                        covariance_type=covariance_type,
                        tol=tol,
                        max_iter=max_iter,
                        random_state=0,
                    ).fit(X)
                    bic = model.bic(X)
                    if bic < best[1]:
                        best = (f"{SKLEARN_TO_MCLUST[covariance_type]}, K = {k}", bic)
        return best

    wall, cpu, (choice, bic) = fastest(run)
    return {"wall": wall, "cpu": cpu, "choice": choice, "bic": float(bic)}


def line(name: str, result: dict | str, reference: dict) -> str:
    if isinstance(result, str):
        return f"  {name:<34} skipped: {result}"
    ratio = result["wall"] / reference["wall"]
    cpu_ratio = result["cpu"] / reference["cpu"]
    return (
        f"  {name:<34} {result['wall']:8.2f} s wall {result['cpu']:8.2f} s CPU"
        f"   {ratio:6.1f}x / {cpu_ratio:6.1f}x ours   best {result['choice']:<12}"
        f" BIC {result['bic']:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Old Faithful only")
    args = parser.parse_args()
    # Compile and load the kernels (the hierarchical start's, the E-step's) before timing.
    warm = datasets(True)["Old Faithful (272 x 2)"]
    sweep(warm, 2)  # every model, as R has mclust loaded before its clock starts
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; K = 1..{G}")
    print("  (ratios: their time / ours, wall and CPU; BIC in scikit-learn's sign)")
    for name, X in datasets(args.quick).items():
        for label, models in (("14 models", None), ("4 models", FOUR)):
            print(f"\n{name}, {label}:")
            reference = ours(X, models)
            print(
                f"  {'ours (sweep)':<34} {reference['wall']:8.2f} s wall "
                f"{reference['cpu']:8.2f} s CPU   {'':>18}   best {reference['choice']:<12}"
                f" BIC {reference['bic']:.2f}   ({reference['cells']} cells, "
                f"{reference['iterations']:,} EM iterations)"
            )
            print(line("Mclust", mclust(X, models or MCLUST_MODELS), reference))
            if models is None and X.shape[1] > 2:
                # where mclust's inner iteration (EVE, VVE) dominates both sides
                print(same_cells(X, ("EVE", "VVE"), tuple(range(2, G + 1))))
            if models is not None:
                print(line("scikit-learn, its defaults", sklearn_sweep(X, 1e-3, 100), reference))
                print(line("scikit-learn, tol 1e-5", sklearn_sweep(X, 1e-5, 1000), reference))
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
