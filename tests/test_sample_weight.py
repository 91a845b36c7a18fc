"""Sample weights in the estimator: an integer weight is the row repeated, 0 the row removed.

The engines' weighted passes have their own tests (test_engines.py, test_fast.py); these check
the whole fit: starts, EM, the stopping rule, score / BIC / AIC, validation, and Dask.
"""

import numpy as np
import pytest
from conftest import relative_difference

from gmm_core import GaussianMixtureEM
from gmm_core.init import initial_params
from gmm_core.params import ALL_COVARIANCE_TYPES, covariance_model

K = 3


def data(n=240, d=3, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0, 0.0], [5.0, 1.0, -2.0], [-3.0, 4.0, 2.0]])[:, :d]
    X = centres[rng.integers(0, K, n)] + rng.normal(size=(n, d)) * rng.uniform(0.6, 1.4, d)
    counts = rng.integers(0, 4, n)  # zeros included
    return X, counts


def explicit_start(X, covariance_type):
    """weights_init, means_init and precisions_init of a sensible start (no random draws)."""
    start = initial_params(
        X,
        K,
        covariance_type=covariance_type,
        init_params="kmeans",
        random_state=np.random.RandomState(0),
    )
    return {
        "weights_init": start.weights / start.weights.sum(),
        "means_init": start.means,
        "precisions_init": start.precisions,
    }


def fitted_arrays(model):
    return {
        "weights_": model.weights_,
        "means_": model.means_,
        "covariances_": model.covariances_,
    }


def assert_same_fit(a, b, rtol):
    for name, value in fitted_arrays(a).items():
        assert relative_difference(value, getattr(b, name)) <= rtol, name
    assert a.n_iter_ == b.n_iter_ and a.converged_ == b.converged_
    assert a.lower_bound_ == pytest.approx(b.lower_bound_, rel=rtol)
    np.testing.assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=rtol)


@pytest.mark.parametrize("engine", ["numpy", "numba"])
@pytest.mark.parametrize("covariance_type", ALL_COVARIANCE_TYPES)
def test_integer_weights_fit_as_repeated_rows(covariance_type, engine):
    X, counts = data()
    options = dict(covariance_type=covariance_type, engine=engine, tol=1e-8, max_iter=40)
    options |= explicit_start(X, covariance_type)
    weighted = GaussianMixtureEM(K, **options).fit(X, sample_weight=counts)
    repeated = GaussianMixtureEM(K, **options).fit(np.repeat(X, counts, axis=0))
    assert weighted.n_iter_ > 2  # EM ran, not only the start
    assert_same_fit(weighted, repeated, 1e-10)
    assert weighted.history_.n_samples == len(X)
    assert weighted.history_.weight_sum == counts.sum() == repeated.history_.weight_sum
    # The criteria of the weighted fit are those of the repeated rows.
    Xr = np.repeat(X, counts, axis=0)
    assert weighted.bic(X, sample_weight=counts) == pytest.approx(repeated.bic(Xr), rel=1e-10)
    assert weighted.aic(X, sample_weight=counts) == pytest.approx(repeated.aic(Xr), rel=1e-10)
    assert weighted.score(X, sample_weight=counts) == pytest.approx(repeated.score(Xr), rel=1e-10)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical", "VEV"])
def test_zero_weight_removes_the_row_and_real_weights_are_consistent(covariance_type):
    X, _ = data(seed=1)
    w = np.random.default_rng(1).uniform(0.2, 3.0, len(X))
    w[::5] = 0.0
    X[::5] += 50.0  # far away: they would pull a component if they counted
    options = dict(covariance_type=covariance_type, engine="numpy", tol=1e-8, max_iter=40)
    options |= explicit_start(X[w > 0], covariance_type)
    with_zeros = GaussianMixtureEM(K, **options).fit(X, sample_weight=w)
    removed = GaussianMixtureEM(K, **options).fit(X[w > 0], sample_weight=w[w > 0])
    assert_same_fit(with_zeros, removed, 1e-10)
    # Scaling all weights changes nothing but the total (the likelihood per unit of weight).
    scaled = GaussianMixtureEM(K, **options).fit(X, sample_weight=7.5 * w)
    assert_same_fit(scaled, with_zeros, 1e-10)
    assert scaled.history_.weight_sum == pytest.approx(7.5 * w.sum())


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random_from_data", "wide", "hc"])
def test_the_starts_ignore_rows_of_weight_zero(init_params):
    """Weighted seeding and k-means: a row of weight 0 is never a seed, moves no centre."""
    X, _ = data(seed=2)
    w = np.random.default_rng(2).uniform(0.5, 2.0, len(X))
    w[1::4] = 0.0
    X[1::4] = 100.0  # a far cluster of weightless rows
    starts = [
        initial_params(
            rows,
            K,
            init_params=init_params,
            random_state=np.random.RandomState(3),
            sample_weight=weights,
        )
        for rows, weights in ((X, w), (X[w > 0], w[w > 0]))
    ]
    for name in ("weights", "means", "covariances"):
        a, b = getattr(starts[0], name), getattr(starts[1], name)
        assert relative_difference(a, b) < 1e-10, name
    assert np.all(np.abs(starts[0].means) < 20)


def test_weights_change_the_fit_and_weighted_starts_follow_the_weights():
    X, _ = data(seed=3)
    # Nearly all the weight on the first cluster's rows: the weighted k-means start and fit
    # put a component's weight near the weight share, not the row share.
    first = np.linalg.norm(X - [0, 0, 0], axis=1) < 2.5
    w = np.where(first, 10.0, 1.0)
    plain = GaussianMixtureEM(K, random_state=0).fit(X)
    weighted = GaussianMixtureEM(K, random_state=0).fit(X, sample_weight=w)
    share = w[first].sum() / w.sum()
    assert weighted.weights_.max() == pytest.approx(share, abs=0.05)
    assert plain.weights_.max() < share - 0.2


def test_no_weights_and_unit_weights_give_the_same_fit():
    X, _ = data(seed=4)
    for init_params in ("kmeans", "k-means++", "random", "random_from_data", "wide"):
        plain = GaussianMixtureEM(K, random_state=0, init_params=init_params).fit(X)
        ones = GaussianMixtureEM(K, random_state=0, init_params=init_params)
        ones.fit(X, sample_weight=np.ones(len(X)))
        assert_same_fit(ones, plain, 1e-12)


def test_fit_predict_takes_weights():
    X, counts = data(seed=5)
    start = explicit_start(X, "full")
    labels = GaussianMixtureEM(K, **start).fit_predict(X, sample_weight=counts)
    model = GaussianMixtureEM(K, **start).fit(X, sample_weight=counts)
    np.testing.assert_array_equal(labels, model.predict(X))


def test_invalid_weights_are_clear_errors():
    X, _ = data(60)
    model = GaussianMixtureEM(2)
    with pytest.raises(ValueError, match="Negative values in data passed to `sample_weight`"):
        model.fit(X, sample_weight=np.r_[-1.0, np.ones(59)])
    with pytest.raises(ValueError, match="Sample weights must contain at least one non-zero"):
        model.fit(X, sample_weight=np.zeros(60))
    with pytest.raises(ValueError, match=r"sample_weight.shape == \(30,\), expected \(60,\)"):
        model.fit(X, sample_weight=np.ones(30))
    with pytest.raises(ValueError, match="NaN"):
        model.fit(X, sample_weight=np.r_[np.nan, np.ones(59)])
    with pytest.raises(ValueError, match="at least n_components = 2 rows of non-zero"):
        model.fit(X, sample_weight=np.r_[1.0, np.zeros(59)])


def test_weights_are_not_overwritten_and_lists_are_taken():
    X, counts = data(80)
    w = counts.astype(float) + 0.5
    before = w.copy()
    a = GaussianMixtureEM(2, random_state=0).fit(X, sample_weight=w)
    np.testing.assert_array_equal(w, before)
    b = GaussianMixtureEM(2, random_state=0).fit(X, sample_weight=list(w))
    assert_same_fit(a, b, 0)


def test_weighted_float32_fit_stays_float32_and_tracks_float64():
    X, counts = data(seed=6)
    start = explicit_start(X, "full")
    a = GaussianMixtureEM(K, engine="numba", **start).fit(X, sample_weight=counts)
    start32 = {key: value.astype(np.float32) for key, value in start.items()}
    start32["weights_init"] = start32["weights_init"] / start32["weights_init"].sum()
    b = GaussianMixtureEM(K, engine="numba", **start32)
    b.fit(X.astype(np.float32), sample_weight=counts)
    assert b.means_.dtype == np.float32
    assert relative_difference(b.means_, a.means_) < 1e-4


def test_dask_weights_fit_as_in_memory():
    da = pytest.importorskip("dask.array")
    X, counts = data(seed=7)
    start = explicit_start(X, "full")
    memory = GaussianMixtureEM(K, engine="numpy", **start).fit(X, sample_weight=counts)
    Xd = da.from_array(X, chunks=(70, 3))
    for weights in (counts, da.from_array(counts.astype(float), chunks=50)):
        lazy = GaussianMixtureEM(K, engine="numpy", **start).fit(Xd, sample_weight=weights)
        assert_same_fit(lazy, memory, 1e-12)
        assert lazy.history_.weight_sum == counts.sum()
    assert lazy.bic(Xd, sample_weight=counts) == pytest.approx(
        memory.bic(X, sample_weight=counts), rel=1e-12
    )
    # The start from the (here: all) rows, with their weights, as in memory.
    kmeans_memory = GaussianMixtureEM(K, random_state=0).fit(X, sample_weight=counts)
    kmeans_lazy = GaussianMixtureEM(K, random_state=0).fit(Xd, sample_weight=counts)
    assert_same_fit(kmeans_lazy, kmeans_memory, 1e-10)
    with pytest.raises(ValueError, match="Negative values"):
        GaussianMixtureEM(K).fit(Xd, sample_weight=-np.ones(len(X)))
    with pytest.raises(ValueError, match="expected"):
        GaussianMixtureEM(K).fit(Xd, sample_weight=np.ones(5))


def test_every_covariance_type_has_a_start_shape():
    # explicit_start covers every layout (a guard for the parametrisation above).
    X, _ = data(30)
    layouts = {covariance_model(c).layout for c in ALL_COVARIANCE_TYPES}
    assert layouts == {"full", "tied", "diag", "spherical"}
    for c in ALL_COVARIANCE_TYPES:
        assert explicit_start(X, c)["precisions_init"].shape
