"""What the pages share: session state, the link (query parameters), caches and background work.

Not a page. Three kinds of state, each where it survives what it must:

* ``st.session_state`` holds the canonical choices (``dataset``, ``preparation``,
  ``settings``) and the last fit as plain keys, never only as widget keys, because Streamlit
  drops a widget's state when its page is not shown.
* The URL's query parameters mirror those choices (sample, uploaded file's hash, preparation,
  settings), so a reload or a shared link opens the same view (:func:`ensure_state`,
  :func:`write_link`).
* Server-wide stores shared by all sessions: uploaded files by SHA-256 (so a reload finds them
  while the server holds them), projections, and background UMAP jobs.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any

import pandas as pd
import streamlit as st

from gmm_core.dashboard.data import DataError, PreparedData, ReadReport, prepare, read_table
from gmm_core.dashboard.fitting import FitSettings
from gmm_core.dashboard.projection import (
    Projection,
    ProjectionCancelled,
    ProjectionError,
    project,
)
from gmm_core.dashboard.samples import SAMPLES, load_sample

DEFAULT_SAMPLE = "blobs"
DEFAULT_SAMPLE_PARAMS = {"n_samples": 600, "n_components": 4, "spread": 0.8, "seed": 0}
#: Uploads kept on the server for reloads and links: at most this many files and bytes.
MAX_KEPT_UPLOADS = 8
MAX_KEPT_UPLOAD_BYTES = 600 * 1024**2


@dataclass(frozen=True)
class Dataset:
    """The loaded table, where it came from, and its content key."""

    key: str
    name: str
    table: pd.DataFrame
    report: ReadReport
    default_label: str | None = None
    #: How to load it again: ("sample", name, params) or ("upload", sha256, file name).
    origin: tuple = ()


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
    #: A column of weights or counts (an aggregated table), never a feature; None: unweighted.
    weight_column: str | None = None


class _LRU:
    """A small thread-safe least-recently-used store shared by all sessions."""

    def __init__(self, max_entries: int, max_bytes: int | None = None):
        self._items: OrderedDict[str, Any] = OrderedDict()
        self._sizes: dict[str, int] = {}
        self._lock = threading.Lock()
        self.max_entries, self.max_bytes = max_entries, max_bytes

    def get(self, key: str) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        return None

    def put(self, key: str, value: Any, size: int = 0) -> None:
        with self._lock:
            self._items[key], self._sizes[key] = value, size
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries or (
                self.max_bytes is not None
                and len(self._items) > 1
                and sum(self._sizes.values()) > self.max_bytes
            ):
                old, _ = self._items.popitem(last=False)
                del self._sizes[old]


@st.cache_resource
def _uploads() -> _LRU:
    return _LRU(MAX_KEPT_UPLOADS, MAX_KEPT_UPLOAD_BYTES)


@st.cache_resource
def _projections() -> _LRU:
    return _LRU(8)


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
        weight_column=prep.weight_column,
    )


# --- loading ----------------------------------------------------------------------------------


def load_upload(data: bytes, name: str) -> Dataset:
    """Read an upload (cached on its SHA-256) and keep its bytes for reloads.

    Raises DataError with a plain message.
    """
    digest = hashlib.sha256(data).hexdigest()
    table, report = _read_upload(digest, data, name)
    _uploads().put(digest, (name, data), len(data))
    return Dataset(f"upload:{digest}", name, table, report, origin=("upload", digest, name))


def load_builtin(name: str, **params) -> Dataset:
    """Load a built-in sample (cached on its name and parameters)."""
    params = params if name == "blobs" else {}
    table, report = _read_sample(name, tuple(sorted(params.items())))
    key = f"sample:{name}:{sorted(params.items())}"
    return Dataset(
        key, name, table, report, SAMPLES[name].label_column, origin=("sample", name, params)
    )


def default_preparation(dataset: Dataset) -> tuple[Preparation, tuple[str, ...]]:
    """The preselected columns (identifiers, years and codes left out) and the notes why;
    PCA when more than two columns remain."""
    label = dataset.default_label if dataset.default_label in dataset.table.columns else None
    try:
        from gmm_core.dashboard.data import default_columns
    except ImportError:  # pragma: no cover - until the column heuristics land
        numeric = list(dataset.report.numeric_columns)
        columns, notes = tuple(c for c in numeric if c != label), ()
    else:
        columns, notes = default_columns(dataset.table, dataset.report, label)
    prep = Preparation(tuple(columns), label, method="none" if len(columns) == 2 else "pca")
    return prep, tuple(notes)


#: K for a sample whose groups are not in a label column (Old Faithful's two eruption types).
_SAMPLE_K = {"faithful": 2, "geyser_counts": 2}


def suggested_k(dataset: Dataset) -> int | None:
    """The number of known groups of a built-in sample (its label's classes), else None."""
    if not dataset.origin or dataset.origin[0] != "sample":
        return None
    name = dataset.origin[1]
    if name in _SAMPLE_K:
        return _SAMPLE_K[name]
    if dataset.default_label in dataset.table.columns:
        return int(dataset.table[dataset.default_label].nunique())
    return None


def set_dataset(dataset: Dataset, *, adopt_k: bool = True) -> None:
    """Make ``dataset`` current with its default preparation; the Data widgets follow.

    A built-in sample also brings its number of known groups as K (a student loading the
    penguins sees the three species, not four clusters), said in a note on the Fit page.
    """
    prep, notes = default_preparation(dataset)
    st.session_state.dataset = dataset
    st.session_state.preparation = prep
    st.session_state.column_notes = notes
    forget_widgets(PREP_WIDGETS)
    k = suggested_k(dataset) if adopt_k else None
    settings = st.session_state.get("settings")
    if k is not None and settings is not None and settings.n_components != k:
        set_settings(replace(settings, n_components=k))
        st.session_state.k_note = f"K is set to {k}, the number of known groups in {dataset.name}."


# --- the link: query parameters <-> state -----------------------------------------------------

#: Preparation field -> query parameter.
_PREP_PARAMS = {
    "columns": "cols",
    "label_column": "label",
    "missing": "missing",
    "scaling": "scaling",
    "method": "view",
    "n_neighbors": "nn",
    "min_dist": "md",
    "metric": "metric",
    "seed": "useed",
    "fit_on": "fit_on",
    "weight_column": "weight",
}
#: FitSettings field -> query parameter.
_SETTINGS_PARAMS = {
    "n_components": "k",
    "max_iter": "iter",
    "tol": "tol",
    "covariance_type": "cov",
    "init_params": "init",
    "random_state": "seed",
    "reg_covar": "reg",
    "n_init": "restarts",
    "prior": "prior",
}
_BLOB_PARAMS = {"n_samples": "n", "n_components": "centres", "spread": "spread", "seed": "bseed"}
_ALL_PARAMS = (
    "sample",
    "upload",
    *_PREP_PARAMS.values(),
    *_SETTINGS_PARAMS.values(),
    *_BLOB_PARAMS.values(),
)
_COLUMN_SEPARATOR = "~"


def _typed(kind: type, text: str) -> Any:
    return kind(text)


def _dataset_from_link(qp) -> tuple[Dataset | None, str | None]:
    if "upload" in qp:
        kept = _uploads().get(qp["upload"])
        if kept is None:
            return None, (
                "The file in this link is no longer on the server (it keeps the last few "
                "uploads while it runs). Upload it again on the **Data** page; the demo sample "
                "is shown meanwhile."
            )
        name, data = kept
        return load_upload(data, name), None
    if "sample" in qp and qp["sample"] in SAMPLES:
        params = {}
        if qp["sample"] == "blobs":
            params = dict(DEFAULT_SAMPLE_PARAMS)
            for field, name in _BLOB_PARAMS.items():
                if name in qp:
                    params[field] = _typed(type(DEFAULT_SAMPLE_PARAMS[field]), qp[name])
        return load_builtin(qp["sample"], **params), None
    return None, None


def _override(base, mapping: dict[str, str], qp):
    """``base`` with the fields named in the query parameters, each parsed by its type."""
    changes = {}
    for f in fields(base):
        name = mapping.get(f.name)
        if name is None or name not in qp:
            continue
        current = getattr(base, f.name)
        text = qp[name]
        if f.name == "columns":
            changes[f.name] = tuple(c for c in text.split(_COLUMN_SEPARATOR) if c)
        elif f.name in ("label_column", "weight_column", "prior"):
            changes[f.name] = text or None
        else:
            changes[f.name] = _typed(type(current), text)
    return replace(base, **changes)


def ensure_state() -> None:
    """On a session's first run, open what the link names, else the demo sample.

    A link that cannot be honoured (a file the server no longer holds, a column that does not
    exist, a value out of range) falls back to the defaults with a note, never an error page.
    """
    if "dataset" in st.session_state:
        return
    qp = st.query_params
    notes: list[str] = []
    try:
        dataset, note = _dataset_from_link(qp)
    except (DataError, ValueError, TypeError):
        dataset, note = None, "The data named in this link could not be opened; showing the demo."
    if note:
        notes.append(note)
    linked = dataset is not None
    if dataset is None:
        dataset = load_builtin(DEFAULT_SAMPLE, **DEFAULT_SAMPLE_PARAMS)
    set_dataset(dataset, adopt_k=False)
    if linked:
        try:
            prep = _override(st.session_state.preparation, _PREP_PARAMS, qp)
            known = set(map(str, dataset.table.columns))
            if not prep.columns or not set(prep.columns) <= known:
                raise ValueError("unknown columns")
            if prep.label_column is not None and prep.label_column not in known:
                raise ValueError("unknown label column")
            if prep.weight_column is not None and prep.weight_column not in known:
                raise ValueError("unknown weight column")
            st.session_state.preparation = prep
        except (ValueError, TypeError):
            notes.append("The link's column choices do not fit these data; the defaults are used.")
    try:
        settings = _override(FitSettings(), _SETTINGS_PARAMS, qp)
        settings.validate(max(len(dataset.table), 1))
    except (ValueError, TypeError):
        settings = FitSettings()
        notes.append("The link's EM settings were out of range; the defaults are used.")
    k = suggested_k(dataset)
    if "k" not in qp and k is not None:
        settings = replace(settings, n_components=k)
    st.session_state.settings = settings
    st.session_state.link_notes = tuple(notes)


def link_params() -> dict[str, str]:
    """The query parameters that describe this session's data, preparation and settings.

    Only values that differ from the defaults are listed, so a plain link stays short.
    """
    dataset: Dataset = st.session_state.dataset
    out: dict[str, str] = {}
    kind = dataset.origin[0] if dataset.origin else None
    if kind == "upload":
        out["upload"] = dataset.origin[1]
    elif kind == "sample":
        name, params = dataset.origin[1], dataset.origin[2]
        if name != DEFAULT_SAMPLE or params != DEFAULT_SAMPLE_PARAMS:
            out["sample"] = name
        if name == "blobs":
            for field, qname in _BLOB_PARAMS.items():
                if params.get(field) != DEFAULT_SAMPLE_PARAMS[field]:
                    out[qname] = str(params[field])
    default_prep, _ = default_preparation(dataset)
    prep: Preparation = st.session_state.preparation
    for field, qname in _PREP_PARAMS.items():
        value = getattr(prep, field)
        if value == getattr(default_prep, field):
            continue
        if field == "columns":
            out[qname] = _COLUMN_SEPARATOR.join(value)
        else:
            out[qname] = "" if value is None else str(value)
    settings: FitSettings = st.session_state.settings
    # What a link without the parameter opens: the defaults, with a sample's own K.
    opened = replace(FitSettings(), n_components=suggested_k(dataset) or FitSettings().n_components)
    for field, qname in _SETTINGS_PARAMS.items():
        value = getattr(settings, field)
        if value != getattr(opened, field):
            out[qname] = repr(value) if isinstance(value, float) else str(value)
    return out


def share_link() -> str:
    """The full address that opens this view elsewhere (the page, data, preparation, settings).

    An uploaded file is named by its hash: the link works while the server still holds it.
    """
    from urllib.parse import urlencode

    base = st.context.url or ""
    query = urlencode(link_params())
    return f"{base}?{query}" if query else base


def write_link() -> None:
    """Mirror the session's choices into the URL (only what changed is sent)."""
    wanted = link_params()
    qp = st.query_params
    for name in _ALL_PARAMS:
        if name in wanted:
            if qp.get(name) != wanted[name]:
                qp[name] = wanted[name]
        elif name in qp:
            del qp[name]


# --- widgets bound to canonical state ---------------------------------------------------------

#: Widget keys of the Data page's preparation and of the Fit page's settings.
PREP_WIDGETS = {f: f"prep_{f}" for f in _PREP_PARAMS}
SETTINGS_WIDGETS = {f: f"fit_{f}" for f in _SETTINGS_PARAMS}


def forget_widgets(keys: dict[str, str]) -> None:
    """Drop widget values so that the widgets start again from the canonical state."""
    for key in keys.values():
        st.session_state.pop(key, None)


def seed_widgets(canonical, keys: dict[str, str]) -> None:
    """Give every widget key that has no value the canonical one.

    Widgets are created with a ``key`` and no ``value``/``index``, so their identity never
    depends on the last fit or preparation (a widget whose default changes gets a new identity
    and silently drops the value the person just chose). For widgets drawn in the same run
    (the Data page's): a value written into the key of a widget that is *not* drawn is not
    reliably kept, which is why the Fit page's settings start from ``value=`` instead, and
    a new value must reach a drawn widget through its key, never by dropping the key and
    changing its default (the browser would send its old value back).
    """
    for field, key in keys.items():
        value = getattr(canonical, field)
        if key not in st.session_state:
            st.session_state[key] = list(value) if isinstance(value, tuple) else value


def remembered(name: str, default) -> str:
    """The key of a widget whose value survives page switches, kept under ``name`` too.

    Streamlit drops a widget's state when its page is not shown: the widget's key is
    ``_<name>``, started from the plain key ``name``, and :func:`keep` copies it back.
    """
    key = f"_{name}"
    if key not in st.session_state:
        st.session_state[key] = st.session_state.get(name, default)
    return key


def keep(name: str) -> None:
    """Copy the widget of :func:`remembered` back to its plain key (an on_change callback)."""
    st.session_state[name] = st.session_state[f"_{name}"]


def set_settings(settings: FitSettings) -> None:
    """Make ``settings`` current, widgets included (e.g. a model handed over by selection).

    The widgets' own values are dropped, so that they start from these settings the next
    time they are drawn (a value written into a widget's key while it is not drawn is not
    reliably kept by Streamlit).
    """
    st.session_state.settings = settings
    forget_widgets(SETTINGS_WIDGETS)


# --- preparing and projecting -----------------------------------------------------------------


class ProjectionJob:
    """A projection computed in a background thread, with its progress.

    The thread never touches Streamlit; the pages poll ``fraction``/``message``.
    """

    def __init__(self, key: str, run: Callable[..., Projection]):
        self.key = key
        self.fraction, self.message = 0.0, "Starting…"
        self.result: Projection | None = None
        self.error: str | None = None
        self.started = time.monotonic()
        self.cancelled = threading.Event()
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._work, args=(run,), daemon=True)
        self._thread.start()

    def _progress(self, fraction: float, message: str) -> None:
        self.fraction = min(max(float(fraction), self.fraction), 1.0)
        self.message = message

    def _work(self, run: Callable[..., Projection]) -> None:
        try:
            self.result = run(self._progress, self.cancelled.is_set)
        except ProjectionCancelled:
            pass  # nobody waits for it any more; a later request starts it again
        except ProjectionError as err:
            self.error = str(err)
        except Exception as err:
            self.error = f"The projection failed ({type(err).__name__}: {err})."
        finally:
            self.done.set()

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started


@st.cache_resource
def _jobs() -> dict[str, ProjectionJob]:
    return {}


_JOBS_LOCK = threading.Lock()


def _start_projection(key: str, prepared: PreparedData, prep: Preparation) -> ProjectionJob:
    def run(progress, should_stop) -> Projection:
        return project(
            prepared.X,
            prep.method,
            column_names=prepared.columns,
            n_neighbors=prep.n_neighbors,
            min_dist=prep.min_dist,
            metric=prep.metric,
            random_state=prep.seed,
            progress=progress,
            should_stop=should_stop,
        )

    with _JOBS_LOCK:
        jobs = _jobs()
        job = jobs.get(key)
        if job is None or (job.done.is_set() and job.result is None and job.cancelled.is_set()):
            # This session no longer waits for its previous projection: let it stop.
            previous = jobs.get(st.session_state.get("projection_job", ""))
            if previous is not None and not previous.done.is_set():
                previous.cancelled.set()
            job = jobs[key] = ProjectionJob(key, run)
        for old in [k for k, j in jobs.items() if j.done.is_set() and k != key]:
            del jobs[old]
    st.session_state.projection_job = key
    return job


@dataclass(frozen=True)
class Ready:
    """The prepared matrix and its projection for the current choices."""

    prepared: PreparedData
    projection: Projection


@dataclass(frozen=True)
class Pending:
    """The projection is being computed in the background."""

    job: ProjectionJob


def prepared_and_projection() -> Ready | Pending | None:
    """The current choices prepared and projected, a running projection, or None.

    None comes with an error box on the page when the choices do not work; the data set itself
    stays loaded. PCA and "none" are computed at once; UMAP runs in the background (see
    :class:`ProjectionJob`) and its result is shared by every session on the same data.
    """
    dataset: Dataset = st.session_state.dataset
    prep: Preparation = st.session_state.preparation
    try:
        prepared = _prepare(dataset.key, dataset.table, prep)
        # The fit target does not change the projection: leave it out of the key.
        key = f"{dataset.key}|{replace(prep, fit_on='')}"
        store = _projections()
        projection = store.get(key)
        if projection is None:
            if prep.method != "umap":
                projection = project(prepared.X, prep.method, column_names=prepared.columns)
                store.put(key, projection)
            else:
                job = _start_projection(key, prepared, prep)
                if not job.done.is_set():
                    return Pending(job)
                if job.error is not None:
                    _jobs().pop(key, None)
                    raise ProjectionError(job.error)
                projection = job.result
                store.put(key, projection)
    except (DataError, ProjectionError) as err:
        st.error(str(err), icon=":material/warning:")
        return None
    return Ready(prepared, projection)


def projection_progress(job: ProjectionJob, *, where: str) -> None:
    """Show a running projection's progress; rerun the whole app once it has finished.

    A fragment polls twice a second, so the rest of the page stays usable meanwhile.
    """

    @st.fragment(run_every=0.5)
    def poll() -> None:
        if job.done.is_set():
            st.rerun(scope="app")
        st.progress(
            job.fraction,
            text=f"UMAP ({job.seconds:.0f} s): {job.message} {where}",
        )

    poll()


# --- the summary line and per-fit caches ------------------------------------------------------


def data_summary() -> str:
    """One line on the current data set and its preparation.

    With a weight column: "geyser_counts, 110 rows, total weight 272 (`count`) · ...".
    """
    dataset: Dataset = st.session_state.dataset
    prep: Preparation = st.session_state.preparation
    view = {"none": "the two columns", "pca": "PCA", "umap": "UMAP"}[prep.method]
    return (
        f"**Data:** {dataset.name}, {len(dataset.table):,} rows{_total_weight(dataset, prep)} · "
        f"{len(prep.columns)} column(s), {prep.scaling} scaling · view: {view}"
    )


def _total_weight(dataset: Dataset, prep: Preparation) -> str:
    """ ", total weight 272 (`count`)" for a usable weight column, else ""."""
    name = prep.weight_column
    if name is None or name not in dataset.table.columns:
        return ""
    try:
        values = dataset.table[name].to_numpy(dtype=float, na_value=float("nan"))
    except (TypeError, ValueError):
        return ""  # a text column: the Data page says why it cannot weight the rows
    values = values[values == values]  # without the missing ones, which are dropped
    if not len(values) or (values < 0).any() or not (values < float("inf")).all():
        return ""
    total = float(values.sum())
    shown = f"{total:,.0f}" if total == round(total) else f"{total:,.6g}"
    return f", total weight {shown} (`{name}`)"


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
