"""Entry point: page configuration, navigation, and the sidebar shared by every page."""

import streamlit as st

from pages.ui.state import ensure_state, sidebar


def run() -> None:
    """Build the navigation and run the selected page."""
    st.set_page_config(page_title="EM for Gaussian mixtures", page_icon="🎯", layout="wide")
    page = st.navigation(
        [
            st.Page("pages/data.py", title="Data", icon=":material/table_chart:"),
            st.Page("pages/fit.py", title="Fit", icon=":material/animation:", default=True),
            st.Page("pages/compare.py", title="Compare", icon=":material/compare:"),
            st.Page("pages/selection.py", title="Model selection", icon=":material/insights:"),
        ]
    )
    ensure_state()
    sidebar()
    page.run()


run()
