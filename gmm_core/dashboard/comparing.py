"""Our fit next to scikit-learn's GaussianMixture, ready for the Compare page."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go

from . import figures
from .fitting import FitResult


@dataclass(frozen=True, eq=False)
class Comparison:
    """Our fit next to scikit-learn's, ready to show."""

    mode: str
    ari: float
    components: pd.DataFrame
    summary: pd.DataFrame
    scatter: go.Figure
    drift: go.Figure | None
    sentences: tuple[str, ...]


def compare_runs(
    result: FitResult,
    *,
    mode: str,
    cost: str = "euclidean",
    seed: int = 42,
    progress: Callable[[int, int], None] | None = None,
) -> Comparison:
    """Fit scikit-learn on the same rows and compare it with ``result``.

    Parameters
    ----------
    result : FitResult
    mode : {'same start', 'independent'}
        'same start' steps scikit-learn from our initial parameters and measures the drift
        per iteration; 'independent' lets scikit-learn choose its own start with ``seed``.
    cost : str
        Matching cost, a key of :data:`gmm_core.compare.MATCH_COSTS`.
    seed : int
        scikit-learn's ``random_state`` in independent mode.
    progress : callable, optional
        ``progress(done, total)`` while stepping scikit-learn.

    Returns
    -------
    Comparison
    """
    from gmm_core import compare

    view, ours, s = result.view, result.model, result.settings
    sentences: list[str] = []
    drift_fig = None
    if mode == "same start":
        drift = compare.same_start_drift(
            view.X, ours.history_, reg_covar=s.reg_covar, progress=progress
        )
        theirs, seconds_theirs = drift.sklearn_model, drift.seconds_per_iteration
        drift_fig = figures.drift_figure(drift.iterations, drift.as_series())
        worst = drift.worst
        sentences.append(
            f"Started from the same parameters, the two runs differ by at most {worst:.1e} "
            "(relative) over all iterations"
            + (
                ": that is machine precision, so both compute the same EM."
                if worst < 1e-9
                else ". That is more than rounding: the runs have drifted apart, which happens "
                "when EM passes close to a saddle point and rounding decides the way."
            )
        )
    elif mode == "independent":
        theirs, seconds_theirs = compare.fit_sklearn(
            view.X,
            s.n_components,
            covariance_type=s.covariance_type,
            random_state=seed,
            tol=s.tol,
            reg_covar=s.reg_covar,
            max_iter=s.max_iter,
            n_init=s.n_init,
        )
        ll_ours, ll_theirs = ours.score(view.X), theirs.score(view.X)
        if abs(ll_ours - ll_theirs) <= 1e-9 * max(1.0, abs(ll_ours)):
            sentences.append("Both runs reached the same log-likelihood.")
        else:
            winner = "Our run" if ll_ours > ll_theirs else "scikit-learn's run"
            sentences.append(
                f"{winner} reached the higher mean log-likelihood ({max(ll_ours, ll_theirs):.6f} "
                f"vs {min(ll_ours, ll_theirs):.6f}): the two started differently and EM found "
                "different local optima."
            )
    else:
        raise ValueError(f"mode must be 'same start' or 'independent'; got {mode!r}.")
    mine = ours.history_[-1].params
    matching = compare.match_components(mine, compare.params_of(theirs), cost=cost)
    labels_theirs = matching.relabel_theirs(theirs.predict(view.X))
    ari = compare.agreement(result.labels, labels_theirs)
    summary = compare.summary_table(
        view.X,
        ours,
        theirs,
        seconds_ours=result.seconds_per_iteration,
        seconds_theirs=seconds_theirs,
        true_labels=view.true_labels,
    )
    means_o, covs_o = view.display.gaussians(mine)
    theirs_params = compare.params_of(theirs)
    means_t, covs_t = view.display.gaussians(theirs_params)
    if means_t is not None:
        # Reorder scikit-learn's components so that its k-th is the partner of our k-th.
        means_t, covs_t = means_t[matching.partner], covs_t[matching.partner]
    drawn = result.drawn
    scatter = figures.side_by_side_figure(
        view.points[drawn],
        figures.ClusterView("Ours", result.labels[drawn], means_o, covs_o),
        figures.ClusterView(
            "scikit-learn (colours matched)", labels_theirs[drawn], means_t, covs_t
        ),
        axis_titles=view.axis_titles,
    )
    return Comparison(
        mode,
        ari,
        compare.component_table(mine, theirs_params, matching),
        summary,
        scatter,
        drift_fig,
        tuple(sentences),
    )
