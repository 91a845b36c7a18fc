"""The Compare page through AppTest: honest numbers, stale comparisons, failures, no refits.

The fits are made here with the dashboard's services and put in the session as the Fit page
leaves them ("dataset", "preparation", "fit", "fit_serial", "fit_source"), so these tests
depend on the Compare page only, not on how the other pages' widgets look.
"""

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.mixture import GaussianMixture
from streamlit.testing.v1 import AppTest

from gmm_core.dashboard.data import prepare, read_table
from gmm_core.dashboard.fitting import FitResult, FitSettings, fit_view, run_fit
from gmm_core.dashboard.projection import project
from gmm_core.dashboard.samples import load_sample
from pages.ui.state import Dataset, Preparation

TIMEOUT = 180
ROOT = Path(__file__).resolve().parents[1]
BLOBS = {"n_samples": 600, "n_components": 4, "spread": 0.8, "seed": 0}


def make_fit(dataset: Dataset, label: str | None = None, **settings) -> tuple:
    """A fit of ``dataset``'s numeric columns as the Fit page makes it: (preparation, result)."""
    columns = tuple(c for c in dataset.report.numeric_columns if c != label)
    prep = Preparation(
        columns=columns, label_column=label, method="none" if len(columns) == 2 else "pca"
    )
    prepared = prepare(dataset.table, columns, label_column=label)
    view = fit_view(prepared, project(prepared.X, prep.method), fit_on=prep.fit_on)
    return prep, run_fit(view, FitSettings(**settings))


def sample(name: str, **params) -> Dataset:
    table, report = load_sample(name, **params)
    return Dataset(key=f"test-sample:{name}", name=name, table=table, report=report)


def show_fit(at: AppTest, dataset: Dataset, prep: Preparation, result: FitResult) -> None:
    """Make ``result`` the session's last fit, with a new serial, as the Fit page does."""
    serial = at.session_state["fit_serial"] if "fit_serial" in at.session_state else 0  # noqa: SIM401 (no .get)
    at.session_state["dataset"] = dataset
    at.session_state["preparation"] = prep
    at.session_state["fit"] = result
    at.session_state["fit_serial"] = serial + 1
    at.session_state["fit_source"] = (dataset, prep)


def no_errors(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def by_label(widgets, label: str):
    return next(w for w in widgets if w.label == label)


def open_compare(at: AppTest) -> AppTest:
    at.switch_page("pages/compare.py").run()
    no_errors(at)
    return at


def independent(at: AppTest, seed: int = 0) -> AppTest:
    by_label(at.radio, "scikit-learn starts from").set_value("independent").run()
    by_label(at.number_input, "scikit-learn's random_state (independent)").set_value(seed).run()
    no_errors(at)
    return at


def summary(at: AppTest) -> pd.DataFrame:
    """The 'Both fits' table: rows are quantities, columns ours / scikit-learn."""
    tables = [d.value for d in at.dataframe]
    return next(t for t in tables if "Iterations" in t.index)


def sentences(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


@pytest.fixture
def app() -> AppTest:
    """The app with the blobs sample fitted (k-means++ start, seed 42, K = 4), on Compare."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.run()
    no_errors(at)
    blobs = sample("blobs", **BLOBS)
    show_fit(at, blobs, *make_fit(blobs, n_components=4, init_params="k-means++"))
    return at


def test_without_a_fit_the_page_explains():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.switch_page("pages/compare.py").run()  # a deep link: data, but no fit yet
    no_errors(at)
    assert "no fit" in at.info[0].value


def test_same_start_agrees_exactly(app):
    open_compare(app)
    assert next(m for m in app.metric if "Rand" in m.label).value == "1.0000"
    table = app.dataframe[0].value
    assert len(table) == 4 and table["sklearn_component"].nunique() == 4
    assert "machine precision" in sentences(app)
    assert len(app.get("plotly_chart")) == 2  # side by side, drift


def test_same_start_reports_steps_and_times_both_sides_alike(app):
    open_compare(app)
    n_iter = app.session_state.fit.model.n_iter_
    table = summary(app)
    assert list(table.columns) == ["Ours", "scikit-learn"]
    # scikit-learn was stepped: its own n_iter_ (1) and converged_ (False) are not shown.
    assert table.loc["Iterations", "scikit-learn"] == f"{n_iter} steps from our start"
    assert table.loc["Converged", "scikit-learn"].startswith("n/a")
    assert not {"True", "False", "1"} & set(table["scikit-learn"])
    timed = [name for name in table.index if name.startswith("Time per iteration")]
    assert timed == [f"Time per iteration (same start, tol = 0, {min(n_iter, 20)} iterations)"]
    assert re.fullmatch(r"[\d.]+ m?s", table.loc[timed[0], "Ours"])
    assert "measured the same way on both sides" in sentences(app)


def test_numbers_are_formatted_and_headers_are_words(app):
    open_compare(app)
    table = summary(app)
    for cell in table.to_numpy().ravel():
        assert not re.search(r"\d\.\d{7,}", cell), cell  # no -2.186222580091457
    components = next(d for d in app.dataframe if "sklearn_component" in d.value.columns)
    config = json.loads(components.proto.columns)
    shown = list(components.proto.column_order)
    assert "weight_diff" not in shown  # fewer columns, so nothing is cut off
    labels = [config[name]["label"] for name in shown]
    assert all("_" not in label for label in labels), labels
    assert "Distance between means" in labels and "Our component" in labels


def test_independent_times_whole_fits_not_per_iteration(app):
    independent(open_compare(app))
    table = summary(app)
    assert not [name for name in table.index if "per iteration" in name]
    assert "Fit time (each start included)" in table.index
    assert "not how fast an iteration is" in sentences(app)
    assert table.loc["Converged", "scikit-learn"] in ("yes", "no")


def test_independent_same_optimum_is_not_called_a_different_one(app):
    # Blobs, our k-means++ start: scikit-learn's run ends 1e-3 higher (about the tolerance),
    # ARI 0.98: the same four blobs, stopped at slightly different points.
    independent(open_compare(app), seed=0)
    text = sentences(app)
    assert "reached the same solution" in text
    assert "different local optima" not in text
    solution = app.session_state.comparison.solution
    assert solution.overlap > 0.99 and not solution.different_optima


def test_new_data_makes_the_comparison_say_it_is_stale(app):
    open_compare(app)
    assert not app.warning
    old = app.session_state.comparison
    # What the Data page does on loading a sample: a new data set, the fit not yet redone.
    iris = sample("iris")
    app.session_state["dataset"] = iris
    app.session_state["preparation"] = make_fit(iris, n_components=3)[0]
    open_compare(app)
    warning = app.warning[0].value
    assert "iris" in warning and "blobs" in warning and "**Fit**" in warning
    assert app.session_state.comparison is old  # the old comparison, but said to be old
    # A changed preparation of the same data is stale too.
    blobs = app.session_state.fit_source[0]
    app.session_state["dataset"] = blobs
    app.session_state["preparation"] = Preparation(columns=("x", "y"), scaling="none")
    open_compare(app)
    assert "preparation of **blobs**" in app.warning[0].value


def test_a_new_fit_is_compared_afresh(app):
    open_compare(app)
    first = app.session_state.comparison
    blobs = sample("blobs", **BLOBS)
    show_fit(app, blobs, *make_fit(blobs, n_components=3, init_params="k-means++"))
    open_compare(app)
    assert app.session_state.comparison is not first
    assert len(app.dataframe[0].value) == 3 and not app.warning


def test_changing_only_the_matching_does_not_refit_sklearn(app, monkeypatch):
    independent(open_compare(app), seed=0)
    before = app.dataframe[0].value["match_cost"].to_numpy()
    fits = []
    original = GaussianMixture.fit

    def counted(self, X, y=None):
        fits.append(1)
        return original(self, X, y)

    monkeypatch.setattr(GaussianMixture, "fit", counted)
    by_label(app.selectbox, "Match components by").set_value("bhattacharyya").run()
    no_errors(app)
    assert fits == []
    after = app.dataframe[0].value["match_cost"].to_numpy()
    assert not np.allclose(before, after)  # re-matched with the new cost
    # A new seed is a new scikit-learn run: the counter does see fits.
    by_label(app.number_input, "scikit-learn's random_state (independent)").set_value(5).run()
    assert len(fits) == 1


def test_independent_passes_our_initialisation_through(app):
    blobs = sample("blobs", **BLOBS)
    show_fit(app, blobs, *make_fit(blobs, n_components=4, init_params="random_from_data"))
    independent(open_compare(app), seed=3)
    assert summary(app).loc["Start", "scikit-learn"] == "random_from_data, random_state 3"
    run = app.session_state.comparison.sklearn
    assert (run.mode, run.seed) == ("independent", 3)
    assert run.model.init_params == "random_from_data" and run.model.random_state == 3


def repeated_rows() -> Dataset:
    # 100 normal rows and 8 copies of one row: with reg_covar = 0 a component that gathers
    # the copies gets a zero covariance. Our run (init 'random', random_state 42) avoids it;
    # scikit-learn's with random_state 0 does not.
    X = np.random.default_rng(1).normal(size=(100, 2))
    X = np.vstack([X, np.full((8, 2), 2.5)])
    csv = "a,b\n" + "\n".join(f"{a:.17g},{b:.17g}" for a, b in X)
    table, report = read_table(csv.encode(), "repeats.csv")
    return Dataset(key="test-upload:repeats", name="repeats.csv", table=table, report=report)


def test_sklearn_failure_is_reported_and_our_fit_kept(app):
    data = repeated_rows()
    prep, fit = make_fit(data, n_components=2, init_params="random", reg_covar=0.0, random_state=42)
    assert fit.view.X.shape == (108, 2) and fit.model.converged_
    show_fit(app, data, prep, fit)
    serial = app.session_state.fit_serial
    independent(open_compare(app), seed=0)
    message = app.error[0].value
    assert "scikit-learn's GaussianMixture failed" in message
    assert "ill-defined empirical covariance" in message  # scikit-learn's own words
    assert "reg_covar" in message and "Our fit is kept" in message
    assert app.session_state.fit is fit and app.session_state.fit_serial == serial
    # Stepping from our start follows our (successful) path: that mode still works.
    by_label(app.radio, "scikit-learn starts from").set_value("same start").run()
    no_errors(app)
    assert not app.error and "machine precision" in sentences(app)


def test_choices_survive_a_visit_to_another_page(app):
    independent(open_compare(app), seed=5)
    by_label(app.selectbox, "Match components by").set_value("symmetric_kl").run()
    app.switch_page("pages/selection.py").run()
    open_compare(app)
    assert by_label(app.radio, "scikit-learn starts from").value == "independent"
    assert by_label(app.selectbox, "Match components by").value == "symmetric_kl"
    assert by_label(app.number_input, "scikit-learn's random_state (independent)").value == 5
    assert app.session_state.comparison.sklearn.seed == 5


def test_a_model_sklearn_lacks_is_explained_not_failed(app, monkeypatch):
    from sklearn.mixture import GaussianMixture

    faithful = sample("faithful")
    show_fit(app, faithful, *make_fit(faithful, n_components=3, covariance_type="VEV"))
    monkeypatch.setattr(GaussianMixture, "fit", lambda *a, **k: pytest.fail("sklearn ran"))
    open_compare(app)
    assert not app.error
    text = app.warning[0].value
    assert "has no **VEV** model" in text and "variable volume, equal shape" in text
    assert "nearest of them is **full**" in text
    assert not app.get("plotly_chart")


def test_a_fit_with_the_prior_is_explained_not_compared(app, monkeypatch):
    faithful = sample("faithful")
    show_fit(app, faithful, *make_fit(faithful, n_components=2, prior="default"))
    monkeypatch.setattr(GaussianMixture, "fit", lambda *a, **k: pytest.fail("sklearn ran"))
    open_compare(app)
    assert not app.error
    text = app.warning[0].value
    assert "uses mclust's conjugate prior" in text and "choose reg_covar under" in text
    assert not app.get("plotly_chart")
