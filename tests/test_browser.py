"""End to end in a real browser: Playwright drives Debian's Chromium against `streamlit run`.

Used the way a person uses it: the same setting changed twice in a row, pages left and
revisited, a reload, a phone-sized screen, the downloads opened. Skips, saying why, on a
machine without Chromium; under CI=true a missing Chromium fails.
"""

import csv as csv_module
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from browser_support import CHROMIUM, CHROMIUM_ARGS, IDLE, start_server, stop_server
from sklearn.datasets import make_blobs

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}


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
    try:
        proc, url = start_server(ROOT)
    except RuntimeError as err:
        pytest.fail(str(err))
    yield url
    stop_server(proc)


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def open_page(browser, url: str, viewport=DESKTOP):
    context = browser.new_context(viewport=viewport, accept_downloads=True)
    pg = context.new_page()
    pg.console_errors = []
    pg.on("console", lambda m: _record_console(pg, m))
    pg.on("pageerror", lambda e: _record_page_error(pg, e))
    pg.goto(url)
    settle(pg)
    return pg


@pytest.fixture
def app_page(browser, server):
    pg = open_page(browser, server)
    yield pg
    pg.context.close()


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


#: How long an action may take to show its result (ms).
SETTLE_TIMEOUT = 90_000


def settle(pg, timeout: float = SETTLE_TIMEOUT) -> None:
    """Wait until the script (or fragment) has run; it may start a moment after an action."""
    pg.wait_for_timeout(500)
    pg.wait_for_selector(IDLE, timeout=timeout)


def go_to(pg, label: str) -> None:
    """Navigate as a person does: the top bar, or the menu on a phone."""
    top = pg.locator("header a", has_text=label)
    # settle()'s patience, not Playwright's 30 s: on a loaded 2-core CI machine (the server,
    # its first numba compilations and Chromium's software rendering of the Fit page's
    # animation on the same cores) a click once took longer to be dispatched
    if top.count() and top.first.is_visible():
        top.first.click(timeout=SETTLE_TIMEOUT)
    else:
        pg.locator("[data-testid=stExpandSidebarButton]").click(timeout=SETTLE_TIMEOUT)
        pg.locator("[data-testid=stSidebarNav] a", has_text=label).first.click(
            timeout=SETTLE_TIMEOUT
        )
    settle(pg)


def set_number(pg, key: str, value) -> None:
    box = pg.locator(f".st-key-{key} input")
    box.fill(str(value))
    box.press("Enter")
    settle(pg)


def choose(pg, key: str, option: str) -> None:
    pg.locator(f".st-key-{key}").get_by_role("radio", name=option, exact=True).click()
    settle(pg)


def fitted_line(pg) -> str:
    return pg.locator(
        "[data-testid=stCaptionContainer]", has_text="Fitted: K ="
    ).first.text_content()


def summary_line(pg) -> str:
    return pg.locator("[data-testid=stCaptionContainer]", has_text="Data:").first.text_content()


def animation_title(pg) -> str:
    return pg.locator(".st-key-animation .gtitle").first.text_content()


def slider_value(pg) -> str:
    # plotly.js draws the slider's current value as the group's own label.
    return pg.locator(".st-key-animation .slider-group > .slider-label").first.text_content()


def assert_clean(pg) -> None:
    assert pg.locator("[data-testid=stException]").count() == 0
    assert not pg.console_errors, pg.console_errors


def upload(pg, name: str, content: bytes) -> None:
    choose(pg, "data_source", "Upload a file")
    pg.locator("input[type=file]").set_input_files(
        {"name": name, "mimeType": "text/csv", "buffer": content}
    )
    settle(pg)


def download(pg, label: str) -> bytes:
    with pg.expect_download(timeout=60_000) as info:
        pg.get_by_role("button", name=label).click()
    return Path(info.value.path()).read_bytes()


def test_landing_page_plays_by_itself_with_play_in_view(app_page):
    page = app_page
    assert page.get_by_text("Watch EM fit a Gaussian mixture").count() == 1
    play = page.locator(".st-key-animation .updatemenu-button").first
    play.wait_for()
    box = play.bounding_box()
    assert box["y"] + box["height"] <= DESKTOP["height"], box  # no scrolling to find Play
    # Nobody pressed Play: the animation starts once by itself.
    page.wait_for_function(
        "() => !document.querySelector('.st-key-animation .slider-group > .slider-label')"
        ".textContent.startsWith('iteration 0 ')",
        timeout=20_000,
    )
    assert_clean(page)


def test_every_change_is_taken_the_first_time(app_page):
    page = app_page
    for k in (3, 5):
        set_number(page, "fit_n_components", k)
        assert f"Fitted: K = {k}," in fitted_line(page)
        assert f"K = {k}" in animation_title(page)
        assert page.locator(".st-key-fit_n_components input").input_value() == str(k)
    page.get_by_text("The M-step, in numbers").click()
    for cov in ("diag", "spherical"):
        choose(page, "fit_covariance_type", cov)
        assert f"{cov} covariance" in fitted_line(page)
        # The expander opened before the fit is still open after it.
        assert page.locator(".st-key-x_mstep details").get_attribute("open") is not None
    page.get_by_text("More: tolerance").click()
    settle(page)
    set_number(page, "fit_tol", 0)
    for iterations in (7, 9):
        set_number(page, "fit_max_iter", iterations)
        assert f"at most {iterations} iterations" in fitted_line(page)
        metric = page.locator("[data-testid=stMetricValue]").first.text_content()
        assert metric == str(iterations)
    assert "Fitted: K = 5, spherical" in fitted_line(page)  # nothing earlier was undone
    assert_clean(page)


def test_data_choices_twice_then_reload_and_link(app_page, browser, server):
    page = app_page
    go_to(page, "Data")
    page.locator(".st-key-sample_name").click()
    page.get_by_role("option", name="iris").click()
    settle(page)
    assert "iris, 150 rows" in summary_line(page)
    for scaling, shown in (("min-max", "minmax"), ("none", "none")):
        choose(page, "prep_scaling", scaling)
        assert f"{shown} scaling" in summary_line(page)
    for remaining in (3, 2):
        # The first chip's remove cross, as a person clicks it.
        page.locator(".st-key-prep_columns button[aria-label^=Remove]").first.click()
        settle(page)
        assert f"{remaining} column(s)" in summary_line(page)
    go_to(page, "Fit")
    assert "iris, 150 rows · 2 column(s), none scaling" in summary_line(page)
    set_number(page, "fit_n_components", 2)
    assert "Fitted: K = 2," in fitted_line(page)
    page.reload()
    settle(page)
    assert "iris, 150 rows · 2 column(s), none scaling" in summary_line(page)
    assert "Fitted: K = 2," in fitted_line(page)
    shared = open_page(browser, page.url)  # the link, opened in another browser session
    try:
        assert "iris, 150 rows · 2 column(s), none scaling" in summary_line(shared)
        assert "Fitted: K = 2," in fitted_line(shared)
        assert_clean(shared)
    finally:
        shared.context.close()
    assert_clean(page)


def test_umap_in_the_background_while_the_fit_page_is_used(app_page):
    page = app_page
    rng = np.random.default_rng(3)
    X = np.vstack([rng.normal(c, 1.0, size=(15_000, 4)) for c in (0, 6, 12)])
    csv = "a,b,c,d\n" + "\n".join(",".join(f"{v:.4f}" for v in row) for row in X)
    go_to(page, "Data")
    upload(page, "large.csv", csv.encode())
    assert "large.csv, 45,000 rows" in summary_line(page)
    go_to(page, "Fit")
    page.locator(".st-key-animation .js-plotly-plot").wait_for()
    go_to(page, "Data")
    choose(page, "prep_method", "UMAP")
    go_to(page, "Fit")
    # While UMAP runs: its progress, the settings and the last fit are all on the Fit page.
    page.get_by_text("UMAP (", exact=False).first.wait_for(timeout=30_000)
    assert page.locator(".st-key-fit_n_components input").is_visible()
    assert page.locator(".st-key-animation .js-plotly-plot").count() == 1
    set_number(page, "fit_n_components", 3)  # a change made meanwhile is kept
    page.locator(".st-key-animation .xtitle", has_text="UMAP").wait_for(timeout=300_000)
    settle(page)
    assert "Fitted: K = 3," in fitted_line(page)
    assert_clean(page)


def test_phone_layout(browser, server, tmp_path):
    page = open_page(browser, server, PHONE)
    try:
        page.locator(".st-key-animation .updatemenu-button").first.wait_for()
        go_to(page, "Data")
        # The menu closes after navigating, so the page is not covered.
        sidebar = page.locator("[data-testid=stSidebar]")
        page.wait_for_timeout(600)
        assert sidebar.count() == 0 or sidebar.get_attribute("data-collapsed") == "true"
        go_to(page, "Fit")
        chart = page.locator(".st-key-animation .js-plotly-plot")
        chart.wait_for()
        width = chart.bounding_box()["width"]
        plot_area = page.locator(".st-key-animation .nsewdrag").first.bounding_box()["width"]
        assert plot_area > 0.75 * width  # the legend is not beside the plot
        title = page.locator(".st-key-animation .gtitle").first.bounding_box()
        assert title["x"] >= 0 and title["x"] + title["width"] <= PHONE["width"]
        page.screenshot(path=str(tmp_path / "phone.png"), full_page=True)
        assert_clean(page)
    finally:
        page.context.close()


def test_upload_fit_play_downloads_compare(app_page):
    page = app_page
    X, _ = make_blobs(n_samples=400, centers=[[0, 0], [8, 0], [0, 8]], random_state=2)
    csv = "width,height\n" + "\n".join(f"{a:.5f},{b:.5f}" for a, b in X)

    go_to(page, "Data")
    upload(page, "measurements.csv", csv.encode())
    assert "measurements.csv, 400 rows" in summary_line(page)

    go_to(page, "Fit")
    set_number(page, "fit_n_components", 3)
    page.wait_for_selector(".st-key-animation .updatemenu-button")
    page.locator(".st-key-animation .updatemenu-button", has_text="Pause").first.click()
    before = slider_value(page)
    page.locator(".st-key-animation .updatemenu-button", has_text="Play").first.click()
    page.wait_for_function(
        "b => document.querySelector('.st-key-animation .slider-group > .slider-label')"
        ".textContent !== b",
        arg=before,
        timeout=15_000,
    )
    page.locator(".st-key-animation .updatemenu-button", has_text="Pause").first.click()

    # The downloads are made on click (deferred): each arrives, and is this fit's.
    fitted = json.loads(download(page, "Parameters and history (JSON)"))
    assert fitted["features"] == ["width", "height"]
    assert len(fitted["fitted"]["weights"]) == fitted["settings"]["n_components"] == 3
    rows = list(csv_module.reader(io.StringIO(download(page, "Rows with labels").decode())))
    assert "width" in rows[0] and len(rows) == 1 + len(X)
    html = download(page, "(HTML)")
    assert b"Plotly.newPlot" in html

    go_to(page, "Compare")
    page.get_by_text("1.0000").first.wait_for(timeout=60_000)

    go_to(page, "Fit")
    assert "measurements.csv" in summary_line(page)
    assert page.locator(".js-plotly-plot").count() >= 3
    assert_clean(page)


def test_bad_upload_shows_error_and_keeps_fit(app_page):
    page = app_page
    page.wait_for_selector(".st-key-animation .js-plotly-plot")
    before = fitted_line(page)
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
    assert "blobs, 600 rows" in summary_line(page)
    go_to(page, "Fit")
    page.wait_for_selector(".st-key-animation .js-plotly-plot")
    assert fitted_line(page) == before
    assert_clean(page)


def test_model_selection_page(app_page):
    page = app_page
    go_to(page, "Model selection")
    page.get_by_role("button", name="Run the sweep").click()
    settle(page)
    page.get_by_text("Best by BIC").first.wait_for(timeout=120_000)
    assert page.locator(".js-plotly-plot").count() >= 2
    page.get_by_role("button", name="Fit this model on the Fit page").click()
    settle(page)
    assert "Fitted: K = 4," in fitted_line(page)
    assert_clean(page)


def test_a_tolerance_field_shows_the_value_it_holds(app_page):
    # Found in a walk-through: as "%.0e" one click of + showed 1e-5 for 1.1e-05, the value
    # the sweep then ran at.
    page = app_page
    go_to(page, "Model selection")
    box = page.locator(".st-key-_sel_tol input")
    assert float(box.input_value()) == 1e-5
    page.locator(".st-key-_sel_tol [data-testid=stNumberInputStepUp]").click()
    settle(page)
    assert float(box.input_value()) == pytest.approx(1.1e-5, rel=1e-12)
    assert_clean(page)


def test_settings_survive_the_paths_people_take(app_page, browser):
    """Found by using the app: each step here once lost or blanked a setting."""
    page = app_page
    # A sample chosen first on the Data page: the Fit widgets show its K, nothing blank.
    go_to(page, "Data")
    page.locator(".st-key-sample_name").click()
    page.get_by_role("option", name="faithful").click()
    settle(page)
    go_to(page, "Fit")
    assert page.locator(".st-key-fit_n_components input").input_value() == "2"
    assert page.locator(".st-key-fit_max_iter input").input_value() == "100"
    assert "Fitted: K = 2, full covariance, wide start" in fitted_line(page)
    # Hidden settings keep their values across another page.
    page.get_by_text("More: tolerance").click()
    settle(page)
    set_number(page, "fit_tol", 0.1)
    set_number(page, "fit_random_state", 7)
    go_to(page, "Compare")
    go_to(page, "Fit")
    assert "(seed 7)" in fitted_line(page) and "tolerance 0.1," in fitted_line(page)
    # K = 4 differs from faithful's own K: the link must carry it.
    set_number(page, "fit_n_components", 4)
    assert "k=4" in page.url
    page.get_by_text("Share this view").click()
    link = page.locator(".st-key-x_share code").first.text_content()
    assert link.startswith("http://127.0.0.1") and "sample=faithful" in link and "k=4" in link
    # A page that ends early still writes the link and the summary line.
    go_to(page, "Model selection")
    assert "sample=faithful" in page.url and "faithful, 272 rows" in summary_line(page)
    shared = open_page(browser, page.url)
    try:
        go_to(shared, "Fit")
        assert "Fitted: K = 4," in fitted_line(shared) and "(seed 7)" in fitted_line(shared)
    finally:
        shared.context.close()
    assert_clean(page)


def test_model_selection_sweeps_flips_the_sign_and_hands_over(app_page):
    page = app_page
    go_to(page, "Data")
    page.locator(".st-key-sample_name").click()
    page.get_by_role("option", name="faithful").click()
    settle(page)
    go_to(page, "Model selection")
    set_number(page, "_sel_max_k", 4)
    page.get_by_role("button", name="Run the sweep").click()
    settle(page)
    best = page.locator("[data-testid=stMarkdownContainer]", has_text="Best by BIC:").first
    assert best.text_content().startswith("Best by BIC: EEE, K = 3")
    assert "(lower is better)" in best.text_content()
    chart = page.locator(".st-key-sel_bic .js-plotly-plot")
    assert chart.locator(".legendtext", has_text="VEV").count() == 1  # all fourteen drawn
    for sign, title in (("mclust's sign", "BIC (mclust's sign)"), ("lower is better", "BIC")):
        page.locator(".st-key-_sel_mclust_sign label").click()
        settle(page)
        assert f"({sign}" in best.text_content()
        assert chart.locator(".ytitle").text_content() == title
    page.get_by_role("button", name="Fit this model on the Fit page").click()
    settle(page)
    page.get_by_text("From Model selection: EEE, K = 3").wait_for()
    assert "Fitted: K = 3, tied covariance, hc start" in fitted_line(page)
    go_to(page, "Model selection")
    assert "Best by BIC: EEE, K = 3" in best.text_content()
    assert_clean(page)
    missing = []
    page.on("response", lambda r: r.status == 404 and missing.append(r.url))
    page.reload()
    settle(page)
    # Reloaded at /selection, Streamlit's client first looks for its server under that path.
    probes = ("/selection/_stcore/health", "/selection/_stcore/host-config")
    assert all(url.endswith(probes) for url in missing), missing
    page.console_errors = [e for e in page.console_errors if "404 (Not Found)" not in e]
    # The address names the sweep, the server keeps it: a reload shows it, with its settings.
    assert "sweep=" in page.url
    assert page.locator(".st-key-_sel_max_k input").input_value() == "4"
    assert "Best by BIC: EEE, K = 3" in best.text_content()
    assert page.get_by_text("These results are for other settings").count() == 0
    assert_clean(page)
