"""Our EM against scikit-learn's ``GaussianMixture``: matching, differences, agreement, drift.

Two ways to compare:

* **same start**: scikit-learn starts from exactly our initial parameters and is stepped one
  iteration at a time (``warm_start=True, max_iter=1``), so the two runs can be compared at
  every iteration (:func:`same_start_drift`); the components correspond one to one.
* **independent**: scikit-learn with its own initialisation; it may reach another local
  optimum, and its components come in another order, so they are matched first
  (:func:`match_components`, an optimal one-to-one assignment).

Two more questions a comparison must answer honestly:

* **speed**: only timings measured the same way on both sides are set side by side
  (:func:`time_from_same_start`: each library's public ``fit`` from one starting point, with
  ``tol=0``, for the same number of iterations; :func:`timed_fit`: whole fits, starts included).
  Stepping scikit-learn one iteration per ``fit`` call measures its per-call overhead, not EM.
* **the same solution or not**: two runs stopped by a tolerance are rarely bit-identical;
  :func:`compare_solutions` calls them different optima only when their log-likelihoods differ
  by more than the tolerance *and* their components or partitions differ.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture

from .em import FitHistory
from .init import SKLEARN_INIT_METHODS
from .params import MixtureParams

if TYPE_CHECKING:
    from .model import GaussianMixtureEM

#: scikit-learn's own ``init_params``; our other starts have no scikit-learn equivalent.
SKLEARN_INITS: tuple[str, ...] = SKLEARN_INIT_METHODS

#: Two solutions are the same when every matched pair of components overlaps at least this much
#: (Bhattacharyya coefficient, 1 for identical Gaussians) ...
SAME_OVERLAP = 0.99
#: ... and their partitions agree at least this much (adjusted Rand index). Not 0.99: on
#: overlapping clusters a few boundary rows change sides with the smallest parameter change
#: (blobs sample: ARI 0.983 between two runs that, polished to tol=1e-9, reach ARI 1.0).
SAME_ARI = 0.95

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
        scikit-learn after the last step. It was stepped one iteration per ``fit`` call, so
        its own ``n_iter_`` (1) and ``converged_`` (False) describe the last call only: use
        :attr:`steps` instead.
    """

    iterations: np.ndarray
    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    log_likelihood: np.ndarray
    sklearn_model: GaussianMixture

    @property
    def steps(self) -> int:
        """How many single-iteration steps scikit-learn made from our start."""
        return len(self.iterations)

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


def _start_arguments(start: MixtureParams) -> tuple[dict, float]:
    """``weights_init``, ``means_init``, ``precisions_init`` of ``start``, and its weight sum.

    scikit-learn's single-point starts have weights N_k / n that sum to K / n, which the
    estimators' ``weights_init`` check rejects. Scaling all weights by one constant leaves every
    responsibility, hence every iterate, unchanged; it only shifts the first log-likelihood by
    log(sum(weights)), which the caller can take back.
    """
    total = float(start.weights.sum())
    return (
        {
            "weights_init": start.weights / total,
            "means_init": start.means,
            "precisions_init": start.precisions,
        },
        total,
    )


def _quiet_fit(estimator, X: np.ndarray) -> None:
    """Fit without a ``ConvergenceWarning``: runs with tol=0, and single steps, never converge.

    Ours is told not to warn, which is safe in threads. scikit-learn's ``GaussianMixture`` has
    no such switch (and a single step from a warm start cannot "converge" whatever its tol),
    so its fit alone runs under ``warnings.catch_warnings``. That swaps the process-wide
    filters, so two threads doing it at once can undo each other's filter: the worst outcome
    is a ConvergenceWarning printed to the server's log, or one ignored that would have been.
    """
    from .model import GaussianMixtureEM

    if isinstance(estimator, GaussianMixtureEM):
        estimator.fit(X, warn_convergence=False)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(X)


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

    Raises
    ------
    ValueError
        scikit-learn's own, when a covariance becomes ill-defined on its side.
    """
    start = history[0].params
    steps = len(history) - 1
    arguments, total = _start_arguments(start)
    gm = GaussianMixture(
        start.n_components,
        covariance_type=start.covariance_type,
        reg_covar=reg_covar,
        tol=0.0,
        max_iter=1,
        warm_start=True,
        **arguments,
    )
    curves = np.zeros((4, steps))
    for j in range(1, steps + 1):
        _quiet_fit(gm, X)
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
    return Drift(np.arange(1, steps + 1), *curves, sklearn_model=gm)


@dataclass(frozen=True)
class Timing:
    """Seconds on both sides, measured the same way.

    Attributes
    ----------
    ours, theirs : float
        Seconds per iteration when :attr:`iterations` is set, else seconds per whole fit.
    iterations : int or None
        Per-iteration times over this many iterations, both from the same start with
        ``tol=0`` (:func:`time_from_same_start`); None for whole fits, each with its own start
        (:func:`timed_fit`), which are not a speed per iteration.
    """

    ours: float
    theirs: float
    iterations: int | None = None

    @property
    def per_iteration(self) -> bool:
        """Whether these are times per iteration (else per whole fit)."""
        return self.iterations is not None

    @property
    def ratio(self) -> float:
        """scikit-learn's time over ours (> 1: ours is faster)."""
        return self.theirs / self.ours if self.ours > 0 else float("inf")


def timed_fit(estimator, X: np.ndarray) -> float:
    """Fit ``estimator`` on ``X`` and return the wall time in seconds.

    ``ConvergenceWarning`` is not raised: runs with ``tol=0`` warn by design.
    """
    began = time.perf_counter()
    _quiet_fit(estimator, X)
    return time.perf_counter() - began


def time_from_same_start(
    X: np.ndarray,
    ours: GaussianMixtureEM,
    start: MixtureParams,
    *,
    n_iter: int,
    repeats: int = 3,
    enough_seconds: float = 0.2,
) -> Timing:
    """Time per EM iteration of both libraries, measured the same way.

    Each side's public ``fit`` runs from ``start`` with ``tol=0`` for exactly ``n_iter``
    iterations, so both do the same work: check the input, build the start from the given
    parameters (no k-means), ``n_iter`` EM iterations, and whatever each does at the end.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    ours : GaussianMixtureEM
        Our estimator; its settings (engine, chunk size, ``reg_covar``) are kept, its start,
        ``tol``, ``max_iter`` and ``n_init`` are replaced.
    start : MixtureParams
        The starting point of both.
    n_iter : int
        Iterations to time, at least 1.
    repeats : int, default 3
        At most this many fits per side; the fastest counts (the least disturbed by other work).
    enough_seconds : float, default 0.2
        Stop repeating once one fit took longer than this: one run is then precise enough.

    Returns
    -------
    Timing
        Seconds per iteration on each side, ``iterations == n_iter``.
    """
    if n_iter < 1:
        raise ValueError(f"n_iter must be at least 1; got {n_iter}.")
    arguments, _ = _start_arguments(start)
    common = dict(tol=0.0, max_iter=n_iter, n_init=1, warm_start=False, **arguments)
    ours = clone(ours).set_params(**common, verbose=0)
    theirs = GaussianMixture(
        start.n_components,
        covariance_type=start.covariance_type,
        reg_covar=ours.reg_covar,
        **common,
    )

    def best(estimator) -> float:
        times: list[float] = []
        while len(times) < repeats and (not times or times[-1] <= enough_seconds):
            times.append(timed_fit(estimator, X))
        return min(times) / n_iter

    return Timing(best(ours), best(theirs), n_iter)


def sklearn_init(init_params: str) -> str:
    """scikit-learn's ``init_params`` for ours: the same name, or its default ``'kmeans'``.

    Parameters
    ----------
    init_params : str
        Our initialisation (ours may offer starts that scikit-learn does not have).

    Returns
    -------
    str
        One of :data:`SKLEARN_INITS`.
    """
    return init_params if init_params in SKLEARN_INITS else "kmeans"


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
    """scikit-learn's ``GaussianMixture`` with its own initialisation, and its fit time.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    n_components : int
    covariance_type, random_state, init_params, tol, reg_covar, max_iter, n_init
        As :class:`sklearn.mixture.GaussianMixture`; ``init_params`` must be one of
        :data:`SKLEARN_INITS` (see :func:`sklearn_init`).

    Returns
    -------
    model : GaussianMixture
    seconds : float
        Wall time of the whole fit, its initialisation (e.g. k-means) and every restart
        included. Not a time per iteration: divided by ``n_iter_`` it would charge the start
        to the iterations.

    Raises
    ------
    ValueError
        scikit-learn's, for instance when a covariance is ill-defined (collapsed components).
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
    return gm, timed_fit(gm, X)


def summary_table(
    X: np.ndarray,
    ours,
    theirs: GaussianMixture,
    *,
    true_labels: np.ndarray | None = None,
    stepped: int | None = None,
    timing: Timing | None = None,
) -> pd.DataFrame:
    """The headline numbers of both fits side by side.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    ours : GaussianMixtureEM
        Fitted.
    theirs : GaussianMixture
        Fitted.
    true_labels : ndarray of shape (n_samples,), optional
        Known classes; adds the adjusted Rand index of each clustering against them.
    stepped : int, optional
        scikit-learn was stepped this many single iterations from our start
        (:attr:`Drift.steps`): its "iterations" are these steps, and its "converged" is None
        (it never ran to its own stopping rule).
    timing : Timing, optional
        Adds "ms per iteration" (same start) or "ms per fit" (whole fits), in milliseconds.

    Returns
    -------
    pandas.DataFrame
        Index: the measures; columns ``ours`` and ``scikit-learn``.
    """
    rows = {
        "mean log-likelihood": (ours.score(X), theirs.score(X)),
        "BIC (lower is better)": (ours.bic(X), theirs.bic(X)),
        "AIC (lower is better)": (ours.aic(X), theirs.aic(X)),
        "iterations": (ours.n_iter_, theirs.n_iter_ if stepped is None else stepped),
        "converged": (ours.converged_, theirs.converged_ if stepped is None else None),
    }
    if timing is not None:
        name = "ms per iteration" if timing.per_iteration else "ms per fit"
        rows[name] = (1e3 * timing.ours, 1e3 * timing.theirs)
    if true_labels is not None:
        rows["ARI vs label column"] = (
            adjusted_rand_score(true_labels, ours.predict(X)),
            adjusted_rand_score(true_labels, theirs.predict(X)),
        )
    table = pd.DataFrame(index=list(rows), columns=["ours", "scikit-learn"], dtype=object)
    for name, pair in rows.items():
        table.loc[name] = list(pair)
    return table


def agreement(labels_ours: np.ndarray, labels_theirs: np.ndarray) -> float:
    """Adjusted Rand index between two labelings (1.0 means the same partition)."""
    return float(adjusted_rand_score(labels_ours, labels_theirs))


@dataclass(frozen=True)
class SolutionComparison:
    """Whether two fits reached the same solution, in numbers (:func:`compare_solutions`).

    Attributes
    ----------
    log_likelihood_ours, log_likelihood_theirs : float
        Mean log-likelihood per row of each fit.
    tol : float
        The tolerance both runs stopped at; gaps up to it (or rounding, if it is 0) are noise.
    ari : float
        Adjusted Rand index between the two partitions.
    overlap : float
        The smallest Bhattacharyya coefficient (1 for identical Gaussians, 0 for disjoint)
        over the optimally matched pairs of components.
    """

    log_likelihood_ours: float
    log_likelihood_theirs: float
    tol: float
    ari: float
    overlap: float

    @property
    def gap(self) -> float:
        """Our mean log-likelihood minus scikit-learn's."""
        return self.log_likelihood_ours - self.log_likelihood_theirs

    @property
    def within_tolerance(self) -> bool:
        """Whether the log-likelihoods differ by no more than the tolerance."""
        rounding = 1e-9 * max(1.0, abs(self.log_likelihood_ours))
        return abs(self.gap) <= max(self.tol, rounding)

    @property
    def same_components(self) -> bool:
        """Whether matched components overlap and the partitions agree (see SAME_*)."""
        return self.overlap >= SAME_OVERLAP and self.ari >= SAME_ARI

    @property
    def different_optima(self) -> bool:
        """Different local optima: a gap beyond the tolerance *and* different components."""
        return not self.within_tolerance and not self.same_components


def compare_solutions(
    X: np.ndarray,
    ours,
    theirs,
    *,
    tol: float,
    labels_ours: np.ndarray | None = None,
    labels_theirs: np.ndarray | None = None,
) -> SolutionComparison:
    """Measure whether two fitted mixtures are the same solution.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    ours, theirs : GaussianMixtureEM or GaussianMixture
        Fitted on ``X`` with the same number of components.
    tol : float
        The runs' convergence tolerance.
    labels_ours, labels_theirs : ndarray of shape (n_samples,), optional
        Their predictions on ``X``, when already at hand.

    Returns
    -------
    SolutionComparison
    """
    labels_ours = ours.predict(X) if labels_ours is None else labels_ours
    labels_theirs = theirs.predict(X) if labels_theirs is None else labels_theirs
    # Matched on overlap itself, whatever cost the person chose for the display.
    matching = match_components(params_of(ours), params_of(theirs), cost="bhattacharyya")
    distances = matching.cost[np.arange(len(matching.partner)), matching.partner]
    coefficients = np.exp(-np.where(np.isfinite(distances), distances, np.inf))
    return SolutionComparison(
        float(ours.score(X)),
        float(theirs.score(X)),
        float(tol),
        agreement(labels_ours, labels_theirs),
        float(coefficients.min()),
    )
