"""Intra-video AUC and segment AUC of one video's clip x caption scores (Hessel et al. 2020, §4),
whatever made the scores (a trained model in rule evaluate, the demo's oracle): NumPy only.
"""

from __future__ import annotations

import math

import numpy as np


def _square(sim: np.ndarray) -> np.ndarray:
    """``sim`` as a square float array of 2 or more pairs, float32 kept as it is (the model's
    scores: sorting them in float32 is faster and, the values being the same, every comparison
    is too)."""
    sim = np.asarray(sim)
    if sim.dtype not in (np.float32, np.float64):
        sim = sim.astype(np.float64)
    if sim.ndim != 2 or sim.shape[0] != sim.shape[1] or sim.shape[0] < 2:
        raise ValueError(f"expected a square similarity matrix of 2 or more pairs, got shape {sim.shape}")
    return sim


def _refuse_non_finite(values: np.ndarray) -> None:
    if not np.isfinite(values).all():
        raise ValueError("similarity matrix holds non-finite values")


# Below about 90 captions (8,000 scores) sorting every score is as fast as binning them (fixed
# costs of ~15 NumPy calls); measured with benchmarks/auc_ranks.py, 2026-12-04.
_BINNED_MIN_SCORES = 8_000
# At most 2^20 bins, so that (s - lo) * n_bins / span, rounded three times (relative error 2^-24
# each in float32), stays below n_bins + 1: every bin index is in the table.
_MAX_BINS = 2**20
_LARGEST = {np.dtype(t): float(np.finfo(t).max) for t in (np.float32, np.float64)}


def intra_video_auc(sim: np.ndarray) -> float:
    """P(aligned pair scores above a misaligned pair), ties counting 1/2, for one video.

    ``sim`` (n, n): clip i vs caption j; the n aligned pairs are the diagonal, the n² - n others
    misaligned. The Mann-Whitney U of the aligned pairs among all N = n² scores, divided by
    n (n² - n): with L(s) and R(s) the aligned scores below / at or below score s,
    sum_j (b_j + e_j) = 2 n N - sum_s (L(s) + R(s)) (b_j, e_j: scores below / at or below aligned
    score j) and U = (sum_j (b_j + e_j) - N) / 2. Integer counts and one division, so ties are exact.

    Counted without sorting the N scores (the sort was nearly all the time): each score goes to
    one of N/2 equal-width bins by a monotone float map, so a score in a bin that holds no aligned
    score has L = R = the aligned scores in the bins below (a table lookup); only the scores that
    share a bin with an aligned score (a few percent) are sorted and counted exactly, by binary
    searches of the aligned scores among them. O(N) plus the sort of those; all N sorted when N is
    small (below _BINNED_MIN_SCORES, where the fixed costs of binning exceed the sort) or the
    range cannot be binned (all scores equal, a range or a scale beyond the float type).
    """
    sim = _square(sim)
    n = sim.shape[0]
    scores = sim.reshape(-1)
    lo, hi = scores.min(), scores.max()
    if not (math.isfinite(lo) and math.isfinite(hi)):  # min and max propagate NaN
        _refuse_non_finite(scores)
    span = float(hi) - float(lo)  # a Python float: inf, not a warning, where the range overflows
    n_bins = min(scores.size // 2, _MAX_BINS)
    largest = _LARGEST[sim.dtype]
    if scores.size >= _BINNED_MIN_SCORES and 0 < span <= largest and n_bins / span <= largest:
        lookup_sum, exact = _binned_counts(scores, n, lo, sim.dtype.type(n_bins / span), n_bins)
    else:  # few scores, all equal, or a range the float type cannot scale: all counted exactly
        lookup_sum, exact = 0, scores.copy()
    exact.sort()
    # Sorted, so that each binary search starts where the previous one ended (unsorted: ~15 us
    # more of ~150 at 180 captions under load, benchmarks/auc_ranks.py).
    aligned = np.sort(np.diagonal(sim))
    searched = exact.searchsorted(aligned).sum() + exact.searchsorted(aligned, "right").sum()
    exact_sum = 2 * n * exact.size - int(searched)
    total = 2 * n * scores.size - 2 * lookup_sum - exact_sum
    return (total - n * n) / (2 * n * (n * n - n))


def _binned_counts(
    scores: np.ndarray, n: int, lo: np.floating, scale: np.floating, n_bins: int
) -> tuple[int, np.ndarray]:
    """sum of L(s) over the scores that share no bin with an aligned score, and a copy of the others.

    ``scores``: the n² finite scores of intra_video_auc, row-major (the aligned ones every n + 1);
    lo: their minimum; scale: n_bins / their range, finite and positive. Bin = trunc((s - lo) *
    scale), in [0, n_bins]: each step rounds monotonically, so bin(a) < bin(s) implies a < s, and
    equal floats (-0.0 and 0.0 too) share a bin. Arrays stay 4-byte (int32 while n³ < 2^31): the
    counts and the sum are exact.
    """
    # One call for the product and its truncation to int32 (the ufunc casts its float32 result).
    bins = np.multiply(scores - lo, scale, out=np.empty(scores.size, np.int32), casting="unsafe")
    aligned_bins = bins[:: n + 1]
    count_type = np.int32 if n**3 < 2**31 else np.int64
    table = np.bincount(aligned_bins, minlength=n_bins + 1).astype(count_type)
    np.add.accumulate(table, out=table)  # aligned scores in this bin or below: below s in bins without one
    table.put(aligned_bins, -1)  # marks the bins counted exactly
    looked_up = table.take(bins)
    exact = scores.compress(looked_up < 0)
    return int(looked_up.sum(dtype=count_type)) + exact.size, exact


def segment_auc(sim: np.ndarray) -> np.ndarray:
    """For each caption j, P(s(j, j) > s(i, j)) over the other clips i, ties counting 1/2: (n,).

    By counts per column: with b_j clips strictly below the aligned score and e_j at or below it
    (the aligned clip included), (b_j + e_j - 1) / (2 (n - 1)). Counted by comparing each column
    with its aligned score, O(n²): cheaper than sorting the columns, O(n² log n)
    (benchmarks/auc_ranks.py measures both).
    """
    sim = _square(sim)
    _refuse_non_finite(sim)
    aligned = np.diagonal(sim)[None, :]
    below = (sim < aligned).sum(axis=0)
    at_or_below = (sim <= aligned).sum(axis=0)
    return (below + at_or_below - 1) / (2 * (sim.shape[0] - 1))
