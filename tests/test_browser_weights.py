"""The weight column in a real browser: on the aggregated sample, choosing its count column
makes the animation draw each row by its count (Playwright, Debian's Chromium).

Skips, saying why, on a machine without Chromium; under CI=true a missing Chromium fails.
"""

import os
from pathlib import Path

import pytest
from browser_support import CHROMIUM, CHROMIUM_ARGS, IDLE, start_server, stop_server

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]

#: The animation's points as plotly.js holds them: marker sizes and the hover's weights.
POINTS = """() => {
  const gd = document.querySelector('.st-key-animation .js-plotly-plot');
  if (!gd || !gd._fullData || !gd._fullData.length) return null;
  const trace = gd._fullData[0], size = trace.marker.size;
  return {size: typeof size === 'number' ? size : Array.from(size),
          text: trace.text ? Array.from(trace.text) : null, title: gd.layout.title.text};
}"""


@pytest.fixture(scope="module")
def page():
    if not Path(CHROMIUM).exists():
        reason = "Debian's Chromium is not installed (apt-get install -y chromium)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; browser tests must run under CI=true")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    try:
        proc, url = start_server(ROOT)
    except RuntimeError as err:
        pytest.fail(str(err))
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            pg = browser.new_page(viewport={"width": 1440, "height": 900})
            pg.errors = []
            pg.on("console", lambda m: pg.errors.append(m.text) if m.type == "error" else None)
            pg.goto(url)
            settle(pg)
            yield pg
            browser.close()
    finally:
        stop_server(proc)


def settle(pg) -> None:
    pg.wait_for_timeout(500)
    pg.wait_for_selector(IDLE, timeout=90_000)


def go_to(pg, label: str) -> None:
    pg.locator("header a", has_text=label).first.click()
    settle(pg)


def pick(pg, key: str, option: str) -> None:
    """Choose ``option`` in the selectbox of widget ``key``, as a person does."""
    box = pg.locator(f".st-key-{key} input[role=combobox]")
    box.scroll_into_view_if_needed()
    box.click()
    pg.get_by_role("option", name=option, exact=True).click()
    settle(pg)


def points(pg, title: str) -> dict:
    """The animation's points once the figure titled ``title`` is drawn."""
    pg.wait_for_function(
        f"() => {{ const p = ({POINTS})(); return p && p.title && p.title.includes({title!r}); }}",
        timeout=30_000,
    )
    return pg.evaluate(POINTS)


def test_the_count_column_draws_each_row_by_its_count(page):
    go_to(page, "Data")
    pick(page, "sample_name", "geyser_counts")
    go_to(page, "Fit")
    plain = points(page, "K = 2")
    assert isinstance(plain["size"], (int, float))  # unweighted: one size for every point
    go_to(page, "Data")
    pick(page, "prep_weight_column", "count (looks like a count)")
    note = page.locator("[data-testid=stCaptionContainer]", has_text="Weights from column")
    assert "110 rows stand for 272 observations" in note.first.text_content()
    go_to(page, "Fit")
    summary = page.locator("[data-testid=stCaptionContainer]", has_text="Data:").first
    assert "110 rows, total weight 272" in summary.text_content()
    assert "weight=count" in page.url
    drawn = points(page, "K = 2")
    sizes, counts = drawn["size"], [float(t) for t in drawn["text"]]
    assert len(sizes) == len(counts) == 110 and sum(counts) == 272
    by_count = dict(zip(counts, sizes, strict=True))
    # Area in proportion to the count: 4 eruptions are drawn twice as wide as 1, and the
    # biggest cell (11) is the biggest point, bigger than the unweighted size.
    assert by_count[4.0] == pytest.approx(2 * by_count[1.0], rel=0.01)
    assert max(sizes) == by_count[11.0] > plain["size"]
    assert page.locator("[data-testid=stException]").count() == 0
    assert not page.errors, page.errors
