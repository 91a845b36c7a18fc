"""gmm_core.compare: matching, differences, agreement and same-start drift."""

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from gmm_core import GaussianMixtureEM, MixtureParams
from gmm_core.compare import (
    MATCH_COSTS,
    agreement,
    component_table,
    fit_sklearn,
    match_components,
    max_relative_difference,
    params_of,
    same_start_drift,
    summary_table,
)


def permuted(params: MixtureParams, perm: np.ndarray) -> MixtureParams:
    return MixtureParams(
        params.weights[perm],
        params.means[perm],
        params.covariances[perm],
        params.precisions_cholesky[perm],
        params.covariance_type,
    )


@pytest.mark.parametrize("cost", list(MATCH_COSTS))
def test_permuted_copy_is_matched_back(blobs, cost):
    params = GaussianMixtureEM(4, random_state=0).fit(blobs).history_[-1].params
    perm = np.array([2, 0, 3, 1])
    matching = match_components(params, permuted(params, perm), cost=cost)
    # our component k sits at position inverse[k] of the permuted copy
    np.testing.assert_array_equal(perm[matching.partner], np.arange(4))
    labels = np.array([0, 1, 2, 3, 3])
    theirs_labels = np.argsort(perm)[labels]  # the same clusters, numbered as in the copy
    np.testing.assert_array_equal(matching.relabel_theirs(theirs_labels), labels)


def test_hungarian_never_shares_a_partner_where_greedy_would():
    # Both of our means are closest to their component 0: greedy would pick it twice.
    ours = MixtureParams(
        np.array([0.5, 0.5]), np.array([[0.0], [1.0]]), np.ones(2), np.ones(2), "spherical"
    )
    theirs = MixtureParams(
        np.array([0.5, 0.5]), np.array([[0.4], [3.0]]), np.ones(2), np.ones(2), "spherical"
    )
    greedy = np.argmin(np.abs(ours.means - theirs.means.T), axis=1)
    assert greedy.tolist() == [0, 0]
    matching = match_components(ours, theirs)
    assert sorted(matching.partner.tolist()) == [0, 1]
    # the optimum: total |0-0.4| + |1-3| = 2.4 < |0-3| + |1-0.4| = 3.6
    assert matching.partner.tolist() == [0, 1]


def test_component_table_hand_computed():
    eye = np.eye(2)
    ours = MixtureParams.from_covariances(
        np.array([0.25, 0.75]),
        np.array([[0.0, 0.0], [3.0, 4.0]]),
        np.stack([eye, 2 * eye]),
        "full",
    )
    theirs = MixtureParams.from_covariances(
        np.array([0.7, 0.3]),
        np.array([[3.0, 0.0], [0.0, 0.0]]),
        np.stack([eye, 3 * eye]),
        "full",
    )
    matching = match_components(ours, theirs)
    assert matching.partner.tolist() == [1, 0]
    table = component_table(ours, theirs, matching)
    assert table["weight_diff"].tolist() == pytest.approx([-0.05, 0.05])
    assert table["mean_l2"].tolist() == pytest.approx([0.0, 4.0])
    # ||I - 3I||_F = 2 sqrt(2); ||2I - I||_F = sqrt(2)
    assert table["cov_frobenius"].tolist() == pytest.approx([2 * np.sqrt(2), np.sqrt(2)])


def test_bhattacharyya_and_kl_are_zero_for_identical_components(iris):
    params = GaussianMixtureEM(3, random_state=0).fit(iris).history_[-1].params
    for cost in ("bhattacharyya", "symmetric_kl"):
        matching = match_components(params, params, cost=cost)
        np.testing.assert_allclose(np.diag(matching.cost), 0.0, atol=1e-9)
        assert matching.partner.tolist() == [0, 1, 2]


def test_max_relative_difference():
    assert max_relative_difference(np.array([1.0, 2.0]), np.array([1.0, 4.0])) == 0.5
    assert max_relative_difference(np.zeros(2), np.zeros(2)) == 0.0


def test_same_start_drift_on_iris_is_at_machine_precision(iris):
    with pytest.warns(ConvergenceWarning):  # tol=0 runs every iteration, as scikit-learn warns
        ours = GaussianMixtureEM(3, random_state=1, tol=0.0, max_iter=60).fit(iris)
    drift = same_start_drift(iris, ours.history_, reg_covar=ours.reg_covar)
    assert len(drift.iterations) == 60
    assert drift.worst < 1e-10
    theirs = drift.sklearn_model
    assert agreement(ours.predict(iris), theirs.predict(iris)) == 1.0


def test_independent_fit_and_summary(iris):
    ours = GaussianMixtureEM(3, random_state=42).fit(iris)
    theirs, seconds = fit_sklearn(iris, 3, random_state=42)
    assert seconds > 0
    matching = match_components(ours.history_[-1].params, params_of(theirs))
    np.testing.assert_array_equal(matching.partner, [0, 1, 2])  # same seed -> same run
    species = np.repeat([0, 1, 2], 50)
    table = summary_table(
        iris, ours, theirs, seconds_ours=1e-3, seconds_theirs=2e-3, true_labels=species
    )
    assert table.loc["BIC (lower is better)", "ours"] == pytest.approx(theirs.bic(iris))
    assert table.loc["ARI vs label column", "ours"] == pytest.approx(
        table.loc["ARI vs label column", "scikit-learn"]
    )
    assert table.loc["ms per iteration", "scikit-learn"] == pytest.approx(2.0)


def test_same_start_drift_from_a_single_point_start(blobs):
    # random_from_data starts with weights 1/n each (scikit-learn's choice), summing to K/n.
    with pytest.warns(ConvergenceWarning):
        ours = GaussianMixtureEM(
            4, init_params="random_from_data", random_state=3, tol=0.0, max_iter=30
        ).fit(blobs)
    assert ours.history_[0].weights.sum() == pytest.approx(4 / len(blobs))
    drift = same_start_drift(blobs, ours.history_, reg_covar=ours.reg_covar)
    assert drift.worst < 1e-10
