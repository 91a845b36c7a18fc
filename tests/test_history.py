"""A fit's history in bounded memory: keep_history='best' and FitHistory.compact().

The compact form keeps what the app shows (the kept run's every iteration, every restart's
log-likelihood trace and final parameters) and the fitted model is the same bit for bit.
"""

import json
import pickle
import tracemalloc

import numpy as np
import pytest

from gmm_core import GaussianMixtureEM
from gmm_core.em import RunTrace, Snapshot, TracePoint
from gmm_core.selection import degeneracy_events, distinct_optima

SETTINGS = dict(n_components=6, n_init=8, max_iter=150, tol=0.0, random_state=0)


def fit(X, keep, **overrides):
    model = GaussianMixtureEM(**{**SETTINGS, **overrides}, keep_history=keep)
    return model.fit(X, warn_convergence=False)


@pytest.fixture(scope="module")
def both(wine_std):
    return fit(wine_std, "all"), fit(wine_std, "best")


def assert_same_params(a, b):
    for name in ("weights", "means", "covariances", "precisions_cholesky"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def test_keep_history_is_a_parameter_checked_in_fit(wine_std):
    model = GaussianMixtureEM(2, keep_history="some")
    assert model.get_params()["keep_history"] == "some"
    with pytest.raises(ValueError, match="keep_history must be one of all, best"):
        model.fit(wine_std)


def test_the_compact_fit_is_the_same_fit(both):
    full, compact = both
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_"):
        np.testing.assert_array_equal(getattr(full, name), getattr(compact, name), err_msg=name)
    assert (full.n_iter_, full.converged_, full.lower_bound_, full.lower_bounds_) == (
        compact.n_iter_,
        compact.converged_,
        compact.lower_bound_,
        compact.lower_bounds_,
    )
    assert compact.history_.best_run == full.history_.best_run
    assert compact.history_.keep == "best" and full.history_.keep == "all"
    assert compact.history_.notes == full.history_.notes


def test_the_kept_run_keeps_every_snapshot_and_derives_its_choleskys_exactly(both):
    full, compact = both
    assert len(compact.history_) == len(full.history_) == SETTINGS["max_iter"] + 1
    for a, b in zip(full.history_, compact.history_, strict=True):
        assert isinstance(b, Snapshot)
        assert (a.iteration, a.log_likelihood, a.empty_components, a.converged) == (
            b.iteration,
            b.log_likelihood,
            b.empty_components,
            b.converged,
        )
        assert_same_params(a.params, b.params)  # the derived factors equal the stored ones
    # Not stored for the M-steps in between; stored for the start and the fitted model.
    stored = [s.params._precisions_cholesky is not None for s in compact.history_]
    assert stored[0] and stored[-1] and not any(stored[1:-1])
    assert compact.history_[-1].params.precisions_cholesky is compact.precisions_cholesky_


def test_other_restarts_keep_their_trace_start_and_final_snapshot(both):
    full, compact = both
    best = full.history_.best_run
    for r, (a, b) in enumerate(zip(full.history_.runs, compact.history_.runs, strict=True)):
        if r == best:
            continue
        assert isinstance(b, RunTrace) and len(b) == len(a)
        np.testing.assert_array_equal(b.log_likelihoods, [s.log_likelihood for s in a])
        # What the restart explorer reads: the trace, point by point.
        assert [s.log_likelihood for s in b] == [s.log_likelihood for s in a]
        assert isinstance(b[1], TracePoint) and b[1].iteration == 1
        for i in (0, -1):
            assert isinstance(b[i], Snapshot)
            assert_same_params(a[i].params, b[i].params)
            assert b[i].converged == a[i].converged
    traces = compact.history_.log_likelihood_traces
    assert [t.tolist() for t in traces] == [t.tolist() for t in full.history_.log_likelihood_traces]


def test_distinct_optima_and_the_restart_explorer_work_on_the_compact_form(both):
    full, compact = both
    assert distinct_optima(compact) == distinct_optima(full)
    from gmm_core.dashboard.fit_views import restart_explorer

    figure_full, table_full = restart_explorer(full)
    figure_compact, table_compact = restart_explorer(compact)
    assert table_compact.equals(table_full)
    assert figure_compact.to_json() == figure_full.to_json()


def test_a_compacted_history_equals_the_compact_fit(both):
    full, compact = both
    compacted = full.history_.compact()
    assert compacted.keep == "best" and compacted.nbytes == compact.history_.nbytes
    assert compacted.to_dict() == compact.history_.to_dict()
    assert full.history_.keep == "all"  # compact() returns a new history


def test_memory_is_bounded_by_the_kept_run(both, wine_std):
    full, compact = both
    k, d = SETTINGS["n_components"], wine_std.shape[1]
    snapshot_bytes = 8 * (k + k * d + k * d * d)  # without the Cholesky factors
    kept_run = (SETTINGS["max_iter"] + 1) * snapshot_bytes
    per_restart = 2 * (2 * snapshot_bytes) + 8 * (SETTINGS["max_iter"] + 1)
    assert compact.history_.nbytes <= kept_run + SETTINGS["n_init"] * per_restart
    assert full.history_.nbytes >= SETTINGS["n_init"] * kept_run * 1.9  # factors stored too
    assert compact.history_.nbytes < full.history_.nbytes / 10


def test_the_compact_fit_never_holds_every_restart(wine_std):
    def peak(keep):
        tracemalloc.start()
        try:
            model = fit(wine_std, keep)
            return tracemalloc.get_traced_memory()[1], model.history_.nbytes
        finally:
            tracemalloc.stop()

    peak_all, bytes_all = peak("all")
    peak_best, _ = peak("best")
    assert peak_all >= bytes_all
    # The current run and the best one so far, not all eight (nor a third one).
    k, d = SETTINGS["n_components"], wine_std.shape[1]
    run_bytes = (SETTINGS["max_iter"] + 1) * 8 * (k + k * d + k * d * d)
    assert peak_best < 2.5 * run_bytes < 0.2 * bytes_all


def test_the_compact_form_survives_json_and_pickle(both):
    compact = both[1]
    payload = json.loads(json.dumps(compact.history_.to_dict()))
    best = compact.history_.best_run
    other = next(r for r in range(len(payload["runs"])) if r != best)
    assert len(payload["runs"][other]) == len(compact.history_.runs[other])
    assert set(payload["runs"][other][1]) == {"iteration", "log_likelihood", "converged"}
    assert "covariances" in payload["runs"][other][-1]
    assert all("covariances" in s for s in payload["runs"][best])
    # st.cache_data pickles what it keeps.
    again = pickle.loads(pickle.dumps(compact))
    assert again.history_.to_dict() == compact.history_.to_dict()
    assert isinstance(again.history_.runs[other], RunTrace)
    assert_same_params(again.history_[5].params, compact.history_[5].params)


def test_degeneracy_of_a_trace_only_restart_says_why_not(both):
    compact = both[1]
    other = next(r for r in range(SETTINGS["n_init"]) if r != compact.history_.best_run)
    with pytest.raises(ValueError, match="log-likelihood trace only"):
        degeneracy_events(compact.history_, compact.reg_covar, run=other)
    assert isinstance(degeneracy_events(compact.history_, compact.reg_covar), list)


def test_warm_start_continues_from_a_compact_history(wine_std):
    model = fit(wine_std, "best", n_init=2, max_iter=5, warm_start=True)
    first_end = model.means_.copy()
    model.fit(wine_std, warn_convergence=False)
    np.testing.assert_array_equal(model.history_[0].means, first_end)
    assert len(model.history_.runs) == 1
