"""Training the joint embedding: segment batches, the seeded training loop, resumable checkpoints.

Per-second features are stored once per video; a segment starting at second ``s`` is the feature
rows ``s .. s + length_s - 1``, gathered when a batch is drawn (DESIGN §4).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Protocol, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch.distributed.nn.functional import all_gather
from torch.nn.parallel import DistributedDataParallel

from groundprobe.io import atomic_output, provenance, write_table
from groundprobe.manifest import SOURCE_CORPUS
from groundprobe.device import resolve_device
from groundprobe.model import JointEmbedding, bidirectional_hinge_loss

log = logging.getLogger(__name__)

LOG_COLUMNS = ["step", "loss", "seconds"]  # loss of that step's batch; wall seconds since step 0
# Train parameters that change the weights a run produces; a resume file must agree on all of them.
# ``steps`` is left out on purpose: raising it continues a finished run.
TRAJECTORY_KEYS = ("batch_videos", "segments_per_video", "lr", "margin", "seed")


class SecondsSource(Protocol):
    """Anything that gives a video's per-second features, e.g. ``groundprobe.features.FeatureStore``."""

    def seconds(self, video_id: str) -> np.ndarray:
        """Float32 array (n_seconds, D); row k describes second [k, k + 1) of the video."""


@dataclass(frozen=True)
class VideoSegments:
    """One video's per-second features and its segments."""

    video_id: str
    seconds: np.ndarray                 # (n_seconds, D) float32
    starts: np.ndarray                  # (n_segments,) int64, start second of each segment
    token_ids: tuple[np.ndarray, ...]   # n_segments int64 arrays of token ids (>= 1)


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


def parse_captions(video_id: str, token_cells: Sequence[object], vocab_size: int) -> list[np.ndarray]:
    """Token id arrays from the segment table's space-separated ``token_ids`` cells.

    Raises ValueError naming the video when a caption is empty or holds an id outside
    1..vocab_size (the vocabulary the model was built for).
    """
    captions = [np.array(str(cell).split(), dtype=np.int64) for cell in token_cells]
    for segment, ids in enumerate(captions):
        if ids.size == 0 or ids.min() < 1 or ids.max() > vocab_size:
            raise ValueError(f"video {video_id}: segment {segment} has token ids {ids.tolist()}; "
                             f"expected 1 to {vocab_size} (the vocabulary size) and at least one")
    return captions


def pad_token_ids(captions: Sequence[np.ndarray]) -> np.ndarray:
    """Right-pad captions with 0 into one int64 array (N, longest caption)."""
    padded = np.zeros((len(captions), max(len(c) for c in captions)), dtype=np.int64)
    for row, ids in enumerate(captions):
        padded[row, :len(ids)] = ids
    return padded


def clip_windows(video_id: str, seconds: np.ndarray, starts: np.ndarray, length_s: int) -> np.ndarray:
    """Feature rows ``start .. start + length_s - 1`` for each start: (n, length_s, D)."""
    if starts.size and (starts.min() < 0 or starts.max() + length_s > len(seconds)):
        raise ValueError(f"video {video_id}: a segment starting at {int(starts.max())} s needs "
                         f"{int(starts.max()) + length_s} seconds of features, found {len(seconds)}")
    return seconds[starts[:, None] + np.arange(length_s)]


def select_videos(manifest: pd.DataFrame, spec: Mapping[str, object], model: str) -> list[str]:
    """Ids of the source-corpus manifest rows whose every ``column: value`` of ``spec`` matches:
    the training videos of ``model`` (config train.models). Target-corpus videos (curation) are
    never selected: they are the domain the probes measure.

    Numbers compare numerically (``instructional: 1`` matches a cell read as 1.0); the rest as text.
    Raises ValueError naming the model and its spec when the spec selects no video.
    """
    keep = pd.Series(True, index=manifest.index)
    if "corpus" in manifest:
        keep &= manifest["corpus"] == SOURCE_CORPUS
    for column, value in spec.items():
        if column not in manifest.columns:
            raise ValueError(f"model spec selects on '{column}', which the manifest lacks "
                             f"(columns: {', '.join(manifest.columns)})")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            keep &= pd.to_numeric(manifest[column], errors="coerce") == value
        else:
            keep &= manifest[column].astype(str) == str(value)
    if not keep.any():
        raise ValueError(f"model '{model}': its spec {dict(spec)} (config train.models) selects none "
                         f"of the manifest's {len(manifest)} videos; nothing to train on")
    return manifest.loc[keep, "video_id"].astype(str).tolist()


def load_video_segments(segments: pd.DataFrame, source: SecondsSource, length_s: int,
                        vocab_size: int) -> list[VideoSegments]:
    """Each video's features and segments, sorted by video id, features loaded once per video.

    Everything is held in memory, which suits corpora up to some thousands of videos; at
    YouTube-600K scale this would be a streaming loader over the shards' HDF5 files.
    """
    videos = []
    for video_id, rows in segments.sort_values(["video_id", "segment"]).groupby("video_id", sort=False):
        seconds = np.asarray(source.seconds(str(video_id)), dtype=np.float32)
        starts = rows["start_s"].to_numpy(dtype=np.int64)
        clip_windows(str(video_id), seconds, starts, length_s)  # fail now, not mid-training
        videos.append(VideoSegments(str(video_id), seconds, starts,
                                    tuple(parse_captions(str(video_id), rows["token_ids"], vocab_size))))
    return videos


def sample_batch(rng: np.random.Generator, videos: Sequence[VideoSegments], batch_videos: int,
                 segments_per_video: int, length_s: int) -> Batch:
    """Draw ``batch_videos`` distinct videos and ``segments_per_video`` segments from each.

    Segments are drawn without replacement when the video has enough, else with replacement (a
    repeated segment then only adds a constant to the loss: its hinge has zero gradient).
    """
    chosen = rng.choice(len(videos), size=batch_videos, replace=False)
    clips, captions = [], []
    for v in chosen:
        video = videos[v]
        n = len(video.starts)
        picks = rng.choice(n, size=segments_per_video, replace=n < segments_per_video)
        clips.append(clip_windows(video.video_id, video.seconds, video.starts[picks], length_s))
        captions.extend(video.token_ids[i] for i in picks)
    return Batch(np.concatenate(clips), pad_token_ids(captions),
                 np.repeat(chosen.astype(np.int64), segments_per_video))


def data_fingerprint(videos: Sequence[VideoSegments]) -> str:
    """sha256 of the training data (ids, segment starts, captions, features): a resume must match it."""
    digest = hashlib.sha256()
    for video in videos:
        digest.update(video.video_id.encode())
        digest.update(video.starts.tobytes())
        for ids in video.token_ids:
            digest.update(ids.tobytes() + b"|")
        digest.update(np.ascontiguousarray(video.seconds).tobytes())
    return digest.hexdigest()


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

    ``video_index`` (N,): each row's video, a video's rows consecutive (as :func:`sample_batch`
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


def train_model(segments: pd.DataFrame, source: SecondsSource, vocab_size: int,
                model_params: Mapping[str, int], train_params: Mapping[str, object], length_s: int,
                out_path: str | os.PathLike, resume_path: str | os.PathLike,
                log_tsv: str | os.PathLike, inputs: Mapping[str, object] | None = None,
                replica: Replica | None = None) -> dict:
    """Train a :class:`JointEmbedding` on the segments of the training videos; return a summary.

    ``inputs``: provenance of what the model was trained on (feature files' attributes, the
    vocabulary's checksum), stored in the checkpoint beside the model's own.

    ``model_params``: config block ``model`` (word_dim, joint_dim). ``train_params``: config block
    ``train`` (steps, batch_videos, segments_per_video, lr, margin, checkpoint_every, log_every,
    seed, device). ``length_s``: segment length in seconds (config ``segments.length_s``).

    Seeded: the model is initialised from ``seed`` (torch) and batches are drawn from a numpy
    generator seeded with ``seed``; the model has no stochastic layers, so the generator state
    is all the randomness a resume needs. Every ``checkpoint_every`` steps and at the last step,
    model, optimizer, generator and log are saved atomically to ``resume_path``; a later call with
    the same parameters and data continues from there and yields the weights of an uninterrupted
    run. The final checkpoint at ``out_path`` holds the weights, the model's hyper-parameters and
    provenance; ``log_tsv`` gets (step, loss, seconds) every ``log_every`` steps and at the end.

    ``replica``: this process's place among several that train the model together (one call per
    process, each with the same arguments), else None. The processes draw the same batches, train
    on ``replica.device`` (the config's device is not used) with
    :func:`replica_train_step`, which gives the single-process update, and all read a resume
    file; rank 0 alone writes the resume file, the final checkpoint and the log.
    """
    if segments.empty:
        raise ValueError("no segments to train on: the selected videos have none")
    if segment_length(segments) != length_s:
        raise ValueError(f"segments are {segment_length(segments)} s long, config says {length_s} s")
    videos = [v for v in load_video_segments(segments, source, length_s, vocab_size)
              if len(v.starts) >= 2]  # a video needs a misaligned pair to teach anything
    if len(videos) < 2:
        raise ValueError(f"training needs at least 2 videos with 2 or more segments, found {len(videos)}")
    video_dims = {v.seconds.shape[1] for v in videos}
    if len(video_dims) != 1:
        raise ValueError(f"training videos have different feature widths: {sorted(video_dims)}")
    video_dim = video_dims.pop()
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
    hyper = {"video_dim": video_dim, "vocab_size": vocab_size,
             "word_dim": int(model_params["word_dim"]), "joint_dim": int(model_params["joint_dim"])}
    key = {**hyper, **{k: train_params[k] for k in TRAJECTORY_KEYS}, "length_s": length_s,
           "data_sha256": data_fingerprint(videos)}

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
    log.info("training on %d videos (%d segments), %d steps, %d process(es), device %s", len(videos),
             sum(len(v.starts) for v in videos), steps, world_size, device)

    model.train()
    margin = float(train_params["margin"])
    started = time.perf_counter()
    for step in range(start_step + 1, steps + 1):
        batch = sample_batch(rng, videos, batch_videos, segments_per_video, length_s)
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
                   "optimizer": _cpu_state(optimizer), "numpy_rng": rng.bit_generator.state,
                   "log_rows": log_rows, "seconds": elapsed}, resume_path)

    summary = {"steps": steps, "resumed_from": start_step, "n_videos": len(videos),
               "n_segments": sum(len(v.starts) for v in videos), "batch_videos": batch_videos,
               "final_loss": log_rows[-1][1] if log_rows else None, "device": str(device),
               "processes": world_size, "seconds": log_rows[-1][2] if log_rows else 0.0}
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
