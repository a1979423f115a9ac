"""The command line ``python -m core``: the only place in ``core`` that prints."""
