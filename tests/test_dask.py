"""The Dask path: the same EM as in memory, over blocks, without loading the collection.

Every test runs under the threaded scheduler unless it says otherwise; the distributed ones
start a LocalCluster on 127.0.0.1 with in-process workers (fast, and the arithmetic is the
same as in worker processes).
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import relative_difference
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning

from gmm_core import COVARIANCE_TYPES, GaussianMixtureEM
from gmm_core.params import DegenerateCovarianceError

if os.environ.get("CI"):
    # A declared test dependency (requirements-test.txt): under CI a missing one fails.
    import dask
    import dask.array as da
    import dask.dataframe as dd
else:
    dask = pytest.importorskip("dask")
    da = pytest.importorskip("dask.array")
    dd = pytest.importorskip("dask.dataframe")

from dask.callbacks import Callback

from gmm_core import dask_em

ROOT = Path(__file__).resolve().parents[1]

#: Awkward blocks: twenty 1-row blocks, then uneven ones (400 rows in all).
AWKWARD = (1,) * 20 + (37, 150, 3, 190)


@pytest.fixture(scope="module")
def overlapping() -> np.ndarray:
    # Overlapping clusters, so that EM moves for every one of the iterations compared.
    X, _ = make_blobs(400, n_features=3, centers=3, cluster_std=2.0, random_state=1)
    return X


class CountComputes(Callback):
    """Counts the graphs Dask computes (one per pass) under the local schedulers."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def _start(self, dsk):
        self.count += 1


def assert_same_history(ours, reference, tolerance):
    assert len(ours.history_.runs) == len(reference.history_.runs)
    assert ours.history_.best_run == reference.history_.best_run
    for run_ours, run_ref in zip(ours.history_.runs, reference.history_.runs, strict=True):
        assert len(run_ours) == len(run_ref)
        for a, b in zip(run_ours, run_ref, strict=True):
            assert a.iteration == b.iteration and a.converged == b.converged
            assert a.empty_components == b.empty_components
            for name in ("weights", "means", "covariances"):
                err = relative_difference(getattr(a, name), getattr(b, name))
                assert err <= tolerance, (a.iteration, name, err)
            assert relative_difference(a.log_likelihood, b.log_likelihood) <= tolerance
    assert ours.n_iter_ == reference.n_iter_ and ours.converged_ == reference.converged_
    if tolerance <= 1e-10:
        # (In float32 the notes' test for a falling likelihood sees rounding noise.)
        assert ours.history_.notes == reference.history_.notes


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("engine", ["numpy", "numba"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_every_snapshot_matches_the_in_memory_fit(overlapping, covariance_type, engine, dtype):
    X = overlapping.astype(dtype)
    settings = dict(covariance_type=covariance_type, engine=engine, random_state=0, tol=0)
    reference = GaussianMixtureEM(3, max_iter=12, **settings).fit(X, warn_convergence=False)
    model = GaussianMixtureEM(3, max_iter=12, **settings)
    dask_em.fit_dask(model, da.from_array(X, chunks=(AWKWARD, 3)), warn_convergence=False)
    assert model.engine_ == engine and model.means_.dtype == dtype
    # float64: rounding only. float32: the in-memory fit sums its float32 statistics in
    # float32 (in its own chunks), the Dask fit per block and then in float64; both are within
    # float32 rounding (6e-8 per operation) of the exact sums, not of each other to 1e-10.
    assert_same_history(model, reference, 1e-10 if dtype == np.float64 else 1e-5)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_one_block_is_bit_identical_to_the_in_memory_fit(overlapping, dtype):
    X = overlapping.astype(dtype)
    settings = dict(covariance_type="full", engine="numpy", random_state=0, tol=0, max_iter=8)
    reference = GaussianMixtureEM(3, **settings).fit(X, warn_convergence=False)
    model = dask_em.fit_dask(
        GaussianMixtureEM(3, **settings), da.from_array(X, chunks=X.shape), warn_convergence=False
    )
    assert_same_history(model, reference, 0.0)


def test_one_row_blocks_and_restarts(overlapping):
    X = overlapping[:90]
    settings = dict(covariance_type="diag", random_state=3, n_init=3, tol=1e-6, max_iter=30)
    reference = GaussianMixtureEM(3, **settings).fit(X)
    calls = []
    model = GaussianMixtureEM(3, **settings)
    dask_em.fit_dask(model, da.from_array(X, chunks=(1, 3)), progress=lambda *a: calls.append(a))
    assert_same_history(model, reference, 1e-10)
    # One progress call per snapshot of every restart, in order.
    expected = [(r, 3, s.iteration) for r, run in enumerate(model.history_.runs) for s in run]
    assert [(r, n, s.iteration) for r, n, s in calls] == expected


def test_keep_history_best_as_in_memory(overlapping):
    settings = dict(random_state=1, n_init=3, keep_history="best", tol=1e-6)
    reference = GaussianMixtureEM(3, **settings).fit(overlapping)
    model = dask_em.fit_dask(GaussianMixtureEM(3, **settings), da.from_array(overlapping, 90))
    assert model.history_.keep == "best" and model.history_.best_run == reference.history_.best_run
    for ours, theirs in zip(model.history_.runs, reference.history_.runs, strict=True):
        assert type(ours) is type(theirs) and len(ours) == len(theirs)
        np.testing.assert_allclose(
            [s.log_likelihood for s in ours], [s.log_likelihood for s in theirs], rtol=1e-12
        )


def test_one_pass_per_iteration_and_one_for_the_start(overlapping):
    X = da.from_array(overlapping, chunks=100)
    with CountComputes() as counter:
        model = dask_em.fit_dask(
            GaussianMixtureEM(3, random_state=0, tol=0, max_iter=5), X, warn_convergence=False
        )
    assert len(model.history_) == 6
    assert counter.count == 1 + 6  # the start's rows, then one E-step pass per snapshot
    # Given means, weights and precisions need no rows: only the passes.
    given = dict(
        weights_init=model.weights_, means_init=model.means_, precisions_init=model.precisions_
    )
    with CountComputes() as counter:
        dask_em.fit_dask(
            GaussianMixtureEM(3, tol=0, max_iter=2, **given), X, warn_convergence=False
        )
    assert counter.count == 3


def test_the_start_is_estimated_from_a_sample_drawn_from_random_state(overlapping):
    from gmm_core.init import initial_params

    X = overlapping
    model = GaussianMixtureEM(3, random_state=5, max_iter=0)
    dask_em.fit_dask(model, da.from_array(X, chunks=64), init_sample_size=50)
    rng = np.random.RandomState(5)
    rows = np.sort(rng.choice(len(X), size=50, replace=False))
    # The start is the one an in-memory fit of the sampled rows would take (random_state anew).
    start = initial_params(X[rows], 3, reg_covar=1e-6, random_state=np.random.RandomState(5))
    np.testing.assert_array_equal(model.history_[0].means, start.means)
    np.testing.assert_array_equal(model.history_[0].covariances, start.covariances)
    # ... and with every row in the sample it is the in-memory start, exactly.
    full = dask_em.fit_dask(
        GaussianMixtureEM(3, random_state=5, max_iter=0),
        da.from_array(X, chunks=64),
        init_sample_size=len(X),
    )
    memory = GaussianMixtureEM(3, random_state=5, max_iter=0).fit(X)
    np.testing.assert_array_equal(full.history_[0].means, memory.history_[0].means)


class Refusing:
    """An array-like that serves slices but refuses to be converted as a whole."""

    def __init__(self, data: np.ndarray):
        self.data, self.shape, self.dtype, self.ndim = data, data.shape, data.dtype, data.ndim
        self.rows_served: list[int] = []

    def __getitem__(self, key):
        part = self.data[key]
        self.rows_served.append(part.shape[0] if part.ndim else 1)
        return part

    def __array__(self, dtype=None, copy=None):
        raise AssertionError("the whole array was materialised")


def test_fitting_never_materialises_the_collection(overlapping):
    source = Refusing(overlapping)
    X = da.from_array(source, chunks=(50, 3), asarray=False)
    with pytest.raises(AssertionError, match="materialised"):
        np.asarray(source)  # the trap works
    model = dask_em.fit_dask(GaussianMixtureEM(3, random_state=0), X, init_sample_size=100)
    assert model.converged_
    # Every read was one block at most (the sample's rows are fetched block by block too).
    assert source.rows_served and max(source.rows_served) <= 50
    assert model.predict_proba(overlapping).shape == (400, 3)


def test_inference_is_lazy_and_matches_memory(overlapping):
    model = GaussianMixtureEM(3, random_state=0).fit(overlapping)
    X = da.from_array(overlapping, chunks=(AWKWARD, 3))
    labels = dask_em.predict_dask(model, X)
    proba = dask_em.predict_proba_dask(model, X)
    density = dask_em.score_samples_dask(model, X)
    for lazy in (labels, proba, density):
        assert isinstance(lazy, da.Array)
    np.testing.assert_array_equal(labels.compute(), model.predict(overlapping))
    np.testing.assert_allclose(proba.compute(), model.predict_proba(overlapping), rtol=1e-12)
    np.testing.assert_allclose(density.compute(), model.score_samples(overlapping), rtol=1e-12)
    with CountComputes() as counter:
        score = dask_em.score_dask(model, X)
        bic = dask_em.bic_dask(model, X)
        aic = dask_em.aic_dask(model, X)
    assert counter.count == 3  # one pass each
    assert score == pytest.approx(model.score(overlapping), rel=1e-12)
    assert bic == pytest.approx(model.bic(overlapping), rel=1e-12)
    assert aic == pytest.approx(model.aic(overlapping), rel=1e-12)
    with pytest.raises(ValueError, match="X has 2 features, but GaussianMixtureEM is expecting 3"):
        dask_em.predict_dask(model, X[:, :2])


def error_of(call) -> BaseException:
    with pytest.raises(ValueError) as info:
        call()
    return info.value


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("engine", ["numpy", "numba"])
def test_bad_values_in_a_block_raise_the_in_memory_message(overlapping, bad, engine):
    X = overlapping.copy()
    X[333, 1] = bad
    memory = error_of(lambda: GaussianMixtureEM(3, random_state=0, engine=engine).fit(X))
    lazy = da.from_array(X, chunks=100)
    # Seen in the start's sample (all rows here) ...
    ours = error_of(lambda: dask_em.fit_dask(GaussianMixtureEM(3, engine=engine), lazy))
    assert type(ours) is ValueError and str(ours) == str(memory)
    # ... and, with a start that needs no rows, by the first E-step pass, on the client.
    fitted = GaussianMixtureEM(3, random_state=0).fit(overlapping)
    given = dict(
        weights_init=fitted.weights_, means_init=fitted.means_, precisions_init=fitted.precisions_
    )
    with CountComputes() as counter:
        ours = error_of(
            lambda: dask_em.fit_dask(GaussianMixtureEM(3, engine=engine, **given), lazy)
        )
    assert counter.count == 1 and type(ours) is ValueError and str(ours) == str(memory)
    # Lazy inference raises the same message when computed.
    late = error_of(lambda: dask_em.score_samples_dask(fitted, lazy).compute())
    assert str(late) == str(memory)


def test_unknown_chunk_sizes_are_a_clear_error(overlapping):
    X = da.from_array(overlapping, chunks=100)
    unknown = X[X[:, 0] > -np.inf]  # boolean indexing: the row counts are unknown
    with pytest.raises(ValueError, match=r"unknown chunk sizes.*compute_chunk_sizes"):
        dask_em.fit_dask(GaussianMixtureEM(2), unknown)


def test_a_degenerate_covariance_raises_the_in_memory_error():
    X = np.repeat(np.array([[0.0, 0.0], [1.0, 1.0]]), 10, axis=0)
    settings = dict(reg_covar=0.0, random_state=0)
    with pytest.raises(DegenerateCovarianceError) as memory:
        GaussianMixtureEM(2, **settings).fit(X)
    with pytest.raises(DegenerateCovarianceError) as ours:
        dask_em.fit_dask(GaussianMixtureEM(2, **settings), da.from_array(X, chunks=7))
    assert str(ours.value) == str(memory.value)


def test_too_few_rows_and_bad_sample_size_are_value_errors(overlapping):
    with pytest.raises(ValueError, match="minimum of 2 is required"):
        dask_em.fit_dask(GaussianMixtureEM(1), da.from_array(overlapping[:1]))
    with pytest.raises(ValueError, match="init_sample_size must be at least n_components"):
        dask_em.fit_dask(GaussianMixtureEM(3), da.from_array(overlapping), init_sample_size=2)


def test_parquet_out_of_core_dataframe(tmp_path, overlapping):
    import pandas as pd

    frame = pd.DataFrame(overlapping, columns=["a", "b", "c"])
    (tmp_path / "rows").mkdir()
    # Written with pandas: dask's to_parquet trips over a pandas 3.1 deprecation warning.
    for i, start in enumerate(range(0, 400, 130)):
        frame.iloc[start : start + 130].to_parquet(tmp_path / "rows" / f"part.{i}.parquet")
    X = dd.read_parquet(tmp_path / "rows")
    settings = dict(random_state=0, tol=0, max_iter=10)
    model = dask_em.fit_dask(GaussianMixtureEM(3, **settings), X, warn_convergence=False)
    reference = GaussianMixtureEM(3, **settings).fit(frame, warn_convergence=False)
    assert_same_history(model, reference, 1e-10)
    assert list(model.feature_names_in_) == ["a", "b", "c"]
    assert dask_em.score_dask(model, X) == pytest.approx(reference.score(frame), rel=1e-12)
    with pytest.raises(ValueError, match="feature names should match"):
        dask_em.predict_dask(model, X.rename(columns={"a": "z"}))


def test_a_non_numeric_column_is_refused(overlapping):
    import pandas as pd

    frame = pd.DataFrame({"x": overlapping[:, 0], "label": ["p"] * 400})
    with pytest.raises(ValueError, match="not numeric: label"):
        dask_em.fit_dask(GaussianMixtureEM(2), dd.from_pandas(frame, npartitions=2))


def test_local_cluster_results_bit_identical_with_one_and_two_workers(overlapping):
    if os.environ.get("CI"):
        import distributed
    else:
        distributed = pytest.importorskip("distributed")
    X = da.from_array(overlapping, chunks=(AWKWARD, 3))
    settings = dict(covariance_type="full", random_state=0, tol=0, max_iter=8)
    fits = []
    for workers in (1, 2):
        with (
            distributed.LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=False,
                # Real TCP on the loopback interface (not the in-process transport).
                protocol="tcp",
                host="127.0.0.1",
                dashboard_address=":0",  # a free port, never the default 8787
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            model = dask_em.fit_dask(GaussianMixtureEM(3, **settings), X, warn_convergence=False)
            fits.append(model)
            assert len(client.scheduler_info()["workers"]) == workers
            labels = dask_em.predict_dask(model, X).compute()
    threaded = dask_em.fit_dask(GaussianMixtureEM(3, **settings), X, warn_convergence=False)
    for other in (fits[1], threaded):
        assert_same_history(other, fits[0], 0.0)  # bit for bit
    np.testing.assert_array_equal(labels, threaded.predict(overlapping))


def test_the_warning_and_the_estimator_contract(overlapping):
    model = GaussianMixtureEM(3, random_state=0, max_iter=1)
    with pytest.warns(ConvergenceWarning):
        dask_em.fit_dask(model, da.from_array(overlapping, chunks=100))
    assert model.n_features_in_ == 3 and not hasattr(model, "feature_names_in_")
    assert model.lower_bounds_ == [model.history_[0].log_likelihood]


def test_dask_is_imported_only_for_a_dask_collection():
    code = textwrap.dedent(
        """
        import sys
        import numpy as np
        from gmm_core import GaussianMixtureEM, dask_em
        X = np.random.default_rng(0).normal(size=(200, 2))
        GaussianMixtureEM(2, random_state=0).fit(X)
        assert not dask_em.is_dask_collection(X)
        print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
    assert dask_em.is_dask_collection(da.zeros((2, 2)))
    assert not dask_em.is_dask_collection(np.zeros((2, 2)))


def test_the_estimator_takes_a_dask_array_without_loading_it():
    """GaussianMixtureEM().fit(dask array) runs the distributed loop (not validate_data's
    np.asarray), matches the in-memory fit, and its predictions stay lazy."""
    import dask.array as da

    rng = np.random.default_rng(5)
    X = np.vstack([rng.normal(c, 1.0, size=(300, 2)) for c in (0.0, 6.0)])
    lazy = da.from_array(X, chunks=(97, 2))
    ours = GaussianMixtureEM(2, random_state=0, tol=1e-8).fit(lazy)
    ref = GaussianMixtureEM(2, random_state=0, tol=1e-8).fit(X)
    np.testing.assert_allclose(ours.means_, ref.means_, rtol=1e-10)
    assert ours.n_iter_ == ref.n_iter_ and len(ours.history_) == len(ref.history_)
    labels = ours.predict(lazy)
    assert isinstance(labels, da.Array)
    np.testing.assert_array_equal(labels.compute(), ref.predict(X))
    assert ours.bic(lazy) == pytest.approx(ref.bic(X), rel=1e-10)
    assert isinstance(GaussianMixtureEM(2, random_state=0).fit_predict(lazy), da.Array)


# ---------------------------------------------------------------------------- mclust's prior
@pytest.mark.parametrize("model", ["VVV", "EII", "VEI", "tied"])
def test_the_default_prior_of_a_dask_array_is_the_in_memory_one(faithful_raw, model):
    from gmm_core.prior import default_prior

    w = np.random.default_rng(0).integers(0, 4, len(faithful_raw)).astype(float)
    # a large common offset: the moments are summed about the first row, so it cancels
    for X, weights in ((faithful_raw, None), (faithful_raw + 1e6, w)):
        expected = default_prior(X, model, 3, sample_weight=weights)
        got = dask_em.default_prior_dask(
            da.from_array(X, chunks=50),
            model,
            3,
            None if weights is None else da.from_array(weights, chunks=50),
        )
        np.testing.assert_allclose(got.mean, expected.mean, rtol=1e-14)
        np.testing.assert_allclose(got.scale, expected.scale, rtol=1e-9)
        assert (got.shrinkage, got.dof) == (expected.shrinkage, expected.dof)


def test_a_dask_fit_with_mclusts_prior_is_the_in_memory_fit(faithful_raw):
    start = GaussianMixtureEM(3, init_params="hc", max_iter=0, prior="default").fit(faithful_raw)
    settings = dict(
        weights_init=start.weights_,
        means_init=start.means_,
        precisions_init=start.precisions_,
        prior="default",
        tol=1e-8,
        max_iter=500,
    )
    in_memory = GaussianMixtureEM(3, **settings).fit(faithful_raw)
    distributed = GaussianMixtureEM(3, **settings).fit(da.from_array(faithful_raw, chunks=60))
    assert distributed.n_iter_ == in_memory.n_iter_ > 10
    np.testing.assert_allclose(distributed.prior_.scale, in_memory.prior_.scale, rtol=1e-12)
    np.testing.assert_allclose(distributed.means_, in_memory.means_, rtol=1e-10)
    np.testing.assert_allclose(distributed.covariances_, in_memory.covariances_, rtol=1e-10)
    # and a start of its own (here from every row: n is below init_sample_size) takes the
    # prior too, as mclust's me() begins
    own = dict(init_params="hc", prior="default", tol=1e-8, max_iter=500)
    sampled = GaussianMixtureEM(3, **own).fit(da.from_array(faithful_raw, chunks=60))
    reference = GaussianMixtureEM(3, **own).fit(faithful_raw)
    assert sampled.n_iter_ == reference.n_iter_
    np.testing.assert_allclose(sampled.means_, reference.means_, rtol=1e-10)


def test_the_prior_of_data_with_nan_says_so():
    X = np.random.default_rng(0).normal(size=(100, 2))
    X[57, 1] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        GaussianMixtureEM(2, prior="default").fit(da.from_array(X, chunks=30))
