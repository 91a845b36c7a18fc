"""The numba engine (gmm_core._fast) against the numpy reference and scikit-learn.

No timings here: bench/em_speed.py measures speed.
"""

import subprocess
import sys

import numpy as np
import pytest
from conftest import relative_difference
from test_em_vs_sklearn import sklearn_iterates, starting_point

# numba is a declared dependency: a missing one is a failure here, never a skip.
from gmm_core import (
    COVARIANCE_TYPES,
    GaussianMixtureEM,
    _fast,
)
from gmm_core.em import accumulate_statistics, em_iterations, m_step
from gmm_core.params import MixtureParams, covariance_shape

RTOL = 1e-8


def mixture_data(n, d, k, seed, offset=0.0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(k, d))
    return centres[rng.integers(0, k, n)] + rng.normal(size=(n, d)) + offset


def random_params(X, k, covariance_type, seed, dtype=np.float64, zero_weight=False):
    rng = np.random.default_rng(seed)
    n, d = X.shape
    weights = rng.dirichlet(np.full(k, 3.0))
    if zero_weight:  # a weight of exactly 0 (log-weight -inf) is legal in a user's start
        weights[-1] = 0.0
        weights /= weights.sum()
    means = X[rng.choice(n, size=k, replace=False)]
    if covariance_type in ("full", "tied"):
        a = rng.normal(scale=0.3, size=(k, d, d)) + np.eye(d)
        cov = a @ a.transpose(0, 2, 1)
        cov = cov if covariance_type == "full" else cov[0]
    else:
        cov = rng.uniform(0.5, 3.0, size=covariance_shape(covariance_type, k, d))
    return MixtureParams.from_covariances(
        weights.astype(dtype), means.astype(dtype), cov.astype(dtype), covariance_type
    )


def assert_statistics_close(a, b, X, rtol):
    assert a.n_samples == b.n_samples
    assert a.second.shape == b.second.shape and a.second.dtype == b.second.dtype
    assert relative_difference(a.resp_sum, b.resp_sum) < rtol
    assert relative_difference(a.second, b.second) < rtol
    # `first` sums x - centre and can nearly cancel: compare on the data's scale.
    scale = X.shape[0] * np.abs(X).max()
    np.testing.assert_allclose(a.first, b.first, rtol=0, atol=rtol * scale)
    assert a.log_likelihood_sum == pytest.approx(b.log_likelihood_sum, rel=rtol)
    np.testing.assert_array_equal(a.centers, b.centers)


def feature_counts(covariance_type):
    # 2 has its own full/tied kernel; the others pad d to a multiple of 4.
    return [1, 2, 3, 7, 30] if covariance_type in ("full", "tied") else [1, 2, 5, 8]


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("chunk_size", [None, 700])
def test_statistics_equal_numpy_reference(covariance_type, chunk_size):
    # 5000 rows: many blocks and tiles, a partial last tile and (chunk_size=700) blocks that
    # are not a multiple of the tile.
    for d in feature_counts(covariance_type):
        X = mixture_data(5000, d, 5, seed=d, offset=10.0)
        params = random_params(X, 5, covariance_type, seed=d, zero_weight=True)
        fast = accumulate_statistics(X, params, engine="numba", chunk_size=chunk_size)
        ref = accumulate_statistics(X, params, engine="numpy")
        assert_statistics_close(fast, ref, X, 1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("chunk_size", [None, 700])
def test_weighted_statistics_equal_reference_and_repeated_rows(covariance_type, chunk_size):
    """Every kernel (each d of :func:`feature_counts`), weights folded into the normaliser."""
    for d in feature_counts(covariance_type):
        X = mixture_data(3000, d, 5, seed=d, offset=10.0)
        params = random_params(X, 5, covariance_type, seed=d, zero_weight=True)
        counts = np.random.default_rng(d).integers(0, 4, len(X))
        w = counts.astype(float)
        fast = accumulate_statistics(
            X, params, engine="numba", chunk_size=chunk_size, sample_weight=w
        )
        assert fast.n_samples == len(X) and fast.weight_sum == counts.sum()
        ref = accumulate_statistics(X, params, engine="numpy", sample_weight=w)
        assert_statistics_close(fast, ref, X, 1e-12)
        repeated = accumulate_statistics(np.repeat(X, counts, axis=0), params, engine="numpy")
        for name in ("resp_sum", "first", "second"):
            assert relative_difference(getattr(fast, name), getattr(repeated, name)) < 1e-12
        assert fast.log_likelihood_sum == pytest.approx(repeated.log_likelihood_sum, rel=1e-12)


def test_weighted_result_does_not_depend_on_thread_count():
    import numba

    X = mixture_data(20_000, 3, 4, seed=0)
    params = random_params(X, 4, "full", seed=0)
    w = np.random.default_rng(0).exponential(size=len(X))
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = accumulate_statistics(X, params, engine="numba", sample_weight=w)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = accumulate_statistics(X, params, engine="numba", sample_weight=w)
    finally:
        numba.set_num_threads(before)
    for name in ("resp_sum", "first", "second"):
        np.testing.assert_array_equal(getattr(one, name), getattr(many, name))
    assert one.log_likelihood_sum == many.log_likelihood_sum


def test_vectorised_log_is_within_three_ulp():
    from numba import njit

    @njit
    def logs(x):
        out = np.empty_like(x)
        for i in range(x.shape[0]):
            out[i] = _fast._log64(x[i])
        return out

    rng = np.random.default_rng(0)
    # The normalisers (1 <= s <= K), and any positive normal number.
    for lo, hi in ((1.0, 1.0 + 1e-9), (1.0, 64.0), (1e-300, 1e300)):
        x = np.exp(rng.uniform(np.log(lo), np.log(hi), 200_000))
        x[0] = lo
        got, ref = logs(x), np.log(x)
        ulps = np.abs(got - ref) / np.spacing(np.maximum(np.abs(ref), np.finfo(float).tiny))
        assert ulps.max() <= 3.0, (lo, hi, ulps.max())
    assert logs(np.array([1.0]))[0] == 0.0


def test_weighted_row_that_no_component_explains_is_minus_infinity():
    X = mixture_data(600, 2, 2, seed=1)
    X[5] = 1e200  # squared distances overflow for every component
    params = random_params(X, 2, "full", seed=1)
    w = np.full(len(X), 2.0)
    with np.errstate(all="ignore"):
        fast = accumulate_statistics(X, params, engine="numba", sample_weight=w)
        ref = accumulate_statistics(X, params, engine="numpy", sample_weight=w)
    assert fast.log_likelihood_sum == ref.log_likelihood_sum == -np.inf


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_tiny_inputs(covariance_type):
    for n in (2, 3, 257):
        X = mixture_data(n, 3, 2, seed=n)
        params = random_params(X, 2, covariance_type, seed=n)
        fast = accumulate_statistics(X, params, engine="numba")
        ref = accumulate_statistics(X, params, engine="numpy")
        assert_statistics_close(fast, ref, X, 1e-12)


def test_far_away_rows_get_zero_responsibility_not_nan():
    # Log-probabilities far below -708 (float64 exp underflow) for all but one component.
    X = np.array([[0.0, 0.0], [1e3, 1e3], [-1e3, 5e2], [0.1, -0.2]])
    params = MixtureParams.from_covariances(
        np.array([0.5, 0.5]),
        np.array([[0.0, 0.0], [1e3, 1e3]]),
        np.stack([np.eye(2), 0.01 * np.eye(2)]),
        "full",
    )
    fast = accumulate_statistics(X, params, engine="numba")
    ref = accumulate_statistics(X, params, engine="numpy")
    assert np.all(np.isfinite(fast.second))
    assert_statistics_close(fast, ref, X, 1e-12)


def test_result_does_not_depend_on_thread_count():
    import numba

    X = mixture_data(20_000, 3, 4, seed=0)
    params = random_params(X, 4, "full", seed=0)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = accumulate_statistics(X, params, engine="numba")
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = accumulate_statistics(X, params, engine="numba")
    finally:
        numba.set_num_threads(before)
    for name in ("resp_sum", "first", "second"):
        np.testing.assert_array_equal(getattr(one, name), getattr(many, name))
    assert one.log_likelihood_sum == many.log_likelihood_sum


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("d", [2, 4])
def test_same_start_path_matches_sklearn(covariance_type, d):
    X = mixture_data(6000, d, 4, seed=d)
    start = starting_point(X, 4, covariance_type, seed=1)
    n_steps = 25
    ours = GaussianMixtureEM(
        4, covariance_type=covariance_type, max_iter=n_steps, tol=0, engine="numba", **start
    )
    ours.fit(X, warn_convergence=False)
    assert ours.engine_ == "numba"
    theirs = sklearn_iterates(X, 4, covariance_type, start, n_steps, 1e-6)
    for j, (w, m, c, lower_bound) in enumerate(theirs, start=1):
        snap = ours.history_[j]
        assert relative_difference(snap.weights, w) < RTOL, f"weights at iteration {j}"
        assert relative_difference(snap.means, m) < RTOL, f"means at iteration {j}"
        assert relative_difference(snap.covariances, c) < RTOL, f"covariances at iteration {j}"
        assert ours.history_[j - 1].log_likelihood == pytest.approx(lower_bound, rel=RTOL)


@pytest.fixture
def blas_from_12_features(monkeypatch):
    """The BLAS formulation (normally for d >= 512 only) at a size a test can afford."""
    monkeypatch.setattr(_fast, "BLAS_MIN_FEATURES", 12)


@pytest.mark.parametrize("covariance_type", ["full", "tied"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_blas_formulation_statistics(blas_from_12_features, covariance_type, dtype):
    X = mixture_data(3000, 13, 4, seed=6, offset=5.0)
    params = random_params(X, 4, covariance_type, seed=6, zero_weight=True)
    if dtype == np.float32:
        X, params = X.astype(np.float32), _cast(params, np.float32)
    fast = accumulate_statistics(X, params, engine="numba", chunk_size=700)
    ref = accumulate_statistics(X, params, engine="numpy")
    # float32: the numpy reference sums in float32 too, hence the looser bound.
    assert_statistics_close(fast, ref, X, 1e-12 if dtype == np.float64 else 1e-4)


@pytest.mark.parametrize("covariance_type", ["full", "tied"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_blas_formulation_weighted_statistics(blas_from_12_features, covariance_type, dtype):
    X = mixture_data(3000, 13, 4, seed=6, offset=5.0)
    params = random_params(X, 4, covariance_type, seed=6, zero_weight=True)
    if dtype == np.float32:
        X, params = X.astype(np.float32), _cast(params, np.float32)
    counts = np.random.default_rng(6).integers(0, 4, len(X))
    w = counts.astype(float)
    fast = accumulate_statistics(X, params, engine="numba", chunk_size=700, sample_weight=w)
    assert fast.weight_sum == counts.sum()
    ref = accumulate_statistics(X, params, engine="numpy", sample_weight=w)
    assert_statistics_close(fast, ref, X, 1e-12 if dtype == np.float64 else 1e-4)
    if dtype == np.float64:
        repeated = accumulate_statistics(np.repeat(X, counts, axis=0), params, engine="numpy")
        for name in ("resp_sum", "first", "second"):
            assert relative_difference(getattr(fast, name), getattr(repeated, name)) < 1e-12


@pytest.mark.parametrize("covariance_type", ["full", "tied"])
def test_blas_formulation_path_matches_sklearn(blas_from_12_features, covariance_type):
    X = mixture_data(3000, 14, 3, seed=5)
    start = starting_point(X, 3, covariance_type, seed=2)
    n_steps = 10
    ours = GaussianMixtureEM(
        3,
        covariance_type=covariance_type,
        max_iter=n_steps,
        tol=0,
        chunk_size=700,
        engine="numba",
        **start,
    )
    ours.fit(X, warn_convergence=False)
    theirs = sklearn_iterates(X, 3, covariance_type, start, n_steps, 1e-6)
    for j, (w, m, c, _) in enumerate(theirs, start=1):
        snap = ours.history_[j]
        assert relative_difference(snap.weights, w) < RTOL
        assert relative_difference(snap.means, m) < RTOL
        assert relative_difference(snap.covariances, c) < RTOL


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_engine_numpy_and_numba_give_the_same_fit(covariance_type):
    X = mixture_data(4000, 3, 4, seed=11)
    start = GaussianMixtureEM(4, covariance_type=covariance_type, random_state=0, max_iter=0)
    params = start.fit(X, warn_convergence=False).history_[0].params
    runs = {
        engine: list(em_iterations(X, params, tol=1e-6, max_iter=200, engine=engine))
        for engine in ("numpy", "numba")
    }
    ref, fast = runs["numpy"], runs["numba"]
    assert len(ref) == len(fast)
    assert ref[-1].converged and fast[-1].converged
    for a, b in zip(fast, ref, strict=True):
        assert relative_difference(a.means, b.means) < 1e-10
        assert relative_difference(a.covariances, b.covariances) < 1e-10
        assert a.log_likelihood == pytest.approx(b.log_likelihood, rel=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_accuracy(covariance_type):
    """float32 data: exp and Mahalanobis in float32, sums in float64.

    The statistics agree with the float64 pass to a few float32 ulps (documented bound 1e-6
    relative on well-scaled data), and an M-step from them stays float32.
    """
    X = mixture_data(20_000, 3, 4, seed=3)
    params = random_params(X, 4, covariance_type, seed=3)
    X32 = X.astype(np.float32)
    params32 = _cast(params, np.float32)
    fast = accumulate_statistics(X32, params32, engine="numba")
    # The float64 pass over the same (float32-rounded) numbers: only arithmetic differs.
    ref = accumulate_statistics(X32.astype(np.float64), _cast(params32, np.float64), engine="numpy")
    assert fast.second.dtype == np.float32 and fast.first.dtype == np.float32
    assert relative_difference(fast.resp_sum, ref.resp_sum) < 1e-6
    assert relative_difference(fast.second, ref.second) < 1e-6
    assert fast.log_likelihood_sum == pytest.approx(ref.log_likelihood_sum, rel=1e-6)
    new = m_step(fast, covariance_type, 1e-6)
    assert new.means.dtype == np.float32 and new.covariances.dtype == np.float32
    expected = m_step(ref, covariance_type, 1e-6)
    assert relative_difference(new.means, expected.means) < 1e-5
    assert relative_difference(new.covariances, expected.covariances) < 1e-5


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_weighted_float32_accuracy(covariance_type):
    """As :func:`test_float32_accuracy`, with weights: the float64 sums keep 1e-6."""
    X = mixture_data(20_000, 3, 4, seed=3)
    params = random_params(X, 4, covariance_type, seed=3)
    w = np.random.default_rng(3).exponential(size=len(X))
    X32 = X.astype(np.float32)
    params32 = _cast(params, np.float32)
    fast = accumulate_statistics(X32, params32, engine="numba", sample_weight=w)
    ref = accumulate_statistics(
        X32.astype(np.float64), _cast(params32, np.float64), engine="numpy", sample_weight=w
    )
    assert fast.second.dtype == np.float32
    assert relative_difference(fast.resp_sum, ref.resp_sum) < 1e-6
    assert relative_difference(fast.second, ref.second) < 1e-6
    assert fast.log_likelihood_sum == pytest.approx(ref.log_likelihood_sum, rel=1e-6)


def _cast(params, dtype):
    return MixtureParams.from_covariances(
        params.weights.astype(dtype),
        params.means.astype(dtype),
        params.covariances.astype(dtype),
        params.covariance_type,
    )


def test_float32_fit_keeps_float32_and_tracks_float64():
    X = mixture_data(20_000, 2, 3, seed=4)
    a = GaussianMixtureEM(3, random_state=0, tol=1e-6, engine="numba").fit(X)
    b = GaussianMixtureEM(3, random_state=0, tol=1e-6, engine="numba").fit(X.astype(np.float32))
    assert b.engine_ == "numba"
    assert b.means_.dtype == np.float32 and b.covariances_.dtype == np.float32
    assert relative_difference(b.means_, a.means_) < 1e-4
    assert relative_difference(b.covariances_, a.covariances_) < 1e-4


def test_importing_gmm_core_does_not_import_numba():
    code = (
        "import sys, numpy as np\n"
        "import gmm_core\n"
        "from gmm_core import GaussianMixtureEM\n"
        "assert 'numba' not in sys.modules, 'import'\n"
        "X = np.random.default_rng(0).normal(size=(300, 2))\n"
        "GaussianMixtureEM(3, random_state=0).fit(X)\n"
        "assert 'numba' not in sys.modules, 'small fit'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=_repo_root())


def _repo_root():
    from pathlib import Path

    return Path(__file__).resolve().parents[1]
