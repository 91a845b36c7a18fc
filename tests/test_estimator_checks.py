"""scikit-learn's own estimator test-suite judges API compatibility."""

import numpy as np
import pytest
from sklearn.utils.estimator_checks import (
    check_sample_weight_equivalence_on_dense_data,
    parametrize_with_checks,
)

from gmm_core import GaussianMixtureEM
from gmm_core.params import covariance_model


@parametrize_with_checks([GaussianMixtureEM()])
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


@pytest.mark.parametrize("covariance_type", ["full", "diag", "VEI"])
def test_sample_weight_equivalence_with_two_components(covariance_type):
    """scikit-learn's weighted == repeated check, with K = 2 (K = 1 above makes it trivial).

    With one component ``predict_proba`` is 1 whatever the fit; two components need a start
    that does not depend on the rows' order or repetition (the check shuffles the weighted
    rows, which changes every random start's draws), so an explicit one is given, built
    from the check's own data (``RandomState(42).rand(15, 30)``).
    """
    X = np.random.RandomState(42).rand(15, 30)
    d = X.shape[1]
    layout = covariance_model(covariance_type).layout
    precisions = {"full": np.stack([np.eye(d) * 12.0] * 2), "diag": np.full((2, d), 12.0)}
    estimator = GaussianMixtureEM(
        2,
        covariance_type=covariance_type,
        weights_init=[0.5, 0.5],
        means_init=X[[0, 1]],
        precisions_init=precisions[layout],
        reg_covar=1e-3,
        tol=1e-10,
    )
    check_sample_weight_equivalence_on_dense_data("GaussianMixtureEM", estimator)
