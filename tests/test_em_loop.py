"""The compiled whole-EM loop (keep_history='trace') against the Python loop it replaces.

:func:`gmm_core.em.compiled_run` must be :func:`gmm_core.em.em_iterations` with the numba
engine to rounding: the same iterations, the same estimates, the same stopping point, the
same refusals (handed back to the Python loop, which raises with its message).
"""

import threading

import numpy as np
import pandas as pd
import pytest

from gmm_core import GaussianMixtureEM
from gmm_core.em import RunTrace, Snapshot, compiled_run, em_iterations, likelihood_drops
from gmm_core.init import hc_tree, one_hot, params_from_responsibilities
from gmm_core.params import ALL_COVARIANCE_TYPES, MCLUST_MODELS, DegenerateCovarianceError
from gmm_core.selection import degeneracy_at_end, sweep

TOL = 1e-5


def hc_start(X, k, covariance_type, weights=None):
    rows, tree = hc_tree(X, np.random.RandomState(42), weights)
    labels = np.asarray(tree.partition(k))
    w = None if weights is None else weights[rows]
    return params_from_responsibilities(
        X[rows], one_hot(labels, k, X.dtype), covariance_type, 1e-6, w
    )


def python_run(X, start, **kwargs):
    return list(em_iterations(X, start, engine="numba", **kwargs))


def assert_same_run(reference, run, rtol=1e-10):
    assert isinstance(run, RunTrace)
    assert len(run) == len(reference)
    np.testing.assert_allclose(
        run.log_likelihoods, [s.log_likelihood for s in reference], rtol=rtol, atol=0
    )
    a, b = reference[-1], run[-1]
    assert (a.iteration, a.converged, a.empty_components) == (
        b.iteration,
        b.converged,
        b.empty_components,
    )
    scale = np.abs(a.params.covariances).max()
    np.testing.assert_allclose(b.params.weights, a.params.weights, rtol=rtol, atol=1e-13)
    np.testing.assert_allclose(b.params.means, a.params.means, rtol=rtol, atol=1e-12)
    np.testing.assert_allclose(
        b.params.covariances, a.params.covariances, rtol=rtol, atol=1e-12 * scale
    )
    assert b.params.covariance_type == a.params.covariance_type
    assert b.params.covariances.shape == a.params.covariances.shape


@pytest.mark.parametrize("covariance_type", ALL_COVARIANCE_TYPES)
@pytest.mark.parametrize("k", [1, 3, 5])
def test_the_compiled_loop_is_the_python_loop_on_old_faithful(faithful_raw, covariance_type, k):
    start = hc_start(faithful_raw, k, covariance_type)
    reference = python_run(faithful_raw, start, tol=TOL, max_iter=1000)
    run = compiled_run(faithful_raw, start, tol=TOL, max_iter=1000)
    assert len(reference) >= 3  # two M-steps at least: iterations compared, not a start
    assert_same_run(reference, run)


@pytest.mark.parametrize(
    "covariance_type", ["EII", "VEI", "EVI", "VEE", "EVE", "VVE", "VEV", "EVV"]
)
def test_the_compiled_loop_is_the_python_loop_on_thirteen_features(wine_std, covariance_type):
    # d = 13 takes the engine's generic kernel (features four at a time), d = 2 its own
    start = hc_start(wine_std, 3, covariance_type)
    reference = python_run(wine_std, start, tol=TOL, max_iter=300)
    assert_same_run(reference, compiled_run(wine_std, start, tol=TOL, max_iter=300))


def test_integer_weights_are_the_rows_repeated(faithful_raw):
    rng = np.random.default_rng(3)
    weights = rng.integers(0, 4, len(faithful_raw)).astype(float)  # zeros included
    repeated = np.repeat(faithful_raw, weights.astype(int), axis=0)
    for covariance_type in ("VVV", "EVE", "VEI"):
        start = hc_start(faithful_raw, 3, covariance_type, weights)
        weighted = compiled_run(faithful_raw, start, tol=TOL, max_iter=500, sample_weight=weights)
        reference = python_run(faithful_raw, start, tol=TOL, max_iter=500, sample_weight=weights)
        assert_same_run(reference, weighted)
        assert_same_run(reference, compiled_run(repeated, start, tol=TOL, max_iter=500))


def test_the_iteration_limit_the_warm_start_and_no_iteration(faithful_raw):
    start = hc_start(faithful_raw, 4, "full")
    short = compiled_run(faithful_raw, start, tol=0.0, max_iter=7)
    assert len(short) == 8 and not short[-1].converged
    assert_same_run(python_run(faithful_raw, start, tol=0.0, max_iter=7), short)
    # previous_log_likelihood: the stopping rule's L(-1), as for a warm start
    warm = compiled_run(
        faithful_raw, start, tol=1.0, max_iter=50, previous_log_likelihood=short[0].log_likelihood
    )
    reference = python_run(
        faithful_raw, start, tol=1.0, max_iter=50, previous_log_likelihood=short[0].log_likelihood
    )
    assert len(reference) == 2 and reference[-1].converged
    assert_same_run(reference, warm)
    none = compiled_run(faithful_raw, start, max_iter=0)
    assert len(none) == 1 and none[0] is none[-1] and none[0].params is start


def collapsing_start():
    # five copies of one point given a component of their own, and no reg_covar to hold it
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(40, 2)), np.tile([6.0, 6.0], (5, 1))])
    labels = np.r_[np.zeros(40, int), np.ones(5, int)]
    resp = one_hot(labels, 2, X.dtype)
    resp[:40, 1] = 1e-3  # a start with a little spread, so that the collapse is EM's
    resp[:40, 0] -= 1e-3
    start = params_from_responsibilities(X, resp, "full", 0.0, None)
    return X, start


def test_an_estimate_the_python_loop_refuses_is_handed_back():
    X, start = collapsing_start()
    with pytest.raises(DegenerateCovarianceError) as python_error:
        python_run(X, start, reg_covar=0.0, tol=TOL, max_iter=100)
    assert compiled_run(X, start, reg_covar=0.0, tol=TOL, max_iter=100) is None
    # and the estimator keeping traces raises what the Python loop says
    model = GaussianMixtureEM(
        2,
        reg_covar=0.0,
        keep_history="trace",
        engine="numba",
        weights_init=start.weights,
        means_init=start.means,
        precisions_init=start.precisions,
    )
    with pytest.raises(DegenerateCovarianceError) as traced_error:
        model.fit(X)
    assert str(traced_error.value) == str(python_error.value)


@pytest.mark.parametrize("covariance_type", ["full", "VVE", "EEI"])
def test_keep_history_trace_is_the_same_fit(faithful_raw, covariance_type):
    settings = dict(covariance_type=covariance_type, init_params="hc", tol=1e-8, max_iter=2000)
    full = GaussianMixtureEM(4, engine="numba", **settings).fit(faithful_raw)
    traced = GaussianMixtureEM(4, engine="numba", keep_history="trace", **settings).fit(
        faithful_raw
    )
    assert (traced.n_iter_, traced.converged_) == (full.n_iter_, full.converged_)
    np.testing.assert_allclose(traced.lower_bounds_, full.lower_bounds_, rtol=1e-12)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_allclose(
            getattr(traced, name), getattr(full, name), rtol=1e-9, atol=1e-12, err_msg=name
        )
    history = traced.history_
    assert history.keep == "trace" and all(isinstance(r, RunTrace) for r in history.runs)
    assert len(history) == traced.n_iter_ + 1
    np.testing.assert_allclose(history.log_likelihoods, full.history_.log_likelihoods, rtol=1e-12)
    assert history.compact() is history
    with pytest.raises(ValueError, match="keep_history='trace'"):
        history.means  # noqa: B018 (the property is what is tested)


def test_restarts_keep_their_traces_and_the_best_run(faithful_raw):
    settings = dict(init_params="random", n_init=4, random_state=1, tol=1e-6, max_iter=500)
    full = GaussianMixtureEM(3, engine="numba", **settings).fit(faithful_raw)
    traced = GaussianMixtureEM(3, engine="numba", keep_history="trace", **settings).fit(
        faithful_raw
    )
    assert traced.history_.best_run == full.history_.best_run
    for a, b in zip(
        full.history_.log_likelihood_traces, traced.history_.log_likelihood_traces, strict=True
    ):
        np.testing.assert_allclose(b, a, rtol=1e-12)


def test_the_numpy_engine_and_a_prior_take_the_python_loop(faithful_raw):
    # keep_history='trace' changes what is kept, never the engine a user asked for
    model = GaussianMixtureEM(3, init_params="hc", keep_history="trace", engine="numpy")
    model.fit(faithful_raw)
    reference = GaussianMixtureEM(3, init_params="hc", engine="numpy").fit(faithful_raw)
    np.testing.assert_array_equal(model.means_, reference.means_)
    assert model.engine_ == "numpy"
    with_prior = GaussianMixtureEM(
        3, init_params="hc", keep_history="trace", engine="numba", prior="default"
    ).fit(faithful_raw)
    reference = GaussianMixtureEM(3, init_params="hc", engine="numba", prior="default")
    np.testing.assert_array_equal(with_prior.means_, reference.fit(faithful_raw).means_)


def test_the_end_of_a_trace_has_the_degeneracies_of_the_whole_history():
    # a column with one repeated value in a cluster: VVI's variance there hits the floor
    rng = np.random.default_rng(1)
    X = np.vstack([rng.normal(size=(60, 2)), np.c_[np.full(8, 5.0), rng.normal(5, 1, 8)]])
    settings = dict(covariance_type="VVI", init_params="hc", tol=1e-6, max_iter=500)
    full = GaussianMixtureEM(2, engine="numba", **settings).fit(X)
    traced = GaussianMixtureEM(2, engine="numba", keep_history="trace", **settings).fit(X)
    kinds = {(e.component, e.kind) for e in degeneracy_at_end(full.history_, 1e-6)}
    assert kinds  # the case is degenerate
    assert {(e.component, e.kind) for e in degeneracy_at_end(traced.history_, 1e-6)} == kinds


def test_the_sweep_on_the_compiled_loop_is_the_sweep_on_the_python_loop(faithful_raw):
    compiled = sweep(faithful_raw, 6).table
    python = sweep(faithful_raw, 6, engine="numpy").table
    assert (compiled.error == python.error).all()
    assert (compiled.degenerate == python.degenerate).all()
    assert (compiled.tol == python.tol).all()
    assert (compiled.n_iter == python.n_iter).all()
    np.testing.assert_allclose(compiled.bic, python.bic, rtol=1e-10)


def test_likelihood_drops_read_a_trace_as_the_snapshots(faithful_raw):
    start = hc_start(faithful_raw, 2, "full")
    values = [-9.0, -5.0, -4.0, -3.0, -3.5, -3.2, -3.3, -3.3]
    snapshots = [Snapshot(j, start, v) for j, v in enumerate(values)]
    drops = likelihood_drops(snapshots)
    assert [j for j, _ in drops] == [4, 6]
    assert likelihood_drops(RunTrace(snapshots)) == drops


def test_cells_in_threads_are_the_cells_in_turn(faithful_raw):
    seen = []

    def progress(done, total, label):
        seen.append((done, label, threading.current_thread()))

    threaded = sweep(faithful_raw, 4, n_jobs=2, progress=progress)
    in_turn = sweep(faithful_raw, 4, n_jobs=1)
    pd.testing.assert_frame_equal(threaded.table, in_turn.table)
    grid = [f"{m}, K = {k}" for m in MCLUST_MODELS for k in range(1, 5)]
    assert [label for _, label, _ in seen[: len(grid)]] == grid
    assert [done for done, _, _ in seen[: len(grid)]] == list(range(1, len(grid) + 1))
    assert {thread for _, _, thread in seen} == {threading.current_thread()}
    with pytest.raises(ValueError, match="n_jobs"):
        sweep(faithful_raw, 2, n_jobs=0)


def test_float32_data_take_the_python_loop_and_keep_traces(faithful_raw):
    X = faithful_raw.astype(np.float32)
    traced = GaussianMixtureEM(3, init_params="hc", keep_history="trace", engine="numba").fit(X)
    full = GaussianMixtureEM(3, init_params="hc", engine="numba").fit(X)
    assert isinstance(traced.history_.snapshots, RunTrace) and traced.means_.dtype == np.float32
    np.testing.assert_array_equal(traced.means_, full.means_)
