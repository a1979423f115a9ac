"""A music library: catalogs, the similarity index, recommendations, genre tags in files."""
