"""From a recorded EM run to the frames of its animation.

EM fits on every row; the animation draws a stratified sample of at most a few thousand of
them and at most ~100 frames, so that the figure stays a few MB whatever the data size.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gmm_core.em import FitHistory, Snapshot, e_step
from gmm_core.params import MixtureParams

from .figures import AnimationFrame

#: Points drawn in the animation; EM itself always fits on all rows.
MAX_DRAWN_POINTS = 3000
#: Frames in the animation; longer runs are thinned, keeping the first and last iteration.
MAX_FRAMES = 100


def thin_indices(n_snapshots: int, max_frames: int = MAX_FRAMES) -> np.ndarray:
    """Indices of the snapshots to animate: all, or ``max_frames`` spread evenly.

    The first and last snapshots are always kept.

    Parameters
    ----------
    n_snapshots : int
    max_frames : int

    Returns
    -------
    ndarray of int, increasing, at most ``max_frames`` long.
    """
    if n_snapshots <= max_frames:
        return np.arange(n_snapshots)
    return np.unique(np.round(np.linspace(0, n_snapshots - 1, max_frames)).astype(int))


def stratified_sample(
    labels: np.ndarray, max_points: int = MAX_DRAWN_POINTS, seed: int = 0
) -> np.ndarray:
    """Row indices of a sample that keeps every cluster's share (and small clusters visible).

    Parameters
    ----------
    labels : ndarray of shape (n,)
        Cluster of each row (e.g. the final labels).
    max_points : int
    seed : int

    Returns
    -------
    ndarray of int, sorted: all rows when ``n <= max_points``, else about ``max_points``
    (proportional shares, plus up to 10 rows of any cluster that would otherwise get none).
    """
    n = len(labels)
    if n <= max_points:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    groups, counts = np.unique(labels, return_counts=True)
    # Proportional shares, but at least a few points of every cluster so none vanishes.
    quota = np.maximum(np.floor(counts / n * max_points).astype(int), np.minimum(counts, 10))
    picked = [
        rng.choice(np.flatnonzero(labels == g), size=q, replace=False)
        for g, q in zip(groups, quota, strict=True)
    ]
    return np.sort(np.concatenate(picked))


class DisplayMap:
    """How fitted Gaussians appear in the 2-D display.

    Parameters
    ----------
    kind : {'identity', 'linear', 'none'}
        'identity': EM fitted the displayed 2-D coordinates; 'linear': the display is
        ``W (x - c)`` of the fitted space (PCA, or two columns of many); 'none': the display
        is non-linear (UMAP), so no ellipses can be drawn.
    components : ndarray of shape (2, d), optional
        ``W`` for 'linear'.
    center : ndarray of shape (d,), optional
        ``c`` for 'linear'.
    """

    def __init__(
        self,
        kind: str,
        components: np.ndarray | None = None,
        center: np.ndarray | None = None,
    ):
        if kind not in ("identity", "linear", "none"):
            raise ValueError(f"Unknown display map {kind!r}.")
        if kind == "linear" and (components is None or center is None):
            raise ValueError("A linear display map needs its components and center.")
        self.kind, self.components, self.center = kind, components, center

    @property
    def draws_ellipses(self) -> bool:
        """Whether the Gaussians can be drawn exactly in the display."""
        return self.kind != "none"

    def gaussians(self, params: MixtureParams) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Means (K, 2) and covariances (K, 2, 2) in display coordinates, or (None, None)."""
        if self.kind == "none":
            return None, None
        means, covs = params.means, params.full_covariances()
        if self.kind == "identity":
            return means, covs
        w = self.components
        projected = np.einsum("ij,kjl,ml->kim", w, covs, w)
        return (means - self.center) @ w.T, (projected + projected.transpose(0, 2, 1)) / 2.0


def _responsibilities(rows: np.ndarray, snapshot: Snapshot) -> tuple[np.ndarray, np.ndarray]:
    """Most likely component of each row under ``snapshot`` and its responsibility."""
    resp = np.exp(e_step(rows, snapshot.params)[1])
    labels = resp.argmax(axis=1)
    return labels, resp[np.arange(len(labels)), labels]


def _frame(
    gaussians: Snapshot,
    colours: tuple[np.ndarray, np.ndarray],
    display: DisplayMap,
    phase: str,
    iteration: int,
) -> AnimationFrame:
    means, covs = display.gaussians(gaussians.params)
    return AnimationFrame(
        iteration=int(iteration),
        log_likelihood=float(gaussians.log_likelihood),
        labels=colours[0],
        confidence=colours[1],
        means=means,
        covariances=covs,
        weights=gaussians.weights,
        phase=phase,
    )


def snapshot_frame(
    snapshot: Snapshot,
    drawn_rows: np.ndarray,
    display: DisplayMap,
    phase: str = "",
    *,
    colours_from: Snapshot | None = None,
    iteration: int | None = None,
) -> AnimationFrame:
    """The frame of one snapshot: its Gaussians, the drawn points coloured by responsibilities.

    Parameters
    ----------
    snapshot : Snapshot
        Whose Gaussians (means, covariances, weights) and log-likelihood the frame shows.
    drawn_rows : ndarray of shape (m, d)
        The drawn points in the space EM fitted.
    display : DisplayMap
    phase : str
        '', 'E-step' or 'M-step'.
    colours_from : Snapshot, optional
        Colour the points by the responsibilities under this snapshot instead (an M-step
        frame moves the Gaussians but keeps the colours of the E-step before it).
    iteration : int, optional
        The iteration the frame is labelled with; ``snapshot.iteration`` by default (an E-step
        frame of iteration j shows the Gaussians of snapshot j - 1).

    Returns
    -------
    AnimationFrame
    """
    colours = _responsibilities(drawn_rows, colours_from or snapshot)
    return _frame(
        snapshot,
        colours,
        display,
        phase,
        snapshot.iteration if iteration is None else iteration,
    )


def animation_frames(
    history: FitHistory | Sequence[Snapshot],
    drawn_rows: np.ndarray,
    display: DisplayMap,
    *,
    max_frames: int = MAX_FRAMES,
) -> list[AnimationFrame]:
    """Frames of a run, thinned to at most ``max_frames`` snapshots.

    Parameters
    ----------
    history : FitHistory or sequence of Snapshot
    drawn_rows : ndarray of shape (m, d)
        The drawn points in the space EM fitted (a sample of the rows).
    display : DisplayMap
    max_frames : int

    Returns
    -------
    list of AnimationFrame
        One per kept snapshot, labelled with its iteration (0 = the start).
    """
    snapshots = list(history)
    keep = thin_indices(len(snapshots), max_frames)
    return [snapshot_frame(snapshots[i], drawn_rows, display) for i in keep]


def half_step_frames(
    history: FitHistory | Sequence[Snapshot],
    drawn_rows: np.ndarray,
    display: DisplayMap,
    *,
    max_frames: int = MAX_FRAMES,
) -> list[AnimationFrame]:
    """Frames that show EM's two half-steps apart, in the textbook order: E, then M.

    Iteration j (from 1) starts from the parameters of snapshot j - 1 and gets two frames:

    * ``"iteration j · E-step"``: the responsibilities are recomputed under the parameters of
      snapshot j - 1, so the points are recoloured while the Gaussians (ellipses, means,
      weights) stay those of snapshot j - 1; its log-likelihood is that of snapshot j - 1,
      which this E-step computes.
    * ``"iteration j · M-step"``: the Gaussians move to snapshot j, the parameters that the
      M-step estimates from those responsibilities; the colours stay the E-step's. Its
      log-likelihood is that of snapshot j.

    So from one frame to the next either the colours change (M-step j -> E-step j + 1) or the
    Gaussians move (E-step j -> M-step j), never both, except where a long run is thinned to
    about ``max_frames`` frames (whole iterations are skipped then; the first and last
    iterations are always kept). A history of the start alone gives a single frame, iteration
    0 with no phase.

    Parameters
    ----------
    history : FitHistory or sequence of Snapshot
    drawn_rows : ndarray of shape (m, d)
    display : DisplayMap
    max_frames : int

    Returns
    -------
    list of AnimationFrame
        Phases alternate ``"E-step"``, ``"M-step"``; iterations run 1, 1, 2, 2, ...
    """
    snapshots = list(history)
    if len(snapshots) < 2:
        return [snapshot_frame(s, drawn_rows, display) for s in snapshots[:1]]
    iterations = thin_indices(len(snapshots) - 1, max(1, max_frames // 2)) + 1
    frames: list[AnimationFrame] = []
    for j in iterations:
        before, after = snapshots[j - 1], snapshots[j]
        # One E-step per iteration: both frames show the responsibilities under snapshot j - 1.
        colours = _responsibilities(drawn_rows, before)
        frames.append(_frame(before, colours, display, "E-step", after.iteration))
        frames.append(_frame(after, colours, display, "M-step", after.iteration))
    return frames
