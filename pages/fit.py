"""Fit page: the EM settings, live; the animation, convergence plots and downloads."""

import streamlit as st

from gmm_core.dashboard.fit_views import (
    covariance_tables,
    half_step_animation,
    parameter_table,
    stopping_table,
    uncertainty_view,
)
from gmm_core.dashboard.fitting import fit_view
from gmm_core.dashboard.live import describe_settings, rows_line
from pages.ui.state import (
    Pending,
    cached_for_fit,
    prepared_and_projection,
    projection_progress,
    share_link,
)
from pages.ui.widgets import autoplay, downloads, live_fit, m_step_panel, settings_widgets

st.markdown(
    "**Watch EM fit a Gaussian mixture, one iteration at a time.** Change any setting: the "
    "fit and its animation are redone at once. Your own table goes on the **Data** page."
)
SCALED = {"standard": "standardising (z-scores)", "minmax": "min-max scaling to [0, 1]"}
ready = prepared_and_projection()
if isinstance(ready, Pending):
    projection_progress(ready.job, where="The fit below is of the previous preparation.")


@st.fragment
def fit_panel() -> None:
    """Settings, fit and figures: a changed setting reruns only this."""
    current = ready if ready is not None and not isinstance(ready, Pending) else None
    n_rows = len(current.prepared.X) if current else None
    settings = settings_widgets(n_rows)
    result = st.session_state.get("fit")
    if current is not None:
        source = (st.session_state.dataset, st.session_state.preparation)
        view = fit_view(current.prepared, current.projection, fit_on=source[1].fit_on)
        result = live_fit(view, settings, source)
    if result is None:
        st.info("Choose data on the Data page; the fit appears here.")
        return
    handed = st.session_state.get("handed_over")
    if handed is not None and handed[0] == settings:
        cell, warning = handed[1], handed[2]
        st.info(
            f"From Model selection: {cell[0]}, K = {cell[1]}, with the sweep's start, seed"
            + (
                f", tolerance ({settings.tol:g}) and mclust's conjugate prior."
                if settings.prior
                else f" and tolerance ({settings.tol:g})."
            ),
            icon=":material/insights:",
        )
        if warning:
            st.warning(warning, icon=":material/warning:")
    draw(result, failed=ready is None)


def draw(result, *, failed: bool = False) -> None:
    """The fit's figures and tables; ``failed``: the current data choices could not be
    prepared (the Data page says why), so ``result`` is the last fit that could."""
    model = result.model
    fit_data, fit_prep = st.session_state.fit_source
    if (fit_data.key, fit_prep) != (st.session_state.dataset.key, st.session_state.preparation):
        if failed:
            st.warning(
                "The current choices on the **Data** page cannot be fitted (the message above "
                f"says why); the last fit, of {fit_data.name} as prepared before, is shown.",
                icon=":material/warning:",
            )
        else:
            st.warning(f"This fit is of {fit_data.name} as prepared before; the new one is coming.")
    left, right = st.columns([3, 2])
    st.session_state.setdefault("fit_show", "iterations")
    # short labels: the three fit on one line of a 390 px phone
    views = {"iterations": "EM iterations", "half": "E- and M-steps", "unsure": "Uncertainty"}
    view = right.segmented_control(
        "Show", list(views), format_func=views.get, key="fit_show", required=True
    )
    if view == "iterations":
        # A new element per fit: plotly.js would otherwise apply the old figure's running
        # animation frames to the new figure's traces (and throw "bad container").
        left.container(key="animation").plotly_chart(
            result.animation, width="stretch", key=f"animation_{st.session_state.fit_serial}"
        )
        autoplay(st.session_state.get("fit_serial", 0))
    elif view == "half":
        half = cached_for_fit("half", lambda: half_step_animation(result))
        left.plotly_chart(half, width="stretch", key="half")
    else:
        figure, unsure = cached_for_fit("unsure", lambda: uncertainty_view(result, fit_data.table))
        left.plotly_chart(figure, width="stretch", key="unsure")
        left.caption(
            "Bigger, darker points are less sure of their component (1 − max responsibility); "
            "contours show the fitted density. The least sure rows:"
        )
        left.dataframe(unsure, width="stretch")
    right.caption(describe_settings(result.settings) + rows_line(result.view, fit_data, fit_prep))
    m = right.columns(4)
    m[0].metric("iterations", model.n_iter_)
    # "yes" large, ", but degenerate" in red below it: the whole phrase as the value was cut
    # to "yes, …" in a quarter of the column, hiding the one word that qualifies it
    word, _, qualifier = result.convergence.partition(", ")
    m[1].metric("converged", word, qualifier or None, "inverse", delta_arrow="off")
    m[2].metric("mean log-lik.", f"{model.history_[-1].log_likelihood:.4f}")
    per_iteration = result.seconds_per_later_iteration or result.seconds_per_iteration
    m[3].metric("ms / iteration", f"{1e3 * per_iteration:.1f}", help=result.timing)
    if result.advice:
        right.warning(result.advice, icon=":material/warning:")
    for message in (*result.view.notes, *result.messages):
        right.info(message)
    right.plotly_chart(result.log_likelihood, width="stretch", key="loglik")
    right.plotly_chart(result.weights, width="stretch", key="weights")
    with st.expander("Stopping rules side by side (marked on the log-likelihood plot)", key="x_st"):
        st.dataframe(stopping_table(result), width="stretch", hide_index=True)
    with st.expander("The M-step, in numbers", key="x_mstep"):
        m_step_panel(result)
    st.subheader("Fitted parameters")
    names = result.view.feature_names
    if fit_prep.scaling != "none" and not result.view.space.endswith("projection"):
        st.caption(
            f"In the units EM fitted: the columns after {SCALED[fit_prep.scaling]}, not their "
            "original units (the CSV download has the original values of every row)."
        )
    st.dataframe(parameter_table(model, names), width="stretch", hide_index=True)
    with st.expander("Covariance matrices", key="x_cov"):
        for title, matrix in covariance_tables(model, names):
            st.caption(title)
            st.dataframe(matrix, width="content")
    downloads(result, fit_data.table)
    with st.expander("Share this view", key="x_share"):
        st.caption(
            "This link opens the same data, preparation and settings in another browser (the "
            "address bar holds the same; an uploaded file while this server still keeps it):"
        )
        st.code(share_link(), language=None, wrap_lines=True)


fit_panel()
