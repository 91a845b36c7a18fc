"""Time the app's path: from pressing Fit to the figure, the figure's size, and cached refits.

    python bench/app_path.py            # 100,000 rows, 2-D, K = 8, 100 iterations, UMAP on 100k
    python bench/app_path.py --quick    # 20,000 rows, UMAP on 5,000 (about a minute)

Part 1 calls gmm_core directly (what the Fit page does after the button): EM on all rows,
frames from the history, the Plotly figure, and its JSON (what is sent to the browser).
Part 2 drives the real app with Streamlit's AppTest: upload, fit, refit with another K
(reading and projecting must be cache hits), and the same with UMAP.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import make_blobs

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gmm_core.dashboard.data import prepare  # noqa: E402
from gmm_core.dashboard.fitting import FitSettings, fit_view, run_fit  # noqa: E402
from gmm_core.dashboard.projection import project  # noqa: E402


def blobs(n: int, d: int = 2, k: int = 8) -> np.ndarray:
    centres = np.array([[4.0 * (i % 4), 5.0 * (i // 4)] + [0.0] * (d - 2) for i in range(k)])
    X, _ = make_blobs(n_samples=n, centers=centres, random_state=0)
    return X


def part1(n: int, repeats: int) -> None:
    X = blobs(n)
    prepared = prepare(pd.DataFrame(X, columns=["x", "y"]), ["x", "y"])
    view = fit_view(prepared, project(prepared.X, "none"), fit_on="features")
    settings = FitSettings(n_components=8, max_iter=100, tol=0.0, init_params="kmeans")
    run_fit(view, settings)  # warm-up: imports, numba cache load
    totals, fits, sizes, encodes = [], [], [], []
    for _ in range(repeats):
        began = time.perf_counter()
        result = run_fit(view, settings)
        built = time.perf_counter()
        payload = result.animation.to_json()
        done = time.perf_counter()
        totals.append(done - began)
        fits.append(result.seconds)
        encodes.append(done - built)
        sizes.append(len(payload) / 1024**2)
    print(f"\nPart 1: Fit pressed -> animation JSON ready ({n:,} rows, 2-D, K = 8, 100 iterations)")
    print(f"  EM fit            median {statistics.median(fits):6.2f} s")
    figure = statistics.median(totals) - statistics.median(fits) - statistics.median(encodes)
    print(f"  frames + figure   median {figure:6.2f} s")
    print(f"  JSON encoding     median {statistics.median(encodes):6.2f} s")
    print(f"  total             median {statistics.median(totals):6.2f} s   (target < 2 s)")
    print(f"  figure size       {sizes[-1]:6.2f} MB          (target <= 5 MB)")
    print(f"  frames            {len(result.animation.frames)}")


def by_label(widgets, label: str):
    """The widget with this label (indices shift when the page layout changes)."""
    return next(w for w in widgets if w.label == label)


def timed_run(at, label: str) -> float:
    began = time.perf_counter()
    at.run()
    seconds = time.perf_counter() - began
    assert not at.exception, [e.value for e in at.exception]
    print(f"  {label:<52} {seconds:7.2f} s")
    return seconds


def part2(n: int, umap_rows: int) -> None:
    from streamlit.testing.v1 import AppTest

    X = blobs(n, d=5)
    csv = pd.DataFrame(X, columns=[f"f{i}" for i in range(5)]).to_csv(index=False).encode()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=900)
    print(f"\nPart 2: the app (AppTest), {n:,} rows x 5 columns, a {len(csv) / 1e6:.1f} MB CSV")
    timed_run(at, "first page (built-in sample, auto-fit)")
    at.switch_page("pages/data.py")
    timed_run(at, "Data page")
    by_label(at.radio, "Source").set_value("Upload a file")
    timed_run(at, "choose upload")
    at.file_uploader[0].upload("bench.csv", csv, "text/csv")
    timed_run(at, "upload + read + prepare + PCA")
    at.switch_page("pages/fit.py")
    timed_run(at, "Fit page (shows the sample's fit; the data changed)")
    by_label(at.number_input, "Components K").set_value(8)
    by_label(at.button, "Fit").click()
    timed_run(at, "Fit K = 8 (100 iterations max)")
    by_label(at.number_input, "Components K").set_value(4)
    by_label(at.button, "Fit").click()
    timed_run(at, "refit K = 4 (read, prepare, PCA cached)")
    at.switch_page("pages/data.py")
    timed_run(at, "back to Data (all cached)")
    # UMAP on a sample of the rows (the app's max_umap_rows) and transform for the rest.
    small = (
        csv
        if umap_rows >= n
        else pd.DataFrame(X[:umap_rows], columns=[f"f{i}" for i in range(5)])
        .to_csv(index=False)
        .encode()
    )
    at.file_uploader[0].upload("umap.csv", small, "text/csv")
    timed_run(at, f"upload {min(umap_rows, n):,} rows for UMAP")
    by_label(at.radio, "2-D view").set_value("umap")
    by_label(at.button, "Apply").click()
    timed_run(at, f"UMAP on {min(umap_rows, n):,} rows (what the user waits)")
    at.switch_page("pages/fit.py")
    timed_run(at, "Fit page")
    by_label(at.button, "Fit").click()
    timed_run(at, "Fit on the features, UMAP display")
    by_label(at.number_input, "Components K").set_value(3)
    by_label(at.button, "Fit").click()
    timed_run(at, "refit K = 3 (UMAP cached)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, about a minute")
    args = parser.parse_args()
    n = 20_000 if args.quick else 100_000
    part1(n, repeats=3 if args.quick else 5)
    part2(n, umap_rows=5_000 if args.quick else 100_000)


if __name__ == "__main__":
    main()
