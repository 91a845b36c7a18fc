"""The app's steps as plain functions: what to fit, fitting with figures, and the downloads.

Pages read widgets, call these and draw. Nothing here knows about Streamlit.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from sklearn.exceptions import ConvergenceWarning

from . import figures, selection
from .animation import DisplayMap, animation_frames, half_step_frames, stratified_sample
from .data import PreparedData, count_distinct_rows, safe_csv_bytes
from .em import Snapshot
from .model import GaussianMixtureEM
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


def preview_figure(prepared: PreparedData, projection: Projection) -> go.Figure:
    """The 2-D view of the prepared data, coloured by the label column when there is one."""
    if prepared.labels is None:
        codes, names = np.zeros(len(prepared.X), dtype=int), None
    else:
        names, codes = np.unique(prepared.labels.astype(str), return_inverse=True)
    drawn = stratified_sample(codes, max_points=5000)
    title = "The data" + ("" if names is None else f", coloured by {len(names)} known classes")
    return figures.clusters_figure(
        projection.embedding[drawn],
        codes[drawn],
        axis_titles=projection.axis_titles,
        title=title,
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


def parameter_table(model: GaussianMixtureEM, columns: Sequence[str]) -> pd.DataFrame:
    """The fitted parameters, one row per component (means and covariances as text)."""
    params = model.history_[-1].params
    covs = params.full_covariances()
    rows = []
    for k in range(params.n_components):
        row = {"component": k, "weight": float(params.weights[k])}
        row.update({f"mean {c}": float(m) for c, m in zip(columns, params.means[k], strict=True)})
        row["covariance"] = np.array2string(covs[k], precision=4, suppress_small=True)
        rows.append(row)
    return pd.DataFrame(rows)


def labelled_rows_csv(table: pd.DataFrame, view: FitView, model: GaussianMixtureEM) -> bytes:
    """The loaded rows that were fitted, with each row's label and responsibilities (CSV).

    Text cells that a spreadsheet would run as formulas are neutralised.
    """
    out = table.iloc[view.row_index].copy()
    resp = model.predict_proba(view.X)
    out["component"] = resp.argmax(axis=1)
    for k in range(resp.shape[1]):
        out[f"responsibility_{k}"] = resp[:, k]
    return safe_csv_bytes(out)


def fit_json(result: FitResult, columns: Sequence[str]) -> str:
    """The settings, the fitted parameters and the whole history, as JSON."""
    model = result.model
    payload = {
        "settings": asdict(result.settings),
        "features": list(columns),
        "fitted": {
            "weights": model.weights_.tolist(),
            "means": model.means_.tolist(),
            "covariances": model.covariances_.tolist(),
            "converged": bool(model.converged_),
            "n_iter": int(model.n_iter_),
            "lower_bound": float(model.lower_bound_),
        },
        "history": model.history_.to_dict(),
    }
    return json.dumps(payload, indent=1)


@dataclass(frozen=True, eq=False)
class Comparison:
    """Our fit next to scikit-learn's, ready to show."""

    mode: str
    ari: float
    components: pd.DataFrame
    summary: pd.DataFrame
    scatter: go.Figure
    drift: go.Figure | None
    sentences: tuple[str, ...]


def compare_runs(
    result: FitResult,
    *,
    mode: str,
    cost: str = "euclidean",
    seed: int = 42,
    progress: Callable[[int, int], None] | None = None,
) -> Comparison:
    """Fit scikit-learn on the same rows and compare it with ``result``.

    Parameters
    ----------
    result : FitResult
    mode : {'same start', 'independent'}
        'same start' steps scikit-learn from our initial parameters and measures the drift
        per iteration; 'independent' lets scikit-learn choose its own start with ``seed``.
    cost : str
        Matching cost, a key of :data:`gmm_core.compare.MATCH_COSTS`.
    seed : int
        scikit-learn's ``random_state`` in independent mode.
    progress : callable, optional
        ``progress(done, total)`` while stepping scikit-learn.

    Returns
    -------
    Comparison
    """
    from . import compare

    view, ours, s = result.view, result.model, result.settings
    sentences: list[str] = []
    drift_fig = None
    if mode == "same start":
        drift = compare.same_start_drift(
            view.X, ours.history_, reg_covar=s.reg_covar, progress=progress
        )
        theirs, seconds_theirs = drift.sklearn_model, drift.seconds_per_iteration
        drift_fig = figures.drift_figure(drift.iterations, drift.as_series())
        worst = drift.worst
        sentences.append(
            f"Started from the same parameters, the two runs differ by at most {worst:.1e} "
            "(relative) over all iterations"
            + (
                ": that is machine precision, so both compute the same EM."
                if worst < 1e-9
                else ". That is more than rounding: the runs have drifted apart, which happens "
                "when EM passes close to a saddle point and rounding decides the way."
            )
        )
    elif mode == "independent":
        theirs, seconds_theirs = compare.fit_sklearn(
            view.X,
            s.n_components,
            covariance_type=s.covariance_type,
            random_state=seed,
            tol=s.tol,
            reg_covar=s.reg_covar,
            max_iter=s.max_iter,
            n_init=s.n_init,
        )
        ll_ours, ll_theirs = ours.score(view.X), theirs.score(view.X)
        if abs(ll_ours - ll_theirs) <= 1e-9 * max(1.0, abs(ll_ours)):
            sentences.append("Both runs reached the same log-likelihood.")
        else:
            winner = "Our run" if ll_ours > ll_theirs else "scikit-learn's run"
            sentences.append(
                f"{winner} reached the higher mean log-likelihood ({max(ll_ours, ll_theirs):.6f} "
                f"vs {min(ll_ours, ll_theirs):.6f}): the two started differently and EM found "
                "different local optima."
            )
    else:
        raise ValueError(f"mode must be 'same start' or 'independent'; got {mode!r}.")
    mine = ours.history_[-1].params
    matching = compare.match_components(mine, compare.params_of(theirs), cost=cost)
    labels_theirs = matching.relabel_theirs(theirs.predict(view.X))
    ari = compare.agreement(result.labels, labels_theirs)
    summary = compare.summary_table(
        view.X,
        ours,
        theirs,
        seconds_ours=result.seconds_per_iteration,
        seconds_theirs=seconds_theirs,
        true_labels=view.true_labels,
    )
    means_o, covs_o = view.display.gaussians(mine)
    theirs_params = compare.params_of(theirs)
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
    )
    return Comparison(
        mode,
        ari,
        compare.component_table(mine, theirs_params, matching),
        summary,
        scatter,
        drift_fig,
        tuple(sentences),
    )


def half_step_animation(result: FitResult) -> go.Figure:
    """The run's animation with E-steps and M-steps as separate frames."""
    view = result.view
    frames = half_step_frames(result.model.history_, view.X[result.drawn], view.display)
    return figures.em_animation_figure(
        view.points[result.drawn],
        frames,
        axis_titles=view.axis_titles,
        title=f"EM, K = {result.settings.n_components}",
    )


def mixture_density_grid(
    result: FitResult, size: int = 120
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The fitted mixture's density on a grid over the display, or None (non-linear display).

    With a linear display the density drawn is the exact marginal of the fitted mixture on
    the plane: a linear image of a Gaussian mixture is the mixture of the projected Gaussians.
    """
    means, covs = result.view.display.gaussians(result.model.history_[-1].params)
    if means is None:
        return None
    pts = result.view.points
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    pad = 0.05 * np.maximum(hi - lo, 1e-12)
    gx = np.linspace(lo[0] - pad[0], hi[0] + pad[0], size)
    gy = np.linspace(lo[1] - pad[1], hi[1] + pad[1], size)
    grid = np.stack(np.meshgrid(gx, gy), axis=-1).reshape(-1, 2)
    density = np.zeros(len(grid))
    for w, m, c in zip(result.model.weights_, means, covs, strict=True):
        diff = grid - m
        inv = np.linalg.inv(c)
        maha = np.einsum("ij,jk,ik->i", diff, inv, diff)
        density += w * np.exp(-0.5 * maha) / (2 * np.pi * np.sqrt(np.linalg.det(c)))
    return gx, gy, density.reshape(size, size)


def uncertainty_view(result: FitResult, table: pd.DataFrame, n_rows: int = 10):
    """The uncertainty figure and the most uncertain rows of the loaded table.

    Returns
    -------
    figure : plotly.graph_objects.Figure
    rows : pandas.DataFrame
        The ``n_rows`` rows with the highest ``1 - max responsibility``, with that value and
        the two most likely components.
    """
    view, model = result.view, result.model
    resp = model.predict_proba(view.X)
    uncertainty = 1.0 - resp.max(axis=1)
    drawn = result.drawn
    means, covs = view.display.gaussians(model.history_[-1].params)
    fig = figures.uncertainty_figure(
        view.points[drawn],
        result.labels[drawn],
        uncertainty[drawn],
        density=mixture_density_grid(result),
        means=means,
        covariances=covs,
        axis_titles=view.axis_titles,
    )
    worst = np.argsort(-uncertainty)[:n_rows]
    top2 = np.argsort(-resp[worst], axis=1)[:, :2]
    rows = table.iloc[view.row_index[worst]].copy()
    rows.insert(0, "uncertainty", uncertainty[worst])
    rows.insert(1, "components", [f"{a} or {b}" for a, b in top2])
    return fig, rows


def m_step_equations(result: FitResult, component: int, iteration: int) -> list[str]:
    """The M-step's formulas (LaTeX) with the numbers of one component at one iteration.

    ``iteration`` j >= 1 shows the update that produced snapshot j from the responsibilities
    computed under snapshot j - 1.
    """
    history, n = result.model.history_, result.model.history_.n_samples
    snap = history[iteration]
    weight = float(snap.weights[component])
    n_k = weight * n
    mean = ", ".join(f"{v:.4g}" for v in snap.means[component])
    k, j = component, iteration
    return [
        rf"N_{k} = \sum_{{i=1}}^{{n}} r_{{i{k}}}^{{({j - 1})}} = {n_k:.4f}",
        rf"\pi_{k}^{{({j})}} = \frac{{N_{k}}}{{n}} = \frac{{{n_k:.4f}}}{{{n}}} = {weight:.4f}",
        rf"\mu_{k}^{{({j})}} = \frac{{1}}{{N_{k}}} \sum_i r_{{i{k}}}^{{({j - 1})}} x_i"
        rf" = ({mean})",
        rf"\Sigma_{k}^{{({j})}} = \frac{{1}}{{N_{k}}} \sum_i r_{{i{k}}}^{{({j - 1})}}"
        rf" (x_i - \mu_{k}^{{({j})}})(x_i - \mu_{k}^{{({j})}})^\top + \varepsilon I",
    ]


def stopping_table(result: FitResult) -> pd.DataFrame:
    """The three stopping rules side by side for this run."""
    return pd.DataFrame(
        {
            "rule": [r.name for r in result.stopping],
            "would stop at iteration": [
                "not within this run" if r.iteration is None else str(r.iteration)
                for r in result.stopping
            ],
            "what it measures": [r.description for r in result.stopping],
        }
    )


def restart_explorer(model: GaussianMixtureEM) -> tuple[go.Figure, pd.DataFrame]:
    """Every restart's trace coloured by the distinct optimum it reached, and those optima.

    Returns
    -------
    figure : plotly.graph_objects.Figure
    optima : pandas.DataFrame
        One row per distinct optimum, best first: final mean log-likelihood, how many
        restarts found it, which ones, whether they all converged.
    """
    optima = selection.distinct_optima(model)
    optimum_of_run = np.zeros(len(model.history_.runs), dtype=int)
    for i, optimum in enumerate(optima):
        optimum_of_run[list(optimum.runs)] = i
    traces = [np.array([s.log_likelihood for s in run]) for run in model.history_.runs]
    figure = figures.restarts_figure(traces, model.history_.best_run, optimum_of_run)
    table = pd.DataFrame(
        {
            "optimum": range(len(optima)),
            "mean log-likelihood": [o.log_likelihood for o in optima],
            "restarts that found it": [o.count for o in optima],
            "which restarts": [", ".join(map(str, o.runs)) for o in optima],
            "converged": [o.converged for o in optima],
        }
    )
    return figure, table
