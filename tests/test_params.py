"""Conversions between covariances, precisions and their Cholesky factors (gmm_core.params)."""

import numpy as np
import pytest

from gmm_core.params import (
    DegenerateCovarianceError,
    MixtureParams,
    check_resolved,
    precision_cholesky_from_covariances,
)


def _spd(rng: np.random.Generator, k: int, d: int, dtype) -> np.ndarray:
    a = rng.normal(size=(k, d, d))
    return (a @ a.transpose(0, 2, 1) + d * np.eye(d)).astype(dtype)


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 1e-5)])
@pytest.mark.parametrize("d", [1, 2, 5])
def test_from_precisions_inverts_full_precisions(dtype, rtol, d):
    rng = np.random.default_rng(d)
    precisions = _spd(rng, 3, d, dtype)
    params = MixtureParams.from_precisions(
        np.full(3, 1 / 3, dtype), np.zeros((3, d), dtype), precisions, "full"
    )
    u = params.precisions_cholesky
    assert u.dtype == dtype and params.covariances.dtype == dtype
    np.testing.assert_array_equal(u, np.triu(u))
    np.testing.assert_allclose(u @ u.transpose(0, 2, 1), precisions, rtol=rtol, atol=0)
    expected = np.linalg.inv(precisions.astype(np.float64))
    np.testing.assert_allclose(params.covariances, expected, rtol=rtol * 10, atol=0)


def test_from_precisions_tied_and_round_trip():
    rng = np.random.default_rng(0)
    precision = _spd(rng, 1, 4, np.float64)[0]
    params = MixtureParams.from_precisions(np.full(2, 0.5), np.zeros((2, 4)), precision, "tied")
    np.testing.assert_allclose(params.covariances, np.linalg.inv(precision), rtol=1e-12)
    # Back from the covariances: the same Cholesky factor of the precision.
    again = precision_cholesky_from_covariances(params.covariances, "tied")
    np.testing.assert_allclose(again, params.precisions_cholesky, rtol=1e-12, atol=1e-15)


def _params(covariance_type: str, means, covariances) -> MixtureParams:
    means = np.asarray(means, float)
    weights = np.full(len(means), 1.0 / len(means))
    return MixtureParams.from_covariances(
        weights, means, np.asarray(covariances, float), covariance_type
    )


def test_check_resolved_finds_a_variance_that_is_rounding_error_at_its_mean():
    eps = np.finfo(float).eps
    # Standard deviation of 4 units in the last place of the mean 1e3: rounding, not spread.
    tiny = (4 * eps * 1e3) ** 2
    params = _params("diag", [[0.0, 1e3], [5.0, 5.0]], [[1.0, tiny], [1.0, 1.0]])
    with pytest.raises(DegenerateCovarianceError, match="collapsed onto a single repeated") as e:
        check_resolved(params, reg_covar=0.0, iteration=7)
    message = str(e.value)
    assert "after EM iteration 7" in message and "component 0" in message
    assert "in column 1" in message and "reg_covar = 0" in message
    # The same variance around a mean of zero is resolved (floats are dense near 0), and
    # so is reg_covar's floor around 1e3.
    check_resolved(_params("diag", [[0.0, 0.0]], [[1.0, tiny]]), reg_covar=0.0, iteration=1)
    check_resolved(_params("diag", [[0.0, 1e3]], [[1.0, 1e-6]]), reg_covar=1e-6, iteration=1)
    # Spherical: the variance against the mean of the columns' floors.
    spherical = _params("spherical", [[1e3, 1e3]], [tiny])
    with pytest.raises(DegenerateCovarianceError, match="collapsed onto a single repeated"):
        check_resolved(spherical, reg_covar=0.0, iteration=1)


@pytest.mark.parametrize("covariance_type", ["full", "tied"])
def test_check_resolved_finds_a_covariance_singular_to_working_precision(covariance_type):
    eps = np.finfo(float).eps
    # [[1, 1], [1, 1 + 4 eps]]: positive definite in floating point, but the second column
    # given the first varies by 4 eps against a variance of 1, so log det is noise.
    near = np.array([[1.0, 1.0], [1.0, 1.0 + 4 * eps]])
    fine = np.array([[1.0, 1.0], [1.0, 1.0 + 1e-6]])
    means = [[0.0, 0.0], [3.0, 3.0]]
    stack = (lambda c: np.stack([fine, c])) if covariance_type == "full" else (lambda c: c)
    params = _params(covariance_type, means, stack(near))
    with pytest.raises(DegenerateCovarianceError, match="singular to working precision") as e:
        check_resolved(params, reg_covar=1e-12, iteration=3)
    who = "component 1" if covariance_type == "full" else "the shared ('tied') covariance"
    assert who in str(e.value) and "reg_covar = 1e-12 is too small" in str(e.value)
    check_resolved(_params(covariance_type, means, stack(fine)), reg_covar=0.0, iteration=3)
