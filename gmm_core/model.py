"""``GaussianMixtureEM``: a scikit-learn estimator over :mod:`gmm_core.em` with a history."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from . import (
    criteria,
    dask_em,  # imports dask only when given a Dask collection
)
from ._validation import check_choice, check_float, check_int
from .em import (
    KEEP_HISTORY,
    FitHistory,
    RunTrace,
    Snapshot,
    accumulate_statistics,
    compiled_run,
    e_step,
    em_iterations,
    estimate_weighted_log_prob,
    likelihood_drops,
)
from .engines import check_engine, resolve_engine
from .init import check_init_params, initial_params, initial_params_with_prior
from .params import MixtureParams, check_covariance_type, covariance_model, covariance_shape
from .prior import ConjugatePrior, check_prior_setting, resolve_prior

ProgressCallback = Callable[[int, int, Snapshot], None]


def check_weights(sample_weight, X: np.ndarray) -> np.ndarray | None:
    """Validated sample weights of the rows of ``X``, float64, or None (no weights).

    scikit-learn's own check (``_check_sample_weight``): array-likes, lists and pandas
    Series are taken, a scalar is repeated; the shape must be (n_samples,).

    Raises
    ------
    ValueError
        For a wrong shape, NaN or an infinity, a negative weight, or weights that are all 0.
    """
    if sample_weight is None:
        return None
    # float64 whatever X's dtype: totals of many weights keep their precision.
    return _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)


def total_weight(sample_weight: np.ndarray) -> float:
    """``sum_i w_i`` in float64 (the n of BIC for weighted rows)."""
    return float(np.sum(sample_weight, dtype=np.float64))


class GaussianMixtureEM(DensityMixin, BaseEstimator):
    """Gaussian mixture fitted by EM, recording every iteration.

    A drop-in for :class:`sklearn.mixture.GaussianMixture`: the same parameters, defaults,
    starting points, stopping rule and fitted attributes, so that both give the same result
    from the same ``random_state``. In addition, ``history_`` holds the parameters and
    log-likelihood after every iteration of every restart.

    Parameters
    ----------
    n_components : int, default 1
        Number of mixture components K.
    covariance_type : str, default 'full'
        scikit-learn's 'full', 'tied', 'diag', 'spherical', or one of mclust's fourteen
        models ('EII', 'VII', 'EEI', 'VEI', 'EVI', 'VVI', 'EEE', 'VEE', 'EVE', 'VVE', 'EEV',
        'VEV', 'EVV', 'VVV'; :mod:`gmm_core.mclust_models`), in which each covariance is
        ``lambda_k D_k A_k D_k^T`` with the volume, shape and orientation equal (E), free
        (V) or the identity (I). VVV is 'full', EEE 'tied', VVI 'diag' and VII 'spherical'.
        The covariance arrays keep scikit-learn's shapes (a model's *layout*,
        :attr:`gmm_core.params.CovarianceModel.layout`): EII and VII store K variances,
        EEI, VEI, EVI and VVI K x d, the seven with an orientation K x d x d, EEE d x d.
        The other ten models take mclust's M-step (closed form or its inner iteration),
        with ``reg_covar`` added as ``N_k reg_covar`` to each scatter matrix's diagonal
        (the same as scikit-learn's for the four shared models); a singular estimate
        raises :class:`~gmm_core.params.DegenerateCovarianceError` (mclust's NA).
    tol : float, default 1e-3
        Stop when the mean log-likelihood changes by less than this; 0 runs ``max_iter``.
    reg_covar : float, default 1e-6
        Added to the diagonal of every covariance, keeping them positive definite.
    max_iter : int, default 100
        Maximum number of EM iterations per restart.
    n_init : int, default 1
        Number of restarts; the one with the best final lower bound is kept.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data', 'wide'}, default 'kmeans'
        How the starting point (``history_[0]``) is made; see Notes. The first four are
        scikit-learn's, with its random draws; 'wide' is this package's.
    weights_init : array-like of shape (n_components,), optional
    means_init : array-like of shape (n_components, n_features), optional
    precisions_init : array-like, optional
        Shape as ``precisions_`` for the covariance type.
    random_state : int, RandomState instance or None, default None
    warm_start : bool, default False
        Continue from the previous fit's parameters (a single run, ``n_init`` ignored).
    verbose : int, default 0
        Print progress every ``verbose_interval`` iterations when > 0.
    verbose_interval : int, default 10
    chunk_size : int, optional
        Rows per chunk of the E-step pass (memory bound); chosen automatically by default.
    keep_history : {'all', 'best', 'trace'}, default 'all'
        What ``history_`` keeps. 'all': every snapshot of every restart. 'best': the compact
        form, for servers and long fits (:meth:`FitHistory.compact`): the kept run's
        snapshots without stored Cholesky factors (derived from the covariances when read),
        and every other restart as its start, its final snapshot and its log-likelihood
        trace. Its memory is about ``8 (max_iter + 1) (K + K d + c)`` bytes for the kept run
        (``c`` numbers per covariance model: ``K d^2`` for 'full') plus two snapshots and a
        trace per restart, however many restarts, and the fit itself never holds more than
        two runs' worth. Fitted values are identical either way. 'trace': every restart,
        the kept one too, as its start, its final snapshot and its log-likelihood trace,
        nothing per iteration (what :func:`gmm_core.selection.sweep` asks for). Then, on
        the 'numba' engine with float64 data and no prior, the whole EM loop runs compiled
        (:func:`gmm_core.em.compiled_run`): the same fit to rounding, without ~0.2 ms of
        Python per iteration, which is most of the time on a few thousand rows; ``progress``
        and ``verbose`` then report each run once, at its end.
    engine : {'auto', 'numpy', 'numba'}, default 'auto'
        Which engine runs the E-step passes (:mod:`gmm_core.engines`): 'numpy' the
        reference, 'numba' the compiled kernels (``fit`` raises
        :class:`~gmm_core.engines.EngineUnavailableError` when numba cannot be imported),
        'auto' decides once per EM run from the planned work (``max_iter + 1`` passes):
        numba for large fits, numpy for small ones, which never import numba. If numba is
        missing, 'auto' uses numpy and warns once per process
        (:class:`~gmm_core.engines.CompiledEngineMissingWarning`). The engines agree to
        rounding error.
    init_sample_size : int or None, default None
        Dask input only (:mod:`gmm_core.dask_em`): the start is computed from this many rows
        drawn with ``random_state`` in one pass (None: 100,000). When the data have at most
        this many rows the start is exactly the in-memory one; ``means_init``,
        ``weights_init`` and ``precisions_init`` together need no rows.
    prior : None, 'default' or ConjugatePrior, default None
        mclust's alternative to ``reg_covar`` (``priorControl()``; Fraley & Raftery 2007,
        :mod:`gmm_core.prior`): a conjugate prior on the means and covariances, and every
        M-step, the start's included (as mclust's ``me()`` starts with one), the posterior
        mode instead of maximum likelihood. It keeps the covariances of components on a
        repeated value or a few points positive definite, where maximum likelihood
        collapses. None: maximum likelihood (the behaviour without this parameter).
        'default': mclust's ``defaultPrior()`` of the data being fitted, for this model and
        K (:func:`gmm_core.prior.default_prior`); or a
        :class:`~gmm_core.prior.ConjugatePrior`. For EII, VII, EEI, VEI, EVI, VVI, EEE,
        EEV, VEV and VVV (and scikit-learn's four names), the models mclust fits with a
        prior; the others raise ``ValueError``. With a prior no ``reg_covar`` is added:
        ``reg_covar`` must be left at its default (or 0), any other value raises
        ``ValueError``. The log-likelihoods (``lower_bounds_``, ``history_``, ``score``)
        stay the data's, the stopping rule uses them, and ``bic`` is ``-2 loglik + p log
        n`` with the usual parameter count, as mclust's ``loglik`` and BIC with a prior.
        EM with a prior climbs the posterior, so the data log-likelihood may fall slightly
        along a run (no note is recorded for that). For Dask input 'default' is computed
        from all the rows in one extra pass (:func:`gmm_core.dask_em.default_prior_dask`).

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
    covariances_ : ndarray
    precisions_ : ndarray
    precisions_cholesky_ : ndarray
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        Mean log-likelihood at the start of the last iteration (scikit-learn's definition).
    lower_bounds_ : list of float
        ``lower_bounds_[j] == history_[j].log_likelihood`` for ``j < n_iter_``.
    engine_ : str
        The engine the EM runs used ('numpy' or 'numba'; what 'auto' resolved to).
    prior_ : ConjugatePrior or None
        The prior the fit used (``prior='default'`` resolved on the data), None without one.
    history_ : FitHistory
        ``history_[0]`` is the starting point, ``history_[j]`` the parameters after the j-th
        M-step; ``len(history_) == n_iter_ + 1``. ``history_.runs`` holds every restart.
    n_features_in_ : int
    feature_names_in_ : ndarray of str, only when fitted on a DataFrame with string columns

    Notes
    -----
    The starts, and what the first snapshot ``history_[0]`` looks like with each:

    * ``'kmeans'`` (scikit-learn's default): responsibilities from one k-means run (hard
      labels), then an M-step: means at the k-means centres, each component's covariance
      that of its cluster, weights the cluster shares. Usually already close to the answer.
    * ``'k-means++'``: the k-means++ seeds alone, each a single row with responsibility one.
    * ``'random_from_data'``: K random rows, likewise one row per component.
    * ``'random'``: random responsibilities for every row, so every mean starts near the
      data's centre, every covariance near the data's covariance.
    * ``'wide'`` (:func:`gmm_core.init.wide_params`): means at the k-means++ seeds, every
      covariance the whole data's covariance in the covariance type's form (plus
      ``reg_covar``), weights ``1 / K``. The start is a proper mixture of K wide,
      overlapping Gaussians that separate as EM runs, with a log-likelihood of the same
      order as the fit's: the start to show EM's journey (the dashboard's default).

    The two single-point starts ('k-means++', 'random_from_data') are right for reproducing
    scikit-learn but look odd at iteration 0: scikit-learn estimates the start from the
    one-row responsibilities, so every covariance is ``reg_covar`` (1e-6 by default:
    invisible ellipses), every weight is ``1 / n`` (summing to ``K / n``, not one) and the
    "log-likelihood" of that start is hugely negative (-3e5 per row on the blobs sample). EM
    recovers at the first iteration. With ``covariance_type='tied'`` they can do worse:
    scikit-learn's tied start sums the second moment of *all* rows but divides by the K
    responsibilities of the seeds, a covariance about n / K times the data's (150 times on
    600 rows and K = 4), under which every row is shared almost equally and EM can merge all
    components into one Gaussian (all means together, the log-likelihood of a single
    Gaussian fitted to the data). That is a saddle point EM leaves only slowly, so the
    default ``tol`` stops it there, "converged" after 3 iterations (with ``tol=1e-10`` it
    finds the four blobs after 619). :func:`gmm_core.selection.degeneracy_events` reports
    such a collapse; 'wide' and 'kmeans' avoid it.
    """

    def __init__(
        self,
        n_components: int = 1,
        *,
        covariance_type: str = "full",
        tol: float = 1e-3,
        reg_covar: float = 1e-6,
        max_iter: int = 100,
        n_init: int = 1,
        init_params: str = "kmeans",
        weights_init=None,
        means_init=None,
        precisions_init=None,
        random_state=None,
        warm_start: bool = False,
        verbose: int = 0,
        verbose_interval: int = 10,
        chunk_size: int | None = None,
        keep_history: str = "all",
        engine: str = "auto",
        init_sample_size: int | None = None,
        prior: str | ConjugatePrior | None = None,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.chunk_size = chunk_size
        self.keep_history = keep_history
        self.engine = engine
        self.init_sample_size = init_sample_size
        self.prior = prior

    # ------------------------------------------------------------------ validation
    def check_settings(self, n_samples: int, n_features: int) -> None:
        """Raise what ``fit`` would raise about these settings, without data or a fit.

        For forms that check settings before fitting: the same checks and messages as
        ``fit``, for data of this shape (float64).

        Parameters
        ----------
        n_samples, n_features : int

        Raises
        ------
        ValueError
            A setting out of range, an unknown name, initial arrays of the wrong shape, or
            more components than rows.
        EngineUnavailableError
            ``engine='numba'`` where numba cannot be imported.
        """
        shape = (check_int("n_samples", n_samples, 1), check_int("n_features", n_features, 1))
        self._settings_for(shape, np.dtype(np.float64))

    def _validated_settings(self, X, sample_weight: np.ndarray | None = None) -> dict:
        """The checked settings for data ``X`` (only its shape and dtype are read).

        With ``sample_weight`` (checked, :func:`check_weights`), at least ``n_components``
        rows must weigh more than 0 (rows of weight 0 are no data).
        """
        settings = self._settings_for(X.shape, X.dtype)
        if sample_weight is not None:
            k, positive = int(self.n_components), int(np.count_nonzero(sample_weight))
            if positive < k:
                raise ValueError(
                    f"Expected at least n_components = {k} rows of non-zero sample weight; "
                    f"got {positive}. Rows of weight 0 are left out of the fit."
                )
        return settings

    def _settings_for(self, shape: tuple[int, int], dtype) -> dict:
        n, d = shape
        k = check_int("n_components", self.n_components, 1)
        check_covariance_type(self.covariance_type)
        check_init_params(self.init_params)
        settings = {
            "tol": check_float("tol", self.tol, 0.0),
            "reg_covar": check_float("reg_covar", self.reg_covar, 0.0),
            "max_iter": check_int("max_iter", self.max_iter, 0),
            "n_init": check_int("n_init", self.n_init, 1),
        }
        check_int("verbose_interval", self.verbose_interval, 1)
        if self.chunk_size is not None:
            check_int("chunk_size", self.chunk_size, 1)
        check_choice("keep_history", self.keep_history, KEEP_HISTORY)
        check_engine(self.engine)
        if n < k:
            raise ValueError(
                f"Expected n_samples >= n_components but got n_components = {k}, "
                f"n_samples = {n}. Choose at most {n} components or provide more rows."
            )
        settings["weights_init"] = self._check_weights_init(k, dtype)
        settings["means_init"] = self._check_array_init("means_init", (k, d), dtype)
        settings["precisions_init"] = self._check_precisions_init(k, d, dtype)
        settings["prior"] = check_prior_setting(
            self.prior, self.covariance_type, d, settings["reg_covar"]
        )
        return settings

    def _check_array_init(self, name: str, shape: tuple[int, ...], dtype) -> np.ndarray | None:
        value = getattr(self, name)
        if value is None:
            return None
        arr = np.array(value, dtype=dtype)
        if arr.shape != shape:
            raise ValueError(
                f"The parameter '{name}' should have the shape of {shape}, but got {arr.shape}."
            )
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"The parameter '{name}' contains NaN or infinity.")
        return arr

    def _check_weights_init(self, k: int, dtype) -> np.ndarray | None:
        w = self._check_array_init("weights_init", (k,), dtype)
        if w is None:
            return None
        if np.any(w < 0) or np.any(w > 1):
            raise ValueError(
                "The parameter 'weights_init' should be in the range [0, 1], but got max "
                f"value {w.max():.5f}, min value {w.min():.5f}."
            )
        atol = 1e-6 if w.dtype == np.float32 else 1e-8
        if abs(1.0 - float(w.sum())) > atol:
            raise ValueError(
                f"The parameter 'weights_init' should be normalized, but got sum(weights) = "
                f"{w.sum():.5f}."
            )
        return w

    def _check_precisions_init(self, k: int, d: int, dtype) -> np.ndarray | None:
        shape = covariance_shape(self.covariance_type, k, d)
        p = self._check_array_init("precisions_init", shape, dtype)
        if p is None:
            return None
        if not covariance_model(self.covariance_type).matrices:
            if np.any(p <= 0):
                raise ValueError(f"'{self.covariance_type} precision' should be positive.")
            return p
        # every matrix at once (a sweep hands a start to each of its hundred cells)
        stack = p.reshape(-1, d, d)
        symmetric = np.isclose(stack, stack.transpose(0, 2, 1)).all()
        if not (symmetric and np.all(np.linalg.eigvalsh(stack) > 0)):
            raise ValueError(
                f"'{self.covariance_type} precision' should be symmetric, positive-definite."
            )
        return p

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        X,
        y=None,
        sample_weight=None,
        *,
        progress: ProgressCallback | None = None,
        warn_convergence: bool = True,
    ):
        """Estimate the parameters with EM.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative, finite weight of each row (None: 1 each; not all 0). A row of
            integer weight ``w`` counts as ``w`` copies of it: the fit equals, to rounding,
            the fit of the rows repeated (``np.repeat(X, w, axis=0)``) from the same start,
            and a weight of 0 removes the row. Every E-step pass, M-step, the stopping rule
            (the log-likelihood per unit of weight) and the start are weighted; see
            :func:`gmm_core.init.initial_params` for what each ``init_params`` does with
            weights (the random starts draw as from repeated rows but not with the same
            random numbers, so only an explicit start gives the repeated fit bit for bit).
            For BIC and AIC pass the same weights to :meth:`bic` / :meth:`aic`.
        progress : callable, optional
            ``progress(run, n_runs, snapshot)`` after every iteration (for progress bars).
        warn_convergence : bool, default True
            Emit scikit-learn's ``ConvergenceWarning`` when the kept run did not converge.
            False leaves it to the caller to read ``converged_``: the way to stay quiet that
            is safe in threads (``warnings.catch_warnings`` swaps process-wide filters, so
            concurrent users, such as a server's sessions, undo each other's). It does not
            silence scikit-learn's own k-means, which warns with ``init_params='kmeans'``
            when the data have fewer distinct rows than components.

        Returns
        -------
        self : GaussianMixtureEM
        """
        # A Dask collection takes the distributed loop *before* validate_data, which would
        # np.asarray it and load every row into memory (gmm_core.dask_em).
        if dask_em.is_dask_collection(X):
            return dask_em.fit_dask(
                self,
                X,
                sample_weight=sample_weight,
                progress=progress,
                warn_convergence=warn_convergence,
                init_sample_size=self.init_sample_size,
            )
        # Not fit_predict: the labels would need one more pass that holds n x K
        # responsibilities, the largest allocation of a fit.
        self._fit(X, progress, warn_convergence, sample_weight)
        return self

    def fit_predict(
        self,
        X,
        y=None,
        sample_weight=None,
        *,
        progress: ProgressCallback | None = None,
        warn_convergence: bool = True,
    ) -> np.ndarray:
        """Estimate the parameters with EM and return the label of each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored
        sample_weight : array-like of shape (n_samples,), optional
            As in :meth:`fit`.
        progress : callable, optional
            ``progress(run, n_runs, snapshot)`` after every iteration.
        warn_convergence : bool, default True
            As in :meth:`fit`.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        if dask_em.is_dask_collection(X):  # the distributed loop, then lazy labels
            self.fit(
                X, sample_weight=sample_weight, progress=progress, warn_convergence=warn_convergence
            )
            return dask_em.predict_dask(self, X)
        X = self._fit(X, progress, warn_convergence, sample_weight)
        return e_step(X, self._params)[1].argmax(axis=1)

    def _fit(
        self,
        X,
        progress: ProgressCallback | None,
        warn_convergence: bool = True,
        sample_weight=None,
    ) -> np.ndarray:
        """Fit, set the fitted attributes, and return the validated ``X``."""
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_min_samples=2)
        sample_weight = check_weights(sample_weight, X)
        settings = self._validated_settings(X, sample_weight)
        settings["prior"] = resolve_prior(
            settings["prior"], X, self.covariance_type, self.n_components, sample_weight
        )
        self._fit_restarts(
            X,
            settings,
            progress=progress,
            warn_convergence=warn_convergence,
            sample_weight=sample_weight,
        )
        return X

    def _fit_restarts(
        self,
        X,
        settings: dict,
        *,
        progress: ProgressCallback | None = None,
        warn_convergence: bool = True,
        init_rows=None,
        iterate: Callable[..., Iterator[Snapshot]] = em_iterations,
        sample_weight=None,
        init_weight: np.ndarray | None = None,
    ) -> None:
        """The restarts of a fit on checked data: starts, EM runs, the kept one, the attributes.

        The seam for fits of data that are not a NumPy array in memory (a Dask array): the
        caller checks ``X`` and the settings (:meth:`_validated_settings`), records
        ``n_features_in_``, and passes how to start and how to run EM.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
            What ``iterate`` runs over; only its shape and dtype are used here.
        settings : dict
            From :meth:`_validated_settings`.
        progress : callable, optional
        warn_convergence : bool, default True
        init_rows : array of shape (m, n_features), optional
            The rows the starting points are estimated from (``X`` by default; a sample of
            it for data that do not fit in memory).
        iterate : callable, default :func:`gmm_core.em.em_iterations`
            Called as ``em_iterations`` is, yielding the snapshots of one EM run; given
            ``sample_weight=`` only when there are weights.
        sample_weight : array of shape (n_samples,), optional
            The checked weights of ``X``'s rows (what ``iterate`` takes), or None.
        init_weight : ndarray of shape (m,), optional
            The weights of ``init_rows`` (default: ``sample_weight``, when ``init_rows`` is
            not given).
        """
        if init_rows is None:
            init_weight = sample_weight
        weighted = {} if sample_weight is None else {"sample_weight": sample_weight}
        prior = settings.get("prior")
        if prior is not None:
            weighted["prior"] = prior  # passed only with a prior: other loops do not take it
        do_init = not (self.warm_start and hasattr(self, "converged_"))
        n_init = settings["n_init"] if do_init else 1
        random_state = check_random_state(self.random_state)
        compact = self.keep_history == "best"
        traced = self.keep_history == "trace"
        # the compiled loop is float64 (float32 data take the Python loop, traced the same)
        compiled = traced and iterate is em_iterations and X.dtype == np.float64
        runs: list[Sequence[Snapshot]] = []
        best_run, best_bound = 0, -np.inf

        for run in range(n_init):
            if do_init and prior is not None:
                start = initial_params_with_prior(
                    X if init_rows is None else init_rows,
                    self.n_components,
                    covariance_type=self.covariance_type,
                    init_params=self.init_params,
                    prior=prior,
                    random_state=random_state,
                    weights_init=settings["weights_init"],
                    means_init=settings["means_init"],
                    precisions_init=settings["precisions_init"],
                    sample_weight=init_weight,
                )
                previous = -np.inf
            elif do_init:
                start = initial_params(
                    X if init_rows is None else init_rows,
                    self.n_components,
                    covariance_type=self.covariance_type,
                    init_params=self.init_params,
                    reg_covar=settings["reg_covar"],
                    random_state=random_state,
                    weights_init=settings["weights_init"],
                    means_init=settings["means_init"],
                    precisions_init=settings["precisions_init"],
                    sample_weight=init_weight,
                )
                previous = -np.inf
            else:
                start = self.history_[-1].params
                previous = self.lower_bound_
            # 'auto' decides once per run (so, with the same sizes, once per fit), on the work
            # of every pass the run may make.
            engine = resolve_engine(X, start, self.engine, passes=settings["max_iter"] + 1)
            loop = dict(
                reg_covar=settings["reg_covar"],
                tol=settings["tol"],
                max_iter=settings["max_iter"],
                previous_log_likelihood=previous,
            )
            snapshots = None
            if compiled and prior is None and engine == "numba":
                # Nothing per iteration is kept, so the whole loop can run compiled; None
                # when an estimate fails a check: the Python loop below then says why.
                snapshots = compiled_run(X, start, **loop, sample_weight=sample_weight)
                if snapshots is not None:
                    self._report(run, snapshots[-1])
                    if progress is not None:
                        progress(run, n_init, snapshots[-1])
            if snapshots is None:
                iterates = iterate(
                    X, start, **loop, chunk_size=self.chunk_size, engine=engine, **weighted
                )
                snapshots = self._record(iterates, run, n_init, progress)
                if traced:
                    snapshots = RunTrace(snapshots)
            # scikit-learn ranks restarts by the lower bound computed in the last iteration,
            # i.e. the log-likelihood of the parameters *before* the final M-step.
            bound = snapshots[-2].log_likelihood if len(snapshots) > 1 else -np.inf
            if settings["max_iter"] == 0 or bound > best_bound or best_bound == -np.inf:
                if compact and runs:
                    runs[best_run] = RunTrace(runs[best_run])  # superseded: its trace is enough
                best_run, best_bound = run, bound
                runs.append(snapshots)
            else:
                runs.append(RunTrace(snapshots) if compact else snapshots)
            # Not held while the next run records its own (three runs' worth at the peak).
            del snapshots

        best = runs[best_run]
        notes = self._history_notes(best, settings["reg_covar"], prior is not None)
        self.history_ = FitHistory(
            tuple(runs),
            best_run,
            self.covariance_type,
            X.shape[0],
            tuple(notes),
            keep=self.keep_history,
            weight_sum=None if sample_weight is None else total_weight(sample_weight),
        )
        self._set_params_from(best[-1].params)
        self.engine_ = engine
        self.prior_ = prior
        self.converged_ = best[-1].converged
        self.n_iter_ = len(best) - 1
        self.lower_bounds_ = (
            best.log_likelihoods[:-1].tolist()
            if isinstance(best, RunTrace)
            else [s.log_likelihood for s in best[:-1]]
        )
        self.lower_bound_ = best_bound
        if warn_convergence and not self.converged_ and settings["max_iter"] > 0:
            warnings.warn(
                "Best performing initialization did not converge. Try different init "
                "parameters, or increase max_iter, tol, or check for degenerate data.",
                ConvergenceWarning,
                stacklevel=4,
            )

    def _record(
        self,
        snapshots_of_run: Iterator[Snapshot],
        run: int,
        n_init: int,
        progress: ProgressCallback | None,
    ) -> tuple[Snapshot, ...]:
        """One EM run's snapshots, reported as they come, kept as ``keep_history`` says."""
        compact = self.keep_history == "best"
        snapshots: list[Snapshot] = []
        for snap in snapshots_of_run:
            if compact and len(snapshots) > 1:
                # The previous M-step's parameters are history now: their Cholesky factors
                # can be derived again (the start's and the last snapshot's are kept).
                snapshots[-1] = snapshots[-1].without_cholesky()
            snapshots.append(snap)
            self._report(run, snap)
            if progress is not None:
                progress(run, n_init, snap)
        return tuple(snapshots)

    @staticmethod
    def _history_notes(
        best: tuple[Snapshot, ...], reg_covar: float, with_prior: bool = False
    ) -> list[str]:
        notes = []
        empty = best[-1].empty_components
        if empty:
            notes.append(
                f"Component(s) {', '.join(map(str, empty))} ended up empty (less than one "
                "point's worth of responsibility): the data support fewer components, or "
                "another start would use them."
            )
        # with a prior EM climbs the posterior: a falling likelihood is expected there
        drops = [] if with_prior else likelihood_drops(best)
        if drops:
            first, drop = drops[0]
            later = f" and at {len(drops) - 1} later iteration(s)" if len(drops) > 1 else ""
            notes.append(
                f"The log-likelihood fell by {drop:.3g} at iteration {first}{later}. With "
                f"reg_covar = {reg_covar:g} the covariance update is not an exact EM step, and "
                "this shows when reg_covar is not small against a component's spread (a "
                "component on very few points, or data on a tiny scale): standardise the data, "
                "lower reg_covar, or use fewer components."
            )
        return notes

    def _report(self, run: int, snap: Snapshot) -> None:
        if self.verbose and snap.iteration % self.verbose_interval == 0:
            ll = snap.log_likelihood
            print(f"run {run}  iteration {snap.iteration}  log-likelihood {ll:.6f}")

    def _set_params_from(self, params: MixtureParams) -> None:
        self._params = params
        self.weights_ = params.weights
        self.means_ = params.means
        self.covariances_ = params.covariances
        self.precisions_cholesky_ = params.precisions_cholesky
        self.precisions_ = params.precisions

    # ------------------------------------------------------------------ inference
    def _check_X(self, X) -> np.ndarray:
        check_is_fitted(self)
        return validate_data(self, X, reset=False, dtype=[np.float64, np.float32])

    def _current_params(self) -> MixtureParams:
        # Rebuild from the public attributes, so that a user who sets them gets what they set.
        return MixtureParams(
            self.weights_,
            self.means_,
            self.covariances_,
            self.precisions_cholesky_,
            self.covariance_type,
        )

    def predict(self, X) -> np.ndarray:
        """Most likely component of each row, shape (n_samples,)."""
        if dask_em.is_dask_collection(X):  # lazy, block by block (gmm_core.dask_em)
            return dask_em.predict_dask(self, X)
        X = self._check_X(X)
        return estimate_weighted_log_prob(X, self._current_params()).argmax(axis=1)

    def predict_proba(self, X) -> np.ndarray:
        """Responsibilities, shape (n_samples, n_components); rows sum to one."""
        if dask_em.is_dask_collection(X):  # lazy, block by block (gmm_core.dask_em)
            return dask_em.predict_proba_dask(self, X)
        X = self._check_X(X)
        return np.exp(e_step(X, self._current_params())[1])

    def score_samples(self, X) -> np.ndarray:
        """Log density of each row under the mixture, shape (n_samples,)."""
        if dask_em.is_dask_collection(X):  # lazy, block by block (gmm_core.dask_em)
            return dask_em.score_samples_dask(self, X)
        X = self._check_X(X)
        return e_step(X, self._current_params())[0]

    def score(self, X, y=None, sample_weight=None) -> float:
        """Mean log-likelihood of the rows of ``X`` (per unit of weight, with weights).

        One fused pass over row chunks, as in fitting: no n x K array is held.
        ``sample_weight`` (not in scikit-learn's ``GaussianMixture.score``) gives
        ``sum_i w_i log p(x_i) / sum_i w_i``, what :meth:`fit` maximises.
        """
        if dask_em.is_dask_collection(X):  # one Dask pass (gmm_core.dask_em)
            return dask_em.score_dask(self, X, sample_weight)
        total, n = self._total_log_likelihood(X, sample_weight)
        return total / n

    def _n_parameters(self) -> int:
        k, d = self.means_.shape
        return criteria.n_parameters(self.covariance_type, k, d)

    def _total_log_likelihood(self, X, sample_weight=None) -> tuple[float, float]:
        """``sum_i w_i log p(x_i)`` and ``sum_i w_i`` (the rows, unweighted)."""
        X = self._check_X(X)
        sample_weight = check_weights(sample_weight, X)
        stats = accumulate_statistics(
            X,
            self._current_params(),
            chunk_size=self.chunk_size,
            engine=self.engine,
            sample_weight=sample_weight,
        )
        return stats.log_likelihood_sum, stats.weight_sum

    def bic(self, X, sample_weight=None) -> float:
        """Bayesian information criterion on ``X`` (lower is better).

        With ``sample_weight``, ``-2 sum_i w_i log p(x_i) + p log(sum_i w_i)``: integer
        weights are counts of repeated rows, so ``n`` is the total count (the BIC of the
        repeated rows). Pass the weights the model was fitted with.
        """
        if dask_em.is_dask_collection(X):  # one Dask pass (gmm_core.dask_em)
            return dask_em.bic_dask(self, X, sample_weight)
        total, n = self._total_log_likelihood(X, sample_weight)
        return criteria.bic(total, self._n_parameters(), n)

    def aic(self, X, sample_weight=None) -> float:
        """Akaike information criterion on ``X`` (lower is better).

        With ``sample_weight``, the weighted total log-likelihood, as :meth:`bic`.
        """
        if dask_em.is_dask_collection(X):  # one Dask pass (gmm_core.dask_em)
            return dask_em.aic_dask(self, X, sample_weight)
        total, _ = self._total_log_likelihood(X, sample_weight)
        return criteria.aic(total, self._n_parameters())

    def sample(self, n_samples: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Draw samples from the fitted mixture.

        Parameters
        ----------
        n_samples : int, default 1

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)
            The component each sample was drawn from.
        """
        check_is_fitted(self)
        if n_samples < 1:
            raise ValueError(
                f"Invalid value for 'n_samples': {n_samples}. The sampling requires at least "
                "one sample."
            )
        _, d = self.means_.shape
        rng = check_random_state(self.random_state)
        counts = rng.multinomial(n_samples, self.weights_)
        model = covariance_model(self.covariance_type)
        if model.matrices:
            # One matrix per component (tied: the shared one for each), as scikit-learn draws.
            covariances = np.broadcast_to(model.stack(self.covariances_), (len(counts), d, d))
            X = np.vstack(
                [
                    rng.multivariate_normal(m, c, int(s))
                    for m, c, s in zip(self.means_, covariances, counts, strict=True)
                ]
            )
        else:
            X = np.vstack(
                [
                    m + rng.standard_normal(size=(s, d)) * np.sqrt(c)
                    for m, c, s in zip(self.means_, self.covariances_, counts, strict=True)
                ]
            )
        y = np.concatenate([np.full(int(s), k, dtype=int) for k, s in enumerate(counts)])
        return X, y
