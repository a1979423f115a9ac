"""Run folders: the contract between training, evaluation and the dashboard."""
