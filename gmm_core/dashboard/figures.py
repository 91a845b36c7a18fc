"""Plotly figures of the app, as pure functions of plain arrays.

Nothing here runs EM or imports streamlit: the pages (or whatever turns a ``FitHistory`` into
:class:`AnimationFrame` objects) pass arrays in and get a ``plotly.graph_objects.Figure`` back.

Conventions shared by every figure
----------------------------------
* Component ``k`` is drawn in ``component_color(k)`` on every page, so a student can follow
  "the orange cluster" from the animation to the comparison page.
* Nothing non-finite reaches a figure: plotly serialises NaN as the bare token ``NaN``, which is
  not JSON, and a single one can stop a chart from rendering in the browser. Non-finite values
  become ``None`` (a gap) or are dropped, as each function documents.
* Usable on a phone (a chart ~360 px wide) as on a desktop: a short title, left-aligned below
  the modebar's row (whose rarely used buttons are removed) so neither covers the other; a
  horizontal legend at the bottom, below the x-axis title, whose extra rows on a narrow
  screen push the margin instead of squeezing the plot sideways.
* Axes do not exaggerate: a log-likelihood chart never zooms rounding into a climb, exact
  zeros on a log axis say so, and a model-selection chart keeps to the competitive models.

The EM animation (:func:`em_animation_figure`) follows the project's Plotly animation rules:
SVG ``go.Scatter`` only (``Scattergl`` does not animate, plotly.py#4564), frames that update only
what changes (never the point coordinates), ellipses with a fixed vertex count and fixed axis
ranges so the view does not jump. Its ellipses lie above the points on white halos, and frames
never trigger a full redraw (see its docstring for why that keeps the readout in step).
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

__all__ = [
    "MACHINE_EPSILON",
    "PALETTE",
    "AnimationFrame",
    "ClusterView",
    "clusters_figure",
    "component_color",
    "drift_figure",
    "ellipse_path",
    "em_animation_figure",
    "figure_html",
    "log_likelihood_figure",
    "side_by_side_figure",
    "weights_figure",
]

# Okabe-Ito first (designed to stay distinguishable under the common colour-vision
# deficiencies), then Paul Tol's "muted" set and a few Tableau/D3 colours, chosen to be far from
# the first eight. Components beyond len(PALETTE) wrap around.
PALETTE: tuple[str, ...] = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow
    "#000000",  # black
    "#332288",  # indigo
    "#882255",  # wine
    "#117733",  # dark green
    "#999933",  # olive
    "#AA4499",  # purple
    "#44AA99",  # teal
    "#CC6677",  # rose
    "#DDCC77",  # sand
    "#8C564B",  # brown
    "#7F7F7F",  # grey
    "#17BECF",  # cyan
    "#FF9DA7",  # pink
)

MACHINE_EPSILON: float = float(np.finfo(np.float64).eps)

# Exact zeros are drawn at this floor on the drift figure's log axis, whose tick there reads
# "exactly 0"; a decade below machine epsilon, so "identical to the last bit" is below the line.
_LOG_FLOOR = 1e-17

# Points whose most likely component has responsibility 0 still show at this fraction of the
# opacity of a certain point.
_MIN_OPACITY = 0.15
# The animation's point opacity is quantised to this many levels of confidence, so that colour
# and opacity travel as one small integer per point and frame (see _point_colorscale).
_CONFIDENCE_LEVELS = 6
# Up to this many points are drawn full size and opaque; more get smaller and lighter.
_CROWDED_POINTS = 500
# Ellipse outlines (1 and 2 sigma) and the white halos under them.
_OUTLINE_WIDTH = (2.5, 1.5)
_HALO_WIDTH = (6.0, 4.5)
_HALO_COLOR = "rgba(255,255,255,0.85)"

# The app shows mean log-likelihoods with 4 decimals; changes below half a unit of the last
# one are "no further change", and the log-likelihood chart never spans less than 20 units.
_LL_DECIMALS = 4
_LL_RESOLUTION = 10.0**-_LL_DECIMALS
_LL_MIN_SPAN = 20 * _LL_RESOLUTION

# Half a display refresh at 60 Hz, taken off the animation's frame duration (_played_duration).
_HALF_REFRESH_MS = 8

_TEMPLATE = "plotly_white"
# Layout in pixels, chosen for a phone (a Streamlit chart about 360 px wide) and kept on a
# desktop: the modebar's row at the top, the title below it (never under its buttons), the
# x-axis title below the plot, then a horizontal legend.
_MODEBAR_BAND = 28
_TITLE_BAND = _MODEBAR_BAND + 30
_BUTTONS_BAND = 34
_SLIDER_BAND = 62
_AXIS_TITLE_BAND = 48
_LEGEND_ROW = 21
_MARGIN = {"l": 10, "r": 10, "t": _TITLE_BAND, "b": 10}
# Buttons a phone's modebar has no room for, and that these figures do not need.
_MODEBAR_REMOVE = [
    "select2d",
    "lasso2d",
    "zoomIn2d",
    "zoomOut2d",
    "autoScale2d",
    "toggleSpikelines",
    "hoverClosestCartesian",
    "hoverCompareCartesian",
]
_LEGEND_BELOW = {
    "orientation": "h",
    "x": 0,
    "xanchor": "left",
    "y": 0,
    "yref": "container",
    "yanchor": "bottom",
    "itemsizing": "constant",
    "title": {"text": ""},
}
# Static scatters switch to WebGL above this many points; the animation never does.
_WEBGL_THRESHOLD = 5000


def component_color(k: int) -> str:
    """Colour of mixture component ``k`` (the same on every page).

    Parameters
    ----------
    k : int
        Component index, ``k >= 0``. Indices past ``len(PALETTE)`` wrap around.

    Returns
    -------
    str
        A hex colour ``"#RRGGBB"``.
    """
    k = int(k)
    if k < 0:
        raise ValueError(f"component index must be >= 0, got {k}")
    return PALETTE[k % len(PALETTE)]


def ellipse_path(
    mean: np.ndarray, cov: np.ndarray, n_sigma: float, n_vertices: int = 60
) -> tuple[np.ndarray, np.ndarray]:
    """Closed outline of the ``n_sigma`` Mahalanobis contour of a 2-D Gaussian.

    Every vertex ``p`` satisfies ``(p - mean)^T cov^{-1} (p - mean) == n_sigma**2``.

    Parameters
    ----------
    mean : ndarray of shape (2,)
        Centre of the ellipse.
    cov : ndarray of shape (2, 2)
        Covariance matrix. It is symmetrised and its eigenvalues are clipped at 0, so a
        near-singular (or slightly indefinite, from round-off) matrix gives a flat ellipse
        instead of NaN.
    n_sigma : float
        Mahalanobis radius, ``>= 0``.
    n_vertices : int, default 60
        Number of distinct vertices, ``>= 3``.

    Returns
    -------
    x, y : ndarray of shape (n_vertices + 1,)
        Vertex coordinates; the last vertex repeats the first so a line trace closes. The
        length depends only on ``n_vertices``, which animation frames rely on.

    Raises
    ------
    ValueError
        On wrong shapes, non-finite input, ``n_sigma < 0`` or ``n_vertices < 3``.
    """
    mean = np.asarray(mean, dtype=float)
    cov = np.asarray(cov, dtype=float)
    if mean.shape != (2,) or cov.shape != (2, 2):
        raise ValueError(f"need mean (2,) and cov (2, 2), got {mean.shape} and {cov.shape}")
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(cov))):
        raise ValueError("mean and cov must be finite")
    if not (math.isfinite(n_sigma) and n_sigma >= 0):
        raise ValueError(f"n_sigma must be finite and >= 0, got {n_sigma}")
    if n_vertices < 3:
        raise ValueError(f"n_vertices must be >= 3, got {n_vertices}")

    # eigh (not cholesky) so a rank-deficient covariance still has an outline.
    eigenvalues, eigenvectors = np.linalg.eigh(0.5 * (cov + cov.T))
    radii = n_sigma * np.sqrt(np.clip(eigenvalues, 0.0, None))
    angles = np.linspace(0.0, 2.0 * np.pi, n_vertices, endpoint=False)
    circle = np.stack([np.cos(angles), np.sin(angles)])
    outline = mean[:, None] + eigenvectors @ (radii[:, None] * circle)
    outline = np.concatenate([outline, outline[:, :1]], axis=1)
    return outline[0], outline[1]


@dataclass(frozen=True, eq=False)
class AnimationFrame:
    """What one frame of the EM animation shows.

    Parameters
    ----------
    iteration : int
        EM iteration the frame belongs to.
    log_likelihood : float
        Log-likelihood (or lower bound) at that point; shown in the title.
    labels : ndarray of shape (m,)
        Most likely component (int, ``>= 0``) of each drawn point, in the order of the
        ``points`` passed to :func:`em_animation_figure`.
    confidence : ndarray of shape (m,)
        Responsibility of that component for each point, in [0, 1].
    means : ndarray of shape (K, 2) or None
        Component means in display coordinates; None when they cannot be drawn (e.g. UMAP).
    covariances : ndarray of shape (K, 2, 2) or None
        Full covariances in display coordinates; None when they cannot be drawn.
    weights : ndarray of shape (K,)
        Mixing proportions.
    phase : str, default ""
        ``""``, ``"E-step"`` or ``"M-step"`` (half-step mode); shown when non-empty.
    """

    iteration: int
    log_likelihood: float
    labels: np.ndarray
    confidence: np.ndarray
    means: np.ndarray | None
    covariances: np.ndarray | None
    weights: np.ndarray
    phase: str = ""


@dataclass(frozen=True, eq=False)
class ClusterView:
    """One panel of :func:`side_by_side_figure`.

    Parameters
    ----------
    title : str
        Panel title.
    labels : ndarray of shape (m,)
        Component of each point (int, ``>= 0``); already remapped by the caller so that
        matched components share an index, hence a colour.
    means : ndarray of shape (K, 2) or None
        Component means, or None to draw no ellipses.
    covariances : ndarray of shape (K, 2, 2) or None
        Component covariances, or None to draw no ellipses.
    """

    title: str
    labels: np.ndarray
    means: np.ndarray | None = None
    covariances: np.ndarray | None = None


# --------------------------------------------------------------------------------------------
# helpers


def _points_2d(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``points`` (m, 2); return the finite rows and the boolean mask that kept them."""
    points = np.asarray(points, dtype=float)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"points must have shape (m, 2), got {points.shape}")
    keep = np.all(np.isfinite(points), axis=1)
    return points[keep], keep


def _labels(labels: np.ndarray, m: int, what: str = "labels") -> np.ndarray:
    labels = np.asarray(labels)
    if labels.shape != (m,):
        raise ValueError(f"{what} must have shape ({m},), got {labels.shape}")
    # Float labels are accepted when they hold whole numbers (e.g. after a pandas round trip).
    integral = np.issubdtype(labels.dtype, np.integer) or (
        np.issubdtype(labels.dtype, np.floating)
        and bool(np.all(np.isfinite(labels)))
        and bool(np.all(labels == np.round(labels)))
    )
    if not integral:
        raise ValueError(f"{what} must be integers")
    labels = labels.astype(np.int64)
    if labels.size and labels.min() < 0:
        raise ValueError(f"{what} must be >= 0")
    return labels


def _none_where_nonfinite(values: np.ndarray) -> np.ndarray:
    """``values`` itself when all finite, else an object array with None in the gaps.

    Plotly draws None as a gap; NaN would be written as an invalid JSON token.
    """
    values = np.asarray(values, dtype=float)
    finite = np.isfinite(values)
    if finite.all():
        return values
    out = values.astype(object)
    out[~finite] = None
    return out


def _component_outlines(
    means: np.ndarray | None, covariances: np.ndarray | None, n_sigma: float, n_vertices: int
) -> list[tuple[np.ndarray, np.ndarray] | None]:
    """One outline per component, or None where that component's parameters are not finite."""
    if means is None or covariances is None:
        return []
    means = np.asarray(means, dtype=float)
    covariances = np.asarray(covariances, dtype=float)
    k = means.shape[0]
    if means.shape != (k, 2) or covariances.shape != (k, 2, 2):
        raise ValueError(
            f"need means (K, 2) and covariances (K, 2, 2), got {means.shape} "
            f"and {covariances.shape}"
        )
    outlines: list[tuple[np.ndarray, np.ndarray] | None] = []
    for mean, cov in zip(means, covariances, strict=True):
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(cov))):
            outlines.append(None)
            continue
        x, y = ellipse_path(mean, cov, n_sigma, n_vertices)
        # A finite but absurd covariance can still overflow to inf in the outline.
        outlines.append((x, y) if np.all(np.isfinite(x)) and np.all(np.isfinite(y)) else None)
    return outlines


def _padded_range(values: np.ndarray, margin: float = 0.05) -> list[float]:
    """[lo, hi] of the finite ``values`` widened by ``margin`` of the span on each side."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return [-1.0, 1.0]
    lo, hi = float(values.min()), float(values.max())
    span = hi - lo
    if span <= 0:
        # One distinct value: give it a visible neighbourhood on its own scale.
        span = max(abs(lo), 1.0)
    return [lo - margin * span, hi + margin * span]


def _equal_aspect(x_range: Sequence[float], y_range: Sequence[float]) -> bool:
    """Whether to lock 1:1 aspect: only when the spans are within 10x, or one axis squashes."""
    x_span, y_span = x_range[1] - x_range[0], y_range[1] - y_range[0]
    return max(x_span, y_span) <= 10.0 * min(x_span, y_span)


def _base_layout(height: int | None, title: str = "", hovermode: str = "closest") -> dict:
    layout: dict = {
        "template": _TEMPLATE,
        "hovermode": hovermode,
        "margin": dict(_MARGIN),
        # Left-aligned with the plot and below the modebar's row, so the modebar never covers
        # it; every title here fits a phone's width.
        "title": {
            "text": title,
            "x": 0,
            "xref": "paper",
            "xanchor": "left",
            "y": 1,
            "yref": "container",
            "yanchor": "top",
            "pad": {"t": _MODEBAR_BAND},
            "font": {"size": 15},
        },
        "modebar": {"remove": list(_MODEBAR_REMOVE)},
        "legend": dict(_LEGEND_BELOW),
    }
    if height is not None:
        layout["height"] = height
    return layout


def _legend_margin(shows_legend: bool) -> int:
    """Bottom margin for the x-axis title and one row of a horizontal legend below it.

    plotly.js pushes the margin further when the legend wraps onto more rows (on a phone), so
    a desktop does not pay for a phone's rows.
    """
    return _AXIS_TITLE_BAND + (_LEGEND_ROW + 8 if shows_legend else 0)


def _legend_below(fig: go.Figure) -> go.Figure:
    """Size the bottom margin for ``fig``'s legend, if it shows one (see _LEGEND_BELOW)."""
    named = [tr for tr in fig.data if tr.showlegend is not False and tr.name]
    shows = fig.layout.showlegend is not False and (
        len(fig.data) > 1 or fig.layout.showlegend is True
    )
    fig.update_layout(margin={"b": _legend_margin(shows and bool(named))})
    return fig


def _discrete_colorscale(n_colors: int) -> list[list]:
    """A colorscale on which integer ``k`` in [0, n_colors) maps to ``component_color(k)``.

    Use with ``cmin = -0.5`` and ``cmax = n_colors - 0.5``: every integer then sits in the
    middle of its own constant band, so the colour of a label never depends on which labels
    happen to be present in a frame.
    """
    scale: list[list] = []
    for k in range(n_colors):
        color = component_color(k)
        scale.append([k / n_colors, color])
        scale.append([(k + 1) / n_colors, color])
    return scale


def _label_dtype(n_colors: int) -> type:
    # Small integer arrays are base64-encoded by plotly >= 6 at one byte per point.
    return np.uint8 if n_colors <= 256 else np.uint16


def _coordinate_dtype(x_range: Sequence[float], y_range: Sequence[float]) -> type:
    """float32 for per-frame outline coordinates unless that would visibly quantise them.

    float32 has ~7 significant digits; when the data sit far from 0 relative to their spread
    (e.g. raw coordinates around 1e6 spanning 1), float32 steps would show, so keep float64.
    """
    for lo, hi in (x_range, y_range):
        if max(abs(lo), abs(hi)) > 1e3 * (hi - lo):
            return np.float64
    return np.float32


def _mixture_traces(
    means: np.ndarray | None,
    covariances: np.ndarray | None,
    *,
    weights: np.ndarray | None = None,
    n_vertices: int = 60,
    xaxis: str = "x",
    yaxis: str = "y",
) -> list[go.Scatter]:
    """Static ellipses (1 and 2 sigma per component) and a means trace, for static scatters.

    The ellipses share their component's legendgroup but stay out of the legend: the point
    traces carry the legend entries, so one click hides a component's points and ellipses.
    """
    if means is None or covariances is None:
        return []
    means = np.asarray(means, dtype=float)
    one = _component_outlines(means, covariances, 1.0, n_vertices)
    two = _component_outlines(means, covariances, 2.0, n_vertices)
    traces: list[go.Scatter] = []
    for k, (o1, o2) in enumerate(zip(one, two, strict=True)):
        for sigma, outline in ((1, o1), (2, o2)):
            if outline is None:
                continue
            traces.append(
                go.Scatter(
                    x=outline[0],
                    y=outline[1],
                    mode="lines",
                    line={
                        "color": component_color(k),
                        "width": 2 if sigma == 1 else 1,
                        "dash": "solid" if sigma == 1 else "dash",
                    },
                    name=f"component {k}",
                    legendgroup=f"component {k}",
                    showlegend=False,
                    hoverinfo="skip",
                    xaxis=xaxis,
                    yaxis=yaxis,
                )
            )
    traces.append(_means_trace(means, weights, xaxis=xaxis, yaxis=yaxis))
    return traces


def _means_customdata(k: int, weights: np.ndarray | None) -> np.ndarray:
    ids = np.arange(k, dtype=float)
    if weights is None:
        return ids[:, None]
    w = np.asarray(weights, dtype=float)
    if w.shape != (k,):
        raise ValueError(f"weights must have shape ({k},), got {w.shape}")
    data = np.stack([ids, w], axis=1)
    if np.all(np.isfinite(data)):
        return data
    out = data.astype(object)
    out[~np.isfinite(data)] = None
    return out


def _means_trace(
    means: np.ndarray,
    weights: np.ndarray | None,
    *,
    show_legend: bool = False,
    xaxis: str = "x",
    yaxis: str = "y",
) -> go.Scatter:
    means = np.asarray(means, dtype=float)
    k = means.shape[0]
    hover = "component %{customdata[0]}"
    if weights is not None:
        hover += "<br>weight %{customdata[1]:.3f}"
    hover += "<br>mean (%{x:.4g}, %{y:.4g})<extra></extra>"
    return go.Scatter(
        x=_none_where_nonfinite(means[:, 0]),
        y=_none_where_nonfinite(means[:, 1]),
        mode="markers",
        marker={
            "symbol": "x",
            "size": 13,
            "color": [component_color(i) for i in range(k)],
            "line": {"color": "white", "width": 1},
        },
        customdata=_means_customdata(k, weights),
        hovertemplate=hover,
        name="means",
        showlegend=show_legend,
        xaxis=xaxis,
        yaxis=yaxis,
    )


def _point_traces(
    points: np.ndarray,
    labels: np.ndarray,
    axis_titles: tuple[str, str],
    *,
    show_legend: bool = True,
    xaxis: str = "x",
    yaxis: str = "y",
    weights: np.ndarray | None = None,
) -> list[go.Scatter]:
    """One point trace per label present, coloured ``component_color(label)``; with
    ``weights`` (n,), each point's area in proportion to its weight (shown in the hover)."""
    scatter = go.Scattergl if len(points) > _WEBGL_THRESHOLD else go.Scatter
    sizes = None if weights is None else _weighted_sizes(np.asarray(weights, dtype=float), 6)
    hover_weight = "" if weights is None else "<br>weight %{text}"
    traces = []
    for k in np.unique(labels):
        sel = labels == k
        traces.append(
            scatter(
                x=points[sel, 0],
                y=points[sel, 1],
                mode="markers",
                marker={
                    "color": component_color(int(k)),
                    "size": 6 if sizes is None else sizes[sel],
                    "opacity": 0.75,
                },
                text=None if weights is None else [f"{w:.4g}" for w in weights[sel]],
                name=f"component {k}",
                legendgroup=f"component {k}",
                showlegend=show_legend,
                hovertemplate=f"{axis_titles[0]}: %{{x:.4g}}<br>{axis_titles[1]}: %{{y:.4g}}"
                f"{hover_weight}<extra>component {k}</extra>",
                xaxis=xaxis,
                yaxis=yaxis,
            )
        )
    return traces


# --------------------------------------------------------------------------------------------
# the EM animation


def _frame_caption(frame: AnimationFrame) -> str:
    """What the slider shows for a frame, after its "iteration " prefix."""
    ll = float(frame.log_likelihood)
    ll_text = f"{ll:.4f}" if math.isfinite(ll) else "n/a"
    phase = f" · {frame.phase}" if frame.phase else ""
    return f"{frame.iteration}{phase} · mean log-likelihood {ll_text}"


def _point_style(n_points: int) -> tuple[float, float]:
    """Marker size (px) and the opacity of a certain point, for ``n_points`` drawn.

    A few hundred points are drawn large and opaque; thousands overlap into solid clouds of
    their component's colour that swallow its ellipse (issue 12), so they get smaller and
    lighter: at 3,000 points, 3.5 px at 0.41 opacity.
    """
    crowding = _CROWDED_POINTS / max(n_points, 1)
    size = float(np.clip(6.0 * crowding**0.3, 3.5, 6.0))
    ceiling = float(np.clip(crowding**0.5, 0.3, 1.0))
    return round(size, 2), round(ceiling, 2)


def _weighted_sizes(weights: np.ndarray, size: float) -> np.ndarray:
    """Marker diameters for weighted points: area proportional to weight / median weight.

    Between 0.5 and 4 times ``size``, so that neither a row of tiny weight vanishes nor one
    huge count covers the plot; rows of weight 0 get the smallest size.
    """
    positive = weights[weights > 0]
    median = float(np.median(positive)) if positive.size else 1.0
    scale = np.sqrt(np.clip(weights, 0.0, None) / median)
    return np.round(size * np.clip(scale, 0.5, 4.0), 2)


def _confidence_levels(confidence: np.ndarray) -> np.ndarray:
    """Confidence in [0, 1] -> an integer level in [0, _CONFIDENCE_LEVELS)."""
    confidence = np.nan_to_num(np.asarray(confidence, dtype=float), nan=0.0, posinf=1.0)
    levels = np.rint(np.clip(confidence, 0.0, 1.0) * (_CONFIDENCE_LEVELS - 1))
    return levels.astype(np.int64)


def _level_alpha(level: int, ceiling: float) -> float:
    share = level / (_CONFIDENCE_LEVELS - 1)
    return round(ceiling * (_MIN_OPACITY + (1 - _MIN_OPACITY) * share), 3)


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha:g})"


def _point_colorscale(n_colors: int, ceiling: float) -> list[list]:
    """A colorscale on which code ``k * L + level`` is component ``k``'s colour at that level.

    ``L`` is ``_CONFIDENCE_LEVELS``; use with ``cmin = -0.5`` and ``cmax = n_colors * L - 0.5``
    so that every code sits in the middle of its own constant band.
    """
    n_codes = n_colors * _CONFIDENCE_LEVELS
    scale: list[list] = []
    for code in range(n_codes):
        k, level = divmod(code, _CONFIDENCE_LEVELS)
        color = _rgba(component_color(k), _level_alpha(level, ceiling))
        scale.append([code / n_codes, color])
        scale.append([(code + 1) / n_codes, color])
    return scale


def _animation_layout(
    title: str,
    height: int,
    legend: Sequence[str],
    slider: dict,
    buttons: list[dict],
) -> dict:
    """Title, then Play/Pause, then the slider and its readout, above the plot; legend below.

    Laid out in pixels so that nothing overlaps from a 360 px phone to a desktop: the readout
    (iteration, phase, log-likelihood) sits right above the plot where a title would be, and
    the buttons stay at the top of the figure, visible without scrolling.
    """
    top = _TITLE_BAND + _BUTTONS_BAND + _SLIDER_BAND
    layout = _base_layout(height, title)
    layout["margin"] = {**_MARGIN, "t": top, "b": _legend_margin(bool(legend))}
    layout["legend"] = _LEGEND_BELOW
    slider.update(
        x=0,
        len=1,
        xanchor="left",
        y=1,
        yanchor="bottom",
        pad={"t": 0, "b": 6, "l": 4, "r": 4},
        # The step labels carry the whole readout, too long for ticks: only the current one
        # is shown, in the readout above the rail.
        font={"size": 1, "color": "rgba(0,0,0,0)"},
        ticklen=4,
        minorticklen=2,
        currentvalue={
            "prefix": "iteration ",
            "visible": True,
            "xanchor": "left",
            "offset": 6,
            "font": {"size": 13, "color": "#2a3f5f"},
        },
    )
    layout["sliders"] = [slider]
    layout["updatemenus"] = [
        {
            "type": "buttons",
            "direction": "left",
            "showactive": False,
            "x": 0,
            "xanchor": "left",
            "y": 1,
            "yanchor": "bottom",
            "pad": {"b": _SLIDER_BAND + 4, "l": 4},
            "buttons": buttons,
        }
    ]
    return layout


def _played_duration(frame_duration_ms: int) -> int:
    """The frame duration to ask plotly.js for, so that frames come every ``frame_duration_ms``.

    plotly.js starts the next frame at the first display refresh *after* the duration has
    passed: at 60 Hz, 300 ms is exactly 18 refreshes, so frames came every 19 (317 ms).
    Asking for half a refresh less starts it at the nearest refresh instead.
    """
    return max(0, int(frame_duration_ms) - _HALF_REFRESH_MS)


def em_animation_figure(
    points: np.ndarray,
    frames: Sequence[AnimationFrame],
    *,
    axis_titles: tuple[str, str] = ("x", "y"),
    title: str = "EM iterations",
    frame_duration_ms: int = 300,
    height: int = 640,
    point_weights: np.ndarray | None = None,
) -> go.Figure:
    """Animated scatter of EM: points coloured by component, ellipses and means per iteration.

    Base traces, in this order (frames address them by index; later traces are drawn on top,
    so the ellipses lie above the points and the means above everything):

    * ``0``: the points (``go.Scatter``, markers). ``marker.color`` is an integer code
      ``label * L + level`` (``L = 6`` confidence levels, ``level = round(5 * confidence)``)
      on a discrete colorscale of component colours whose alpha grows with the level and is
      capped lower the more points are drawn; ``customdata`` is the label, for the hover. The
      marker size shrinks with the number of points too.
    * ``1 + 2k + s`` for ``k`` in ``range(K)``, ``s`` in (0, 1): a white halo, wider than the
      outline, under the 1-sigma (``s = 0``) and 2-sigma (``s = 1``) ellipse of component
      ``k``, so the outline stands out even on a cloud of its own colour.
    * ``1 + 2K + 2k + s``: the 1-sigma (solid, in the legend) and 2-sigma (dashed) outline of
      component ``k``, same vertices as its halo.
    * ``1 + 4K``: all K means (markers, hover shows component and weight).

    When no frame has means and covariances (e.g. a UMAP display) only trace 0 exists.

    Frame ``i`` is named ``str(i)`` (iterations repeat in half-step mode) and updates only the
    points' ``marker.color`` and ``customdata`` (never x/y), the halos' and ellipses' x/y and
    the means' x/y/customdata. A component whose parameters are not finite in a frame has its
    ellipses hidden (x/y all None) and its mean left out of that frame.

    Frames carry no layout: what changes per frame in words (iteration, phase, mean
    log-likelihood) is each slider step's label, which the slider's readout shows above the
    plot, and the title is fixed. plotly.js draws a frame's traces and the slider's readout
    in the same pass, but a frame's layout (a per-frame title) only in the full redraw that
    ``redraw=True`` adds after it, which left the title a frame behind the slider during
    playback and stretched each frame by the redraw's time (about 100 to 300 ms at 3,000
    points). So Play and the slider steps use ``redraw=False``.

    Parameters
    ----------
    points : ndarray of shape (m, 2)
        Display coordinates of the drawn points (cap m at a few thousand: every frame carries
        m colours and labels). Rows with non-finite coordinates are dropped.
    frames : sequence of AnimationFrame
        At least one. Every frame's ``labels``/``confidence`` have shape (m,) and all frames
        share K.
    axis_titles : (str, str), default ("x", "y")
        Axis titles, also used in the hover text.
    title : str, default "EM iterations"
        The figure's title; keep it short (it must fit a phone's width).
    frame_duration_ms : int, default 300
        Time per frame when playing (Play asks plotly.js for 8 ms less: it rounds up to the
        next display refresh).
    height : int, default 640
        Figure height in pixels, controls and legend included.
    point_weights : ndarray of shape (m,), optional
        The rows' sample weights (counts of an aggregated table): a point's area is then
        proportional to its weight relative to the median positive weight (diameter
        ``size * sqrt(w / median)``, between 0.5 and 4 times the unweighted size), so a row
        that stands for many shows as a big dot; the hover gives the weight.

    Returns
    -------
    plotly.graph_objects.Figure
        Initially showing frame 0, with Play/Pause buttons and a slider (one step per frame)
        above the plot and a horizontal legend below it.
    """
    if len(frames) == 0:
        raise ValueError("need at least one frame")
    points, keep = _points_2d(points)
    m_all = keep.shape[0]

    n_components = int(np.asarray(frames[0].weights).shape[0])
    drawable = any(f.means is not None and f.covariances is not None for f in frames)

    labels_per_frame = []
    for f in frames:
        if np.asarray(f.weights).shape != (n_components,):
            raise ValueError(
                f"every frame needs weights of shape ({n_components},); iteration "
                f"{f.iteration} has {np.asarray(f.weights).shape}"
            )
        labels_per_frame.append(_labels(f.labels, m_all)[keep])
    max_label = max((int(lab.max()) for lab in labels_per_frame if lab.size), default=0)
    n_colors = max(n_components, max_label + 1, 1)
    label_dtype = _label_dtype(n_colors)
    code_dtype = _label_dtype(n_colors * _CONFIDENCE_LEVELS)

    codes_per_frame = []
    for f, labels in zip(frames, labels_per_frame, strict=True):
        confidence = np.asarray(f.confidence, dtype=float)
        if confidence.shape != (m_all,):
            raise ValueError(f"confidence must have shape ({m_all},), got {confidence.shape}")
        levels = _confidence_levels(confidence[keep])
        codes_per_frame.append((labels * _CONFIDENCE_LEVELS + levels).astype(code_dtype))

    n_vertices = 60
    outlines_1 = []
    outlines_2 = []
    for f in frames:
        if drawable:
            o1 = _component_outlines(f.means, f.covariances, 1.0, n_vertices)
            o2 = _component_outlines(f.means, f.covariances, 2.0, n_vertices)
            if f.means is None or f.covariances is None:
                o1 = o2 = [None] * n_components
            if len(o1) != n_components:
                raise ValueError(f"iteration {f.iteration}: means do not have {n_components} rows")
        else:
            o1 = o2 = []
        outlines_1.append(o1)
        outlines_2.append(o2)

    # Fixed ranges from the points and every 2-sigma ellipse of every frame, so nothing
    # drawn during the animation leaves the view and the view never jumps.
    xs = [points[:, 0]] + [o[0] for frame_o in outlines_2 for o in frame_o if o is not None]
    ys = [points[:, 1]] + [o[1] for frame_o in outlines_2 for o in frame_o if o is not None]
    x_range = _padded_range(np.concatenate(xs))
    y_range = _padded_range(np.concatenate(ys))
    coord_dtype = _coordinate_dtype(x_range, y_range)
    hidden = np.full(n_vertices + 1, None, dtype=object)

    def outline_xy(outline: tuple[np.ndarray, np.ndarray] | None) -> dict:
        if outline is None:
            return {"x": hidden, "y": hidden}
        return {"x": outline[0].astype(coord_dtype), "y": outline[1].astype(coord_dtype)}

    def means_xy(f: AnimationFrame) -> tuple:
        if f.means is None:
            no_means = np.full(n_components, None, dtype=object)
            return no_means, no_means
        means = np.asarray(f.means, dtype=float)
        return _none_where_nonfinite(means[:, 0]), _none_where_nonfinite(means[:, 1])

    def frame_updates(i: int) -> list[dict]:
        f = frames[i]
        updates: list[dict] = [
            {
                "marker": {"color": codes_per_frame[i]},
                "customdata": labels_per_frame[i].astype(label_dtype),
            }
        ]
        if drawable:
            paths = [
                outline_xy(outline)
                for o1, o2 in zip(outlines_1[i], outlines_2[i], strict=True)
                for outline in (o1, o2)
            ]
            # The halos and the outlines share their vertices: the same dicts, twice.
            updates.extend(paths)
            updates.extend(paths)
            mx, my = means_xy(f)
            updates.append(
                {"x": mx, "y": my, "customdata": _means_customdata(n_components, f.weights)}
            )
        return updates

    size, ceiling = _point_style(len(points))
    weight_text, hover_weight = None, ""
    if point_weights is not None:
        weights = np.asarray(point_weights, dtype=float)[keep]
        size = _weighted_sizes(weights, size)
        # text is never updated by a frame, so the weight stays in the hover throughout
        weight_text = [f"{w:.4g}" for w in weights]
        hover_weight = "<br>weight %{text}"
    first = frame_updates(0)
    data: list[go.Scatter] = [
        go.Scatter(
            x=points[:, 0],
            y=points[:, 1],
            mode="markers",
            marker={
                "color": first[0]["marker"]["color"],
                "colorscale": _point_colorscale(n_colors, ceiling),
                "cmin": -0.5,
                "cmax": n_colors * _CONFIDENCE_LEVELS - 0.5,
                "showscale": False,
                "size": size,
                "line": {"width": 0},
            },
            customdata=first[0]["customdata"],
            text=weight_text,
            name="points",
            showlegend=False,
            hovertemplate=f"{axis_titles[0]}: %{{x:.4g}}<br>{axis_titles[1]}: %{{y:.4g}}"
            f"<br>component %{{customdata}}{hover_weight}<extra></extra>",
        )
    ]
    if drawable:
        for halo in (True, False):
            for k in range(n_components):
                for sigma in (1, 2):
                    path = first[1 + 2 * k + (sigma - 1)]
                    if halo:
                        line = {"color": _HALO_COLOR, "width": _HALO_WIDTH[sigma - 1]}
                    else:
                        line = {
                            "color": component_color(k),
                            "width": _OUTLINE_WIDTH[sigma - 1],
                            "dash": "solid" if sigma == 1 else "dash",
                        }
                    data.append(
                        go.Scatter(
                            x=path["x"],
                            y=path["y"],
                            mode="lines",
                            line=line,
                            name=f"component {k}"
                            + ("" if sigma == 1 else " (2σ)")
                            + (" halo" if halo else ""),
                            legendgroup=f"component {k}",
                            showlegend=not halo and sigma == 1,
                            # Hovering an outline would steal the hover from points near it.
                            hoverinfo="skip",
                        )
                    )
        first_means = frames[0].means
        if first_means is None:
            first_means = np.full((n_components, 2), np.nan)  # drawn as gaps
        data.append(_means_trace(first_means, frames[0].weights))

    trace_ids = list(range(len(data)))
    # Plain dicts, not go.Frame: go.Figure validates its frames anyway, and validating them
    # twice doubled the time to build a 100-frame figure (about 0.8 s more on 3,000 points).
    animation_frames = [
        {"name": str(i), "data": frame_updates(i) if i else first, "traces": trace_ids}
        for i in range(len(frames))
    ]

    # Play/Pause as in the plotly docs: [None] plays all frames from the current one, [[None]]
    # with mode "immediate" interrupts. redraw=False everywhere: see the docstring.
    play = {
        "label": "▶ Play",
        "method": "animate",
        "args": [
            None,
            {
                "frame": {"duration": _played_duration(frame_duration_ms), "redraw": False},
                "fromcurrent": True,
                "transition": {"duration": 0},
            },
        ],
    }
    pause = {
        "label": "❚❚ Pause",
        "method": "animate",
        "args": [
            [None],
            {
                "frame": {"duration": 0, "redraw": False},
                "mode": "immediate",
                "transition": {"duration": 0},
            },
        ],
    }
    slider = {
        "active": 0,
        "transition": {"duration": 0},
        "steps": [
            {
                "label": _frame_caption(f),
                "method": "animate",
                "args": [
                    [str(i)],
                    {
                        "frame": {"duration": 0, "redraw": False},
                        "mode": "immediate",
                        "transition": {"duration": 0},
                    },
                ],
            }
            for i, f in enumerate(frames)
        ],
    }

    legend = [f"component {k}" for k in range(n_components)] if drawable else []
    layout = _animation_layout(title, height, legend, slider, [play, pause])
    layout.update(
        xaxis={"title": {"text": axis_titles[0]}, "range": x_range, "autorange": False},
        yaxis={"title": {"text": axis_titles[1]}, "range": y_range, "autorange": False},
    )
    if _equal_aspect(x_range, y_range):
        layout["yaxis"].update(scaleanchor="x", scaleratio=1)
    return go.Figure(data=data, layout=layout, frames=animation_frames)


# --------------------------------------------------------------------------------------------
# per-iteration line charts


def _iterations(iterations: np.ndarray) -> np.ndarray:
    iterations = np.asarray(iterations)
    if iterations.ndim != 1:
        raise ValueError(f"iterations must have shape (T,), got {iterations.shape}")
    return iterations


def _outlying_start(ll: np.ndarray) -> bool:
    """Whether the first value is far below all the others (single-point starts).

    k-means++ and random_from_data starts give each component one point and a covariance of
    ``reg_covar``, so the first log-likelihood can be orders of magnitude below the rest; on
    an axis that includes it the whole climb is one flat line.
    """
    rest = ll[1:][np.isfinite(ll[1:])]
    if rest.size < 2 or not np.isfinite(ll[0]):
        return False
    low, high = float(rest.min()), float(rest.max())
    spread = max(high - low, _LL_MIN_SPAN)
    return bool(ll[0] < low - 3 * spread)


def _settled_from(ll: np.ndarray, first: int) -> int | None:
    """First index from which every value rounds like the last one (no further change).

    "Like the last one" is within half a unit of the last of the :data:`_LL_DECIMALS`
    decimals the app shows. None when the run has no value, or the last one alone settles.
    """
    finite = np.flatnonzero(np.isfinite(ll))
    finite = finite[finite >= first]
    if finite.size < 2:
        return None
    off = np.abs(ll[finite] - ll[finite[-1]]) > 0.5 * _LL_RESOLUTION
    moved = np.flatnonzero(off)
    start = 0 if moved.size == 0 else int(moved[-1]) + 1
    return int(finite[start]) if start < finite.size - 1 else None


def _gain_ticks(span: float) -> str:
    """d3 tick format with as many decimals as ticks ``span`` apart need, at most 4."""
    decimals = int(np.clip(math.ceil(-math.log10(span)) + 1, 0, _LL_DECIMALS))
    return f",.{decimals}~f"


def log_likelihood_figure(
    iterations: np.ndarray,
    log_likelihood: np.ndarray,
    *,
    markers: Mapping[str, int] | None = None,
    height: int = 320,
    per_observation: bool = False,
) -> go.Figure:
    """The mean log-likelihood's gain per EM iteration, on an axis that cannot exaggerate.

    The y-axis shows the gain over the start, ``ll - ll[0]`` (over iteration 1 when the start
    is far below everything else, which is then noted instead of drawn), so its ticks read
    0, 0.05, 0.1 rather than -2.18621, -2.18619. It spans at least ``_LL_MIN_SPAN`` (0.002):
    changes far below what the app's 4 decimals show (a collapse that moves by 1e-9, the
    rounding noise of a converged fit) stay flat instead of being zoomed into a climb. Where
    no value changes any more at 4 decimals, a grey band says "no further change". The hover
    gives each log-likelihood itself.

    Parameters
    ----------
    iterations : ndarray of shape (T,)
        Iteration numbers.
    log_likelihood : ndarray of shape (T,)
        Mean log-likelihood (or lower bound) per iteration; non-finite values are drawn as gaps.
    markers : mapping of str to int, optional
        ``label -> iteration``, e.g. where each stopping rule would have fired; each is a dashed
        vertical line with its label. Labels at the same iteration are stacked, not overlaid.
    height : int, default 320
        Figure height in pixels.
    per_observation : bool, default False
        A weighted fit: its mean is per observation (a row counts by its weight), not per
        row, and the subtitle says so.

    Returns
    -------
    plotly.graph_objects.Figure
        One trace (y the gain, customdata the log-likelihood); shapes: the markers' lines, then
        the "no further change" band if any; annotations: the markers' labels, then the band's,
        then the note on an outlying start if any.
    """
    iterations = _iterations(iterations)
    ll = np.asarray(log_likelihood, dtype=float)
    if ll.shape != iterations.shape:
        raise ValueError(f"log_likelihood must have shape {iterations.shape}, got {ll.shape}")
    finite = np.flatnonzero(np.isfinite(ll))
    outlying = _outlying_start(ll)
    shown = finite[finite >= 1] if outlying else finite
    ref = int(shown[0]) if shown.size else 0
    reference = float(ll[ref]) if shown.size else 0.0
    ref_it = iterations[ref] if iterations.size else 0
    gain = ll - reference

    title = "Log-likelihood per iteration"
    subtitle = ""
    if shown.size:
        last = float(ll[shown[-1]])
        per = "per observation" if per_observation else "per row"
        subtitle = f"mean {per} {reference:.4f} → {last:.4f} ({last - reference:+.4f})"
    fig = go.Figure(
        go.Scatter(
            x=iterations,
            y=_none_where_nonfinite(gain),
            customdata=_none_where_nonfinite(ll),
            mode="lines+markers",
            marker={"size": 5, "color": PALETTE[0]},
            line={"color": PALETTE[0]},
            name="log-likelihood",
            hovertemplate="iteration %{x}<br>mean log-likelihood %{customdata:.6f}"
            f"<br>gain since iteration {ref_it}: %{{y:+.6f}}<extra></extra>",
        ),
        layout=_base_layout(height, title),
    )
    if subtitle:
        fig.update_layout(title_subtitle_text=subtitle, margin_t=_TITLE_BAND + 18)
    fig.update_xaxes(title_text="iteration")
    fig.update_layout(showlegend=False)

    values = gain[shown] if shown.size else np.zeros(1)
    low, high = min(0.0, float(values.min())), max(0.0, float(values.max()))
    if high - low < _LL_MIN_SPAN:
        high = low + _LL_MIN_SPAN
    pad = 0.06 * (high - low)
    fig.update_yaxes(
        title_text=f"gain since iteration {ref_it}",
        range=[low - pad, high + pad],
        autorange=False,
        tickformat=_gain_ticks(high - low),
        zeroline=True,
    )

    shapes, annotations = [], []
    ordered = sorted(
        ((label, it) for label, it in (markers or {}).items() if it is not None),
        key=lambda item: item[1],
    )
    finite_it = iterations[np.isfinite(iterations.astype(float))].astype(float)
    middle = 0.5 * (finite_it.min() + finite_it.max()) if finite_it.size else 0.0
    for row, (label, it) in enumerate(ordered):
        it = float(it)
        if not math.isfinite(it):
            continue
        color = component_color(row + 1)
        shapes.append(
            {
                "type": "line",
                "x0": it,
                "x1": it,
                "xref": "x",
                "y0": 0,
                "y1": 1,
                "yref": "paper",
                "line": {"color": color, "dash": "dash", "width": 1.5},
            }
        )
        annotations.append(
            {
                "x": it,
                "xref": "x",
                # Stack labels downwards so markers at nearby iterations stay readable.
                "y": 1 - 0.1 * (row % 8),
                "yref": "paper",
                "text": label,
                "showarrow": False,
                # Labels point inwards so one near the last iteration is not clipped.
                "xanchor": "left" if it <= middle else "right",
                "yanchor": "top",
                "font": {"color": color, "size": 11},
                "bgcolor": "rgba(255,255,255,0.8)",
            }
        )
    settled = _settled_from(ll, ref)
    if settled is not None:
        x0, x1 = float(iterations[settled]), float(iterations[shown[-1]])
        shapes.append(
            {
                "type": "rect",
                "x0": x0,
                "x1": x1,
                "xref": "x",
                "y0": 0,
                "y1": 1,
                "yref": "paper",
                "fillcolor": "rgba(127,127,127,0.14)",
                "line": {"width": 0},
                "layer": "below",
            }
        )
        annotations.append(
            {
                "x": x1,
                "xref": "x",
                # Half-way up on the right: below a climb's plateau, above its start.
                "y": 0.45,
                "yref": "paper",
                "text": f"no further change from iteration {x0:g}",
                "hovertext": "every later mean log-likelihood rounds to the last one at "
                f"{_LL_DECIMALS} decimals (within {0.5 * _LL_RESOLUTION:g})",
                "showarrow": False,
                "xanchor": "right",
                "yanchor": "middle",
                "font": {"color": "#555555", "size": 11},
                "bgcolor": "rgba(255,255,255,0.7)",
            }
        )
    if outlying:
        annotations.append(
            {
                "x": float(iterations[0]),
                "y": low - pad,
                "xref": "x",
                "yref": "y",
                "text": f"start: {ll[0]:,.4f} (below the chart)",
                "showarrow": True,
                "ax": 40,
                "ay": -30,
                "font": {"size": 11},
            }
        )
    fig.update_layout(shapes=shapes, annotations=annotations)
    return _legend_below(fig)


def weights_figure(iterations: np.ndarray, weights: np.ndarray, *, height: int = 320) -> go.Figure:
    """Mixing proportions per iteration: one line per component, in component colours.

    Parameters
    ----------
    iterations : ndarray of shape (T,)
        Iteration numbers.
    weights : ndarray of shape (T, K)
        Mixing proportions per iteration; non-finite values are drawn as gaps.
    height : int, default 320
        Figure height in pixels.

    Returns
    -------
    plotly.graph_objects.Figure
        Trace ``k`` is component ``k``.
    """
    iterations = _iterations(iterations)
    weights = np.asarray(weights, dtype=float)
    if weights.ndim != 2 or weights.shape[0] != iterations.shape[0]:
        raise ValueError(f"weights must have shape ({iterations.shape[0]}, K), got {weights.shape}")
    fig = go.Figure(layout=_base_layout(height, "Mixing proportions per iteration", "x unified"))
    for k in range(weights.shape[1]):
        fig.add_trace(
            go.Scatter(
                x=iterations,
                y=_none_where_nonfinite(weights[:, k]),
                mode="lines",
                line={"color": component_color(k), "width": 2},
                name=f"component {k}",
                legendgroup=f"component {k}",
                hovertemplate="%{y:.3f}",
            )
        )
    fig.update_xaxes(title_text="iteration")
    fig.update_yaxes(title_text="weight", rangemode="tozero")
    return _legend_below(fig)


def _power_of_ten(exponent: int) -> str:
    return f"10<sup>{exponent}</sup>".replace("-", "−")


def drift_figure(
    iterations: np.ndarray, series: Mapping[str, np.ndarray], *, height: int = 360
) -> go.Figure:
    """Per-iteration differences (e.g. ours vs scikit-learn) on a log axis, exact zeros labelled.

    A log axis has no 0, yet "identical to the last bit" is the most common and the most
    important value here. Zeros are drawn on a floor of 1e-17, a decade below machine epsilon,
    and the floor's tick reads "exactly 0" (their hover too), so the floor is never read as a
    tiny non-zero difference.

    Parameters
    ----------
    iterations : ndarray of shape (T,)
        Iteration numbers.
    series : mapping of str to ndarray of shape (T,)
        Name -> non-negative differences per iteration. Values <= 0 are drawn as exactly 0 on
        the floor; NaN and inf (nothing to compare) as gaps.
    height : int, default 360
        Figure height in pixels.

    Returns
    -------
    plotly.graph_objects.Figure
        One trace per series in ``series`` order (``text`` holds each point's hover: the value,
        or "exactly 0"), then a dashed reference line at machine epsilon (2.2e-16). The y-axis
        has one tick per decade (fewer when they are many) and, when any value is 0, the
        "exactly 0" tick at the floor.
    """
    iterations = _iterations(iterations)
    fig = go.Figure(layout=_base_layout(height, "Drift per iteration", "x unified"))
    top, any_zero = MACHINE_EPSILON, False
    for i, (name, values) in enumerate(series.items()):
        values = np.asarray(values, dtype=float)
        if values.shape != iterations.shape:
            raise ValueError(f"series {name!r} must have shape {iterations.shape}")
        finite = np.isfinite(values)
        zero = finite & (values <= 0)
        any_zero |= bool(zero.any())
        drawn = np.where(zero, _LOG_FLOOR, values)
        if (finite & ~zero).any():
            top = max(top, float(values[finite & ~zero].max()))
        text = np.array(
            [
                "exactly 0" if z else (f"{v:.3e}" if f else "n/a")
                for v, z, f in zip(values, zero, finite, strict=True)
            ],
            dtype=object,
        )
        fig.add_trace(
            go.Scatter(
                x=iterations,
                y=_none_where_nonfinite(drawn),
                text=text,
                mode="lines+markers",
                marker={"size": 4},
                line={"color": component_color(i)},
                name=name,
                legendgroup=name,
                hovertemplate="%{text}",
            )
        )
    if iterations.size:
        finite_it = iterations[np.isfinite(iterations.astype(float))]
        x_ends = [finite_it.min(), finite_it.max()] if finite_it.size else [0, 1]
    else:
        x_ends = [0, 1]
    # A trace rather than a shape: shape coordinates on log axes are easy to get wrong, and a
    # trace gets a legend entry that explains the line.
    fig.add_trace(
        go.Scatter(
            x=x_ends,
            y=[MACHINE_EPSILON, MACHINE_EPSILON],
            mode="lines",
            line={"color": "#7F7F7F", "dash": "dash", "width": 1},
            name="machine epsilon (2.2e-16)",
            legendgroup="machine epsilon",
            hoverinfo="skip",
        )
    )
    floor_exp = round(math.log10(_LOG_FLOOR))
    first = floor_exp + 1
    last = max(math.ceil(math.log10(top)), first)
    stride = max(1, math.ceil((last - first + 1) / 8))
    exponents = list(range(last, first - 1, -stride))[::-1]
    tickvals = [10.0**e for e in exponents]
    ticktext = [_power_of_ten(e) for e in exponents]
    if any_zero:
        tickvals.insert(0, _LOG_FLOOR)
        ticktext.insert(0, "exactly 0")
    low = floor_exp - 0.4 if any_zero else exponents[0] - 0.4
    fig.update_xaxes(title_text="iteration")
    fig.update_yaxes(
        type="log",
        title_text="difference",
        tickvals=tickvals,
        ticktext=ticktext,
        range=[low, math.log10(top) + 0.4],
        autorange=False,
    )
    return _legend_below(fig)


# --------------------------------------------------------------------------------------------
# static clusterings


def _static_axes(fig: go.Figure, points: np.ndarray, axis_titles: tuple[str, str]) -> None:
    x_range = _padded_range(points[:, 0]) if len(points) else [-1.0, 1.0]
    y_range = _padded_range(points[:, 1]) if len(points) else [-1.0, 1.0]
    fig.update_xaxes(title_text=axis_titles[0])
    fig.update_yaxes(title_text=axis_titles[1])
    if _equal_aspect(x_range, y_range):
        fig.update_yaxes(scaleanchor="x", scaleratio=1)


def clusters_figure(
    points: np.ndarray,
    labels: np.ndarray,
    *,
    means: np.ndarray | None = None,
    covariances: np.ndarray | None = None,
    axis_titles: tuple[str, str] = ("x", "y"),
    title: str = "",
) -> go.Figure:
    """Static scatter of a final clustering, with 1- and 2-sigma ellipses and means.

    Traces: one point trace per label present (in increasing label order, named
    ``"component k"``, in the legend; ``go.Scattergl`` above 5,000 points), then, when means and
    covariances are given, the 1- and 2-sigma ellipses of every component with finite
    parameters, then one trace of all means.

    Parameters
    ----------
    points : ndarray of shape (n, 2)
        Display coordinates; rows with non-finite coordinates are dropped.
    labels : ndarray of shape (n,)
        Component of each point (int, ``>= 0``).
    means : ndarray of shape (K, 2), optional
    covariances : ndarray of shape (K, 2, 2), optional
    axis_titles : (str, str), default ("x", "y")
    title : str, default ""

    Returns
    -------
    plotly.graph_objects.Figure
    """
    labels = _labels(labels, np.asarray(points).shape[0])
    points, keep = _points_2d(points)
    labels = labels[keep]
    fig = go.Figure(layout=_base_layout(None, title))
    fig.add_traces(_point_traces(points, labels, axis_titles))
    fig.add_traces(_mixture_traces(means, covariances))
    _static_axes(fig, points, axis_titles)
    return _legend_below(fig)


def uncertainty_figure(
    points: np.ndarray,
    labels: np.ndarray,
    uncertainty: np.ndarray,
    *,
    density: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    means: np.ndarray | None = None,
    covariances: np.ndarray | None = None,
    axis_titles: tuple[str, str] = ("x", "y"),
    title: str = "How sure is the mixture?",
) -> go.Figure:
    """Points sized by their uncertainty over the mixture's density contours.

    Parameters
    ----------
    points : ndarray of shape (n, 2)
    labels : ndarray of shape (n,)
        Most likely component of each point.
    uncertainty : ndarray of shape (n,)
        ``1 - max_k responsibility``, in [0, 1 - 1/K]: 0 means certain.
    density : (x, y, z), optional
        Grid coordinates, shapes (gx,), (gy,), and the mixture density (gy, gx) drawn as
        contours under the points (log-spaced levels, so tails show).
    means, covariances : optional
        (K, 2) and (K, 2, 2) for the 1- and 2-sigma ellipses.
    axis_titles : (str, str)
    title : str

    Returns
    -------
    plotly.graph_objects.Figure
    """
    labels = _labels(labels, np.asarray(points).shape[0])
    points, keep = _points_2d(points)
    labels, unc = labels[keep], np.clip(np.asarray(uncertainty, float)[keep], 0.0, 1.0)
    unc = np.where(np.isfinite(unc), unc, 0.0)
    fig = go.Figure(layout=_base_layout(None, title))
    if density is not None:
        gx, gy, z = density
        # log10 density: the contours then reach into the tails instead of circling the peaks.
        logz = np.log10(np.maximum(np.where(np.isfinite(z), z, 0.0), 1e-300))
        top = float(logz.max())
        fig.add_trace(
            go.Contour(
                x=gx,
                y=gy,
                z=np.maximum(logz, top - 6),
                showscale=False,
                ncontours=14,
                contours={"coloring": "lines"},
                colorscale="Greys",
                line={"width": 1},
                hoverinfo="skip",
                name="density",
            )
        )
    k = int(labels.max()) + 1 if labels.size else 1
    fig.add_trace(
        go.Scatter(
            x=points[:, 0],
            y=points[:, 1],
            mode="markers",
            showlegend=False,
            marker={
                "color": labels,
                "colorscale": _discrete_colorscale(k),
                "cmin": -0.5,
                "cmax": k - 0.5,
                "size": 4 + 16 * unc / max(unc.max(), 1e-12),
                "opacity": 0.35 + 0.65 * unc / max(unc.max(), 1e-12),
                "line": {"width": 0},
            },
            customdata=np.c_[labels, unc],
            hovertemplate="component %{customdata[0]}<br>uncertainty %{customdata[1]:.3f}"
            "<extra></extra>",
        )
    )
    fig.add_traces(_mixture_traces(means, covariances))
    _static_axes(fig, points, axis_titles)
    return _legend_below(fig)


_DEGENERATE_COLOR = "#9E9E9E"

#: mclust's BIC-plot style per model (``mclust.options("bicPlotColors")`` and
#: ``"bicPlotSymbols"`` of mclust 6.0, R's pch as plotly's symbol names), so that the Model
#: selection page reads like ``plot(Mclust(X), what = "BIC")``. EII is mclust's "gray" made
#: darker, so that it cannot be taken for a degenerate cell's hollow light grey.
MCLUST_STYLES: dict[str, tuple[str, str]] = {
    "EII": ("#6E6E6E", "triangle-up"),  # pch 17
    "VII": ("#000000", "triangle-up-open"),  # pch 2
    "EEI": ("#218B21", "circle"),  # pch 16
    "EVI": ("#41884F", "circle-cross-open"),  # pch 10
    "VEI": ("#508476", "circle-x-open"),  # pch 13
    "VVI": ("#58819C", "circle-open"),  # pch 1
    "EEE": ("#597DC3", "square"),  # pch 15
    "VEE": ("#5178EA", "asterisk-open"),  # pch 8
    "EVE": ("#716EE7", "diamond-open"),  # pch 5
    "VVE": ("#9B60B8", "diamond-cross-open"),  # pch 9
    "EEV": ("#B2508B", "square-cross-open"),  # pch 12
    "VEV": ("#C03F60", "square-x-open"),  # pch 7
    "EVV": ("#C82A36", "bowtie-open"),  # pch 14 (a square with a triangle: no plotly twin)
    "VVV": ("#CC0000", "square-open"),  # pch 0
}

#: scikit-learn's names drawn in the style of the mclust model they are.
MCLUST_STYLES.update(
    full=MCLUST_STYLES["VVV"],
    tied=MCLUST_STYLES["EEE"],
    diag=MCLUST_STYLES["VVI"],
    spherical=MCLUST_STYLES["VII"],
)


def _open_symbol(symbol: str) -> str:
    """The hollow version of a plotly marker symbol (itself when already hollow)."""
    return symbol if symbol.endswith("-open") else f"{symbol}-open"


def _criterion_cells(
    table: pd.DataFrame,
    criterion: str,
    degenerate: pd.DataFrame | None,
    degeneracy: pd.DataFrame | None,
) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None]:
    """(values, degenerate flags or None, reasons or None), each K x covariance type."""
    if {"covariance_type", "n_components"} <= set(table.columns):
        column = criterion if criterion in table.columns else criterion.lower()
        if column not in table.columns:
            raise ValueError(f"the table has no column {criterion!r} (nor {criterion.lower()!r})")
        order = list(dict.fromkeys(table["covariance_type"]))

        def wide(name: str) -> pd.DataFrame:
            pivot = table.pivot(index="n_components", columns="covariance_type", values=name)
            return pivot.reindex(columns=order)

        values = wide(column)
        degenerate = wide("degenerate") if "degenerate" in table.columns else None
        degeneracy = wide("degeneracy") if "degeneracy" in table.columns else None
    else:
        values = table
    values = values.astype(float)
    if degenerate is None and degeneracy is not None:
        degenerate = degeneracy.fillna("").astype(str) != ""
    if degenerate is not None:
        degenerate = degenerate.reindex(index=values.index, columns=values.columns)
        degenerate = degenerate.astype(object).where(degenerate.notna(), False).astype(bool)
        if degeneracy is None:
            degeneracy = pd.DataFrame("degenerate", index=values.index, columns=values.columns)
        degeneracy = degeneracy.reindex(index=values.index, columns=values.columns)
        degeneracy = degeneracy.astype(object).where(degeneracy.notna(), "").astype(str)
        # A flagged cell without a reason still says what it is.
        degeneracy = degeneracy.where((degeneracy != "") | ~degenerate, "degenerate")
    return values, degenerate, degeneracy


def _best_cell(values: pd.DataFrame, excluded: pd.DataFrame) -> tuple[str, int] | None:
    """The lowest value not excluded; ties to the earlier column, then the smaller K."""
    best, best_value = None, math.inf
    for column in values.columns:
        for k in sorted(values.index):
            v = float(values.loc[k, column])
            if math.isfinite(v) and not bool(excluded.loc[k, column]) and v < best_value:
                best, best_value = (column, int(k)), v
    return best


def _interesting_band(values: np.ndarray, ks: np.ndarray) -> tuple[float, float] | None:
    """[low, high] of the competitive values, or None to let plotly autoscale.

    K = 1 (one Gaussian for everything) usually scores far worse than every other model, and
    a degenerate fit far "better"; either stretches the axis until the differences that decide
    the choice are flat. The band is the range of the values at K > min(K), its top cut at
    five times the distance from the best to their median when a few values lie far above.
    """
    finite = np.isfinite(values)
    base = values[finite & (ks > ks[finite].min())] if finite.any() else values[finite]
    if base.size < 2:
        base = values[finite]
    if base.size < 2:
        return None
    low, high, median = float(base.min()), float(base.max()), float(np.median(base))
    if median > low and high - low > 5 * (median - low):
        high = low + 5 * (median - low)
    return low, high


def criteria_figure(
    wide: pd.DataFrame,
    criterion: str,
    best: tuple[str, int] | None = None,
    *,
    degenerate: pd.DataFrame | None = None,
    degeneracy: pd.DataFrame | None = None,
    height: int = 380,
    mclust_sign: bool = False,
    styles: Mapping[str, tuple[str, str]] | None = None,
) -> go.Figure:
    """An information criterion against K, one line per covariance type, the best marked.

    The y-axis keeps to the competitive models: K = 1 and other values far worse (or a
    degenerate fit far "better") are drawn as triangles on the chart's edge, their values in
    the hover, and the subtitle says how many. Degenerate cells, when flagged, are hollow grey
    markers off their type's line (the type's own symbol, hollow, with ``styles``), their
    reason in the hover, and are never marked best. Failed fits (NaN) are gaps, as mclust
    draws its NA cells.

    Parameters
    ----------
    wide : pandas.DataFrame
        Either index K and one column per covariance type (NaN where a fit failed), as
        ``SweepResult.criterion_table`` gives it; or the sweep's long table
        (``SweepResult.table``): columns ``covariance_type``, ``n_components``, the criterion
        (``criterion`` or its lower case, e.g. ``bic``) and, if present, a boolean
        ``degenerate`` and a text ``degeneracy`` (the reason) per cell. Always in
        scikit-learn's sign (lower is better).
    criterion : str
        Its name for the axis, e.g. "BIC".
    best : (covariance_type, K), optional
        The model to mark with a star. When cells are flagged degenerate and ``best`` is one
        of them, the best cell that is not degenerate is marked instead.
    degenerate : pandas.DataFrame of bool, optional
        With a wide table: True for the degenerate cells (same index and columns).
    degeneracy : pandas.DataFrame of str, optional
        With a wide table: the reason per cell ("" where none); implies ``degenerate``.
    height : int
    mclust_sign : bool, default False
        Draw ``-criterion``, R's mclust's sign (higher is better): the values, the axis
        title, the subtitle and the hover change, the models and their order do not.
    styles : mapping of str to (colour, plotly symbol), optional
        Per covariance type, e.g. :data:`MCLUST_STYLES` (mclust's look: a symbol per model);
        by default the component palette and plain markers.

    Returns
    -------
    plotly.graph_objects.Figure
        Traces: one line per covariance type (gaps at degenerate cells), then one hollow
        marker trace per type with degenerate cells, then the off-chart triangles if any, then
        the star.
    """
    values, flags, reasons = _criterion_cells(wide, criterion, degenerate, degeneracy)
    sign = -1.0 if mclust_sign else 1.0
    shown = f"{criterion} (mclust's sign)" if mclust_sign else criterion
    ks = values.index.to_numpy()
    no_flags = pd.DataFrame(False, index=values.index, columns=values.columns)
    excluded = flags if flags is not None else no_flags

    def style(i: int, column) -> tuple[str, str | None]:
        if styles is not None and str(column) in styles:
            return styles[str(column)]
        return component_color(i), None

    fig = go.Figure(layout=_base_layout(height, f"{criterion} by number of components"))
    for i, column in enumerate(values.columns):
        v = values[column].to_numpy(dtype=float)
        honest = np.where(excluded[column].to_numpy(), np.nan, v)
        color, symbol = style(i, column)
        marker = {"color": color} if symbol is None else {"color": color, "symbol": symbol}
        if symbol is not None:
            marker |= {"size": 8, "line": {"width": 1.5, "color": color}}
        fig.add_trace(
            go.Scatter(
                x=ks,
                y=_none_where_nonfinite(sign * honest),
                name=str(column),
                mode="lines+markers",
                line={"color": color, "width": 1.5 if styles is not None else 2},
                marker=marker,
                legendgroup=str(column),
                hovertemplate=f"{column}, K = %{{x}}: {shown} %{{y:.2f}}<extra></extra>",
            )
        )
    shown_degenerate = False
    if flags is not None:
        for i, column in enumerate(values.columns):
            cells = flags[column].to_numpy() & np.isfinite(values[column].to_numpy(dtype=float))
            if not cells.any():
                continue
            symbol = style(i, column)[1]
            fig.add_trace(
                go.Scatter(
                    x=ks[cells],
                    y=sign * values[column].to_numpy(dtype=float)[cells],
                    text=reasons[column].to_numpy()[cells],
                    mode="markers",
                    marker={
                        "symbol": "circle-open" if symbol is None else _open_symbol(symbol),
                        "size": 11,
                        "color": _DEGENERATE_COLOR,
                        "line": {"width": 2},
                    },
                    name="degenerate (hollow grey)" if styles is not None else "degenerate",
                    legendgroup="degenerate",
                    showlegend=not shown_degenerate,
                    hovertemplate=f"{column}, K = %{{x}}: {shown} %{{y:.2f}}"
                    "<br>degenerate: %{text}<extra></extra>",
                )
            )
            shown_degenerate = True

    honest_values = np.where(excluded.to_numpy(), np.nan, values.to_numpy(dtype=float))
    band = _interesting_band(honest_values.ravel(), np.repeat(ks, values.shape[1]))
    subtitle = (
        "higher is better (mclust: the negative of scikit-learn's)"
        if mclust_sign
        else "lower is better"
    )
    if band is not None:
        low, high = band
        pad = 0.08 * (high - low) if high > low else max(1.0, 0.01 * abs(low))
        all_values = values.to_numpy(dtype=float)
        above = np.isfinite(all_values) & (all_values > high + pad)
        below = np.isfinite(all_values) & (all_values < low - pad)
        if above.any() or below.any():
            rows, cols = np.nonzero(above | below)
            # The marks of one K on one edge sit on one point, where only the top one can be
            # hovered: each lists them all (best first, in the plot's sign).
            stacked: dict[tuple[int, bool], list[tuple[float, str]]] = {}
            for r, c in zip(rows, cols, strict=True):
                value = sign * all_values[r, c]
                stacked.setdefault((int(r), bool(above[r, c])), []).append(
                    (value, f"{values.columns[c]}: {shown} {value:.2f}")
                )
            hover = [
                "<br>".join(
                    line
                    for _, line in sorted(stacked[(int(r), bool(above[r, c]))], reverse=sign < 0)
                )
                for r, c in zip(rows, cols, strict=True)
            ]
            # "Worse" is up in scikit-learn's sign and down in mclust's.
            worse = np.where(above[rows, cols], 1.0, -1.0) * sign
            fig.add_trace(
                go.Scatter(
                    x=ks[rows],
                    y=sign * np.where(above[rows, cols], high + 0.6 * pad, low - 0.6 * pad),
                    customdata=np.stack([sign * all_values[rows, cols]], axis=1),
                    text=hover,
                    mode="markers",
                    marker={
                        "symbol": np.where(worse > 0, "triangle-up", "triangle-down"),
                        "size": 10,
                        "color": [
                            _DEGENERATE_COLOR
                            if bool(excluded.iloc[r, c])
                            else style(int(c), values.columns[c])[0]
                            for r, c in zip(rows, cols, strict=True)
                        ],
                    },
                    name="off the chart",
                    hovertemplate="K = %{x}, off the chart:<br>%{text}<extra></extra>",
                )
            )
            edges = sorted([sign * (low - pad), sign * (high + pad)])
            fig.update_yaxes(range=edges, autorange=False)
            where = sorted({int(k) for k in ks[rows]})
            ks_text = ", ".join(str(k) for k in where[:4]) + (", …" if len(where) > 4 else "")
            subtitle += f"; {len(rows)} fits off the chart (K = {ks_text})"

    if (
        best is not None
        and flags is not None
        and (
            best[0] not in values.columns
            or best[1] not in values.index
            or bool(flags.loc[best[1], best[0]])
        )
    ):
        best = _best_cell(values, flags)
    if best is not None and best[0] in values.columns and best[1] in values.index:
        value = float(values.loc[best[1], best[0]])
        fig.add_trace(
            go.Scatter(
                x=[best[1]],
                y=[sign * value],
                mode="markers",
                name=f"best: {best[0]}, K = {best[1]}",
                marker={"symbol": "star", "size": 18, "color": "#222222"},
                hoverinfo="skip",
            )
        )
    fig.update_layout(title_subtitle_text=subtitle, margin_t=_TITLE_BAND + 18)
    fig.update_xaxes(title_text="K", dtick=1)
    fig.update_yaxes(title_text=shown)
    return _legend_below(fig)


def restarts_figure(
    traces: Sequence[np.ndarray],
    best: int,
    optimum_of_run: Sequence[int],
    *,
    height: int = 360,
) -> go.Figure:
    """Every restart's log-likelihood per iteration, coloured by the optimum it reached.

    Parameters
    ----------
    traces : sequence of ndarray
        Mean log-likelihood per snapshot of each restart (lengths may differ).
    best : int
        Index of the kept restart (drawn thicker).
    optimum_of_run : sequence of int
        For each restart, the index of the distinct optimum it reached (0 = best).
    height : int

    Returns
    -------
    plotly.graph_objects.Figure
    """
    fig = go.Figure(layout=_base_layout(height, "Every restart's log-likelihood"))
    lows = []
    for run, ll in enumerate(traces):
        ll = np.asarray(ll, dtype=float)
        lows.extend(ll[1:][np.isfinite(ll[1:])])
        fig.add_trace(
            go.Scatter(
                x=np.arange(len(ll)),
                y=_none_where_nonfinite(ll),
                mode="lines",
                name=f"restart {run}" + (" (kept)" if run == best else ""),
                line={
                    "color": component_color(int(optimum_of_run[run])),
                    "width": 3.5 if run == best else 1.5,
                },
                legendgroup=f"optimum {optimum_of_run[run]}",
                hovertemplate=f"restart {run}, optimum {optimum_of_run[run]}<br>"
                "iteration %{x}<br>log-likelihood %{y:.6f}<extra></extra>",
            )
        )
    if lows:
        # Single-point starts begin far below; keep the ascent itself readable.
        lo, hi = float(np.min(lows)), float(np.max(lows))
        pad = 0.05 * max(hi - lo, 1e-9)
        fig.update_yaxes(range=[lo - pad, hi + pad])
    fig.update_xaxes(title_text="iteration")
    fig.update_yaxes(title_text="mean log-likelihood")
    return _legend_below(fig)


def side_by_side_figure(
    points: np.ndarray,
    left: ClusterView,
    right: ClusterView,
    *,
    axis_titles: tuple[str, str] = ("x", "y"),
    point_weights: np.ndarray | None = None,
) -> go.Figure:
    """Two clusterings of the same points next to each other, with shared (linked) axes.

    Colours follow the label index (``component_color``), so the caller remaps one side's
    labels to make matched components share colours. Zooming one panel zooms the other.

    Traces: the left panel's traces (as :func:`clusters_figure`: point traces per label,
    ellipses, means) on ``x``/``y``, then the right panel's on ``x2``/``y2``. Legend entries
    come from the left panel, plus right-panel labels the left one lacks; a legend click
    toggles a component in both panels.

    Parameters
    ----------
    points : ndarray of shape (n, 2)
        Display coordinates; rows with non-finite coordinates are dropped.
    left, right : ClusterView
        Title, labels (n,) and optional means (K, 2) and covariances (K, 2, 2) of each panel.
    axis_titles : (str, str), default ("x", "y")
    point_weights : ndarray of shape (n,), optional
        Each point's weight (a weighted fit): drawn by area, as in the EM animation.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    n = np.asarray(points).shape[0]
    left_labels = _labels(left.labels, n, "left.labels")
    right_labels = _labels(right.labels, n, "right.labels")
    points, keep = _points_2d(points)
    left_labels, right_labels = left_labels[keep], right_labels[keep]
    weights = None if point_weights is None else np.asarray(point_weights, dtype=float)[keep]

    fig = make_subplots(
        rows=1,
        cols=2,
        shared_xaxes="rows",
        shared_yaxes="rows",
        subplot_titles=(left.title, right.title),
        horizontal_spacing=0.04,
    )
    fig.update_layout(_base_layout(None))
    fig.add_traces(_point_traces(points, left_labels, axis_titles, weights=weights), rows=1, cols=1)
    fig.add_traces(_mixture_traces(left.means, left.covariances), rows=1, cols=1)
    right_points = _point_traces(
        points, right_labels, axis_titles, xaxis="x2", yaxis="y2", weights=weights
    )
    shown = set(np.unique(left_labels).tolist())
    for trace, k in zip(right_points, np.unique(right_labels).tolist(), strict=True):
        trace.showlegend = k not in shown
    fig.add_traces(right_points, rows=1, cols=2)
    fig.add_traces(_mixture_traces(right.means, right.covariances), rows=1, cols=2)
    # make_subplots already links them; explicit so the intent survives a refactor.
    fig.update_layout(xaxis2={"matches": "x"}, yaxis2={"matches": "y"})
    fig.update_xaxes(title_text=axis_titles[0])
    fig.update_yaxes(title_text=axis_titles[1], row=1, col=1)
    return _legend_below(fig)


# --------------------------------------------------------------------------------------------
# export


def figure_html(fig: go.Figure) -> str:
    """Standalone HTML of ``fig`` for download, with plotly.js inlined.

    Inline (not a CDN link) because the app may run without internet access; about 4.5 MB of
    JavaScript is the price. Animations do not start on their own (``auto_play=False``).

    Parameters
    ----------
    fig : plotly.graph_objects.Figure

    Returns
    -------
    str
        A complete ``<html>`` document.
    """
    return fig.to_html(include_plotlyjs=True, full_html=True, auto_play=False)
