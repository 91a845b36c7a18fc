"""Model-based hierarchical agglomeration: the start R's mclust gives EM by default.

``Mclust()`` starts EM for G components from the partition into G clusters of a model-based
agglomerative tree (Banfield & Raftery 1993; Fraley 1998, "Algorithms for model-based Gaussian
hierarchical clustering", SIAM J. Sci. Comput. 20), built by ``hc(data, modelName = "VVV",
use = "SVD")`` (``mclust.options("hcModelName")``, ``mclust.options("hcUse")``) on at most
``mclust.options("subset") = 2000`` rows drawn at random. :func:`agglomerate` builds that tree;
:meth:`HierarchicalTree.partition` cuts it, as mclust's ``hclass()`` does.

Starting from one cluster per row, each step merges the two clusters whose merge costs least:

* ``"VVV"``: the classification likelihood of unconstrained Gaussians, with mclust's
  regularisation of small clusters: a cluster ``c`` of ``n_c`` points contributes
  ``n_c log(|W_c / n_c| + beta (tr W_c + alpha) / n_c)`` (only ``n_c log(beta (tr W_c + alpha) /
  n_c)`` while ``n_c <= d``), ``W_c`` its scatter matrix, ``beta = 1`` and ``alpha`` the total sum
  of squares of ``X / sqrt(n d)`` (mclust's ``traceW``), so that singletons and pairs have a
  finite cost;
* ``"EII"``: Ward's criterion, the increase of the within-cluster sum of squares.

Before agglomerating, the rows are transformed as mclust's ``hc(use = ...)`` does:

==========  ===================================================================================
``VARS``    the variables as they are
``STD``     standardised (centred, divided by the standard deviation, denominator n - 1)
``PCR``     principal components of the standardised variables (``Z = X_std V``)
``PCS``     principal components of the centred variables (``Z = X_c V``)
``SPH``     sphered: ``Z = X_c V diag(1 / sqrt(lambda))``, ``V, lambda`` the eigenvectors and
            eigenvalues of the covariance (denominator n)
``SVD``     scaled SVD of the standardised variables: ``Z = X_std V diag(1 / sqrt(s))``, ``s``
            the singular values (mclust's default)
``RND``     no agglomeration: a random tree (random pairs, then random merges of clusters)
==========  ===================================================================================

Columns that are not finite after the transformation (a constant column when standardising)
are dropped, as mclust's ``dropCols`` does; for ``SVD`` and ``SPH``, directions whose singular
value or eigenvalue is numerically zero are dropped too (mclust would divide by zero there).

Ties. Data with repeated values give exactly equal merge costs; the compiled loops
(:mod:`gmm_core._hc_kernels`, imported on first use so that importing this module never imports
numba) follow mclust's order of cluster slots and its floating-point operations, so that they
break ties as mclust does. Against mclust 6.0 (tests/test_hierarchical.py: Old Faithful, iris,
and two synthetic sets full of exact ties) the merge sequences are mclust's, merge by merge,
whenever no rotation is involved (VARS, STD) and for VVV with SVD (the default) on all but the
set of repeated integer rows, where the partitions into 1..9 clusters still agree; on 2,000
random rows (d = 2 and 10) VVV and EII with SVD give mclust's whole sequences too. Where a
rotation (SVD, PCR, PCS, SPH) comes in, numpy's SVD and R's LAPACK round differently, and two
pairs whose costs are equal in exact arithmetic (two pairs of points differing by the same
vector) can come out in the other order; it changed partitions in two cells of 26 (iris VVV
PCR, and EII SVD on the repeated integer rows).

``Mclust()`` agglomerates with ``model="EII"`` when there are no more rows than features; that
choice is the caller's.

Cost: the tree needs the m (m - 1) / 2 pairwise costs in memory (m = 2000: 16 MB) and, for VVV,
O(m^2 d^2) work at most.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = ["MAX_ROWS", "MODELS", "USES", "HierarchicalTree", "agglomerate"]

#: The models :func:`agglomerate` knows.
MODELS = ("VVV", "EII")
#: mclust's ``hcUse`` transformations.
USES = ("VARS", "STD", "SPH", "PCS", "PCR", "SVD", "RND")
#: The most rows agglomerated at once: the pairwise costs take m (m - 1) / 2 doubles (1.6 GB
#: here), so beyond it a subset is the only sensible way (mclust's default is 2000).
MAX_ROWS = 20_000


@dataclass(frozen=True, eq=False)
class HierarchicalTree:
    """An agglomerative tree over ``m`` rows of a data set.

    Attributes
    ----------
    rows : ndarray of shape (m,), int64
        Indices into ``X`` of the agglomerated rows, increasing (all rows when ``n <= subset``).
        The tree's positions ``0..m-1`` refer to ``X[rows]``.
    merges : ndarray of shape (m - 1, 2), int64
        The merges in order, in mclust's format (its ``hc()`` matrix, transposed and 0-based):
        a cluster is named by its smallest member position; ``merges[k] = (a, b)`` with
        ``a < b`` merges cluster ``b`` into cluster ``a``, which keeps the name ``a``.
    costs : ndarray of shape (m - 1,), float64
        What each merge cost: the increase of the VVV criterion, or of the within-cluster sum of
        squares for EII (in the transformed units); NaN for ``use="RND"``.
    model : str
        ``"VVV"`` or ``"EII"``.
    use : str
        The transformation the rows went through (one of :data:`USES`).
    n_samples : int
        The number of rows of ``X``.
    """

    rows: np.ndarray
    merges: np.ndarray
    costs: np.ndarray
    model: str
    use: str
    n_samples: int

    @property
    def n_rows(self) -> int:
        """m, the number of agglomerated rows."""
        return int(self.rows.shape[0])

    def partition(self, n_components: int) -> np.ndarray:
        """Cut the tree into ``n_components`` clusters (mclust's ``hclass(tree, G)``).

        Parameters
        ----------
        n_components : int
            K, between 1 and m.

        Returns
        -------
        labels : ndarray of shape (m,), int64
            Cluster of each agglomerated row, ``0..K-1`` numbered by first occurrence (the first
            row is in cluster 0, the first row outside it in cluster 1, ...), as ``hclass`` does.
        """
        k = self._check_k(n_components, "n_components")
        m = self.n_rows
        parent = np.arange(m)
        done = self.merges[: m - k]
        parent[done[:, 1]] = done[:, 0]
        # Each name is absorbed once, into a smaller live name: pointer jumping finds the roots.
        while True:
            nxt = parent[parent]
            if np.array_equal(nxt, parent):
                break
            parent = nxt
        return _first_occurrence_labels(parent)

    def partitions(self, max_components: int) -> np.ndarray:
        """The partitions into 1, 2, ..., ``max_components`` clusters.

        Parameters
        ----------
        max_components : int
            Between 1 and m.

        Returns
        -------
        labels : ndarray of shape (max_components, m), int64
            Row ``k - 1`` is :meth:`partition` ``(k)``.
        """
        top = self._check_k(max_components, "max_components")
        return np.stack([self.partition(k) for k in range(1, top + 1)])

    def _check_k(self, value: int, name: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise ValueError(f"{name} must be an integer, got {value!r}")
        if not 1 <= value <= self.n_rows:
            raise ValueError(f"{name} must be between 1 and {self.n_rows} (the rows), got {value}")
        return int(value)


def agglomerate(
    X: np.ndarray,
    *,
    model: Literal["VVV", "EII"] = "VVV",
    use: str = "SVD",
    subset: int | None = 2000,
    random_state: np.random.Generator | int | None = None,
) -> HierarchicalTree:
    """Model-based hierarchical agglomeration of the rows of ``X`` (mclust's ``hc()``).

    Parameters
    ----------
    X : array-like of shape (n, d)
        Finite numbers; at least two rows and one column.
    model : {"VVV", "EII"}
        The criterion: ``"VVV"`` (mclust's default, unconstrained covariances, ``alpha`` and
        ``beta = 1`` as mclust sets them) or ``"EII"`` (Ward).
    use : str
        How the rows are transformed first, one of :data:`USES` (case-insensitive, as in
        mclust); the default ``"SVD"`` is mclust's ``hcUse``.
    subset : int or None
        When ``n > subset``, only ``subset`` rows drawn at random without replacement are
        agglomerated, as ``Mclust()`` does with ``mclust.options("subset")``; the
        transformation is computed on those rows. ``None``: all rows.
    random_state : numpy.random.Generator, int or None
        Draws the subset (and the ``"RND"`` tree); unused otherwise.

    Returns
    -------
    HierarchicalTree
        ``rows`` says which rows of ``X`` were agglomerated.

    Raises
    ------
    ValueError
        On a non-numeric, non-2-D or non-finite ``X``, fewer than two rows, an unknown
        ``model`` or ``use``, a ``subset`` below 2, more than :data:`MAX_ROWS` rows to
        agglomerate, or data left with no usable column after the transformation (every column
        constant).
    """
    X = _check_data(X)
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    use_name = use.upper() if isinstance(use, str) else use
    if use_name not in USES:
        raise ValueError(f"use must be one of {USES}, got {use!r}")
    if subset is not None and (
        isinstance(subset, bool) or not isinstance(subset, int | np.integer) or subset < 2
    ):
        raise ValueError(f"subset must be an integer of at least 2 or None, got {subset!r}")
    if not (
        random_state is None
        or isinstance(random_state, np.random.Generator)
        or (isinstance(random_state, int | np.integer) and not isinstance(random_state, bool))
    ):
        raise ValueError(
            f"random_state must be a numpy Generator, an integer or None, got {random_state!r}"
        )
    n = X.shape[0]
    rng = np.random.default_rng(random_state)
    if subset is not None and n > subset:
        rows = np.sort(rng.choice(n, size=int(subset), replace=False)).astype(np.int64)
    else:
        rows = np.arange(n, dtype=np.int64)
    m = rows.shape[0]
    if m > MAX_ROWS:
        raise ValueError(
            f"cannot agglomerate {m} rows at once (at most {MAX_ROWS}: the pairwise costs alone "
            f"would take {m * (m - 1) * 4 / 1e9:.1f} GB); pass subset= to agglomerate a sample"
        )
    data = X[rows]

    if use_name == "RND":
        merges = _random_merges(m, rng)
        costs = np.full(m - 1, np.nan)
    else:
        Z = _transform(data, use_name)
        from gmm_core import _hc_kernels  # numba, on first use only

        Z = np.ascontiguousarray(Z, dtype=np.float64)
        if model == "VVV":
            # hcVVV: alpha = traceW(Z / sqrt(m d)), at least the machine epsilon; beta = 1.
            alpha = max(float(_hc_kernels.trace_w(Z)), float(np.finfo(np.float64).eps))
            merges, costs = _hc_kernels.vvv(Z, alpha, 1.0)
        else:
            merges, costs = _hc_kernels.ward_eii(Z)
    for array in (rows, merges, costs):
        array.setflags(write=False)
    return HierarchicalTree(
        rows=rows, merges=merges, costs=costs, model=model, use=use_name, n_samples=n
    )


def _check_data(X) -> np.ndarray:
    X = np.asarray(X)
    if X.dtype.kind not in "biuf":
        raise ValueError(f"X must hold numbers, got dtype {X.dtype}")
    if X.ndim != 2:
        raise ValueError(
            f"X must be 2-D of shape (n, d), got {X.ndim}-D"
            + (" (use X.reshape(-1, 1) for one feature)" if X.ndim == 1 else "")
        )
    n, d = X.shape
    if n < 2:
        raise ValueError(f"X needs at least 2 rows to agglomerate, got {n}")
    if d < 1:
        raise ValueError("X needs at least one column")
    X = X.astype(np.float64)
    if not np.all(np.isfinite(X)):
        raise ValueError("X must be finite (no NaN or infinity)")
    return X


def _col_means(X: np.ndarray) -> np.ndarray:
    # R's colMeans: the sum and the division in long double, then rounded.
    return (np.sum(X.astype(np.longdouble), axis=0) / X.shape[0]).astype(np.float64)


def _r_scale(X: np.ndarray, scale: bool) -> np.ndarray:
    # R's scale(X, center = TRUE, scale = scale): sums of squares in long double as R's sum().
    Xc = X - _col_means(X)
    if not scale:
        return Xc
    ss = np.sum(np.square(Xc).astype(np.longdouble), axis=0).astype(np.float64)
    sd = np.sqrt(ss / max(1, X.shape[0] - 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return Xc / sd


def _drop_cols(Z: np.ndarray) -> np.ndarray:
    # mclust's dropCols: keep the columns whose values are all finite.
    return Z[:, np.all(np.isfinite(Z), axis=0)]


def _product(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    # A @ B summed over the inner index in order, as R's reference-BLAS %*% does: the same
    # rounding gives the same ties downstream.
    out = np.zeros((A.shape[0], B.shape[1]))
    for k in range(A.shape[1]):
        out += A[:, k : k + 1] * B[k]
    return out


def _transform(X: np.ndarray, use: str) -> np.ndarray:
    if use == "VARS":
        Z = X
    elif use == "STD":
        Z = _drop_cols(_r_scale(X, scale=True))
    elif use in ("PCR", "SVD"):
        data = _drop_cols(_r_scale(X, scale=True))
        if data.shape[1] == 0:
            raise ValueError("every column of X is constant: nothing to agglomerate on")
        _, s, vt = np.linalg.svd(data, full_matrices=False)
        Z = _product(data, vt.T)
        if use == "SVD":
            keep = s > s[0] * max(data.shape) * np.finfo(np.float64).eps
            Z = Z[:, keep] * (1.0 / np.sqrt(s[keep]))
    elif use == "PCS":
        data = _r_scale(X, scale=False)
        _, _, vt = np.linalg.svd(data, full_matrices=False)
        Z = _drop_cols(_product(data, vt.T))
    elif use == "SPH":
        data = _r_scale(X, scale=False)
        n = data.shape[0]
        sigma = (data.T @ data) / n
        _, lam, vt = np.linalg.svd(sigma)
        keep = lam > lam[0] * max(data.shape) * np.finfo(np.float64).eps
        Z = _product(data, vt.T[:, keep]) * (1.0 / np.sqrt(lam[keep]))
    else:  # pragma: no cover - checked by agglomerate
        raise ValueError(use)
    if Z.shape[1] == 0:
        raise ValueError("every column of X is constant: nothing to agglomerate on")
    return Z


def _random_merges(m: int, rng: np.random.Generator) -> np.ndarray:
    # use="RND": like mclust's hcRandomPairs, random pairs first, then random merges of the
    # clusters; unlike it, an odd row out joins the second phase, so the tree is complete.
    order = rng.permutation(m)
    merges = []
    alive = []
    for a, b in zip(order[0::2], order[1::2], strict=False):
        lo, hi = (int(a), int(b)) if a < b else (int(b), int(a))
        merges.append((lo, hi))
        alive.append(lo)
    if m % 2:
        alive.append(int(order[-1]))
    while len(alive) > 1:
        i, j = rng.choice(len(alive), size=2, replace=False)
        a, b = alive[i], alive[j]
        lo, hi = (a, b) if a < b else (b, a)
        merges.append((lo, hi))
        alive[i] = lo
        alive.pop(j)
    return np.asarray(merges, dtype=np.int64).reshape(m - 1, 2)


def _first_occurrence_labels(names: np.ndarray) -> np.ndarray:
    _, first, inverse = np.unique(names, return_index=True, return_inverse=True)
    rank = np.empty(first.shape[0], dtype=np.int64)
    rank[np.argsort(first)] = np.arange(first.shape[0])
    return rank[inverse.reshape(-1)]
