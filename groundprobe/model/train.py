"""Training the joint embedding: the seeded training loop on the batches of
:mod:`groundprobe.model.batches`, in one process or as one of several replicas, resumable
checkpoints, and loading a trained model.

The word embedding keeps dense gradients and dense Adam on purpose. Only the batch's words get a
non-zero gradient, but Adam still moves every other row that has ever been seen, by its decaying
moments (``m / (sqrt(v) + eps)`` with ``m``, ``v`` decayed each step), so SparseAdam or any lazy
update that skips those rows trains other weights; replaying the skipped steps' decays when a row
is next seen is not bit-identical in floating point either.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch.distributed.nn.functional import all_gather
from torch.nn.parallel import DistributedDataParallel

from groundprobe.device import resolve_device
from groundprobe.io import atomic_output, provenance, write_table
from groundprobe.model.batches import Batch, BatchReader, TrainingVideos, first_video_width, planned_batches
from groundprobe.model.joint_embedding import JointEmbedding, bidirectional_hinge_loss
from groundprobe.settings import ModelSettings, TrainSettings

log = logging.getLogger(__name__)

LOG_COLUMNS = ["step", "loss", "seconds"]  # loss of that step's batch; wall seconds since step 0
# TrainSettings fields that change the weights a run produces; a resume file must agree on all of them.
# ``steps`` is left out on purpose: raising it continues a finished run.
TRAJECTORY_KEYS = ("batch_videos", "segments_per_video", "lr", "margin", "seed")


def train_step(
    model: JointEmbedding, optimizer: torch.optim.Optimizer, batch: Batch, margin: float, device: torch.device
) -> torch.Tensor:
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


def replica_train_step(
    model: DistributedDataParallel, optimizer: torch.optim.Optimizer, batch: Batch, margin: float, replica: Replica
) -> torch.Tensor:
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
    clip_units, caption_units = model(
        torch.from_numpy(batch.clips[rows]).to(replica.device),
        torch.from_numpy(batch.token_ids[rows]).to(replica.device),
    )
    counts = [len(share) for share in shares]
    batch_order = torch.from_numpy(np.argsort(np.concatenate(shares))).to(replica.device)
    sim = JointEmbedding.similarity(
        gather_rows(clip_units, counts)[batch_order], gather_rows(caption_units, counts)[batch_order]
    )
    loss = bidirectional_hinge_loss(sim, torch.from_numpy(batch.video_index).to(replica.device), margin)
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
        log.warning("resume file %s was written with other parameters or data; starting afresh", resume_path)
        return None
    if state["step"] > steps:
        log.warning(
            "resume file %s is at step %d, past the %d steps asked for; starting afresh",
            resume_path,
            state["step"],
            steps,
        )
        return None
    return state


def train_model(
    videos: TrainingVideos,
    feature_streams: Sequence[Sequence[str | os.PathLike]],
    vocab_size: int,
    model_settings: ModelSettings,
    train_settings: TrainSettings,
    length_s: int,
    out_path: str | os.PathLike,
    resume_path: str | os.PathLike,
    log_tsv: str | os.PathLike,
    inputs: Mapping[str, object] | None = None,
    replica: Replica | None = None,
    allow_cpu_fallback: bool = False,
) -> dict:
    """Train a :class:`JointEmbedding` on the segments of ``videos``; return a summary.

    ``feature_streams``: one list of feature shard files per stream (2D, 3D), read through
    :class:`groundprobe.features.store.FeatureStore`. ``inputs``: provenance of what the model was
    trained on (feature files' attributes, the vocabulary's checksum), stored in the checkpoint
    beside the model's own.

    ``model_settings``: config block ``model`` (word_dim, joint_dim). ``train_settings``: config
    block ``train`` (steps, batch_videos, segments_per_video, lr, margin, checkpoint_every,
    log_every, seed, device, loader_workers). ``length_s``: segment length in seconds (config
    ``segments.length_s``). ``allow_cpu_fallback``: config ``resources.allow_cpu_fallback`` (see
    :func:`groundprobe.device.resolve_device`).

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
    steps, seed = train_settings.steps, train_settings.seed
    batch_videos = min(train_settings.batch_videos, len(videos))
    if batch_videos < train_settings.batch_videos:
        log.warning(
            "only %d training videos: batches hold %d videos instead of %d",
            len(videos),
            batch_videos,
            train_settings.batch_videos,
        )
    world_size = 1 if replica is None else replica.world_size
    if batch_videos < world_size:
        raise ValueError(
            f"{world_size} training processes need at least {world_size} videos per "
            f"batch, one for each; batches hold {batch_videos}"
        )
    segments_per_video = train_settings.segments_per_video
    streams = tuple(tuple(map(str, paths)) for paths in feature_streams)
    hyper = {
        "video_dim": first_video_width(videos, streams),
        "vocab_size": vocab_size,
        "word_dim": model_settings.word_dim,
        "joint_dim": model_settings.joint_dim,
    }
    key = {
        **hyper,
        **{k: getattr(train_settings, k) for k in TRAJECTORY_KEYS},
        "length_s": length_s,
        "data_sha256": videos.fingerprint,
    }

    device = resolve_device(train_settings.device, allow_cpu_fallback) if replica is None else replica.device
    writes = replica is None or replica.rank == 0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = JointEmbedding(**hyper)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=float(train_settings.lr))
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
    workers = train_settings.loader_workers
    log.info(
        "training on %d videos (%d segments) of %d shards, %d steps, %d process(es), device %s, %d loader worker(s)",
        len(videos),
        n_segments,
        len(videos.index_files),
        steps,
        world_size,
        device,
        workers,
    )

    model.train()
    margin = float(train_settings.margin)
    reader = BatchReader(videos.index_files, streams, length_s, vocab_size, hyper["video_dim"])
    batches = planned_batches(rng, videos, reader, batch_videos, segments_per_video, steps - start_step, workers)
    started, loading = time.perf_counter(), 0.0
    with contextlib.closing(batches):
        for step in range(start_step + 1, steps + 1):
            waited = time.perf_counter()
            batch, rng_state = next(batches)
            loading += time.perf_counter() - waited
            loss = (
                train_step(model, optimizer, batch, margin, device)
                if shared is None
                else replica_train_step(shared, optimizer, batch, margin, replica)
            )
            elapsed = seconds_before + time.perf_counter() - started
            if step % train_settings.log_every == 0 or step == steps:
                value = loss.item()  # synchronises with the GPU, hence only at log steps
                if not math.isfinite(value):
                    raise FloatingPointError(f"training loss is {value} at step {step}")
                log_rows.append([step, value, elapsed])
                log.info("step %d loss %.5f (%.1f s)", step, value, elapsed)
            if writes and (step % train_settings.checkpoint_every == 0 or step == steps):
                _save(
                    {
                        "key": key,
                        "step": step,
                        "model": _cpu_state(model),
                        "optimizer": _cpu_state(optimizer),
                        "numpy_rng": rng_state,
                        "log_rows": log_rows,
                        "seconds": elapsed,
                    },
                    resume_path,
                )
    trained = time.perf_counter() - started
    log.info(
        "waited %.1f s of %.1f s for batches (%.1f%%)", loading, trained, 100 * loading / trained if trained else 0.0
    )

    summary = {
        "steps": steps,
        "resumed_from": start_step,
        "n_videos": len(videos),
        "n_segments": n_segments,
        "batch_videos": batch_videos,
        "final_loss": log_rows[-1][1] if log_rows else None,
        "device": str(device),
        "processes": world_size,
        "seconds": log_rows[-1][2] if log_rows else 0.0,
        "loading_seconds": loading,
    }
    if not writes:
        return summary
    _save(
        {
            "model_state": _cpu_state(model),
            "model_params": hyper,
            "length_s": length_s,
            "provenance": provenance(
                model=model_settings.to_config(),
                train={k: getattr(train_settings, k) for k in TRAJECTORY_KEYS},
                steps=steps,
                length_s=length_s,
                data_sha256=key["data_sha256"],
                summary=summary,
                inputs=dict(inputs or {}),
            ),
        },
        out_path,
    )
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
