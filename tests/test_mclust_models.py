"""The fourteen mclust models against R's mclust and against naive references.

Reference values: ``tests/data/mclust/reference.json``, written by
``tests/data/mclust/make_reference.R`` (mclust 6.0.0) on Old Faithful and iris for every model
and G = 1..5, from Mclust's default start (``hclass(hc(X), G)``): one ``mstep()`` and a full
``me()``. Measured agreement (the tolerances below leave a margin of 10x to 100x):

- one M-step: weights and means entry by entry, covariances on the scale of
  sqrt(s_ii s_jj), within 6e-15 of ``mstep()`` (median 1e-15), with the same number of inner
  iterations for every iterative model; the exception is EVE and VVE at G = 1 on Old
  Faithful (5.2e-11): with one component the MM steps take the polar factor of
  A^-1 D^T (W - omega I), singular by construction, which amplifies rounding;
- ``me()``: the same number of EM iterations in every cell, log-likelihood and BIC within
  2e-15 relative, parameters within 2e-13 (median 3e-15); the two cells mclust reports as
  singular (iris VEE and EVV at G = 5) are singular here too; for VVE the log-likelihood
  after every iteration equals me()'s (recorded with itmax = k) within 2e-14.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import optimize, stats

from gmm_core import mclust_models as mm

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = json.loads((ROOT / "tests" / "data" / "mclust" / "reference.json").read_text())
DATA = {
    "faithful": np.loadtxt(
        ROOT / "gmm_core" / "datasets" / "faithful.csv", delimiter=",", skiprows=1
    ),
    "iris": np.loadtxt(ROOT / "tests" / "data" / "mclust" / "iris.csv", delimiter=",", skiprows=1),
}
CELLS = [
    (name, fit["model"], int(fit["G"]))
    for name, dataset in REFERENCE["datasets"].items()
    for fit in dataset["fits"]
]
ITERATIVE = ("VEI", "VEE", "EVE", "VVE", "VEV")


def _reference(name: str, model: str, G: int) -> dict:
    for fit in REFERENCE["datasets"][name]["fits"]:
        if fit["model"] == model and int(fit["G"]) == G:
            return fit
    raise KeyError((name, model, G))


def _start(name: str, G: int) -> np.ndarray:
    labels = np.asarray(REFERENCE["datasets"][name]["labels"][str(G)]) - 1
    return np.eye(G)[labels]


@functools.cache
def _me(name: str, model: str, G: int) -> mm.MclustFit:
    return mm.fit_mclust_model(DATA[name], model, _start(name, G))


def _assert_parameters(weights, means, covariances, expected: dict, rtol: float) -> None:
    """Weights and means entry by entry; covariances on the scale sqrt(s_ii s_jj)."""
    np.testing.assert_allclose(weights, expected["pro"], rtol=rtol, atol=0)
    np.testing.assert_allclose(means, expected["mean"], rtol=rtol, atol=0)
    sigma = np.asarray(expected["sigma"], dtype=float)
    sd = np.sqrt(np.diagonal(sigma, axis1=1, axis2=2))
    scale = sd[:, :, None] * sd[:, None, :]
    assert np.max(np.abs(covariances - sigma) / scale) <= rtol


def test_reference_records_mclust_and_its_defaults():
    assert REFERENCE["mclust_version"] == "6.0.0"
    assert REFERENCE["control"]["tol"] == [mm.MCLUST_TOL, mm.INNER_TOL]
    assert tuple(REFERENCE["models"]) == mm.MODELS
    assert len(CELLS) == 2 * 14 * 5


@pytest.mark.parametrize(("name", "model", "G"), CELLS)
def test_parameter_count_is_mclusts(name, model, G):
    d = int(REFERENCE["datasets"][name]["d"])
    assert mm.n_parameters(model, G, d) == _reference(name, model, G)["me"]["npar"]


@pytest.mark.parametrize(("name", "model", "G"), CELLS)
def test_one_m_step_equals_mclusts_mstep(name, model, G):
    expected = _reference(name, model, G)["mstep"]
    X = DATA[name]
    N, means, scatter = mm.sufficient_statistics(X, _start(name, G))
    result = mm.M_STEPS[model](N, means, scatter, X.shape[0])
    rtol = 5e-10 if (model in ("EVE", "VVE") and G == 1) else 1e-12
    _assert_parameters(result.weights, result.means, result.covariances, expected, rtol=rtol)
    if model in ITERATIVE:
        # the same inner iterations: the same algorithm from the same start, not merely
        # another route to the same fixed point
        assert result.inner_iterations == expected["inner_iterations"]
    else:
        assert result.inner_iterations == 0


@pytest.mark.parametrize(("name", "model", "G"), CELLS)
def test_em_equals_mclusts_me(name, model, G):
    expected = _reference(name, model, G)["me"]
    fit = _me(name, model, G)
    if expected["loglik"] is None:
        # mclust: "singular covariance"; never a number where mclust has none
        assert expected["warning"] == "singular covariance"
        assert fit.status.startswith("singular covariance")
        assert math.isnan(fit.log_likelihood) and math.isnan(fit.bic())
        return
    assert fit.converged
    assert fit.n_iter == expected["iterations"]
    assert fit.log_likelihood == pytest.approx(expected["loglik"], rel=1e-12)
    assert fit.bic() == pytest.approx(expected["bic"], rel=1e-12)
    _assert_parameters(fit.weights, fit.means, fit.covariances, expected, rtol=1e-11)


@pytest.mark.parametrize("name", sorted(REFERENCE["datasets"]))
def test_fits_from_mclusts_start_reproduce_the_mclust_bic_table(name):
    dataset = REFERENCE["datasets"][name]
    for model in mm.MODELS:
        for G, expected in enumerate(dataset["Mclust_BIC"][model], start=1):
            ours = _me(name, model, G).bic()
            if expected is None:
                assert math.isnan(ours)
            elif G == 1:
                # Mclust fits G = 1 in closed form (mvn); me()'s EVE and VVE stop their MM
                # iteration at the inner tolerance, 1.3e-8 away on iris.
                assert ours == pytest.approx(expected, rel=5e-8)
            else:
                assert ours == pytest.approx(expected, rel=1e-12)
    best = dataset["Mclust_best"]
    ours = max(
        ((_me(name, m, G).bic(), m, G) for m in mm.MODELS for G in range(1, 6)),
        key=lambda t: -math.inf if math.isnan(t[0]) else t[0],
    )
    assert ours[1:] == (best["model"], int(best["G"]))
    if name == "faithful":
        assert ours[1:] == ("EEE", 3)


# --------------------------------------------------------------------------------------------
# Naive references
# --------------------------------------------------------------------------------------------


def _random_statistics(K: int, d: int, seed: int, n: int = 80):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + rng.normal(size=d)
    # components of visibly different volumes and orientations, soft responsibilities
    z = rng.dirichlet(np.full(K, 0.7), size=n)
    X = X * (1.0 + 2.0 * z[:, :1])
    return (X, z, *mm.sufficient_statistics(X, z))


def _rotation(angles: np.ndarray, d: int) -> np.ndarray:
    if d == 2:
        c, s = math.cos(angles[0]), math.sin(angles[0])
        return np.array([[c, -s], [s, c]])
    # the Cayley transform (I - S)^-1 (I + S) of a skew-symmetric S: every rotation without
    # an eigenvalue -1, through NumPy (scipy.linalg's expm is slow on a loaded machine: its
    # bundled OpenBLAS threads spin on 3 x 3 matrices)
    skew = np.zeros((d, d))
    skew[np.triu_indices(d, 1)] = angles
    skew = skew - skew.T
    return np.linalg.solve(np.eye(d) - skew, np.eye(d) + skew)


def _parameterised_covariances(theta: np.ndarray, model: str, K: int, d: int) -> np.ndarray:
    """Sigma_k = lambda_k D_k A_k D_k^T from unconstrained numbers, per the model's letters."""
    volume, shape, orientation = model
    r = d * (d - 1) // 2
    sizes = (
        {"E": 1, "V": K}[volume],
        {"I": 0, "E": d - 1, "V": K * (d - 1)}[shape],
        {"I": 0, "E": r, "V": K * r}[orientation],
    )
    log_volume, log_shape, angles = np.split(theta, np.cumsum(sizes)[:2])
    lam = np.exp(np.broadcast_to(log_volume, (K,)))
    if shape == "I":
        A = np.ones((K, d))
    else:
        free = log_shape.reshape(-1, d - 1)
        A = np.exp(np.broadcast_to(np.hstack([free, -free.sum(1, keepdims=True)]), (K, d)))
    if orientation == "I":
        D = np.broadcast_to(np.eye(d), (K, d, d))
    else:
        rotations = [_rotation(a, d) for a in angles.reshape(-1, r)]
        D = np.broadcast_to(np.array(rotations), (K, d, d))
    return np.einsum("kij,kj,klj->kil", D, A, D) * lam[:, None, None]


def _numerical_maximum(model: str, N, scatter, starts: int = 3) -> float:
    K, d = scatter.shape[:2]
    r = d * (d - 1) // 2
    size = (
        {"E": 1, "V": K}[model[0]]
        + {"I": 0, "E": d - 1, "V": K * (d - 1)}[model[1]]
        + {"I": 0, "E": r, "V": K * r}[model[2]]
    )
    rng = np.random.default_rng(0)

    def negative(theta):
        covs = _parameterised_covariances(theta, model, K, d)
        return -mm.covariance_objective(N, scatter, covs)

    best = math.inf
    for _ in range(starts):
        res = optimize.minimize(
            negative, rng.normal(scale=0.5, size=size), method="BFGS", options={"gtol": 1e-9}
        )
        best = min(best, res.fun)
    return -best


NUMERICAL_CASES = [(model, 2, 2, 3) for model in mm.MODELS] + [
    ("VEE", 3, 3, 1),
    ("VEI", 3, 3, 1),
    ("VVE", 2, 3, 1),
    ("EEV", 3, 3, 1),
    ("EVE", 2, 3, 1),
    ("VEV", 2, 3, 1),
]


@pytest.mark.parametrize(("model", "K", "d", "seed"), NUMERICAL_CASES)
def test_m_step_equals_a_numerical_maximisation(model, K, d, seed):
    """No parameter of the model's form scores higher than the M-step (none of VVE's
    exact M-step either; mclust's VVE update is the exception, see below)."""
    _, _, N, means, scatter = _random_statistics(K, d, seed)
    result = mm.M_STEPS[model](N, means, scatter, N.sum(), tol=1e-14, exact=True)
    ours = mm.covariance_objective(N, scatter, result.covariances)
    numerical = _numerical_maximum(model, N, scatter)
    # BFGS on numerical gradients gets within about 1e-10 of the optimum, never above it
    assert ours >= numerical - 1e-9 * abs(numerical)
    assert ours <= numerical + 1e-7 * abs(numerical)


def test_mclusts_vve_update_is_not_the_conditional_maximiser():
    """mclust's VVE orientation step leaves out the volumes: its M-step scores lower than
    the maximum (and its EM can lose likelihood, see the next test); exact=True does not."""
    _, _, N, means, scatter = _random_statistics(3, 3, 1)
    mclust = mm.M_STEPS["VVE"](N, means, scatter, N.sum(), tol=1e-14)
    exact = mm.M_STEPS["VVE"](N, means, scatter, N.sum(), tol=1e-14, exact=True)
    gap = mm.covariance_objective(N, scatter, exact.covariances) - mm.covariance_objective(
        N, scatter, mclust.covariances
    )
    assert gap > 1e-4


def _likelihood_drops(fit: mm.MclustFit) -> float:
    history = np.asarray(fit.log_likelihoods)
    return float(np.max(history[:-1] - history[1:], initial=0.0))


@pytest.mark.parametrize("model", mm.MODELS)
def test_log_likelihood_never_decreases(model):
    """EM with these M-steps is monotone (VVE with exact=True; mclust's VVE is not)."""
    X, z, *_ = _random_statistics(3, 3, 7, n=150)
    for name, G in (("iris", 3), ("faithful", 4)):
        fit = mm.fit_mclust_model(
            DATA[name], model, _start(name, G), tol=1e-9, max_iter=150, exact=True
        )
        assert _likelihood_drops(fit) <= 1e-10 * abs(fit.log_likelihood), (name, G)
    fit = mm.fit_mclust_model(X, model, z, tol=1e-9, max_iter=150, exact=True)
    assert fit.converged or fit.status == "iteration limit reached"
    assert _likelihood_drops(fit) <= 1e-10 * abs(fit.log_likelihood)


@pytest.mark.parametrize("name", sorted(REFERENCE["datasets"]))
def test_vve_log_likelihood_path_is_mclusts(name):
    """Iteration by iteration: me(itmax = k)'s log-likelihood for k = 1, 2, ..."""
    for G, path in REFERENCE["datasets"][name]["VVE_loglik_path"].items():
        ours = _me(name, "VVE", int(G)).log_likelihoods
        np.testing.assert_allclose(ours, path, rtol=1e-12, atol=0)


def test_mclusts_vve_em_loses_likelihood_and_the_exact_one_does_not():
    # mclust's own iterates go down on iris at G = 2 (by 3.2e-4 at iteration 5) and G = 5
    # (by 1.6e-2 at iteration 45): its VVE is not a (generalised) EM algorithm
    paths = REFERENCE["datasets"]["iris"]["VVE_loglik_path"]
    for G, drop in ((2, 3e-4), (5, 1e-2)):
        assert np.max(-np.diff(paths[str(G)])) > drop
        exact = mm.fit_mclust_model(DATA["iris"], "VVE", _start("iris", G), exact=True)
        assert _likelihood_drops(exact) <= 1e-10 * abs(exact.log_likelihood)
    # and from mclust's start at G = 3 the exact M-step climbs far higher
    exact = mm.fit_mclust_model(DATA["iris"], "VVE", _start("iris", 3), exact=True)
    assert exact.log_likelihood > _me("iris", "VVE", 3).log_likelihood + 20


@pytest.mark.parametrize("model", mm.MODELS)
def test_estimates_have_the_models_form(model):
    _, _, N, means, scatter = _random_statistics(3, 3, 3)
    res = mm.M_STEPS[model](N, means, scatter, N.sum())
    K, d = means.shape
    np.testing.assert_allclose(res.weights, N / N.sum())
    np.testing.assert_array_equal(res.means, means)
    rebuilt = np.einsum("kij,kj,klj->kil", res.orientation, res.shape, res.orientation)
    np.testing.assert_allclose(res.covariances, rebuilt * res.scale[:, None, None], rtol=1e-12)
    np.testing.assert_allclose(np.prod(res.shape, axis=1), 1.0, rtol=1e-12)
    eye = np.broadcast_to(np.eye(d), (K, d, d))
    np.testing.assert_allclose(
        res.orientation @ np.swapaxes(res.orientation, 1, 2), eye, atol=1e-12
    )
    volume, shape, orientation = model
    same = {"E": True, "V": False, "I": True}
    if volume == "E":
        np.testing.assert_allclose(res.scale, res.scale[0], rtol=1e-13)
    if same[shape]:
        np.testing.assert_allclose(res.shape, res.shape[:1].repeat(K, 0), rtol=1e-10)
    if shape == "I":
        np.testing.assert_allclose(res.shape, 1.0, rtol=1e-14)
    if orientation == "I":
        off = res.covariances * (1 - np.eye(d))
        assert np.all(off == 0)
    elif orientation == "E":
        # one set of axes: every covariance is diagonal in the first one's frame
        D = res.orientation[0]
        rotated = np.swapaxes(D, 0, 1) @ res.covariances @ D
        assert np.max(np.abs(rotated * (1 - np.eye(d)))) <= 1e-12 * np.max(res.covariances)
    if shape == "V" and volume == "V":
        assert np.ptp(res.scale) > 0


def test_sklearn_aliases_and_their_relations():
    _, _, N, means, scatter = _random_statistics(3, 3, 5)
    n = N.sum()
    for alias, model in mm.SKLEARN_ALIASES.items():
        assert mm.canonical_model(alias) == model
        np.testing.assert_array_equal(
            mm.m_step(alias, N, means, scatter, n)[2], mm.m_step(model, N, means, scatter, n)[2]
        )
    full = mm.m_step("full", N, means, scatter, n)[2]
    np.testing.assert_allclose(full, scatter / N[:, None, None], rtol=1e-14)
    diag = mm.m_step("diag", N, means, scatter, n)[2]
    np.testing.assert_allclose(diag, full * np.eye(3), rtol=1e-14)
    spherical = mm.m_step("spherical", N, means, scatter, n)[2]
    variances = np.trace(full, axis1=1, axis2=2) / 3
    np.testing.assert_allclose(spherical, variances[:, None, None] * np.eye(3), rtol=1e-14)
    tied = mm.m_step("tied", N, means, scatter, n)[2]
    np.testing.assert_allclose(tied[0], np.einsum("k,kij->ij", N, full) / n, rtol=1e-13)
    assert [mm.n_parameters(a, 4, 3) for a in ("spherical", "diag", "tied", "full")] == [
        3 + 12 + 4,
        3 + 12 + 12,
        3 + 12 + 6,
        3 + 12 + 24,
    ]
    with pytest.raises(ValueError, match="Unknown covariance model"):
        mm.canonical_model("XYZ")


def test_log_likelihood_equals_scipys_densities():
    X, _, N, means, scatter = _random_statistics(3, 3, 11)
    weights, means, covs = mm.m_step("VEV", N, means, scatter, N.sum())
    naive = np.log(
        sum(
            w * stats.multivariate_normal(m, c).pdf(X)
            for w, m, c in zip(weights, means, covs, strict=True)
        )
    ).sum()
    assert mm.log_likelihood(X, weights, means, covs) == pytest.approx(naive, rel=1e-13)
    ll, log_resp = mm.e_step(X, weights, means, covs)
    assert ll == pytest.approx(naive, rel=1e-13)
    np.testing.assert_allclose(np.exp(log_resp).sum(axis=1), 1.0, rtol=1e-14)


def test_statistics_from_other_centres_equal_the_two_pass_ones():
    X, z, N, means, scatter = _random_statistics(3, 3, 13)
    centres = means + 0.3
    diffs = X[:, None, :] - centres[None]
    first = np.einsum("nk,nkd->kd", z, diffs)
    second = np.einsum("nk,nki,nkj->kij", z, diffs, diffs)
    N2, means2, scatter2 = mm.scatter_from_centered(z.sum(0), first, second, centres)
    np.testing.assert_allclose(N2, N, rtol=1e-15)
    np.testing.assert_allclose(means2, means, rtol=1e-13)
    np.testing.assert_allclose(scatter2, scatter, rtol=1e-12)


def test_an_empty_component_is_reported_not_divided_by():
    _, _, N, means, scatter = _random_statistics(3, 2, 17)
    N = N.copy()
    N[1] = 0.0
    with pytest.raises(mm.SingularCovarianceError, match="empty component") as caught:
        mm.m_step("VVV", N, means, scatter, 80)
    assert caught.value.kind == "empty component"
    X, z, *_ = _random_statistics(3, 2, 17)
    z[:, 1] = 0.0
    z /= z.sum(axis=1, keepdims=True)
    fit = mm.fit_mclust_model(X, "VVV", z)
    assert fit.status.startswith("empty component") and fit.n_iter == 1
    assert math.isnan(fit.bic()) and fit.n_parameters() == mm.n_parameters("VVV", 3, 2)
    with pytest.raises(ValueError, match="Expected N of shape"):
        mm.m_step("VVV", N[:2], means, scatter, 80)


def test_the_two_by_two_polar_factor_is_lapacks():
    # EVE and VVE on two features take the orthogonal factor in closed form, not an SVD
    from gmm_core import _mstep_kernels

    rng = np.random.default_rng(0)
    for i in range(3000):
        F = rng.normal(size=(2, 2))
        if i % 3 == 0:
            F[:, i % 2] = 0.0  # the zero column that the MM's second step makes
        Q = _mstep_kernels._polar(F)
        P, _, RT = np.linalg.svd(F)
        np.testing.assert_allclose(Q.T @ Q, np.eye(2), atol=1e-15)
        # a maximiser of tr(Q^T F), as P R^T is; where F has full rank, the only one
        assert np.trace(Q.T @ F) >= np.trace((P @ RT).T @ F) - 1e-12
        if i % 3:
            np.testing.assert_allclose(Q, P @ RT, atol=1e-14)
    np.testing.assert_array_equal(_mstep_kernels._polar(np.zeros((2, 2))), np.eye(2))
