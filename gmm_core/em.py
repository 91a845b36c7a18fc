"""The EM algorithm as plain functions: E-step, M-step from sufficient statistics, the loop.

One EM iteration is one pass over the rows that scores every component, normalises in log
space and accumulates per-component *sufficient statistics*; the M-step then needs only those
statistics (a few K x d x d numbers), never the n x K responsibilities. The pass runs over
chunks of rows, so memory stays bounded, and statistics of separate chunks (or partitions of
a data set on other machines) simply add up.

The statistics are centred on the component means used in the E-step (``centers``): the
E-step computes ``x - mean_k`` anyway, and accumulating around a point close to the new mean
avoids the cancellation of the textbook ``E[x x^T] - mean mean^T`` formula.

The arithmetic follows scikit-learn's ``GaussianMixture`` (``nk = sum(resp) + 10 eps``,
``reg_covar`` on the diagonal, weights normalised after the M-step) so that, from the same
starting point, both produce the same iterates to rounding error.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from .params import MixtureParams, check_resolved, log_det_cholesky

LOG_2PI = math.log(2.0 * math.pi)

#: Rows per chunk are chosen so that a chunk's n x K temporaries hold about this many numbers.
CHUNK_ELEMENTS = 1 << 18

#: A component whose total responsibility (effective number of points) falls below this is
#: reported as empty in the history: it no longer explains even one data point.
EMPTY_COMPONENT_MASS = 1.0


def chunk_rows(n_samples: int, n_components: int, n_features: int) -> int:
    """Number of rows per chunk so that a chunk's temporaries stay around 2 MB."""
    per_row = n_components * max(1, n_features)
    return int(min(n_samples, max(256, CHUNK_ELEMENTS // per_row)))


@dataclass(frozen=True, eq=False)
class SufficientStatistics:
    """Responsibility-weighted sums over rows, centred on the E-step's component means.

    Attributes
    ----------
    resp_sum : ndarray of shape (n_components,)
        ``N_k = sum_i r_ik``.
    first : ndarray of shape (n_components, n_features)
        ``sum_i r_ik (x_i - c_k)``.
    second : ndarray
        ``sum_i r_ik (x_i - c_k)(x_i - c_k)^T`` of shape (n_components, d, d) for 'full'
        and 'tied', the diagonal of it, shape (n_components, d), for 'diag' and 'spherical'.
    centers : ndarray of shape (n_components, n_features)
        The ``c_k`` (the means of the parameters the E-step used).
    log_likelihood_sum : float
        ``sum_i log p(x_i)`` under the E-step's parameters.
    n_samples : int
        Number of rows summed.
    """

    resp_sum: np.ndarray
    first: np.ndarray
    second: np.ndarray
    centers: np.ndarray
    log_likelihood_sum: float
    n_samples: int

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
        )

    @property
    def mean_log_likelihood(self) -> float:
        """Mean per-sample log-likelihood (what scikit-learn calls the lower bound)."""
        return self.log_likelihood_sum / self.n_samples


def _mahalanobis_sq(diff: np.ndarray, params: MixtureParams, k: int) -> np.ndarray:
    """Squared Mahalanobis distances of ``diff = X - mean_k`` rows, shape (m,)."""
    chol = params.precisions_cholesky
    ct = params.covariance_type
    if ct == "full":
        y = diff @ chol[k]
    elif ct == "tied":
        y = diff @ chol
    elif ct == "diag":
        y = diff * chol[k]
    else:
        return np.einsum("ij,ij->i", diff, diff) * chol[k] ** 2
    return np.einsum("ij,ij->i", y, y)


def estimate_weighted_log_prob(X: np.ndarray, params: MixtureParams) -> np.ndarray:
    """``log weight_k + log N(x_i | mean_k, cov_k)`` for every row and component.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    params : MixtureParams

    Returns
    -------
    ndarray of shape (n_samples, n_components)
    """
    n, d = X.shape
    k_count = params.n_components
    log_det = np.broadcast_to(
        log_det_cholesky(params.precisions_cholesky, params.covariance_type, d), (k_count,)
    )
    with np.errstate(divide="ignore"):
        # A weight of exactly zero (possible only in a user-given start) gives -inf: that
        # component then explains no point, which is the right answer.
        log_weights = np.log(params.weights)
    out = np.empty((n, k_count), dtype=X.dtype)
    for k in range(k_count):
        maha = _mahalanobis_sq(X - params.means[k], params, k)
        out[:, k] = -0.5 * (d * LOG_2PI + maha) + log_det[k] + log_weights[k]
    return out


def _log_normalise(weighted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise log-sum-exp and log responsibilities, stable for large negative values."""
    top = weighted.max(axis=1, keepdims=True)
    # A row whose every component is -inf (only if its squared distance overflows for every
    # component) gets log p = -inf instead of NaN from -inf - -inf in the maximum; its log
    # responsibilities are still NaN, as there is no way to share such a row.
    top[~np.isfinite(top)] = 0.0
    log_norm = np.log(np.exp(weighted - top).sum(axis=1)) + top[:, 0]
    return log_norm, weighted - log_norm[:, None]


def e_step(X: np.ndarray, params: MixtureParams) -> tuple[np.ndarray, np.ndarray]:
    """E-step in log space.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    params : MixtureParams

    Returns
    -------
    log_prob_norm : ndarray of shape (n_samples,)
        ``log p(x_i)`` under the mixture.
    log_resp : ndarray of shape (n_samples, n_components)
        Log responsibilities; ``exp(log_resp)`` sums to one over components.
    """
    return _log_normalise(estimate_weighted_log_prob(X, params))


def statistics_from_responsibilities(
    X: np.ndarray, resp: np.ndarray, centers: np.ndarray, *, full_second: bool
) -> SufficientStatistics:
    """Sufficient statistics of rows ``X`` with given responsibilities.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    resp : ndarray of shape (n_samples, n_components)
    centers : ndarray of shape (n_components, n_features)
    full_second : bool
        Accumulate full d x d second moments ('full', 'tied') or only their diagonal.

    Returns
    -------
    SufficientStatistics
        With ``log_likelihood_sum`` set to 0 (no likelihood is involved).
    """
    k_count, d = centers.shape
    first = np.empty((k_count, d), dtype=X.dtype)
    second = np.empty((k_count, d, d) if full_second else (k_count, d), dtype=X.dtype)
    for k in range(k_count):
        diff = X - centers[k]
        weighted = diff * resp[:, k : k + 1]
        first[k] = weighted.sum(axis=0)
        second[k] = weighted.T @ diff if full_second else np.einsum("ij,ij->j", weighted, diff)
    return SufficientStatistics(resp.sum(axis=0), first, second, centers, 0.0, X.shape[0])


#: Engines of :func:`accumulate_statistics`.
ENGINES: tuple[str, ...] = ("auto", "numba", "numpy")

#: ``engine="auto"`` takes the compiled engine when the passes planned (one for
#: :func:`accumulate_statistics`, ``max_iter + 1`` for :func:`em_iterations`) hold at least this
#: much work in all (``passes * n_samples * n_components * n_features``). The numpy pass costs
#: about 30 ns per unit of work (2 cores), so below this the whole numpy run takes about 0.25 s,
#: what importing numba and loading the kernels from their on-disk cache costs once per process:
#: small fits (the app's samples, the tests) never pay for numba, and 100 iterations on 20,000
#: rows (1 s in numpy) do not wait for it. Set it to 0 to always use numba when it is installed.
AUTO_NUMBA_MIN_WORK = 1 << 23

_numba_installed: bool | None = None


def _numba_is_installed() -> bool:
    global _numba_installed
    if _numba_installed is None:
        import importlib.util

        _numba_installed = importlib.util.find_spec("numba") is not None
    return _numba_installed


def resolve_engine(X: np.ndarray, params: MixtureParams, engine: str, passes: int = 1) -> str:
    """The engine that ``engine`` means for ``passes`` E-step passes over ``X``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    params : MixtureParams
    engine : {'auto', 'numba', 'numpy'}
    passes : int, default 1
        How many passes the caller plans (an upper bound: EM may stop earlier).

    Returns
    -------
    {'numba', 'numpy'}
        'auto' resolves to 'numba' when numba is installed, ``X`` is float64 or float32 and
        the planned work reaches :data:`AUTO_NUMBA_MIN_WORK`.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}; got {engine!r}.")
    if engine != "auto":
        return engine
    work = passes * X.shape[0] * params.n_components * params.n_features
    big = X.dtype in (np.float64, np.float32) and work >= AUTO_NUMBA_MIN_WORK
    return "numba" if big and _numba_is_installed() else "numpy"


def accumulate_statistics(
    X: np.ndarray,
    params: MixtureParams,
    *,
    chunk_size: int | None = None,
    engine: str = "auto",
) -> SufficientStatistics:
    """One fused E-step pass: score, normalise, and accumulate statistics chunk by chunk.

    Never holds more than one chunk's responsibilities in memory.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    params : MixtureParams
        The current parameters; their means become the statistics' centres.
    chunk_size : int, optional
        Rows per chunk; by default about 2 MB of temporaries (:func:`chunk_rows`). For the
        numba engine, rows per block of the parallel partition (chosen from the sizes by
        default).
    engine : {'auto', 'numba', 'numpy'}, default 'auto'
        'numpy' is the reference implementation below (:func:`_accumulate_numpy`); 'numba'
        the compiled kernels of :mod:`gmm_core._fast` (imported on first use, so that
        importing :mod:`gmm_core` does not import numba); 'auto' takes numba when it is
        installed and the pass is big enough (:data:`AUTO_NUMBA_MIN_WORK`).

    Returns
    -------
    SufficientStatistics
        In the dtype of ``X``; the two engines agree to rounding error (about 1e-15 relative
        for float64).
    """
    if resolve_engine(X, params, engine) == "numba":
        from . import _fast

        return _fast.accumulate(X, params, chunk_size=chunk_size)
    return _accumulate_numpy(X, params, chunk_size=chunk_size)


def _accumulate_numpy(
    X: np.ndarray, params: MixtureParams, *, chunk_size: int | None = None
) -> SufficientStatistics:
    """The reference pass of :func:`accumulate_statistics`, in numpy, chunk by chunk."""
    n, d = X.shape
    step = chunk_size or chunk_rows(n, params.n_components, d)
    full_second = params.covariance_type in ("full", "tied")
    total: SufficientStatistics | None = None
    for start in range(0, n, step):
        chunk = X[start : start + step]
        log_norm, log_resp = e_step(chunk, params)
        part = statistics_from_responsibilities(
            chunk, np.exp(log_resp), params.means, full_second=full_second
        )
        part = SufficientStatistics(
            part.resp_sum, part.first, part.second, part.centers, float(log_norm.sum()), len(chunk)
        )
        total = part if total is None else total + part
    assert total is not None  # n >= 1 is checked by every caller
    return total


def m_step(
    stats: SufficientStatistics,
    covariance_type: str,
    reg_covar: float,
    *,
    normalise_weights: bool = True,
    iteration: int | None = None,
    require_resolved: bool = True,
) -> MixtureParams:
    """M-step: maximum-likelihood parameters from sufficient statistics.

    Parameters
    ----------
    stats : SufficientStatistics
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    reg_covar : float
        Non-negative number added to the diagonal of every covariance.
    normalise_weights : bool, default True
        ``weights = N_k / sum(N_k)`` (an M-step) or ``N_k / n`` (scikit-learn's initialisation).
    iteration : int, optional
        For the error message if a covariance is degenerate.
    require_resolved : bool, default True
        Also raise when a covariance is positive definite only by rounding error
        (:func:`gmm_core.params.check_resolved`): a component collapsed onto a repeated
        value or a line, whose likelihood is then noise. Starting points pass False.

    Returns
    -------
    MixtureParams

    Raises
    ------
    DegenerateCovarianceError
        If a resulting covariance is not positive definite, or (``require_resolved``) not
        resolved in floating point.
    """
    s0, t1, t2, c = stats.resp_sum, stats.first, stats.second, stats.centers
    dtype = t1.dtype
    nk = s0 + 10 * np.finfo(dtype).eps
    # (t1 + s0 c) / nk rather than c + t1 / nk: identical for populated components, and for an
    # empty one (s0 == 0) it gives scikit-learn's mean (the origin), not the old mean.
    means = (t1 + s0[:, None] * c) / nk[:, None]
    delta = means - c
    if covariance_type in ("full", "tied"):
        scatter = (
            t2
            - np.einsum("ki,kj->kij", t1, delta)
            - np.einsum("ki,kj->kij", delta, t1)
            + s0[:, None, None] * np.einsum("ki,kj->kij", delta, delta)
        )
        if covariance_type == "full":
            covariances = scatter / nk[:, None, None]
        else:
            covariances = scatter.sum(axis=0) / nk.sum()
        d = covariances.shape[-1]
        covariances.reshape(-1, d * d)[:, :: d + 1] += reg_covar
    else:
        diag = (t2 - 2.0 * t1 * delta + s0[:, None] * delta**2) / nk[:, None] + reg_covar
        covariances = diag if covariance_type == "diag" else diag.mean(axis=1)
    weights = nk / nk.sum() if normalise_weights else nk / stats.n_samples
    params = MixtureParams.from_covariances(
        weights, means, covariances, covariance_type, iteration=iteration
    )
    if require_resolved:
        check_resolved(params, reg_covar=reg_covar, iteration=iteration, resp_sum=nk)
    return params


@dataclass(frozen=True, eq=False)
class Snapshot:
    """The mixture after one EM iteration.

    Attributes
    ----------
    iteration : int
        0 for the starting point, j for the parameters after the j-th M-step.
    params : MixtureParams
    log_likelihood : float
        Mean per-sample log-likelihood of the data under ``params``.
    empty_components : tuple of int
        Components whose effective number of points ``n * weight`` is below
        :data:`EMPTY_COMPONENT_MASS`.
    converged : bool
        True on the last snapshot of a run that met the tolerance.
    """

    iteration: int
    params: MixtureParams
    log_likelihood: float
    empty_components: tuple[int, ...] = ()
    converged: bool = False

    @property
    def weights(self) -> np.ndarray:
        """Mixing weights, shape (n_components,)."""
        return self.params.weights

    @property
    def means(self) -> np.ndarray:
        """Component means, shape (n_components, n_features)."""
        return self.params.means

    @property
    def covariances(self) -> np.ndarray:
        """Covariances in the shape of the covariance type."""
        return self.params.covariances


def em_iterations(
    X: np.ndarray,
    start: MixtureParams,
    *,
    reg_covar: float = 1e-6,
    tol: float = 1e-3,
    max_iter: int = 100,
    previous_log_likelihood: float = -np.inf,
    chunk_size: int | None = None,
    engine: str = "auto",
) -> Iterator[Snapshot]:
    """Run EM from ``start``, yielding one :class:`Snapshot` per iteration as it goes.

    Yields ``start`` (iteration 0) and then the parameters after each M-step, each with its
    own log-likelihood. The stopping rule is scikit-learn's: after the M-step of iteration j,
    stop when ``|L(j-1) - L(j-2)| < tol``, where ``L(j)`` is the mean log-likelihood of the
    j-th snapshot; or after ``max_iter`` M-steps.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    start : MixtureParams
    reg_covar : float, default 1e-6
    tol : float, default 1e-3
        0 runs all ``max_iter`` iterations.
    max_iter : int, default 100
    previous_log_likelihood : float, default -inf
        ``L(-1)``: the last lower bound of a previous fit when warm-starting.
    chunk_size : int, optional
        Rows per chunk of the E-step pass.
    engine : {'auto', 'numba', 'numpy'}, default 'auto'
        See :func:`accumulate_statistics`; 'auto' decides once for the run, on the work of
        ``max_iter + 1`` passes.

    Yields
    ------
    Snapshot
        ``max_iter + 1`` of them at most. The last one has ``converged=True`` if the
        tolerance was met.

    Raises
    ------
    DegenerateCovarianceError
        If a covariance stops being positive definite.
    """
    n = X.shape[0]
    # One engine for the whole run, chosen on all the passes it may make.
    engine = resolve_engine(X, start, engine, passes=max_iter + 1)
    params = start
    prev_ll = previous_log_likelihood
    finishing = False
    for iteration in range(max_iter + 1):
        stats = accumulate_statistics(X, params, chunk_size=chunk_size, engine=engine)
        ll = stats.mean_log_likelihood
        empty = tuple(int(k) for k in np.flatnonzero(params.weights * n < EMPTY_COMPONENT_MASS))
        yield Snapshot(iteration, params, ll, empty, converged=finishing)
        if finishing or iteration == max_iter:
            return
        params = m_step(stats, params.covariance_type, reg_covar, iteration=iteration + 1)
        finishing = abs(ll - prev_ll) < tol
        prev_ll = ll


#: Relative size of a log-likelihood drop that is only rounding noise.
ASCENT_SLACK = 1e-9


def likelihood_drops(snapshots: tuple[Snapshot, ...]) -> list[tuple[int, float]]:
    """Iterations at which the log-likelihood went down by more than rounding noise.

    Exact EM never lowers the likelihood, but ``reg_covar`` makes the covariance update a
    slightly different map: when ``reg_covar`` is not small against the data's variance the
    likelihood can dip. Starting points are skipped (scikit-learn's single-point starts have
    weights that do not sum to one, so their "likelihood" is not comparable).

    Returns
    -------
    list of (iteration, drop)
        ``drop > 0`` is how much the mean log-likelihood fell at that iteration.
    """
    out = []
    for before, after in itertools.pairwise(snapshots[1:]):
        drop = before.log_likelihood - after.log_likelihood
        if drop > ASCENT_SLACK * max(1.0, abs(before.log_likelihood)):
            out.append((after.iteration, float(drop)))
    return out


@dataclass(frozen=True, eq=False)
class FitHistory:
    """The recorded EM run(s) of a fit; indexing and ``len`` refer to the best run.

    ``history[0]`` is the starting point, ``history[j]`` the parameters after the j-th
    M-step, so ``len(history) == n_iter_ + 1``.

    Attributes
    ----------
    runs : tuple of tuple of Snapshot
        Every restart's trace (``n_init`` of them).
    best_run : int
        Index of the restart whose result was kept (scikit-learn's rule: the highest final
        lower bound).
    covariance_type : str
    n_samples : int
    """

    runs: tuple[tuple[Snapshot, ...], ...]
    best_run: int
    covariance_type: str
    n_samples: int
    notes: tuple[str, ...] = field(default=())

    @property
    def snapshots(self) -> tuple[Snapshot, ...]:
        """The kept run's snapshots."""
        return self.runs[self.best_run]

    def __len__(self) -> int:
        return len(self.snapshots)

    def __getitem__(self, index):
        return self.snapshots[index]

    def __iter__(self) -> Iterator[Snapshot]:
        return iter(self.snapshots)

    @property
    def iterations(self) -> np.ndarray:
        """Iteration numbers, shape (T,)."""
        return np.array([s.iteration for s in self.snapshots])

    @property
    def log_likelihoods(self) -> np.ndarray:
        """Mean log-likelihood per snapshot, shape (T,)."""
        return np.array([s.log_likelihood for s in self.snapshots])

    @property
    def weights(self) -> np.ndarray:
        """Mixing weights per snapshot, shape (T, n_components)."""
        return np.stack([s.weights for s in self.snapshots])

    @property
    def means(self) -> np.ndarray:
        """Means per snapshot, shape (T, n_components, n_features)."""
        return np.stack([s.means for s in self.snapshots])

    @property
    def converged(self) -> bool:
        """Whether the kept run met the tolerance."""
        return self.snapshots[-1].converged

    def to_dict(self) -> dict:
        """A JSON-ready description of every run (lists of plain floats)."""

        def snap(s: Snapshot) -> dict:
            return {
                "iteration": s.iteration,
                "log_likelihood": float(s.log_likelihood),
                "weights": s.weights.tolist(),
                "means": s.means.tolist(),
                "covariances": s.covariances.tolist(),
                "empty_components": list(s.empty_components),
                "converged": s.converged,
            }

        return {
            "covariance_type": self.covariance_type,
            "n_samples": self.n_samples,
            "best_run": self.best_run,
            "notes": list(self.notes),
            "runs": [[snap(s) for s in run] for run in self.runs],
        }
