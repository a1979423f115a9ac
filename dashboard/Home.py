"""Genre Lab dashboard: ``streamlit run dashboard/Home.py`` from the repository root.

This entry file only sets up the page and the navigation; each page lives in ``dashboard/views/`` and every
computation is a call into ``core`` (through the cached loaders in ``dashboard/loaders.py``).
"""

from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="Genre Lab", page_icon=":material/graphic_eq:", layout="wide")

PAGES = [
    st.Page("views/analyse.py", title="Analyse a song", icon=":material/graphic_eq:", default=True),
    st.Page("views/errors.py", title="Error analysis", icon=":material/troubleshoot:", url_path="errors"),
    st.Page("views/compare.py", title="Compare runs", icon=":material/compare_arrows:", url_path="compare"),
]

st.navigation(PAGES).run()
