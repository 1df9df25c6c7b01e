"""Candidate 5-second segments per video and the caption tokens spoken inside each.

Per-second features make whole-second starts exact: a segment starting at second ``s`` covers the
feature rows ``s .. s + length_s - 1`` and the words whose start time lies in ``[s, s + length_s)``.
"""

from __future__ import annotations

import hashlib
import os
import zlib
from dataclasses import dataclass
from typing import Sequence

import h5py
import numpy as np
import pandas as pd

from groundprobe.io import atomic_output
from groundprobe.ingest.qc import QcRecord

SEGMENT_COLUMNS = ["video_id", "segment", "start_s", "end_s", "rel_position", "n_tokens", "token_ids", "tokens"]
STAGE = "segments"


def video_rng(seed: int, video_id: str) -> np.random.Generator:
    """A generator that depends only on the seed and the video, not on shard or order."""
    return np.random.default_rng([seed, zlib.crc32(video_id.encode())])


def sample_segment_starts(n_seconds: int, length_s: int, candidates: int, rng: np.random.Generator) -> np.ndarray:
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


def window_word_ranges(word_starts: np.ndarray, starts: np.ndarray, length_s: int) -> tuple[np.ndarray, np.ndarray]:
    """The words a segment holds: for each window start ``s`` (seconds, shape (n,)), the index
    range ``first .. last - 1`` of the words whose start time lies in ``[s, s + length_s)``.

    ``word_starts``: the video's word start times in seconds, sorted ascending. Returns two int
    arrays of shape (n,). The one rule of a word inside a segment (also used by the demo's oracle).
    """
    return (
        np.searchsorted(word_starts, starts, side="left"),
        np.searchsorted(word_starts, np.asarray(starts) + length_s, side="left"),
    )


def video_segments(
    video_id: str,
    n_seconds: int,
    words: pd.DataFrame,
    vocabulary: dict[str, int],
    length_s: int,
    candidates: int,
    max_tokens: int,
    seed: int,
) -> pd.DataFrame:
    """Segments of one video that contain at least one in-vocabulary token.

    ``words``: this video's rows (token, start_s) sorted by start. ``rel_position`` is the
    segment's centre as a fraction of the video's ``n_seconds``. Columns: SEGMENT_COLUMNS.
    """
    starts = sample_segment_starts(n_seconds, length_s, candidates, video_rng(seed, video_id))
    tokens = words["token"].to_numpy(dtype=object)
    first, last = window_word_ranges(words["start_s"].to_numpy(dtype=float), starts, length_s)
    rows = []
    for start, lo, hi in zip(starts.tolist(), first.tolist(), last.tolist()):
        kept = [(vocabulary[t], t) for t in tokens[lo:hi] if t in vocabulary][:max_tokens]
        if kept:
            rows.append(
                (
                    video_id,
                    len(rows),
                    start,
                    start + length_s,
                    (start + length_s / 2) / n_seconds,
                    len(kept),
                    " ".join(str(i) for i, _ in kept),
                    " ".join(t for _, t in kept),
                )
            )
    return pd.DataFrame(rows, columns=SEGMENT_COLUMNS)


def shard_segments(
    n_seconds: dict[str, int],
    words: pd.DataFrame,
    vocabulary: dict[str, int],
    length_s: int,
    candidates: int,
    max_tokens: int,
    seed: int,
) -> tuple[pd.DataFrame, list[QcRecord]]:
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
        segments = video_segments(
            video_id,
            seconds,
            words_by_video[video_id].sort_values("start_s"),
            vocabulary,
            length_s,
            candidates,
            max_tokens,
            seed,
        )
        if segments.empty:
            qc.append(QcRecord(video_id, STAGE, "no segment contains an in-vocabulary word"))
            continue
        frames.append(segments)
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=SEGMENT_COLUMNS)
    return table, qc


# The per-shard segment index (rule segments' .h5 output): the segment table as CSR arrays, so
# that training reads one video's segments without reading its shard's table. Contiguous,
# uncompressed datasets, which the reader maps into memory (a slice costs microseconds, where an
# h5py read costs a millisecond). Datasets:
#   video_ids      (V,)      UTF-8 bytes of fixed width, sorted (byte order = code-point order,
#                            as Python sorts str)
#   video_offsets  (V + 1,)  int64: video v's segments are rows video_offsets[v] .. [v + 1] - 1
#   starts         (S,)      int32: each segment's start second, in the table's segment order
#   token_offsets  (S + 1,)  int64: segment s's tokens are token_ids[token_offsets[s] .. [s + 1] - 1]
#   token_ids      (K,)      int32: vocabulary ids (>= 1)
# Attributes: length_s, max_token_id (0 when empty), sha256 (the shard's data fingerprint: these
# arrays, length_s and the sha256 of the feature files the segments were drawn for).
INDEX_ARRAYS = ("video_ids", "video_offsets", "starts", "token_offsets", "token_ids")


def index_arrays(table: pd.DataFrame) -> dict[str, np.ndarray]:
    """The CSR arrays of a segment table (columns SEGMENT_COLUMNS, each video's segments numbered
    0, 1, ... in the ``segment`` column): see the layout above."""
    table = table.sort_values(["video_id", "segment"], kind="stable")
    video_ids, counts = np.unique(table["video_id"].to_numpy(dtype=str), return_counts=True)
    captions = [np.array(cell.split(), dtype=np.int32) for cell in table["token_ids"].astype(str)]
    lengths = np.array([len(ids) for ids in captions], dtype=np.int64)
    return {
        "video_ids": video_ids,
        "video_offsets": np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        "starts": table["start_s"].to_numpy(dtype=np.int32),
        "token_offsets": np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        "token_ids": (np.concatenate(captions) if captions else np.empty(0, np.int32)),
    }


def index_fingerprint(arrays: dict[str, np.ndarray], length_s: int, features_sha256: Sequence[str]) -> str:
    """sha256 of a shard's segment arrays, the segment length and the sha256 of the feature
    files they were drawn for: changes whenever the training data of the shard changes."""
    digest = hashlib.sha256(f"length_s={length_s};features={','.join(features_sha256)}".encode())
    for name in INDEX_ARRAYS:
        data = (
            "\n".join(arrays[name]).encode()
            if name == "video_ids"
            else np.ascontiguousarray(arrays[name], dtype="<i8").tobytes()
        )
        digest.update(f"|{name}:{len(arrays[name])}|".encode() + data)
    return digest.hexdigest()


def write_segment_index(
    table: pd.DataFrame, length_s: int, features_sha256: Sequence[str], path: str | os.PathLike
) -> str:
    """Write a shard's segment index (layout above) atomically; returns its fingerprint.

    ``features_sha256``: sha256 of the shard's feature files (2D, 3D), computed once here so
    that training never hashes features.
    """
    arrays = index_arrays(table)
    fingerprint = index_fingerprint(arrays, length_s, features_sha256)
    encoded = np.array([video_id.encode() for video_id in arrays["video_ids"]], dtype=bytes)
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as h5:
        for name in INDEX_ARRAYS:
            h5.create_dataset(name, data=encoded if name == "video_ids" else arrays[name])
        h5.attrs.update(
            length_s=int(length_s), sha256=fingerprint, max_token_id=int(arrays["token_ids"].max(initial=0))
        )
    return fingerprint


@dataclass(frozen=True)
class IndexedVideo:
    """One video's segments as read from a segment index."""

    video_id: str
    starts: np.ndarray  # (n_segments,) int64 start seconds
    token_offsets: np.ndarray  # (n_segments + 1,) int64 into token_ids
    token_ids: np.ndarray  # (n_tokens,) int64, the video's captions one after the other

    def captions(self, segments: np.ndarray) -> list[np.ndarray]:
        """Token id arrays of the given segments (indices into starts), in that order."""
        return [self.token_ids[self.token_offsets[s] : self.token_offsets[s + 1]] for s in segments.tolist()]


class SegmentIndex:
    """A shard's segment index file (see :func:`write_segment_index`), mapped into memory for
    reading; nothing is read before it is asked for."""

    def __init__(self, path: str | os.PathLike):
        self.path = str(path)
        with h5py.File(path, "r") as h5:
            missing = [name for name in INDEX_ARRAYS if name not in h5] + [
                key for key in ("length_s", "sha256", "max_token_id") if key not in h5.attrs
            ]
            if missing:
                raise ValueError(f"{path} is not a segment index (it lacks {', '.join(missing)}); rerun rule segments")
            self.attrs = dict(h5.attrs)
            self._arrays = {name: self._mapped(h5[name]) for name in INDEX_ARRAYS}

    def _mapped(self, dataset: h5py.Dataset) -> np.ndarray:
        """The dataset's values mapped from the file (read-only), without h5py."""
        if dataset.size == 0:
            return np.empty(dataset.shape, dtype=dataset.dtype)
        offset = dataset.id.get_offset()
        if dataset.chunks is not None or offset is None:
            raise ValueError(f"{self.path}: dataset {dataset.name} is not stored contiguously; rerun rule segments")
        return np.memmap(self.path, dtype=dataset.dtype, mode="r", offset=offset, shape=dataset.shape).view(np.ndarray)

    @property
    def length_s(self) -> int:
        return int(self.attrs["length_s"])

    @property
    def fingerprint(self) -> str:
        return str(self.attrs["sha256"])

    @property
    def max_token_id(self) -> int:
        return int(self.attrs["max_token_id"])

    def videos(self) -> tuple[np.ndarray, np.ndarray]:
        """The shard's video ids (str array, sorted) and each one's number of segments (int64)."""
        return (
            np.char.decode(self._arrays["video_ids"], "utf-8").astype(str),
            np.diff(self._arrays["video_offsets"]).astype(np.int64),
        )

    def video(self, row: int) -> IndexedVideo:
        """The segments of the shard's video number ``row`` (its place in :meth:`videos`)."""
        first, last = self._arrays["video_offsets"][row : row + 2].tolist()
        token_offsets = self._arrays["token_offsets"][first : last + 1].astype(np.int64)
        return IndexedVideo(
            self._arrays["video_ids"][row].decode(),
            self._arrays["starts"][first:last].astype(np.int64),
            token_offsets - token_offsets[0],
            self._arrays["token_ids"][token_offsets[0] : token_offsets[-1]].astype(np.int64),
        )

    def close(self) -> None:
        """Unmap the file (the arrays handed out are copies and stay valid)."""
        self._arrays.clear()

    def __enter__(self) -> SegmentIndex:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
