"""Every file of the bad-file corpus through the running app (AppTest).

One session uploads them all in turn, as a persistent user would: each one either loads (and
then fits, or explains why it cannot), or shows an error box naming the file; never an
exception, and after an error the previous data set and the last fit are still there.
"""

import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
BAD = ROOT / "tests" / "data" / "bad"
EXPECTED = json.loads((BAD / "EXPECTED.json").read_text(encoding="utf-8"))


def test_every_bad_file_is_answered_in_the_page():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/data.py").run()
    at.button_group(key="data_source").set_value("upload").run()
    problems = []
    for name in sorted(EXPECTED):
        data_before = at.session_state.dataset
        fit_before = at.session_state.fit
        at.switch_page("pages/data.py").run()
        at.file_uploader(key="uploader").upload(
            name, (BAD / name).read_bytes(), "application/octet-stream"
        )
        at.run()
        if at.exception:
            problems.append(f"{name}: exception {at.exception[0].value}")
            continue
        loaded = at.session_state.dataset is not data_before
        if EXPECTED[name]["expect"] == "error":
            if loaded or not any(name in e.value for e in at.error):
                problems.append(f"{name}: expected an error box naming the file")
            if at.session_state.fit is not fit_before:
                problems.append(f"{name}: the last fit was lost")
            continue
        if not loaded:
            problems.append(f"{name}: expected to load; page said {[e.value for e in at.error]}")
            continue
        at.switch_page("pages/fit.py").run()  # live: the page fits at once, nothing to press
        if at.exception:
            problems.append(f"{name}: exception while fitting {at.exception[0].value}")
        elif at.session_state.fit is fit_before and not (at.error or at.info):
            problems.append(f"{name}: neither a new fit nor an explanation")
    assert not problems, "\n".join(problems)
