"""Staying quiet about non-convergence without touching the process-wide warning filters.

``warnings.catch_warnings`` saves and restores the global filter list, so two threads using it
at once (Streamlit runs every session in a thread) can leave each other's filters behind or
remove them early. Our own code therefore never uses it around our own fits: it asks the
estimator not to warn (``warn_convergence=False``) and reads ``converged_``. pytest runs with
filterwarnings=error, so any warning that escapes fails these tests.
"""

import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from gmm_core import GaussianMixtureEM, compare
from gmm_core.selection import sweep


@pytest.fixture
def filter_swaps(monkeypatch):
    """The gmm_core modules that call ``warnings.catch_warnings`` during the test."""
    callers: list[str] = []
    original = warnings.catch_warnings

    def recording(*args, **kwargs):
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if caller.startswith("gmm_core"):
            callers.append(caller)
        return original(*args, **kwargs)

    monkeypatch.setattr(warnings, "catch_warnings", recording)
    return callers


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.concatenate([rng.normal(size=(150, 2)), rng.normal(size=(150, 2)) + 4.0])


def test_fit_and_fit_predict_can_stay_quiet(data, filter_swaps):
    before = list(warnings.filters)
    model = GaussianMixtureEM(3, max_iter=2, random_state=0)
    model.fit(data, warn_convergence=False)
    assert not model.converged_ and model.n_iter_ == 2
    labels = GaussianMixtureEM(3, max_iter=2, random_state=0).fit_predict(
        data, warn_convergence=False
    )
    np.testing.assert_array_equal(labels, model.predict(data))
    assert filter_swaps == []
    assert warnings.filters == before


def test_by_default_a_fit_that_did_not_converge_warns(data):
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        GaussianMixtureEM(3, max_iter=2, random_state=0).fit(data)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        GaussianMixtureEM(3, max_iter=2, random_state=0).fit_predict(data)


def test_warn_convergence_is_a_fit_keyword_not_a_parameter():
    assert "warn_convergence" not in GaussianMixtureEM().get_params()


def test_sweep_tabulates_non_convergence_without_swapping_filters(data, filter_swaps):
    result = sweep(data, 3, covariance_types=("full", "diag"), n_init=1, max_iter=2, tol=0.0)
    assert not result.table["converged"].any()
    assert (result.table["error"] == "").all()
    assert filter_swaps == []


def test_sweep_does_not_fit_more_components_than_distinct_rows(filter_swaps):
    # Three distinct points: scikit-learn's k-means would warn for K = 4 and 5 (it has no
    # switch for that), and such a fit has components without a row of their own anyway.
    X = np.repeat(np.array([[0.0, 0.0], [3.0, 1.0], [1.0, 4.0]]), 10, axis=0)
    result = sweep(X, 5, covariance_types=("full",), n_init=1, init_params="kmeans")
    table = result.table.set_index("n_components")
    assert (table.loc[[1, 2, 3], "error"] == "").all()
    for k in (4, 5):
        assert "only 3 distinct rows" in table.loc[k, "error"]
        assert np.isnan(table.loc[k, "bic"]) and table.loc[k, "degenerate"]
    assert set(result.models) == {("full", 1), ("full", 2), ("full", 3)}
    assert filter_swaps == []


def test_run_fit_reads_convergence_off_the_model(filter_swaps):
    from gmm_core.dashboard.data import prepare
    from gmm_core.dashboard.fitting import FitSettings, fit_view, run_fit
    from gmm_core.dashboard.projection import project

    rng = np.random.default_rng(1)
    prepared = prepare(pd.DataFrame(rng.normal(size=(200, 2)), columns=["x", "y"]), ["x", "y"])
    view = fit_view(prepared, project(prepared.X, "none"), fit_on="features")
    result = run_fit(view, FitSettings(n_components=3, max_iter=3, tol=0.0))
    assert not result.model.converged_
    assert any("EM stopped after 3 iterations" in m for m in result.messages)
    assert filter_swaps == []


def test_compare_times_our_fit_without_swapping_filters(data, filter_swaps):
    seconds = compare.timed_fit(GaussianMixtureEM(2, tol=0.0, max_iter=3, random_state=0), data)
    assert seconds > 0
    assert filter_swaps == []
    # scikit-learn's fit has no switch: only there does compare still swap the filters.
    compare.timed_fit(GaussianMixture(2, tol=0.0, max_iter=3, random_state=0), data)
    assert filter_swaps == ["gmm_core.compare"]
