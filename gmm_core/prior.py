"""mclust's conjugate prior: MAP (posterior mode) M-steps instead of ``reg_covar``.

Fraley and Raftery (2007) replace maximum likelihood by the posterior mode under a
conjugate prior on each component's mean and covariance, which keeps every covariance
positive definite where maximum likelihood collapses onto a point or a repeated value (the
high-K cells mclust otherwise reports as NA). The prior of mclust's ``priorControl()``:

.. math::  \\mu_k \\mid \\Sigma_k \\sim N(\\mu_P, \\Sigma_k / \\kappa_P), \\qquad
           \\Sigma_k \\sim \\text{inverse Wishart}(\\nu_P, \\Lambda_P)

(an inverse gamma on the variance for the spherical and diagonal models), with the
*shrinkage* :math:`\\kappa_P`, the *mean* :math:`\\mu_P`, the *dof* :math:`\\nu_P` and the
*scale* :math:`\\Lambda_P` (a scalar :math:`\\varsigma_P` for the spherical and diagonal
models). :func:`default_prior` gives mclust's ``defaultPrior()``: shrinkage 0.01, the data's
mean, dof ``d + 2`` and a scale of the data's (co)variance divided by ``K^(2/d)``.

With ``N_k``, the weighted means :math:`\\bar x_k` and scatter matrices :math:`W_k` of a
component, :math:`c_k = \\kappa_P N_k / (N_k + \\kappa_P)`,
:math:`B_k = \\Lambda_P + W_k + c_k (\\bar x_k - \\mu_P)(\\bar x_k - \\mu_P)^T` and
:math:`b = 1` when :math:`\\kappa_P > 0` (else 0), the posterior means are
:math:`(N_k \\bar x_k + \\kappa_P \\mu_P) / (N_k + \\kappa_P)` and the covariances are, as
mclust's EM (``me*()``, its Fortran ``me*p`` routines) computes them:

=====  =======================================================================================
model  MAP covariance (``n = sum N_k``; diagonal models use the diagonals of ``B_k``)
=====  =======================================================================================
EII    ``sigma^2 = sum_k tr(B_k - Lambda_P) / (nu + (n + K) d + 2)`` (mclust adds no scale)
VII    ``sigma_k^2 = tr(B_k) / (nu + N_k d + 2 + b d)`` with ``tr(Lambda_P) = varsigma``
EEI    ``Sigma = diag(sum_k B_k - (K - 1) varsigma) / (nu + n + 1 + b)``; means unshrunk
VEI    mclust's alternation of VEI on ``diag(B_k)``, volumes over ``d N_k + nu + 2 + b``
EVI    ``lambda = sum_k |diag B_k|^(1/d) / (nu + n + 1 + b)``, ``A_k`` from ``diag B_k``
VVI    ``Sigma_k = diag(B_k) / (N_k + nu + 2 + b)``
EEE    ``Sigma = (Lambda_P + sum_k (B_k - Lambda_P)) / (nu + n + d + 1 + K b)``
EEV    EEV on ``B_k``: eigenvalues pooled, volume over ``nu + n + d + 1 + b``
VEV    VEV's inner iteration on ``B_k``, as maximum likelihood (mclust ignores the dof)
VVV    ``Sigma_k = B_k / (nu + N_k + d + 2)``
=====  =======================================================================================

In the diagonal rows ``B_k`` holds ``varsigma`` on its diagonal, once per component (EEI:
once in all). The weights stay ``N_k / n``.

Which models, and why not the others. mclust offers the prior for these ten
(:data:`PRIOR_MODELS`); ``Mclust()`` drops EVE, VEE, VVE and EVV when given a prior, and
their ``mstep``/``me`` functions answer "model is not available with prior": their M-steps
are iterations over a common orientation or shape that mclust has no posterior-mode version
of. :func:`check_prior_model` raises a ``ValueError`` naming the ten.

The formulas are mclust's, departures included, so that the fits match ``Mclust(...,
prior = priorControl())``: EII's variance has no scale term, VEV's no dof, EEI keeps the
unshrunk means (its covariance still has the shrinkage term). mclust's ``mstep()`` with a
prior is not the M-step of its ``me()`` for EII (scatter around the shrunk means), EEI and
EVI (denominators ``nu + n + 2 + K b``) and EEV (which ``mstep`` fits with shrinkage 0);
this module follows ``me()``, what ``Mclust`` runs. One component (``Mclust``'s G = 1,
mclust's ``mvn()``) is the family's free model (VII, VVI, VVV), where VVV divides by
``nu + n + d + 1 + b`` (``mvn=True``).

mclust records the *data* log-likelihood at the MAP estimate (its ``loglik``), stops EM on
it, and its BIC is ``2 loglik - npar log n`` with the usual parameter count; so does the
estimator with ``prior=`` (:class:`gmm_core.model.GaussianMixtureEM`). EM with a prior
climbs the posterior, so the data log-likelihood may fall slightly from one iteration to
the next.

References
----------
C. Fraley and A. E. Raftery (2007), Bayesian regularization for normal mixture estimation and
model-based clustering, Journal of Classification 24, 155-181.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import mclust_models as mm
from .mclust_models import INNER_MAX_ITER, INNER_TOL, MStep

__all__ = [
    "DEFAULT_SHRINKAGE",
    "MAP_M_STEPS",
    "MODELS_WITHOUT_PRIOR",
    "PRIOR_MODELS",
    "ConjugatePrior",
    "check_prior_model",
    "check_prior_setting",
    "default_prior",
    "map_m_step",
    "resolve_prior",
]

#: The models mclust fits with a prior (``Mclust`` keeps these when given one).
PRIOR_MODELS: tuple[str, ...] = (
    "EII",
    "VII",
    "EEI",
    "VEI",
    "EVI",
    "VVI",
    "EEE",
    "EEV",
    "VEV",
    "VVV",
)
#: mclust's models without a prior ("model is not available with prior").
MODELS_WITHOUT_PRIOR: tuple[str, ...] = ("VEE", "EVE", "VVE", "EVV")
#: ``priorControl()``'s shrinkage.
DEFAULT_SHRINKAGE = 0.01
# Models whose prior scale is a scalar (inverse gamma); the others take a d x d matrix.
_SCALAR_SCALE = frozenset({"EII", "VII", "EEI", "VEI", "EVI", "VVI"})


def check_prior_model(model: str) -> str:
    """mclust's name for ``model``, which must be one that takes a prior.

    Raises
    ------
    ValueError
        For EVE, VEE, VVE and EVV (mclust has no prior for them) and unknown names.
    """
    name = mm.canonical_model(model)
    if name not in PRIOR_MODELS:
        raise ValueError(
            f"Model {model!r} does not take a prior: mclust has no conjugate-prior M-step for "
            f"{', '.join(MODELS_WITHOUT_PRIOR)}. The prior is available for "
            f"{', '.join(PRIOR_MODELS)} (or scikit-learn's 'spherical', 'diag', 'tied', "
            "'full')."
        )
    return name


@dataclass(frozen=True, eq=False)
class ConjugatePrior:
    """mclust's conjugate prior (``priorControl()``'s hyperparameters).

    Parameters
    ----------
    shrinkage : float
        :math:`\\kappa_P \\ge 0`, how many observations' worth the prior mean counts for; 0
        leaves the means unshrunk.
    mean : array-like of shape (d,)
        :math:`\\mu_P`.
    dof : float
        :math:`\\nu_P \\ge 0`, the degrees of freedom of the (inverse Wishart or inverse
        gamma) prior on the covariances.
    scale : float or array-like of shape (d, d)
        :math:`\\Lambda_P`: a positive scalar for EII, VII, EEI, VEI, EVI and VVI, a
        symmetric positive definite matrix for EEE, EEV, VEV and VVV.

    Raises
    ------
    ValueError
        For a negative or non-finite shrinkage or dof, a mean that is not a finite vector, a
        scale that is neither a positive scalar nor a symmetric positive definite matrix of
        the mean's size.
    """

    shrinkage: float
    mean: np.ndarray
    dof: float
    scale: float | np.ndarray

    def __post_init__(self) -> None:
        shrinkage, dof = float(self.shrinkage), float(self.dof)
        if not math.isfinite(shrinkage) or shrinkage < 0:
            raise ValueError(f"The prior's shrinkage must be finite and >= 0; got {shrinkage}.")
        if not math.isfinite(dof) or dof < 0:
            raise ValueError(f"The prior's dof must be finite and >= 0; got {dof}.")
        mean = np.array(self.mean, dtype=np.float64).reshape(-1)
        if mean.size == 0 or not np.all(np.isfinite(mean)):
            raise ValueError("The prior's mean must be a non-empty vector of finite numbers.")
        scale = np.array(self.scale, dtype=np.float64)
        if scale.ndim == 0:
            if not (math.isfinite(float(scale)) and float(scale) > 0):
                raise ValueError(f"A scalar prior scale must be positive; got {float(scale)}.")
            scale = float(scale)
        else:
            d = mean.size
            if scale.shape != (d, d) or not np.all(np.isfinite(scale)):
                raise ValueError(
                    f"A matrix prior scale must be finite and of shape ({d}, {d}) (the mean's "
                    f"size); got {scale.shape}."
                )
            if not np.allclose(scale, scale.T, rtol=1e-12, atol=0.0):
                raise ValueError("The prior's scale matrix must be symmetric.")
            scale = 0.5 * (scale + scale.T)
            if np.any(np.linalg.eigvalsh(scale) <= 0):
                raise ValueError("The prior's scale matrix must be positive definite.")
            scale.setflags(write=False)
        mean.setflags(write=False)
        object.__setattr__(self, "shrinkage", shrinkage)
        object.__setattr__(self, "dof", dof)
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "scale", scale)

    @property
    def n_features(self) -> int:
        """d, the size of the prior mean."""
        return int(self.mean.size)

    @property
    def scalar_scale(self) -> bool:
        """True when the scale is a scalar (for the spherical and diagonal models)."""
        return isinstance(self.scale, float)

    def check(self, model: str, n_features: int) -> str:
        """Raise unless this prior fits ``model`` on ``n_features`` columns; mclust's name.

        Raises
        ------
        ValueError
            A model without a prior (:func:`check_prior_model`), a mean of another size, or a
            scale of the wrong kind for the model.
        """
        name = check_prior_model(model)
        if self.n_features != int(n_features):
            raise ValueError(
                f"The prior's mean has {self.n_features} entries; the data have {n_features} "
                "features."
            )
        if (name in _SCALAR_SCALE) != self.scalar_scale:
            kind = "a scalar" if name in _SCALAR_SCALE else f"a {n_features} x {n_features} matrix"
            raise ValueError(f"Model {name} takes {kind} as the prior's scale.")
        return name

    def to_dict(self) -> dict:
        """A JSON-ready description (plain floats and lists)."""
        scale = self.scale if self.scalar_scale else np.asarray(self.scale).tolist()
        return {
            "shrinkage": self.shrinkage,
            "mean": self.mean.tolist(),
            "dof": self.dof,
            "scale": scale,
        }

    def m_step_for(self, model: str, n_features: int) -> Callable[..., MStep]:
        """The posterior-mode M-step of ``model`` under this prior, in the signature of
        :data:`gmm_core.mclust_models.M_STEPS` (what :func:`~gmm_core.mclust_models.
        fit_mclust_model` runs with ``prior=``).

        Raises
        ------
        ValueError
            A model without a prior, or a prior that does not fit it or the data's width.
        """
        self.check(model, n_features)

        def step(
            N, means, scatter, n, *, start=None, tol=INNER_TOL, max_iter=INNER_MAX_ITER, exact=False
        ) -> MStep:
            return map_m_step(
                model, N, means, scatter, n, self, start=start, tol=tol, max_iter=max_iter
            )

        return step


def default_prior(
    X: np.ndarray,
    model: str,
    n_components: int,
    *,
    shrinkage: float | None = None,
    mean: np.ndarray | None = None,
    scale: float | np.ndarray | None = None,
    sample_weight: np.ndarray | None = None,
) -> ConjugatePrior:
    """mclust's ``defaultPrior(X, G, model)``: the hyperparameters from the data.

    shrinkage 0.01; the column means; dof ``d + 2``; scale ``sum(var) / d / K^(2/d)`` for the
    spherical and diagonal models, ``var(X) / K^(2/d)`` for the others (the diagonal of it
    when ``n <= d``), ``var`` with divisor ``n - 1``. The keywords are ``priorControl()``'s:
    a given mean needs a positive shrinkage, as in mclust. mclust's ``defaultPrior`` ignores
    a dof passed to ``priorControl()``; set one with ``dataclasses.replace(prior, dof=...)``.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    model : str
        One of :data:`PRIOR_MODELS` or a scikit-learn alias.
    n_components : int
    shrinkage : float, optional
        0 (or NaN, as mclust's NA) for no shrinkage of the means.
    mean : ndarray of shape (d,), optional
    scale : float or ndarray of shape (d, d), optional
    sample_weight : ndarray of shape (n,), optional
        Frequency weights: mean and variance of the rows repeated (divisor ``sum w - 1``).

    Returns
    -------
    ConjugatePrior

    Raises
    ------
    ValueError
        A model without a prior, a negative shrinkage, a mean without shrinkage, or fewer
        than two rows' worth of weight.
    """
    check_prior_model(model)
    X = np.asarray(X, dtype=np.float64)
    w = np.ones(X.shape[0]) if sample_weight is None else np.asarray(sample_weight, np.float64)
    total = float(w.sum())
    if total <= 1:
        raise ValueError("The default prior needs more than one row's worth of weight.")
    centre = (w @ X) / total
    centred = X - centre
    cov = (centred * w[:, None]).T @ centred / (total - 1.0)
    return prior_from_moments(
        centre, cov, total, model, n_components, shrinkage=shrinkage, mean=mean, scale=scale
    )


def prior_from_moments(
    centre: np.ndarray,
    cov: np.ndarray,
    total: float,
    model: str,
    n_components: int,
    *,
    shrinkage: float | None = None,
    mean: np.ndarray | None = None,
    scale: float | np.ndarray | None = None,
) -> ConjugatePrior:
    """:func:`default_prior` from the data's moments, for data that are not in memory.

    Parameters
    ----------
    centre : ndarray of shape (d,)
        The (weighted) column means.
    cov : ndarray of shape (d, d)
        The (weighted) covariance with divisor ``total - 1``.
    total : float
        The rows' total weight (their number, unweighted); more than 1.
    model, n_components, shrinkage, mean, scale
        As :func:`default_prior`.

    Returns
    -------
    ConjugatePrior
    """
    name = check_prior_model(model)
    centre = np.asarray(centre, dtype=np.float64)
    d = centre.shape[0]
    K = int(n_components)
    if total <= 1:
        raise ValueError("The default prior needs more than one row's worth of weight.")
    if shrinkage is None:
        kappa = DEFAULT_SHRINKAGE
    elif math.isnan(float(shrinkage)) or not shrinkage:
        kappa = 0.0
    elif shrinkage < 0:
        raise ValueError(f"negative value given for shrinkage: {shrinkage}")
    else:
        kappa = float(shrinkage)
    if mean is None or np.any(np.isnan(np.asarray(mean, dtype=np.float64))):
        if mean is not None and kappa:
            raise ValueError("positive shrinkage with no prior mean specified")
        prior_mean = centre
    else:
        if not kappa:
            raise ValueError("prior mean specified but not shrinkage")
        prior_mean = np.asarray(mean, dtype=np.float64)
    if scale is None:
        cov = np.asarray(cov, dtype=np.float64)
        cov = 0.5 * (cov + cov.T)
        factor = (1.0 / K) ** (2.0 / d)
        if name in _SCALAR_SCALE:
            scale = factor * float(np.trace(cov)) / d
        elif total > d:
            scale = factor * cov
        else:
            scale = factor * np.diag(np.diag(cov))
    return ConjugatePrior(shrinkage=kappa, mean=prior_mean, dof=d + 2.0, scale=scale)


# --------------------------------------------------------------------------------------------
# The MAP M-steps (mclust's me*p routines), from sufficient statistics
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Terms:
    kappa: float
    b: float  # 1 when the means are shrunk (mclust's "if (pshrnk > 0)")
    c: np.ndarray  # (K,) kappa N_k / (N_k + kappa)
    delta: np.ndarray  # (K, d) xbar_k - mu_P
    shrunk: np.ndarray  # (K, d) posterior means


def _terms(N: np.ndarray, means: np.ndarray, prior: ConjugatePrior) -> _Terms:
    kappa = prior.shrinkage
    total = N + kappa
    shrunk = means * (N / total)[:, None] + prior.mean * (kappa / total)[:, None]
    return _Terms(kappa, 1.0 if kappa > 0 else 0.0, kappa * N / total, means - prior.mean, shrunk)


def _scatter_diag(W: np.ndarray) -> np.ndarray:
    return np.diagonal(W, axis1=1, axis2=2).copy()


def _map_eii(N, means, W, n, prior, t, start, tol, max_iter, mvn):
    K, d = means.shape
    # meeiip: no scale term; the scatter around the unshrunk means
    total = np.trace(W, axis1=1, axis2=2).sum() + float(np.sum(t.c * np.sum(t.delta**2, 1)))
    sigma2 = total / (prior.dof + (n + K) * d + 2.0)
    mm._check_positive("EII", "the variance", np.array([sigma2]))
    scale = np.full(K, sigma2)
    return t.shrunk, mm._compose_cov_diag(scale, np.ones((K, d))), scale, np.ones((K, d)), None


def _map_vii(N, means, W, n, prior, t, start, tol, max_iter, mvn):
    K, d = means.shape
    total = prior.scale + np.trace(W, axis1=1, axis2=2) + t.c * np.sum(t.delta**2, axis=1)
    sigma2 = total / (prior.dof + N * d + 2.0 + t.b * d)
    mm._check_positive("VII", "a variance", sigma2)
    return t.shrunk, mm._compose_cov_diag(sigma2, np.ones((K, d))), sigma2, np.ones((K, d)), None


def _diag_terms(W, prior, t):
    return prior.scale + _scatter_diag(W) + t.c[:, None] * t.delta**2


def _map_eei(N, means, W, n, prior, t, start, tol, max_iter, mvn):
    K, d = means.shape
    pooled = prior.scale + (_scatter_diag(W) + t.c[:, None] * t.delta**2).sum(axis=0)
    mm._check_positive("EEI", "a pooled variance", pooled)
    g = mm._geometric_mean(pooled)
    scale = np.full(K, g / (prior.dof + n + 1.0 + t.b))
    shape = np.broadcast_to(pooled / g, (K, d)).copy()
    # meeeip leaves the means unshrunk
    return means.copy(), mm._compose_cov_diag(scale, shape), scale, shape, None


def _map_vei(N, means, W, n, prior, t, start, tol, max_iter, mvn):
    K, d = means.shape
    if start is None:
        scale, shape = np.ones(K), np.ones(d)
    else:
        scale, shape = start.scale, start.shape[0]
    kernels = mm._kernels()
    # meveip divides the volumes by d N_k + nu + 2 + b: the ML kernel's d N_k with N_k so
    # adjusted
    scale, shape, inner, err, status = kernels.vei(
        np.ascontiguousarray(_diag_terms(W, prior, t)),
        (d * N + prior.dof + 2.0 + t.b) / d,
        np.ascontiguousarray(scale, dtype=np.float64),
        np.ascontiguousarray(shape, dtype=np.float64),
        float(tol),
        int(max_iter),
    )
    if status:
        raise mm._fail("VEI", kernels.REASONS[status])
    shapes = np.broadcast_to(shape, (K, d)).copy()
    return t.shrunk, mm._compose_cov_diag(scale, shapes), scale, shapes, None, inner, float(err)


def _map_evi(N, means, W, n, prior, t, start, tol, max_iter, mvn):
    B = _diag_terms(W, prior, t)
    mm._check_positive("EVI", "a component variance", B)
    g = mm._geometric_mean(B)
    scale = np.full(N.size, g.sum() / (prior.dof + n + 1.0 + t.b))
    shape = B / g[:, None]
    return t.shrunk, mm._compose_cov_diag(scale, shape), scale, shape, None


def _map_vvi(N, means, W, n, prior, t, start, tol, max_iter, mvn):
    var = _diag_terms(W, prior, t) / (N + prior.dof + 2.0 + t.b)[:, None]
    mm._check_positive("VVI", "a component variance", var)
    g = mm._geometric_mean(var)
    return t.shrunk, mm._diagonal_cov(var), g, var / g[:, None], None


def _full_terms(W, prior, t):
    outer = t.c[:, None, None] * t.delta[:, :, None] * t.delta[:, None, :]
    B = prior.scale + W + outer
    return 0.5 * (B + np.swapaxes(B, 1, 2))


def _map_eee(N, means, W, n, prior, t, start, tol, max_iter, mvn):
    K, d = means.shape
    outer = t.c[:, None, None] * t.delta[:, :, None] * t.delta[:, None, :]
    pooled = prior.scale + (W + outer).sum(axis=0)
    cov = pooled / (prior.dof + n + d + 1.0 + K * t.b)
    cov = np.broadcast_to(0.5 * (cov + cov.T), (K, d, d)).copy()
    scale, shape, axes = mm._decompose(cov)
    mm._check_positive("EEE", "an eigenvalue of the covariance", shape * scale[:, None])
    return t.shrunk, cov, scale, shape, axes


def _map_eev(N, means, W, n, prior, t, start, tol, max_iter, mvn):
    K, d = means.shape
    values, axes = mm._eigh_descending(_full_terms(W, prior, t))
    pooled = values.sum(axis=0)
    mm._check_positive("EEV", "the shape", pooled)
    g = mm._geometric_mean(pooled)
    scale = np.full(K, g / (prior.dof + n + d + 1.0 + t.b))
    shape = np.broadcast_to(pooled / g, (K, d)).copy()
    return t.shrunk, mm._compose(scale, shape, axes), scale, shape, axes


def _map_vev(N, means, W, n, prior, t, start, tol, max_iter, mvn):
    K, d = means.shape
    if start is None:
        scale, shape = np.ones(K), np.ones(d)
    else:
        scale, shape = start.scale, start.shape[0]
    kernels = mm._kernels()
    # mevevp: maximum likelihood's VEV on B_k (the dof unused); its cold start divides the
    # pooled volume by N_k, which the kernel's N_k n gives with n = 1
    scale, shape, axes, cov, inner, err, status = kernels.vev(
        np.ascontiguousarray(_full_terms(W, prior, t)),
        N,
        1.0,
        np.ascontiguousarray(scale, dtype=np.float64),
        np.ascontiguousarray(shape, dtype=np.float64),
        start is not None,
        float(tol),
        int(max_iter),
    )
    if status:
        raise mm._fail("VEV", kernels.REASONS[status])
    shapes = np.broadcast_to(shape, (K, d)).copy()
    return t.shrunk, cov, scale, shapes, axes, inner, float(err)


def _map_vvv(N, means, W, n, prior, t, start, tol, max_iter, mvn):
    d = means.shape[1]
    # mevvvp divides by nu + N_k + d + 2 whatever the shrinkage; mvn (G = 1) by
    # nu + n + d + 1 + b, which differs only without shrinkage
    denominator = prior.dof + N + d + (1.0 + t.b if mvn else 2.0)
    cov = _full_terms(W, prior, t) / denominator[:, None, None]
    scale, shape, axes = mm._decompose(cov)
    mm._check_positive("VVV", "an eigenvalue of a covariance", shape * scale[:, None])
    return t.shrunk, cov, scale, shape, axes


_IMPLEMENTATIONS: dict[str, Callable] = {
    "EII": _map_eii,
    "VII": _map_vii,
    "EEI": _map_eei,
    "VEI": _map_vei,
    "EVI": _map_evi,
    "VVI": _map_vvi,
    "EEE": _map_eee,
    "EEV": _map_eev,
    "VEV": _map_vev,
    "VVV": _map_vvv,
}


def map_m_step(
    model: str,
    N: np.ndarray,
    means: np.ndarray,
    scatter: np.ndarray,
    n: float,
    prior: ConjugatePrior,
    *,
    start: MStep | None = None,
    tol: float = INNER_TOL,
    max_iter: int = INNER_MAX_ITER,
    mvn: bool = False,
) -> MStep:
    """The posterior-mode M-step of ``model`` under ``prior``, as mclust's ``me()`` does it.

    Parameters
    ----------
    model : str
        One of :data:`PRIOR_MODELS` or a scikit-learn alias.
    N : ndarray of shape (K,)
        ``N_k = sum_i r_ik``; each must exceed ``sqrt(eps)``.
    means : ndarray of shape (K, d)
        The responsibility-weighted means :math:`\\bar x_k`.
    scatter : ndarray of shape (K, d, d)
        ``W_k`` around those means.
    n : float
        Number of rows (their total weight): the weights are ``N_k / n`` and it enters the
        denominators of the pooled models.
    prior : ConjugatePrior
    start : MStep, optional
        VEI and VEV: the previous M-step, from which their inner iteration starts (as in
        ``me()``); by default mclust's first-iteration start.
    tol, max_iter : float, int
        The inner iteration's tolerance and limit (mclust's ``emControl()$tol[2]``,
        ``itmax[2]``).
    mvn : bool, default False
        One component as mclust's ``mvn()`` (``Mclust``'s G = 1) rather than ``me()``:
        VVV's denominator ``nu + n + d + 1 + b`` (the same as ``me()``'s unless the
        shrinkage is 0).

    Returns
    -------
    MStep
        The MAP weights, means and covariances with their decomposition.

    Raises
    ------
    ValueError
        A model without a prior, or a prior that does not fit it (:meth:`ConjugatePrior.check`).
    SingularCovarianceError
        An empty component or a non-positive estimate.
    """
    N, means, W = mm._check_statistics(N, means, scatter, n)
    name = prior.check(model, means.shape[1])
    if np.any(~np.isfinite(N)) or np.any(N <= mm._RTEPS):
        raise mm._fail(name, "a component's weight fell below sqrt(eps)", "empty component")
    t = _terms(N, means, prior)
    out = _IMPLEMENTATIONS[name](N, means, W, float(n), prior, t, start, tol, max_iter, mvn)
    mu, cov, scale, shape, axes = out[:5]
    inner, err = (out[5], out[6]) if len(out) > 5 else (0, 0.0)
    K, d = means.shape
    return MStep(
        weights=N / n,
        means=np.asarray(mu, dtype=np.float64),
        covariances=cov,
        scale=np.asarray(scale, dtype=float),
        shape=np.asarray(shape, dtype=float),
        orientation=mm._identity_axes(K, d) if axes is None else axes,
        inner_iterations=int(inner),
        inner_error=float(err),
    )


#: ``MAP_M_STEPS[model](N, means, scatter, n, prior, **keywords)``: :func:`map_m_step` per model.
MAP_M_STEPS: dict[str, Callable[..., MStep]] = {
    model: (lambda *args, _m=model, **kw: map_m_step(_m, *args, **kw)) for model in PRIOR_MODELS
}


# --------------------------------------------------------------------------------------------
# The estimator's hook
# --------------------------------------------------------------------------------------------

#: reg_covar values accepted together with a prior (neither is added): 0 and the default.
_REG_COVAR_WITH_PRIOR = (0.0, 1e-6)


def check_prior_setting(
    prior: str | ConjugatePrior | None, covariance_type: str, n_features: int, reg_covar: float
) -> str | ConjugatePrior | None:
    """Check the estimator's ``prior=`` setting against its model and ``reg_covar``.

    Parameters
    ----------
    prior : None, 'default' or ConjugatePrior
    covariance_type : str
    n_features : int
    reg_covar : float

    Returns
    -------
    None, 'default' or ConjugatePrior
        ``prior`` unchanged.

    Raises
    ------
    ValueError
        Another value, a model without a prior, a prior that does not fit the model or the
        data's width, or a ``reg_covar`` other than 0 or its default 1e-6 (a prior replaces
        ``reg_covar``; the two are not combined).
    """
    if prior is None:
        return None
    if isinstance(prior, str):
        if prior != "default":
            raise ValueError(f"prior must be None, 'default' or a ConjugatePrior; got {prior!r}.")
        check_prior_model(covariance_type)
    elif isinstance(prior, ConjugatePrior):
        prior.check(covariance_type, n_features)
    else:
        raise ValueError(
            f"prior must be None, 'default' or a ConjugatePrior; got {type(prior).__name__}."
        )
    if float(reg_covar) not in _REG_COVAR_WITH_PRIOR:
        raise ValueError(
            f"reg_covar = {reg_covar:g} with a prior: the prior replaces reg_covar (no "
            "reg_covar is added to its covariances). Leave reg_covar at its default or 0, or "
            "fit without a prior."
        )
    return prior


def resolve_prior(
    prior: str | ConjugatePrior | None,
    X: np.ndarray,
    covariance_type: str,
    n_components: int,
    sample_weight: np.ndarray | None = None,
) -> ConjugatePrior | None:
    """The prior a fit uses: ``'default'`` becomes :func:`default_prior` of ``X``.

    Returns
    -------
    ConjugatePrior or None
    """
    if prior is None or isinstance(prior, ConjugatePrior):
        return prior
    return default_prior(X, covariance_type, n_components, sample_weight=sample_weight)
