"""The reference engine: the E-step in NumPy, chunk by chunk.

Every other engine is tested against this one. Its per-row functions (:func:`e_step`,
:func:`estimate_weighted_log_prob`) also serve prediction, which needs the n x K
responsibilities themselves; :func:`accumulate` never holds more than one chunk of them.
"""

from __future__ import annotations

import numpy as np

from ..params import CovarianceModel, MixtureParams, log_det_cholesky
from .base import LOG_2PI, SufficientStatistics, chunk_rows

SUMMARY = "NumPy, chunk by chunk (the reference; always available)"

#: The fallback of ``engine="auto"``: asked last, wants everything.
AUTO_PRIORITY = 0


def unavailable() -> str | None:
    """NumPy is always there."""
    return None


def wants(X: np.ndarray, params: MixtureParams, passes: int) -> bool:
    """Any work: the reference is what 'auto' falls back to."""
    return True


def _mahalanobis_sq(
    diff: np.ndarray, chol: np.ndarray, model: CovarianceModel, k: int
) -> np.ndarray:
    """Squared Mahalanobis distances of ``diff = X - mean_k`` rows, shape (m,)."""
    if model.matrices:
        y = diff @ (chol if model.shared else chol[k])
    elif model.per_feature:
        y = diff * chol[k]
    else:
        return np.einsum("ij,ij->i", diff, diff) * chol[k] ** 2
    return np.einsum("ij,ij->i", y, y)


def estimate_weighted_log_prob(X: np.ndarray, params: MixtureParams) -> np.ndarray:
    """``log weight_k + log N(x_i | mean_k, cov_k)`` for every row and component.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    params : MixtureParams

    Returns
    -------
    ndarray of shape (n_samples, n_components)
    """
    n, d = X.shape
    k_count = params.n_components
    # Read once: a recorded snapshot may derive its factors on every read.
    chol = params.precisions_cholesky
    model = params.covariance_model
    log_det = np.broadcast_to(log_det_cholesky(chol, params.covariance_type, d), (k_count,))
    with np.errstate(divide="ignore"):
        # A weight of exactly zero (possible only in a user-given start) gives -inf: that
        # component then explains no point, which is the right answer.
        log_weights = np.log(params.weights)
    out = np.empty((n, k_count), dtype=X.dtype)
    for k in range(k_count):
        maha = _mahalanobis_sq(X - params.means[k], chol, model, k)
        out[:, k] = -0.5 * (d * LOG_2PI + maha) + log_det[k] + log_weights[k]
    return out


def log_normalise(weighted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise log-sum-exp and log responsibilities, stable for large negative values.

    Parameters
    ----------
    weighted : ndarray of shape (n_samples, n_components)
        Weighted log-probabilities (:func:`estimate_weighted_log_prob`).

    Returns
    -------
    log_norm : ndarray of shape (n_samples,)
    log_resp : ndarray of shape (n_samples, n_components)
    """
    top = weighted.max(axis=1, keepdims=True)
    # A row whose every component is -inf (only if its squared distance overflows for every
    # component) gets log p = -inf instead of NaN from -inf - -inf in the maximum. Its log
    # responsibilities are still NaN: there is no way to share such a row.
    top[~np.isfinite(top)] = 0.0
    log_norm = np.log(np.exp(weighted - top).sum(axis=1)) + top[:, 0]
    return log_norm, weighted - log_norm[:, None]


def e_step(X: np.ndarray, params: MixtureParams) -> tuple[np.ndarray, np.ndarray]:
    """E-step in log space.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    params : MixtureParams

    Returns
    -------
    log_prob_norm : ndarray of shape (n_samples,)
        ``log p(x_i)`` under the mixture.
    log_resp : ndarray of shape (n_samples, n_components)
        Log responsibilities; ``exp(log_resp)`` sums to one over components.
    """
    return log_normalise(estimate_weighted_log_prob(X, params))


def statistics_from_responsibilities(
    X: np.ndarray, resp: np.ndarray, centers: np.ndarray, *, full_second: bool
) -> SufficientStatistics:
    """Sufficient statistics of rows ``X`` with given responsibilities.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    resp : ndarray of shape (n_samples, n_components)
    centers : ndarray of shape (n_components, n_features)
    full_second : bool
        Accumulate full d x d second moments ('full', 'tied') or only their diagonal.

    Returns
    -------
    SufficientStatistics
        With ``log_likelihood_sum`` set to 0 (no likelihood is involved).
    """
    k_count, d = centers.shape
    first = np.empty((k_count, d), dtype=X.dtype)
    second = np.empty((k_count, d, d) if full_second else (k_count, d), dtype=X.dtype)
    for k in range(k_count):
        diff = X - centers[k]
        weighted = diff * resp[:, k : k + 1]
        first[k] = weighted.sum(axis=0)
        second[k] = weighted.T @ diff if full_second else np.einsum("ij,ij->j", weighted, diff)
    return SufficientStatistics(resp.sum(axis=0), first, second, centers, 0.0, X.shape[0])


def accumulate(
    X: np.ndarray,
    params: MixtureParams,
    *,
    chunk_size: int | None = None,
    sample_weight: np.ndarray | None = None,
) -> SufficientStatistics:
    """The reference pass: score, normalise and accumulate, one chunk of rows at a time.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    params : MixtureParams
    chunk_size : int, optional
        Rows per chunk; by default about 2 MB of temporaries (:func:`chunk_rows`).
    sample_weight : ndarray of shape (n_samples,), optional
        Finite, non-negative weight of each row (validated by the caller); None for 1 each.

    Returns
    -------
    SufficientStatistics
        In the dtype of ``X``; every sum weighted by ``sample_weight``.
    """
    n, d = X.shape
    step = chunk_size or chunk_rows(n, params.n_components, d)
    full_second = params.covariance_model.matrices
    total: SufficientStatistics | None = None
    for start in range(0, n, step):
        chunk = X[start : start + step]
        log_norm, log_resp = e_step(chunk, params)
        resp = np.exp(log_resp)
        if sample_weight is None:
            log_likelihood, weight_sum = float(log_norm.sum()), float(len(chunk))
        else:
            w = sample_weight[start : start + step]
            kept = w > 0
            # A weight of 0 removes the row exactly, even one that no component explains
            # (log p = -inf, NaN responsibilities), whose products with 0 would be NaN.
            resp = np.where(kept[:, None], resp * w.astype(X.dtype, copy=False)[:, None], 0)
            log_likelihood = float(np.dot(w[kept], log_norm[kept]))
            weight_sum = float(w.sum())
        part = statistics_from_responsibilities(chunk, resp, params.means, full_second=full_second)
        part = SufficientStatistics(
            part.resp_sum,
            part.first,
            part.second,
            part.centers,
            log_likelihood,
            len(chunk),
            weight_sum,
        )
        total = part if total is None else total + part
    assert total is not None  # n >= 1 is checked by every caller
    return total
