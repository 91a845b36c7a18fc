"""Every page through Streamlit's AppTest: real script runs, real widgets, real figures."""

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from streamlit.testing.v1 import AppTest

TIMEOUT = 120
ROOT = Path(__file__).resolve().parents[1]


def figure(at: AppTest, index: int = 0) -> dict:
    return json.loads(at.get("plotly_chart")[index].proto.spec)


def assert_animated(fig: dict, n_frames: int) -> None:
    assert len(fig["frames"]) == n_frames
    slider = fig["layout"]["sliders"][0]
    assert len(slider["steps"]) == n_frames
    buttons = fig["layout"]["updatemenus"][0]["buttons"]
    play, pause = buttons[0], buttons[1]
    assert play["args"][0] is None and pause["args"][0] == [None]
    assert pause["args"][1]["mode"] == "immediate"


def no_errors(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


@pytest.fixture
def app() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.run()
    return at


def test_opens_on_a_sample_with_an_animated_fit(app):
    no_errors(app)
    fit = app.session_state.fit
    assert fit.model.n_iter_ >= 1
    fig = figure(app)
    assert_animated(fig, min(len(fit.model.history_), 100))
    # frames update only colours of the points, never their coordinates
    assert "x" not in fig["frames"][0]["data"][0]
    assert len(app.get("plotly_chart")) == 3  # animation, log-likelihood, weights


def test_refit_with_new_settings_keeps_data(app):
    app.number_input[0].set_value(3)  # K
    app.number_input[1].set_value(25)  # iterations
    app.number_input[2].set_value(0.0)  # tolerance 0: run every iteration
    app.button[0].click().run()
    no_errors(app)
    fit = app.session_state.fit
    assert fit.settings.n_components == 3 and fit.model.n_iter_ == 25
    assert_animated(figure(app), 26)
    assert any("tolerance" in i.value for i in app.info)


def test_uploaded_csv_flows_to_the_animation(app):
    X, _ = make_blobs(n_samples=300, centers=[[0, 0], [10, 0], [0, 10]], random_state=5)
    csv = "a;b\n" + "\n".join(f"{x:.4f};{y:.4f}".replace(".", ",") for x, y in X)
    app.switch_page("pages/data.py").run()
    app.radio[0].set_value("Upload a file").run()
    app.file_uploader[0].upload("blobs.csv", csv.encode(), "text/csv").run()
    no_errors(app)
    assert app.session_state.dataset.name == "blobs.csv"
    assert list(app.session_state.preparation.columns) == ["a", "b"]
    app.switch_page("pages/fit.py").run()
    app.number_input[0].set_value(3)
    app.button[0].click().run()
    no_errors(app)
    fit = app.session_state.fit
    assert fit.model.means_.shape == (3, 2)
    # EM saw exactly the uploaded numbers (decimal commas read, then standardised).
    np.testing.assert_allclose(fit.view.X.std(axis=0), 1.0)
    corr = np.corrcoef(fit.view.X[:, 0], X[:, 0])[0, 1]
    assert corr == pytest.approx(1.0, abs=1e-9)
    assert_animated(figure(app), min(len(fit.model.history_), 100))


def test_bad_upload_shows_an_error_and_keeps_data_and_fit(app):
    before_fit = app.session_state.fit
    before_data = app.session_state.dataset
    app.switch_page("pages/data.py").run()
    app.radio[0].set_value("Upload a file").run()
    app.file_uploader[0].upload("broken.csv", b"\x89PNG\r\n\x1a\n\x00\x00garbage", "text/csv")
    app.run()
    no_errors(app)
    assert app.error and "broken.csv" in app.error[0].value
    assert app.session_state.dataset is before_data
    app.switch_page("pages/fit.py").run()
    no_errors(app)
    assert app.session_state.fit is before_fit


def test_compare_same_start_agrees_exactly(app):
    app.switch_page("pages/compare.py").run()
    no_errors(app)
    ari = next(m for m in app.metric if "Rand" in m.label)
    assert ari.value == "1.0000"
    table = app.dataframe[0].value
    k = app.session_state.fit.settings.n_components
    assert len(table) == k and table["sklearn_component"].nunique() == k
    assert any("machine precision" in m.value for m in app.markdown)
    assert len(app.get("plotly_chart")) == 2  # side by side, drift


def test_compare_independent_mode(app):
    app.switch_page("pages/compare.py").run()
    app.radio[0].set_value("independent").run()
    no_errors(app)
    assert any("log-likelihood" in m.value for m in app.markdown)


def test_compare_without_a_fit_explains():
    # A deep link to Compare in a new session: there is data but no fit yet.
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.switch_page("pages/compare.py").run()
    no_errors(at)
    assert "no fit" in at.info[0].value


@pytest.mark.parametrize("sample", ["iris", "wine", "penguins", "faithful"])
def test_every_sample_loads_and_fits(app, sample):
    app.switch_page("pages/data.py").run()
    app.selectbox[0].set_value(sample)
    app.button[0].click().run()  # Load sample
    no_errors(app)
    assert app.session_state.dataset.name == sample
    app.switch_page("pages/fit.py").run()
    app.button[0].click().run()
    no_errors(app)
    assert not app.error, [e.value for e in app.error]
    assert app.session_state.fit_source[0].key == app.session_state.dataset.key


def test_half_steps_uncertainty_and_m_step_numbers(app):
    app.radio[0].set_value("half").run()
    no_errors(app)
    fig = figure(app)
    phases = [f["layout"]["title"]["text"].rsplit("· ", 1)[-1] for f in fig["frames"]]
    assert phases[:4] == ["E-step", "M-step", "E-step", "M-step"]
    app.radio[0].set_value("unsure").run()
    no_errors(app)
    unsure = app.dataframe[0].value
    assert len(unsure) == 10 and unsure["uncertainty"].is_monotonic_decreasing
    latex = [element.value for element in app.get("latex")]
    fit = app.session_state.fit
    n_k = fit.model.history_[1].weights[0] * fit.model.history_.n_samples
    assert any(f"{n_k:.4f}" in line for line in latex)


def by_label(widgets, label: str):
    return next(w for w in widgets if w.label == label)


def test_model_selection_sweeps_and_hands_over_to_fit(app):
    app.switch_page("pages/selection.py").run()
    no_errors(app)
    assert "press **Run the sweep**" in app.info[0].value
    by_label(app.number_input, "Largest K").set_value(5)
    by_label(app.number_input, "Restarts per model").set_value(2)
    by_label(app.button, "Run the sweep").click().run()
    no_errors(app)
    assert len(app.get("plotly_chart")) == 4  # BIC, AIC, ICL tabs and the restart explorer
    table = app.dataframe[0].value
    assert len(table) == 5 * 4
    # The default sample has four blobs: BIC must say so.
    assert "K = 4" in next(m.value for m in app.markdown if m.value.startswith("Best by BIC"))
    optima = app.dataframe[1].value
    assert optima["restarts that found it"].sum() == 2
    by_label(app.button, "Fit this model on the Fit page").click().run()
    no_errors(app)
    fit = app.session_state.fit
    assert fit.settings.n_components == 4 and fit.settings.n_init == 2
