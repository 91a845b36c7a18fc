"""Two-dimensional views of the chosen columns: the columns themselves, PCA, or UMAP.

A linear view (``"none"`` or ``"pca"``) is the affine map ``z = W (x - c)``. A Gaussian
``N(m, S)`` in the d columns is then exactly ``N(W (m - c), W S W^T)`` in the plane, so the
fitted components can be drawn as ellipses over the points. UMAP is non-linear: only the points
can be shown.

umap-learn (and numba, which compiles it) takes seconds to import, so it is imported inside
:func:`project` and only when UMAP is asked for.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

METHODS: tuple[str, ...] = ("none", "pca", "umap")
#: UMAP is fitted on at most this many rows; the others are placed with its transform().
MAX_UMAP_ROWS = 20_000

UMAP_METRICS: tuple[str, ...] = ("euclidean", "manhattan", "cosine", "correlation", "chebyshev")

MIN_UMAP_ROWS = 10
N_NEIGHBORS_RANGE: tuple[int, int] = (2, 200)

# UMAP.transform runs 100 optimisation epochs on batches of at most 10,000 rows but only 30 on
# larger ones (umap_.py); capping the batch there refines every batch alike.
_MAX_TRANSFORM_BATCH = 10_000
_MIN_PROGRESS_STEPS = 10
# Rough share of the wall time spent fitting the sample when the other rows are transformed:
# on 2 cores 20,000 rows of 10 columns fitted in 45-60 s and 80,000 more were placed in ~22 s
# once numba's on-disk cache was warm (~65 s on the very first run).
_UMAP_FIT_SHARE = 0.7
_LOW_PCA_VARIANCE = 0.5


class ProjectionError(ValueError):
    """The data or the arguments do not allow the requested projection.

    The message says what is wrong and how to fix it, in words fit to show a user.
    Subclasses ``ValueError`` so generic callers can catch it as bad input.
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
    max_umap_rows : int, default 20_000
        UMAP only: above this many rows UMAP is fitted on a random sample of this size and the
        other rows are placed with ``transform()``, in batches.
    progress : callable ``(fraction, message) -> None``, optional
        Called with ``fraction`` 0.0 at the start, with values in between while UMAP places
        batches of rows, and with 1.0 at the end.

    Returns
    -------
    Projection

    Raises
    ------
    ProjectionError
        When the data or the arguments do not suit the method; the message says how to fix it.
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

    if method == "none":
        report(0.0, "Using the two chosen columns as the axes…")
        result = _identity(X, names)
    elif method == "pca":
        report(0.0, "Computing the principal components…")
        result = _pca(X)
    else:
        report(
            0.0,
            f"Fitting UMAP on {min(n, max_umap_rows):,} rows (the first run also compiles "
            "UMAP, which takes a while)…",
        )
        result = _umap(X, n_neighbors, min_dist, metric, random_state, max_umap_rows, report)
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


def _umap(
    X: np.ndarray,
    n_neighbors: int,
    min_dist: float,
    metric: str,
    random_state: int,
    max_umap_rows: int,
    report: Callable[[float, str], None],
) -> Projection:
    umap = _import_umap()
    n = X.shape[0]
    n_fit = min(n, max_umap_rows)
    notes: list[str] = []
    fit_rows: np.ndarray | None = None
    X_fit = X
    if n_fit < n:
        rng = np.random.default_rng(random_state)
        fit_rows = np.sort(rng.choice(n, size=n_fit, replace=False))
        is_rest = np.ones(n, dtype=bool)
        is_rest[fit_rows] = False
        rest_rows = np.flatnonzero(is_rest)
        X_fit = X[fit_rows]
        if _all_rows_identical(X_fit):
            raise ProjectionError(
                f"All {n_fit:,} rows of UMAP's random sample are identical, so it has no "
                "neighbourhoods to preserve. Raise max_umap_rows or choose columns that vary."
            )

    # random_state makes UMAP single-threaded anyway; saying n_jobs=1 avoids its warning.
    reducer = umap.UMAP(
        n_components=2,
        n_neighbors=n_neighbors,
        min_dist=min_dist,
        metric=metric,
        random_state=random_state,
        n_jobs=1,
    )
    fitted, caught = _call_quietly(reducer.fit_transform, X_fit)
    notes += caught
    if fit_rows is None:
        embedding = np.asarray(fitted, dtype=np.float64)
    else:
        embedding = np.empty((n, 2))
        embedding[fit_rows] = fitted
        n_rest = len(rest_rows)
        report(_UMAP_FIT_SHARE, f"Placing the other {n_rest:,} rows with transform()…")
        batch = min(_MAX_TRANSFORM_BATCH, max(1, math.ceil(n_rest / _MIN_PROGRESS_STEPS)))
        for start in range(0, n_rest, batch):
            rows = rest_rows[start : start + batch]
            placed, caught = _call_quietly(reducer.transform, X[rows])
            notes += caught
            embedding[rows] = placed
            done = start + len(rows)
            report(
                _UMAP_FIT_SHARE + (1.0 - _UMAP_FIT_SHARE) * done / n_rest,
                f"Placed {done:,} of {n_rest:,} rows…",
            )
        notes.insert(
            0,
            f"UMAP was fitted on a random sample of {n_fit:,} of {n:,} rows; the rest were "
            "placed with transform().",
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
        notes=tuple(dict.fromkeys(notes)),
    )


def _import_umap() -> ModuleType:
    try:
        with warnings.catch_warnings():
            # umap warns at import that TensorFlow is missing; we never use ParametricUMAP.
            warnings.filterwarnings(
                "ignore", message="Tensorflow not installed", category=ImportWarning
            )
            import umap
    except ImportError as exc:
        raise ProjectionError(
            "UMAP needs the umap-learn package, which is not installed. Install it "
            "(pip install umap-learn) or choose PCA."
        ) from exc
    return umap


def _call_quietly(func: Callable[..., Any], *args: Any) -> tuple[Any, list[str]]:
    """Call a UMAP method and turn the warnings it raises into notes for the user.

    UMAP and the libraries under it warn through ``warnings``; in the app nobody would see those
    (and pytest turns them into errors), so the user-level ones become notes and the rest
    (numba's compiler chatter, deprecations) are dropped.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # Seeding UMAP makes it single-threaded, which it reports as overriding n_jobs; we ask
        # for one job already, and the message would mean nothing to a user.
        warnings.filterwarnings(
            "ignore", message=r"n_jobs value .* overridden", category=UserWarning
        )
        result = func(*args)
    notes = [
        "UMAP warned: " + " ".join(str(w.message).split("\n", 1)[0].split())
        for w in caught
        if issubclass(w.category, UserWarning)
    ]
    return result, notes


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
