"""Model selection for the dashboard: mclust's fourteen models in words, the sweep as the page
runs and shows it, the best model's classification and uncertainty, the hand-over to Fit.

Nothing here knows about Streamlit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from gmm_core import selection
from gmm_core.model import GaussianMixtureEM
from gmm_core.params import (
    COVARIANCE_TYPES,
    MCLUST_MODELS,
    SKLEARN_TO_MCLUST,
    covariance_model,
)
from gmm_core.prior import MODELS_WITHOUT_PRIOR, PRIOR_MODELS

from . import figures
from .animation import stratified_sample
from .data import safe_csv_bytes
from .fitting import MAX_ITERATIONS, FitSettings, FitView

#: scikit-learn's four models by mclust's names, in mclust's order (VII, VVI, EEE, VVV).
SKLEARN_FOUR: tuple[str, ...] = tuple(m for m in MCLUST_MODELS if m in SKLEARN_TO_MCLUST.values())

#: The page's default largest K, mclust's ``G = 1:9`` (bounded by the rows).
DEFAULT_MAX_K = 9

#: Starts that draw at random, so that restarts can find other optima ('hc' and 'wide' on one
#: seed are one start however many restarts are asked for: 'hc' is deterministic).
RANDOM_STARTS: tuple[str, ...] = ("kmeans", "k-means++", "random", "random_from_data", "wide")

#: The criteria the page offers, in tab order.
CRITERIA: tuple[str, ...] = ("bic", "icl", "aic")

_SKLEARN_NAME = {mclust: name for name, mclust in SKLEARN_TO_MCLUST.items()}
_ATTRIBUTES = ("volume", "shape", "orientation")
_ADJECTIVE = {"E": "equal", "V": "variable"}


def model_words(name: str) -> str:
    """mclust's model, or scikit-learn's name for one, in words.

    Celeux and Govaert's ``Sigma_k = lambda_k D_k A_k D_k^T``: volume, shape, orientation
    equal across components (E), variable (V) or the identity (I), e.g. "ellipsoidal, equal
    volume, shape and orientation" for EEE.

    Parameters
    ----------
    name : str
        Any ``covariance_type`` (:data:`gmm_core.params.ALL_COVARIANCE_TYPES`).

    Returns
    -------
    str
    """
    letters = covariance_model(name).mclust
    if letters[1:] == "II":
        family = "spherical"
    elif letters[2] == "I":
        family = "diagonal (axis-aligned)"
    else:
        family = "ellipsoidal"
    groups: list[tuple[str, list[str]]] = []
    for letter, attribute in zip(letters, _ATTRIBUTES, strict=True):
        if letter == "I":
            continue
        adjective = _ADJECTIVE[letter]
        if groups and groups[-1][0] == adjective:
            groups[-1][1].append(attribute)
        else:
            groups.append((adjective, [attribute]))
    parts = []
    for adjective, attributes in groups:
        named = (
            attributes[0]
            if len(attributes) == 1
            else ", ".join(attributes[:-1]) + " and " + attributes[-1]
        )
        parts.append(f"{adjective} {named}")
    return ", ".join([family, *parts])


def describe_model(name: str) -> str:
    """ "EEE: ellipsoidal, equal volume, shape and orientation (scikit-learn's tied)"."""
    letters = covariance_model(name).mclust
    alias = _SKLEARN_NAME.get(letters)
    extra = f" (scikit-learn's {alias})" if alias else ""
    return f"{letters}: {model_words(name)}{extra}"


#: How the page explains mclust's three letters (the help of every model control).
LETTERS_HELP = (
    "mclust's names: three letters for the **volume**, **shape** and **orientation** of the "
    "components' ellipses (Celeux and Govaert's Σₖ = λₖ Dₖ Aₖ Dₖᵀ), each **E**qual across "
    "components, **V**ariable, or **I** (the identity: round, or aligned with the axes). "
    "scikit-learn has four of them: full = VVV, tied = EEE, diag = VVI, spherical = VII."
)


def contains(outer: str, inner: str) -> bool:
    """Whether every covariance of model ``inner`` is also one of ``outer`` (I ⊂ E ⊂ V).

    Parameters
    ----------
    outer, inner : str
        ``covariance_type`` names.
    """
    order = {"I": 0, "E": 1, "V": 2}
    a, b = covariance_model(outer).mclust, covariance_model(inner).mclust
    return all(order[x] >= order[y] for x, y in zip(a, b, strict=True))


def nearest_sklearn(name: str, n_components: int, n_features: int) -> str:
    """scikit-learn's covariance type closest to a model: the one of its four that contains
    it with the fewest parameters at this K and d (for its own four: itself).

    Returns
    -------
    str
        'full', 'tied', 'diag' or 'spherical'.
    """
    model = covariance_model(name)
    if model.closed_form:
        return _SKLEARN_NAME[model.mclust]
    containing = [t for t in COVARIANCE_TYPES if contains(t, name)]
    return min(
        containing,
        key=lambda t: (covariance_model(t).n_parameters(n_components, n_features), t),
    )


def sklearn_lacks(name: str, n_components: int, n_features: int) -> str | None:
    """What the Compare page says when scikit-learn has no such model (None when it has).

    Parameters
    ----------
    name : str
        Our fit's covariance type.
    n_components, n_features : int
        Of the fit, to name the nearest of scikit-learn's four by its parameter count.
    """
    model = covariance_model(name)
    if model.closed_form:
        return None
    near = nearest_sklearn(name, n_components, n_features)
    ours = model.n_parameters(n_components, n_features)
    theirs = covariance_model(near).n_parameters(n_components, n_features)
    return (
        f"scikit-learn's GaussianMixture has no **{model.mclust}** model "
        f"({model_words(name)}): it has only four of mclust's fourteen, full (VVV), tied "
        f"(EEE), diag (VVI) and spherical (VII), so it cannot fit this one. The nearest of "
        f"them is **{near}** ({covariance_model(near).mclust}: {model_words(near)}), which "
        f"contains {model.mclust} with {theirs} covariance parameters instead of {ours} at "
        f"K = {n_components}. To compare with scikit-learn, choose {near} (or another of its "
        "four) on the **Fit** page."
    )


# --------------------------------------------------------------------------- the sweep
@dataclass(frozen=True)
class SweepChoices:
    """What the page's fields ask of :func:`gmm_core.selection.sweep`.

    Attributes
    ----------
    max_k : int
    models : tuple of str
        Covariance types (mclust's names), in the order chosen.
    init_params : str
    n_init : int
        Restarts per cell; 1 whatever was asked when the start is deterministic ('hc').
    tol : float
    random_state : int
    prior : None or 'default'
        mclust's conjugate prior in every cell instead of reg_covar; the models mclust has
        no prior for are then left out (:attr:`swept_models`, :meth:`left_out`).
    """

    max_k: int
    models: tuple[str, ...] = MCLUST_MODELS
    init_params: str = "hc"
    n_init: int = 1
    tol: float = selection.SWEEP_TOL
    random_state: int = 42
    prior: str | None = None

    def __post_init__(self) -> None:
        # Restarts of a deterministic start would repeat one fit.
        if self.init_params not in RANDOM_STARTS and self.n_init != 1:
            object.__setattr__(self, "n_init", 1)
        object.__setattr__(self, "models", tuple(m for m in MCLUST_MODELS if m in self.models))

    @property
    def swept_models(self) -> tuple[str, ...]:
        """The models the sweep fits: the chosen ones, without EVE, VEE, VVE and EVV when
        the prior is chosen (mclust has none for them; ``Mclust`` leaves them out too)."""
        if self.prior is None:
            return self.models
        return tuple(m for m in self.models if m in PRIOR_MODELS)

    def left_out(self) -> tuple[str, ...]:
        """The chosen models the sweep leaves out (those without a prior, with the prior)."""
        return tuple(m for m in self.models if m not in self.swept_models)


def prior_note(choices: SweepChoices) -> str | None:
    """What the prior changes in the sweep, in words, or None without it."""
    if choices.prior is None:
        return None
    left = choices.left_out()
    text = (
        "Every fit uses mclust's conjugate prior instead of reg_covar, as Mclust with "
        "priorControl() does. mclust has no prior for "
        + ", ".join(MODELS_WITHOUT_PRIOR[:-1])
        + f" and {MODELS_WITHOUT_PRIOR[-1]}"
    )
    if set(left) == set(MODELS_WITHOUT_PRIOR):
        return text + ", so the sweep leaves them out."
    if left:
        return text + f", so the sweep leaves out {' and '.join(left)}."
    return text + "; none of them is chosen."


def weighted_note(view: FitView) -> str | None:
    """ "The sweep is weighted: ..." for a weighted view, else None."""
    w = view.sample_weight
    if w is None:
        return None
    total = float(w.sum())
    whole = total == round(total)
    shown = f"{total:,.0f} observations" if whole else f"a total weight of {total:,.6g}"
    column = f"`{view.weight_column}`" if view.weight_column else "the weight column"
    return (
        f"The sweep is weighted: each row counts by its weight in {column}, so the {len(w):,} "
        f"rows stand for {shown}; every fit is weighted and BIC's n is the total weight."
    )


def run_sweep(
    X: np.ndarray,
    choices: SweepChoices,
    progress: Callable[[int, int, str], None] | None = None,
    *,
    sample_weight: np.ndarray | None = None,
) -> selection.SweepResult:
    """The sweep of ``choices`` on the rows EM fits.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    choices : SweepChoices
        Its :attr:`SweepChoices.swept_models` are fitted (with the prior: those that take one).
    progress : callable, optional
        As :func:`gmm_core.selection.sweep`'s: ``progress(done, total, label)`` per cell.
    sample_weight : ndarray of shape (n_samples,), optional
        Each row's weight (``FitView.sample_weight``): every cell and criterion weighted.

    Returns
    -------
    gmm_core.selection.SweepResult

    Raises
    ------
    ValueError
        No model left to fit (only models without a prior chosen, with the prior).
    """
    models = choices.swept_models
    if not models:
        raise ValueError(
            "mclust has no conjugate prior for "
            + ", ".join(choices.models)
            + ": choose another model, or reg_covar."
        )
    return selection.sweep(
        X,
        int(min(choices.max_k, len(X), selection.MAX_SWEEP_COMPONENTS)),
        covariance_types=models,
        n_init=choices.n_init,
        random_state=choices.random_state,
        init_params=choices.init_params,
        tol=choices.tol,
        progress=progress,
        sample_weight=sample_weight,
        prior=choices.prior,
    )


def direction_note(mclust_sign: bool) -> str:
    """The sentence next to the criteria, in the sign shown."""
    if mclust_sign:
        return (
            "Shown in R's mclust's sign: **higher is better**, BIC = 2 log L − p log n, the "
            "negative of scikit-learn's BIC (and so for ICL and AIC)."
        )
    return selection.DIRECTION_NOTE


def cell_status(row: pd.Series) -> str:
    """'failed', 'degenerate' or 'sound', for a row of the sweep's table."""
    if row["error"]:
        return "failed"
    return "degenerate" if bool(row["degenerate"]) else "sound"


def failed_caption(table: pd.DataFrame) -> str | None:
    """How many cells failed and are missing from the plot (mclust's NA), or None."""
    failed = table[table["error"] != ""]
    if failed.empty:
        return None
    cells = ", ".join(
        f"{r.covariance_type} K = {r.n_components}" for r in failed.head(6).itertuples()
    )
    more = f" and {len(failed) - 6} more" if len(failed) > 6 else ""
    return (
        f"{len(failed)} of {len(table)} fits failed and are missing from the plot (mclust "
        f"reports them as NA): {cells}{more}. The table's error column says why."
    )


def criterion_figure(
    result: selection.SweepResult, criterion: str, *, mclust_sign: bool = False
) -> go.Figure:
    """mclust's BIC plot (or ICL, AIC): the criterion against K, a line and symbol per model.

    Degenerate cells are hollow grey markers (their reason in the hover), failed ones gaps,
    the best sound cell a star.
    """
    try:
        best = result.best(criterion)
        choice = (best["covariance_type"], int(best["n_components"]))
    except ValueError:
        choice = None
    return figures.criteria_figure(
        result.table,
        criterion.upper(),
        choice,
        mclust_sign=mclust_sign,
        styles=figures.MCLUST_STYLES,
        height=460,
    )


def best_line(result: selection.SweepResult, criterion: str, *, mclust_sign: bool) -> str | None:
    """ "Best by BIC: **EEE, K = 3** (EEE: ...), BIC 2,314.30 ..." or None without a sound fit."""
    try:
        best = result.best(criterion)
    except ValueError:
        return None
    name = criterion.upper()
    value = -best[criterion] if mclust_sign else best[criterion]
    sign = "mclust's sign, higher is better" if mclust_sign else "lower is better"
    return (
        f"Best by {name}: **{best['covariance_type']}, K = {int(best['n_components'])}** "
        f"({describe_model(best['covariance_type'])}); {name} {value:,.2f} ({sign}), among "
        "the fits that are not degenerate."
    )


def best_summary(
    result: selection.SweepResult, cell: tuple[str, int], *, mclust_sign: bool = False
) -> str:
    """The model of ``cell`` in words with its numbers (Markdown), for the uncertainty plot.

    E.g. "**EEE**: ellipsoidal, equal volume, shape and orientation (scikit-learn's tied) ·
    BIC 824.69 (lower is better) · log-likelihood −400.09 · 11 parameters · weights 0.47,
    0.36, 0.17".
    """
    table = result.table
    row = table[(table["covariance_type"] == cell[0]) & (table["n_components"] == cell[1])].iloc[0]
    # A weighted sweep's mean log-likelihood is per observation: n is the total weight.
    n = result.models[cell].history_.weight_sum if cell in result.models else None
    bic = -row["bic"] if mclust_sign else row["bic"]
    sign = "mclust's sign" if mclust_sign else "lower is better"
    letters, _, words = describe_model(cell[0]).partition(": ")
    parts = [f"**{letters}**: {words}", f"BIC {bic:,.2f} ({sign})"]
    if n is not None:
        parts.append(f"log-likelihood {row['log_likelihood'] * n:,.2f}")
    parts.append(f"{int(row['n_parameters'])} parameters")
    if cell in result.models:
        weights = np.sort(result.models[cell].weights_)[::-1]
        parts.append("weights " + ", ".join(f"{w:.2f}" for w in weights))
    return " · ".join(parts)


#: The status column the page's table leads with.
STATUS_TITLE = "Status"
_STATUS_TEXT = {"sound": "sound", "degenerate": "⚠ degenerate", "failed": "✕ failed"}


def people_table(table: pd.DataFrame, *, mclust_sign: bool = False) -> pd.DataFrame:
    """The sweep's table for the page: a status column first, headers for people
    (:data:`gmm_core.selection.COLUMN_TITLES`), the criteria in the sign shown, no error
    column when no fit failed.

    Returns
    -------
    pandas.DataFrame
        One row per cell, in sweep order.
    """
    shown = table.copy()
    status = shown.apply(cell_status, axis=1).map(_STATUS_TEXT)
    shown.insert(0, STATUS_TITLE, status)
    if (shown["error"] == "").all():
        shown = shown.drop(columns="error")
    titles = dict(selection.COLUMN_TITLES)
    if mclust_sign:
        for c in ("bic", "aic", "icl"):
            shown[c] = -shown[c]
            titles[c] = f"{titles[c]} (mclust)"
    return shown.rename(columns=titles)


def styled_table(shown: pd.DataFrame):
    """:func:`people_table` with its degenerate and failed rows greyed (a pandas Styler)."""

    def grey(row: pd.Series) -> list[str]:
        bad = row[STATUS_TITLE] != "sound"
        return ["color: #8a8a8a; background-color: #f4f4f4" if bad else ""] * len(row)

    titles = selection.COLUMN_TITLES
    formats = {c: "{:,.2f}" for c in shown.columns if c.split(" (")[0] in ("BIC", "AIC", "ICL")}
    formats[titles["tol"]] = "{:.0e}"
    formats[titles["log_likelihood"]] = "{:.4f}"
    formats = {c: f for c, f in formats.items() if c in shown.columns}
    return shown.style.apply(grey, axis=1).format(formats, na_rep="NA")


def table_csv(table: pd.DataFrame) -> bytes:
    """The sweep's own table as CSV: machine column names, scikit-learn's sign.

    Its ``log_likelihood`` is written as ``mean_log_likelihood``: it is per row (per unit
    of weight), where mclust's ``loglik`` and the page's best-model line give the total.
    """
    return safe_csv_bytes(table.rename(columns={"log_likelihood": "mean_log_likelihood"}))


# --------------------------------------------------------------------------- the best model
def cell_label(row: pd.Series) -> str:
    """ "EEE, K = 3" with what is wrong with the cell, for the hand-over's choice."""
    status = cell_status(row)
    label = f"{row['covariance_type']}, K = {int(row['n_components'])}"
    return label if status == "sound" else f"{label} ({status})"


def classification_figure(
    model: GaussianMixtureEM, view: FitView, *, max_points: int = 5000
) -> go.Figure:
    """mclust's ``plot(..., what = "uncertainty")`` in the page's 2-D view.

    Points coloured by their MAP component, larger and darker the less sure they are
    (``1 - max_k z_ik``), with the components' ellipses when the view is linear.

    Parameters
    ----------
    model : GaussianMixtureEM
        Fitted on ``view.X``.
    view : FitView
    max_points : int
        At most this many points drawn (a stratified sample; the fit used all rows).

    Returns
    -------
    plotly.graph_objects.Figure
    """
    resp = model.predict_proba(view.X)
    labels = resp.argmax(axis=1)
    uncertainty = 1.0 - resp.max(axis=1)
    drawn = stratified_sample(labels, max_points=max_points)
    means, covs = view.display.gaussians(model.history_[-1].params)
    return figures.uncertainty_figure(
        view.points[drawn],
        labels[drawn],
        uncertainty[drawn],
        means=means,
        covariances=covs,
        axis_titles=view.axis_titles,
        title="Classification and uncertainty",
    )


def hand_over(
    result: selection.SweepResult, cell: tuple[str, int], choices: SweepChoices
) -> tuple[FitSettings, str | None]:
    """The Fit page's settings that refit one cell as the sweep fitted it, and a warning.

    The cell's own tolerance (the sweep's, or the polish tolerance it was refitted to), the
    sweep's start, restarts, seed and iteration limit.

    Returns
    -------
    settings : FitSettings
    warning : str or None
        For a degenerate cell: that it is one, and why.
    """
    row = result.table[
        (result.table["covariance_type"] == cell[0]) & (result.table["n_components"] == cell[1])
    ].iloc[0]
    settings = FitSettings(
        n_components=int(cell[1]),
        max_iter=min(selection.SWEEP_MAX_ITER, MAX_ITERATIONS),
        tol=float(row["tol"]),
        # scikit-learn's name for its four, as the Fit page's control shows them.
        covariance_type=_SKLEARN_NAME.get(cell[0], cell[0]),
        init_params=choices.init_params,
        random_state=int(choices.random_state),
        n_init=int(choices.n_init),
        prior=choices.prior,
    )
    warning = None
    if cell_status(row) != "sound":
        warning = (
            f"{cell[0]}, K = {cell[1]} is degenerate in the sweep ({row['degeneracy']}), so "
            "model selection would not choose it; it is fitted all the same."
        )
    return settings, warning


def cells(result: selection.SweepResult) -> Sequence[tuple[str, int]]:
    """Every fitted cell (failed ones have no model), in the table's order."""
    return [
        (r.covariance_type, int(r.n_components))
        for r in result.table.itertuples()
        if (r.covariance_type, int(r.n_components)) in result.models
    ]
