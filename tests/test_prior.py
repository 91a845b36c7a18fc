"""mclust's conjugate prior (:mod:`gmm_core.prior`) held against mclust itself.

Reference values: ``tests/data/mclust/prior_reference.json``, written by
``tests/data/mclust/make_prior_reference.R`` (mclust 6.0): ``defaultPrior()``, the first
M-step of ``me()`` with ``priorControl()``, ``me()`` to convergence and ``Mclust()``'s BIC
table, from ``Mclust``'s own start (the stored ``hclass(hc(X), G)`` partitions), on Old
Faithful and iris for the ten models that take a prior, G = 1..5; a set with repeated rows
where maximum likelihood is singular.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from gmm_core import GaussianMixtureEM
from gmm_core import mclust_models as mm
from gmm_core.params import DegenerateCovarianceError
from gmm_core.prior import (
    MODELS_WITHOUT_PRIOR,
    PRIOR_MODELS,
    ConjugatePrior,
    default_prior,
    map_m_step,
)

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = json.loads((ROOT / "tests" / "data" / "mclust" / "prior_reference.json").read_text())
DATA = {
    "faithful": np.loadtxt(
        ROOT / "gmm_core" / "datasets" / "faithful.csv", delimiter=",", skiprows=1
    ),
    "iris": np.loadtxt(ROOT / "tests" / "data" / "mclust" / "iris.csv", delimiter=",", skiprows=1),
}
GS = (1, 2, 3, 4, 5)
# VEI and VEV warm-start their inner iteration from the previous M-step in me(); the
# estimator's first M-step (mclust's second) starts it cold, so the two paths differ by the
# inner tolerance (sqrt(eps)) until EM contracts it away.
WARM = mm.WARM_STARTED


def _cell(name: str, model: str, G: int) -> dict:
    for cell in REFERENCE["datasets"][name]["fits"]:
        if cell["model"] == model and int(cell["G"]) == G:
            return cell
    raise KeyError((name, model, G))


def _as_prior(d: dict) -> ConjugatePrior:
    return ConjugatePrior(d["shrinkage"], d["mean"], d["dof"], d["scale"])


def _labels(name: str, G: int) -> np.ndarray:
    return np.eye(G)[np.asarray(REFERENCE["datasets"][name]["labels"][str(G)]) - 1]


def _assert_params(weights, means, covariances, expected, rtol):
    sigma = np.asarray(expected["sigma"])
    np.testing.assert_allclose(weights, expected["pro"], rtol=rtol, atol=rtol)
    np.testing.assert_allclose(means, expected["mean"], rtol=rtol)
    np.testing.assert_allclose(covariances, sigma, rtol=rtol, atol=rtol * np.abs(sigma).max())


CELLS = [(name, model, G) for name in sorted(DATA) for model in PRIOR_MODELS for G in GS]
EM_CELLS = [cell for cell in CELLS if cell[2] > 1]


@pytest.mark.parametrize(("name", "model", "G"), CELLS)
def test_default_prior_is_mclusts_default_prior(name, model, G):
    expected = _cell(name, model, G)["prior"]
    prior = default_prior(DATA[name], model, G)
    assert prior.shrinkage == expected["shrinkage"] == 0.01
    assert prior.dof == expected["dof"] == DATA[name].shape[1] + 2
    np.testing.assert_allclose(prior.mean, expected["mean"], rtol=1e-14)
    np.testing.assert_allclose(prior.scale, expected["scale"], rtol=1e-13)
    assert prior.scalar_scale == (np.ndim(expected["scale"]) == 0)


@pytest.mark.parametrize(("name", "model", "G"), EM_CELLS)
def test_one_map_m_step_is_mclusts_first_m_step(name, model, G):
    cell = _cell(name, model, G)
    X = DATA[name]
    N, means, scatter = mm.sufficient_statistics(X, _labels(name, G))
    step = map_m_step(model, N, means, scatter, len(X), _as_prior(cell["prior"]))
    _assert_params(step.weights, step.means, step.covariances, cell["first"], rtol=1e-12)


def _variants(model: str) -> dict:
    for cell in REFERENCE["datasets"]["faithful"]["G3_variants"]:
        if cell["model"] == model:
            return cell
    raise KeyError(model)


@pytest.mark.parametrize("variant", ["no_shrinkage", "own"])
@pytest.mark.parametrize("model", PRIOR_MODELS)
def test_no_shrinkage_and_a_prior_of_ones_own(model, variant):
    # shrinkage 0 takes other denominators (mclust's 'if (pshrnk > 0)'), and a prior given
    # by hand (mean, shrinkage 0.5, scale) exercises every term against mclust's
    X = DATA["faithful"]
    cell = _variants(model)[variant]
    kwargs = {"shrinkage": 0.0} if variant == "no_shrinkage" else {}
    if variant == "own":
        kwargs = {"shrinkage": 0.5, "mean": [3.0, 70.0]}
        kwargs["scale"] = np.array(cell["prior"]["scale"], dtype=float)
    prior = default_prior(X, model, 3, **kwargs)
    np.testing.assert_allclose(prior.scale, cell["prior"]["scale"], rtol=1e-13)
    assert (prior.shrinkage, prior.dof) == (cell["prior"]["shrinkage"], cell["prior"]["dof"])
    N, means, scatter = mm.sufficient_statistics(X, _labels("faithful", 3))
    step = map_m_step(model, N, means, scatter, len(X), prior)
    _assert_params(step.weights, step.means, step.covariances, cell["first"], rtol=1e-12)
    fit = mm.fit_mclust_model(X, model, _labels("faithful", 3), prior=prior)
    assert fit.n_iter == cell["me"]["iterations"]
    assert fit.log_likelihood == pytest.approx(cell["me"]["loglik"], rel=1e-10)
    _assert_params(fit.weights, fit.means, fit.covariances, cell["me"], rtol=1e-8)


@pytest.mark.parametrize(("name", "model", "G"), EM_CELLS)
def test_em_with_the_prior_is_mclusts_me(name, model, G):
    cell = _cell(name, model, G)
    expected = cell["me"]
    fit = mm.fit_mclust_model(DATA[name], model, _labels(name, G), prior=_as_prior(cell["prior"]))
    if expected["loglik"] is None:
        # mclust's NA cells (iris VEV, G = 4, 5: a mixing proportion falls to zero)
        assert fit.means is None and fit.status.startswith("empty component")
        return
    assert fit.converged and fit.n_iter == expected["iterations"]
    # mclust's loglik is the data's log-likelihood at the MAP estimate, and BIC uses it
    assert fit.log_likelihood == pytest.approx(expected["loglik"], rel=1e-10)
    assert fit.bic() == pytest.approx(expected["bic"], rel=1e-10)
    _assert_params(fit.weights, fit.means, fit.covariances, expected, rtol=1e-8)


def _estimator_tolerance(model: str) -> float:
    return 1e-8 if model in WARM else 1e-10


@pytest.mark.parametrize(("name", "model", "G"), CELLS)
def test_the_estimators_hc_start_and_em_give_mclusts_bic_with_the_prior(name, model, G):
    # GaussianMixtureEM(init_params='hc', prior='default') from mclust's own start: the
    # start is the MAP M-step of the partition (me()'s first M-step; mvn() for G = 1), then
    # as many EM iterations as me() ran. -bic() is the cell of Mclust(..., prior =
    # priorControl())'s BIC table.
    X = DATA[name]
    expected_bic = REFERENCE["datasets"][name]["Mclust_BIC"][model][G - 1]
    iterations = 1 if G == 1 else _cell(name, model, G)["me"]["iterations"]
    estimator = GaussianMixtureEM(
        G,
        covariance_type=model,
        init_params="hc",
        prior="default",
        tol=0.0,
        max_iter=int(iterations) - 1,
    )
    if expected_bic is None:
        with pytest.raises(DegenerateCovarianceError, match="empty component"):
            estimator.fit(X, warn_convergence=False)
        return
    estimator.fit(X, warn_convergence=False)
    assert isinstance(estimator.prior_, ConjugatePrior)
    np.testing.assert_allclose(
        estimator.prior_.scale, _cell(name, model, G)["prior"]["scale"], rtol=1e-13
    )
    assert -estimator.bic(X) == pytest.approx(expected_bic, rel=_estimator_tolerance(model))


def test_the_best_model_with_the_prior_is_mclusts():
    for name, X in DATA.items():
        best = REFERENCE["datasets"][name]["Mclust_best"]
        table = REFERENCE["datasets"][name]["Mclust_BIC"]
        cells = [(v, m, g + 1) for m, col in table.items() for g, v in enumerate(col) if v]
        assert max(cells)[1:] == (best["model"], best["G"])
        fit = GaussianMixtureEM(
            int(best["G"]), covariance_type=best["model"], init_params="hc", prior="default"
        )
        fit.set_params(tol=1e-10, max_iter=2000).fit(X)
        # converged further than mclust's tol = 1e-5: at least as good, and close
        assert -fit.bic(X) >= best["bic"] - 1e-6
        assert -fit.bic(X) == pytest.approx(best["bic"], rel=1e-4)


REPEATED = REFERENCE["repeated"]


@pytest.mark.parametrize("model", PRIOR_MODELS)
def test_the_prior_keeps_a_degenerate_cell_finite(model):
    # two clusters and five copies of one row: where mclust's maximum-likelihood cell is NA
    # (singular), ours raises with reg_covar = 0; with the prior both fit, and agree
    X = np.asarray(REPEATED["X"], dtype=float)
    z = np.eye(3)[np.asarray(REPEATED["labels3"]) - 1]
    singular = REPEATED["BIC_without_prior"][model][2] is None
    if singular:
        assert mm.fit_mclust_model(X, model, z).means is None
    with_prior = REPEATED["BIC_with_prior"][model][2]
    assert with_prior is not None and math.isfinite(with_prior)
    expected = next(f["me"] for f in REPEATED["fits"] if f["model"] == model)
    prior = default_prior(X, model, 3)
    fit = mm.fit_mclust_model(X, model, z, prior=prior)
    assert fit.n_iter == expected["iterations"]
    assert fit.log_likelihood == pytest.approx(expected["loglik"], rel=1e-10)
    assert fit.bic() == pytest.approx(with_prior, rel=1e-10)
    # the component on the copies keeps a covariance of the prior's order, not zero
    assert np.all(np.linalg.eigvalsh(fit.covariances) > 1e-3)


def test_the_estimator_fits_the_singular_cell_with_the_prior_only():
    X = np.asarray(REPEATED["X"], dtype=float)
    z = np.eye(3)[np.asarray(REPEATED["labels3"]) - 1]
    assert REPEATED["BIC_without_prior"]["VVV"][2] is None  # mclust: singular
    start = GaussianMixtureEM(3, covariance_type="VVV", reg_covar=0.0, init_params="hc")
    with pytest.raises(DegenerateCovarianceError):
        start.fit(X)
    fit = GaussianMixtureEM(3, covariance_type="VVV", init_params="hc", prior="default")
    fit.set_params(tol=1e-12, max_iter=1000).fit(X)
    assert fit.converged_
    best = mm.fit_mclust_model(X, "VVV", z, prior=default_prior(X, "VVV", 3), tol=1e-14)
    assert fit.score(X) * len(X) == pytest.approx(best.log_likelihood, rel=1e-9)
    # the copies form a component whose covariance is the prior's, finite and clear of 0
    on_copies = np.argmax(fit.means_[:, 0])
    assert fit.weights_[on_copies] == pytest.approx(5 / len(X), rel=1e-2)
    assert np.all(np.linalg.eigvalsh(fit.covariances_[on_copies]) > 1e-2)


def test_high_k_iris_cell_matches_mclust_with_the_prior():
    cell = REFERENCE["datasets"]["iris"]["VVV_G8"]
    X = DATA["iris"]
    z = np.eye(8)[np.asarray(cell["labels"]) - 1]
    prior = default_prior(X, "VVV", 8)
    np.testing.assert_allclose(prior.scale, cell["prior"]["scale"], rtol=1e-13)
    fit = mm.fit_mclust_model(X, "VVV", z, prior=prior)
    assert fit.n_iter == cell["with_prior"]["iterations"]
    assert fit.log_likelihood == pytest.approx(cell["with_prior"]["loglik"], rel=1e-10)
    assert fit.bic() == pytest.approx(cell["Mclust_bic"], rel=1e-10)


@pytest.mark.parametrize("model", MODELS_WITHOUT_PRIOR)
def test_models_without_a_prior_are_refused_by_name(model):
    X = DATA["faithful"]
    message = "EII, VII, EEI, VEI, EVI, VVI, EEE, EEV, VEV, VVV"
    with pytest.raises(ValueError, match=message):
        GaussianMixtureEM(2, covariance_type=model, prior="default").fit(X)
    with pytest.raises(ValueError, match=message):
        default_prior(X, model, 2)
    prior = default_prior(X, "VVV", 2)
    N, means, scatter = mm.sufficient_statistics(X, _labels("faithful", 2))
    with pytest.raises(ValueError, match=message):
        map_m_step(model, N, means, scatter, len(X), prior)


def test_settings_that_do_not_go_with_a_prior_are_refused():
    X = DATA["faithful"]
    with pytest.raises(ValueError, match="the prior replaces reg_covar"):
        GaussianMixtureEM(2, reg_covar=1e-3, prior="default").fit(X)
    with pytest.raises(ValueError, match="'default' or a ConjugatePrior"):
        GaussianMixtureEM(2, prior="mclust").fit(X)
    with pytest.raises(ValueError, match="takes a scalar"):
        GaussianMixtureEM(2, covariance_type="VII", prior=default_prior(X, "VVV", 2)).fit(X)
    with pytest.raises(ValueError, match="has 3 entries; the data have 2"):
        wide = default_prior(DATA["iris"][:, :3], "VVV", 2)
        GaussianMixtureEM(2, prior=wide).fit(X)
    with pytest.raises(ValueError, match="prior mean specified but not shrinkage"):
        default_prior(X, "VVV", 2, shrinkage=0, mean=[3.0, 70.0])
    with pytest.raises(ValueError, match="positive definite"):
        ConjugatePrior(0.01, [0.0, 0.0], 4.0, [[1.0, 2.0], [2.0, 1.0]])
    with pytest.raises(ValueError, match="shrinkage"):
        ConjugatePrior(-1.0, [0.0, 0.0], 4.0, 1.0)
    # the default reg_covar and 0 are accepted (neither is added)
    for reg in (1e-6, 0.0):
        GaussianMixtureEM(2, reg_covar=reg, prior="default", init_params="hc").fit(X)


def test_reg_covar_is_not_added_with_a_prior():
    X = DATA["faithful"]
    fits = [
        GaussianMixtureEM(2, reg_covar=reg, prior="default", init_params="hc").fit(X)
        for reg in (1e-6, 0.0)
    ]
    np.testing.assert_array_equal(fits[0].covariances_, fits[1].covariances_)
    without = GaussianMixtureEM(2, init_params="hc").fit(X)
    assert without.prior_ is None
    assert not np.allclose(without.covariances_, fits[0].covariances_, rtol=1e-6)


def test_integer_weights_are_repeated_rows_with_the_default_prior():
    X = DATA["faithful"][:60]
    counts = np.arange(60) % 3 + 1
    start = GaussianMixtureEM(2, init_params="hc", prior="default").fit(X)
    common = {
        "covariance_type": "VEV",
        "prior": "default",
        "tol": 0.0,
        "max_iter": 15,
        "weights_init": start.weights_,
        "means_init": start.means_,
        "precisions_init": start.precisions_,
    }
    weighted = GaussianMixtureEM(2, **common).fit(X, sample_weight=counts, warn_convergence=False)
    repeated = GaussianMixtureEM(2, **common).fit(
        np.repeat(X, counts, axis=0), warn_convergence=False
    )
    for field in ("shrinkage", "mean", "dof", "scale"):
        a, b = getattr(weighted.prior_, field), getattr(repeated.prior_, field)
        np.testing.assert_allclose(a, b, rtol=1e-12)
    np.testing.assert_allclose(weighted.covariances_, repeated.covariances_, rtol=1e-9)
    np.testing.assert_allclose(weighted.lower_bounds_, repeated.lower_bounds_, rtol=1e-11)
