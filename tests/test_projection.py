"""dashboard.projection: the identity, PCA against scikit-learn, exact Gaussian projection, UMAP.

UMAP's layout compiles with numba on first use (5-20 s, once per process); every UMAP run here is
on iris (at most 300 rows), a fraction of a second each once compiled.
"""

import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.decomposition import PCA
from sklearn.manifold import trustworthiness
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

from gmm_core.dashboard import projection
from gmm_core.dashboard.projection import (
    UMAP_METRICS,
    Projection,
    ProjectionCancelled,
    ProjectionError,
    _fuzzy_graph,
    _NeighbourIndex,
    _place,
    _smooth_knn_scale,
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


# --- UMAP: real runs on iris ------------------------------------------------------------------


@pytest.fixture(scope="module")
def umap_on_all_rows(iris_std):
    X, _ = iris_std
    calls, progress = record_progress()
    return project(X, "umap", progress=progress), calls


@pytest.fixture(scope="module")
def umap_on_a_sample(iris_std):
    X, _ = iris_std
    calls, progress = record_progress()
    with pytest.MonkeyPatch.context() as mp:
        # 50 placed and refined rows in batches of 10, and every epoch reported, so each phase
        # shows its steps.
        mp.setattr(projection, "_PLACE_BATCH", 10)
        mp.setattr(projection, "_REFINE_BATCH", 10)
        mp.setattr(projection, "_EPOCH_REPORT_SECONDS", 0.0)
        p = project(X, "umap", n_neighbors=10, max_umap_rows=100, progress=progress)
    return p, calls


def knn_accuracy(Z: np.ndarray, y: np.ndarray) -> float:
    """Leave-one-out accuracy of a 5-nearest-neighbour vote in the embedding."""
    knn = KNeighborsClassifier(n_neighbors=6).fit(Z, y)
    neighbours = knn.kneighbors(Z, return_distance=False)[:, 1:]
    votes = np.array([np.bincount(y[row], minlength=3).argmax() for row in neighbours])
    return float(np.mean(votes == y))


def phase_of(message: str) -> str:
    for phase, words in [
        ("compile", "Compiling UMAP's kernels"),
        ("neighbours", "nearest neighbours"),
        ("layout", "Laying out"),
        ("layout", "Laid out"),
        ("place", "Placing the other"),
        ("place", "Placed the other"),
        ("refine", "Refining the places"),
        ("refine", "Refined the places"),
        ("done", "Projection ready"),
    ]:
        if words in message:
            return phase
    raise AssertionError(f"message of no phase: {message!r}")


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
    phases = [phase_of(m) for _, m in calls]
    assert "place" not in phases
    assert phases[-3:] == ["layout", "layout", "done"]


def test_umap_fit_on_a_sample_and_place_the_rest(umap_on_a_sample, iris_std):
    X, y = iris_std
    p, _ = umap_on_a_sample
    assert p.embedding.shape == (150, 2) and np.isfinite(p.embedding).all()
    assert p.notes[0] == (
        "UMAP laid out a random sample of 100 of 150 rows; each other row was placed at the "
        "weighted average of the places of its 10 nearest sampled rows, refined by 30 epochs "
        "against them, as umap-learn's transform() does."
    )
    # The 50 placed rows must land among their own species, not anywhere.
    assert trustworthiness(X, p.embedding, n_neighbors=5) > 0.95
    assert knn_accuracy(p.embedding, y) > 0.85


def test_umap_progress_moves_through_every_phase(umap_on_a_sample):
    _, calls = umap_on_a_sample
    assert_progress_well_formed(calls)
    phases = [phase_of(m) for _, m in calls]
    seen = [phase for i, phase in enumerate(phases) if i == 0 or phases[i - 1] != phase]
    assert seen in (
        ["neighbours", "layout", "place", "refine", "done"],
        ["compile", "neighbours", "layout", "place", "refine", "done"],
    )
    fractions = np.array([f for f, _ in calls])
    layout = fractions[[ph == "layout" for ph in phases]]
    epochs = [m for _, m in calls if "Laying out" in m and "epoch" in m]
    # Every epoch is reported (the report interval is patched to 0), as a growing fraction.
    assert len(epochs) >= 400 and epochs[-1].endswith("epoch 500 of 500…")
    assert len(np.unique(layout)) >= 400
    placing = [m for _, m in calls if phase_of(m) == "place"]
    start = "Placing the other 50 rows by their nearest sampled rows"
    batches = [f"{start}: {i} done…" for i in (0, 10, 20, 30, 40)]
    assert placing == [*batches, "Placed the other 50 rows."]
    # 30 epochs for each of the 5 batches, counted as one run of 150.
    refining = [m for _, m in calls if phase_of(m) == "refine"]
    assert refining[-2:] == [
        "Refining the places of the other 50 rows: epoch 150 of 150…",
        "Refined the places of the other 50 rows.",
    ]
    assert len(refining) >= 150
    # No phase is one jump: the bar never leaps by more than a fifth.
    assert np.diff(fractions).max() < 0.2


def test_layout_epochs_are_what_umap_learn_would_run_on_all_rows():
    # umap-learn runs 500 epochs up to 10,000 rows and 200 above; the sample stands for all.
    X = np.random.default_rng(3).normal(size=(10_001, 3))
    calls, progress = record_progress()
    p = project(X, "umap", max_umap_rows=200, progress=progress)
    epochs = [m for _, m in calls if m.startswith("Laying out") and "epoch" in m]
    assert epochs[0] == "Laying out the 200 sampled rows: epoch 0 of 200…"
    assert p.embedding.shape == (10_001, 2) and np.isfinite(p.embedding).all()


def test_compile_phase_is_reported_once_per_process(iris_std, monkeypatch):
    X, _ = iris_std
    # As if no UMAP kernel had been compiled in this process yet.
    monkeypatch.setattr(projection, "_kernels_compiled", False)
    monkeypatch.setattr(projection, "_compiled_layout_signatures", list)
    first, progress = record_progress()
    project(X, "umap", max_umap_rows=60, progress=progress)
    second, progress = record_progress()
    project(X, "umap", max_umap_rows=60, progress=progress)
    compiling = [(f, m) for f, m in first if phase_of(m) == "compile"]
    assert compiling[0] == (0.0, "Compiling UMAP's kernels, once per server: loading umap-learn…")
    assert compiling[-1][1] == "Compiling UMAP's kernels, once per server: done."
    assert phase_of(first[len(compiling)][1]) == "neighbours"
    # The compile is given its share of the bar, up front.
    assert compiling[-1][0] > 0.3
    assert projection._kernels_compiled
    assert not any(phase_of(m) == "compile" for _, m in second)
    assert second[0] == (0.0, "Finding the 15 nearest neighbours of each of the 60 sampled rows…")
    assert_progress_well_formed(first)
    assert_progress_well_formed(second)


def test_umap_is_deterministic_and_thread_safe(iris_std):
    X, _ = iris_std
    kwargs = dict(n_neighbors=10, max_umap_rows=80)
    alone = [project(X, "umap", random_state=seed, **kwargs).embedding for seed in range(3)]
    together: dict[int, np.ndarray] = {}

    def run(seed: int) -> None:
        together[seed] = project(X, "umap", random_state=seed, **kwargs).embedding

    threads = [threading.Thread(target=run, args=(seed,)) for seed in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Three runs at once, each with its own seed, give what each gives alone, bit for bit.
    for seed in range(3):
        np.testing.assert_array_equal(together[seed], alone[seed])
    assert not np.array_equal(alone[0], alone[1])


def test_umap_projection_has_no_linear_map(umap_on_all_rows, iris_std):
    X, _ = iris_std
    p, _ = umap_on_all_rows
    with pytest.raises(ProjectionError, match=r"UMAP projection is not a linear map"):
        p.project_points(X)
    with pytest.raises(ProjectionError, match=r"component means.*Choose PCA"):
        p.project_means(np.zeros((2, 4)))
    with pytest.raises(ProjectionError, match=r"not a linear map"):
        p.project_covariances(np.tile(np.eye(4), (2, 1, 1)))


# --- UMAP: cancelling -----------------------------------------------------------------------


def stop_when(calls: list[tuple[float, str]], words: str) -> Callable[[], bool]:
    """A should_stop that answers True once a progress message containing ``words`` is seen."""
    return lambda: any(words in m for _, m in calls)


def test_refining_moves_only_the_placed_rows(iris_std, monkeypatch):
    X, _ = iris_std
    kwargs = dict(n_neighbors=10, max_umap_rows=100)
    refined = project(X, "umap", **kwargs).embedding
    # Each placed row moves by its own edges alone: batches change nothing.
    monkeypatch.setattr(projection, "_REFINE_BATCH", 7)
    np.testing.assert_allclose(project(X, "umap", **kwargs).embedding, refined, atol=1e-5)
    monkeypatch.setattr(projection, "_REFINE_EPOCHS", 0)
    calls, progress = record_progress()
    placed = project(X, "umap", progress=progress, **kwargs)
    assert not any(phase_of(m) == "refine" for _, m in calls)
    assert "refined" not in placed.notes[0]
    fit_rows = np.random.default_rng(42).choice(150, size=100, replace=False)
    rest = np.setdiff1d(np.arange(150), fit_rows)
    np.testing.assert_array_equal(refined[fit_rows], placed.embedding[fit_rows])
    moved = np.linalg.norm(refined[rest] - placed.embedding[rest], axis=1)
    assert np.all(moved > 0)
    # A short polish, not a new picture: each row moves less than the picture's width / 10.
    assert moved.max() < np.ptp(refined, axis=0).max() / 10


@pytest.mark.parametrize(
    "words", ["nearest neighbours", "epoch", "Placing the other", "Refining the places"]
)
def test_cancel_stops_in_each_phase(iris_std, monkeypatch, words):
    X, _ = iris_std
    monkeypatch.setattr(projection, "_PLACE_BATCH", 10)
    monkeypatch.setattr(projection, "_EPOCH_REPORT_SECONDS", 0.0)
    calls, progress = record_progress()
    with pytest.raises(ProjectionCancelled, match="cancelled"):
        project(
            X, "umap", max_umap_rows=100, progress=progress, should_stop=stop_when(calls, words)
        )
    # It stopped at the first report of that phase: nothing was reported after it.
    assert words in calls[-1][1]
    assert sum(words in m for _, m in calls) == 1
    assert not isinstance(ProjectionCancelled("x"), ValueError)


def test_cancel_before_starting_does_no_work(iris_std):
    X, _ = iris_std
    calls, progress = record_progress()
    with pytest.raises(ProjectionCancelled):
        project(X, "umap", progress=progress, should_stop=lambda: True)
    assert calls == []


def test_a_cancelled_layout_leaves_nothing_behind(iris_std, monkeypatch):
    X, _ = iris_std
    monkeypatch.setattr(projection, "_EPOCH_REPORT_SECONDS", 0.0)
    kwargs = dict(n_neighbors=10, max_umap_rows=100)
    before = project(X, "umap", **kwargs).embedding
    calls, progress = record_progress()
    with pytest.raises(ProjectionCancelled):
        project(X, "umap", progress=progress, should_stop=stop_when(calls, "epoch 3 "), **kwargs)
    # tqdm closed its bar without raising again, and the next run is the same as before.
    np.testing.assert_array_equal(project(X, "umap", **kwargs).embedding, before)


# --- UMAP: the parts we compute ourselves ---------------------------------------------------


def test_fuzzy_graph_matches_umap_learn(iris_std):
    import scipy.sparse
    import umap.umap_

    X, _ = iris_std
    distances, neighbours = _NeighbourIndex(X, "euclidean").query(X, 15)
    ours = _fuzzy_graph(neighbours, distances)
    # umap-learn's fuzzy_simplicial_set, step by step, with its own two kernels run as Python
    # (.py_func): the same code without numba's compile, which takes 10-30 s here.
    d32 = distances.astype(np.float32)
    sigmas, rhos = umap.umap_.smooth_knn_dist.py_func(d32, 15.0, local_connectivity=1.0)
    rows, cols, vals, _ = umap.umap_.compute_membership_strengths.py_func(
        neighbours.astype(np.int32), d32, sigmas, rhos
    )
    A = scipy.sparse.coo_matrix((vals, (rows, cols)), shape=(150, 150))
    A.eliminate_zeros()
    reference = A + A.T - A.multiply(A.T)
    assert ours.shape == (150, 150)
    assert (ours != ours.T).nnz == 0
    assert ours.nnz == reference.nnz
    # umap-learn bisects in float32; the memberships agree to its tolerance.
    assert abs(ours - reference).max() < 1e-4


def test_smooth_scale_solves_umaps_equation():
    rng = np.random.default_rng(4)
    distances = np.sort(rng.gamma(2.0, size=(200, 12)), axis=1)
    rho = distances[:, 0]
    sigma = _smooth_knn_scale(distances, rho, np.zeros(200))
    # The first column is the point itself in a fit; umap-learn leaves it out of the sum.
    total = np.exp(-np.maximum(distances[:, 1:] - rho[:, None], 0) / sigma[:, None]).sum(axis=1)
    np.testing.assert_allclose(total, np.log2(12), atol=1e-4)
    # The floor applies where the bisection would go below it.
    floored = _smooth_knn_scale(distances, rho, np.full(200, 10.0))
    np.testing.assert_array_equal(floored, np.maximum(sigma, 10.0))


def test_placed_rows_land_among_their_neighbours():
    rng = np.random.default_rng(1)
    # Two groups of fitted rows, far apart in the data and in the picture.
    X_fit = np.vstack([rng.normal(size=(15, 4)), 100 + rng.normal(size=(15, 4))])
    fitted = np.vstack([rng.normal(size=(15, 2)), 50 + rng.normal(size=(15, 2))])
    index = _NeighbourIndex(X_fit, "euclidean")
    # A copy of fitted row 7, a point very near row 3, the first group's mean, the second's.
    queries = np.vstack([X_fit[7], X_fit[3] + 1e-6, X_fit[:15].mean(axis=0), X_fit[15:].mean(0)])
    distances, neighbours = index.query(queries, 8)
    placed, _ = _place(fitted, distances, neighbours)
    np.testing.assert_array_equal(placed[0], fitted[7])
    first, second = fitted[:15], fitted[15:]
    for row, group in [(1, first), (2, first), (3, second)]:
        near = fitted[neighbours[row]]
        assert np.all(placed[row] >= near.min(axis=0)) and np.all(placed[row] <= near.max(axis=0))
        assert np.all(placed[row] >= group.min(axis=0)) and np.all(placed[row] <= group.max(axis=0))
    # A weighted mean, nearer neighbours weighing more: not the plain mean of the eight.
    assert not np.allclose(placed[1], fitted[neighbours[1]].mean(axis=0))
    # Rows are placed one by one: the same row gives the same place in any batch.
    np.testing.assert_array_equal(_place(fitted, distances[1:2], neighbours[1:2])[0], placed[1:2])


def test_held_out_duplicates_land_on_their_fitted_twins(iris_std):
    X = np.unique(iris_std[0], axis=0)  # iris repeats a few rows; each twin must be unique
    m = len(X)
    p = project(np.vstack([X, X]), "umap", n_neighbors=10, max_umap_rows=m, random_state=5)
    # The rows UMAP laid out: project() draws them as below.
    fit_rows = np.random.default_rng(5).choice(2 * m, size=m, replace=False)
    in_fit = np.zeros(2 * m, dtype=bool)
    in_fit[fit_rows] = True
    twin = np.r_[np.arange(m, 2 * m), np.arange(m)]
    held_out_with_fitted_twin = np.flatnonzero(~in_fit & in_fit[twin])
    assert len(held_out_with_fitted_twin) > 30
    np.testing.assert_array_equal(
        p.embedding[held_out_with_fitted_twin], p.embedding[twin[held_out_with_fitted_twin]]
    )
    both_fitted = np.flatnonzero(in_fit & in_fit[twin])
    assert not np.array_equal(p.embedding[both_fitted], p.embedding[twin[both_fitted]])


@pytest.mark.parametrize("metric", ["cosine", "correlation", "manhattan", "chebyshev"])
def test_neighbours_in_each_metric_match_brute_force(metric):
    from sklearn.metrics import pairwise_distances

    rng = np.random.default_rng(2)
    X = rng.normal(size=(120, 5))
    Q = rng.normal(size=(30, 5))
    distances, neighbours = _NeighbourIndex(X, metric).query(Q, 6)
    full = pairwise_distances(Q, X, metric=metric)
    np.testing.assert_allclose(np.sort(full, axis=1)[:, :6], distances, atol=1e-12)
    np.testing.assert_allclose(np.take_along_axis(full, neighbours, axis=1), distances, atol=1e-12)


def test_umap_on_well_separated_groups_raises_no_warning():
    # Six groups far apart: the neighbour graph falls into pieces and umap-learn's spectral
    # start places more than four pieces through scikit-learn, which warns (an error under
    # pytest) unless silenced.
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(25, 3)) + 50.0 * g for g in range(6)])
    p = project(X, "umap", n_neighbors=10)
    labels = np.repeat(np.arange(6), 25)
    neighbours = KNeighborsClassifier(n_neighbors=6).fit(p.embedding, labels)
    assert neighbours.score(p.embedding, labels) == 1.0
