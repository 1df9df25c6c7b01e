"""Each video as the mean of its clip embeddings, the representation CUPID's curation compares.

A clip is a window of whole seconds ``[start_s, end_s)`` of a video, cut at the speech windows of
the segments stage (``captions``), at uniform non-overlapping windows (``uniform``) or at given
event boundaries (``events``). Its embedding is the max-pool of the video's per-second features
over the window (as the joint model pools a clip), either L2-normalised (``features``) or passed
through a trained model's clip branch (a unit vector in the joint space).

CUPID's similarity of two videos is the mean of all their clip-to-clip dot products, which equals
the dot product of their mean clip embeddings (see ``groundprobe.curation.curate``): so one mean vector per
video is all that is stored, whatever the number of clips.
"""

from __future__ import annotations

import math
import os
from typing import Callable, Iterator, Sequence

import numpy as np
import pandas as pd
import torch

from groundprobe.io import atomic_output
from groundprobe.model.joint_embedding import JointEmbedding
from groundprobe.ingest.qc import QcRecord
from groundprobe.model.batches import SecondsSource

STAGE = "video_embeddings"
CLIP_MODES = ("captions", "uniform", "events")

Embed = Callable[[np.ndarray], np.ndarray]  # pooled clips (n, D) -> clip embeddings (n, E)


def uniform_windows(n_seconds: int, window_s: int) -> np.ndarray:
    """Non-overlapping windows ``[k·window_s, (k+1)·window_s)`` that fit in the video, as int64
    (n, 2) of [start_s, end_s); a video shorter than one window is one window of all its seconds."""
    if n_seconds <= 0:
        return np.zeros((0, 2), dtype=np.int64)
    starts = np.arange(0, max(n_seconds - window_s, 0) + 1, window_s, dtype=np.int64)
    return np.stack([starts, np.minimum(starts + window_s, n_seconds)], axis=1)


def second_windows(starts_s: Sequence[float], ends_s: Sequence[float], n_seconds: int) -> np.ndarray:
    """Windows of whole seconds covering the given spans (seconds): ``[floor(start), ceil(end))``
    clipped to the video's ``n_seconds``; spans left empty are dropped. Int64 (n, 2)."""
    windows = [(max(math.floor(start), 0), min(math.ceil(end), n_seconds)) for start, end in zip(starts_s, ends_s)]
    kept = [(start, end) for start, end in windows if end > start]
    return np.array(kept, dtype=np.int64).reshape(-1, 2)


def pooled_clips(seconds: np.ndarray, windows: np.ndarray) -> np.ndarray:
    """Max-pool of per-second features over each window: (n_seconds, D) x (n, 2) -> (n, D)."""
    return np.stack([seconds[start:end].max(axis=0) for start, end in windows]).astype(np.float32)


def normalised(pooled: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (a zero row stays zero): the ``features`` clip embedding."""
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return pooled / np.where(norms > 0, norms, 1.0)


def model_embedder(model: JointEmbedding) -> Embed:
    """The clip branch of a trained model: pooled clips (n, D) -> unit vectors (n, joint_dim)."""
    device = next(model.parameters()).device
    model.eval()

    def embed(pooled: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model.clip_unit(torch.from_numpy(pooled).to(device)).float().cpu().numpy()

    return embed


def video_means(
    video_ids: Sequence[str],
    windows_of: Callable[[str, int], np.ndarray],
    source: SecondsSource,
    n_seconds_of: Callable[[str], int],
    embed: Embed,
) -> tuple[list[str], np.ndarray, np.ndarray, list[QcRecord]]:
    """Mean clip embedding of every video that has a clip.

    ``windows_of(video_id, n_seconds)``: the video's clip windows (int (n, 2) of seconds).
    Returns (ids, means (n_videos, E) float32, clip counts (n_videos,) int64, QC records of the
    videos without any clip); with no video embedded, means is (0, 0).
    """
    ids, means, counts, qc = [], [], [], []
    for video_id in video_ids:
        windows = windows_of(video_id, n_seconds_of(video_id))
        if len(windows) == 0:
            qc.append(QcRecord(video_id, STAGE, "no clip to embed (no window inside the video)"))
            continue
        clips = embed(pooled_clips(source.seconds(video_id), windows))
        ids.append(video_id)
        means.append(clips.mean(axis=0))
        counts.append(len(windows))
    stacked = np.stack(means).astype(np.float32) if means else np.zeros((0, 0), np.float32)
    return ids, stacked, np.array(counts, dtype=np.int64), qc


def save_embeddings(path: str | os.PathLike, video_ids: Sequence[str], means: np.ndarray, n_clips: np.ndarray) -> None:
    """Write one shard's video means atomically (npz: video_ids, means, n_clips)."""
    if not len(video_ids) == len(means) == len(n_clips):
        raise ValueError(
            f"embeddings do not line up: {len(video_ids)} ids, {len(means)} mean rows, {len(n_clips)} clip counts"
        )
    with atomic_output(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, video_ids=np.array(video_ids, dtype=str), means=means, n_clips=n_clips)


def load_embeddings(path: str | os.PathLike) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(video ids, means (n, E) float32, clip counts (n,)) of a file written by save_embeddings."""
    with np.load(path) as data:
        return data["video_ids"].tolist(), data["means"].astype(np.float32), data["n_clips"]


def windows_by_video(table: pd.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Start and end seconds per video of a table with video_id, start_s, end_s (segments or events)."""
    return {
        str(video_id): (rows["start_s"].to_numpy(float), rows["end_s"].to_numpy(float))
        for video_id, rows in table.groupby("video_id", sort=False)
    }


def embedding_blocks(
    paths: Sequence[str | os.PathLike], keep: set[str], block_videos: int
) -> Iterator[tuple[list[str], np.ndarray]]:
    """Video means of the ``keep`` videos, read shard file by shard file and yielded in blocks of
    up to ``block_videos`` rows (ids, (n, E) float32): memory holds one block, not the corpus.
    Shards without a kept video (e.g. one whose videos all failed, stored as (0, 0)) are skipped."""
    ids: list[str] = []
    parts: list[np.ndarray] = []
    for path in paths:
        shard_ids, means, _ = load_embeddings(path)
        rows = [k for k, video_id in enumerate(shard_ids) if video_id in keep]
        if not rows:
            continue
        ids += [shard_ids[k] for k in rows]
        parts.append(means[rows])
        while len(ids) >= block_videos:
            block = np.concatenate(parts)
            yield ids[:block_videos], block[:block_videos]
            ids, parts = ids[block_videos:], [block[block_videos:]]
    if ids:
        yield ids, np.concatenate(parts)
