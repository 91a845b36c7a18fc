"""Our EM against scikit-learn's ``GaussianMixture``: matching, differences, agreement, drift.

Two ways to compare:

* **same start**: scikit-learn starts from exactly our initial parameters and is stepped one
  iteration at a time (``warm_start=True, max_iter=1``), so the two runs can be compared at
  every iteration (:func:`same_start_drift`); the components correspond one to one.
* **independent**: scikit-learn with its own initialisation; it may reach another local
  optimum, and its components come in another order, so they are matched first
  (:func:`match_components`, an optimal one-to-one assignment).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture

from .em import FitHistory
from .params import MixtureParams

MATCH_COSTS: dict[str, str] = {
    "euclidean": "Distance between means",
    "bhattacharyya": "Bhattacharyya distance (means and covariances)",
    "symmetric_kl": "Symmetric Kullback-Leibler divergence (means and covariances)",
}


def max_relative_difference(ours: np.ndarray, theirs: np.ndarray) -> float:
    """``max|ours - theirs| / max|theirs|``: the relative error of a whole array.

    Relative to the array's scale rather than element by element, so that entries that are
    zero up to rounding (an off-diagonal covariance, a centred mean) do not blow it up.
    """
    ours, theirs = np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float)
    scale = float(np.max(np.abs(theirs))) if theirs.size else 0.0
    diff = float(np.max(np.abs(ours - theirs))) if theirs.size else 0.0
    return diff / scale if scale > 0 else diff


def params_of(gm: GaussianMixture) -> MixtureParams:
    """Our parameter container for a fitted scikit-learn ``GaussianMixture``."""
    return MixtureParams(
        gm.weights_, gm.means_, gm.covariances_, gm.precisions_cholesky_, gm.covariance_type
    )


def _pairwise_cost(a: MixtureParams, b: MixtureParams, cost: str) -> np.ndarray:
    diff = a.means[:, None, :] - b.means[None, :, :]
    if cost == "euclidean":
        return np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))
    ca, cb = a.full_covariances(), b.full_covariances()
    d = a.n_features
    out = np.empty((a.n_components, b.n_components))
    for i in range(a.n_components):
        for j in range(b.n_components):
            delta = diff[i, j]
            if cost == "bhattacharyya":
                avg = (ca[i] + cb[j]) / 2.0
                maha = delta @ np.linalg.solve(avg, delta)
                logdets = [np.linalg.slogdet(m)[1] for m in (avg, ca[i], cb[j])]
                out[i, j] = maha / 8.0 + 0.5 * (logdets[0] - 0.5 * (logdets[1] + logdets[2]))
            elif cost == "symmetric_kl":
                ia, ib = np.linalg.inv(ca[i]), np.linalg.inv(cb[j])
                trace = np.trace(ib @ ca[i]) + np.trace(ia @ cb[j])
                out[i, j] = 0.5 * (trace + delta @ (ia + ib) @ delta - 2 * d)
            else:
                raise ValueError(f"cost must be one of {', '.join(MATCH_COSTS)}; got {cost!r}.")
    return out


@dataclass(frozen=True, eq=False)
class Matching:
    """A one-to-one assignment of our components to scikit-learn's.

    Attributes
    ----------
    partner : ndarray of shape (n_components,)
        ``partner[k]`` is the scikit-learn component matched to our component ``k``.
    cost : ndarray of shape (n_components, n_components)
        The cost matrix the assignment minimised (ours x theirs).
    cost_name : str
    """

    partner: np.ndarray
    cost: np.ndarray
    cost_name: str

    def relabel_theirs(self, labels: np.ndarray) -> np.ndarray:
        """Map scikit-learn's labels to ours, so matched clusters share a label (and colour)."""
        inverse = np.empty_like(self.partner)
        inverse[self.partner] = np.arange(len(self.partner))
        return inverse[labels]


def match_components(ours: MixtureParams, theirs: MixtureParams, cost: str = "euclidean"):
    """Optimal one-to-one matching of components (Hungarian algorithm).

    A greedy nearest-mean match can send two components to the same partner; this never does.

    Parameters
    ----------
    ours, theirs : MixtureParams
        With the same number of components and features.
    cost : {'euclidean', 'bhattacharyya', 'symmetric_kl'}

    Returns
    -------
    Matching
    """
    if ours.means.shape != theirs.means.shape:
        raise ValueError("Both mixtures need the same number of components and features.")
    matrix = _pairwise_cost(ours, theirs, cost)
    rows, cols = linear_sum_assignment(matrix)
    partner = np.empty(ours.n_components, dtype=int)
    partner[rows] = cols
    return Matching(partner, matrix, cost)


def component_table(ours: MixtureParams, theirs: MixtureParams, matching: Matching):
    """One row per matched pair: weights, mean distance, covariance difference.

    Returns
    -------
    pandas.DataFrame
        Columns ``component``, ``sklearn_component``, ``weight_ours``, ``weight_sklearn``,
        ``weight_diff``, ``mean_l2``, ``cov_frobenius``, ``match_cost``; K rows.
    """
    ca, cb = ours.full_covariances(), theirs.full_covariances()
    rows = []
    for k, j in enumerate(matching.partner):
        rows.append(
            {
                "component": k,
                "sklearn_component": int(j),
                "weight_ours": float(ours.weights[k]),
                "weight_sklearn": float(theirs.weights[j]),
                "weight_diff": float(ours.weights[k] - theirs.weights[j]),
                "mean_l2": float(np.linalg.norm(ours.means[k] - theirs.means[j])),
                "cov_frobenius": float(np.linalg.norm(ca[k] - cb[j])),
                "match_cost": float(matching.cost[k, j]),
            }
        )
    return pd.DataFrame(rows)


@dataclass(frozen=True, eq=False)
class Drift:
    """How far scikit-learn's iterates are from ours, iteration by iteration (same start).

    Attributes
    ----------
    iterations : ndarray of shape (T,)
        1 .. T.
    weights, means, covariances, log_likelihood : ndarray of shape (T,)
        Max relative difference (:func:`max_relative_difference`) at each iteration.
    sklearn_model : GaussianMixture
        scikit-learn after the last step.
    seconds_per_iteration : float
        scikit-learn's time per stepped iteration (each step also pays a final E-step).
    """

    iterations: np.ndarray
    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    log_likelihood: np.ndarray
    sklearn_model: GaussianMixture
    seconds_per_iteration: float

    @property
    def worst(self) -> float:
        """The largest drift of any quantity at any iteration."""
        parts = [self.weights, self.means, self.covariances, self.log_likelihood]
        return float(max((p.max() for p in parts if p.size), default=0.0))

    def as_series(self) -> dict[str, np.ndarray]:
        """The four drift curves by name, for plotting."""
        return {
            "weights": self.weights,
            "means": self.means,
            "covariances": self.covariances,
            "log-likelihood": self.log_likelihood,
        }


def same_start_drift(
    X: np.ndarray,
    history: FitHistory,
    *,
    reg_covar: float,
    progress: Callable[[int, int], None] | None = None,
) -> Drift:
    """Step scikit-learn from our starting point and measure the drift at every iteration.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        The data our run was fitted on.
    history : FitHistory
        Our run; its ``history[0]`` is scikit-learn's start.
    reg_covar : float
        The ``reg_covar`` of our run.
    progress : callable, optional
        ``progress(done, total)`` after each step.

    Returns
    -------
    Drift
    """
    start = history[0].params
    steps = len(history) - 1
    # scikit-learn's single-point starts have weights N_k / n that sum to K / n, which its own
    # weights_init check rejects. Scaling all weights by one constant leaves every
    # responsibility, hence every iterate, unchanged; it only shifts the first log-likelihood
    # by log(sum(weights)), which is taken back below.
    total = float(start.weights.sum())
    gm = GaussianMixture(
        start.n_components,
        covariance_type=start.covariance_type,
        reg_covar=reg_covar,
        tol=0.0,
        max_iter=1,
        warm_start=True,
        weights_init=start.weights / total,
        means_init=start.means,
        precisions_init=start.precisions,
    )
    curves = np.zeros((4, steps))
    began = time.perf_counter()
    with warnings.catch_warnings():
        # Every single-iteration fit "does not converge"; that is the point of stepping.
        warnings.simplefilter("ignore", ConvergenceWarning)
        for j in range(1, steps + 1):
            gm.fit(X)
            ours = history[j]
            curves[:, j - 1] = (
                max_relative_difference(ours.weights, gm.weights_),
                max_relative_difference(ours.means, gm.means_),
                max_relative_difference(ours.covariances, gm.covariances_),
                # scikit-learn's lower bound after step j is the likelihood of snapshot j-1.
                max_relative_difference(
                    history[j - 1].log_likelihood - (np.log(total) if j == 1 else 0.0),
                    gm.lower_bound_,
                ),
            )
            if progress is not None:
                progress(j, steps)
    elapsed = time.perf_counter() - began
    return Drift(
        np.arange(1, steps + 1),
        *curves,
        sklearn_model=gm,
        seconds_per_iteration=elapsed / max(steps, 1),
    )


def fit_sklearn(
    X: np.ndarray,
    n_components: int,
    *,
    covariance_type: str = "full",
    random_state: int | None = 42,
    init_params: str = "kmeans",
    tol: float = 1e-3,
    reg_covar: float = 1e-6,
    max_iter: int = 100,
    n_init: int = 1,
) -> tuple[GaussianMixture, float]:
    """scikit-learn's ``GaussianMixture`` with its own initialisation, and its time per iteration.

    Returns
    -------
    model : GaussianMixture
    seconds_per_iteration : float
    """
    gm = GaussianMixture(
        n_components,
        covariance_type=covariance_type,
        random_state=random_state,
        init_params=init_params,
        tol=tol,
        reg_covar=reg_covar,
        max_iter=max_iter,
        n_init=n_init,
    )
    began = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm.fit(X)
    return gm, (time.perf_counter() - began) / max(gm.n_iter_ * n_init, 1)


def summary_table(
    X: np.ndarray,
    ours,
    theirs: GaussianMixture,
    *,
    seconds_ours: float,
    seconds_theirs: float,
    true_labels: np.ndarray | None = None,
) -> pd.DataFrame:
    """The headline numbers of both fits side by side.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    ours : GaussianMixtureEM
        Fitted.
    theirs : GaussianMixture
        Fitted.
    seconds_ours, seconds_theirs : float
        Time per iteration of each.
    true_labels : ndarray of shape (n_samples,), optional
        Known classes; adds the adjusted Rand index of each clustering against them.

    Returns
    -------
    pandas.DataFrame
        Index: the measures; columns ``ours`` and ``scikit-learn``.
    """
    labels_ours, labels_theirs = ours.predict(X), theirs.predict(X)
    rows = {
        "mean log-likelihood": (ours.score(X), theirs.score(X)),
        "BIC (lower is better)": (ours.bic(X), theirs.bic(X)),
        "AIC (lower is better)": (ours.aic(X), theirs.aic(X)),
        "iterations": (ours.n_iter_, theirs.n_iter_),
        "converged": (ours.converged_, theirs.converged_),
        "ms per iteration": (1e3 * seconds_ours, 1e3 * seconds_theirs),
    }
    if true_labels is not None:
        rows["ARI vs label column"] = (
            adjusted_rand_score(true_labels, labels_ours),
            adjusted_rand_score(true_labels, labels_theirs),
        )
    return pd.DataFrame.from_dict(rows, orient="index", columns=["ours", "scikit-learn"])


def agreement(labels_ours: np.ndarray, labels_theirs: np.ndarray) -> float:
    """Adjusted Rand index between two labelings (1.0 means the same partition)."""
    return float(adjusted_rand_score(labels_ours, labels_theirs))
