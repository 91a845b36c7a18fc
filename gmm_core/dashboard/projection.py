"""Two-dimensional views of the chosen columns: the columns themselves, PCA, or UMAP.

A linear view (``"none"`` or ``"pca"``) is the affine map ``z = W (x - c)``. A Gaussian
``N(m, S)`` in the d columns is then exactly ``N(W (m - c), W S W^T)`` in the plane, so the
fitted components can be drawn as ellipses over the points. UMAP is non-linear: only the points
can be shown.

umap-learn (and numba, which compiles it) takes seconds to import, so it is imported inside
:func:`project` and only when UMAP is asked for.

UMAP on many rows
-----------------
The previous path (umap-learn fitted on 20,000 rows, its ``transform()`` for the rest) took
82 s warm on 100,000 rows on this 2-core machine and ~339 s as a server's first run (issue 11);
pynndescent's index alone compiles and prepares for 25-80 s in every process. :func:`project`
now

1. finds each sampled row's k nearest sampled rows exactly, with scikit-learn's trees (cosine
   and correlation through unit-length rows), and builds umap-learn's fuzzy graph from them in
   numpy (``fuzzy_simplicial_set``'s arithmetic; its numba kernels are not cached on disk);
2. lays out a random sample of ``max_umap_rows`` (5,000) rows with umap-learn's own spectral
   start and layout epochs (``simplicial_set_embedding``), as many as umap-learn would run on
   all the rows (200 above 10,000 rows, else 500);
3. places every other row at the membership-weighted mean of its k nearest sampled rows, which
   is how umap-learn's ``transform()`` starts (an exact copy of a sampled row lands on it);
4. refines those places with ``transform()``'s 30 epochs against the still sample, in batches
   of 2,000 rows so that numba, which holds the GIL, never stalls the app's other threads.

Measured with ``python bench/umap_speed.py --repeats 5`` on the 2 cores while other jobs used
them (load average 6-9, so wall times are inflated; CPU seconds are what idle cores would
take), trustworthiness from ``sklearn.manifold.trustworthiness`` on the same 5,000 random
rows, n_neighbors=15, against ``umap.UMAP(n_neighbors=15, min_dist=0.1, random_state=42)`` on
all the rows:

====================  ===============  =========  ===========  ===============  =========
100,000 rows          warm (CPU)       first run  empty cache  trustworthiness  full UMAP
====================  ===============  =========  ===========  ===============  =========
8 blobs, 8-D          13.4 s (6.9 s)   8.8 s      23.7 s       0.9659           0.9671
digits + noise, 64-D  14.4 s (9.6 s)   17.4 s     51.8 s       0.9905           0.5878
====================  ===============  =========  ===========  ===============  =========

(An earlier run at load 2-4, with 500 layout epochs: 11.6 and 12.4 s warm.) "warm" is the
median of 5 in a process that has projected once; "first run" is a fresh process with numba's
on-disk cache as installed (its compile phase took 1.6-2.8 s); "empty cache" a fresh
``NUMBA_CACHE_DIR``, the first run after installing or upgrading numba, umap-learn or
pynndescent (importing umap-learn then compiles pynndescent: 15-29 s). The previous pipeline
took 53 s (53 s CPU) on the blobs beside these runs, for trustworthiness 0.9664. The digits are
scikit-learn's 1,797 images drawn to 100,000 rows with N(0, 1) noise per pixel: ~56
near-copies of every image, so a full UMAP's 15 neighbours are copies of the same image and its
graph falls into ~1,800 islands laid out arbitrarily, while a 5,000-row sample (~3 copies each)
links similar images. On the 1,797 digits themselves, laid out whole, this pipeline gives
0.9861 against umap-learn's 0.9876; laying out 600 of them and placing the rest gives 0.9708.

Choices, measured with 500 layout epochs: refining lifted the digits' trustworthiness from
0.982 to 0.991 for ~4 s of CPU (on the blobs it changed nothing: 0.9666 without). A 7,500-row
sample gave 0.9921 (digits) and 0.9662 (blobs) for 35-40 % more CPU (16.6 and 13.1 s against
13.2 and 9.4 s), 10,000 rows 0.984 and 0.9657 for 23 and 14 s (umap-learn's spectral start
alone took 10 s on that digits sample): 5,000 keeps the time well under 20 s when other work
shares the cores.
"""

from __future__ import annotations

import numbers
import re
import sys
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

METHODS: tuple[str, ...] = ("none", "pca", "umap")
#: UMAP lays out at most this many rows; the others are placed from their nearest laid-out rows.
#: Chosen by measurement (see the module docstring): 5,000 rows lay out in 2-4 s on this 2-core
#: machine; larger samples cost 35-130 % more time for at most 0.0015 more trustworthiness.
MAX_UMAP_ROWS = 5_000

UMAP_METRICS: tuple[str, ...] = ("euclidean", "manhattan", "cosine", "correlation", "chebyshev")

MIN_UMAP_ROWS = 10
N_NEIGHBORS_RANGE: tuple[int, int] = (2, 200)

# Rows placed per step: one progress report and one should_stop check each, and bounded memory
# for the (rows, n_neighbors) distance arrays.
_PLACE_BATCH = 10_000
# Rows refined per call of umap-learn's numba layout epoch, which holds the GIL throughout: one
# epoch over 2,000 placed rows takes ~3 ms (10,000: ~15 ms, and several times that when the cores
# are shared), so the app's other threads are never held up for long.
_REFINE_BATCH = 2_000
# The layout reports its epochs at most this often (through umap-learn's tqdm bar).
_EPOCH_REPORT_SECONDS = 0.1
# umap-learn's constants for the smooth k-NN distances (umap_.py).
_SMOOTH_K_TOLERANCE = 1e-5
_MIN_K_DIST_SCALE = 1e-3
_SMOOTH_K_ITERATIONS = 64
# Seconds on this 2-core machine (bench/umap_speed.py, unloaded), used only to share the progress
# bar between the phases in proportion to the time they take.
_COMPILE_SECONDS = 3.0
_NEIGHBOUR_SECONDS_PER_ROW = 4e-5
_LAYOUT_SECONDS_PER_ROW_EPOCH = 1.7e-6
_PLACE_SECONDS_PER_ROW = 1e-5
_PLACE_SECONDS_PER_ROW_COLUMN = 4e-7
_REFINE_SECONDS_PER_ROW_EPOCH = 1.4e-6
# Epochs of umap-learn's transform() optimisation for the placed rows (0: no refinement).
_REFINE_EPOCHS = 30
_LOW_PCA_VARIANCE = 0.5


class ProjectionError(ValueError):
    """The data or the arguments do not allow the requested projection.

    The message says what is wrong and how to fix it, in words fit to show a user.
    Subclasses ``ValueError`` so generic callers can catch it as bad input.
    """


class ProjectionCancelled(Exception):
    """:func:`project` stopped early because its ``should_stop`` callable returned True.

    Not a ``ValueError``: nothing is wrong with the data, so callers that turn bad input into a
    message must not catch it by accident.
    """


@dataclass(frozen=True, eq=False)
class Projection:
    """A two-dimensional view of ``n`` rows of ``d`` columns.

    Parameters
    ----------
    method : {"none", "pca", "umap"}
        How the view was made.
    embedding : ndarray of shape (n, 2)
        The rows in the plane, float64 and finite.
    components : ndarray of shape (2, d) or None
        ``W`` of the linear map ``z = W (x - c)``: identity rows for ``"none"``, orthonormal
        principal directions for ``"pca"``, None for ``"umap"``.
    center : ndarray of shape (d,) or None
        ``c`` of the linear map: zeros for ``"none"``, the column means for ``"pca"``,
        None for ``"umap"``.
    explained_variance_ratio : ndarray of shape (2,) or None
        Share of the total variance along each principal direction (``"pca"`` only).
    axis_titles : tuple of two str
        Labels for the horizontal and vertical axes.
    notes : tuple of str
        Plain-English remarks worth showing next to the picture.

    Notes
    -----
    For linear methods ``embedding == (X - center) @ components.T`` holds exactly, so points,
    means and covariances projected later line up with the picture. The arrays are read-only.
    """

    method: str
    embedding: np.ndarray
    components: np.ndarray | None
    center: np.ndarray | None
    explained_variance_ratio: np.ndarray | None
    axis_titles: tuple[str, str]
    notes: tuple[str, ...]

    @property
    def is_linear(self) -> bool:
        """True when points, means and covariances can be mapped onto the plane exactly."""
        return self.components is not None and self.center is not None

    def project_points(self, X: np.ndarray) -> np.ndarray:
        """Map rows of the original columns onto the plane.

        Parameters
        ----------
        X : array-like of shape (m, d)
            Rows in the same (scaled) columns the projection was made from.

        Returns
        -------
        ndarray of shape (m, 2)
            ``(X - center) @ components.T``.

        Raises
        ------
        ProjectionError
            For a UMAP projection, or when ``X`` has the wrong shape or non-finite values.
        """
        W, c = self._linear_map("new points")
        X = _as_float_matrix(X, "X", n_columns=W.shape[1])
        return (X - c) @ W.T

    def project_means(self, means: np.ndarray) -> np.ndarray:
        """Map component means onto the plane.

        Parameters
        ----------
        means : array-like of shape (K, d)

        Returns
        -------
        ndarray of shape (K, 2)
            ``W (mean - c)`` for every mean.
        """
        W, c = self._linear_map("the component means")
        means = _as_float_matrix(means, "means", n_columns=W.shape[1])
        return (means - c) @ W.T

    def project_covariances(self, covariances: np.ndarray) -> np.ndarray:
        """Map full covariance matrices onto the plane.

        Parameters
        ----------
        covariances : array-like of shape (K, d, d)
            Full covariance matrices (convert diag, spherical or tied ones first).

        Returns
        -------
        ndarray of shape (K, 2, 2)
            ``W S W^T`` for every ``S``, exactly symmetric.
        """
        W, _ = self._linear_map("the component covariances")
        d = W.shape[1]
        S = np.asarray(covariances)
        if S.dtype.kind not in "biuf":
            raise ProjectionError(f"covariances must hold numbers; got dtype {S.dtype}.")
        if S.ndim != 3 or S.shape[1:] != (d, d):
            raise ProjectionError(
                f"covariances must have shape (K, {d}, {d}), one full matrix per component; "
                f"got {S.shape}. Convert diag, spherical or tied covariances to full matrices "
                "first."
            )
        if not np.isfinite(S).all():
            raise ProjectionError("covariances contain missing or infinite values.")
        P = W @ S.astype(np.float64, copy=False) @ W.T
        # Rounding leaves W S W^T a hair off symmetric, which ellipse code (eigh, Cholesky) may
        # not forgive; a + b == b + a in floating point, so the average is exactly symmetric.
        return (P + P.transpose(0, 2, 1)) / 2

    def _linear_map(self, what: str) -> tuple[np.ndarray, np.ndarray]:
        if self.components is None or self.center is None:
            raise ProjectionError(
                f"A {self.method.upper()} projection is not a linear map, so {what} cannot be "
                "placed on it; only its points can be shown. Choose PCA (or 'None' with two "
                "columns) to see the fitted Gaussians as ellipses."
            )
        return self.components, self.center


def project(
    X: np.ndarray,
    method: str,
    *,
    column_names: Sequence[str] | None = None,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    metric: str = "euclidean",
    random_state: int = 42,
    max_umap_rows: int = MAX_UMAP_ROWS,
    progress: Callable[[float, str], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Projection:
    """Project the rows of ``X`` to two dimensions.

    Parameters
    ----------
    X : array-like of shape (n, d)
        The chosen numeric columns, already scaled; finite.
    method : {"none", "pca", "umap"}
        ``"none"`` uses the two columns as they are (needs ``d == 2``); ``"pca"`` the first two
        principal components; ``"umap"`` a UMAP embedding.
    column_names : sequence of d str, optional
        Names of the columns, used for the axis titles of ``"none"``.
    n_neighbors : int, default 15
        UMAP only: neighbourhood size, 2 to 200 and fewer than the rows UMAP is fitted on.
    min_dist : float, default 0.1
        UMAP only: how tightly points may pack, 0 to 1.
    metric : str, default "euclidean"
        UMAP only: one of :data:`UMAP_METRICS`.
    random_state : int, default 42
        UMAP only: seeds both the row sample and UMAP itself, so a rerun gives the same picture.
    max_umap_rows : int, default 5_000
        UMAP only: above this many rows UMAP lays out a random sample of this size, and every
        other row is placed at the weighted average of its nearest sampled rows, in batches.
    progress : callable ``(fraction, message) -> None``, optional
        Called with ``fraction`` 0.0 at the start and 1.0 at the end. For UMAP also at the start
        and end of every phase: compiling UMAP's kernels (the first time in this process only);
        finding neighbours; the layout (and after each epoch, at most every 0.1 s); placing the
        other rows (after each batch of 10,000); refining their places (after each epoch). The
        fractions never decrease and are shared between the phases in proportion to their
        expected time. It runs on the caller's thread.
    should_stop : callable ``() -> bool``, optional
        Polled between phases, between layout epochs and between batches of placed rows; when
        it returns True, :class:`ProjectionCancelled` is raised within about a tenth of a second
        (a first-run compile, once started, finishes first).

    Returns
    -------
    Projection

    Raises
    ------
    ProjectionError
        When the data or the arguments do not suit the method; the message says how to fix it.
    ProjectionCancelled
        When ``should_stop`` returned True.

    Notes
    -----
    Safe to call from several threads at once: the only state shared between calls is the
    record that UMAP's kernels have been compiled, which is guarded by a lock. No Streamlit
    object is needed or touched.
    """
    if method not in METHODS:
        raise ProjectionError(
            f"Unknown projection method {method!r}; choose one of "
            f"{', '.join(repr(m) for m in METHODS)}."
        )
    X = _as_float_matrix(X, "X")
    n, d = X.shape
    if n == 0:
        raise ProjectionError("The data has no rows to project.")
    if d == 0:
        raise ProjectionError("No columns were chosen; pick at least two numeric columns.")
    names = _column_names(column_names, d)
    if method == "umap":
        _check_umap_arguments(X, n_neighbors, min_dist, metric, random_state, max_umap_rows)

    def report(fraction: float, message: str) -> None:
        if progress is not None:
            progress(fraction, message)

    if should_stop is not None and should_stop():
        raise ProjectionCancelled("The projection was cancelled before it started.")
    if method == "none":
        report(0.0, "Using the two chosen columns as the axes…")
        result = _identity(X, names)
    elif method == "pca":
        report(0.0, "Computing the principal components…")
        result = _pca(X)
    else:
        result = _umap(
            X,
            n_neighbors,
            min_dist,
            metric,
            random_state,
            max_umap_rows,
            _Phases(report, should_stop),
        )
    report(1.0, "Projection ready.")
    return result


def _identity(X: np.ndarray, names: tuple[str, ...]) -> Projection:
    d = X.shape[1]
    if d != 2:
        raise ProjectionError(
            f"'None' needs exactly two columns; you chose {d}. Pick two columns or choose PCA/UMAP."
        )
    W = np.eye(2)
    c = np.zeros(2)
    return Projection(
        method="none",
        embedding=_read_only((X - c) @ W.T),
        components=_read_only(W),
        center=_read_only(c),
        explained_variance_ratio=None,
        axis_titles=(names[0], names[1]),
        notes=(),
    )


def _pca(X: np.ndarray) -> Projection:
    n, d = X.shape
    if d < 2:
        raise ProjectionError(
            f"PCA needs at least two columns to find two directions; you chose {d}. "
            "Pick more columns."
        )
    if n < 2:
        raise ProjectionError(f"PCA needs at least two rows; the data has {n}.")

    notes: list[str] = []
    if _all_rows_identical(X):
        # The mean of identical floats can miss them in the last bit; centring on a row puts
        # every point exactly at the origin rather than at rounding noise.
        c = X[0].copy()
        W = np.eye(2, d)
        ratio = np.zeros(2)
        titles = ("PC 1", "PC 2")
        notes.append(
            "All rows are identical, so there is no variance for PCA to show and every point "
            "sits at (0, 0). Choose columns that vary."
        )
        embedding = (X - c) @ W.T
    else:
        c = X.mean(axis=0)
        Xc = X - c
        scatter = Xc.T @ Xc
        if not np.isfinite(scatter).all():
            raise ProjectionError(
                "The values are too large for PCA (their squares overflow). Scale the columns "
                "first, e.g. standardise them."
            )
        # Eigenvectors of the d x d scatter matrix rather than an SVD of the n x d data: the
        # same leading directions with O(d^2) extra memory instead of O(n d), as scikit-learn's
        # svd_solver="covariance_eigh" does for tall data.
        eigenvalues, eigenvectors = np.linalg.eigh(scatter)
        W = _fix_signs(np.ascontiguousarray(eigenvectors[:, ::-1][:, :2].T))
        ratio = np.clip(eigenvalues[::-1][:2], 0.0, None) / np.trace(scatter)
        titles = (f"PC 1 ({100 * ratio[0]:.1f} %)", f"PC 2 ({100 * ratio[1]:.1f} %)")
        kept = float(ratio.sum())
        note = f"PC 1 and PC 2 keep {100 * kept:.1f} % of the variance of the {d} columns."
        if kept < _LOW_PCA_VARIANCE:
            note += (
                " Groups that overlap in this picture may still be apart in the directions it "
                "leaves out."
            )
        notes.append(note)
        # Same expression, same operands as (X - center) @ components.T, so equal bit for bit.
        embedding = Xc @ W.T
    return Projection(
        method="pca",
        embedding=_read_only(embedding),
        components=_read_only(W),
        center=_read_only(c),
        explained_variance_ratio=_read_only(ratio),
        axis_titles=titles,
        notes=tuple(notes),
    )


def _fix_signs(W: np.ndarray) -> np.ndarray:
    """Flip each row of ``W`` so that its largest-magnitude entry is positive.

    An eigenvector is defined only up to sign; without a convention the picture could mirror
    after a small change to the data or on another LAPACK build.
    """
    largest = W[np.arange(len(W)), np.argmax(np.abs(W), axis=1)]
    return W * np.where(largest < 0, -1.0, 1.0)[:, None]


def _check_umap_arguments(
    X: np.ndarray,
    n_neighbors: Any,
    min_dist: Any,
    metric: Any,
    random_state: Any,
    max_umap_rows: Any,
) -> None:
    """Reject what UMAP cannot do before importing it or spending any time."""
    n, d = X.shape
    if n < MIN_UMAP_ROWS:
        raise ProjectionError(
            f"UMAP needs at least {MIN_UMAP_ROWS} rows to learn neighbourhoods; the data has "
            f"{n}. Use PCA for such a small table."
        )
    if not _is_int(max_umap_rows) or max_umap_rows < MIN_UMAP_ROWS:
        raise ProjectionError(
            f"max_umap_rows must be a whole number of at least {MIN_UMAP_ROWS}; "
            f"got {max_umap_rows!r}."
        )
    low, high = N_NEIGHBORS_RANGE
    if not _is_int(n_neighbors) or not low <= n_neighbors <= high:
        raise ProjectionError(
            f"n_neighbors must be a whole number from {low} to {high}; got {n_neighbors!r}. "
            "About 15 suits most data; larger values show more of the global structure."
        )
    n_fit = min(n, max_umap_rows)
    if n_neighbors >= n_fit:
        raise ProjectionError(
            f"n_neighbors ({n_neighbors}) must be smaller than the number of rows UMAP is "
            f"fitted on ({n_fit:,}); choose at most {n_fit - 1}."
        )
    if (
        not isinstance(min_dist, numbers.Real)
        or isinstance(min_dist, bool)
        or not 0.0 <= min_dist <= 1.0
    ):
        raise ProjectionError(
            f"min_dist must be a number from 0 to 1; got {min_dist!r}. Small values pack "
            "clusters tightly, larger ones spread the points out."
        )
    if metric not in UMAP_METRICS:
        raise ProjectionError(
            f"Unknown UMAP metric {metric!r}; choose one of {', '.join(UMAP_METRICS)}."
        )
    # Cosine compares directions and correlation compares centred rows: with too few columns
    # every distance is 0 or 2 and UMAP has nothing to work with.
    needed = {"cosine": 2, "correlation": 3}.get(metric, 1)
    if d < needed:
        raise ProjectionError(
            f"The {metric} metric compares the pattern across columns and needs at least "
            f"{needed} columns; you chose {d}. Use the euclidean metric or pick more columns."
        )
    if not _is_int(random_state) or not 0 <= random_state < 2**32:
        raise ProjectionError(
            f"random_state must be a whole number from 0 to {2**32 - 1}; got {random_state!r}."
        )
    if _all_rows_identical(X):
        # UMAP would return random noise here without complaint.
        raise ProjectionError(
            "All rows are identical, so UMAP has no neighbourhoods to preserve. Choose columns "
            "that vary, or use PCA (which puts every point at the origin)."
        )


class _Phases:
    """One never-decreasing progress fraction over named phases, and the ``should_stop`` polls.

    Each phase gets a share of [0, 1] in proportion to the seconds it is expected to take, so
    the bar moves at a roughly even pace instead of sitting at one value through a long phase.
    """

    def __init__(
        self, report: Callable[[float, str], None], should_stop: Callable[[], bool] | None
    ) -> None:
        self._report = report
        self._should_stop = should_stop
        self._bounds: dict[str, tuple[float, float]] = {}
        self._last = 0.0

    def plan(self, seconds: dict[str, float]) -> None:
        """Share [0, 1] between the phases, in the order given, by their expected ``seconds``."""
        total = sum(seconds.values())
        start = 0.0
        for name, expected in seconds.items():
            end = start + expected / total
            self._bounds[name] = (start, end)
            start = end
        last = next(reversed(self._bounds))
        self._bounds[last] = (self._bounds[last][0], 1.0)

    def has(self, phase: str) -> bool:
        return phase in self._bounds

    def at(self, phase: str, done: float, message: str) -> None:
        """Report ``done`` (0 to 1) of ``phase``, then honour ``should_stop``."""
        low, high = self._bounds[phase]
        fraction = min(max(low + (high - low) * done, self._last), 1.0)
        self._last = fraction
        self._report(fraction, message)
        self.check()

    def check(self) -> None:
        if self._should_stop is not None and self._should_stop():
            raise ProjectionCancelled("The UMAP projection was cancelled.")


def _umap(
    X: np.ndarray,
    n_neighbors: int,
    min_dist: float,
    metric: str,
    random_state: int,
    max_umap_rows: int,
    phases: _Phases,
) -> Projection:
    n = X.shape[0]
    n_fit = min(n, max_umap_rows)
    fit_rows = np.arange(n)
    rest_rows = np.arange(0)
    if n_fit < n:
        rng = np.random.default_rng(random_state)
        fit_rows = np.sort(rng.choice(n, size=n_fit, replace=False))
        is_rest = np.ones(n, dtype=bool)
        is_rest[fit_rows] = False
        rest_rows = np.flatnonzero(is_rest)
    X_fit = X[fit_rows]
    if n_fit < n and _all_rows_identical(X_fit):
        raise ProjectionError(
            f"All {n_fit:,} rows of UMAP's random sample are identical, so it has no "
            "neighbourhoods to preserve. Raise max_umap_rows or choose columns that vary."
        )
    # As many epochs as umap-learn would run on all n rows: the sample stands in for them, and
    # on 100,000 rows 200 epochs of the sample kept trustworthiness (0.9905 and 0.9659 on the
    # digits and blobs of the module docstring, against 0.9906 and 0.9655 with 500) for 2.4 s
    # less CPU.
    n_epochs = _umap_epochs(n)
    scale = n_neighbors / 15
    d = X.shape[1]
    seconds = {}
    if not _kernels_ready():
        seconds["compile"] = _COMPILE_SECONDS
    seconds["neighbours"] = _NEIGHBOUR_SECONDS_PER_ROW * n_fit * scale
    seconds["layout"] = _LAYOUT_SECONDS_PER_ROW_EPOCH * n_fit * n_epochs * scale
    if len(rest_rows):
        seconds["place"] = (_PLACE_SECONDS_PER_ROW + _PLACE_SECONDS_PER_ROW_COLUMN * d) * (
            len(rest_rows) * scale
        )
        if _REFINE_EPOCHS:
            seconds["refine"] = (
                _REFINE_SECONDS_PER_ROW_EPOCH * len(rest_rows) * _REFINE_EPOCHS * scale
            )
    phases.plan(seconds)

    if phases.has("compile"):
        _compile_kernels(phases)
    umap_ = _import_umap()

    phases.at(
        "neighbours",
        0.0,
        f"Finding the {n_neighbors} nearest neighbours of each of the {n_fit:,} "
        + ("sampled rows…" if n_fit < n else "rows…"),
    )
    index = _NeighbourIndex(X_fit, metric)
    distances, neighbours = index.query(X_fit, n_neighbors)
    graph = _fuzzy_graph(neighbours, distances)

    what = f"the {n_fit:,} sampled rows" if n_fit < n else f"the {n:,} rows"
    phases.at("layout", 0.0, f"Laying out {what}: the spectral start…")

    def on_epoch(done: int, total: int) -> None:
        phases.at("layout", done / total, f"Laying out {what}: epoch {done} of {total}…")

    fitted = _layout(umap_, X_fit, graph, n_epochs, min_dist, metric, random_state, on_epoch)
    phases.at("layout", 1.0, f"Laid out {what}.")
    embedding = np.empty((n, 2))
    embedding[fit_rows] = fitted
    notes: list[str] = []
    if len(rest_rows):
        n_rest = len(rest_rows)
        k = n_neighbors
        all_neighbours = np.empty((n_rest, k), dtype=np.int32)
        all_weights = np.empty((n_rest, k), dtype=np.float32)
        for start in range(0, n_rest, _PLACE_BATCH):
            phases.at(
                "place",
                start / n_rest,
                f"Placing the other {n_rest:,} rows by their nearest sampled rows: {start:,} done…",
            )
            batch = slice(start, start + _PLACE_BATCH)
            distances, neighbours = index.query(X[rest_rows[batch]], k)
            embedding[rest_rows[batch]], weights = _place(fitted, distances, neighbours)
            all_neighbours[batch] = neighbours
            all_weights[batch] = weights
        phases.at("place", 1.0, f"Placed the other {n_rest:,} rows.")
        placed = f"the weighted average of the places of its {k} nearest sampled rows"
        if _REFINE_EPOCHS:

            def on_refine(done: int, total: int) -> None:
                phases.at(
                    "refine",
                    done / total,
                    f"Refining the places of the other {n_rest:,} rows: epoch {done} of {total}…",
                )

            embedding[rest_rows] = _refine(
                umap_,
                embedding[rest_rows],
                fitted,
                all_neighbours,
                all_weights,
                min_dist,
                random_state,
                on_refine,
            )
            phases.at("refine", 1.0, f"Refined the places of the other {n_rest:,} rows.")
            placed += f", refined by {_REFINE_EPOCHS} epochs against them"
        notes.append(
            f"UMAP laid out a random sample of {n_fit:,} of {n:,} rows; each other row was "
            f"placed at {placed}, as umap-learn's transform() does."
        )

    bad = ~np.isfinite(embedding).all(axis=1)
    if bad.any():
        raise ProjectionError(
            f"UMAP placed {int(bad.sum()):,} of {n:,} rows at non-finite coordinates. Try a "
            "larger n_neighbors, another metric, or PCA."
        )
    notes.append(
        "UMAP keeps neighbourhoods, not distances or shapes, so the fitted Gaussians cannot "
        "be drawn as ellipses on this picture."
    )
    return Projection(
        method="umap",
        embedding=_read_only(embedding),
        components=None,
        center=None,
        explained_variance_ratio=None,
        axis_titles=("UMAP 1", "UMAP 2"),
        notes=tuple(notes),
    )


def _umap_epochs(n_rows: int) -> int:
    """umap-learn's default number of layout epochs for ``n_rows`` (simplicial_set_embedding)."""
    return 500 if n_rows <= 10_000 else 200


# --- neighbours and the fuzzy graph, in numpy -----------------------------------------------
# umap-learn computes these with numba kernels that are compiled afresh in every process (they
# are not cached on disk: ~10 s on 2 cores). The same arithmetic vectorised over rows takes a
# fraction of a second here, and exact neighbours from scikit-learn's trees replace
# pynndescent's approximate ones, whose index takes 25-80 s to compile and prepare.


class _NeighbourIndex:
    """Exact nearest neighbours of query rows among the indexed rows, in UMAP's metric.

    Cosine and correlation distances are monotone in the euclidean distance between rows scaled
    to unit length (after centring each row, for correlation): ``1 - cos = |a - b|^2 / 2``. So
    every metric offered can use scikit-learn's trees.
    """

    def __init__(self, X: np.ndarray, metric: str) -> None:
        from sklearn.neighbors import NearestNeighbors

        self._metric = metric
        tree_metric = "euclidean" if metric in ("cosine", "correlation") else metric
        self._nn = NearestNeighbors(metric=tree_metric).fit(self._prepare(X))

    def _prepare(self, X: np.ndarray) -> np.ndarray:
        if self._metric not in ("cosine", "correlation"):
            return X
        Y = X - X.mean(axis=1, keepdims=True) if self._metric == "correlation" else X
        norms = np.linalg.norm(Y, axis=1, keepdims=True)
        # A row of zeros has no direction; left at the origin it is 0.5 from every unit row.
        return np.divide(Y, norms, out=np.zeros_like(Y), where=norms > 0)

    def query(self, Q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest indexed rows of each query row, nearest first.

        Returns
        -------
        distances : ndarray of shape (m, k), float64
        indices : ndarray of shape (m, k), int
        """
        distances, indices = self._nn.kneighbors(self._prepare(Q), n_neighbors=k)
        if self._metric in ("cosine", "correlation"):
            distances = distances**2 / 2
        return distances, indices


def _smooth_knn_scale(distances: np.ndarray, rho: np.ndarray, floor: np.ndarray) -> np.ndarray:
    """umap-learn's ``smooth_knn_dist``, vectorised over rows: the scale of each row's kernel.

    Parameters
    ----------
    distances : ndarray of shape (m, k)
        Distances to each row's k nearest neighbours, nearest first.
    rho : ndarray of shape (m,)
        Distance subtracted before the kernel (the nearest non-zero distance in a fit).
    floor : ndarray of shape (m,)
        Smallest scale allowed (umap-learn: 1e-3 of the mean distance).

    Returns
    -------
    ndarray of shape (m,)
        ``sigma`` with ``sum_{j >= 1} exp(-max(d_j - rho, 0) / sigma) = log2(k)``, found by
        bisection as umap-learn does (including its skipping of the first column, which in a
        fit is the row itself).
    """
    m, k = distances.shape
    target = np.log2(k)
    excess = distances[:, 1:] - rho[:, None]
    positive = excess > 0
    excess = np.where(positive, excess, 0.0)
    lo = np.zeros(m)
    hi = np.full(m, np.inf)
    mid = np.ones(m)
    active = np.ones(m, dtype=bool)
    for _ in range(_SMOOTH_K_ITERATIONS):
        rows = np.flatnonzero(active)
        if not len(rows):
            break
        psum = np.where(positive[rows], np.exp(-excess[rows] / mid[rows, None]), 1.0).sum(axis=1)
        converged = np.abs(psum - target) < _SMOOTH_K_TOLERANCE
        moving = rows[~converged]
        too_big = psum[~converged] > target
        hi[moving[too_big]] = mid[moving[too_big]]
        lo[moving[~too_big]] = mid[moving[~too_big]]
        h, low = hi[moving], lo[moving]
        mid[moving] = np.where(np.isinf(h), mid[moving] * 2, (low + h) / 2)
        active[rows[converged]] = False
    return np.maximum(mid, floor)


def _fuzzy_graph(neighbours: np.ndarray, distances: np.ndarray) -> Any:
    """umap-learn's ``fuzzy_simplicial_set`` from exact k-NN (local_connectivity 1, union).

    Parameters
    ----------
    neighbours : ndarray of shape (n, k)
        Each row's k nearest rows (itself included), nearest first.
    distances : ndarray of shape (n, k)

    Returns
    -------
    scipy.sparse.csr_matrix of shape (n, n), float32
        Symmetric membership strengths ``A + A^T - A * A^T``.
    """
    import scipy.sparse

    n, k = neighbours.shape
    nonzero = distances > 0
    first = np.argmax(nonzero, axis=1)
    rho = np.where(nonzero.any(axis=1), distances[np.arange(n), first], 0.0)
    floor = _MIN_K_DIST_SCALE * np.where(rho > 0, distances.mean(axis=1), distances.mean())
    sigma = _smooth_knn_scale(distances, rho, floor)
    strength = np.exp(-np.maximum(distances - rho[:, None], 0.0) / sigma[:, None])
    strength[neighbours == np.arange(n)[:, None]] = 0.0
    A = scipy.sparse.coo_matrix(
        (strength.astype(np.float32).ravel(), (np.repeat(np.arange(n), k), neighbours.ravel())),
        shape=(n, n),
    )
    A.eliminate_zeros()
    At = A.transpose()
    graph = A + At - A.multiply(At)
    graph.eliminate_zeros()
    return graph


def _place(fitted: np.ndarray, distances: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """Put new rows at the weighted mean of their nearest fitted rows' positions.

    This is how umap-learn's ``transform()`` starts (``init_graph_transform``): weights are the
    membership strengths ``exp(-d / sigma)`` with ``sigma`` from :func:`_smooth_knn_scale`
    (no ``rho``: local_connectivity 1 - 1), and a row equal to a fitted row lands on it.

    Parameters
    ----------
    fitted : ndarray of shape (n_fit, 2)
        Positions of the fitted rows.
    distances : ndarray of shape (m, k)
        Distances from each new row to its k nearest fitted rows, nearest first.
    neighbours : ndarray of shape (m, k)
        Their indices into ``fitted``.

    Returns
    -------
    placed : ndarray of shape (m, 2)
    weights : ndarray of shape (m, k)
        The membership strengths, 1 for an exact duplicate.
    """
    m = len(distances)
    # umap-learn floors sigma at 1e-3 of the batch's mean distance; the row's own mean makes a
    # row's place independent of the batch it is in.
    sigma = _smooth_knn_scale(distances, np.zeros(m), _MIN_K_DIST_SCALE * distances.mean(axis=1))
    weights = np.exp(-distances / sigma[:, None])
    placed = np.einsum("mk,mkc->mc", weights, fitted[neighbours]) / weights.sum(axis=1)[:, None]
    exact = distances[:, 0] <= 0
    placed[exact] = fitted[neighbours[exact, 0]]
    return placed, weights


def _refine(
    umap_: ModuleType,
    placed: np.ndarray,
    fitted: np.ndarray,
    neighbours: np.ndarray,
    weights: np.ndarray,
    min_dist: float,
    random_state: int,
    on_epoch: Callable[[int, int], None] | None,
) -> np.ndarray:
    """umap-learn's ``transform()`` epochs: move placed rows, keep the fitted ones still.

    Only the placed rows move, each pulled by its own edges to fitted rows and pushed from
    random fitted rows, so batches of rows can be refined one after the other with the same
    result as all at once. Batches of ``_REFINE_BATCH`` rows keep each numba call short: it
    holds the GIL throughout (an epoch over 95,000 rows holds it for ~0.13 s, stalling the app's
    other threads).
    Exact duplicates of fitted rows are not moved.

    Parameters
    ----------
    placed : ndarray of shape (m, 2)
        Starting places of the new rows (from :func:`_place`).
    fitted : ndarray of shape (n_fit, 2)
        Positions of the fitted rows, which do not move.
    neighbours, weights : ndarray of shape (m, k)
        Each new row's nearest fitted rows and their membership strengths.
    on_epoch : callable ``(done, total)`` or None
        Called after epochs, counted over all batches.

    Returns
    -------
    ndarray of shape (m, 2), float64
    """
    m, k = neighbours.shape
    n_epochs = _REFINE_EPOCHS
    a, b = umap_.umap_.find_ab_params(1.0, min_dist)
    rng_state = (
        np.random.RandomState(random_state)
        .randint(np.iinfo(np.int32).min, np.iinfo(np.int32).max, 3)
        .astype(np.int64)
    )
    tail_embedding = fitted.astype(np.float32)
    strongest = float(weights.max())
    batches = range(0, m, _REFINE_BATCH)
    refined = np.empty((m, 2))
    for number, start in enumerate(batches):
        rows = slice(start, start + _REFINE_BATCH)
        strength = weights[rows].ravel()
        # As transform() does: edges too weak to be sampled once in n_epochs are dropped, and
        # an edge is sampled in proportion to its strength (make_epochs_per_sample, with the
        # strongest edge of all rows rather than of the batch).
        keep = strength >= strongest / n_epochs
        head = np.repeat(np.arange(len(strength) // k, dtype=np.int32), k)[keep]
        tail = neighbours[rows].ravel().astype(np.int32)[keep]
        epochs_per_sample = strongest / strength[keep].astype(np.float64)

        def batch_epoch(done: int, total: int, number: int = number) -> None:
            if on_epoch is not None:
                on_epoch(number * n_epochs + done, len(batches) * n_epochs)

        refined[rows] = umap_.layouts.optimize_layout_euclidean(
            placed[rows].astype(np.float32),
            tail_embedding,
            head,
            tail,
            n_epochs,
            len(fitted),
            epochs_per_sample,
            a,
            b,
            rng_state,
            1.0,
            1.0 / 4.0,  # transform() starts at a quarter of the fit's learning rate
            5,
            False,
            tqdm_kwds=_epoch_hook(umap_, batch_epoch if on_epoch is not None else None),
        )
    # A row equal to a fitted row stays on it (transform() would let the epochs move it).
    exact = weights[:, 0] >= 1.0
    refined[exact] = placed[exact]
    return refined


# --- umap-learn: the spectral start and the layout epochs -----------------------------------

_KERNELS_LOCK = threading.Lock()
_kernels_compiled = False


def _kernels_ready() -> bool:
    """Whether UMAP's layout kernels have been compiled in this process already."""
    return _kernels_compiled or bool(_compiled_layout_signatures())


def _compiled_layout_signatures() -> list:
    """The type signatures numba has compiled umap-learn's layout epoch for, in this process.

    Empty before umap-learn is imported, and if a later umap-learn renames its kernel (then the
    warm-up of :func:`_compile_kernels` runs once, and costs nothing when already compiled).
    """
    layouts = sys.modules.get("umap.layouts")
    kernel = getattr(layouts, "_nb_optimize_layout_euclidean_single_epoch", None)
    return list(getattr(kernel, "signatures", None) or [])


def _compile_kernels(phases: _Phases) -> None:
    """Import umap-learn and compile its kernels on a tiny layout, reported as its own phase.

    numba compiles on first call, once per process; doing it on 200 rows keeps the real layout's
    epoch progress honest. Serialised so that concurrent first runs compile once.
    """
    global _kernels_compiled
    message = "Compiling UMAP's kernels, once per server"
    phases.at("compile", 0.0, f"{message}: loading umap-learn…")
    with _KERNELS_LOCK:
        umap_ = _import_umap()
        if _kernels_ready():
            _kernels_compiled = True
            phases.at("compile", 1.0, f"{message}: done.")
            return
        phases.at("compile", 0.5, f"{message}: the layout…")
        rng = np.random.default_rng(0)
        X = rng.normal(size=(200, 3))
        distances, neighbours = _NeighbourIndex(X, "euclidean").query(X, 10)
        _layout(umap_, X, _fuzzy_graph(neighbours, distances), 20, 0.1, "euclidean", 0, None)
        _kernels_compiled = True
    phases.at("compile", 1.0, f"{message}: done.")


def _layout(
    umap_: ModuleType,
    X: np.ndarray,
    graph: Any,
    n_epochs: int,
    min_dist: float,
    metric: str,
    random_state: int,
    on_epoch: Callable[[int, int], None] | None,
) -> np.ndarray:
    """umap-learn's spectral start and ``n_epochs`` of its layout, as ``UMAP.fit`` runs them.

    Returns
    -------
    ndarray of shape (n, 2), float64
    """
    _ignore_spectral_connectivity_warning()
    a, b = umap_.umap_.find_ab_params(1.0, min_dist)
    embedding, _ = umap_.umap_.simplicial_set_embedding(
        data=X.astype(np.float32),
        graph=graph,
        n_components=2,
        initial_alpha=1.0,
        a=a,
        b=b,
        gamma=1.0,
        negative_sample_rate=5,
        n_epochs=n_epochs,
        init="spectral",
        random_state=np.random.RandomState(random_state),
        metric=metric,
        metric_kwds={},
        densmap=False,
        densmap_kwds={},
        output_dens=False,
        parallel=False,
        verbose=False,
        tqdm_kwds=_epoch_hook(umap_, on_epoch),
    )
    return np.asarray(embedding, dtype=np.float64)


def _ignore_spectral_connectivity_warning() -> None:
    """Silence scikit-learn's "Graph is not fully connected" warning from UMAP's spectral start.

    When the neighbour graph falls apart into pieces (well-separated clusters), umap-learn places
    the pieces by a spectral embedding of their centres' affinities ``exp(-d^2)``, which are all
    0 for centres a few units apart; scikit-learn then warns on every such run, in words no user
    of the dashboard can act on. A narrow filter is added to the process-wide list, not a
    ``warnings.catch_warnings()`` block: that saves and restores the whole list, which is not
    safe while other threads run (before Python 3.14).
    """
    warnings.filterwarnings(
        "ignore",
        message="Graph is not fully connected",
        category=UserWarning,
        module=r"sklearn\.manifold\._spectral_embedding",
    )


def _epoch_hook(umap_: ModuleType, on_epoch: Callable[[int, int], None] | None) -> dict:
    """tqdm arguments that turn umap-learn's epoch progress bar into ``on_epoch`` calls.

    umap-learn's layout loop has no callback, only a ``tqdm`` bar over the epochs (drawn when
    ``tqdm_kwds["disable"]`` is False). Given a file of our own and a bar format we can read,
    the bar reports the epochs as they pass, at most every ``_EPOCH_REPORT_SECONDS``. In a
    Jupyter kernel tqdm draws a widget instead and ignores the file, so there the bar stays off
    and the layout reports only its start and end.
    """
    notebook = sys.modules.get("tqdm.notebook")
    bar = getattr(umap_.layouts, "tqdm", None)
    if (
        on_epoch is None
        or bar is None
        or (notebook is not None and issubclass(bar, notebook.tqdm_notebook))
    ):
        return {"disable": True}
    return {
        "disable": False,
        "file": _EpochWriter(on_epoch),
        "bar_format": "epoch {n}/{total}",
        "mininterval": _EPOCH_REPORT_SECONDS,
        "miniters": 1,
        "position": 0,
        "leave": False,
        "ascii": True,
    }


class _EpochWriter:
    """A text file for tqdm that passes each ``epoch n/total`` it is sent to ``on_epoch``."""

    _PATTERN = re.compile(r"epoch (\d+)/(\d+)")

    def __init__(self, on_epoch: Callable[[int, int], None]) -> None:
        self._on_epoch = on_epoch
        self._raised = False

    def write(self, text: str) -> int:
        found = self._PATTERN.findall(text)
        if found and not self._raised:
            done, total = (int(v) for v in found[-1])
            try:
                self._on_epoch(done, total)
            except BaseException:
                # tqdm writes again as the exception closes its bar; let it out only once.
                self._raised = True
                raise
        return len(text)

    def flush(self) -> None:
        pass


_IMPORT_LOCK = threading.Lock()


def _import_umap() -> ModuleType:
    if "umap.umap_" in sys.modules and "umap.layouts" in sys.modules:
        return sys.modules["umap"]
    try:
        with _IMPORT_LOCK, warnings.catch_warnings():
            # umap warns at import that TensorFlow is missing; we never use ParametricUMAP.
            # (catch_warnings is process-wide, so it is kept to this one-time import.)
            warnings.filterwarnings(
                "ignore", message="Tensorflow not installed", category=ImportWarning
            )
            import umap
            import umap.layouts
            import umap.umap_
    except ImportError as exc:
        raise ProjectionError(
            "UMAP needs the umap-learn package, which is not installed. Install it "
            "(pip install umap-learn) or choose PCA."
        ) from exc
    return umap


def _as_float_matrix(X: Any, name: str, n_columns: int | None = None) -> np.ndarray:
    """``X`` as a finite float64 matrix, or a ProjectionError saying what is wrong."""
    arr = np.asarray(X)
    if arr.dtype.kind not in "biuf":
        raise ProjectionError(
            f"{name} must hold numbers only; got values of type {arr.dtype}. Choose numeric "
            "columns."
        )
    if arr.ndim != 2:
        raise ProjectionError(
            f"{name} must be a table of rows and columns (2-D); got an array of shape {arr.shape}."
        )
    if n_columns is not None and arr.shape[1] != n_columns:
        raise ProjectionError(
            f"{name} must have {n_columns} columns, like the data the projection was made from; "
            f"got {arr.shape[1]}."
        )
    arr = arr.astype(np.float64, copy=False)
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        raise ProjectionError(
            f"{name} has {int(bad.sum()):,} rows with missing or infinite values (the first is "
            f"row {int(np.argmax(bad))}); drop or impute them first."
        )
    return arr


def _column_names(column_names: Sequence[str] | None, d: int) -> tuple[str, ...]:
    if column_names is None:
        return tuple(f"Column {j + 1}" for j in range(d))
    names = tuple(str(name) for name in column_names)
    if len(names) != d:
        raise ProjectionError(f"column_names has {len(names)} names but the data has {d} columns.")
    return names


def _all_rows_identical(X: np.ndarray) -> bool:
    return bool((X[0] == X).all())


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _read_only(a: np.ndarray) -> np.ndarray:
    # A frozen Projection should not change under a cache that hands out the same object.
    a.setflags(write=False)
    return a
