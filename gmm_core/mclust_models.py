"""The fourteen covariance models of R's mclust, each as an exact M-step from statistics.

Celeux and Govaert (1995) write a component's covariance as

.. math::  \\Sigma_k = \\lambda_k D_k A_k D_k^T

with the *volume* :math:`\\lambda_k > 0` (a scalar; :math:`|\\Sigma_k| = \\lambda_k^d`), the
*shape* :math:`A_k` (diagonal, positive, :math:`|A_k| = 1`) and the *orientation*
:math:`D_k` (orthogonal). Each of the three is equal across components (E), free per
component (V), or, for shape and orientation, the identity (I). mclust names a model by
the three letters in the order volume, shape, orientation:

=====  =================================  ==================  =======================
model  :math:`\\Sigma_k`                    covariance numbers  M-step
=====  =================================  ==================  =======================
EII    :math:`\\lambda I`                   1                   closed form
VII    :math:`\\lambda_k I`                 K                   closed form
EEI    :math:`\\lambda A`                   d                   closed form
VEI    :math:`\\lambda_k A`                 K + d - 1           iterative (mclust's)
EVI    :math:`\\lambda A_k`                 1 + K (d - 1)       closed form
VVI    :math:`\\lambda_k A_k`               K d                 closed form
EEE    :math:`\\lambda D A D^T`             d (d + 1) / 2       closed form
VEE    :math:`\\lambda_k D A D^T`           K + d - 1 + r       iterative (mclust's)
EVE    :math:`\\lambda D A_k D^T`           1 + K (d - 1) + r   iterative (MM)
VVE    :math:`\\lambda_k D A_k D^T`         K d + r             iterative (MM)
EEV    :math:`\\lambda D_k A D_k^T`         d + K r             closed form
VEV    :math:`\\lambda_k D_k A D_k^T`       K + d - 1 + K r     iterative (mclust's)
EVV    :math:`\\lambda D_k A_k D_k^T`       1 + K (q - 1)       closed form
VVV    :math:`\\lambda_k D_k A_k D_k^T`     K d (d + 1) / 2     closed form
=====  =================================  ==================  =======================

with r = d (d - 1) / 2 (the numbers of an orthogonal matrix) and q = d (d + 1) / 2.
scikit-learn's four covariance types are four of these: ``spherical`` = VII, ``diag`` =
VVI, ``tied`` = EEE, ``full`` = VVV (:data:`SKLEARN_ALIASES`).

Every M-step works from the per-component sufficient statistics only: ``N_k = sum_i r_ik``,
the weighted means and the weighted scatter matrices
``W_k = sum_i r_ik (x_i - mu_k)(x_i - mu_k)^T``. With the means at the weighted means, the
covariance part of the expected complete-data log-likelihood is

.. math::  -\\tfrac12 \\sum_k \\left[ N_k \\log |\\Sigma_k| + \\operatorname{tr}(W_k \\Sigma_k^{-1})
            \\right]

(:func:`covariance_objective`), which each M-step maximises over its model's
parameterisation. Where no closed form exists, the iteration is mclust's (version 6.0 and
later; its Fortran ``ms*``/``me*`` routines), rewritten here from the method, with mclust's
starting values, warm starts inside EM, inner tolerance (``sqrt(eps)``) and stopping rules,
so that from the same start these functions and :func:`fit_mclust_model` reproduce
``mstep()`` and ``me()``:

- VEI, VEV: alternate the volumes :math:`\\lambda_k` and the common shape :math:`A` (for VEV
  with :math:`D_k` the eigenvectors of :math:`W_k`, which is optimal for any
  :math:`\\lambda_k, A` once the eigenvalues are paired in decreasing order); stop when no
  :math:`\\lambda_k` or :math:`A_j` changes by more than ``tol`` relative to ``1 + value``.
- VEE: alternate :math:`C = \\sum_k W_k / \\lambda_k` normalised to :math:`|C| = 1` and
  :math:`\\lambda_k = \\operatorname{tr}(W_k C^{-1}) / (d N_k)` (Celeux and Govaert 1995);
  stop on the relative change of the objective.
- EVE, VVE: Browne and McNicholas's (2014) majorisation-minimisation for the common
  orientation (their MM 1 and MM 2 steps, each a polar factor of a d x d matrix), then the
  shapes (and for VVE the volumes) in closed form; stop on the relative change of
  :math:`\\sum_k \\operatorname{tr}(W_k D A_k^{-1} D^T)`.

The five iterative M-steps run compiled (numba, :mod:`gmm_core._mstep_kernels`, imported on
first use so that importing this module never imports numba); that is their only
implementation. The closed forms are NumPy here.

One departure is offered, not imposed: mclust's VVE orientation update leaves the volumes
:math:`\\lambda_k` out of the majorised objective (it minimises
:math:`\\sum_k \\operatorname{tr}(W_k D A_k^{-1} D^T)` rather than the same sum weighted by
:math:`1/\\lambda_k`), so its fixed point is not the conditional maximiser of the likelihood
when the volumes differ. ``m_step("VVE", ..., exact=True)`` weighs them in; the default
reproduces mclust.

Using it from an EM loop: an engine's pass gives statistics centred on the E-step's means;
:func:`scatter_from_centered` turns them into ``N, means, scatter``; ``M_STEPS[model](N,
means, scatter, n, start=previous)`` gives the next parameters (pass the previous
:class:`MStep` as ``start`` for VEI, VEV, EVE and VVE, as :func:`fit_mclust_model` does); a
:class:`SingularCovarianceError` is mclust's NA. The M-steps need full (K, d, d) scatter
matrices, also for the diagonal models.

References
----------
G. Celeux and G. Govaert (1995), Gaussian parsimonious clustering models, Pattern
Recognition 28(5), 781-793. R. P. Browne and P. D. McNicholas (2014), Estimating common
principal components in high dimensions, Advances in Data Analysis and Classification 8,
217-226. L. Scrucca, M. Fop, T. B. Murphy and A. E. Raftery (2016), mclust 5, The R Journal
8(1), 289-317.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.special import logsumexp

from .params import MCLUST_MODELS, SKLEARN_TO_MCLUST, DegenerateCovarianceError, covariance_model

__all__ = [
    "INNER_MAX_ITER",
    "INNER_TOL",
    "MCLUST_TOL",
    "MODELS",
    "M_STEPS",
    "SKLEARN_ALIASES",
    "WARM_STARTED",
    "MStep",
    "MclustFit",
    "SingularCovarianceError",
    "bic",
    "canonical_model",
    "covariance_objective",
    "e_step",
    "fit_mclust_model",
    "log_component_densities",
    "log_likelihood",
    "m_step",
    "n_covariance_parameters",
    "n_parameters",
    "scatter_from_centered",
    "sufficient_statistics",
]

#: The fourteen models in mclust's order (one list for the package: gmm_core.params).
MODELS: tuple[str, ...] = MCLUST_MODELS

#: scikit-learn's covariance types as mclust models.
SKLEARN_ALIASES: dict[str, str] = dict(SKLEARN_TO_MCLUST)

_EPS = float(np.finfo(np.float64).eps)
#: mclust's ``emControl()$tol[2]``: the inner (M-step) iterations stop at this relative change.
INNER_TOL = math.sqrt(_EPS)
#: mclust's ``emControl()$itmax[2]`` (``.Machine$integer.max``): no practical limit.
INNER_MAX_ITER = 2**31 - 1
#: mclust's ``emControl()$tol[1]``: EM stops when the log-likelihood changes by less than this
#: relative to ``1 + |loglik|``.
MCLUST_TOL = 1e-5
_RTEPS = math.sqrt(_EPS)
# mclust's "previous value" before the first iteration (FLMAX / 2): the first relative change
# is then huge, so every loop runs at least once.
_HUGE = np.finfo(np.float64).max / 2

# Models whose inner iteration mclust's me() carries over from one EM iteration to the next
# (the others restart it from mclust's fixed starting values every M-step).
WARM_STARTED = frozenset({"VEI", "VEV", "EVE", "VVE"})


class SingularCovarianceError(DegenerateCovarianceError):
    """An M-step's estimate is singular (or a component is empty), as mclust reports NA.

    A :class:`~gmm_core.params.DegenerateCovarianceError` (so a ``ValueError``), which the
    estimator and the sweep treat as every other degenerate fit. ``kind`` is ``"singular
    covariance"`` or ``"empty component"`` (mclust's "mixing proportion fell below
    threshold"); ``reason`` says which quantity failed.
    """

    def __init__(self, model: str, reason: str, kind: str = "singular covariance") -> None:
        super().__init__(f"{model}: {kind}: {reason}")
        self.model = model
        self.reason = reason
        self.kind = kind


def canonical_model(model: str) -> str:
    """mclust's name for ``model`` (an mclust name, or one of scikit-learn's four).

    Raises ``ValueError`` for any other name.
    """
    name = SKLEARN_ALIASES.get(model, model)
    if name not in MODELS:
        raise ValueError(
            f"Unknown covariance model {model!r}: use one of {', '.join(MODELS)} "
            f"or scikit-learn's {', '.join(SKLEARN_ALIASES)}."
        )
    return name


# --------------------------------------------------------------------------------------------
# Parameter counts and BIC
# --------------------------------------------------------------------------------------------


def n_covariance_parameters(model: str, n_components: int, n_features: int) -> int:
    """Free parameters of the K covariance matrices of ``model`` (mclust's ``nVarParams``).

    Counted in one place, :meth:`gmm_core.params.CovarianceModel.n_parameters`.
    """
    return covariance_model(canonical_model(model)).n_parameters(int(n_components), int(n_features))


def n_parameters(model: str, n_components: int, n_features: int) -> int:
    """Free parameters of a K-component mixture of ``model`` (mclust's ``nMclustParams``).

    ``K - 1`` weights, ``K d`` means and :func:`n_covariance_parameters`.
    """
    K, d = int(n_components), int(n_features)
    return (K - 1) + K * d + n_covariance_parameters(model, K, d)


def bic(log_likelihood: float, model: str, n_components: int, n_features: int, n: int) -> float:
    """mclust's BIC, ``2 loglik - n_parameters log n`` (larger is better).

    scikit-learn's ``bic`` is the negative of this.
    """
    return 2.0 * log_likelihood - n_parameters(model, n_components, n_features) * math.log(n)


# --------------------------------------------------------------------------------------------
# Sufficient statistics
# --------------------------------------------------------------------------------------------


def sufficient_statistics(
    X: np.ndarray, resp: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-component weights, weighted means and weighted scatter matrices.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    resp : ndarray of shape (n, K)
        Responsibilities (or a 0/1 partition), rows summing to one.

    Returns
    -------
    N : ndarray of shape (K,)
        ``N_k = sum_i r_ik``.
    means : ndarray of shape (K, d)
        ``sum_i r_ik x_i / N_k``.
    scatter : ndarray of shape (K, d, d)
        ``W_k = sum_i r_ik (x_i - mu_k)(x_i - mu_k)^T``, accumulated around the means (two
        passes) so that no cancellation occurs.
    """
    X = np.asarray(X, dtype=np.float64)
    resp = np.asarray(resp, dtype=np.float64)
    N = resp.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = (resp.T @ X) / N[:, None]
    K, d = resp.shape[1], X.shape[1]
    scatter = np.empty((K, d, d))
    for k in range(K):
        centred = X - means[k]
        scatter[k] = (centred * resp[:, k : k + 1]).T @ centred
    # exact symmetry: the matrix product can differ in the last bit across the diagonal
    scatter = 0.5 * (scatter + np.swapaxes(scatter, 1, 2))
    return N, means, scatter


def scatter_from_centered(
    resp_sum: np.ndarray, first: np.ndarray, second: np.ndarray, centers: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Means and scatter matrices from statistics accumulated around other centres.

    The engines of :mod:`gmm_core.engines` accumulate ``first = sum_i r_ik (x_i - c_k)`` and
    ``second = sum_i r_ik (x_i - c_k)(x_i - c_k)^T`` around the E-step's means ``c_k``; with
    ``delta_k = first_k / N_k`` the new mean is ``c_k + delta_k`` and
    ``W_k = second_k - N_k delta_k delta_k^T``.

    Parameters
    ----------
    resp_sum : ndarray of shape (K,)
    first : ndarray of shape (K, d)
    second : ndarray of shape (K, d, d)
        Full matrices (the 'full'/'tied' statistics of the engines).
    centers : ndarray of shape (K, d)

    Returns
    -------
    N, means, scatter
        As :func:`sufficient_statistics`.
    """
    N = np.asarray(resp_sum, dtype=np.float64)
    delta = np.asarray(first, dtype=np.float64) / N[:, None]
    second = np.asarray(second, dtype=np.float64)
    if second.ndim != 3:
        raise ValueError("scatter_from_centered needs full (K, d, d) second moments.")
    scatter = second - N[:, None, None] * delta[:, :, None] * delta[:, None, :]
    scatter = 0.5 * (scatter + np.swapaxes(scatter, 1, 2))
    return N, np.asarray(centers, dtype=np.float64) + delta, scatter


# --------------------------------------------------------------------------------------------
# The M-steps
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class MStep:
    """One M-step's estimate, with the decomposition ``Sigma_k = scale_k D_k A_k D_k^T``.

    Attributes
    ----------
    weights : ndarray of shape (K,)
        ``N_k / n``.
    means : ndarray of shape (K, d)
    covariances : ndarray of shape (K, d, d)
    scale : ndarray of shape (K,)
        The volumes ``lambda_k`` (equal entries for the E.. models).
    shape : ndarray of shape (K, d)
        The diagonals of ``A_k``, each with product one (equal rows for .E. models).
    orientation : ndarray of shape (K, d, d)
        ``D_k``, the axes as columns (the identity for ..I models).
    inner_iterations : int
        Iterations of the inner loop (0 for closed forms).
    inner_error : float
        The inner loop's last relative change (0 for closed forms).
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    scale: np.ndarray
    shape: np.ndarray
    orientation: np.ndarray
    inner_iterations: int = 0
    inner_error: float = 0.0


def _geometric_mean(values: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.exp(np.mean(np.log(values), axis=axis))


def _eigh_descending(W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (K, d), decreasing, and eigenvectors (K, d, d) as columns."""
    values, vectors = np.linalg.eigh(W)
    return values[..., ::-1], vectors[..., ::-1]


def _compose(scale: np.ndarray, shape: np.ndarray, orientation: np.ndarray) -> np.ndarray:
    cov = np.einsum("kij,kj,klj->kil", orientation, shape, orientation) * scale[:, None, None]
    return 0.5 * (cov + np.swapaxes(cov, 1, 2))


def _diagonal_cov(variances: np.ndarray) -> np.ndarray:
    K, d = variances.shape
    cov = np.zeros((K, d, d))
    idx = np.arange(d)
    cov[:, idx, idx] = variances
    return cov


def _identity_axes(K: int, d: int) -> np.ndarray:
    return np.broadcast_to(np.eye(d), (K, d, d)).copy()


def _decompose(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``scale``, ``shape``, ``orientation`` of covariances computed directly."""
    values, vectors = _eigh_descending(cov)
    if np.any(values <= 0):
        return np.full(cov.shape[0], np.nan), np.full(values.shape, np.nan), vectors
    scale = _geometric_mean(values)
    return scale, values / scale[:, None], vectors


def _fail(model: str, reason: str, kind: str = "singular covariance") -> SingularCovarianceError:
    return SingularCovarianceError(model, reason, kind)


def _check_positive(model: str, name: str, values: np.ndarray, floor: float = 0.0) -> None:
    if not np.all(np.isfinite(values)) or np.any(values <= floor):
        raise _fail(model, f"{name} is not positive")


_Inner = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, float]


def _m_eii(N, W, n, start, tol, max_iter, exact):
    K, d = N.size, W.shape[1]
    sigma2 = np.trace(W, axis1=1, axis2=2).sum() / (N.sum() * d)
    _check_positive("EII", "the variance", np.array([sigma2]))
    scale = np.full(K, sigma2)
    return _compose_cov_diag(scale, np.ones((K, d))), scale, np.ones((K, d)), None, 0, 0.0


def _compose_cov_diag(scale: np.ndarray, shape: np.ndarray) -> np.ndarray:
    return _diagonal_cov(scale[:, None] * shape)


def _m_vii(N, W, n, start, tol, max_iter, exact):
    K, d = N.size, W.shape[1]
    scale = np.trace(W, axis1=1, axis2=2) / (N * d)
    _check_positive("VII", "a variance", scale)
    return _compose_cov_diag(scale, np.ones((K, d))), scale, np.ones((K, d)), None, 0, 0.0


def _m_eei(N, W, n, start, tol, max_iter, exact):
    K = N.size
    pooled = np.diagonal(W, axis1=1, axis2=2).sum(axis=0)
    _check_positive("EEI", "a pooled variance", pooled)
    g = _geometric_mean(pooled)
    scale = np.full(K, g / N.sum())
    shape = np.broadcast_to(pooled / g, (K, pooled.size)).copy()
    cov = _diagonal_cov(np.broadcast_to(pooled / N.sum(), shape.shape))
    return cov, scale, shape, None, 0, 0.0


def _m_vei(N, W, n, start, tol, max_iter, exact):
    # mclust's msvei/mevei: alternate the volumes and the common shape from shape = 1.
    K, d = N.size, W.shape[1]
    if start is None:
        scale, shape = np.ones(K), np.ones(d)
    else:
        scale, shape = start.scale, start.shape[0]
    kernels = _kernels()
    scale, shape, inner, err, status = kernels.vei(
        np.diagonal(W, axis1=1, axis2=2).copy(),
        N,
        np.ascontiguousarray(scale, dtype=np.float64),
        np.ascontiguousarray(shape, dtype=np.float64),
        float(tol),
        int(max_iter),
    )
    if status:
        raise _fail("VEI", kernels.REASONS[status])
    shapes = np.broadcast_to(shape, (K, d)).copy()
    return _compose_cov_diag(scale, shapes), scale, shapes, None, inner, float(err)


def _m_evi(N, W, n, start, tol, max_iter, exact):
    w = np.diagonal(W, axis1=1, axis2=2)
    _check_positive("EVI", "a component variance", w)
    g = _geometric_mean(w)
    lam = g.sum() / N.sum()
    shape = w / g[:, None]
    scale = np.full(N.size, lam)
    return _compose_cov_diag(scale, shape), scale, shape, None, 0, 0.0


def _m_vvi(N, W, n, start, tol, max_iter, exact):
    var = np.diagonal(W, axis1=1, axis2=2) / N[:, None]
    _check_positive("VVI", "a component variance", var)
    g = _geometric_mean(var)
    return _diagonal_cov(var), g, var / g[:, None], None, 0, 0.0


def _m_eee(N, W, n, start, tol, max_iter, exact):
    K = N.size
    cov = W.sum(axis=0) / N.sum()
    cov = np.broadcast_to(0.5 * (cov + cov.T), (K, *cov.shape)).copy()
    scale, shape, axes = _decompose(cov)
    _check_positive("EEE", "an eigenvalue of the covariance", shape * scale[:, None])
    return cov, scale, shape, axes, 0, 0.0


def _m_vvv(N, W, n, start, tol, max_iter, exact):
    cov = W / N[:, None, None]
    scale, shape, axes = _decompose(cov)
    _check_positive("VVV", "an eigenvalue of a covariance", shape * scale[:, None])
    return cov, scale, shape, axes, 0, 0.0


def _m_eev(N, W, n, start, tol, max_iter, exact):
    # D_k = eigenvectors of W_k; A from the sum of the eigenvalues paired by rank.
    K = N.size
    values, axes = _eigh_descending(W)
    pooled = values.sum(axis=0)
    _check_positive("EEV", "the shape", pooled)
    g = _geometric_mean(pooled)
    scale = np.full(K, g / N.sum())
    shape = np.broadcast_to(pooled / g, values.shape).copy()
    return _compose(scale, shape, axes), scale, shape, axes, 0, 0.0


def _m_vev(N, W, n, start, tol, max_iter, exact):
    # mclust's msvev/mevev: D_k = eigenvectors of W_k, then alternate the volumes and the
    # common shape on the eigenvalues, starting from EEV's shape.
    K, d = N.size, W.shape[1]
    if start is None:
        scale, shape = np.ones(K), np.ones(d)
    else:
        scale, shape = start.scale, start.shape[0]
    kernels = _kernels()
    scale, shape, axes, cov, inner, err, status = kernels.vev(
        W,
        N,
        float(n),
        np.ascontiguousarray(scale, dtype=np.float64),
        np.ascontiguousarray(shape, dtype=np.float64),
        start is not None,
        float(tol),
        int(max_iter),
    )
    if status:
        raise _fail("VEV", kernels.REASONS[status])
    return cov, scale, np.broadcast_to(shape, (K, d)).copy(), axes, inner, float(err)


def _m_evv(N, W, n, start, tol, max_iter, exact):
    K = N.size
    values, axes = _eigh_descending(W)
    _check_positive("EVV", "an eigenvalue of a scatter matrix", values)
    g = _geometric_mean(values)
    shape = values / g[:, None]
    _check_positive("EVV", "a shape", shape, _RTEPS)
    lam = g.sum() / N.sum()
    scale = np.full(K, lam)
    # lambda C_k with C_k = W_k / |W_k|^(1/d), as mclust does, rather than recomposing
    cov = W * (lam / g)[:, None, None]
    cov = 0.5 * (cov + np.swapaxes(cov, 1, 2))
    return cov, scale, shape, axes, 0, 0.0


def _m_vee(N, W, n, start, tol, max_iter, exact):
    # mclust's msvee/mevee (Celeux & Govaert 1995): C = sum_k W_k / lambda_k scaled to
    # determinant one, lambda_k = tr(W_k C^-1) / (d N_k), from lambda = 1.
    K, d = N.size, W.shape[1]
    scale = np.ones(K) if start is None else start.scale
    kernels = _kernels()
    scale, shape, vectors, cov, inner, err, status = kernels.vee(
        W, N, np.ascontiguousarray(scale, dtype=np.float64), float(tol), int(max_iter)
    )
    if status:
        raise _fail("VEE", kernels.REASONS[status])
    shapes = np.broadcast_to(shape, (K, d)).copy()
    axes = np.broadcast_to(vectors, (K, d, d)).copy()
    return cov, scale, shapes, axes, inner, float(err)


def _kernels():
    # numba, on first use only: importing this module must stay cheap
    from . import _mstep_kernels

    return _mstep_kernels


def _common_orientation_mm(model, N, W, start, tol, max_iter, exact):
    """EVE / VVE: the common orientation by Browne & McNicholas's MM, as mclust iterates it.

    Compiled: :func:`gmm_core._mstep_kernels.common_orientation_mm`.
    """
    K, d = N.size, W.shape[1]
    if start is None:
        D, shape, scale = np.eye(d), np.ones((K, d)), np.ones(K)
    else:
        D, shape, scale = start.orientation[0], start.shape, start.scale
    volumes = model == "VVE"
    kernels = _kernels()
    # mclust's VVE majorises sum_k tr(W_k D A_k^-1 D^T) without the 1 / lambda_k weights;
    # exact=True weighs them in (the conditional maximiser); EVE's volume is common anyway.
    scale, shape, D, cov, inner, err, status = kernels.common_orientation_mm(
        W,
        N,
        np.ascontiguousarray(D, dtype=np.float64),
        np.ascontiguousarray(shape, dtype=np.float64),
        np.ascontiguousarray(scale, dtype=np.float64),
        volumes,
        exact and volumes,
        float(tol),
        int(max_iter),
    )
    if status:
        raise _fail(model, kernels.REASONS[status])
    return cov, scale, shape, np.broadcast_to(D, (K, d, d)).copy(), inner, err


def _m_eve(N, W, n, start, tol, max_iter, exact):
    return _common_orientation_mm("EVE", N, W, start, tol, max_iter, exact)


def _m_vve(N, W, n, start, tol, max_iter, exact):
    return _common_orientation_mm("VVE", N, W, start, tol, max_iter, exact)


_IMPLEMENTATIONS: dict[str, Callable[..., _Inner]] = {
    "EII": _m_eii,
    "VII": _m_vii,
    "EEI": _m_eei,
    "VEI": _m_vei,
    "EVI": _m_evi,
    "VVI": _m_vvi,
    "EEE": _m_eee,
    "VEE": _m_vee,
    "EVE": _m_eve,
    "VVE": _m_vve,
    "EEV": _m_eev,
    "VEV": _m_vev,
    "EVV": _m_evv,
    "VVV": _m_vvv,
}


def _check_statistics(N, means, scatter, n) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    N = np.ascontiguousarray(N, dtype=np.float64)
    means = np.asarray(means, dtype=np.float64)
    scatter = np.ascontiguousarray(scatter, dtype=np.float64)
    if (
        N.ndim != 1
        or means.ndim != 2
        or means.shape[0] != N.size
        or scatter.shape != (N.size, means.shape[1], means.shape[1])
    ):
        raise ValueError(
            "Expected N of shape (K,), means of shape (K, d) and scatter of shape (K, d, d); "
            f"got {N.shape}, {means.shape} and {scatter.shape}."
        )
    if n <= 0:
        raise ValueError(f"n must be positive; got {n}.")
    return N, means, scatter


def _make_m_step(model: str) -> Callable[..., MStep]:
    impl = _IMPLEMENTATIONS[model]

    def m_step_model(
        N: np.ndarray,
        means: np.ndarray,
        scatter: np.ndarray,
        n: float,
        *,
        start: MStep | None = None,
        tol: float = INNER_TOL,
        max_iter: int = INNER_MAX_ITER,
        exact: bool = False,
    ) -> MStep:
        N, means, scatter = _check_statistics(N, means, scatter, n)
        if np.any(~np.isfinite(N)) or np.any(N <= _RTEPS):
            raise _fail(model, "a component's weight fell below sqrt(eps)", "empty component")
        cov, scale, shape, axes, inner, err = impl(N, scatter, n, start, tol, max_iter, exact)
        K, d = means.shape
        if axes is None:
            axes = _identity_axes(K, d)
        return MStep(
            weights=N / n,
            means=means.copy(),
            covariances=cov,
            scale=np.asarray(scale, dtype=float),
            shape=np.asarray(shape, dtype=float),
            orientation=axes,
            inner_iterations=int(inner),
            inner_error=float(err),
        )

    m_step_model.__name__ = f"m_step_{model}"
    m_step_model.__qualname__ = m_step_model.__name__
    m_step_model.__doc__ = (
        f"M-step of model {model} from sufficient statistics (see :func:`m_step`); returns an "
        ":class:`MStep`."
    )
    return m_step_model


#: The M-step of each model: ``M_STEPS[model](N, means, scatter, n, *, start=None,
#: tol=INNER_TOL, max_iter=INNER_MAX_ITER, exact=False) -> MStep``.
M_STEPS: dict[str, Callable[..., MStep]] = {model: _make_m_step(model) for model in MODELS}


def m_step(
    model: str,
    N: np.ndarray,
    means: np.ndarray,
    scatter: np.ndarray,
    n: float,
    *,
    start: MStep | None = None,
    tol: float = INNER_TOL,
    max_iter: int = INNER_MAX_ITER,
    exact: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The M-step of ``model`` from per-component sufficient statistics.

    Parameters
    ----------
    model : str
        One of :data:`MODELS` or a scikit-learn alias (:data:`SKLEARN_ALIASES`).
    N : ndarray of shape (K,)
        ``N_k = sum_i r_ik``; each must exceed ``sqrt(eps)``.
    means : ndarray of shape (K, d)
        The responsibility-weighted means (they are the M-step's means in every model).
    scatter : ndarray of shape (K, d, d)
        ``W_k = sum_i r_ik (x_i - mu_k)(x_i - mu_k)^T`` around those means.
    n : float
        Number of rows (the weights are ``N_k / n``).
    start : MStep, optional
        Starting values for the inner iteration of VEI, VEE, EVE, VVE and VEV (the previous
        M-step, as mclust's ``me()`` carries them over); ignored by the closed forms. By
        default mclust's ``mstep()`` starting values.
    tol, max_iter : float, int
        The inner iteration's relative tolerance and iteration limit (mclust's
        ``emControl()$tol[2]`` and ``itmax[2]``). The inner loops converge linearly, so their
        result is within about ``tol`` (relative) of their fixed point.
    exact : bool
        VVE only: weigh each component by ``1 / lambda_k`` in the orientation update (the
        conditional maximiser) instead of mclust's unweighted update.

    Returns
    -------
    weights : ndarray of shape (K,)
    means : ndarray of shape (K, d)
    covariances : ndarray of shape (K, d, d)

    Raises
    ------
    SingularCovarianceError
        A component is empty or the estimate singular (where mclust returns NA).
    """
    result = M_STEPS[canonical_model(model)](
        N, means, scatter, n, start=start, tol=tol, max_iter=max_iter, exact=exact
    )
    return result.weights, result.means, result.covariances


def covariance_objective(N: np.ndarray, scatter: np.ndarray, covariances: np.ndarray) -> float:
    """``-1/2 sum_k [N_k log|Sigma_k| + tr(W_k Sigma_k^-1)]``, what every M-step maximises.

    The covariance part of the expected complete-data log-likelihood with the means at the
    weighted means (the weights' part ``sum_k N_k log pi_k`` and the constant
    ``-n d log(2 pi) / 2`` are left out).

    Parameters
    ----------
    N : ndarray of shape (K,)
    scatter : ndarray of shape (K, d, d)
    covariances : ndarray of shape (K, d, d)
    """
    N = np.asarray(N, dtype=np.float64)
    sign, logdet = np.linalg.slogdet(covariances)
    if np.any(sign <= 0):
        raise ValueError("covariance_objective needs positive definite covariances.")
    traces = np.trace(np.linalg.solve(covariances, scatter), axis1=1, axis2=2)
    return -0.5 * float(np.sum(N * logdet + traces))


# --------------------------------------------------------------------------------------------
# E-step, log-likelihood and EM
# --------------------------------------------------------------------------------------------

_LOG_2PI = math.log(2.0 * math.pi)


def log_component_densities(
    X: np.ndarray, means: np.ndarray, covariances: np.ndarray
) -> np.ndarray:
    """``log N(x_i | mu_k, Sigma_k)`` for every row and component, shape (n, K).

    Parameters
    ----------
    X : ndarray of shape (n, d)
    means : ndarray of shape (K, d)
    covariances : ndarray of shape (K, d, d)

    Raises
    ------
    SingularCovarianceError
        A covariance is not positive definite.
    """
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    K = means.shape[0]
    out = np.empty((n, K))
    try:
        L = np.linalg.cholesky(np.asarray(covariances, dtype=np.float64))
    except np.linalg.LinAlgError:
        raise _fail("E-step", "a covariance is not positive definite") from None
    # One d x d inverse factor per component and a product, rather than a triangular solve
    # per row (scikit-learn's formulation). NumPy's batched routines, not scipy.linalg: for
    # matrices this small the per-call overhead of the latter dominates the EM loop.
    L_inv = np.linalg.inv(L)
    half_logdet = np.sum(np.log(np.diagonal(L, axis1=1, axis2=2)), axis=1)
    for k in range(K):
        y = (X - means[k]) @ L_inv[k].T
        out[:, k] = -0.5 * d * _LOG_2PI - half_logdet[k] - 0.5 * np.sum(y * y, axis=1)
    return out


def e_step(
    X: np.ndarray, weights: np.ndarray, means: np.ndarray, covariances: np.ndarray
) -> tuple[float, np.ndarray]:
    """Log-likelihood and log-responsibilities (n, K), normalised in log space.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    weights : ndarray of shape (K,)
    means : ndarray of shape (K, d)
    covariances : ndarray of shape (K, d, d)

    Returns
    -------
    log_likelihood : float
        ``sum_i log sum_k pi_k N(x_i | mu_k, Sigma_k)``.
    log_resp : ndarray of shape (n, K)
    """
    with np.errstate(divide="ignore"):
        weighted = log_component_densities(X, means, covariances) + np.log(weights)
    norm = logsumexp(weighted, axis=1)
    return float(norm.sum()), weighted - norm[:, None]


def log_likelihood(
    X: np.ndarray, weights: np.ndarray, means: np.ndarray, covariances: np.ndarray
) -> float:
    """The mixture log-likelihood ``sum_i log sum_k pi_k N(x_i | mu_k, Sigma_k)``.

    Parameters as :func:`e_step`.
    """
    return e_step(X, weights, means, covariances)[0]


@dataclass(frozen=True, eq=False)
class MclustFit:
    """The result of :func:`fit_mclust_model` (the counterpart of mclust's ``me()``).

    Attributes
    ----------
    model : str
    status : str
        ``"converged"``, ``"iteration limit reached"``, or why the fit has no estimate, as
        mclust returns NA (``"singular covariance: ..."``, ``"empty component: ..."``).
    n_samples, n_components, n_features : int
    weights, means, covariances : ndarray of shapes (K,), (K, d), (K, d, d)
        The last M-step's estimate (None when the fit failed).
    log_likelihood : float
        At the last M-step's estimate (NaN when the fit failed).
    n_iter : int
        EM iterations (M-step plus E-step), as mclust's ``info["iterations"]``.
    resp : ndarray of shape (n, K)
        Responsibilities at the estimate.
    log_likelihoods : list of float
        The log-likelihood after every iteration.
    inner_iterations : int
        The largest number of inner M-step iterations in any EM iteration.
    last_m_step : MStep or None
    """

    model: str
    status: str
    n_samples: int
    n_components: int
    n_features: int
    weights: np.ndarray | None
    means: np.ndarray | None
    covariances: np.ndarray | None
    log_likelihood: float
    n_iter: int
    resp: np.ndarray | None
    log_likelihoods: list[float] = field(default_factory=list)
    inner_iterations: int = 0
    last_m_step: MStep | None = None

    @property
    def converged(self) -> bool:
        """True when the relative change fell below ``tol``."""
        return self.status == "converged"

    def n_parameters(self) -> int:
        """mclust's parameter count for this fit."""
        return n_parameters(self.model, self.n_components, self.n_features)

    def bic(self) -> float:
        """mclust's BIC (``2 loglik - npar log n``; NaN when the fit failed)."""
        if self.means is None:
            return math.nan
        return bic(
            self.log_likelihood, self.model, self.n_components, self.n_features, self.n_samples
        )


def fit_mclust_model(
    X: np.ndarray,
    model: str,
    z0: np.ndarray,
    max_iter: int | None = None,
    tol: float = MCLUST_TOL,
    *,
    inner_tol: float = INNER_TOL,
    inner_max_iter: int = INNER_MAX_ITER,
    exact: bool = False,
    prior=None,
) -> MclustFit:
    """EM for one mclust model from starting responsibilities, following mclust's ``me()``.

    Each iteration is an M-step from the statistics of the current responsibilities, then a
    log-space E-step that gives the log-likelihood at the new estimate. The loop stops after
    the first iteration whose log-likelihood ``l`` changed from the previous one by at most
    ``tol * (1 + |l|)`` (mclust's rule; before the first iteration the "previous" value is
    huge), or after ``max_iter`` iterations. The inner iterations of VEI, VEV, EVE and VVE
    start from the previous M-step, those of VEE from mclust's fixed start, as in ``me()``.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    model : str
        One of :data:`MODELS` or a scikit-learn alias.
    z0 : ndarray of shape (n, K)
        Starting responsibilities (for instance a 0/1 partition, as mclust's ``unmap``).
    max_iter : int, optional
        No limit by default (mclust's ``.Machine$integer.max``).
    tol : float
        mclust's ``emControl()$tol[1]``.
    inner_tol, inner_max_iter : float, int
        The M-step's inner iteration (mclust's ``tol[2]`` and ``itmax[2]``).
    exact : bool
        Passed to the VVE M-step (see :func:`m_step`).
    prior : gmm_core.prior.ConjugatePrior, optional
        mclust's conjugate prior (``me(..., prior = priorControl())``): every M-step is the
        posterior mode (:func:`gmm_core.prior.map_m_step`, ten of the fourteen models);
        the log-likelihoods stay the data's, as mclust's ``loglik``.

    Returns
    -------
    MclustFit
    """
    model = canonical_model(model)
    X = np.asarray(X, dtype=np.float64)
    z = np.asarray(z0, dtype=np.float64)
    if X.ndim != 2 or z.ndim != 2 or z.shape[0] != X.shape[0]:
        raise ValueError(f"X must be (n, d) and z0 (n, K); got {X.shape} and {z.shape}.")
    n, d = X.shape
    K = z.shape[1]
    limit = math.inf if max_iter is None else int(max_iter)
    step = M_STEPS[model]
    if prior is not None:
        # the prior brings its own M-step (gmm_core.prior builds on this module, which so
        # never imports it)
        step = prior.m_step_for(model, d)

    previous_ll, state = _HUGE, None
    history: list[float] = []
    inner_max, iteration = 0, 0
    while True:
        iteration += 1
        try:
            N, means, scatter = sufficient_statistics(X, z)
            state = step(
                N,
                means,
                scatter,
                n,
                start=state if model in WARM_STARTED else None,
                tol=inner_tol,
                max_iter=inner_max_iter,
                exact=exact,
            )
            ll, log_resp = e_step(X, state.weights, state.means, state.covariances)
        except SingularCovarianceError as error:
            return MclustFit(
                model,
                f"{error.kind}: {error.reason}",
                n,
                K,
                d,
                None,
                None,
                None,
                math.nan,
                iteration,
                None,
                history,
                inner_max,
                None,
            )
        inner_max = max(inner_max, state.inner_iterations)
        z = np.exp(log_resp)
        history.append(ll)
        err = abs(previous_ll - ll) / (1.0 + abs(ll))
        previous_ll = ll
        if err <= tol:
            status = "converged"
            break
        if iteration >= limit:
            status = "iteration limit reached"
            break
    return MclustFit(
        model,
        status,
        n,
        K,
        d,
        state.weights,
        state.means,
        state.covariances,
        ll,
        iteration,
        z,
        history,
        inner_max,
        state,
    )
