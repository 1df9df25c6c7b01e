"""Reading feature shard files back: a :class:`FeatureStore` of many shards, one video at a time.

A store indexes which shard file holds each video (:class:`StreamIndex`, ids as :class:`VideoIds`), keeps a
bounded number of files open, and reads a video's seconds, or only some windows of them, as float32.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Iterable, Iterator, overload

import h5py
import numpy as np

MAX_OPEN_FILES = 32  # shard files a FeatureStore keeps open at once
METADATA_CACHE_BYTES = 256 * 1024  # HDF5 metadata cache of a shard file open for reading
# Rows between two wanted rows of a video that are read rather than skipped: one more read call
# costs about as much as copying ~90 rows of 2048 float16 values (measured 2026-12-03: ~45 us a
# call, ~0.5 us a row).
MERGE_GAP_ROWS = 64
FLOAT16_AS_FLOAT32 = np.arange(2**16, dtype=np.uint16).view(np.float16).astype(np.float32)


def _id_bytes(video_ids: Iterable[str]) -> np.ndarray:
    """Video ids as one fixed-width bytes array (UTF-8, whose byte order is the ids' code-point order)."""
    encoded = [video_id.encode() for video_id in video_ids]
    return np.array(encoded, dtype=bytes) if encoded else np.empty(0, dtype="S1")


def _position(ids: np.ndarray, video_id: str) -> int | None:
    """Index of ``video_id`` in the sorted bytes array ``ids``, or None when it is not there."""
    key = video_id.encode()
    at = int(np.searchsorted(ids, key))
    return at if at < len(ids) and ids[at] == key else None


class VideoIds(Sequence[str]):
    """A sorted, read-only sequence of video ids held as one fixed-width bytes array.

    Costs the longest id's length in bytes per video (11 for YouTube ids), against ~70 for a list
    of str; ids are decoded on access, and ``in`` is a binary search. Equal to any sequence of the
    same ids in the same order (e.g. a list).
    """

    def __init__(self, ids: np.ndarray):
        self._ids = ids

    def __len__(self) -> int:
        return len(self._ids)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> VideoIds: ...

    def __getitem__(self, index: int | slice) -> str | VideoIds:
        if isinstance(index, slice):
            return VideoIds(self._ids[index])
        return self._ids[index].decode()

    def __iter__(self) -> Iterator[str]:
        return (video_id.decode() for video_id in self._ids)

    def __contains__(self, video_id: object) -> bool:
        return isinstance(video_id, str) and _position(self._ids, video_id) is not None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, (str, bytes)):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))

    __hash__ = None  # type: ignore[assignment]  # equal to lists, which are unhashable

    def __repr__(self) -> str:
        shown = ", ".join(repr(video_id) for video_id in self[:3])
        return f"VideoIds([{shown}{', ...' if len(self) > 3 else ''}], {len(self)} ids)"


@dataclass(frozen=True)
class StreamIndex:
    """Where one stream's videos are: sorted ids (fixed-width bytes) and, per id, its file's number.

    The longest id's length plus 1 byte per video (2 from 256 files on: file numbers are the
    smallest unsigned type that holds them), no h5py object: files are opened only to list them
    (:meth:`of_files`, :meth:`of_videos`).
    """

    paths: tuple[str, ...]
    ids: np.ndarray  # sorted unique ids, dtype S<longest id>
    file_of: np.ndarray  # (len(ids),) index into paths

    @classmethod
    def of_files(cls, paths: Iterable[str | os.PathLike]) -> StreamIndex:
        """Every video of the shard files ``paths``; raises ValueError for a video in two files."""
        paths = tuple(os.fspath(path) for path in paths)
        return cls._sorted(paths, [_list_videos(path) for path in paths])

    @classmethod
    def of_videos(cls, locations: Mapping[str, str | os.PathLike]) -> StreamIndex:
        """The videos of ``locations`` ({video id: its shard file}) that their file holds.

        Opens only the files named there, once each, to check which ids they hold.
        """
        wanted: dict[str, list[str]] = {}
        for video_id, path in locations.items():
            wanted.setdefault(os.fspath(path), []).append(video_id)
        paths = tuple(sorted(wanted))
        return cls._sorted(paths, [_list_videos(path, wanted[path]) for path in paths])

    @classmethod
    def _sorted(cls, paths: tuple[str, ...], ids_per_file: list[np.ndarray]) -> StreamIndex:
        ids = np.concatenate(ids_per_file) if ids_per_file else np.empty(0, dtype="S1")
        file_of = np.repeat(
            np.arange(len(paths), dtype=np.min_scalar_type(max(len(paths) - 1, 0))),
            [len(file_ids) for file_ids in ids_per_file],
        )
        order = np.argsort(ids, kind="stable")
        ids, file_of = ids[order], file_of[order]
        twice = np.flatnonzero(ids[1:] == ids[:-1])
        if len(twice):
            at = twice[0]
            raise ValueError(
                f"video {ids[at].decode()} is in two feature files: {paths[file_of[at]]} and {paths[file_of[at + 1]]}"
            )
        return cls(paths, ids, file_of)

    def path_of(self, video_id: str) -> str | None:
        """The file holding ``video_id``, or None when this stream does not have it."""
        at = _position(self.ids, video_id)
        return None if at is None else self.paths[self.file_of[at]]


def _list_videos(path: str, among: Iterable[str] | None = None) -> np.ndarray:
    """Ids of the videos in shard file ``path`` (only those of ``among`` when given) as bytes."""
    with h5py.File(path, "r") as h5:
        return _id_bytes(list(h5) if among is None else [video_id for video_id in among if video_id in h5])


def open_shard(path: str | os.PathLike) -> h5py.File:
    """A shard file opened for reading, its metadata cache held to :data:`METADATA_CACHE_BYTES`.

    HDF5's default cache grows to 2 MB of entries, about 13 MB resident once a file's 1,000 videos
    have been read, per open file; reads that touch each video once gain nothing from it.
    """
    h5 = h5py.File(path, "r")
    config = h5.id.get_mdc_config()
    config.set_initial_size = True
    config.min_size = min(config.min_size, METADATA_CACHE_BYTES)
    config.initial_size = config.max_size = METADATA_CACHE_BYTES
    h5.id.set_mdc_config(config)
    return h5


def _runs(dataset: h5py.h5d.DatasetID, firsts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """Rows ``[firsts[i], stops[i])`` of a 2-d dataset for each run i, one run after the other,
    in the dataset's own dtype: ``(sum(stops - firsts), dim)``.

    One read per run: HDF5 reads a union of hyperslabs several times slower than its parts.
    """
    out = np.empty((int((stops - firsts).sum()), dataset.shape[1]), dataset.dtype)
    memory = h5py.h5s.create_simple(out.shape)
    at = 0
    for first, stop in zip(firsts.tolist(), stops.tolist()):
        selection = dataset.get_space()
        selection.select_hyperslab((first, 0), (stop - first, out.shape[1]))
        memory.select_hyperslab((at, 0), (stop - first, out.shape[1]))
        dataset.read(memory, selection, out)
        at += stop - first
    return out


def covering_runs(rows: np.ndarray, gap: int = MERGE_GAP_ROWS) -> tuple[np.ndarray, np.ndarray]:
    """Runs ``[firsts[i], stops[i])`` that cover the sorted distinct ``rows`` (int64), merging
    two rows into one run when at most ``gap`` rows lie between them."""
    ends = np.flatnonzero(np.diff(rows) > gap + 1)  # a run ends at rows[end], the next starts after
    return np.concatenate([rows[:1], rows[ends + 1]]), np.concatenate([rows[ends], rows[-1:]]) + 1


def as_float32(features: np.ndarray, out: np.ndarray) -> None:
    """Write stored features (float16, the feature files' type, or any float) into float32 ``out``.

    Float16 goes through a table of every float16 value: twice as fast as numpy's cast, bit for
    bit the same (the table is made by that cast).
    """
    if features.dtype == np.float16:
        np.take(FLOAT16_AS_FLOAT32, features.view(np.uint16), out=out, mode="clip")
    else:
        out[...] = features


def check_windows(video_id: str, starts: np.ndarray, length_s: int, n_seconds: int) -> None:
    """Raise ValueError naming the video when a window ``start .. start + length_s - 1`` of
    ``starts`` lies outside its ``n_seconds`` seconds of features."""
    if starts.size and (starts.min() < 0 or starts.max() + length_s > n_seconds):
        raise ValueError(
            f"video {video_id}: a segment starting at {int(starts.max())} s needs "
            f"{int(starts.max()) + length_s} seconds of features, found {n_seconds}"
        )


class FeatureStore:
    """Feature streams of many shard files, read lazily one video at a time.

    Built from one list of shard files per stream (usually 2D and 3D, in that order), or with
    :meth:`for_videos` from where each wanted video is. ``seconds(video_id)`` is the streams' rows
    concatenated for every second all of them have (the shortest stream sets the length): float32
    ``(n_seconds, D2 + D3)``; ``video_ids`` are the videos every stream has, sorted.

    ``windows(video_id, starts, length_s)`` reads only the given windows of those rows.

    Opening lists the files' videos into a :class:`StreamIndex` per stream and closes them again:
    it holds bytes per video, no h5py object. A file is opened again when one of its videos is
    read and stays open, at most ``max_open_files`` of them (least recently used closed first);
    datasets are looked up by name on each read. The store can be pickled (open files are left
    behind and reopened on use) and used after a fork (handles of the parent process are never
    used in a child). One store per thread.
    """

    def __init__(self, *streams: Iterable[str | os.PathLike], max_open_files: int = MAX_OPEN_FILES):
        if not streams:
            raise ValueError("a feature store needs at least one stream of shard files")
        self._setup([StreamIndex.of_files(paths) for paths in streams], max_open_files)

    @classmethod
    def for_videos(
        cls, *locations: Mapping[str, str | os.PathLike], max_open_files: int = MAX_OPEN_FILES
    ) -> FeatureStore:
        """A store of the given videos only, one ``{video id: shard file}`` mapping per stream.

        For a job that reads a known set of videos: only the files named are opened (to check that
        they hold those videos), never the other shards of the corpus; ``video_ids`` are the given
        ids that every stream's file holds.
        """
        if not locations:
            raise ValueError("a feature store needs at least one stream of video locations")
        store = cls.__new__(cls)
        store._setup([StreamIndex.of_videos(where) for where in locations], max_open_files)
        return store

    def _setup(self, streams: list[StreamIndex], max_open_files: int) -> None:
        if max_open_files < len(streams):
            raise ValueError(
                f"max_open_files must be at least the number of streams ({len(streams)}) "
                f"so that one video's files can be open together, got {max_open_files}"
            )
        self._streams = tuple(streams)
        self._max_open_files = max_open_files
        common = streams[0].ids
        for stream in streams[1:]:
            common = np.intersect1d(common, stream.ids, assume_unique=True)
        self.video_ids = VideoIds(common)
        self._open: OrderedDict[str, h5py.File] = OrderedDict()
        self._pid = os.getpid()

    def _file(self, path: str) -> h5py.File:
        """The open file ``path``, opened now if need be (closing the least recently used)."""
        if self._pid != os.getpid():  # forked: the parent's handles are its own, never used here
            self._open, self._pid = OrderedDict(), os.getpid()
        if path in self._open:
            self._open.move_to_end(path)
            return self._open[path]
        while len(self._open) >= self._max_open_files:
            self._open.popitem(last=False)[1].close()
        self._open[path] = open_shard(path)
        return self._open[path]

    def _datasets(self, video_id: str) -> list[h5py.h5d.DatasetID]:
        """The video's dataset in each stream, opened by name (h5py's low-level handles: reading
        through them takes half the time of ``Dataset`` slicing)."""
        paths = [stream.path_of(video_id) for stream in self._streams]
        if None in paths:
            raise KeyError(f"video {video_id} does not have every feature stream")
        return [h5py.h5d.open(self._file(path).id, video_id.encode()) for path in paths]

    def n_seconds(self, video_id: str) -> int:
        """Seconds covered by every stream (without reading the features)."""
        return min(dataset.shape[0] for dataset in self._datasets(video_id))

    def seconds(self, video_id: str) -> np.ndarray:
        """Float32 ``(n_seconds, D2 + D3)``; row k describes second [k, k + 1) of the video."""
        datasets = self._datasets(video_id)
        n = min(dataset.shape[0] for dataset in datasets)
        rows = np.empty((n, sum(dataset.shape[1] for dataset in datasets)), np.float32)
        firsts, stops = covering_runs(np.arange(n))  # one run [0, n), none when n is 0
        column = 0
        for dataset in datasets:
            dim = dataset.shape[1]
            as_float32(_runs(dataset, firsts, stops), rows[:, column : column + dim])
            column += dim
        return rows

    def windows(self, video_id: str, starts: np.ndarray, length_s: int) -> np.ndarray:
        """Float32 ``(len(starts), length_s, D2 + D3)``: window i is rows ``starts[i] ..
        starts[i] + length_s - 1`` of :meth:`seconds`, the same values, read without the rest of
        the video: only the runs of rows that cover the windows (:func:`covering_runs`).

        ``starts``: int array of start seconds, in any order, overlaps allowed. Raises ValueError
        (:func:`check_windows`) when a window lies outside the seconds every stream has.
        """
        datasets = self._datasets(video_id)
        check_windows(video_id, starts, length_s, min(dataset.shape[0] for dataset in datasets))
        wanted = np.asarray(starts, np.int64)[:, None] + np.arange(length_s)
        firsts, stops = covering_runs(np.unique(wanted))
        # Where each wanted row is among the rows read (the runs one after the other).
        run = np.searchsorted(firsts, wanted, side="right") - 1
        at = (np.cumsum(stops - firsts) - (stops - firsts))[run] + wanted - firsts[run]
        clips = np.empty((*wanted.shape, sum(dataset.shape[1] for dataset in datasets)), np.float32)
        column = 0
        for dataset in datasets:
            dim = dataset.shape[1]
            as_float32(_runs(dataset, firsts, stops)[at], clips[..., column : column + dim])
            column += dim
        return clips

    def close(self) -> None:
        """Close the open files (a later read opens what it needs again)."""
        if self._pid == os.getpid():
            for h5 in self._open.values():
                h5.close()
        self._open.clear()

    def __getstate__(self) -> dict:
        return {key: value for key, value in self.__dict__.items() if key not in ("_open", "_pid")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, _open=OrderedDict(), _pid=os.getpid())

    def __enter__(self) -> FeatureStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
