"""Per-second visual features: pretrained CNN backbones over streamed frames, one HDF5 file per shard.

Row ``k`` of a video's array describes second ``[k, k + 1)`` (see :mod:`groundprobe.features.decode`); each
stream is L2-normalised per row and stored as float16. The backbones and their weights are in
:mod:`groundprobe.features.backbones`; the files are read back through :mod:`groundprobe.features.store`.
"""

from __future__ import annotations

import contextlib
import logging
import mmap
import os
from typing import Iterable, Iterator

import h5py
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from groundprobe.config import other_backbones_settings
from groundprobe.features.backbones import Backbone, load_backbone
from groundprobe.features.decode import DecodeError, TruncatedVideo, ffmpeg_version, frames_per_second, stream_batches
from groundprobe.features.parallel_decode import ParallelDecoder
from groundprobe.device import resolve_device
from groundprobe.io import atomic_output, provenance
from groundprobe.ingest.qc import QcRecord
from groundprobe.settings import FeatureSettings

log = logging.getLogger(__name__)

MAX_CHUNK_ROWS = 256  # a chunk of 256 x 2048 float16 is 1 MiB, HDF5's default chunk cache


def feature_chunk_rows(n_rows: int) -> int:
    """Rows per HDF5 chunk of a video's ``(n_rows, dim)`` features: ``ceil(n / ceil(n / 256))``.

    The video is cut into the fewest chunks of at most :data:`MAX_CHUNK_ROWS` rows, all of nearly
    equal size, so the last chunk is nearly full: the allocated rows ``ceil(n / 256) * rows`` exceed
    ``n`` by fewer than ``ceil(n / 256)`` rows, under 0.4% for any length (none up to 256 rows), where
    ``min(n, 256)`` rows per chunk allocated up to 1.99x (257 rows). Reading a video touches only
    its own chunks.
    """
    if n_rows < 1:
        raise ValueError(f"a chunked dataset needs at least one row, got {n_rows}")
    n_chunks = -(-n_rows // MAX_CHUNK_ROWS)
    return -(-n_rows // n_chunks)


# Attributes that define what a feature means; threads, batch size or device may differ by shard.
DEFINING_ATTRS = (
    "stream",
    "backbone",
    "weights",
    "weights_sha256",
    "dim",
    "fps",
    "resize",
    "crop",
    "frame_size",
    "clip_seconds",
    "s3dg_padding",
)


def feature_provenance(h5_paths: Iterable[str | os.PathLike]) -> dict[str, str]:
    """The defining provenance attributes of a stream's shard files, which must all agree.

    Raises ValueError when shards were made with different backbones, weights or sampling, since
    their features would not be comparable.
    """
    records = []
    for path in h5_paths:
        with h5py.File(path, "r") as h5:
            records.append({k: str(h5.attrs[k]) for k in DEFINING_ATTRS if k in h5.attrs})
    differing = sorted({k for r in records for k in r if r.get(k) != records[0].get(k)})
    if differing:
        raise ValueError(f"feature shards disagree on {', '.join(differing)}; re-extract them with one configuration")
    return records[0] if records else {}


def recorded_settings(settings: FeatureSettings, stream: str) -> dict:
    """What a shard file of ``stream`` records of ``settings`` (in config form): config
    ``features.<stream>`` without the settings of other backbones, plus the settings shared by
    both streams."""
    block = settings.to_config()
    unused = other_backbones_settings(block[stream]["backbone"])
    recorded = {key: value for key, value in block[stream].items() if key not in unused}
    return recorded | {key: value for key, value in block.items() if key not in ("2d", "3d")}


def rows_per_item(kind: str, settings: FeatureSettings) -> int:
    """Backbone outputs averaged into one row: the frames of a second for 2D, 1 clip for 3D."""
    return frames_per_second(settings.two_d) if kind == "2d" else 1


def batch_rows(backbone: Backbone, batch: np.ndarray, per_row: int) -> np.ndarray:
    """Rows of one decoded batch: float16 ``(len(batch) // per_row, dim)``, L2-normalised, each
    the mean of ``per_row`` consecutive items' features."""
    features = backbone(batch).view(-1, per_row, backbone.dim).mean(dim=1)
    return F.normalize(features, dim=1).numpy().astype(np.float16)


def _stacked(rows: list[np.ndarray], dim: int) -> np.ndarray:
    return np.concatenate(rows) if rows else np.empty((0, dim), np.float16)


def extract_video_features(path: str | os.PathLike, backbone: Backbone, settings: FeatureSettings) -> np.ndarray:
    """Per-second features of one video: float16 ``(n_seconds, dim)``, each row L2-normalised.

    Decoding and inference take turns in this process; frames stream through the backbone batch
    by batch, so only the output grows with video length. For 2D at ``fps > 1`` a second's row
    is the mean of its frames' features. Raises :class:`DecodeError` when the video cannot be
    decoded, :class:`TruncatedVideo` when it decodes markedly shorter than its container states.
    (:func:`iter_shard_features` gives the same rows with decoding in parallel.)
    """
    per_row = rows_per_item(backbone.kind, settings)
    rows = [batch_rows(backbone, batch, per_row) for batch in stream_batches(path, backbone.kind, settings)]
    return _stacked(rows, backbone.dim)


@contextlib.contextmanager
def page_locked(buffer: mmap.mmap | None, device: torch.device) -> Iterator[None]:
    """Page-lock ``buffer`` (the decoders' batch slots) while a CUDA ``device`` reads from it.

    Copies from page-locked memory go to the GPU by DMA at the bus's speed; from pageable
    memory the driver stages them through a CPU copy (on an H200, S3D-G 30x224² ran at 540 vs
    391 clips/s: benchmarks/gpu_check.py docstring). Where the driver refuses, copies stay pageable: slower,
    same features.
    """
    if buffer is None or device.type != "cuda":
        yield
        return
    view = np.frombuffer(buffer, np.uint8)
    address, size = view.ctypes.data, view.nbytes
    del view  # a live export would keep the mmap from closing
    cudart = torch.cuda.cudart()
    error = cudart.cudaHostRegister(address, size, 0)
    if error != cudart.cudaError.success:
        log.warning(
            "could not page-lock the decoders' %d MiB of batch slots (%s): copies to %s stay pageable",
            size >> 20,
            error,
            device,
        )
        yield
        return
    try:
        yield
    finally:
        cudart.cudaHostUnregister(address)


def iter_shard_features(
    paths: list[str | os.PathLike], backbone: Backbone, settings: FeatureSettings, decoders: int
) -> Iterator[tuple[int, np.ndarray | DecodeError, tuple[str, ...]]]:
    """``(i, features of paths[i], ffmpeg's messages about it)`` for every video in order, decoded
    by ``decoders`` processes (:class:`ParallelDecoder`) while this process runs the backbone.

    Features are those of :func:`extract_video_features` (same batches, same rows); a video that
    cannot be decoded, or is truncated, gives its :class:`DecodeError` (:class:`TruncatedVideo`)
    instead. The messages are ffmpeg's warnings and errors while decoding the video (often none),
    to be logged by the caller. Any other error in a decoder is
    raised here. Throughput is the smaller of the backbone's rate and the decoders' combined
    rate. Videos decoded ahead of an earlier, longer one wait here as rows (float16, ``dim``
    values per second) until it is done, so that they come out in order.
    """
    if not paths:  # a shard whose every video failed to download
        return
    per_row = rows_per_item(backbone.kind, settings)
    partial: dict[int, list[np.ndarray]] = {}
    done: dict[int, tuple[np.ndarray | DecodeError, tuple[str, ...]]] = {}
    next_video = 0
    with (
        ParallelDecoder(paths, backbone.kind, settings, decoders) as decoded,
        page_locked(decoded.shared_buffer, backbone.device),
    ):
        for event in decoded:
            if event.frames is not None:
                partial.setdefault(event.video, []).append(batch_rows(backbone, event.frames, per_row))
                continue
            rows = partial.pop(event.video, [])
            if event.error is None:
                done[event.video] = _stacked(rows, backbone.dim), event.messages
            elif isinstance(event.error, DecodeError):
                done[event.video] = event.error, event.messages
            else:
                raise event.error
            while next_video in done:
                yield next_video, *done.pop(next_video)
                next_video += 1


def extract_shard_features(
    videos: pd.DataFrame,
    stream: str,
    settings: FeatureSettings,
    out_h5: str | os.PathLike,
    log: logging.Logger,
    *,
    allow_cpu_fallback: bool = False,
) -> list[QcRecord]:
    """Features of every video of a shard (columns ``video_id, video_path``) into one HDF5 file.

    One float16 dataset ``(n_seconds, dim)`` per video id at the file root, chunked by video; file
    attributes carry provenance (:func:`recorded_settings`, ``allow_cpu_fallback``). Videos that cannot
    be decoded, are truncated (decode markedly shorter than their container states,
    :func:`groundprobe.features.decode.check_complete`; no features for the part that decodes) or have
    no full second are left out and returned as QC records (reasons ``undecodable: ...``,
    ``truncated: ...``, ``shorter than one second: ...``). ffmpeg's warnings about a video go to
    ``log``. The file appears only when the whole shard is done. ``settings.decoders`` processes
    decode while this one runs the backbone (:func:`iter_shard_features`); the features do not
    depend on their number. ``allow_cpu_fallback``: as for :func:`groundprobe.device.resolve_device`
    (config ``resources.allow_cpu_fallback``).
    """
    stage = f"features_{stream}"
    stream_settings = settings.stream(stream)
    device = resolve_device(settings.device, allow_cpu_fallback)
    backbone = load_backbone(
        stream_settings.backbone, stream_settings.weights, device, bf16_cpu=settings.bf16_cpu, settings=stream_settings
    )
    if backbone.kind != stream:
        raise ValueError(f"backbone {backbone.name} is {backbone.kind}, not usable for stream {stream}")
    log.info(
        "%s: backbone %s (%s weights, sha256 %s) on %s, %d decoder process(es)",
        stage,
        backbone.name,
        stream_settings.weights,
        backbone.weights_sha256,
        device,
        settings.decoders,
    )
    qc: list[QcRecord] = []
    rows = list(videos.itertuples(index=False))
    results = iter_shard_features([video.video_path for video in rows], backbone, settings, settings.decoders)
    with (
        atomic_output(out_h5) as tmp,
        h5py.File(tmp, "w") as h5,
        contextlib.closing(results),
    ):  # closing: an error here ends the decoder processes
        h5.attrs.update(
            provenance(
                stream=stream,
                dim=backbone.dim,
                weights_sha256=backbone.weights_sha256,
                device_used=str(device),
                precision=str(backbone.precision or torch.float32),
                decoder=ffmpeg_version(),
                **recorded_settings(settings, stream),
                allow_cpu_fallback=allow_cpu_fallback,
            )
        )
        for index, features, messages in results:
            video = rows[index]
            for line in messages:
                log.warning("%s: %s: ffmpeg: %s", video.video_id, stage, line)
            if isinstance(features, TruncatedVideo):
                qc.append(QcRecord(video.video_id, stage, f"truncated: {features}"))
                log.warning("%s: %s: %s", video.video_id, stage, qc[-1].reason)
                continue
            if isinstance(features, DecodeError):
                qc.append(QcRecord(video.video_id, stage, f"undecodable: {features}"))
                log.warning("%s: %s: %s", video.video_id, stage, qc[-1].reason)
                continue
            if not len(features):
                qc.append(QcRecord(video.video_id, stage, "shorter than one second: no full second"))
                log.warning("%s: %s: %s", video.video_id, stage, qc[-1].reason)
                continue
            h5.create_dataset(video.video_id, data=features, chunks=(feature_chunk_rows(len(features)), backbone.dim))
            log.info("%s: %s: %d seconds", video.video_id, stage, len(features))
    return qc
