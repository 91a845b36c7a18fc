"""The dashboard services and animation frames: from prepared data to figures and downloads."""

import io
import itertools
import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_blobs

from gmm_core import selection
from gmm_core.dashboard import fitting
from gmm_core.dashboard.animation import (
    MAX_FRAMES,
    DisplayMap,
    stratified_sample,
    thin_indices,
)
from gmm_core.dashboard.comparing import compare_runs, repeated_rows, sklearn_gap
from gmm_core.dashboard.data import prepare
from gmm_core.dashboard.downloads import fit_json, labelled_rows_csv, report_html
from gmm_core.dashboard.fit_views import (
    MAX_MATRIX_FEATURES,
    covariance_tables,
    half_step_animation,
    m_step_equations,
    parameter_table,
)
from gmm_core.dashboard.fitting import FitSettings, fit_view, merge_markers, run_fit, timing_text
from gmm_core.dashboard.projection import project
from gmm_core.dashboard.samples import load_sample
from gmm_core.params import COVARIANCE_TYPES


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    X, y = make_blobs(n_samples=500, centers=3, n_features=4, random_state=0)
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    df["kind"] = np.array(["x", "y", "z"])[y]
    return df


def test_thinning_keeps_first_and_last():
    assert thin_indices(50).tolist() == list(range(50))
    idx = thin_indices(1001)
    assert len(idx) <= MAX_FRAMES and idx[0] == 0 and idx[-1] == 1000
    assert np.all(np.diff(idx) > 0)


def test_stratified_sample_keeps_small_clusters():
    labels = np.r_[np.zeros(100_000, int), np.ones(30, int)]
    idx = stratified_sample(labels, max_points=3000)
    assert 3000 <= len(idx) <= 3010
    assert np.sum(labels[idx] == 1) >= 10
    assert stratified_sample(np.zeros(50, int)).tolist() == list(range(50))


def test_pca_view_projects_gaussians_exactly(table):
    prepared = prepare(table, ["a", "b", "c", "d"], label_column="kind")
    projection = project(prepared.X, "pca")
    view = fit_view(prepared, projection, fit_on="features")
    assert view.X.shape == (500, 4) and view.display.kind == "linear"
    result = run_fit(view, FitSettings(n_components=3, init_params="kmeans"))
    params = result.model.history_[-1].params
    means2, covs2 = view.display.gaussians(params)
    np.testing.assert_allclose(means2, projection.project_means(params.means), atol=1e-12)
    np.testing.assert_allclose(
        covs2, projection.project_covariances(params.covariances), atol=1e-12
    )
    frame = result.animation.frames[-1]
    # Points, the ellipses of every component, means: at least 1 + 2 * 3 + 1 traces, all updated.
    assert len(frame.data) == len(result.animation.data) >= 1 + 2 * 3 + 1


def test_projection_fit_and_umap_display(table):
    prepared = prepare(table, ["a", "b", "c", "d"])
    pca = project(prepared.X, "pca")
    on_plane = fit_view(prepared, pca, fit_on="projection")
    assert on_plane.X.shape == (500, 2) and on_plane.display.kind == "identity"
    assert on_plane.feature_names == pca.axis_titles
    umap_like = DisplayMap("none")
    assert umap_like.gaussians(None) == (None, None) and not umap_like.draws_ellipses


def test_downloads(table):
    prepared = prepare(table, ["a", "b"], label_column="kind")
    view = fit_view(prepared, project(prepared.X, "none"), fit_on="features")
    result = run_fit(view, FitSettings(n_components=3, init_params="kmeans"))
    out = pd.read_csv(io.BytesIO(labelled_rows_csv(table, view, result.model)))
    assert len(out) == 500 and {"component", "responsibility_0", "kind"} <= set(out.columns)
    np.testing.assert_allclose(out.filter(like="responsibility_").sum(axis=1), 1.0, atol=1e-9)
    payload = json.loads(fit_json(result, view.feature_names))
    assert payload["settings"]["n_components"] == 3
    assert len(payload["history"]["runs"][0]) == result.model.n_iter_ + 1
    params = parameter_table(result.model, view.feature_names)
    assert list(params.columns[:4]) == ["component", "weight", "mean a", "mean b"]


def test_bad_settings_are_refused_in_words(table):
    prepared = prepare(table, ["a", "b"])
    view = fit_view(prepared, project(prepared.X, "none"), fit_on="features")
    for bad, phrase in [
        (FitSettings(n_components=0), "K must be between"),
        (FitSettings(n_components=21), "K must be between"),
        (FitSettings(max_iter=0), "Iterations must be between"),
        (FitSettings(reg_covar=-1.0), "reg_covar must be a finite number >= 0"),
        (FitSettings(tol=-1.0), "tol must be a finite number >= 0"),
    ]:
        with pytest.raises(ValueError, match=phrase):
            run_fit(view, bad)


def test_compare_runs_both_modes(table):
    prepared = prepare(table, ["a", "b", "c", "d"], label_column="kind")
    view = fit_view(prepared, project(prepared.X, "pca"), fit_on="features")
    result = run_fit(view, FitSettings(n_components=3))
    same = compare_runs(result, mode="same start")
    assert same.ari == 1.0 and same.drift is not None
    assert "machine precision" in same.sentences[0]
    assert sorted(same.components["sklearn_component"]) == [0, 1, 2]
    assert "ARI vs label column" in same.summary.index
    independent = compare_runs(result, mode="independent", seed=7, cost="bhattacharyya")
    assert independent.drift is None and independent.sentences


@pytest.mark.slow
def test_figure_for_100k_rows_and_100_iterations_is_at_most_5_mb():
    centres = [[4 * (k % 4), 5 * (k // 4)] for k in range(8)]
    X, _ = make_blobs(n_samples=100_000, centers=centres, random_state=0)
    prepared = prepare(pd.DataFrame(X, columns=["x", "y"]), ["x", "y"])
    view = fit_view(prepared, project(prepared.X, "none"), fit_on="features")
    # run_fit turns EM's "did not converge" warning (tol=0) into a message for the page.
    result = run_fit(view, FitSettings(n_components=8, max_iter=100, tol=0.0))
    assert any("tolerance" in m for m in result.messages)
    assert result.model.n_iter_ == 100
    assert len(result.animation.frames) == 100  # 101 snapshots thinned to 100, ends kept
    size = len(result.animation.to_json())
    assert size <= 5 * 1024**2, f"animation figure is {size / 1024**2:.2f} MB"


def fitted(table, columns, covariance_type="full", k=3, **settings):
    prepared = prepare(table, columns)
    view = fit_view(prepared, project(prepared.X, "pca"), fit_on="features")
    settings = FitSettings(
        n_components=k, covariance_type=covariance_type, init_params="kmeans", **settings
    )
    return run_fit(view, settings)


# --- readable parameters ---------------------------------------------------------------------


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_parameters_are_numbers_in_the_shape_of_the_covariance_type(table, covariance_type):
    result = fitted(table, ["a", "b", "c"], covariance_type)
    model, names = result.model, ["a", "b", "c"]
    params = parameter_table(model, names)
    # Numbers, not NumPy's truncated strings.
    assert all(pd.api.types.is_numeric_dtype(t) for t in params.dtypes)
    np.testing.assert_allclose(params["weight"], model.weights_, rtol=5e-4)
    np.testing.assert_allclose(params[["mean a", "mean b", "mean c"]], model.means_, rtol=5e-4)
    assert all(len(f"{w:.10g}".lstrip("0.").replace(".", "")) <= 4 for w in params["weight"])
    tables = covariance_tables(model, names)
    cov = model.covariances_
    if covariance_type == "full":
        assert len(tables) == 3
        for k, (title, frame) in enumerate(tables):
            assert title.startswith(f"component {k}")
            assert list(frame.index) == list(frame.columns) == names
            np.testing.assert_allclose(frame.to_numpy(), cov[k], rtol=5e-4, atol=1e-12)
        variances = params[["variance a", "variance b", "variance c"]].to_numpy()
        np.testing.assert_allclose(variances, np.diagonal(cov, axis1=1, axis2=2), rtol=5e-4)
    elif covariance_type == "tied":
        [(title, frame)] = tables
        assert "shared by all 3 components" in title and frame.shape == (3, 3)
        np.testing.assert_allclose(frame.to_numpy(), cov, rtol=5e-4, atol=1e-12)
        assert not [c for c in params.columns if c.startswith("variance")]
    elif covariance_type == "diag":
        [(title, frame)] = tables
        assert "variances per column" in title
        assert list(frame.columns) == names and frame.shape == (3, 3)
        np.testing.assert_allclose(frame.to_numpy(), cov, rtol=5e-4)
        np.testing.assert_allclose(params[["variance a", "variance b", "variance c"]], cov, 5e-4)
    else:
        [(title, frame)] = tables
        assert "one variance per component" in title and list(frame.columns) == ["variance"]
        np.testing.assert_allclose(frame["variance"], cov, rtol=5e-4)
        np.testing.assert_allclose(params["variance (every column)"], cov, rtol=5e-4)


def tex(value: float) -> str:
    return f"{value:.4g}"


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_m_step_panel_shows_the_formula_and_numbers_of_the_chosen_type(table, covariance_type):
    result = fitted(table, ["a", "b", "c"], covariance_type)
    j, k = 2, 1
    lines = m_step_equations(result, k, j)
    text = "\n".join(lines)
    cov = result.model.history_[j].params.covariances
    assert lines[-1].endswith("10^{-6}")  # reg_covar, the epsilon of the formulas
    if covariance_type == "full":
        assert r"\Sigma_1^{(2)} = \frac{1}{N_1}" in text and r"\varepsilon I" in text
        assert r"\begin{bmatrix}" in text
        for value in cov[k].ravel():
            assert tex(value) in text
    elif covariance_type == "tied":
        assert r"\Sigma^{(2)} = \frac{1}{n} \sum_{l=1}^{K}" in text and r"\Sigma_1" not in text
        for value in cov.ravel():
            assert tex(value) in text
    elif covariance_type == "diag":
        assert r"(x_{im} - \mu_{1m}^{(2)})^2 + \varepsilon" in text and "bmatrix" not in text
        assert r"\operatorname{diag}(" + ", ".join(tex(v) for v in cov[k]) + ")" in text
    else:
        assert r"\lVert x_i - \mu_1^{(2)} \rVert^2 + \varepsilon" in text
        assert f"= {tex(cov[k])}" in text and r"\sigma_1^{2\,(2)} I" in text


def test_m_step_panel_shows_only_the_diagonal_of_a_wide_matrix():
    d = MAX_MATRIX_FEATURES + 1
    X, _ = make_blobs(n_samples=300, centers=2, n_features=d, random_state=1)
    names = [f"f{i}" for i in range(d)]
    result = fitted(pd.DataFrame(X, columns=names), names, k=2)
    text = "\n".join(m_step_equations(result, 0, 1))
    assert "bmatrix" not in text and r"\operatorname{diag}(\Sigma_0^{(1)})" in text


# --- time per iteration, the first pass apart ------------------------------------------------


def test_first_pass_is_timed_apart_and_the_progress_callback_is_not_timed(table, monkeypatch):
    # A clock that only moves when told: a "compile" of 4 s in the first E-step pass, 20 ms
    # per later pass, and a progress callback that takes 100 s (a slow browser).
    now = [0.0]
    passes = []
    # The E-step pass of the engine a small fit runs on (engine="auto" picks numpy here).
    from gmm_core.engines import numpy as numpy_engine

    accumulate = numpy_engine.accumulate

    def timed_pass(*args, **kwargs):
        passes.append(1)
        now[0] += 4.0 if len(passes) == 1 else 0.02
        return accumulate(*args, **kwargs)

    def slow_progress(run, n_runs, snapshot):
        now[0] += 100.0

    monkeypatch.setattr(fitting, "perf_counter", lambda: now[0])
    monkeypatch.setattr(numpy_engine, "accumulate", timed_pass)
    prepared = prepare(table, ["a", "b"])
    view = fit_view(prepared, project(prepared.X, "none"), fit_on="features")
    result = run_fit(view, FitSettings(n_components=3), progress=slow_progress)
    n_iter = result.model.n_iter_
    assert n_iter >= 2 and len(passes) == n_iter + 1
    assert result.first_pass_seconds == pytest.approx(4.0)
    assert result.iteration_seconds == pytest.approx([0.02] * n_iter)
    assert result.seconds_per_later_iteration == pytest.approx(0.02)
    # The old figure, kept for the pages that use it, mixes everything.
    assert result.seconds_per_iteration > 100
    assert result.engine == "numpy" and not result.compiled
    assert result.timing == "20.0 ms per iteration (the start and first pass took 4.00 s)"


def test_timing_text():
    assert timing_text(0.0231, 4.165, compiled=True) == (
        "23.1 ms per iteration (the first took 4.17 s: compiling the fast engine, once per "
        "server process)"
    )
    assert timing_text(0.0231, 0.03, compiled=True) == "23.1 ms per iteration"
    assert timing_text(None, 0.01) == "no EM iteration (start: 10.0 ms)"


# --- "converged" is never the only word for a degenerate fit ---------------------------------


def degenerate_view():
    # 60 copies of one point: a component sits on them with a variance of reg_covar.
    X, _ = make_blobs(n_samples=200, centers=2, random_state=0)
    X = np.vstack([X, np.tile([[5.0, 5.0]], (60, 1))])
    prepared = prepare(pd.DataFrame(X, columns=["x", "y"]), ["x", "y"], scaling="none")
    return fit_view(prepared, project(prepared.X, "none"), fit_on="features")


def test_a_degenerate_fit_is_not_just_converged():
    result = run_fit(degenerate_view(), FitSettings(n_components=3, init_params="kmeans"))
    assert result.model.converged_ and result.degeneracy
    assert result.convergence == "yes, but degenerate"
    assert result.messages[0].startswith("Converged, but degenerate")
    assert selection.COVARIANCE_FLOOR in result.messages[0]


def test_any_kind_of_degeneracy_is_named(table, monkeypatch):
    # Whatever kinds selection reports (a "collapsed" fit, say), the message names them.
    def collapsed(history, reg_covar):
        return [selection.DegeneracyEvent(3, selection.ALL_COMPONENTS, "collapsed", "...")]

    monkeypatch.setattr(selection, "degeneracy_events", collapsed)
    monkeypatch.setattr(selection, "degeneracy_advice", lambda events: "collapsed, see ...")
    result = fitted(table, ["a", "b"], "tied", max_iter=2, tol=1.0)
    assert result.convergence in ("yes, but degenerate", "no, and degenerate")
    assert "degenerate" in result.messages[0] and "(collapsed)" in result.messages[0]
    labels = [a.text for a in result.log_likelihood.layout.annotations]
    assert "tied: collapsed" in ", ".join(labels)


# --- stop markers do not pile up -------------------------------------------------------------


def test_markers_at_the_same_or_nearly_the_same_iteration_share_one_label():
    markers = [("stop: mclust", 480), ("stop: scikit-learn", 480), ("stop: total", 484)]
    assert merge_markers(markers, 501) == {
        "stop: mclust (480), stop: scikit-learn (480), stop: total (484)": 480
    }
    assert merge_markers(markers[:2], 501) == {"stop: mclust, stop: scikit-learn": 480}
    # On a short run only equal iterations merge.
    assert merge_markers([("a", 3), ("b", 3), ("c", 4)], 20) == {"a, b": 3, "c": 4}


def test_a_500_iteration_fit_draws_separate_stop_lines():
    result = run_fit(degenerate_view(), FitSettings(n_components=3, max_iter=500, tol=0.0))
    assert result.model.n_iter_ == 500
    layout = result.log_likelihood.layout
    lines = sorted(shape.x0 for shape in layout.shapes if shape.type == "line")
    assert len(lines) >= 2
    assert all(b - a > 0.02 * 501 for a, b in itertools.pairwise(lines))
    # One label per line.
    labels = [a.x for a in layout.annotations if not a.showarrow and a.x in lines]
    assert sorted(labels) == lines


# --- downloads keep every row ----------------------------------------------------------------


def penguins_fit(missing="drop", fit_on="features"):
    df, _ = load_sample("penguins")
    columns = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
    prepared = prepare(df, columns, label_column="species", missing=missing)
    view = fit_view(prepared, project(prepared.X, "pca"), fit_on=fit_on)
    return df, run_fit(view, FitSettings(n_components=3, init_params="kmeans"))


def read_csv(data: bytes) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(data), keep_default_na=False, na_values=[""])


@pytest.mark.parametrize("fit_on", ["features", "projection"])
def test_labelled_rows_keep_every_row_with_its_id_and_why_it_was_dropped(fit_on):
    df, result = penguins_fit(fit_on=fit_on)
    out = read_csv(labelled_rows_csv(df, result.view, result.model))
    assert len(out) == len(df) == 344 and out["row_id"].tolist() == list(range(344))
    assert out.columns[0] == "row_id" and out.columns[-1] == "status"
    dropped = df["bill_length_mm"].isna().to_numpy()
    assert dropped.sum() == 2
    assert out["component"][dropped].isna().all()
    assert out.filter(like="responsibility_")[dropped].isna().all().all()
    assert set(out["status"][dropped]) == {
        "dropped: missing value in bill_length_mm, bill_depth_mm, flipper_length_mm, body_mass_g"
    }
    assert set(out["status"][~dropped]) == {"fitted"}
    np.testing.assert_allclose(out.filter(like="responsibility_")[~dropped].sum(axis=1), 1.0)
    # Joined by position, the labels line up with the loaded table.
    assert (out["species"] == df["species"]).all()
    np.testing.assert_array_equal(out["component"][~dropped], result.labels)


def test_labelled_rows_say_which_values_were_imputed_and_keep_the_table_s_own_columns():
    df, result = penguins_fit(missing="mean")
    df = df.assign(component="the table's own")
    out = read_csv(labelled_rows_csv(df, result.view, result.model))
    assert len(out) == 344 and out["component"].eq("the table's own").all()
    assert out["component_2"].notna().all()
    imputed = out["status"][df["bill_length_mm"].isna().to_numpy()]
    assert imputed.str.startswith("fitted (imputed: bill_length_mm").all()


def test_report_html_has_a_title_the_settings_and_three_figures_with_plotly_once():
    _, result = penguins_fit()
    page = report_html(result, "penguins <2007-2009>")
    assert "<title>EM fit of penguins &lt;2007-2009&gt;: K = 3, full covariance, kmeans" in page
    assert "<h1>EM fit of penguins &lt;2007-2009&gt;</h1>" in page
    assert page.count("* plotly.js v") == 1  # inlined once: the file works offline
    assert page.count("Plotly.newPlot") == 3
    for heading in ("EM iterations", "Log-likelihood", "Mixing proportions"):
        assert f"<h2>{heading}</h2>" in page
    assert '"frames"' in page or "addFrames" in page  # the animation, not only its last state
    assert "mean bill_length_mm" in page  # the parameters
    assert json.loads(fit_json(result, result.view.feature_names, "penguins"))["data"] == (
        "penguins"
    )


def test_preview_legend_names_the_known_classes_not_components():
    from gmm_core.dashboard.data import prepare
    from gmm_core.dashboard.fit_views import preview_figure
    from gmm_core.dashboard.projection import project
    from gmm_core.dashboard.samples import load_sample

    table, _ = load_sample("penguins")
    columns = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
    prepared = prepare(table, columns, label_column="species")
    fig = preview_figure(prepared, project(prepared.X, "pca"))
    names = {t.name for t in fig.data if t.mode == "markers"}
    assert names == {"Adelie", "Chinstrap", "Gentoo"}


def test_stop_messages_read_right_and_the_report_prints_only_real_digits():
    from gmm_core.dashboard.data import prepare
    from gmm_core.dashboard.downloads import report_html
    from gmm_core.dashboard.fitting import FitSettings, fit_view, run_fit
    from gmm_core.dashboard.projection import project

    rng = np.random.default_rng(1)
    prepared = prepare(pd.DataFrame(rng.normal(size=(200, 2)), columns=["x", "y"]), ["x", "y"])
    view = fit_view(prepared, project(prepared.X, "none"), fit_on="features")
    one = run_fit(view, FitSettings(n_components=2, max_iter=1, tol=0.0))
    text = " ".join(one.messages)
    assert "after 1 iteration," in text and "1 iterations" not in text
    assert "before the log-likelihood changed by less than the tolerance (0)" not in text
    loose = run_fit(view, FitSettings(n_components=2, max_iter=2, tol=1e-12))
    assert any("raise the iterations" in m for m in loose.messages)
    page = report_html(loose, "noise")
    mean = float(loose.model.means_[0, 0])
    assert f"{mean:.4g}" in page
    padded = f"{float(f'{mean:.4g}'):.4f}"
    assert padded == f"{mean:.4g}" or padded not in page


def test_the_apps_fits_keep_a_bounded_history(table):
    """What a visitor's fit holds stays within the README's bound (issue 13: 1 GiB before)."""
    prepared = prepare(table, ["a", "b", "c"])
    view = fit_view(prepared, project(prepared.X, "pca"), fit_on="features")
    s = FitSettings(n_components=6, max_iter=60, tol=0.0, n_init=5)
    result = run_fit(view, s)
    history = result.model.history_
    assert result.model.keep_history == "best"
    assert len(history.runs) == 5 and len(history.runs[history.best_run]) == 61
    k, d, it = s.n_components, 3, s.max_iter
    c = k * d * d
    bound = 8 * ((it + 1) * (k + k * d + c) + s.n_init * (2 * (k + k * d + 2 * c) + it + 1))
    assert history.nbytes <= 1.25 * bound, (history.nbytes, bound)
    from gmm_core import GaussianMixtureEM

    whole = GaussianMixtureEM(**{**s.__dict__, "keep_history": "all"})
    whole.fit(view.X, warn_convergence=False)
    assert whole.history_.nbytes > 3 * history.nbytes


# --- weights: an aggregated table -------------------------------------------------------------


def geyser_views(weights: bool = True):
    """The geyser_counts sample prepared with its counts, and the same rows repeated."""
    counts, _ = load_sample("geyser_counts")
    repeated = counts.loc[counts.index.repeat(counts["count"])].drop(columns="count")
    views = []
    for table, weight in ((counts, "count" if weights else None), (repeated, None)):
        prepared = prepare(table, ["eruptions", "waiting"], weight_column=weight)
        views.append(fit_view(prepared, project(prepared.X, "none"), fit_on="features"))
    return counts, views[0], views[1]


def test_a_fit_on_counts_is_the_fit_on_the_rows_repeated():
    """From one explicit start (no random draw sees the rows) the two fits are the same EM."""
    from gmm_core import GaussianMixtureEM

    _, weighted, repeated = geyser_views()
    assert weighted.n_observations == len(repeated.X) == 272 and len(weighted.X) == 110
    # The prepared rows are the same observations: weighted scaling is the repeated rows'.
    np.testing.assert_allclose(
        np.repeat(weighted.X, weighted.sample_weight.astype(int), axis=0), repeated.X, atol=1e-12
    )
    start = {
        "weights_init": [0.4, 0.6],
        "means_init": [[-1.2, -1.2], [0.8, 0.8]],
        "precisions_init": np.stack([np.eye(2)] * 2),
    }
    fits = [
        GaussianMixtureEM(2, tol=0, max_iter=60, engine="numpy", **start).fit(
            X, sample_weight=w, warn_convergence=False
        )
        for X, w in ((weighted.X, weighted.sample_weight), (repeated.X, None))
    ]
    a, b = fits
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=1e-10)
    bic = a.bic(weighted.X, sample_weight=weighted.sample_weight)
    assert bic == pytest.approx(b.bic(repeated.X), rel=1e-10)
    # Unweighted, the 110 rows are another data set: BIC counts 110 rows, not 272.
    assert a.bic(weighted.X) != pytest.approx(b.bic(repeated.X), rel=1e-3)


def test_the_dashboard_fit_counts_observations_and_draws_weights():
    counts, weighted, _ = geyser_views()
    result = run_fit(weighted, FitSettings(n_components=2, init_params="kmeans"))
    assert result.model.history_.weight_sum == 272.0
    assert any("the 110 rows stand for 272 observations" in note for note in weighted.notes)
    points = result.animation.data[0]
    np.testing.assert_array_equal(points.text, [f"{w:.4g}" for w in counts["count"]])
    assert "weight %{text}" in points.hovertemplate
    sizes = np.asarray(points.marker.size)
    # Area in proportion to the count: 4 eruptions get twice the diameter of 1.
    one, four = sizes[counts["count"] == 1][0], sizes[counts["count"] == 4][0]
    assert four == pytest.approx(2 * one, rel=0.01)
    _, unweighted, _ = geyser_views(weights=False)
    plain = run_fit(unweighted, FitSettings(n_components=2, init_params="kmeans"))
    assert np.ndim(plain.animation.data[0].marker.size) == 0  # one size for every point


def test_a_stratified_sample_keeps_each_drawn_point_with_its_own_weight():
    rng = np.random.default_rng(0)
    X, _ = make_blobs(n_samples=5000, centers=3, n_features=2, random_state=1)
    # A weight that names its row, so a misaligned sample shows.
    table = pd.DataFrame(X, columns=["x", "y"]).assign(n=1 + np.arange(5000) / 1e4)
    table = table.sample(frac=1.0, random_state=0).reset_index(drop=True)
    table.loc[rng.choice(5000, 50, replace=False), "x"] = np.nan  # dropped rows shift positions
    prepared = prepare(table, ["x", "y"], weight_column="n", scaling="none")
    view = fit_view(prepared, project(prepared.X, "none"), fit_on="features")
    result = run_fit(view, FitSettings(n_components=3, init_params="kmeans", max_iter=5))
    drawn = result.drawn
    assert len(drawn) < len(view.X)  # the sample is a sample
    points = result.animation.data[0]
    expected = table["n"].to_numpy()[view.row_index[drawn]]
    np.testing.assert_array_equal(points.text, [f"{w:.4g}" for w in expected])
    np.testing.assert_allclose(points.x, table["x"].to_numpy()[view.row_index[drawn]])


def test_downloads_keep_the_weight_and_say_why_a_row_is_out():
    counts, _ = load_sample("geyser_counts")
    counts.loc[3, "count"] = np.nan
    counts.loc[5, "count"] = 0
    prepared = prepare(counts, ["eruptions", "waiting"], weight_column="count")
    view = fit_view(prepared, project(prepared.X, "none"), fit_on="features")
    result = run_fit(view, FitSettings(n_components=2, init_params="kmeans"))
    out = read_csv(labelled_rows_csv(counts, view, result.model))
    assert len(out) == 110 and "count" in out.columns
    assert out["count"].sum() == counts["count"].sum() == 260
    assert out["status"][3] == "dropped: no weight in count"
    assert out["status"][5] == "fitted (weight 0: does not count)"
    assert out["component"][3] is pd.NA or pd.isna(out["component"][3])
    payload = json.loads(fit_json(result, view.feature_names, "geyser_counts"))
    assert payload["sample_weight"] == {"column": "count", "rows": 109, "total": 260.0}
    page = report_html(result, "geyser_counts")
    assert "of 109 rows, weighted by the column count (total weight 260)" in page
    plain = fit_json(run_fit(*geyser_views(weights=False)[1:2], FitSettings(2)), ["a", "b"])
    assert json.loads(plain)["sample_weight"] is None


def test_the_rows_line_says_what_weighted_rows_stand_for():
    from types import SimpleNamespace

    from gmm_core.dashboard.live import rows_line

    X = np.zeros((4, 2))
    weighted = SimpleNamespace(
        X=X, sample_weight=np.array([1.0, 2.0, 3.0, 0.0]), n_observations=6.0, weight_column="n"
    )
    plain = SimpleNamespace(X=X, sample_weight=None)
    dataset = SimpleNamespace(table=pd.DataFrame({"a": range(5)}))
    preparation = SimpleNamespace(missing="drop")
    line = rows_line(weighted, dataset, preparation)
    assert line == (
        ", on 4 of 5 rows (1 row with a missing value dropped), standing for 6 "
        "observations (weights from n)"
    )
    assert "standing for" not in rows_line(plain, dataset, preparation)


# --- weights and the prior in the services ------------------------------------------------


def geyser_view(weight_column: str | None = "count", scale: float = 1.0):
    """Old Faithful counted (110 distinct rows standing for 272), as the Data page prepares it."""
    data, _ = load_sample("geyser_counts")
    data = data.assign(count=data["count"] * scale)
    prepared = prepare(data, ("eruptions", "waiting"), weight_column=weight_column)
    return fit_view(prepared, project(prepared.X, "none"), fit_on="features")


def figure_numbers(fig) -> list[float]:
    """Every number of a figure's data, frames and layout (lists and arrays walked)."""
    found: list[float] = []

    def walk(value) -> None:
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                walk(v)
        elif isinstance(value, np.ndarray):
            if value.dtype.kind in "fc":
                found.extend(value.ravel().tolist())
            elif value.dtype == object:
                walk(value.tolist())
        elif isinstance(value, float):
            found.append(value)

    walk(fig.to_dict())
    return found


def test_a_weighted_fit_counts_observations_in_its_formulas_and_figures():
    view = geyser_view()
    result = run_fit(view, FitSettings(n_components=2, covariance_type="tied"))
    lines = m_step_equations(result, 1, 1)
    # n is the total weight (272), never the 110 rows; every sum over rows carries w_i.
    assert lines[1].startswith(r"n = \sum_i w_i = 272")
    assert r"\frac{N_1}{n}" in lines[2] and "{272}" in lines[2] and "{110}" not in lines[2]
    assert r"w_i\, r_{i1}^{(0)}" in lines[0] and r"w_i\, r_{i1}^{(0)}" in lines[3]
    assert r"w_i\, r_{il}^{(0)}" in lines[4]  # the tied covariance's double sum
    n_k = result.model.history_[1].weights[1] * 272
    assert f"= {n_k:.4f}" in lines[0]
    subtitle = result.log_likelihood.layout.title.subtitle.text
    assert subtitle.startswith("mean per observation ")
    half = half_step_animation(result)
    sizes = np.asarray(half.data[0].marker.size)
    counts = view.sample_weight[result.drawn]
    assert sizes.shape == counts.shape  # drawn by weight, as the main animation
    assert sizes[counts == 4][0] == pytest.approx(2 * sizes[counts == 1][0], rel=0.01)
    # The weighted fit's figures carry no NaN (gaps are None, never NaN).
    for fig in (result.animation, result.log_likelihood, result.weights, half):
        numbers = np.array(figure_numbers(fig))
        assert numbers.size and np.isfinite(numbers).all()


def test_an_unweighted_fit_keeps_rows_in_its_formulas():
    result = run_fit(geyser_view(None), FitSettings(n_components=2))
    lines = m_step_equations(result, 0, 1)
    assert "w_i" not in "".join(lines) and "{110}" in lines[1]
    assert result.log_likelihood.layout.title.subtitle.text.startswith("mean per row ")


def test_the_prior_replaces_reg_covar_in_the_fit_and_its_words():
    view = geyser_view(None)
    settings = FitSettings(n_components=2, reg_covar=1e-3, prior="default")
    result = run_fit(view, settings)
    assert result.model.prior_ is not None and result.model.reg_covar == 0.0
    assert settings.regularisation == "mclust's conjugate prior (no reg_covar)"
    assert "posterior mode" in m_step_equations(result, 0, 1)[-1]
    # The same settings without the prior are a different fit, with reg_covar 1e-3.
    plain = run_fit(view, replace(settings, prior=None))
    assert plain.model.prior_ is None and plain.model.reg_covar == 1e-3
    assert not np.allclose(plain.model.covariances_, result.model.covariances_)
    for name in ("EVE", "VEE", "VVE", "EVV"):
        with pytest.raises(ValueError, match=f"mclust has no conjugate prior for {name}"):
            replace(settings, covariance_type=name).validate(110, 2)


def test_compare_repeats_whole_weights_and_refuses_others_in_words():
    view = geyser_view()
    result = run_fit(view, FitSettings(n_components=2))
    rows, reason = repeated_rows(result)
    assert reason is None and len(rows) == 272
    assert np.bincount(rows, minlength=110).tolist() == view.sample_weight.astype(int).tolist()
    same = compare_runs(result, mode="same start")
    assert same.sentences[0].startswith("Compared on the 272 observations (each row repeated")
    X = view.X[rows]
    theirs = same.sklearn.model
    assert same.summary.loc["Mean log-likelihood per observation", "scikit-learn"] == (
        f"{theirs.score(X):.6f}"
    )
    assert same.summary.loc["BIC (lower is better)", "Ours"] == f"{result.model.bic(X):,.2f}"
    assert same.ari == 1.0 and same.sklearn.drift.worst < 1e-9
    # Both panels draw a row by its count, as the animation does.
    first = same.scatter.data[0]
    assert len(set(np.asarray(first.marker.size).tolist())) > 1 and "weight" in first.hovertemplate
    half = run_fit(geyser_view(scale=0.5), FitSettings(n_components=2))
    rows, reason = repeated_rows(half)
    assert rows is None and "not whole numbers" in reason
    assert "comparison with scikit-learn is unavailable" in sklearn_gap(half)
    prior = run_fit(geyser_view(None), FitSettings(n_components=2, prior="default"))
    assert "mclust's conjugate prior" in sklearn_gap(prior)


def test_too_many_repeated_rows_are_refused(monkeypatch):
    from gmm_core.dashboard import comparing

    result = run_fit(geyser_view(), FitSettings(n_components=2))
    monkeypatch.setattr(comparing, "MAX_REPEATED_ROWS", 271)
    rows, reason = comparing.repeated_rows(result)
    assert rows is None and "total 272 observations, more than the 271 rows" in reason


def test_the_sweep_is_weighted_and_the_prior_leaves_four_models_out():
    from gmm_core.dashboard import model_selection as ms

    view = geyser_view()
    choices = ms.SweepChoices(2, models=("EEE", "EVE", "VVV"), prior="default")
    assert choices.swept_models == ("EEE", "VVV") and choices.left_out() == ("EVE",)
    assert "leaves out EVE" in ms.prior_note(choices)
    assert "272 observations" in ms.weighted_note(view)
    result = ms.run_sweep(view.X, choices, sample_weight=view.sample_weight)
    assert set(result.table["covariance_type"]) == {"EEE", "VVV"}
    repeated = view.X[np.repeat(np.arange(110), view.sample_weight.astype(int))]
    again = ms.run_sweep(repeated, choices)
    assert np.allclose(result.table["bic"], again.table["bic"], rtol=1e-6)
    settings, _ = ms.hand_over(result, ("EEE", 2), choices)
    assert settings.prior == "default" and settings.covariance_type == "tied"
    with pytest.raises(ValueError, match="no conjugate prior for EVE"):
        ms.run_sweep(view.X, ms.SweepChoices(2, models=("EVE",), prior="default"))


def test_settings_lines_name_the_prior_not_an_unused_reg_covar():
    from types import SimpleNamespace

    from gmm_core.dashboard.downloads import _settings_line
    from gmm_core.dashboard.fitting import FitSettings
    from gmm_core.dashboard.live import describe_settings

    plain, prior = FitSettings(reg_covar=1e-4), FitSettings(reg_covar=1e-4, prior="default")
    assert "reg_covar 0.0001" in describe_settings(plain)
    assert "conjugate prior" in describe_settings(prior)
    assert "reg_covar 0.0001" not in describe_settings(prior)
    line = _settings_line(SimpleNamespace(settings=prior))
    assert "conjugate prior" in line and "reg_covar 0.0001" not in line
