"""The per-caption tables: evaluation's segment AUC scores and the segment AUC table, as Parquet.

Segment AUC (one caption against every clip of its video, ties 1/2) is computed by
:func:`groundprobe.evaluation.auc.segment_auc` during evaluation, which writes one Parquet file of
scores per shard (SCORE_SCHEMA). This module joins each shard's scores with the shard's segments
(tokens) and manifest rows (split, categories) into the segment AUC table of that shard
(SEGMENT_TABLE_SCHEMA, one Parquet file per shard), and reads those files back lazily, one shard
at a time and only the columns asked for, so that no job holds more than one shard (the full
corpus holds ~10^8 captions). A video's captions are all in one shard, so one shard's table
holds every caption of its videos. Imports no torch: rule segment_auc runs in the analysis env.
"""

from __future__ import annotations

import os
from typing import Iterable, Iterator, Sequence

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from groundprobe.io import atomic_output
from groundprobe.ingest.manifest import read_shard_rows

# One row per scored caption, as rule evaluate writes it: rel_position is the caption's centre as
# a fraction [0-1] of its video, start_s in seconds.
SEGMENT_AUC_COLUMNS = ["video_id", "segment", "start_s", "rel_position", "n_tokens", "segment_auc"]
SCORE_SCHEMA = pa.schema(
    [
        ("video_id", pa.string()),
        ("segment", pa.int64()),
        ("start_s", pa.int64()),
        ("rel_position", pa.float64()),
        ("n_tokens", pa.int64()),
        ("segment_auc", pa.float64()),
    ]
)
# ``labels`` is the video's ';'-separated categories: a caption belongs to every category of its
# video, the convention of auc_by_category.category_table (no "first label" column, so that no analysis
# can silently use a second convention). ``tokens``: the caption's in-vocabulary words,
# space-separated. labels, verticals and instructional are null where the manifest leaves them
# empty.
SEGMENT_TABLE_COLUMNS = [
    "video_id",
    "split",
    "labels",
    "verticals",
    "instructional",
    "segment",
    "start_s",
    "rel_position",
    "n_tokens",
    "tokens",
    "segment_auc",
]
VIDEO_COLUMNS = ["video_id", "split", "labels", "verticals", "instructional"]
_TYPES = dict(zip(SCORE_SCHEMA.names, SCORE_SCHEMA.types)) | {
    "split": pa.string(),
    "labels": pa.string(),
    "verticals": pa.string(),
    "instructional": pa.int64(),
    "tokens": pa.string(),
}
SEGMENT_TABLE_SCHEMA = pa.schema([(name, _TYPES[name]) for name in SEGMENT_TABLE_COLUMNS])


def join_segment_auc(scores: pd.DataFrame, segments: pd.DataFrame, videos: pd.DataFrame) -> pd.DataFrame:
    """One row per scored caption: its segment AUC, tokens and video metadata.

    ``scores``: SEGMENT_AUC_COLUMNS (video_id, segment, start_s [s], rel_position [0-1],
    n_tokens, segment_auc); ``segments``: the segments table of the same shard (video_id, segment,
    start_s, tokens space-separated); ``videos``: manifest rows (VIDEO_COLUMNS) holding at least
    the scored videos. Segments that were not scored (videos with a single segment) are left out.
    Raises ValueError when a scored caption has no segment or video row, or when start_s
    disagrees (tables of different runs). Columns: SEGMENT_TABLE_COLUMNS, in the order of ``scores``.
    """
    joined = scores.merge(
        segments[["video_id", "segment", "start_s", "tokens"]],
        on=["video_id", "segment"],
        how="left",
        validate="one_to_one",
        suffixes=("", "_segments"),
        indicator="_segment_row",
    )
    missing = joined[joined["_segment_row"] == "left_only"]
    if len(missing):
        raise ValueError(
            f"{len(missing)} scored captions have no segment row, e.g. video "
            f"{missing['video_id'].iloc[0]} segment {missing['segment'].iloc[0]}"
        )
    stale = joined[joined["start_s"] != joined["start_s_segments"]]
    if len(stale):
        raise ValueError(
            f"start_s differs between scores and segments for {len(stale)} captions, "
            f"e.g. video {stale['video_id'].iloc[0]}: were they made by different runs?"
        )
    joined = joined.merge(
        videos[VIDEO_COLUMNS], on="video_id", how="left", validate="many_to_one", indicator="_video_row"
    )
    unknown = joined.loc[joined["_video_row"] == "left_only", "video_id"].unique()
    if len(unknown):
        raise ValueError(f"{len(unknown)} scored videos are not in the manifest, e.g. {unknown[0]}")
    return joined[SEGMENT_TABLE_COLUMNS]


def write_parquet(table: pd.DataFrame, path: str | os.PathLike, schema: pa.Schema) -> None:
    """Write ``table``'s columns of ``schema`` as one Parquet file, atomically, with ``schema``'s
    types whatever pandas inferred (an empty shard gets the same schema as a full one). Raises
    pyarrow's ArrowInvalid when a column cannot take its type (e.g. a fractional instructional)."""
    arrow = pa.Table.from_pandas(table[schema.names], schema=schema, preserve_index=False)
    with atomic_output(path) as tmp:
        pq.write_table(arrow, tmp)


def read_scores(path: str | os.PathLike) -> pd.DataFrame:
    """One shard's scores written by rule evaluate (SEGMENT_AUC_COLUMNS)."""
    return pq.read_table(path, columns=SEGMENT_AUC_COLUMNS).to_pandas()


def read_shard_videos(manifest: str | os.PathLike, shard: str) -> pd.DataFrame:
    """The manifest rows (VIDEO_COLUMNS) of the shard named ``shard`` (manifest.shard_name), read
    from the shard's own bytes of the file (:func:`groundprobe.ingest.manifest.read_shard_rows`), with
    ``instructional`` as a number (missing when unlabelled)."""
    videos = read_shard_rows(manifest, shard)[VIDEO_COLUMNS]
    return videos.assign(instructional=pd.to_numeric(videos["instructional"]))


def iter_segment_tables(
    paths: Iterable[str | os.PathLike], columns: Sequence[str] | None = None, filters: list[tuple] | None = None
) -> Iterator[pd.DataFrame]:
    """The per-shard segment AUC tables (results/segment_auc/{block}/{shard}.parquet), one shard at a time.

    ``columns``: the columns to read (SEGMENT_TABLE_COLUMNS names; all when None), so that an
    analysis holds only what it uses; ``filters``: pyarrow's row filter, e.g.
    ``[("split", "==", "validation")]``, applied while reading. Each frame holds every (kept)
    caption of its videos, since a video's captions are all in one shard; text columns come back
    as text, null cells as missing. Raises ValueError for a column that is not in the table.
    """
    unknown = sorted(set(columns or ()) - set(SEGMENT_TABLE_COLUMNS))
    if unknown:
        raise ValueError(f"not columns of the segment AUC table: {', '.join(unknown)}")
    wanted = list(columns) if columns is not None else None
    return (pq.read_table(path, columns=wanted, filters=filters).to_pandas() for path in paths)
