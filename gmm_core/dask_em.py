"""The same exact EM over Dask collections: one fused pass per block, a tree reduction.

When the rows do not fit in one machine's memory (or live on a cluster), the E-step pass is
run by Dask: every block of rows goes through the fused pass of an in-memory engine
(:mod:`gmm_core.engines`, 'numpy' or 'numba'), its sufficient statistics are widened to
float64 and packed into one vector, the vectors are summed by a tree reduction, and the client
runs the M-step (:func:`gmm_core.em.m_step`) on the total, as an in-memory fit does. Only the
K x d x d statistics travel; the rows stay where they are read (Parquet, zarr, a cluster's
memory). Nothing is persisted automatically: a collection read from disk is read again on
every pass, so memory stays flat (persist it yourself when it fits in the cluster's memory).

Everything else (the starting point, the stopping rule, ``history_``, its notes,
``converged_``, scikit-learn's rule for the best of ``n_init`` restarts, the error messages)
is the in-memory fit's, so that on small data a Dask fit and an in-memory fit agree to
rounding error (float64: about 1e-13 after tens of iterations; float32: the in-memory fit
sums its float32 statistics in float32, the Dask fit in float64, so they agree to about 1e-6).

The starting point needs rows: ``init_sample_size`` rows drawn without replacement from
``random_state`` are fetched in one pass, and the start is the one an in-memory fit of those
rows would take (from ``random_state`` anew) (when n is at most that, all rows, and the start is
exactly the in-memory one); ``means_init``, ``weights_init`` and ``precisions_init`` together
need no rows at all.

Dask is imported only when a Dask collection is given (:func:`is_dask_collection` checks the
type's module without importing dask): ``import gmm_core`` never imports it.

Any scheduler works: the threaded one by default (a laptop, out of core from Parquet or zarr),
or a ``distributed.Client`` (the fit uses whatever client is current).
"""

from __future__ import annotations

import functools
import math
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.utils import assert_all_finite, check_random_state
from sklearn.utils.validation import check_is_fitted

from .em import Snapshot, em_iterations
from .engines import get_engine, resolve_engine
from .engines.base import SufficientStatistics
from .engines.numpy import e_step, estimate_weighted_log_prob
from .params import MixtureParams, covariance_model
from .prior import ConjugatePrior, prior_from_moments

if TYPE_CHECKING:  # pragma: no cover
    import dask.array as da

__all__ = [
    "DEFAULT_INIT_SAMPLE_SIZE",
    "SPLIT_EVERY",
    "aic_dask",
    "as_dask_array",
    "as_dask_weights",
    "bic_dask",
    "dask_em_iterations",
    "dask_statistics",
    "fit_dask",
    "init_sample",
    "is_dask_collection",
    "predict_dask",
    "predict_proba_dask",
    "score_dask",
    "score_samples_dask",
]

#: Rows fetched for the starting point when ``init_sample_size`` is None: scikit-learn's
#: k-means on 100,000 rows x 10 takes well under a second, and a start estimated from that
#: many rows is as good as one from all of them for EM, which then runs on all rows.
DEFAULT_INIT_SAMPLE_SIZE = 100_000

#: Fan-in of the tree reduction: partial statistics summed per task. Part of the graph, so
#: the order of the additions (and the result, bit for bit) depends only on the chunking,
#: never on the number of workers or the scheduling.
SPLIT_EVERY = 16

ProgressCallback = Callable[[int, int, Snapshot], None]

# Packed layout of a block's result, after the statistics: the number of rows, then the number
# of blocks that contain NaN and the number that contain an infinity (so that bad data is
# reported from the client, with scikit-learn's message, and not as a worker's traceback).
_TAIL = 5  # log-likelihood sum, rows, NaN blocks, infinite blocks, total weight


def is_dask_collection(X: Any) -> bool:
    """Whether ``X`` is a Dask collection (array, DataFrame), without importing Dask.

    Dask collections implement ``__dask_graph__``; the module check keeps other objects with
    a permissive ``__getattr__`` out.
    """
    module = type(X).__module__ or ""
    return module.split(".")[0] == "dask" and hasattr(X, "__dask_graph__")


def _statistics_length(k: int, d: int, covariance_type: str) -> tuple[int, tuple[int, ...]]:
    second = (k, d, d) if covariance_model(covariance_type).matrices else (k, d)
    return k + k * d + math.prod(second), second


def _block_statistics(
    block: np.ndarray,
    weights: np.ndarray | None = None,
    *,
    params: MixtureParams,
    engine: str,
    chunk_size: int | None,
    length: int,
) -> np.ndarray:
    """One block's pass, packed into a float64 row vector of shape (1, length + _TAIL).

    ``weights``: the block's sample weights, shape (rows, 1), or None.
    """
    out = np.zeros((1, length + _TAIL))
    if block.shape[0] == 0:  # an empty partition (a filtered DataFrame) adds nothing
        return out
    block = np.ascontiguousarray(block)
    sample_weight = None if weights is None else np.ascontiguousarray(weights[:, 0])
    # A NaN or an infinity in the block is reported below from the client; the engine's
    # floating-point warnings about it would only be a worker's noise.
    with np.errstate(all="ignore"):
        stats = get_engine(engine).accumulate(
            block, params, chunk_size=chunk_size, sample_weight=sample_weight
        )
    out[0, :length] = np.concatenate(
        [stats.resp_sum.ravel(), stats.first.ravel(), stats.second.ravel()]
    )
    out[0, length] = stats.log_likelihood_sum
    out[0, length + 1] = stats.n_samples
    out[0, length + 4] = stats.weight_sum
    if not np.all(np.isfinite(out)):
        # Checked only when the pass went wrong, so good data never pays for the scan.
        out[0, length + 2] = float(np.isnan(block).any())
        out[0, length + 3] = float(np.isinf(block).any())
    return out


def _raise_non_finite(nan_blocks: float, inf_blocks: float, dtype: np.dtype) -> None:
    """scikit-learn's message for NaN / infinite input, raised on the client."""
    if nan_blocks > 0 or inf_blocks > 0:
        bad = np.array([[np.nan if nan_blocks > 0 else np.inf]], dtype=dtype)
        assert_all_finite(bad, allow_nan=False, estimator_name="GaussianMixtureEM", input_name="X")


def dask_statistics(
    X: da.Array,
    params: MixtureParams,
    *,
    engine: str,
    chunk_size: int | None = None,
    split_every: int = SPLIT_EVERY,
    sample_weight: da.Array | None = None,
) -> SufficientStatistics:
    """One E-step pass over a Dask array: per block an engine's pass, a tree reduction.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
        Float32 or float64, known chunk sizes, one chunk along the features
        (:func:`as_dask_array` prepares any input so).
    params : MixtureParams
        The current parameters; their means become the statistics' centres.
    engine : str
        An in-memory engine's name ('numpy', 'numba'; not 'auto') run on every block.
    chunk_size : int, optional
        Rows per piece of work inside a block (the engine's own choice by default).
    split_every : int, default :data:`SPLIT_EVERY`
        Fan-in of the reduction tree.
    sample_weight : dask.array.Array of shape (n_samples,), optional
        Checked row weights chunked like ``X``'s rows (:func:`as_dask_weights`); every
        block's pass is weighted by its own.

    Returns
    -------
    SufficientStatistics
        Summed in float64, returned in ``X``'s dtype (as the in-memory engines return them),
        centred on ``params.means``.

    Raises
    ------
    ValueError
        If a block contains NaN or an infinity (scikit-learn's message, from the client).
    """
    k, d = params.n_components, params.n_features
    length, second_shape = _statistics_length(k, d, params.covariance_type)
    func = functools.partial(
        _block_statistics, params=params, engine=engine, chunk_size=chunk_size, length=length
    )
    # A fresh name per pass: dask would otherwise tokenise the parameters (hashing them) to
    # name the tasks, and the name identifies nothing that is ever reused.
    arrays = (X,) if sample_weight is None else (X, sample_weight[:, None])
    parts = arrays[0].map_blocks(
        func,
        *arrays[1:],
        chunks=((1,) * X.numblocks[0], (length + _TAIL,)),
        dtype=np.float64,
        name=f"gmm-estep-{uuid.uuid4().hex}",
    )
    total = np.asarray(parts.sum(axis=0, split_every=split_every).compute(), dtype=np.float64)
    _raise_non_finite(total[length + 2], total[length + 3], X.dtype)
    dtype = X.dtype
    return SufficientStatistics(
        total[:k].astype(dtype),
        total[k : k + k * d].reshape(k, d).astype(dtype),
        total[k + k * d : length].reshape(second_shape).astype(dtype),
        params.means,
        float(total[length]),
        int(total[length + 1]),
        float(total[length + 4]),
    )


def as_dask_array(X: Any) -> tuple[da.Array, np.ndarray | None]:
    """A 2-D float Dask array of the rows of ``X``, and its feature names if it has them.

    Parameters
    ----------
    X : dask.array.Array or dask.dataframe.DataFrame
        A DataFrame must have numeric columns only; its row counts per partition are computed
        if unknown (for Parquet usually from the file metadata).

    Returns
    -------
    X : dask.array.Array of shape (n_samples, n_features)
        float64, or float32 if ``X`` is float32 (what ``validate_data`` keeps in memory),
        one chunk along the features.
    feature_names : ndarray of str or None
        The DataFrame's column names when all are strings, as scikit-learn records them.

    Raises
    ------
    ValueError
        For a non-numeric column, an array that is not 2-D, or unknown chunk sizes.
    """
    import dask.array as da
    import dask.dataframe as dd

    names = None
    if isinstance(X, dd.Series):
        raise ValueError(
            "Expected a 2-dimensional container but got a Dask Series instead. Pass a "
            "DataFrame (series.to_frame()) for a single feature."
        )
    if isinstance(X, dd.DataFrame):
        from pandas.api.types import is_numeric_dtype  # (pandas comes with dask.dataframe)

        bad = [str(c) for c, t in X.dtypes.items() if not is_numeric_dtype(t)]
        if bad:
            raise ValueError(
                f"Every column must be numeric to fit a Gaussian mixture; not numeric: "
                f"{', '.join(bad)}."
            )
        columns = list(X.columns)
        if columns and all(isinstance(c, str) for c in columns):
            names = np.asarray(columns, dtype=object)
        X = X.to_dask_array(lengths=True)
    if not isinstance(X, da.Array):
        raise TypeError(f"Expected a Dask array or DataFrame; got {type(X).__name__}.")
    if X.ndim != 2:
        raise ValueError(
            f"Expected a 2-dimensional array of shape (n_samples, n_features); got "
            f"{X.ndim} dimension(s), shape {X.shape}."
        )
    if any(math.isnan(c) for c in X.chunks[0]) or any(math.isnan(c) for c in X.chunks[1]):
        raise ValueError(
            "The Dask array has unknown chunk sizes (rows per block), so the number of rows "
            "is unknown. Call X.compute_chunk_sizes() first, or build it from a DataFrame "
            "with df.to_dask_array(lengths=True)."
        )
    if X.dtype not in (np.float64, np.float32):
        if not np.issubdtype(X.dtype, np.number) and X.dtype != np.bool_:
            raise ValueError(f"Expected numeric data; got dtype {X.dtype}.")
        X = X.astype(np.float64)
    if X.numblocks[1] > 1:
        # An engine scores whole rows: all features of a row in one block.
        X = X.rechunk({1: -1})
    return X, names


def as_dask_weights(sample_weight: Any, X: da.Array) -> da.Array:
    """Sample weights as a float64 Dask array chunked like ``X``'s rows, checked in one pass.

    Parameters
    ----------
    sample_weight : dask.array.Array or array-like of shape (n_samples,)
        An in-memory array is cut into ``X``'s row chunks; a Dask array is rechunked to them.
    X : dask.array.Array of shape (n_samples, n_features)

    Returns
    -------
    dask.array.Array of shape (n_samples,)

    Raises
    ------
    ValueError
        For a wrong shape, NaN or an infinity, a negative weight, or all weights 0 (the
        in-memory messages).
    """
    import dask
    import dask.array as da

    n = X.shape[0]
    if not is_dask_collection(sample_weight):
        sample_weight = da.from_array(np.asarray(sample_weight, dtype=np.float64), chunks=-1)
    elif not isinstance(sample_weight, da.Array):
        sample_weight = sample_weight.to_dask_array(lengths=True)  # a Dask Series
    if sample_weight.ndim != 1 or sample_weight.shape[0] != n:
        raise ValueError(
            f"sample_weight.shape == {sample_weight.shape}, expected {(n,)}! (One weight per "
            "row of X.)"
        )
    w = sample_weight.astype(np.float64).rechunk((X.chunks[0],))
    finite, lowest, nonzero = dask.compute(da.isfinite(w).all(), w.min(), da.count_nonzero(w))
    if not finite:
        raise ValueError("Input sample_weight contains NaN or infinity.")
    if lowest < 0:
        raise ValueError("Negative values in data passed to `sample_weight`.")
    if nonzero == 0:
        raise ValueError("Sample weights must contain at least one non-zero number.")
    return w


def init_sample(X: da.Array, size: int, random_state: np.random.RandomState) -> np.ndarray:
    """The rows the starting point is estimated from, fetched in one pass.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
    size : int
        Rows wanted.
    random_state : numpy.random.RandomState
        Drawn from (``choice`` without replacement) only when ``n_samples > size``; when all
        rows are taken nothing is drawn, so the start that follows is the in-memory one.

    Returns
    -------
    ndarray of shape (min(n_samples, size), n_features)
        In row order.

    Raises
    ------
    ValueError
        If the sample holds NaN or an infinity (scikit-learn's message).
    """
    n = X.shape[0]
    if n <= size:
        sample = np.asarray(X.compute())
    else:
        rows = np.sort(random_state.choice(n, size=size, replace=False))
        sample = np.asarray(X[rows].compute())
    # The in-memory message (k-means would otherwise complain in its own name).
    assert_all_finite(sample, allow_nan=False, estimator_name="GaussianMixtureEM", input_name="X")
    return sample


def default_prior_dask(
    X: da.Array, model: str, n_components: int, sample_weight: da.Array | None = None
) -> ConjugatePrior:
    """mclust's default prior (:func:`gmm_core.prior.default_prior`) of a Dask array.

    The column means and the covariance (divisor ``total - 1``) in one pass, summed about the
    first row, so that a large common offset of the data does not cancel their spread.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
    model : str
    n_components : int
    sample_weight : dask.array.Array of shape (n_samples,), optional
        Checked weights chunked like ``X`` (:func:`as_dask_weights`).

    Returns
    -------
    ConjugatePrior

    Raises
    ------
    ValueError
        For NaN or infinite values (scikit-learn's message), as :func:`default_prior`
        otherwise.
    """
    import dask

    origin = np.asarray(X[0].compute(), dtype=np.float64)
    shifted = X.astype(np.float64) - origin
    weighted = shifted if sample_weight is None else shifted * sample_weight[:, None]
    total = X.shape[0] if sample_weight is None else sample_weight.sum()
    total, first, second = dask.compute(total, weighted.sum(axis=0), weighted.T @ shifted)
    if not (np.all(np.isfinite(first)) and np.all(np.isfinite(second))):
        nan = np.isnan(first).any() or np.isnan(second).any()  # inf - inf sums to NaN too
        _raise_non_finite(float(nan), float(not nan), X.dtype)
    total = float(total)
    delta = first / total
    with np.errstate(divide="ignore", invalid="ignore"):  # total <= 1: refused below
        cov = (second - total * np.outer(delta, delta)) / (total - 1.0)
    return prior_from_moments(origin + delta, cov, total, model, n_components)


def dask_em_iterations(
    X: da.Array,
    start: MixtureParams,
    *,
    reg_covar: float = 1e-6,
    tol: float = 1e-3,
    max_iter: int = 100,
    previous_log_likelihood: float = -np.inf,
    chunk_size: int | None = None,
    engine: str = "numpy",
    sample_weight: da.Array | None = None,
    prior: ConjugatePrior | None = None,
) -> Iterator[Snapshot]:
    """:func:`gmm_core.em.em_iterations` over a Dask array: one Dask pass per iteration.

    The same snapshots, stopping rule and M-step as in memory; only the pass differs
    (:func:`dask_statistics`). ``engine`` is the in-memory engine run per block;
    ``sample_weight`` a Dask array of row weights chunked like ``X`` (:func:`as_dask_weights`);
    ``prior`` mclust's conjugate prior, as in memory (the M-step runs on the client).

    Yields
    ------
    Snapshot
        ``max_iter + 1`` of them at most; the last has ``converged=True`` if the tolerance
        was met.

    Raises
    ------
    DegenerateCovarianceError
        If a covariance stops being positive definite (raised by the M-step, on the client).
    ValueError
        For NaN or infinite values in a block.
    """
    # The in-memory loop itself, with the pass over the blocks as its E-step: one loop,
    # so the two can never drift apart.
    return em_iterations(
        X,
        start,
        reg_covar=reg_covar,
        tol=tol,
        max_iter=max_iter,
        previous_log_likelihood=previous_log_likelihood,
        accumulate=functools.partial(
            dask_statistics, engine=engine, chunk_size=chunk_size, sample_weight=sample_weight
        ),
        prior=prior,
    )


def _set_input_attributes(estimator, X: da.Array, names: np.ndarray | None) -> None:
    # What validate_data(reset=True) records, without touching the data.
    estimator.n_features_in_ = int(X.shape[1])
    if names is not None:
        estimator.feature_names_in_ = names
    elif hasattr(estimator, "feature_names_in_"):
        del estimator.feature_names_in_


def fit_dask(
    estimator,
    X: Any,
    *,
    sample_weight: Any = None,
    progress: ProgressCallback | None = None,
    warn_convergence: bool = True,
    init_sample_size: int | None = None,
):
    """Fit a :class:`~gmm_core.model.GaussianMixtureEM` on a Dask array or DataFrame.

    What ``estimator.fit(X)`` does for in-memory ``X``, with one Dask pass per EM iteration
    (:func:`dask_statistics`) and the starting point estimated from at most
    ``init_sample_size`` rows (:func:`init_sample`).

    Parameters
    ----------
    estimator : GaussianMixtureEM
        Its parameters are validated as in ``fit``; its fitted attributes are set.
    X : dask.array.Array or dask.dataframe.DataFrame of shape (n_samples, n_features)
    sample_weight : dask.array.Array or array-like of shape (n_samples,), optional
        Row weights, as in ``fit`` (checked in one pass, :func:`as_dask_weights`). The
        start is estimated from the sampled rows with their weights.
    progress : callable, optional
        ``progress(run, n_runs, snapshot)`` after every iteration.
    warn_convergence : bool, default True
    init_sample_size : int, optional
        Rows the starting point is estimated from (default
        :data:`DEFAULT_INIT_SAMPLE_SIZE`); ignored when all three of ``weights_init``,
        ``means_init`` and ``precisions_init`` are given (no rows are needed) or when
        warm-starting.

    Returns
    -------
    estimator
    """
    X, names = as_dask_array(X)
    n, d = X.shape
    if n < 2:
        raise ValueError(
            f"Found array with {n} sample(s) (shape={(n, d)}) while a minimum of 2 is "
            "required by GaussianMixtureEM."
        )
    if init_sample_size is None:
        init_sample_size = DEFAULT_INIT_SAMPLE_SIZE
    if isinstance(init_sample_size, bool) or not isinstance(init_sample_size, int):
        raise ValueError(f"init_sample_size must be an integer >= 1; got {init_sample_size!r}.")
    if init_sample_size < max(1, int(estimator.n_components)):
        raise ValueError(
            f"init_sample_size must be at least n_components = {estimator.n_components}; "
            f"got {init_sample_size}."
        )
    settings = estimator._validated_settings(X)
    weights = None if sample_weight is None else as_dask_weights(sample_weight, X)
    if isinstance(settings["prior"], str):  # 'default': resolved on all the rows, as in memory
        settings["prior"] = default_prior_dask(
            X, estimator.covariance_type, estimator.n_components, weights
        )
    _set_input_attributes(estimator, X, names)
    do_init = not (estimator.warm_start and hasattr(estimator, "converged_"))
    random_state = check_random_state(estimator.random_state)
    given = (settings["weights_init"], settings["means_init"], settings["precisions_init"])
    # All three given: initial_params reads only the shape and dtype, no pass at all.
    sample = X if all(p is not None for p in given) or not do_init else None
    sample_weights = None
    if sample is None:
        if weights is None:
            sample = init_sample(X, init_sample_size, random_state)
        else:
            # The weights as one more column, so that the same rows are drawn from both.
            import dask.array as da

            both = init_sample(
                da.concatenate([X, weights[:, None].astype(X.dtype)], axis=1),
                init_sample_size,
                random_state,
            )
            sample, sample_weights = both[:, :-1], both[:, -1].astype(np.float64)
            if not np.any(sample_weights > 0):
                raise ValueError(
                    "Every row drawn for the start has sample weight 0; raise "
                    "init_sample_size or give weights_init, means_init and precisions_init."
                )
    # The estimator's own restarts, kept run and attributes, over this loop and this sample.
    estimator._fit_restarts(
        X,
        settings,
        progress=progress,
        warn_convergence=warn_convergence,
        init_rows=sample,
        iterate=dask_em_iterations,
        sample_weight=weights,
        init_weight=sample_weights,
    )
    return estimator


# ---------------------------------------------------------------------------- inference
def _checked(estimator, X: Any) -> tuple[da.Array, MixtureParams]:
    check_is_fitted(estimator)
    X, names = as_dask_array(X)
    expected = estimator.n_features_in_
    if X.shape[1] != expected:
        raise ValueError(
            f"X has {X.shape[1]} features, but {type(estimator).__name__} is expecting "
            f"{expected} features as input."
        )
    fitted_names = getattr(estimator, "feature_names_in_", None)
    if names is not None and fitted_names is not None and list(names) != list(fitted_names):
        raise ValueError(
            "The feature names should match those that were passed during fit: fitted with "
            f"{list(fitted_names)}, given {list(names)}."
        )
    return X, estimator._current_params()


def _checked_block(block: np.ndarray) -> np.ndarray:
    # Lazy results cannot raise before they are computed; a bad block raises when it is.
    assert_all_finite(block, allow_nan=False, estimator_name="GaussianMixtureEM", input_name="X")
    return block


def _predict_block(block: np.ndarray, *, params: MixtureParams) -> np.ndarray:
    return estimate_weighted_log_prob(_checked_block(block), params).argmax(axis=1)


def _proba_block(block: np.ndarray, *, params: MixtureParams) -> np.ndarray:
    return np.exp(e_step(_checked_block(block), params)[1])


def _score_samples_block(block: np.ndarray, *, params: MixtureParams) -> np.ndarray:
    return e_step(_checked_block(block), params)[0]


def predict_dask(estimator, X: Any) -> da.Array:
    """Most likely component of each row, a lazy Dask array of shape (n_samples,)."""
    X, params = _checked(estimator, X)
    func = functools.partial(_predict_block, params=params)
    return X.map_blocks(func, drop_axis=1, dtype=np.intp, name=_name("gmm-predict"))


def predict_proba_dask(estimator, X: Any) -> da.Array:
    """Responsibilities, a lazy Dask array of shape (n_samples, n_components)."""
    X, params = _checked(estimator, X)
    func = functools.partial(_proba_block, params=params)
    chunks = (X.chunks[0], (params.n_components,))
    return X.map_blocks(func, chunks=chunks, dtype=X.dtype, name=_name("gmm-proba"))


def score_samples_dask(estimator, X: Any) -> da.Array:
    """Log density of each row, a lazy Dask array of shape (n_samples,)."""
    X, params = _checked(estimator, X)
    func = functools.partial(_score_samples_block, params=params)
    return X.map_blocks(func, drop_axis=1, dtype=X.dtype, name=_name("gmm-score-samples"))


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def _total_log_likelihood(estimator, X: Any, sample_weight: Any = None) -> tuple[float, float]:
    X, params = _checked(estimator, X)
    weights = None if sample_weight is None else as_dask_weights(sample_weight, X)
    engine = resolve_engine(X, params, estimator.engine)
    stats = dask_statistics(
        X, params, engine=engine, chunk_size=estimator.chunk_size, sample_weight=weights
    )
    return stats.log_likelihood_sum, stats.weight_sum


def score_dask(estimator, X: Any, sample_weight: Any = None) -> float:
    """Mean log-likelihood of the rows (per unit of weight), in one pass."""
    total, n = _total_log_likelihood(estimator, X, sample_weight)
    return total / n


def bic_dask(estimator, X: Any, sample_weight: Any = None) -> float:
    """Bayesian information criterion (n the total weight), in one pass."""
    total, n = _total_log_likelihood(estimator, X, sample_weight)
    return -2 * total + estimator._n_parameters() * math.log(n)


def aic_dask(estimator, X: Any, sample_weight: Any = None) -> float:
    """Akaike information criterion, in one pass."""
    total, _ = _total_log_likelihood(estimator, X, sample_weight)
    return -2 * total + 2 * estimator._n_parameters()
