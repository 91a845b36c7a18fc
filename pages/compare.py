"""Compare page: our EM next to scikit-learn's GaussianMixture on the same rows."""

import streamlit as st

from gmm_core.compare import MATCH_COSTS
from gmm_core.dashboard.comparing import compare_runs
from gmm_core.dashboard.data import safe_csv_bytes

st.title("Compare with scikit-learn")
fit = st.session_state.get("fit")
if fit is None:
    st.info("There is no fit to compare yet: fit a mixture on the **Fit** page first.")
    st.page_link("pages/fit.py", label="Go to Fit", icon="🎯")
    st.stop()

c1, c2, c3 = st.columns(3)
mode = c1.radio(
    "scikit-learn starts from",
    ["same start", "independent"],
    format_func={
        "same start": "our starting point (same start)",
        "independent": "its own initialisation (independent)",
    }.get,
)
cost = c2.selectbox("Match components by", list(MATCH_COSTS), format_func=MATCH_COSTS.get)
seed = c3.number_input(
    "scikit-learn's random_state (independent)", 0, 2**31 - 1, 42, disabled=mode != "independent"
)

key = (st.session_state.get("fit_serial"), mode, cost, int(seed) if mode == "independent" else None)
if st.session_state.get("comparison_key") != key:
    with st.status("Fitting scikit-learn's GaussianMixture…") as status:
        bar = st.progress(0.0)
        result = compare_runs(
            fit,
            mode=mode,
            cost=cost,
            seed=int(seed),
            progress=lambda done, total: bar.progress(done / total),
        )
        status.update(label="scikit-learn fitted", state="complete", expanded=False)
    st.session_state.comparison, st.session_state.comparison_key = result, key
result = st.session_state.comparison

for sentence in result.sentences:
    st.markdown(sentence)
st.metric("Adjusted Rand index, ours vs scikit-learn", f"{result.ari:.4f}")
st.plotly_chart(result.scatter, width="stretch")
left, right = st.columns(2)
left.subheader("Matched components")
left.dataframe(result.components, width="stretch", hide_index=True)
left.download_button(
    "Comparison table (CSV)",
    safe_csv_bytes(result.components),
    file_name="em_vs_sklearn.csv",
    mime="text/csv",
    on_click="ignore",
)
right.subheader("Both fits")
right.dataframe(result.summary.astype(str), width="stretch")
if result.drift is not None:
    st.subheader("Drift per iteration")
    st.plotly_chart(result.drift, width="stretch")
