"""Information criteria of a fitted mixture: the parameter count, BIC, AIC and ICL.

One place for the formulas; the estimator (``bic``, ``aic``) and the model sweep
(:func:`gmm_core.selection.sweep`) both use them. Every criterion is in scikit-learn's sign:
**lower is better**.

* ``p`` free parameters (:func:`n_parameters`): the covariances
  (:meth:`gmm_core.params.CovarianceModel.n_parameters`), ``K d`` means and ``K - 1`` weights;
* ``BIC = -2 log L + p log n`` and ``AIC = -2 log L + 2 p``, ``log L`` the *total*
  log-likelihood;
* ``ICL = BIC + 2 sum_i -log z_i,MAP(i)``: BIC plus twice the entropy of the hard (MAP)
  classification (:func:`classification_entropy`), mclust's definition, so never below BIC.

R's mclust reports BIC and ICL with the opposite sign (higher is better).
"""

from __future__ import annotations

import math

import numpy as np

from .engines.numpy import e_step
from .params import MixtureParams, covariance_model


def n_parameters(covariance_type: str, n_components: int, n_features: int) -> int:
    """Free parameters of a mixture, as scikit-learn (and mclust) count them for BIC.

    Parameters
    ----------
    covariance_type : str
        One of :data:`gmm_core.params.ALL_COVARIANCE_TYPES`.
    n_components, n_features : int

    Returns
    -------
    int
        Covariances, ``K d`` means and ``K - 1`` weights.
    """
    k, d = n_components, n_features
    return covariance_model(covariance_type).n_parameters(k, d) + k * d + k - 1


def bic(total_log_likelihood: float, n_parameters: int, n_samples: int) -> float:
    """``-2 log L + p log n`` (lower is better)."""
    return -2.0 * float(total_log_likelihood) + n_parameters * math.log(n_samples)


def aic(total_log_likelihood: float, n_parameters: int) -> float:
    """``-2 log L + 2 p`` (lower is better)."""
    return -2.0 * float(total_log_likelihood) + 2.0 * n_parameters


def map_entropy(log_resp: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
    """``sum_i -max_k log_resp[i, k]``: the entropy of the hard classification, from logs.

    Parameters
    ----------
    log_resp : ndarray of shape (n_samples, n_components)
        Log responsibilities.
    sample_weight : ndarray of shape (n_samples,), optional
        Row weights: ``sum_i -w_i max_k log_resp[i, k]``, as for repeated rows.

    Returns
    -------
    float
        Non-negative.
    """
    top = np.asarray(log_resp).max(axis=1)
    if sample_weight is None:
        return float(-top.sum())
    return float(-(top @ np.asarray(sample_weight, dtype=np.float64)))


def classification_entropy(resp: np.ndarray) -> float:
    """Entropy of the hard (MAP) classification: ``sum_i -log resp[i, argmax_k resp[i, k]]``.

    This is mclust's ICL penalty (Biernacki, Celeux and Govaert 2000, as ``icl.Mclust``
    computes it): zero when every point belongs to one component with certainty, and up to
    ``n log K`` when no point can be told apart. The *soft* entropy
    ``-sum_ik resp_ik log resp_ik`` (McLachlan and Peel's "ICL-BIC") is another choice; it
    is never smaller than this one, and it is not used here so that our ICL matches mclust's.

    Parameters
    ----------
    resp : ndarray of shape (n_samples, n_components)
        Responsibilities; each row sums to one.

    Returns
    -------
    float
        Non-negative.
    """
    resp = np.asarray(resp, dtype=float)
    if resp.ndim != 2 or resp.shape[0] == 0:
        raise ValueError(
            f"resp must be a non-empty 2-D array (n_samples, n_components); got {resp.shape}."
        )
    with np.errstate(divide="ignore"):
        return map_entropy(np.log(resp))


def icl(bic_value: float, log_resp: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
    """``BIC + 2 * sum_i -log z_i,MAP(i)`` from the BIC and the log responsibilities
    (each row's term times its weight, with ``sample_weight``)."""
    return float(bic_value) + 2.0 * map_entropy(log_resp, sample_weight)


def criteria(
    params: MixtureParams, X: np.ndarray, sample_weight: np.ndarray | None = None
) -> dict[str, float]:
    """BIC, AIC, ICL, the mean log-likelihood and the parameter count of ``params`` on ``X``.

    One E-step serves all three criteria (it holds the n x K responsibilities, which ICL
    needs).

    Parameters
    ----------
    params : MixtureParams
    X : ndarray of shape (n_samples, n_features)
    sample_weight : ndarray of shape (n_samples,), optional
        Row weights (counts): the log-likelihood and ICL's entropy are weighted sums and
        BIC's n is the total weight, as for repeated rows.

    Returns
    -------
    dict
        ``bic``, ``aic``, ``icl``, ``log_likelihood`` (mean per row, or per unit of weight),
        ``n_parameters``.
    """
    log_prob, log_resp = e_step(X, params)
    p = n_parameters(params.covariance_type, params.n_components, params.n_features)
    if sample_weight is None:
        n = X.shape[0]
        total = float(log_prob.sum())
    else:
        w = np.asarray(sample_weight, dtype=np.float64)
        n = float(w.sum())
        total = float(log_prob @ w)
    bic_value = bic(total, p, n)
    return {
        "bic": bic_value,
        "aic": aic(total, p),
        "icl": icl(bic_value, log_resp, sample_weight),
        "log_likelihood": total / n,
        "n_parameters": p,
    }
