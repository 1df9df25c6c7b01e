"""Intra-video AUC, segment AUC and the per-category table (Hessel et al. 2020, §4 and Table 2).

Scores come from a trained :class:`~groundprobe.model.JointEmbedding`: within one video, every
clip is compared with every caption; the temporally aligned pairs are the diagonal.
"""

from __future__ import annotations

import math
import zlib

import numpy as np
import pandas as pd
import torch

from groundprobe.model import JointEmbedding
from groundprobe.qc import QcRecord
from groundprobe.segment_auc import SEGMENT_AUC_COLUMNS
from groundprobe.train import SecondsSource, clip_windows, pad_token_ids, parse_captions, segment_length

STAGE = "evaluate"
AUC_COLUMNS = ["video_id", "n_segments", "auc"]
CATEGORY_COLUMNS = ["category", "vertical", "n_videos", "mean_auc", "ci_low", "ci_high"]


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
_MAX_BINS = 2 ** 20
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


def _binned_counts(scores: np.ndarray, n: int, lo: np.floating, scale: np.floating,
                   n_bins: int) -> tuple[int, np.ndarray]:
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
    count_type = np.int32 if n ** 3 < 2 ** 31 else np.int64
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


def score_video(model: JointEmbedding, seconds: np.ndarray, segments: pd.DataFrame) -> np.ndarray:
    """Cosine similarities (n, n), float32 as the model computes them, of every clip (row) with
    every caption (column) of one video.

    ``seconds`` (n_seconds, D): the video's per-second features; ``segments``: its segment rows
    (start_s, end_s, token_ids). The model is switched to eval mode and run without gradients on
    the device its weights are on.
    """
    video_id = str(segments["video_id"].iloc[0])
    clips = clip_windows(video_id, np.asarray(seconds, dtype=np.float32),
                         segments["start_s"].to_numpy(dtype=np.int64), segment_length(segments))
    captions = parse_captions(video_id, segments["token_ids"].tolist(),
                              model.word_embedding.num_embeddings - 1)
    device = next(model.parameters()).device
    model.eval()
    with torch.inference_mode():
        sim = model.similarity(model.embed_clips(torch.from_numpy(clips).to(device)),
                               model.embed_captions(torch.from_numpy(pad_token_ids(captions)).to(device)))
    return sim.cpu().numpy()


def evaluate_videos(model: JointEmbedding, segments: pd.DataFrame, source: SecondsSource
                    ) -> tuple[pd.DataFrame, pd.DataFrame, list[QcRecord]]:
    """Intra-video AUC per video and segment AUC per caption for every video of ``segments``.

    Returns (AUC_COLUMNS table, SEGMENT_AUC_COLUMNS table, QC records); a video with fewer than
    two segments has no misaligned pair and goes to QC.
    """
    video_rows, segment_tables, qc = [], [], []
    for video_id, rows in segments.groupby("video_id", sort=False):
        rows = rows.sort_values("segment")
        if len(rows) < 2:
            qc.append(QcRecord(str(video_id), STAGE, "fewer than 2 segments with words"))
            continue
        sim = score_video(model, source.seconds(str(video_id)), rows)
        video_rows.append((str(video_id), len(rows), intra_video_auc(sim)))
        segment_tables.append(rows[SEGMENT_AUC_COLUMNS[:-1]].assign(segment_auc=segment_auc(sim)))
    by_segment = (pd.concat(segment_tables, ignore_index=True) if segment_tables
                  else pd.DataFrame(columns=SEGMENT_AUC_COLUMNS))
    return pd.DataFrame(video_rows, columns=AUC_COLUMNS), by_segment, qc


def label_names(cell: object) -> list[str]:
    """The names of a ';'-separated ``labels`` or ``verticals`` cell, in order (none when empty)."""
    return [name for name in cell.split(";") if name] if isinstance(cell, str) else []


def bootstrap_interval(values: np.ndarray, n_boot: int, confidence: float,
                       rng: np.random.Generator, max_draws: int = 1 << 22) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values``, resampling ``n_boot`` times.

    Draws in chunks of at most ``max_draws`` indices, so memory stays bounded for big categories.
    """
    per_chunk = max(1, max_draws // len(values))
    means = np.concatenate([
        values[rng.integers(0, len(values), size=(min(per_chunk, n_boot - done), len(values)))].mean(axis=1)
        for done in range(0, n_boot, per_chunk)])
    low, high = np.quantile(means, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(low), float(high)


def category_table(auc_by_video: pd.DataFrame, n_boot: int, confidence: float, seed: int) -> pd.DataFrame:
    """Mean intra-video AUC per category label over the validation videos, with a bootstrap CI.

    ``auc_by_video``: columns video_id, auc, split, labels and verticals (';'-separated, same
    order). A video counts once for each of its labels, with the vertical at the same position.
    The interval resamples the category's videos with a generator seeded by ``seed`` and the
    category's name, so one category's interval does not depend on the others. Sorted by
    mean_auc, highest first. Columns: CATEGORY_COLUMNS.
    """
    memberships = []
    for video in auc_by_video[auc_by_video["split"] == "validation"].itertuples():
        labels, verticals = label_names(video.labels), label_names(video.verticals)
        if len(labels) != len(verticals):
            raise ValueError(f"video {video.video_id}: {len(labels)} labels but {len(verticals)} verticals")
        memberships.extend((label, vertical, video.video_id, float(video.auc))
                           for label, vertical in dict.fromkeys(zip(labels, verticals)))
    members = pd.DataFrame(memberships, columns=["category", "vertical", "video_id", "auc"])
    rows = []
    for category, group in members.groupby("category", sort=True):
        aucs = group.sort_values("video_id")["auc"].to_numpy(dtype=np.float64)  # order-free CI
        rng = np.random.default_rng([seed, zlib.crc32(str(category).encode())])
        low, high = bootstrap_interval(aucs, n_boot, confidence, rng)
        rows.append((category, group["vertical"].mode().iloc[0], len(aucs), aucs.mean(), low, high))
    table = pd.DataFrame(rows, columns=CATEGORY_COLUMNS)
    return table.sort_values(["mean_auc", "category"], ascending=[False, True],
                             kind="stable").reset_index(drop=True)


def categories_with_videos(table: pd.DataFrame, min_videos: int) -> pd.DataFrame:
    """The rows of a category_table with at least ``min_videos`` validation videos, in its order:
    the table for readers, whose top a mean over one or two videos would otherwise take by chance."""
    return table[table["n_videos"] >= min_videos].reset_index(drop=True)
