"""Model selection and diagnostics: how many components, why EM stopped, how far to trust it.

Four questions, one group of functions each:

* **How many components, which covariance model?** :func:`sweep` fits every K from 1 to a
  maximum for each covariance type and tabulates BIC, AIC and ICL (:func:`icl`).
* **Did the restarts agree?** :func:`distinct_optima` groups the restarts of one fit by the
  local optimum they reached.
* **Why did EM stop there?** :func:`stopping_rules` says at which iteration scikit-learn's
  rule, mclust's rule and a total-log-likelihood rule would have stopped the same run.
* **Did a component degenerate?** :func:`degeneracy_events` finds the iterations at which a
  component lost its weight, kept fewer points than it has parameters, collapsed to the
  ``reg_covar`` floor, or coincided with another (all of them: the fit collapsed onto one
  Gaussian); :func:`degeneracy_at_end` keeps those that still hold for the fitted model,
  and :func:`degeneracy_advice` says in plain words what to do about it.

Sign convention
---------------
Every criterion here is in scikit-learn's sign: **lower is better**.

* ``BIC = -2 log L + p log n``, ``AIC = -2 log L + 2 p`` with ``log L`` the *total*
  log-likelihood and ``p`` the number of free parameters (:func:`gmm_core.criteria.n_parameters`).
* ``ICL = BIC + 2 * sum_i -log z_i,MAP(i)``: BIC plus twice the entropy of the hard
  classification, so it is never below BIC and penalises overlapping components.

R's mclust reports the same quantities with the opposite sign (higher is better):
``mclust BIC = -(our BIC)`` and ``mclust ICL = -(our ICL)``. The parameter counts coincide
for the four models both packages share (:data:`MCLUST_MODEL_NAMES`), so the numbers are
directly comparable once the sign is flipped. For Old Faithful (raw data), mclust's summary
of its best model reads "EEE, 3 components: log-likelihood -1126.326, df 11, BIC -2314.316,
ICL -2357.824"; our tied, K = 3 fit reaches -1126.316, BIC 2314.30 and ICL 2358.4
(mclust stops a little earlier, on a flat ridge where the classification still moves).
"""

from __future__ import annotations

import contextlib
import math
import numbers
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import criteria
from ._validation import check_choice, check_float, check_int
from .compare import match_components
from .criteria import classification_entropy as classification_entropy  # (re-exported)
from .criteria import n_parameters as n_parameters  # (re-exported)
from .em import FitHistory, RunTrace, Snapshot
from .engines import check_engine, resolve_engine
from .init import (
    check_init_params,
    hc_tree,
    one_hot,
    params_from_responsibilities,
    params_from_responsibilities_with_prior,
)
from .model import GaussianMixtureEM, check_weights, total_weight
from .params import ALL_COVARIANCE_TYPES, MCLUST_MODELS, MixtureParams, covariance_model
from .prior import PRIOR_MODELS, check_prior_setting, resolve_prior

#: The criteria of the sweep, all in scikit-learn's sign: lower is better.
SELECTION_CRITERIA: tuple[str, ...] = ("bic", "aic", "icl")

#: One sentence for the UI next to every criterion plot.
DIRECTION_NOTE = (
    "Lower is better for BIC, AIC and ICL here (scikit-learn's sign). R's mclust reports the "
    "same numbers with the opposite sign, where higher is better: mclust's BIC = -(this BIC)."
)

#: mclust's names of the four covariance models that scikit-learn offers.
MCLUST_MODEL_NAMES: dict[str, str] = {
    "full": "VVV",
    "tied": "EEE",
    "diag": "VVI",
    "spherical": "VII",
}

#: Largest K a sweep accepts: beyond it a sweep takes long and the plots say nothing new.
MAX_SWEEP_COMPONENTS = 20

#: mclust's default relative tolerance of EM (``emControl(tol = c(1e-5, ...))``).
MCLUST_DEFAULT_TOL = 1e-5

#: A weight below this counts as vanishing even when it still carries a point or more, so
#: that a large data set's near-empty components are seen too (n * weight < 1 covers small n).
DEFAULT_WEIGHT_FLOOR = 1e-3

#: ``DegeneracyEvent.component`` for the one covariance that 'tied' components share.
ALL_COMPONENTS = -1

VANISHING_WEIGHT = "vanishing weight"
COVARIANCE_FLOOR = "covariance at the reg_covar floor"
FEW_POINTS = "fewer points than parameters"
COMPONENTS_COINCIDE = "components coincide"
ONE_GAUSSIAN = "collapsed onto one Gaussian"

#: Every kind of :class:`DegeneracyEvent`, in the order the advice discusses them.
DEGENERACY_KINDS: tuple[str, ...] = (
    ONE_GAUSSIAN,
    COMPONENTS_COINCIDE,
    VANISHING_WEIGHT,
    FEW_POINTS,
    COVARIANCE_FLOOR,
)

#: Two restarts are the same local optimum only if every matched pair of components is at
#: most this Bhattacharyya distance apart (overlap coefficient exp(-0.01) > 0.99).
SAME_OPTIMUM_BHATTACHARYYA = 1e-2

#: Two components of one fit coincide when their Bhattacharyya distance is at most this: the
#: same threshold as for two restarts reaching the same optimum. Components this close
#: explain the same points in the same way, so together they count as one.
COINCIDE_BHATTACHARYYA = SAME_OPTIMUM_BHATTACHARYYA


# --------------------------------------------------------------------------- criteria
def icl(model: GaussianMixtureEM, X: np.ndarray) -> float:
    """Integrated completed likelihood, mclust's definition in scikit-learn's sign.

    ``ICL = BIC + 2 * sum_i -log z_i,MAP(i)`` where ``z`` are the responsibilities of the
    fitted model on ``X`` and ``MAP(i)`` the most likely component of row i
    (:func:`gmm_core.criteria.icl`). Lower is better; mclust's ICL is ``-(this value)``.

    Parameters
    ----------
    model : GaussianMixtureEM
        Fitted (scikit-learn's ``GaussianMixture`` works too: only ``bic`` and
        ``predict_proba`` are used).
    X : array-like of shape (n_samples, n_features)

    Returns
    -------
    float
    """
    with np.errstate(divide="ignore"):
        log_resp = np.log(model.predict_proba(X))
    return criteria.icl(model.bic(X), log_resp)


# --------------------------------------------------------------------------- the sweep
TABLE_COLUMNS: tuple[str, ...] = (
    "covariance_type",
    "n_components",
    "tol",
    "bic",
    "aic",
    "icl",
    "log_likelihood",
    "n_parameters",
    "converged",
    "n_iter",
    "degenerate",
    "degeneracy",
    "error",
)

#: Headers for people, by machine name of :data:`TABLE_COLUMNS` (the page shows these; the
#: table keeps the machine names, which code and downloads rely on).
COLUMN_TITLES: dict[str, str] = {
    "covariance_type": "Covariance",
    "n_components": "K",
    "tol": "Tolerance",
    "bic": "BIC",
    "aic": "AIC",
    "icl": "ICL",
    "log_likelihood": "Mean log-likelihood",
    "n_parameters": "Parameters",
    "converged": "Converged",
    "n_iter": "Iterations",
    "degenerate": "Degenerate",
    "degeneracy": "Why degenerate",
    "error": "Error",
}

#: The ``degeneracy`` of a row whose fit failed (its ``error`` says why).
FAILED_FIT = "the fit failed (see the error)"


@dataclass(frozen=True, eq=False)
class SweepResult:
    """Criteria of every (covariance type, K) model of a sweep.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per (covariance_type, n_components), in sweep order, with the columns
        :data:`TABLE_COLUMNS` (headers for people in :data:`COLUMN_TITLES`): ``bic``,
        ``aic``, ``icl`` (lower is better), ``log_likelihood`` (mean per sample),
        ``n_parameters``, ``converged`` (the kept restart met ``tol``), ``n_iter`` (nullable
        integer), ``degenerate`` (bool) and ``degeneracy`` (the reasons, "" when sound: see
        :func:`degeneracy_at_end`; a failed fit is degenerate too, :data:`FAILED_FIT`),
        ``error`` ("" when the fit succeeded; otherwise the message, and the criteria are
        NaN).
    models : dict of (str, int) to GaussianMixtureEM
        The fitted models by ``(covariance_type, n_components)``; empty when the sweep ran
        with ``keep_models=False``, and without the failed fits.
    """

    table: pd.DataFrame
    models: dict[tuple[str, int], GaussianMixtureEM] = field(default_factory=dict)

    def best(self, criterion: str = "bic", *, allow_degenerate: bool = False) -> pd.Series:
        """The row with the lowest ``criterion`` among the sound (non-degenerate) fits.

        A degenerate fit (a component on the reg_covar floor, vanishing, holding fewer points
        than parameters, or coinciding with another) often has the best criterion of all,
        because the likelihood grows without bound as a component shrinks: mclust reports
        such cells as NA, and they are never chosen here unless ``allow_degenerate``. Ties go
        to the earlier row (covariance types in sweep order, then smaller K).

        Parameters
        ----------
        criterion : {'bic', 'aic', 'icl'}
        allow_degenerate : bool, default False
            Choose among every fitted model, degenerate or not.

        Returns
        -------
        pandas.Series
            A row of :attr:`table`.

        Raises
        ------
        ValueError
            For an unknown criterion, when no fit succeeded, or when every fitted model is
            degenerate (the message says so and what to change; :meth:`notes` says it
            without raising).
        """
        column = _check_criterion(criterion)
        fitted = self.table[column].notna()
        if not fitted.any():
            raise ValueError("No model of the sweep could be fitted; see the 'error' column.")
        usable = fitted if allow_degenerate else fitted & ~self.table["degenerate"]
        if not usable.any():
            raise ValueError(
                f"Every model of the sweep that could be fitted is degenerate (see the "
                f"'degeneracy' column), so {criterion.upper()} recommends none of them. Try a "
                "smaller largest K, a larger reg_covar, another initialisation or more "
                "restarts; best(..., allow_degenerate=True) shows the best of them anyway."
            )
        return self.table.loc[self.table.loc[usable, column].idxmin()]

    def best_at_edge(self, criterion: str = "bic") -> bool:
        """Whether the best sound model has the largest K swept, so a larger K may be better.

        The criterion may still be falling there: the sweep cannot tell its minimum from
        the end of its range. (K = 1 at the lower end is no such warning: there is no
        smaller K to try, and one component is a legitimate answer.)

        Raises
        ------
        ValueError
            As :meth:`best`.
        """
        best = self.best(criterion)
        return int(best["n_components"]) == int(self.table["n_components"].max())

    def notes(self, criterion: str = "bic") -> tuple[str, ...]:
        """Plain sentences about the choice by ``criterion``, for the page; never raises.

        Says when no model could be fitted, when every fitted model is degenerate, when the
        best K is the largest swept, and which degenerate models scored better than the
        choice and were left out.

        Returns
        -------
        tuple of str
            Empty when there is nothing to add to the best model.
        """
        column = _check_criterion(criterion)
        name = criterion.upper()
        table = self.table
        fitted = table[column].notna()
        if not fitted.any():
            return ("No model of the sweep could be fitted; the error column says why.",)
        sound = fitted & ~table["degenerate"]
        if not sound.any():
            return (
                f"Every fitted model is degenerate (see the degeneracy column), so {name} "
                "recommends none of them. Try a smaller largest K, a larger reg_covar, "
                "another initialisation or more restarts.",
            )
        notes = []
        best = self.best(criterion)
        largest = int(table["n_components"].max())
        if int(best["n_components"]) == largest:
            notes.append(
                f"The best K by {name} is {largest}, the largest K swept: the criterion may "
                "still be falling there, so sweep a larger range before trusting this K."
            )
        better = table[fitted & table["degenerate"] & (table[column] < best[column])]
        if len(better):
            cells = "; ".join(
                f"{row.covariance_type}, K = {row.n_components} ({row.degeneracy})"
                for row in better.sort_values(column).head(3).itertuples()
            )
            more = f" and {len(better) - 3} more" if len(better) > 3 else ""
            notes.append(
                f"{len(better)} degenerate model{'s' if len(better) > 1 else ''} scored a "
                f"better {name} and {'were' if len(better) > 1 else 'was'} left out: "
                f"{cells}{more}."
            )
        return tuple(notes)

    def criterion_table(self, criterion: str = "bic") -> pd.DataFrame:
        """``criterion`` as a K x covariance-type table (one line per covariance type to plot).

        Returns
        -------
        pandas.DataFrame
            Index ``n_components``, one column per covariance type in sweep order; NaN for
            failed fits.
        """
        column = _check_criterion(criterion)
        wide = self.table.pivot(index="n_components", columns="covariance_type", values=column)
        return wide[list(dict.fromkeys(self.table["covariance_type"]))]


def _check_criterion(criterion: str) -> str:
    if criterion not in SELECTION_CRITERIA:
        raise ValueError(
            f"criterion must be one of {', '.join(SELECTION_CRITERIA)}; got {criterion!r}."
        )
    return criterion


def _as_data(X) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(
            f"X must be a non-empty 2-D array (n_samples, n_features); got shape {X.shape}."
        )
    if not np.all(np.isfinite(X)):
        raise ValueError("X contains NaN or infinity; drop or impute those rows first.")
    return X


#: The sweep's tolerance on the mean log-likelihood (scikit-learn's rule) for every cell.
SWEEP_TOL = 1e-5

#: The tolerance the cells that could still win are refitted to (see :func:`sweep`): tight
#: enough that their BIC no longer moves. On raw Old Faithful, at SWEEP_TOL, 20 of 126 cells
#: were more than 0.5 BIC units short of their value at 1e-8 (up to 33 units); scikit-learn's
#: 1e-3 left cells 900 units short on a 20,000-row set and changed the chosen model.
POLISH_TOL = 1e-8

#: A cell is refitted to :data:`POLISH_TOL` when its criterion, with the gain Aitken's
#: extrapolation still expects of it (:func:`expected_gain`), comes within this of the best
#: sound cell's: Kass and Raftery's "very strong" evidence is a BIC difference above 10.
POLISH_MARGIN = 10.0

#: The sweep's default iteration limit per cell: a cell still short of its tolerance after
#: this many iterations is reported as not converged.
SWEEP_MAX_ITER = 1000


def expected_gain(total_log_likelihoods: Sequence[float]) -> float:
    """How much more EM would raise the log-likelihood, by Aitken's extrapolation.

    EM converges linearly near an optimum: successive increases shrink by a rate ``a``, so
    the limit is ``l_j + (l_j - l_(j-1)) a / (1 - a)`` with ``a`` estimated from the last
    three values (Boehning et al. 1994; McNicholas et al. 2010 stop EM on it).

    Parameters
    ----------
    total_log_likelihoods : sequence of float
        The total log-likelihood after each iteration, in order.

    Returns
    -------
    float
        Non-negative; ``inf`` when the rate cannot be estimated or is not below one (too
        few iterations, or increases that do not shrink), 0 when the last step gained
        nothing.
    """
    values = np.asarray(total_log_likelihoods, dtype=float)
    if values.size < 3:
        return math.inf
    step, before = values[-1] - values[-2], values[-2] - values[-3]
    if step <= 0:
        return 0.0
    if before <= 0:
        return math.inf
    rate = step / before
    return math.inf if rate >= 1 else float(step * rate / (1 - rate))


def _hc_starts(
    X: np.ndarray, ks: Sequence[int], random_state: int, sample_weight: np.ndarray | None
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """One hierarchical partition per K, the 'hc' start of every covariance model.

    The tree (:func:`gmm_core.init.hc_tree`) is grown once; its cut at K is what
    ``GaussianMixtureEM(K, init_params='hc', random_state=random_state)`` starts from.
    The rows returned index ``X``.
    """
    rows, tree = hc_tree(X, np.random.RandomState(random_state), sample_weight)
    return {k: (rows, np.asarray(tree.partition(k))) for k in ks}


def _start_of(
    X: np.ndarray,
    sample_weight: np.ndarray | None,
    rows: np.ndarray,
    labels: np.ndarray,
    k: int,
    model: str,
    reg_covar: float,
    prior,
) -> dict:
    """``weights_init``, ``means_init``, ``precisions_init`` of the 'hc' start of one cell."""
    resp = one_hot(labels, k, X.dtype)
    weights = None if sample_weight is None else sample_weight[rows]
    if prior is None:
        start = params_from_responsibilities(X[rows], resp, model, reg_covar, weights)
    else:  # the estimator's 'hc' start with a prior: the MAP M-step (mclust's me())
        resolved = resolve_prior(prior, X, model, k, sample_weight)
        start = params_from_responsibilities_with_prior(X[rows], resp, model, resolved, weights)
    return {
        "weights_init": start.weights,
        "means_init": start.means,
        "precisions_init": start.precisions,
    }


def _sweep_engine(X: np.ndarray, engine: str, runs: int, max_components: int) -> str:
    """The engine for every fit of a sweep: 'auto' decided on the work of all of them."""
    if check_engine(engine) != "auto":
        return engine
    k = max_components
    probe = MixtureParams.from_covariances(
        np.full(k, 1.0 / k), np.zeros((k, X.shape[1])), np.ones(k), "spherical"
    )
    # about a hundred iterations per run, the order of a cell's EM at the sweep's tolerance
    return resolve_engine(X, probe, engine, passes=runs * 100)


def _failed_row(covariance_type: str, k: int, d: int, tol: float, error: Exception) -> dict:
    return {
        "covariance_type": covariance_type,
        "n_components": k,
        "tol": tol,
        "bic": np.nan,
        "aic": np.nan,
        "icl": np.nan,
        "log_likelihood": np.nan,
        "n_parameters": n_parameters(covariance_type, k, d),
        "converged": False,
        "n_iter": pd.NA,
        "degenerate": True,
        "degeneracy": FAILED_FIT,
        "error": str(error) or type(error).__name__,
    }


def _fit_cell(
    X: np.ndarray,
    sample_weight: np.ndarray | None,
    covariance_type: str,
    k: int,
    distinct: int,
    settings: dict,
    start: dict,
) -> tuple[dict, GaussianMixtureEM]:
    """Fit one (model, K) cell of a sweep: its table row and the fitted estimator."""
    chosen = {name: value for name, value in settings.items() if name != "requested_engine"}
    model = GaussianMixtureEM(k, covariance_type=covariance_type, **chosen, **start)
    try:
        if k > distinct:
            # Not fitted: K - distinct components would have no row of their own (and
            # scikit-learn's k-means start warns so, which no flag can stop).
            raise ValueError(
                f"The data have only {distinct} distinct rows, fewer than K = {k} "
                "components, so some components would share a point or stay empty."
            )
        # Non-convergence is a column of the table, not a warning per cell.
        model.fit(X, sample_weight=sample_weight, warn_convergence=False)
        # The cell as it is reproduced on its own ('hc' hands its start over as arrays, and
        # 'auto' was decided once for the sweep: the engines agree to rounding).
        # (Attributes set as set_params would, without its signature inspection, which
        # cost a sixth of a small sweep.)
        for name in start:
            setattr(model, name, None)
        model.engine = settings["requested_engine"]
    except ValueError as exc:
        # Arguments were checked before, so what is left depends on the data: degenerate
        # covariances (DegenerateCovarianceError is a ValueError), mclust's singular ones.
        return _failed_row(covariance_type, k, X.shape[1], settings["tol"], exc), model
    row = {"covariance_type": covariance_type, "n_components": k, "tol": settings["tol"]}
    row.update(criteria.criteria(model.history_.snapshots[-1].params, X, sample_weight))
    events = degeneracy_at_end(model.history_, settings["reg_covar"])
    row.update(
        converged=bool(model.converged_),
        n_iter=model.n_iter_,
        degenerate=bool(events),
        degeneracy=degeneracy_summary(events),
        error="",
    )
    return row, model


@contextlib.contextmanager
def _cell_runner(jobs: int) -> Iterator[Callable[..., Callable[[], object]]]:
    """``submit(f, *args)`` that returns a function giving ``f(*args)``: run in a pool of
    ``jobs`` threads, or (one job) at once on the calling thread."""
    if jobs == 1:

        def at_once(function, *args):
            result = function(*args)
            return lambda: result

        yield at_once
        return
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = []

        def in_pool(function, *args):
            futures.append(pool.submit(function, *args))
            return futures[-1].result

        try:
            yield in_pool
        finally:
            for future in futures:  # after an error, what is still queued is dropped
                future.cancel()


def _contenders(
    cells: dict[tuple[str, int], tuple[dict, GaussianMixtureEM]], n_samples: float
) -> list[tuple[str, int]]:
    """The sound cells whose BIC, plus what EM still expects to gain, could be the best.

    A cell whose BIC even after Aitken's expected gain (twice the log-likelihood gain) stays
    more than :data:`POLISH_MARGIN` above the best sound BIC cannot win; every other sound
    cell might, once run to convergence.
    """
    sound = {
        cell: (row, model)
        for cell, (row, model) in cells.items()
        if not row["error"] and not row["degenerate"]
    }
    if not sound:
        return []
    best = min(row["bic"] for row, _ in sound.values())
    chosen = []
    for cell, (row, model) in sound.items():
        totals = np.asarray(model.history_.log_likelihoods) * n_samples
        optimistic = row["bic"] - 2.0 * expected_gain(totals)
        if optimistic <= best + POLISH_MARGIN:
            chosen.append(cell)
    return chosen


def sweep(
    X: np.ndarray,
    max_components: int,
    *,
    covariance_types: Sequence[str] = MCLUST_MODELS,
    n_init: int = 1,
    random_state: int = 42,
    reg_covar: float = 1e-6,
    tol: float = SWEEP_TOL,
    polish_tol: float = POLISH_TOL,
    max_iter: int = SWEEP_MAX_ITER,
    init_params: str = "hc",
    keep_models: bool = True,
    progress: Callable[[int, int, str], None] | None = None,
    sample_weight: np.ndarray | None = None,
    engine: str = "auto",
    prior=None,
    n_jobs: int | None = None,
) -> SweepResult:
    """Fit K = 1 .. ``max_components`` for each covariance model and tabulate the criteria.

    By default every one of mclust's fourteen models (:data:`gmm_core.params.MCLUST_MODELS`)
    starts, for each K, from one shared partition: the K-cluster cut of mclust's
    model-based hierarchical agglomeration (``init_params='hc'``, grown once for the whole
    sweep), so that the BIC curves compare the models from the same start, like with like.
    Each cell is reproducible on its own: ``GaussianMixtureEM(K, covariance_type=...,
    init_params=..., n_init=..., random_state=..., tol=..., max_iter=...)`` reaches the same
    fit (for 'hc' to rounding: the sweep hands the start over as ``*_init`` arrays).

    A fit that fails (a covariance that stops being positive definite, a singular estimate
    of one of mclust's models, typically from duplicated rows) does not stop the sweep: its
    row keeps the message in ``error`` and NaN criteria, as mclust reports NA. A K above the
    number of distinct rows is not fitted at all and gets such a row. Fits that reach
    ``max_iter`` without converging are kept, with ``converged=False``. Every fitted model
    is checked for degeneracy (:func:`degeneracy_at_end`: a component on the reg_covar
    floor, vanishing, holding fewer points than parameters, or coinciding with another);
    such cells are flagged in ``degenerate`` with the reasons in ``degeneracy``, and
    :meth:`SweepResult.best` never picks them.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Already scaled as the user chose: BIC differences between covariance models depend
        on the scaling for the models without a free orientation (the ..I and E.. ones).
    max_components : int
        From 1 to ``min(20, n_samples)``.
    covariance_types : sequence of str, default all fourteen of mclust's models
        Any of :data:`gmm_core.params.ALL_COVARIANCE_TYPES` (scikit-learn's names too).
    n_init : int, default 1
        Restarts per model; each model keeps its best restart. The 'hc' start is
        deterministic, so restarts only make sense with the random starts.
    random_state : int, default 42
    reg_covar : float, default 1e-6
    tol : float, default :data:`SWEEP_TOL`
        On the mean log-likelihood, as in :class:`GaussianMixtureEM`, for every cell; much
        tighter than scikit-learn's 1e-3, which stops slow fits far from their optimum and
        so changes which model wins.
    polish_tol : float, default :data:`POLISH_TOL`
        The cells that could still be the best by BIC, even allowing for what EM would
        still gain (:func:`expected_gain`, within :data:`POLISH_MARGIN`), are fitted again
        from their start to this tolerance, so that the choice does not depend on where EM
        happened to stop. The ``tol`` column says which tolerance each cell ran to. A
        value not below ``tol`` turns this off.
    max_iter : int, default :data:`SWEEP_MAX_ITER`
    init_params : str, default 'hc'
        Any of :data:`gmm_core.init.INIT_METHODS`.
    keep_models : bool, default True
        Keep the fitted models (with their histories) in :attr:`SweepResult.models`.
    progress : callable, optional
        ``progress(done, total, label)`` after each model, ``label`` like "VVV, K = 3"
        (then ``done == total`` for each cell refitted to ``polish_tol``).
    sample_weight : array-like of shape (n_samples,), optional
        Row weights or counts, as in :meth:`GaussianMixtureEM.fit`: every fit and every
        criterion is weighted, BIC's n is the total weight (integer weights: the sweep of
        the repeated rows).
    prior : None, 'default' or ConjugatePrior
        mclust's conjugate prior instead of ``reg_covar`` (:mod:`gmm_core.prior`), as in
        :class:`GaussianMixtureEM`; 'default' is mclust's ``defaultPrior`` for each cell.
        mclust has no prior for EVE, VEE, VVE and EVV: the default list of models leaves
        them out (as ``Mclust`` does), and naming them raises.
    engine : str, default 'auto'
        As in :class:`GaussianMixtureEM`, but 'auto' decides once for the whole sweep, on
        the work of all its fits: a sweep of a small data set is a thousand EM runs, which
        repay loading the compiled engine many times over (small passes run on one thread).
        On the compiled engine each cell keeps its traces only (``keep_history='trace'``),
        so its whole EM loop runs compiled (:func:`gmm_core.em.compiled_run`).
    n_jobs : int, optional
        How many cells are fitted at once, in threads (the compiled EM loops release the
        GIL, so they run side by side): by default one per core (``os.cpu_count()``); 1
        fits them one after the other. The result does not depend on it: each cell has its
        own start and estimator, and ``progress`` is called on the calling thread, in the
        grid's order.

    Returns
    -------
    SweepResult

    Raises
    ------
    ValueError
        For invalid arguments (checked before any fit).

    Notes
    -----
    ``tol`` can change the answer. On raw Old Faithful with ``tol=1e-3`` and k-means starts
    the EEE, K = 3 fit stops on a slow climb (BIC 2342.1), so VVV, K = 2 wins (2322.2);
    with ``tol=1e-6`` it reaches its optimum (2314.3) and wins, as in mclust.
    :func:`stopping_rules` shows such stalls.
    """
    X = _as_data(X)
    n = X.shape[0]
    limit = min(MAX_SWEEP_COMPONENTS, n)
    if (
        isinstance(max_components, bool)
        or not isinstance(max_components, numbers.Integral)
        or not 1 <= max_components <= limit
    ):
        raise ValueError(
            f"max_components must be an integer from 1 to {limit} (at most "
            f"{MAX_SWEEP_COMPONENTS}, and at most the number of rows, {n}); "
            f"got {max_components!r}."
        )
    if isinstance(covariance_types, str):
        covariance_types = (covariance_types,)
    types = tuple(covariance_types)
    if prior is not None and types == MCLUST_MODELS:
        types = tuple(t for t in types if t in PRIOR_MODELS)  # as Mclust with a prior
    if not types or len(set(types)) != len(types):
        raise ValueError(
            "covariance_types must be distinct values among "
            f"{', '.join(ALL_COVARIANCE_TYPES)}; got {list(types)!r}."
        )
    for covariance_type in types:
        check_choice("covariance_types", covariance_type, ALL_COVARIANCE_TYPES)
    same = {covariance_model(t).mclust for t in types}
    if len(same) != len(types):
        raise ValueError(
            f"covariance_types names one model twice ({list(types)!r}): scikit-learn's "
            "full, tied, diag and spherical are mclust's VVV, EEE, VVI and VII."
        )
    check_init_params(init_params)
    check_int("n_init", n_init, 1)
    check_int("max_iter", max_iter, 1)
    check_float("tol", tol, 0.0)
    check_float("reg_covar", reg_covar, 0.0)

    check_float("polish_tol", polish_tol, 0.0)
    jobs = (os.cpu_count() or 1) if n_jobs is None else n_jobs
    check_int("n_jobs", jobs, 1)
    for covariance_type in types:
        check_prior_setting(prior, covariance_type, X.shape[1], reg_covar)
    sample_weight = check_weights(sample_weight, X)
    n_effective = n if sample_weight is None else total_weight(sample_weight)

    counted = X if sample_weight is None else X[sample_weight > 0]
    distinct = len(np.unique(counted, axis=0))
    ks = range(1, int(max_components) + 1)
    fitted_ks = [k for k in ks if k <= distinct]
    hc = {}
    if init_params == "hc" and fitted_ks:
        hc = _hc_starts(X, fitted_ks, random_state, sample_weight)
    settings = {
        "n_init": n_init,
        "random_state": random_state,
        "reg_covar": reg_covar,
        "max_iter": max_iter,
        "init_params": init_params,
        "prior": prior,
        # nothing per iteration is read, so the small fits' EM loops run compiled
        "keep_history": "trace",
        "engine": _sweep_engine(X, engine, len(types) * len(ks) * n_init, int(max_components)),
        "requested_engine": engine,
    }

    def fit(covariance_type: str, k: int, cell_tol: float) -> tuple[dict, GaussianMixtureEM]:
        start = {}
        if k in hc:
            start = _start_of(X, sample_weight, *hc[k], k, covariance_type, reg_covar, prior)
        cell_settings = settings | {"tol": cell_tol}
        return _fit_cell(X, sample_weight, covariance_type, k, distinct, cell_settings, start)

    cells: dict[tuple[str, int], tuple[dict, GaussianMixtureEM]] = {}
    total = len(types) * len(ks)
    grid = [(covariance_type, k) for covariance_type in types for k in ks]
    with _cell_runner(jobs) as submit:
        for cell, result in zip(grid, [submit(fit, *cell, tol) for cell in grid], strict=True):
            cells[cell] = result()  # in the grid's order, on the calling thread
            if progress is not None:
                progress(len(cells), total, f"{cell[0]}, K = {cell[1]}")
        if polish_tol < tol:
            contenders = _contenders(cells, n_effective)
            polished = [submit(fit, *cell, polish_tol) for cell in contenders]
            for cell, result in zip(contenders, polished, strict=True):
                cells[cell] = result()
                if progress is not None:
                    progress(total, total, f"{cell[0]}, K = {cell[1]} (to tol = {polish_tol:g})")
    rows = [row for row, _ in cells.values()]
    models = {
        cell: model for cell, (row, model) in cells.items() if keep_models and not row["error"]
    }
    table = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    table = table.astype(
        {
            "covariance_type": str,
            "n_components": int,
            "tol": float,
            "bic": float,
            "aic": float,
            "icl": float,
            "log_likelihood": float,
            "n_parameters": int,
            "converged": bool,
            "n_iter": "Int64",
            "degenerate": bool,
            "degeneracy": str,
            "error": str,
        }
    )
    return SweepResult(table, models)


# --------------------------------------------------------------------------- restarts
@dataclass(frozen=True)
class LocalOptimum:
    """A local optimum that one or more restarts of a fit reached.

    Attributes
    ----------
    log_likelihood : float
        Final mean per-sample log-likelihood, the highest among the runs that reached it.
    runs : tuple of int
        Indices into ``history_.runs`` of the restarts that reached it, ascending.
    converged : bool
        Every one of those runs met the tolerance. If not, the "optimum" is only where
        ``max_iter`` cut the runs off.
    """

    log_likelihood: float
    runs: tuple[int, ...]
    converged: bool = True

    @property
    def count(self) -> int:
        """How many restarts reached this optimum."""
        return len(self.runs)


def _same_optimum(a: Snapshot, b: Snapshot, ll_tolerance: float, max_bhattacharyya: float) -> bool:
    if abs(a.log_likelihood - b.log_likelihood) > ll_tolerance:
        return False
    matching = match_components(a.params, b.params, cost="bhattacharyya")
    pairs = matching.cost[np.arange(len(matching.partner)), matching.partner]
    return bool(np.all(pairs <= max_bhattacharyya))


def distinct_optima(
    model: GaussianMixtureEM,
    *,
    rtol: float = 1e-6,
    atol: float | None = None,
    max_bhattacharyya: float = SAME_OPTIMUM_BHATTACHARYYA,
) -> list[LocalOptimum]:
    """Group the restarts of a fit by the local optimum they ended at, best first.

    Two restarts reached the same optimum when both hold:

    * their final mean log-likelihoods differ by at most ``rtol * max(|L_a|, |L_b|) + atol``.
      ``atol`` defaults to the fit's ``tol``: a run stops once an iteration gains less than
      ``tol``, so runs converging to the same optimum stop a little apart, by up to about
      ``tol`` (more on slow, flat stretches, which then show up as separate entries);
    * their components match one to one (optimal matching, as in
      :func:`gmm_core.compare.match_components`) with every matched pair at most
      ``max_bhattacharyya`` apart. The log-likelihood alone cannot tell apart different
      solutions of equal fit, as symmetric data produce (two blobs of four split left/right
      or top/bottom); the matching makes the comparison blind to the order of components.

    Runs are taken from the best final log-likelihood down, and each joins the first group
    whose best run it matches (comparing with the group's best run, not its last member,
    keeps a chain of small differences from merging far-apart solutions).

    Parameters
    ----------
    model : GaussianMixtureEM
        Fitted; ``model.history_.runs`` holds its ``n_init`` restarts.
    rtol : float, default 1e-6
    atol : float, optional
        Absolute tolerance on the mean log-likelihood; the model's ``tol`` by default.
    max_bhattacharyya : float, default 0.01

    Returns
    -------
    list of LocalOptimum
        Sorted by log-likelihood, highest first; the counts add up to the number of runs.
    """
    runs = model.history_.runs
    finals = [run[-1] for run in runs]
    tolerance_abs = float(model.tol) if atol is None else float(atol)
    order = sorted(range(len(runs)), key=lambda r: -finals[r].log_likelihood)
    groups: list[list[int]] = []
    for r in order:
        for group in groups:
            head = finals[group[0]]
            scale = max(abs(head.log_likelihood), abs(finals[r].log_likelihood))
            if _same_optimum(head, finals[r], rtol * scale + tolerance_abs, max_bhattacharyya):
                group.append(r)
                break
        else:
            groups.append([r])
    return [
        LocalOptimum(
            log_likelihood=float(finals[group[0]].log_likelihood),
            runs=tuple(sorted(group)),
            converged=all(finals[r].converged for r in group),
        )
        for group in groups
    ]


# --------------------------------------------------------------------------- stopping rules
SKLEARN_RULE = "scikit-learn: |ΔL̄| < tol"
MCLUST_RULE = "mclust: |ΔL| / (1 + |L|) ≤ tol"
TOTAL_RULE = "total log-likelihood: |Δ(nL̄)| < tol"


@dataclass(frozen=True)
class StoppingRule:
    """Where one stopping rule would have ended a recorded EM run.

    Attributes
    ----------
    name : str
        The rule as a formula (``L̄`` mean, ``L = n L̄`` total log-likelihood).
    description : str
        One plain sentence.
    iteration : int or None
        The snapshot whose parameters the rule would have returned (the iteration numbering
        of the history: 0 is the start, j the parameters after the j-th M-step); None when
        the rule does not fire within the recorded run.
    """

    name: str
    description: str
    iteration: int | None


def _check_log_likelihoods(log_likelihoods: np.ndarray) -> np.ndarray:
    values = np.asarray(log_likelihoods, dtype=float)
    if values.ndim != 1:
        raise ValueError(
            f"log_likelihoods must be a 1-D array (one value per snapshot); got {values.shape}."
        )
    return values


def stopping_statistics(log_likelihoods: np.ndarray, n_samples: float) -> pd.DataFrame:
    """What each stopping rule measures at every snapshot of a run.

    Parameters
    ----------
    log_likelihoods : ndarray of shape (T,)
        ``L̄[j]``, the mean log-likelihood of snapshot j (j = 0 the start).
    n_samples : float
        The number of rows, or their total weight for a weighted fit (positive).

    Returns
    -------
    pandas.DataFrame
        T rows indexed by iteration j, with NaN at j = 0:

        * ``mean_change`` = ``|L̄[j] - L̄[j-1]|`` (scikit-learn's quantity),
        * ``relative_change`` = ``|L[j] - L[j-1]| / (1 + |L[j]|)`` with ``L = n L̄`` (mclust's),
        * ``total_change`` = ``n |L̄[j] - L̄[j-1]|``.

        scikit-learn's rule compares row j with tol and, if it fires, stops at j + 1;
        mclust's stops at j (see :func:`stopping_rules`).
    """
    values = _check_log_likelihoods(log_likelihoods)
    if check_float("n_samples", n_samples, 0.0) <= 0:
        raise ValueError(f"n_samples must be positive; got {n_samples!r}.")
    change = np.full(values.shape, np.nan)
    change[1:] = np.abs(np.diff(values))
    total = n_samples * values
    relative = np.full(values.shape, np.nan)
    relative[1:] = np.abs(np.diff(total)) / (1.0 + np.abs(total[1:]))
    return pd.DataFrame(
        {
            "mean_change": change,
            "relative_change": relative,
            "total_change": n_samples * change,
        },
        index=pd.RangeIndex(len(values), name="iteration"),
    )


def _first(mask: np.ndarray) -> int | None:
    hits = np.flatnonzero(mask)
    return int(hits[0]) if hits.size else None


def stopping_rules(log_likelihoods: np.ndarray, n_samples: float, tol: float) -> list[StoppingRule]:
    """At which iteration three stopping rules would have ended this run.

    ``L̄[j]`` is the mean log-likelihood of snapshot j (j = 0 the start, j the parameters after
    the j-th M-step) and ``L[j] = n L̄[j]`` the total. Best applied to a run recorded with
    ``tol=0`` and a generous ``max_iter``, so that every rule can fire within it.

    * **scikit-learn** (``GaussianMixture``, and :func:`gmm_core.em.em_iterations`): after
      the M-step of iteration j it compares the last two lower bounds, which are the
      log-likelihoods of the two previous snapshots, and stops when
      ``|L̄[j-1] - L̄[j-2]| < tol`` (``L̄[-1] = -inf``), keeping snapshot j. So its iteration
      is the smallest ``j >= 2`` with ``|L̄[j-1] - L̄[j-2]| < tol``, and equals the ``n_iter_``
      of a fit with that ``tol``.
    * **mclust** (the Fortran ``me*`` routines): M-step, then E-step computing the total
      log-likelihood ``hood``; ``err = |hold - hood| / (1 + |hood|)``; stop when
      ``err <= tol`` and keep the parameters just scored (``hold`` starts at a huge value,
      so its first iteration never stops). mclust's first M-step, from the starting
      classification, produces what our snapshot 0 is, so here its iteration is the
      smallest ``j >= 1`` with ``|L[j] - L[j-1]| / (1 + |L[j]|) <= tol``. mclust itself
      would count that as iteration j + 1. Its default tol is 1e-5
      (:data:`MCLUST_DEFAULT_TOL`).
    * **total log-likelihood**: scikit-learn's rule and indexing on ``L`` instead of ``L̄``:
      the smallest ``j >= 2`` with ``n |L̄[j-1] - L̄[j-2]| < tol``. It is n times stricter,
      so it does not get easier to satisfy as the data set grows.

    Parameters
    ----------
    log_likelihoods : ndarray of shape (T,)
        Mean log-likelihood per snapshot, e.g. ``FitHistory.log_likelihoods``.
    n_samples : int
    tol : float
        The same tolerance for all three rules (they measure different things, so the same
        number is lenient for one and strict for another: that is the point of the display).

    Returns
    -------
    list of StoppingRule
        scikit-learn's, mclust's, the total rule, in that order. ``iteration`` is None when
        the rule does not fire at or before the last recorded snapshot.
    """
    check_float("tol", tol, 0.0)
    stats = stopping_statistics(log_likelihoods, n_samples)
    # scikit-learn's check after M-step j looks at the change recorded at snapshot j - 1.
    lagged_mean = stats["mean_change"].shift(1).to_numpy()
    lagged_total = stats["total_change"].shift(1).to_numpy()
    sklearn_iter = _first(lagged_mean < tol)
    mclust_iter = _first(stats["relative_change"].to_numpy() <= tol)
    total_iter = _first(lagged_total < tol)
    return [
        StoppingRule(
            SKLEARN_RULE,
            "scikit-learn stops when the mean log-likelihood per point has changed by less "
            "than tol, after one more M-step, and keeps those parameters.",
            sklearn_iter,
        ),
        StoppingRule(
            MCLUST_RULE,
            "mclust stops as soon as the total log-likelihood changes by at most tol relative "
            "to its size and keeps the parameters it has just scored.",
            mclust_iter,
        ),
        StoppingRule(
            TOTAL_RULE,
            "Like scikit-learn's rule but on the total log-likelihood, so it is n times "
            "stricter and does not get easier as the data set grows.",
            total_iter,
        ),
    ]


# --------------------------------------------------------------------------- degeneracy
@dataclass(frozen=True)
class DegeneracyEvent:
    """The first iteration of an episode in which a component degenerated.

    Attributes
    ----------
    iteration : int
    component : int
        :data:`ALL_COMPONENTS` (-1) for the shared covariance of a 'tied' model; the smallest
        of ``components`` for a coincidence.
    kind : str
        One of :data:`DEGENERACY_KINDS`: :data:`VANISHING_WEIGHT`, :data:`FEW_POINTS`,
        :data:`COVARIANCE_FLOOR`, :data:`COMPONENTS_COINCIDE` or :data:`ONE_GAUSSIAN`.
    detail : str
        Plain words with the numbers.
    components : tuple of int
        Every component involved: ``(component,)`` for one component, all of them for the
        shared covariance of a 'tied' model, the coinciding group for a coincidence.
    """

    iteration: int
    component: int
    kind: str
    detail: str
    components: tuple[int, ...] = ()


def _snapshots_of(
    history: FitHistory | Sequence[Snapshot], run: int | None, at_end: bool = False
) -> tuple[Sequence[Snapshot], int | None]:
    if isinstance(history, FitHistory):
        snapshots = history.snapshots if run is None else history.runs[run]
        if isinstance(snapshots, RunTrace) and at_end:
            # the final parameters are all a trace holds, and all that the end needs
            return (snapshots[-1],), history.weight_sum
        if isinstance(snapshots, RunTrace):
            which = "The kept run" if run is None else f"Restart {run}"
            raise ValueError(
                f"{which} was kept as its log-likelihood trace only (keep_history='best' keeps "
                "the other restarts so, 'trace' every run): its parameters per iteration are "
                "gone. Fit with keep_history='all' to inspect every restart."
            )
        # a weighted fit counts its rows by their weights (integer weights: repeated rows)
        return snapshots, history.weight_sum
    if run is not None:
        raise ValueError("run can only be chosen when history is a FitHistory.")
    return tuple(history), None


def component_parameters(covariance_type: str, n_features: int) -> int:
    """Free parameters that one component estimates from the points it holds.

    Its mean (d) and its own covariance (d (d + 1) / 2 for 'full', d for 'diag', 1 for
    'spherical', none for 'tied', whose shared covariance is estimated from all rows). A
    component holding fewer points than this is fitted to its points, not estimated from
    them (mclust and issue 15 count it as degenerate).

    Parameters
    ----------
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    n_features : int

    Returns
    -------
    int
    """
    return covariance_model(covariance_type).component_parameters(n_features)


def _pairwise_bhattacharyya(params: MixtureParams, members: Sequence[int]) -> np.ndarray:
    """Bhattacharyya distances between the components ``members`` of one mixture, (m, m)."""
    idx = np.asarray(members, dtype=int)
    means = params.means[idx].astype(np.float64)
    covs = params.full_covariances()[idx].astype(np.float64)
    avg = (covs[:, None] + covs[None, :]) / 2.0
    delta = means[:, None, :] - means[None, :, :]
    maha = np.einsum("ijk,ijk->ij", delta, np.linalg.solve(avg, delta[..., None])[..., 0])
    log_det = np.linalg.slogdet(covs)[1]
    log_det_avg = np.linalg.slogdet(avg)[1]
    return maha / 8.0 + 0.5 * (log_det_avg - 0.5 * (log_det[:, None] + log_det[None, :]))


def _coinciding_groups(
    params: MixtureParams, members: Sequence[int], threshold: float
) -> list[tuple[int, ...]]:
    """Groups (of two or more) of ``members`` linked by Bhattacharyya distances <= threshold."""
    members = list(members)
    if len(members) < 2:
        return []
    close = _pairwise_bhattacharyya(params, members) <= threshold
    groups, seen = [], set()
    for start in range(len(members)):
        if start in seen:
            continue
        group, frontier = {start}, [start]
        while frontier:
            i = frontier.pop()
            for j in np.flatnonzero(close[i]):
                if int(j) not in group:
                    group.add(int(j))
                    frontier.append(int(j))
        seen |= group
        if len(group) > 1:
            groups.append(tuple(sorted(members[i] for i in group)))
    return groups


def _coincidence_events(
    snapshots: Sequence[Snapshot], threshold: float, skip_start: bool
) -> list[DegeneracyEvent]:
    """Coinciding components of the last snapshot, each dated to the start of its episode.

    A group is reported once, at the first iteration from which it stayed together to the
    end: components that cross on their way (close for an iteration or two) are not a
    degenerate fit; components that end together are.
    """
    last = snapshots[-1]
    k_count = last.params.n_components
    events = []
    for group in _coinciding_groups(last.params, range(k_count), threshold):
        since = last.iteration
        for snap in reversed(snapshots[:-1]):
            if snap.iteration == 0 and skip_start:
                break
            if not any(
                set(group) <= set(g) for g in _coinciding_groups(snap.params, group, threshold)
            ):
                break
            since = snap.iteration
        worst = float(_pairwise_bhattacharyya(last.params, group).max())
        if len(group) == k_count:
            detail = (
                f"All {k_count} components came together from iteration {since}: the same "
                f"mean and covariance (Bhattacharyya distances at most {worst:.2g}), so the fit "
                "is a single Gaussian fitted to the data, with a single Gaussian's "
                "log-likelihood, whatever K says."
            )
            kind = ONE_GAUSSIAN
        else:
            detail = (
                f"{_component_list(group).capitalize()} coincide from iteration {since}: the "
                f"same mean and covariance (Bhattacharyya distances at most {worst:.2g}), so "
                "they explain the same points the same way and count as one component."
            )
            kind = COMPONENTS_COINCIDE
        events.append(DegeneracyEvent(since, group[0], kind, detail, group))
    return events


def _degeneracy(
    history: FitHistory | Sequence[Snapshot],
    reg_covar: float,
    weight_floor: float | None,
    floor_factor: float,
    run: int | None,
    coincide_threshold: float,
    at_end: bool = False,
) -> tuple[list[DegeneracyEvent], set[tuple[int, str]]]:
    """The events of :func:`degeneracy_events` and the (component, kind) still ongoing.

    ``at_end``: only those at the end are wanted, so a history of traces (which keeps the
    final parameters only) is read as its final snapshot.
    """
    check_float("reg_covar", reg_covar, 0.0)
    check_float("floor_factor", floor_factor, 0.0)
    check_float("coincide_threshold", coincide_threshold, 0.0)
    floor_weight = DEFAULT_WEIGHT_FLOOR if weight_floor is None else float(weight_floor)
    snapshots, n = _snapshots_of(history, run, at_end)
    if not snapshots:
        return [], set()
    floor = floor_factor * reg_covar
    events: list[DegeneracyEvent] = []
    ongoing: set[tuple[int, str]] = set()
    skipped_start = False
    for snap in snapshots:
        params = snap.params
        weights = params.weights
        k_count, d = params.means.shape
        if snap.iteration == 0 and not math.isclose(float(weights.sum()), 1.0, rel_tol=1e-6):
            skipped_start = True
            continue
        now: dict[tuple[int, str], str] = {}
        needed = component_parameters(params.covariance_type, d)
        for k, w in enumerate(weights):
            if k in snap.empty_components or w < floor_weight:
                points = f" (about {w * n:.2g} of {n:g} points)" if n is not None else ""
                now[(k, VANISHING_WEIGHT)] = (
                    f"Component {k}'s weight fell to {w:.2g}{points} at iteration "
                    f"{snap.iteration}: it explains (almost) no data."
                )
            elif n is not None and w * n < needed:
                now[(k, FEW_POINTS)] = (
                    f"Component {k} holds about {w * n:.3g} of {n:g} points at iteration "
                    f"{snap.iteration}, fewer than the {needed} parameters of its mean and "
                    f"{params.covariance_type} covariance: they are fitted to those points, "
                    "not estimated from them."
                )
        covariances = params.full_covariances()
        tied = params.covariance_model.shared
        smallest = np.linalg.eigvalsh(covariances[:1] if tied else covariances)[:, 0]
        for k, value in enumerate(smallest):
            if value <= floor:
                who = "The shared covariance" if tied else f"Component {k}'s covariance"
                now[(ALL_COMPONENTS if tied else k, COVARIANCE_FLOOR)] = (
                    f"{who} reached the reg_covar floor at iteration {snap.iteration}: its "
                    f"smallest variance is {value:.3g}, at most {floor_factor:g} × reg_covar "
                    f"= {floor:.3g}, so it has shrunk onto a single point or a line of the "
                    "data (duplicated rows, for instance)."
                )
        for key, detail in now.items():
            if key not in ongoing:
                component = key[0]
                involved = tuple(range(k_count)) if component == ALL_COMPONENTS else (component,)
                events.append(DegeneracyEvent(snap.iteration, component, key[1], detail, involved))
        ongoing = set(now)
    kept = [s for s in snapshots if not (skipped_start and s.iteration == 0)]
    if kept:
        for event in _coincidence_events(kept, coincide_threshold, skipped_start):
            events.append(event)
            ongoing.add((event.component, event.kind))
    events.sort(key=lambda e: (e.iteration, e.component, e.kind))
    return events, ongoing


def degeneracy_events(
    history: FitHistory | Sequence[Snapshot],
    reg_covar: float,
    *,
    weight_floor: float | None = None,
    floor_factor: float = 10.0,
    run: int | None = None,
    coincide_threshold: float = COINCIDE_BHATTACHARYYA,
) -> list[DegeneracyEvent]:
    """Iterations at which a component degenerated, or components collapsed into one.

    * **vanishing weight**: the component carries less than one data point's worth of
      responsibility (``n * weight < 1``, the snapshot's ``empty_components``) or its weight
      is below ``weight_floor`` (default :data:`DEFAULT_WEIGHT_FLOOR` = 1e-3, which matters
      for n > 1000).
    * **fewer points than parameters** (only when ``history`` is a FitHistory, which knows
      n): the component holds ``n * weight`` points, fewer than the parameters of its mean
      and covariance (:func:`component_parameters`), so they are fitted to those points
      rather than estimated (a vanishing component is reported as that instead).
    * **covariance at the reg_covar floor**: the smallest eigenvalue of the component's
      covariance is at most ``floor_factor * reg_covar``, i.e. its spread in some direction
      is (almost) nothing but the regularisation: it sits on one point, or a line or plane
      of the data. With ``reg_covar = 0`` this cannot be seen before the fit fails.
    * **components coincide** / **collapsed onto one Gaussian**: in the fitted model (the
      last snapshot), two or more components are at most ``coincide_threshold`` apart in
      Bhattacharyya distance (the same mean and covariance); when all K are, the fit is one
      Gaussian whatever K says, with a single Gaussian's log-likelihood. Reported once per
      group, at the iteration from which the group stayed together, with the group in
      :attr:`DegeneracyEvent.components`. (scikit-learn's single-point starts do this with
      'tied' covariances: see :class:`gmm_core.model.GaussianMixtureEM`.)

    Only the first iteration of each episode of a (component, kind) is reported, so a
    component that stays degenerate for 80 iterations is one event, and one that recovers and
    degenerates again is two. A starting point whose weights do not sum to one (the
    single-point starts 'random_from_data' and 'k-means++' put each component on one row,
    with weight 1/n and covariance ``reg_covar * I``, by construction) is skipped.

    Parameters
    ----------
    history : FitHistory or sequence of Snapshot
        A FitHistory's kept run (or ``run``), or one run's snapshots. Only a FitHistory knows
        n, to put the weight in points.
    reg_covar : float
        The ``reg_covar`` of the fit.
    weight_floor : float, optional
    floor_factor : float, default 10
    run : int, optional
        Which restart of a FitHistory; its kept run by default.
    coincide_threshold : float, default :data:`COINCIDE_BHATTACHARYYA` (0.01)

    Returns
    -------
    list of DegeneracyEvent
        By iteration, then component.
    """
    return _degeneracy(history, reg_covar, weight_floor, floor_factor, run, coincide_threshold)[0]


def degeneracy_at_end(
    history: FitHistory | Sequence[Snapshot],
    reg_covar: float,
    *,
    weight_floor: float | None = None,
    floor_factor: float = 10.0,
    run: int | None = None,
    coincide_threshold: float = COINCIDE_BHATTACHARYYA,
) -> list[DegeneracyEvent]:
    """The degeneracies of the fitted model: :func:`degeneracy_events` still ongoing at the end.

    A component that lost its weight for a few iterations and recovered does not make the
    result degenerate; one that ends on the covariance floor does. Each event is dated to the
    start of the episode that lasts to the last snapshot (the last snapshot itself for a
    history that kept only the traces, ``keep_history='trace'``). Same parameters as
    :func:`degeneracy_events`.

    Returns
    -------
    list of DegeneracyEvent
        Empty for a sound fit.
    """
    events, ongoing = _degeneracy(
        history, reg_covar, weight_floor, floor_factor, run, coincide_threshold, at_end=True
    )
    latest: dict[tuple[int, str], DegeneracyEvent] = {}
    for event in events:
        key = (event.component, event.kind)
        if key in ongoing:
            latest[key] = event  # the episode that reaches the end starts last
    return sorted(latest.values(), key=lambda e: (e.iteration, e.component, e.kind))


def degeneracy_summary(events: Sequence[DegeneracyEvent]) -> str:
    """A short phrase per kind, for a table cell: "vanishing weight: component 3; ...".

    Parameters
    ----------
    events : sequence of DegeneracyEvent

    Returns
    -------
    str
        "" when there are no events.
    """
    parts = []
    for kind in DEGENERACY_KINDS:
        of_kind = [e for e in events if e.kind == kind]
        if not of_kind:
            continue
        if kind in (COMPONENTS_COINCIDE, ONE_GAUSSIAN):
            who = "; ".join(_component_list(e.components) for e in of_kind)
        elif [e.component for e in of_kind] == [ALL_COMPONENTS]:
            who = "the shared covariance"
        else:
            who = _component_list(sorted({e.component for e in of_kind}))
        parts.append(kind if kind == ONE_GAUSSIAN else f"{kind}: {who}")
    return "; ".join(parts)


def _component_list(components: Sequence[int]) -> str:
    names = [str(c) for c in components]
    joined = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    return f"component{'s' if len(names) > 1 else ''} {joined}"


def degeneracy_advice(events: Sequence[DegeneracyEvent]) -> str | None:
    """One plain paragraph: what degenerated, why it matters, and what to try.

    Parameters
    ----------
    events : sequence of DegeneracyEvent
        As :func:`degeneracy_events` (or :func:`degeneracy_at_end`) returns them.

    Returns
    -------
    str or None
        None when there is nothing to report.
    """
    if not events:
        return None
    vanishing = sorted({e.component for e in events if e.kind == VANISHING_WEIGHT})
    few = sorted({e.component for e in events if e.kind == FEW_POINTS})
    collapsed = sorted({e.component for e in events if e.kind == COVARIANCE_FLOOR})
    coincide = [e.components for e in events if e.kind == COMPONENTS_COINCIDE]
    merged = [e for e in events if e.kind == ONE_GAUSSIAN]
    first = min(e.iteration for e in events)
    happened = []
    if merged:
        happened.append(
            f"all {len(merged[0].components)} components collapsed onto one Gaussian (the "
            "same mean and covariance), so the fit is a single Gaussian with a single "
            "Gaussian's log-likelihood: it converged, but to nothing that one component "
            "could not say"
        )
    if coincide:
        groups = " and ".join(_component_list(g) for g in coincide)
        happened.append(
            f"{groups} coincide (the same mean and covariance), so they count as one component"
        )
    if vanishing:
        they = "it explains" if len(vanishing) == 1 else "they explain"
        happened.append(
            f"the weight of {_component_list(vanishing)} fell to (almost) nothing, so {they} "
            "(almost) no data point: the data support fewer components"
        )
    if few:
        one = len(few) == 1
        happened.append(
            f"{_component_list(few)} {'holds' if one else 'hold'} fewer points than "
            f"{'its' if one else 'their'} mean and covariance have parameters (mclust's rule), "
            f"so {'its' if one else 'their'} covariance rests on too few points to be trusted"
        )
    if collapsed:
        whose = (
            "the covariance shared by all components"
            if collapsed == [ALL_COMPONENTS]
            else f"the covariance of {_component_list(collapsed)}"
        )
        happened.append(
            f"{whose} shrank to the reg_covar floor, onto a single point or a line of the "
            "data, where the likelihood could grow without bound and only reg_covar keeps it "
            "finite"
        )
    # A merge into one Gaussian is the start's doing, not too many components.
    tries = ["fewer components"] if (vanishing or few or collapsed or coincide) else []
    if merged or coincide:
        tries.append(
            "another start: init_params 'wide' (the app's default) or 'kmeans' rather than "
            "the single-point 'k-means++' or 'random_from_data' (with a tied covariance "
            "these can merge the components from the first iteration), a different random "
            "seed or more restarts, or a smaller tol: coinciding components are a saddle "
            "point that EM leaves only slowly, so a loose tol stops it there"
        )
    else:
        tries.append(
            "another start (a different random seed, more restarts or another initialisation)"
        )
    if few:
        tries.append("a simpler covariance type (tied, diag or spherical)")
    if collapsed:
        tries.append("a larger reg_covar (for instance 1e-3 on standardised data)")
    tried = ", ".join(tries[:-1]) + (", or " if len(tries) > 1 else "") + tries[-1]
    causes = (
        " Duplicated rows and constant or collinear columns cause this too." if collapsed else ""
    )
    # Too few points for the parameters alone leaves the clusters possibly real: only their
    # covariance estimates are unreliable. The other kinds make a component an artefact.
    verdict = (
        "The clusters may still be real, but their covariances are not reliable estimates."
        if few and not (vanishing or collapsed or coincide or merged)
        else "Such a component is an artefact of the fit, not a cluster, so do not trust the "
        "result as it is."
    )
    return (
        f"This fit degenerated (first at iteration {first}): {'; and '.join(happened)}. "
        f"{verdict} Try {tried}.{causes}"
    )
