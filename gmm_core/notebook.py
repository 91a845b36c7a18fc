"""The notebook interface the project grew out of, kept so old notebooks change one import line.

>>> from gmm_core.notebook import GaussianMixtureEM
>>> model = GaussianMixtureEM(K=4, num_iterations=50, allow_singular=False)
>>> results = model.fit_fast(X)          # doctest: +SKIP
>>> results["pis_dict"]["Iteration_49"][0]  # the K mixing weights after the last iteration

Unlike :class:`gmm_core.GaussianMixtureEM` this runs exactly ``num_iterations`` iterations
(no tolerance) and, like the original, adds no regularisation to the covariances: a
covariance that becomes singular is an error unless ``allow_singular=True``, in which case
``reg_covar`` is added from then on and a warning says so.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

from .em import accumulate_statistics, e_step, m_step
from .init import initial_params
from .params import DegenerateCovarianceError, MixtureParams


def _singular_components(covariances: np.ndarray) -> list[int]:
    """Components whose covariance SciPy's ``multivariate_normal`` would call singular.

    The notebook evaluated densities with ``scipy.stats.multivariate_normal``, whose
    ``allow_singular`` rejects matrices with an eigenvalue below ``1e6 * eps * max|eigenvalue|``.
    """
    eig = np.linalg.eigvalsh(covariances)
    cutoff = 1e6 * np.finfo(covariances.dtype).eps * np.abs(eig).max(axis=1)
    return [int(k) for k in np.flatnonzero(eig.min(axis=1) <= cutoff)]


class SingularCovarianceWarning(RuntimeWarning):
    """A covariance became singular and regularisation was switched on to continue."""


class GaussianMixtureEM:
    """EM for a full-covariance Gaussian mixture with the notebook's interface.

    Parameters
    ----------
    K : int, default 4
        Number of components.
    num_iterations : int, default 50
        Exact number of EM iterations to run.
    allow_singular : bool, default False
        What to do when a covariance becomes singular: raise a ``ValueError`` (False) or
        add ``reg_covar`` to the diagonals and carry on, with a warning (True).
    random_state : int, default 42
        Seed of the k-means initialisation (the one scikit-learn uses, so that labels agree
        with ``sklearn.mixture.GaussianMixture(n_components=K, random_state=42)``).
    reg_covar : float, default 1e-6
        Regularisation used once ``allow_singular`` has had to step in.
    """

    def __init__(
        self,
        K: int = 4,
        num_iterations: int = 50,
        allow_singular: bool = False,
        random_state: int = 42,
        reg_covar: float = 1e-6,
    ):
        if int(K) < 1:
            raise ValueError(f"K must be at least 1; got {K}.")
        if int(num_iterations) < 1:
            raise ValueError(f"num_iterations must be at least 1; got {num_iterations}.")
        self.K = int(K)
        self.num_iterations = int(num_iterations)
        self.allow_singular = bool(allow_singular)
        self.random_state = random_state
        self.reg_covar = float(reg_covar)

    def fit_fast(self, X) -> dict:
        """Run ``num_iterations`` EM iterations on ``X``.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Numeric data; a DataFrame's columns are used as they are.

        Returns
        -------
        dict
            ``pis_dict``: ``{"Initial": (1, K), "Iteration_0": (1, K), ...}`` mixing weights
            at the start and after each iteration; ``means`` (K, d); ``cov`` (K, d, d);
            ``gamma`` (n, K) responsibilities under the final parameters; ``labels`` (n,);
            ``log_likelihood``: mean log-likelihood per iteration, length ``num_iterations``.

        Raises
        ------
        ValueError
            Bad input, or (with ``allow_singular=False``) a covariance became singular.
        """
        values = X.to_numpy(dtype=float) if isinstance(X, pd.DataFrame) else np.asarray(X, float)
        if values.ndim != 2 or values.shape[0] < self.K or not np.all(np.isfinite(values)):
            raise ValueError(
                "X must be a finite 2-D array with at least K rows; got shape "
                f"{values.shape}. Remove missing values and check K."
            )
        values = np.ascontiguousarray(values)
        self._reg = 0.0
        params = self._regularise_if_allowed(
            lambda reg: initial_params(
                values,
                self.K,
                covariance_type="full",
                init_params="kmeans",
                reg_covar=reg,
                random_state=check_random_state(self.random_state),
            )
        )
        pis = {"Initial": params.weights[np.newaxis].copy()}
        log_likelihood = []
        for i in range(self.num_iterations):
            stats = accumulate_statistics(values, params)
            log_likelihood.append(stats.mean_log_likelihood)
            params = self._regularise_if_allowed(
                lambda reg, stats=stats, i=i: m_step(stats, "full", reg, iteration=i + 1)
            )
            pis[f"Iteration_{i}"] = params.weights[np.newaxis].copy()
        log_resp = e_step(values, params)[1]
        self.params_: MixtureParams = params
        return {
            "pis_dict": pis,
            "means": params.means,
            "cov": params.covariances,
            "gamma": np.exp(log_resp),
            "labels": log_resp.argmax(axis=1),
            "log_likelihood": log_likelihood,
        }

    def _regularise_if_allowed(self, estimate):
        """Call ``estimate(reg)``; on a singular covariance regularise once, if allowed."""
        try:
            params = estimate(self._reg)
            singular = _singular_components(params.covariances)
            if singular:
                raise DegenerateCovarianceError(
                    f"The covariance of component {singular[0]} became singular (an eigenvalue "
                    "below 1e6 * machine epsilon times the largest, SciPy's test): the "
                    "component has collapsed onto a point or a line. Try fewer components."
                )
            return params
        except DegenerateCovarianceError as err:
            if self._reg > 0:
                raise
            if not self.allow_singular:
                raise DegenerateCovarianceError(
                    f"{err} Or pass allow_singular=True to regularise and carry on."
                ) from None
            self._reg = self.reg_covar
            warnings.warn(
                f"{err} Because allow_singular=True, {self._reg:g} is now added to every "
                "covariance diagonal for the remaining iterations.",
                SingularCovarianceWarning,
                stacklevel=3,
            )
            return estimate(self._reg)
