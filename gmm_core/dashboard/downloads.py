"""The Fit page's downloads: every loaded row with its label (CSV), the fit with its history
(JSON), and a report of the run (HTML) that opens offline."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import asdict

import numpy as np
import pandas as pd

from gmm_core.model import GaussianMixtureEM

from .data import safe_csv_bytes
from .fit_views import parameter_table
from .fitting import FitResult, FitView

#: Status of a row that EM fitted, in the CSV's status column.
FITTED = "fitted"


def _free_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name_2``, ``name_3``, ... if the table already has a column of that name."""
    new, k = name, 1
    while new in taken:
        k += 1
        new = f"{name}_{k}"
    taken.add(new)
    return new


def labelled_rows_csv(table: pd.DataFrame, view: FitView, model: GaussianMixtureEM) -> bytes:
    """Every row of the loaded table, with its label and responsibilities when it was fitted.

    Rows that EM did not see (dropped for a missing value in a chosen column) are kept, with
    empty label and responsibilities and a status saying why, so that the file lines up with
    the table it came from, row for row. Text cells that a spreadsheet would run as formulas
    are neutralised.

    Parameters
    ----------
    table : DataFrame of shape (n_rows, n_columns)
        The loaded table (``view.row_index`` are positions in it).
    view : FitView
    model : GaussianMixtureEM
        Fitted on ``view.X``.

    Returns
    -------
    bytes
        UTF-8 CSV of n_rows rows: ``row_id`` (the row's position in the table, from 0), the
        table's columns, ``component`` (empty when not fitted), ``responsibility_0`` ..
        ``responsibility_{K-1}`` (empty when not fitted) and ``status``: "fitted",
        "fitted (imputed: <columns>)" for rows whose missing values were filled in,
        "dropped: missing value in <columns>", "dropped: no weight in <weight column>", or
        "fitted (weight 0: does not count)". A weighted fit's weight column is among the
        table's columns, so every row keeps its weight. A name the table already uses gets a
        suffix (``component_2``).
    """
    n = len(table)
    resp = model.predict_proba(view.X)
    taken = {str(c) for c in table.columns}
    names = {key: _free_name(key, taken) for key in ("row_id", "component", "status")}
    resp_names = [_free_name(f"responsibility_{k}", taken) for k in range(resp.shape[1])]
    out = table.reset_index(drop=True)  # a copy, numbered by position
    out.insert(0, names["row_id"], np.arange(n))
    fitted = np.zeros(n, dtype=bool)
    fitted[view.row_index] = True
    component = pd.array([pd.NA] * n, dtype="Int64")
    component[view.row_index] = resp.argmax(axis=1)
    out[names["component"]] = component
    full = np.full((n, resp.shape[1]), np.nan)
    full[view.row_index] = resp
    for k, name in enumerate(resp_names):
        out[name] = full[:, k]
    out[names["status"]] = _row_status(table, view, fitted)
    return safe_csv_bytes(out)


def _weight_status(table: pd.DataFrame, view: FitView, fitted: np.ndarray, status) -> None:
    """Rows dropped for a missing weight, and fitted rows of weight 0, said in `status`."""
    name = view.weight_column
    if name is None or name not in table.columns:
        return
    weight = table[name].to_numpy(dtype=np.float64, na_value=np.nan)
    unweighted = np.isnan(weight) & ~fitted
    status[unweighted] = [
        f"dropped: no weight in {name}"
        + ("" if s == "dropped: not fitted" else f"; {s.removeprefix('dropped: ')}")
        for s in status[unweighted]
    ]
    zero = fitted & (weight == 0)
    status[zero] = [f"{s} (weight 0: does not count)" for s in status[zero]]


def _row_status(table: pd.DataFrame, view: FitView, fitted: np.ndarray) -> np.ndarray:
    """ "fitted", "fitted (imputed: a)" or "dropped: missing value in a, b", one per row."""
    columns = [c for c in view.source_columns if c in table.columns]
    status = np.full(len(table), FITTED, dtype=object)
    status[~fitted] = "dropped: not fitted"
    if not columns:
        _weight_status(table, view, fitted, status)
        return status
    values = table[columns].to_numpy(dtype=np.float64, na_value=np.nan)
    missing = ~np.isfinite(values)  # prepare treats infinite values as missing too
    patterns, inverse = np.unique(missing, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    for p, pattern in enumerate(patterns):
        if not pattern.any():
            continue
        which = ", ".join(str(c) for c, hit in zip(columns, pattern, strict=True) if hit)
        rows = inverse == p
        status[rows & ~fitted] = f"dropped: missing value in {which}"
        status[rows & fitted] = f"fitted (imputed: {which})"
    _weight_status(table, view, fitted, status)
    return status


def fit_json(result: FitResult, columns: Sequence[str], dataset_name: str | None = None) -> str:
    """The settings, the fitted parameters and the whole history, as JSON.

    Parameters
    ----------
    result : FitResult
    columns : sequence of str
        The d feature names.
    dataset_name : str, optional
        Stored as ``"data"``.

    Returns
    -------
    str
    """
    model = result.model
    payload = {
        "data": dataset_name,
        "fitted_on": result.view.space,
        "settings": asdict(result.settings),
        "features": list(columns),
        "sample_weight": None
        if result.view.sample_weight is None
        else {
            "column": result.view.weight_column,
            "rows": len(result.view.sample_weight),
            "total": float(result.view.n_observations),
        },
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


def _settings_line(result: FitResult) -> str:
    s = result.settings
    return (
        f"K = {s.n_components}, {s.covariance_type} covariance, {s.init_params} start, "
        f"seed {s.random_state}, {s.n_init} restart{'s' if s.n_init != 1 else ''}, "
        f"tolerance {s.tol:g}, at most {s.max_iter} iterations, {s.regularisation}"
    )


def report_html(result: FitResult, dataset_name: str) -> str:
    """A standalone HTML report of the fit: what was fitted, how it went, and its figures.

    Titled with the data's name and the settings; holds the run's summary and messages, the
    fitted parameters, the animation, the log-likelihood and the mixing proportions. plotly.js
    is inlined once (with the first figure), so the file opens without internet access; about
    4.5 MB of it is JavaScript. The animation does not start on its own.

    Parameters
    ----------
    result : FitResult
    dataset_name : str
        Shown in the title (escaped).

    Returns
    -------
    str
        A complete ``<html>`` document.
    """
    model, view = result.model, result.view
    name = html.escape(dataset_name)
    settings = html.escape(_settings_line(result))
    figures = [
        fig.to_html(include_plotlyjs=(i == 0), full_html=False, auto_play=False)
        for i, fig in enumerate((result.animation, result.log_likelihood, result.weights))
    ]
    rows = f"{len(view.X):,} rows"
    if view.sample_weight is not None:
        total = view.n_observations
        shown = f"{total:,.0f}" if total == round(total) else f"{total:,.6g}"
        rows += f", weighted by the column {view.weight_column} (total weight {shown})"
    facts = [
        f"Fitted on {view.space} of {rows}.",
        f"{model.n_iter_} iterations; converged: {result.convergence}; final mean "
        f"log-likelihood {model.history_[-1].log_likelihood:.6g}; {result.timing}.",
    ]
    notes = [*result.messages, *([result.advice] if result.advice else [])]
    # Four significant digits as the table holds them: pandas' default pads them with zeros
    # that are not digits of the fit (-1.19158 would print as -1.1920).
    params = parameter_table(model, view.feature_names).to_html(
        index=False, border=0, float_format=lambda v: f"{v:.4g}"
    )
    items = "".join(f"<li>{html.escape(text)}</li>" for text in (*facts, *notes))
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>EM fit of {name}: {settings}</title>
<style>
body {{ font-family: sans-serif; margin: 2em auto; max-width: 1100px; }}
table {{ border-collapse: collapse; }} td, th {{ padding: 2px 8px; text-align: right; }}
</style>
</head>
<body>
<h1>EM fit of {name}</h1>
<p>{settings}</p>
<ul>{items}</ul>
<h2>EM iterations</h2>
{figures[0]}
<h2>Log-likelihood</h2>
{figures[1]}
<h2>Mixing proportions</h2>
{figures[2]}
<h2>Fitted parameters</h2>
{params}
</body>
</html>
"""
