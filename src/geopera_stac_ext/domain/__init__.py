"""Catalog rules and rows without HTTP: item and collection records, STAC features, extents, retention."""
