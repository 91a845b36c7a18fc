"""Fit page: EM settings, the Fit button, the animation, convergence plots and downloads."""

import time

import streamlit as st

from gmm_core.em import Snapshot
from gmm_core.figures import figure_html
from gmm_core.init import INIT_METHODS
from gmm_core.params import COVARIANCE_TYPES
from gmm_core.workflow import (
    MAX_COMPONENTS,
    MAX_ITERATIONS,
    MAX_RESTARTS,
    FitSettings,
    fit_json,
    fit_view,
    half_step_animation,
    labelled_rows_csv,
    m_step_equations,
    parameter_table,
    run_fit,
    uncertainty_view,
)
from pages.common import cached_for_fit, prepared_and_projection

st.title("Fit")
dataset, prep = st.session_state.dataset, st.session_state.preparation
ready = prepared_and_projection()
last = st.session_state.get("fit")
defaults: FitSettings = last.settings if last is not None else FitSettings()

with st.form("settings"):
    c = st.columns(4)
    n_rows = len(ready[0].X) if ready else MAX_COMPONENTS
    k = c[0].number_input(
        "Components K", 1, min(MAX_COMPONENTS, n_rows), min(defaults.n_components, n_rows)
    )
    max_iter = c[1].number_input("Max iterations", 1, MAX_ITERATIONS, defaults.max_iter)
    tol = c[2].number_input(
        "Tolerance (0 = run every iteration)", 0.0, 1.0, defaults.tol, format="%.0e", step=1e-4
    )
    cov = c[3].selectbox(
        "Covariance", COVARIANCE_TYPES, index=COVARIANCE_TYPES.index(defaults.covariance_type)
    )
    c = st.columns(4)
    init = c[0].selectbox(
        "Initialisation", INIT_METHODS, index=INIT_METHODS.index(defaults.init_params)
    )
    seed = c[1].number_input("Seed", 0, 2**31 - 1, defaults.random_state)
    reg = c[2].number_input("reg_covar", 0.0, 1.0, defaults.reg_covar, format="%.0e", step=1e-6)
    n_init = c[3].number_input("Restarts", 1, MAX_RESTARTS, defaults.n_init)
    submitted = st.form_submit_button("Fit", type="primary")

# A newcomer gets a first fit without pressing anything; later fits need the button.
if ready is not None and (submitted or last is None):
    view = fit_view(*ready, fit_on=prep.fit_on)
    settings = FitSettings(
        int(k), int(max_iter), float(tol), cov, init, int(seed), float(reg), int(n_init)
    )
    with st.status(f"Fitting K = {settings.n_components} on {view.space}…") as status:
        bar, shown = st.progress(0.0), [0.0]

        def progress(run: int, runs: int, snap: Snapshot) -> None:
            if time.perf_counter() - shown[0] > 0.1:  # a few updates a second is enough
                shown[0] = time.perf_counter()
                done = (run + snap.iteration / settings.max_iter) / runs
                bar.progress(
                    min(done, 1.0),
                    text=f"restart {run + 1}/{runs}, iteration "
                    f"{snap.iteration}, log-likelihood {snap.log_likelihood:.4f}",
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
        "Bigger, darker points are less sure of their component (1 − max "
        "responsibility); contours show the fitted density. The least sure rows:"
    )
    left.dataframe(unsure, width="stretch")
right.plotly_chart(last.log_likelihood, width="stretch")
right.plotly_chart(last.weights, width="stretch")

with st.expander("The M-step, in numbers"):
    c1, c2 = st.columns(2)
    k = c1.selectbox("Component", range(last.settings.n_components))
    it = c2.slider("Iteration", 1, max(model.n_iter_, 1), 1) if model.n_iter_ > 0 else 0
    if it:
        for line in m_step_equations(last, k, it):
            st.latex(line)

st.subheader("Fitted parameters")
st.dataframe(parameter_table(model, last.view.feature_names), width="stretch", hide_index=True)

d = st.columns(3)
d[0].download_button(
    "Rows with labels and responsibilities (CSV)",
    labelled_rows_csv(fit_data.table, last.view, model),
    file_name="em_labels.csv",
    mime="text/csv",
    on_click="ignore",
)
d[1].download_button(
    "Parameters and history (JSON)",
    fit_json(last, last.view.feature_names),
    file_name="em_fit.json",
    mime="application/json",
    on_click="ignore",
)
d[2].download_button(
    "Animation (HTML)",
    figure_html(last.animation),
    file_name="em.html",
    mime="text/html",
    on_click="ignore",
)
