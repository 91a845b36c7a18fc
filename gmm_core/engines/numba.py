"""The compiled engine: the fused, parallel E-step pass of :mod:`gmm_core._fast` (numba).

This module stays cheap to import: the kernels, numba and llvmlite are imported on the first
pass (or the first :func:`unavailable` check), so ``import gmm_core`` and small fits never
import numba.
"""

from __future__ import annotations

import threading

import numpy as np

from ..params import MixtureParams
from .base import SufficientStatistics

SUMMARY = "numba-compiled kernels, fused and parallel (needs numba and llvmlite)"

#: Asked before the reference by ``engine="auto"``.
AUTO_PRIORITY = 10

#: ``engine="auto"`` takes this engine when the passes planned (one for a single pass,
#: ``max_iter + 1`` for an EM run) hold at least this much work in all
#: (``passes * n_samples * n_components * n_features``). The numpy pass costs about 30 ns per
#: unit of work (2 cores), so below this the whole numpy run takes about 0.25 s, what importing
#: numba and loading the kernels from their on-disk cache costs once per process: small fits
#: (the app's samples, the tests) never pay for numba, and 100 iterations on 20,000 rows (1 s
#: in numpy) do not wait for it. ``engine="numba"`` uses it whatever the size.
AUTO_MIN_WORK = 1 << 23

_DTYPES = (np.float64, np.float32)

_lock = threading.Lock()
_import_error: str | None = None
_checked = False


def unavailable() -> str | None:
    """None when the kernels import, else why not (the import error), once per process."""
    global _checked, _import_error
    with _lock:
        if not _checked:
            try:
                from .. import _fast  # noqa: F401  (imports numba and llvmlite)
            except ImportError as err:
                _import_error = (
                    f"the compiled engine needs numba and llvmlite (pip install 'numba>=0.68'), "
                    f"which do not import here: {err}"
                )
            _checked = True
    return _import_error


def wants(X: np.ndarray, params: MixtureParams, passes: int) -> bool:
    """Float data with enough planned work to repay loading the kernels."""
    work = passes * X.shape[0] * params.n_components * params.n_features
    return X.dtype in _DTYPES and work >= AUTO_MIN_WORK


def accumulate(
    X: np.ndarray,
    params: MixtureParams,
    *,
    chunk_size: int | None = None,
    sample_weight: np.ndarray | None = None,
) -> SufficientStatistics:
    """The compiled pass: :func:`gmm_core._fast.accumulate` (float64 or float32 ``X``).

    ``chunk_size`` is the rows per block of the parallel partition; ``sample_weight`` (shape
    (n_samples,), finite and non-negative, or None) weights every sum. The statistics are
    within about 1e-15 (relative, float64) of the reference's.
    """
    from .. import _fast

    return _fast.accumulate(X, params, chunk_size=chunk_size, sample_weight=sample_weight)
