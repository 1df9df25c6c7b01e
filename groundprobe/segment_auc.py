"""The per-caption segment AUC table: every scored caption with its video's metadata and tokens.

Segment AUC (one caption against every clip of its video, ties 1/2) is computed by
:func:`groundprobe.evaluate.segment_auc` during evaluation; this module only joins it with the
segments table (tokens) and the manifest (split, categories), one shard at a time so that memory
is bounded by the largest shard, not by the corpus.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import pandas as pd

from groundprobe.io import atomic_output, table_separator

# ``labels`` is the video's ';'-separated categories: a caption belongs to every category of its
# video, the convention of evaluate.category_table (no "first label" column, so that no analysis
# can silently use a second convention).
SEGMENT_TABLE_COLUMNS = ["video_id", "split", "labels", "verticals", "instructional", "segment",
                         "start_s", "rel_position", "n_tokens", "tokens", "segment_auc"]
VIDEO_COLUMNS = ["video_id", "split", "labels", "verticals", "instructional"]


def join_segment_auc(scores: pd.DataFrame, segments: pd.DataFrame, videos: pd.DataFrame) -> pd.DataFrame:
    """One row per scored caption: its segment AUC, tokens and video metadata.

    ``scores``: evaluate.SEGMENT_AUC_COLUMNS (video_id, segment, start_s [s], rel_position [0-1],
    n_tokens, segment_auc); ``segments``: the segments table of the same shard (video_id, segment,
    start_s, tokens space-separated); ``videos``: the manifest (VIDEO_COLUMNS). Segments that were
    not scored (videos with a single segment) are left out. Raises ValueError when a scored
    caption has no segment or video row, or when start_s disagrees (tables of different runs).
    Columns: SEGMENT_TABLE_COLUMNS, in the order of ``scores``.
    """
    joined = scores.merge(segments[["video_id", "segment", "start_s", "tokens"]],
                          on=["video_id", "segment"], how="left", validate="one_to_one",
                          suffixes=("", "_segments"), indicator="_segment_row")
    missing = joined[joined["_segment_row"] == "left_only"]
    if len(missing):
        raise ValueError(f"{len(missing)} scored captions have no segment row, e.g. video "
                         f"{missing['video_id'].iloc[0]} segment {missing['segment'].iloc[0]}")
    stale = joined[joined["start_s"] != joined["start_s_segments"]]
    if len(stale):
        raise ValueError(f"start_s differs between scores and segments for {len(stale)} captions, "
                         f"e.g. video {stale['video_id'].iloc[0]}: were they made by different runs?")
    joined = joined.merge(videos[VIDEO_COLUMNS], on="video_id", how="left", validate="many_to_one",
                          indicator="_video_row")
    unknown = joined.loc[joined["_video_row"] == "left_only", "video_id"].unique()
    if len(unknown):
        raise ValueError(f"{len(unknown)} scored videos are not in the manifest, e.g. {unknown[0]}")
    return joined[SEGMENT_TABLE_COLUMNS]


def write_segment_auc(shards: Iterable[pd.DataFrame], path: str | os.PathLike) -> int:
    """Write the joined shard tables one after the other into one table, atomically.

    Streaming keeps memory at one shard (the full corpus holds ~10^8 captions). The separator
    follows the file name as in io.write_table, so io.read_table reads it back. Returns the
    number of rows written.
    """
    rows = 0
    sep = table_separator(Path(path))
    with atomic_output(path) as tmp, open(tmp, "w", newline="") as handle:
        pd.DataFrame(columns=SEGMENT_TABLE_COLUMNS).to_csv(handle, sep=sep, index=False)
        for table in shards:
            table[SEGMENT_TABLE_COLUMNS].to_csv(handle, sep=sep, index=False, header=False)
            rows += len(table)
    return rows
