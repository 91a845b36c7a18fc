"""scikit-learn's own estimator test-suite judges API compatibility."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from gmm_core import GaussianMixtureEM


@parametrize_with_checks([GaussianMixtureEM()])
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
