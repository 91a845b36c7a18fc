"""E-step engines behind one seam, and the registry that finds them.

An engine takes ``(X, params, chunk_size, sample_weight)`` and returns the
:class:`SufficientStatistics` of one E-step pass, log-likelihood sum included; the M-step
(:func:`gmm_core.em.m_step`) needs nothing else. Each engine is one module of this package,
named as ``engine=`` names it:

=========  =================================================================
``numpy``  the reference, chunk by chunk (:mod:`gmm_core.engines.numpy`)
``numba``  compiled, fused and parallel (:mod:`gmm_core.engines.numba`)
=========  =================================================================

The contract an engine module fulfils is in :mod:`gmm_core.engines.base`; a new one (a Dask
engine, say) joins by adding its module here, and nothing else changes. ``engine="auto"``
asks the engines in order of their ``AUTO_PRIORITY`` whether the planned work is worth them
(:func:`resolve_engine`); when the one it would choose cannot run (numba missing), it says so
once per process with a :class:`CompiledEngineMissingWarning` and takes the next.

The dependencies only go down: :mod:`gmm_core.em` imports this package, this package and its
engines import :mod:`gmm_core.params` and :mod:`gmm_core.engines.base`, never :mod:`gmm_core.em`.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
import warnings
from functools import cache
from types import ModuleType

import numpy as np

from ..params import MixtureParams
from .base import (
    CompiledEngineMissingWarning,
    EngineUnavailableError,
    SufficientStatistics,
)

__all__ = [
    "AUTO",
    "CompiledEngineMissingWarning",
    "EngineUnavailableError",
    "SufficientStatistics",
    "accumulate_statistics",
    "check_engine",
    "engine_names",
    "get_engine",
    "resolve_engine",
]

#: The engine name that lets the registry choose.
AUTO = "auto"

#: Modules of this package that are not engines.
_NOT_ENGINES = frozenset({"base"})


@cache
def engine_names() -> tuple[str, ...]:
    """Every engine of this package, by name, sorted (``'auto'`` not included).

    Found from the package's modules (without importing them); each public module but
    :mod:`~gmm_core.engines.base` is an engine.
    """
    return tuple(
        sorted(
            info.name
            for info in pkgutil.iter_modules(__path__)
            if not info.name.startswith("_") and info.name not in _NOT_ENGINES
        )
    )


def _choices() -> str:
    return ", ".join(repr(name) for name in (AUTO, *engine_names()))


def get_engine(name: str) -> ModuleType:
    """The module of engine ``name`` (imported; importing an engine module is cheap).

    Raises
    ------
    ValueError
        For a name that is no engine.
    """
    if not isinstance(name, str) or name not in engine_names():
        raise ValueError(f"engine must be one of {_choices()}; got {name!r}.")
    return importlib.import_module(f"{__name__}.{name}")


def check_engine(engine: str) -> str:
    """Return ``engine`` if it can be used here, else raise a clear error.

    Parameters
    ----------
    engine : str
        ``'auto'`` or the name of an engine.

    Raises
    ------
    ValueError
        For an unknown name.
    EngineUnavailableError
        When the engine is asked for by name but cannot run in this process (for
        ``'numba'``: numba or llvmlite missing). ``'auto'`` never raises this.
    """
    if engine == AUTO:
        return engine
    reason = get_engine(engine).unavailable()
    if reason is not None:
        raise EngineUnavailableError(
            f"engine={engine!r} cannot run: {reason}. Use engine='auto' (it falls back to "
            "'numpy', with a warning) or engine='numpy'."
        )
    return engine


_warned: set[str] = set()
_warned_lock = threading.Lock()


def _warn_missing_once(name: str, reason: str) -> None:
    with _warned_lock:
        if name in _warned:
            return
        _warned.add(name)
    warnings.warn(
        f"engine='auto' would use the {name!r} engine for this fit, but {reason}. Running on "
        "the NumPy engine instead, which is 10 to 100 times slower on large data. (Said once "
        "per process.)",
        CompiledEngineMissingWarning,
        stacklevel=4,
    )


@cache
def _auto_order() -> tuple[str, ...]:
    ranked = []
    for name in engine_names():
        priority = get_engine(name).AUTO_PRIORITY
        if priority is not None:
            ranked.append((-priority, name))
    return tuple(name for _, name in sorted(ranked))


def resolve_engine(X: np.ndarray, params: MixtureParams, engine: str, passes: int = 1) -> str:
    """The engine that ``engine`` means for ``passes`` E-step passes over ``X``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    params : MixtureParams
        Only its number of components and features are used.
    engine : str
        ``'auto'`` or an engine's name.
    passes : int, default 1
        How many passes the caller plans (an upper bound: EM may stop earlier).

    Returns
    -------
    str
        An engine's name. ``'auto'`` resolves to the first engine (by ``AUTO_PRIORITY``)
        that wants the work and can run: ``'numba'`` when it is installed, ``X`` is float64
        or float32 and the planned work reaches
        :data:`gmm_core.engines.numba.AUTO_MIN_WORK`, else ``'numpy'``.

    Raises
    ------
    ValueError, EngineUnavailableError
        As :func:`check_engine`.

    Warns
    -----
    CompiledEngineMissingWarning
        Once per process, when 'auto' would take an engine that cannot run here.
    """
    if check_engine(engine) != AUTO:
        return engine
    for name in _auto_order():
        module = get_engine(name)
        if not module.wants(X, params, passes):
            continue
        reason = module.unavailable()
        if reason is None:
            return name
        _warn_missing_once(name, reason)
    raise AssertionError("the reference engine wants every input")  # pragma: no cover


def accumulate_statistics(
    X: np.ndarray,
    params: MixtureParams,
    *,
    chunk_size: int | None = None,
    engine: str = AUTO,
    sample_weight: np.ndarray | None = None,
) -> SufficientStatistics:
    """One fused E-step pass: score, normalise and accumulate statistics chunk by chunk.

    Never holds more than one chunk's responsibilities in memory.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    params : MixtureParams
        The current parameters; their means become the statistics' centres.
    chunk_size : int, optional
        Rows per chunk (numpy) or per block of the parallel partition (numba); the engine's
        own choice by default.
    engine : str, default 'auto'
        An engine's name (:func:`engine_names`), or 'auto' for the engine worth this one pass
        (:func:`resolve_engine`).
    sample_weight : ndarray of shape (n_samples,), optional
        Finite, non-negative weight of each row, which the caller has validated; None weighs
        every row 1. Every statistic and the log-likelihood are weighted sums.

    Returns
    -------
    SufficientStatistics
        In the dtype of ``X``; engines agree to rounding error (about 1e-15 relative for
        float64).
    """
    name = resolve_engine(X, params, engine)
    return get_engine(name).accumulate(
        X, params, chunk_size=chunk_size, sample_weight=sample_weight
    )
