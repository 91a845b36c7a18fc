"""dashboard.projection: the identity, PCA against scikit-learn, exact Gaussian projection, UMAP.

UMAP compiles with numba on first use (10-20 s), so the file runs it twice in all, in
module-scoped fixtures: once on all of iris and once fitted on a sample with the rest placed by
transform().
"""

import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.decomposition import PCA
from sklearn.manifold import trustworthiness
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

from gmm_core.dashboard.projection import (
    UMAP_METRICS,
    Projection,
    ProjectionError,
    _call_quietly,
    project,
)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def iris_std() -> tuple[np.ndarray, np.ndarray]:
    data = load_iris()
    return StandardScaler().fit_transform(data.data), data.target


def random_gaussians(rng: np.random.Generator, k: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """K means and K well-conditioned, clearly anisotropic full covariances."""
    means = rng.normal(scale=2.0, size=(k, d))
    A = rng.normal(size=(k, d, d))
    covariances = A @ A.transpose(0, 2, 1) + 0.5 * np.eye(d)
    return means, covariances


def record_progress() -> tuple[list[tuple[float, str]], Callable[[float, str], None]]:
    calls: list[tuple[float, str]] = []
    return calls, lambda fraction, message: calls.append((fraction, message))


def assert_progress_well_formed(calls: list[tuple[float, str]]) -> None:
    fractions = [f for f, _ in calls]
    assert fractions[0] == 0.0
    assert fractions[-1] == 1.0
    assert all(0.0 <= f <= 1.0 for f in fractions)
    assert np.all(np.diff(fractions) >= 0)
    assert all(isinstance(m, str) and m for _, m in calls)


# --- importing ------------------------------------------------------------------------------


def test_import_does_not_load_umap_or_numba():
    code = (
        "import sys, gmm_core.dashboard.projection; "
        "print(sorted(m for m in ('umap', 'numba', 'pynndescent', 'streamlit') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


# --- "none" ---------------------------------------------------------------------------------


def test_none_is_the_identity():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 2))
    calls, progress = record_progress()
    p = project(X, "none", column_names=["height", "weight"], progress=progress)
    assert isinstance(p, Projection)
    assert p.method == "none" and p.is_linear
    assert p.embedding.dtype == np.float64
    np.testing.assert_array_equal(p.embedding, X)
    np.testing.assert_array_equal(p.components, np.eye(2))
    np.testing.assert_array_equal(p.center, np.zeros(2))
    assert p.explained_variance_ratio is None
    assert p.axis_titles == ("height", "weight")
    assert p.notes == ()
    assert_progress_well_formed(calls)

    means, covariances = random_gaussians(rng, 3, 2)
    np.testing.assert_array_equal(p.project_means(means), means)
    np.testing.assert_allclose(p.project_covariances(covariances), covariances, rtol=1e-15)
    np.testing.assert_array_equal(p.project_points(X[:5]), X[:5])


def test_none_default_axis_titles_and_integer_input():
    p = project(np.arange(20).reshape(10, 2), "none")
    assert p.axis_titles == ("Column 1", "Column 2")
    assert p.embedding.dtype == np.float64


@pytest.mark.parametrize("d", [1, 3, 5])
def test_none_needs_exactly_two_columns(d):
    with pytest.raises(ProjectionError, match=rf"exactly two columns; you chose {d}\. .*PCA/UMAP"):
        project(np.ones((10, d)), "none")


# --- PCA ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dataset", ["iris", "wine_std", "blobs"])
def test_pca_matches_sklearn_up_to_sign(dataset, request):
    X = request.getfixturevalue(dataset)
    p = project(X, "pca")
    reference = PCA(n_components=2, svd_solver="full").fit(X)
    expected = reference.transform(X)
    signs = np.sign(np.sum(p.embedding * expected, axis=0))
    scale = np.abs(expected).max()
    np.testing.assert_allclose(p.embedding * signs, expected, rtol=0, atol=1e-10 * scale)
    np.testing.assert_allclose(p.components * signs[:, None], reference.components_, atol=1e-10)
    np.testing.assert_allclose(p.center, reference.mean_, rtol=1e-12)
    np.testing.assert_allclose(
        p.explained_variance_ratio, reference.explained_variance_ratio_, rtol=1e-10
    )
    assert p.axis_titles == tuple(
        f"PC {i + 1} ({100 * r:.1f} %)" for i, r in enumerate(reference.explained_variance_ratio_)
    )


def test_pca_linear_map_reproduces_embedding_exactly(wine_std):
    p = project(wine_std, "pca")
    assert p.is_linear and p.embedding.shape == (len(wine_std), 2)
    np.testing.assert_array_equal(p.embedding, (wine_std - p.center) @ p.components.T)
    np.testing.assert_array_equal(p.project_points(wine_std), p.embedding)
    np.testing.assert_allclose(p.components @ p.components.T, np.eye(2), atol=1e-12)
    assert p.notes == ("PC 1 and PC 2 keep 55.4 % of the variance of the 13 columns.",)


def test_pca_warns_when_the_plane_keeps_little_variance():
    X = np.random.default_rng(5).normal(size=(500, 6))
    p = project(X, "pca")
    assert p.explained_variance_ratio.sum() < 0.5
    assert "may still be apart in the directions it leaves out" in p.notes[0]


def test_pca_arrays_are_read_only(iris):
    p = project(iris, "pca")
    for array in (p.embedding, p.components, p.center, p.explained_variance_ratio):
        assert not array.flags.writeable


def test_pca_signs_are_deterministic(wine_std, iris):
    for X in (wine_std, iris):
        p = project(X, "pca")
        largest = p.components[[0, 1], np.argmax(np.abs(p.components), axis=1)]
        assert np.all(largest > 0)
        # The same data in another row order sums in another order; the picture must not mirror.
        shuffled = project(X[np.random.default_rng(3).permutation(len(X))], "pca")
        np.testing.assert_allclose(shuffled.components, p.components, atol=1e-10)
        np.testing.assert_array_equal(project(X, "pca").embedding, p.embedding)


def test_projected_gaussians_exact_and_against_samples():
    rng = np.random.default_rng(12)
    d = 5
    X = rng.normal(size=(400, d)) * np.array([3.0, 2.0, 1.0, 0.5, 0.2])
    p = project(X, "pca")
    W, c = p.components, p.center
    means, covariances = random_gaussians(rng, 3, d)

    projected_means = p.project_means(means)
    projected_covariances = p.project_covariances(covariances)
    assert projected_means.shape == (3, 2) and projected_covariances.shape == (3, 2, 2)
    np.testing.assert_array_equal(projected_covariances, projected_covariances.transpose(0, 2, 1))
    for k in range(3):
        np.testing.assert_allclose(projected_means[k], W @ (means[k] - c), rtol=1e-12)
        np.testing.assert_allclose(projected_covariances[k], W @ covariances[k] @ W.T, rtol=1e-12)

    # The image of N(m, S) under z = W (x - c) is N(W (m - c), W S W^T).
    n = 100_000
    for k in range(3):
        Z = p.project_points(rng.multivariate_normal(means[k], covariances[k], size=n))
        cov = projected_covariances[k]
        standard_error = np.sqrt(np.diag(cov) / n)
        np.testing.assert_allclose(
            Z.mean(axis=0), projected_means[k], atol=6 * standard_error.max()
        )
        np.testing.assert_allclose(np.cov(Z.T), cov, rtol=0, atol=0.03 * np.abs(cov).max())


def test_pca_constant_input_gives_zeros_and_a_note():
    X = np.tile([0.1, -2.0, 3.7], (30, 1))
    p = project(X, "pca")
    np.testing.assert_array_equal(p.embedding, np.zeros((30, 2)))
    np.testing.assert_array_equal(p.explained_variance_ratio, np.zeros(2))
    assert p.axis_titles == ("PC 1", "PC 2")
    assert "identical" in p.notes[0]
    np.testing.assert_array_equal(p.embedding, (X - p.center) @ p.components.T)


def test_pca_with_two_rows_is_finite():
    p = project(np.array([[0.0, 1.0, 2.0], [1.0, 1.0, 0.0]]), "pca")
    assert np.isfinite(p.embedding).all()
    np.testing.assert_allclose(p.explained_variance_ratio, [1.0, 0.0], atol=1e-12)


def test_pca_progress_starts_and_ends(iris):
    calls, progress = record_progress()
    project(iris, "pca", progress=progress)
    assert_progress_well_formed(calls)
    assert len(calls) == 2


@pytest.mark.parametrize(
    ("X", "match"),
    [
        (np.ones((10, 1)), r"PCA needs at least two columns.*you chose 1"),
        (np.ones((1, 3)), r"PCA needs at least two rows; the data has 1"),
    ],
)
def test_pca_errors(X, match):
    with pytest.raises(ProjectionError, match=match):
        project(X, "pca")


# --- input checks ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("X", "kwargs", "match"),
    [
        (np.ones((5, 2)), {"method": "tsne"}, r"Unknown projection method 'tsne'; choose one of"),
        (np.ones((5, 2)), {"method": "PCA"}, r"Unknown projection method 'PCA'"),
        (np.ones(5), {"method": "pca"}, r"2-D\); got an array of shape \(5,\)"),
        (np.array([["a", "b"], ["c", "d"]]), {"method": "pca"}, r"numbers only"),
        (np.ones((5, 2)) * 1j, {"method": "pca"}, r"numbers only"),
        (np.empty((0, 3)), {"method": "pca"}, r"no rows"),
        (np.empty((4, 0)), {"method": "pca"}, r"No columns"),
        (
            np.array([[1.0, 2.0], [np.nan, 1.0], [3.0, np.inf]]),
            {"method": "pca"},
            r"2 rows with missing or infinite values \(the first is row 1\)",
        ),
        (np.ones((5, 3)), {"method": "pca", "column_names": ["a", "b"]}, r"2 names.*3 columns"),
    ],
)
def test_bad_input_is_rejected_with_a_clear_message(X, kwargs, match):
    with pytest.raises(ProjectionError, match=match):
        project(X, **kwargs)


def test_projection_error_is_a_value_error():
    assert issubclass(ProjectionError, ValueError)


def test_linear_helpers_check_shapes(iris):
    p = project(iris, "pca")
    with pytest.raises(ProjectionError, match=r"must have 4 columns.*got 3"):
        p.project_points(np.ones((2, 3)))
    with pytest.raises(ProjectionError, match=r"means must have 4 columns"):
        p.project_means(np.ones((2, 3)))
    with pytest.raises(ProjectionError, match=r"shape \(K, 4, 4\).*got \(2, 4\).*full"):
        p.project_covariances(np.ones((2, 4)))
    with pytest.raises(ProjectionError, match=r"missing or infinite"):
        p.project_covariances(np.full((1, 4, 4), np.nan))


# --- UMAP: argument checks (fail before UMAP is imported or run) -----------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_neighbors": 1}, r"n_neighbors must be a whole number from 2 to 200; got 1"),
        ({"n_neighbors": 201}, r"from 2 to 200; got 201"),
        ({"n_neighbors": 15.0}, r"n_neighbors must be a whole number"),
        ({"n_neighbors": True}, r"n_neighbors must be a whole number"),
        ({"n_neighbors": 150}, r"smaller than the number of rows UMAP is fitted on \(150\)"),
        (
            {"n_neighbors": 30, "max_umap_rows": 20},
            r"fitted on \(20\); choose at most 19",
        ),
        ({"max_umap_rows": 5}, r"max_umap_rows must be a whole number of at least 10"),
        ({"min_dist": -0.1}, r"min_dist must be a number from 0 to 1; got -0\.1"),
        ({"min_dist": 1.5}, r"min_dist must be a number from 0 to 1"),
        ({"min_dist": float("nan")}, r"min_dist must be a number from 0 to 1"),
        ({"min_dist": "0.1"}, r"min_dist must be a number from 0 to 1"),
        ({"metric": "minkowski"}, r"Unknown UMAP metric 'minkowski'; choose one of euclidean"),
        ({"random_state": -1}, r"random_state must be a whole number"),
        ({"random_state": None}, r"random_state must be a whole number"),
    ],
)
def test_umap_argument_errors(iris_std, kwargs, match):
    X, _ = iris_std
    with pytest.raises(ProjectionError, match=match):
        project(X, "umap", **kwargs)


def test_umap_needs_ten_rows():
    X = np.random.default_rng(0).normal(size=(9, 3))
    with pytest.raises(ProjectionError, match=r"at least 10 rows.*has 9\. Use PCA"):
        project(X, "umap", n_neighbors=5)


def test_umap_rejects_constant_input():
    with pytest.raises(ProjectionError, match=r"All rows are identical.*use PCA"):
        project(np.ones((50, 3)), "umap")


@pytest.mark.parametrize(("metric", "d"), [("cosine", 1), ("correlation", 2)])
def test_umap_pattern_metrics_need_enough_columns(metric, d):
    X = np.random.default_rng(0).normal(size=(50, d))
    with pytest.raises(ProjectionError, match=rf"{metric} metric .* you chose {d}"):
        project(X, "umap", metric=metric)


def test_umap_metrics_offered():
    assert UMAP_METRICS[0] == "euclidean"
    assert {"euclidean", "manhattan", "cosine"} <= set(UMAP_METRICS)


def test_umap_warnings_become_notes():
    def noisy(x):
        warnings.warn("n_jobs value 1 overridden to 1 by setting random_state.", stacklevel=1)
        warnings.warn("Spectral initialisation failed!\nFalling back to random.", stacklevel=1)
        warnings.warn("compiler chatter", DeprecationWarning, stacklevel=1)
        return x + 1

    result, notes = _call_quietly(noisy, 1)
    assert result == 2
    assert notes == ["UMAP warned: Spectral initialisation failed!"]


# --- UMAP: two real runs --------------------------------------------------------------------


@pytest.fixture(scope="module")
def umap_on_all_rows(iris_std):
    X, _ = iris_std
    calls, progress = record_progress()
    return project(X, "umap", progress=progress), calls


@pytest.fixture(scope="module")
def umap_on_a_sample(iris_std):
    X, _ = iris_std
    calls, progress = record_progress()
    return project(X, "umap", n_neighbors=10, max_umap_rows=100, progress=progress), calls


def knn_accuracy(Z: np.ndarray, y: np.ndarray) -> float:
    """Leave-one-out accuracy of a 5-nearest-neighbour vote in the embedding."""
    knn = KNeighborsClassifier(n_neighbors=6).fit(Z, y)
    neighbours = knn.kneighbors(Z, return_distance=False)[:, 1:]
    votes = np.array([np.bincount(y[row], minlength=3).argmax() for row in neighbours])
    return float(np.mean(votes == y))


def test_umap_embedding(umap_on_all_rows, iris_std):
    X, y = iris_std
    p, calls = umap_on_all_rows
    assert p.method == "umap" and not p.is_linear
    assert p.embedding.shape == (150, 2) and p.embedding.dtype == np.float64
    assert np.isfinite(p.embedding).all()
    assert p.components is None and p.center is None and p.explained_variance_ratio is None
    assert p.axis_titles == ("UMAP 1", "UMAP 2")
    assert any("ellipses" in note for note in p.notes)
    assert not any("sample" in note for note in p.notes)
    assert trustworthiness(X, p.embedding, n_neighbors=5) > 0.95
    assert knn_accuracy(p.embedding, y) > 0.9
    assert_progress_well_formed(calls)


def test_umap_fit_on_a_sample_and_transform_the_rest(umap_on_a_sample, iris_std):
    X, y = iris_std
    p, calls = umap_on_a_sample
    assert p.embedding.shape == (150, 2) and np.isfinite(p.embedding).all()
    assert p.notes[0] == (
        "UMAP was fitted on a random sample of 100 of 150 rows; the rest were placed with "
        "transform()."
    )
    # The 50 transformed rows must land among their own species, not anywhere.
    assert trustworthiness(X, p.embedding, n_neighbors=5) > 0.95
    assert knn_accuracy(p.embedding, y) > 0.85
    assert_progress_well_formed(calls)
    # start, fit done, one call per batch (50 rows in batches of 5), end
    assert len(calls) == 1 + 1 + 10 + 1
    assert "transform()" in calls[1][1]


def test_umap_projection_has_no_linear_map(umap_on_all_rows, iris_std):
    X, _ = iris_std
    p, _ = umap_on_all_rows
    with pytest.raises(ProjectionError, match=r"UMAP projection is not a linear map"):
        p.project_points(X)
    with pytest.raises(ProjectionError, match=r"component means.*Choose PCA"):
        p.project_means(np.zeros((2, 4)))
    with pytest.raises(ProjectionError, match=r"not a linear map"):
        p.project_covariances(np.tile(np.eye(4), (2, 1, 1)))
