"""Starting points for EM: scikit-learn's four, reproduced exactly, and a wide one of our own.

For scikit-learn's ``init_params`` ('kmeans', 'k-means++', 'random', 'random_from_data'),
the same ``RandomState`` gives the same starting parameters as ``GaussianMixture``, because
the random draws are made in the same order with the same public scikit-learn and NumPy
calls. That is what makes a side-by-side comparison with scikit-learn meaningful.

'wide' (:func:`wide_params`) is not scikit-learn's: means at k-means++ seeds (the best of
several seedings), every covariance the whole data's covariance, equal weights. Its first
snapshot is a proper mixture (weights summing to one, a log-likelihood of the data's own
order), drawn as wide overlapping ellipses that separate as EM runs.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
from sklearn.cluster import KMeans, kmeans_plusplus

from ._validation import check_choice
from .em import chunk_rows, m_step, statistics_from_responsibilities, structured_m_step
from .params import MixtureParams, check_covariance_type, covariance_model, covariance_shape
from .prior import ConjugatePrior

if TYPE_CHECKING:
    from .hierarchical import HierarchicalTree

#: The starts of ``init_params``: scikit-learn's four, then 'wide' (:func:`wide_params`).
INIT_METHODS: tuple[str, ...] = ("kmeans", "k-means++", "random", "random_from_data", "wide", "hc")

#: The starts that scikit-learn's ``GaussianMixture`` offers too, with the same draws.
SKLEARN_INIT_METHODS: tuple[str, ...] = INIT_METHODS[:4]


def check_init_params(init_params: str) -> str:
    """Return ``init_params`` if it is one of :data:`INIT_METHODS`, else raise ValueError."""
    return check_choice("init_params", init_params, INIT_METHODS)


def initial_responsibilities(
    X: np.ndarray,
    n_components: int,
    init_params: str,
    random_state: np.random.RandomState,
    sample_weight: np.ndarray | None = None,
) -> np.ndarray:
    """Initial responsibilities, drawing from ``random_state`` as scikit-learn does.

    With ``sample_weight``, the draws see the weights as row counts: 'kmeans' runs
    scikit-learn's weighted k-means (``KMeans.fit(X, sample_weight=w)``), 'k-means++' its
    weighted seeding (``kmeans_plusplus(..., sample_weight=w)``), 'random_from_data' draws
    rows with probability proportional to their weight (uniformly, as scikit-learn, when all
    weights are equal); 'random' draws every row's responsibilities as without weights (the
    estimate from them, :func:`params_from_responsibilities`, is weighted). Rows of weight 0
    are never chosen as seeds and do not move k-means' centres.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    n_components : int
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}
    random_state : numpy.random.RandomState
        Consumed in place, so successive restarts differ.
    sample_weight : ndarray of shape (n_samples,), optional
        Finite, non-negative row weights (validated by the caller).

    Returns
    -------
    resp : ndarray of shape (n_samples, n_components)
        Not multiplied by the weights.
    """
    check_init_params(init_params)
    n = X.shape[0]
    if init_params == "random":
        resp = np.asarray(random_state.uniform(size=(n, n_components)), dtype=X.dtype)
        resp /= resp.sum(axis=1)[:, np.newaxis]
        return resp
    resp = np.zeros((n, n_components), dtype=X.dtype)
    if init_params == "kmeans":
        kmeans = KMeans(n_clusters=n_components, n_init=1, random_state=random_state)
        labels = kmeans.fit(X, sample_weight=sample_weight).labels_
        resp[np.arange(n), labels] = 1
    elif init_params == "random_from_data":
        p = None
        if sample_weight is not None and np.ptp(sample_weight) > 0:
            p = sample_weight / sample_weight.sum()
        indices = random_state.choice(n, size=n_components, replace=False, p=p)
        resp[indices, np.arange(n_components)] = 1
    elif init_params == "k-means++":
        _, indices = kmeans_plusplus(
            X, n_components, random_state=random_state, sample_weight=sample_weight
        )
        resp[indices, np.arange(n_components)] = 1
    elif init_params == "wide":
        raise ValueError(
            "init_params='wide' starts from parameters, not responsibilities: use "
            "wide_params (or initial_params)."
        )
    return resp


#: k-means++ seedings drawn by the 'wide' start, which keeps the one with the smallest k-means
#: potential. One seeding often puts two seeds in one cluster and none in another, and EM
#: started that way ends in a poor optimum: on the standardised penguins, K = 3 full, 44 of
#: 60 seeds reached ARI >= 0.9 with one seeding, 53 with ten (scikit-learn's 'kmeans': 51);
#: on the blobs sample 53 and 60 of 60. Ten k-means++ passes cost less than one k-means fit.
WIDE_SEEDINGS = 10


def _kmeans_potential(
    X: np.ndarray, centres: np.ndarray, sample_weight: np.ndarray | None = None
) -> float:
    """Sum over rows of the (weighted) squared distance to the nearest centre, by chunks."""
    sq_centres = np.einsum("ij,ij->i", centres, centres)
    step = chunk_rows(X.shape[0], centres.shape[0], X.shape[1])
    total = 0.0
    for start in range(0, X.shape[0], step):
        chunk = X[start : start + step]
        d2 = np.einsum("ij,ij->i", chunk, chunk)[:, None] - 2.0 * chunk @ centres.T + sq_centres
        nearest = np.maximum(d2.min(axis=1), 0.0)
        if sample_weight is None:
            total += float(nearest.sum())
        else:
            total += float(nearest @ sample_weight[start : start + step])
    return total


def wide_params(
    X: np.ndarray,
    n_components: int,
    covariance_type: str,
    reg_covar: float,
    random_state: np.random.RandomState,
    *,
    n_seedings: int = WIDE_SEEDINGS,
    sample_weight: np.ndarray | None = None,
) -> MixtureParams:
    """The 'wide' start: k-means++ seeds as means, the data's covariance for every component.

    * means: k-means++ seeds, ``sklearn.cluster.kmeans_plusplus(X, K,
      random_state=random_state)`` (spread-out rows of the data, as the 'k-means++' start
      has them), the best of ``n_seedings`` draws by the k-means potential (the sum of
      squared distances from each row to its nearest seed), as k-means keeps the best of
      its ``n_init`` runs;
    * covariances: the covariance of all rows (maximum likelihood, divided by n) in the
      covariance type's form, plus ``reg_covar`` on the diagonal: the matrix for every
      component ('full'), once ('tied'), its diagonal ('diag'), the mean of its diagonal
      ('spherical');
    * weights: ``1 / K`` each.

    With ``sample_weight`` the seeding, the potential and the covariance are weighted (the
    seeds are drawn as from rows repeated by integer weights; rows of weight 0 are never
    seeds and do not count).

    Every component starts as the one-Gaussian fit of the data moved to its seed, so the
    first E-step shares each row among the seeds by distance, softly; a tied model starts
    with the covariance it would have with one component, which is where EM can separate the
    clusters instead of collapsing them (as the single-point starts do, see
    :class:`gmm_core.model.GaussianMixtureEM`).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    n_components : int
    covariance_type : str
        One of :data:`gmm_core.params.ALL_COVARIANCE_TYPES`.
    reg_covar : float
    random_state : numpy.random.RandomState
        Consumed in place by the seedings, so successive restarts differ.
    n_seedings : int, default :data:`WIDE_SEEDINGS`
        k-means++ draws to choose the seeds from.
    sample_weight : ndarray of shape (n_samples,), optional
        Finite, non-negative row weights (validated by the caller).

    Returns
    -------
    MixtureParams
        In the dtype of ``X``.

    Raises
    ------
    DegenerateCovarianceError
        If the data's covariance plus ``reg_covar`` is not positive definite (a constant or
        collinear column with ``reg_covar = 0``).
    """
    model = covariance_model(covariance_type)
    means, best = None, np.inf
    for _ in range(max(1, int(n_seedings))):
        seeds, _ = kmeans_plusplus(
            X, n_components, random_state=random_state, sample_weight=sample_weight
        )
        potential = _kmeans_potential(X, seeds, sample_weight)
        if means is None or potential < best:
            means, best = seeds, potential
    n, d = X.shape
    if sample_weight is None:
        centred = X - X.mean(axis=0)
        scaled = centred
    else:
        w = sample_weight.astype(X.dtype, copy=False)
        n = float(sample_weight.sum())
        centred = X - (w @ X) / n
        scaled = centred * w[:, None]
    if model.matrices:
        cov = scaled.T @ centred / n
        cov.flat[:: d + 1] += reg_covar
    else:
        variances = np.einsum("ij,ij->j", scaled, centred) / n + reg_covar
        cov = variances if model.per_feature else variances.mean()
    # The data's covariance, once per distinct covariance of the type.
    cov = np.broadcast_to(cov, model.shape(n_components, d)).astype(X.dtype)
    weights = np.full(n_components, 1.0 / n_components, dtype=X.dtype)
    return MixtureParams.from_covariances(
        weights, means.astype(X.dtype, copy=False), cov, covariance_type, iteration=0
    )


def _weighted_responsibilities(
    resp: np.ndarray, sample_weight: np.ndarray | None
) -> tuple[np.ndarray, float]:
    """``w_i r_ik`` and the total weight ``n`` (the rows' number when unweighted)."""
    if sample_weight is None:
        return resp, resp.shape[0]
    return resp * sample_weight.astype(resp.dtype, copy=False)[:, None], float(sample_weight.sum())


def params_from_responsibilities(
    X: np.ndarray,
    resp: np.ndarray,
    covariance_type: str,
    reg_covar: float,
    sample_weight: np.ndarray | None = None,
) -> MixtureParams:
    """Parameters estimated from responsibilities, with weights ``N_k / n`` as scikit-learn.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    resp : ndarray of shape (n_samples, n_components)
    covariance_type : str
        One of :data:`gmm_core.params.ALL_COVARIANCE_TYPES`.
    reg_covar : float
    sample_weight : ndarray of shape (n_samples,), optional
        Row weights: the estimate of rows repeated by integer weights (``N_k = sum_i w_i
        r_ik``, ``n = sum_i w_i``).

    Returns
    -------
    MixtureParams
    """
    resp, total = _weighted_responsibilities(resp, sample_weight)
    nk = resp.sum(axis=0) + 10 * np.finfo(resp.dtype).eps
    # Centre the second pass on the weighted means, so the covariances are free of cancellation.
    centers = (resp.T @ X) / nk[:, None]
    model = covariance_model(covariance_type)
    stats = statistics_from_responsibilities(X, resp, centers, full_second=model.matrices)
    stats = replace(stats, weight_sum=total)
    if not model.shared:
        # Exempt from the resolution check: a single-point start has a covariance of exactly
        # reg_covar (rounding with reg_covar = 0) by construction, and EM leaves it at once.
        return m_step(
            stats,
            covariance_type,
            reg_covar,
            normalise_weights=False,
            iteration=0,
            require_resolved=False,
        )
    # scikit-learn's tied estimate uses the second moment of *all* rows, X^T X, which equals
    # the responsibility-weighted one only when every row's responsibilities sum to one. The
    # single-point starts ('k-means++', 'random_from_data') break that, and scikit-learn then
    # starts from a much wider covariance; we reproduce it so that both start at one point.
    means = (resp.T @ X) / nk[:, None]
    scaled = X if sample_weight is None else X * sample_weight.astype(X.dtype)[:, None]
    cov = (scaled.T @ X - (nk * means.T) @ means) / nk.sum()
    cov.flat[:: cov.shape[0] + 1] += reg_covar
    return MixtureParams.from_covariances(nk / total, means, cov, covariance_type, iteration=0)


#: Rows agglomerated by the 'hc' start: mclust's ``mclust.options("subset")``. Above this
#: many rows a random subset is agglomerated (the agglomeration costs O(m^2) memory and time).
HC_SUBSET = 2000


def hc_tree(
    X: np.ndarray,
    random_state: np.random.RandomState | None = None,
    sample_weight: np.ndarray | None = None,
) -> tuple[np.ndarray, HierarchicalTree]:
    """The tree of mclust's start: model-based hierarchical agglomeration, grown once.

    :func:`gmm_core.hierarchical.agglomerate` with mclust's defaults (model VVV on the
    SVD-transformed data) over all rows, or over :data:`HC_SUBSET` rows drawn from
    ``random_state`` when there are more (as ``Mclust`` does). With ``sample_weight`` the
    agglomeration (which has no notion of weights, as mclust's ``hc``) runs over the rows of
    positive weight, each once. Every K of the start is a cut of this one tree.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    random_state : numpy.random.RandomState, optional
        Drawn from only when more than ``HC_SUBSET`` rows are agglomerated.
    sample_weight : ndarray of shape (n_samples,), optional

    Returns
    -------
    rows : ndarray of shape (m,)
        The rows of ``X`` agglomerated, in order; ``tree.partition(K)`` labels them.
    tree : gmm_core.hierarchical.HierarchicalTree
    """
    from .hierarchical import agglomerate  # numba kernels: loaded only for this start

    candidates = None if sample_weight is None else np.flatnonzero(sample_weight > 0)
    agglomerated = X if candidates is None else X[candidates]
    rng = None
    if agglomerated.shape[0] > HC_SUBSET:
        state = random_state if random_state is not None else np.random.RandomState()
        rng = np.random.default_rng(state.randint(np.iinfo(np.int32).max))
    tree = agglomerate(
        np.asarray(agglomerated, dtype=np.float64), subset=HC_SUBSET, random_state=rng
    )
    rows = np.asarray(tree.rows)
    return (rows if candidates is None else candidates[rows]), tree


def hc_partition(
    X: np.ndarray,
    n_components: int,
    random_state: np.random.RandomState | None = None,
    sample_weight: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """mclust's start: the K-cluster cut of :func:`hc_tree`.

    Returns
    -------
    rows : ndarray of shape (m,)
        The rows of ``X`` agglomerated (all of them, in order, when there are at most
        ``HC_SUBSET`` of positive weight).
    labels : ndarray of shape (m,)
        Their cluster, 0 .. K - 1.
    """
    rows, tree = hc_tree(X, random_state, sample_weight)
    return rows, np.asarray(tree.partition(n_components))


def one_hot(labels: np.ndarray, n_components: int, dtype=np.float64) -> np.ndarray:
    """Responsibilities of a hard partition: ``resp[i, labels[i]] = 1``, shape (m, K)."""
    resp = np.zeros((len(labels), n_components), dtype=dtype)
    resp[np.arange(len(labels)), labels] = 1
    return resp


def hc_params(
    X: np.ndarray,
    n_components: int,
    covariance_type: str,
    reg_covar: float,
    random_state: np.random.RandomState | None = None,
    sample_weight: np.ndarray | None = None,
) -> MixtureParams:
    """The 'hc' start: the model's M-step from the hierarchical partition (:func:`hc_partition`).

    The same partition serves every covariance model, so a sweep over models compares them
    from one start per K, as mclust does. With a subset, the estimate comes from the subset's
    rows (mclust's ``mstep`` on the subset), weights ``N_k / m``; with ``sample_weight``, the
    M-step on the partition (of the rows of positive weight) is weighted (``N_k / sum w``).

    Returns
    -------
    MixtureParams
    """
    rows, labels = hc_partition(X, n_components, random_state, sample_weight)
    resp = one_hot(labels, n_components, X.dtype)
    weights = None if sample_weight is None else sample_weight[rows]
    return params_from_responsibilities(X[rows], resp, covariance_type, reg_covar, weights)


def initial_params(
    X: np.ndarray,
    n_components: int,
    *,
    covariance_type: str = "full",
    init_params: str = "kmeans",
    reg_covar: float = 1e-6,
    random_state: np.random.RandomState,
    weights_init: np.ndarray | None = None,
    means_init: np.ndarray | None = None,
    precisions_init: np.ndarray | None = None,
    sample_weight: np.ndarray | None = None,
) -> MixtureParams:
    """The starting point of one EM run.

    Any of ``weights_init``, ``means_init``, ``precisions_init`` that is given replaces the
    corresponding estimate from the initial responsibilities; when all three are given no
    responsibilities are computed and ``random_state`` is not touched (as in scikit-learn).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    n_components : int
    covariance_type : str
        One of :data:`gmm_core.params.ALL_COVARIANCE_TYPES`.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data', 'wide', 'hc'}
    reg_covar : float
    random_state : numpy.random.RandomState
    weights_init : ndarray of shape (n_components,), optional
    means_init : ndarray of shape (n_components, n_features), optional
    precisions_init : ndarray, optional
        Shape given by :func:`gmm_core.params.covariance_shape`.
    sample_weight : ndarray of shape (n_samples,), optional
        Finite, non-negative row weights (validated by the caller): every start is estimated
        as from rows repeated by integer weights where its method allows it
        (:func:`initial_responsibilities`, :func:`wide_params`, :func:`hc_params`).

    Returns
    -------
    MixtureParams
    """
    check_covariance_type(covariance_type)
    given = (weights_init, means_init, precisions_init)
    estimated = None
    if any(p is None for p in given) and init_params == "wide":
        estimated = wide_params(
            X, n_components, covariance_type, reg_covar, random_state, sample_weight=sample_weight
        )
    elif any(p is None for p in given) and init_params == "hc":
        estimated = hc_params(
            X, n_components, covariance_type, reg_covar, random_state, sample_weight
        )
    elif any(p is None for p in given):
        resp = initial_responsibilities(X, n_components, init_params, random_state, sample_weight)
        estimated = params_from_responsibilities(X, resp, covariance_type, reg_covar, sample_weight)
    weights = estimated.weights if weights_init is None else np.asarray(weights_init, X.dtype)
    means = estimated.means if means_init is None else np.asarray(means_init, X.dtype)
    if precisions_init is None:
        return MixtureParams(
            weights, means, estimated.covariances, estimated.precisions_cholesky, covariance_type
        )
    precisions = np.asarray(precisions_init, dtype=X.dtype)
    expected = covariance_shape(covariance_type, n_components, X.shape[1])
    if precisions.shape != expected:
        raise ValueError(
            f"precisions_init must have shape {expected} for covariance_type="
            f"{covariance_type!r}; got {precisions.shape}."
        )
    return MixtureParams.from_precisions(weights, means, precisions, covariance_type)


def params_from_responsibilities_with_prior(
    X: np.ndarray,
    resp: np.ndarray,
    covariance_type: str,
    prior: ConjugatePrior,
    sample_weight: np.ndarray | None = None,
):
    """The MAP M-step from starting responsibilities: a start's estimate with the prior.

    The counterpart of :func:`gmm_core.init.params_from_responsibilities` (weights
    ``N_k / n``, no ``reg_covar``), as mclust's ``me()`` begins.

    Parameters
    ----------
    X : ndarray of shape (m, n_features)
    resp : ndarray of shape (m, n_components)
    covariance_type : str
    prior : ConjugatePrior
    sample_weight : ndarray of shape (m,), optional

    Returns
    -------
    MixtureParams
    """
    resp, total = _weighted_responsibilities(resp, sample_weight)
    nk = resp.sum(axis=0)
    centers = (resp.T @ X) / np.maximum(nk, np.finfo(resp.dtype).tiny)[:, None]
    stats = statistics_from_responsibilities(X, resp, centers, full_second=True)
    stats = replace(stats, weight_sum=total)
    estimated, _ = structured_m_step(
        stats,
        covariance_type,
        0.0,
        prior=prior,
        normalise_weights=False,
        iteration=0,
        require_resolved=False,
    )
    return estimated


def initial_params_with_prior(
    X: np.ndarray,
    n_components: int,
    *,
    covariance_type: str,
    init_params: str,
    prior: ConjugatePrior,
    random_state: np.random.RandomState,
    weights_init: np.ndarray | None = None,
    means_init: np.ndarray | None = None,
    precisions_init: np.ndarray | None = None,
    sample_weight: np.ndarray | None = None,
):
    """:func:`gmm_core.init.initial_params` with the prior in the start's M-step.

    mclust's ``me()`` starts with an M-step from the starting partition, with the prior
    (``Mclust``'s start is ``me()`` from the ``hc`` partition): so the starts estimated from
    responsibilities ('kmeans', 'k-means++', 'random', 'random_from_data', 'hc') take the
    MAP M-step here, from the same responsibilities and random numbers as without a prior.
    'wide' (not an M-step) and the given ``*_init`` arrays are as without a prior, with no
    ``reg_covar``.

    Returns
    -------
    MixtureParams
    """
    given = (weights_init, means_init, precisions_init)
    if init_params == "wide" or all(p is not None for p in given):
        return initial_params(
            X,
            n_components,
            covariance_type=covariance_type,
            init_params=init_params,
            reg_covar=0.0,
            random_state=random_state,
            weights_init=weights_init,
            means_init=means_init,
            precisions_init=precisions_init,
            sample_weight=sample_weight,
        )
    rows, weights = X, sample_weight
    if init_params == "hc":
        chosen, labels = hc_partition(X, n_components, random_state, sample_weight)
        rows = X[chosen]
        weights = None if sample_weight is None else sample_weight[chosen]
        resp = one_hot(labels, n_components, X.dtype)
    else:
        resp = initial_responsibilities(X, n_components, init_params, random_state, sample_weight)
    estimated = params_from_responsibilities_with_prior(rows, resp, covariance_type, prior, weights)
    if weights_init is None and means_init is None and precisions_init is None:
        return estimated
    weights_ = estimated.weights if weights_init is None else np.asarray(weights_init, X.dtype)
    means_ = estimated.means if means_init is None else np.asarray(means_init, X.dtype)
    if precisions_init is None:
        return MixtureParams(
            weights_, means_, estimated.covariances, estimated.precisions_cholesky, covariance_type
        )
    return MixtureParams.from_precisions(
        weights_, means_, np.asarray(precisions_init, X.dtype), covariance_type
    )
