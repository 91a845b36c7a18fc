"""Model selection page: BIC, AIC and ICL over K and covariance types; restarts explored."""

import streamlit as st

from gmm_core.dashboard.figures import criteria_figure
from gmm_core.dashboard.fit_views import restart_explorer
from gmm_core.dashboard.fitting import FitSettings, fit_view
from gmm_core.init import INIT_METHODS
from gmm_core.params import COVARIANCE_TYPES
from gmm_core.selection import COLUMN_TITLES, DIRECTION_NOTE, MAX_SWEEP_COMPONENTS, sweep
from pages.ui.state import (
    Pending,
    keep,
    prepared_and_projection,
    projection_progress,
    remembered,
    set_settings,
)
from pages.ui.widgets import INIT_LABELS


def main() -> None:
    """The page; it returns early (never st.stop) so that app.py can still draw the summary
    line and write the link after it."""
    st.title("Model selection")
    st.caption(DIRECTION_NOTE)
    ready = prepared_and_projection()
    if isinstance(ready, Pending):
        projection_progress(ready.job, where="The sweep can run once the projection is ready.")
    if ready is None or isinstance(ready, Pending):
        return
    view = fit_view(ready.prepared, ready.projection, fit_on=st.session_state.preparation.fit_on)
    n = len(view.X)

    # The sweep's choices live in plain keys too, so they survive a visit to another page.
    defaults = {"sel_max_k": min(8, n), "sel_types": list(COVARIANCE_TYPES), "sel_restarts": 3}
    defaults |= {"sel_seed": 42, "sel_init": "kmeans", "sel_tol": 1e-3}
    key = {name: remembered(name, value) for name, value in defaults.items()}
    with st.form("sweep"):
        row = st.container(horizontal=True, gap="medium")
        largest = min(MAX_SWEEP_COMPONENTS, n)
        row.number_input("Largest K", 1, largest, key=key["sel_max_k"], width=130)
        row.pills(
            "Covariance types", COVARIANCE_TYPES, selection_mode="multi", key=key["sel_types"]
        )
        row.number_input("Restarts per model", 1, 20, key=key["sel_restarts"], width=150)
        row.number_input("Seed", 0, 2**31 - 1, key=key["sel_seed"], width=130)
        row.number_input(
            "Tolerance", 0.0, 1.0, format="%.0e", step=1e-4, key=key["sel_tol"], width=150
        )
        st.pills(
            "Initialisation (the sweep's default, kmeans, is deterministic per seed; the Fit "
            "page's default is wide)",
            INIT_METHODS,
            key=key["sel_init"],
            required=True,
            format_func=lambda m: INIT_LABELS.get(m, m),
        )
        run = st.form_submit_button("Run the sweep", type="primary")
    for name in defaults:  # a form allows no on_change: copy the choices back after it
        keep(name)
    state = st.session_state
    st.caption(f"EM fits {view.space}. Running the sweep again replaces these results.")

    key = (state.dataset.key, state.preparation, state.sel_max_k, tuple(state.sel_types))
    key += (state.sel_restarts, state.sel_seed, state.sel_init, state.sel_tol)
    if run and not state.sel_types:
        st.error("Choose at least one covariance type.", icon="⚠️")
    elif run:
        bar = st.progress(0.0, text="Sweeping…")
        result = sweep(
            view.X,
            int(state.sel_max_k),
            covariance_types=state.sel_types,
            n_init=int(state.sel_restarts),
            random_state=int(state.sel_seed),
            init_params=state.sel_init,
            tol=float(state.sel_tol),
            progress=lambda done, total, label: bar.progress(done / total, text=label),
        )
        bar.empty()
        state.sweep_result = (key, result)
    if "sweep_result" not in state:
        st.info("Choose the range and press **Run the sweep**.")
        return
    old_key, result = state.sweep_result
    if old_key != key:
        st.warning("These results are for other settings or data; press **Run the sweep** again.")

    tabs = st.tabs(["BIC", "AIC", "ICL"])
    for tab, criterion in zip(tabs, ["bic", "aic", "icl"], strict=True):
        for note in result.notes(criterion):
            tab.warning(note, icon="⚠️")
        try:
            best = result.best(criterion)
        except ValueError:
            continue  # the notes above say why there is no sound model
        choice = (best["covariance_type"], int(best["n_components"]))
        tab.plotly_chart(criteria_figure(result.table, criterion.upper(), choice), width="stretch")
        tab.markdown(
            f"Best by {criterion.upper()}: **{choice[0]}, K = {choice[1]}** "
            f"({best[criterion]:,.2f}), among the fits that are not degenerate."
        )
    table = result.table
    if "error" in table and table["error"].isna().all():
        table = table.drop(columns="error")  # no fit failed: an empty column says nothing
    table = table.rename(columns=COLUMN_TITLES)
    st.dataframe(table, width="stretch", hide_index=True)

    fitted = sorted(result.models)
    try:
        best_bic = result.best("bic")
        start = fitted.index((best_bic["covariance_type"], int(best_bic["n_components"])))
    except ValueError:
        start = 0
    chosen = st.selectbox("Model", fitted, index=start, format_func=lambda m: f"{m[0]}, K = {m[1]}")
    if st.button("Fit this model on the Fit page", type="primary"):
        settings = FitSettings(
            n_components=chosen[1],
            covariance_type=chosen[0],
            init_params=old_key[6],
            random_state=int(old_key[5]),
            n_init=int(old_key[4]),
            tol=float(old_key[7]),
        )
        set_settings(settings)
        st.switch_page("pages/fit.py")

    st.subheader("Restart explorer")
    figure, optima = restart_explorer(result.models[chosen])
    st.plotly_chart(figure, width="stretch")
    st.caption(
        "Each distinct local optimum the restarts reached, best first, and how many found it:"
    )
    st.dataframe(optima, width="stretch", hide_index=True)


main()
