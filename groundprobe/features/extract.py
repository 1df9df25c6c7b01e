"""Per-second visual features: pretrained CNN backbones over streamed frames, one HDF5 file per shard.

Row ``k`` of a video's array describes second ``[k, k + 1)`` (see :mod:`groundprobe.features.decode`); each
stream is L2-normalised per row and stored as float16. Backbones are looked up in
:data:`BACKBONES`; their weights come from local files only (named in :mod:`groundprobe.features.weights`),
never from a download at run time.
"""

from __future__ import annotations

import contextlib
import logging
import mmap
import os
import pickle
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, overload

import h5py
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
import torchvision
from efficientnet_lite_pytorch import EfficientNet

from groundprobe.config import BACKBONE_SETTINGS
from groundprobe.features.decode import DecodeError, TruncatedVideo, ffmpeg_version, frames_per_second, stream_batches
from groundprobe.features.parallel_decode import ParallelDecoder
from groundprobe.device import resolve_device
from groundprobe.io import atomic_output, file_sha256, provenance
from groundprobe.ingest.qc import QcRecord
from groundprobe.features.s3dg import DEFAULT_PADDING, S3DG
from groundprobe.features.weights import WeightsError, weights_file

log = logging.getLogger(__name__)

SHARED_KEYS = ("device", "threads", "bf16_cpu", "decode_chunk_frames", "decoders", "truncation")
MAX_CHUNK_ROWS = 256  # a chunk of 256 x 2048 float16 is 1 MiB, HDF5's default chunk cache
MAX_OPEN_FILES = 32  # shard files a FeatureStore keeps open at once
METADATA_CACHE_BYTES = 256 * 1024  # HDF5 metadata cache of a shard file open for reading
# Rows between two wanted rows of a video that are read rather than skipped: one more read call
# costs about as much as copying ~90 rows of 2048 float16 values (measured 2026-12-03: ~45 us a
# call, ~0.5 us a row).
MERGE_GAP_ROWS = 64
FLOAT16_AS_FLOAT32 = np.arange(2**16, dtype=np.uint16).view(np.float16).astype(np.float32)
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


def build_s3dg(s3dg_padding: str = DEFAULT_PADDING) -> S3DG:
    """This project's S3D-G with config ``features.3d.s3dg_padding`` (``port`` or ``tf_same``)."""
    return S3DG(padding=s3dg_padding)


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
    build: Callable[..., torch.nn.Module]                   # the architecture, freshly initialised
    normalise: Callable[[torch.Tensor], torch.Tensor]       # 0..255 channels-first -> model input
    pooled: Callable[[torch.nn.Module, torch.Tensor], torch.Tensor]  # model input -> (n, dim)
    ignored_prefixes: tuple[str, ...] = ()                  # weights-file keys outside the model
    settings: tuple[str, ...] = ()                          # stream config keys build takes as keywords


# The 'pretrained' file of each backbone is named in groundprobe.features.weights.PRETRAINED.
BACKBONES: dict[str, BackboneSpec] = {
    "efficientnet_lite0": BackboneSpec(
        kind="2d", dim=1280,
        build=lambda: EfficientNet.from_name("efficientnet-lite0"),
        normalise=efficientnet_lite_input, pooled=efficientnet_pooled),
    "inception_v3": BackboneSpec(
        kind="2d", dim=2048, build=build_inception_v3,
        normalise=inception_input, pooled=inception_pooled),
    "s3dg": BackboneSpec(
        kind="3d", dim=1024, build=build_s3dg, normalise=unit_range_input, pooled=s3d_pooled,
        # The MIL-NCE checkpoint also holds its sentence encoder, which video features do not use.
        ignored_prefixes=("text_module.",), settings=BACKBONE_SETTINGS["s3dg"]),
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
                  bf16_cpu: bool = False, seed: int = 0,
                  settings: Mapping[str, object] | None = None) -> Backbone:
    """Backbone ``name`` with ``weights``: 'pretrained', 'random' (initialised after
    ``torch.manual_seed(seed)``) or the path of a state-dict file.

    ``settings``: stream config (``features.<stream>``); the keys the backbone takes
    (:attr:`BackboneSpec.settings`, e.g. ``s3dg_padding``) are passed to its build, the others
    ignored; an absent key takes the build's default.

    Raises :class:`WeightsError` naming the file when a weights file is absent or does not fit.
    """
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone '{name}'; known: {', '.join(BACKBONES)}")
    spec = BACKBONES[name]
    path = weights_file(name, weights)  # an absent file fails before the model is built
    chosen = {key: settings[key] for key in spec.settings if settings and key in settings}
    with torch.random.fork_rng(devices=[]):  # seed the initialisation, leave the caller's RNG alone
        torch.manual_seed(seed)
        module = spec.build(**chosen)
    if path is None:
        sha = f"random-seed-{seed}"
    else:
        load_state_dict_file(module, path, name, spec.ignored_prefixes)
        sha = file_sha256(path)
    device = torch.device(device)
    return Backbone(name, spec, module, sha, device, autocast_dtype(device, bf16_cpu))


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
DEFINING_ATTRS = ("stream", "backbone", "weights", "weights_sha256", "dim", "fps", "resize", "crop",
                  "frame_size", "clip_seconds", "s3dg_padding")


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
    decoded, :class:`TruncatedVideo` when it decodes markedly shorter than its container states.
    (:func:`iter_shard_features` gives the same rows with decoding in parallel.)
    """
    per_row = rows_per_item(backbone.kind, params)
    rows = [batch_rows(backbone, batch, per_row)
            for batch in stream_batches(path, backbone.kind, params)]
    return _stacked(rows, backbone.dim)


@contextlib.contextmanager
def page_locked(buffer: mmap.mmap | None, device: torch.device) -> Iterator[None]:
    """Page-lock ``buffer`` (the decoders' batch slots) while a CUDA ``device`` reads from it.

    Copies from page-locked memory go to the GPU by DMA at the bus's speed; from pageable
    memory the driver stages them through a CPU copy (on an H200, S3D-G 30x224² ran at 540 vs
    391 clips/s: README, GPU check). Where the driver refuses, copies stay pageable: slower,
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
        log.warning("could not page-lock the decoders' %d MiB of batch slots (%s): copies to %s "
                    "stay pageable", size >> 20, error, device)
        yield
        return
    try:
        yield
    finally:
        cudart.cudaHostUnregister(address)


def iter_shard_features(paths: list[str | os.PathLike], backbone: Backbone, params: dict,
                        decoders: int
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
    if not paths:                              # a shard whose every video failed to download
        return
    per_row = rows_per_item(backbone.kind, params)
    partial: dict[int, list[np.ndarray]] = {}
    done: dict[int, tuple[np.ndarray | DecodeError, tuple[str, ...]]] = {}
    next_video = 0
    with (ParallelDecoder(paths, backbone.kind, params, decoders) as decoded,
          page_locked(decoded.shared_buffer, backbone.device)):
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


def extract_shard_features(videos: pd.DataFrame, stream: str, params: dict,
                           out_h5: str | os.PathLike, log: logging.Logger) -> list[QcRecord]:
    """Features of every video of a shard (columns ``video_id, video_path``) into one HDF5 file.

    One float16 dataset ``(n_seconds, dim)`` per video id at the file root, chunked by video; file
    attributes carry provenance. Videos that cannot be decoded, are truncated (decode markedly
    shorter than their container states, :func:`groundprobe.features.decode.check_complete`; no features
    for the part that decodes) or have no full second are left out and returned as QC records
    (reasons ``undecodable: ...``, ``truncated: ...``, ``shorter than one second: ...``). ffmpeg's
    warnings about a video go to ``log``. The file appears only when the whole shard is done.
    ``params["decoders"]`` processes decode while this one runs the backbone
    (:func:`iter_shard_features`); the features do not depend on their number.
    """
    stage = f"features_{stream}"
    device = resolve_device(params["device"], params.get("allow_cpu_fallback", False))
    backbone = load_backbone(params["backbone"], params["weights"], device, bf16_cpu=params["bf16_cpu"],
                             settings=params)
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
            h5.create_dataset(video.video_id, data=features,
                              chunks=(feature_chunk_rows(len(features)), backbone.dim))
            log.info("%s: %s: %d seconds", video.video_id, stage, len(features))
    return qc


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
    ids: np.ndarray      # sorted unique ids, dtype S<longest id>
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
        file_of = np.repeat(np.arange(len(paths), dtype=np.min_scalar_type(max(len(paths) - 1, 0))),
                            [len(file_ids) for file_ids in ids_per_file])
        order = np.argsort(ids, kind="stable")
        ids, file_of = ids[order], file_of[order]
        twice = np.flatnonzero(ids[1:] == ids[:-1])
        if len(twice):
            at = twice[0]
            raise ValueError(f"video {ids[at].decode()} is in two feature files: "
                             f"{paths[file_of[at]]} and {paths[file_of[at + 1]]}")
        return cls(paths, ids, file_of)

    def path_of(self, video_id: str) -> str | None:
        """The file holding ``video_id``, or None when this stream does not have it."""
        at = _position(self.ids, video_id)
        return None if at is None else self.paths[self.file_of[at]]


def _list_videos(path: str, among: Iterable[str] | None = None) -> np.ndarray:
    """Ids of the videos in shard file ``path`` (only those of ``among`` when given) as bytes."""
    with h5py.File(path, "r") as h5:
        return _id_bytes(list(h5) if among is None else [video_id for video_id in among
                                                         if video_id in h5])


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
        raise ValueError(f"video {video_id}: a segment starting at {int(starts.max())} s needs "
                         f"{int(starts.max()) + length_s} seconds of features, found {n_seconds}")


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
    def for_videos(cls, *locations: Mapping[str, str | os.PathLike],
                   max_open_files: int = MAX_OPEN_FILES) -> FeatureStore:
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
            raise ValueError(f"max_open_files must be at least the number of streams ({len(streams)}) "
                             f"so that one video's files can be open together, got {max_open_files}")
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
            as_float32(_runs(dataset, firsts, stops), rows[:, column:column + dim])
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
            as_float32(_runs(dataset, firsts, stops)[at], clips[..., column:column + dim])
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
