"""Training: settings per family, the loops, run writing, the demo rebuild."""
