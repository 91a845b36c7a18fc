"""EM invariants on arbitrary data, checked with hypothesis.

Data sets mix clusters, duplicated rows, collinear columns, outliers and scales from 1e-8 to
1e8; EM must never produce NaN or inf, must never decrease the log-likelihood (beyond rounding),
and anything it cannot fit must be a clear ValueError.
"""

import base64
import json
import warnings

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning

from gmm_core import COVARIANCE_TYPES, GaussianMixtureEM
from gmm_core.em import e_step, likelihood_drops


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


@given(
    data=datasets(),
    reg_covar=st.sampled_from([0.0, 1e-6]),
    covariance_type=st.sampled_from(COVARIANCE_TYPES),
    init_params=st.sampled_from(["kmeans", "k-means++", "random", "random_from_data"]),
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
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X)
    except ValueError as err:
        # The only acceptable failure: a clear message that says what to change.
        assert "reg_covar" in str(err) or "components" in str(err), str(err)
        return
    ll = model.history_.log_likelihoods
    assert np.all(np.isfinite(ll))
    for snap in model.history_:
        for arr in (snap.weights, snap.means, snap.covariances, snap.params.precisions_cholesky):
            assert np.all(np.isfinite(arr))
    # The start reproduces scikit-learn's, whose weights are N_k / n: they sum to K / n for the
    # single-point starts. Every M-step normalises them.
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


@given(data=datasets(), covariance_type=st.sampled_from(COVARIANCE_TYPES))
def test_no_nan_reaches_a_figure(data, covariance_type):
    import pandas as pd

    from gmm_core.dashboard.data import prepare
    from gmm_core.dashboard.fitting import FitSettings, fit_view, run_fit
    from gmm_core.dashboard.projection import project

    X, k = data
    columns = [f"c{i}" for i in range(X.shape[1])]
    try:
        prepared = prepare(pd.DataFrame(X, columns=columns), columns, scaling="none")
        projection = project(prepared.X, "none" if X.shape[1] == 2 else "pca")
        view = fit_view(prepared, projection, fit_on="features")
        result = run_fit(
            view, FitSettings(n_components=k, covariance_type=covariance_type, max_iter=30)
        )
    except ValueError as err:  # DataError, ProjectionError, degenerate fits: all explained
        assert len(str(err)) > 20
        return

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
