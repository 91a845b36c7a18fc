"""gmm_core: Gaussian mixtures fitted by EM, with a recorded history, and the figures of the app.

The package never imports streamlit. Heavy optional dependencies (umap, numba) are imported
only by the functions that need them.
"""

from .em import FitHistory, Snapshot, SufficientStatistics
from .model import GaussianMixtureEM
from .params import COVARIANCE_TYPES, DegenerateCovarianceError, MixtureParams

__all__ = [
    "COVARIANCE_TYPES",
    "DegenerateCovarianceError",
    "FitHistory",
    "GaussianMixtureEM",
    "MixtureParams",
    "Snapshot",
    "SufficientStatistics",
]
