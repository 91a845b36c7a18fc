"""gmm_core.selection: criteria by hand, the sweep on known data, restarts, stopping, degeneracy."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.stats import multivariate_normal
from sklearn.datasets import load_iris, make_blobs
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from gmm_core import FitHistory, GaussianMixtureEM, MixtureParams, Snapshot
from gmm_core.params import COVARIANCE_TYPES, MCLUST_MODELS
from gmm_core.selection import (
    ALL_COMPONENTS,
    COLUMN_TITLES,
    COMPONENTS_COINCIDE,
    COVARIANCE_FLOOR,
    FAILED_FIT,
    FEW_POINTS,
    MCLUST_DEFAULT_TOL,
    ONE_GAUSSIAN,
    POLISH_TOL,
    SELECTION_CRITERIA,
    TABLE_COLUMNS,
    VANISHING_WEIGHT,
    SweepResult,
    classification_entropy,
    component_parameters,
    degeneracy_advice,
    degeneracy_at_end,
    degeneracy_events,
    degeneracy_summary,
    distinct_optima,
    expected_gain,
    icl,
    n_parameters,
    stopping_rules,
    stopping_statistics,
    sweep,
)

FAITHFUL = Path(__file__).resolve().parents[1] / "gmm_core" / "datasets" / "faithful.csv"


def quiet_fit(model: GaussianMixtureEM, X: np.ndarray) -> GaussianMixtureEM:
    """Fit when non-convergence is expected (tol=0 runs, degenerate data) and not the point."""
    return model.fit(X, warn_convergence=False)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Every fit here is tiny: BLAS and OpenMP worker threads only add wake-up latency, which
    on a loaded two-core machine made this module twenty times slower."""
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def three_blobs() -> np.ndarray:
    X, _ = make_blobs(
        n_samples=300, centers=[[0, 0], [8, 0], [4, 7]], cluster_std=1.0, random_state=0
    )
    return X


@pytest.fixture(scope="module")
def blobs_sweep(three_blobs):
    # scikit-learn's four types from k-means starts (the default sweep is mclust's fourteen
    # from the hierarchical start: see the tests at the end)
    return sweep(
        three_blobs,
        5,
        covariance_types=COVARIANCE_TYPES,
        n_init=2,
        random_state=0,
        init_params="kmeans",
    )


# --------------------------------------------------------------------------- ICL
def test_icl_by_hand_on_six_points():
    X = np.array([[0.0, 0.0], [0.9, 0.4], [0.3, 1.2], [1.4, 1.1], [2.1, 1.6], [1.6, 2.5]])
    model = quiet_fit(
        GaussianMixtureEM(2, covariance_type="full", random_state=0, reg_covar=1e-3), X
    )
    dens = np.column_stack(
        [
            w * multivariate_normal(m, c).pdf(X)
            for w, m, c in zip(model.weights_, model.means_, model.covariances_, strict=True)
        ]
    )
    total = np.log(dens.sum(axis=1)).sum()
    z = dens / dens.sum(axis=1, keepdims=True)
    n_params = 2 * 3 + 2 * 2 + 1  # two 2x2 covariances, two means, one free weight
    bic = -2 * total + n_params * math.log(6)
    entropy = -np.log(z.max(axis=1)).sum()
    assert entropy > 0.1  # the check needs a point whose component is uncertain
    assert model.bic(X) == pytest.approx(bic, rel=1e-10)
    assert classification_entropy(z) == pytest.approx(entropy, rel=1e-8)
    assert icl(model, X) == pytest.approx(bic + 2 * entropy, rel=1e-10)


def test_classification_entropy_of_certain_and_uncertain_rows():
    assert classification_entropy(np.eye(3)) == 0.0
    assert classification_entropy(np.full((4, 2), 0.5)) == pytest.approx(4 * math.log(2))
    with pytest.raises(ValueError, match="2-D"):
        classification_entropy(np.ones(3))


@given(arrays(np.float64, (7, 3), elements=st.floats(0.01, 1.0)))
def test_classification_entropy_is_bounded_by_soft_entropy_and_n_log_k(raw):
    resp = raw / raw.sum(axis=1, keepdims=True)
    hard = classification_entropy(resp)
    soft = float(-(resp * np.log(resp)).sum())
    assert 0.0 <= hard <= soft + 1e-12
    assert hard <= 7 * math.log(3) + 1e-12


# --------------------------------------------------------------------------- the sweep
def test_bic_picks_three_well_separated_blobs(blobs_sweep):
    table = blobs_sweep.table
    assert len(table) == 4 * 5
    assert set(table["covariance_type"]) == {"full", "tied", "diag", "spherical"}
    assert (table["error"] == "").all()
    for criterion in SELECTION_CRITERIA:
        assert blobs_sweep.best(criterion)["n_components"] == 3
    # Every covariance type on its own prefers three components too.
    assert (blobs_sweep.criterion_table("bic").idxmin() == 3).all()


def test_sweep_table_agrees_with_the_fitted_models(blobs_sweep, three_blobs):
    X = three_blobs
    assert set(blobs_sweep.models) == {
        (t, k) for t in ("full", "tied", "diag", "spherical") for k in range(1, 6)
    }
    for row in blobs_sweep.table.itertuples():
        model = blobs_sweep.models[(row.covariance_type, row.n_components)]
        assert row.bic == pytest.approx(model.bic(X), rel=1e-10)
        assert row.aic == pytest.approx(model.aic(X), rel=1e-10)
        assert row.icl == pytest.approx(icl(model, X), rel=1e-10)
        assert row.icl >= row.bic
        assert row.log_likelihood == pytest.approx(model.score(X), rel=1e-10)
        assert row.n_parameters == n_parameters(row.covariance_type, row.n_components, 2)
        assert row.n_iter == model.n_iter_
        assert row.converged == model.converged_


def test_old_faithful_best_model_is_mclusts(faithful_raw):
    # Raw units, the sweep's defaults: mclust's fourteen models from the hierarchical start,
    # K = 1..9 (Mclust's G), the contenders run to POLISH_TOL.
    result = sweep(faithful_raw, 9, keep_models=False)
    best = result.best("bic")
    # mclust: "EEE (...) model with 3 components: log-likelihood -1126.326, n 272, df 11,
    # BIC -2314.316, ICL -2357.824" (summary(Mclust(faithful))).
    assert (best["covariance_type"], best["n_components"]) == ("EEE", 3)
    assert not best["degenerate"] and best["converged"]
    assert best["tol"] == POLISH_TOL
    assert best["n_parameters"] == 11
    assert best["log_likelihood"] * 272 == pytest.approx(-1126.326, abs=0.02)
    assert best["bic"] == pytest.approx(2314.316, abs=0.05)
    # Our ICL is 2358.4 at the optimum and 2358.7 where tol=1e-6 stops: mclust stopped
    # elsewhere on a flat ridge where the classification entropy still moves, hence the
    # looser match (the entropy term itself is about 44).
    assert best["icl"] == pytest.approx(2357.824, abs=1.5)
    assert result.models == {}


def test_failed_fits_become_rows_and_progress_is_reported():
    # Three distinct points, each repeated: without reg_covar a component on one point has a
    # zero covariance and the fit fails; the sweep must carry on.
    X = np.repeat(np.array([[0.0, 0.0], [3.0, 1.0], [1.0, 4.0]]), 5, axis=0)
    calls = []
    result = sweep(
        X,
        3,
        covariance_types=("full", "spherical"),
        n_init=1,
        reg_covar=0.0,
        init_params="kmeans",
        progress=lambda done, total, label: calls.append((done, total, label)),
    )
    assert calls[:6] == [
        (i + 1, 6, f"{t}, K = {k}")
        for i, (t, k) in enumerate((t, k) for t in ("full", "spherical") for k in (1, 2, 3))
    ]
    # then one call per cell refitted to the tight tolerance
    assert all(
        done == total == 6 and "(to tol = 1e-08)" in label for done, total, label in calls[6:]
    )
    assert len(calls[6:]) == int((result.table["tol"] == POLISH_TOL).sum())
    failed = result.table[result.table["error"] != ""]
    assert len(failed) >= 1
    assert failed[["bic", "aic", "icl", "log_likelihood"]].isna().all().all()
    assert failed["n_iter"].isna().all()
    # A component on one point has a covariance of exactly zero (not positive definite) or of
    # rounding error around its mean (collapsed onto a repeated value): both end the fit.
    assert (
        failed["error"]
        .str.contains("not positive definite|collapsed onto a single repeated value")
        .all()
    )
    assert all(
        (t, k) not in result.models for t, k in failed[["covariance_type", "n_components"]].values
    )
    # A failed fit counts as degenerate (mclust's NA), with the error as the reason.
    assert failed["degenerate"].all() and (failed["degeneracy"] == FAILED_FIT).all()
    assert result.best("bic")["error"] == ""


@pytest.mark.parametrize("bad", [0, 21, True, 2.0, "3"])
def test_sweep_rejects_bad_max_components(bad):
    X = np.random.default_rng(0).normal(size=(50, 2))
    with pytest.raises(ValueError, match="max_components"):
        sweep(X, bad)


def test_sweep_rejects_more_components_than_rows_and_bad_settings():
    X = np.random.default_rng(0).normal(size=(6, 2))
    with pytest.raises(ValueError, match="at most the number of rows, 6"):
        sweep(X, 7)
    with pytest.raises(ValueError, match="names one model twice"):
        sweep(X, 2, covariance_types=("full", "VVV"))
    with pytest.raises(ValueError, match="covariance_types"):
        sweep(X, 2, covariance_types=("full", "full"))
    with pytest.raises(ValueError, match="init_params"):
        sweep(X, 2, init_params="hierarchical")
    with pytest.raises(ValueError, match="tol"):
        sweep(X, 2, tol=-1.0)
    with pytest.raises(ValueError, match="2-D"):
        sweep(X[:, 0], 2)


def test_best_rejects_unknown_criterion(blobs_sweep):
    with pytest.raises(ValueError, match="criterion"):
        blobs_sweep.best("mclust_bic")


# --------------------------------------------------------------------------- restarts
def test_distinct_optima_groups_restarts(faithful_raw):
    model = GaussianMixtureEM(
        2, n_init=12, init_params="random_from_data", random_state=0, max_iter=500
    ).fit(faithful_raw)
    optima = distinct_optima(model)
    assert len(optima) >= 2
    assert sum(o.count for o in optima) == 12
    assert sorted(r for o in optima for r in o.runs) == list(range(12))
    lls = [o.log_likelihood for o in optima]
    assert lls == sorted(lls, reverse=True)
    finals = [run[-1].log_likelihood for run in model.history_.runs]
    assert optima[0].log_likelihood == pytest.approx(max(finals))
    # The kept run is one of those that found the best optimum.
    assert model.history_.best_run in optima[0].runs
    # The two optima of this data set (two clusters, or one cluster and a stray component).
    assert optima[0].log_likelihood == pytest.approx(-4.15538, abs=1e-4)
    assert optima[0].count > optima[1].count


def test_distinct_optima_separates_equal_likelihoods_by_the_parameters():
    # Four blobs on a square, symmetric about the diagonal: K = 2 splits them left/right or
    # top/bottom with exactly the same likelihood. Only the component matching tells apart.
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    offsets = np.random.default_rng(3).normal(size=(25, 2))
    offsets = np.concatenate([offsets, offsets[:, ::-1]])
    X = np.concatenate([c + offsets for c in centres])
    model = GaussianMixtureEM(
        2, n_init=10, init_params="random_from_data", random_state=1, tol=1e-8, max_iter=500
    ).fit(X)
    by_likelihood = distinct_optima(model, atol=1e-6, max_bhattacharyya=np.inf)
    assert [o.count for o in by_likelihood] == [10]
    split = distinct_optima(model, atol=1e-6)
    assert len(split) == 2
    assert sum(o.count for o in split) == 10
    assert split[0].log_likelihood == pytest.approx(split[1].log_likelihood, abs=1e-9)
    spans = [np.ptp(model.history_.runs[o.runs[0]][-1].params.means, axis=0).round() for o in split]
    assert sorted(map(tuple, spans)) == [(0.0, 10.0), (10.0, 0.0)]


# --------------------------------------------------------------------------- stopping rules
def test_stopping_rules_by_hand():
    mean_ll = np.array([-3.0, -2.0, -1.5, -1.45, -1.448, -1.4479])
    rules = stopping_rules(mean_ll, 10, 0.01)
    assert [r.iteration for r in rules] == [5, 4, None]
    # |Δ(nL̄)| at snapshot 4 is 0.02, so the total rule fires one M-step later, at 5.
    assert [r.iteration for r in stopping_rules(mean_ll, 10, 0.05)][2] == 5
    assert [r.iteration for r in stopping_rules(mean_ll, 10, 0.0)] == [None, None, None]
    assert all(r.name and r.description.endswith(".") for r in rules)
    stats = stopping_statistics(mean_ll, 10)
    assert np.isnan(stats.iloc[0]).all()
    assert stats["relative_change"].iloc[4] == pytest.approx(0.02 / 15.48)
    with pytest.raises(ValueError, match="1-D"):
        stopping_rules(np.zeros((2, 2)), 10, 0.1)


@pytest.mark.parametrize(
    ("name", "k", "covariance_type"), [("iris", 3, "full"), ("faithful", 3, "tied")]
)
def test_scikit_learn_rule_reproduces_n_iter(name, k, covariance_type, faithful_raw):
    X = load_iris().data if name == "iris" else faithful_raw
    n = X.shape[0]

    def fit(tol: float) -> GaussianMixtureEM:
        model = GaussianMixtureEM(
            k, covariance_type=covariance_type, random_state=0, tol=tol, max_iter=400
        )
        return quiet_fit(model, X)

    recorded = fit(0.0).history_.log_likelihoods
    assert len(recorded) == 401
    for tol in (1e-2, 1e-3, 1e-4):
        stopped = fit(tol)
        assert stopped.converged_
        sklearn_rule, _, total_rule = stopping_rules(recorded, n, tol)
        assert sklearn_rule.iteration == stopped.n_iter_
        # The same start gives the same iterates, so the short run is the long run's prefix.
        np.testing.assert_array_equal(
            stopped.history_.log_likelihoods, recorded[: stopped.n_iter_ + 1]
        )
        # The total rule at tol is scikit-learn's rule at tol / n.
        assert total_rule.iteration == fit(tol / n).n_iter_


def test_stopping_rules_disagree_on_a_slow_fit(faithful_raw):
    # Old Faithful, raw, tied, K = 3 climbs a long gentle slope: scikit-learn's default rule
    # stops on it, mclust's rule at mclust's default tol goes on to the optimum.
    model = GaussianMixtureEM(3, covariance_type="tied", random_state=0, tol=0.0, max_iter=150)
    total = quiet_fit(model, faithful_raw).history_.log_likelihoods * 272
    sklearn_stop = stopping_rules(total / 272, 272, 1e-3)[0].iteration
    mclust_stop = stopping_rules(total / 272, 272, MCLUST_DEFAULT_TOL)[1].iteration
    assert sklearn_stop is not None and mclust_stop is not None
    assert sklearn_stop < mclust_stop
    assert total[mclust_stop] - total[sklearn_stop] > 10.0
    assert total[mclust_stop] == pytest.approx(-1126.33, abs=0.05)


# --------------------------------------------------------------------------- degeneracy
def test_degeneracy_on_duplicated_rows():
    # Three distinct points, ten copies each, five components: at least two components have
    # nothing to explain, and those on a point have nothing but reg_covar as covariance.
    X = np.repeat(np.array([[0.0, 0.0], [3.0, 1.0], [1.0, 4.0]]), 10, axis=0)
    # scikit-learn's k-means says so itself (no switch turns that off), as it does for its own
    # GaussianMixture.
    with pytest.warns(ConvergenceWarning, match="distinct clusters"):
        model = quiet_fit(GaussianMixtureEM(5, random_state=0), X)
    events = degeneracy_events(model.history_, model.reg_covar)
    kinds = {e.kind for e in events}
    # The two empty components end at the origin, where a third sits on (0, 0) with the
    # same reg_covar covariance: the same Gaussian three times.
    assert kinds == {VANISHING_WEIGHT, COVARIANCE_FLOOR, COMPONENTS_COINCIDE}
    (together,) = [e for e in events if e.kind == COMPONENTS_COINCIDE]
    np.testing.assert_allclose(model.means_[list(together.components)], 0.0, atol=1e-6)
    floor = [e for e in events if e.kind == COVARIANCE_FLOOR]
    assert {e.component for e in floor} >= {k for k in range(5) if model.weights_[k] > 0.1}
    # One event per (component, kind) episode, not one per iteration.
    keys = [(e.component, e.kind) for e in events]
    assert len(keys) == len(set(keys))
    assert any("of 30 points" in e.detail for e in events if e.kind == VANISHING_WEIGHT)
    advice = degeneracy_advice(events)
    assert advice is not None
    for suggestion in ("fewer components", "another start", "larger reg_covar"):
        assert suggestion in advice


def test_degeneracy_of_a_tied_model_is_one_shared_event():
    X = np.repeat(np.array([[0.0, 0.0], [3.0, 0.0], [6.0, 0.0]]), 10, axis=0)  # a line
    model = quiet_fit(GaussianMixtureEM(3, covariance_type="tied", random_state=0), X)
    floor = [
        e for e in degeneracy_events(model.history_, model.reg_covar) if e.kind == COVARIANCE_FLOOR
    ]
    assert [e.component for e in floor] == [ALL_COMPONENTS]
    assert "shared by all components" in degeneracy_advice(floor)


def test_clean_fit_reports_no_degeneracy(three_blobs):
    model = GaussianMixtureEM(3, random_state=0).fit(three_blobs)
    assert degeneracy_events(model.history_, model.reg_covar) == []
    assert degeneracy_advice([]) is None


def _snapshot(iteration: int, weights: list[float], variance: float) -> Snapshot:
    k = len(weights)
    params = MixtureParams.from_covariances(
        np.array(weights), np.arange(2.0 * k).reshape(k, 2), np.full(k, variance), "spherical"
    )
    return Snapshot(iteration, params, -1.0)


def test_degeneracy_reports_the_first_iteration_of_each_episode():
    low, ok = [0.9995, 0.0005], [0.6, 0.4]
    snapshots = [
        _snapshot(0, ok, 1.0),
        _snapshot(1, low, 1.0),
        _snapshot(2, low, 1.0),
        _snapshot(3, ok, 1e-6),
        _snapshot(4, ok, 1e-6),
        _snapshot(5, low, 1.0),
    ]
    events = degeneracy_events(snapshots, 1e-6)
    assert [(e.iteration, e.component, e.kind) for e in events] == [
        (1, 1, VANISHING_WEIGHT),
        (3, 0, COVARIANCE_FLOOR),
        (3, 1, COVARIANCE_FLOOR),
        (5, 1, VANISHING_WEIGHT),
    ]
    assert "0.0005" in events[0].detail
    # Raising weight_floor above 0.4 flags the smaller healthy component as well.
    flagged = degeneracy_events(snapshots, 1e-6, weight_floor=0.5)
    assert (0, 1, VANISHING_WEIGHT) in [(e.iteration, e.component, e.kind) for e in flagged]


def _snapshot3(iteration: int, means: list[list[float]], variances: list[float]) -> Snapshot:
    k = len(means)
    params = MixtureParams.from_covariances(
        np.full(k, 1.0 / k), np.array(means), np.array(variances), "spherical"
    )
    return Snapshot(iteration, params, -1.0)


def test_coinciding_components_are_reported_from_when_they_stay_together():
    apart = [[0.0, 0.0], [5.0, 5.0], [3.0, 0.0]]
    together = [[0.0, 0.0], [5.0, 5.0], [0.001, 0.0]]
    snapshots = [
        _snapshot3(0, together, [1.0, 1.0, 1.0]),  # crossing at the start: not an episode
        _snapshot3(1, apart, [1.0, 1.0, 1.0]),
        _snapshot3(2, together, [1.0, 1.0, 1.0]),
        _snapshot3(3, together, [1.0, 1.0, 1.001]),
    ]
    events = degeneracy_events(snapshots, 1e-6)
    assert [(e.iteration, e.kind, e.components) for e in events] == [
        (2, COMPONENTS_COINCIDE, (0, 2))
    ]
    assert "Components 0 and 2 coincide from iteration 2" in events[0].detail
    assert degeneracy_summary(events) == "components coincide: components 0 and 2"
    advice = degeneracy_advice(events)
    assert "components 0 and 2 coincide" in advice and "'wide'" in advice
    # Components that only cross on their way are no degenerate fit.
    assert degeneracy_events(snapshots[:2], 1e-6) == []
    # Far enough apart in mean, or different enough in spread, they do not coincide.
    wider = [_snapshot3(1, together, [1.0, 1.0, 2.0])]
    assert degeneracy_events(wider, 1e-6) == []


def test_tied_k_means_plus_plus_collapse_onto_one_gaussian_is_flagged():
    # Issue 12: scikit-learn's single-point start with a tied covariance merges the four blobs
    # of the app's blobs sample into one Gaussian after one iteration, and "converges".
    from gmm_core.dashboard.samples import load_sample

    df, _ = load_sample("blobs", n_samples=600, n_components=4, spread=0.8, seed=0)
    X = df[["x", "y"]].to_numpy()
    model = GaussianMixtureEM(4, covariance_type="tied", init_params="k-means++", random_state=42)
    model.fit(X)
    assert model.converged_
    events = degeneracy_events(model.history_, model.reg_covar)
    assert [(e.iteration, e.kind, e.components) for e in events] == [
        (1, ONE_GAUSSIAN, (0, 1, 2, 3))
    ]
    assert degeneracy_at_end(model.history_, model.reg_covar) == events
    # It is what it says: a single Gaussian fitted to the data has the same log-likelihood.
    single = GaussianMixtureEM(1).fit(X)
    assert model.score(X) == pytest.approx(single.score(X), abs=1e-6)
    advice = degeneracy_advice(events)
    assert "collapsed onto one Gaussian" in advice and "'wide'" in advice
    assert "fewer components" not in advice  # K = 4 is right; the start is not
    assert "a smaller tol" in advice
    # One Gaussian is a saddle point: a tight tol lets EM creep away from it (619 iterations).
    patient = GaussianMixtureEM(**{**model.get_params(), "tol": 1e-10, "max_iter": 3000})
    assert degeneracy_events(patient.fit(X).history_, patient.reg_covar) == []
    # The wide start (the app's default) finds the blobs, with nothing to report.
    wide = GaussianMixtureEM(4, covariance_type="tied", init_params="wide", random_state=42)
    assert degeneracy_events(wide.fit(X).history_, wide.reg_covar) == []


def test_run_fit_reports_a_collapse_with_the_api_the_fit_page_uses():
    from gmm_core.dashboard.data import prepare
    from gmm_core.dashboard.fitting import FitSettings, fit_view, run_fit
    from gmm_core.dashboard.projection import project
    from gmm_core.dashboard.samples import load_sample

    df, _ = load_sample("blobs", n_samples=600, n_components=4, spread=0.8, seed=0)
    prepared = prepare(df, ["x", "y"], label_column="true_component", scaling="none")
    view = fit_view(prepared, project(prepared.X, "none"), fit_on="features")
    settings = FitSettings(n_components=4, covariance_type="tied", init_params="k-means++")
    result = run_fit(view, settings)
    assert [e.kind for e in result.degeneracy] == [ONE_GAUSSIAN]
    assert result.advice and "collapsed onto one Gaussian" in result.advice
    # The dashboard's default start does not collapse.
    default = run_fit(view, FitSettings(n_components=4, covariance_type="tied"))
    assert default.settings.init_params == "wide"
    assert default.degeneracy == () and default.advice is None


def test_a_component_with_fewer_points_than_parameters_is_flagged():
    # 100 rows in 3-D: a full component needs 3 + 6 = 9 points for its mean and covariance.
    assert component_parameters("full", 3) == 9
    assert [component_parameters(t, 3) for t in ("tied", "diag", "spherical")] == [3, 6, 4]
    means = np.array([[0.0, 0.0, 0.0], [5.0, 0.0, 0.0], [0.0, 5.0, 0.0]])

    def history(covariance_type: str, weights: list[float]) -> FitHistory:
        covariances = {
            "full": np.broadcast_to(np.eye(3), (3, 3, 3)).copy(),
            "tied": np.eye(3),
            "diag": np.ones((3, 3)),
            "spherical": np.ones(3),
        }[covariance_type]
        params = MixtureParams.from_covariances(
            np.array(weights), means, covariances, covariance_type
        )
        return FitHistory(((Snapshot(1, params, -1.0),),), 0, covariance_type, 100)

    events = degeneracy_events(history("full", [0.85, 0.1, 0.05]), 1e-6)
    assert [(e.component, e.kind) for e in events] == [(2, FEW_POINTS)]
    assert "about 5 of 100 points" in events[0].detail and "9 parameters" in events[0].detail
    assert "simpler covariance type" in degeneracy_advice(events)
    # The same five points are enough for a tied component's mean (3 parameters).
    assert degeneracy_events(history("tied", [0.85, 0.1, 0.05]), 1e-6) == []
    # Without n (bare snapshots) points cannot be counted.
    assert degeneracy_events(history("full", [0.85, 0.1, 0.05]).snapshots, 1e-6) == []


def test_degeneracy_at_end_keeps_what_holds_for_the_fitted_model():
    low, ok = [0.9995, 0.0005], [0.6, 0.4]
    snapshots = [
        _snapshot(0, ok, 1.0),
        _snapshot(1, low, 1.0),
        _snapshot(2, ok, 1e-6),
        _snapshot(3, low, 1.0),
        _snapshot(4, low, 1.0),
    ]
    # The weight vanished twice, the covariances recovered: only the last episode remains.
    at_end = degeneracy_at_end(snapshots, 1e-6)
    assert [(e.iteration, e.component, e.kind) for e in at_end] == [(3, 1, VANISHING_WEIGHT)]
    assert len(degeneracy_events(snapshots, 1e-6)) == 4
    assert degeneracy_at_end(snapshots[:3], 1e-6)[0].kind == COVARIANCE_FLOOR


# --------------------------------------------------------------------------- sweep flags
def _table(rows: list[tuple[str, int, float, bool]]) -> SweepResult:
    """A sweep table by hand: (covariance_type, K, bic, degenerate)."""
    table = pd.DataFrame(
        [
            {
                "covariance_type": t,
                "n_components": k,
                "bic": bic,
                "aic": bic,
                "icl": bic,
                "degenerate": bad,
                "degeneracy": "covariance at the reg_covar floor: component 0" if bad else "",
                "error": "",
            }
            for t, k, bic, bad in rows
        ]
    )
    return SweepResult(table)


def test_best_never_picks_a_degenerate_cell_and_notes_say_what_was_left_out():
    result = _table(
        [
            ("full", 1, 30.0, False),
            ("full", 2, 20.0, False),
            ("full", 3, 5.0, True),
            ("diag", 1, 31.0, False),
            ("diag", 2, 25.0, False),
            ("diag", 3, 22.0, False),
        ]
    )
    best = result.best("bic")
    assert (best["covariance_type"], best["n_components"]) == ("full", 2)
    assert result.best("bic", allow_degenerate=True)["n_components"] == 3
    assert not result.best_at_edge("bic")
    (note,) = result.notes("bic")
    assert note.startswith("1 degenerate model scored a better BIC and was left out: full, K = 3")


def test_best_at_the_edge_of_the_range_is_told():
    result = _table([("full", 1, 30.0, False), ("full", 2, 20.0, False), ("full", 3, 10.0, False)])
    assert result.best_at_edge("bic")
    assert result.notes("bic") == (
        "The best K by BIC is 3, the largest K swept: the criterion may still be falling "
        "there, so sweep a larger range before trusting this K.",
    )
    # K = 1 at the lower end is an answer, not a warning.
    lowest = _table([("full", 1, 10.0, False), ("full", 2, 20.0, False)])
    assert not lowest.best_at_edge("bic") and lowest.notes("bic") == ()


def test_when_every_fit_is_degenerate_best_says_so():
    result = _table([("full", 1, 30.0, True), ("full", 2, 20.0, True)])
    with pytest.raises(ValueError, match="Every model of the sweep that could be fitted is"):
        result.best("bic")
    assert result.notes("bic")[0].startswith("Every fitted model is degenerate")
    assert result.best("bic", allow_degenerate=True)["n_components"] == 2


def test_sweep_flags_cells_that_sit_on_repeated_rows():
    # Thirty copies of one point between three blobs: a component on them has a covariance of
    # reg_covar and a likelihood that beats every honest fit by hundreds of BIC units.
    X, _ = make_blobs(
        n_samples=300, centers=[[0, 0], [8, 0], [4, 7]], cluster_std=1.0, random_state=0
    )
    X = np.vstack([X, np.repeat([[4.0, 3.0]], 30, axis=0)])
    result = sweep(
        X, 5, covariance_types=COVARIANCE_TYPES, n_init=2, random_state=0, init_params="kmeans"
    )
    table = result.table
    assert list(table.columns) == list(TABLE_COLUMNS)
    assert set(COLUMN_TITLES) == set(TABLE_COLUMNS)
    flagged = table[table["degenerate"]]
    assert len(flagged) >= 3
    assert flagged["degeneracy"].str.contains(COVARIANCE_FLOOR).all()
    assert (table.loc[~table["degenerate"], "degeneracy"] == "").all()
    best = result.best("bic")
    assert not best["degenerate"]
    assert result.best("bic", allow_degenerate=True)["bic"] < best["bic"] - 100
    assert any("left out" in note for note in result.notes("bic"))
    # The flags are those of the fitted models.
    for row in flagged.itertuples():
        model = result.models[(row.covariance_type, row.n_components)]
        assert degeneracy_at_end(model.history_, model.reg_covar)


@pytest.fixture(scope="module")
def penguins() -> tuple[np.ndarray, np.ndarray]:
    """The penguins' four measurements, standardised, rows with missing values dropped."""
    from sklearn.preprocessing import StandardScaler

    from gmm_core.dashboard.samples import load_sample

    columns = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
    df, _ = load_sample("penguins")
    df = df.dropna(subset=columns)
    return StandardScaler().fit_transform(df[columns].to_numpy(float)), df["species"].to_numpy()


def test_penguins_default_sweep_is_not_at_the_edge_and_k3_finds_the_species(penguins):
    from sklearn.metrics import adjusted_rand_score

    X, species = penguins
    assert X.shape == (342, 4)
    # The Model selection page's defaults: largest K 8, 3 restarts, seed 42, 'kmeans'.
    result = sweep(
        X, 8, covariance_types=COVARIANCE_TYPES, n_init=3, random_state=42, init_params="kmeans"
    )
    best = result.best("bic")
    assert not best["degenerate"]
    assert not result.best_at_edge("bic")
    assert 2 <= best["n_components"] < 8
    assert not any("largest K" in note for note in result.notes("bic"))
    # AIC, which penalises less, runs to the edge here, and the notes say so.
    assert result.best_at_edge("aic")
    assert any("the largest K swept" in note for note in result.notes("aic"))
    # K = 3, full, the dashboard's wide start and seed: the three species.
    model = GaussianMixtureEM(3, covariance_type="full", init_params="wide", random_state=42)
    labels = model.fit(X).predict(X)
    assert adjusted_rand_score(species, labels) >= 0.9
    assert degeneracy_at_end(model.history_, model.reg_covar) == []


def test_too_few_points_alone_is_not_called_an_artefact():
    """Wine, 13 columns, full covariance, K = 3: each component holds ~59 rows for 104
    parameters. mclust's rule flags it, but its clusters can be real: the advice must say
    the covariances are unreliable, not that the components are artefacts."""
    from sklearn.datasets import load_wine
    from sklearn.preprocessing import StandardScaler

    from gmm_core import GaussianMixtureEM
    from gmm_core.selection import FEW_POINTS, degeneracy_advice, degeneracy_events

    X = StandardScaler().fit_transform(load_wine().data)
    model = GaussianMixtureEM(3, random_state=0, init_params="kmeans").fit(X)
    events = degeneracy_events(model.history_, 1e-6)
    assert {e.kind for e in events} == {FEW_POINTS}
    advice = degeneracy_advice(events)
    assert "not reliable estimates" in advice and "artefact" not in advice


# --------------------------------------------------------------------------- mclust's sweep
def test_expected_gain_is_the_rest_of_a_geometric_climb():
    # increases of 8, 4, 2, 1, ... after the third value: the rest sums to 2 * last step
    values = np.cumsum([0.0, 16.0, 8.0, 4.0])
    assert expected_gain(values) == pytest.approx(4.0)
    assert expected_gain(values[:2]) == math.inf  # no rate from two values
    assert expected_gain([0.0, 1.0, 3.0]) == math.inf  # increases that grow
    assert expected_gain([0.0, 1.0, 1.0]) == 0.0


@pytest.fixture(scope="module")
def faithful_sweep(faithful_raw):
    return sweep(faithful_raw, 5)


def test_default_sweep_is_mclusts_grid_from_one_shared_start(faithful_sweep, faithful_raw):
    table = faithful_sweep.table
    assert tuple(dict.fromkeys(table["covariance_type"])) == MCLUST_MODELS
    assert len(table) == 14 * 5
    assert (table["error"] == "").all()
    # Every cell is the estimator's 'hc' fit, reproduced on its own to rounding.
    for cell in [("EEE", 3), ("VEV", 2), ("EVE", 4), ("VII", 5)]:
        row = table.set_index(["covariance_type", "n_components"]).loc[cell]
        alone = GaussianMixtureEM(
            cell[1],
            covariance_type=cell[0],
            init_params="hc",
            random_state=42,
            tol=row["tol"],
            max_iter=1000,
        ).fit(faithful_raw)
        kept = faithful_sweep.models[cell]
        # the sweep keeps each cell's traces only (its loops compiled); alone, the Python
        # loop with every snapshot: the same fit to rounding
        assert kept.get_params() == alone.get_params() | {"keep_history": "trace"}
        assert alone.n_iter_ == row["n_iter"]
        assert alone.bic(faithful_raw) == pytest.approx(row["bic"], rel=1e-10)
    # One start per K for every model: the starts' means are those of the same partition.
    starts = {m: faithful_sweep.models[(m, 3)].history_[0].means for m in ("EII", "VVV", "EVE")}
    np.testing.assert_allclose(starts["EII"], starts["VVV"], rtol=1e-12)
    np.testing.assert_allclose(starts["EVE"], starts["VVV"], rtol=1e-12)


def test_contenders_are_refitted_until_their_bic_stops_moving(faithful_sweep, faithful_raw):
    table = faithful_sweep.table
    polished = table[table["tol"] == POLISH_TOL]
    best = faithful_sweep.best("bic")
    assert best["tol"] == POLISH_TOL and len(polished) < len(table) / 2
    # every sound cell within 10 of the best ran to the tight tolerance
    close = table[~table["degenerate"] & (table["bic"] <= best["bic"] + 10)]
    assert set(close.index) <= set(polished.index)
    # and sits where a far tighter run ends
    for row in close.itertuples():
        tight = GaussianMixtureEM(
            row.n_components,
            covariance_type=row.covariance_type,
            init_params="hc",
            random_state=42,
            tol=1e-11,
            max_iter=5000,
        ).fit(faithful_raw, warn_convergence=False)
        assert row.bic == pytest.approx(tight.bic(faithful_raw), abs=0.05)


@pytest.mark.parametrize("name", ["iris", "wine"])
def test_best_model_of_standardised_iris_and_wine_is_sound(name):
    from sklearn.datasets import load_wine
    from sklearn.preprocessing import StandardScaler

    data = {"iris": load_iris, "wine": load_wine}[name]().data
    X = StandardScaler().fit_transform(data)
    result = sweep(X, 9, keep_models=False)
    best = result.best("bic")
    assert not best["degenerate"] and best["converged"] and best["error"] == ""
    # Degenerate cells exist and would have been chosen by the raw criterion on neither set
    # without being named: every one of them carries its reason.
    flagged = result.table[result.table["degenerate"]]
    assert (flagged["degeneracy"] != "").all()
    assert 2 <= best["n_components"] <= 4


def test_weighted_sweep_counts_each_row_as_its_weight(faithful_raw):
    # an aggregated table: Old Faithful rounded, each distinct pair once with its count
    rounded = np.round(faithful_raw / [0.5, 5.0]) * [0.5, 5.0]
    X, counts = np.unique(rounded, axis=0, return_counts=True)
    result = sweep(X, 3, covariance_types=("EEE", "VVV", "VEI"), sample_weight=counts)
    expanded = np.repeat(X, counts, axis=0)
    for row in result.table.itertuples():
        model = result.models[(row.covariance_type, row.n_components)]
        # the criteria are those of the repeated rows under the fitted parameters
        assert row.bic == pytest.approx(model.bic(expanded), rel=1e-10)
        assert row.bic == pytest.approx(model.bic(X, sample_weight=counts), rel=1e-10)
        assert row.icl == pytest.approx(icl(model, expanded), rel=1e-10)
        # and the cell is the estimator's weighted 'hc' fit
        alone = GaussianMixtureEM(
            row.n_components,
            covariance_type=row.covariance_type,
            init_params="hc",
            random_state=42,
            tol=row.tol,
            max_iter=1000,
        ).fit(X, sample_weight=counts)
        assert alone.bic(X, sample_weight=counts) == pytest.approx(row.bic, rel=1e-10)
    with pytest.raises(ValueError, match=r"(?i)negative"):
        sweep(X, 2, sample_weight=-counts)


def test_sweep_with_mclusts_prior(faithful_raw):
    from gmm_core.prior import PRIOR_MODELS

    result = sweep(faithful_raw, 4, prior="default")
    table = result.table
    # Mclust with a prior leaves out the four models it has no MAP M-step for
    assert tuple(dict.fromkeys(table["covariance_type"])) == PRIOR_MODELS
    best = result.best("bic")
    assert (best["covariance_type"], best["n_components"]) == ("EEE", 3)
    # a cell is the estimator's own fit with the prior, from the same 'hc' start
    for cell in [("EEE", 3), ("VEV", 2)]:
        row = table.set_index(["covariance_type", "n_components"]).loc[cell]
        alone = GaussianMixtureEM(
            cell[1],
            covariance_type=cell[0],
            init_params="hc",
            prior="default",
            random_state=42,
            tol=row["tol"],
            max_iter=1000,
        ).fit(faithful_raw)
        assert alone.bic(faithful_raw) == pytest.approx(row["bic"], rel=1e-9)
    with pytest.raises(ValueError, match="EVE"):
        sweep(faithful_raw, 2, covariance_types=("EVE",), prior="default")
