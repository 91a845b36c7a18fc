"""Building blocks that would crowd the pages: option radios, the Fit settings form, downloads.

Not a page (app.py does not register it).
"""

import streamlit as st

from gmm_core.dashboard.downloads import fit_json, labelled_rows_csv
from gmm_core.dashboard.figures import figure_html
from gmm_core.dashboard.fit_views import m_step_equations
from gmm_core.dashboard.fitting import (
    MAX_COMPONENTS,
    MAX_ITERATIONS,
    MAX_RESTARTS,
    FitResult,
    FitSettings,
)
from gmm_core.init import INIT_METHODS
from gmm_core.params import COVARIANCE_TYPES


def choice(container, label: str, options: dict[str, str], current: str) -> str:
    """A horizontal radio over ``options`` (value -> shown text), starting at ``current``."""
    values = list(options)
    return container.radio(
        label, values, horizontal=True, index=values.index(current), format_func=options.get
    )


def settings_form(defaults: FitSettings, n_rows: int) -> FitSettings | None:
    """The EM settings in a form; returns them when **Fit** is pressed, else None.

    The widgets' bounds keep every value in range (K at most the number of rows).
    """
    with st.form("settings"):
        c = st.columns(4)
        k_max = max(1, min(MAX_COMPONENTS, n_rows))
        k = c[0].number_input("Components K", 1, k_max, min(defaults.n_components, k_max))
        max_iter = c[1].number_input("Max iterations", 1, MAX_ITERATIONS, defaults.max_iter)
        tol = c[2].number_input(
            "Tolerance (0 = run every iteration)",
            0.0,
            1.0,
            defaults.tol,
            format="%.0e",
            step=1e-4,
        )
        cov = c[3].selectbox(
            "Covariance", COVARIANCE_TYPES, index=COVARIANCE_TYPES.index(defaults.covariance_type)
        )
        c = st.columns(4)
        init = c[0].selectbox(
            "Initialisation", INIT_METHODS, index=INIT_METHODS.index(defaults.init_params)
        )
        seed = c[1].number_input("Seed", 0, 2**31 - 1, defaults.random_state)
        reg = c[2].number_input("reg_covar", 0.0, 1.0, defaults.reg_covar, format="%.0e", step=1e-6)
        n_init = c[3].number_input("Restarts", 1, MAX_RESTARTS, defaults.n_init)
        if not st.form_submit_button("Fit", type="primary"):
            return None
    return FitSettings(
        int(k), int(max_iter), float(tol), cov, init, int(seed), float(reg), int(n_init)
    )


def m_step_panel(result: FitResult) -> None:
    """The M-step formulas with the live numbers of a chosen component and iteration."""
    if result.model.n_iter_ < 1:
        st.caption("This run made no EM iteration.")
        return
    c1, c2 = st.columns(2)
    k = c1.selectbox("Component", range(result.settings.n_components))
    it = c2.slider("Iteration", 1, result.model.n_iter_, 1) if result.model.n_iter_ > 1 else 1
    for line in m_step_equations(result, k, it):
        st.latex(line)


def downloads(result: FitResult, table) -> None:
    """CSV of the rows with labels, JSON of the fit and its history, HTML of the animation.

    Each file is made when its button is clicked (Streamlit runs the callable then): made on
    every rerun, the CSV alone took 1.7 s at 100,000 rows, and every session kept all three
    payloads in the server's memory.
    """
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
        lambda: fit_json(result, result.view.feature_names),
        file_name="em_fit.json",
        mime="application/json",
        on_click="ignore",
    )
    d[2].download_button(
        "Animation (HTML)",
        lambda: figure_html(result.animation),
        file_name="em.html",
        mime="text/html",
        on_click="ignore",
    )
