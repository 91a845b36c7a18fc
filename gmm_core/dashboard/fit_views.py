"""Views of a finished fit and of the prepared data: tables, formulas and extra figures.

Nothing here knows about Streamlit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from gmm_core import selection
from gmm_core.model import GaussianMixtureEM

from . import figures
from .animation import half_step_frames, stratified_sample
from .data import PreparedData
from .fitting import FitResult
from .projection import Projection


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
