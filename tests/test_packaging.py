"""gmm_core is a library of its own: it builds a wheel, installs without the dashboard's
dependencies, and importing it never pulls in the app's stack.
"""

import subprocess
import sys
import textwrap
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: The library's modules (everything in gmm_core but the dashboard subpackage).
LIBRARY_MODULES = [
    "gmm_core",
    *sorted(f"gmm_core.{p.stem}" for p in (ROOT / "gmm_core").glob("*.py") if p.stem != "__init__"),
    *sorted(
        f"gmm_core.engines.{p.stem}"
        for p in (ROOT / "gmm_core" / "engines").glob("*.py")
        if p.stem != "__init__"
    ),
]
#: What a library import must never bring in.
APP_STACK = (
    "streamlit",
    "plotly",
    "umap",
    "pynndescent",
    "openpyxl",
    "pyarrow",
    "gmm_core.dashboard",
    "dask",
    "distributed",
)


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys\nprint('\\n'.join(sys.modules))"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return set(out.stdout.split())


@pytest.mark.parametrize("module", LIBRARY_MODULES)
def test_importing_the_library_never_imports_the_app(module):
    # scikit-learn imports pandas (and pandas pyarrow) by itself when they are installed: what
    # counts is what importing our module adds to what its own dependencies already load.
    baseline = _modules_after("import numpy, scipy.linalg, scipy.special, sklearn.utils")
    loaded = _modules_after(f"import {module}") - baseline
    leaked = sorted(m for m in loaded if m.split(".")[0] in APP_STACK or m.startswith(APP_STACK))
    assert not leaked, leaked
    assert not any(m.startswith("pandas.io") for m in loaded), "pandas I/O imported"


def test_the_dashboard_never_imports_streamlit():
    modules = sorted(p.stem for p in (ROOT / "gmm_core" / "dashboard").glob("*.py"))
    code = "\n".join(f"import gmm_core.dashboard.{m}" for m in modules)
    assert "streamlit" not in {m.split(".")[0] for m in _modules_after(code)}


@pytest.mark.slow
def test_wheel_installs_and_fits_without_the_dashboard_stack(tmp_path):
    wheel_dir = tmp_path / "wheel"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(wheel_dir), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheel_dir.glob("gmm_core-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(wheel)],
        check=True,
        capture_output=True,
    )
    script = textwrap.dedent(
        """
        import importlib.util, sys
        import numpy as np
        import gmm_core
        X = np.random.default_rng(0).normal(size=(500, 2))
        X[250:] += 6
        model = gmm_core.GaussianMixtureEM(2, random_state=0).fit(X)
        assert model.converged_ and len(model.history_) == model.n_iter_ + 1
        missing = [m for m in ("streamlit", "plotly", "umap") if importlib.util.find_spec(m)]
        assert not missing, missing
        print("fitted", model.n_iter_)
        """
    )
    out = subprocess.run([str(python), "-c", script], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.startswith("fitted")
