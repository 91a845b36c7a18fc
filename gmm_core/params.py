"""Mixture parameters: a frozen container plus the covariance-type arithmetic.

The four covariance types store their covariances in scikit-learn's shapes:

=============  ==========================
``full``       ``(n_components, d, d)``
``tied``       ``(d, d)``
``diag``       ``(n_components, d)``
``spherical``  ``(n_components,)``
=============  ==========================

``precisions_cholesky`` has the same shape. For ``full`` and ``tied`` it is the *upper*
triangular ``U`` with ``precision = U @ U.T`` (scikit-learn's convention), so the
Mahalanobis term is ``||(x - mean) @ U||^2`` and ``log det(precision) / 2 = sum(log(diag U))``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg

COVARIANCE_TYPES: tuple[str, ...] = ("full", "tied", "diag", "spherical")


class DegenerateCovarianceError(ValueError):
    """A covariance matrix is not positive definite, so the fit cannot continue.

    Subclasses ``ValueError`` so callers that expect scikit-learn's error keep working.
    """


def check_covariance_type(covariance_type: str) -> str:
    """Return ``covariance_type`` if it is one of :data:`COVARIANCE_TYPES`, else raise."""
    if covariance_type not in COVARIANCE_TYPES:
        raise ValueError(
            f"covariance_type must be one of {', '.join(COVARIANCE_TYPES)}; "
            f"got {covariance_type!r}."
        )
    return covariance_type


def covariance_shape(covariance_type: str, n_components: int, n_features: int) -> tuple[int, ...]:
    """Shape of the covariances (and precisions) array for a covariance type."""
    return {
        "full": (n_components, n_features, n_features),
        "tied": (n_features, n_features),
        "diag": (n_components, n_features),
        "spherical": (n_components,),
    }[check_covariance_type(covariance_type)]


def _degenerate_message(component: int | None, iteration: int | None, dtype: np.dtype) -> str:
    who = "a component" if component is None else f"component {component}"
    if iteration is None:
        when = ""
    elif iteration == 0:
        when = " at the starting point"
    else:
        when = f" after EM iteration {iteration}"
    message = (
        f"The fit failed{when}: the covariance of {who} is not positive definite. "
        "This happens when a component collapses onto a single point or a line "
        "(duplicated rows, collinear or constant columns, or more components than "
        "distinct points). Try fewer components, a larger reg_covar, or scaling the data."
    )
    if dtype == np.float32:
        message += " Fitting in float64 instead of float32 also helps."
    return message


def _triangular_inverse(
    t: np.ndarray, *, lower: bool, component: int | None, iteration: int | None = None
) -> np.ndarray:
    """Inverse of the triangular matrix ``t`` (d, d), triangular like it.

    LAPACK's trtri rather than ``solve_triangular(t, eye)``: the same to rounding, but OpenBLAS
    runs trtri on the calling thread for small matrices, whereas the trsm behind
    solve_triangular wakes its thread pool even at 2 x 2. Those threads then spin for about
    100 ms and halved the speed of the compiled E-step pass (gmm_core._fast) that runs next.
    A zero on the diagonal raises :class:`DegenerateCovarianceError` about ``component``.
    """
    inv, info = linalg.get_lapack_funcs("trtri", (t,))(t, lower=int(lower))
    if info != 0:
        raise DegenerateCovarianceError(_degenerate_message(component, iteration, t.dtype))
    # trtri leaves the other triangle of its input in place.
    return np.tril(inv) if lower else np.triu(inv)


def precision_cholesky_from_covariances(
    covariances: np.ndarray, covariance_type: str, *, iteration: int | None = None
) -> np.ndarray:
    """Cholesky factors of the precision matrices, computed from covariances.

    Parameters
    ----------
    covariances : ndarray
        Shape given by :func:`covariance_shape`.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    iteration : int, optional
        Only used to say in an error message when the problem appeared.

    Returns
    -------
    precisions_cholesky : ndarray
        Same shape as ``covariances``.

    Raises
    ------
    DegenerateCovarianceError
        If a covariance is not positive definite (or not finite).
    """
    dtype = covariances.dtype
    if covariance_type in ("full", "tied"):
        stack = covariances if covariance_type == "full" else covariances[np.newaxis]
        out = np.empty_like(stack)
        for k, cov in enumerate(stack):
            try:
                if not np.all(np.isfinite(cov)):
                    raise linalg.LinAlgError("non-finite covariance")
                chol = linalg.cholesky(cov, lower=True)
            except linalg.LinAlgError:
                comp = k if covariance_type == "full" else None
                raise DegenerateCovarianceError(
                    _degenerate_message(comp, iteration, dtype)
                ) from None
            comp = k if covariance_type == "full" else None
            out[k] = _triangular_inverse(chol, lower=True, component=comp, iteration=iteration).T
        return out if covariance_type == "full" else out[0]
    bad = ~(covariances > 0.0) | ~np.isfinite(covariances)
    if np.any(bad):
        comp = int(np.argwhere(bad)[0][0])
        raise DegenerateCovarianceError(_degenerate_message(comp, iteration, dtype))
    return 1.0 / np.sqrt(covariances)


def precision_cholesky_from_precisions(precisions: np.ndarray, covariance_type: str) -> np.ndarray:
    """Upper Cholesky factors ``U`` with ``precision = U @ U.T`` from precision matrices.

    Uses the flip trick of scikit-learn (#26415): the lower Cholesky factor of the
    row- and column-reversed matrix, reversed back, is upper triangular.
    """
    if covariance_type == "full":
        return np.stack([np.flip(linalg.cholesky(np.flip(p), lower=True)) for p in precisions])
    if covariance_type == "tied":
        return np.flip(linalg.cholesky(np.flip(precisions), lower=True))
    return np.sqrt(precisions)


def precisions_from_cholesky(precisions_cholesky: np.ndarray, covariance_type: str) -> np.ndarray:
    """Precision matrices (or vectors) ``U @ U.T`` from their Cholesky factors."""
    if covariance_type == "full":
        return np.einsum("kij,klj->kil", precisions_cholesky, precisions_cholesky)
    if covariance_type == "tied":
        return precisions_cholesky @ precisions_cholesky.T
    return precisions_cholesky**2


def covariances_from_cholesky(precisions_cholesky: np.ndarray, covariance_type: str) -> np.ndarray:
    """Covariances from precision Cholesky factors: ``inv(U @ U.T) = inv(U).T @ inv(U)``."""
    if covariance_type in ("full", "tied"):
        stack = precisions_cholesky if covariance_type == "full" else precisions_cholesky[None]
        out = np.empty_like(stack)
        for k, u in enumerate(stack):
            comp = k if covariance_type == "full" else None
            u_inv = _triangular_inverse(u, lower=False, component=comp)
            out[k] = u_inv.T @ u_inv
        return out if covariance_type == "full" else out[0]
    return 1.0 / precisions_cholesky**2


def log_det_cholesky(precisions_cholesky: np.ndarray, covariance_type: str, n_features: int):
    """``log det(precision) / 2`` per component, from the Cholesky factors.

    Returns
    -------
    ndarray of shape (n_components,) for full/diag/spherical, a scalar for tied.
    """
    if covariance_type == "full":
        return np.log(np.diagonal(precisions_cholesky, axis1=1, axis2=2)).sum(axis=1)
    if covariance_type == "tied":
        return np.log(np.diagonal(precisions_cholesky)).sum()
    if covariance_type == "diag":
        return np.log(precisions_cholesky).sum(axis=1)
    return n_features * np.log(precisions_cholesky)


@dataclass(frozen=True, eq=False)
class MixtureParams:
    """The parameters of a Gaussian mixture at one moment of a fit.

    Parameters
    ----------
    weights : ndarray of shape (n_components,)
    means : ndarray of shape (n_components, n_features)
    covariances : ndarray
        Shape given by :func:`covariance_shape`.
    precisions_cholesky : ndarray
        Same shape as ``covariances``.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    precisions_cholesky: np.ndarray
    covariance_type: str

    @classmethod
    def from_covariances(
        cls,
        weights: np.ndarray,
        means: np.ndarray,
        covariances: np.ndarray,
        covariance_type: str,
        *,
        iteration: int | None = None,
    ) -> MixtureParams:
        """Build parameters from covariances, computing the precision Cholesky factors.

        Raises
        ------
        DegenerateCovarianceError
            If a covariance is not positive definite.
        """
        chol = precision_cholesky_from_covariances(
            covariances, covariance_type, iteration=iteration
        )
        return cls(weights, means, covariances, chol, covariance_type)

    @classmethod
    def from_precisions(
        cls,
        weights: np.ndarray,
        means: np.ndarray,
        precisions: np.ndarray,
        covariance_type: str,
    ) -> MixtureParams:
        """Build parameters from precision matrices (as ``precisions_init`` gives them)."""
        chol = precision_cholesky_from_precisions(precisions, covariance_type)
        covariances = covariances_from_cholesky(chol, covariance_type)
        return cls(weights, means, covariances, chol, covariance_type)

    @property
    def n_components(self) -> int:
        """Number of mixture components K."""
        return self.means.shape[0]

    @property
    def n_features(self) -> int:
        """Dimension d of the data."""
        return self.means.shape[1]

    @property
    def precisions(self) -> np.ndarray:
        """Precision matrices (inverse covariances), same shape as ``covariances``."""
        return precisions_from_cholesky(self.precisions_cholesky, self.covariance_type)

    def full_covariances(self) -> np.ndarray:
        """Covariances as ``(n_components, d, d)`` matrices whatever the covariance type."""
        k, d = self.means.shape
        c = self.covariances
        if self.covariance_type == "full":
            return c
        if self.covariance_type == "tied":
            return np.broadcast_to(c, (k, d, d)).copy()
        if self.covariance_type == "diag":
            return np.einsum("ki,ij->kij", c, np.eye(d, dtype=c.dtype))
        return c[:, None, None] * np.eye(d, dtype=c.dtype)

    def n_parameters(self) -> int:
        """Number of free parameters, as scikit-learn counts them for BIC and AIC."""
        k, d = self.means.shape
        cov_params = {
            "full": k * d * (d + 1) / 2.0,
            "diag": k * d,
            "tied": d * (d + 1) / 2.0,
            "spherical": k,
        }[self.covariance_type]
        return int(cov_params + k * d + k - 1)
