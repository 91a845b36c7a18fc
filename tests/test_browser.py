"""End to end in a real browser: Playwright drives Debian's Chromium against `streamlit run`.

Skips, saying why, on a machine without Chromium; under CI=true a missing Chromium fails.
"""

import csv as csv_module
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from browser_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    IDLE,
    free_port,
    streamlit_run_args,
    wait_healthy,
)
from sklearn.datasets import make_blobs

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]


def _require_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    reason = "Debian's Chromium is not installed (apt-get install -y chromium)"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; browser tests must run under CI=true")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def server():
    _require_chromium()
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", *streamlit_run_args(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    if not wait_healthy(url, proc):
        proc.kill()
        pytest.fail("streamlit did not become healthy: " + proc.stdout.read().decode()[-2000:])
    yield url
    proc.terminate()
    proc.wait(timeout=20)
    proc.stdout.close()


@pytest.fixture
def app_page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        pg = browser.new_page(viewport={"width": 1400, "height": 1100})
        pg.console_errors = []
        pg.on("console", lambda m: _record_console(pg, m))
        pg.on("pageerror", lambda e: _record_page_error(pg, e))
        pg.goto(server)
        settle(pg)
        yield pg
        browser.close()


def _record_console(pg, message) -> None:
    if message.type == "error":
        pg.console_errors.append(message.text)
    elif "API call to Plotly.animate rejected" in message.text:
        # plotly.js warns this when Pause interrupts Play, then leaves the interrupted
        # animate() promise rejected with `undefined`, unhandled. Expect exactly that one.
        pg.expected_rejections = getattr(pg, "expected_rejections", 0) + 1


def _record_page_error(pg, error) -> None:
    if str(error) == "undefined" and getattr(pg, "expected_rejections", 0) > 0:
        pg.expected_rejections -= 1
        return
    pg.console_errors.append(f"uncaught: {error}")


def settle(pg, timeout: float = 90_000) -> None:
    """Wait until the script has run (it may start a moment after an interaction)."""
    pg.wait_for_timeout(400)
    pg.wait_for_selector(IDLE, timeout=timeout)


def go_to(pg, label: str) -> None:
    pg.locator("[data-testid=stSidebarNav] a", has_text=label).first.click()
    settle(pg)
    pg.get_by_role("heading", name=label if label != "Compare" else "Compare with scikit-learn")


def slider_value(pg) -> str:
    # plotly.js draws the slider's current value as the group's own label.
    return pg.locator(".slider-group > .slider-label").first.text_content()


def assert_clean(pg) -> None:
    assert pg.locator("[data-testid=stException]").count() == 0
    assert not pg.console_errors, pg.console_errors


def upload(pg, name: str, content: bytes) -> None:
    pg.get_by_text("Upload a file").click()
    settle(pg)
    pg.locator("input[type=file]").set_input_files(
        {"name": name, "mimeType": "text/csv", "buffer": content}
    )
    settle(pg)


def download(pg, label: str) -> bytes:
    with pg.expect_download(timeout=60_000) as info:
        pg.get_by_role("button", name=label).click()
    return Path(info.value.path()).read_bytes()


def test_upload_fit_play_compare(app_page, tmp_path):
    page = app_page
    X, _ = make_blobs(n_samples=400, centers=[[0, 0], [8, 0], [0, 8]], random_state=2)
    csv = "width,height\n" + "\n".join(f"{a:.5f},{b:.5f}" for a, b in X)

    go_to(page, "Data")
    upload(page, "measurements.csv", csv.encode())
    page.get_by_text("measurements.csv").first.wait_for()

    go_to(page, "Fit")
    page.locator("[data-testid=stFormSubmitButton] button").click()
    settle(page)
    page.get_by_text("Fitted in").first.wait_for()
    page.wait_for_selector(".js-plotly-plot .updatemenu-button")
    before = slider_value(page)
    page.locator(".updatemenu-button", has_text="Play").first.click()
    page.wait_for_function(
        "b => document.querySelector('.slider-group > .slider-label').textContent !== b",
        arg=before,
        timeout=15_000,
    )
    page.locator(".updatemenu-button", has_text="Pause").first.click()
    assert slider_value(page) != before
    page.screenshot(path=str(tmp_path / "fit.png"), full_page=True)

    # The downloads are made on click (deferred): each arrives, and is this fit's.
    fitted = json.loads(download(page, "Parameters and history (JSON)"))
    assert fitted["features"] == ["width", "height"]
    assert len(fitted["fitted"]["weights"]) == fitted["settings"]["n_components"]
    rows = list(csv_module.reader(io.StringIO(download(page, "Rows with labels").decode())))
    assert rows[0][:3] == ["width", "height", "component"] and len(rows) == 1 + len(X)
    assert b"Plotly.newPlot" in download(page, "Animation (HTML)")

    go_to(page, "Compare")
    page.get_by_text("1.0000").first.wait_for(timeout=60_000)
    assert page.get_by_text("machine precision").count() >= 1

    go_to(page, "Fit")
    page.get_by_text("measurements.csv").first.wait_for()  # the sidebar still shows our data
    assert page.locator(".js-plotly-plot").count() >= 3
    assert_clean(page)


def test_bad_upload_shows_error_and_keeps_fit(app_page):
    page = app_page
    go_to(page, "Fit")
    page.wait_for_selector(".js-plotly-plot")
    iterations_before = page.locator("[data-testid=stMetricValue]").first.text_content()

    go_to(page, "Data")
    upload(
        page,
        "photo.csv",
        b"\x89PNG\r\n\x1a\n"
        + bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8)),
    )
    error = page.locator("[data-testid=stAlertContentError]").first
    error.wait_for()
    assert "photo.csv" in error.text_content()

    go_to(page, "Fit")
    page.wait_for_selector(".js-plotly-plot")
    assert page.locator("[data-testid=stMetricValue]").first.text_content() == iterations_before
    assert_clean(page)


def test_model_selection_page(app_page):
    page = app_page
    go_to(page, "Model selection")
    page.get_by_role("button", name="Run the sweep").click()
    settle(page)
    page.get_by_text("Best by BIC").first.wait_for(timeout=120_000)
    assert page.locator(".js-plotly-plot").count() >= 2
    assert_clean(page)
