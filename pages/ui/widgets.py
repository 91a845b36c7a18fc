"""Building blocks that would crowd the pages: option controls, the live EM settings, the fit
runner, the animation's autoplay, the M-step panel and the downloads. Not a page.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import replace

import streamlit as st

from gmm_core import init as init_module
from gmm_core.dashboard import model_selection as ms
from gmm_core.dashboard.downloads import fit_json, labelled_rows_csv, report_html
from gmm_core.dashboard.fit_views import m_step_equations
from gmm_core.dashboard.fitting import (
    MAX_COMPONENTS,
    MAX_ITERATIONS,
    MAX_RESTARTS,
    FitResult,
    FitSettings,
    FitView,
    run_fit,
)
from gmm_core.dashboard.live import FitCache, estimated_seconds, is_live
from gmm_core.dashboard.model_selection import LETTERS_HELP, model_words
from gmm_core.em import Snapshot
from gmm_core.params import COVARIANCE_TYPES, MCLUST_MODELS, covariance_model
from gmm_core.prior import MODELS_WITHOUT_PRIOR
from gmm_core.selection import MAX_SWEEP_COMPONENTS, POLISH_TOL, SWEEP_TOL
from pages.ui.state import SETTINGS_WIDGETS, keep, remembered, write_link

ALL_FOURTEEN = MCLUST_MODELS

#: What each start does, in a sentence (the help of the Initialisation control).
INIT_HELP = {
    "wide": "k-means++ seeds as means, every covariance the data's own, equal weights: wide "
    "overlapping ellipses that separate as EM runs (the app's default).",
    "kmeans": "scikit-learn's default: responsibilities from a k-means clustering.",
    "k-means++": "scikit-learn's k-means++ seeds, each component one point: frame 0 shows "
    "covariances of reg_covar (invisible ellipses) and weights of 1/n.",
    "random": "random responsibilities for every row: all means start near the centre.",
    "random_from_data": "random rows: scikit-learn's random_from_data, K random rows, each "
    "component one point (like k-means++).",
    "hc": "mclust's default: the K-cluster cut of a model-based hierarchical agglomeration "
    "(deterministic; on a subset of 2,000 rows above that), then the model's M-step.",
}


#: The Regularisation control: its value -> shown text ('default' is FitSettings.prior's).
REGULARISATION = {"reg_covar": "reg_covar", "default": "mclust's conjugate prior"}

REGULARISATION_HELP = (
    "**reg_covar** (scikit-learn's): a small number added to every variance. **mclust's "
    "conjugate prior** (`priorControl()`, Fraley and Raftery 2007): each M-step is the "
    "posterior mode instead, its means shrunk a little towards the data's mean and its "
    "covariances towards the data's own scale, so that no component collapses onto a point; "
    "it replaces reg_covar. mclust has no prior for " + ", ".join(MODELS_WITHOUT_PRIOR) + "."
)

#: Said beside the control while the prior is chosen.
PRIOR_CAPTION = (
    "mclust's conjugate prior replaces reg_covar, which is not used (kept for when you "
    "choose it again). mclust has no prior for "
    + ", ".join(MODELS_WITHOUT_PRIOR[:-1])
    + f" and {MODELS_WITHOUT_PRIOR[-1]}."
)


def prior_of(choice_value: str | None) -> str | None:
    """FitSettings.prior (or the sweep's) for a value of the Regularisation control."""
    return "default" if choice_value == "default" else None


#: Short names for the starts, so that all of them fit on a phone's line.
INIT_LABELS = {"random_from_data": "random rows"}

#: The covariance models the Fit page offers: scikit-learn's four by their names, then
#: mclust's ten others (its VVV, EEE, VVI and VII are the four, so not offered twice).
FIT_COVARIANCE_TYPES: tuple[str, ...] = (
    *COVARIANCE_TYPES,
    *(m for m in MCLUST_MODELS if not covariance_model(m).closed_form),
)

#: The Covariance control's help: the four in words, then mclust's letters and the ten.
COVARIANCE_HELP = (
    "full: any ellipse per component · tied: one shared ellipse · diag: axis-aligned · "
    "spherical: circles.  \n"
    + LETTERS_HELP
    + "  \n"
    + "  \n".join(f"**{m}**: {model_words(m)}" for m in FIT_COVARIANCE_TYPES[4:])
)


def choice(
    label: str,
    options: dict[str, str],
    key: str,
    current: str,
    *,
    container=st,
    help=None,
    wrap=False,
):
    """A one-click horizontal choice over ``options`` (value -> shown text), keyed, starting
    at ``current``. ``wrap``: pills that wrap onto a second line on a narrow screen instead
    of one segmented bar cut at its edge.
    """
    control = container.pills if wrap else container.segmented_control
    return control(
        label,
        list(options),
        width="stretch" if wrap else "content",
        format_func=options.get,
        default=current,
        key=key,
        required=True,
        help=help,
    )


def settings_widgets(n_rows: int | None) -> FitSettings:
    """The EM settings as live, keyed widgets; returns what they show now.

    Every widget has a ``key`` (its identity, whatever the last fit was) and starts from the
    canonical ``st.session_state.settings``, which it updates; so no change is ever lost, and
    a widget that was hidden or on another page comes back with the value it had. ``n_rows``
    bounds K (None: not known yet).
    """
    keys = SETTINGS_WIDGETS
    now: FitSettings = st.session_state.settings
    # While the data are not ready (a projection still running) K is not bounded by them:
    # clamping to a placeholder row count would overwrite the person's K.
    k_max = MAX_COMPONENTS if n_rows is None else max(1, min(MAX_COMPONENTS, n_rows))
    methods = init_module.INIT_METHODS
    if "wide" in methods:
        methods = ("wide", *[m for m in methods if m != "wide"])
    # A wrapping row, not st.columns: columns stack one per line on a phone, and the settings
    # alone would then fill the screen; here K and the iterations share a line at 390 px.
    box = st.expander("EM settings", expanded=True, key="settings_box")
    top = box.container(horizontal=True, gap="medium")
    k = top.number_input(
        "Components K", 1, k_max, min(now.n_components, k_max), key=keys["n_components"], width=130
    )
    max_iter = top.number_input(
        "Max iterations", 1, MAX_ITERATIONS, now.max_iter, key=keys["max_iter"], width=130
    )
    # mclust's names of scikit-learn's four are shown as those four (the same models).
    current = covariance_model(now.covariance_type)
    if current.closed_form and now.covariance_type not in COVARIANCE_TYPES:
        now = replace(now, covariance_type=current.layout)
    init = choice(
        "Initialisation",
        {m: INIT_LABELS.get(m, m) for m in methods},
        keys["init_params"],
        now.init_params if now.init_params in methods else methods[0],
        # its own line, as the models: in K's row the six pills were cut at a phone's edge
        # (wide and kmeans out of sight at 390 px)
        container=box,
        wrap=True,
        help=" \n".join(f"**{m}**: {INIT_HELP.get(m, '')}" for m in methods),
    )
    cov = choice(
        "Covariance (scikit-learn's four, then mclust's ten others)",
        {c: c for c in FIT_COVARIANCE_TYPES},
        keys["covariance_type"],
        now.covariance_type,
        container=box,
        wrap=True,
        help=COVARIANCE_HELP,
    )
    tol, seed, reg, n_init = now.tol, now.random_state, now.reg_covar, now.n_init
    prior = now.prior
    # A toggle, not a nested expander (Streamlit allows none inside the settings box).
    second = box.container(horizontal=True, gap="medium", vertical_alignment="center")
    more = second.toggle(
        "More: tolerance, seed, regularisation, restarts",
        st.session_state.get("more_settings_open", False),
        key="more_settings",
    )
    st.session_state.more_settings_open = more
    if more:
        row = box.container(horizontal=True, gap="medium")
        tol = row.number_input(
            "Tolerance (0 = run every iteration)",
            0.0,
            1.0,
            now.tol,
            format="%g",  # the value used, not a rounding of it (1.1e-05, not 1e-5)
            step=1e-4,
            key=keys["tol"],
            width=230,
        )
        seed = row.number_input(
            "Seed", 0, 2**31 - 1, now.random_state, key=keys["random_state"], width=170
        )
        n_init = row.number_input(
            "Restarts", 1, MAX_RESTARTS, now.n_init, key=keys["n_init"], width=130
        )
        regular = box.container(horizontal=True, gap="medium", vertical_alignment="bottom")
        prior = prior_of(
            choice(
                "Regularisation",
                REGULARISATION,
                keys["prior"],
                now.prior or "reg_covar",
                container=regular,
                help=REGULARISATION_HELP,
            )
        )
        # Disabled rather than hidden: its value stays in view for when reg_covar comes back.
        reg = regular.number_input(
            "reg_covar",
            0.0,
            1.0,
            now.reg_covar,
            format="%g",  # the value used, not a rounding of it (1.1e-05, not 1e-5)
            step=1e-6,
            key=keys["reg_covar"],
            width=130,
            disabled=prior is not None,
            help="Not used with mclust's conjugate prior." if prior is not None else None,
        )
        if prior is not None:
            box.caption(PRIOR_CAPTION)
    else:
        second.caption(
            f"tolerance {now.tol:g} · seed {now.random_state} · {now.regularisation} · "
            f"restarts {now.n_init}"
        )
    settings = FitSettings(
        int(k), int(max_iter), float(tol), cov, init, int(seed), float(reg), int(n_init), prior
    )
    st.session_state.settings = settings
    write_link()
    return settings


def _fits() -> FitCache:
    return st.session_state.setdefault("fits", FitCache())


def live_fit(view: FitView, settings: FitSettings, source: tuple) -> FitResult | None:
    """The fit for these settings: from the session's cache, fitted now when it is cheap, or
    after one press of **Fit** when it is not. Returns the fit to show (the last one while a
    change is pending or when the new fit failed).

    ``source`` is (dataset, preparation): it keys the cache together with the settings.
    """
    dataset, prep = source
    key = (dataset.key, prep, settings)
    cache = _fits()
    found = cache.get(key)
    last: FitResult | None = st.session_state.get("fit")
    if isinstance(found, str):
        st.error(f"{found} The previous fit is shown.", icon=":material/warning:")
        return last
    if found is not None:
        if found is not last:
            _make_current(found, source)
        return found
    n, d = view.X.shape
    seconds = estimated_seconds(n, d, settings.n_components, settings.max_iter, settings.n_init)
    # A model handed over by another page (model selection) was asked for: fit it at once.
    forced = st.session_state.pop("fit_now", None) == settings
    if not is_live(seconds) and not forced:
        pressed = st.button(
            f"Fit K = {settings.n_components} (about {seconds:.0f} s)",
            type="primary",
            key="fit_button",
        )
        if not pressed:
            st.info(
                "These settings are not fitted yet: the fit takes a few seconds, so it waits "
                "for **Fit**." + (" The last fit is shown below." if last is not None else ""),
                icon=":material/hourglass_top:",
            )
            return last
    result = _run(view, settings)
    if isinstance(result, str):
        cache.put(key, result)
        st.error(f"{result} The previous fit is shown.", icon=":material/warning:")
        return last
    cache.put(key, result)
    _make_current(result, source)
    return result


def _make_current(result: FitResult, source: tuple) -> None:
    st.session_state.fit = result
    st.session_state.fit_serial = st.session_state.get("fit_serial", 0) + 1
    st.session_state.fit_source = source


def _run(view: FitView, settings: FitSettings) -> FitResult | str:
    """Fit with a progress bar; a failure comes back as its message."""
    holder = st.empty()
    bar, shown = holder.progress(0.0, text=f"Fitting K = {settings.n_components}…"), [0.0]

    def progress(run: int, runs: int, snap: Snapshot) -> None:
        if time.perf_counter() - shown[0] > 0.1:  # a few updates a second is enough
            shown[0] = time.perf_counter()
            done = (run + snap.iteration / settings.max_iter) / runs
            bar.progress(
                min(done, 1.0),
                text=f"restart {run + 1}/{runs}, iteration {snap.iteration}, "
                f"log-likelihood {snap.log_likelihood:.4f}",
            )

    try:
        return run_fit(view, settings, progress=progress)
    except ValueError as err:
        return str(err)
    finally:
        holder.empty()


def autoplay(serial: int) -> None:
    """Press the animation's Play once when a new fit is drawn (once per fit and page load).

    plotly.js has no autoplay for frames inside Streamlit's chart element, so a small script
    clicks the chart's own Play button once it has rendered.
    """
    st.html(
        f"""<script>
(function () {{
  const token = "em-fit-{int(serial)}";
  window.__emPlayed = window.__emPlayed || {{}};
  if (window.__emPlayed[token]) return;
  let tries = 0;
  // The page script cancels a pending autoplay when the person navigates or changes a
  // setting: Play must never start on a chart that is about to be replaced.
  window.__emAutoplayCancel = function () {{
    clearInterval(timer);
    clearTimeout(window.__emPlayTimeout);
  }};
  const timer = setInterval(function () {{
    tries += 1;
    const chart = document.querySelector(".st-key-animation .js-plotly-plot");
    const play = chart && chart.querySelector(".updatemenu-button");
    if (play && chart._transitionData !== undefined) {{
      clearInterval(timer);
      window.__emPlayed[token] = true;
      window.__emPlayTimeout = setTimeout(function () {{
        play.dispatchEvent(new MouseEvent("click", {{bubbles: true}}));
      }}, 250);
    }} else if (tries > 200) {{
      clearInterval(timer);
    }}
  }}, 100);
}})();
</script>""",
        unsafe_allow_javascript=True,
    )


def m_step_panel(result: FitResult) -> None:
    """The M-step formulas with the live numbers of a chosen component and iteration."""
    if result.model.n_iter_ < 1:
        st.caption("This run made no EM iteration.")
        return
    c1, c2 = st.columns(2)
    k = c1.selectbox("Component", range(result.settings.n_components), key="mstep_component")
    n_iter = result.model.n_iter_
    if st.session_state.get("mstep_iteration", 1) > n_iter:
        st.session_state.mstep_iteration = 1
    it = c2.slider("Iteration", 1, n_iter, key="mstep_iteration") if n_iter > 1 else 1
    for line in m_step_equations(result, k, it):
        st.latex(line)


def downloads(result: FitResult, table) -> None:
    """CSV of every row with its label, JSON of the fit and its history, an HTML report.

    Each file is made when its button is clicked (Streamlit runs the callable then): made on
    every rerun, the CSV alone took 1.7 s at 100,000 rows, and every session kept all three
    payloads in the server's memory.
    """
    name = st.session_state.fit_source[0].name
    d = st.columns(3)
    d[0].download_button(
        "Rows with labels and responsibilities (CSV)",
        lambda: labelled_rows_csv(table, result.view, result.model),
        file_name="em_labels.csv",
        mime="text/csv",
        on_click="ignore",
    )
    d[1].download_button(
        "Parameters and history (JSON)",
        lambda: fit_json(result, result.view.feature_names, name),
        file_name="em_fit.json",
        mime="application/json",
        on_click="ignore",
    )
    d[2].download_button(
        "Report with the animation (HTML)",
        lambda: report_html(result, name),
        file_name="em_report.html",
        mime="text/html",
        on_click="ignore",
    )


_PAGE_SCRIPT = """<script>
(function () {
  if (window.__emGuards) return;
  window.__emGuards = true;
  // plotly.js keeps stepping an animation whose chart was taken off the page or replaced by
  // a new fit's, and throws ("bad container"): pause it first, whenever the person is about to
  // navigate, switch the view or change a setting (every change refits and redraws).
  const TRIGGERS = "header a, [data-testid=stSidebarNav] a, .st-key-fit_show, "
    + "[data-testid=stPageLink] a, .st-key-settings_box";
  function pause(event) {
    if (!event.target.closest || !event.target.closest(TRIGGERS)) return;
    if (event.target.closest("summary")) return;  // folding the settings box changes nothing
    if (window.__emAutoplayCancel) window.__emAutoplayCancel();
    const buttons = document.querySelectorAll(".st-key-animation .updatemenu-button");
    if (buttons.length > 1) buttons[1].dispatchEvent(new MouseEvent("click", {bubbles: true}));
  }
  document.addEventListener("pointerdown", pause, true);
  document.addEventListener("keydown", pause, true);
  document.addEventListener("click", function (event) {
    // On a phone the navigation lives in a sidebar that Streamlit leaves open over the page.
    const nav = event.target.closest("header a, [data-testid=stSidebarNav] a");
    if (nav && window.innerWidth < 768) {
      setTimeout(function () {
        const close = document.querySelector("[data-testid=stSidebarCollapseButton] button");
        if (close) close.click();
      }, 150);
    }
  }, true);
})();
</script>"""


def page_scripts() -> None:
    """Install, once per browser tab, the small behaviours every page needs (see the script)."""
    st.html(_PAGE_SCRIPT, unsafe_allow_javascript=True)


def _set_models(models: tuple[str, ...]) -> None:
    st.session_state.sel_models = st.session_state._sel_models = list(models)


def remembered_widget(widget, label: str, name: str, default, *args, **kwargs):
    """A widget whose value survives a visit to another page (see state.remembered)."""
    key = remembered(name, default)
    return widget(label, *args, key=key, on_change=keep, args=(name,), **kwargs)


def sweep_fields(n: int) -> ms.SweepChoices:
    """The Model selection page's sweep settings as keyed widgets, for ``n`` rows; returns
    what they say now (mclust's defaults: the fourteen models, 'hc', K up to 9)."""
    top = st.container(horizontal=True, gap="medium", vertical_alignment="bottom")
    largest = min(MAX_SWEEP_COMPONENTS, n)
    if st.session_state.get("_sel_max_k", 0) > largest:  # fewer rows than the last data set
        st.session_state._sel_max_k = st.session_state.sel_max_k = largest
    max_k = remembered_widget(
        top.number_input, "Largest K", "sel_max_k", min(ms.DEFAULT_MAX_K, n), 1, largest, width=130
    )
    top.button("scikit-learn's four", on_click=_set_models, args=(ms.SKLEARN_FOUR,), key="sel_four")
    top.button("All fourteen", on_click=_set_models, args=(ALL_FOURTEEN,), key="sel_all")
    models = remembered_widget(
        st.pills,
        "Models",
        "sel_models",
        list(ALL_FOURTEEN),
        ALL_FOURTEEN,
        selection_mode="multi",
        help=ms.LETTERS_HELP,
    )
    # Pills on a line of their own, which wrap on a phone (a segmented bar, or pills in a
    # horizontal row, are cut at the screen's edge).
    init = remembered_widget(
        st.pills,
        "Initialisation",
        "sel_init",
        "hc",
        init_module.INIT_METHODS,
        required=True,
        format_func=lambda m: INIT_LABELS.get(m, m),
        help="hc (mclust's default): one model-based hierarchical partition per K, shared by "
        "every model and deterministic. The others draw at random from the seed.",
    )
    row = st.container(horizontal=True, gap="medium", vertical_alignment="bottom")
    restarts = remembered_widget(
        row.number_input,
        "Restarts",
        "sel_restarts",
        1,
        1,
        20,
        width=110,
        disabled=init not in ms.RANDOM_STARTS,
        help="Only random starts find other optima.",
    )
    tol = remembered_widget(
        row.number_input,
        "Tolerance",
        "sel_tol",
        SWEEP_TOL,
        1e-10,  # not 0: every one of the 126 cells would run to max_iter
        1.0,
        format="%g",  # the value used, not a rounding of it
        step=1e-6,
        width=130,
        help=f"Every cell runs to this tolerance on the mean log-likelihood (mclust's "
        f"default {SWEEP_TOL:g}); the cells that could still win are then refitted to "
        f"polish_tol = {POLISH_TOL:g}, so the choice does not depend on where EM stopped.",
    )
    seed = remembered_widget(row.number_input, "Seed", "sel_seed", 42, 0, 2**31 - 1, width=130)
    regularisation = remembered_widget(
        st.segmented_control,
        "Regularisation",
        "sel_prior",
        "reg_covar",
        list(REGULARISATION),
        format_func=REGULARISATION.get,
        required=True,
        help=REGULARISATION_HELP + " With the prior the sweep leaves those four out, as "
        "`Mclust(..., prior = priorControl())` does.",
    )
    return ms.SweepChoices(
        int(max_k),
        tuple(models or ()),
        init,
        int(restarts),
        float(tol),
        int(seed),
        prior_of(regularisation),
    )


@st.cache_resource
def _sweeps() -> FitCache:
    # The last few sweeps of this server by a token that the page's address carries, so that
    # a reload (a new session) finds its sweep again: the design's rule for state that must
    # survive a reload (query parameters plus a server cache).
    return FitCache(max_entries=6)


def cell_choice(result, cells: list[tuple[str, int]], best: tuple[str, int] | None):
    """The Model selection page's "Model" select: the cell to hand over to the Fit page.

    It starts at the sweep's best (:func:`keep_sweep` clears the choice for a new sweep) and
    keeps what the person chose while the sweep stays.
    """
    state = st.session_state
    labels = {
        (r.covariance_type, int(r.n_components)): ms.cell_label(r._asdict())
        for r in result.table.itertuples()
    }
    if state.get("sel_cell") not in cells:
        state.sel_cell = best if best in cells else cells[0]
    if state.get("_sel_cell", state.sel_cell) not in cells:  # a cell of an earlier sweep
        state._sel_cell = state.sel_cell
    chosen = st.selectbox(
        "Model",
        cells,
        format_func=labels.get,
        key=remembered("sel_cell", state.sel_cell),
        on_change=keep,
        args=("sel_cell",),
    )
    name = f"{chosen[0]}-{chosen[1]}"  # in the address, so that a reload keeps it too
    if st.query_params.get("cell") != name:
        st.query_params["cell"] = name
    return chosen


def keep_sweep(key: tuple, result, choices: ms.SweepChoices) -> None:
    """The session's new sweep: kept on the server and named in the address
    (``?sweep=<token>``); the cell to hand over starts again at its best."""
    state = st.session_state
    state.sweep_result = (key, result, choices)
    # not at a cell chosen after an earlier sweep (of other data, perhaps) that this grid
    # happens to contain too
    state.pop("sel_cell", None)
    state.pop("_sel_cell", None)
    token = hashlib.sha256(repr(key).encode()).hexdigest()[:12]
    _sweeps().put(token, (key, result, choices))
    st.session_state.sweep_token = token
    name_sweep()


def name_sweep() -> None:
    """Name the session's sweep in the address again (other pages' links leave it out)."""
    token = st.session_state.get("sweep_token")
    if token is not None and st.query_params.get("sweep") != token:
        st.query_params["sweep"] = token


def restore_sweep(source: tuple) -> None:
    """After a reload: the sweep the address names, if the server still holds it and it is of
    these data and preparation (``source``), with its fields set as they were."""
    state = st.session_state
    token = st.query_params.get("sweep")
    kept = _sweeps().get(token) if token and "sweep_result" not in state else None
    if kept is None or kept[0][:2] != source:
        return
    choices = kept[2]
    fields = {"sel_max_k": choices.max_k, "sel_models": list(choices.models)}
    fields |= {"sel_init": choices.init_params, "sel_restarts": choices.n_init}
    fields |= {"sel_tol": choices.tol, "sel_seed": choices.random_state}
    fields |= {"sel_prior": choices.prior or "reg_covar"}
    for name, value in fields.items():
        state[name] = state[f"_{name}"] = value
    state.sweep_result, state.sweep_token = kept, token
    model, _, k = st.query_params.get("cell", "").partition("-")
    if k.isdigit():  # the cell chosen before the reload (cell_choice checks it is swept)
        state.sel_cell = state._sel_cell = (model, int(k))
