"""Model selection page: mclust's BIC plot over the fourteen models, the best model's
classification and uncertainty, the table, and any cell handed to the Fit page."""

import streamlit as st

from gmm_core.dashboard import model_selection as ms
from gmm_core.dashboard.fit_views import restart_explorer
from gmm_core.dashboard.fitting import fit_view
from gmm_core.dashboard.live import rows_line
from pages.ui.state import Pending, prepared_and_projection, projection_progress, set_settings
from pages.ui.widgets import (
    cell_choice,
    keep_sweep,
    name_sweep,
    remembered_widget,
    restore_sweep,
    sweep_fields,
)


def main() -> None:
    """The page; it returns early (never st.stop) so that app.py can still draw the summary
    line and write the link after it."""
    st.title("Model selection")
    ready = prepared_and_projection()
    if isinstance(ready, Pending):
        projection_progress(ready.job, where="The sweep can run once the projection is ready.")
    if ready is None or isinstance(ready, Pending):
        return
    state = st.session_state
    view = fit_view(ready.prepared, ready.projection, fit_on=state.preparation.fit_on)
    restore_sweep((state.dataset.key, state.preparation))
    choices = sweep_fields(len(view.X))
    key = (state.dataset.key, state.preparation, choices)
    if (prior := ms.prior_note(choices)) is not None:
        st.caption(prior)
    if (weighted := ms.weighted_note(view)) is not None:
        st.caption(weighted)
    rows = rows_line(view, state.dataset, state.preparation)  # what BIC's n counts
    st.caption(f"EM fits {view.space}{rows}. Running the sweep again replaces these results.")
    if st.button("Run the sweep", type="primary", key="sel_run"):
        if not choices.models:
            st.error("Choose at least one model.", icon=":material/warning:")
        elif not choices.swept_models:
            st.error(
                f"mclust has no conjugate prior for {', '.join(choices.models)}: choose other "
                "models, or reg_covar under Regularisation.",
                icon=":material/warning:",
            )
        else:
            bar = st.progress(0.0, text="Sweeping…")
            result = ms.run_sweep(
                view.X,
                choices,
                lambda done, total, label: bar.progress(done / total, text=label),
                sample_weight=view.sample_weight,
            )
            bar.empty()
            keep_sweep(key, result, choices)
    if "sweep_result" not in state:
        st.info("Choose the models and the range, then press **Run the sweep**.")
        return
    old_key, result, swept = state.sweep_result
    name_sweep()
    if old_key != key:
        st.warning("These results are for other settings or data; press **Run the sweep** again.")
    if old_key[:2] != key[:2]:
        return  # another data set or preparation: the old fits do not belong to this view

    mclust = remembered_widget(
        st.toggle, "mclust's sign (higher is better)", "sel_mclust_sign", False
    )
    st.caption(ms.direction_note(mclust))
    tabs = st.tabs([c.upper() for c in ms.CRITERIA])
    for tab, criterion in zip(tabs, ms.CRITERIA, strict=True):
        for note in result.notes(criterion):
            tab.warning(note, icon=":material/warning:")
        figure = ms.criterion_figure(result, criterion, mclust_sign=mclust)
        tab.plotly_chart(figure, width="stretch", key=f"sel_{criterion}")
        line = ms.best_line(result, criterion, mclust_sign=mclust)
        if line:
            tab.markdown(line)
    if (failed := ms.failed_caption(result.table)) is not None:
        st.caption(failed)

    try:
        best = result.best("bic")
        best_cell = (best["covariance_type"], int(best["n_components"]))
    except ValueError:
        best_cell = None
    if best_cell is not None and best_cell in result.models:
        st.subheader(f"The best model by BIC: {best_cell[0]}, K = {best_cell[1]}")
        left, right = st.columns([3, 2])
        figure = ms.classification_figure(result.models[best_cell], view)
        left.plotly_chart(figure, width="stretch", key="sel_unsure")
        right.markdown(ms.best_summary(result, best_cell, mclust_sign=mclust))
        right.caption(
            "Colours: each point's most likely component. Bigger, darker points are less sure "
            "(uncertainty 1 − max responsibility), as in mclust's uncertainty plot."
        )

    st.subheader("Every fit")
    shown = ms.people_table(result.table, mclust_sign=mclust)
    st.dataframe(ms.styled_table(shown), width="stretch", hide_index=True, key="sel_table")
    st.download_button(
        "The table (CSV)",
        ms.table_csv(result.table),
        file_name="model_selection.csv",
        mime="text/csv",
        on_click="ignore",
        help="Machine column names, scikit-learn's sign (lower is better).",
    )

    st.subheader("Fit one of them on the Fit page")
    cells = ms.cells(result)
    if not cells:
        return
    chosen = cell_choice(result, cells, best_cell)
    settings, warning = ms.hand_over(result, chosen, swept)
    if warning:
        st.warning(warning, icon=":material/warning:")
    if swept.n_init > 1:  # restarts of a random start: did they agree?
        with st.expander("Restart explorer of this model", key="sel_restarts_box"):
            figure, optima = restart_explorer(result.models[chosen])
            st.plotly_chart(figure, width="stretch", key="sel_restart_chart")
            st.dataframe(optima, width="stretch", hide_index=True)
    if st.button("Fit this model on the Fit page", type="primary", key="sel_hand"):
        set_settings(settings)
        state.handed_over = (settings, chosen, warning)
        state.fit_now = settings
        st.switch_page("pages/fit.py")


main()
