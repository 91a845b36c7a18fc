"""The engine seam: the registry, the estimator's engine= parameter, numba missing, imports.

Every engine is checked against the reference on the same statistics; the numba kernels have
their own, deeper tests in test_fast.py.
"""

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import relative_difference
from sklearn.exceptions import ConvergenceWarning

from gmm_core import COVARIANCE_TYPES, GaussianMixtureEM, engines
from gmm_core.engines import base
from gmm_core.params import MixtureParams, covariance_shape

ROOT = Path(__file__).resolve().parents[1]


def mixture(n=3000, d=3, k=4, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(k, d))
    return centres[rng.integers(0, k, n)] + rng.normal(size=(n, d))


def some_params(X, k, covariance_type, seed=0):
    rng = np.random.default_rng(seed)
    n, d = X.shape
    shape = covariance_shape(covariance_type, k, d)
    if covariance_type in ("full", "tied"):
        a = rng.normal(scale=0.3, size=(k, d, d)) + np.eye(d)
        cov = (a @ a.transpose(0, 2, 1))[: shape[0] if covariance_type == "full" else 1]
        cov = cov.reshape(shape)
    else:
        cov = rng.uniform(0.5, 3.0, size=shape)
    return MixtureParams.from_covariances(
        rng.dirichlet(np.full(k, 3.0)), X[rng.choice(n, k, replace=False)], cov, covariance_type
    )


def test_the_registry_finds_every_engine_module():
    modules = sorted(
        p.stem
        for p in (ROOT / "gmm_core" / "engines").glob("*.py")
        if not p.stem.startswith("_") and p.stem != "base"
    )
    assert engines.engine_names() == tuple(modules)
    assert {"numpy", "numba"} <= set(modules)
    for name in engines.engine_names():
        module = engines.get_engine(name)
        # The contract of gmm_core.engines.base, by name.
        for attribute in ("accumulate", "unavailable", "wants", "AUTO_PRIORITY", "SUMMARY"):
            assert hasattr(module, attribute), (name, attribute)


@pytest.mark.parametrize("name", engines.engine_names())
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_every_engine_returns_the_reference_statistics(name, covariance_type):
    X = mixture()
    params = some_params(X, 4, covariance_type)
    got = engines.get_engine(name).accumulate(X, params, chunk_size=700)
    ref = engines.get_engine("numpy").accumulate(X, params)
    assert isinstance(got, base.SufficientStatistics)
    assert got.n_samples == len(X) and got.second.shape == ref.second.shape
    for field in ("resp_sum", "first", "second"):
        assert relative_difference(getattr(got, field), getattr(ref, field)) < 1e-10, field
    assert got.log_likelihood_sum == pytest.approx(ref.log_likelihood_sum, rel=1e-12)
    np.testing.assert_array_equal(got.centers, params.means)


def test_unknown_engine_is_a_value_error_naming_the_choices():
    X = mixture(50)
    with pytest.raises(ValueError, match="'auto', 'numba', 'numpy'"):
        engines.accumulate_statistics(X, some_params(X, 2, "full"), engine="cuda")


def test_engine_is_a_constructor_parameter_validated_in_fit():
    model = GaussianMixtureEM(2, engine="cuda")  # stored unchanged, not checked yet
    assert model.get_params()["engine"] == "cuda"
    with pytest.raises(ValueError, match="engine must be one of"):
        model.fit(mixture(100))


@pytest.mark.parametrize("engine", ["numpy", "numba"])
def test_the_estimator_runs_the_engine_it_is_given(engine):
    X = mixture(2000, 2, 3)
    model = GaussianMixtureEM(3, random_state=0, engine=engine).fit(X)
    assert model.engine_ == engine
    reference = GaussianMixtureEM(3, random_state=0, engine="numpy").fit(X)
    assert model.n_iter_ == reference.n_iter_
    assert relative_difference(model.means_, reference.means_) < 1e-10
    assert model.score(X) == pytest.approx(reference.score(X), rel=1e-12)


def test_auto_decides_once_per_run_from_the_planned_work():
    X = mixture(20_000, 2, 8)
    params = some_params(X, 8, "full")
    # 100 iterations on 20,000 rows, K = 8: worth the compiled engine; one pass is not.
    assert engines.resolve_engine(X, params, "auto", passes=101) == "numba"
    assert engines.resolve_engine(X, params, "auto") == "numpy"
    small = mixture(600, 2, 4)  # the app's default sample
    assert engines.resolve_engine(small, some_params(small, 4, "full"), "auto", 101) == "numpy"
    assert engines.resolve_engine(X.astype(np.float16), params, "auto", passes=101) == "numpy"
    assert engines.resolve_engine(small, params, "numba") == "numba"
    # The estimator's decision: a long run on the large data, none on the small.
    assert GaussianMixtureEM(8, random_state=0, max_iter=100).fit(X).engine_ == "numba"
    with pytest.warns(ConvergenceWarning):  # one iteration never converges
        short = GaussianMixtureEM(8, random_state=0, max_iter=1).fit(X)
    assert short.engine_ == "numpy"


def _run_without_numba(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter in which numba cannot be imported."""
    prelude = "import sys\nsys.modules['numba'] = None  # 'import numba' raises ImportError\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_without_numba_auto_warns_once_and_numba_is_a_clear_error():
    result = _run_without_numba(
        """
        import warnings
        import numpy as np
        from gmm_core import GaussianMixtureEM
        from gmm_core.engines import CompiledEngineMissingWarning, EngineUnavailableError

        rng = np.random.default_rng(0)
        X = np.concatenate([rng.normal(size=(10_000, 2)), rng.normal(size=(10_000, 2)) + 6])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            small = GaussianMixtureEM(2, random_state=0).fit(X[:300])
            assert not caught, "a small fit never wants numba, so nothing is missing"
            first = GaussianMixtureEM(8, random_state=0, max_iter=100).fit(X)
            second = GaussianMixtureEM(8, random_state=1, max_iter=100).fit(X)
        missing = [w for w in caught if issubclass(w.category, CompiledEngineMissingWarning)]
        assert len(missing) == 1, [str(w.message) for w in caught]
        assert "numba" in str(missing[0].message) and "NumPy" in str(missing[0].message)
        assert first.engine_ == second.engine_ == small.engine_ == "numpy"
        try:
            GaussianMixtureEM(2, engine="numba").fit(X[:300])
        except EngineUnavailableError as err:
            assert isinstance(err, ImportError)
            assert "engine='numba' cannot run" in str(err) and "numba" in str(err)
            print("OK")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "OK"


def _library_import_graph() -> dict[str, set[str]]:
    """Module -> the gmm_core modules it imports (anywhere in it), from the library's source."""
    package = ROOT / "gmm_core"
    graph: dict[str, set[str]] = {}
    for path in package.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if "dashboard" in parts:
            continue
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        is_package = parts[-1] == "__init__"
        here = module if is_package else module.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base_parts = here.split(".")
                    base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                    origin = ".".join(base_parts + ([node.module] if node.module else []))
                else:
                    origin = node.module or ""
                if origin.startswith("gmm_core"):
                    for alias in node.names:  # `from . import _fast` names a module
                        candidate = f"{origin}.{alias.name}"
                        if (ROOT / Path(*candidate.split("."))).with_suffix(".py").exists():
                            targets.add(candidate)
                        else:
                            targets.add(origin)
            elif isinstance(node, ast.Import):
                targets |= {a.name for a in node.names if a.name.startswith("gmm_core")}
        graph[module] = targets - {module}
    return graph


def test_the_library_has_no_import_cycle():
    graph = _library_import_graph()
    assert "gmm_core._fast" in graph and "gmm_core.em" in graph
    # em and the compiled kernels used to import each other; now both sit on engines.base.
    assert "gmm_core.em" not in graph["gmm_core._fast"]
    # A module naming its own ancestor package is no cycle (Python initialises the package
    # first, and the package imports the module): leave those edges out.
    edges = {m: {t for t in targets if not m.startswith(t + ".")} for m, targets in graph.items()}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycle = [*path[path.index(nxt) :], nxt] if nxt in path else [node, nxt]
                raise AssertionError(f"import cycle: {' -> '.join(cycle)}")
            if nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])


def test_em_iterations_runs_a_pass_it_is_given():
    """The seam for passes that are not an in-memory engine's (a distributed one, say)."""
    from gmm_core.em import em_iterations

    X = mixture(2000, 2, 3)
    start = some_params(X, 3, "full")
    calls = []

    def counted(X, params):
        calls.append(params)
        return engines.get_engine("numpy").accumulate(X, params, chunk_size=300)

    given = list(em_iterations(X, start, max_iter=20, accumulate=counted))
    reference = list(em_iterations(X, start, max_iter=20, engine="numpy"))
    assert len(calls) == len(given) == len(reference)
    assert calls[0] is start
    for a, b in zip(given, reference, strict=True):
        assert a.log_likelihood == pytest.approx(b.log_likelihood, rel=1e-12)
        assert relative_difference(a.means, b.means) < 1e-12


@pytest.mark.parametrize("keep_history", ["all", "best"])
def test_the_restart_loop_takes_another_em_and_other_rows_to_start_from(keep_history):
    """GaussianMixtureEM._fit_restarts: what a fit of out-of-memory data reuses."""
    from gmm_core.em import em_iterations

    X = mixture(3000, 2, 3)
    runs = []

    def iterate(X, start, **settings):
        runs.append(settings["engine"])
        yield from em_iterations(X, start, **settings)

    options = dict(n_components=3, n_init=3, random_state=0, keep_history=keep_history)
    model = GaussianMixtureEM(**options)
    model.n_features_in_ = X.shape[1]
    model._fit_restarts(X, model._validated_settings(X), init_rows=X[:500], iterate=iterate)
    assert runs == ["numpy"] * 3 and model.engine_ == "numpy"
    assert model.history_.keep == keep_history and len(model.history_.runs) == 3
    # The same fit as the estimator's own loop, started from the same 500 rows.
    reference = GaussianMixtureEM(**options).fit(X[:500])
    np.testing.assert_array_equal(model.history_[0].means, reference.history_[0].means)
    assert model.n_iter_ >= 1 and np.isfinite(model.lower_bound_)


# ---------------------------------------------------------------------------- sample weights
def _assert_same_statistics(got, ref, rtol):
    for field in ("resp_sum", "first", "second"):
        assert relative_difference(getattr(got, field), getattr(ref, field)) < rtol, field
    assert got.log_likelihood_sum == pytest.approx(ref.log_likelihood_sum, rel=rtol)
    assert got.weight_sum == pytest.approx(ref.weight_sum, rel=rtol)
    assert got.mean_log_likelihood == pytest.approx(ref.mean_log_likelihood, rel=rtol)


def _cast(params, dtype):
    return MixtureParams.from_covariances(
        params.weights.astype(dtype),
        params.means.astype(dtype),
        params.covariances.astype(dtype),
        params.covariance_type,
    )


@pytest.mark.parametrize("name", engines.engine_names())
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_integer_weights_give_the_statistics_of_repeated_rows(name, covariance_type, dtype):
    X = mixture(2000).astype(dtype)
    params = _cast(some_params(X, 4, covariance_type), dtype)
    counts = np.random.default_rng(1).integers(0, 5, len(X))  # zeros included
    got = engines.get_engine(name).accumulate(
        X, params, chunk_size=700, sample_weight=counts.astype(float)
    )
    repeated = engines.get_engine("numpy").accumulate(np.repeat(X, counts, axis=0), params)
    assert got.n_samples == len(X) and repeated.n_samples == counts.sum()
    assert got.weight_sum == counts.sum()
    assert got.resp_sum.dtype == got.second.dtype == dtype
    # float32: the repeated rows are summed in float32 by the reference, hence 1e-5.
    _assert_same_statistics(got, repeated, 1e-12 if dtype == np.float64 else 1e-5)


@pytest.mark.parametrize("name", engines.engine_names())
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_a_zero_weight_removes_the_row(name, covariance_type):
    X = mixture(1500)
    params = some_params(X, 4, covariance_type)
    w = np.random.default_rng(2).uniform(0.1, 3.0, len(X))
    gone = np.random.default_rng(3).random(len(X)) < 0.3
    # A row that no component explains (its distances overflow, so log p = -inf and its
    # responsibilities are NaN): weight 0 must remove it too, not spread NaN.
    X[7] = 1e200
    gone[7] = True
    w[gone] = 0.0
    with np.errstate(all="ignore"):  # the overflow itself is the reference's to warn about
        got = engines.get_engine(name).accumulate(X, params, chunk_size=700, sample_weight=w)
    kept = engines.get_engine("numpy").accumulate(X[~gone], params, sample_weight=w[~gone])
    assert got.n_samples == len(X)  # rows summed, zero weights included
    _assert_same_statistics(got, kept, 1e-12)
    assert np.isfinite(got.log_likelihood_sum) and np.all(np.isfinite(got.second))


@pytest.mark.parametrize("name", engines.engine_names())
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_every_engine_returns_the_reference_weighted_statistics(name, covariance_type):
    X = mixture()
    params = some_params(X, 4, covariance_type)
    w = np.random.default_rng(4).exponential(size=len(X))
    got = engines.get_engine(name).accumulate(X, params, chunk_size=700, sample_weight=w)
    ref = engines.get_engine("numpy").accumulate(X, params, sample_weight=w)
    _assert_same_statistics(got, ref, 1e-12)
    # The reference, written out: every sum carries w_i.
    log_norm, log_resp = engines.get_engine("numpy").e_step(X, params)
    assert ref.log_likelihood_sum == pytest.approx(w @ log_norm, rel=1e-13)
    assert relative_difference(ref.resp_sum, w @ np.exp(log_resp)) < 1e-13
    assert ref.weight_sum == pytest.approx(w.sum(), rel=1e-15)
    # Unit weights are no weights.
    ones = engines.get_engine(name).accumulate(X, params, sample_weight=np.ones(len(X)))
    _assert_same_statistics(ones, engines.get_engine(name).accumulate(X, params), 1e-13)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_weighted_float32_passes_agree_between_engines(covariance_type):
    """float32: numpy sums in float32, numba per tile, so 1e-12 is out of reach; 1e-5 is not."""
    X = mixture(5000).astype(np.float32)
    params = _cast(some_params(X, 4, covariance_type), np.float32)
    w = np.random.default_rng(5).exponential(size=len(X))
    exact = engines.get_engine("numpy").accumulate(
        X.astype(np.float64), _cast(params, np.float64), sample_weight=w
    )
    for name in engines.engine_names():
        got = engines.get_engine(name).accumulate(X, params, sample_weight=w)
        assert got.second.dtype == np.float32
        _assert_same_statistics(got, exact, 1e-5)


def test_weighted_statistics_add_their_weights():
    X = mixture(1000)
    params = some_params(X, 4, "full")
    w = np.random.default_rng(6).uniform(0.0, 2.0, len(X))
    numpy_engine = engines.get_engine("numpy")
    a = numpy_engine.accumulate(X[:300], params, sample_weight=w[:300])
    b = numpy_engine.accumulate(X[300:], params, sample_weight=w[300:])
    whole = numpy_engine.accumulate(X, params, sample_weight=w)
    total = a + b
    assert total.n_samples == 1000
    assert total.weight_sum == pytest.approx(w.sum(), rel=1e-14)
    _assert_same_statistics(total, whole, 1e-13)
    # The mean log-likelihood is per unit of weight, not per row.
    assert total.mean_log_likelihood == pytest.approx(total.log_likelihood_sum / w.sum())
    # Built without a weight (as an unweighted engine or a Dask reduction may): the rows.
    plain = base.SufficientStatistics(a.resp_sum, a.first, a.second, a.centers, -5.0, 10)
    assert plain.weight_sum == 10.0 and plain.mean_log_likelihood == -0.5
    assert (plain + plain).weight_sum == 20.0


def test_accumulate_statistics_passes_the_weights_on():
    X = mixture(500)
    params = some_params(X, 3, "diag")
    w = np.arange(500, dtype=float) % 3
    got = engines.accumulate_statistics(X, params, engine="numpy", sample_weight=w)
    repeated = engines.accumulate_statistics(np.repeat(X, w.astype(int), axis=0), params)
    _assert_same_statistics(got, repeated, 1e-12)
