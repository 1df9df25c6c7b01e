"""Training the joint embedding: batches streamed from the shards, the seeded training loop,
resumable checkpoints.

Per-second features are stored once per video; a segment starting at second ``s`` is the feature
rows ``s .. s + length_s - 1``, gathered when a batch is drawn (DESIGN §4).

Memory does not grow with the corpus's features or captions: the training process holds 12 bytes
per training video (:class:`TrainingVideos`: its shard, its row in the shard's segment index, its
number of segments). Each step's batch plan (which videos, which of their segments) is drawn here
from the seeded generator; the batch's features and captions are read from the shard files
(:class:`BatchReader`) by DataLoader worker processes that keep the next batches ready (config
``train.loader_workers``). The data's identity in a resume key is the shards' own fingerprints
(computed once per shard by rule segments) and the training videos' ids, never a hash of features.

The word embedding keeps dense gradients and dense Adam on purpose. Only the batch's words get a
non-zero gradient, but Adam still moves every other row that has ever been seen, by its decaying
moments (``m / (sqrt(v) + eps)`` with ``m``, ``v`` decayed each step), so SparseAdam or any lazy
update that skips those rows trains other weights; replaying the skipped steps' decays when a row
is next seen is not bit-identical in floating point either.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import logging
import math
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping, Protocol, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch.distributed.nn.functional import all_gather
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset

from groundprobe.device import resolve_device
from groundprobe.features.store import FeatureStore, check_windows
from groundprobe.io import atomic_output, provenance, table_separator, write_table
from groundprobe.ingest.manifest import SOURCE_CORPUS
from groundprobe.model.joint_embedding import JointEmbedding, bidirectional_hinge_loss
from groundprobe.captions.segments import SegmentIndex

log = logging.getLogger(__name__)

LOG_COLUMNS = ["step", "loss", "seconds"]  # loss of that step's batch; wall seconds since step 0
# Train parameters that change the weights a run produces; a resume file must agree on all of them.
# ``steps`` is left out on purpose: raising it continues a finished run.
TRAJECTORY_KEYS = ("batch_videos", "segments_per_video", "lr", "margin", "seed")
MANIFEST_CHUNK_ROWS = 100_000  # manifest rows read at a time when selecting the training videos
PREFETCH_BATCHES = 2           # batches each loader worker keeps ready
OPEN_INDEXES = 64              # segment index files a batch reader keeps open (least recently used closed)


class SecondsSource(Protocol):
    """Anything that gives a video's per-second features, e.g. ``groundprobe.features.store.FeatureStore``."""

    def seconds(self, video_id: str) -> np.ndarray:
        """Float32 array (n_seconds, D); row k describes second [k, k + 1) of the video."""


@dataclass(frozen=True)
class Batch:
    """A training batch of N = videos x segments_per_video aligned (clip, caption) pairs."""

    clips: np.ndarray        # (N, L, D) float32, L = segment length in seconds
    token_ids: np.ndarray    # (N, T) int64, 0-padded on the right
    video_index: np.ndarray  # (N,) int64, index of each pair's video in the video list


def segment_length(segments: pd.DataFrame) -> int:
    """The common length in seconds (``end_s - start_s``) of a segment table's rows."""
    lengths = (segments["end_s"] - segments["start_s"]).unique()
    if len(lengths) != 1:
        raise ValueError(f"segments must share one length; found lengths {sorted(lengths.tolist())} s")
    return int(lengths[0])


def checked_captions(video_id: str, captions: Sequence[np.ndarray], segments: Sequence[int],
                     vocab_size: int) -> list[np.ndarray]:
    """``captions`` (int64 token id arrays of the video's ``segments``), unchanged once checked.

    Raises ValueError naming the video and segment when a caption is empty or holds an id outside
    1..vocab_size (the vocabulary the model was built for).
    """
    for segment, ids in zip(segments, captions):
        if ids.size == 0 or ids.min() < 1 or ids.max() > vocab_size:
            raise ValueError(f"video {video_id}: segment {segment} has token ids {ids.tolist()}; "
                             f"expected 1 to {vocab_size} (the vocabulary size) and at least one")
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
        padded[row, :len(ids)] = ids
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


def select_videos(manifest_path: str | os.PathLike, spec: Mapping[str, object], model: str,
                  chunk_rows: int = MANIFEST_CHUNK_ROWS) -> np.ndarray:
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
            raise ValueError(f"model spec selects on '{column}', which the manifest lacks "
                             f"(columns: {', '.join(header)})")
    columns = list(dict.fromkeys(["video_id", *(["corpus"] if "corpus" in header else []), *spec]))
    selected, n_rows = [np.empty(0, dtype=str)], 0
    for chunk in pd.read_csv(manifest_path, sep=separator, usecols=columns, dtype=str,
                             keep_default_na=False, chunksize=chunk_rows):
        n_rows += len(chunk)
        selected.append(chunk.loc[spec_rows(chunk, spec), "video_id"].to_numpy(dtype=str))
    ids = np.unique(np.concatenate(selected))
    if not ids.size:
        raise ValueError(f"model '{model}': its spec {dict(spec)} (config train.models) selects none "
                         f"of the manifest's {n_rows} videos; nothing to train on")
    return ids


@dataclass(frozen=True)
class TrainingVideos:
    """The training videos as batch plans need them, in video-id order: 12 bytes per video."""

    index_files: tuple[str, ...]  # the shards' segment index files (groundprobe.captions.segments)
    shard: np.ndarray             # (V,) int32, each video's shard: its place in index_files
    row: np.ndarray               # (V,) int32, the video's row in its shard's index
    n_segments: np.ndarray        # (V,) int32, its number of segments (>= 1)
    fingerprint: str              # sha256 of the shards' fingerprints and the videos' ids

    def __len__(self) -> int:
        return len(self.n_segments)


def training_videos(index_files: Sequence[str | os.PathLike], selected_ids: np.ndarray,
                    length_s: int, vocab_size: int) -> TrainingVideos:
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
                raise ValueError(f"segments are {index.length_s} s long, config says {length_s} s "
                                 f"({path})")
            if index.max_token_id > vocab_size:
                raise ValueError(f"{path} holds token id {index.max_token_id}, beyond the "
                                 f"vocabulary's {vocab_size} ids; rerun rule segments")
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
    return TrainingVideos(tuple(map(str, index_files)), np.concatenate(shards)[order],
                          np.concatenate(rows)[order], np.concatenate(counts)[order],
                          digest.hexdigest())


@dataclass(frozen=True)
class BatchPlan:
    """Which videos and segments make one step's batch (drawn in the training process)."""

    videos: np.ndarray    # (B,) int64, the videos' places in TrainingVideos
    shard: np.ndarray     # (B,) int32, their shards
    row: np.ndarray       # (B,) int32, their rows in their shards' indexes
    segments: np.ndarray  # (B, segments_per_video) int64, each video's drawn segments


def plan_batch(rng: np.random.Generator, videos: TrainingVideos, batch_videos: int,
               segments_per_video: int) -> BatchPlan:
    """Draw ``batch_videos`` distinct videos and ``segments_per_video`` segments of each.

    Segments are drawn without replacement when the video has enough, else with replacement (a
    repeated segment then only adds a constant to the loss: its hinge has zero gradient).
    """
    chosen = rng.choice(len(videos), size=batch_videos, replace=False)
    picks = [rng.choice(n, size=segments_per_video, replace=n < segments_per_video)
             for n in videos.n_segments[chosen].tolist()]
    return BatchPlan(chosen.astype(np.int64), videos.shard[chosen], videos.row[chosen],
                     np.stack(picks).astype(np.int64))


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

    def __init__(self, index_files: Sequence[str], feature_streams: Sequence[Sequence[str]],
                 length_s: int, vocab_size: int, video_dim: int):
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
                raise ValueError(f"video {video.video_id} has {windows.shape[2]}-d features, other "
                                 f"training videos {self.video_dim}-d")
            clips.append(windows)
            captions.extend(checked_captions(video.video_id, video.captions(segments),
                                             segments.tolist(), self.vocab_size))
        return Batch(np.concatenate(clips), pad_token_ids(captions),
                     np.repeat(plan.videos, plan.segments.shape[1]))

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


def planned_batches(rng: np.random.Generator, videos: TrainingVideos, reader: BatchReader,
                    batch_videos: int, segments_per_video: int, n_batches: int,
                    workers: int) -> Iterator[tuple[Batch, dict]]:
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

    loader = DataLoader(reader, batch_size=None, sampler=plans(), num_workers=workers,
                        collate_fn=_shared, prefetch_factor=PREFETCH_BATCHES if workers else None)
    try:
        for clips, token_ids, video_index in loader:
            yield Batch(clips.numpy(), token_ids, video_index), states.popleft()
    finally:
        reader.close()


def train_step(model: JointEmbedding, optimizer: torch.optim.Optimizer, batch: Batch, margin: float,
               device: torch.device) -> torch.Tensor:
    """One optimiser step on ``batch``; returns the batch's loss (still on ``device``)."""
    clips = torch.from_numpy(batch.clips).to(device)
    tokens = torch.from_numpy(batch.token_ids).to(device)
    sim = model.similarity(model.embed_clips(clips), model.embed_captions(tokens))
    loss = bidirectional_hinge_loss(sim, torch.from_numpy(batch.video_index).to(device), margin)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.detach()


@dataclass(frozen=True)
class Replica:
    """This process's place among the processes that train one model together (the default
    torch.distributed process group, initialised)."""

    rank: int
    world_size: int
    device: torch.device


def rank_rows(video_index: np.ndarray, rank: int, world_size: int) -> np.ndarray:
    """Rows of a batch that process ``rank`` of ``world_size`` embeds: the pairs of the batch's
    videos ``rank, rank + world_size, ...`` in batch order, so that a video's pairs stay together.

    ``video_index`` (N,): each row's video, a video's rows consecutive (as :func:`plan_batch`
    draws them). Returns sorted row indices (int64).
    """
    new_video = np.r_[True, video_index[1:] != video_index[:-1]]
    position = np.cumsum(new_video) - 1  # the video's place among the batch's videos
    return np.flatnonzero(position % world_size == rank)


def gather_rows(local: torch.Tensor, counts: Sequence[int]) -> torch.Tensor:
    """Every process's rows, rank 0's first: ``local`` (counts[rank], E) -> (sum(counts), E).

    Differentiable: the backward of all_gather sums, over the processes, the gradients that reach
    each process's rows. Shares may differ by a video; all_gather needs equal shapes, so each is
    padded to the largest with zero rows, which are dropped again.
    """
    padded = F.pad(local, (0, 0, 0, max(counts) - len(local)))
    with warnings.catch_warnings():
        # Deprecated in favour of a function of a private module (_functional_collectives).
        warnings.simplefilter("ignore", FutureWarning)
        parts = all_gather(padded)
    return torch.cat([part[:count] for part, count in zip(parts, counts)])


def replica_train_step(model: DistributedDataParallel, optimizer: torch.optim.Optimizer,
                       batch: Batch, margin: float, replica: Replica) -> torch.Tensor:
    """One optimiser step of one of ``replica.world_size`` processes that all hold the same
    ``batch``; returns the batch's loss (on ``replica.device``), equal on every process.

    The process embeds its share of the pairs (:func:`rank_rows`); the shares' embeddings are
    gathered back into batch order and every process computes the in-batch loss L of the whole
    batch, as :func:`train_step` does. Why the update is the single-process one: every process
    computes the same L, and all_gather's backward sums the N processes' gradients of L with
    respect to a share, so a process's embeddings receive N dL/d(own share) and its parameter
    gradients are N times the part of dL/dtheta that flows through its share. DDP all-reduces and
    divides by N: (1 / N) sum_r N dL/dtheta|share r = sum_r dL/dtheta|share r = dL/dtheta, since
    the shares partition the batch.
    """
    shares = [rank_rows(batch.video_index, r, replica.world_size) for r in range(replica.world_size)]
    rows = shares[replica.rank]
    # A share keeps the batch's padding width; padding never changes a caption's embedding
    # anyway (padded positions are masked out of the max-pool, see JointEmbedding.embed_captions).
    clip_units, caption_units = model(torch.from_numpy(batch.clips[rows]).to(replica.device),
                                      torch.from_numpy(batch.token_ids[rows]).to(replica.device))
    counts = [len(share) for share in shares]
    batch_order = torch.from_numpy(np.argsort(np.concatenate(shares))).to(replica.device)
    sim = JointEmbedding.similarity(gather_rows(clip_units, counts)[batch_order],
                                    gather_rows(caption_units, counts)[batch_order])
    loss = bidirectional_hinge_loss(sim, torch.from_numpy(batch.video_index).to(replica.device),
                                    margin)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.detach()


def _save(obj: dict, path: str | os.PathLike) -> None:
    with atomic_output(path) as tmp:
        torch.save(obj, tmp)


def _cpu_state(module_or_optimizer) -> dict:
    """A state dict moved to the CPU, so that a checkpoint loads on any device."""
    def to_cpu(value):
        if isinstance(value, torch.Tensor):
            return value.detach().cpu()
        if isinstance(value, dict):
            return {k: to_cpu(v) for k, v in value.items()}
        if isinstance(value, list):
            return [to_cpu(v) for v in value]
        return value
    return to_cpu(module_or_optimizer.state_dict())


def _matching_resume(resume_path: str | os.PathLike, key: dict, steps: int) -> dict | None:
    """The resume state at ``resume_path`` if it was written by this very run setup, else None."""
    if not Path(resume_path).exists():
        return None
    state = torch.load(resume_path, map_location="cpu", weights_only=True)
    if state.get("key") != key:
        log.warning("resume file %s was written with other parameters or data; starting afresh",
                    resume_path)
        return None
    if state["step"] > steps:
        log.warning("resume file %s is at step %d, past the %d steps asked for; starting afresh",
                    resume_path, state["step"], steps)
        return None
    return state


def train_model(videos: TrainingVideos, feature_streams: Sequence[Sequence[str | os.PathLike]],
                vocab_size: int, model_params: Mapping[str, int], train_params: Mapping[str, object],
                length_s: int, out_path: str | os.PathLike, resume_path: str | os.PathLike,
                log_tsv: str | os.PathLike, inputs: Mapping[str, object] | None = None,
                replica: Replica | None = None) -> dict:
    """Train a :class:`JointEmbedding` on the segments of ``videos``; return a summary.

    ``feature_streams``: one list of feature shard files per stream (2D, 3D), read through
    :class:`groundprobe.features.store.FeatureStore`. ``inputs``: provenance of what the model was
    trained on (feature files' attributes, the vocabulary's checksum), stored in the checkpoint
    beside the model's own.

    ``model_params``: config block ``model`` (word_dim, joint_dim). ``train_params``: config block
    ``train`` (steps, batch_videos, segments_per_video, lr, margin, checkpoint_every, log_every,
    seed, device, loader_workers). ``length_s``: segment length in seconds (config
    ``segments.length_s``).

    Seeded: the model is initialised from ``seed`` (torch) and batches are planned from a numpy
    generator seeded with ``seed``; the model has no stochastic layers, so the generator state
    is all the randomness a resume needs. ``loader_workers`` processes read the planned batches
    ahead of the steps (0: read in this process); the batches, and so the weights, do not depend
    on it. Every ``checkpoint_every`` steps and at the last step, model, optimizer, generator
    state (after that step's plan) and log are saved atomically to ``resume_path``; a later call
    with the same parameters and data (``videos.fingerprint``) continues from there and yields
    the weights of an uninterrupted run. The final checkpoint at ``out_path`` holds the weights,
    the model's hyper-parameters and provenance; ``log_tsv`` gets (step, loss, seconds) every
    ``log_every`` steps and at the end.

    ``replica``: this process's place among several that train the model together (one call per
    process, each with the same arguments), else None. The processes draw the same batches, train
    on ``replica.device`` (the config's device is not used) with
    :func:`replica_train_step`, which gives the single-process update, and all read a resume
    file; rank 0 alone writes the resume file, the final checkpoint and the log.
    """
    steps, seed = int(train_params["steps"]), int(train_params["seed"])
    batch_videos = min(int(train_params["batch_videos"]), len(videos))
    if batch_videos < train_params["batch_videos"]:
        log.warning("only %d training videos: batches hold %d videos instead of %d",
                    len(videos), batch_videos, train_params["batch_videos"])
    world_size = 1 if replica is None else replica.world_size
    if batch_videos < world_size:
        raise ValueError(f"{world_size} training processes need at least {world_size} videos per "
                         f"batch, one for each; batches hold {batch_videos}")
    segments_per_video = int(train_params["segments_per_video"])
    streams = tuple(tuple(map(str, paths)) for paths in feature_streams)
    hyper = {"video_dim": first_video_width(videos, streams), "vocab_size": vocab_size,
             "word_dim": int(model_params["word_dim"]), "joint_dim": int(model_params["joint_dim"])}
    key = {**hyper, **{k: train_params[k] for k in TRAJECTORY_KEYS}, "length_s": length_s,
           "data_sha256": videos.fingerprint}

    device = (resolve_device(str(train_params["device"]),
                             bool(train_params.get("allow_cpu_fallback", False)))
              if replica is None else replica.device)
    writes = replica is None or replica.rank == 0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = JointEmbedding(**hyper)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=float(train_params["lr"]))
    rng = np.random.default_rng(seed)
    start_step, log_rows, seconds_before = 0, [], 0.0
    state = _matching_resume(resume_path, key, steps)
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        rng.bit_generator.state = state["numpy_rng"]
        start_step, log_rows, seconds_before = state["step"], state["log_rows"], state["seconds"]
        log.info("resuming from step %d of %s", start_step, resume_path)
    # Built after the resume file is read: the construction is a collective (it broadcasts rank
    # 0's weights), so rank 0 cannot overwrite the file before every process has read it.
    shared = None if replica is None else DistributedDataParallel(model)
    n_segments = int(videos.n_segments.sum())
    workers = int(train_params["loader_workers"])
    log.info("training on %d videos (%d segments) of %d shards, %d steps, %d process(es), device "
             "%s, %d loader worker(s)", len(videos), n_segments, len(videos.index_files), steps,
             world_size, device, workers)

    model.train()
    margin = float(train_params["margin"])
    reader = BatchReader(videos.index_files, streams, length_s, vocab_size, hyper["video_dim"])
    batches = planned_batches(rng, videos, reader, batch_videos, segments_per_video,
                              steps - start_step, workers)
    started, loading = time.perf_counter(), 0.0
    with contextlib.closing(batches):
        for step in range(start_step + 1, steps + 1):
            waited = time.perf_counter()
            batch, rng_state = next(batches)
            loading += time.perf_counter() - waited
            loss = (train_step(model, optimizer, batch, margin, device) if shared is None
                    else replica_train_step(shared, optimizer, batch, margin, replica))
            elapsed = seconds_before + time.perf_counter() - started
            if step % int(train_params["log_every"]) == 0 or step == steps:
                value = loss.item()  # synchronises with the GPU, hence only at log steps
                if not math.isfinite(value):
                    raise FloatingPointError(f"training loss is {value} at step {step}")
                log_rows.append([step, value, elapsed])
                log.info("step %d loss %.5f (%.1f s)", step, value, elapsed)
            if writes and (step % int(train_params["checkpoint_every"]) == 0 or step == steps):
                _save({"key": key, "step": step, "model": _cpu_state(model),
                       "optimizer": _cpu_state(optimizer), "numpy_rng": rng_state,
                       "log_rows": log_rows, "seconds": elapsed}, resume_path)
    trained = time.perf_counter() - started
    log.info("waited %.1f s of %.1f s for batches (%.1f%%)", loading, trained,
             100 * loading / trained if trained else 0.0)

    summary = {"steps": steps, "resumed_from": start_step, "n_videos": len(videos),
               "n_segments": n_segments, "batch_videos": batch_videos,
               "final_loss": log_rows[-1][1] if log_rows else None, "device": str(device),
               "processes": world_size, "seconds": log_rows[-1][2] if log_rows else 0.0,
               "loading_seconds": loading}
    if not writes:
        return summary
    _save({"model_state": _cpu_state(model), "model_params": hyper, "length_s": length_s,
           "provenance": provenance(model=dict(model_params),
                                    train={k: train_params[k] for k in TRAJECTORY_KEYS},
                                    steps=steps, length_s=length_s, data_sha256=key["data_sha256"],
                                    summary=summary, inputs=dict(inputs or {}))}, out_path)
    write_table(pd.DataFrame(log_rows, columns=LOG_COLUMNS), log_tsv)
    return summary


def load_model(path: str | os.PathLike, device: torch.device | str) -> JointEmbedding:
    """The trained model of a final checkpoint, on ``device`` and in inference (eval) mode."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    model = JointEmbedding(**checkpoint["model_params"])
    model.load_state_dict(checkpoint["model_state"])
    return model.to(device).eval()


def training_summary(path: str | os.PathLike) -> dict:
    """What a final checkpoint was trained on and for how long: train_model's summary (steps,
    n_videos, n_segments, batch_videos, final_loss, device, processes, seconds)."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    return json.loads(checkpoint["provenance"]["summary"])
