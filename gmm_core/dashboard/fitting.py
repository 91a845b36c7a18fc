"""Fitting for the dashboard: the settings a person chooses, what EM fits, and a finished fit.

Pages read widgets, call these and draw. Nothing here knows about Streamlit.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import plotly.graph_objects as go
from sklearn.exceptions import ConvergenceWarning

from gmm_core import selection
from gmm_core.em import Snapshot
from gmm_core.model import GaussianMixtureEM

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
    # k-means++ seeds: single spread-out points, so the animation shows EM's whole journey
    # while avoiding most of the poor optima that purely random starts fall into.
    init_params: str = "k-means++"
    random_state: int = 42
    reg_covar: float = 1e-6
    n_init: int = 1

    def validate(self, n_samples: int) -> None:
        """Raise ``ValueError`` with a plain-words message for settings out of range."""
        if not 1 <= self.n_components <= min(MAX_COMPONENTS, n_samples):
            raise ValueError(
                f"K must be between 1 and {min(MAX_COMPONENTS, n_samples)} for these "
                f"{n_samples} rows; got {self.n_components}."
            )
        if not 1 <= self.max_iter <= MAX_ITERATIONS:
            raise ValueError(f"Iterations must be between 1 and {MAX_ITERATIONS}.")
        if not 1 <= self.n_init <= MAX_RESTARTS:
            raise ValueError(f"Restarts must be between 1 and {MAX_RESTARTS}.")
        if not (self.tol >= 0 and self.reg_covar >= 0):
            raise ValueError("The tolerance and reg_covar must be zero or positive.")

    def estimator(self) -> GaussianMixtureEM:
        """An unfitted estimator with these settings."""
        return GaussianMixtureEM(**asdict(self))


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
    )


@dataclass(frozen=True, eq=False)
class FitResult:
    """A finished fit with everything the pages show and offer for download."""

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

    @property
    def seconds_per_iteration(self) -> float:
        """Wall time of the fit divided by all iterations of all restarts."""
        total = sum(len(run) - 1 for run in self.model.history_.runs)
        return self.seconds / max(total, 1)


ProgressCallback = Callable[[int, int, Snapshot], None]


def run_fit(
    view: FitView, settings: FitSettings, *, progress: ProgressCallback | None = None
) -> FitResult:
    """Fit EM on ``view.X`` and build the figures.

    Parameters
    ----------
    view : FitView
    settings : FitSettings
    progress : callable, optional
        ``progress(run, n_runs, snapshot)`` after every iteration.

    Returns
    -------
    FitResult

    Raises
    ------
    ValueError
        Settings out of range, or a fit that cannot be done (the message says what to change).
    """
    settings.validate(len(view.X))
    model = settings.estimator()
    messages: list[str] = []
    began = time.perf_counter()
    with warnings.catch_warnings():
        # What these warnings say is read off the fitted model below instead: recording
        # warnings swaps a process-wide hook, and Streamlit runs sessions in threads.
        warnings.simplefilter("ignore", ConvergenceWarning)
        labels = model.fit_predict(view.X, progress=progress)
    seconds = time.perf_counter() - began
    if not model.converged_:
        messages.append(
            f"EM stopped after {settings.max_iter} iterations before the log-likelihood "
            f"changed by less than the tolerance ({settings.tol:g})."
            + ("" if settings.tol else " (A tolerance of 0 always runs every iteration.)")
        )
    distinct = count_distinct_rows(view.X)
    if distinct < settings.n_components:
        messages.append(
            f"The data have only {distinct} distinct rows for K = {settings.n_components} "
            "components: some components must stay empty or share points. Choose a smaller K."
        )
    messages.extend(model.history_.notes)
    drawn = stratified_sample(labels)
    frames = animation_frames(model.history_, view.X[drawn], view.display)
    history = model.history_
    stopping = tuple(
        selection.stopping_rules(history.log_likelihoods, len(view.X), max(settings.tol, 1e-12))
    )
    degeneracy = tuple(selection.degeneracy_events(history, settings.reg_covar))
    markers = {
        f"stop: {r.name.split(':')[0]}": r.iteration for r in stopping if r.iteration is not None
    }
    for event in degeneracy[:4]:  # the first few; the advice lists the rest in words
        who = "tied" if event.component < 0 else f"component {event.component}"
        markers[f"{who}: {event.kind}"] = event.iteration
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
        ),
        figures.log_likelihood_figure(history.iterations, history.log_likelihoods, markers=markers),
        figures.weights_figure(history.iterations, history.weights),
        tuple(dict.fromkeys(messages)),
        stopping,
        degeneracy,
        selection.degeneracy_advice(degeneracy),
    )
