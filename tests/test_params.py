"""Conversions between covariances, precisions and their Cholesky factors (gmm_core.params)."""

import numpy as np
import pytest

from gmm_core.params import MixtureParams, precision_cholesky_from_covariances


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
