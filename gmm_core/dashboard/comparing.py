"""Our fit next to scikit-learn's GaussianMixture, ready for the Compare page.

Two steps, because they cost very differently: :func:`run_sklearn` fits scikit-learn (seconds
at 100,000 rows), and the page keeps it per (fit, mode, seed); :func:`compare_runs` matches the
components and builds the tables and figures (milliseconds), so changing only the matching
method never refits scikit-learn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from sklearn.base import clone
from sklearn.mixture import GaussianMixture

from gmm_core import compare
from gmm_core.em import Snapshot
from gmm_core.params import COVARIANCE_TYPES, MixtureParams, covariance_model

from . import figures
from .fitting import FitResult
from .model_selection import sklearn_lacks

MODES: dict[str, str] = {
    "same start": "our starting point (same start)",
    "independent": "its own initialisation (independent)",
}

#: Same-start speed is timed over at most this many iterations: the time per iteration does not
#: change along the run, and timing every iteration would double the wait on large data.
TIMING_ITERATIONS = 20

#: A weighted fit is compared on its rows repeated by their weights (scikit-learn's
#: GaussianMixture takes no sample weights) when they are whole numbers totalling at most this.
MAX_REPEATED_ROWS = 1_000_000

#: The matched-components table as shown: column -> (header, number format, help). The CSV
#: download keeps the plain column names, which are also :func:`compare.component_table`'s.
COMPONENT_COLUMNS: dict[str, tuple[str, str | None, str]] = {
    "component": ("Our component", None, "Component of our fit (its colour in both panels)."),
    "sklearn_component": (
        "scikit-learn's component",
        None,
        "The scikit-learn component matched to ours (scikit-learn numbers them its own way).",
    ),
    "weight_ours": ("Weight, ours", "%.4f", "Mixing proportion of our component."),
    "weight_sklearn": ("Weight, scikit-learn", "%.4f", "Mixing proportion of its partner."),
    "mean_l2": ("Distance between means", "%.3g", "Euclidean distance between the two means."),
    "cov_frobenius": (
        "Covariance difference",
        "%.3g",
        "Frobenius norm of the difference of the two covariance matrices.",
    ),
    "match_cost": ("Matching cost", "%.3g", "What the matching minimised for this pair."),
}


class SklearnFitError(ValueError):
    """scikit-learn's fit failed; the message says what happened and what to change."""


@dataclass(frozen=True, eq=False)
class SklearnRun:
    """scikit-learn's side of a comparison: the expensive part, kept by the page.

    Attributes
    ----------
    mode : {'same start', 'independent'}
    seed : int or None
        scikit-learn's ``random_state`` (independent mode only).
    init_params : str or None
        scikit-learn's initialisation (independent mode only).
    model : GaussianMixture or None
        None when the fit failed.
    drift : gmm_core.compare.Drift or None
        Same start only.
    timing : gmm_core.compare.Timing or None
        Measured the same way on both sides, or None when it could not be.
    notes : tuple of str
        Sentences about how scikit-learn was run (e.g. a start it does not have).
    error : str or None
        What went wrong and what to change, when scikit-learn failed (or, with
        ``unsupported``, why it was not run).
    unsupported : bool
        scikit-learn has no such covariance model (one of mclust's ten others), so it was
        not fitted; ``error`` names what it lacks and the nearest of its four.
    """

    mode: str
    seed: int | None
    init_params: str | None
    model: GaussianMixture | None
    drift: compare.Drift | None = None
    timing: compare.Timing | None = None
    notes: tuple[str, ...] = ()
    error: str | None = None
    unsupported: bool = False
    #: A weighted fit: positions of its rows, each repeated by its weight (what scikit-learn
    #: was fitted on and every number is computed on); None when unweighted.
    rows: np.ndarray | None = None
    # What compare_runs derives from this run whatever the matching cost: scores, BIC and AIC
    # are full passes over the rows (about a second at 100,000 rows), done once per run.
    _shared: dict = field(default_factory=dict, repr=False)


@dataclass(frozen=True, eq=False)
class Comparison:
    """Our fit next to scikit-learn's, ready to show.

    Attributes
    ----------
    mode : str
    ari : float
        Adjusted Rand index between the two partitions.
    components : pandas.DataFrame
        :func:`gmm_core.compare.component_table`; shown with :data:`COMPONENT_COLUMNS`.
    summary : pandas.DataFrame
        Rows: the quantities (index named "Quantity"); columns "Ours" and "scikit-learn";
        every cell already formatted as text.
    scatter : plotly.graph_objects.Figure
    drift : plotly.graph_objects.Figure or None
    sentences : tuple of str
        What the numbers mean, in words (Markdown).
    solution : gmm_core.compare.SolutionComparison or None
        Independent mode: the numbers behind the "same solution or not" verdict.
    sklearn : SklearnRun
    """

    mode: str
    ari: float
    components: pd.DataFrame
    summary: pd.DataFrame
    scatter: go.Figure
    drift: go.Figure | None
    sentences: tuple[str, ...]
    solution: compare.SolutionComparison | None
    sklearn: SklearnRun


def _failure_message(result: FitResult, where: str, err: Exception, *, seeded: bool) -> str:
    """What failed, that our fit stays, and what to change (``seeded``: independent mode)."""
    s = result.settings
    advice = []
    if s.reg_covar == 0:
        advice.append(
            "reg_covar is 0, so nothing keeps a component that gathers a few repeated rows "
            "from a zero covariance: set reg_covar to 1e-6 (scikit-learn's default) on the "
            "**Fit** page and fit again"
        )
    else:
        advice.append("raise reg_covar on the **Fit** page and fit again")
    if seeded:
        advice.append("try another scikit-learn random_state here")
    advice.append("use fewer components")
    return (
        f"scikit-learn's GaussianMixture failed {where}: {err} "
        "Our fit is kept as it was. To compare, " + ", or ".join(advice) + "."
    )


def repeated_rows(result: FitResult) -> tuple[np.ndarray | None, str | None]:
    """The rows scikit-learn is compared on for a weighted fit, or why it cannot be.

    scikit-learn's GaussianMixture takes no sample weights; whole-number weights (counts)
    are the same as each row repeated that many times, so the comparison runs on those
    repeated rows when they total at most :data:`MAX_REPEATED_ROWS`.

    Returns
    -------
    rows : ndarray of shape (sum of weights,) or None
        Positions into ``result.view.X``, each row repeated by its weight (rows of weight 0
        left out); None when the fit is unweighted or cannot be compared.
    reason : str or None
        Why a weighted fit cannot be compared (Markdown), else None.
    """
    view = result.view
    w = view.sample_weight
    if w is None:
        return None, None
    column = f"`{view.weight_column}`" if view.weight_column else "the weight column"
    intro = (
        "scikit-learn's GaussianMixture takes no sample weights, so a weighted fit is "
        "compared on its rows repeated by their weights (a row of count 3 as three rows). "
    )
    fractional = np.flatnonzero(w != np.round(w))
    if fractional.size:
        first = int(fractional[0])
        return None, (
            intro + f"That is not possible here: the weights in {column} are not whole "
            f"numbers ({fractional.size:,} of {len(w):,} rows, the first in row "
            f"{int(view.row_index[first]) + 1}: {w[first]:g}), so the comparison with "
            "scikit-learn is unavailable for this fit. Our fit is unchanged; to compare, "
            "choose a count column (or none) as the weight on the **Data** page."
        )
    total = float(w.sum())
    if total > MAX_REPEATED_ROWS:
        return None, (
            intro + f"That is not possible here: the weights in {column} total "
            f"{total:,.0f} observations, more than the {MAX_REPEATED_ROWS:,} rows the "
            "comparison repeats at most, so the comparison with scikit-learn is unavailable "
            "for this fit. Our fit is unchanged."
        )
    return np.repeat(np.arange(len(w)), w.astype(np.int64)), None


def sklearn_gap(result: FitResult) -> str | None:
    """Why scikit-learn cannot be compared with this fit, in words (None: it can).

    scikit-learn has four of mclust's fourteen models (full = VVV, tied = EEE, diag = VVI,
    spherical = VII); for the ten others this names what it lacks and the nearest of its
    four (:func:`gmm_core.dashboard.model_selection.sklearn_lacks`). It has no conjugate
    prior either, and no sample weights (weights that cannot be repeated rows, see
    :func:`repeated_rows`).
    """
    s = result.settings
    gap = sklearn_lacks(s.covariance_type, s.n_components, result.view.X.shape[1])
    if gap is not None:
        return gap
    if s.prior is not None:
        return (
            "Our fit uses mclust's conjugate prior, which scikit-learn's GaussianMixture does "
            "not have (it keeps covariances from collapsing with reg_covar only), so the two "
            "would not fit the same model. To compare, choose reg_covar under "
            "**Regularisation** on the **Fit** page."
        )
    return repeated_rows(result)[1]


def _compared(result: FitResult, run: SklearnRun) -> tuple[np.ndarray, np.ndarray | None]:
    """The rows both fits are scored on, and their known classes (repeated when weighted)."""
    view = result.view
    if run.rows is None:
        return view.X, view.true_labels
    labels = None if view.true_labels is None else view.true_labels[run.rows]
    return view.X[run.rows], labels


def _repeated_note(result: FitResult, rows: np.ndarray) -> str:
    column = result.view.weight_column or "the weight column"
    return (
        f"Compared on the {len(rows):,} observations (each row repeated by its weight in "
        f"`{column}`): scikit-learn's GaussianMixture takes no sample weights, and a count is "
        "the same as its row repeated, so both fits, the timing, the table and the adjusted "
        "Rand index are on those."
    )


class _SklearnNamed:
    """A fit's history as scikit-learn would name it: mclust's VVV, EEE, VVI and VII are
    scikit-learn's full, tied, diag and spherical, the same models under other names, which
    scikit-learn's GaussianMixture does not accept."""

    def __init__(self, history):
        self._history = history

    def __len__(self) -> int:
        return len(self._history)

    def __getitem__(self, index: int) -> Snapshot:
        snap = self._history[index]
        return replace(snap, params=_sklearn_params(snap.params))


def _sklearn_params(params: MixtureParams) -> MixtureParams:
    layout = covariance_model(params.covariance_type).layout
    if params.covariance_type == layout:
        return params
    return MixtureParams(params.weights, params.means, params.covariances, None, layout)


def run_sklearn(
    result: FitResult,
    *,
    mode: str,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> SklearnRun:
    """Fit scikit-learn on the rows of ``result`` (the slow part of a comparison).

    Parameters
    ----------
    result : FitResult
    mode : {'same start', 'independent'}
        'same start' steps scikit-learn from our initial parameters, one iteration per call,
        and times both libraries from that start; 'independent' fits scikit-learn with our
        settings and initialisation, only its ``random_state`` is ``seed``.
    seed : int
        scikit-learn's ``random_state`` in independent mode.
    progress : callable, optional
        ``progress(done, total)`` while stepping scikit-learn.

    Returns
    -------
    SklearnRun
        With ``error`` set, and no model, when scikit-learn raised (e.g. an ill-defined
        covariance): the caller shows it and keeps our fit.
    """
    view, ours, s = result.view, result.model, result.settings
    gap = sklearn_gap(result)
    if gap is not None:
        return SklearnRun(mode, None, None, None, error=gap, unsupported=True)
    history = ours.history_
    if s.covariance_type not in COVARIANCE_TYPES:  # one of the four under mclust's name
        history = _SklearnNamed(history)
    rows, _ = repeated_rows(result)
    X = view.X if rows is None else view.X[rows]
    weighted = () if rows is None else (_repeated_note(result, rows),)
    if mode == "same start":
        try:
            drift = compare.same_start_drift(X, history, reg_covar=s.reg_covar, progress=progress)
        except ValueError as err:
            where = "while stepping from our starting point"
            message = _failure_message(result, where, err, seeded=False)
            return SklearnRun(mode, None, None, None, error=message)
        timing, notes = None, ()
        if drift.steps:
            try:
                timing = compare.time_from_same_start(
                    X,
                    ours,
                    history[0].params,
                    n_iter=min(drift.steps, TIMING_ITERATIONS),
                )
            except ValueError:
                notes = ("The timing from the same start failed, so no speed is shown.",)
        return SklearnRun(
            mode, None, None, drift.sklearn_model, drift, timing, (*weighted, *notes), rows=rows
        )
    if mode != "independent":
        raise ValueError(f"mode must be 'same start' or 'independent'; got {mode!r}.")
    init = compare.sklearn_init(s.init_params)
    notes = list(weighted)
    if init != s.init_params:
        notes.append(
            f"Our start '{s.init_params}' is not one of scikit-learn's, so scikit-learn used "
            f"its default '{init}'."
        )
    elif seed == s.random_state:
        notes.append(
            f"scikit-learn has our initialisation ('{init}') and our random_state ({seed}), so "
            "it starts exactly where we started: a reproduction rather than an independent "
            "run. Choose another random_state for that."
        )
    try:
        theirs, seconds_theirs = compare.fit_sklearn(
            X,
            s.n_components,
            covariance_type=covariance_model(s.covariance_type).layout,
            random_state=seed,
            init_params=init,
            tol=s.tol,
            reg_covar=s.reg_covar,
            max_iter=s.max_iter,
            n_init=s.n_init,
        )
    except ValueError as err:
        where = f"from its own start ('{init}', random_state {seed})"
        message = _failure_message(result, where, err, seeded=True)
        return SklearnRun(mode, seed, init, None, error=message)
    try:
        # Timed again rather than taken from the Fit page: that time includes progress reports
        # and, on the first fit in a process, compiling the kernels.
        # (Unweighted on the repeated rows, as scikit-learn's: the same work on both sides.)
        timing = compare.Timing(compare.timed_fit(clone(ours), X), seconds_theirs)
    except ValueError:
        timing = None
    return SklearnRun(mode, seed, init, theirs, None, timing, tuple(notes), rows=rows)


def _ms(seconds: float) -> str:
    if seconds >= 1.0:
        return f"{seconds:.2f} s"
    return f"{1e3 * seconds:.3g} ms"


def _start_text(init: str, seed: int) -> str:
    return f"{init}, random_state {seed}"


def summary_view(result: FitResult, theirs: GaussianMixture, run: SklearnRun) -> pd.DataFrame:
    """Both fits' headline numbers as text: rows are quantities, columns "Ours", "scikit-learn".

    Parameters
    ----------
    result : FitResult
    theirs : GaussianMixture
        Fitted.
    run : SklearnRun
        How ``theirs`` was run.

    Returns
    -------
    pandas.DataFrame
        Index named "Quantity"; every cell formatted (no raw floats, no True/False).
    """
    ours, s = result.model, result.settings
    stepped = run.drift.steps if run.drift is not None else None
    X, true_labels = _compared(result, run)
    raw = compare.summary_table(X, ours, theirs, true_labels=true_labels, stepped=stepped)
    rows: dict[str, tuple[str, str]] = {}
    ll, bic, aic = (raw.loc[name] for name in raw.index[:3])
    per = "row" if run.rows is None else "observation"
    rows[f"Mean log-likelihood per {per}"] = (f"{ll.iloc[0]:.6f}", f"{ll.iloc[1]:.6f}")
    rows["BIC (lower is better)"] = (f"{bic.iloc[0]:,.2f}", f"{bic.iloc[1]:,.2f}")
    rows["AIC (lower is better)"] = (f"{aic.iloc[0]:,.2f}", f"{aic.iloc[1]:,.2f}")
    ours_start = _start_text(s.init_params, s.random_state)
    if stepped is not None:
        rows["Start"] = (ours_start, "ours (the same parameters)")
        rows["Iterations"] = (f"{ours.n_iter_}", f"{stepped} steps from our start")
        rows["Converged"] = ("yes" if ours.converged_ else "no", "n/a: stepped, not run to a stop")
    else:
        theirs_start = _start_text(run.init_params, run.seed)
        if run.init_params != s.init_params:
            theirs_start += f" (it has no '{s.init_params}')"
        rows["Start"] = (ours_start, theirs_start)
        if s.n_init > 1:
            rows["Restarts"] = (f"{s.n_init}", f"{theirs.n_init}")
        rows["Iterations"] = (f"{ours.n_iter_}", f"{theirs.n_iter_}")
        rows["Converged"] = tuple("yes" if m.converged_ else "no" for m in (ours, theirs))
    timing = run.timing
    if timing is not None and timing.per_iteration:
        name = f"Time per iteration (same start, tol = 0, {timing.iterations} iterations)"
        rows[name] = (_ms(timing.ours), _ms(timing.theirs))
    elif timing is not None:
        rows["Fit time (each start included)"] = (_ms(timing.ours), _ms(timing.theirs))
    if "ARI vs label column" in raw.index:
        ari = raw.loc["ARI vs label column"]
        rows["ARI vs label column"] = (f"{ari.iloc[0]:.4f}", f"{ari.iloc[1]:.4f}")
    table = pd.DataFrame.from_dict(rows, orient="index", columns=["Ours", "scikit-learn"])
    table.index.name = "Quantity"
    return table


def _drift_sentence(worst: float) -> str:
    return (
        f"Started from the same parameters, the two runs differ by at most {worst:.1e} "
        "(relative) over all iterations"
        + (
            ": that is machine precision, so both compute the same EM."
            if worst < 1e-9
            else ". That is more than rounding: the runs have drifted apart, which happens "
            "when EM passes close to a saddle point and rounding decides the way."
        )
    )


def _timing_sentence(timing: compare.Timing | None) -> str | None:
    if timing is None:
        return None
    if not timing.per_iteration:
        return (
            "The fit times are whole fits, each with its own start (k-means, for instance) and "
            "its own number of iterations: they say how long each took, not how fast an "
            "iteration is. For that, compare from the same start."
        )
    faster = "ours" if timing.ratio >= 1 else "scikit-learn's"
    factor = timing.ratio if timing.ratio >= 1 else 1 / timing.ratio
    return (
        f"Speed, measured the same way on both sides (each library's `fit` from our start with "
        f"tol = 0 for {timing.iterations} iterations): {_ms(timing.ours)} per iteration for "
        f"ours, {_ms(timing.theirs)} for scikit-learn, so {faster} is {factor:.1f}× as fast."
    )


def verdict_sentence(solution: compare.SolutionComparison) -> str:
    """Whether two independent runs reached the same solution, in words.

    "Different local optima" only when the log-likelihoods differ by more than the tolerance
    *and* the components differ (:attr:`gmm_core.compare.SolutionComparison.different_optima`).
    """
    a, b = solution.log_likelihood_ours, solution.log_likelihood_theirs
    gap, tol = abs(solution.gap), solution.tol
    agree = (
        f"the partitions agree (ARI {solution.ari:.3f}) and every matched pair of components "
        f"overlaps by at least {solution.overlap:.1%}"
    )
    differ = (
        f"the components differ (ARI {solution.ari:.3f}, the least overlapping matched pair "
        f"overlaps by {solution.overlap:.1%})"
    )
    if solution.same_components and solution.within_tolerance:
        return (
            f"Both runs reached the same solution within the tolerance: mean log-likelihoods "
            f"{a:.6f} (ours) and {b:.6f} differ by {gap:.1e} (tolerance {tol:g}), and {agree}."
        )
    if solution.same_components:
        return (
            f"Both runs reached the same solution: {agree}. Their mean log-likelihoods "
            f"({a:.6f} ours, {b:.6f}) differ by {gap:.1e}, more than the tolerance {tol:g}, "
            "because each run stops as soon as one iteration gains less than the tolerance, "
            "short of the optimum; a smaller tolerance narrows the gap."
        )
    if solution.within_tolerance:
        return (
            f"The two runs fit equally well within the tolerance (mean log-likelihoods "
            f"{a:.6f} ours and {b:.6f}, difference {gap:.1e}), yet {differ}: two solutions of "
            "the same quality, as happens with symmetric or weakly separated data."
        )
    winner = "Our run" if a > b else "scikit-learn's run"
    return (
        f"{winner} reached the higher mean log-likelihood ({max(a, b):.6f} vs {min(a, b):.6f}, "
        f"a difference of {gap:.1e}, more than the tolerance {tol:g}) and {differ}: the two "
        "started differently and EM found different local optima. More restarts make "
        "finding the better one likelier."
    )


@dataclass(frozen=True, eq=False)
class _Shared:
    """The parts of a comparison that do not depend on the matching cost."""

    predicted: np.ndarray
    ari: float
    summary: pd.DataFrame
    sentences: tuple[str, ...]
    solution: compare.SolutionComparison | None


def _shared(result: FitResult, run: SklearnRun) -> _Shared:
    found = run._shared.get("value")
    if found is not None and run._shared.get("result") is result:
        return found
    view, theirs = result.view, run.model
    predicted = theirs.predict(view.X)  # per row, for the side-by-side scatter
    # Scores and the ARI on what was compared: a weighted fit's rows repeated by their weights.
    X, _ = _compared(result, run)
    every = slice(None) if run.rows is None else run.rows
    ours_compared, theirs_compared = result.labels[every], predicted[every]
    sentences: list[str] = list(run.notes)
    solution = None
    if run.drift is not None:
        # After the note on repeated rows, if any: what was compared comes first.
        sentences.insert(0 if run.rows is None else 1, _drift_sentence(run.drift.worst))
        sentences.append(
            f"scikit-learn was stepped {run.drift.steps} times from our starting point, one "
            "iteration per `fit` call, so that both can be compared after every iteration; it "
            "never ran to its own stopping rule, so it has no convergence of its own to report."
        )
    else:
        solution = compare.compare_solutions(
            X,
            result.model,
            theirs,
            tol=result.settings.tol,
            labels_ours=ours_compared,
            labels_theirs=theirs_compared,
        )
        sentences.append(verdict_sentence(solution))
    timing = _timing_sentence(run.timing)
    if timing:
        sentences.append(timing)
    # The ARI does not depend on how the components are numbered, hence on the matching.
    ari = compare.agreement(ours_compared, theirs_compared)
    summary = summary_view(result, theirs, run)
    value = _Shared(predicted, ari, summary, tuple(sentences), solution)
    run._shared.update(value=value, result=result)
    return value


def compare_runs(
    result: FitResult,
    *,
    mode: str,
    cost: str = "euclidean",
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    sklearn: SklearnRun | None = None,
) -> Comparison:
    """Compare ``result`` with scikit-learn's fit on the same rows.

    Parameters
    ----------
    result : FitResult
    mode : {'same start', 'independent'}
        See :func:`run_sklearn`.
    cost : str
        Matching cost, a key of :data:`gmm_core.compare.MATCH_COSTS`.
    seed : int
        scikit-learn's ``random_state`` in independent mode.
    progress : callable, optional
        ``progress(done, total)`` while stepping scikit-learn.
    sklearn : SklearnRun, optional
        scikit-learn's run for this ``result``, ``mode`` and ``seed`` (from
        :func:`run_sklearn`); fitted here when not given.

    Returns
    -------
    Comparison

    Raises
    ------
    SklearnFitError
        scikit-learn's fit failed; the message says what happened and what to change.
    """
    run = (
        sklearn
        if sklearn is not None
        else run_sklearn(result, mode=mode, seed=seed, progress=progress)
    )
    if run.error is not None:
        raise SklearnFitError(run.error)
    view, ours, theirs = result.view, result.model, run.model
    mine = ours.history_[-1].params
    theirs_params = compare.params_of(theirs)
    matching = compare.match_components(mine, theirs_params, cost=cost)
    shared = _shared(result, run)
    labels_theirs = matching.relabel_theirs(shared.predicted)
    means_o, covs_o = view.display.gaussians(mine)
    means_t, covs_t = view.display.gaussians(theirs_params)
    if means_t is not None:
        # Reorder scikit-learn's components so that its k-th is the partner of our k-th.
        means_t, covs_t = means_t[matching.partner], covs_t[matching.partner]
    drawn = result.drawn
    scatter = figures.side_by_side_figure(
        view.points[drawn],
        figures.ClusterView("Ours", result.labels[drawn], means_o, covs_o),
        figures.ClusterView(
            "scikit-learn (colours matched)", labels_theirs[drawn], means_t, covs_t
        ),
        axis_titles=view.axis_titles,
        point_weights=None if view.sample_weight is None else view.sample_weight[drawn],
    )
    drift_fig = None
    if run.drift is not None:
        drift_fig = figures.drift_figure(run.drift.iterations, run.drift.as_series())
    return Comparison(
        mode,
        shared.ari,
        compare.component_table(mine, theirs_params, matching),
        shared.summary,
        scatter,
        drift_fig,
        shared.sentences,
        shared.solution,
        run,
    )


def matching_cost_help(cost: str) -> str:
    """The help text of the "Matching cost" column for ``cost``."""
    return f"{compare.MATCH_COSTS[cost]} between the pair: what the matching minimised."
