"""The whole EM loop compiled, for fits that keep only the log-likelihood trace.

:func:`gmm_core.em.compiled_run` calls :func:`run` when an estimator keeps its history as a
trace (``keep_history='trace'``, what a model-selection sweep asks for) and the numba engine
runs: every iteration (E-step, M-step, the checks, the stopping rule) stays in compiled
code, so an iteration on a few hundred rows costs microseconds instead of the ~0.2 ms of
Python around each iteration of :func:`gmm_core.em.em_iterations` (engine call, M-step,
checks, snapshot). A sweep of mclust's fourteen models over K = 1..9 on Old Faithful is
about 8,000 such iterations.

It is the same algorithm as :func:`gmm_core.em.em_iterations` with the numba engine, on the
same statistics: responsibilities accumulated around the E-step's means (``first``,
``second``, as :mod:`gmm_core._fast`), the scatter matrices of
:func:`gmm_core.mclust_models.scatter_from_centered` with ``N_k reg_covar`` on their
diagonals, each model's M-step as :mod:`gmm_core.mclust_models` writes it (the inner
iterations of VEI, VEE, EVE, VVE and VEV are the kernels of :mod:`gmm_core._mstep_kernels`,
all but VEE's warm-started from the previous M-step, as mclust's ``me()``), the resolution test of
:func:`gmm_core.params.check_resolved`, and scikit-learn's stopping rule. Results agree with
the Python loop to rounding; scikit-learn's four models take mclust's arithmetic here, which
differs from scikit-learn's closed form only by its ``10 eps`` added to ``N_k``.

Covariances are held as ``(K, d, d)`` matrices whatever the layout (the models' layouts only
save memory, which a few hundred rows do not need), factored as ``L L^T`` once per
iteration.

The loop does not raise and does not explain failures: any estimate that the Python loop
would refuse (an empty component, a singular estimate of one of mclust's models, a
covariance that is not positive definite or not resolved in floating point) ends it with
a status, and the caller runs the Python loop from the same start, which raises the error
with its message.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from . import _fast
from . import _mstep_kernels as mk

_EPS = 2.220446049250313e-16
_RTEPS = 1.4901161193847656e-08
_LOG_2PI = 1.8378770664093453
#: :data:`gmm_core.params.RESOLUTION_ULPS`.
_ULPS = 16.0

#: The models, numbered in mclust's order (:data:`gmm_core.params.MCLUST_MODELS`).
EII, VII, EEI, VEI, EVI, VVI, EEE, VEE, EVE, VVE, EEV, VEV, EVV, VVV = range(14)

#: Layout of the covariances in :func:`gmm_core.params.check_resolved`'s tests.
LAYOUT_FULL, LAYOUT_TIED, LAYOUT_DIAG, LAYOUT_SPHERICAL = range(4)

OK = 0
#: A component's weight at or below sqrt(eps): mclust's M-steps refuse it.
EMPTY = 1
#: A model's M-step found its estimate singular (mclust's NA).
SINGULAR = 2
#: A covariance is not positive definite (the Cholesky factorisation failed).
NOT_POSITIVE_DEFINITE = 3
#: A variance or a pivot is within rounding (:func:`gmm_core.params.check_resolved`).
UNRESOLVED = 4


@njit(cache=True)
def _eigh_descending(A):
    values, vectors = np.linalg.eigh(A)
    d = A.shape[0]
    out_values = np.empty(d)
    out_vectors = np.empty((d, d))
    for j in range(d):
        out_values[j] = values[d - 1 - j]
        for i in range(d):
            out_vectors[i, j] = vectors[i, d - 1 - j]
    return out_values, out_vectors


@njit(cache=True)
def _all_positive(values):
    for v in values.ravel():  # noqa: SIM110 (a generator in all() does not compile)
        if not (math.isfinite(v) and v > 0.0):
            return False
    return True


@njit(cache=True)
def _diagonals(W):
    K, d = W.shape[0], W.shape[1]
    out = np.empty((K, d))
    for k in range(K):
        for j in range(d):
            out[k, j] = W[k, j, j]
    return out


@njit(cache=True)
def _symmetrised(cov):
    K, d = cov.shape[0], cov.shape[1]
    out = np.empty_like(cov)
    for k in range(K):
        for i in range(d):
            for j in range(d):
                out[k, i, j] = 0.5 * (cov[k, i, j] + cov[k, j, i])
    return out


@njit(cache=True)
def m_step(code, W, N, scale, shape, D, warm, inner_tol, inner_max_iter):
    """One model's covariances from the scatter matrices (``N_k reg_covar`` added).

    Parameters
    ----------
    code : int
        The model (:data:`EII` ... :data:`VVV`).
    W : ndarray of shape (K, d, d)
    N : ndarray of shape (K,)
    scale, shape, D : ndarray of shape (K,), (K, d), (d, d)
        The warm start of the inner iterations (:class:`gmm_core.mclust_models.MStep`'s
        ``scale``, ``shape`` and common ``orientation``), updated in place.
    warm : bool
        Whether ``scale``, ``shape``, ``D`` hold a previous M-step (else the cold starts of
        :mod:`gmm_core.mclust_models`).
    inner_tol, inner_max_iter
        The inner iterations' stopping rule.

    Returns
    -------
    covariances : ndarray of shape (K, d, d)
    status : int
        :data:`OK` or :data:`SINGULAR`.
    """
    K, d = W.shape[0], W.shape[1]
    total = N.sum()
    cov = np.zeros((K, d, d))
    if code == EII or code == VII:  # noqa: SIM109 (compiled: no tuple membership)
        common = 0.0
        for k in range(K):
            trace = 0.0
            for j in range(d):
                trace += W[k, j, j]
            common += trace
            scale[k] = trace / (N[k] * d)
        if code == EII:
            scale[:] = common / (total * d)
        if not _all_positive(scale):
            return cov, SINGULAR
        for k in range(K):
            for j in range(d):
                cov[k, j, j] = scale[k]
    elif code == EEI:
        pooled = _diagonals(W).sum(axis=0)
        if not _all_positive(pooled):
            return cov, SINGULAR
        for k in range(K):
            for j in range(d):
                cov[k, j, j] = pooled[j] / total
    elif code == VEI:
        start_scale = scale.copy() if warm else np.ones(K)
        start_shape = shape[0].copy() if warm else np.ones(d)
        new_scale, new_shape, _, _, status = mk.vei(
            _diagonals(W), N, start_scale, start_shape, inner_tol, inner_max_iter
        )
        if status:
            return cov, SINGULAR
        scale[:] = new_scale
        for k in range(K):
            shape[k] = new_shape
            for j in range(d):
                cov[k, j, j] = new_scale[k] * new_shape[j]
    elif code == EVI:
        w = _diagonals(W)
        if not _all_positive(w):
            return cov, SINGULAR
        g = np.empty(K)
        for k in range(K):
            g[k] = mk._geometric_mean(w[k])
        lam = g.sum() / total
        for k in range(K):
            for j in range(d):
                cov[k, j, j] = lam * (w[k, j] / g[k])
    elif code == VVI:
        for k in range(K):
            for j in range(d):
                cov[k, j, j] = W[k, j, j] / N[k]
        if not _all_positive(_diagonals(cov)):
            return cov, SINGULAR
    elif code == EEE:
        pooled = W.sum(axis=0) / total
        for k in range(K):
            for i in range(d):
                for j in range(d):
                    cov[k, i, j] = 0.5 * (pooled[i, j] + pooled[j, i])
    elif code == VEE:
        # always from lambda = 1: mclust's VEE is not warm-started (WARM_STARTED)
        new_scale, _, _, cov, _, _, status = mk.vee(W, N, np.ones(K), inner_tol, inner_max_iter)
        if status:
            return cov, SINGULAR
        scale[:] = new_scale
    elif code == EVE or code == VVE:  # noqa: SIM109
        start_D = D.copy() if warm else np.eye(d)
        start_shape = shape.copy() if warm else np.ones((K, d))
        start_scale = scale.copy() if warm else np.ones(K)
        new_scale, new_shape, new_D, cov, _, _, status = mk.common_orientation_mm(
            W,
            N,
            start_D,
            start_shape,
            start_scale,
            code == VVE,
            False,
            inner_tol,
            inner_max_iter,
        )
        if status:
            return cov, SINGULAR
        scale[:] = new_scale
        shape[:] = new_shape
        D[:] = new_D
    elif code == EEV or code == EVV:  # noqa: SIM109
        values = np.empty((K, d))
        axes = np.empty((K, d, d))
        for k in range(K):
            values[k], axes[k] = _eigh_descending(W[k])
        if code == EEV:
            pooled = values.sum(axis=0)
            if not _all_positive(pooled):
                return cov, SINGULAR
            g = mk._geometric_mean(pooled)
            common_scale = g / total
            for k in range(K):
                for i in range(d):
                    for m in range(d):
                        s = 0.0
                        for j in range(d):
                            s += axes[k, i, j] * (pooled[j] / g) * axes[k, m, j]
                        cov[k, i, m] = s * common_scale
            cov = _symmetrised(cov)
        else:
            if not _all_positive(values):
                return cov, SINGULAR
            g = np.empty(K)
            for k in range(K):
                g[k] = mk._geometric_mean(values[k])
                for j in range(d):
                    if not values[k, j] / g[k] > _RTEPS:
                        return cov, SINGULAR
            lam = g.sum() / total
            for k in range(K):
                for i in range(d):
                    for m in range(d):
                        cov[k, i, m] = W[k, i, m] * (lam / g[k])
            cov = _symmetrised(cov)
    elif code == VEV:
        start_scale = scale.copy() if warm else np.ones(K)
        start_shape = shape[0].copy() if warm else np.ones(d)
        new_scale, new_shape, _, cov, _, _, status = mk.vev(
            W, N, total, start_scale, start_shape, warm, inner_tol, inner_max_iter
        )
        if status:
            return cov, SINGULAR
        scale[:] = new_scale
        for k in range(K):
            shape[k] = new_shape
    else:  # VVV
        for k in range(K):
            for i in range(d):
                for j in range(d):
                    cov[k, i, j] = W[k, i, j] / N[k]
    return cov, OK


@njit(cache=True)
def _factor(cov, L, inverse, log_det):
    # Cholesky factors, their inverses and the log-determinants of every covariance;
    # False if one is not positive definite.
    K, d = cov.shape[0], cov.shape[1]
    for k in range(K):
        for i in range(d):
            for j in range(d):
                if not math.isfinite(cov[k, i, j]):
                    return False
        if not mk.cholesky(cov[k], L[k]):
            return False
        s = 0.0
        for j in range(d):
            s += math.log(L[k, j, j])
        log_det[k] = 2.0 * s
        # forward substitution on the identity, column by column (trtri's result)
        for c in range(d):
            for j in range(d):
                if j < c:
                    inverse[k, j, c] = 0.0
                    continue
                t = 1.0 if j == c else 0.0
                for p in range(c, j):
                    t -= L[k, j, p] * inverse[k, p, c]
                inverse[k, j, c] = t / L[k, j, j]
    return True


@njit(cache=True)
def _resolved(layout, means, cov, L, N):
    # gmm_core.params.check_resolved's two tests, True when both pass.
    K, d = means.shape
    floor = np.empty((K, d))
    for k in range(K):
        relative = _EPS * (_ULPS + 10.0 / N[k])
        for j in range(d):
            floor[k, j] = (relative * means[k, j]) ** 2
    if layout == LAYOUT_TIED:
        total = N.sum()
        for j in range(d):
            pooled = 0.0
            for k in range(K):
                pooled += (N[k] / total) * floor[k, j]
            variance = cov[0, j, j]
            if variance <= pooled:
                return False
            if L[0, j, j] ** 2 <= _ULPS * _EPS * variance:
                return False
        return True
    for k in range(K):
        if layout == LAYOUT_SPHERICAL:
            mean_floor = 0.0
            for j in range(d):
                mean_floor += floor[k, j]
            if cov[k, 0, 0] <= mean_floor / d:
                return False
            continue
        for j in range(d):
            variance = cov[k, j, j]
            if variance <= floor[k, j]:
                return False
            if layout == LAYOUT_FULL and L[k, j, j] ** 2 <= _ULPS * _EPS * variance:
                return False
    return True


@njit(cache=True)
def _e_step(
    X, sw, weights, means, inverse, log_det, mu_e, u_e, cst_e, acc0, acc1, acc2, N, first, second
):
    # One pass of the numba engine's kernel (gmm_core._fast) over all rows, on the engine's
    # inputs: means and upper precision factors U = inverse^T padded to its width, and
    # -d/2 log 2 pi + log det U + log w. Returns the weighted total log-likelihood and
    # leaves the statistics around ``means`` in N, first and second (full, symmetric).
    n, d = X.shape
    K = means.shape[0]
    for k in range(K):
        cst_e[k] = -0.5 * d * _LOG_2PI - 0.5 * log_det[k] + math.log(weights[k])
        for j in range(d):
            mu_e[k, j] = means[k, j]
            for m in range(d):
                u_e[k, j, m] = inverse[k, m, j]
    acc0[:] = 0.0
    acc1[:] = 0.0
    acc2[:] = 0.0
    if d == 2:
        total = _fast._block_full2(X, sw, 0, n, mu_e, u_e, cst_e, acc0, acc1, acc2)
    else:
        total = _fast._block_full(X, sw, 0, n, mu_e, u_e, cst_e, acc0, acc1, acc2)
    for k in range(K):
        N[k] = acc0[k]
        for j in range(d):
            first[k, j] = acc1[k, j]
            second[k, j, j] = acc2[k, j, j]
            for m in range(j + 1, d):  # the kernel accumulates the upper triangle
                second[k, j, m] = acc2[k, j, m]
                second[k, m, j] = acc2[k, j, m]
    return total


@njit(cache=True, nogil=True)  # a sweep runs its cells' loops in threads, side by side
def run(
    X,
    sw,
    weight_sum,
    weights,
    means,
    cov,
    code,
    layout,
    reg_covar,
    tol,
    max_iter,
    previous,
    inner_tol,
    inner_max_iter,
):
    """EM from a start, to scikit-learn's stopping rule, all in compiled code.

    Parameters
    ----------
    X : ndarray of shape (n, d), float64, C-contiguous
    sw : ndarray of shape (n,) or (0,)
        Row weights (empty: 1 each).
    weight_sum : float
        Their total (n when unweighted): the log-likelihood is the mean per unit of weight.
    weights, means, cov : ndarray of shape (K,), (K, d), (K, d, d)
        The start; ``cov`` as full matrices whatever the layout.
    code : int
        The model's M-step (:data:`EII` ... :data:`VVV`).
    layout : int
        :data:`LAYOUT_FULL` ... :data:`LAYOUT_SPHERICAL`, for the resolution test.
    reg_covar, tol, max_iter, previous
        As :func:`gmm_core.em.em_iterations` (``previous`` its
        ``previous_log_likelihood``).
    inner_tol, inner_max_iter
        The inner iterations' stopping rule (mclust's).

    Returns
    -------
    log_likelihoods : ndarray of shape (T,)
        The mean log-likelihood of the start and of every M-step's estimate,
        ``T <= max_iter + 1``.
    weights, means, cov : ndarray
        The last estimate (the start when ``T == 1``).
    converged : bool
    status : int
        :data:`OK`, or why the loop stopped early (the Python loop then explains it).
    """
    K, d = means.shape
    lls = np.empty(max_iter + 1)
    L = np.zeros((K, d, d))
    inverse = np.zeros((K, d, d))
    log_det = np.empty(K)
    N = np.empty(K)
    first = np.empty((K, d))
    second = np.empty((K, d, d))
    dp = 2 if d == 2 else -(-d // 4) * 4  # the engine's kernels take features 4 at a time
    mu_e = np.zeros((K, dp))
    u_e = np.zeros((K, dp, dp))
    cst_e = np.empty(K)
    acc0 = np.empty(K)
    acc1 = np.empty((K, dp))
    acc2 = np.empty((K, dp, dp))
    scale = np.ones(K)
    shape = np.ones((K, d))
    D = np.eye(d)
    warm = False
    if not _factor(cov, L, inverse, log_det):
        return lls[:0], weights, means, cov, False, NOT_POSITIVE_DEFINITE
    prev = previous
    finishing = False
    for iteration in range(max_iter + 1):
        total = _e_step(
            X,
            sw,
            weights,
            means,
            inverse,
            log_det,
            mu_e,
            u_e,
            cst_e,
            acc0,
            acc1,
            acc2,
            N,
            first,
            second,
        )
        ll = total / weight_sum
        lls[iteration] = ll
        if finishing or iteration == max_iter:
            return lls[: iteration + 1], weights, means, cov, finishing, OK
        for k in range(K):
            if not (math.isfinite(N[k]) and N[k] > _RTEPS):
                return lls[: iteration + 1], weights, means, cov, False, EMPTY
        new_means = np.empty((K, d))
        W = np.empty((K, d, d))
        for k in range(K):
            for j in range(d):
                delta_j = first[k, j] / N[k]
                new_means[k, j] = means[k, j] + delta_j
                for m in range(d):
                    W[k, j, m] = second[k, j, m] - N[k] * delta_j * (first[k, m] / N[k])
        W = _symmetrised(W)
        for k in range(K):
            for j in range(d):
                W[k, j, j] += N[k] * reg_covar
        new_cov, status = m_step(code, W, N, scale, shape, D, warm, inner_tol, inner_max_iter)
        if status:
            return lls[: iteration + 1], weights, means, cov, False, status
        warm = True
        if not _factor(new_cov, L, inverse, log_det):
            return lls[: iteration + 1], weights, means, cov, False, NOT_POSITIVE_DEFINITE
        if not _resolved(layout, new_means, new_cov, L, N):
            return lls[: iteration + 1], weights, means, cov, False, UNRESOLVED
        weights = N / N.sum()
        means = new_means
        cov = new_cov
        finishing = abs(ll - prev) < tol
        prev = ll
    return lls, weights, means, cov, finishing, OK  # not reached
