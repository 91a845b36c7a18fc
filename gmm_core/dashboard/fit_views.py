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
from gmm_core.params import covariance_model

from . import figures
from .animation import half_step_frames, stratified_sample
from .data import PreparedData
from .fitting import FitResult
from .model_selection import model_words
from .projection import Projection


def preview_figure(prepared: PreparedData, projection: Projection) -> go.Figure:
    """The 2-D view of the prepared data, coloured by the label column when there is one."""
    if prepared.labels is None:
        codes, names = np.zeros(len(prepared.X), dtype=int), None
    else:
        names, codes = np.unique(prepared.labels.astype(str), return_inverse=True)
    drawn = stratified_sample(codes, max_points=5000)
    title = "The data" + ("" if names is None else f", coloured by {len(names)} known classes")
    fig = figures.clusters_figure(
        projection.embedding[drawn],
        codes[drawn],
        axis_titles=projection.axis_titles,
        title=title,
    )
    # These are the data's own classes (or just rows), not fitted components: say so.
    for trace in fig.data:
        if trace.name and trace.name.startswith("component "):
            code = int(trace.name.split()[-1])
            trace.name = "rows" if names is None else str(names[code])
    if names is None:
        fig.update_layout(showlegend=False)
    return fig


#: Significant digits of the numbers in the parameter tables and the M-step panel.
DIGITS = 4

#: Up to this many features the M-step panel writes covariance matrices out in full; beyond,
#: only their diagonal (a 13 x 13 matrix of four-digit numbers is not read, only scrolled).
MAX_MATRIX_FEATURES = 6


def _significant(values: np.ndarray, digits: int = DIGITS) -> np.ndarray:
    """Each number rounded to ``digits`` significant digits (0 stays 0)."""
    values = np.asarray(values, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        magnitude = np.floor(np.log10(np.abs(values)))
    magnitude = np.where(np.isfinite(magnitude), magnitude, 0.0)
    scale = 10.0 ** (digits - 1 - magnitude)
    return np.round(values * scale) / scale + 0.0  # + 0.0 turns -0.0 into 0.0


def parameter_table(model: GaussianMixtureEM, columns: Sequence[str]) -> pd.DataFrame:
    """The fitted parameters, one row per component, as numbers a person can read.

    Weights, means and variances are rounded to :data:`DIGITS` significant digits. The
    variances are what the covariance type has: one per column for 'full' (the diagonal of
    each matrix) and 'diag', one per component for 'spherical', none for 'tied' (its one
    shared matrix is :func:`covariance_tables`' business, as are the full matrices).

    Parameters
    ----------
    model : GaussianMixtureEM
        A fitted model (its last snapshot is shown).
    columns : sequence of str
        The d feature names.

    Returns
    -------
    pandas.DataFrame
        K rows: "component", "weight", "mean <column>" for each column, then "variance
        <column>" for each column ('full', 'diag' layouts) or "variance (every column)"
        ('spherical').
    """
    params = model.history_[-1].params
    columns = list(columns)
    table = pd.DataFrame({"component": np.arange(params.n_components)})
    table["weight"] = _significant(params.weights)
    means = _significant(params.means)
    for j, c in enumerate(columns):
        table[f"mean {c}"] = means[:, j]
    kind = covariance_model(params.covariance_type).layout
    if kind in ("full", "diag"):
        variances = _significant(np.diagonal(params.full_covariances(), axis1=1, axis2=2))
        for j, c in enumerate(columns):
            table[f"variance {c}"] = variances[:, j]
    elif kind == "spherical":
        table["variance (every column)"] = _significant(params.covariances)
    return table


def covariance_tables(
    model: GaussianMixtureEM, columns: Sequence[str]
) -> list[tuple[str, pd.DataFrame]]:
    """The fitted covariances as small labelled tables, in the shape of the covariance type.

    Parameters
    ----------
    model : GaussianMixtureEM
        A fitted model (its last snapshot is shown).
    columns : sequence of str
        The d feature names.

    Returns
    -------
    list of (title, DataFrame)
        By the model's layout. 'full': K tables of shape (d, d), rows and columns named by
        the features, one per component. 'tied': one (d, d) table, shared by every
        component. 'diag': one (K, d) table of variances, a row per component. 'spherical':
        one (K, 1) table, the single variance of each component. Numbers have
        :data:`DIGITS` significant digits each, so a small variance next to a large one keeps
        its digits (unscaled columns differ a lot). For mclust's models beyond scikit-learn's
        four the titles say the model's constraint (e.g. "VEV: ellipsoidal, variable volume,
        equal shape, variable orientation").
    """
    params = model.history_[-1].params
    columns = list(columns)
    cov_model = covariance_model(params.covariance_type)
    kind, k_count = cov_model.layout, params.n_components
    # The ten models scikit-learn lacks are constrained within their layout: say how.
    constraint = ""
    if not cov_model.closed_form:
        constraint = f" · {cov_model.mclust}: {model_words(cov_model.mclust)}"
    components = [f"component {k}" for k in range(k_count)]
    cov = params.covariances
    if kind == "full":
        return [
            (
                f"component {k} (weight {params.weights[k]:.3g}){constraint}",
                pd.DataFrame(_significant(cov[k]), index=columns, columns=columns),
            )
            for k in range(k_count)
        ]
    if kind == "tied":
        title = f"one covariance shared by all {k_count} components{constraint}"
        return [(title, pd.DataFrame(_significant(cov), index=columns, columns=columns))]
    if kind == "diag":
        title = f"variances per column (no covariances between columns){constraint}"
        return [(title, pd.DataFrame(_significant(cov), index=components, columns=columns))]
    title = f"one variance per component, the same in every column{constraint}"
    return [(title, pd.DataFrame({"variance": _significant(cov)}, index=components))]


def half_step_animation(result: FitResult) -> go.Figure:
    """The run's animation with E-steps and M-steps as separate frames."""
    view = result.view
    frames = half_step_frames(result.model.history_, view.X[result.drawn], view.display)
    return figures.em_animation_figure(
        view.points[result.drawn],
        frames,
        axis_titles=view.axis_titles,
        title=f"EM, K = {result.settings.n_components}",
        # A weighted point is drawn by its weight here too, as in the main animation.
        point_weights=None if view.sample_weight is None else view.sample_weight[result.drawn],
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


def _tex_number(value: float, digits: int = DIGITS) -> str:
    """A number for LaTeX: 4 significant digits, powers of ten written out (2.5e-06 is
    ``2.5 \\times 10^{-6}``)."""
    text = f"{float(value):.{digits}g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        power = f"10^{{{int(exponent)}}}"
        return power if mantissa == "1" else rf"{mantissa} \times {power}"
    return text


def _tex_vector(values: np.ndarray, limit: int = 8) -> str:
    shown = [_tex_number(v) for v in values[:limit]]
    return ", ".join(shown + ([r"\ldots"] if len(values) > limit else []))


def _tex_matrix(matrix: np.ndarray) -> str:
    rows = [" & ".join(_tex_number(v) for v in row) for row in matrix]
    return r"\begin{bmatrix} " + r" \\ ".join(rows) + r" \end{bmatrix}"


#: mclust's models whose M-step iterates (no closed form; see gmm_core.mclust_models).
_ITERATIVE_M_STEP = frozenset({"VEI", "VEE", "EVE", "VVE", "VEV"})


def _decomposition(letters: str, k: int) -> str:
    """Celeux and Govaert's Σ_k = λ_k D_k A_k D_kᵀ for mclust's three letters (LaTeX)."""
    volume, shape, orientation = letters
    lam = rf"\lambda_{k}" if volume == "V" else r"\lambda"
    if shape == "I":
        return rf"{lam} I"
    a = rf"A_{k}" if shape == "V" else "A"
    if orientation == "I":
        return rf"{lam} {a}"
    dk = rf"D_{k}" if orientation == "V" else "D"
    return rf"{lam} {dk} {a} {dk}^\top"


def _mclust_m_step(letters: str, k: int, j: int, p: int, weighted: bool = False) -> list[str]:
    """The covariance update of one of mclust's ten models, said rather than solved."""
    how = "iteratively (no closed form)" if letters in _ITERATIVE_M_STEP else "in closed form"
    r_any, mu_any = rf"r_{{il}}^{{({p})}}", rf"\mu_l^{{({j})}}"
    r_any = rf"w_i\, {r_any}" if weighted else r_any
    return [
        rf"\Sigma_{k}^{{({j})}} = {_decomposition(letters, k)}"
        rf"\quad \text{{({letters}: {model_words(letters)})}}",
        rf"\text{{mclust's M-step for {letters}: maximises }} -\tfrac12 \sum_{{l=1}}^{{K}}"
        r" \left[ N_l \log \lvert \Sigma_l \rvert + \operatorname{tr}"
        r"(W_l \Sigma_l^{-1}) \right]"
        rf"\text{{ under that constraint, {how}}}",
        rf"W_l = \sum_i {r_any}\, (x_i - {mu_any})(x_i - {mu_any})^\top + N_l\, \varepsilon I",
    ]


def _covariance_numbers(
    layout: str, covariances: np.ndarray, component: int, j: int, d: int
) -> list[str]:
    """The fitted covariance of one component as its layout stores it (LaTeX)."""
    k = component
    sigma = rf"\Sigma_{k}^{{({j})}}"
    if layout in ("full", "tied"):
        cov = covariances[component] if layout == "full" else covariances
        if d <= MAX_MATRIX_FEATURES:
            return [rf"{sigma} = {_tex_matrix(cov)}"]
        return [
            rf"\operatorname{{diag}}({sigma}) = ({_tex_vector(np.diagonal(cov))})"
            rf"\quad \text{{({d} x {d} matrix: see the covariance tables)}}"
        ]
    if layout == "diag":
        return [rf"{sigma} = \operatorname{{diag}}({_tex_vector(covariances[component])})"]
    return [rf"{sigma} = {_tex_number(covariances[component])}\, I"]


def m_step_equations(result: FitResult, component: int, iteration: int) -> list[str]:
    """The M-step's formulas (LaTeX) with the numbers of one component at one iteration.

    ``iteration`` j >= 1 shows the update that produced snapshot j from the responsibilities
    computed under snapshot j - 1. The covariance formula is the one of the fit's covariance
    type, as :func:`gmm_core.em.m_step` computes it (``reg_covar`` = ε added to every
    variance), followed by its numbers in the model's layout: the matrix for 'full' and
    'tied' (only its diagonal beyond :data:`MAX_MATRIX_FEATURES` features), the variances for
    'diag', the one variance for 'spherical'. For mclust's ten models that scikit-learn
    lacks, the covariance update is said rather than written in closed form: the model's
    decomposition, and that mclust's M-step maximises the expected complete-data
    log-likelihood under its constraint (:mod:`gmm_core.mclust_models`).

    Parameters
    ----------
    result : FitResult
    component : int
        k in 0 .. K-1 (for 'tied' the shared covariance is the same for every k).
    iteration : int
        j in 1 .. n_iter_.

    Returns
    -------
    list of str
        LaTeX lines: N_k, the weight, the mean, the covariance update with its numbers, and
        the value of ε.
    """
    history = result.model.history_
    # A weighted fit's n is its total weight (N_k and the weights count observations).
    n, weighted = history.weight_sum, result.view.sample_weight is not None
    snap = history[iteration]
    params = snap.params
    cov_model = covariance_model(params.covariance_type)
    kind, d = cov_model.layout, params.n_features
    weight = float(snap.weights[component])
    n_k = weight * n
    k, j, p = component, iteration, iteration - 1
    r = rf"r_{{i{k}}}^{{({p})}}"
    mu = rf"\mu_{k}^{{({j})}}"
    # With weights every sum over rows carries w_i (a row stands for w_i observations).
    wr = rf"w_i\, {r}" if weighted else r
    n_text = f"{n:g}"
    lines = [
        rf"N_{k} = \sum_{{i=1}}^{{{len(result.view.X)}}} {wr} = {n_k:.4f}"
        if weighted
        else rf"N_{k} = \sum_{{i=1}}^{{n}} {r} = {n_k:.4f}",
        rf"\pi_{k}^{{({j})}} = \frac{{N_{k}}}{{n}} = \frac{{{n_k:.4f}}}{{{n_text}}} = {weight:.4f}",
        rf"{mu} = \frac{{1}}{{N_{k}}} \sum_i {wr}\, x_i = ({_tex_vector(snap.means[component])})",
    ]
    if weighted:
        lines.insert(
            1,
            rf"n = \sum_i w_i = {n_text}"
            rf"\quad \text{{(observations: each row counts by its weight in "
            rf"{_tex_text(result.view.weight_column or 'the weight column')})}}",
        )
    r = wr  # the covariance sums below are weighted the same way
    outer = rf"(x_i - {mu})(x_i - {mu})^\top"
    if not cov_model.closed_form:
        lines += _mclust_m_step(cov_model.mclust, k, j, p, weighted)
        lines += _covariance_numbers(kind, params.covariances, component, j, d)
        lines.append(_regularisation_line(result))
        return lines
    if kind == "full":
        cov = params.covariances[component]
        formula = (
            rf"\Sigma_{k}^{{({j})}} = \frac{{1}}{{N_{k}}} \sum_i {r}\, {outer} + \varepsilon I"
        )
    elif kind == "tied":
        cov = params.covariances
        r_any, mu_any = rf"r_{{il}}^{{({p})}}", rf"\mu_l^{{({j})}}"
        r_any = rf"w_i\, {r_any}" if weighted else r_any
        formula = (
            rf"\Sigma^{{({j})}} = \frac{{1}}{{n}} \sum_{{l=1}}^{{K}} \sum_i {r_any}\, "
            rf"(x_i - {mu_any})(x_i - {mu_any})^\top + \varepsilon I"
            r"\quad \text{(one matrix shared by every component)}"
        )
    if kind in ("full", "tied"):
        sigma = rf"\Sigma_{k}^{{({j})}}" if kind == "full" else rf"\Sigma^{{({j})}}"
        if d <= MAX_MATRIX_FEATURES:
            numbers = rf"{sigma} = {_tex_matrix(cov)}"
        else:
            numbers = (
                rf"\operatorname{{diag}}({sigma}) = ({_tex_vector(np.diagonal(cov))})"
                rf"\quad \text{{({d} x {d} matrix: see the covariance tables)}}"
            )
        lines += [formula, numbers]
    elif kind == "diag":
        lines += [
            rf"\sigma_{{{k}m}}^{{2\,({j})}} = \frac{{1}}{{N_{k}}} \sum_i {r}\, "
            rf"(x_{{im}} - \mu_{{{k}m}}^{{({j})}})^2 + \varepsilon, \quad m = 1, \ldots, {d}",
            rf"\Sigma_{k}^{{({j})}} = \operatorname{{diag}}"
            rf"({_tex_vector(params.covariances[component])})",
        ]
    else:
        lines += [
            rf"\sigma_{k}^{{2\,({j})}} = \frac{{1}}{{{d}\, N_{k}}} \sum_i {r}\, "
            rf"\lVert x_i - {mu} \rVert^2 + \varepsilon"
            rf" = {_tex_number(params.covariances[component])}",
            rf"\Sigma_{k}^{{({j})}} = \sigma_{k}^{{2\,({j})}} I"
            rf" \quad \text{{(the same variance in all {d} columns)}}",
        ]
    lines.append(_regularisation_line(result))
    return lines


def _tex_text(text: str) -> str:
    """``text`` safe inside LaTeX's \\text{} (a column name may hold _ or &)."""
    for char in "\\{}":
        text = text.replace(char, "")
    for char in "_&%$#":
        text = text.replace(char, "\\" + char)
    return text


def _regularisation_line(result: FitResult) -> str:
    """ε's value, or, with mclust's conjugate prior, that the covariance is its posterior mode."""
    if result.settings.prior is not None:
        return (
            r"\varepsilon = 0:\ \text{with mclust's conjugate prior the M-step is its posterior "
            r"mode (means shrunk towards the data's, covariances towards its scale), not the "
            r"formula above}"
        )
    reg = result.settings.reg_covar
    return rf"\varepsilon = \texttt{{reg\_covar}} = {_tex_number(reg)}"


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
