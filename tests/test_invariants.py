"""EM invariants on arbitrary data, checked with hypothesis.

Data sets mix clusters, duplicated rows, collinear columns, outliers and scales from 1e-8 to
1e8; EM must never produce NaN or inf, must never decrease the log-likelihood (beyond rounding),
and anything it cannot fit must be the one documented error, DegenerateCovarianceError, raised
only where floating point cannot resolve the covariance (reg_covar = 0, or reg_covar tiny
against the data's magnitude). Each test asserts which path an example took, so that no path
passes by accepting any error.
"""

import base64
import json
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from gmm_core import COVARIANCE_TYPES, DegenerateCovarianceError, GaussianMixtureEM
from gmm_core.em import e_step, likelihood_drops
from gmm_core.init import INIT_METHODS
from gmm_core.params import RESOLUTION_ULPS
from gmm_core.selection import COVARIANCE_FLOOR, degeneracy_events

# The EM test makes about 60 fits of at most 120 rows per example, the figure test builds
# three plotly figures: bounded so that the file stays well under a minute on two cores.
# Derandomised: CI runs the same examples every time (a new random failure must show up in a
# session that looks for it, not at random in CI).
EM_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
FIGURE_SETTINGS = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)

#: What a DegenerateCovarianceError says happened (gmm_core.params).
DEGENERATE_PROBLEMS = re.compile(
    "is not positive definite|has collapsed onto a single repeated value|"
    "is singular to working precision"
)


@st.composite
def datasets(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n = draw(st.integers(4, 120))
    d = draw(st.integers(1, 4))
    centres = rng.normal(scale=draw(st.sampled_from([1.0, 5.0, 20.0])), size=(3, d))
    X = centres[rng.integers(0, 3, n)] + rng.normal(size=(n, d))
    if draw(st.booleans()):  # duplicated rows
        X[: n // 2] = X[0]
    if d > 1 and draw(st.booleans()):  # a collinear column
        X[:, -1] = 2.0 * X[:, 0] + 1.0
    if draw(st.booleans()):  # an outlier
        X[-1] += 1e3
    X *= draw(st.sampled_from([1e-8, 1e-3, 1.0, 1e3, 1e8]))
    k = draw(st.integers(1, min(6, n)))
    return X, k


def reg_covar_dominates_rounding(X: np.ndarray, reg_covar: float) -> bool:
    """Whether ``reg_covar`` keeps every covariance EM can estimate on ``X`` resolved.

    Every covariance is ``S + reg_covar I`` with ``S`` a weighted scatter of rows of ``X``,
    so its variances are at least ``reg_covar`` and at most ``ptp^2 / 4 + reg_covar``, and
    every Cholesky pivot is at least ``reg_covar``. gmm_core.params.check_resolved then can
    fail neither of its tests: ``reg_covar > (r |x|)^2`` and ``reg_covar > r (ptp^2 + reg)``
    with ``r = RESOLUTION_ULPS * eps``.
    """
    r = RESOLUTION_ULPS * np.finfo(X.dtype).eps
    spread = float(np.ptp(X, axis=0).max()) ** 2
    return reg_covar > max((r * float(np.abs(X).max())) ** 2, r * (spread + reg_covar))


def may_degenerate(X: np.ndarray, k: int, reg_covar: float) -> bool:
    """Whether a fit of ``k`` components may fail on ``X``: rounding can beat ``reg_covar``,
    or there are more components than distinct rows (scikit-learn's tied k-means++ start,
    reproduced, is then indefinite when the seeding picks one row twice)."""
    return k > len(np.unique(X, axis=0)) or not reg_covar_dominates_rounding(X, reg_covar)


def assert_explained_degeneracy(err: DegenerateCovarianceError) -> None:
    """The error names what happened, when, and what to change."""
    message = str(err)
    assert DEGENERATE_PROBLEMS.search(message), message
    assert message.startswith("The fit failed"), message
    for remedy in ("fewer components", "reg_covar"):
        assert remedy in message, message


@EM_SETTINGS
@given(
    data=datasets(),
    reg_covar=st.sampled_from([0.0, 1e-6]),
    covariance_type=st.sampled_from(COVARIANCE_TYPES),
    init_params=st.sampled_from(INIT_METHODS),
    seed=st.integers(0, 1000),
)
def test_em_is_finite_monotone_and_normalised(data, reg_covar, covariance_type, init_params, seed):
    X, k = data
    model = GaussianMixtureEM(
        k,
        covariance_type=covariance_type,
        init_params=init_params,
        random_state=seed,
        max_iter=60,
        tol=0.0,
        reg_covar=reg_covar,
    )
    try:
        model.fit(X, warn_convergence=False)
    except DegenerateCovarianceError as err:
        # The only failure allowed, and only where rounding can beat reg_covar; any other
        # exception (a bare ValueError included) fails the test.
        assert may_degenerate(X, k, reg_covar), str(err)
        assert_explained_degeneracy(err)
        event(f"degenerate, reg_covar={reg_covar:g}")
        return
    event(f"fitted, reg_covar={reg_covar:g}")
    ll = model.history_.log_likelihoods
    assert np.all(np.isfinite(ll))
    for snap in model.history_:
        for arr in (snap.weights, snap.means, snap.covariances, snap.params.precisions_cholesky):
            assert np.all(np.isfinite(arr))
    # scikit-learn's starts have weights N_k / n, which sum to K / n for the single-point
    # starts; 'wide' starts with 1/K each. Every M-step normalises them.
    start = model.history_[0].weights.sum()
    if init_params in ("kmeans", "random", "wide"):
        assert abs(start - 1.0) < 1e-12
    for snap in model.history_[1:]:
        assert abs(snap.weights.sum() - 1.0) < 1e-12
    drops = likelihood_drops(model.history_.snapshots)
    if reg_covar == 0.0:
        # Exact EM: the ascent property holds to rounding.
        assert drops == [], drops
    elif drops:
        # With reg_covar the covariance update is not an exact EM step; where reg_covar is
        # not small against a component's spread the likelihood can dip, and the user is told.
        assert any("reg_covar" in note for note in model.history_.notes)
    resp = np.exp(e_step(X, model.history_[-1].params)[1])
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, rtol=1e-12)


def test_a_component_collapsing_onto_repeated_rows_is_an_error_not_noise():
    # Found by the property above: half the rows are one repeated point; with reg_covar = 0
    # a component shrinks onto it until its variance is the rounding error of its mean,
    # (eps |mean|)^2. From then on the mean moves by one unit in the last place between
    # iterations and the variance flips between 2.9e-39 and 7.3e-39: the log-likelihood
    # went up and down by 0.46 (log(7.3 / 2.9) / 2) at every iteration from the 9th on.
    rng = np.random.default_rng(22)
    X = rng.normal(size=(40, 2)) * 1e-3
    X[:20] = X[0]
    model = GaussianMixtureEM(
        2, covariance_type="spherical", init_params="k-means++", random_state=0, reg_covar=0.0
    )
    with pytest.raises(DegenerateCovarianceError, match="collapsed onto a single repeated") as e:
        model.set_params(max_iter=60, tol=0.0).fit(X)
    assert "reg_covar = 0" in str(e.value) and "after EM iteration" in str(e.value)
    # A reg_covar small against the data's spread (1e-6 here) but far above rounding holds
    # the component on the floor: EM ascends, and the fit is reported as degenerate.
    held = model.set_params(reg_covar=1e-9).fit(X, warn_convergence=False)
    assert likelihood_drops(held.history_.snapshots) == []
    assert held.covariances_.min() == pytest.approx(1e-9, rel=1e-6)
    events = degeneracy_events(held.history_, held.reg_covar)
    assert COVARIANCE_FLOOR in {e.kind for e in events}


def test_a_collinear_column_without_reg_covar_is_an_error():
    # An exactly collinear column: the second Cholesky pivot is rounding error (about eps
    # times the column's variance), negative or positive by chance, so either Cholesky fails
    # or the covariance is singular to working precision (gmm_core.params.check_resolved).
    x = np.random.default_rng(0).normal(size=(60, 1))
    X = np.hstack([x, 2.0 * x + 1.0])
    for covariance_type in ("full", "tied"):
        model = GaussianMixtureEM(2, covariance_type=covariance_type, reg_covar=0.0)
        with pytest.raises(DegenerateCovarianceError) as err:
            model.set_params(random_state=0).fit(X)
        assert_explained_degeneracy(err.value)
        # reg_covar = 1e-6 lifts the pivot far above rounding on data of order one.
        model.set_params(reg_covar=1e-6).fit(X)


# --------------------------------------------------------------------------- the figures
@FIGURE_SETTINGS
@given(data=datasets(), covariance_type=st.sampled_from(COVARIANCE_TYPES))
def test_no_nan_reaches_a_figure(data, covariance_type):
    import pandas as pd

    from gmm_core.dashboard.animation import DisplayMap
    from gmm_core.dashboard.data import prepare
    from gmm_core.dashboard.fitting import FitSettings, FitView, fit_view, run_fit
    from gmm_core.dashboard.projection import ProjectionError, project

    X, k = data
    d = X.shape[1]
    columns = [f"c{i}" for i in range(d)]
    settings_ = FitSettings(n_components=k, covariance_type=covariance_type, max_iter=30)
    # These rows are always valid for prepare: any error there fails the test.
    prepared = prepare(pd.DataFrame(X, columns=columns), columns, scaling="none")
    if d == 1:
        # The app's one-column path: no 2-D view exists, and the page says what to pick.
        with pytest.raises(ProjectionError, match="at least two columns"):
            project(prepared.X, "pca")
        with pytest.raises(ProjectionError, match="exactly two columns"):
            project(prepared.X, "none")
        # The fit and its figures on one column still must not hold NaN: draw it on a line.
        x = prepared.X[:, 0]
        view = FitView(
            prepared.X,
            np.column_stack([x, np.zeros_like(x)]),
            DisplayMap("linear", np.array([[1.0], [0.0]]), np.zeros(1)),
            ("c0", ""),
            ("c0",),
            "1 column",
            None,
            prepared.row_index,
        )
    else:
        projection = project(prepared.X, "none" if d == 2 else "pca")
        view = fit_view(prepared, projection, fit_on="features")
    distinct = len(np.unique(prepared.X, axis=0))
    if k > distinct:
        # The app refuses before fitting, saying what to choose.
        with pytest.raises(ValueError, match=f"only {distinct} distinct rows"):
            run_fit(view, settings_)
        event("more components than distinct rows")
        return
    try:
        result = run_fit(view, settings_)
    except DegenerateCovarianceError as err:
        # With the default reg_covar only data whose magnitude dwarfs it can fail.
        assert may_degenerate(prepared.X, k, settings_.reg_covar), str(err)
        assert_explained_degeneracy(err)
        event("degenerate fit")
        return
    event(f"figures drawn, d={'1' if d == 1 else '2+'}")
    for fig in (result.animation, result.log_likelihood, result.weights):
        assert_finite_json(json.loads(fig.to_json(), parse_constant=refuse))


def refuse(token: str):
    raise AssertionError(f"{token} in a figure")


def assert_finite_json(node) -> None:
    """No NaN/inf anywhere, including inside plotly's base64-encoded typed arrays."""
    if isinstance(node, dict):
        if "bdata" in node and "dtype" in node:
            values = np.frombuffer(base64.b64decode(node["bdata"]), dtype=node["dtype"])
            assert np.all(np.isfinite(values)), "non-finite value in a typed array"
            return
        for value in node.values():
            assert_finite_json(value)
    elif isinstance(node, list):
        for value in node:
            assert_finite_json(value)
