"""Compiled loops of model-based hierarchical agglomeration (see :mod:`gmm_core.hierarchical`).

:mod:`gmm_core.hierarchical` imports this module on first use only, so that importing the
library never imports numba.

Why the loops look the way they do
----------------------------------
The point of these kernels is to reproduce the merge sequence of R's mclust ``hc()`` (Fraley
1998), ties included. Data with repeated values (Old Faithful's waiting times are integers, iris
has duplicate rows) give many *exactly* equal merge costs, and which pair merges first then
decides the tree. mclust breaks such ties by the order of its packed cost array: the cost of the
pair of cluster slots ``i < j`` sits at ``j (j - 1) / 2 + i`` (0-based), a scan keeps the *last*
minimum (``<=``), and after a merge the slot of the absorbed cluster is filled by the last slot
(``wardsw``). We keep the same slots and the same order, and compute every cost with the same
floating-point operations in the same order (Givens rotations as reference BLAS ``drotg`` /
``drot``, dot products summed left to right), so that ties and near-ties come out the same.
No ``fastmath``: a fused multiply-add would change the rounding.

What we do differently is finding the minimum: mclust rescans the whole packed array after every
merge (O(m^3) in all). We keep, per column ``j``, its minimum over ``i < j`` and the largest row
reaching it; the last minimum in packed order is then the one in the largest column whose
minimum is the global one. Only columns whose entries changed are updated (rescanned only when
their argmin got worse), which gives the same pair as a full scan.

VVV: the cost of merging clusters ``a`` and ``b`` is ``t(a + b) - t(a) - t(b)`` with
``t(c) = n_c log(|W_c / n_c| + beta (tr W_c + alpha) / n_c)`` (``n_c log(beta (tr W_c + alpha) /
n_c)`` while ``n_c <= d``), ``W_c`` the scatter matrix, kept as a triangular factor updated by
Givens rotations. Like mclust (``hcvvv``, versions up to 6.1.3 at least), the factor stored for
a merged cluster holds the first row of its triangular factor in every stored row (mclust copies
``r(1,1)`` in a loop over rows); the factor of the cluster just merged is used intact for the
costs computed right after its merge. We reproduce this, or the trees would differ.

EII: Ward's criterion, the increase of the within-cluster sum of squares, updated with the
Lance-Williams formula as ``hceii`` does.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

#: mclust's FLMAX (the largest double), the start of every minimum search.
_FLMAX = 1.7976931348623157e308
#: Reference BLAS drotg's scaling bounds (radix ** (min/max exponent - 1)).
_SAFMIN = 2.0**-1022
_SAFMAX = 2.0**1023
_RTHALF = 0.7071067811865476


@njit(cache=True)
def _pos(i, j):
    # Packed position of the pair of slots i < j.
    return (j * (j - 1)) // 2 + i


@njit(cache=True)
def _drotg(a, b):
    # Reference BLAS 3.10+ drotg: returns (r, z, c, s); squares as x * x, as the library does.
    anorm = abs(a)
    bnorm = abs(b)
    if bnorm == 0.0:
        return a, 0.0, 1.0, 0.0
    if anorm == 0.0:
        return b, 1.0, 0.0, 1.0
    scl = min(_SAFMAX, max(_SAFMIN, max(anorm, bnorm)))
    sigma = math.copysign(1.0, a) if anorm > bnorm else math.copysign(1.0, b)
    ua = a / scl
    ub = b / scl
    r = sigma * (scl * math.sqrt(ua * ua + ub * ub))
    c = a / r
    s = b / r
    if anorm > bnorm:
        z = s
    elif c != 0.0:
        z = 1.0 / c
    else:
        z = 1.0
    return r, z, c, s


@njit(cache=True)
def _rotate(R, ri, w, wrow, wvec, col0, ncol_end, c, s):
    # drot over columns col0..ncol_end-1 between row ri of R and the new row (a row of R when
    # wrow >= 0, else the vector wvec).
    for col in range(col0, ncol_end):
        x = R[ri, col]
        y = R[wrow, col] if wrow >= 0 else wvec[col]
        R[ri, col] = c * x + s * y
        if wrow >= 0:
            R[wrow, col] = c * y - s * x
        else:
            wvec[col] = c * y - s * x


@njit(cache=True)
def _mclrup(ell, off, v, R):
    """Add the row ``v[off:]`` to the triangular factor ``R[off:, off:]`` (mclust's mclrup).

    ``ell - 1`` is the (1-based) row of the submatrix the new row goes to while it has room,
    exactly as mclust counts it (which can leave zero rows in between; kept for fidelity).
    ``v`` is overwritten.
    """
    p = R.shape[0]
    n = p - off
    if ell == 1:
        return
    k = ell - 1
    if k <= n:
        kk = off + k - 1
        for c in range(n):
            R[kk, off + c] = v[off + c]
        if k == 1:
            return
        if n > 1:
            for i in range(k - 1):
                ii = off + i
                r, z, c, s = _drotg(R[ii, ii], R[kk, ii])
                R[ii, ii] = r
                R[kk, ii] = z
                _rotate(R, ii, R, kk, v, ii + 1, p, c, s)
        return
    if n > 1:
        for i in range(n - 1):
            ii = off + i
            r, z, c, s = _drotg(R[ii, ii], v[ii])
            R[ii, ii] = r
            v[ii] = z
            _rotate(R, ii, R, -1, v, ii + 1, p, c, s)
    last = p - 1
    r, z, c, s = _drotg(R[last, last], v[last])
    R[last, last] = r
    v[last] = z


@njit(cache=True)
def _dot(v):
    total = 0.0
    for k in range(v.shape[0]):
        total = total + v[k] * v[k]
    return total


@njit(cache=True)
def _vvv_term(ell, p, R, s, trac, alpha, beta):
    # mclust's vvvtij: the criterion of one cluster of ell points, trace trac, factor R.
    if ell <= p:
        val = math.log(beta * (trac + alpha) / ell)
    elif trac == 0.0:
        val = math.log((alpha * beta) / ell)
    else:
        detlog = 0.0
        singular = False
        for k in range(p):
            q = R[k, k] * s
            if abs(q) <= 0.0:
                singular = True
                break
            detlog = detlog + math.log(abs(q))
        if singular:
            val = math.log(beta * (trac + alpha) / ell)
        else:
            detlog = 2.0 * detlog
            if detlog <= 0.0:
                val = math.log(math.exp(detlog) + beta * (trac + alpha) / ell)
            else:
                val = math.log(1.0 + math.exp(-detlog) * (beta * (trac + alpha) / ell)) + detlog
    return ell * val


@njit(cache=True)
def trace_w(X):
    """mclust's ``traceW(X / sqrt(n d))``: the scaled total sum of squares (mcltrw)."""
    n, p = X.shape
    root = math.sqrt(float(n * p))
    x = np.empty((n, p))
    for i in range(n):
        for j in range(p):
            x[i, j] = X[i, j] / root
    fac = 1.0 / math.sqrt(float(n))
    u = np.zeros(p)
    for i in range(n):
        for j in range(p):
            u[j] = u[j] + fac * x[i, j]
    ss = 0.0
    for j in range(p):
        col = 0.0
        for i in range(n):
            x[i, j] = x[i, j] + (-fac) * u[j]
            col = col + x[i, j] * x[i, j]
        ss = ss + col
    return ss


@njit(cache=True)
def _wardsw(d, i, n):
    # Move slot n (the last) into slot i < n in the packed array (mclust's wardsw).
    for k in range(i):
        a = _pos(k, i)
        b = _pos(k, n)
        d[a], d[b] = d[b], d[a]
    for k in range(i + 1, n):
        a = _pos(i, k)
        b = _pos(k, n)
        d[a], d[b] = d[b], d[a]


@njit(cache=True)
def _rescan(d, j, colmin, colarg):
    best = np.inf
    arg = 0
    base = (j * (j - 1)) // 2
    for i in range(j):
        if d[base + i] <= best:
            best = d[base + i]
            arg = i
    colmin[j] = best
    colarg[j] = arg


@njit(cache=True)
def _touch(d, i, j, colmin, colarg):
    # Entry (i, j) changed and colarg[j] is not a changed row: fold the new value in.
    value = d[_pos(i, j)]
    if value < colmin[j] or (value == colmin[j] and i > colarg[j]):
        colmin[j] = value
        colarg[j] = i


@njit(cache=True)
def _update_columns(d, lg, iold, jopt, swapped, colmin, colarg):
    # Columns iold and jopt were rewritten; columns k > iold changed in row iold (and in row
    # jopt when the last slot moved into jopt).
    if iold >= 1:
        _rescan(d, iold, colmin, colarg)
    if swapped and jopt < lg:
        _rescan(d, jopt, colmin, colarg)
    for k in range(iold + 1, lg):
        if swapped and k == jopt:
            continue
        jrow = swapped and k > jopt
        if colarg[k] == iold or (jrow and colarg[k] == jopt):
            _rescan(d, k, colmin, colarg)
        else:
            _touch(d, iold, k, colmin, colarg)
            if jrow:
                _touch(d, jopt, k, colmin, colarg)


@njit(cache=True)
def _global_min(lg, colmin, colarg):
    best = np.inf
    bj = 1
    for j in range(1, lg):
        if colmin[j] <= best:
            best = colmin[j]
            bj = j
    return colarg[bj], bj, best


@njit(cache=True)
def _slots_to_labels(slot_pairs, m):
    # mclust's final relabelling: a cluster is named by its smallest member (its position in
    # the agglomerated rows); the absorbed slot inherits the name of the last slot.
    ns = slot_pairs.shape[0]
    names = np.arange(m)
    out = np.empty((ns, 2), dtype=np.int64)
    lg = m
    for k in range(ns):
        i = slot_pairs[k, 0]
        j = slot_pairs[k, 1]
        a = names[i]
        b = names[j]
        if a > b:
            names[i] = b
        names[j] = names[lg - 1]
        lg -= 1
        out[k, 0] = min(a, b)
        out[k, 1] = max(a, b)
    return out


@njit(cache=True)
def ward_eii(X):
    """Ward agglomeration of the rows of X, shape (m, d): merges (m - 1, 2) and costs (m - 1,)."""
    m, p = X.shape
    ns = m - 1
    pairs = np.zeros((ns, 2), dtype=np.int64)
    costs = np.zeros(ns)
    d = np.empty((m * (m - 1)) // 2)
    colmin = np.full(m, np.inf)
    colarg = np.zeros(m, dtype=np.int64)
    size = np.ones(m)
    half = math.sqrt(1.0 / 2.0)
    v = np.empty(p)
    for j in range(1, m):
        for i in range(j):
            for k in range(p):
                v[k] = X[i, k] * half + (-half) * X[j, k]
            d[_pos(i, j)] = _dot(v)
        _rescan(d, j, colmin, colarg)
    iopt, jopt, dopt = _global_min(m, colmin, colarg)
    lg = m
    for step in range(ns):
        pairs[step, 0] = iopt
        pairs[step, 1] = jopt
        costs[step] = dopt
        if step == ns - 1:
            break
        si = size[iopt]
        sj = size[jopt]
        sij = si + sj
        size[iopt] = sij
        last = lg - 1
        swapped = jopt != last
        if swapped:
            _wardsw(d, jopt, last)
            size[jopt] = size[last]
        lg -= 1
        iold = iopt
        # the absorbed cluster's distances now sit in column `last`
        for j in range(lg):
            if j == iold:
                continue
            rj = size[j]
            ik = _pos(j, iold) if j < iold else _pos(iold, j)
            jk = _pos(j, last)
            dij = (rj + si) * d[ik] + (rj + sj) * d[jk]
            d[ik] = (dij - rj * dopt) / (rj + sij)
        if lg == 2:
            iopt, jopt, dopt = 0, 1, d[0]
            continue
        _update_columns(d, lg, iold, jopt, swapped, colmin, colarg)
        iopt, jopt, dopt = _global_min(lg, colmin, colarg)
    return _slots_to_labels(pairs, m), costs


@njit(cache=True)
def _build_rowpair(R_old, ni, Fj, nj, p, v, u, w):
    # The factor of cluster iold (R_old, ni points) merged with cluster j (stored factor Fj,
    # nj points) and the between-means row v, as mclust's update after a merge builds it.
    u[:, :] = 0.0
    for k in range(min(ni - 1, p)):
        for c in range(k, p):
            u[k, c] = R_old[k, c]
    if nj > 1:
        ell = ni + 1
        for t in range(min(nj - 1, p)):
            for c in range(p):
                w[c] = Fj[t, c] if c >= t else 0.0
            _mclrup(ell, t, w, u)
            ell += 1
    for c in range(p):
        w[c] = v[c]
    _mclrup(ni + nj, 0, w, u)


@njit(cache=True)
def vvv(X, alpha, beta):
    """VVV agglomeration (mclust's hcvvv) of the rows of X, shape (m, d).

    Returns merges (m - 1, 2) in mclust's naming (see :func:`_slots_to_labels`) and the cost of
    each merge, shape (m - 1,).
    """
    m, p = X.shape
    ns = m - 1
    pairs = np.zeros((ns, 2), dtype=np.int64)
    costs = np.zeros(ns)
    x = X.copy()  # per slot: sqrt(n_c) times the cluster mean
    size = np.ones(m, dtype=np.int64)
    trace = np.zeros(m)
    ablog = math.log(beta * alpha)
    term = np.full(m, ablog)
    F = np.zeros((m, p, p))  # the factor as mclust stores it (see the module docstring)
    r = np.zeros((p, p))  # the intact factor of the pending / last merged cluster
    s = np.zeros((p, p))
    u = np.zeros((p, p))
    v = np.empty(p)
    w = np.empty(p)
    d = np.empty((m * (m - 1)) // 2)
    colmin = np.full(m, np.inf)
    colarg = np.zeros(m, dtype=np.int64)

    # all pairs of singletons
    for j in range(1, m):
        base = (j * (j - 1)) // 2
        for i in range(j):
            for k in range(p):
                v[k] = (x[i, k] - x[j, k]) * _RTHALF
            trc = _dot(v)
            trm = 2.0 * math.log(beta * (trc + alpha) / 2.0)
            d[base + i] = trm - (ablog + ablog)
        _rescan(d, j, colmin, colarg)
    iopt, jopt, dopt = _global_min(m, colmin, colarg)
    for k in range(p):
        v[k] = (x[iopt, k] - x[jopt, k]) * _RTHALF
    trop = _dot(v)
    tmop = 2.0 * math.log(beta * (trop + alpha) / 2.0)
    nopt = 2
    siop = _RTHALF
    sjop = _RTHALF
    r[:, :] = 0.0
    for k in range(p):
        r[0, k] = v[k]

    lg = m
    for step in range(ns):
        pairs[step, 0] = iopt
        pairs[step, 1] = jopt
        costs[step] = dopt
        if step == ns - 1:
            break
        # merge jopt into iopt; the last slot moves into jopt
        for k in range(p):
            v[k] = x[iopt, k] * siop + sjop * x[jopt, k]
        last = lg - 1
        swapped = jopt != last
        if swapped:
            _wardsw(d, jopt, last)
            for k in range(p):
                x[jopt, k] = x[last, k]
            size[jopt] = size[last]
            trace[jopt] = trace[last]
            term[jopt] = term[last]
            F[jopt, :, :] = F[last, :, :]
        F[iopt, :, :] = 0.0
        for t in range(min(nopt - 1, p)):
            for c in range(t, p):
                F[iopt, t, c] = r[0, c]
        size[iopt] = nopt
        trace[iopt] = trop
        term[iopt] = tmop
        for k in range(p):
            x[iopt, k] = v[k]
        lg -= 1
        iold = iopt
        ni = nopt
        termi = tmop
        traci = trop

        # costs of merging the new cluster with every other one
        best = _FLMAX
        best_j = -1
        best_trc = 0.0
        best_trm = 0.0
        best_si = 0.0
        best_sj = 0.0
        for j in range(lg):
            if j == iold:
                continue
            nj = size[j]
            nij = ni + nj
            qij = 1.0 / nij
            si = math.sqrt(ni * qij)
            sj = math.sqrt(qij) if nj == 1 else math.sqrt(nj * qij)
            for k in range(p):
                v[k] = x[j, k] * si + (-sj) * x[iold, k]
            # (traci + tracj) first, as mclust adds them: the association changes the rounding
            if nj == 1:  # noqa: SIM108
                trc = traci + _dot(v)
            else:
                trc = (traci + trace[j]) + _dot(v)
            if nij <= p or trc == 0.0:
                trm = _vvv_term(nij, p, u, 0.0, trc, alpha, beta)
            else:
                _build_rowpair(r, ni, F[j], nj, p, v, u, w)
                trm = _vvv_term(nij, p, u, math.sqrt(qij), trc, alpha, beta)
            dij = trm - (termi + term[j])
            d[_pos(j, iold) if j < iold else _pos(iold, j)] = dij
            if dij <= best:
                best = dij
                best_j = j
                best_trc = trc
                best_trm = trm
                best_si = si
                best_sj = sj
        if lg == 2:
            iopt, jopt, dopt = 0, 1, d[0]
            continue
        _update_columns(d, lg, iold, jopt, swapped, colmin, colarg)
        iopt, jopt, dopt = _global_min(lg, colmin, colarg)

        if iopt != iold and jopt != iold:
            # a pair whose cost was computed earlier: rebuild its factor, low slot into high
            i = iopt
            j = jopt
            ni_ = size[i]
            nj_ = size[j]
            r[:, :] = 0.0
            if nj_ == 1:
                termj = ablog
                if ni_ == 1:
                    for k in range(p):
                        v[k] = (x[i, k] - x[j, k]) * _RTHALF
                    trc = _dot(v)
                    for k in range(p):
                        r[0, k] = v[k]
                    termi = ablog
                    si = _RTHALF
                    sj = _RTHALF
                else:
                    for t in range(min(ni_ - 1, p)):
                        for c in range(t, p):
                            r[t, c] = F[i, t, c]
                    termi = term[i]
                    qij = 1.0 / (ni_ + 1)
                    si = math.sqrt(ni_ * qij)
                    sj = math.sqrt(qij)
                    for k in range(p):
                        v[k] = x[i, k] * sj + (-si) * x[j, k]
                    trc = trace[i] + _dot(v)
                    for k in range(p):
                        w[k] = v[k]
                    _mclrup(ni_ + 1, 0, w, r)
            else:
                for t in range(min(nj_ - 1, p)):
                    for c in range(t, p):
                        r[t, c] = F[j, t, c]
                termj = term[j]
                if ni_ == 1:
                    qij = 1.0 / (nj_ + 1)
                    si = math.sqrt(qij)
                    sj = math.sqrt(nj_ * qij)
                    for k in range(p):
                        v[k] = x[i, k] * sj + (-si) * x[j, k]
                    trc = trace[j] + _dot(v)
                    termi = ablog
                else:
                    for t in range(min(ni_ - 1, p)):
                        for c in range(p):
                            w[c] = F[i, t, c] if c >= t else 0.0
                        _mclrup(nj_ + 1, t, w, r)
                    termi = term[i]
                    qij = 1.0 / (ni_ + nj_)
                    si = math.sqrt(ni_ * qij)
                    sj = math.sqrt(nj_ * qij)
                    for k in range(p):
                        v[k] = x[i, k] * sj + (-si) * x[j, k]
                    trc = (trace[i] + trace[j]) + _dot(v)
                for k in range(p):
                    w[k] = v[k]
                _mclrup(ni_ + nj_, 0, w, r)
            trop = trc
            tmop = dopt + (termi + termj)
            nopt = ni_ + nj_
            siop = si
            sjop = sj
        else:
            # the best pair involves the new cluster: its factor as computed above
            j = best_j
            nj = size[j]
            for k in range(p):
                v[k] = x[j, k] * best_si + (-best_sj) * x[iold, k]
            _build_rowpair(r, ni, F[j], nj, p, v, s, w)
            r[:, :] = 0.0
            for t in range(min(ni + nj - 1, p)):
                for c in range(t, p):
                    r[t, c] = s[t, c]
            trop = best_trc
            tmop = best_trm
            nopt = ni + nj
            if j < iold:
                siop = best_sj
                sjop = best_si
            else:
                siop = best_si
                sjop = best_sj
    return _slots_to_labels(pairs, m), costs
