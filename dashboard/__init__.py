"""The Streamlit dashboard (entry point: ``dashboard/Home.py``)."""
