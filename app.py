"""Entry point: page configuration, navigation, and the summary line shared by every page."""

import streamlit as st

from pages.ui.state import data_summary, ensure_state, write_link
from pages.ui.widgets import page_scripts


def run() -> None:
    """Build the navigation, run the selected page, then summarise the state it left."""
    st.set_page_config(
        page_title="EM for Gaussian mixtures",
        page_icon="🎯",
        layout="wide",
        initial_sidebar_state="collapsed",
    )
    page = st.navigation(
        [
            st.Page("pages/fit.py", title="Fit", icon=":material/animation:", default=True),
            st.Page("pages/data.py", title="Data", icon=":material/table_chart:"),
            st.Page("pages/compare.py", title="Compare", icon=":material/compare:"),
            st.Page("pages/selection.py", title="Model selection", icon=":material/insights:"),
        ],
        # At the top, not in a sidebar: on a phone a sidebar stays open over the page.
        position="top",
    )
    ensure_state()
    # Streamlit's default top padding (6rem) would push the animation's Play button below the
    # fold at 1440x900; the navigation bar already separates the page from the top.
    st.html(
        "<style>[data-testid=stMainBlockContainer]{padding-top:4.2rem;padding-bottom:2rem}</style>"
    )
    page_scripts()
    # Drawn after the page has run, so it shows the data this run ends with.
    summary = st.container()
    for note in st.session_state.pop("link_notes", ()):
        st.warning(note, icon=":material/link:")
    try:
        page.run()
    finally:
        summary.caption(data_summary())
        write_link()


run()
