"""The Data page's controls: the source (sample or upload) and the live preparation. Not a page.

Every control has a ``key`` and takes its value from ``st.session_state``; a change is applied
at once (no form, so nothing can be pending and silently lost when the person moves on).
"""

from __future__ import annotations

import streamlit as st

from gmm_core.dashboard.data import DataError, weight_candidates
from pages.ui.state import (
    DEFAULT_SAMPLE,
    DEFAULT_SAMPLE_PARAMS,
    PREP_WIDGETS,
    Preparation,
    load_builtin,
    load_upload,
    seed_widgets,
    set_dataset,
)

#: The "no column" option of the optional selectboxes (label, weight). Not None: a selectbox
#: whose value is None shows its placeholder ("Choose an option"), not the choice "none". No
#: column is called "": the reader names blank headers column_<i>.
NO_COLUMN = ""

#: Blob parameter -> widget key.
BLOB_WIDGETS = {f: f"blob_{f}" for f in DEFAULT_SAMPLE_PARAMS}


def seed_source_widgets() -> None:
    """The source controls start from the data set that is loaded, whatever it is."""
    origin = st.session_state.dataset.origin
    state = st.session_state
    if "data_source" not in state:
        state.data_source = "upload" if origin and origin[0] == "upload" else "sample"
    sample, params = DEFAULT_SAMPLE, DEFAULT_SAMPLE_PARAMS
    if origin and origin[0] == "sample":
        sample, params = origin[1], {**DEFAULT_SAMPLE_PARAMS, **origin[2]}
    state.setdefault("sample_name", sample)
    for field, key in BLOB_WIDGETS.items():
        state.setdefault(key, params[field])


def load_chosen_sample() -> None:
    """on_change of the sample controls: load what they show now."""
    state = st.session_state
    name = state.sample_name
    params = {f: state[k] for f, k in BLOB_WIDGETS.items()} if name == "blobs" else {}
    try:
        set_dataset(load_builtin(name, **params))
    except DataError as err:
        state.load_error = str(err)


def load_chosen_upload() -> None:
    """on_change of the file uploader: read the file; a bad file leaves the data as they were."""
    upload = st.session_state.get("uploader")
    if upload is None:  # the person removed the file: keep the data loaded from it
        return
    try:
        new = load_upload(upload.getvalue(), upload.name)
    except DataError as err:
        st.session_state.load_error = f"**{upload.name}** could not be used. {err}"
        return
    if new.key != st.session_state.dataset.key:
        set_dataset(new)


def _weight_chosen() -> None:
    """on_change of the weight column: a column that becomes the weight leaves the features."""
    state, keys = st.session_state, PREP_WIDGETS
    weight = state[keys["weight_column"]]
    if weight != NO_COLUMN and weight in state[keys["columns"]]:
        state[keys["columns"]] = [c for c in state[keys["columns"]] if c != weight]
        state.weight_note = (
            f"`{weight}` is the weight column now, so it left the columns EM uses: a count says "
            "how many times a row counts, it is not one of its coordinates."
        )


def weight_widget(dataset, numeric: list[str]) -> None:
    """The optional weight or count column: None (unweighted) unless the person picks one."""
    state, key = st.session_state, PREP_WIDGETS["weight_column"]
    if state[key] not in numeric:
        state[key] = NO_COLUMN
    suggested = set(weight_candidates(dataset.table, dataset.report))
    st.selectbox(
        "Weight or count column (optional; each row counts as this many observations)",
        [NO_COLUMN, *numeric],
        format_func=lambda c: (
            "none (every row counts once)"
            if c == NO_COLUMN
            else f"{c} (looks like a count)"
            if c in suggested
            else str(c)
        ),
        key=key,
        on_change=_weight_chosen,
        help="For an aggregated table, where a row stands for several identical observations "
        "(a count), or for sampling weights. EM then weights every row by it; rows of weight "
        "0 are drawn but do not count. A missing weight drops its row.",
    )
    if note := state.pop("weight_note", None):
        st.caption(f"• {note}")


def preparation_widgets(missing, scaling, views, fit_on, metrics) -> Preparation:
    """Columns, label, missing values, scaling, view, fit target and UMAP settings, live.

    Parameters are the option dicts (value -> shown text) and the UMAP metric names. Returns
    the preparation they show, which is also made current.
    """
    dataset = st.session_state.dataset
    prep: Preparation = st.session_state.preparation
    keys = PREP_WIDGETS
    seed_widgets(prep, keys)
    numeric = list(dataset.report.numeric_columns)
    state = st.session_state
    state[keys["columns"]] = [c for c in state[keys["columns"]] if c in numeric]
    st.multiselect("Columns EM uses", numeric, key=keys["columns"])
    for note in state.get("column_notes", ()):
        st.caption(f"• {note}")
    label_options = [NO_COLUMN, *map(str, dataset.table.columns)]
    if state[keys["label_column"]] not in label_options:
        state[keys["label_column"]] = NO_COLUMN
    st.selectbox(
        "Label column (optional; only to score clusters against known classes)",
        label_options,
        format_func=lambda c: "none" if c == NO_COLUMN else str(c),
        key=keys["label_column"],
    )
    weight_widget(dataset, numeric)
    c = st.columns(4)
    for col, (label, options, field) in zip(
        c,
        [
            ("Missing values", missing, "missing"),
            ("Scaling", scaling, "scaling"),
            ("2-D view", views, "method"),
            ("EM fits", fit_on, "fit_on"),
        ],
        strict=True,
    ):
        col.segmented_control(
            label, list(options), format_func=options.get, key=keys[field], required=True
        )
    with st.expander("UMAP settings", key="umap_settings"):
        u = st.columns(4)
        u[0].number_input("n_neighbors", 2, 200, key=keys["n_neighbors"])
        u[1].number_input("min_dist", 0.0, 1.0, step=0.05, key=keys["min_dist"])
        u[2].selectbox("metric", metrics, key=keys["metric"])
        u[3].number_input("seed", 0, 2**31 - 1, key=keys["seed"])
    new = Preparation(
        tuple(state[keys["columns"]]),
        state[keys["label_column"]] or None,
        state[keys["missing"]],
        state[keys["scaling"]],
        state[keys["method"]],
        int(state[keys["n_neighbors"]]),
        float(state[keys["min_dist"]]),
        state[keys["metric"]],
        int(state[keys["seed"]]),
        state[keys["fit_on"]],
        state[keys["weight_column"]] or None,
    )
    state.preparation = new
    return new
