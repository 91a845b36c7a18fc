"""Time the dashboard's UMAP on 100,000 rows, warm and cold, and measure its picture's quality.

    python bench/umap_speed.py                 # blobs (8-D) and digits (64-D), 100,000 rows each
    python bench/umap_speed.py --quick         # 20,000 rows, no full UMAP (about a minute)
    python bench/umap_speed.py --sample 5000,10000 --repeats 3

For each data set it prints:
- warm: seconds of ``project(X, "umap")`` in a process that has run UMAP once already (what a
  server does after its first projection), median of ``--repeats``, with the CPU seconds of this
  process (less sensitive to other work on the machine) and the seconds of each phase;
- cold: the same call as the first thing a fresh subprocess does, once with numba's on-disk cache
  as installed (a server's first projection) and once with ``NUMBA_CACHE_DIR`` set to a new,
  empty directory (the very first run after installing or upgrading numba, umap-learn or
  pynndescent);
- trustworthiness (scikit-learn, n_neighbors=15) on the same 5,000 random rows for our picture
  and for a full ``umap.UMAP(n_neighbors=15, min_dist=0.1, random_state=42)`` on all the rows,
  which is what the dashboard ran before (several minutes per data set).

The machine's load average is printed at the start and the end: others may be using the cores.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gmm_core.dashboard.projection import MAX_UMAP_ROWS, project  # noqa: E402

TRUST_ROWS = 5_000
# What project()'s progress messages say in each phase, and the phase's short name.
PHASES = [
    ("Compiling", "compile"),
    ("nearest neighbours", "neighbours"),
    ("Laying out", "layout"),
    ("Laid out", "layout"),
    ("Placing", "place"),
    ("Placed", "place"),
    ("Refin", "refine"),
    ("ready", "end"),
]
TRUST_NEIGHBOURS = 15


def dataset(name: str, n: int) -> np.ndarray:
    """``blobs``: 8 Gaussian blobs in 8-D, standardised. ``digits``: scikit-learn's 1,797 8x8
    digits drawn with replacement to ``n`` rows, plus N(0, 1) noise on every pixel (0-16).
    ``digits1797``: the 1,797 digits as they are (``n`` is ignored)."""
    if name == "digits1797":
        from sklearn.datasets import load_digits

        return load_digits().data.astype(np.float64)
    if name == "blobs":
        from sklearn.datasets import make_blobs
        from sklearn.preprocessing import StandardScaler

        X, _ = make_blobs(n_samples=n, n_features=8, centers=8, cluster_std=1.5, random_state=0)
        return StandardScaler().fit_transform(X)
    if name == "digits":
        from sklearn.datasets import load_digits

        digits = load_digits().data
        rng = np.random.default_rng(0)
        return digits[rng.integers(0, len(digits), n)] + rng.normal(size=(n, digits.shape[1]))
    raise SystemExit(f"unknown data set {name!r}")


def load() -> str:
    return "load average " + ", ".join(f"{v:.2f}" for v in os.getloadavg())


def timed_projection(X: np.ndarray, sample: int) -> dict:
    """One projection: wall and CPU seconds, the seconds of each phase, and the embedding."""
    marks: list[tuple[float, str]] = []

    def progress(fraction: float, message: str) -> None:
        phase = next(name for words, name in PHASES if words in message)
        if not marks or marks[-1][1] != phase:
            marks.append((time.perf_counter(), phase))

    wall, cpu = time.perf_counter(), time.process_time()
    p = project(X, "umap", max_umap_rows=sample, progress=progress)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    ends = [t for t, _ in marks[1:]]
    phases = {name: end - start for (start, name), end in zip(marks, ends, strict=False)}
    return {"wall": wall, "cpu": cpu, "phases": phases, "embedding": p.embedding}


def child(name: str, n: int, sample: int) -> None:
    """Run in a fresh subprocess: the first projection (with the import) and a second one."""
    X = dataset(name, n)
    began = time.perf_counter()
    first = timed_projection(X, sample)
    first["wall"] = time.perf_counter() - began
    second = timed_projection(X, sample)
    print(
        json.dumps(
            {
                "first": first["wall"],
                "first_phases": first["phases"],
                "second": second["wall"],
            }
        )
    )


def cold(name: str, n: int, sample: int, empty_cache: bool) -> dict:
    env = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="numba-cache-") as cache:
        if empty_cache:
            env["NUMBA_CACHE_DIR"] = cache
        out = subprocess.run(
            [sys.executable, __file__, "--child", name, "--rows", str(n), "--sample", str(sample)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    return json.loads(out.stdout.strip().splitlines()[-1])


def full_umap(X: np.ndarray, cache: Path | None, name: str) -> tuple[np.ndarray, float | None]:
    """A full UMAP of all rows, or the one saved in ``cache`` by an earlier run (seconds None)."""
    import warnings

    saved = cache / f"full_umap_{name}_{len(X)}.npy" if cache else None
    if saved is not None and saved.exists():
        return np.load(saved), None

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import umap

        began = time.perf_counter()
        Z = umap.UMAP(n_neighbors=15, min_dist=0.1, random_state=42, n_jobs=1).fit_transform(X)
    seconds = time.perf_counter() - began
    if saved is not None:
        saved.parent.mkdir(parents=True, exist_ok=True)
        np.save(saved, Z)
    return np.asarray(Z), seconds


def phases_text(phases: dict[str, float]) -> str:
    return ", ".join(f"{name} {seconds:.1f} s" for name, seconds in phases.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--sample", default=str(MAX_UMAP_ROWS), help="rows laid out (comma-separated list)"
    )
    parser.add_argument("--datasets", default="blobs,digits")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="20,000 rows, no full UMAP")
    parser.add_argument("--no-cold", action="store_true", help="skip the fresh subprocesses")
    parser.add_argument("--no-full", action="store_true", help="skip the full UMAP")
    parser.add_argument(
        "--full-cache", type=Path, help="keep full UMAP embeddings here (they take minutes)"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.rows, int(args.sample))
        return
    n = 20_000 if args.quick else args.rows
    samples = [int(s) for s in args.sample.split(",")]
    print(f"UMAP in the dashboard: {n:,} rows; {load()}; {os.cpu_count()} cores")
    print(f"command: python bench/umap_speed.py {' '.join(sys.argv[1:])}".rstrip())

    project(dataset("blobs", 500), "umap")  # import and compile once: the rest is warm
    for name in args.datasets.split(","):
        X = dataset(name, n)
        rows_here = len(X)
        print(f"\n{name}: {rows_here:,} rows x {X.shape[1]} columns")
        rng = np.random.default_rng(7)
        rows = rng.choice(rows_here, size=min(TRUST_ROWS, rows_here), replace=False)
        from sklearn.manifold import trustworthiness

        def trust(Z: np.ndarray, X: np.ndarray = X, rows: np.ndarray = rows) -> float:
            return trustworthiness(X[rows], Z[rows], n_neighbors=TRUST_NEIGHBOURS)

        for sample in samples:
            runs = [timed_projection(X, sample) for _ in range(args.repeats)]
            walls = [r["wall"] for r in runs]
            cpus = [r["cpu"] for r in runs]
            print(
                f"  sample {min(sample, rows_here):>7,}  warm {statistics.median(walls):6.1f} s "
                f"median (min {min(walls):.1f}, max {max(walls):.1f}; "
                f"CPU {statistics.median(cpus):.1f} s)"
                f"  trustworthiness {trust(runs[0]['embedding']):.4f}   [{load()}]"
            )
            print(f"      phases: {phases_text(runs[0]['phases'])}")
            if not args.no_cold:
                for empty, label in [(False, "numba cache as installed"), (True, "empty cache")]:
                    result = cold(name, n, sample, empty)
                    print(
                        f"      cold ({label}): first run {result['first']:6.1f} s, then "
                        f"{result['second']:.1f} s   [{load()}]"
                    )
                    print(f"        first run's phases: {phases_text(result['first_phases'])}")
        if not (args.no_full or args.quick):
            Z, seconds = full_umap(X, args.full_cache, name)
            took = "saved earlier" if seconds is None else f"{seconds:.1f} s"
            print(
                f"  full UMAP on all {rows_here:,} rows ({took}): trustworthiness {trust(Z):.4f}"
                f"   [{load()}]"
            )
    print(f"\n{load()}")


if __name__ == "__main__":
    main()
