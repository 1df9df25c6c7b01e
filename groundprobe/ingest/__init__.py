"""Ingest: the sources table and the corpora it is built from, the manifest, downloads, QC and the funnel."""
