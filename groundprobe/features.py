"""Per-second visual features: pretrained CNN backbones over streamed frames, one HDF5 file per shard.

Row ``k`` of a video's array describes second ``[k, k + 1)`` (see :mod:`groundprobe.decode`); each
stream is L2-normalised per row and stored as float16. Backbones are looked up in
:data:`BACKBONES`; their weights come from local files only (named in :mod:`groundprobe.weights`),
never from a download at run time.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import h5py
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
import torchvision
from efficientnet_lite_pytorch import EfficientNet

from groundprobe.decode import (DecodeError, ParallelDecoder, ffmpeg_version, frames_per_second,
                                stream_batches)
from groundprobe.device import resolve_device
from groundprobe.io import atomic_output, file_sha256, provenance
from groundprobe.qc import QcRecord
from groundprobe.s3dg import S3DG
from groundprobe.weights import WeightsError, weights_file

log = logging.getLogger(__name__)

SHARED_KEYS = ("device", "threads", "bf16_cpu", "decode_chunk_frames", "decoders")
CHUNK_SECONDS = 256  # HDF5 chunk rows: reading one video touches only its own chunks
KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)

# Inception-v3's trunk in order, up to its last block (AuxLogits, the training-only side head, left out).
INCEPTION_TRUNK = ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1",
                   "Conv2d_4a_3x3", "maxpool2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a",
                   "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c")


def efficientnet_lite_input(x: torch.Tensor) -> torch.Tensor:
    """EfficientNet-Lite's input scaling of 0..255 pixels: ``(x - 127) / 128`` (same per channel)."""
    return (x - 127.0) / 128.0


def inception_input(x: torch.Tensor) -> torch.Tensor:
    """Inception-v3's input scaling of 0..255 pixels: ``(x / 255 - 0.5) / 0.5``, in [-1, 1].

    What torchvision feeds its ImageNet Inception-v3 weights: it normalises with ImageNet mean/std
    and then, with ``transform_input=True`` (set for those weights), maps that back to
    ``(x - 0.5) / 0.5``, the convention the weights were trained with. The composition is this
    scaling; the model is built with ``transform_input=False`` so that it is applied once, here.
    """
    return (x / 255.0 - 0.5) / 0.5


def unit_range_input(x: torch.Tensor) -> torch.Tensor:
    """0..255 pixels to [0, 1], no mean/std: the input of the MIL-NCE S3D-G weights."""
    return x / 255.0


def kinetics_input(x: torch.Tensor) -> torch.Tensor:
    """torchvision's Kinetics-400 normalisation of 0..255 clips ``(n, 3, T, H, W)``."""
    mean = torch.tensor(KINETICS_MEAN, device=x.device).view(1, 3, 1, 1, 1)
    std = torch.tensor(KINETICS_STD, device=x.device).view(1, 3, 1, 1, 1)
    return (x / 255.0 - mean) / std


def efficientnet_pooled(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Last convolutional feature map, averaged over space: ``(n, 1280)``."""
    return model.extract_features(x).mean(dim=(2, 3))


def inception_pooled(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Inception-v3's last block ``Mixed_7c`` averaged over space, before dropout and fc: ``(n, 2048)``.

    The auxiliary head is never run: it hangs off ``Mixed_6e`` and only serves training.
    """
    for name in INCEPTION_TRUNK:
        x = getattr(model, name)(x)
    return x.mean(dim=(2, 3))


def s3d_pooled(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """S3D's (or S3D-G's) ``features`` averaged over time and space: ``(n, 1024)``.

    Not torchvision's own ``avgpool``: its fixed kernel fails on small frames.
    """
    return model.features(x).mean(dim=(2, 3, 4))


def build_inception_v3() -> torch.nn.Module:
    """torchvision Inception-v3, initialised here (no download), laid out like the published file.

    With the auxiliary head: the published ImageNet state dict holds ``AuxLogits.*`` tensors, so
    building the head lets that file load strictly (every key must fit); the head only runs in
    training mode, and :func:`inception_pooled` never calls it. ``transform_input=False``:
    :func:`inception_input` does the whole input scaling.
    """
    return torchvision.models.inception_v3(weights=None, aux_logits=True, transform_input=False,
                                           init_weights=True)


@dataclass(frozen=True)
class BackboneSpec:
    """How to build, feed and pool one backbone architecture."""

    kind: str                                               # "2d": (n, H, W, 3); "3d": (n, T, H, W, 3)
    dim: int                                                # pooled feature size
    build: Callable[[], torch.nn.Module]                    # the architecture, freshly initialised
    normalise: Callable[[torch.Tensor], torch.Tensor]       # 0..255 channels-first -> model input
    pooled: Callable[[torch.nn.Module, torch.Tensor], torch.Tensor]  # model input -> (n, dim)
    ignored_prefixes: tuple[str, ...] = ()                  # weights-file keys outside the model


# The 'pretrained' file of each backbone is named in groundprobe.weights.PRETRAINED.
BACKBONES: dict[str, BackboneSpec] = {
    "efficientnet_lite0": BackboneSpec(
        kind="2d", dim=1280,
        build=lambda: EfficientNet.from_name("efficientnet-lite0"),
        normalise=efficientnet_lite_input, pooled=efficientnet_pooled),
    "inception_v3": BackboneSpec(
        kind="2d", dim=2048, build=build_inception_v3,
        normalise=inception_input, pooled=inception_pooled),
    "s3dg": BackboneSpec(
        kind="3d", dim=1024, build=S3DG, normalise=unit_range_input, pooled=s3d_pooled,
        # The MIL-NCE checkpoint also holds its sentence encoder, which video features do not use.
        ignored_prefixes=("text_module.",)),
    "s3d_kinetics": BackboneSpec(
        kind="3d", dim=1024,
        build=lambda: torchvision.models.video.s3d(weights=None),
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
        self.max_batch: int | None = None  # set after an out-of-memory error: the largest size that fits

    def __call__(self, batch: np.ndarray) -> torch.Tensor:
        """Features of uint8 RGB frames ``(n, H, W, 3)`` (2D) or clips ``(n, T, H, W, 3)`` (3D).

        Returns float32 ``(n, dim)`` on the CPU, not normalised. A batch that runs out of GPU
        memory is split in halves until it fits (an item that alone does not fit is an error).
        """
        expected_ndim = 4 if self.kind == "2d" else 5
        if batch.ndim != expected_ndim or batch.shape[-1] != 3 or batch.dtype != np.uint8:
            raise ValueError(f"{self.name} expects uint8 arrays of {expected_ndim} dims ending in RGB, "
                             f"got {batch.dtype} {batch.shape}")
        while True:
            size = self.max_batch or len(batch)
            try:
                return torch.cat([self._pooled(batch[i:i + size]) for i in range(0, len(batch), size)])
            except torch.cuda.OutOfMemoryError:
                if size == 1:
                    raise RuntimeError(f"{self.name}: one item of {batch.shape[1:]} does not fit "
                                       f"in the memory of {self.device}") from None
            # Items are independent, so smaller sub-batches give the same features (to float
            # rounding); the smaller size then holds for the rest of the job. The cache is
            # emptied here, once the failed attempt's tensors are released with its traceback.
            self.max_batch = size // 2
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
            log.warning("%s: out of memory on %s at %d items per batch; retrying at %d",
                        self.name, self.device, size, self.max_batch)

    def _pooled(self, batch: np.ndarray) -> torch.Tensor:
        """Raw pooled features of one sub-batch: float32 ``(n, dim)`` on the CPU."""
        with torch.inference_mode():
            pixels = torch.from_numpy(batch).to(self.device, non_blocking=True)
            x = self._spec.normalise(pixels.movedim(-1, 1).float())
            reduced = (torch.autocast(self.device.type, dtype=self.precision) if self.precision
                       else contextlib.nullcontext())
            with reduced:
                features = self._spec.pooled(self.module, x)
            return features.float().cpu()


def state_dict_mismatch(module: torch.nn.Module, state: dict[str, torch.Tensor],
                        shown: int = 5) -> str:
    """What keeps ``state`` from loading strictly into ``module``: the first ``shown`` missing keys,
    unexpected keys and wrong shapes (file vs model), with their counts; '' when it fits."""
    expected = module.state_dict()
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    wrong = [f"{key}: {tuple(state[key].shape)} in the file, {tuple(tensor.shape)} in the model"
             for key, tensor in expected.items() if key in state and state[key].shape != tensor.shape]
    problems = [f"{len(found)} {what} {found[:shown]}" for what, found in
                (("missing keys", missing), ("unexpected keys", unexpected),
                 ("wrong shapes", wrong)) if found]
    return "; ".join(problems)


def load_state_dict_file(module: torch.nn.Module, path: Path, name: str,
                         ignored_prefixes: tuple[str, ...] = ()) -> None:
    """Load a state-dict file into ``module``; keys starting with ``ignored_prefixes`` are dropped.

    Raises :class:`WeightsError` naming the file and the first offending keys and shapes unless
    every remaining key is the model's, with the model's shape, and every model key is there.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as error:
        raise WeightsError(f"{path} is not a readable torch state-dict file for backbone {name}: "
                           f"{error}") from None
    if not isinstance(state, dict):
        raise WeightsError(f"{path} does not fit backbone {name}: it holds a "
                           f"{type(state).__name__}, not a state dict")
    state = {key: tensor for key, tensor in state.items() if not key.startswith(ignored_prefixes)}
    mismatch = state_dict_mismatch(module, state)
    if mismatch:
        raise WeightsError(f"{path} does not fit backbone {name}: {mismatch}")
    module.load_state_dict(state)


def load_backbone(name: str, weights: str, device: torch.device | str = "cpu", *,
                  bf16_cpu: bool = False, seed: int = 0) -> Backbone:
    """Backbone ``name`` with ``weights``: 'pretrained', 'random' (initialised after
    ``torch.manual_seed(seed)``) or the path of a state-dict file.

    Raises :class:`WeightsError` naming the file when a weights file is absent or does not fit.
    """
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone '{name}'; known: {', '.join(BACKBONES)}")
    spec = BACKBONES[name]
    path = weights_file(name, weights)  # an absent file fails before the model is built
    with torch.random.fork_rng(devices=[]):  # seed the initialisation, leave the caller's RNG alone
        torch.manual_seed(seed)
        module = spec.build()
    if path is None:
        sha = f"random-seed-{seed}"
    else:
        load_state_dict_file(module, path, name, spec.ignored_prefixes)
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


def rows_per_item(kind: str, params: dict) -> int:
    """Backbone outputs averaged into one row: the frames of a second for 2D, 1 clip for 3D."""
    return frames_per_second(params) if kind == "2d" else 1


def batch_rows(backbone: Backbone, batch: np.ndarray, per_row: int) -> np.ndarray:
    """Rows of one decoded batch: float16 ``(len(batch) // per_row, dim)``, L2-normalised, each
    the mean of ``per_row`` consecutive items' features."""
    features = backbone(batch).view(-1, per_row, backbone.dim).mean(dim=1)
    return F.normalize(features, dim=1).numpy().astype(np.float16)


def _stacked(rows: list[np.ndarray], dim: int) -> np.ndarray:
    return np.concatenate(rows) if rows else np.empty((0, dim), np.float16)


def extract_video_features(path: str | os.PathLike, backbone: Backbone, params: dict) -> np.ndarray:
    """Per-second features of one video: float16 ``(n_seconds, dim)``, each row L2-normalised.

    Decoding and inference take turns in this process; frames stream through the backbone batch
    by batch, so only the output grows with video length. For 2D at ``fps > 1`` a second's row
    is the mean of its frames' features. Raises :class:`DecodeError` when the video cannot be
    decoded. (:func:`iter_shard_features` gives the same rows with decoding in parallel.)
    """
    per_row = rows_per_item(backbone.kind, params)
    rows = [batch_rows(backbone, batch, per_row)
            for batch in stream_batches(path, backbone.kind, params)]
    return _stacked(rows, backbone.dim)


def iter_shard_features(paths: list[str | os.PathLike], backbone: Backbone, params: dict,
                        decoders: int) -> Iterator[tuple[int, np.ndarray | DecodeError]]:
    """``(i, features of paths[i])`` for every video in order, decoded by ``decoders`` processes
    (:class:`ParallelDecoder`) while this process runs the backbone.

    Features are those of :func:`extract_video_features` (same batches, same rows); a video that
    cannot be decoded gives its :class:`DecodeError` instead. Any other error in a decoder is
    raised here. Throughput is the smaller of the backbone's rate and the decoders' combined
    rate. Videos decoded ahead of an earlier, longer one wait here as rows (float16, ``dim``
    values per second) until it is done, so that they come out in order.
    """
    per_row = rows_per_item(backbone.kind, params)
    partial: dict[int, list[np.ndarray]] = {}
    done: dict[int, np.ndarray | DecodeError] = {}
    next_video = 0
    with ParallelDecoder(paths, backbone.kind, params, decoders) as decoded:
        for event in decoded:
            if event.frames is not None:
                partial.setdefault(event.video, []).append(batch_rows(backbone, event.frames, per_row))
                continue
            rows = partial.pop(event.video, [])
            if event.error is None:
                done[event.video] = _stacked(rows, backbone.dim)
            elif isinstance(event.error, DecodeError):
                done[event.video] = event.error
            else:
                raise event.error
            while next_video in done:
                yield next_video, done.pop(next_video)
                next_video += 1


def extract_shard_features(videos: pd.DataFrame, stream: str, params: dict,
                           out_h5: str | os.PathLike, log: logging.Logger) -> list[QcRecord]:
    """Features of every video of a shard (columns ``video_id, video_path``) into one HDF5 file.

    One float16 dataset ``(n_seconds, dim)`` per video id at the file root, chunked by video; file
    attributes carry provenance. Videos that cannot be decoded or have no full second are left
    out and returned as QC records. The file appears only when the whole shard is done.
    ``params["decoders"]`` processes decode while this one runs the backbone
    (:func:`iter_shard_features`); the features do not depend on their number.
    """
    stage = f"features_{stream}"
    device = resolve_device(params["device"], params.get("allow_cpu_fallback", False))
    backbone = load_backbone(params["backbone"], params["weights"], device, bf16_cpu=params["bf16_cpu"])
    if backbone.kind != stream:
        raise ValueError(f"backbone {backbone.name} is {backbone.kind}, not usable for stream {stream}")
    log.info("%s: backbone %s (%s weights, sha256 %s) on %s, %d decoder process(es)", stage,
             backbone.name, params["weights"], backbone.weights_sha256, device, params["decoders"])
    qc: list[QcRecord] = []
    rows = list(videos.itertuples(index=False))
    results = iter_shard_features([video.video_path for video in rows], backbone, params,
                                  params["decoders"])
    with (atomic_output(out_h5) as tmp, h5py.File(tmp, "w") as h5,
          contextlib.closing(results)):  # closing: an error here ends the decoder processes
        h5.attrs.update(provenance(
            stream=stream, dim=backbone.dim, weights_sha256=backbone.weights_sha256,
            device_used=str(device), precision=str(backbone.precision or torch.float32),
            decoder=ffmpeg_version(), **params))
        for index, features in results:
            video = rows[index]
            if isinstance(features, DecodeError):
                qc.append(QcRecord(video.video_id, stage, f"undecodable: {features}"))
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
    """Feature streams of many shard files, read lazily one video at a time.

    Built from one list of shard files per stream (usually 2D and 3D, in that order).
    ``seconds(video_id)`` is the streams' rows concatenated for every second all of them have (the
    shortest stream sets the length): float32 ``(n_seconds, D2 + D3)``. Files stay open until
    :meth:`close`.
    """

    def __init__(self, *streams: Iterable[str | os.PathLike]):
        if not streams:
            raise ValueError("a feature store needs at least one stream of shard files")
        self._files: list[h5py.File] = []
        try:
            self._streams = tuple(self._index(paths) for paths in streams)
        except (OSError, ValueError):
            self.close()
            raise
        self.video_ids: list[str] = sorted(set.intersection(*(set(index) for index in self._streams)))

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

    def _datasets(self, video_id: str) -> tuple[h5py.Dataset, ...]:
        try:
            return tuple(index[video_id] for index in self._streams)
        except KeyError:
            raise KeyError(f"video {video_id} does not have every feature stream") from None

    def n_seconds(self, video_id: str) -> int:
        """Seconds covered by every stream (without reading the features)."""
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
