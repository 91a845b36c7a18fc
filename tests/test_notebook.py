"""The notebook interface still works with only its import line changed."""

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture

from gmm_core.notebook import GaussianMixtureEM, SingularCovarianceWarning


@pytest.fixture(scope="module")
def separated():
    X, _ = make_blobs(n_samples=800, centers=4, cluster_std=0.8, random_state=11)
    return X


def test_fit_fast_contract(separated):
    model = GaussianMixtureEM(K=4, num_iterations=50, allow_singular=False)
    results = model.fit_fast(pd.DataFrame(separated, columns=["a", "b"]))
    pis = results["pis_dict"]
    assert list(pis) == ["Initial"] + [f"Iteration_{i}" for i in range(50)]
    for value in pis.values():
        assert value.shape == (1, 4)
        assert value[0].sum() == pytest.approx(1.0)
    assert results["means"].shape == (4, 2)
    assert results["cov"].shape == (4, 2, 2)
    assert results["gamma"].shape == (800, 4)
    np.testing.assert_allclose(results["gamma"].sum(axis=1), 1.0)
    assert len(results["log_likelihood"]) == 50
    assert np.all(np.diff(results["log_likelihood"]) >= -1e-12)  # no regularisation: exact EM


def test_labels_match_sklearn_on_separated_clusters(separated):
    results = GaussianMixtureEM(K=4, num_iterations=50).fit_fast(separated)
    sk = GaussianMixture(n_components=4, random_state=42).fit_predict(separated)
    assert adjusted_rand_score(sk, results["gamma"].argmax(axis=1)) == 1.0


def test_singular_covariance_raises_or_regularises(separated):
    # Five identical far-away rows: a component collapses on them.
    X = np.vstack([separated, np.repeat([[60.0, 60.0]], 5, axis=0)])
    with pytest.raises(ValueError, match="allow_singular=True"):
        GaussianMixtureEM(K=5, num_iterations=10, allow_singular=False).fit_fast(X)
    with pytest.warns(SingularCovarianceWarning, match="is now added"):
        results = GaussianMixtureEM(K=5, num_iterations=10, allow_singular=True).fit_fast(X)
    assert np.all(np.isfinite(results["cov"]))
