"""Scoring trained models: intra-video and segment AUC, retrieval probes, model comparison, CrossTask."""
