"""The embedded demo corpus with planted grounding, its instructional corpus, and the recovery check."""
