"""What the pages share: session state, caches, and the sidebar. Not a page itself.

Widgets lose their state when their page is not shown, so everything that must survive a page
switch (the data set, its preparation, the last fit) lives in plain ``st.session_state`` keys.
Expensive steps are cached on the SHA-256 of the data plus their parameters, with bounded
``max_entries`` so memory stays flat over many uploads.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace

import pandas as pd
import streamlit as st

from gmm_core.dashboard.data import DataError, PreparedData, ReadReport, prepare, read_table
from gmm_core.dashboard.projection import Projection, ProjectionError, project
from gmm_core.dashboard.samples import load_sample

DEFAULT_SAMPLE = "blobs"
DEFAULT_SAMPLE_PARAMS = {"n_samples": 600, "n_components": 4, "spread": 0.8, "seed": 0}


@dataclass(frozen=True)
class Dataset:
    """The loaded table, where it came from, and its content key."""

    key: str
    name: str
    table: pd.DataFrame
    report: ReadReport
    default_label: str | None = None


@dataclass(frozen=True)
class Preparation:
    """How the table becomes the matrix EM sees (the Data page's choices)."""

    columns: tuple[str, ...]
    label_column: str | None = None
    missing: str = "drop"
    scaling: str = "standard"
    method: str = "none"
    n_neighbors: int = 15
    min_dist: float = 0.1
    metric: str = "euclidean"
    seed: int = 42
    fit_on: str = "features"


@st.cache_data(max_entries=16, show_spinner="Reading the file…")
def _read_upload(digest: str, _data: bytes, name: str) -> tuple[pd.DataFrame, ReadReport]:
    # `digest` is the cache key; the bytes themselves are not hashed again.
    return read_table(_data, name)


@st.cache_data(max_entries=16, show_spinner="Loading the sample…")
def _read_sample(name: str, params: tuple) -> tuple[pd.DataFrame, ReadReport]:
    return load_sample(name, **dict(params))


@st.cache_data(max_entries=16, show_spinner=False)
def _prepare(key: str, _table: pd.DataFrame, prep: Preparation) -> PreparedData:
    return prepare(
        _table,
        prep.columns,
        label_column=prep.label_column,
        missing=prep.missing,
        scaling=prep.scaling,
    )


class _Projections:
    """A small LRU store of projections shared by all sessions.

    Not ``st.cache_data``: UMAP reports progress while it runs, and elements updated from
    inside a cached function would be replayed on every cache hit.
    """

    def __init__(self, max_entries: int = 8):
        self._items: OrderedDict[str, Projection] = OrderedDict()
        self._lock = threading.Lock()
        self.max_entries = max_entries

    def get(self, key: str) -> Projection | None:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        return None

    def put(self, key: str, value: Projection) -> None:
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)


@st.cache_resource
def _projections() -> _Projections:
    return _Projections()


def _project(key: str, prepared: PreparedData, prep: Preparation) -> Projection:
    store = _projections()
    cached = store.get(key)
    if cached is not None:
        return cached
    bar = st.progress(0.0, text="Running UMAP…") if prep.method == "umap" else None

    def report(fraction: float, message: str) -> None:
        if bar is not None:
            bar.progress(min(max(float(fraction), 0.0), 1.0), text=message)

    try:
        result = project(
            prepared.X,
            prep.method,
            column_names=prepared.columns,
            n_neighbors=prep.n_neighbors,
            min_dist=prep.min_dist,
            metric=prep.metric,
            random_state=prep.seed,
            progress=report,
        )
    finally:
        if bar is not None:
            bar.empty()
    store.put(key, result)
    return result


def load_upload(data: bytes, name: str) -> Dataset:
    """Read an upload (cached on its SHA-256). Raises DataError with a plain message."""
    digest = hashlib.sha256(data).hexdigest()
    table, report = _read_upload(digest, data, name)
    return Dataset(f"upload:{digest}", name, table, report)


def load_builtin(name: str, **params) -> Dataset:
    """Load a built-in sample (cached on its name and parameters)."""
    from gmm_core.dashboard.samples import SAMPLES

    table, report = _read_sample(name, tuple(sorted(params.items())))
    key = f"sample:{name}:{sorted(params.items())}"
    return Dataset(key, name, table, report, SAMPLES[name].label_column)


def default_preparation(dataset: Dataset) -> Preparation:
    """Numeric columns preselected; PCA when there are more than two."""
    numeric = list(dataset.report.numeric_columns)
    label = dataset.default_label if dataset.default_label in dataset.table.columns else None
    columns = tuple(c for c in numeric if c != label)
    return Preparation(columns, label, method="none" if len(columns) == 2 else "pca")


def ensure_state() -> None:
    """Put the default sample in the session on the first run, so the app opens with data."""
    if "dataset" not in st.session_state:
        dataset = load_builtin(DEFAULT_SAMPLE, **DEFAULT_SAMPLE_PARAMS)
        st.session_state.dataset = dataset
        st.session_state.preparation = default_preparation(dataset)


def prepared_and_projection() -> tuple[PreparedData, Projection] | None:
    """The prepared matrix and its projection for the current choices, or None with an error
    box on the page when the choices do not work (the data set itself stays loaded)."""
    dataset: Dataset = st.session_state.dataset
    prep: Preparation = st.session_state.preparation
    try:
        prepared = _prepare(dataset.key, dataset.table, prep)
        # The fit target does not change the projection: leave it out of the key.
        key = f"{dataset.key}|{replace(prep, fit_on='')}"
        projection = _project(key, prepared, prep)
    except (DataError, ProjectionError) as err:
        st.error(str(err), icon="⚠️")
        return None
    return prepared, projection


def sidebar() -> None:
    """The current data set, shown on every page."""
    dataset: Dataset | None = st.session_state.get("dataset")
    if dataset is None:
        return
    prep: Preparation = st.session_state.preparation
    with st.sidebar:
        st.markdown(f"**Data:** {dataset.name}  \n{len(dataset.table):,} rows")
        st.caption(
            f"{len(prep.columns)} column(s), {prep.scaling} scaling, "
            f"display: {prep.method.upper() if prep.method != 'none' else 'the two columns'}"
        )
        fit = st.session_state.get("fit")
        if fit is not None:
            st.caption(
                f"Last fit: K = {fit.settings.n_components}, {fit.model.n_iter_} iterations, "
                + ("converged" if fit.model.converged_ else "not converged")
            )


def cached_for_fit(name: str, build):
    """``build()`` once per fit: views derived from the last fit, kept until the next one."""
    key = (st.session_state.get("fit_serial"), name)
    store = st.session_state.setdefault("fit_views", {})
    if key not in store:
        # Only the current fit's views are worth keeping.
        for old in [k for k in store if k[0] != key[0]]:
            del store[old]
        store[key] = build()
    return store[key]
