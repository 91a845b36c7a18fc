"""Shared fixtures and the hypothesis profiles (a bounded one for CI)."""

import os
from pathlib import Path

# scikit-learn runs its array-API estimator check only when SciPy is in array-API mode; it
# must be set before SciPy is first imported.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from sklearn.datasets import load_iris, load_wine, make_blobs
from sklearn.preprocessing import StandardScaler

from gmm_core.compare import max_relative_difference

settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=25, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(scope="session")
def iris() -> np.ndarray:
    return load_iris().data


@pytest.fixture(scope="session")
def wine_std() -> np.ndarray:
    return StandardScaler().fit_transform(load_wine().data)


@pytest.fixture(scope="session")
def faithful_raw() -> np.ndarray:
    """Old Faithful in its own units (minutes), as mclust's published numbers use it."""
    path = Path(__file__).resolve().parents[1] / "gmm_core" / "datasets" / "faithful.csv"
    return np.loadtxt(path, delimiter=",", skiprows=1)


@pytest.fixture(scope="session")
def blobs() -> np.ndarray:
    X, _ = make_blobs(n_samples=600, centers=4, n_features=3, cluster_std=1.5, random_state=7)
    return X


#: max |ours - theirs| / max |theirs|: a scale-aware relative error of a whole array.
relative_difference = max_relative_difference
