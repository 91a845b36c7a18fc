"""The criteria and the covariance-type table, written once and used by every caller."""

import numpy as np
import pytest
from sklearn.mixture import GaussianMixture

from gmm_core import GaussianMixtureEM, criteria, selection
from gmm_core.params import (
    COVARIANCE_MODELS,
    COVARIANCE_TYPES,
    MCLUST_MODELS,
    SKLEARN_TO_MCLUST,
    covariance_model,
)
from gmm_core.selection import icl, sweep


def test_the_covariance_table():
    k, d = 3, 4
    expected = {
        # shape, covariance parameters, parameters one component estimates
        "full": ((k, d, d), k * d * (d + 1) // 2, d + d * (d + 1) // 2),
        "tied": ((d, d), d * (d + 1) // 2, d),
        "diag": ((k, d), k * d, 2 * d),
        "spherical": ((k,), k, d + 1),
    }
    assert tuple(expected) == COVARIANCE_TYPES
    assert tuple(COVARIANCE_MODELS) == COVARIANCE_TYPES + MCLUST_MODELS
    for name, (shape, n_cov, own) in expected.items():
        for alias in (name, SKLEARN_TO_MCLUST[name]):
            model = covariance_model(alias)
            assert model.shape(k, d) == shape
            assert model.layout == name and model.closed_form
            assert model.n_parameters(k, d) == n_cov
            assert model.component_parameters(d) == own
            assert own == selection.component_parameters(alias, d)
    with pytest.raises(ValueError, match="covariance_type must be one of full, tied, diag"):
        covariance_model("VVX")


def test_mclust_models_layouts_and_counts():
    k, d = 3, 4
    r = d * (d - 1) // 2
    # layout, covariance numbers (mclust's nVarParams), numbers one component estimates
    expected = {
        "EII": ("spherical", 1, d),
        "VII": ("spherical", k, d + 1),
        "EEI": ("diag", d, d),
        "VEI": ("diag", k + d - 1, d + 1),
        "EVI": ("diag", 1 + k * (d - 1), d + d - 1),
        "VVI": ("diag", k * d, 2 * d),
        "EEE": ("tied", d + r, d),
        "VEE": ("full", k + d - 1 + r, d + 1),
        "EVE": ("full", 1 + k * (d - 1) + r, d + d - 1),
        "VVE": ("full", k * d + r, 2 * d),
        "EEV": ("full", d + k * r, d + r),
        "VEV": ("full", k + d - 1 + k * r, d + 1 + r),
        "EVV": ("full", 1 + k * (d * (d + 1) // 2 - 1), d + d - 1 + r),
        "VVV": ("full", k * d * (d + 1) // 2, d + d * (d + 1) // 2),
    }
    assert tuple(expected) == MCLUST_MODELS
    for name, (layout, n_cov, own) in expected.items():
        model = covariance_model(name)
        assert (model.layout, model.mclust) == (layout, name)
        assert model.closed_form == (name in ("VII", "VVI", "EEE", "VVV"))
        assert model.n_parameters(k, d) == n_cov
        assert model.component_parameters(d) == own


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_bic_and_aic_are_scikit_learns(iris, covariance_type):
    theirs = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(iris)
    total = theirs.score(iris) * len(iris)
    p = criteria.n_parameters(covariance_type, 3, iris.shape[1])
    assert isinstance(p, int)
    assert criteria.bic(total, p, len(iris)) == pytest.approx(theirs.bic(iris), rel=1e-12)
    assert criteria.aic(total, p) == pytest.approx(theirs.aic(iris), rel=1e-12)
    ours = GaussianMixtureEM(3, covariance_type=covariance_type, random_state=0).fit(iris)
    assert ours._n_parameters() == p


def test_the_sweep_and_the_estimator_share_one_parameter_count_and_one_icl(faithful_raw):
    assert selection.n_parameters is criteria.n_parameters
    assert selection.classification_entropy is criteria.classification_entropy
    result = sweep(faithful_raw, 3, covariance_types=("tied", "diag", "VEV"))
    for row in result.table.itertuples():
        model = result.models[(row.covariance_type, row.n_components)]
        assert row.n_parameters == model._n_parameters()
        assert row.bic == pytest.approx(model.bic(faithful_raw), rel=1e-12)
        assert row.aic == pytest.approx(model.aic(faithful_raw), rel=1e-12)
        # ICL from the sweep's log responsibilities and from predict_proba: the same number.
        assert row.icl == pytest.approx(icl(model, faithful_raw), rel=1e-12)
        assert row.icl >= row.bic


def test_icl_penalty_from_responsibilities_and_from_their_logs():
    resp = np.array([[1.0, 0.0], [0.5, 0.5], [0.2, 0.8]])
    expected = -np.log(0.5) - np.log(0.8)
    assert criteria.classification_entropy(resp) == pytest.approx(expected)
    with np.errstate(divide="ignore"):
        assert criteria.map_entropy(np.log(resp)) == pytest.approx(expected)
    assert criteria.icl(10.0, np.log(resp[1:])) == pytest.approx(10.0 + 2 * expected)


@pytest.mark.parametrize(
    "arguments, message",
    [
        (dict(init_params="best"), "init_params must be one of kmeans, k-means++, random"),
        (dict(tol=-1.0), "tol must be a finite number >= 0.0; got -1.0."),
        (dict(n_init=0), "n_init must be an integer >= 1; got 0."),
        (dict(reg_covar=float("nan")), "reg_covar must be a finite number >= 0.0"),
    ],
)
def test_the_estimator_and_the_sweep_check_settings_alike(iris, arguments, message):
    with pytest.raises(ValueError, match=message.replace("+", r"\+").replace(".", r"\.")):
        GaussianMixtureEM(2, **arguments).fit(iris)
    with pytest.raises(ValueError, match=message.replace("+", r"\+").replace(".", r"\.")):
        sweep(iris, 2, **arguments)


def test_settings_can_be_checked_before_a_fit(iris):
    GaussianMixtureEM(3).check_settings(150, 4)  # nothing to say
    with pytest.raises(ValueError, match="Expected n_samples >= n_components"):
        GaussianMixtureEM(20).check_settings(10, 2)
    with pytest.raises(ValueError, match="means_init' should have the shape of \\(2, 3\\)"):
        GaussianMixtureEM(2, means_init=np.zeros((2, 4))).check_settings(100, 3)
    for arguments, _ in [
        (dict(init_params="best"), None),
        (dict(tol=-1.0), None),
        (dict(n_init=0), None),
        (dict(engine="cuda"), None),
        (dict(keep_history="most"), None),
    ]:
        with pytest.raises(ValueError) as before:
            GaussianMixtureEM(2, **arguments).check_settings(*iris.shape)
        with pytest.raises(ValueError) as fitting:
            GaussianMixtureEM(2, **arguments).fit(iris)
        assert str(before.value) == str(fitting.value)
