"""Data page: choose a source, see what was read, choose columns, scaling and projection."""

import streamlit as st

from gmm_core.dashboard.data import MAX_COLUMNS, MAX_ROWS, MAX_UPLOAD_BYTES
from gmm_core.dashboard.fit_views import preview_figure
from gmm_core.dashboard.projection import MAX_UMAP_ROWS, UMAP_METRICS
from gmm_core.dashboard.samples import SAMPLES
from pages.ui.data_widgets import (
    BLOB_WIDGETS,
    load_chosen_sample,
    load_chosen_upload,
    preparation_widgets,
    seed_source_widgets,
)
from pages.ui.state import Pending, prepared_and_projection, projection_progress

MISSING = {"drop": "drop rows", "mean": "impute mean", "median": "impute median"}
SCALING = {"none": "none", "standard": "standardise", "minmax": "min-max"}
VIEWS = {"none": "none (2 columns)", "pca": "PCA", "umap": "UMAP"}
FIT_ON = {"features": "the chosen columns", "projection": "the 2-D projection"}

st.title("Data")
seed_source_widgets()
source = st.segmented_control(
    "Source",
    ["sample", "upload"],
    format_func={"sample": "Built-in sample", "upload": "Upload a file"}.get,
    key="data_source",
    required=True,
)
if source == "sample":
    st.selectbox("Sample", list(SAMPLES), key="sample_name", on_change=load_chosen_sample)
    st.caption(SAMPLES[st.session_state.sample_name].description)
    if st.session_state.sample_name == "blobs":
        c = st.columns(4)
        limits = {"n_samples": (10, 1_000_000, 100), "n_components": (1, 20, 1)}
        limits |= {"spread": (0.05, 20.0, 0.1), "seed": (0, 2**31 - 1, 1)}
        labels = {"n_samples": "rows", "n_components": "clusters", "spread": "spread"}
        for col, (field, key) in zip(c, BLOB_WIDGETS.items(), strict=True):
            low, high, step = limits[field]
            col.number_input(
                labels.get(field, field), low, high, step=step, key=key,
                on_change=load_chosen_sample,
            )  # fmt: skip
else:
    st.file_uploader(
        f"CSV, TSV or other delimited text, Parquet or Excel (at most "
        f"{MAX_UPLOAD_BYTES // 1024**2} MB, {MAX_ROWS:,} rows, {MAX_COLUMNS:,} columns)",
        type=["csv", "tsv", "txt", "dat", "parquet", "pq", "xlsx", "xls"],
        key="uploader",
        on_change=load_chosen_upload,
    )
if note := st.session_state.pop("k_note", None):
    st.toast(note, icon=":material/track_changes:")
if error := st.session_state.pop("load_error", None):
    # The data set already loaded stays; the person gets the reason and the fix.
    st.error(error, icon=":material/warning:")

dataset = st.session_state.dataset
report = dataset.report
st.subheader(dataset.name)
# A wrapping row: st.columns would stack the four one per line on a phone.
m = st.container(horizontal=True, gap="large")
m.metric("rows", f"{report.n_rows:,}", width="content")
m.metric("columns", report.n_columns, width="content")
m.metric("numeric columns", len(report.numeric_columns), width="content")
m.metric("missing values", sum(dict(report.missing_per_column).values()), width="content")
for note in report.notes:
    st.caption(f"• {note}")
st.dataframe(dataset.table.head(200), width="stretch", height=220)

preparation_widgets(MISSING, SCALING, VIEWS, FIT_ON, UMAP_METRICS)
st.caption(
    f"UMAP is fitted on a seeded sample of at most {MAX_UMAP_ROWS:,} rows and places the others "
    "from their nearest fitted neighbours; it runs in the background and its result is cached, "
    "so the other pages stay usable and changing K later does not redo it."
)

ready = prepared_and_projection()
if isinstance(ready, Pending):
    projection_progress(ready.job, where="You can go on to the other pages meanwhile.")
elif ready is not None:
    for note in (*ready.prepared.notes, *ready.projection.notes):
        st.caption(f"• {note}")
    st.plotly_chart(preview_figure(ready.prepared, ready.projection), width="stretch")
    st.page_link(
        "pages/fit.py", label="Fit a mixture to these data →", icon=":material/track_changes:"
    )
