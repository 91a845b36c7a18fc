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


def snapshot_frame(
    snapshot: Snapshot,
    drawn_rows: np.ndarray,
    display: DisplayMap,
    phase: str = "",
    *,
    colours_from: Snapshot | None = None,
) -> AnimationFrame:
    """The frame of one snapshot: drawn points recoloured by its responsibilities.

    Parameters
    ----------
    snapshot : Snapshot
    drawn_rows : ndarray of shape (m, d)
        The drawn points in the space EM fitted.
    display : DisplayMap
    phase : str
        '', 'E-step' or 'M-step'.
    colours_from : Snapshot, optional
        Colour the points by the responsibilities of this snapshot instead (an M-step frame
        moves the Gaussians but keeps the E-step's colours).

    Returns
    -------
    AnimationFrame
    """
    resp = np.exp(e_step(drawn_rows, (colours_from or snapshot).params)[1])
    labels = resp.argmax(axis=1)
    means, covs = display.gaussians(snapshot.params)
    return AnimationFrame(
        iteration=snapshot.iteration,
        log_likelihood=float(snapshot.log_likelihood),
        labels=labels,
        confidence=resp[np.arange(len(labels)), labels],
        means=means,
        covariances=covs,
        weights=snapshot.weights,
        phase=phase,
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
    """Frames that show EM's two half-steps apart.

    For each iteration j: an **E-step** frame (points recoloured by the responsibilities under
    the parameters of snapshot j, Gaussians unchanged) and then an **M-step** frame (Gaussians
    and means moved to snapshot j + 1, colours unchanged). The last snapshot gets an E-step
    frame of its own. Long runs are thinned to about ``max_frames`` frames.

    Parameters
    ----------
    history : FitHistory or sequence of Snapshot
    drawn_rows : ndarray of shape (m, d)
    display : DisplayMap
    max_frames : int

    Returns
    -------
    list of AnimationFrame
    """
    snapshots = list(history)
    keep = thin_indices(len(snapshots), max(2, max_frames // 2))
    frames = []
    for j in keep:
        frames.append(snapshot_frame(snapshots[j], drawn_rows, display, "E-step"))
        if j + 1 < len(snapshots):
            frames.append(
                snapshot_frame(
                    snapshots[j + 1], drawn_rows, display, "M-step", colours_from=snapshots[j]
                )
            )
    return frames
