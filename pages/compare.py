"""Compare page: our EM next to scikit-learn's GaussianMixture on the same rows."""

import streamlit as st

from gmm_core.compare import MATCH_COSTS
from gmm_core.dashboard.comparing import (
    COMPONENT_COLUMNS,
    MODES,
    compare_runs,
    matching_cost_help,
    repeated_rows,
    run_sklearn,
    sklearn_gap,
)
from gmm_core.dashboard.data import safe_csv_bytes
from pages.ui.state import keep, remembered


def main() -> None:
    """The page; it returns early (never st.stop) so that app.py can still draw the summary
    line and write the link after it."""
    st.title("Compare with scikit-learn")
    fit = st.session_state.get("fit")
    if fit is None:
        st.info("There is no fit to compare yet: fit a mixture on the **Fit** page first.")
        st.page_link("pages/fit.py", label="Go to Fit", icon=":material/animation:")
        return

    # The comparison is of the last fit; say so when the data or preparation moved on since.
    dataset, prep = st.session_state.get("dataset"), st.session_state.get("preparation")
    fit_data, fit_prep = st.session_state.get("fit_source", (None, None))
    if fit_data is not None and dataset is not None and fit_data.key != dataset.key:
        st.warning(
            f"The Data page now holds **{dataset.name}**, but the last fit was made on "
            f"**{fit_data.name}**: the comparison below is of that earlier fit and its data. "
            "Press **Fit** on the Fit page to fit the current data, then come back.",
            icon=":material/warning:",
        )
        st.page_link("pages/fit.py", label="Go to Fit", icon=":material/animation:")
    elif fit_prep is not None and prep is not None and fit_prep != prep:
        st.warning(
            f"The preparation of **{dataset.name}** (columns, scaling, missing values or display) "
            "changed since the last fit: the comparison below is of the fit made before. Press "
            "**Fit** on the Fit page to fit the current choice, then come back.",
            icon=":material/warning:",
        )
        st.page_link("pages/fit.py", label="Go to Fit", icon=":material/animation:")

    # One of mclust's ten models that scikit-learn does not have, the prior, or weights that
    # cannot be repeated rows: said in words, never attempted.
    gap = sklearn_gap(fit)
    if gap is not None:
        st.warning(gap, icon=":material/compare_arrows:")
        if repeated_rows(fit)[1] is not None:
            st.page_link("pages/data.py", label="Go to Data", icon=":material/table_chart:")
        else:
            st.page_link("pages/fit.py", label="Go to Fit", icon=":material/animation:")
        return

    c1, c2, c3 = st.columns(3)
    mode = c1.radio(
        "scikit-learn starts from",
        list(MODES),
        format_func=MODES.get,
        key=remembered("compare_mode", "same start"),
        on_change=keep,
        args=("compare_mode",),
    )
    cost = c2.selectbox(
        "Match components by",
        list(MATCH_COSTS),
        format_func=MATCH_COSTS.get,
        key=remembered("compare_cost", "euclidean"),
        on_change=keep,
        args=("compare_cost",),
    )
    seed = c3.number_input(
        "scikit-learn's random_state (independent)",
        0,
        2**31 - 1,
        key=remembered("compare_seed", 0),
        on_change=keep,
        args=("compare_seed",),
        disabled=mode != "independent",
        help="Only the seed differs from our fit: scikit-learn gets our initialisation and "
        "settings.",
    )

    # scikit-learn's fit is the slow part: kept per (fit, mode, seed), so that another matching
    # method only re-matches. Entries of older fits are dropped.
    serial = st.session_state.get("fit_serial")
    run_key = (serial, mode, int(seed) if mode == "independent" else None)
    runs = st.session_state.setdefault("compare_runs", {})
    for old in [k for k, (owner, _) in runs.items() if k[0] != serial or owner is not fit]:
        del runs[old]
    if run_key not in runs:
        with st.status("Fitting scikit-learn's GaussianMixture…") as status:
            bar = st.progress(0.0)
            run = run_sklearn(
                fit,
                mode=mode,
                seed=int(seed),
                progress=lambda done, total: bar.progress(done / total),
            )
            if run.error:
                status.update(label="scikit-learn's fit failed; our fit is kept.", state="error")
            else:
                status.update(label="scikit-learn fitted", state="complete", expanded=False)
        runs[run_key] = (fit, run)
    run = runs[run_key][1]
    if run.error:
        st.error(run.error, icon=":material/warning:")
        return

    key = (*run_key, cost)
    cached = st.session_state.get("comparison")
    if st.session_state.get("comparison_key") != key or cached is None or cached.sklearn is not run:
        st.session_state.comparison = compare_runs(fit, mode=mode, cost=cost, sklearn=run)
        st.session_state.comparison_key = key
    result = st.session_state.comparison

    for sentence in result.sentences:
        st.markdown(sentence)
    st.metric("Adjusted Rand index, ours vs scikit-learn", f"{result.ari:.4f}")
    st.plotly_chart(result.scatter, width="stretch")

    st.subheader("Matched components")
    columns = {
        name: st.column_config.NumberColumn(
            header,
            format=fmt or "%d",
            help=matching_cost_help(cost) if name == "match_cost" else text,
        )
        for name, (header, fmt, text) in COMPONENT_COLUMNS.items()
    }
    st.dataframe(
        result.components,
        column_config=columns,
        column_order=list(COMPONENT_COLUMNS),
        width="stretch",
        hide_index=True,
    )
    st.download_button(
        "Comparison table (CSV)",
        safe_csv_bytes(result.components),
        file_name="em_vs_sklearn.csv",
        mime="text/csv",
        on_click="ignore",
    )
    st.subheader("Both fits")
    st.dataframe(
        result.summary,
        column_config={
            "_index": st.column_config.TextColumn("Quantity", width="large"),
            "Ours": st.column_config.TextColumn("Ours", width="medium"),
            "scikit-learn": st.column_config.TextColumn("scikit-learn", width="medium"),
        },
        width="stretch",
    )
    if result.drift is not None:  # titled "Drift per iteration" by the figure itself
        st.plotly_chart(result.drift, width="stretch")


main()
