"""The EM algorithm as plain functions: E-step, M-step from sufficient statistics, the loop.

One EM iteration is one pass over the rows that scores every component, normalises in log
space and accumulates per-component *sufficient statistics*; the M-step then needs only those
statistics (a few K x d x d numbers), never the n x K responsibilities. The pass runs over
chunks of rows, so memory stays bounded, and statistics of separate chunks (or partitions of
a data set on other machines) simply add up.

The statistics are centred on the component means used in the E-step (``centers``): the
E-step computes ``x - mean_k`` anyway, and accumulating around a point close to the new mean
avoids the cancellation of the textbook ``E[x x^T] - mean mean^T`` formula.

The pass itself is an *engine*'s work (:mod:`gmm_core.engines`: the NumPy reference, the
compiled numba kernels); this module holds what is common to all of them: the M-step, the
loop, and the record of a fit.

The arithmetic follows scikit-learn's ``GaussianMixture`` (``nk = sum(resp) + 10 eps``,
``reg_covar`` on the diagonal, weights normalised after the M-step) so that, from the same
starting point, both produce the same iterates to rounding error.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from . import mclust_models
from .engines import accumulate_statistics, engine_names, get_engine, resolve_engine
from .engines.base import CHUNK_ELEMENTS, LOG_2PI, SufficientStatistics, chunk_rows
from .engines.numpy import (
    e_step,
    estimate_weighted_log_prob,
    statistics_from_responsibilities,
)
from .mclust_models import MStep
from .params import (
    COVARIANCE_TYPES,
    MCLUST_MODELS,
    DegenerateCovarianceError,
    MixtureParams,
    check_resolved,
    covariance_model,
)
from .prior import ConjugatePrior, map_m_step

__all__ = [
    "ASCENT_SLACK",
    "CHUNK_ELEMENTS",
    "EMPTY_COMPONENT_MASS",
    "ENGINES",
    "LOG_2PI",
    "FitHistory",
    "Snapshot",
    "SufficientStatistics",
    "TracePoint",
    "accumulate_statistics",
    "chunk_rows",
    "compact_best_run",
    "compiled_run",
    "e_step",
    "em_iterations",
    "estimate_weighted_log_prob",
    "likelihood_drops",
    "m_step",
    "resolve_engine",
    "statistics_from_responsibilities",
    "structured_m_step",
]

#: A component whose total responsibility (effective number of points) falls below this is
#: reported as empty in the history: it no longer explains even one data point.
EMPTY_COMPONENT_MASS = 1.0

#: What ``engine=`` accepts: 'auto' and every engine of :mod:`gmm_core.engines`.
ENGINES: tuple[str, ...] = ("auto", *engine_names())


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

    scikit-learn's four types (and mclust's names for them) take scikit-learn's closed
    form; mclust's other ten models take their own M-step (:func:`structured_m_step`).

    Parameters
    ----------
    stats : SufficientStatistics
    covariance_type : str
        One of :data:`gmm_core.params.ALL_COVARIANCE_TYPES`.
    reg_covar : float
        Non-negative number added to the diagonal of every covariance (for mclust's models,
        ``N_k reg_covar`` is added to the diagonal of every scatter matrix, which is the
        same for the four shared models and keeps each model's structure).
    normalise_weights : bool, default True
        ``weights = N_k / sum(N_k)`` (an M-step) or ``N_k / n`` (scikit-learn's initialisation),
        ``n`` the total weight of the rows (``stats.weight_sum``; their number, unweighted).
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
    model = covariance_model(covariance_type)
    if not model.closed_form:
        return structured_m_step(
            stats,
            covariance_type,
            reg_covar,
            normalise_weights=normalise_weights,
            iteration=iteration,
            require_resolved=require_resolved,
        )[0]
    s0, t1, t2, c = stats.resp_sum, stats.first, stats.second, stats.centers
    dtype = t1.dtype
    nk = s0 + 10 * np.finfo(dtype).eps
    # (t1 + s0 c) / nk rather than c + t1 / nk: identical for populated components, and for an
    # empty one (s0 == 0) it gives scikit-learn's mean (the origin), not the old mean.
    means = (t1 + s0[:, None] * c) / nk[:, None]
    delta = means - c
    if model.matrices:
        scatter = (
            t2
            - np.einsum("ki,kj->kij", t1, delta)
            - np.einsum("ki,kj->kij", delta, t1)
            + s0[:, None, None] * np.einsum("ki,kj->kij", delta, delta)
        )
        if model.shared:
            covariances = scatter.sum(axis=0) / nk.sum()
        else:
            covariances = scatter / nk[:, None, None]
        d = covariances.shape[-1]
        covariances.reshape(-1, d * d)[:, :: d + 1] += reg_covar
    else:
        diag = (t2 - 2.0 * t1 * delta + s0[:, None] * delta**2) / nk[:, None] + reg_covar
        covariances = diag if model.per_feature else diag.mean(axis=1)
    # Unnormalised (a start): N_k over the total weight (the rows, when unweighted).
    weights = nk / nk.sum() if normalise_weights else nk / stats.weight_sum
    params = MixtureParams.from_covariances(
        weights, means, covariances, covariance_type, iteration=iteration
    )
    if require_resolved:
        check_resolved(params, reg_covar=reg_covar, iteration=iteration, resp_sum=nk)
    return params


def _in_layout(covariances: np.ndarray, layout: str) -> np.ndarray:
    """``(K, d, d)`` covariances in a model's layout (scikit-learn's array shapes)."""
    if layout == "diag":
        return np.diagonal(covariances, axis1=1, axis2=2).copy()
    if layout == "spherical":
        return np.diagonal(covariances, axis1=1, axis2=2).mean(axis=1)
    if layout == "tied":
        return covariances[0]
    return covariances


def structured_m_step(
    stats: SufficientStatistics,
    covariance_type: str,
    reg_covar: float,
    *,
    start: MStep | None = None,
    normalise_weights: bool = True,
    iteration: int | None = None,
    require_resolved: bool = True,
    prior: ConjugatePrior | None = None,
) -> tuple[MixtureParams, MStep]:
    """The M-step of one of mclust's models from an engine's sufficient statistics.

    The statistics (centred on the E-step's means) give each component's ``N_k``, mean and
    scatter ``W_k`` (:func:`gmm_core.mclust_models.scatter_from_centered`; the diagonal
    layouts accumulate only the diagonal of ``W_k``, which is all their M-steps read);
    ``N_k reg_covar`` is added to the diagonal of each ``W_k``, then the model's M-step
    (:data:`gmm_core.mclust_models.M_STEPS`) maximises the likelihood within the model.

    Parameters
    ----------
    stats : SufficientStatistics
    covariance_type : str
        Any of :data:`gmm_core.params.ALL_COVARIANCE_TYPES` (the closed-form ones give
        mclust's arithmetic for them, which equals scikit-learn's but for its ``10 eps``).
    reg_covar : float
    start : MStep, optional
        The previous M-step: the inner iteration of VEI, VEV, EVE and VVE starts from it
        (:data:`gmm_core.mclust_models.WARM_STARTED`), as mclust's ``me()`` does.
    normalise_weights, iteration, require_resolved
        As :func:`m_step`.
    prior : ConjugatePrior, optional
        mclust's conjugate prior: the posterior-mode M-step of :mod:`gmm_core.prior`
        (mclust's ``me()`` with ``priorControl()``) instead of maximum likelihood, and no
        ``reg_covar`` added (pass 0). One component is its family's free model, as
        mclust's ``mvn()``.

    Returns
    -------
    params : MixtureParams
        In the model's layout and the dtype of the statistics.
    state : MStep
        To pass as ``start`` to the next M-step.

    Raises
    ------
    DegenerateCovarianceError
        An empty component or a singular estimate
        (:class:`gmm_core.mclust_models.SingularCovarianceError`), or (``require_resolved``)
        a covariance below what floating point resolves.
    """
    model = covariance_model(covariance_type)
    dtype = stats.first.dtype
    k_count, d = stats.centers.shape
    # an empty component (N_k = 0) divides by zero here; the M-step names it below
    with np.errstate(invalid="ignore", divide="ignore"):
        if stats.second.ndim == 3:
            N, means, scatter = mclust_models.scatter_from_centered(
                stats.resp_sum, stats.first, stats.second, stats.centers
            )
        else:
            N = np.asarray(stats.resp_sum, dtype=np.float64)
            delta = np.asarray(stats.first, dtype=np.float64) / N[:, None]
            means = np.asarray(stats.centers, dtype=np.float64) + delta
            scatter = np.zeros((k_count, d, d))
            second = np.asarray(stats.second, dtype=np.float64)
            scatter.reshape(k_count, d * d)[:, :: d + 1] = second - N[:, None] * delta**2
    if prior is None:
        scatter.reshape(k_count, d * d)[:, :: d + 1] += N[:, None] * reg_covar
    n = float(N.sum()) if normalise_weights else float(stats.weight_sum)
    mclust = model.mclust
    if k_count == 1:
        # One component: "equal across components" constrains nothing, so every model is
        # its family's free one (mclust fits G = 1 in closed form too, as mvnX): without an
        # orientation VVI, without a shape VII, else VVV. The inner iterations of EVE or VVE
        # would otherwise creep towards that closed form over hundreds of EM iterations.
        mclust = "VII" if mclust[1] == "I" else "VVI" if mclust[2] == "I" else "VVV"
    when = "" if iteration is None else f" after EM iteration {iteration}"
    try:
        if prior is None:
            state = mclust_models.M_STEPS[mclust](
                N,
                means,
                scatter,
                n,
                start=start if mclust in mclust_models.WARM_STARTED else None,
            )
        else:
            state = map_m_step(
                mclust,
                N,
                means,
                scatter,
                n,
                prior,
                start=start if mclust in mclust_models.WARM_STARTED else None,
                mvn=k_count == 1,
            )
    except mclust_models.SingularCovarianceError as error:
        raise DegenerateCovarianceError(
            f"The fit failed{when}: the {model.mclust} estimate has a {error.kind} "
            f"({error.reason}). A component has collapsed onto a point, a line or a repeated "
            "value, or holds too few points for its parameters. Try fewer components, a "
            "larger reg_covar, a simpler covariance model, or scaling the data."
        ) from error
    covariances = _in_layout(state.covariances, model.layout)
    params = MixtureParams.from_covariances(
        state.weights.astype(dtype),
        state.means.astype(dtype),
        covariances.astype(dtype),
        covariance_type,
        iteration=iteration,
    )
    if require_resolved:
        check_resolved(params, reg_covar=reg_covar, iteration=iteration, resp_sum=N)
    return params, state


@dataclass(frozen=True, eq=False)
class Snapshot:
    """The mixture after one EM iteration.

    Attributes
    ----------
    iteration : int
        0 for the starting point, j for the parameters after the j-th M-step.
    params : MixtureParams
    log_likelihood : float
        Mean per-sample log-likelihood of the data under ``params`` (per unit of weight
        when fitted with sample weights).
    empty_components : tuple of int
        Components whose effective number of points (``weight`` times the rows' total
        weight, their number when unweighted) is below
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

    def without_cholesky(self) -> Snapshot:
        """This snapshot with parameters that derive their Cholesky factors when read.

        For an M-step's snapshot (whose factors came from its covariances), to keep it in
        half the memory; see :meth:`gmm_core.params.MixtureParams.without_cholesky`.
        """
        if _derived(self):
            return self
        return replace(self, params=self.params.without_cholesky())


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
    accumulate: Callable[[np.ndarray, MixtureParams], SufficientStatistics] | None = None,
    sample_weight: np.ndarray | None = None,
    prior: ConjugatePrior | None = None,
) -> Iterator[Snapshot]:
    """Run EM from ``start``, yielding one :class:`Snapshot` per iteration as it goes.

    Yields ``start`` (iteration 0) and then the parameters after each M-step, each with its
    own log-likelihood. The stopping rule is scikit-learn's: after the M-step of iteration j,
    stop when ``|L(j-1) - L(j-2)| < tol``, where ``L(j)`` is the mean log-likelihood of the
    j-th snapshot; or after ``max_iter`` M-steps. With sample weights, ``L(j)`` is the mean
    per unit of weight, ``sum_i w_i log p(x_i) / sum_i w_i``.

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
    engine : str, default 'auto'
        An engine of :mod:`gmm_core.engines` ('numpy', 'numba'), or 'auto', which decides
        once for the whole run, on the work of ``max_iter + 1`` passes
        (:func:`gmm_core.engines.resolve_engine`).
    accumulate : callable, optional
        ``accumulate(X, params) -> SufficientStatistics``: the E-step pass to run instead of
        an engine's (one over the blocks of a distributed array, say); ``engine``,
        ``chunk_size`` and ``sample_weight`` are then its own business.
    sample_weight : ndarray of shape (n_samples,), optional
        Finite, non-negative weights of the rows, validated by the caller (the estimator):
        every E-step pass weights each row's contribution to the statistics and the
        log-likelihood by them, so the M-step is the weighted maximum-likelihood estimate.
        An integer weight is the row repeated; None weighs every row 1.
    prior : ConjugatePrior, optional
        mclust's conjugate prior (:mod:`gmm_core.prior`): every M-step is the posterior
        mode (:func:`structured_m_step` with ``prior``; ``reg_covar`` is not added), for
        the ten models that take one. The snapshots' log-likelihood is still the data's, as
        mclust's ``loglik``, and so is the stopping rule; with a prior EM climbs the
        posterior, so it may fall slightly. None: maximum likelihood.

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
    if accumulate is None:
        # One engine for the whole run, chosen on all the passes it may make.
        pass_engine = get_engine(resolve_engine(X, start, engine, passes=max_iter + 1))
        accumulate = functools.partial(
            pass_engine.accumulate, chunk_size=chunk_size, sample_weight=sample_weight
        )
    params = start
    prev_ll = previous_log_likelihood
    finishing = False
    structured = prior is not None or not start.covariance_model.closed_form
    state: MStep | None = None  # the inner iteration's warm start (mclust's models)
    for iteration in range(max_iter + 1):
        stats = accumulate(X, params)
        ll = stats.mean_log_likelihood
        # The effective number of points: weight times the total weight (rows, unweighted).
        mass = params.weights * stats.weight_sum
        empty = tuple(int(k) for k in np.flatnonzero(mass < EMPTY_COMPONENT_MASS))
        yield Snapshot(iteration, params, ll, empty, converged=finishing)
        if finishing or iteration == max_iter:
            return
        if structured:
            params, state = structured_m_step(
                stats,
                params.covariance_type,
                reg_covar,
                start=state,
                iteration=iteration + 1,
                prior=prior,
            )
        else:
            params = m_step(stats, params.covariance_type, reg_covar, iteration=iteration + 1)
        finishing = abs(ll - prev_ll) < tol
        prev_ll = ll


def _empty_components(params: MixtureParams, weight_sum: float) -> tuple[int, ...]:
    mass = params.weights * weight_sum
    return tuple(int(k) for k in np.flatnonzero(mass < EMPTY_COMPONENT_MASS))


def compiled_run(
    X: np.ndarray,
    start: MixtureParams,
    *,
    reg_covar: float = 1e-6,
    tol: float = 1e-3,
    max_iter: int = 100,
    previous_log_likelihood: float = -np.inf,
    sample_weight: np.ndarray | None = None,
) -> RunTrace | None:
    """One EM run of :func:`em_iterations` in compiled code, kept as its trace.

    The whole loop (E-step, M-step, the checks, the stopping rule) runs in
    :func:`gmm_core._em_loop.run`, with no Python per iteration: what a fit that keeps only
    its log-likelihood trace (``keep_history='trace'``, a model-selection sweep's thousand
    small fits) can use. It is :func:`em_iterations` with the numba engine to rounding: the
    same statistics, M-steps, checks and stopping rule (scikit-learn's four models take
    mclust's arithmetic for them, without scikit-learn's ``10 eps``), so the iterations can
    differ only where a step's gain is within rounding of ``tol``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float64
    start : MixtureParams
        Any of :data:`gmm_core.params.ALL_COVARIANCE_TYPES`.
    reg_covar, tol, max_iter, previous_log_likelihood, sample_weight
        As :func:`em_iterations` (no prior: the caller runs :func:`em_iterations` for that).

    Returns
    -------
    RunTrace or None
        The start, the final snapshot and the log-likelihood of every snapshot; None when
        an estimate fails one of :func:`em_iterations`'s checks (an empty component, a
        singular or unresolved covariance): running :func:`em_iterations` from the same
        start then raises the error that explains it.
    """
    from . import _em_loop  # numba, on first use only

    model = start.covariance_model
    k_count, _ = start.means.shape
    mclust = model.mclust
    if k_count == 1:  # every model is its family's free one at K = 1, as structured_m_step
        mclust = "VII" if mclust[1] == "I" else "VVI" if mclust[2] == "I" else "VVV"
    n = X.shape[0]
    weights = (
        np.empty(0) if sample_weight is None else np.ascontiguousarray(sample_weight, np.float64)
    )
    weight_sum = float(n) if sample_weight is None else float(weights.sum())
    lls, w, mu, cov, converged, status = _em_loop.run(
        np.ascontiguousarray(X, dtype=np.float64),
        weights,
        weight_sum,
        np.ascontiguousarray(start.weights, dtype=np.float64),
        np.ascontiguousarray(start.means, dtype=np.float64),
        np.ascontiguousarray(start.full_covariances(), dtype=np.float64),
        MCLUST_MODELS.index(mclust),  # the loop numbers models and layouts in these orders
        COVARIANCE_TYPES.index(model.layout),
        float(reg_covar),
        float(tol),
        int(max_iter),
        float(previous_log_likelihood),
        mclust_models.INNER_TOL,
        mclust_models.INNER_MAX_ITER,
    )
    if status != _em_loop.OK:
        return None
    last_iteration = len(lls) - 1
    first = Snapshot(
        0,
        start,
        float(lls[0]),
        _empty_components(start, weight_sum),
        converged=bool(converged) and last_iteration == 0,
    )
    if last_iteration == 0:
        return RunTrace.from_ends(first, first, lls)
    params = MixtureParams.from_covariances(
        w, mu, _in_layout(cov, model.layout), start.covariance_type, iteration=last_iteration
    )
    last = Snapshot(
        last_iteration,
        params,
        float(lls[-1]),
        _empty_components(params, weight_sum),
        converged=bool(converged),
    )
    return RunTrace.from_ends(first, last, lls)


#: Relative size of a log-likelihood drop that is only rounding noise.
ASCENT_SLACK = 1e-9


def likelihood_drops(snapshots: Sequence[Snapshot]) -> list[tuple[int, float]]:
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
    if isinstance(snapshots, RunTrace):  # its trace as an array, no snapshot made per item
        values = snapshots.log_likelihoods[1:]
        first = snapshots[0].iteration + 1
        drops = values[:-1] - values[1:]
        slack = ASCENT_SLACK * np.maximum(1.0, np.abs(values[:-1]))
        return [(first + 1 + int(j), float(drops[j])) for j in np.flatnonzero(drops > slack)]
    out = []
    for before, after in itertools.pairwise(snapshots[1:]):
        drop = before.log_likelihood - after.log_likelihood
        if drop > ASCENT_SLACK * max(1.0, abs(before.log_likelihood)):
            out.append((after.iteration, float(drop)))
    return out


@dataclass(frozen=True)
class TracePoint:
    """An iteration of a restart that a compact history keeps as its log-likelihood only.

    Has a :class:`Snapshot`'s ``iteration``, ``log_likelihood`` and ``converged``, no
    parameters.
    """

    iteration: int
    log_likelihood: float
    converged: bool = False


class RunTrace(Sequence):
    """A restart kept compactly: its start, its final snapshot and its log-likelihood trace.

    A sequence like the tuple of snapshots it replaces (``len``, indexing, iteration), whose
    first and last items are the :class:`Snapshot` objects and whose others are
    :class:`TracePoint` objects, made when asked for. So ``run[-1]`` (the final parameters,
    which :func:`gmm_core.selection.distinct_optima` compares), ``len(run)`` and
    ``[s.log_likelihood for s in run]`` work as before.

    Parameters
    ----------
    snapshots : sequence of Snapshot
        The run, at least its start.
    """

    __slots__ = ("_first", "_last", "_log_likelihoods")

    def __init__(self, snapshots: Sequence[Snapshot]):
        if not snapshots:
            raise ValueError("A run has at least its starting point.")
        self._first = snapshots[0]
        self._last = snapshots[-1]
        self._log_likelihoods = np.array([s.log_likelihood for s in snapshots], dtype=np.float64)

    @property
    def log_likelihoods(self) -> np.ndarray:
        """Mean log-likelihood per iteration, shape (T,)."""
        return self._log_likelihoods

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays held (the two snapshots' parameters and the trace)."""
        same = self._last.params is self._first.params
        return (
            self._first.params.nbytes
            + (0 if same else self._last.params.nbytes)
            + self._log_likelihoods.nbytes
        )

    def __len__(self) -> int:
        return len(self._log_likelihoods)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return tuple(self[i] for i in range(*index.indices(len(self))))
        n = len(self)
        i = index + n if index < 0 else index
        if not 0 <= i < n:
            raise IndexError("run index out of range")
        if i == n - 1:
            return self._last
        if i == 0:
            return self._first
        return TracePoint(self._first.iteration + i, float(self._log_likelihoods[i]))

    @classmethod
    def from_ends(cls, first: Snapshot, last: Snapshot, log_likelihoods: np.ndarray) -> RunTrace:
        """A run known by its start, its final snapshot and its trace only.

        Parameters
        ----------
        first, last : Snapshot
            The start and the final snapshot (the same one for a run of no iteration).
        log_likelihoods : ndarray of shape (T,)
            The mean log-likelihood of every snapshot, ``first``'s first and ``last``'s
            last.
        """
        return _restore_run_trace(first, last, np.asarray(log_likelihoods, dtype=np.float64))

    def __reduce__(self):
        return _restore_run_trace, (self._first, self._last, self._log_likelihoods)


def _restore_run_trace(first: Snapshot, last: Snapshot, log_likelihoods: np.ndarray) -> RunTrace:
    run = RunTrace.__new__(RunTrace)
    run._first, run._last, run._log_likelihoods = first, last, log_likelihoods
    return run


#: ``keep_history`` values: every snapshot of every restart, the compact form, or every
#: restart as its trace (:class:`RunTrace`) only.
KEEP_HISTORY: tuple[str, ...] = ("all", "best", "trace")


def compact_best_run(snapshots: Sequence[Snapshot]) -> tuple[Snapshot, ...]:
    """The kept run of a compact history: every snapshot, the Cholesky factors not stored.

    The start (whose factors may come from ``precisions_init``) and the final snapshot (the
    fitted model's parameters, in use) keep theirs; every M-step's are derived again from
    the covariances, bit for bit, when read.
    """
    out = list(snapshots)
    for j in range(1, len(out) - 1):
        out[j] = out[j].without_cholesky()
    return tuple(out)


@dataclass(frozen=True, eq=False)
class FitHistory:
    """The recorded EM run(s) of a fit; indexing and ``len`` refer to the best run.

    ``history[0]`` is the starting point, ``history[j]`` the parameters after the j-th
    M-step, so ``len(history) == n_iter_ + 1``.

    Three forms (the estimator's ``keep_history``): ``'all'`` holds every snapshot of every
    restart; ``'best'`` (:meth:`compact`) holds the kept run's snapshots without stored
    Cholesky factors (derived from the covariances when read, bit for bit) and every other
    restart as a :class:`RunTrace`: its start, its final snapshot and its log-likelihood trace.
    For K = 20 full components on 13 features, 1,000 iterations and 20 restarts that is about
    30 MB instead of 1.2 GB (:attr:`nbytes`). ``'trace'`` holds every restart, the kept one
    too, as a :class:`RunTrace`: the fitted parameters, each start and each log-likelihood
    trace, nothing per iteration (what a model-selection sweep needs; the per-iteration
    properties :attr:`weights` and :attr:`means` then raise).

    Attributes
    ----------
    runs : tuple of sequences of Snapshot
        Every restart's trace (``n_init`` of them): tuples of :class:`Snapshot`, or in the
        compact form :class:`RunTrace` for all but the kept run. Either way ``len(run)``,
        ``run[0]``, ``run[-1]`` (Snapshots) and ``s.log_likelihood`` for ``s in run`` work.
    best_run : int
        Index of the restart whose result was kept (scikit-learn's rule: the highest final
        lower bound).
    covariance_type : str
    n_samples : int
        Rows fitted.
    notes : tuple of str
    keep : {'all', 'best', 'trace'}
        The form: every snapshot, the compact one, or the traces only.
    weight_sum : float
        Their total sample weight, what a log-likelihood per unit of weight is multiplied by
        for the total (BIC's ``n``); ``n_samples`` when fitted without weights (or left out).
    """

    runs: tuple[Sequence[Snapshot], ...]
    best_run: int
    covariance_type: str
    n_samples: int
    notes: tuple[str, ...] = field(default=())
    keep: str = "all"
    weight_sum: float = None  # type: ignore[assignment]  (None -> n_samples, below)

    def __post_init__(self) -> None:
        total = self.n_samples if self.weight_sum is None else self.weight_sum
        object.__setattr__(self, "weight_sum", float(total))

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
        if isinstance(self.snapshots, RunTrace):
            return self.snapshots.log_likelihoods.copy()
        return np.array([s.log_likelihood for s in self.snapshots])

    @property
    def log_likelihood_traces(self) -> list[np.ndarray]:
        """Every restart's mean log-likelihood per iteration, one array of shape (T_r,) each."""
        return [
            run.log_likelihoods
            if isinstance(run, RunTrace)
            else np.array([s.log_likelihood for s in run])
            for run in self.runs
        ]

    def _stacked(self, name: str) -> np.ndarray:
        if isinstance(self.snapshots, RunTrace):
            raise ValueError(
                "This history kept the log-likelihood trace only (keep_history='trace'): the "
                "parameters of each iteration are gone. Fit with keep_history='all' or 'best' "
                "to follow them."
            )
        return np.stack([getattr(s, name) for s in self.snapshots])

    @property
    def weights(self) -> np.ndarray:
        """Mixing weights per snapshot, shape (T, n_components)."""
        return self._stacked("weights")

    @property
    def means(self) -> np.ndarray:
        """Means per snapshot, shape (T, n_components, n_features)."""
        return self._stacked("means")

    @property
    def converged(self) -> bool:
        """Whether the kept run met the tolerance."""
        return self.snapshots[-1].converged

    def compact(self) -> FitHistory:
        """This history in the compact form (what ``keep_history='best'`` records).

        Returns
        -------
        FitHistory
            The kept run's snapshots without stored Cholesky factors (but for its start and
            its final snapshot), and every other run as a :class:`RunTrace`; a history of
            traces only (``keep='trace'``) as it is, which is smaller still.
        """
        if self.keep == "trace":
            return self
        runs = tuple(
            compact_best_run(run)
            if r == self.best_run
            else (run if isinstance(run, RunTrace) else RunTrace(run))
            for r, run in enumerate(self.runs)
        )
        return FitHistory(
            runs,
            self.best_run,
            self.covariance_type,
            self.n_samples,
            self.notes,
            keep="best",
            weight_sum=self.weight_sum,
        )

    @property
    def nbytes(self) -> int:
        """Bytes of the NumPy arrays this history holds (each array counted once).

        Python's own objects (a few hundred bytes per snapshot) come on top.
        """
        seen: dict[int, int] = {}
        for run in self.runs:
            for snap in _held_snapshots(run):
                params = snap.params
                for array in (
                    params.weights,
                    params.means,
                    params.covariances,
                    params._precisions_cholesky,
                ):
                    if array is not None:
                        seen[id(array)] = array.nbytes
        traces = sum(run.log_likelihoods.nbytes for run in self.runs if isinstance(run, RunTrace))
        return sum(seen.values()) + traces

    def to_dict(self) -> dict:
        """A JSON-ready description of every run (lists of plain floats).

        An iteration a compact history kept as its log-likelihood only has the keys
        ``iteration``, ``log_likelihood`` and ``converged``.
        """

        def snap(s: Snapshot | TracePoint) -> dict:
            if isinstance(s, TracePoint):
                return {
                    "iteration": s.iteration,
                    "log_likelihood": float(s.log_likelihood),
                    "converged": s.converged,
                }
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
            "weight_sum": self.weight_sum,
            "best_run": self.best_run,
            "notes": list(self.notes),
            "runs": [[snap(s) for s in run] for run in self.runs],
        }


def _derived(snap: Snapshot) -> bool:
    return snap.params._precisions_cholesky is None


def _held_snapshots(run: Sequence[Snapshot]) -> tuple[Snapshot, ...]:
    if isinstance(run, RunTrace):
        return (run[0], run[-1])
    return tuple(run)
