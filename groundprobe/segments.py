"""Candidate 5-second segments per video and the caption tokens spoken inside each.

Per-second features make whole-second starts exact: a segment starting at second ``s`` covers the
feature rows ``s .. s + length_s - 1`` and the words whose start time lies in ``[s, s + length_s)``.
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

from groundprobe.qc import QcRecord

SEGMENT_COLUMNS = ["video_id", "segment", "start_s", "end_s", "rel_position", "n_tokens",
                   "token_ids", "tokens"]
STAGE = "segments"


def video_rng(seed: int, video_id: str) -> np.random.Generator:
    """A generator that depends only on the seed and the video, not on shard or order."""
    return np.random.default_rng([seed, zlib.crc32(video_id.encode())])


def sample_segment_starts(n_seconds: int, length_s: int, candidates: int,
                          rng: np.random.Generator) -> np.ndarray:
    """Sorted start seconds of up to ``candidates`` distinct segments, uniform over the video.

    Distinct, because two identical segments would be scored as a misaligned pair although they
    are the same; a video with fewer possible starts than ``candidates`` gets all of them.
    Returns an int array of shape (min(candidates, n_seconds - length_s + 1),), empty when the
    video is shorter than one segment.
    """
    n_starts = n_seconds - length_s + 1
    if n_starts <= 0:
        return np.empty(0, dtype=np.int64)
    return np.sort(rng.choice(n_starts, size=min(candidates, n_starts), replace=False))


def video_segments(video_id: str, n_seconds: int, words: pd.DataFrame, vocabulary: dict[str, int],
                   length_s: int, candidates: int, max_tokens: int, seed: int) -> pd.DataFrame:
    """Segments of one video that contain at least one in-vocabulary token.

    ``words``: this video's rows (token, start_s) sorted by start. ``rel_position`` is the
    segment's centre as a fraction of the video's ``n_seconds``. Columns: SEGMENT_COLUMNS.
    """
    starts = sample_segment_starts(n_seconds, length_s, candidates, video_rng(seed, video_id))
    word_starts = words["start_s"].to_numpy(dtype=float)
    tokens = words["token"].to_numpy(dtype=object)
    first = np.searchsorted(word_starts, starts, side="left")
    last = np.searchsorted(word_starts, starts + length_s, side="left")
    rows = []
    for start, lo, hi in zip(starts.tolist(), first.tolist(), last.tolist()):
        kept = [(vocabulary[t], t) for t in tokens[lo:hi] if t in vocabulary][:max_tokens]
        if kept:
            rows.append((video_id, len(rows), start, start + length_s,
                         (start + length_s / 2) / n_seconds, len(kept),
                         " ".join(str(i) for i, _ in kept), " ".join(t for _, t in kept)))
    return pd.DataFrame(rows, columns=SEGMENT_COLUMNS)


def shard_segments(n_seconds: dict[str, int], words: pd.DataFrame, vocabulary: dict[str, int],
                   length_s: int, candidates: int, max_tokens: int,
                   seed: int) -> tuple[pd.DataFrame, list[QcRecord]]:
    """Segments for every video that has both features (``n_seconds``) and words.

    A video without words was already recorded by the ASR stage and is skipped here; one that is
    shorter than a segment, or whose segments hold no in-vocabulary token, becomes a QC record.
    """
    frames, qc = [], []
    words_by_video = {vid: group for vid, group in words.groupby("video_id", sort=False)}
    for video_id, seconds in n_seconds.items():
        if video_id not in words_by_video:
            continue
        if seconds < length_s:
            qc.append(QcRecord(video_id, STAGE, f"shorter than one segment ({seconds} s < {length_s} s)"))
            continue
        segments = video_segments(video_id, seconds, words_by_video[video_id].sort_values("start_s"),
                                  vocabulary, length_s, candidates, max_tokens, seed)
        if segments.empty:
            qc.append(QcRecord(video_id, STAGE, "no segment contains an in-vocabulary word"))
            continue
        frames.append(segments)
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=SEGMENT_COLUMNS)
    return table, qc
