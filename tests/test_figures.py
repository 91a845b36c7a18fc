"""dashboard.figures: structure of the EM animation, sanitising, size, static figures."""

import itertools
import json
import re
from dataclasses import replace

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from gmm_core.dashboard.figures import (
    MACHINE_EPSILON,
    PALETTE,
    AnimationFrame,
    ClusterView,
    clusters_figure,
    component_color,
    criteria_figure,
    drift_figure,
    ellipse_path,
    em_animation_figure,
    figure_html,
    log_likelihood_figure,
    side_by_side_figure,
    weights_figure,
)

N_VERTICES = 60
PLAY_ARGS = [
    None,
    {
        # 300 ms less half a refresh: plotly.js waits for the first refresh after 292 ms.
        "frame": {"duration": 292, "redraw": False},
        "fromcurrent": True,
        "transition": {"duration": 0},
    },
]
PAUSE_ARGS = [
    [None],
    {"frame": {"duration": 0, "redraw": False}, "mode": "immediate", "transition": {"duration": 0}},
]


def make_frames(
    rng: np.random.Generator,
    m: int,
    k: int,
    t: int,
    *,
    drawable: bool = True,
    half_steps: bool = False,
) -> list[AnimationFrame]:
    """T frames of random but valid EM state for m points and k components."""
    frames = []
    for i in range(t):
        resp = rng.dirichlet(np.ones(k), size=m)
        a = rng.normal(scale=0.6, size=(k, 2, 2))
        frames.append(
            AnimationFrame(
                iteration=i // 2 if half_steps else i,
                log_likelihood=-1000.0 + 3.0 * i,
                labels=resp.argmax(axis=1),
                confidence=resp.max(axis=1),
                means=rng.normal(scale=2.0, size=(k, 2)) if drawable else None,
                covariances=a @ a.transpose(0, 2, 1) + 0.05 * np.eye(2) if drawable else None,
                weights=rng.dirichlet(np.ones(k)),
                phase=("E-step" if i % 2 == 0 else "M-step") if half_steps else "",
            )
        )
    return frames


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240611)


@pytest.fixture
def small(rng):
    """(points, frames, fig) for m=200, K=3, T=6."""
    points = rng.normal(size=(200, 2)) * [2.0, 1.0]
    frames = make_frames(rng, 200, 3, 6)
    return points, frames, em_animation_figure(points, frames, title="EM")


def figure_json(fig: go.Figure) -> str:
    text = fig.to_json()
    assert "NaN" not in text and "Infinity" not in text
    return text


def decode(value) -> np.ndarray:
    """Plotly data array as stored in a figure (numpy array, tuple or list) -> ndarray."""
    return np.asarray(value)


# ------------------------------------------------------------------------------ palette


def test_palette_has_20_distinct_hex_colours():
    assert len(PALETTE) >= 20
    assert len({c.lower() for c in PALETTE}) == len(PALETTE)
    assert all(re.fullmatch(r"#[0-9A-Fa-f]{6}", c) for c in PALETTE)
    # Okabe-Ito first: colour-blind-friendly for the usual small K.
    assert PALETTE[:3] == ("#0072B2", "#E69F00", "#009E73")


def test_component_color_is_stable_and_wraps():
    assert [component_color(k) for k in range(len(PALETTE))] == list(PALETTE)
    assert component_color(len(PALETTE) + 2) == PALETTE[2]
    assert component_color(np.int64(1)) == PALETTE[1]
    with pytest.raises(ValueError):
        component_color(-1)


# ------------------------------------------------------------------------------ ellipse_path


@pytest.mark.parametrize(
    "cov",
    [
        np.eye(2),
        np.array([[4.0, 1.5], [1.5, 1.0]]),
        np.array([[0.01, -0.009], [-0.009, 0.01]]),
        np.array([[1e4, 0.0], [0.0, 1e-2]]),
    ],
)
def test_ellipse_path_lies_on_the_mahalanobis_contour(cov):
    mean = np.array([3.0, -2.0])
    x, y = ellipse_path(mean, cov, 1.0)
    assert x.shape == y.shape == (N_VERTICES + 1,)
    assert (x[0], y[0]) == (x[-1], y[-1])  # closed
    d = np.stack([x, y], axis=1) - mean
    q = np.einsum("ni,ij,nj->n", d, np.linalg.inv(cov), d)
    np.testing.assert_allclose(q, 1.0, rtol=0, atol=1e-9)

    x2, y2 = ellipse_path(mean, cov, 2.0, n_vertices=17)
    assert x2.shape == (18,)
    d2 = np.stack([x2, y2], axis=1) - mean
    np.testing.assert_allclose(
        np.einsum("ni,ij,nj->n", d2, np.linalg.inv(cov), d2), 4.0, rtol=0, atol=1e-8
    )


@pytest.mark.parametrize(
    "cov",
    [
        np.array([[1.0, 1.0], [1.0, 1.0 + 1e-15]]),  # near-singular
        np.array([[1.0, 1.0], [1.0, 1.0]]),  # singular
        np.array([[1.0, 1.0 + 1e-12], [1.0 + 1e-12, 1.0]]),  # indefinite by round-off
        np.zeros((2, 2)),
    ],
)
def test_ellipse_path_is_robust_to_singular_covariances(cov):
    x, y = ellipse_path(np.zeros(2), cov, 1.0)
    assert x.shape == y.shape == (N_VERTICES + 1,)
    assert np.all(np.isfinite(x)) and np.all(np.isfinite(y))
    # All the mass is along (1, 1) (or nowhere): the outline is a segment of half-length
    # sqrt(largest eigenvalue), on the diagonal.
    radius = np.sqrt(max(np.linalg.eigvalsh(cov).max(), 0.0))
    np.testing.assert_allclose(np.max(np.hypot(x, y)), radius, atol=1e-6)
    np.testing.assert_allclose(x, y, atol=1e-6)


@pytest.mark.parametrize(
    ("mean", "cov", "n_sigma", "n_vertices"),
    [
        (np.array([np.nan, 0.0]), np.eye(2), 1.0, 60),
        (np.zeros(2), np.array([[np.inf, 0.0], [0.0, 1.0]]), 1.0, 60),
        (np.zeros(3), np.eye(2), 1.0, 60),
        (np.zeros(2), np.eye(3), 1.0, 60),
        (np.zeros(2), np.eye(2), -1.0, 60),
        (np.zeros(2), np.eye(2), 1.0, 2),
    ],
)
def test_ellipse_path_rejects_bad_input(mean, cov, n_sigma, n_vertices):
    with pytest.raises(ValueError):
        ellipse_path(mean, cov, n_sigma, n_vertices)


# ------------------------------------------------------------------------------ animation


LEVELS = 6  # confidence levels folded into the points' colour code


def halo(k: int, sigma: int) -> int:
    """Index of the halo under component k's sigma-ellipse (sigma 1 or 2)."""
    return 1 + 2 * k + (sigma - 1)


def outline(k: int, sigma: int, n_components: int) -> int:
    return 1 + 2 * n_components + 2 * k + (sigma - 1)


def rgba_alpha(color: str) -> float:
    return float(re.fullmatch(r"rgba\((\d+),(\d+),(\d+),([0-9.]+)\)", color).group(4))


def rgba_hex(color: str) -> str:
    r, g, b = (int(v) for v in re.fullmatch(r"rgba\((\d+),(\d+),(\d+),.*", color).groups())
    return f"#{r:02X}{g:02X}{b:02X}"


def colour_of_code(marker, code: int) -> str:
    """The colour the points' colorscale gives an integer code (middle of its band)."""
    pos = (code - marker.cmin) / (marker.cmax - marker.cmin)
    scale = [(float(p), c) for p, c in marker.colorscale]
    (color,) = {c for (p0, c), (p1, _) in itertools.pairwise(scale) if p0 < pos < p1}
    return color


def test_animation_trace_layout(small):
    _, frames, fig = small
    k = 3
    assert len(fig.data) == 1 + 4 * k + 1
    assert all(type(tr) is go.Scatter for tr in fig.data)  # SVG only: Scattergl won't animate

    points = fig.data[0]
    assert points.mode == "markers" and points.showlegend is False
    assert len(points.x) == 200

    for c in range(k):
        for sigma in (1, 2):
            under, line = fig.data[halo(c, sigma)], fig.data[outline(c, sigma, k)]
            for tr in (under, line):
                assert tr.mode == "lines"
                assert len(tr.x) == len(tr.y) == N_VERTICES + 1
                assert tr.legendgroup == f"component {c}"
            assert line.line.color == component_color(c)
            np.testing.assert_array_equal(decode(under.x), decode(line.x))
            assert under.showlegend is False
        one, two = fig.data[outline(c, 1, k)], fig.data[outline(c, 2, k)]
        assert one.showlegend is True and one.name == f"component {c}"
        assert two.showlegend is False and two.line.dash == "dash"

    means = fig.data[-1]
    assert means.mode == "markers" and means.showlegend is False
    assert list(means.marker.color) == [component_color(c) for c in range(k)]
    np.testing.assert_allclose(decode(means.x), frames[0].means[:, 0])
    np.testing.assert_allclose(decode(means.customdata)[:, 1], frames[0].weights)
    assert "weight" in means.hovertemplate and "component" in means.hovertemplate

    legend_entries = [tr for tr in fig.data if tr.showlegend is not False]
    assert len(legend_entries) == k


def test_ellipses_are_drawn_above_the_points_on_a_white_halo(small):
    """plotly draws later traces on top: points first, then halos, outlines, means."""
    _, _, fig = small
    k = 3
    kinds = ["points"] + ["halo"] * 2 * k + ["outline"] * 2 * k + ["means"]
    assert [
        "points"
        if tr.name == "points"
        else "means"
        if tr.name == "means"
        else "halo"
        if tr.name.endswith("halo")
        else "outline"
        for tr in fig.data
    ] == kinds
    for c in range(k):
        for sigma in (1, 2):
            under, line = fig.data[halo(c, sigma)], fig.data[outline(c, sigma, k)]
            assert rgba_hex(under.line.color) == "#FFFFFF" and rgba_alpha(under.line.color) > 0.5
            assert under.line.width >= line.line.width + 2  # a visible rim on both sides
            assert under.hoverinfo == line.hoverinfo == "skip"
    # Each frame moves a halo with its outline.
    for frame in fig.frames:
        for c in range(k):
            for sigma in (1, 2):
                np.testing.assert_array_equal(
                    decode(frame.data[halo(c, sigma)].x),
                    decode(frame.data[outline(c, sigma, k)].x),
                )


def test_points_colour_code_is_component_and_confidence(small):
    _, frames, fig = small
    marker = fig.data[0].marker
    assert marker.cmin == -0.5 and marker.cmax == 3 * LEVELS - 0.5
    assert marker.showscale is False and marker.opacity is None
    code = decode(marker.color)
    assert code.dtype == np.uint8
    levels = np.rint(frames[0].confidence * (LEVELS - 1)).astype(int)
    np.testing.assert_array_equal(code, frames[0].labels * LEVELS + levels)
    np.testing.assert_array_equal(decode(fig.data[0].customdata), frames[0].labels)
    assert "%{customdata}" in fig.data[0].hovertemplate  # the component, not the code

    # Code label * L + level: component_color(label), more opaque the surer the point.
    for label in range(3):
        colours = [colour_of_code(marker, label * LEVELS + lv) for lv in range(LEVELS)]
        assert {rgba_hex(c) for c in colours} == {component_color(label)}
        alphas = [rgba_alpha(c) for c in colours]
        assert alphas == sorted(alphas) and alphas[0] < alphas[-1]
        assert alphas[-1] == pytest.approx(1.0)  # 200 points: full opacity when sure
        assert alphas[0] == pytest.approx(0.15)

    text = figure_json(fig)
    assert '"dtype":"u1"' in text and '"dtype":"f4"' in text  # compact base64 typed arrays


def test_points_are_lighter_and_smaller_when_many_are_drawn(rng):
    """At 3,000 points (100,000 rows, K = 6) opaque markers hid the ellipses (issue 12)."""

    def style(m):
        fig = em_animation_figure(rng.normal(size=(m, 2)), make_frames(rng, m, 6, 2))
        marker = fig.data[0].marker
        surest = colour_of_code(marker, LEVELS - 1)  # component 0, most confident
        return marker.size, rgba_alpha(surest)

    few, many = style(200), style(3000)
    assert few == (6, 1.0)
    assert many[0] <= 4 and many[1] <= 0.5
    assert style(1000)[0] < few[0] and many[1] < style(1000)[1] < few[1]


def test_frames_update_only_colours_ellipses_and_means(small):
    _, frames, fig = small
    assert len(fig.frames) == len(frames)
    assert [f.name for f in fig.frames] == [str(i) for i in range(len(frames))]
    n_traces = len(fig.data)
    for i, frame in enumerate(fig.frames):
        assert list(frame.traces) == list(range(n_traces))
        assert len(frame.data) == n_traces
        points = frame.data[0]
        assert points.x is None and points.y is None  # never re-send the points
        np.testing.assert_array_equal(decode(points.customdata), frames[i].labels)
        np.testing.assert_array_equal(decode(points.marker.color) // LEVELS, frames[i].labels)
        for tr in frame.data[1:-1]:
            assert len(tr.x) == len(tr.y) == N_VERTICES + 1
        np.testing.assert_allclose(decode(frame.data[-1].y), frames[i].means[:, 1])

    frame_json = json.loads(fig.to_json())["frames"][1]
    assert set(frame_json) == {"name", "data", "traces"}  # no layout: see the readout test
    assert set(frame_json["data"][0]) <= {"marker", "customdata", "type"}
    assert set(frame_json["data"][0]["marker"]) == {"color"}


def test_frame_ellipses_match_ellipse_path(small):
    _, frames, fig = small
    f = frames[4]
    x, y = ellipse_path(f.means[2], f.covariances[2], 2.0)
    for index in (halo(2, 2), outline(2, 2, 3)):
        tr = fig.frames[4].data[index]
        np.testing.assert_allclose(decode(tr.x), x, rtol=1e-6, atol=1e-6)  # float32 on the wire
        np.testing.assert_allclose(decode(tr.y), y, rtol=1e-6, atol=1e-6)


def test_readout_is_in_step_with_the_slider(rng):
    """The per-frame words live in the slider's steps, which plotly.js draws with the frame.

    A per-frame layout title is drawn only by a full redraw after the frame's traces, so it
    lagged the slider during playback (issue 12); frames carry no layout and nothing redraws.
    """
    points = rng.normal(size=(50, 2))
    frames = make_frames(rng, 50, 2, 4, half_steps=True)
    fig = em_animation_figure(points, frames, title="EM iterations")
    (slider,) = fig.layout.sliders
    assert slider.currentvalue.visible is True and slider.currentvalue.prefix == "iteration "
    assert [s.label for s in slider.steps] == [
        f"{f.iteration} · {f.phase} · mean log-likelihood {f.log_likelihood:.4f}" for f in frames
    ]
    assert slider.steps[1].label == "0 · M-step · mean log-likelihood -997.0000"
    assert fig.layout.title.text == "EM iterations"  # fixed: nothing redraws it
    layout = json.loads(fig.to_json())
    assert all("layout" not in frame for frame in layout["frames"])
    redraws = [
        step["args"][1]["frame"]["redraw"] for step in layout["layout"]["sliders"][0]["steps"]
    ]
    redraws += [
        b["args"][1]["frame"]["redraw"] for b in layout["layout"]["updatemenus"][0]["buttons"]
    ]
    assert not any(redraws)

    plain = em_animation_figure(points, make_frames(rng, 50, 2, 2), title="T")
    assert plain.layout.sliders[0].steps[1].label == "1 · mean log-likelihood -997.0000"


def test_slider_and_buttons(small):
    _, frames, fig = small
    # Through JSON: what the browser (and Streamlit's proto) receives.
    layout = json.loads(fig.to_json())["layout"]
    (slider,) = layout["sliders"]
    assert len(slider["steps"]) == len(fig.frames) == len(frames)
    for i, step in enumerate(slider["steps"]):
        assert step["method"] == "animate"
        assert step["args"][0] == [str(i)]
        assert step["args"][1]["mode"] == "immediate"
        assert step["label"].startswith(f"{frames[i].iteration} · ")

    (menu,) = layout["updatemenus"]
    play, pause = menu["buttons"]
    assert (play["label"], pause["label"]) == ("▶ Play", "❚❚ Pause")
    assert play["method"] == pause["method"] == "animate"
    assert play["args"] == PLAY_ARGS
    assert pause["args"] == PAUSE_ARGS

    fig2 = em_animation_figure(*small[:2], frame_duration_ms=120)
    assert fig2.layout.updatemenus[0].buttons[0].args[1]["frame"]["duration"] == 112


def test_phone_friendly_layout(rng):
    """At 390 px (a chart ~360 px wide): controls and readout above the plot, legend below.

    Checked by eye in Chromium at 390x844 and 1440x900; here the layout that makes it so.
    """
    m, k = 300, 6
    fig = em_animation_figure(rng.normal(size=(m, 2)), make_frames(rng, m, k, 3), title="EM, K = 6")
    lay = fig.layout
    # Title: short, left, in the top margin below the modebar's row.
    assert lay.title.xanchor == "left" and lay.title.yref == "container"
    assert lay.title.pad.t >= 24
    assert {"lasso2d", "select2d"} <= set(lay.modebar.remove)
    # Buttons above the slider above the plot; each band fits in the top margin.
    (menu,), (slider,) = lay.updatemenus, lay.sliders
    assert menu.y == 1 and menu.yanchor == "bottom" and menu.xanchor == "left"
    assert slider.y == 1 and slider.yanchor == "bottom" and slider.len == 1
    assert menu.pad.b > slider.pad.b + 50  # the buttons clear the slider and its readout
    assert lay.margin.t >= menu.pad.b + 30 + lay.title.pad.t
    # Long step labels are not drawn as ticks: only the readout shows them.
    assert slider.font.color == "rgba(0,0,0,0)" and slider.currentvalue.font.size >= 12
    # Legend horizontal, at the bottom: the x-axis title and one row fit in the margin, and
    # plotly.js pushes it for the rows a phone wraps onto (the margin may auto-expand).
    assert lay.legend.orientation == "h" and lay.legend.yref == "container"
    assert lay.legend.y == 0 and lay.legend.yanchor == "bottom"
    assert lay.margin.b >= 40 + 20 and lay.margin.autoexpand is not False
    assert all(tr.legendgroup for tr in fig.data if tr.showlegend)  # entries flow, see figures


def test_fixed_ranges_cover_points_and_every_ellipse(rng):
    points = rng.normal(size=(300, 2))
    frames = make_frames(rng, 300, 4, 8)
    # One frame with a component far away and wide: the view must still contain it.
    far = frames[5]
    far.means[1] = [40.0, -25.0]
    far.covariances[1] = np.array([[30.0, 5.0], [5.0, 4.0]])
    fig = em_animation_figure(points, frames)
    x_range, y_range = fig.layout.xaxis.range, fig.layout.yaxis.range
    assert fig.layout.xaxis.autorange is False and fig.layout.yaxis.autorange is False
    xs = [points[:, 0]]
    ys = [points[:, 1]]
    for f in frames:
        for mean, cov in zip(f.means, f.covariances, strict=True):
            x, y = ellipse_path(mean, cov, 2.0)
            xs.append(x)
            ys.append(y)
    xs, ys = np.concatenate(xs), np.concatenate(ys)
    assert x_range[0] < xs.min() and xs.max() < x_range[1]
    assert y_range[0] < ys.min() and ys.max() < y_range[1]


def test_equal_aspect_only_when_scales_are_comparable(rng):
    frames = make_frames(rng, 100, 2, 2, drawable=False)
    comparable = em_animation_figure(rng.normal(size=(100, 2)) * [1.0, 3.0], frames)
    assert comparable.layout.yaxis.scaleanchor == "x"
    different = em_animation_figure(rng.normal(size=(100, 2)) * [1.0, 100.0], frames)
    assert different.layout.yaxis.scaleanchor is None


def test_non_finite_inputs_never_reach_the_figure(rng):
    m, k = 120, 3
    points = rng.normal(size=(m, 2))
    points[[3, 50]] = [np.nan, 1.0]
    points[7] = [np.inf, 0.0]
    frames = make_frames(rng, m, k, 4)
    frames[1].means[0] = [np.nan, 0.0]
    frames[2].covariances[2] = np.array([[np.inf, 0.0], [0.0, 1.0]])
    frames[2].weights[1] = np.nan
    frames[3].confidence[:10] = np.nan
    frames[3] = replace(frames[3], log_likelihood=float("nan"))
    fig = em_animation_figure(points, frames)
    text = figure_json(fig)
    assert "NaN" not in text

    assert len(fig.data[0].x) == m - 3  # non-finite rows dropped up front
    assert len(decode(fig.frames[0].data[0].marker.color)) == m - 3
    assert len(decode(fig.frames[0].data[0].customdata)) == m - 3

    # Component 0 in frame 1 and component 2 in frame 2: hidden, same vertex count.
    for frame_idx, comp in ((1, 0), (2, 2)):
        for sigma in (1, 2):
            for index in (halo(comp, sigma), outline(comp, sigma, k)):
                tr = fig.frames[frame_idx].data[index]
                assert len(tr.x) == len(tr.y) == N_VERTICES + 1
                assert all(v is None for v in tr.x) and all(v is None for v in tr.y)
    assert fig.frames[1].data[-1].x[0] is None
    # Other components are still drawn.
    assert all(v is not None for v in fig.frames[1].data[outline(1, 1, k)].x)
    assert "n/a" in fig.layout.sliders[0].steps[3].label
    # Unknown confidence: the faintest level.
    codes = decode(fig.frames[3].data[0].marker.color)[:5]
    np.testing.assert_array_equal(codes % LEVELS, 0)


def test_without_means_only_the_points_trace(rng):
    """A UMAP display: no ellipses or means can be drawn."""
    points = rng.normal(size=(80, 2))
    frames = make_frames(rng, 80, 4, 5, drawable=False)
    fig = em_animation_figure(points, frames)
    assert len(fig.data) == 1
    assert all(list(f.traces) == [0] for f in fig.frames)
    assert len(fig.layout.sliders[0].steps) == 5
    figure_json(fig)


def test_labels_beyond_k_still_get_their_own_colour(rng):
    frames = make_frames(rng, 30, 2, 2, drawable=False)
    frames[1].labels[:] = 4
    fig = em_animation_figure(rng.normal(size=(30, 2)), frames)
    assert fig.data[0].marker.cmax == 5 * LEVELS - 0.5


@pytest.mark.parametrize(
    "change",
    [
        {"labels": np.zeros(5, dtype=int)},
        {"confidence": np.zeros(5)},
        {"weights": np.ones(5) / 5},
        {"labels": -np.ones(40, dtype=int)},
        {"labels": np.full(40, 0.5)},
        {"means": np.zeros((2, 2))},
    ],
)
def test_animation_rejects_inconsistent_frames(rng, change):
    frames = make_frames(rng, 40, 3, 3)
    frames[1] = replace(frames[1], **change)
    with pytest.raises(ValueError):
        em_animation_figure(rng.normal(size=(40, 2)), frames)


def test_animation_rejects_bad_points_and_no_frames(rng):
    frames = make_frames(rng, 10, 2, 1)
    with pytest.raises(ValueError):
        em_animation_figure(rng.normal(size=(10, 3)), frames)
    with pytest.raises(ValueError):
        em_animation_figure(rng.normal(size=(10, 2)), [])


def test_layout_conventions(small):
    fig = small[2]
    assert fig.layout.hovermode == "closest"
    assert fig.layout.height == 640
    assert fig.layout.template.layout.paper_bgcolor == "white"  # plotly_white


def test_animation_size_3000_points_8_components_100_frames():
    rng = np.random.default_rng(0)
    m, k, t = 3000, 8, 100
    points = rng.normal(size=(m, 2)) * [3.0, 2.0]
    fig = em_animation_figure(points, make_frames(rng, m, k, t))
    size = len(fig.to_json().encode())
    assert len(fig.frames) == t and len(fig.data) == 2 + 4 * k
    assert size < 4.5e6, f"figure JSON is {size / 1e6:.2f} MB for m={m}, K={k}, T={t}"


# ------------------------------------------------------------------------------ line charts


def test_log_likelihood_figure_with_markers():
    it = np.arange(10)
    ll = -100 + np.log1p(it)
    ll[3] = np.nan
    fig = log_likelihood_figure(it, ll, markers={"tol 1e-3": 4, "tol 1e-6": 8, "same": 8})
    text = figure_json(fig)
    assert len(fig.data) == 1
    assert fig.data[0].y[3] is None
    assert [s.x0 for s in fig.layout.shapes] == [4, 8, 8]
    assert [a.text for a in fig.layout.annotations] == ["tol 1e-3", "tol 1e-6", "same"]
    ys = [a.y for a in fig.layout.annotations]
    assert len(set(ys)) == len(ys)  # stacked, not overlaid
    assert fig.layout.height == 320
    assert "Infinity" not in text

    assert len(log_likelihood_figure(it, ll).layout.shapes) == 0


def test_weights_figure_one_line_per_component():
    t, k = 12, 4
    w = np.random.default_rng(1).dirichlet(np.ones(k), size=t)
    fig = weights_figure(np.arange(t), w)
    assert len(fig.data) == k
    for c, tr in enumerate(fig.data):
        assert tr.line.color == component_color(c)
        assert tr.name == f"component {c}"
        np.testing.assert_allclose(decode(tr.y), w[:, c])
    assert "mixing proportions" in fig.layout.title.text.lower()
    with pytest.raises(ValueError):
        weights_figure(np.arange(t - 1), w)


def test_drift_figure_log_axis_and_clipping():
    it = np.arange(6)
    series = {
        "means": np.array([1e-3, 1e-9, 0.0, -1e-20, np.nan, np.inf]),
        "weights": np.array([1e-2, 1e-5, 1e-12, 1e-15, 1e-16, 1e-16]),
    }
    fig = drift_figure(it, series)
    figure_json(fig)
    assert fig.layout.yaxis.type == "log"
    means = list(fig.data[0].y)
    np.testing.assert_allclose(means[:4], [1e-3, 1e-9, 1e-17, 1e-17])
    assert means[4:] == [None, None]  # nothing to compare: a gap, not a fake zero
    np.testing.assert_allclose(decode(fig.data[1].y), series["weights"])

    eps = fig.data[-1]
    assert "epsilon" in eps.name and eps.line.dash == "dash"
    np.testing.assert_allclose(decode(eps.y), [MACHINE_EPSILON] * 2)
    np.testing.assert_allclose(MACHINE_EPSILON, 2.220446049250313e-16)
    assert list(eps.x) == [0, 5]
    assert fig.layout.height == 360


def test_drift_figure_labels_exact_zeros():
    """Zeros sat at an unlabelled 1e-17 that read as a tiny difference (issue 12)."""
    it = np.arange(5)
    fig = drift_figure(it, {"means": np.array([2e-16, 0.0, 0.0, 4e-16, 0.0])})
    y = fig.layout.yaxis
    assert y.tickvals[0] == pytest.approx(1e-17) and y.ticktext[0] == "exactly 0"
    # The floor is inside the range (log10 units) and every other tick is a power of ten.
    assert y.range[0] < -17 < -15 < y.range[1] and y.autorange is False
    assert all(t.startswith("10<sup>") for t in y.ticktext[1:])
    np.testing.assert_allclose(np.log10(y.tickvals[1:]), np.round(np.log10(y.tickvals[1:])))
    assert list(fig.data[0].text) == [
        "2.000e-16",
        "exactly 0",
        "exactly 0",
        "4.000e-16",
        "exactly 0",
    ]
    assert fig.data[0].hovertemplate == "%{text}"
    # Without zeros there is no "exactly 0" tick, and a wide span is labelled sparsely.
    wide = drift_figure(it, {"means": np.logspace(-16, 2, 5)})
    assert "exactly 0" not in wide.layout.yaxis.ticktext
    assert len(wide.layout.yaxis.tickvals) <= 9


# ------------------------------------------------------------------------------ model selection

TYPES = ["full", "tied", "diag", "spherical"]


def sweep_table(degenerate_cells=()) -> pd.DataFrame:
    """A SweepResult.table-like long table: K = 1 far above, a band around K = 4."""
    rows = []
    for offset, kind in zip([0, 30, 60, 120], TYPES, strict=True):
        for k in range(1, 9):
            bic = 3000.0 + offset if k == 1 else 1450.0 + offset + 12 * (k - 4) ** 2
            bad = (kind, k) in degenerate_cells
            rows.append(
                {
                    "covariance_type": kind,
                    "n_components": k,
                    "bic": 900.0 if bad else bic,  # a repeated value: a likelihood too good
                    "degenerate": bad,
                    "degeneracy": f"component {k - 1}: variance at reg_covar" if bad else "",
                }
            )
    return pd.DataFrame(rows)


def wide_of(table: pd.DataFrame, column: str = "bic") -> pd.DataFrame:
    wide = table.pivot(index="n_components", columns="covariance_type", values=column)
    return wide[TYPES]


def test_criteria_axis_keeps_to_the_competitive_band():
    """K = 1 at 3000 flattened the band 1450-1650 where the choice is made (issue 12)."""
    wide = wide_of(sweep_table())
    fig = criteria_figure(wide, "BIC", ("full", 4))
    low, high = fig.layout.yaxis.range
    band = wide.loc[2:].to_numpy()
    assert low < band.min() and band.max() < high < 2000
    (off,) = [tr for tr in fig.data if tr.name == "off the chart"]
    assert list(off.x) == [1] * 4 and set(off.marker.symbol) == {"triangle-up"}
    np.testing.assert_allclose(decode(off.customdata)[:, 0], wide.loc[1].to_numpy())
    assert all(low < y < high for y in off.y)  # drawn on the edge, inside the view
    assert "4 fits off the chart (K = 1)" in fig.layout.title.subtitle.text
    # stacked on one point, each lists all four (best first): the hover reaches every one
    listed = [f"{t}: BIC {v:.2f}" for t, v in sorted(wide.loc[1].items(), key=lambda i: i[1])]
    assert list(off.text) == ["<br>".join(listed)] * 4
    assert [tr.name for tr in fig.data[:4]] == TYPES
    assert fig.data[-1].name == "best: full, K = 4"

    # Nothing far away: plotly's own autoscale, no off-chart marks.
    close = criteria_figure(wide.loc[2:], "BIC", ("full", 4))
    assert close.layout.yaxis.range is None
    assert not [tr for tr in close.data if tr.name == "off the chart"]


def test_criteria_grey_degenerate_cells_and_rank_only_the_others():
    table = sweep_table(degenerate_cells={("full", 7), ("full", 8)})
    # The long table as SweepResult.table gives it, with the degeneracy columns.
    fig = criteria_figure(table, "BIC", ("full", 8))  # a degenerate "best" is passed in
    full = fig.data[0]
    assert full.name == "full" and list(full.y)[-2:] == [None, None]  # off the line
    (grey,) = [tr for tr in fig.data if tr.name == "degenerate"]
    assert list(grey.x) == [7, 8] and list(grey.y) == [900.0, 900.0]
    assert grey.marker.symbol == "circle-open" and grey.marker.color == "#9E9E9E"
    assert list(grey.text) == [
        "component 6: variance at reg_covar",
        "component 7: variance at reg_covar",
    ]
    assert "%{text}" in grey.hovertemplate
    assert fig.data[-1].name == "best: full, K = 4"  # the best honest fit
    # The degenerate 900s do not stretch the axis either: marked on its lower edge.
    low, _ = fig.layout.yaxis.range
    assert 900 < low < 1450
    (off,) = [tr for tr in fig.data if tr.name == "off the chart"]
    assert sorted(zip(off.x, off.marker.symbol, strict=True))[-2:] == [
        (7, "triangle-down"),
        (8, "triangle-down"),
    ]

    # The same from a wide table with the flags passed alongside.
    wide = criteria_figure(
        wide_of(table), "BIC", ("full", 8), degenerate=wide_of(table, "degenerate")
    )
    assert wide.data[-1].name == "best: full, K = 4"
    assert [tr.name for tr in wide.data].count("degenerate") == 1
    # And a long table without the columns works as before.
    plain = criteria_figure(sweep_table().drop(columns=["degenerate", "degeneracy"]), "BIC")
    assert not [tr for tr in plain.data if tr.name == "degenerate"]
    with pytest.raises(ValueError, match="no column"):
        criteria_figure(sweep_table(), "ICL")


def fourteen_model_sweep():
    """A real sweep over all fourteen models on a small sample, one cell made degenerate and
    one failed, as a sweep reports them."""
    from sklearn.datasets import make_blobs

    from gmm_core.selection import FAILED_FIT, SweepResult, sweep

    X = make_blobs(120, centers=3, cluster_std=0.6, random_state=1)[0]
    result = sweep(X, 3)
    table = result.table.copy()
    bad = table.index[(table.covariance_type == "VEV") & (table.n_components == 3)][0]
    table.loc[bad, ["degenerate", "degeneracy"]] = [True, "covariance at the reg_covar floor"]
    failed = table.index[(table.covariance_type == "EVV") & (table.n_components == 2)][0]
    table.loc[failed, ["bic", "aic", "icl", "log_likelihood"]] = np.nan
    table.loc[failed, ["degenerate", "degeneracy", "error"]] = [True, FAILED_FIT, "singular"]
    return SweepResult(table, result.models)


def test_mclusts_bic_plot_of_fourteen_models_in_either_sign():
    from gmm_core.dashboard.figures import MCLUST_STYLES
    from gmm_core.dashboard.model_selection import criterion_figure
    from gmm_core.params import MCLUST_MODELS

    result = fourteen_model_sweep()
    ours = criterion_figure(result, "bic")
    theirs = criterion_figure(result, "bic", mclust_sign=True)
    for fig in (ours, theirs):
        figure_json(fig)
    lines = ours.data[:14]
    assert [tr.name for tr in lines] == list(MCLUST_MODELS)
    # Fourteen distinguishable lines: a colour and a marker symbol each.
    assert len({tr.marker.symbol for tr in lines}) == 14 == len({tr.line.color for tr in lines})
    assert lines[6].marker.symbol == MCLUST_STYLES["EEE"][1] == "square"
    # The failed cell is a gap (mclust's NA); the degenerate one off its line, hollow grey.
    evv = decode(lines[12].y)
    assert evv[1] is None or np.isnan(evv[1])
    (grey,) = [tr for tr in ours.data if tr.name == "degenerate (hollow grey)"]
    assert list(grey.x) == [3] and grey.marker.symbol == "square-x-open"  # VEV's, hollow
    assert grey.marker.color == "#9E9E9E" and list(grey.text) == [
        "covariance at the reg_covar floor"
    ]
    vev = decode(lines[11].y)
    assert vev[2] is None or np.isnan(vev[2])
    # mclust's sign: every value negated, the axis and the subtitle say so, the star stays.
    for a, b in zip(ours.data, theirs.data, strict=True):
        assert a.name == b.name
        ya = np.array([np.nan if v is None else v for v in decode(a.y)], dtype=float)
        yb = np.array([np.nan if v is None else v for v in decode(b.y)], dtype=float)
        if a.name != "off the chart":
            np.testing.assert_allclose(yb, -ya)
    assert ours.layout.yaxis.title.text == "BIC"
    assert theirs.layout.yaxis.title.text == "BIC (mclust's sign)"
    assert "higher is better" in theirs.layout.title.subtitle.text
    assert "lower is better" in ours.layout.title.subtitle.text
    if ours.layout.yaxis.range is not None:
        low, high = ours.layout.yaxis.range
        assert list(theirs.layout.yaxis.range) == pytest.approx([-high, -low])
    assert (
        ours.data[-1].name
        == theirs.data[-1].name
        == "best: "
        + ", K = ".join(map(str, result.best("bic")[["covariance_type", "n_components"]]))
    )


def test_the_sweep_table_for_people_marks_degenerate_and_failed_rows():
    from gmm_core.dashboard import model_selection as ms

    result = fourteen_model_sweep()
    shown = ms.people_table(result.table)
    assert list(shown.columns[:3]) == ["Status", "Covariance", "K"]
    assert (shown["Status"] == "⚠ degenerate").sum() == 1
    assert (shown["Status"] == "✕ failed").sum() == 1 and "Error" in shown.columns
    flipped = ms.people_table(result.table, mclust_sign=True)
    np.testing.assert_allclose(flipped["BIC (mclust)"], -shown["BIC"])
    html = ms.styled_table(shown).to_html()
    style = html.split("</style>")[0]
    greyed = {int(r) for r in re.findall(r"_row(\d+)_col\d+", style)}
    assert "color: #8a8a8a" in style
    assert greyed == set(np.flatnonzero(shown["Status"].to_numpy() != "sound"))
    assert "failed" in ms.failed_caption(result.table) and "EVV K = 2" in ms.failed_caption(
        result.table
    )
    csv = ms.table_csv(result.table).decode()
    header = csv.splitlines()[0].split(",")
    assert header[:4] == ["covariance_type", "n_components", "tol", "bic"]
    # per row, named so: mclust's loglik (and the page's best line) is the total
    assert "mean_log_likelihood" in header and "log_likelihood" not in header


# ------------------------------------------------------------------------------ static


def test_clusters_figure(rng):
    points = rng.normal(size=(90, 2))
    points[0] = [np.nan, np.nan]
    labels = np.repeat([0, 2, 1], 30)
    means = np.array([[0.0, 0.0], [1.0, 1.0], [np.nan, 0.0]])
    covs = np.stack([np.eye(2)] * 3)
    fig = clusters_figure(points, labels, means=means, covariances=covs, title="final")
    figure_json(fig)
    point_traces = [tr for tr in fig.data if tr.mode == "markers" and tr.name != "means"]
    assert [tr.name for tr in point_traces] == ["component 0", "component 1", "component 2"]
    for c, tr in enumerate(point_traces):
        assert tr.marker.color == component_color(c)
    assert sum(len(tr.x) for tr in point_traces) == 89
    ellipses = [tr for tr in fig.data if tr.mode == "lines"]
    assert len(ellipses) == 4  # component 2 has a non-finite mean: no ellipse
    assert fig.layout.title.text == "final"

    bare = clusters_figure(points, labels)
    assert len(bare.data) == 3


def test_side_by_side_shares_axes_and_colours_by_label(rng):
    points = rng.normal(size=(60, 2))
    left = ClusterView(
        "ours", np.repeat([0, 1, 2], 20), rng.normal(size=(3, 2)), np.stack([np.eye(2)] * 3)
    )
    right = ClusterView("scikit-learn", np.repeat([0, 1, 3], 20))
    fig = side_by_side_figure(points, left, right, axis_titles=("a", "b"))
    figure_json(fig)
    assert fig.layout.xaxis2.matches == "x"
    assert fig.layout.yaxis2.matches == "y"
    assert [a.text for a in fig.layout.annotations][:2] == ["ours", "scikit-learn"]

    left_points = [tr for tr in fig.data if tr.xaxis in (None, "x") and tr.mode == "markers"]
    right_points = [tr for tr in fig.data if tr.xaxis == "x2" and tr.mode == "markers"]
    assert len(right_points) == 3
    for tr in left_points + right_points:
        if tr.name == "means":
            continue
        label = int(tr.name.split()[-1])
        assert tr.marker.color == component_color(label)
        assert tr.legendgroup == f"component {label}"
    # One legend entry per component across both panels.
    legend = [tr.name for tr in fig.data if tr.showlegend is not False]
    assert sorted(legend) == ["component 0", "component 1", "component 2", "component 3"]
    with pytest.raises(ValueError):
        side_by_side_figure(points, left, ClusterView("x", np.zeros(5, dtype=int)))


# ------------------------------------------------------------------------------ export


def test_figure_html_is_standalone(small):
    html = figure_html(small[2])
    assert "<html" in html
    assert not re.search(r"<script[^>]*src=[\"']https?://[^\"']*plotly", html)
    assert "plotly.js v" in html and len(html) > 1_000_000  # the library itself is inlined
    assert "Plotly.addFrames(" in html
    assert not re.search(r"Plotly\.animate\('[^']*', null\)", html)  # no auto-play


def test_log_likelihood_axis_zooms_past_a_far_lower_start():
    ll = np.array([-4e5, -2.9, -2.8, -2.75, -2.74])
    fig = log_likelihood_figure(np.arange(5), ll)
    # The gain is counted from iteration 1; the start is noted, not drawn.
    np.testing.assert_allclose(decode(fig.data[0].y)[1:], ll[1:] - ll[1])
    assert "since iteration 1" in fig.layout.yaxis.title.text
    low, high = fig.layout.yaxis.range
    assert -0.05 < low <= 0 and 0.16 <= high < 0.2
    assert any("below the chart" in a.text for a in fig.layout.annotations)


def test_log_likelihood_shows_the_gain_over_the_start():
    ll = -np.array([5.0, 4, 3, 2.5, 2.4])
    fig = log_likelihood_figure(np.arange(5), ll)
    (trace,) = fig.data
    np.testing.assert_allclose(decode(trace.y), ll - ll[0])
    np.testing.assert_allclose(decode(trace.customdata), ll)  # hover: the value itself
    assert "customdata:.6f" in trace.hovertemplate
    assert fig.layout.yaxis.title.text == "gain since iteration 0"
    low, high = fig.layout.yaxis.range
    assert low < 0 < 2.6 < high < 3.0  # from zero: the climb in proportion
    assert "-5.0000 → -2.4000 (+2.6000)" in fig.layout.title.subtitle.text


@pytest.mark.parametrize(
    "ll",
    [
        -3.0 + 1e-9 * np.arange(12),  # a collapse into one Gaussian: "converged" at once
        -5.0002944236615 + np.array([0, 3e-13, -2e-13, 4e-13, 1e-13, 0, 2e-13]),  # rounding
    ],
    ids=["collapse", "rounding-noise"],
)
def test_a_flat_log_likelihood_looks_flat(ll):
    """Before, the axis zoomed to the data's range: 1e-9 filled the chart like a real climb."""
    fig = log_likelihood_figure(np.arange(len(ll)), ll)
    low, high = fig.layout.yaxis.range
    gains = decode(fig.data[0].y).astype(float)
    assert high - low >= 2e-3
    assert np.ptp(gains) / (high - low) < 1e-5
    # Ticks 0, 0.0005, 0.001...: at most 4 decimals, never "-5.0002944236615".
    assert fig.layout.yaxis.tickformat == ",.4~f"
    # Nothing changes at 4 decimals: "no further change" from the first iteration.
    band = [s for s in fig.layout.shapes if s.type == "rect"]
    assert len(band) == 1 and band[0].x0 == 0 and band[0].x1 == len(ll) - 1
    assert any("no further change" in a.text for a in fig.layout.annotations)


def test_no_further_change_is_marked_where_rounding_stops_moving():
    it = np.arange(30)
    ll = -2.1862 - 0.3 * np.exp(-0.6 * it)  # changes fall below 5e-5 from iteration 15
    fig = log_likelihood_figure(it, ll, markers={"stop: tol": 12})
    settled = int(np.flatnonzero(np.abs(ll - ll[-1]) > 5e-5)[-1]) + 1
    (band,) = [s for s in fig.layout.shapes if s.type == "rect"]
    assert (band.x0, band.x1) == (settled, 29) and band.yref == "paper"
    assert band.layer == "below"
    (note,) = [a for a in fig.layout.annotations if "no further change" in a.text]
    assert f"from iteration {settled}" in note.text
    # The stopping-rule marker is still drawn, and its label is the first annotation.
    assert [s.x0 for s in fig.layout.shapes if s.type == "line"] == [12]
    assert fig.layout.annotations[0].text == "stop: tol"
    # A run still climbing at its end has no band.
    climbing = log_likelihood_figure(it[:8], ll[:8])
    assert not [s for s in climbing.layout.shapes if s.type == "rect"]


def test_weighted_points_are_drawn_by_area_and_their_weight_is_in_the_hover():
    points = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.5], [3.0, 2.0]])
    frame = AnimationFrame(
        iteration=0,
        labels=np.zeros(4, dtype=int),
        confidence=np.ones(4),
        weights=np.array([1.0]),
        means=np.array([[1.5, 1.0]]),
        covariances=np.array([np.eye(2)]),
        log_likelihood=-3.0,
    )
    plain = em_animation_figure(points, [frame])
    weighted = em_animation_figure(points, [frame], point_weights=np.array([1.0, 1.0, 4.0, 0.0]))
    base = plain.data[0].marker.size
    sizes = np.asarray(weighted.data[0].marker.size)
    # area proportional to weight / median weight (1): 4 times the weight, twice the size
    np.testing.assert_allclose(sizes[:3], [base, base, 2 * base], rtol=0.01)
    assert sizes[3] == pytest.approx(0.5 * base, rel=0.01)  # weight 0: the smallest dot
    assert list(weighted.data[0].text) == ["1", "1", "4", "0"]
    assert "weight %{text}" in weighted.data[0].hovertemplate
    assert plain.data[0].text is None


def test_a_weighted_log_likelihood_is_said_per_observation_and_carries_no_nan():
    it = np.arange(6)
    ll = np.array([-2.5, np.nan, -2.2, -2.1, -np.inf, -2.05])
    weighted = log_likelihood_figure(it, ll, per_observation=True)
    plain = log_likelihood_figure(it, ll)
    assert weighted.layout.title.subtitle.text.startswith("mean per observation -2.5000 → -2.0500")
    assert plain.layout.title.subtitle.text.startswith("mean per row -2.5000")
    for fig in (weighted, plain):
        figure_json(fig)  # non-finite values are gaps (null), never NaN in the JSON
        assert fig.data[0].y[1] is None and fig.data[0].y[4] is None
