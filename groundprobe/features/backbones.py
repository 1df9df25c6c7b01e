"""Pretrained CNN backbones: how each architecture is built, fed and pooled, and its weights loaded.

Backbones are looked up in :data:`BACKBONES`; a :class:`Backbone` turns uint8 frames or clips into raw
pooled features. Their weights come from local files only (named in :mod:`groundprobe.features.weights`),
never from a download at run time.
"""

from __future__ import annotations

import contextlib
import logging
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torchvision
from efficientnet_lite_pytorch import EfficientNet

from groundprobe.config import BACKBONE_SETTINGS
from groundprobe.io import file_sha256
from groundprobe.features.s3dg import DEFAULT_PADDING, S3DG
from groundprobe.features.weights import WeightsError, weights_file
from groundprobe.settings import Stream2d, Stream3d

log = logging.getLogger(__name__)

KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)

# Inception-v3's trunk in order, up to its last block (AuxLogits, the training-only side head, left out).
INCEPTION_TRUNK = (
    "Conv2d_1a_3x3",
    "Conv2d_2a_3x3",
    "Conv2d_2b_3x3",
    "maxpool1",
    "Conv2d_3b_1x1",
    "Conv2d_4a_3x3",
    "maxpool2",
    "Mixed_5b",
    "Mixed_5c",
    "Mixed_5d",
    "Mixed_6a",
    "Mixed_6b",
    "Mixed_6c",
    "Mixed_6d",
    "Mixed_6e",
    "Mixed_7a",
    "Mixed_7b",
    "Mixed_7c",
)


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
    return torchvision.models.inception_v3(weights=None, aux_logits=True, transform_input=False, init_weights=True)


@dataclass(frozen=True)
class BackboneSpec:
    """How to build, feed and pool one backbone architecture."""

    kind: str  # "2d": (n, H, W, 3); "3d": (n, T, H, W, 3)
    dim: int  # pooled feature size
    build: Callable[..., torch.nn.Module]  # the architecture, freshly initialised
    normalise: Callable[[torch.Tensor], torch.Tensor]  # 0..255 channels-first -> model input
    pooled: Callable[[torch.nn.Module, torch.Tensor], torch.Tensor]  # model input -> (n, dim)
    ignored_prefixes: tuple[str, ...] = ()  # weights-file keys outside the model
    settings: tuple[str, ...] = ()  # stream settings build takes as keywords


# The 'pretrained' file of each backbone is named in groundprobe.features.weights.PRETRAINED.
BACKBONES: dict[str, BackboneSpec] = {
    "efficientnet_lite0": BackboneSpec(
        kind="2d",
        dim=1280,
        build=lambda: EfficientNet.from_name("efficientnet-lite0"),
        normalise=efficientnet_lite_input,
        pooled=efficientnet_pooled,
    ),
    "inception_v3": BackboneSpec(
        kind="2d", dim=2048, build=build_inception_v3, normalise=inception_input, pooled=inception_pooled
    ),
    "s3dg": BackboneSpec(
        kind="3d",
        dim=1024,
        build=build_s3dg,
        normalise=unit_range_input,
        pooled=s3d_pooled,
        # The MIL-NCE checkpoint also holds its sentence encoder, which video features do not use.
        ignored_prefixes=("text_module.",),
        settings=BACKBONE_SETTINGS["s3dg"],
    ),
    "s3d_kinetics": BackboneSpec(
        kind="3d",
        dim=1024,
        build=lambda: torchvision.models.video.s3d(weights=None),
        normalise=kinetics_input,
        pooled=s3d_pooled,
    ),
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

    def __init__(
        self,
        name: str,
        spec: BackboneSpec,
        module: torch.nn.Module,
        weights_sha256: str,
        device: torch.device,
        precision: torch.dtype | None,
    ):
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
            raise ValueError(
                f"{self.name} expects uint8 arrays of {expected_ndim} dims ending in RGB, "
                f"got {batch.dtype} {batch.shape}"
            )
        while True:
            size = self.max_batch or len(batch)
            try:
                return torch.cat([self._pooled(batch[i : i + size]) for i in range(0, len(batch), size)])
            except torch.cuda.OutOfMemoryError:
                if size == 1:
                    raise RuntimeError(
                        f"{self.name}: one item of {batch.shape[1:]} does not fit in the memory of {self.device}"
                    ) from None
            # Items are independent, so smaller sub-batches give the same features (to float
            # rounding); the smaller size then holds for the rest of the job. The cache is
            # emptied here, once the failed attempt's tensors are released with its traceback.
            self.max_batch = size // 2
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
            log.warning(
                "%s: out of memory on %s at %d items per batch; retrying at %d",
                self.name,
                self.device,
                size,
                self.max_batch,
            )

    def _pooled(self, batch: np.ndarray) -> torch.Tensor:
        """Raw pooled features of one sub-batch: float32 ``(n, dim)`` on the CPU."""
        with torch.inference_mode():
            pixels = torch.from_numpy(batch).to(self.device, non_blocking=True)
            x = self._spec.normalise(pixels.movedim(-1, 1).float())
            reduced = (
                torch.autocast(self.device.type, dtype=self.precision) if self.precision else contextlib.nullcontext()
            )
            with reduced:
                features = self._spec.pooled(self.module, x)
            return features.float().cpu()


def state_dict_mismatch(module: torch.nn.Module, state: dict[str, torch.Tensor], shown: int = 5) -> str:
    """What keeps ``state`` from loading strictly into ``module``: the first ``shown`` missing keys,
    unexpected keys and wrong shapes (file vs model), with their counts; '' when it fits."""
    expected = module.state_dict()
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    wrong = [
        f"{key}: {tuple(state[key].shape)} in the file, {tuple(tensor.shape)} in the model"
        for key, tensor in expected.items()
        if key in state and state[key].shape != tensor.shape
    ]
    problems = [
        f"{len(found)} {what} {found[:shown]}"
        for what, found in (("missing keys", missing), ("unexpected keys", unexpected), ("wrong shapes", wrong))
        if found
    ]
    return "; ".join(problems)


def load_state_dict_file(
    module: torch.nn.Module, path: Path, name: str, ignored_prefixes: tuple[str, ...] = ()
) -> None:
    """Load a state-dict file into ``module``; keys starting with ``ignored_prefixes`` are dropped.

    Raises :class:`WeightsError` naming the file and the first offending keys and shapes unless
    every remaining key is the model's, with the model's shape, and every model key is there.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as error:
        raise WeightsError(f"{path} is not a readable torch state-dict file for backbone {name}: {error}") from None
    if not isinstance(state, dict):
        raise WeightsError(f"{path} does not fit backbone {name}: it holds a {type(state).__name__}, not a state dict")
    state = {key: tensor for key, tensor in state.items() if not key.startswith(ignored_prefixes)}
    mismatch = state_dict_mismatch(module, state)
    if mismatch:
        raise WeightsError(f"{path} does not fit backbone {name}: {mismatch}")
    module.load_state_dict(state)


def load_backbone(
    name: str,
    weights: str,
    device: torch.device | str = "cpu",
    *,
    bf16_cpu: bool = False,
    seed: int = 0,
    settings: Stream2d | Stream3d | None = None,
) -> Backbone:
    """Backbone ``name`` with ``weights``: 'pretrained', 'random' (initialised after
    ``torch.manual_seed(seed)``) or the path of a state-dict file.

    ``settings``: the stream's settings (``features.<stream>``); those the backbone takes
    (:attr:`BackboneSpec.settings`, e.g. ``s3dg_padding``) are passed to its build, the others
    ignored; one the stream does not have (or no ``settings``) takes the build's default.

    Raises :class:`WeightsError` naming the file when a weights file is absent or does not fit.
    """
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone '{name}'; known: {', '.join(BACKBONES)}")
    spec = BACKBONES[name]
    path = weights_file(name, weights)  # an absent file fails before the model is built
    chosen = {key: getattr(settings, key) for key in spec.settings if hasattr(settings, key)}
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
