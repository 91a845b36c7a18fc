"""gmm_core: Gaussian mixtures fitted by EM, exactly as scikit-learn does, fast, with a history.

The library: the estimator (:class:`GaussianMixtureEM`), the EM functions (:mod:`gmm_core.em`),
the E-step engines (:mod:`gmm_core.engines`), parameters and covariance types
(:mod:`gmm_core.params`), starts (:mod:`gmm_core.init`), criteria (:mod:`gmm_core.criteria`),
model selection and diagnostics (:mod:`gmm_core.selection`), the comparison with scikit-learn
(:mod:`gmm_core.compare`) and the notebook interface (:mod:`gmm_core.notebook`). The app's
services live in :mod:`gmm_core.dashboard`, which the library never imports. Importing
gmm_core never imports numba: the compiled engine loads it on its first use.
"""

from .em import FitHistory, Snapshot, SufficientStatistics
from .engines import CompiledEngineMissingWarning, EngineUnavailableError
from .model import GaussianMixtureEM
from .params import COVARIANCE_TYPES, DegenerateCovarianceError, MixtureParams

__all__ = [
    "COVARIANCE_TYPES",
    "CompiledEngineMissingWarning",
    "DegenerateCovarianceError",
    "EngineUnavailableError",
    "FitHistory",
    "GaussianMixtureEM",
    "MixtureParams",
    "Snapshot",
    "SufficientStatistics",
]
