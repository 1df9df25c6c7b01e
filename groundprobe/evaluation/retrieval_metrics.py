"""Ranks and metrics of zero-shot text-to-video retrieval (CUPID's probe, Zhou et al. 2021): the
tie-safe rank of each query's correct clip, recall at k and the median and mean rank. numpy only,
so the probe tables (curation_comparison, domain_gap) need no torch."""

from __future__ import annotations

from typing import Sequence

import numpy as np

RECALL_KS = (1, 5, 10)
METRIC_KEYS = ["n_queries", *(f"r{k}" for k in RECALL_KS), "median_rank", "mean_rank", "queries_with_ties"]


def retrieval_ranks(sim: np.ndarray, first_query: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Tie-safe rank of each query's correct clip, and how many other clips tie with it.

    ``sim`` (n_queries, n_gallery): query (row) r against every gallery clip (column); the correct
    clip of row r is column ``first_query + r`` (a block of queries starting at ``first_query``
    keeps the whole gallery). rank = 1 + the number of clips scoring strictly higher than the
    correct one; ties = the number of other clips scoring exactly the same. Returns (ranks, ties),
    both int64 (n_queries,).
    """
    sim = np.asarray(sim)
    n_queries = sim.shape[0] if sim.ndim == 2 else 0
    if sim.ndim != 2 or first_query < 0 or sim.shape[1] < first_query + n_queries:
        raise ValueError(
            f"expected a (queries, gallery) matrix holding the correct clips of queries "
            f"{first_query}.. as columns, got shape {sim.shape}"
        )
    if not np.isfinite(sim).all():
        raise ValueError("similarity matrix holds non-finite values")  # NaN would compare as a win
    queries = np.arange(n_queries)
    correct = sim[queries, first_query + queries][:, None]
    ranks = 1 + (sim > correct).sum(axis=1)
    ties = (sim == correct).sum(axis=1) - 1  # the correct clip ties with itself
    return ranks.astype(np.int64), ties.astype(np.int64)


def retrieval_metrics(ranks: np.ndarray, ties: np.ndarray, ks: Sequence[int] = RECALL_KS) -> dict:
    """Recall at each k (share 0-1 of queries ranked k or better, keys ``r{k}``), the median and
    mean rank, and the number of queries whose correct clip tied with another clip. With the
    default ``ks`` the keys are METRIC_KEYS, in that order."""
    ranks, ties = np.asarray(ranks), np.asarray(ties)
    if ranks.size == 0:
        raise ValueError("no queries to summarise")
    return {
        "n_queries": int(ranks.size),
        **{f"r{k}": float(np.mean(ranks <= k)) for k in ks},
        "median_rank": float(np.median(ranks)),
        "mean_rank": float(np.mean(ranks)),
        "queries_with_ties": int(np.count_nonzero(ties)),
    }
