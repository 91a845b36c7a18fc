"""Fitting for the dashboard: the settings a person chooses, what EM fits, and a finished fit.

Pages read widgets, call these and draw. Nothing here knows about Streamlit.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from time import perf_counter

import numpy as np
import plotly.graph_objects as go

from gmm_core import selection
from gmm_core.em import Snapshot
from gmm_core.model import GaussianMixtureEM, ProgressCallback
from gmm_core.params import covariance_model
from gmm_core.prior import MODELS_WITHOUT_PRIOR

from . import figures
from .animation import DisplayMap, animation_frames, stratified_sample
from .data import PreparedData, count_distinct_rows
from .projection import Projection

#: Bounds the UI offers and gmm_core enforces for interactive fits.
MAX_COMPONENTS = 20


MAX_ITERATIONS = 1000


MAX_RESTARTS = 20


@dataclass(frozen=True)
class FitSettings:
    """The EM settings a user chooses; names and meanings are scikit-learn's."""

    n_components: int = 4
    max_iter: int = 100
    tol: float = 1e-3
    covariance_type: str = "full"
    # 'wide' (gmm_core.init.wide_params): k-means++ seeds as means, the data's covariance and
    # equal weights, so frame 0 shows wide overlapping ellipses that separate as EM runs.
    init_params: str = "wide"
    random_state: int = 42
    reg_covar: float = 1e-6
    n_init: int = 1
    # None: reg_covar keeps covariances away from zero; 'default': mclust's conjugate prior
    # (priorControl()) instead, and reg_covar is kept here only to come back to.
    prior: str | None = None

    @property
    def regularisation(self) -> str:
        """How the covariances are kept from collapsing, in words (for lines of settings)."""
        if self.prior is not None:
            return "mclust's conjugate prior (no reg_covar)"
        return f"reg_covar {self.reg_covar:g}"

    @property
    def effective_reg_covar(self) -> float:
        """The reg_covar EM adds: 0 with the prior, which replaces it."""
        return 0.0 if self.prior is not None else self.reg_covar

    def validate(self, n_samples: int, n_features: int = 2) -> None:
        """Raise ``ValueError`` with a plain-words message for settings out of range.

        The app's own limits here; everything else is the estimator's own check
        (:meth:`GaussianMixtureEM.check_settings`), so the two can never disagree.
        """
        if not 1 <= self.n_components <= min(MAX_COMPONENTS, n_samples):
            raise ValueError(
                f"K must be between 1 and {min(MAX_COMPONENTS, n_samples)} for these "
                f"{n_samples} rows; got {self.n_components}."
            )
        if not 1 <= self.max_iter <= MAX_ITERATIONS:
            raise ValueError(f"Iterations must be between 1 and {MAX_ITERATIONS}.")
        if not 1 <= self.n_init <= MAX_RESTARTS:
            raise ValueError(f"Restarts must be between 1 and {MAX_RESTARTS}.")
        if self.prior is not None:
            model = covariance_model(self.covariance_type).mclust
            if model in MODELS_WITHOUT_PRIOR:
                others = [m for m in MODELS_WITHOUT_PRIOR if m != model]
                raise ValueError(
                    f"mclust has no conjugate prior for {model} (nor for {', '.join(others[:-1])} "
                    f"and {others[-1]}): choose reg_covar under Regularisation (in More) to "
                    f"fit {model}, or another covariance model to keep the prior."
                )
        self.estimator().check_settings(n_samples, n_features)

    def estimator(self) -> GaussianMixtureEM:
        """An unfitted estimator with these settings.

        It keeps the winning run's history in full and only the log-likelihood traces and
        final snapshots of the other restarts (``keep_history="best"``): all the app shows,
        at a bounded size (30 MiB instead of 1.1 GiB for K = 20, 1,000 iterations, 20
        restarts on the wine sample).
        """
        arguments = asdict(self) | {"reg_covar": self.effective_reg_covar}
        return GaussianMixtureEM(**arguments, keep_history="best")


@dataclass(frozen=True, eq=False)
class FitView:
    """What EM fits and how it is displayed.

    Attributes
    ----------
    X : ndarray of shape (n, d)
        The rows EM fits (the chosen features, or their 2-D projection).
    points : ndarray of shape (n, 2)
        Display coordinates of every row.
    display : DisplayMap
    axis_titles : tuple of str
    feature_names : tuple of str
        Names of the d columns of ``X``.
    space : str
        Plain words for what EM fits, e.g. "4 features" or "the 2-D PCA projection".
    true_labels : ndarray of shape (n,) or None
    row_index : ndarray of shape (n,)
        Positions of these rows in the loaded table.
    notes : tuple of str
    source_columns : tuple of str
        The table's columns the rows were prepared from (the chosen columns, also when EM fits
        their projection): what a row needs to be fitted.
    sample_weight : ndarray of shape (n,) or None
        Each row's weight (a count column of an aggregated table), None when unweighted:
        EM weights every row by it and the animation draws a point's area in proportion.
    weight_column : str or None
        The table's column the weights come from.
    """

    X: np.ndarray
    points: np.ndarray
    display: DisplayMap
    axis_titles: tuple[str, str]
    feature_names: tuple[str, ...]
    space: str
    true_labels: np.ndarray | None
    row_index: np.ndarray
    notes: tuple[str, ...] = ()
    source_columns: tuple[str, ...] = ()
    sample_weight: np.ndarray | None = None
    weight_column: str | None = None

    @property
    def n_observations(self) -> float:
        """The rows EM fits, or their total weight when weighted (BIC's n)."""
        if self.sample_weight is None:
            return len(self.X)
        return float(self.sample_weight.sum())


def fit_view(prepared: PreparedData, projection: Projection, *, fit_on: str) -> FitView:
    """Decide what EM fits ('features' or 'projection') and how Gaussians map to the display.

    Parameters
    ----------
    prepared : PreparedData
    projection : Projection
        Of ``prepared.X``; method 'none' means the two chosen columns are the display.
    fit_on : {'features', 'projection'}

    Returns
    -------
    FitView
    """
    d = prepared.X.shape[1]
    notes: list[str] = []
    names = tuple(prepared.columns)
    if fit_on == "projection" and projection.method != "none":
        X, display = projection.embedding, DisplayMap("identity")
        space = f"the 2-D {projection.method.upper()} projection"
        names = tuple(projection.axis_titles)
    elif projection.method == "none":
        X, display, space = prepared.X, DisplayMap("identity"), "the 2 chosen columns"
    else:
        X, space = prepared.X, f"the {d} chosen columns"
        if projection.is_linear:
            display = DisplayMap("linear", projection.components, projection.center)
        else:
            display = DisplayMap("none")
            notes.append(
                "EM fits the original columns and UMAP only places the points on screen. "
                "UMAP is not linear, so a Gaussian of the data has no ellipse in that picture: "
                "points and their colours are shown, without ellipses. Choose PCA to see "
                "the ellipses, or fit on the 2-D projection."
            )
    if prepared.weights is not None:
        notes.append(_weighted_note(prepared))
    return FitView(
        np.ascontiguousarray(X),
        projection.embedding,
        display,
        projection.axis_titles,
        names,
        space,
        prepared.labels,
        prepared.row_index,
        tuple(notes),
        tuple(prepared.columns),
        prepared.weights,
        prepared.weight_column,
    )


def _weighted_note(prepared: PreparedData) -> str:
    """What a weighted fit counts: observations (the weights), not rows."""
    w = prepared.weights
    total = float(w.sum())
    whole = bool(np.all(w == np.round(w)))
    total_text = f"{total:,.0f} observations" if whole else f"a total weight of {total:,.6g}"
    return (
        f"Each row counts by its weight in `{prepared.weight_column}`: the {len(w):,} rows "
        f"stand for {total_text}. The mean log-likelihood is per observation, the stopping "
        "rules and the degeneracy checks count observations, and a bigger point in the "
        "animation stands for more of them."
    )


@dataclass(frozen=True, eq=False)
class FitResult:
    """A finished fit with everything the pages show and offer for download.

    Attributes
    ----------
    seconds : float
        Wall time of the whole fit (starts, EM, the progress callback), figures excluded.
    first_pass_seconds : float or None
        Wall time from the beginning of the fit to its first snapshot: the start and the first
        E-step pass. With the compiled engine this is where numba compiles its kernels (or
        loads them from its on-disk cache), once per server process.
    iteration_seconds : tuple of float
        Wall time of every later EM iteration (M-step and E-step pass) of every restart, in
        order, without the time spent in the progress callback and without the restarts'
        starts. ``len == sum of n_iter over restarts``.
    engine : str or None
        The E-step engine EM ran on, 'numba' or 'numpy'.
    compiled : bool
        Whether numba compiled (or loaded from its cache) kernels during this fit, which is
        then most of ``first_pass_seconds``.
    """

    settings: FitSettings
    view: FitView
    model: GaussianMixtureEM
    labels: np.ndarray
    seconds: float
    drawn: np.ndarray
    animation: go.Figure
    log_likelihood: go.Figure
    weights: go.Figure
    messages: tuple[str, ...] = field(default=())
    stopping: tuple = field(default=())
    degeneracy: tuple = field(default=())
    advice: str | None = None
    first_pass_seconds: float | None = None
    iteration_seconds: tuple[float, ...] = field(default=())
    engine: str | None = None
    compiled: bool = False

    @property
    def seconds_per_iteration(self) -> float:
        """Wall time of the fit divided by all iterations of all restarts (compile included)."""
        total = sum(len(run) - 1 for run in self.model.history_.runs)
        return self.seconds / max(total, 1)

    @property
    def seconds_per_later_iteration(self) -> float | None:
        """Mean wall time of an EM iteration after the first pass, or None without any."""
        if not self.iteration_seconds:
            return None
        return float(np.mean(self.iteration_seconds))

    @property
    def timing(self) -> str:
        """The time per iteration in words, the first pass apart (see :func:`timing_text`)."""
        return timing_text(self.seconds_per_later_iteration, self.first_pass_seconds, self.compiled)

    @property
    def convergence(self) -> str:
        """ "yes" or "no", with ", but degenerate" / ", and degenerate" when the fit degenerated.

        Never a bare "yes" for a fit that :func:`gmm_core.selection.degeneracy_events` flags
        (whatever the kind of event: vanishing weight, covariance floor, collapse, ...).
        """
        if not self.degeneracy:
            return "yes" if self.model.converged_ else "no"
        return "yes, but degenerate" if self.model.converged_ else "no, and degenerate"


def timing_text(
    per_iteration: float | None, first_pass: float | None, compiled: bool = False
) -> str:
    """ "23.1 ms per iteration (the first took 4.17 s: compiling the fast engine)".

    The first pass is named only when it took clearly longer than an iteration (more than
    three times as long and over 0.1 s): then it is the compiled engine's one-off compile, or
    a slow start such as k-means on many rows.

    Parameters
    ----------
    per_iteration : float or None
        Seconds per EM iteration after the first pass (None: the run made no iteration).
    first_pass : float or None
        Seconds to the first snapshot.
    compiled : bool
        Whether the fast engine was compiled during the first pass (then that is said).

    Returns
    -------
    str
    """

    def duration(seconds: float) -> str:
        return f"{seconds:.2f} s" if seconds >= 1 else f"{1e3 * seconds:.1f} ms"

    if per_iteration is None:
        return "no EM iteration" + (
            "" if first_pass is None else f" (start: {duration(first_pass)})"
        )
    text = f"{1e3 * per_iteration:.1f} ms per iteration"
    if first_pass is not None and first_pass > max(3 * per_iteration, 0.1):
        if compiled:
            text += (
                f" (the first took {duration(first_pass)}: compiling the fast engine, once "
                "per server process)"
            )
        else:
            text += f" (the start and first pass took {duration(first_pass)})"
    return text


def _compiled_kernels() -> int:
    """How many compiled signatures the numba engine's kernels hold so far in this process.

    0 until :mod:`gmm_core._fast` is imported (on the first numba pass). Counted over every
    numba dispatcher in that module, so no kernel name is assumed.
    """
    fast = sys.modules.get("gmm_core._fast")
    if fast is None:
        return 0
    return sum(
        len(signatures)
        for obj in vars(fast).values()
        if isinstance(signatures := getattr(obj, "signatures", None), list)
    )


class _IterationClock:
    """A progress callback that times each snapshot's arrival, minus the wrapped callback's time.

    Snapshots arrive one per E-step pass: iteration 0 of a run after its start and first pass,
    iteration j after the j-th M-step and the pass that scores it.
    """

    def __init__(self, progress: ProgressCallback | None):
        self.progress = progress
        self.starts: list[float] = []
        self.iterations: list[float] = []
        self.last = perf_counter()

    def __call__(self, run: int, n_runs: int, snapshot: Snapshot) -> None:
        now = perf_counter()
        (self.iterations if snapshot.iteration else self.starts).append(now - self.last)
        if self.progress is not None:
            self.progress(run, n_runs, snapshot)
        self.last = perf_counter()


#: Stop and degeneracy markers closer than this fraction of the iterations shown share one
#: line and one label on the log-likelihood plot (at 500 iterations: within 10 of each other).
MARKER_MERGE_FRACTION = 0.02


def merge_markers(markers: Sequence[tuple[str, int]], n_iterations: int) -> dict[str, int]:
    """One label per group of markers at the same or nearly the same iteration.

    Parameters
    ----------
    markers : sequence of (label, iteration)
    n_iterations : int
        Iterations on the plot's axis, to decide what "nearly" means
        (:data:`MARKER_MERGE_FRACTION` of it, at least 0: only equal iterations merge on a
        short run).

    Returns
    -------
    dict of str to int
        ``label -> iteration`` in iteration order, as
        :func:`gmm_core.dashboard.figures.log_likelihood_figure` takes it. A merged label joins
        its parts with ", ", each followed by its iteration when they are not all the same;
        the line stands at the group's first iteration.
    """
    ordered = sorted(((label, int(it)) for label, it in markers), key=lambda m: m[1])
    reach = int(MARKER_MERGE_FRACTION * max(n_iterations, 0))
    groups: list[list[tuple[str, int]]] = []
    for label, it in ordered:
        if groups and it - groups[-1][0][1] <= reach:
            groups[-1].append((label, it))
        else:
            groups.append([(label, it)])
    merged: dict[str, int] = {}
    for group in groups:
        labels = list(dict.fromkeys(label for label, _ in group))
        if len({it for _, it in group}) == 1:
            text = ", ".join(labels)
        else:
            text = ", ".join(f"{label} ({it})" for label, it in group)
        merged[text] = group[0][1]
    return merged


def run_fit(
    view: FitView, settings: FitSettings, *, progress: ProgressCallback | None = None
) -> FitResult:
    """Fit EM on ``view.X`` and build the figures.

    Parameters
    ----------
    view : FitView
    settings : FitSettings
    progress : callable, optional
        ``progress(run, n_runs, snapshot)`` after every iteration. Its own time is left out of
        ``FitResult.iteration_seconds``.

    Returns
    -------
    FitResult

    Raises
    ------
    ValueError
        Settings out of range, or a fit that cannot be done (the message says what to change).
    """
    settings.validate(*view.X.shape)
    # Rows of weight 0 do not count: K distinct rows must carry weight.
    counted = view.X if view.sample_weight is None else view.X[view.sample_weight > 0]
    distinct = count_distinct_rows(counted)
    if distinct < settings.n_components:
        # Refused before fitting: the starts would warn (k-means) or collapse on such data.
        raise ValueError(
            f"The data have only {distinct} distinct rows for K = {settings.n_components} "
            f"components: choose K at most {distinct}."
        )
    model = settings.estimator()
    messages: list[str] = []
    began = perf_counter()
    clock = _IterationClock(progress)
    kernels = _compiled_kernels()
    # Non-convergence is read off the fitted model below, not caught as a warning:
    # warnings.catch_warnings swaps process-wide filters, and Streamlit runs sessions in threads.
    labels = model.fit_predict(
        view.X, sample_weight=view.sample_weight, progress=clock, warn_convergence=False
    )
    seconds = perf_counter() - began
    history = model.history_
    engine = model.engine_
    compiled = engine == "numba" and _compiled_kernels() > kernels
    if not model.converged_:
        runs = f"{settings.max_iter} iteration" + ("s" if settings.max_iter != 1 else "")
        messages.append(
            f"EM stopped after {runs}, as set: with a tolerance of 0 it never stops early."
            if settings.tol == 0
            else f"EM stopped after {runs} before the log-likelihood changed by less than the "
            f"tolerance ({settings.tol:g}): raise the iterations to let it converge."
        )
    messages.extend(history.notes)
    drawn = stratified_sample(labels)
    frames = animation_frames(history, view.X[drawn], view.display)
    # The stopping rules count the weight, as the fit's own rule does.
    stopping = tuple(
        selection.stopping_rules(
            history.log_likelihoods, view.n_observations, max(settings.tol, 1e-12)
        )
    )
    degeneracy = tuple(selection.degeneracy_events(history, settings.effective_reg_covar))
    if degeneracy:
        # "Converged" alone would vouch for a fit that the warning below says not to trust.
        kinds = ", ".join(dict.fromkeys(e.kind for e in degeneracy))
        first = min(e.iteration for e in degeneracy)
        state = (
            f"Converged, but degenerate: EM met the tolerance after {model.n_iter_} iterations"
            if model.converged_
            else f"Not converged, and degenerate: EM ran {model.n_iter_} iterations"
        )
        messages.insert(
            0,
            f"{state}, and the fit degenerated from iteration {first} on ({kinds}). The "
            "numbers settled, but not on clusters: see the warning.",
        )
    markers = [
        (f"stop: {r.name.split(':')[0]}", r.iteration) for r in stopping if r.iteration is not None
    ]
    for event in degeneracy[:4]:  # the first few; the advice lists the rest in words
        who = "tied" if event.component < 0 else f"component {event.component}"
        markers.append((f"{who}: {event.kind}", event.iteration))
    return FitResult(
        settings,
        view,
        model,
        labels,
        seconds,
        drawn,
        figures.em_animation_figure(
            view.points[drawn],
            frames,
            axis_titles=view.axis_titles,
            title=f"EM, K = {settings.n_components}",
            point_weights=None if view.sample_weight is None else view.sample_weight[drawn],
        ),
        figures.log_likelihood_figure(
            history.iterations,
            history.log_likelihoods,
            markers=merge_markers(markers, len(history)),
            per_observation=view.sample_weight is not None,
        ),
        figures.weights_figure(history.iterations, history.weights),
        tuple(dict.fromkeys(messages)),
        stopping,
        degeneracy,
        selection.degeneracy_advice(degeneracy),
        clock.starts[0] if clock.starts else None,
        tuple(clock.iterations),
        engine,
        compiled,
    )
