"""gmm_core.selection: criteria by hand, the sweep on known data, restarts, stopping, degeneracy."""

from __future__ import annotations

import math
import warnings
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

from gmm_core import GaussianMixtureEM, MixtureParams, Snapshot
from gmm_core.selection import (
    ALL_COMPONENTS,
    COVARIANCE_FLOOR,
    MCLUST_DEFAULT_TOL,
    SELECTION_CRITERIA,
    VANISHING_WEIGHT,
    classification_entropy,
    degeneracy_advice,
    degeneracy_events,
    distinct_optima,
    icl,
    n_parameters,
    stopping_rules,
    stopping_statistics,
    sweep,
)

FAITHFUL = Path(__file__).resolve().parents[1] / "gmm_core" / "datasets" / "faithful.csv"


def quiet_fit(model: GaussianMixtureEM, X: np.ndarray) -> GaussianMixtureEM:
    """Fit when non-convergence is expected (tol=0 runs, degenerate data) and not the point."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Every fit here is tiny: BLAS and OpenMP worker threads only add wake-up latency, which
    on a loaded two-core machine made this module twenty times slower."""
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def faithful_raw() -> np.ndarray:
    """Old Faithful in its own units (minutes), as mclust's published numbers use it."""
    return pd.read_csv(FAITHFUL)[["eruptions", "waiting"]].to_numpy(dtype=float)


@pytest.fixture(scope="module")
def three_blobs() -> np.ndarray:
    X, _ = make_blobs(
        n_samples=300, centers=[[0, 0], [8, 0], [4, 7]], cluster_std=1.0, random_state=0
    )
    return X


@pytest.fixture(scope="module")
def blobs_sweep(three_blobs):
    return sweep(three_blobs, 5, n_init=2, random_state=0)


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
    # Raw units. tol is tighter than scikit-learn's default because the tied, K = 3 model
    # converges slowly (see test_stopping_rules_disagree_on_a_slow_fit).
    result = sweep(faithful_raw, 4, tol=1e-6, max_iter=1000, keep_models=False)
    best = result.best("bic")
    assert best["n_components"] in (2, 3)
    # mclust: "EEE (...) model with 3 components: log-likelihood -1126.326, n 272, df 11,
    # BIC -2314.316, ICL -2357.824" (summary(Mclust(faithful))). EEE is our 'tied'.
    assert (best["covariance_type"], best["n_components"]) == ("tied", 3)
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
        progress=lambda done, total, label: calls.append((done, total, label)),
    )
    assert calls == [
        (i + 1, 6, f"{t}, K = {k}")
        for i, (t, k) in enumerate((t, k) for t in ("full", "spherical") for k in (1, 2, 3))
    ]
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
    with pytest.raises(ValueError, match="covariance_types"):
        sweep(X, 2, covariance_types=("full", "VVV"))
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
    model = quiet_fit(GaussianMixtureEM(5, random_state=0), X)
    events = degeneracy_events(model.history_, model.reg_covar)
    kinds = {e.kind for e in events}
    assert kinds == {VANISHING_WEIGHT, COVARIANCE_FLOOR}
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
