"""Music genre lab core: audio decoding, features, models, training, evaluation and recommendation.

Nothing in this package imports Streamlit; the dashboard calls into it.
"""
