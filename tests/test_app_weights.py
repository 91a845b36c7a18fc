"""The Data page's weight or count column through AppTest: chosen, changed, cleared, kept
across pages and in the link; a bad weight column answered in the page, never a traceback."""

import base64
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from gmm_core import selection
from gmm_core.dashboard.data import prepare

TIMEOUT = 120
ROOT = Path(__file__).resolve().parents[1]
WEIGHT = "prep_weight_column"


def no_errors(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def captions(at: AppTest) -> str:
    return "\n".join(c.value for c in at.caption)


def summary(at: AppTest) -> str:
    # Only a session's first run: AppTest leaves the line (filled in after the page has run)
    # out of the element tree of later runs; the browser test reads it on every page.
    return next(c.value for c in at.caption if c.value.startswith("**Data:**"))


def animation_sizes(at: AppTest) -> np.ndarray:
    """The marker sizes of the animation's points: one per point, or a single number."""
    chart = next(c for c in at.get("plotly_chart") if c.proto.id and "animation" in c.proto.id)
    size = json.loads(chart.proto.spec)["data"][0]["marker"]["size"]
    if isinstance(size, dict):  # plotly's typed array: base64 of the values
        return np.frombuffer(base64.b64decode(size["bdata"]), dtype=size["dtype"])
    return np.asarray(size)


def open_sample(name: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.run()
    at.switch_page("pages/data.py").run()
    at.selectbox(key="sample_name").set_value(name).run()
    no_errors(at)
    return at


def upload(at: AppTest, name: str, table: pd.DataFrame) -> None:
    at.button_group(key="data_source").set_value("upload").run()
    at.file_uploader(key="uploader").upload(name, table.to_csv(index=False).encode(), "text/csv")
    at.run()
    no_errors(at)


@pytest.fixture
def geyser() -> AppTest:
    return open_sample("geyser_counts")


def test_the_aggregated_sample_is_fitted_by_its_counts_once_chosen(geyser):
    at = geyser
    # Suggested, never chosen for the person: the fit counts rows until the weight is picked.
    assert at.selectbox(key=WEIGHT).value == ""  # the choice "none"
    assert at.session_state.preparation.weight_column is None
    assert "choose it as the Weight or count column" in captions(at)
    options = at.selectbox(key=WEIGHT).options
    assert options[0] == "none (every row counts once)" and "count (looks like a count)" in options
    at.selectbox(key=WEIGHT).set_value("count").run()
    no_errors(at)
    assert at.session_state.preparation.weight_column == "count"
    assert at.session_state.preparation.columns == ("eruptions", "waiting")
    assert "Weights from column 'count': 110 rows stand for 272 observations." in captions(at)
    at.switch_page("pages/fit.py").run()
    no_errors(at)
    fit = at.session_state.fit
    assert fit.model.history_.weight_sum == 272.0
    assert fit.view.sample_weight.tolist() == at.session_state.dataset.table["count"].tolist()
    sizes = animation_sizes(at)
    # The point size follows the count: area in proportion, 4 eruptions twice as wide as 1.
    counts = at.session_state.dataset.table["count"].to_numpy()
    assert sizes.shape == counts.shape
    assert sizes[counts == 4][0] == pytest.approx(2 * sizes[counts == 1][0], rel=0.01)
    assert any("stand for 272 observations" in i.value for i in at.info)
    # Back on the Data page, the widget shows the weight it left with.
    at.switch_page("pages/data.py").run()
    no_errors(at)
    assert at.selectbox(key=WEIGHT).value == "count"
    assert at.session_state.preparation.weight_column == "count"


def test_the_weight_changed_twice_then_cleared_is_what_is_fitted():
    rng = np.random.default_rng(0)
    table = pd.DataFrame(
        {
            "x": np.r_[rng.normal(0, 1, 40), rng.normal(6, 1, 40)],
            "y": rng.normal(0, 1, 80),
            "n": rng.integers(1, 5, 80),
            "freq": rng.integers(0, 9, 80),
        }
    )
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.run()
    at.switch_page("pages/data.py").run()
    upload(at, "counts.csv", table)
    assert at.session_state.preparation.columns == ("x", "y")  # n and freq suggested, not fitted
    for column in ("n", "freq", "n"):
        at.selectbox(key=WEIGHT).set_value(column).run()
        no_errors(at)
        assert at.selectbox(key=WEIGHT).value == column
        at.switch_page("pages/fit.py").run()
        no_errors(at)
        fit = at.session_state.fit
        assert fit.view.weight_column == column
        assert fit.model.history_.weight_sum == float(table[column].sum())
        at.switch_page("pages/data.py").run()
        assert at.selectbox(key=WEIGHT).value == column  # kept while the page was away
    at.selectbox(key=WEIGHT).set_value("").run()
    no_errors(at)
    at.switch_page("pages/fit.py").run()
    no_errors(at)
    assert at.session_state.fit.view.sample_weight is None
    assert animation_sizes(at).ndim == 0  # one size for every point again


def test_a_feature_chosen_as_the_weight_leaves_the_features(geyser):
    at = geyser
    at.selectbox(key=WEIGHT).set_value("waiting").run()
    no_errors(at)
    assert at.session_state.preparation.columns == ("eruptions",)
    assert at.multiselect(key="prep_columns").value == ["eruptions"]
    assert "`waiting` is the weight column now" in captions(at)
    # Put back as a feature while it is the weight: said in the page, the last fit kept.
    at.switch_page("pages/fit.py").run()
    fit = at.session_state.fit
    at.switch_page("pages/data.py").run()
    at.multiselect(key="prep_columns").set_value(["eruptions", "waiting"]).run()
    no_errors(at)
    assert any("chosen both as a feature and as the weight" in e.value for e in at.error)
    at.switch_page("pages/fit.py").run()
    no_errors(at)
    assert at.session_state.fit is fit


def test_unusable_weights_are_answered_in_the_page_and_the_data_stay():
    table = pd.DataFrame(
        {"x": np.arange(30.0) % 7, "y": np.arange(30.0) % 5, "count": np.arange(30) - 3}
    )
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.run()
    at.switch_page("pages/data.py").run()
    upload(at, "negative.csv", table)
    dataset = at.session_state.dataset
    at.switch_page("pages/fit.py").run()
    fit = at.session_state.fit
    at.switch_page("pages/data.py").run()
    at.selectbox(key=WEIGHT).set_value("count").run()
    no_errors(at)
    message = " ".join(e.value for e in at.error)
    assert "'count' has 3 negative weights (the first in data row 1: -3)" in message
    assert "choose another weight column (or none)" in message
    assert at.session_state.dataset is dataset
    at.switch_page("pages/fit.py").run()
    no_errors(at)
    assert at.session_state.fit is fit  # the last fit stays on screen
    at.switch_page("pages/data.py").run()
    at.selectbox(key=WEIGHT).set_value("").run()
    no_errors(at)
    assert not at.error


def test_the_link_carries_the_weight_and_a_reload_opens_it(geyser):
    at = geyser
    at.selectbox(key=WEIGHT).set_value("count").run()
    no_errors(at)
    at.switch_page("pages/fit.py").run()  # (AppTest shows the link as the Fit page writes it)
    params = {k: (v[0] if isinstance(v, list) else v) for k, v in at.query_params.items()}
    assert params["weight"] == "count"
    assert params["sample"] == "geyser_counts"
    again = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    again.query_params.update(params)
    again.run()
    no_errors(again)
    assert again.session_state.preparation.weight_column == "count"
    assert again.session_state.fit.model.history_.weight_sum == 272.0
    assert "geyser_counts, 110 rows, total weight 272 (`count`)" in summary(again)
    # Cleared, the parameter leaves the link.
    at.switch_page("pages/data.py").run()
    at.selectbox(key=WEIGHT).set_value("").run()
    at.switch_page("pages/fit.py").run()
    assert "weight" not in at.query_params and "sample" in at.query_params


def test_a_link_naming_a_weight_column_that_is_not_there_falls_back():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params.update({"sample": "faithful", "weight": "count"})
    at.run()
    no_errors(at)
    assert at.session_state.dataset.name == "faithful"
    assert at.session_state.preparation.weight_column is None
    assert any("column choices do not fit" in w.value for w in at.warning)


def test_compare_runs_on_the_rows_repeated_by_their_counts(geyser):
    at = geyser
    at.selectbox(key=WEIGHT).set_value("count").run()
    at.switch_page("pages/fit.py").run()
    fit = at.session_state.fit
    at.switch_page("pages/compare.py").run()
    no_errors(at)
    assert not at.warning and not at.error
    text = "\n".join(m.value for m in at.markdown)
    assert "Compared on the 272 observations (each row repeated by its weight in `count`)" in text
    assert "machine precision" in text  # the same EM, stepped on the repeated rows
    table = next(d.value for d in at.dataframe if "Iterations" in d.value.index)
    rows = np.repeat(np.arange(110), fit.view.sample_weight.astype(int))
    X = fit.view.X[rows]
    ours = fit.model.score(X)
    assert table.loc["Mean log-likelihood per observation", "Ours"] == f"{ours:.6f}"
    assert table.loc["Mean log-likelihood per observation", "scikit-learn"] == f"{ours:.6f}"
    assert table.loc["BIC (lower is better)", "Ours"] == f"{fit.model.bic(X):,.2f}"
    assert next(m for m in at.metric if "Rand" in m.label).value == "1.0000"
    # scikit-learn was fitted on 272 rows, not 110.
    assert at.session_state.comparison.sklearn.drift.sklearn_model.n_features_in_ == 2
    assert len(at.session_state.comparison.sklearn.rows) == 272


def test_compare_with_fractional_weights_says_why_it_cannot(monkeypatch):
    from sklearn.mixture import GaussianMixture

    rng = np.random.default_rng(3)
    table = pd.DataFrame(
        {
            "x": np.r_[rng.normal(0, 1, 30), rng.normal(5, 1, 30)],
            "y": rng.normal(0, 1, 60),
            "share": rng.uniform(0.1, 2.0, 60).round(3),
        }
    )
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.run()
    at.switch_page("pages/data.py").run()
    upload(at, "shares.csv", table)
    at.selectbox(key=WEIGHT).set_value("share").run()
    at.switch_page("pages/fit.py").run()
    no_errors(at)
    at.number_input(key="fit_n_components").set_value(2).run()
    assert at.session_state.fit.view.weight_column == "share"
    monkeypatch.setattr(GaussianMixture, "fit", lambda *a, **k: pytest.fail("sklearn ran"))
    at.switch_page("pages/compare.py").run()
    no_errors(at)
    assert not at.error
    message = at.warning[0].value
    assert "takes no sample weights" in message and "not whole numbers" in message
    assert "`share`" in message and "comparison with scikit-learn is unavailable" in message
    assert not at.get("plotly_chart")


def test_the_sweep_is_weighted_by_the_count_column(geyser):
    at = geyser
    at.selectbox(key=WEIGHT).set_value("count").run()
    at.switch_page("pages/selection.py").run()
    no_errors(at)
    assert any(
        "The sweep is weighted" in c and "272 observations" in c for c in captions(at).split("\n")
    )
    at.number_input(key="_sel_max_k").set_value(2).run()
    at.button_group(key="_sel_models").set_value(["EEE", "VVV"]).run()
    at.button(key="sel_run").click().run()
    no_errors(at)
    result = at.session_state.sweep_result[1]
    assert result.models[("EEE", 2)].history_.weight_sum == 272.0
    # The same BIC as the sweep of the 272 repeated rows (BIC's n is 272, not 110).
    data = at.session_state.dataset.table
    prep = at.session_state.preparation
    prepared = prepare(data, prep.columns, scaling=prep.scaling, weight_column="count")
    repeated = prepared.X[np.repeat(np.arange(110), prepared.weights.astype(int))]
    again = selection.sweep(repeated, 2, covariance_types=("EEE", "VVV"))
    assert np.allclose(result.table["bic"], again.table["bic"], rtol=1e-6)


def test_a_preparation_that_fails_says_the_last_fit_is_shown(geyser):
    at = geyser
    at.switch_page("pages/fit.py").run()
    at.switch_page("pages/data.py").run()
    at.selectbox(key=WEIGHT).set_value("waiting").run()
    at.multiselect(key="prep_columns").set_value(["eruptions", "waiting"]).run()
    at.switch_page("pages/fit.py").run()
    no_errors(at)
    warning = " ".join(w.value for w in at.warning)
    assert "cannot be fitted" in warning and "the last fit" in warning
    assert "the new one is coming" not in warning
