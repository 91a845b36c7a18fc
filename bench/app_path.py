"""Time the app's path: a changed setting to the new animation, the figure, and UMAP.

    python bench/app_path.py            # 100,000 rows (about 3 minutes)
    python bench/app_path.py --quick    # 20,000 rows (about a minute)

Part 1 calls the dashboard's services directly (what the Fit page does on a change): EM on all
rows, frames from the history, the Plotly figure, and its JSON (what is sent to the browser).
Part 2 drives the real app in Debian's Chromium (Playwright): it changes K and times until the
new animation is drawn, counting any click needed after the change (an expensive fit waits for
one press of Fit), on the 600-row sample and on an uploaded 100,000-row CSV.
Part 3 times UMAP on 100,000 rows warm and in a fresh process (see bench/umap_speed.py).
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
from gmm_core.dashboard.projection import MAX_UMAP_ROWS, project  # noqa: E402


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


def _change_to_animation(page, change, expected: str) -> tuple[float, int]:
    """Seconds and extra clicks from making ``change`` until the new animation is drawn."""
    from browser_support import IDLE

    began = time.perf_counter()
    change()
    clicks = 0
    while True:
        page.wait_for_timeout(50)
        button = page.locator(".st-key-fit_button button")
        if button.count() and button.is_visible():  # an expensive fit waits for one press
            button.click()
            clicks += 1
        title = page.locator(".st-key-animation .gtitle")
        if title.count() and expected in (title.first.text_content() or ""):
            page.wait_for_selector(IDLE)
            return time.perf_counter() - began, clicks


def _k_changes(page, values) -> list[tuple[float, int]]:
    out = []
    for k in values:
        box = page.locator(".st-key-fit_n_components input")

        def change(box=box, k=k):
            box.fill(str(k))
            box.press("Enter")

        out.append(_change_to_animation(page, change, f"K = {k}"))
    return out


def part2(n: int) -> None:
    """In Debian's Chromium: clicks and seconds from a changed setting to the new animation."""
    sys.path.insert(0, str(ROOT / "tests"))
    from browser_support import CHROMIUM, CHROMIUM_ARGS, IDLE, start_server, stop_server
    from playwright.sync_api import sync_playwright

    try:
        server, url = start_server(ROOT, capture=False)
    except RuntimeError as err:
        raise SystemExit(str(err)) from err
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.goto(url)
            page.wait_for_selector(".st-key-animation .gtitle", timeout=120_000)
            page.wait_for_selector(IDLE)
            print("\nPart 2: a changed setting -> the new animation drawn (Chromium, 1440x900)")
            print("  (the change itself is typing K + Enter; 'extra clicks' are what follows)")
            rows = _k_changes(page, [3, 5, 6])
            _report("600-row sample, K changed", rows)
            X = blobs(n)
            csv = pd.DataFrame(X, columns=["x", "y"]).to_csv(index=False).encode()
            page.locator("header a", has_text="Data").first.click()
            page.wait_for_timeout(300)
            page.wait_for_selector(IDLE)
            page.locator(".st-key-data_source").get_by_role("radio", name="Upload a file").click()
            page.wait_for_timeout(300)
            page.wait_for_selector(IDLE)
            page.locator("input[type=file]").set_input_files(
                {"name": "bench.csv", "mimeType": "text/csv", "buffer": csv}
            )
            page.wait_for_timeout(300)
            page.wait_for_selector(IDLE, timeout=300_000)
            page.locator("header a", has_text="Fit").first.click()
            page.wait_for_timeout(300)
            page.wait_for_selector(IDLE, timeout=300_000)
            rows = _k_changes(page, [7, 8, 6])
            _report(f"{n:,} rows x 2, K changed", rows)
            browser.close()
    finally:
        stop_server(server)


def _report(label: str, rows: list[tuple[float, int]]) -> None:
    seconds = [s for s, _ in rows]
    clicks = max(c for _, c in rows)
    print(
        f"  {label:<34} median {statistics.median(seconds):5.2f} s, "
        f"max {max(seconds):5.2f} s, extra clicks {clicks}"
    )


def part3(n: int) -> None:
    """UMAP on ``n`` rows, warm (this process) and cold (a fresh process), via umap_speed."""
    sys.path.insert(0, str(ROOT / "bench"))
    import umap_speed

    X = umap_speed.dataset("blobs", n)
    project(X[:2000], "umap")  # this process now has UMAP compiled
    warm = umap_speed.timed_projection(X, MAX_UMAP_ROWS)
    cold = umap_speed.cold("blobs", n, MAX_UMAP_ROWS, empty_cache=False)
    print(f"\nPart 3: UMAP on {n:,} rows x 8 (the Data page's background job)")
    print(f"  warm {warm['wall']:6.1f} s   cold (first in a fresh process) {cold['first']:6.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, about a minute")
    args = parser.parse_args()
    n = 20_000 if args.quick else 100_000
    part1(n, repeats=3 if args.quick else 5)
    part2(n)
    part3(n)


if __name__ == "__main__":
    main()
