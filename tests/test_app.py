"""Every page through Streamlit's AppTest: real script runs, real widgets, real figures.

Widgets are found by their keys, as a person finds them by their labels; each interaction is
followed by what the app does next (live: nothing; an expensive fit: one press of Fit).
"""

import base64
import json
import time
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from streamlit.testing.v1 import AppTest

TIMEOUT = 120
ROOT = Path(__file__).resolve().parents[1]


def figure(at: AppTest, key: str = "animation") -> dict:
    chart = next(c for c in at.get("plotly_chart") if c.proto.id and key in c.proto.id)
    return json.loads(chart.proto.spec)


def charts(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


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


def fitted(at: AppTest):
    return at.session_state.fit.settings


def test_opens_on_a_sample_with_an_animated_fit(app):
    no_errors(app)
    fit = app.session_state.fit
    assert fit.model.n_iter_ >= 1
    fig = charts(app)[0]
    assert_animated(fig, min(len(fit.model.history_), 100))
    # frames update only colours of the points, never their coordinates
    assert "x" not in fig["frames"][0]["data"][0]
    assert len(app.get("plotly_chart")) == 3  # animation, log-likelihood, weights
    # Nothing to press: no Fit button, and a sentence says what this is.
    assert not [b for b in app.button if b.label.startswith("Fit")]
    assert "Watch EM fit a Gaussian mixture" in app.markdown[0].value


def test_every_change_is_fitted_the_first_time(app):
    """Each setting changed twice in a row: what is fitted is what the control shows."""
    for value in (3, 5):
        app.number_input(key="fit_n_components").set_value(value).run()
        no_errors(app)
        assert fitted(app).n_components == value
        assert app.number_input(key="fit_n_components").value == value
        assert f"K = {value}" in app.caption[0].value or any(
            f"Fitted: K = {value}" in c.value for c in app.caption
        )
    for cov in ("diag", "spherical"):
        app.button_group(key="fit_covariance_type").set_value(cov).run()
        no_errors(app)
        assert fitted(app).covariance_type == cov
        assert app.button_group(key="fit_covariance_type").value == cov
    app.toggle(key="more_settings").set_value(True).run()
    for iterations in (7, 9):
        app.number_input(key="fit_tol").set_value(0.0).run()
        app.number_input(key="fit_max_iter").set_value(iterations).run()
        no_errors(app)
        assert fitted(app).max_iter == iterations
        assert app.session_state.fit.model.n_iter_ == iterations
    for init in ("kmeans", "random"):
        app.button_group(key="fit_init_params").set_value(init).run()
        assert fitted(app).init_params == init
    app.toggle(key="more_settings").set_value(False).run()
    # Hidden settings keep their values: the fit after hiding them is the same fit.
    assert fitted(app).max_iter == 9 and fitted(app).tol == 0.0
    assert fitted(app).n_components == 5  # nothing earlier was undone


def test_going_back_to_a_setting_shows_its_fit_again(app):
    first = app.session_state.fit
    app.number_input(key="fit_n_components").set_value(3).run()
    assert app.session_state.fit is not first
    app.number_input(key="fit_n_components").set_value(first.settings.n_components).run()
    assert app.session_state.fit is first  # from the session's cache, not refitted


def test_an_expensive_fit_waits_for_one_press(app):
    app.switch_page("pages/data.py").run()
    app.number_input(key="blob_n_samples").set_value(400_000).run()
    no_errors(app)
    app.switch_page("pages/fit.py").run()
    before = app.session_state.fit
    app.number_input(key="fit_max_iter").set_value(1000).run()
    app.number_input(key="fit_n_components").set_value(20).run()
    no_errors(app)
    button = next(b for b in app.button if b.label.startswith("Fit K = 20"))
    assert any("not fitted yet" in i.value for i in app.info)
    assert app.session_state.fit is before  # the last fit stays on screen
    assert app.number_input(key="fit_n_components").value == 20  # and the pending value stays
    assert button.key == "fit_button"


def test_a_failed_fit_keeps_the_previous_one(app):
    before = app.session_state.fit
    app.toggle(key="more_settings").set_value(True).run()
    app.number_input(key="fit_reg_covar").set_value(0.0).run()
    app.button_group(key="fit_init_params").set_value("random").run()
    no_errors(app)
    # Whether this fits or not, the page shows a fit and never a traceback.
    assert app.session_state.fit is not None
    assert before.model.n_iter_ >= 1


def test_uploaded_csv_flows_to_the_animation(app):
    X, _ = make_blobs(n_samples=300, centers=[[0, 0], [10, 0], [0, 10]], random_state=5)
    csv = "a;b\n" + "\n".join(f"{x:.4f};{y:.4f}".replace(".", ",") for x, y in X)
    app.switch_page("pages/data.py").run()
    app.button_group(key="data_source").set_value("upload").run()
    app.file_uploader(key="uploader").upload("blobs.csv", csv.encode(), "text/csv").run()
    no_errors(app)
    assert app.session_state.dataset.name == "blobs.csv"
    assert list(app.session_state.preparation.columns) == ["a", "b"]
    app.switch_page("pages/fit.py").run()
    app.number_input(key="fit_n_components").set_value(3).run()
    no_errors(app)
    fit = app.session_state.fit
    assert fit.model.means_.shape == (3, 2)
    # EM saw exactly the uploaded numbers (decimal commas read, then standardised).
    np.testing.assert_allclose(fit.view.X.std(axis=0), 1.0)
    corr = np.corrcoef(fit.view.X[:, 0], X[:, 0])[0, 1]
    assert corr == pytest.approx(1.0, abs=1e-9)
    assert_animated(charts(app)[0], min(len(fit.model.history_), 100))
    # The link names the upload by its hash, so a reload finds it while the server has it.
    assert app.query_params["upload"] in (
        app.session_state.dataset.origin[1],
        [app.session_state.dataset.origin[1]],
    )


def test_bad_upload_shows_an_error_and_keeps_data_and_fit(app):
    before_fit = app.session_state.fit
    before_data = app.session_state.dataset
    app.switch_page("pages/data.py").run()
    app.button_group(key="data_source").set_value("upload").run()
    app.file_uploader(key="uploader").upload(
        "broken.csv", b"\x89PNG\r\n\x1a\n\x00\x00garbage", "text/csv"
    ).run()
    no_errors(app)
    assert app.error and "broken.csv" in app.error[0].value
    assert app.session_state.dataset is before_data
    app.switch_page("pages/fit.py").run()
    no_errors(app)
    assert app.session_state.fit is before_fit


def test_data_choices_changed_twice_are_applied(app):
    app.switch_page("pages/data.py").run()
    app.selectbox(key="sample_name").set_value("iris").run()
    no_errors(app)
    assert app.session_state.dataset.name == "iris"
    for scaling in ("minmax", "none"):
        app.button_group(key="prep_scaling").set_value(scaling).run()
        assert app.session_state.preparation.scaling == scaling
        assert app.button_group(key="prep_scaling").value == scaling
    columns = list(app.session_state.preparation.columns)
    for dropped in columns[:2]:
        app.multiselect(key="prep_columns").unselect(dropped).run()
        no_errors(app)
        assert dropped not in app.session_state.preparation.columns
    assert app.session_state.preparation.columns == tuple(columns[2:])
    app.switch_page("pages/fit.py").run()
    no_errors(app)
    assert app.session_state.fit.view.feature_names == tuple(columns[2:])


def test_a_link_opens_the_same_view():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params.update({"sample": "faithful", "k": "2", "cov": "tied", "scaling": "minmax"})
    at.run()
    no_errors(at)
    assert at.session_state.dataset.name == "faithful"
    assert at.session_state.preparation.scaling == "minmax"
    assert fitted(at).n_components == 2 and fitted(at).covariance_type == "tied"


def test_a_link_to_a_file_the_server_lost_falls_back_with_a_note():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params.update({"upload": "0" * 64, "k": "999"})
    at.run()
    no_errors(at)
    notes = " ".join(w.value for w in at.warning)
    assert "no longer on the server" in notes and "out of range" in notes
    assert at.session_state.dataset.name == "blobs"


@pytest.mark.parametrize("sample", ["iris", "wine", "penguins", "faithful"])
def test_every_sample_loads_and_fits(app, sample):
    app.switch_page("pages/data.py").run()
    app.selectbox(key="sample_name").set_value(sample).run()
    no_errors(app)
    assert app.session_state.dataset.name == sample
    app.switch_page("pages/fit.py").run()
    no_errors(app)
    assert not app.error, [e.value for e in app.error]
    assert app.session_state.fit_source[0].key == app.session_state.dataset.key


def test_half_steps_uncertainty_and_m_step_numbers(app):
    app.button_group(key="fit_show").set_value("half").run()
    no_errors(app)
    fig = charts(app)[0]
    steps = [s["label"] for s in fig["layout"]["sliders"][0]["steps"]]
    # The textbook order: E then M within each iteration.
    assert steps[0].startswith("1 · E-step") and steps[1].startswith("1 · M-step")
    assert steps[2].startswith("2 · E-step")
    app.button_group(key="fit_show").set_value("unsure").run()
    no_errors(app)
    unsure = app.dataframe[0].value
    assert len(unsure) == 10 and unsure["uncertainty"].is_monotonic_decreasing
    latex = [element.value for element in app.get("latex")]
    fit = app.session_state.fit
    n_k = fit.model.history_[1].weights[0] * fit.model.history_.n_samples
    assert any(f"{n_k:.4f}" in line for line in latex)


def test_umap_runs_in_the_background_and_the_fit_page_stays(app):
    before = app.session_state.fit
    app.switch_page("pages/data.py").run()
    app.selectbox(key="sample_name").set_value("wine").run()
    app.button_group(key="prep_method").set_value("umap").run()
    no_errors(app)
    job = app.session_state.projection_job
    app.switch_page("pages/fit.py").run()
    no_errors(app)
    # While it runs: the settings (K = 3 came with wine's three cultivars) and the last fit
    # are there, and the page says why.
    assert app.number_input(key="fit_n_components").value == 3
    assert app.session_state.fit is before
    assert any(p.proto.text.startswith("UMAP") for p in app.get("progress"))
    deadline = time.monotonic() + 240
    from pages.ui.state import _jobs

    while not _jobs()[job].done.is_set() and time.monotonic() < deadline:
        time.sleep(0.5)
    app.run()
    no_errors(app)
    assert app.session_state.fit.view.axis_titles[0].startswith("UMAP")
    assert app.session_state.fit.settings.n_components == 3


def by_label(widgets, label: str):
    return next(w for w in widgets if w.label == label)


def sweep_on(app: AppTest, sample: str | None, max_k: int) -> AppTest:
    """Open ``sample`` (None: the default one), go to Model selection, sweep K = 1..max_k."""
    if sample is not None:
        app.switch_page("pages/data.py").run()
        app.selectbox(key="sample_name").set_value(sample).run()
    app.switch_page("pages/selection.py").run()
    no_errors(app)
    assert "press **Run the sweep**" in app.info[0].value
    app.number_input(key="_sel_max_k").set_value(max_k).run()
    app.button(key="sel_run").click().run()
    no_errors(app)
    return app


def reloaded_selection(address: dict[str, str]) -> AppTest:
    """A reload: a new session opened at ``address`` (its query parameters), then Model
    selection, checked for errors."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params.update(address)
    at.run()
    at.switch_page("pages/selection.py").run()
    no_errors(at)
    return at


def values(y) -> np.ndarray:
    """A trace's numbers, whether plotly wrote them as a list (with None gaps) or as a typed
    array ({"dtype", "bdata"})."""
    if isinstance(y, dict):
        return np.frombuffer(base64.b64decode(y["bdata"]), dtype=y["dtype"]).astype(float)
    return np.array([np.nan if v is None else v for v in y], dtype=float)


def bic_lines(app: AppTest) -> np.ndarray:
    """The fourteen model lines of the BIC plot, concatenated (NaN at gaps)."""
    spec = next(
        json.loads(c.proto.spec) for c in app.get("plotly_chart") if "sel_bic" in c.proto.id
    )
    return np.concatenate([values(tr["y"]) for tr in spec["data"][:14]]), spec


def best_line(app: AppTest, criterion: str = "BIC") -> str:
    return next(m.value for m in app.markdown if m.value.startswith(f"Best by {criterion}"))


def test_model_selection_sweeps_and_hands_over_to_fit(app):
    # The page's defaults: mclust's fourteen models, its hierarchical start, tol 1e-5.
    sweep_on(app, None, 5)
    result = app.session_state.sweep_result[1]
    assert len(result.table) == 14 * 5 and set(result.table["tol"]) <= {1e-5, 1e-8}
    # The default sample has four blobs: BIC must say so.
    assert "K = 4" in best_line(app)
    best = result.best("bic")
    app.button(key="sel_hand").click().run()
    no_errors(app)
    fit = app.session_state.fit
    assert fit.settings.n_components == 4 and fit.settings.init_params == "hc"
    assert fit.settings.tol == best["tol"]
    assert app.number_input(key="fit_n_components").value == 4
    assert any("From Model selection" in i.value for i in app.info)


def test_model_selection_on_old_faithful_is_mclusts_eee_3_in_either_sign(app):
    sweep_on(app, "faithful", 4)
    assert best_line(app).startswith("Best by BIC: **EEE, K = 3** (EEE: ellipsoidal, equal volume")
    ours = {m.value.split(";")[1] for m in app.markdown if m.value.startswith("Best by")}
    y_ours, _ = bic_lines(app)
    app.toggle(key="_sel_mclust_sign").set_value(True).run()
    no_errors(app)
    assert "mclust's sign, higher is better" in best_line(app)
    value = float(best_line(app).split(";")[1].split()[1].replace(",", ""))
    assert value == pytest.approx(-app.session_state.sweep_result[1].best("bic")["bic"], abs=0.01)
    assert value < 0
    assert ours.isdisjoint(m.value.split(";")[1] for m in app.markdown if "Best by" in m.value)
    y_mclust, spec = bic_lines(app)
    assert np.isfinite(y_ours).sum() >= 40 and np.allclose(y_mclust, -y_ours, equal_nan=True)
    assert "mclust" in spec["layout"]["yaxis"]["title"]["text"]
    table = app.dataframe[0].value
    assert "BIC (mclust)" in table.columns and (table["BIC (mclust)"].dropna() < 0).all()
    # The best model's classification and uncertainty, with its ellipses (a linear view).
    unsure = figure(app, "sel_unsure")
    assert sum(tr.get("mode") == "lines" for tr in unsure["data"]) >= 3
    assert any(s.value == "The best model by BIC: EEE, K = 3" for s in app.subheader)
    assert any(m.value.startswith("**EEE**: ellipsoidal, equal volume") for m in app.markdown)


def test_model_selection_on_penguins_is_sound_and_not_at_the_edge(app):
    sweep_on(app, "penguins", 5)
    result = app.session_state.sweep_result[1]
    best = result.best("bic")
    assert not best["degenerate"] and 1 < best["n_components"] < 5
    table = app.dataframe[0].value
    assert {"Status", "Degenerate", "Why degenerate", "BIC"} <= set(table.columns)
    assert (table["Status"] != "sound").sum() == result.table["degenerate"].sum()
    # Degenerate cells are listed, never chosen.
    assert "K = " in best_line(app)


def test_a_handed_over_degenerate_cell_says_so(app):
    sweep_on(app, None, 5)
    result = app.session_state.sweep_result[1]
    cells = result.table
    app.session_state.sweep_result[1].table.loc[cells.index[-1], "degenerate"] = True
    app.session_state.sweep_result[1].table.loc[cells.index[-1], "degeneracy"] = "forced"
    last = (cells.iloc[-1]["covariance_type"], int(cells.iloc[-1]["n_components"]))
    app.selectbox(key="_sel_cell").set_value(last).run()
    assert any("is degenerate in the sweep (forced)" in w.value for w in app.warning)
    app.button(key="sel_hand").click().run()
    no_errors(app)
    assert app.session_state.fit.settings.covariance_type == "full"  # VVV by its sklearn name
    assert any("degenerate in the sweep" in w.value for w in app.warning)


def test_penguins_with_defaults_fits_the_three_species(app):
    from sklearn.metrics import adjusted_rand_score

    app.switch_page("pages/data.py").run()
    app.selectbox(key="sample_name").set_value("penguins").run()
    assert "year" not in app.session_state.preparation.columns
    app.switch_page("pages/fit.py").run()
    no_errors(app)
    fit = app.session_state.fit
    assert fit.settings.n_components == 3 and not fit.degeneracy
    assert fit.convergence == "yes"
    ari = adjusted_rand_score(fit.view.true_labels, fit.labels)
    assert ari >= 0.9, ari


def test_tied_with_the_default_start_finds_the_four_blobs(app):
    from sklearn.metrics import adjusted_rand_score

    app.button_group(key="fit_covariance_type").set_value("tied").run()
    no_errors(app)
    fit = app.session_state.fit
    assert fit.settings.covariance_type == "tied" and fit.settings.init_params == "wide"
    assert adjusted_rand_score(fit.view.true_labels, fit.labels) >= 0.95
    assert not fit.degeneracy


def test_a_forced_collapse_is_flagged_not_just_converged(app):
    app.button_group(key="fit_init_params").set_value("k-means++").run()
    app.button_group(key="fit_covariance_type").set_value("tied").run()
    no_errors(app)
    fit = app.session_state.fit
    assert fit.degeneracy, "scikit-learn's one-point start with tied collapses on the blobs"
    metric = next(m for m in app.metric if m.label == "converged")
    # "yes" with "but degenerate" right under it, in red (the qualifier once hid behind "…")
    assert metric.value in ("yes", "no") and "degenerate" in metric.delta
    assert any("coincide" in w.value or "one Gaussian" in w.value for w in app.warning)


def test_the_fit_page_fits_mclusts_models_and_says_their_constraint(app):
    control = app.button_group(key="fit_covariance_type")
    assert {"full", "tied", "diag", "spherical", "VEV", "EII"} <= set(control.options)
    assert not {"VVV", "EEE", "VVI", "VII"} & set(control.options)  # the four, once
    assert "hc" in app.button_group(key="fit_init_params").options
    control.set_value("VEV").run()
    app.button_group(key="fit_init_params").set_value("hc").run()
    no_errors(app)
    fit = app.session_state.fit
    assert fit.settings.covariance_type == "VEV" and fit.model.covariances_.shape == (4, 2, 2)
    assert fit.settings.init_params == "hc"
    assert any("VEV: ellipsoidal, variable volume" in c.value for c in app.caption)
    latex = [x.value for x in app.get("latex")]
    assert any("mclust's M-step for VEV" in line for line in latex)
    assert any(r"\lambda_0 D_0 A D_0^\top" in line for line in latex)


def params_of(at: AppTest) -> dict[str, str]:
    return {k: (v[0] if isinstance(v, list) else v) for k, v in at.query_params.items()}


def test_the_prior_on_the_fit_page_chosen_changed_back_and_linked(app):
    first = app.session_state.fit
    app.toggle(key="more_settings").set_value(True).run()
    assert app.button_group(key="fit_prior").value == "reg_covar"
    assert not app.number_input(key="fit_reg_covar").proto.disabled
    for _ in range(2):  # chosen twice, each time back to reg_covar
        app.button_group(key="fit_prior").set_value("default").run()
        no_errors(app)
        fit = app.session_state.fit
        assert fit.settings.prior == "default" and fit.model.prior_ is not None
        assert fit.model.reg_covar == 0.0  # the prior replaces it
        assert app.number_input(key="fit_reg_covar").proto.disabled
        assert any("replaces reg_covar, which is not used" in c.value for c in app.caption)
        assert any("mclust's conjugate prior (no reg_covar)" in c.value for c in app.caption)
        assert params_of(app)["prior"] == "default"
        app.button_group(key="fit_prior").set_value("reg_covar").run()
        no_errors(app)
        assert app.session_state.fit is first  # the earlier fit again, from the cache
        assert "prior" not in params_of(app)
    app.button_group(key="fit_prior").set_value("default").run()
    # Kept across pages: the setting and its control.
    app.switch_page("pages/data.py").run()
    app.switch_page("pages/fit.py").run()
    no_errors(app)
    assert app.session_state.settings.prior == "default"
    assert app.button_group(key="fit_prior").value == "default"
    # Folded away, the line says so.
    app.toggle(key="more_settings").set_value(False).run()
    assert any("mclust's conjugate prior (no reg_covar) · restarts" in c.value for c in app.caption)
    # The link opens the same: a new session from the address.
    again = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    again.query_params.update(params_of(app))
    again.run()
    no_errors(again)
    assert again.session_state.fit.settings.prior == "default"
    assert again.session_state.fit.model.prior_ is not None


def test_the_prior_is_refused_in_words_for_the_four_models_without_one(app):
    app.toggle(key="more_settings").set_value(True).run()
    app.button_group(key="fit_prior").set_value("default").run()
    with_prior = app.session_state.fit
    app.button_group(key="fit_covariance_type").set_value("EVE").run()
    no_errors(app)
    message = " ".join(e.value for e in app.error)
    assert "mclust has no conjugate prior for EVE" in message
    assert "(nor for VEE, VVE and EVV): choose reg_covar under Regularisation (in More)" in message
    assert app.session_state.fit is with_prior  # the last fit stays
    assert app.button_group(key="fit_covariance_type").value == "EVE"  # the choice stays
    app.button_group(key="fit_prior").set_value("reg_covar").run()
    no_errors(app)
    assert not app.error
    fit = app.session_state.fit
    assert fit.settings.covariance_type == "EVE" and fit.model.prior_ is None


def test_model_selection_with_the_prior_on_old_faithful(app):
    app.switch_page("pages/data.py").run()
    app.selectbox(key="sample_name").set_value("faithful").run()
    app.switch_page("pages/selection.py").run()
    app.button_group(key="_sel_prior").set_value("default").run()
    no_errors(app)
    note = next(c.value for c in app.caption if "conjugate prior" in c.value)
    assert "no prior for VEE, EVE, VVE and EVV, so the sweep leaves them out" in note
    app.number_input(key="_sel_max_k").set_value(4).run()
    app.button(key="sel_run").click().run()
    no_errors(app)
    result = app.session_state.sweep_result[1]
    models = set(result.table["covariance_type"])
    assert len(models) == 10 and not models & {"EVE", "VEE", "VVE", "EVV"}
    assert best_line(app).startswith("Best by BIC: **EEE, K = 3**")
    assert result.models[("EEE", 3)].prior_ is not None
    # A reload (a new session from the address) finds the sweep with its prior chosen.
    # (AppTest's query parameters hold what the Fit page writes, so the sample is named here.)
    again = reloaded_selection({"sample": "faithful", "sweep": params_of(app)["sweep"]})
    assert again.button_group(key="_sel_prior").value == "default"
    assert again.session_state.sweep_result[1] is result
    # Handed over with the prior; away and back, the choice stays.
    app.button(key="sel_hand").click().run()
    no_errors(app)
    fit = app.session_state.fit
    assert fit.settings.prior == "default" and fit.settings.covariance_type == "tied"
    assert fit.model.prior_ is not None
    handed = f"tolerance ({fit.settings.tol:g}) and mclust's conjugate prior."
    assert any(handed in i.value for i in app.info)
    app.switch_page("pages/selection.py").run()
    assert app.button_group(key="_sel_prior").value == "default"


def test_a_new_sweep_hands_over_its_own_best(app):
    # Found in the browser: a cell chosen after one sweep stayed chosen after a sweep of
    # other data, so "Fit this model" fitted it, not the best the page had just named.
    sweep_on(app, "faithful", 4)
    app.selectbox(key="_sel_cell").set_value(("VVV", 4)).run()
    assert app.selectbox(key="_sel_cell").value == ("VVV", 4)
    app.switch_page("pages/data.py").run()
    app.selectbox(key="sample_name").set_value("iris").run()
    app.switch_page("pages/selection.py").run()
    app.button(key="sel_run").click().run()
    no_errors(app)
    best = app.session_state.sweep_result[1].best("bic")
    best_cell = (best["covariance_type"], int(best["n_components"]))
    assert best_cell != ("VVV", 4)
    assert app.selectbox(key="_sel_cell").value == best_cell
    app.button(key="sel_hand").click().run()
    no_errors(app)
    settings = app.session_state.fit.settings
    assert settings.n_components == best_cell[1]


def test_a_reload_keeps_the_chosen_cell(app):
    # Found in a walk-through: the sweep came back after a reload, the chosen cell did not.
    sweep_on(app, "faithful", 4)
    app.selectbox(key="_sel_cell").set_value(("VEV", 2)).run()
    params = params_of(app)
    assert params["cell"] == "VEV-2"
    address = {"sample": "faithful", "sweep": params["sweep"]}
    again = reloaded_selection(address | {"cell": "VEV-2"})
    assert again.selectbox(key="_sel_cell").value == ("VEV", 2)
    # an address naming a cell the sweep does not have falls back to the best
    other = reloaded_selection(address | {"cell": "VVV-9"})
    assert other.selectbox(key="_sel_cell").value == ("EEE", 3)


def test_model_selection_says_which_rows_it_fits(app):
    # BIC's n is the rows EM fits: penguins has two rows without measurements
    app.switch_page("pages/data.py").run()
    app.selectbox(key="sample_name").set_value("penguins").run()
    app.switch_page("pages/selection.py").run()
    no_errors(app)
    line = next(c.value for c in app.caption if c.value.startswith("EM fits"))
    assert "on 342 of 344 rows (2 rows with a missing value dropped)" in line
