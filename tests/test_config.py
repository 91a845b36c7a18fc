"""The deployment settings say what the code assumes."""

import tomllib
from pathlib import Path

from gmm_core.dashboard.data import MAX_UPLOAD_BYTES
from gmm_core.dashboard.figures import PALETTE

CONFIG = tomllib.loads((Path(__file__).parents[1] / ".streamlit" / "config.toml").read_text())


def test_security_settings():
    assert CONFIG["server"]["enableXsrfProtection"] is True
    assert CONFIG["browser"]["gatherUsageStats"] is False
    assert CONFIG["client"]["showErrorDetails"] == "none"


def test_upload_limit_matches_the_data_layer():
    assert CONFIG["server"]["maxUploadSize"] * 1024**2 == MAX_UPLOAD_BYTES


def test_theme_colours_are_the_component_colours():
    assert tuple(CONFIG["theme"]["chartCategoricalColors"]) == PALETTE
