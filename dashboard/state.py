"""Widget choices that survive page changes.

Streamlit forgets a widget's value when its page is not drawn, so leaving Home for Error analysis and coming back
would reset the chosen model. :func:`remember` restores a kept value before the widget is drawn, :func:`keep`
stores it after.
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

_PREFIX = "_kept_"


def remember(key: str, options: Sequence[object] | None = None, default: object = None) -> str:
    """Restore widget ``key`` from its kept value (if it is still one of ``options``), else start it at ``default``
    (when given: pass defaults here, not to the widget, or Streamlit warns of two sources). Returns ``key``."""
    shadow = _PREFIX + key
    if key in st.session_state:
        return key
    value = st.session_state.get(shadow)
    valid = value is not None and (options is None or (
        all(v in options for v in value) if isinstance(value, list) else value in options))
    if valid:
        st.session_state[key] = value
    elif default is not None:
        st.session_state[key] = default
    return key


def keep(key: str) -> None:
    """Keep widget ``key``'s current value for the next time its page is drawn."""
    if key in st.session_state:
        st.session_state[_PREFIX + key] = st.session_state[key]


def clicked_point(event_key: str) -> tuple[dict, object] | None:
    """The first point of a plotly chart's selection event (``on_select``): ``(point, customdata)``, or None."""
    points = st.session_state[event_key].selection.get("points", [])
    if not points:
        return None
    return points[0], points[0].get("customdata")
