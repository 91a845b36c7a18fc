"""Model selection page: BIC, AIC and ICL over K and covariance types; restarts explored."""

import streamlit as st

from gmm_core.dashboard.figures import criteria_figure
from gmm_core.dashboard.fit_views import restart_explorer
from gmm_core.dashboard.fitting import FitSettings, fit_view
from gmm_core.params import COVARIANCE_TYPES
from gmm_core.selection import DIRECTION_NOTE, MAX_SWEEP_COMPONENTS, sweep
from pages.ui.state import Pending, prepared_and_projection, projection_progress, set_settings

st.title("Model selection")
st.caption(DIRECTION_NOTE)
ready = prepared_and_projection()
if isinstance(ready, Pending):
    projection_progress(ready.job, where="The sweep can run once the projection is ready.")
if ready is None or isinstance(ready, Pending):
    st.stop()
view = fit_view(ready.prepared, ready.projection, fit_on=st.session_state.preparation.fit_on)
n = len(view.X)

with st.form("sweep"):
    c = st.columns(4)
    max_k = c[0].number_input("Largest K", 1, min(MAX_SWEEP_COMPONENTS, n), min(8, n))
    types = c[1].pills(
        "Covariance types", COVARIANCE_TYPES, selection_mode="multi", default=COVARIANCE_TYPES
    )
    n_init = c[2].number_input("Restarts per model", 1, 20, 3)
    seed = c[3].number_input("Seed", 0, 2**31 - 1, 42)
    init = st.radio(
        "Initialisation", ["kmeans", "k-means++", "random_from_data", "random"], horizontal=True
    )
    run = st.form_submit_button("Run the sweep", type="primary")
st.caption(
    f"EM fits {view.space}. Changing the settings and running again cancels a sweep "
    "that is still going."
)

key = (
    st.session_state.dataset.key,
    st.session_state.preparation,
    max_k,
    tuple(types),
    n_init,
    seed,
    init,
)
if run and types:
    bar = st.progress(0.0, text="Sweeping…")
    result = sweep(
        view.X,
        int(max_k),
        covariance_types=types,
        n_init=int(n_init),
        random_state=int(seed),
        init_params=init,
        progress=lambda done, total, label: bar.progress(done / total, text=label),
    )
    bar.empty()
    st.session_state.sweep_result = (key, result, init)
if "sweep_result" not in st.session_state:
    st.info("Choose the range and press **Run the sweep**.")
    st.stop()
old_key, result, init = st.session_state.sweep_result
if old_key != key:
    st.warning("These results are for other settings or data; press **Run the sweep** again.")

tabs = st.tabs(["BIC", "AIC", "ICL"])
for tab, criterion in zip(tabs, ["bic", "aic", "icl"], strict=True):
    best = result.best(criterion)
    tab.plotly_chart(
        criteria_figure(
            result.criterion_table(criterion),
            criterion.upper(),
            (best["covariance_type"], int(best["n_components"])),
        ),
        width="stretch",
    )
    tab.markdown(
        f"Best by {criterion.upper()}: **{best['covariance_type']}, "
        f"K = {int(best['n_components'])}** ({best[criterion]:.2f})."
    )
st.dataframe(result.table, width="stretch", hide_index=True)

fitted = sorted(result.models)
chosen = st.selectbox(
    "Model",
    fitted,
    index=fitted.index(
        (result.best("bic")["covariance_type"], int(result.best("bic")["n_components"]))
    ),
    format_func=lambda m: f"{m[0]}, K = {m[1]}",
)
if st.button("Fit this model on the Fit page", type="primary"):
    set_settings(
        FitSettings(
            n_components=chosen[1],
            covariance_type=chosen[0],
            init_params=init,
            random_state=int(old_key[5]),
            n_init=int(old_key[4]),
        )
    )
    st.switch_page("pages/fit.py")

st.subheader("Restart explorer")
figure, optima = restart_explorer(result.models[chosen])
st.plotly_chart(figure, width="stretch")
st.caption("Each distinct local optimum the restarts reached, best first, and how many found it:")
st.dataframe(optima, width="stretch", hide_index=True)
