"""GaussianMixtureEM beyond the comparison with scikit-learn: methods, history, degenerate data."""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import relative_difference
from scipy.stats import multivariate_normal
from sklearn.mixture import GaussianMixture

from gmm_core import COVARIANCE_TYPES, DegenerateCovarianceError, GaussianMixtureEM
from gmm_core.em import accumulate_statistics, em_iterations, m_step

FAITHFUL = Path(__file__).parents[1] / "gmm_core" / "datasets" / "faithful.csv"


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_densities_match_scipy(blobs, covariance_type):
    model = GaussianMixtureEM(4, covariance_type=covariance_type, random_state=0).fit(blobs)
    covs = model.history_[-1].params.full_covariances()
    dens = sum(
        w * multivariate_normal(m, c).pdf(blobs)
        for w, m, c in zip(model.weights_, model.means_, covs, strict=True)
    )
    np.testing.assert_allclose(model.score_samples(blobs), np.log(dens), rtol=1e-10)
    proba = model.predict_proba(blobs)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(proba.argmax(axis=1), model.predict(blobs))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_information_criteria_and_sampling_match_sklearn(iris, covariance_type):
    ours = GaussianMixtureEM(3, covariance_type=covariance_type, random_state=3).fit(iris)
    theirs = GaussianMixture(3, covariance_type=covariance_type, random_state=3).fit(iris)
    assert ours.bic(iris) == pytest.approx(theirs.bic(iris), rel=1e-10)
    assert ours.aic(iris) == pytest.approx(theirs.aic(iris), rel=1e-10)
    assert ours.score(iris) == pytest.approx(theirs.score(iris), rel=1e-10)
    Xo, yo = ours.sample(500)
    Xt, yt = theirs.sample(500)
    assert Xo.shape == (500, 4)
    np.testing.assert_array_equal(yo, yt)
    np.testing.assert_allclose(Xo, Xt, rtol=1e-8)


@pytest.mark.parametrize("engine", ["auto", "numpy", "numba"])
def test_score_is_chunked_and_agrees_with_score_samples(blobs, engine):
    """score, bic and aic take one fused pass over row chunks, never an n x K array."""
    model = GaussianMixtureEM(4, random_state=0, chunk_size=37, engine=engine).fit(blobs)
    assert len(blobs) > 3 * 37
    per_row = model.score_samples(blobs)
    assert model.score(blobs) == pytest.approx(per_row.mean(), rel=1e-13)
    n_params = model._n_parameters()
    expected_bic = -2 * per_row.sum() + n_params * np.log(len(blobs))
    assert model.bic(blobs) == pytest.approx(expected_bic, rel=1e-13)


def test_history_structure_and_json(iris):
    model = GaussianMixtureEM(3, random_state=0, tol=1e-6).fit(iris)
    history = model.history_
    assert len(history) == model.n_iter_ + 1
    assert history[0].iteration == 0 and history[-1].iteration == model.n_iter_
    assert history[-1].converged and not any(s.converged for s in history[:-1])
    assert model.lower_bounds_ == [s.log_likelihood for s in history[:-1]]
    assert model.lower_bound_ == history[-2].log_likelihood
    assert history.weights.shape == (len(history), 3)
    np.testing.assert_array_equal(history[-1].means, model.means_)
    # The last snapshot's likelihood is the fitted model's score.
    assert history[-1].log_likelihood == pytest.approx(model.score(iris), rel=1e-12)
    payload = json.loads(json.dumps(history.to_dict()))
    assert len(payload["runs"][0]) == len(history)
    assert payload["runs"][0][-1]["weights"] == pytest.approx(model.weights_.tolist())


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_chunked_statistics_equal_one_pass(blobs, covariance_type):
    model = GaussianMixtureEM(4, covariance_type=covariance_type, random_state=0, max_iter=3)
    params = model.fit(blobs, warn_convergence=False).history_[-1].params
    whole = accumulate_statistics(blobs, params, chunk_size=len(blobs))
    chunked = accumulate_statistics(blobs, params, chunk_size=37)  # 600 rows -> 17 chunks
    assert relative_difference(chunked.resp_sum, whole.resp_sum) < 1e-12
    assert relative_difference(chunked.second, whole.second) < 1e-12
    # `first` sums x - centre, close to zero near convergence: compare on the data's scale.
    scale = len(blobs) * np.abs(blobs).max()
    np.testing.assert_allclose(chunked.first, whole.first, rtol=0, atol=1e-14 * scale)
    assert chunked.log_likelihood_sum == pytest.approx(whole.log_likelihood_sum, rel=1e-13)
    a = m_step(whole, covariance_type, 1e-6)
    b = m_step(chunked, covariance_type, 1e-6)
    assert relative_difference(b.means, a.means) < 1e-12
    assert relative_difference(b.covariances, a.covariances) < 1e-12


def test_chunked_fit_equals_unchunked_fit(blobs):
    a = GaussianMixtureEM(4, random_state=0).fit(blobs)
    b = GaussianMixtureEM(4, random_state=0, chunk_size=50).fit(blobs)
    assert a.n_iter_ == b.n_iter_
    assert relative_difference(b.means_, a.means_) < 1e-10


def test_generator_yields_progressively(blobs):
    start = GaussianMixtureEM(4, random_state=0, max_iter=0).fit(blobs).history_[0].params
    gen = em_iterations(blobs, start, tol=0.0, max_iter=5)
    first = next(gen)
    assert first.iteration == 0 and first.params is start
    rest = list(gen)
    assert [s.iteration for s in rest] == [1, 2, 3, 4, 5]


def test_old_faithful_textbook_answer():
    X = np.loadtxt(FAITHFUL, delimiter=",", skiprows=1)
    assert X.shape == (272, 2)
    model = GaussianMixtureEM(2, random_state=0, tol=1e-10, max_iter=1000).fit(X)
    assert model.converged_
    np.testing.assert_allclose(np.sort(model.weights_), [0.3559, 0.6441], atol=5e-4)
    short = model.means_[np.argmin(model.means_[:, 0])]
    np.testing.assert_allclose(short, [2.04, 54.5], atol=0.05)


def test_duplicated_points_do_not_produce_nan():
    X = np.repeat(np.array([[0.0, 0.0], [1.0, 1.0], [5.0, 0.0]]), 40, axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # k-means warns about 3 distinct points for 5 clusters
        model = GaussianMixtureEM(5, random_state=0).fit(X)
    for snap in model.history_:
        assert np.all(np.isfinite(snap.means)) and np.all(np.isfinite(snap.covariances))
    assert model.history_[-1].empty_components, "two of five components must be reported empty"
    assert any("empty" in note for note in model.history_.notes)


def test_impossible_fit_says_what_to_change():
    X = np.repeat(np.array([[0.0, 0.0], [1.0, 1.0]]), 10, axis=0)
    with pytest.raises(DegenerateCovarianceError, match="reg_covar") as err:
        GaussianMixtureEM(2, reg_covar=0.0, random_state=0).fit(X)
    assert "fewer components" in str(err.value)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"n_components": 0}, "n_components must be an integer >= 1"),
        ({"n_components": 200}, "Choose at most 150 components"),
        ({"max_iter": -1}, "max_iter must be an integer >= 0"),
        ({"reg_covar": -1e-3}, "reg_covar must be a finite number >= 0"),
        ({"tol": float("nan")}, "tol must be a finite number"),
        ({"covariance_type": "banana"}, "covariance_type must be one of"),
        ({"init_params": "magic"}, "init_params must be one of"),
        ({"n_components": 2, "weights_init": [0.7, 0.7]}, "should be normalized"),
        ({"n_components": 2, "means_init": np.zeros((3, 4))}, "shape"),
    ],
)
def test_bad_parameters_are_rejected_clearly(iris, kwargs, match):
    with pytest.raises(ValueError, match=match):
        GaussianMixtureEM(**kwargs).fit(iris)


def test_float32_input_keeps_float32(iris):
    model = GaussianMixtureEM(3, random_state=0).fit(iris.astype(np.float32))
    assert model.means_.dtype == np.float32
    reference = GaussianMixtureEM(3, random_state=0).fit(iris)
    assert relative_difference(model.means_, reference.means_) < 1e-4


@pytest.mark.parametrize("covariance_type", ["full", "tied", "VVE"])
def test_precisions_init_must_be_symmetric_positive_definite(covariance_type):
    X = np.random.default_rng(0).normal(size=(50, 2))
    good = np.array([[2.0, 0.5], [0.5, 1.0]])
    for bad in (np.array([[2.0, 0.5], [0.4, 1.0]]), np.array([[1.0, 2.0], [2.0, 1.0]])):
        stack = bad if covariance_type == "tied" else np.stack([good, bad])
        model = GaussianMixtureEM(2, covariance_type=covariance_type, precisions_init=stack)
        with pytest.raises(ValueError, match="should be symmetric, positive-definite"):
            model.fit(X)
    stack = good if covariance_type == "tied" else np.stack([good, good])
    fitted = GaussianMixtureEM(
        2, covariance_type=covariance_type, precisions_init=stack, max_iter=0
    )
    np.testing.assert_allclose(fitted.fit(X).history_[0].params.precisions, stack, rtol=1e-12)
