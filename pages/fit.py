"""Fit page: EM settings, the Fit button, the animation, convergence plots and downloads."""

import time

import streamlit as st

from gmm_core.dashboard.fit_views import (
    half_step_animation,
    parameter_table,
    stopping_table,
    uncertainty_view,
)
from gmm_core.dashboard.fitting import FitSettings, fit_view, run_fit
from gmm_core.em import Snapshot
from pages.ui.state import cached_for_fit, prepared_and_projection
from pages.ui.widgets import downloads, m_step_panel, settings_form

st.title("Fit")
dataset, prep = st.session_state.dataset, st.session_state.preparation
ready = prepared_and_projection()
last = st.session_state.get("fit")
# A model chosen on the Model selection page arrives here and is fitted at once.
handed_over = st.session_state.pop("fit_request", None)
defaults = handed_over or (last.settings if last is not None else FitSettings())
settings = settings_form(defaults, len(ready[0].X) if ready else 1)

# A newcomer gets a first fit without pressing anything; later fits need the button.
if ready is not None and (settings or handed_over or last is None):
    view = fit_view(*ready, fit_on=prep.fit_on)
    settings = settings or defaults
    with st.status(f"Fitting K = {settings.n_components} on {view.space}…") as status:
        bar, shown = st.progress(0.0), [0.0]

        def progress(run: int, runs: int, snap: Snapshot) -> None:
            if time.perf_counter() - shown[0] > 0.1:  # a few updates a second is enough
                shown[0] = time.perf_counter()
                done = (run + snap.iteration / settings.max_iter) / runs
                bar.progress(
                    min(done, 1.0),
                    text=f"restart {run + 1}/{runs}, iteration {snap.iteration}, "
                    f"log-likelihood {snap.log_likelihood:.4f}",
                )

        try:
            last = run_fit(view, settings, progress=progress)
        except ValueError as err:
            status.update(label="The fit failed; the previous fit is kept.", state="error")
            st.error(str(err), icon="⚠️")
        else:
            st.session_state.fit = last
            st.session_state.fit_serial = st.session_state.get("fit_serial", 0) + 1
            st.session_state.fit_source = (dataset, prep)
            status.update(label=f"Fitted in {last.seconds:.2f} s", state="complete", expanded=False)

if last is None:
    st.info("Choose data on the Data page, then press **Fit**.")
    st.stop()
fit_data, fit_prep = st.session_state.fit_source
if fit_data.key != dataset.key or fit_prep != prep:
    st.warning(
        "This fit was made on other data or another preparation; press **Fit** to fit "
        "the current data."
    )
model = last.model
for message in (*last.view.notes, *last.messages):
    st.info(message)
if last.advice:
    st.warning(last.advice, icon="⚠️")
m = st.columns(4)
m[0].metric("iterations", model.n_iter_)
m[1].metric("converged", "yes" if model.converged_ else "no")
m[2].metric("mean log-likelihood", f"{model.history_[-1].log_likelihood:.4f}")
m[3].metric("time per iteration", f"{1e3 * last.seconds_per_iteration:.1f} ms")

left, right = st.columns([3, 2])
views = {"iterations": "EM iterations", "half": "E- and M-steps apart", "unsure": "Uncertainty"}
view = left.radio("Show", list(views), format_func=views.get, horizontal=True)
if view == "iterations":
    left.plotly_chart(last.animation, width="stretch", key="animation")
elif view == "half":
    left.plotly_chart(cached_for_fit("half", lambda: half_step_animation(last)), width="stretch")
else:
    figure, unsure = cached_for_fit("unsure", lambda: uncertainty_view(last, fit_data.table))
    left.plotly_chart(figure, width="stretch")
    left.caption(
        "Bigger, darker points are less sure of their component (1 − max responsibility); "
        "contours show the fitted density. The least sure rows:"
    )
    left.dataframe(unsure, width="stretch")
right.plotly_chart(last.log_likelihood, width="stretch")
right.plotly_chart(last.weights, width="stretch")

with st.expander("Stopping rules side by side (marked on the log-likelihood plot)"):
    st.dataframe(stopping_table(last), width="stretch", hide_index=True)
with st.expander("The M-step, in numbers"):
    m_step_panel(last)

st.subheader("Fitted parameters")
st.dataframe(parameter_table(model, last.view.feature_names), width="stretch", hide_index=True)
downloads(last, fit_data.table)
