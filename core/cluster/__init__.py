"""Work that outgrows one machine, on Ray: catalogs, dataset embeddings and studies.

Ray is imported only inside this package's functions, so the dashboard and the default CLI commands never load it.
"""
