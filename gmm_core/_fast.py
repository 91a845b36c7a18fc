"""The fused E-step pass compiled with numba: score, normalise and accumulate in one sweep.

:func:`accumulate` returns what the reference engine :func:`gmm_core.engines.numpy.accumulate`
returns without ever holding an n x K array: a pass allocates the partial sums of at most
:data:`MAX_BLOCKS` blocks and, per running block, a few tile-sized scratch arrays (tens of kB).
It is the work of the 'numba' engine (:mod:`gmm_core.engines.numba`), which imports this
module on first use only, so importing :mod:`gmm_core` never imports numba. This module
imports only :mod:`gmm_core.params` and :mod:`gmm_core.engines.base` of the package.

Layout of the work
------------------
The rows are cut into *blocks*, a partition that depends only on n, the size of the statistics
and ``chunk_size``, never on the number of threads. ``prange`` runs the blocks (handed out one
at a time, so a descheduled thread on a shared machine holds back little), each block adds its
sums into its own slot of a partial-statistics array, and the slots are added in block order
at the end: the result is the same bit for bit whatever the thread count or the scheduling.

Inside a block, rows go a *tile* (:data:`TILE` rows) at a time, transposed into a (d, TILE)
scratch, so that every inner loop runs over rows with unit stride and LLVM vectorises it
(8 float64 or 16 float32 lanes with AVX-512): per component the Mahalanobis term, then per row
the maximum over components, ``exp`` and the normaliser, then per component the weighted sums.

Kernels, chosen by covariance type and d (timings on 2 AVX-512 cores, one thread each)
---------------------------------------------------------------------------------------
* full/tied, d == 2 (cases A, E): :func:`_block_full2` keeps every per-row quantity in
  registers: 14 ms per pass for 1e6 rows and K = 8 in float64, 7 ms in float32.
* full/tied, any other d: :func:`_block_full`. Features are padded to a multiple of 4, and both
  ``(x - mean) @ U`` and the scatter ``sum r (x - c)(x - c)^T`` run on 4 x 4 register blocks
  (16 multiply-adds per 8 loads); only the upper triangle of the scatter is accumulated, and
  mirrored at the end. Tied covariances repeat their one ``U`` per component.
* diag/spherical: :func:`_block_diag`, features 4 at a time (spherical repeats its precision
  over the features).
* full/tied with d >= :data:`BLAS_MIN_FEATURES`: per chunk of rows and component,
  ``(x - mean) @ U`` as a triangular product (``trmm``) and the scatter as a symmetric rank-k
  update (``syrk`` on ``sqrt(r) (x - c)``), each half a ``gemm``. The compiled kernel beat this
  at every d measured, up to 500 (at d = 50, case C: 142 ms against 366 ms), so the BLAS
  formulation only serves very wide data, where its cache blocking should win.

Sample weights
--------------
A weight ``w_i`` enters once per row, where the row's responsibilities are normalised: the
tile's reciprocal normaliser becomes ``w_i / sum_k`` (:func:`_normalise_tile`), so every
statistic the kernels accumulate from ``r_ik = e_ik * inv_i`` is weighted with no work per
component or feature, and the same compiled kernels serve both cases (unweighted passes hand
them an empty weight array, which costs one branch per tile: measured unweighted passes before
and after, interleaved on the same data, agree within noise, 0.98x to 1.04x). The weighted
log-likelihood ``sum_i w_i log s_i`` cannot use the product of :data:`LOG_GROUP` normalisers
(``prod s_i ** w_i`` may overflow), so it takes one logarithm per row, :func:`_log64`, written
in plain arithmetic so that it vectorises like ``exp``: a weighted pass costs about 10% more
than an unweighted one. A weight of 0 removes its row exactly (selects, not products with 0).

Floating point
--------------
* ``exp`` is :func:`_exp64` / :func:`_exp32`: Cody-Waite range reduction, a Taylor polynomial
  and a power of two built from its bits, about 1 ulp, in plain arithmetic so that it
  vectorises (numba's ``math.exp`` is a scalar libm call when Intel SVML is absent, as here).
  Arguments below -600 (float64) / -69 (float32) give exactly 0, so that no subnormal number
  enters the sums (see :data:`_EXP64_MIN`); the responsibilities lost are below 1e-260 /
  1e-30.
* The loops use ``fastmath={"reassoc", "contract"}`` so that LLVM may keep several partial sums
  (that is what vectorising a reduction means) and fuse multiply-adds; no ``nnan``/``ninf``,
  since -inf log-weights (a weight of exactly 0) are legal. The order of the additions is
  fixed by the compiled code and the block partition, so results are deterministic; they
  differ from the numpy reference by rounding only (about 1e-15 relative on the statistics).
* ``sum_i log(s_i)`` is the log of products of :data:`LOG_GROUP` normalisers
  (``1 <= s_i <= K``): one ``log`` per group instead of one per row.
* float32 input: the per-row arithmetic (Mahalanobis terms, log-probabilities, ``exp``, the
  responsibilities and their products with ``x - c``) and the sums over the rows of one tile
  (at most 256 terms, about 16 per vector lane) are float32; every sum beyond a tile is
  float64, as are the normaliser's reciprocal and logarithm. So the error does not grow with n:
  the statistics stay within about 1e-7 (relative) of a float64 pass over the same float32
  numbers (numpy's float32 path: about 1e-6), and after 11 EM iterations of case A the float32
  fit is within 5e-7 of the float64 fit (scikit-learn's float32 fit: 3e-3). Widening every
  row's products to float64 before summing (the first design) made float32 only 1.6x faster
  than float64 on case A; tile sums make it 2.0x. The statistics are rounded to float32 on
  return, so that, as with the numpy path and scikit-learn, the M-step and the fitted
  attributes stay float32.
"""

from __future__ import annotations

import math
import threading

import numpy as np
from llvmlite import ir
from numba import (
    get_num_threads,
    njit,
    parallel_chunksize,
    prange,
    set_num_threads,
    types,
)
from numba.extending import intrinsic, overload
from scipy.linalg import blas

from .engines.base import LOG_2PI, SufficientStatistics, chunk_rows
from .params import MixtureParams, log_det_cholesky

#: Rows per tile: the tile's temporaries ((K + a few) x TILE numbers) stay in L1/L2.
TILE = 256
#: Normalisers multiplied together before one logarithm (K**LOG_GROUP must not overflow).
LOG_GROUP = 32
#: At most this many blocks (and partial sums); fewer if the partial sums would be large.
MAX_BLOCKS = 128
#: Numbers of partial statistics allowed over all blocks, a memory bound.
MAX_PARTIAL_NUMBERS = 1 << 21

# One parallel pass at a time: numba's "workqueue" threading layer (the fallback when neither
# TBB nor OpenMP is installed) aborts the process on concurrent launches, which a server with
# several sessions would make. A pass already uses every core, so nothing is lost.
_PASS_LOCK = threading.Lock()

#: A pass with less work than this (rows x components x padded features) runs on the calling
#: thread alone. Waking the thread pool costs more than it saves on such passes, and on a busy
#: machine the pass then waits for a core to come free for the other thread: Old Faithful
#: (272 x 2), K = 9, full took 12 ms per pass in parallel at load 5 against 0.33 ms on one
#: thread (and 0.30 ms in the numpy engine). The result does not depend on it: the blocks
#: and their order of summation are the same.
SERIAL_WORK = 1 << 17
#: full/tied with at least this many features use the BLAS formulation. Measured (2 cores,
#: AVX-512, OpenBLAS 0.3.31, one thread each, float64): the compiled kernel is faster at every
#: d tried, by 4.6x at d=10, 2.6x at d=50, 1.3x at d=300, 1.1x at d=500, so only beyond.
BLAS_MIN_FEATURES = 512

# exp(x) is taken as exactly 0 below these: responsibilities under 1e-260 (float64) or 1e-30
# (float32) cannot change the statistics at the working precision, while products of such
# numbers with x - c are subnormal, which the FPU processes ~100x slower. Once EM has
# separated the components most responsibilities are that small: with exp's natural limits
# (-708, -87) a pass of case A took 1.2x (float64) to 1.3x (float32) longer.
_EXP64_MIN = -600.0
_EXP32_MIN = -69.0
_LOG2E = 1.4426950408889634
# ln 2 split so that k * LN2_HI is exact for |k| < 2**20 (fdlibm's constants).
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10


# ---------------------------------------------------------------------------- exp
@intrinsic
def _i64_as_f64(typingctx, value):
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


@intrinsic
def _f64_as_i64(typingctx, value):
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return sig, codegen


@intrinsic
def _i32_as_f32(typingctx, value):
    sig = types.float32(types.int32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return sig, codegen


# These two are compiled as separate functions *without* "reassoc" (LLVM inlines them and
# keeps their instructions' flags), so the range reduction is evaluated exactly as written.
@njit(cache=True, fastmath={"contract"}, error_model="numpy")
def _exp64(x):
    """exp(x) for float64, about 1 ulp on [-600, 709]; 0 below -600 (and for NaN)."""
    xc = x if x > _EXP64_MIN else _EXP64_MIN
    kf = np.floor(xc * _LOG2E + 0.5)
    r = (xc - kf * _LN2_HI) - kf * _LN2_LO  # |r| <= ln2 / 2
    # Taylor to degree 13: truncation error < 4e-18 on |r| <= 0.347.
    p = 1.0 / 6227020800.0
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    scale = _i64_as_f64((np.int64(kf) + 1023) << 52)  # 2**kf, kf in [-1022, 1023]
    return p * scale if x > _EXP64_MIN else 0.0


@njit(cache=True, fastmath={"contract"}, error_model="numpy")
def _exp32(x):
    """exp(x) for float32, about 1 ulp on [-69, 88]; 0 below -69 (and for NaN)."""
    xc = x if x > np.float32(_EXP32_MIN) else np.float32(_EXP32_MIN)
    kf = np.floor(xc * np.float32(_LOG2E) + np.float32(0.5))
    # Cephes' split of ln 2 for single precision.
    r = (xc - kf * np.float32(0.693359375)) - kf * np.float32(-2.12194440e-4)
    p = np.float32(1.0 / 5040.0)  # Taylor to degree 7: truncation error < 6e-9
    p = p * r + np.float32(1.0 / 720.0)
    p = p * r + np.float32(1.0 / 120.0)
    p = p * r + np.float32(1.0 / 24.0)
    p = p * r + np.float32(1.0 / 6.0)
    p = p * r + np.float32(0.5)
    p = p * r + np.float32(1.0)
    p = p * r + np.float32(1.0)
    scale = _i32_as_f32((np.int32(kf) + np.int32(127)) << np.int32(23))
    return p * scale if x > np.float32(_EXP32_MIN) else np.float32(0.0)


@njit(cache=True, fastmath={"contract"}, error_model="numpy")
def _log64(x):
    """log(x) for positive normal float64 x, within 3 ulp; plain arithmetic, so it vectorises.

    Only the weighted log-likelihood needs it (the unweighted one takes one libm ``log`` per
    :data:`LOG_GROUP` rows); its arguments are row normalisers, ``1 <= x <= K``.
    """
    bits = _f64_as_i64(x)
    e = (bits >> 52) - 1023
    m = _i64_as_f64((bits & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000)  # x = m 2**e, m in [1, 2)
    big = m > 1.4142135623730951
    m = m * 0.5 if big else m
    ef = np.float64(e + 1 if big else e)
    f = m - 1.0  # exact (Sterbenz), |f| <= 0.42
    z = f / (2.0 + f)  # log(m) = 2 atanh(z), |z| <= 0.172
    z2 = z * z
    # atanh(z) / z to degree 10 in z**2: truncation error < 1e-18.
    p = 1.0 / 21.0
    p = p * z2 + 1.0 / 19.0
    p = p * z2 + 1.0 / 17.0
    p = p * z2 + 1.0 / 15.0
    p = p * z2 + 1.0 / 13.0
    p = p * z2 + 1.0 / 11.0
    p = p * z2 + 1.0 / 9.0
    p = p * z2 + 1.0 / 7.0
    p = p * z2 + 1.0 / 5.0
    p = p * z2 + 1.0 / 3.0
    p = p * z2 + 1.0
    return ef * _LN2_HI + (2.0 * z * p + ef * _LN2_LO)


def _fexp(x):  # pragma: no cover - only called from compiled code, typed by the overload
    raise NotImplementedError


@overload(_fexp)
def _fexp_overload(x):
    if isinstance(x, types.Float) and x.bitwidth == 32:
        return lambda x: _exp32(x)
    return lambda x: _exp64(x)


# ---------------------------------------------------------------------------- tile pieces
@njit(cache=True, fastmath={"contract", "reassoc"}, error_model="numpy")
def _normalise_tile(lp, top, s, inv, m, sw, t0):
    """Rows i < m of a tile: lp[k, i] <- exp(lp[k, i] - max_k lp[:, i]), inv[i] <- w_i / sum_k.

    ``top``, ``s`` and ``inv`` are scratch in lp's dtype; the sum over components is taken in
    that dtype (K terms, the largest exactly 1), its reciprocal and logarithm in float64.
    ``sw`` holds the sample weights of all rows (the tile's are ``sw[t0:t0 + m]``), or is
    empty for unit weights. Folding the weight into ``inv`` weights every statistic the block
    functions accumulate from ``lp[k, i] * inv[i]`` at no cost per component. Returns
    ``sum_i w_i log sum_k exp(lp[k, i])``, the (weighted) log-likelihood of the tile's rows.
    """
    n_components = lp.shape[0]
    for i in range(m):
        top[i] = lp[0, i]
    for k in range(1, n_components):
        for i in range(m):
            v = lp[k, i]
            top[i] = v if v > top[i] else top[i]
    for i in range(m):
        s[i] = 0.0
        # A row where every component is -inf (impossible with positive weights): the
        # reference gives -inf and NaN responsibilities, so do we.
        if not top[i] > -np.inf:
            top[i] = 0.0
    for k in range(n_components):
        for i in range(m):
            e = _fexp(lp[k, i] - top[i])
            lp[k, i] = e
            s[i] += e
    total = 0.0
    if sw.shape[0] == 0:
        for i in range(m):
            total += np.float64(top[i])
        # 1 <= s[i] <= K, so LOG_GROUP of them multiply without overflow for K < 2**32.
        for g0 in range(0, m, LOG_GROUP):
            prod = 1.0
            for i in range(g0, min(m, g0 + LOG_GROUP)):
                prod *= np.float64(s[i])
            total += math.log(prod)
        for i in range(m):
            inv[i] = 1.0 / np.float64(s[i])
        return total
    # Weighted. A weight of 0 removes the row exactly, even one no component explains (whose
    # 0 * log 0 and 0 / 0 would be NaN): hence the selects, which still vectorise.
    odd = 0
    for i in range(m):
        wi = sw[t0 + i]
        si = np.float64(s[i])
        inv[i] = wi / si if wi > 0.0 else 0.0
        # One log per row (a product of s_i ** w_i could overflow), in vector lanes.
        total += wi * (np.float64(top[i]) + _log64(si)) if wi > 0.0 else 0.0
        odd += 0 if si >= 1.0 else 1
    if odd:
        # s_i < 1 or NaN: a row no component explains, or NaN data. libm's log gives the
        # reference's -inf / NaN where _log64 does not.
        total = 0.0
        for i in range(m):
            wi = sw[t0 + i]
            if wi > 0.0:
                total += wi * (np.float64(top[i]) + math.log(np.float64(s[i])))
    return total


@njit(cache=True, fastmath={"contract", "reassoc"}, error_model="numpy")
def _load_tile(X, t0, m, xt):
    """xt[j, i] = X[t0 + i, j]: the tile transposed, so that loops over rows are unit-stride."""
    for i in range(m):
        for j in range(X.shape[1]):
            xt[j, i] = X[t0 + i, j]


@njit(cache=True, fastmath={"contract", "reassoc"}, error_model="numpy")
def _responsibilities(lp, k, inv, m, r):
    """r[i] = responsibility of component k for row i; returns their (tile) sum."""
    total = r.dtype.type(0.0)
    for i in range(m):
        r[i] = lp[k, i] * inv[i]
        total += r[i]
    return total


# ---------------------------------------------------------------------------- blocks
# In every block function below, per-row arithmetic runs in X's dtype and so do the sums
# over the rows of one tile (at most TILE terms, spread over the vector lanes); each tile's
# sums are then added into the block's float64 accumulators.


@njit(cache=True, fastmath={"contract", "reassoc"}, error_model="numpy")
def _block_full(X, sw, lo, hi, mu_e, u_e, cst_e, acc0, acc1, acc2):
    """Rows lo..hi, full (or tied, U repeated per component) covariances, any d.

    The feature axis of the parameters is padded with zeros to ``dp``, a multiple of 4, and
    the products run on 4 x 4 blocks (16 multiply-adds per 8 loads, 4 x 4 running sums in
    registers). Adds into acc0 (K,), acc1 (K, dp) and acc2 (K, dp, dp) (the upper triangle
    and the diagonal 4 x 4 blocks); returns ``sum log p(x_i)``.
    """
    dp = mu_e.shape[1]
    n_components = mu_e.shape[0]
    dt = X.dtype
    half = dt.type(0.5)  # (a float64 0.5 would promote float32 arithmetic)
    zero = dt.type(0.0)
    xt = np.zeros((dp, TILE), dt)  # padding rows stay 0
    dk = np.empty((dp, TILE), dt)
    w = np.empty((dp, TILE), dt)
    y = np.empty((4, TILE), dt)
    maha = np.empty(TILE, dt)
    lp = np.empty((n_components, TILE), dt)
    top = np.empty(TILE, dt)
    s = np.empty(TILE, dt)
    inv = np.empty(TILE, dt)
    r = np.empty(TILE, dt)
    ll = 0.0
    for t0 in range(lo, hi, TILE):
        m = min(TILE, hi - t0)
        _load_tile(X, t0, m, xt)
        for k in range(n_components):
            for j in range(dp):
                c = mu_e[k, j]
                for i in range(m):
                    dk[j, i] = xt[j, i] - c
            for i in range(m):
                maha[i] = 0.0
            # y_j = sum_l diff_l U[l, j] for 4 columns j at a time; U is upper triangular,
            # so only the row blocks up to the diagonal block contribute.
            for jb in range(0, dp, 4):
                for i in range(m):
                    y[0, i] = 0.0
                    y[1, i] = 0.0
                    y[2, i] = 0.0
                    y[3, i] = 0.0
                for lb in range(0, jb + 4, 4):
                    u00 = u_e[k, lb, jb]
                    u01 = u_e[k, lb, jb + 1]
                    u02 = u_e[k, lb, jb + 2]
                    u03 = u_e[k, lb, jb + 3]
                    u10 = u_e[k, lb + 1, jb]
                    u11 = u_e[k, lb + 1, jb + 1]
                    u12 = u_e[k, lb + 1, jb + 2]
                    u13 = u_e[k, lb + 1, jb + 3]
                    u20 = u_e[k, lb + 2, jb]
                    u21 = u_e[k, lb + 2, jb + 1]
                    u22 = u_e[k, lb + 2, jb + 2]
                    u23 = u_e[k, lb + 2, jb + 3]
                    u30 = u_e[k, lb + 3, jb]
                    u31 = u_e[k, lb + 3, jb + 1]
                    u32 = u_e[k, lb + 3, jb + 2]
                    u33 = u_e[k, lb + 3, jb + 3]
                    for i in range(m):
                        d0 = dk[lb, i]
                        d1 = dk[lb + 1, i]
                        d2 = dk[lb + 2, i]
                        d3 = dk[lb + 3, i]
                        y[0, i] += d0 * u00 + d1 * u10 + d2 * u20 + d3 * u30
                        y[1, i] += d0 * u01 + d1 * u11 + d2 * u21 + d3 * u31
                        y[2, i] += d0 * u02 + d1 * u12 + d2 * u22 + d3 * u32
                        y[3, i] += d0 * u03 + d1 * u13 + d2 * u23 + d3 * u33
                for i in range(m):
                    maha[i] += y[0, i] * y[0, i] + y[1, i] * y[1, i]
                    maha[i] += y[2, i] * y[2, i] + y[3, i] * y[3, i]
            c = cst_e[k]
            for i in range(m):
                lp[k, i] = c - half * maha[i]
        ll += _normalise_tile(lp, top, s, inv, m, sw, t0)
        for k in range(n_components):
            acc0[k] += _responsibilities(lp, k, inv, m, r)
            # dk <- x - c_k again (the E-step's copy was overwritten for other components),
            # w <- r (x - c_k).
            for j in range(dp):
                c = mu_e[k, j]
                a1 = zero
                for i in range(m):
                    dd = xt[j, i] - c
                    dk[j, i] = dd
                    wd = r[i] * dd
                    w[j, i] = wd
                    a1 += wd
                acc1[k, j] += a1
            for jb in range(0, dp, 4):
                for lb in range(jb, dp, 4):
                    a00 = a01 = a02 = a03 = zero
                    a10 = a11 = a12 = a13 = zero
                    a20 = a21 = a22 = a23 = zero
                    a30 = a31 = a32 = a33 = zero
                    for i in range(m):
                        w0 = w[jb, i]
                        w1 = w[jb + 1, i]
                        w2 = w[jb + 2, i]
                        w3 = w[jb + 3, i]
                        e0 = dk[lb, i]
                        e1 = dk[lb + 1, i]
                        e2 = dk[lb + 2, i]
                        e3 = dk[lb + 3, i]
                        a00 += w0 * e0
                        a01 += w0 * e1
                        a02 += w0 * e2
                        a03 += w0 * e3
                        a10 += w1 * e0
                        a11 += w1 * e1
                        a12 += w1 * e2
                        a13 += w1 * e3
                        a20 += w2 * e0
                        a21 += w2 * e1
                        a22 += w2 * e2
                        a23 += w2 * e3
                        a30 += w3 * e0
                        a31 += w3 * e1
                        a32 += w3 * e2
                        a33 += w3 * e3
                    acc2[k, jb, lb] += a00
                    acc2[k, jb, lb + 1] += a01
                    acc2[k, jb, lb + 2] += a02
                    acc2[k, jb, lb + 3] += a03
                    acc2[k, jb + 1, lb] += a10
                    acc2[k, jb + 1, lb + 1] += a11
                    acc2[k, jb + 1, lb + 2] += a12
                    acc2[k, jb + 1, lb + 3] += a13
                    acc2[k, jb + 2, lb] += a20
                    acc2[k, jb + 2, lb + 1] += a21
                    acc2[k, jb + 2, lb + 2] += a22
                    acc2[k, jb + 2, lb + 3] += a23
                    acc2[k, jb + 3, lb] += a30
                    acc2[k, jb + 3, lb + 1] += a31
                    acc2[k, jb + 3, lb + 2] += a32
                    acc2[k, jb + 3, lb + 3] += a33
    return ll


@njit(cache=True, fastmath={"contract", "reassoc"}, error_model="numpy")
def _block_full2(X, sw, lo, hi, mu_e, u_e, cst_e, acc0, acc1, acc2):
    """:func:`_block_full` for d == 2: every per-row quantity is kept in registers."""
    n_components = mu_e.shape[0]
    dt = X.dtype
    half = dt.type(0.5)
    zero = dt.type(0.0)
    xt = np.empty((2, TILE), dt)
    lp = np.empty((n_components, TILE), dt)
    top = np.empty(TILE, dt)
    s = np.empty(TILE, dt)
    inv = np.empty(TILE, dt)
    ll = 0.0
    for t0 in range(lo, hi, TILE):
        m = min(TILE, hi - t0)
        for i in range(m):
            xt[0, i] = X[t0 + i, 0]
            xt[1, i] = X[t0 + i, 1]
        for k in range(n_components):
            c0 = mu_e[k, 0]
            c1 = mu_e[k, 1]
            u00 = u_e[k, 0, 0]
            u01 = u_e[k, 0, 1]
            u11 = u_e[k, 1, 1]
            c = cst_e[k]
            for i in range(m):
                d0 = xt[0, i] - c0
                d1 = xt[1, i] - c1
                y0 = d0 * u00
                y1 = d0 * u01 + d1 * u11
                lp[k, i] = c - half * (y0 * y0 + y1 * y1)
        ll += _normalise_tile(lp, top, s, inv, m, sw, t0)
        for k in range(n_components):
            c0 = mu_e[k, 0]
            c1 = mu_e[k, 1]
            a0 = a10 = a11 = a200 = a201 = a211 = zero
            for i in range(m):
                r = lp[k, i] * inv[i]
                d0 = xt[0, i] - c0
                d1 = xt[1, i] - c1
                w0 = r * d0
                w1 = r * d1
                a0 += r
                a10 += w0
                a11 += w1
                a200 += w0 * d0
                a201 += w0 * d1
                a211 += w1 * d1
            acc0[k] += a0
            acc1[k, 0] += a10
            acc1[k, 1] += a11
            acc2[k, 0, 0] += a200
            acc2[k, 0, 1] += a201
            acc2[k, 1, 1] += a211
    return ll


@njit(cache=True, fastmath={"contract", "reassoc"}, error_model="numpy")
def _block_diag(X, sw, lo, hi, mu_e, p_e, cst_e, acc0, acc1, acc2):
    """Rows lo..hi, diagonal precisions ``p_e`` (K, dp) (spherical: repeated over d).

    Features padded with zeros to ``dp`` (a multiple of 4), taken 4 at a time. Adds into
    acc0 (K,), acc1 (K, dp), acc2 (K, dp) (diagonal second moments).
    """
    dp = mu_e.shape[1]
    n_components = mu_e.shape[0]
    dt = X.dtype
    half = dt.type(0.5)
    zero = dt.type(0.0)
    xt = np.zeros((dp, TILE), dt)  # padding rows stay 0
    lp = np.empty((n_components, TILE), dt)
    maha = np.empty(TILE, dt)
    top = np.empty(TILE, dt)
    s = np.empty(TILE, dt)
    inv = np.empty(TILE, dt)
    r = np.empty(TILE, dt)
    ll = 0.0
    for t0 in range(lo, hi, TILE):
        m = min(TILE, hi - t0)
        _load_tile(X, t0, m, xt)
        for k in range(n_components):
            for i in range(m):
                maha[i] = 0.0
            for jb in range(0, dp, 4):
                c0 = mu_e[k, jb]
                c1 = mu_e[k, jb + 1]
                c2 = mu_e[k, jb + 2]
                c3 = mu_e[k, jb + 3]
                p0 = p_e[k, jb]
                p1 = p_e[k, jb + 1]
                p2 = p_e[k, jb + 2]
                p3 = p_e[k, jb + 3]
                for i in range(m):
                    s0 = (xt[jb, i] - c0) * p0
                    s1 = (xt[jb + 1, i] - c1) * p1
                    s2 = (xt[jb + 2, i] - c2) * p2
                    s3 = (xt[jb + 3, i] - c3) * p3
                    maha[i] += s0 * s0 + s1 * s1 + s2 * s2 + s3 * s3
            c = cst_e[k]
            for i in range(m):
                lp[k, i] = c - half * maha[i]
        ll += _normalise_tile(lp, top, s, inv, m, sw, t0)
        for k in range(n_components):
            acc0[k] += _responsibilities(lp, k, inv, m, r)
            for jb in range(0, dp, 4):
                c0 = mu_e[k, jb]
                c1 = mu_e[k, jb + 1]
                c2 = mu_e[k, jb + 2]
                c3 = mu_e[k, jb + 3]
                f0 = f1 = f2 = f3 = zero
                g0 = g1 = g2 = g3 = zero
                for i in range(m):
                    ri = r[i]
                    e0 = xt[jb, i] - c0
                    e1 = xt[jb + 1, i] - c1
                    e2 = xt[jb + 2, i] - c2
                    e3 = xt[jb + 3, i] - c3
                    w0 = ri * e0
                    w1 = ri * e1
                    w2 = ri * e2
                    w3 = ri * e3
                    f0 += w0
                    f1 += w1
                    f2 += w2
                    f3 += w3
                    g0 += w0 * e0
                    g1 += w1 * e1
                    g2 += w2 * e2
                    g3 += w3 * e3
                acc1[k, jb] += f0
                acc1[k, jb + 1] += f1
                acc1[k, jb + 2] += f2
                acc1[k, jb + 3] += f3
                acc2[k, jb] += g0
                acc2[k, jb + 1] += g1
                acc2[k, jb + 2] += g2
                acc2[k, jb + 3] += g3
    return ll


# ---------------------------------------------------------------------------- parallel drivers
# One driver per block function, written out: a numba function cannot take another as an
# argument and still be cached; a driver made by a factory (a closure over the block function)
# misses numba's on-disk cache in every process; and one driver dispatching on a literal kind
# (numba.literally) is typed again and looks up its cache index on every call (measured: 18
# misses in 18 passes), milliseconds per pass. Three ten-line prange shells are cheaper.
@njit(parallel=True, cache=True)
def _run_full(X, sw, mu_e, u_e, cst_e, block, out0, out1, out2, out_ll):
    n = X.shape[0]
    for b in prange(out0.shape[0]):
        lo = b * block
        hi = min(n, lo + block)
        out0[b] = 0.0
        out1[b] = 0.0
        out2[b] = 0.0
        out_ll[b] = _block_full(X, sw, lo, hi, mu_e, u_e, cst_e, out0[b], out1[b], out2[b])


@njit(parallel=True, cache=True)
def _run_full2(X, sw, mu_e, u_e, cst_e, block, out0, out1, out2, out_ll):
    n = X.shape[0]
    for b in prange(out0.shape[0]):
        lo = b * block
        hi = min(n, lo + block)
        out0[b] = 0.0
        out1[b] = 0.0
        out2[b] = 0.0
        out_ll[b] = _block_full2(X, sw, lo, hi, mu_e, u_e, cst_e, out0[b], out1[b], out2[b])


@njit(parallel=True, cache=True)
def _run_diag(X, sw, mu_e, p_e, cst_e, block, out0, out1, out2, out_ll):
    n = X.shape[0]
    for b in prange(out0.shape[0]):
        lo = b * block
        hi = min(n, lo + block)
        out0[b] = 0.0
        out1[b] = 0.0
        out2[b] = 0.0
        out_ll[b] = _block_diag(X, sw, lo, hi, mu_e, p_e, cst_e, out0[b], out1[b], out2[b])


# ---------------------------------------------------------------------------- Python side
def block_rows(n_samples: int, partial_numbers: int, chunk_size: int | None = None) -> int:
    """Rows per block: a function of the sizes only (never of the thread count).

    ``chunk_size`` (rows) is honoured when given, but never so small that the partial sums
    of all blocks exceed :data:`MAX_PARTIAL_NUMBERS` numbers.
    """
    max_blocks = max(1, min(MAX_BLOCKS, MAX_PARTIAL_NUMBERS // max(1, partial_numbers)))
    if chunk_size is not None:
        max_blocks = max(max_blocks, MAX_PARTIAL_NUMBERS // max(1, partial_numbers))
        return max(int(chunk_size), -(-n_samples // max_blocks))
    rows = -(-n_samples // max_blocks)
    return max(TILE, -(-rows // TILE) * TILE)


def _log_constants(params: MixtureParams, n_features: int) -> np.ndarray:
    """``-d/2 log 2 pi + log det(U_k) + log w_k`` per component, float64."""
    k_count = params.n_components
    log_det = np.broadcast_to(
        np.asarray(
            log_det_cholesky(params.precisions_cholesky, params.covariance_type, n_features),
            dtype=np.float64,
        ),
        (k_count,),
    )
    with np.errstate(divide="ignore"):
        log_weights = np.log(params.weights.astype(np.float64))
    return -0.5 * n_features * LOG_2PI + log_det + log_weights


def _to_statistics(
    resp_sum,
    first,
    second,
    params: MixtureParams,
    log_likelihood: float,
    n: int,
    dtype,
    sample_weight: np.ndarray | None,
) -> SufficientStatistics:
    return SufficientStatistics(
        resp_sum.astype(dtype, copy=False),
        first.astype(dtype, copy=False),
        second.astype(dtype, copy=False),
        params.means,
        float(log_likelihood),
        n,
        float(n) if sample_weight is None else float(np.sum(sample_weight, dtype=np.float64)),
    )


#: What the kernels take for "no weights": an empty array, so that one compiled signature
#: serves both and the unweighted path costs one branch per tile.
_NO_WEIGHTS = np.empty(0, dtype=np.float64)


def _kernel_weights(sample_weight: np.ndarray | None, n: int) -> np.ndarray:
    """The weights as the kernels read them: contiguous float64 of length n, or empty."""
    if sample_weight is None:
        return _NO_WEIGHTS
    sw = np.ascontiguousarray(sample_weight, dtype=np.float64)
    if sw.shape != (n,):
        raise ValueError(f"sample_weight must have shape ({n},); got {sw.shape}.")
    return sw


def accumulate(
    X: np.ndarray,
    params: MixtureParams,
    *,
    chunk_size: int | None = None,
    sample_weight: np.ndarray | None = None,
) -> SufficientStatistics:
    """The fused E-step pass, compiled (the 'numba' engine's ``accumulate``).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float64 or float32
    params : MixtureParams
    chunk_size : int, optional
        Rows per block (numba kernels) or per chunk (BLAS formulation); automatic by default.
    sample_weight : ndarray of shape (n_samples,), optional
        Finite, non-negative weight of each row (validated by the caller); None for 1 each.
        The kernels fold ``w_i`` into the row's normaliser (``w_i / sum_k``), so every
        statistic is weighted at no cost per component; the weighted log-likelihood takes
        one logarithm per row instead of one per :data:`LOG_GROUP` rows.

    Returns
    -------
    SufficientStatistics
        In ``X``'s dtype, like the numpy reference (sums accumulated in float64).
    """
    X = np.ascontiguousarray(X)
    dtype = X.dtype
    if dtype not in (np.float64, np.float32):
        raise TypeError(f"the numba engine takes float64 or float32 data, got {dtype}.")
    n, d = X.shape
    matrices = params.covariance_model.matrices
    k_count = params.n_components
    sw = _kernel_weights(sample_weight, n)
    if matrices and d >= BLAS_MIN_FEATURES:
        return _accumulate_blas(X, params, chunk_size=chunk_size, sample_weight=sample_weight)
    cst = _log_constants(params, d).astype(dtype)
    chol = params.precisions_cholesky
    if matrices and d == 2:
        dp = 2
        run = _run_full2
    else:
        dp = -(-d // 4) * 4  # the generic kernels take features 4 at a time
        run = _run_full if matrices else _run_diag
    mu_e = np.zeros((k_count, dp), dtype=dtype)
    mu_e[:, :d] = params.means
    if matrices:
        # tied: its one factor broadcast over the components.
        prec = np.zeros((k_count, dp, dp), dtype=dtype)
        prec[:, :d, :d] = np.triu(chol)  # (exactly upper triangular already)
        second_shape = (k_count, dp, dp)
    else:
        # spherical: its one precision repeated over the features.
        prec = np.zeros((k_count, dp), dtype=dtype)
        prec[:, :d] = chol if params.covariance_model.per_feature else chol[:, None]
        second_shape = (k_count, dp)
    partial_numbers = k_count * (1 + dp) + math.prod(second_shape)
    block = block_rows(n, partial_numbers, chunk_size)
    n_blocks = -(-n // block)
    out0 = np.empty((n_blocks, k_count))
    out1 = np.empty((n_blocks, k_count, dp))
    out2 = np.empty((n_blocks, *second_shape))
    out_ll = np.empty(n_blocks)
    # Hand blocks out one at a time: on a shared machine a thread that is descheduled does
    # not hold back a fixed share of the work. (The result does not depend on it.)
    serial = n * k_count * dp < SERIAL_WORK
    with _PASS_LOCK, parallel_chunksize(1):
        threads = get_num_threads()
        if serial:
            set_num_threads(1)  # numba's thread count is per calling thread
        try:
            run(X, sw, mu_e, prec, cst, block, out0, out1, out2, out_ll)
        finally:
            if serial:
                set_num_threads(threads)
    second = out2.sum(axis=0)
    if second.ndim == 3:  # the upper triangle is the one accumulated
        second = np.triu(second[:, :d, :d])
        second = second + np.triu(second, 1).transpose(0, 2, 1)
    else:
        second = second[:, :d]
    first = out1.sum(axis=0)[:, :d]
    return _to_statistics(
        out0.sum(axis=0), first, second, params, out_ll.sum(), n, dtype, sample_weight
    )


def _accumulate_blas(
    X: np.ndarray,
    params: MixtureParams,
    *,
    chunk_size: int | None = None,
    sample_weight: np.ndarray | None = None,
) -> SufficientStatistics:
    """full/tied statistics with triangular and symmetric BLAS products per chunk of rows."""
    n, d = X.shape
    dtype = X.dtype
    k_count = params.n_components
    cst = _log_constants(params, d)
    means = params.means.astype(dtype, copy=False)
    chol = np.broadcast_to(params.precisions_cholesky.astype(dtype, copy=False), (k_count, d, d))
    trmm, syrk = blas.get_blas_funcs(("trmm", "syrk"), (X,))
    step = chunk_size or max(chunk_rows(n, k_count, d), min(n, (1 << 20) // d))
    resp_sum = np.zeros(k_count)
    first = np.zeros((k_count, d))
    second = np.zeros((k_count, d, d))
    log_likelihood = 0.0
    buf = np.empty((min(step, n), d), dtype=dtype)
    lower_t = [np.asfortranarray(u.T) for u in chol]  # U^T, lower triangular, Fortran order
    for start in range(0, n, step):
        chunk = X[start : start + step]
        m = chunk.shape[0]
        diff = buf[:m]
        lp = np.empty((m, k_count))
        for k in range(k_count):
            np.subtract(chunk, means[k], out=diff)
            # (diff @ U)^T = U^T diff^T: diff.T is a Fortran-ordered view, overwritten in place.
            y = trmm(1.0, lower_t[k], diff.T, side=0, lower=1, overwrite_b=1).T
            lp[:, k] = cst[k] - 0.5 * np.einsum("ij,ij->i", y, y, dtype=np.float64)
        top = lp.max(axis=1, keepdims=True)
        top[~np.isfinite(top)] = 0.0
        np.subtract(lp, top, out=lp)
        np.exp(lp, out=lp)
        norm = lp.sum(axis=1)
        if sample_weight is None:
            log_likelihood += float(np.sum(np.log(norm) + top[:, 0]))
            lp /= norm[:, None]
        else:
            w = np.asarray(sample_weight[start : start + m], dtype=np.float64)
            kept = w > 0
            log_likelihood += float(np.dot(w[kept], np.log(norm[kept]) + top[kept, 0]))
            # w_i / norm_i, and 0 for a zero weight (which removes the row exactly).
            lp *= np.where(kept, w / np.where(kept, norm, 1.0), 0.0)[:, None]
        resp_sum += lp.sum(axis=0)
        for k in range(k_count):
            np.subtract(chunk, means[k], out=diff)
            r = lp[:, k]
            first[k] += r @ diff
            diff *= np.sqrt(r).astype(dtype)[:, None]
            # diff^T diff (upper triangle) = sum_i r_i (x_i - c)(x_i - c)^T.
            second[k] += syrk(1.0, diff.T, trans=0, lower=0)
    upper = np.triu(second)
    second = upper + np.triu(second, 1).transpose(0, 2, 1)
    return _to_statistics(resp_sum, first, second, params, log_likelihood, n, dtype, sample_weight)
