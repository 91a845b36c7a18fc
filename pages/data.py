"""Data page: choose a source, see what was read, choose columns, scaling and projection."""

import streamlit as st

from gmm_core.dashboard.data import MAX_COLUMNS, MAX_ROWS, MAX_UPLOAD_BYTES, DataError
from gmm_core.dashboard.fit_views import preview_figure
from gmm_core.dashboard.projection import MAX_UMAP_ROWS, UMAP_METRICS
from gmm_core.dashboard.samples import SAMPLES
from pages.ui.state import (
    Preparation,
    default_preparation,
    load_builtin,
    load_upload,
    prepared_and_projection,
)
from pages.ui.widgets import choice

MISSING = {"drop": "drop rows", "mean": "impute mean", "median": "impute median"}
SCALING = {"none": "none", "standard": "standardise", "minmax": "min-max"}
VIEWS = {"none": "none (2 columns)", "pca": "PCA", "umap": "UMAP"}
FIT_ON = {"features": "the chosen columns", "projection": "the 2-D projection"}

st.title("Data")
dataset = st.session_state.dataset

# Widget state is dropped when the page is left: remember the choice in a plain key.
sources = ["Built-in sample", "Upload a file"]
source = st.radio("Source", sources, horizontal=True, index=st.session_state.get("source", 0))
st.session_state.source = sources.index(source)
if source == "Built-in sample":
    with st.form("sample"):
        name = st.selectbox("Sample", list(SAMPLES))
        st.caption(" · ".join(f"**{n}**: {s.description}" for n, s in SAMPLES.items()))
        st.caption("For the synthetic blobs:")
        c1, c2, c3, c4 = st.columns(4)
        params = {
            "n_samples": c1.number_input("rows", 10, 1_000_000, 600, step=100),
            "n_components": c2.number_input("clusters", 1, 20, 4),
            "spread": c3.number_input("spread", 0.05, 20.0, 0.8, step=0.1),
            "seed": c4.number_input("seed", 0, 2**31 - 1, 0),
        }
        if st.form_submit_button("Load sample", type="primary"):
            try:
                new = load_builtin(name, **(params if name == "blobs" else {}))
            except DataError as err:
                st.error(str(err), icon="⚠️")
            else:
                st.session_state.dataset, dataset = new, new
                st.session_state.preparation = default_preparation(new)
else:
    upload = st.file_uploader(
        f"CSV, TSV or other delimited text, Parquet or Excel (at most "
        f"{MAX_UPLOAD_BYTES // 1024**2} MB, {MAX_ROWS:,} rows, {MAX_COLUMNS:,} columns)",
        type=["csv", "tsv", "txt", "dat", "parquet", "pq", "xlsx", "xls"],
    )
    if upload is not None:
        try:
            new = load_upload(upload.getvalue(), upload.name)
        except DataError as err:
            # The data set already loaded stays; the user only gets the reason and the fix.
            st.error(f"**{upload.name}** could not be used. {err}", icon="⚠️")
        else:
            if new.key != dataset.key:
                st.session_state.dataset, dataset = new, new
                st.session_state.preparation = default_preparation(new)

report = dataset.report
st.subheader(f"{dataset.name}")
m1, m2, m3, m4 = st.columns(4)
m1.metric("rows", f"{report.n_rows:,}")
m2.metric("columns", report.n_columns)
m3.metric("numeric columns", len(report.numeric_columns))
m4.metric("missing values", sum(dict(report.missing_per_column).values()))
for note in report.notes:
    st.caption(f"• {note}")
st.dataframe(dataset.table.head(200), width="stretch", height=220)

prep: Preparation = st.session_state.preparation
numeric = list(report.numeric_columns)
with st.form("prepare"):
    columns = st.multiselect("Columns EM uses", numeric, default=list(prep.columns))
    label_options = [None, *dataset.table.columns]
    label = st.selectbox(
        "Label column (optional; only to score clusters against known classes)",
        label_options,
        index=label_options.index(prep.label_column) if prep.label_column in label_options else 0,
        format_func=lambda c: "none" if c is None else str(c),
    )
    c1, c2 = st.columns(2)
    missing = choice(c1, "Missing values", MISSING, prep.missing)
    scaling = choice(c2, "Scaling", SCALING, prep.scaling)
    c1, c2 = st.columns(2)
    method = choice(c1, "2-D view", VIEWS, prep.method)
    fit_on = choice(c2, "EM fits", FIT_ON, prep.fit_on)
    with st.expander("UMAP settings"):
        u1, u2, u3, u4 = st.columns(4)
        n_neighbors = u1.number_input("n_neighbors", 2, 200, prep.n_neighbors)
        min_dist = u2.number_input("min_dist", 0.0, 1.0, prep.min_dist, step=0.05)
        metric = u3.selectbox("metric", UMAP_METRICS, index=UMAP_METRICS.index(prep.metric))
        seed = u4.number_input("seed", 0, 2**31 - 1, prep.seed)
        st.caption(
            f"UMAP is fitted on at most {MAX_UMAP_ROWS:,} rows (a seeded random sample); the "
            "other rows are placed with its transform(). Expect about a minute per 100,000 "
            "rows; the result is cached, so changing K later does not redo it."
        )
    if st.form_submit_button("Apply", type="primary"):
        prep = Preparation(
            tuple(columns),
            label,
            missing,
            scaling,
            method,
            int(n_neighbors),
            float(min_dist),
            metric,
            int(seed),
            fit_on,
        )
        st.session_state.preparation = prep

ready = prepared_and_projection()
if ready is not None:
    prepared, projection = ready
    for note in (*prepared.notes, *projection.notes):
        st.caption(f"• {note}")
    st.plotly_chart(preview_figure(prepared, projection), width="stretch")
    st.page_link("pages/fit.py", label="Fit a mixture to these data →", icon="🎯")
