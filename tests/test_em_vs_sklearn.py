"""Same start, same path: every snapshot equals scikit-learn's iterate to 1e-8 (relative)."""

import warnings

import numpy as np
import pytest
from conftest import relative_difference
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from gmm_core import COVARIANCE_TYPES, GaussianMixtureEM
from gmm_core.params import covariance_shape

RTOL = 1e-8


def starting_point(X: np.ndarray, k: int, covariance_type: str, seed: int):
    """A deliberately rough start: K random rows as means, unit-ish precisions."""
    rng = np.random.default_rng(seed)
    n, d = X.shape
    means = X[rng.choice(n, size=k, replace=False)]
    weights = rng.dirichlet(np.full(k, 5.0))
    scale = 1.0 / X.var(axis=0).mean()
    shape = covariance_shape(covariance_type, k, d)
    if covariance_type == "full":
        precisions = np.broadcast_to(np.eye(d) * scale, shape).copy()
    elif covariance_type == "tied":
        precisions = np.eye(d) * scale
    else:
        precisions = np.full(shape, scale)
    return {"weights_init": weights, "means_init": means, "precisions_init": precisions}


def sklearn_iterates(X, k, covariance_type, start, n_steps, reg_covar):
    """scikit-learn stepped one EM iteration per fit call (warm start, max_iter=1)."""
    gm = GaussianMixture(
        k,
        covariance_type=covariance_type,
        max_iter=1,
        warm_start=True,
        tol=0.0,
        reg_covar=reg_covar,
        **start,
    )
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(n_steps):
            gm.fit(X)
            out.append(
                (gm.weights_.copy(), gm.means_.copy(), gm.covariances_.copy(), gm.lower_bound_)
            )
    return out


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dataset,k", [("iris", 3), ("wine_std", 3), ("blobs", 4)])
def test_every_snapshot_matches_sklearn(request, dataset, k, covariance_type):
    X = request.getfixturevalue(dataset)
    start = starting_point(X, k, covariance_type, seed=1)
    n_steps = 40
    ours = GaussianMixtureEM(k, covariance_type=covariance_type, max_iter=n_steps, tol=0.0, **start)
    ours.fit(X, warn_convergence=False)
    assert len(ours.history_) == n_steps + 1 == ours.n_iter_ + 1
    np.testing.assert_allclose(ours.history_[0].means, start["means_init"])
    np.testing.assert_allclose(ours.history_[0].weights, start["weights_init"])
    theirs = sklearn_iterates(X, k, covariance_type, start, n_steps, 1e-6)
    for j, (w, m, c, lower_bound) in enumerate(theirs, start=1):
        snap = ours.history_[j]
        assert snap.iteration == j
        assert relative_difference(snap.weights, w) < RTOL, f"weights at iteration {j}"
        assert relative_difference(snap.means, m) < RTOL, f"means at iteration {j}"
        assert relative_difference(snap.covariances, c) < RTOL, f"covariances at iteration {j}"
        # scikit-learn's lower bound of step j is the likelihood of the (j-1)-th snapshot.
        assert ours.history_[j - 1].log_likelihood == pytest.approx(lower_bound, rel=RTOL)
    np.testing.assert_allclose(ours.lower_bounds_, [t[3] for t in theirs], rtol=RTOL)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
def test_same_defaults_same_answer(iris, covariance_type, init_params):
    kwargs = dict(covariance_type=covariance_type, init_params=init_params, random_state=42)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs = GaussianMixture(3, **kwargs).fit(iris)
        ours = GaussianMixtureEM(3, **kwargs).fit(iris)
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.converged_ == theirs.converged_
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        assert relative_difference(getattr(ours, name), getattr(theirs, name)) < RTOL, name
    assert ours.lower_bound_ == pytest.approx(theirs.lower_bound_, rel=RTOL)
    np.testing.assert_array_equal(ours.predict(iris), theirs.predict(iris))


@pytest.mark.parametrize("k", [2, 4, 6])
def test_default_estimator_reproduces_sklearn_random_state_42(wine_std, k):
    theirs = GaussianMixture(n_components=k, random_state=42).fit(wine_std)
    ours = GaussianMixtureEM(n_components=k, random_state=42).fit(wine_std)
    assert ours.n_iter_ == theirs.n_iter_
    assert relative_difference(ours.weights_, theirs.weights_) < RTOL
    assert relative_difference(ours.means_, theirs.means_) < RTOL
    assert relative_difference(ours.covariances_, theirs.covariances_) < RTOL
    np.testing.assert_array_equal(ours.fit_predict(wine_std), theirs.fit_predict(wine_std))


def test_restarts_keep_every_trace_and_pick_sklearns_winner(blobs):
    kwargs = dict(n_components=4, n_init=5, init_params="random", random_state=0, max_iter=300)
    theirs = GaussianMixture(**kwargs).fit(blobs)
    ours = GaussianMixtureEM(**kwargs).fit(blobs)
    assert len(ours.history_.runs) == 5
    assert len({len(run) for run in ours.history_.runs}) > 1, "restarts should differ"
    assert ours.history_.snapshots is ours.history_.runs[ours.history_.best_run]
    assert relative_difference(ours.means_, theirs.means_) < RTOL
    assert ours.lower_bound_ == pytest.approx(theirs.lower_bound_, rel=RTOL)


def test_warm_start_continues_like_sklearn(iris):
    kwargs = dict(n_components=3, warm_start=True, max_iter=2, random_state=1, tol=0.0)
    theirs, ours = GaussianMixture(**kwargs), GaussianMixtureEM(**kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(3):
            theirs.fit(iris)
            ours.fit(iris)
            assert relative_difference(ours.means_, theirs.means_) < RTOL
            assert ours.lower_bound_ == pytest.approx(theirs.lower_bound_, rel=RTOL)
