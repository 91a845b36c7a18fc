"""Mixture parameters: a frozen container plus the covariance-type arithmetic.

Every covariance model (scikit-learn's four types and mclust's fourteen models, see
:class:`CovarianceModel`) stores its covariances in one of scikit-learn's four shapes, its
*layout*:

=============  ==========================
``full``       ``(n_components, d, d)``
``tied``       ``(d, d)``
``diag``       ``(n_components, d)``
``spherical``  ``(n_components,)``
=============  ==========================

mclust's models take the layout that holds them: EII and VII 'spherical'; EEI, VEI, EVI and
VVI 'diag'; EEE 'tied'; the seven with an orientation 'full'.

``precisions_cholesky`` has the same shape. For ``full`` and ``tied`` it is the *upper*
triangular ``U`` with ``precision = U @ U.T`` (scikit-learn's convention), so the
Mahalanobis term is ``||(x - mean) @ U||^2`` and ``log det(precision) / 2 = sum(log(diag U))``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import linalg

from ._validation import check_choice


@dataclass(frozen=True)
class CovarianceModel:
    """What sets one covariance model apart from the others, in one place.

    Code that depends on the covariance model asks these questions (and the methods below
    built on them) instead of comparing names. Two different things are described:

    * the **layout**, how the covariances are stored (``matrices``, ``shared``,
      ``per_feature``): always one of scikit-learn's four array shapes, so that every
      engine, the E-step and the plots handle every model;
    * the **parameterisation** (``mclust``): Celeux and Govaert's decomposition
      ``Sigma_k = lambda_k D_k A_k D_k^T`` with the volume ``lambda``, the shape ``A`` and
      the orientation ``D`` each equal across components (E), free per component (V), or
      the identity (I; shape and orientation only), named by mclust's three letters. It
      fixes the parameter count and the M-step (:mod:`gmm_core.mclust_models`).

    Attributes
    ----------
    name : str
        As ``covariance_type`` takes it: one of scikit-learn's four ('full', 'tied',
        'diag', 'spherical') or one of mclust's fourteen ('EII' ... 'VVV').
    matrices : bool
        A covariance is stored as a d x d matrix (layout 'full' or 'tied'), else as
        variances ('diag', 'spherical').
    shared : bool
        One covariance array serves every component (layout 'tied').
    per_feature : bool
        The variances differ between features (all layouts but 'spherical').
    mclust : str
        mclust's name of the model (scikit-learn's 'full' is 'VVV', 'tied' 'EEE', 'diag'
        'VVI', 'spherical' 'VII').
    """

    name: str
    matrices: bool
    shared: bool
    per_feature: bool
    mclust: str

    @property
    def layout(self) -> str:
        """scikit-learn's covariance type whose array shapes this model uses."""
        if self.matrices:
            return "tied" if self.shared else "full"
        return "diag" if self.per_feature else "spherical"

    @property
    def closed_form(self) -> bool:
        """The M-step is scikit-learn's closed form (the four models both packages have).

        The other ten take their M-step from :mod:`gmm_core.mclust_models`.
        """
        return self.mclust in _LAYOUT_OF_SKLEARN_MODEL

    def shape(self, n_components: int, n_features: int) -> tuple[int, ...]:
        """Shape of the covariances (and precisions, and their Cholesky factors)."""
        count = () if self.shared else (n_components,)
        if self.matrices:
            return (*count, n_features, n_features)
        return (*count, n_features) if self.per_feature else count

    def stack(self, array: np.ndarray) -> np.ndarray:
        """The covariances (or factors) as a stack, one per distinct covariance (tied: 1)."""
        return array[np.newaxis] if self.shared else array

    def unstack(self, stack: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`stack`."""
        return stack[0] if self.shared else stack

    def owner(self, index: int) -> int | None:
        """The component whose covariance is ``stack[index]`` (None: all of them, tied)."""
        return None if self.shared else index

    def _counts(self, n_features: int) -> tuple[int, int, int]:
        d = n_features
        return 1, d - 1, d * (d - 1) // 2  # volume, shape, orientation numbers

    def n_parameters(self, n_components: int, n_features: int) -> int:
        """Free covariance parameters of a mixture (mclust's ``nVarParams``).

        Each of volume (1 number), shape (d - 1) and orientation (d (d - 1) / 2) counts once
        when equal across components (E), K times when free (V), not at all when the
        identity (I). For scikit-learn's four: K d (d + 1) / 2 ('full'), d (d + 1) / 2
        ('tied'), K d ('diag'), K ('spherical').
        """
        total = 0
        for letter, numbers in zip(self.mclust, self._counts(n_features), strict=True):
            if letter != "I":
                total += numbers * (n_components if letter == "V" else 1)
        return total

    def component_parameters(self, n_features: int) -> int:
        """Parameters one component estimates from its own points: its mean and the free
        (V) parts of its covariance.

        Parts equal across components (E) are estimated from all rows, so 'tied' (EEE) and
        EII count the mean only, 'full' (VVV) the mean and a whole covariance.
        """
        own = sum(
            numbers
            for letter, numbers in zip(self.mclust, self._counts(n_features), strict=True)
            if letter == "V"
        )
        return n_features + own


#: scikit-learn's four covariance types and mclust's names for them.
_LAYOUT_OF_SKLEARN_MODEL = {"VVV": "full", "EEE": "tied", "VVI": "diag", "VII": "spherical"}

#: The covariance types, in scikit-learn's order.
COVARIANCE_TYPES: tuple[str, ...] = ("full", "tied", "diag", "spherical")

#: mclust's fourteen models, in mclust's order.
MCLUST_MODELS: tuple[str, ...] = (
    "EII",
    "VII",
    "EEI",
    "VEI",
    "EVI",
    "VVI",
    "EEE",
    "VEE",
    "EVE",
    "VVE",
    "EEV",
    "VEV",
    "EVV",
    "VVV",
)

#: scikit-learn's covariance type as mclust's model name.
SKLEARN_TO_MCLUST: dict[str, str] = {v: k for k, v in _LAYOUT_OF_SKLEARN_MODEL.items()}


def _model_of(name: str) -> CovarianceModel:
    mclust = SKLEARN_TO_MCLUST.get(name, name)
    # The layout: the scikit-learn type with the same arrays. A model with any orientation
    # (E or V) needs matrices; EEE is one shared matrix; the rest are variances, per feature
    # unless the shape is the identity.
    if mclust == "EEE":
        layout = "tied"
    elif mclust[2] != "I":
        layout = "full"
    else:
        layout = "spherical" if mclust[1] == "I" else "diag"
    return CovarianceModel(
        name,
        matrices=layout in ("full", "tied"),
        shared=layout == "tied",
        per_feature=layout != "spherical",
        mclust=mclust,
    )


#: Every name ``covariance_type`` accepts: scikit-learn's four, then mclust's fourteen.
COVARIANCE_MODELS: dict[str, CovarianceModel] = {
    name: _model_of(name) for name in (*COVARIANCE_TYPES, *MCLUST_MODELS)
}

#: Every ``covariance_type``: :data:`COVARIANCE_TYPES` and :data:`MCLUST_MODELS`.
ALL_COVARIANCE_TYPES: tuple[str, ...] = tuple(COVARIANCE_MODELS)


class DegenerateCovarianceError(ValueError):
    """A covariance matrix is not positive definite, so the fit cannot continue.

    Subclasses ``ValueError`` so callers that expect scikit-learn's error keep working.
    """


def covariance_model(covariance_type: str) -> CovarianceModel:
    """The :class:`CovarianceModel` of a covariance type; ValueError for an unknown one."""
    model = COVARIANCE_MODELS.get(covariance_type) if isinstance(covariance_type, str) else None
    if model is not None:  # every pass and M-step asks: a lookup, not a check
        return model
    return COVARIANCE_MODELS[check_choice("covariance_type", covariance_type, ALL_COVARIANCE_TYPES)]


def check_covariance_type(covariance_type: str) -> str:
    """Return ``covariance_type`` if it is one of :data:`ALL_COVARIANCE_TYPES`, else raise."""
    return covariance_model(covariance_type).name


def covariance_shape(covariance_type: str, n_components: int, n_features: int) -> tuple[int, ...]:
    """Shape of the covariances (and precisions) array for a covariance type."""
    return covariance_model(covariance_type).shape(n_components, n_features)


#: A variance, or a pivot of a covariance's Cholesky factor, within this many units of
#: rounding of the numbers it is computed from has almost no correct digits (see
#: :func:`check_resolved`).
RESOLUTION_ULPS = 16.0


def _degenerate_message(
    component: int | None,
    iteration: int | None,
    dtype: np.dtype,
    problem: str = "is not positive definite",
    remedy: str = "",
) -> str:
    who = "a component" if component is None else f"component {component}"
    if component == -1:
        who = "the shared ('tied') covariance"
    if iteration is None:
        when = ""
    elif iteration == 0:
        when = " at the starting point"
    else:
        when = f" after EM iteration {iteration}"
    subject = who if component == -1 else f"the covariance of {who}"
    message = (
        f"The fit failed{when}: {subject} {problem}. "
        "This happens when a component collapses onto a single point or a line "
        "(duplicated rows, collinear or constant columns, or more components than "
        "distinct points). Try fewer components, a larger reg_covar, or scaling the data."
    )
    if remedy:
        message += " " + remedy
    if dtype == np.float32:
        message += " Fitting in float64 instead of float32 also helps."
    return message


def _triangular_inverse(
    t: np.ndarray, *, lower: bool, component: int | None, iteration: int | None = None
) -> np.ndarray:
    """Inverse of the triangular matrix ``t`` (d, d), triangular like it.

    LAPACK's trtri rather than ``solve_triangular(t, eye)``: the same to rounding, but OpenBLAS
    runs trtri on the calling thread for small matrices, whereas the trsm behind
    solve_triangular wakes its thread pool even at 2 x 2. Those threads then spin for about
    100 ms and halved the speed of the compiled E-step pass (gmm_core._fast) that runs next.
    A zero on the diagonal raises :class:`DegenerateCovarianceError` about ``component``.
    """
    inv, info = linalg.get_lapack_funcs("trtri", (t,))(t, lower=int(lower))
    if info != 0:
        raise DegenerateCovarianceError(_degenerate_message(component, iteration, t.dtype))
    # trtri leaves the other triangle of its input in place.
    return np.tril(inv) if lower else np.triu(inv)


def precision_cholesky_from_covariances(
    covariances: np.ndarray, covariance_type: str, *, iteration: int | None = None
) -> np.ndarray:
    """Cholesky factors of the precision matrices, computed from covariances.

    Parameters
    ----------
    covariances : ndarray
        Shape given by :func:`covariance_shape`.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    iteration : int, optional
        Only used to say in an error message when the problem appeared.

    Returns
    -------
    precisions_cholesky : ndarray
        Same shape as ``covariances``.

    Raises
    ------
    DegenerateCovarianceError
        If a covariance is not positive definite (or not finite).
    """
    dtype = covariances.dtype
    model = covariance_model(covariance_type)
    if model.matrices:
        stack = model.stack(covariances)
        finite = np.isfinite(stack).all(axis=(1, 2))
        if not finite.all():
            k = int(np.argmin(finite))
            raise DegenerateCovarianceError(_degenerate_message(model.owner(k), iteration, dtype))
        # LAPACK's potrf and trtri called directly, once per component: the same arithmetic as
        # linalg.cholesky (potrf with the other triangle zeroed) and _triangular_inverse (trtri
        # leaves that zeroed triangle as it is), without scipy's per-call checks, which cost
        # more than the factorisation for the small matrices of EM (a third of an EM
        # iteration on 272 x 2 rows, K = 9).
        potrf, trtri = linalg.get_lapack_funcs(("potrf", "trtri"), (stack,))
        out = np.empty_like(stack)
        for k in range(stack.shape[0]):
            chol, info = potrf(stack[k], lower=1, clean=1)
            if info == 0:
                inverse, info = trtri(chol, lower=1)
            if info != 0:
                raise DegenerateCovarianceError(
                    _degenerate_message(model.owner(k), iteration, dtype)
                )
            out[k] = inverse.T
        return model.unstack(out)
    bad = ~(covariances > 0.0) | ~np.isfinite(covariances)
    if np.any(bad):
        comp = int(np.argwhere(bad)[0][0])
        raise DegenerateCovarianceError(_degenerate_message(comp, iteration, dtype))
    return 1.0 / np.sqrt(covariances)


def precision_cholesky_from_precisions(precisions: np.ndarray, covariance_type: str) -> np.ndarray:
    """Upper Cholesky factors ``U`` with ``precision = U @ U.T`` from precision matrices.

    Uses the flip trick of scikit-learn (#26415): the lower Cholesky factor of the
    row- and column-reversed matrix, reversed back, is upper triangular.
    """
    model = covariance_model(covariance_type)
    if not model.matrices:
        return np.sqrt(precisions)
    stack = model.stack(precisions)
    # potrf called directly, as in precision_cholesky_from_covariances: linalg.cholesky's
    # arithmetic without its per-call checks (a sweep hands a start to each cell)
    potrf = linalg.get_lapack_funcs("potrf", (stack,))
    out = np.empty_like(stack)
    for k in range(stack.shape[0]):
        chol, info = potrf(np.flip(stack[k]), lower=1, clean=1)
        if info != 0:
            raise np.linalg.LinAlgError(
                f"{info}-th leading minor of the array is not positive definite"
            )
        out[k] = np.flip(chol)
    return model.unstack(out)


def precisions_from_cholesky(precisions_cholesky: np.ndarray, covariance_type: str) -> np.ndarray:
    """Precision matrices (or vectors) ``U @ U.T`` from their Cholesky factors."""
    model = covariance_model(covariance_type)
    if not model.matrices:
        return precisions_cholesky**2
    if model.shared:
        return precisions_cholesky @ precisions_cholesky.T
    return np.einsum("kij,klj->kil", precisions_cholesky, precisions_cholesky)


def covariances_from_cholesky(precisions_cholesky: np.ndarray, covariance_type: str) -> np.ndarray:
    """Covariances from precision Cholesky factors: ``inv(U @ U.T) = inv(U).T @ inv(U)``."""
    model = covariance_model(covariance_type)
    if not model.matrices:
        return 1.0 / precisions_cholesky**2
    stack = model.stack(precisions_cholesky)
    out = np.empty_like(stack)
    for k, u in enumerate(stack):
        u_inv = _triangular_inverse(u, lower=False, component=model.owner(k))
        out[k] = u_inv.T @ u_inv
    return model.unstack(out)


def log_det_cholesky(precisions_cholesky: np.ndarray, covariance_type: str, n_features: int):
    """``log det(precision) / 2`` per component, from the Cholesky factors.

    Returns
    -------
    ndarray of shape (n_components,) for full/diag/spherical, a scalar for tied.
    """
    model = covariance_model(covariance_type)
    if model.matrices:
        stack = model.stack(precisions_cholesky)
        return model.unstack(np.log(np.diagonal(stack, axis1=1, axis2=2)).sum(axis=1))
    if model.per_feature:
        return np.log(precisions_cholesky).sum(axis=1)
    return n_features * np.log(precisions_cholesky)


@dataclass(frozen=True, eq=False, init=False)
class MixtureParams:
    """The parameters of a Gaussian mixture at one moment of a fit.

    Parameters
    ----------
    weights : ndarray of shape (n_components,)
    means : ndarray of shape (n_components, n_features)
    covariances : ndarray
        Shape given by :func:`covariance_shape`.
    precisions_cholesky : ndarray or None
        Same shape as ``covariances``. None: derived from ``covariances`` whenever it is
        read (not stored), as :meth:`without_cholesky` makes a recorded snapshot.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    _precisions_cholesky: np.ndarray | None = field(repr=False)
    covariance_type: str

    def __init__(
        self,
        weights: np.ndarray,
        means: np.ndarray,
        covariances: np.ndarray,
        precisions_cholesky: np.ndarray | None,
        covariance_type: str,
    ):
        set_field = object.__setattr__  # frozen: fields are set once, here
        set_field(self, "weights", weights)
        set_field(self, "means", means)
        set_field(self, "covariances", covariances)
        set_field(self, "_precisions_cholesky", precisions_cholesky)
        set_field(self, "covariance_type", covariance_type)

    @property
    def precisions_cholesky(self) -> np.ndarray:
        """Cholesky factors of the precisions, same shape as ``covariances``.

        Stored, or (after :meth:`without_cholesky`) computed from ``covariances`` on every
        read, exactly as :meth:`from_covariances` computed them.
        """
        if self._precisions_cholesky is None:
            return precision_cholesky_from_covariances(self.covariances, self.covariance_type)
        return self._precisions_cholesky

    def without_cholesky(self) -> MixtureParams:
        """These parameters without stored Cholesky factors (derived again when read).

        Half the memory of a 'full' or 'tied' mixture, for parameters that are kept but rarely
        evaluated (a fit's recorded iterations). Only for parameters whose factors were
        computed from their covariances (:meth:`from_covariances`, as every M-step does):
        then the derived factors are the stored ones bit for bit. A start given as precisions
        (:meth:`from_precisions`) keeps its factors.
        """
        return MixtureParams(self.weights, self.means, self.covariances, None, self.covariance_type)

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays held (the Cholesky factors only when stored)."""
        arrays = (self.weights, self.means, self.covariances, self._precisions_cholesky)
        return sum(a.nbytes for a in arrays if a is not None)

    @classmethod
    def from_covariances(
        cls,
        weights: np.ndarray,
        means: np.ndarray,
        covariances: np.ndarray,
        covariance_type: str,
        *,
        iteration: int | None = None,
    ) -> MixtureParams:
        """Build parameters from covariances, computing the precision Cholesky factors.

        Raises
        ------
        DegenerateCovarianceError
            If a covariance is not positive definite.
        """
        chol = precision_cholesky_from_covariances(
            covariances, covariance_type, iteration=iteration
        )
        return cls(weights, means, covariances, chol, covariance_type)

    @classmethod
    def from_precisions(
        cls,
        weights: np.ndarray,
        means: np.ndarray,
        precisions: np.ndarray,
        covariance_type: str,
    ) -> MixtureParams:
        """Build parameters from precision matrices (as ``precisions_init`` gives them)."""
        chol = precision_cholesky_from_precisions(precisions, covariance_type)
        covariances = covariances_from_cholesky(chol, covariance_type)
        return cls(weights, means, covariances, chol, covariance_type)

    @property
    def n_components(self) -> int:
        """Number of mixture components K."""
        return self.means.shape[0]

    @property
    def n_features(self) -> int:
        """Dimension d of the data."""
        return self.means.shape[1]

    @property
    def precisions(self) -> np.ndarray:
        """Precision matrices (inverse covariances), same shape as ``covariances``."""
        return precisions_from_cholesky(self.precisions_cholesky, self.covariance_type)

    @property
    def covariance_model(self) -> CovarianceModel:
        """What the covariance type means (:class:`CovarianceModel`)."""
        return covariance_model(self.covariance_type)

    def full_covariances(self) -> np.ndarray:
        """Covariances as ``(n_components, d, d)`` matrices whatever the covariance type."""
        k, d = self.means.shape
        c = self.covariances
        model = self.covariance_model
        if model.matrices:
            return c if not model.shared else np.broadcast_to(c, (k, d, d)).copy()
        if model.per_feature:
            return np.einsum("ki,ij->kij", c, np.eye(d, dtype=c.dtype))
        return c[:, None, None] * np.eye(d, dtype=c.dtype)


def check_resolved(
    params: MixtureParams,
    *,
    reg_covar: float,
    iteration: int | None,
    resp_sum: np.ndarray | None = None,
) -> None:
    """Raise if a covariance estimate is below what floating point can resolve.

    EM's likelihood has no maximum when a component shrinks onto one repeated value (or a
    line): its variance goes to zero and the likelihood to infinity. In floating point the
    variance then stops at the rounding error of the component's mean, and the "likelihood"
    becomes rounding noise: from one iteration to the next the mean moves by a unit in the
    last place and the log-likelihood jumps up and down (by 0.458 at every iteration on one
    data set), so EM's ascent property is lost. Two tests find such estimates:

    * a **variance** (a diagonal entry of a full or tied covariance, a diag entry, a
      spherical variance against the mean of its columns' floors) within rounding of the
      mean it is taken around: at most ``(e_k |mean_kj|)^2`` with the mean's relative error
      ``e_k = eps (RESOLUTION_ULPS + 10 / N_k)``. The ``10 / N_k`` is the M-step's own bias:
      it divides by ``N_k + 10 eps`` (scikit-learn's guard against empty components), which
      moves a mean by ``10 eps / N_k`` of itself, 20 units in the last place for a component
      holding half a point. A tied covariance pools the floors with weights ``N_k / n``;
    * a **pivot** of the covariance's Cholesky factor (the variance of a column given the
      previous ones) of at most ``RESOLUTION_ULPS * eps`` times that column's variance: the
      covariance is singular to working precision (a column that is a linear combination of
      others within the component, or a component on a line), so its log-determinant, the
      sum of the pivots' logs, has no correct digits.

    A ``reg_covar`` that is large against both floors (1e-6 on data of order one) keeps
    every estimate clear of them; with ``reg_covar = 0``, or data whose magnitude dwarfs
    ``reg_covar``, a collapse ends here with a clear error instead of a fit that wanders.

    Parameters
    ----------
    params : MixtureParams
        An M-step's estimate (starting points are exempt: scikit-learn's single-point
        starts have covariances of ``reg_covar`` by construction, 0 with ``reg_covar = 0``).
    reg_covar : float
        The fit's ``reg_covar``, only to say what to change.
    iteration : int or None
        For the message.
    resp_sum : ndarray of shape (n_components,), optional
        The ``N_k`` the M-step divided by; without them (and for components holding a point
        or more) the floor is ``RESOLUTION_ULPS`` units in the last place of the mean.

    Raises
    ------
    DegenerateCovarianceError
        Naming the component, the column and the numbers.
    """
    means = params.means.astype(np.float64)
    model = params.covariance_model
    eps = float(np.finfo(params.means.dtype).eps)
    k_count = means.shape[0]
    nk = np.full(k_count, np.inf) if resp_sum is None else np.asarray(resp_sum, np.float64)
    with np.errstate(divide="ignore"):
        relative = eps * (RESOLUTION_ULPS + 10.0 / nk)
    floor = (relative[:, None] * means) ** 2  # (K, d): rounding floor of each variance
    if model.shared:
        share = (
            nk / nk.sum()
            if np.isfinite(nk).all() and nk.sum() > 0
            else np.full(k_count, 1.0 / k_count)
        )
        floor = (share[:, None] * floor).sum(axis=0, keepdims=True)
    cov = params.covariances.astype(np.float64)
    if model.matrices:
        stack = model.stack(cov)
        variances = np.diagonal(stack, axis1=1, axis2=2)
        chol = model.stack(params.precisions_cholesky)
        # precision = U U^T with U = inv(L)^T, so the pivots L_jj^2 are 1 / U_jj^2.
        pivots = 1.0 / np.diagonal(chol, axis1=1, axis2=2).astype(np.float64) ** 2
    elif model.per_feature:
        variances, pivots = cov, None
    else:
        variances, pivots = cov[:, np.newaxis], None
        floor = floor.mean(axis=1, keepdims=True)
    if reg_covar > 0:
        remedy = (
            f"Here reg_covar = {reg_covar:g} is too small against this data's magnitude to "
            "hold it: standardise the data, or raise reg_covar."
        )
    else:
        remedy = (
            "With reg_covar = 0 nothing keeps a collapsing component's covariance positive: "
            "set reg_covar > 0 (the default 1e-6 suits standardised data)."
        )

    def who(k: int) -> int:
        return -1 if model.shared else k

    unresolved = np.argwhere(variances <= floor)
    if unresolved.size:
        k, j = (int(i) for i in unresolved[0])
        column = f" in column {j}" if model.per_feature else ""
        where = np.abs(means[:, j]).max() if model.shared else np.abs(means[k]).max()
        raise DegenerateCovarianceError(
            _degenerate_message(
                who(k),
                iteration,
                params.means.dtype,
                f"has collapsed onto a single repeated value: its standard deviation"
                f"{column} is {np.sqrt(variances[k, j]):.3g}, within rounding of its mean "
                f"(of size {where:.3g}), where the likelihood grows without bound and what "
                "is computed is rounding noise",
                remedy,
            )
        )
    if pivots is None:
        return
    singular = np.argwhere(pivots <= RESOLUTION_ULPS * eps * variances)
    if singular.size:
        k, j = (int(i) for i in singular[0])
        raise DegenerateCovarianceError(
            _degenerate_message(
                who(k),
                iteration,
                params.means.dtype,
                f"is singular to working precision: given the columns before it, column {j} "
                f"varies by {pivots[k, j]:.3g} against its own variance {variances[k, j]:.3g} "
                "(a linear combination of other columns, or a component on a line), so its "
                "log-determinant has no correct digits",
                remedy,
            )
        )
