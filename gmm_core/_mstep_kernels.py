"""Compiled inner loops of mclust's iterative M-steps (see :mod:`gmm_core.mclust_models`).

:mod:`gmm_core.mclust_models` imports this module on first use of VEI, VEE, EVE, VVE or VEV
only, so that importing the library never imports numba. These kernels are the only
implementation of those five M-steps: the algorithms, their starts and stopping rules are
described in :mod:`gmm_core.mclust_models`, and its tests check them against R's mclust 6.0
(parameters to ~1e-14 and the same number of inner iterations).

Why compiled: Browne and McNicholas's MM for EVE and VVE runs hundreds to thousands of inner
iterations per M-step from a cold start, each two polar factors of a d x d matrix and a few
K x d x d products; as NumPy calls that cost ~0.2 ms per iteration (70 ms per M-step in a
sweep on the wine data), almost all of it call overhead. Here an iteration is a few
microseconds.

Floating point: the same operations as the NumPy formulation (LAPACK's ``gesdd`` for the polar
factors, ``syevd`` for the eigenvalues, ``getrf``/``getri`` for VEE's inverse, through numba's
``np.linalg``), with products and sums as plain loops, no ``fastmath``: results differ from
the NumPy formulation by the order of the additions only (rounding). The positive-definiteness
tests that NumPy made with ``np.linalg.cholesky`` are a Cholesky factorisation that fails on a
pivot that is not positive, as LAPACK's ``potrf`` does.

Each kernel returns a status: 0, or the index in :data:`REASONS` of the quantity that failed,
which :mod:`gmm_core.mclust_models` raises as a ``SingularCovarianceError``, as mclust
returns NA.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_EPS = 2.220446049250313e-16
_RTEPS = 1.4901161193847656e-08
# mclust's "previous value" before the first iteration (FLMAX / 2)
_HUGE = 8.988465674311579e307

OK = 0
SINGULAR_SCATTER = 1
SHAPE_A = 2
VOLUME = 3
SHAPE_THE = 4
COMPONENT_VARIANCE = 5
SCATTER_EIGENVALUE = 6
SCATTER_NOT_PD = 7
COMMON_EIGENVALUE = 8
COMMON_NOT_PD = 9

#: What failed, by status code (the ``reason`` of the ``SingularCovarianceError``).
REASONS: tuple[str, ...] = (
    "",
    "a scatter matrix is (nearly) singular",
    "a shape is not positive",
    "a volume is not positive",
    "the shape is not positive",
    "a component variance is not positive",
    "an eigenvalue of a scatter matrix is not positive",
    "a scatter matrix is not positive definite",
    "an eigenvalue of the common matrix is not positive",
    "the common matrix is not positive definite",
)


@njit(cache=True)
def _positive(values, floor):
    # True when every value is finite and above floor (NaN fails, as in NumPy's check).
    for v in values.ravel():  # noqa: SIM110 (a generator in all() does not compile)
        if not (math.isfinite(v) and v > floor):
            return False
    return True


@njit(cache=True)
def _geometric_mean(values):
    s = 0.0
    for v in values:
        s += math.log(v)
    return math.exp(s / values.size)


@njit(cache=True)
def cholesky(A, L):
    """The lower Cholesky factor of ``A`` into ``L`` (d, d); False, as potrf fails, on a pivot
    that is not positive or is NaN."""
    d = A.shape[0]
    for j in range(d):
        s = A[j, j]
        for p in range(j):
            s -= L[j, p] * L[j, p]
        if not s > 0.0:
            return False
        ljj = math.sqrt(s)
        L[j, j] = ljj
        for i in range(j + 1, d):
            t = A[i, j]
            for p in range(j):
                t -= L[i, p] * L[j, p]
            L[i, j] = t / ljj
        for i in range(j):
            L[i, j] = 0.0
    return True


@njit(cache=True)
def _is_positive_definite(A):
    d = A.shape[0]
    return cholesky(A, np.zeros((d, d)))


@njit(cache=True)
def _polar(F):
    # P R^T for the SVD F = P B R^T (LAPACK's gesdd, as NumPy's svd): the orthogonal matrix
    # nearest F. F is often singular by construction (MM 2's has a zero column whenever A_k^-1
    # peaks on the same axis for every k), so the choice of the null vectors is LAPACK's, as
    # before; a one-sided Jacobi SVD warm-started from the previous iteration was ~2x faster
    # at d = 13 but moved EVE/VVE estimates by up to 1e-11 after thousands of MM iterations.
    d = F.shape[0]
    if d == 2:
        return _polar2(F)
    P, _, RT = np.linalg.svd(F)
    out = np.zeros((d, d))
    for i in range(d):
        for p in range(d):
            a = P[i, p]
            for j in range(d):
                out[i, j] += a * RT[p, j]
    return out


@njit(cache=True)
def _polar2(F):
    # The orthogonal Q maximising tr(Q^T F), in closed form: the best rotation has
    # (cos, sin) along (a + d, c - b), the best reflection along (a - d, b + c), and the
    # rotation wins when det F >= 0 (r1^2 - r2^2 = 4 det F). What LAPACK's SVD returns
    # (P R^T) to rounding, without its ~1.5 us per call; where F is singular both are
    # maximisers, and EVE's and VVE's zero columns make them differ by the sign of that
    # column of D, which leaves every covariance D A D^T as it is.
    a, b, c, d = F[0, 0], F[0, 1], F[1, 0], F[1, 1]
    out = np.empty((2, 2))
    if a * d - b * c >= 0.0:
        x, y = a + d, c - b
        r = math.hypot(x, y)
        if r == 0.0:  # F = 0: every orthogonal matrix maximises, take the identity
            return np.eye(2)
        x, y = x / r, y / r
        out[0, 0], out[0, 1], out[1, 0], out[1, 1] = x, -y, y, x
    else:
        x, y = a - d, b + c
        r = math.hypot(x, y)
        x, y = x / r, y / r
        out[0, 0], out[0, 1], out[1, 0], out[1, 1] = x, y, y, -x
    return out


@njit(cache=True)
def _compose_common(scale, shape, D):
    # scale_k D diag(shape_k) D^T, symmetrised as NumPy's composition is.
    K, d = shape.shape
    cov = np.empty((K, d, d))
    for k in range(K):
        for i in range(d):
            for j in range(i, d):
                s = 0.0
                for p in range(d):
                    s += D[i, p] * shape[k, p] * D[j, p]
                s *= scale[k]
                cov[k, i, j] = s
                cov[k, j, i] = s
    return cov


@njit(cache=True)
def common_orientation_mm(W, N, D, shape, scale, volumes, weighted, tol, max_iter):
    """EVE / VVE: Browne and McNicholas's MM for the common orientation, as mclust runs it.

    Parameters
    ----------
    W : ndarray of shape (K, d, d)
        Scatter matrices.
    N : ndarray of shape (K,)
    D : ndarray of shape (d, d)
        Starting orientation.
    shape : ndarray of shape (K, d)
        Starting shapes.
    scale : ndarray of shape (K,)
        Starting volumes (read only when ``weighted``).
    volumes : bool
        VVE (free volumes) rather than EVE.
    weighted : bool
        Weigh each W_k by 1 / scale_k in the orientation update (VVE's exact M-step).
    tol, max_iter : float, int

    Returns
    -------
    scale (K,), shape (K, d), D (d, d), covariances (K, d, d), inner, err, status
    """
    K, d = W.shape[0], W.shape[1]
    scale = scale.copy()
    shape = shape.copy()
    D = D.copy()
    top = np.empty(K)  # the largest eigenvalue of each W_k, for the first majoriser
    for k in range(K):
        values = np.linalg.eigvalsh(W[k])
        if values[0] < _RTEPS:
            return scale, shape, D, np.empty((K, d, d)), 0, math.inf, SINGULAR_SCATTER
        top[k] = values[d - 1]
    Wt = W.copy()
    omega = top.copy()
    inv_shape = np.empty((K, d))
    F = np.empty((d, d))
    P = np.empty((d, d))  # a product of the iteration
    M = np.empty((K, d))
    per = np.empty(d)
    inner, err, previous = 0, math.inf, _HUGE
    while True:
        inner += 1
        if weighted:
            for k in range(K):
                Wt[k] = W[k] / scale[k]
                omega[k] = top[k] / scale[k]
        for k in range(K):
            for i in range(d):
                inv_shape[k, i] = 1.0 / shape[k, i]
        # The products below accumulate as axpys over contiguous rows (each entry still sums
        # over j in order): LLVM vectorises them, where dot products along a column do not.
        # MM 1: F = sum_k A_k^-1 D^T (W_k - omega_k I);  D <- (P R^T)^T
        F[:] = 0.0
        for k in range(K):
            P[:] = 0.0  # D^T W_k
            for j in range(d):
                for i in range(d):
                    a = D[j, i]
                    for c in range(d):
                        P[i, c] += a * Wt[k, j, c]
            for i in range(d):
                a = inv_shape[k, i]
                for c in range(d):
                    F[i, c] += a * (P[i, c] - omega[k] * D[c, i])
        D = _polar(F).T.copy()
        # MM 2: F = sum_k W_k D (A_k^-1 - max(A_k^-1) I);  D <- P R^T
        F[:] = 0.0
        for k in range(K):
            biggest = inv_shape[k].max()
            P[:] = 0.0  # W_k D
            for i in range(d):
                for j in range(d):
                    a = Wt[k, i, j]
                    for c in range(d):
                        P[i, c] += a * D[j, c]
            for i in range(d):
                for c in range(d):
                    F[i, c] += P[i, c] * (inv_shape[k, c] - biggest)
        D = _polar(F)
        # M = diag(D^T W_k D)
        M[:] = 0.0
        for k in range(K):
            P[:] = 0.0  # W_k D
            for j in range(d):
                for c in range(d):
                    a = W[k, j, c]
                    for i in range(d):
                        P[j, i] += a * D[c, i]
            for j in range(d):
                for i in range(d):
                    M[k, i] += D[j, i] * P[j, i]
        if not _positive(M, 0.0):
            return scale, shape, D, np.empty((K, d, d)), inner, err, SHAPE_A
        for k in range(K):
            if volumes:
                for i in range(d):
                    per[i] = M[k, i] / N[k]
                scale[k] = _geometric_mean(per)
                for i in range(d):
                    shape[k, i] = per[i] / scale[k]
            else:
                g = _geometric_mean(M[k])
                for i in range(d):
                    shape[k, i] = M[k, i] / g
        if not _positive(shape, _RTEPS):
            return scale, shape, D, np.empty((K, d, d)), inner, err, SHAPE_A
        if weighted:
            target = 0.0
            for k in range(K):
                target += N[k] * math.log(scale[k])
            target = d * N.sum() + d * target
        else:
            # sum_k tr(W_k D A_k^-1 D^T), from M = diag(D^T W_k D)
            target = 0.0
            for k in range(K):
                for i in range(d):
                    target += M[k, i] / shape[k, i]
        err = abs(target - previous) / (1.0 + abs(target))
        previous = target
        if not (err > tol and inner < max_iter):
            break
    if not volumes:
        # one volume: sum_k tr(W_k D A_k^-1 D^T) / (n d)
        total = 0.0
        for k in range(K):
            for i in range(d):
                total += M[k, i] / shape[k, i]
        lam = total / (N.sum() * d)
        for k in range(K):
            scale[k] = lam
    elif not _positive(scale, _RTEPS):
        return scale, shape, D, np.empty((K, d, d)), inner, err, VOLUME
    return scale, shape, D, _compose_common(scale, shape, D), inner, err, OK


@njit(cache=True)
def vee(W, N, scale, tol, max_iter):
    """VEE (mclust's msvee/mevee): alternate ``C = sum_k W_k / lambda_k`` scaled to ``|C| = 1``
    and ``lambda_k = tr(W_k C^-1) / (d N_k)``.

    Returns
    -------
    scale (K,), shape (d,), orientation (d, d), covariances (K, d, d), inner, err, status
    """
    K, d = W.shape[0], W.shape[1]
    scale = scale.copy()
    C = np.zeros((d, d))
    for k in range(K):
        if not _is_positive_definite(W[k]):
            return scale, np.empty(d), C, np.empty((K, d, d)), 0, math.inf, SCATTER_NOT_PD
    inner, err, previous = 0, math.inf, _HUGE
    total = N.sum()
    while True:
        inner += 1
        C[:] = 0.0
        for k in range(K):
            r = 1.0 / scale[k]
            for i in range(d):
                for j in range(d):
                    C[i, j] += W[k, i, j] * r
        eig = np.linalg.eigvalsh(C)
        if not _positive(eig, 0.0):
            return scale, np.empty(d), C, np.empty((K, d, d)), inner, err, COMMON_EIGENVALUE
        C = C / _geometric_mean(eig)
        if not _is_positive_definite(C):
            return scale, np.empty(d), C, np.empty((K, d, d)), inner, err, COMMON_NOT_PD
        C_inv = np.linalg.inv(C)
        for k in range(K):
            s = 0.0
            for i in range(d):
                for j in range(d):
                    s += W[k, i, j] * C_inv[j, i]
            scale[k] = s / (d * N[k])
        if not _positive(scale, 0.0):
            return scale, np.empty(d), C, np.empty((K, d, d)), inner, err, VOLUME
        target = 0.0
        for k in range(K):
            target += math.log(scale[k]) * N[k]
        target = total * d + d * target
        err = abs(target - previous) / (1.0 + abs(target))
        previous = target
        if not (err > tol and inner < max_iter):
            break
    C = 0.5 * (C + C.T)
    values, vectors = np.linalg.eigh(C)
    values = values[::-1].copy()
    vectors = vectors[:, ::-1].copy()
    shape = values / _geometric_mean(values)
    if not _positive(shape, _RTEPS):
        return scale, shape, vectors, np.empty((K, d, d)), inner, err, SHAPE_THE
    if not _positive(scale, _RTEPS):
        return scale, shape, vectors, np.empty((K, d, d)), inner, err, VOLUME
    cov = np.empty((K, d, d))
    for k in range(K):
        cov[k] = scale[k] * C
    return scale, shape, vectors, cov, inner, err, OK


@njit(cache=True)
def vei(w, N, scale, shape, tol, max_iter):
    """VEI (mclust's msvei/mevei): alternate the volumes and the common shape.

    Parameters
    ----------
    w : ndarray of shape (K, d)
        The diagonals of the scatter matrices.
    N : ndarray of shape (K,)
    scale : ndarray of shape (K,)
    shape : ndarray of shape (d,)
        Starting values.
    tol, max_iter : float, int

    Returns
    -------
    scale (K,), shape (d,), inner, err, status
    """
    K, d = w.shape
    scale = scale.copy()
    shape = shape.copy()
    if not _positive(w, 0.0):
        return scale, shape, 0, math.inf, COMPONENT_VARIANCE
    old_scale = np.empty(K)
    old_shape = np.empty(d)
    inner, err = 0, math.inf
    while True:
        if not _positive(shape, _EPS):
            return scale, shape, inner, err, SHAPE_THE
        inner += 1
        old_scale[:] = scale
        old_shape[:] = shape
        for k in range(K):
            s = 0.0
            for j in range(d):
                s += w[k, j] / shape[j]
            scale[k] = s / (d * N[k])
        if not _positive(scale, _EPS):
            return scale, shape, inner, err, VOLUME
        for j in range(d):
            s = 0.0
            for k in range(K):
                s += w[k, j] / scale[k]
            shape[j] = s
        if not _positive(shape, _EPS):
            return scale, shape, inner, err, SHAPE_THE
        g = _geometric_mean(shape)
        for j in range(d):
            shape[j] /= g
        err = _relative_change(old_scale, scale, old_shape, shape)
        if not (err > tol and inner <= max_iter):
            break
    return scale, shape, inner, err, OK


@njit(cache=True)
def _relative_change(old_scale, scale, old_shape, shape):
    # max over the volumes and the shape of |old - new| / (1 + new)
    err = 0.0
    for k in range(scale.size):
        err = max(err, abs(old_scale[k] - scale[k]) / (1.0 + scale[k]))
    for j in range(shape.size):
        err = max(err, abs(old_shape[j] - shape[j]) / (1.0 + shape[j]))
    return err


@njit(cache=True)
def vev(W, N, n, scale, shape, warm, tol, max_iter):
    """VEV (mclust's msvev/mevev): D_k the eigenvectors of W_k, then alternate the volumes and
    the common shape on the eigenvalues (from EEV's shape unless ``warm``).

    Returns
    -------
    scale (K,), shape (d,), orientations (K, d, d), covariances (K, d, d), inner, err, status
    """
    K, d = W.shape[0], W.shape[1]
    values = np.empty((K, d))
    axes = np.empty((K, d, d))
    for k in range(K):
        lam, vec = np.linalg.eigh(W[k])
        for j in range(d):
            values[k, j] = lam[d - 1 - j]
            for i in range(d):
                axes[k, i, j] = vec[i, d - 1 - j]
    if not _positive(values, 0.0):
        return scale, shape, axes, np.empty((K, d, d)), 0, math.inf, SCATTER_EIGENVALUE
    if warm:
        scale = scale.copy()
        shape = shape.copy()
    else:
        pooled = np.zeros(d)
        for k in range(K):
            for j in range(d):
                pooled[j] += values[k, j]
        g = _geometric_mean(pooled)
        shape = pooled / g
        # mclust's starting volumes (only the first convergence check sees them)
        scale = g / (N * n)
    old_scale = np.empty(K)
    old_shape = np.empty(d)
    inner, err = 0, math.inf
    while inner < max_iter:
        old_scale[:] = scale
        old_shape[:] = shape
        for k in range(K):
            s = 0.0
            for j in range(d):
                s += values[k, j] / shape[j]
            scale[k] = s / (N[k] * d)
        if not _positive(scale, 0.0):
            return scale, shape, axes, np.empty((K, d, d)), inner, err, VOLUME
        for j in range(d):
            s = 0.0
            for k in range(K):
                s += values[k, j] / scale[k]
            shape[j] = s
        if not _positive(shape, 0.0):
            return scale, shape, axes, np.empty((K, d, d)), inner, err, SHAPE_THE
        g = _geometric_mean(shape)
        for j in range(d):
            shape[j] /= g
        inner += 1
        err = _relative_change(old_scale, scale, old_shape, shape)
        if err < tol:
            break
    if not _positive(np.sqrt(shape), _RTEPS):
        return scale, shape, axes, np.empty((K, d, d)), inner, err, SHAPE_THE
    cov = np.empty((K, d, d))
    for k in range(K):
        for i in range(d):
            for j in range(i, d):
                s = 0.0
                for p in range(d):
                    s += axes[k, i, p] * shape[p] * axes[k, j, p]
                s *= scale[k]
                cov[k, i, j] = s
                cov[k, j, i] = s
    return scale, shape, axes, cov, inner, err, OK
