"""The Fit page's downloads: labelled rows (CSV) and the fit with its history (JSON)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict

import pandas as pd

from gmm_core.model import GaussianMixtureEM

from .data import safe_csv_bytes
from .fitting import FitResult, FitView


def labelled_rows_csv(table: pd.DataFrame, view: FitView, model: GaussianMixtureEM) -> bytes:
    """The loaded rows that were fitted, with each row's label and responsibilities (CSV).

    Text cells that a spreadsheet would run as formulas are neutralised.
    """
    out = table.iloc[view.row_index].copy()
    resp = model.predict_proba(view.X)
    out["component"] = resp.argmax(axis=1)
    for k in range(resp.shape[1]):
        out[f"responsibility_{k}"] = resp[:, k]
    return safe_csv_bytes(out)


def fit_json(result: FitResult, columns: Sequence[str]) -> str:
    """The settings, the fitted parameters and the whole history, as JSON."""
    model = result.model
    payload = {
        "settings": asdict(result.settings),
        "features": list(columns),
        "fitted": {
            "weights": model.weights_.tolist(),
            "means": model.means_.tolist(),
            "covariances": model.covariances_.tolist(),
            "converged": bool(model.converged_),
            "n_iter": int(model.n_iter_),
            "lower_bound": float(model.lower_bound_),
        },
        "history": model.history_.to_dict(),
    }
    return json.dumps(payload, indent=1)
