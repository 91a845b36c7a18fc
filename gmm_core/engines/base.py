"""What every engine returns, and the contract an engine module fulfils.

The contract
------------
An engine is one module of :mod:`gmm_core.engines` (its file name is the engine's name, as
``engine="<name>"`` takes it). It performs the E-step pass of EM: for the rows ``X`` and the
parameters ``params``, score every component, normalise in log space and accumulate the
per-component sufficient statistics, in pieces of at most ``chunk_size`` rows, never holding
all n x K responsibilities at once. It defines:

``accumulate(X, params, *, chunk_size=None, sample_weight=None) -> SufficientStatistics``
    The pass. ``X`` has shape (n_samples, n_features) (a NumPy array for the engines that
    exist; an engine for other arrays, such as Dask's, takes those), ``params`` is a
    :class:`gmm_core.params.MixtureParams`, ``chunk_size`` rows per piece of work or None
    for the engine's own choice. ``sample_weight`` is None (every row weighs 1) or a float
    array of shape (n_samples,) of finite, non-negative weights ``w_i``; the caller (the
    estimator) has validated it, the engine assumes it. It returns a
    :class:`SufficientStatistics` centred on ``params.means``, in the dtype of ``X``, in which
    every sum is weighted: ``resp_sum = sum_i w_i r_ik`` (and so ``first`` and ``second``),
    ``log_likelihood_sum = sum_i w_i log p(x_i)`` under ``params``, ``weight_sum = sum_i w_i``
    (``n_samples`` when unweighted) and ``n_samples`` the rows summed (zero weights
    included). An integer weight gives the statistics of the row repeated that many times,
    to rounding; a weight of 0 those of the row removed, exactly, even of a row no component
    can explain. Statistics of separate pieces (chunks, partitions, blocks on other machines)
    add up with ``+``. Engines agree with the reference (:mod:`gmm_core.engines.numpy`) to
    rounding error.

``unavailable() -> str | None``
    None when the engine can run in this process, else one sentence saying why not and what
    to install. Called only when the engine is about to be used; it may import the engine's
    dependencies then, but importing the engine module itself must stay cheap (no heavy
    imports at module level), since the registry imports every engine module to list them.

``AUTO_PRIORITY: int | None`` and ``wants(X, params, passes) -> bool``
    How ``engine="auto"`` chooses: it asks the engines from the highest ``AUTO_PRIORITY``
    down whether they want ``passes`` passes over ``X`` with ``params`` (work they are worth
    their start-up cost for) and takes the first one that wants it and is available. An
    engine with ``AUTO_PRIORITY = None`` is only ever used by name. The reference engine has
    the lowest priority and wants everything.

``SUMMARY: str``
    One line for error messages and documentation.

A new engine (say ``dask``) joins by adding ``gmm_core/engines/dask.py`` with these names:
the registry (:mod:`gmm_core.engines`) finds it, the estimator's ``engine=`` parameter and
:func:`gmm_core.engines.accumulate_statistics` accept ``"dask"``, and the engine tests
(``tests/test_engines.py``) run it against the reference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

LOG_2PI = math.log(2.0 * math.pi)

#: Rows per chunk are chosen so that a chunk's n x K temporaries hold about this many numbers.
CHUNK_ELEMENTS = 1 << 18


def chunk_rows(n_samples: int, n_components: int, n_features: int) -> int:
    """Number of rows per chunk so that a chunk's temporaries stay around 2 MB."""
    per_row = n_components * max(1, n_features)
    return int(min(n_samples, max(256, CHUNK_ELEMENTS // per_row)))


class EngineUnavailableError(ImportError):
    """An engine was asked for by name but cannot run here (a dependency is missing)."""


class CompiledEngineMissingWarning(RuntimeWarning):
    """``engine='auto'`` would have used a faster engine that cannot run here."""


@dataclass(frozen=True, eq=False)
class SufficientStatistics:
    """Responsibility-weighted sums over rows, centred on the E-step's component means.

    With sample weights ``w_i`` every sum below carries ``w_i`` too (``N_k = sum_i w_i r_ik``
    and so on); without them ``w_i = 1``.

    Attributes
    ----------
    resp_sum : ndarray of shape (n_components,)
        ``N_k = sum_i w_i r_ik``.
    first : ndarray of shape (n_components, n_features)
        ``sum_i w_i r_ik (x_i - c_k)``.
    second : ndarray
        ``sum_i w_i r_ik (x_i - c_k)(x_i - c_k)^T`` of shape (n_components, d, d) for 'full'
        and 'tied', the diagonal of it, shape (n_components, d), for 'diag' and 'spherical'.
    centers : ndarray of shape (n_components, n_features)
        The ``c_k`` (the means of the parameters the E-step used).
    log_likelihood_sum : float
        ``sum_i w_i log p(x_i)`` under the E-step's parameters.
    n_samples : int
        Number of rows summed (rows of weight 0 included).
    weight_sum : float, optional
        ``sum_i w_i``, the total weight (for integer weights: the number of rows they
        stand for). Left out (None), it is ``n_samples``: the statistics of unweighted rows.
    """

    resp_sum: np.ndarray
    first: np.ndarray
    second: np.ndarray
    centers: np.ndarray
    log_likelihood_sum: float
    n_samples: int
    weight_sum: float = None  # type: ignore[assignment]  (None -> n_samples, below)

    def __post_init__(self) -> None:
        # Builders of unweighted statistics (an engine, a Dask reduction) may leave it out.
        total = self.n_samples if self.weight_sum is None else self.weight_sum
        object.__setattr__(self, "weight_sum", float(total))

    def __add__(self, other: SufficientStatistics) -> SufficientStatistics:
        if not np.array_equal(self.centers, other.centers):
            raise ValueError("Statistics accumulated around different centres cannot be added.")
        return SufficientStatistics(
            self.resp_sum + other.resp_sum,
            self.first + other.first,
            self.second + other.second,
            self.centers,
            self.log_likelihood_sum + other.log_likelihood_sum,
            self.n_samples + other.n_samples,
            self.weight_sum + other.weight_sum,
        )

    @property
    def mean_log_likelihood(self) -> float:
        """Mean log-likelihood per unit of weight, ``sum_i w_i log p(x_i) / sum_i w_i``.

        Unweighted, the mean per row (what scikit-learn calls the lower bound).
        """
        return self.log_likelihood_sum / self.weight_sum
