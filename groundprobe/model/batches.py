"""What feeds training: the training videos (selected from the manifest, found in the shards'
segment indexes), each step's batch plan drawn from the seeded generator, and the planned batches
read from the shard files by DataLoader worker processes; also the helpers that cut clips and
captions out of a video's per-second features and segment table, shared with evaluation.

Per-second features are stored once per video; a segment starting at second ``s`` is the feature
rows ``s .. s + length_s - 1``, gathered when a batch is drawn.

Memory does not grow with the corpus's features or captions: the training process holds 12 bytes
per training video (:class:`TrainingVideos`: its shard, its row in the shard's segment index, its
number of segments). Each step's batch plan (which videos, which of their segments) is drawn here
from the seeded generator; the batch's features and captions are read from the shard files
(:class:`BatchReader`) by DataLoader worker processes that keep the next batches ready (config
``train.loader_workers``). The data's identity in a resume key is the shards' own fingerprints
(computed once per shard by rule segments) and the training videos' ids, never a hash of features.
"""

from __future__ import annotations

import collections
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping, Protocol, Sequence

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from groundprobe.features.store import FeatureStore, check_windows
from groundprobe.io import table_separator
from groundprobe.ingest.manifest import SOURCE_CORPUS
from groundprobe.captions.segments import SegmentIndex

MANIFEST_CHUNK_ROWS = 100_000  # manifest rows read at a time when selecting the training videos
PREFETCH_BATCHES = 2  # batches each loader worker keeps ready
OPEN_INDEXES = 64  # segment index files a batch reader keeps open (least recently used closed)


class SecondsSource(Protocol):
    """Anything that gives a video's per-second features, e.g. ``groundprobe.features.store.FeatureStore``."""

    def seconds(self, video_id: str) -> np.ndarray:
        """Float32 array (n_seconds, D); row k describes second [k, k + 1) of the video."""


@dataclass(frozen=True)
class Batch:
    """A training batch of N = videos x segments_per_video aligned (clip, caption) pairs."""

    clips: np.ndarray  # (N, L, D) float32, L = segment length in seconds
    token_ids: np.ndarray  # (N, T) int64, 0-padded on the right
    video_index: np.ndarray  # (N,) int64, index of each pair's video in the video list


def segment_length(segments: pd.DataFrame) -> int:
    """The common length in seconds (``end_s - start_s``) of a segment table's rows."""
    lengths = (segments["end_s"] - segments["start_s"]).unique()
    if len(lengths) != 1:
        raise ValueError(f"segments must share one length; found lengths {sorted(lengths.tolist())} s")
    return int(lengths[0])


def checked_captions(
    video_id: str, captions: Sequence[np.ndarray], segments: Sequence[int], vocab_size: int
) -> list[np.ndarray]:
    """``captions`` (int64 token id arrays of the video's ``segments``), unchanged once checked.

    Raises ValueError naming the video and segment when a caption is empty or holds an id outside
    1..vocab_size (the vocabulary the model was built for).
    """
    for segment, ids in zip(segments, captions):
        if ids.size == 0 or ids.min() < 1 or ids.max() > vocab_size:
            raise ValueError(
                f"video {video_id}: segment {segment} has token ids {ids.tolist()}; "
                f"expected 1 to {vocab_size} (the vocabulary size) and at least one"
            )
    return list(captions)


def parse_captions(video_id: str, token_cells: Sequence[object], vocab_size: int) -> list[np.ndarray]:
    """Token id arrays from the segment table's space-separated ``token_ids`` cells, checked as
    :func:`checked_captions` does."""
    captions = [np.array(str(cell).split(), dtype=np.int64) for cell in token_cells]
    return checked_captions(video_id, captions, range(len(captions)), vocab_size)


def pad_token_ids(captions: Sequence[np.ndarray]) -> np.ndarray:
    """Right-pad captions with 0 into one int64 array (N, longest caption)."""
    padded = np.zeros((len(captions), max(len(c) for c in captions)), dtype=np.int64)
    for row, ids in enumerate(captions):
        padded[row, : len(ids)] = ids
    return padded


def clip_windows(video_id: str, seconds: np.ndarray, starts: np.ndarray, length_s: int) -> np.ndarray:
    """Feature rows ``start .. start + length_s - 1`` for each start: (n, length_s, D).

    Raises ValueError (:func:`groundprobe.features.store.check_windows`) for a window past the end.
    """
    check_windows(video_id, starts, length_s, len(seconds))
    return seconds[starts[:, None] + np.arange(length_s)]


def spec_rows(manifest: pd.DataFrame, spec: Mapping[str, object]) -> pd.Series:
    """Which rows of ``manifest`` (cells read as text) are videos of the spec's ``corpus`` (the
    source corpus unless it names one, e.g. ``instructional``) matching every ``column: value`` of
    ``spec``: numbers compare numerically (``instructional: 1`` matches a cell '1.0'), the rest as
    text."""
    keep = pd.Series(True, index=manifest.index)
    if "corpus" in manifest and "corpus" not in spec:
        keep &= manifest["corpus"] == SOURCE_CORPUS
    for column, value in spec.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            keep &= pd.to_numeric(manifest[column], errors="coerce") == value
        else:
            keep &= manifest[column] == str(value)
    return keep


def select_videos(
    manifest_path: str | os.PathLike, spec: Mapping[str, object], model: str, chunk_rows: int = MANIFEST_CHUNK_ROWS
) -> np.ndarray:
    """Ids of the manifest rows of the spec's corpus (source unless it names one) whose every
    ``column: value`` of ``spec`` matches (:func:`spec_rows`): the training videos of ``model``
    (config train.models), sorted and distinct (str array). Target-corpus videos (curation) are
    never selected unless a spec names that corpus: they are the domain the probes measure.

    The manifest is read ``chunk_rows`` rows at a time, only the spec's columns, keeping only the
    selected ids. Raises ValueError naming a spec column the manifest lacks, and naming the model
    and its spec when the spec selects no video.
    """
    separator = table_separator(Path(manifest_path))
    header = pd.read_csv(manifest_path, sep=separator, nrows=0).columns.tolist()
    for column in spec:
        if column not in header:
            raise ValueError(
                f"model spec selects on '{column}', which the manifest lacks (columns: {', '.join(header)})"
            )
    columns = list(dict.fromkeys(["video_id", *(["corpus"] if "corpus" in header else []), *spec]))
    selected, n_rows = [np.empty(0, dtype=str)], 0
    for chunk in pd.read_csv(
        manifest_path, sep=separator, usecols=columns, dtype=str, keep_default_na=False, chunksize=chunk_rows
    ):
        n_rows += len(chunk)
        selected.append(chunk.loc[spec_rows(chunk, spec), "video_id"].to_numpy(dtype=str))
    ids = np.unique(np.concatenate(selected))
    if not ids.size:
        raise ValueError(
            f"model '{model}': its spec {dict(spec)} (config train.models) selects none "
            f"of the manifest's {n_rows} videos; nothing to train on"
        )
    return ids


@dataclass(frozen=True)
class TrainingVideos:
    """The training videos as batch plans need them, in video-id order: 12 bytes per video."""

    index_files: tuple[str, ...]  # the shards' segment index files (groundprobe.captions.segments)
    shard: np.ndarray  # (V,) int32, each video's shard: its place in index_files
    row: np.ndarray  # (V,) int32, the video's row in its shard's index
    n_segments: np.ndarray  # (V,) int32, its number of segments (>= 1)
    fingerprint: str  # sha256 of the shards' fingerprints and the videos' ids

    def __len__(self) -> int:
        return len(self.n_segments)


def training_videos(
    index_files: Sequence[str | os.PathLike], selected_ids: np.ndarray, length_s: int, vocab_size: int
) -> TrainingVideos:
    """The videos of ``selected_ids`` (sorted, distinct str array) that have segments in the shards'
    segment indexes. A video of one segment is trained on too: its clip and caption still meet
    other videos' as negatives (its same-video hinges are constant: plan_batch draws its one segment again).

    Reads each index's video list only, one shard at a time. Raises ValueError when an index was
    made for another segment length or a larger vocabulary, when a video is in two shards, when
    fewer than 2 selected videos have segments.
    """
    ids, shards, rows, counts, fingerprints = [], [], [], [], []
    for shard, path in enumerate(map(str, index_files)):
        with SegmentIndex(path) as index:
            if index.length_s != length_s:
                raise ValueError(f"segments are {index.length_s} s long, config says {length_s} s ({path})")
            if index.max_token_id > vocab_size:
                raise ValueError(
                    f"{path} holds token id {index.max_token_id}, beyond the "
                    f"vocabulary's {vocab_size} ids; rerun rule segments"
                )
            shard_ids, shard_counts = index.videos()
            fingerprints.append(index.fingerprint)
        place = np.searchsorted(selected_ids, shard_ids).clip(max=max(len(selected_ids) - 1, 0))
        selected = selected_ids[place] == shard_ids if len(selected_ids) else np.zeros(0, bool)
        keep = np.flatnonzero(selected)
        ids.append(shard_ids[keep])
        shards.append(np.full(len(keep), shard, dtype=np.int32))
        rows.append(keep.astype(np.int32))
        counts.append(shard_counts[keep].astype(np.int32))
    all_ids = np.concatenate(ids).astype(str)
    order = np.argsort(all_ids, kind="stable")
    all_ids = all_ids[order]
    if not len(all_ids):
        raise ValueError("no segments to train on: the selected videos have none")
    if len(all_ids) < 2:
        raise ValueError(f"training needs at least 2 videos with segments, found {len(all_ids)}")
    twice = np.flatnonzero(all_ids[1:] == all_ids[:-1])
    if twice.size:
        raise ValueError(f"video {all_ids[twice[0]]} is in two segment index files")
    digest = hashlib.sha256("\n".join(fingerprints).encode())
    digest.update(f"|{all_ids.dtype.str}|".encode() + all_ids.tobytes())
    return TrainingVideos(
        tuple(map(str, index_files)),
        np.concatenate(shards)[order],
        np.concatenate(rows)[order],
        np.concatenate(counts)[order],
        digest.hexdigest(),
    )


@dataclass(frozen=True)
class BatchPlan:
    """Which videos and segments make one step's batch (drawn in the training process)."""

    videos: np.ndarray  # (B,) int64, the videos' places in TrainingVideos
    shard: np.ndarray  # (B,) int32, their shards
    row: np.ndarray  # (B,) int32, their rows in their shards' indexes
    segments: np.ndarray  # (B, segments_per_video) int64, each video's drawn segments


def plan_batch(
    rng: np.random.Generator, videos: TrainingVideos, batch_videos: int, segments_per_video: int
) -> BatchPlan:
    """Draw ``batch_videos`` distinct videos and ``segments_per_video`` segments of each.

    Segments are drawn without replacement when the video has enough, else with replacement (a
    repeated segment then only adds a constant to the loss: its hinge has zero gradient).
    """
    chosen = rng.choice(len(videos), size=batch_videos, replace=False)
    picks = [
        rng.choice(n, size=segments_per_video, replace=n < segments_per_video)
        for n in videos.n_segments[chosen].tolist()
    ]
    return BatchPlan(
        chosen.astype(np.int64), videos.shard[chosen], videos.row[chosen], np.stack(picks).astype(np.int64)
    )


def first_video_width(videos: TrainingVideos, feature_streams: Sequence[Sequence[str]]) -> int:
    """The feature width D of the first training video (every video must share it)."""
    with SegmentIndex(videos.index_files[videos.shard[0]]) as index:
        video_id = index.video(int(videos.row[0])).video_id
    with FeatureStore(*feature_streams) as store:
        return int(store.seconds(video_id).shape[1])


class BatchReader(Dataset):
    """Reads planned batches from the shard files: ``reader[plan]`` is the :class:`Batch` of a
    :class:`BatchPlan`, of which only the drawn segments' feature rows are read
    (:meth:`FeatureStore.windows`), not the videos' other seconds. Its files open on first use in
    the process that reads (each DataLoader worker its own), so it travels to the workers as paths; it keeps at most
    :data:`OPEN_INDEXES` segment indexes open."""

    def __init__(
        self,
        index_files: Sequence[str],
        feature_streams: Sequence[Sequence[str]],
        length_s: int,
        vocab_size: int,
        video_dim: int,
    ):
        self.index_files = tuple(index_files)
        self.feature_streams = tuple(tuple(map(str, paths)) for paths in feature_streams)
        self.length_s, self.vocab_size, self.video_dim = length_s, vocab_size, video_dim
        self._store: FeatureStore | None = None
        self._indexes: collections.OrderedDict[int, SegmentIndex] = collections.OrderedDict()

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_store": None, "_indexes": collections.OrderedDict()}

    def _index(self, shard: int) -> SegmentIndex:
        if shard in self._indexes:
            self._indexes.move_to_end(shard)
        else:
            if len(self._indexes) >= OPEN_INDEXES:
                self._indexes.popitem(last=False)[1].close()
            self._indexes[shard] = SegmentIndex(self.index_files[shard])
        return self._indexes[shard]

    def __getitem__(self, plan: BatchPlan) -> Batch:
        if self._store is None:
            self._store = FeatureStore(*self.feature_streams)
        clips, captions = [], []
        for shard, row, segments in zip(plan.shard.tolist(), plan.row.tolist(), plan.segments):
            video = self._index(shard).video(row)
            windows = self._store.windows(video.video_id, video.starts[segments], self.length_s)
            if windows.shape[2] != self.video_dim:
                raise ValueError(
                    f"video {video.video_id} has {windows.shape[2]}-d features, other "
                    f"training videos {self.video_dim}-d"
                )
            clips.append(windows)
            captions.extend(
                checked_captions(video.video_id, video.captions(segments), segments.tolist(), self.vocab_size)
            )
        return Batch(np.concatenate(clips), pad_token_ids(captions), np.repeat(plan.videos, plan.segments.shape[1]))

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
        while self._indexes:
            self._indexes.popitem()[1].close()


def _shared(batch: Batch) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """A batch as a loader worker sends it: the clips as a tensor, which goes to the training
    process through shared memory instead of a pickled copy; the small token and video arrays
    pickled (each tensor costs the receiver a connection to the worker to fetch its memory)."""
    return torch.from_numpy(batch.clips), batch.token_ids, batch.video_index


def planned_batches(
    rng: np.random.Generator,
    videos: TrainingVideos,
    reader: BatchReader,
    batch_videos: int,
    segments_per_video: int,
    n_batches: int,
    workers: int,
) -> Iterator[tuple[Batch, dict]]:
    """The next ``n_batches`` batches, each with the generator's state right after its plan (the
    state a resume after that step starts from).

    The plans are drawn here, in order, from ``rng``, as far ahead as the ``workers`` loader
    processes read (:data:`PREFETCH_BATCHES` each); with 0 workers each batch is read here when
    asked for. Close the iterator to stop the workers early.
    """
    states: collections.deque[dict] = collections.deque()

    def plans() -> Iterator[BatchPlan]:
        for _ in range(n_batches):
            plan = plan_batch(rng, videos, batch_videos, segments_per_video)
            states.append(rng.bit_generator.state)
            yield plan

    loader = DataLoader(
        reader,
        batch_size=None,
        sampler=plans(),
        num_workers=workers,
        collate_fn=_shared,
        prefetch_factor=PREFETCH_BATCHES if workers else None,
    )
    try:
        for clips, token_ids, video_index in loader:
            yield Batch(clips.numpy(), token_ids, video_index), states.popleft()
    finally:
        reader.close()
