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

The EM animation (:func:`em_animation_figure`) follows the lessons in DESIGN.md, "Plotly
animation": SVG ``go.Scatter`` only (``Scattergl`` does not animate, plotly.py#4564), frames that
update only what changes (never the point coordinates), ellipses with a fixed vertex count and
fixed axis ranges so the view does not jump.
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

# Anything <= 0 or non-finite is drawn at this floor on the drift figure's log axis; it sits
# a decade below machine epsilon, so "identical to the last bit" is visibly below the line.
_LOG_FLOOR = 1e-17

# Points whose most likely component has responsibility 0 still show at this opacity.
_MIN_OPACITY = 0.15

_TEMPLATE = "plotly_white"
_MARGIN = {"l": 10, "r": 10, "t": 60, "b": 10}
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
        "margin": _MARGIN,
        "title": {"text": title},
    }
    if height is not None:
        layout["height"] = height
    return layout


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


def _opacity(confidence: np.ndarray) -> np.ndarray:
    """Marker opacity from confidence: never fully transparent, 2 decimals, float32.

    float32 halves the encoded size against float64; 2 decimals is finer than the eye can see.
    """
    confidence = np.nan_to_num(np.asarray(confidence, dtype=float), nan=0.0, posinf=1.0)
    opacity = _MIN_OPACITY + (1.0 - _MIN_OPACITY) * np.clip(confidence, 0.0, 1.0)
    return np.round(opacity, 2).astype(np.float32)


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
) -> list[go.Scatter]:
    """One point trace per label present, coloured ``component_color(label)``."""
    scatter = go.Scattergl if len(points) > _WEBGL_THRESHOLD else go.Scatter
    traces = []
    for k in np.unique(labels):
        sel = labels == k
        traces.append(
            scatter(
                x=points[sel, 0],
                y=points[sel, 1],
                mode="markers",
                marker={"color": component_color(int(k)), "size": 6, "opacity": 0.75},
                name=f"component {k}",
                legendgroup=f"component {k}",
                showlegend=show_legend,
                hovertemplate=f"{axis_titles[0]}: %{{x:.4g}}<br>{axis_titles[1]}: %{{y:.4g}}"
                f"<extra>component {k}</extra>",
                xaxis=xaxis,
                yaxis=yaxis,
            )
        )
    return traces


# --------------------------------------------------------------------------------------------
# the EM animation


def _frame_title(title: str, frame: AnimationFrame) -> str:
    ll = float(frame.log_likelihood)
    ll_text = f"{ll:.4f}" if math.isfinite(ll) else "n/a"
    text = f"{title} — iteration {frame.iteration} · log-likelihood {ll_text}"
    return f"{text} · {frame.phase}" if frame.phase else text


def _step_label(frame: AnimationFrame) -> str:
    # "E-step" -> "3 E", "M-step" -> "3 M": short enough for a slider tick.
    return f"{frame.iteration} {frame.phase[0]}" if frame.phase else str(frame.iteration)


def em_animation_figure(
    points: np.ndarray,
    frames: Sequence[AnimationFrame],
    *,
    axis_titles: tuple[str, str] = ("x", "y"),
    title: str = "EM iterations",
    frame_duration_ms: int = 300,
    height: int = 600,
) -> go.Figure:
    """Animated scatter of EM: points coloured by component, ellipses and means per iteration.

    Base traces, in this order (frames address them by index):

    * ``0``: the points (``go.Scatter``, markers). Colour is the label, as an integer array on
      a discrete colorscale built from :data:`PALETTE`; opacity is ``0.15 + 0.85 * confidence``.
    * ``1 + 2k`` and ``2 + 2k`` for ``k`` in ``range(K)``: the 1-sigma (solid, in the legend)
      and 2-sigma (dashed) ellipse of component ``k``.
    * ``1 + 2K``: all K means (markers, hover shows component and weight).

    When no frame has means and covariances (e.g. a UMAP display) only trace 0 exists.

    Frame ``i`` is named ``str(i)`` (iterations repeat in half-step mode) and updates only the
    points' ``marker.color``/``marker.opacity`` (never x/y), the ellipses' x/y and the means'
    x/y/customdata, plus the title. A component whose parameters are not finite in a frame has
    its ellipses hidden (x/y all None) and its mean left out of that frame.

    The frame layout sets the title to ``"{title} — iteration {i} · log-likelihood {ll:.4f}"``
    (``" · {phase}"`` appended in half-step mode). Play and the slider steps use
    ``redraw=True``: plotly.js redraws the title (iteration and log-likelihood) only then.

    Parameters
    ----------
    points : ndarray of shape (m, 2)
        Display coordinates of the drawn points (cap m at a few thousand: every frame carries
        m colours and opacities). Rows with non-finite coordinates are dropped.
    frames : sequence of AnimationFrame
        At least one. Every frame's ``labels``/``confidence`` have shape (m,) and all frames
        share K.
    axis_titles : (str, str), default ("x", "y")
        Axis titles, also used in the hover text.
    title : str, default "EM iterations"
        Title prefix; each frame appends its iteration, log-likelihood and phase.
    frame_duration_ms : int, default 300
        Time per frame when playing.
    height : int, default 600
        Figure height in pixels.

    Returns
    -------
    plotly.graph_objects.Figure
        Initially showing frame 0, with a slider (one step per frame) and Play/Pause buttons.
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

    opacities = []
    for f in frames:
        confidence = np.asarray(f.confidence, dtype=float)
        if confidence.shape != (m_all,):
            raise ValueError(f"confidence must have shape ({m_all},), got {confidence.shape}")
        opacities.append(_opacity(confidence[keep]))

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

    def outline_xy(outline: tuple[np.ndarray, np.ndarray] | None) -> tuple:
        if outline is None:
            return hidden, hidden
        return outline[0].astype(coord_dtype), outline[1].astype(coord_dtype)

    def means_xy(f: AnimationFrame) -> tuple:
        if f.means is None:
            no_means = np.full(n_components, None, dtype=object)
            return no_means, no_means
        means = np.asarray(f.means, dtype=float)
        return _none_where_nonfinite(means[:, 0]), _none_where_nonfinite(means[:, 1])

    def frame_updates(i: int) -> list[dict]:
        f = frames[i]
        updates: list[dict] = [
            {"marker": {"color": labels_per_frame[i].astype(label_dtype), "opacity": opacities[i]}}
        ]
        if drawable:
            for o1, o2 in zip(outlines_1[i], outlines_2[i], strict=True):
                for outline in (o1, o2):
                    x, y = outline_xy(outline)
                    updates.append({"x": x, "y": y})
            mx, my = means_xy(f)
            updates.append(
                {"x": mx, "y": my, "customdata": _means_customdata(n_components, f.weights)}
            )
        return updates

    first = frame_updates(0)
    data: list[go.Scatter] = [
        go.Scatter(
            x=points[:, 0],
            y=points[:, 1],
            mode="markers",
            marker={
                "color": first[0]["marker"]["color"],
                "opacity": first[0]["marker"]["opacity"],
                "colorscale": _discrete_colorscale(n_colors),
                "cmin": -0.5,
                "cmax": n_colors - 0.5,
                "showscale": False,
                "size": 6,
                "line": {"width": 0},
            },
            name="points",
            showlegend=False,
            hovertemplate=f"{axis_titles[0]}: %{{x:.4g}}<br>{axis_titles[1]}: %{{y:.4g}}"
            "<br>component %{marker.color}<extra></extra>",
        )
    ]
    if drawable:
        for k in range(n_components):
            color = component_color(k)
            for sigma in (1, 2):
                upd = first[1 + 2 * k + (sigma - 1)]
                data.append(
                    go.Scatter(
                        x=upd["x"],
                        y=upd["y"],
                        mode="lines",
                        line={
                            "color": color,
                            "width": 2 if sigma == 1 else 1.5,
                            "dash": "solid" if sigma == 1 else "dash",
                        },
                        name=f"component {k}" if sigma == 1 else f"component {k} (2σ)",
                        legendgroup=f"component {k}",
                        showlegend=sigma == 1,
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
        {
            "name": str(i),
            "data": frame_updates(i) if i else first,
            "traces": trace_ids,
            "layout": {"title": {"text": _frame_title(title, frames[i])}},
        }
        for i in range(len(frames))
    ]

    # Play/Pause as in the plotly docs: [None] plays all frames from the current one, [[None]]
    # with mode "immediate" interrupts. Play redraws each frame: with redraw=False plotly.js
    # leaves the title (iteration, log-likelihood) stale; the full redraw measured ~230 ms per
    # frame for 3,000 points in headless Chromium, within the default 300 ms frame duration.
    play = {
        "label": "▶ Play",
        "method": "animate",
        "args": [
            None,
            {
                "frame": {"duration": frame_duration_ms, "redraw": True},
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
        "x": 0.12,
        "len": 0.88,
        "y": 0,
        "xanchor": "left",
        "yanchor": "top",
        "pad": {"t": 40, "b": 10},
        "currentvalue": {"prefix": "iteration ", "visible": True},
        "transition": {"duration": 0},
        "steps": [
            {
                "label": _step_label(f),
                "method": "animate",
                "args": [
                    [str(i)],
                    {
                        # redraw=True only here: plotly.js (checked with 4.1.1 in Chromium)
                        # does not redraw the title for redraw=False frames, so a scrubbed
                        # frame would show a stale iteration and log-likelihood in the title.
                        "frame": {"duration": 0, "redraw": True},
                        "mode": "immediate",
                        "transition": {"duration": 0},
                    },
                ],
            }
            for i, f in enumerate(frames)
        ],
    }

    layout = _base_layout(height, _frame_title(title, frames[0]))
    layout.update(
        xaxis={"title": {"text": axis_titles[0]}, "range": x_range, "autorange": False},
        yaxis={"title": {"text": axis_titles[1]}, "range": y_range, "autorange": False},
        legend={"title": {"text": "component"}, "itemsizing": "constant"},
        updatemenus=[
            {
                "type": "buttons",
                "direction": "left",
                "showactive": False,
                "x": 0.12,
                "y": 0,
                "xanchor": "right",
                "yanchor": "top",
                "pad": {"t": 50, "r": 10},
                "buttons": [play, pause],
            }
        ],
        sliders=[slider],
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


def log_likelihood_figure(
    iterations: np.ndarray,
    log_likelihood: np.ndarray,
    *,
    markers: Mapping[str, int] | None = None,
    height: int = 320,
) -> go.Figure:
    """Log-likelihood per EM iteration, with optional labelled vertical markers.

    Parameters
    ----------
    iterations : ndarray of shape (T,)
        Iteration numbers.
    log_likelihood : ndarray of shape (T,)
        Log-likelihood (or lower bound) per iteration; non-finite values are drawn as gaps.
    markers : mapping of str to int, optional
        ``label -> iteration``, e.g. where each stopping rule would have fired; each is a dashed
        vertical line with its label. Labels at the same iteration are stacked, not overlaid.
    height : int, default 320
        Figure height in pixels.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    iterations = _iterations(iterations)
    ll = np.asarray(log_likelihood, dtype=float)
    if ll.shape != iterations.shape:
        raise ValueError(f"log_likelihood must have shape {iterations.shape}, got {ll.shape}")
    fig = go.Figure(
        go.Scatter(
            x=iterations,
            y=_none_where_nonfinite(ll),
            mode="lines+markers",
            marker={"size": 5, "color": PALETTE[0]},
            line={"color": PALETTE[0]},
            name="log-likelihood",
            hovertemplate="iteration %{x}<br>log-likelihood %{y:.6f}<extra></extra>",
        ),
        layout=_base_layout(height, "Log-likelihood per iteration"),
    )
    fig.update_xaxes(title_text="iteration")
    fig.update_yaxes(title_text="log-likelihood")
    fig.update_layout(showlegend=False)

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
    _zoom_past_outlying_start(fig, ll, iterations, annotations)
    fig.update_layout(shapes=shapes, annotations=annotations)
    return fig


def _zoom_past_outlying_start(
    fig: go.Figure, ll: np.ndarray, iterations: np.ndarray, annotations: list[dict]
) -> None:
    """Keep the climb readable when the starting point is far below the rest.

    Single-point starts (k-means++, random_from_data) begin with covariances of only
    ``reg_covar``, so the first log-likelihood can be orders of magnitude lower than all the
    others; an autoscaled axis would then flatten the whole climb into one line.
    """
    rest = ll[1:][np.isfinite(ll[1:])]
    if rest.size < 2 or not np.isfinite(ll[0]):
        return
    low, high = float(rest.min()), float(rest.max())
    spread = max(high - low, 1e-12 * max(1.0, abs(high)))
    if ll[0] >= low - 3 * spread:
        return
    pad = 0.1 * spread
    fig.update_yaxes(range=[low - pad, high + pad])
    annotations.append(
        {
            "x": float(iterations[0]),
            "y": low - pad,
            "xref": "x",
            "yref": "y",
            "text": f"start: {ll[0]:.4g} (below the chart)",
            "showarrow": True,
            "ax": 40,
            "ay": -30,
            "font": {"size": 11},
        }
    )


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
    return fig


def drift_figure(
    iterations: np.ndarray, series: Mapping[str, np.ndarray], *, height: int = 360
) -> go.Figure:
    """Per-iteration differences (e.g. ours vs scikit-learn) on a log axis.

    Parameters
    ----------
    iterations : ndarray of shape (T,)
        Iteration numbers.
    series : mapping of str to ndarray of shape (T,)
        Name -> non-negative differences per iteration. Values <= 0 or non-finite are drawn at
        a floor of 1e-17 (below machine epsilon) so that nothing breaks the log axis; an exact
        match therefore shows as a flat line under the epsilon reference.
    height : int, default 360
        Figure height in pixels.

    Returns
    -------
    plotly.graph_objects.Figure
        One trace per series in ``series`` order, then a dashed reference line at machine
        epsilon (2.2e-16).
    """
    iterations = _iterations(iterations)
    fig = go.Figure(layout=_base_layout(height, "Drift per iteration", "x unified"))
    for i, (name, values) in enumerate(series.items()):
        values = np.asarray(values, dtype=float)
        if values.shape != iterations.shape:
            raise ValueError(f"series {name!r} must have shape {iterations.shape}")
        clipped = np.where(np.isfinite(values) & (values > 0), values, _LOG_FLOOR)
        clipped = np.maximum(clipped, _LOG_FLOOR)
        fig.add_trace(
            go.Scatter(
                x=iterations,
                y=clipped,
                mode="lines+markers",
                marker={"size": 4},
                line={"color": component_color(i)},
                name=name,
                hovertemplate="%{y:.3e}",
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
            hoverinfo="skip",
        )
    )
    fig.update_xaxes(title_text="iteration")
    fig.update_yaxes(type="log", title_text="difference", exponentformat="power")
    return fig


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
    fig.update_layout(legend={"title": {"text": "component"}, "itemsizing": "constant"})
    _static_axes(fig, points, axis_titles)
    return fig


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
    return fig


def criteria_figure(
    wide: pd.DataFrame,
    criterion: str,
    best: tuple[str, int] | None = None,
    *,
    height: int = 380,
) -> go.Figure:
    """An information criterion against K, one line per covariance type, the best marked.

    Parameters
    ----------
    wide : pandas.DataFrame
        Index K, one column per covariance type (NaN where a fit failed).
    criterion : str
        Its name for the axis, e.g. "BIC".
    best : (covariance_type, K), optional
        The model to mark with a star.
    height : int

    Returns
    -------
    plotly.graph_objects.Figure
    """
    fig = go.Figure(
        layout=_base_layout(
            height, f"{criterion} by number of components (lower is better)", "x unified"
        )
    )
    for i, column in enumerate(wide.columns):
        values = wide[column].to_numpy(dtype=float)
        fig.add_trace(
            go.Scatter(
                x=wide.index.to_numpy(),
                y=_none_where_nonfinite(values),
                name=str(column),
                mode="lines+markers",
                line={"color": component_color(i)},
                hovertemplate=f"{column}: %{{y:.2f}}<extra></extra>",
            )
        )
    if best is not None and best[0] in wide.columns and best[1] in wide.index:
        value = float(wide.loc[best[1], best[0]])
        fig.add_trace(
            go.Scatter(
                x=[best[1]],
                y=[value],
                mode="markers",
                name=f"best: {best[0]}, K = {best[1]}",
                marker={"symbol": "star", "size": 18, "color": "#222222"},
                hoverinfo="skip",
            )
        )
    fig.update_xaxes(title_text="K", dtick=1)
    fig.update_yaxes(title_text=criterion)
    return fig


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
    return fig


def side_by_side_figure(
    points: np.ndarray,
    left: ClusterView,
    right: ClusterView,
    *,
    axis_titles: tuple[str, str] = ("x", "y"),
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

    Returns
    -------
    plotly.graph_objects.Figure
    """
    n = np.asarray(points).shape[0]
    left_labels = _labels(left.labels, n, "left.labels")
    right_labels = _labels(right.labels, n, "right.labels")
    points, keep = _points_2d(points)
    left_labels, right_labels = left_labels[keep], right_labels[keep]

    fig = make_subplots(
        rows=1,
        cols=2,
        shared_xaxes="rows",
        shared_yaxes="rows",
        subplot_titles=(left.title, right.title),
        horizontal_spacing=0.04,
    )
    fig.update_layout(_base_layout(None))
    fig.add_traces(_point_traces(points, left_labels, axis_titles), rows=1, cols=1)
    fig.add_traces(_mixture_traces(left.means, left.covariances), rows=1, cols=1)
    right_points = _point_traces(points, right_labels, axis_titles, xaxis="x2", yaxis="y2")
    shown = set(np.unique(left_labels).tolist())
    for trace, k in zip(right_points, np.unique(right_labels).tolist(), strict=True):
        trace.showlegend = k not in shown
    fig.add_traces(right_points, rows=1, cols=2)
    fig.add_traces(_mixture_traces(right.means, right.covariances), rows=1, cols=2)
    fig.update_layout(legend={"title": {"text": "component"}, "itemsizing": "constant"})
    # make_subplots already links them; explicit so the intent survives a refactor.
    fig.update_layout(xaxis2={"matches": "x"}, yaxis2={"matches": "y"})
    fig.update_xaxes(title_text=axis_titles[0])
    fig.update_yaxes(title_text=axis_titles[1], row=1, col=1)
    return fig


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
