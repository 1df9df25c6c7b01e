"""S3D-G (Xie et al. 2018), laid out tensor for tensor like the public MIL-NCE checkpoint.

The parameter names and shapes are those of ``s3d_howto100m.pth`` (Miech et al. 2020; listed in
tests/fixtures/s3d_howto100m_state_dict.tsv), minus its sentence encoder ``text_module.*``. That
checkpoint was trained in TensorFlow; its architecture:

- the clip is folded space-to-depth first (each 2x2x2 block of pixels into channels), then a
  (2, 4, 4) convolution whose output mimics TensorFlow's 'SAME' padding;
- 3x3x3 convolutions are separable: (1, 3, 3) in space, then (3, 1, 1) in time, each followed by
  batch norm and ReLU;
- self-gating (the "G"): after ``conv_2c`` and on every branch of every inception block, channels
  are re-weighted by ``sigmoid(W . mean(x) + b)``, the mean taken over time and space.

Two variants, :data:`PADDINGS` (config ``features.3d.s3dg_padding``), differ in the strided
max-pools (``maxpool_2a``, ``3a``, ``4a``, ``5a``) and the batch-norm epsilon; convolutions, gating
and the final average are the same in both:

- ``port`` (default): the public PyTorch port (antoine77340/S3D_HowTo100M, ``s3dg.py``), which
  every published PyTorch extractor with these weights uses (e.g. fairseq MMPT's). Its strided
  max-pools pad a fixed amount computed from kernel and stride only (``kernel - stride``, the
  larger half after), with zeros, then pool with ``ceil_mode``; batch norm uses PyTorch's epsilon
  1e-5. tests/test_s3dg.py checks it against the port's own output (30 and 32 frames).
- ``tf_same``: TensorFlow's conventions, which the checkpoint was trained with: 'SAME' pooling
  (output size ``ceil(size / stride)``, the padding computed from each input size) and
  epsilon 1e-3.

The two pool alike where a 3-wide, stride-2 pool (``maxpool_2a`` and ``3a`` in space, ``4a``)
meets an even size, as everywhere for 32 frames at 224x224, and differ where the size is odd:
30-frame clips reach ``maxpool_4a`` with 15 time steps, which TensorFlow pads (1, 1) and the port
(0, 1), shifting every window by one. Measured difference: see :data:`PADDINGS`.

Input: RGB clips in [0, 1], no mean/std, ``(n, 3, T, H, W)`` with T, H, W even. The clip feature is
``mixed_5c`` averaged over time and space: ``(n, 1024)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

FEATURE_DIM = 1024

Size3 = tuple[int, int, int]


def space_to_depth(x: torch.Tensor) -> torch.Tensor:
    """Fold every 2x2x2 block of a clip into channels: ``(n, C, T, H, W) -> (n, 8C, T/2, H/2, W/2)``.

    Output channel ``((dt * 2 + dh) * 2 + dw) * C + c`` holds input channel ``c`` at offset
    ``(dt, dh, dw)`` of its block: block offsets major, colour minor, as TensorFlow's
    ``space_to_depth`` orders depth (the checkpoint's first convolution expects that order).
    """
    n, c, t, h, w = x.shape
    if t % 2 or h % 2 or w % 2:
        raise ValueError(f"S3D-G needs an even number of frames, height and width, got T={t}, H={h}, W={w}")
    blocks = x.reshape(n, c, t // 2, 2, h // 2, 2, w // 2, 2)
    return blocks.permute(0, 3, 5, 7, 1, 2, 4, 6).reshape(n, 8 * c, t // 2, h // 2, w // 2)


def tf_same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow 'SAME' padding of one axis: ``(before, after)`` so that the output has
    ``ceil(size / stride)`` entries; an odd total puts the extra one after."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def port_padding(kernel: int, stride: int) -> tuple[int, int]:
    """The port's padding of one axis, from kernel and stride only: ``(before, after)`` summing to
    ``max(kernel - stride, 0)``, an odd total putting the extra one after."""
    total = max(kernel - stride, 0)
    return total // 2, total - total // 2


class MaxPool3dSame(nn.Module):
    """3D max-pooling with TensorFlow 'SAME' padding, computed from each input's size.

    Padding is -inf, so that a window's maximum is over real entries only, as in TensorFlow.
    """

    def __init__(self, kernel: Size3, stride: Size3):
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = [tf_same_padding(size, k, s) for size, k, s in zip(x.shape[2:], self.kernel, self.stride)]
        # F.pad lists the last axis first: (W before, W after, H before, H after, T before, T after).
        flat = [amount for axis in reversed(pads) for amount in axis]
        return F.max_pool3d(F.pad(x, flat, value=-math.inf), self.kernel, self.stride)


class MaxPool3dPort(nn.Module):
    """3D max-pooling as the public PyTorch port: :func:`port_padding` on each axis, with zeros,
    then windows in ``ceil_mode`` (a last window may run past the padded input).

    Zeros as in the port; they never change a window's maximum here, as every map S3D-G pools is
    non-negative (ReLU outputs, re-weighted by sigmoid gates) and every window holds a real entry.
    """

    def __init__(self, kernel: Size3, stride: Size3):
        super().__init__()
        self.kernel, self.stride = kernel, stride
        pads = [port_padding(k, s) for k, s in zip(kernel, stride)]
        # F.pad lists the last axis first: (W before, W after, H before, H after, T before, T after).
        self.pad = tuple(amount for axis in reversed(pads) for amount in axis)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool3d(F.pad(x, self.pad), self.kernel, self.stride, ceil_mode=True)


@dataclass(frozen=True)
class Padding:
    """One variant of S3D-G's conventions: its strided max-pool and its batch-norm epsilon."""

    pool: type[MaxPool3dSame] | type[MaxPool3dPort]
    bn_eps: float


# tf_same vs port, measured (benchmarks/s3dg_padding.py, 2026-12-04; seeded He-scaled random weights,
# two noise clips at 224x224): the pooled mixed_5c feature moves by at most 1.4e-3 of its largest
# value at 32 frames (epsilon alone: every pooled size is even) and 2.8e-3 at 30 frames (pooling
# 2.6e-3 alone), the mixed_5c map by 2.4e-3 and 6.6e-3 of its largest; 3-4 times what separates
# the two noise clips' pooled features.
PADDINGS: dict[str, Padding] = {
    "port": Padding(MaxPool3dPort, 1e-5),  # PyTorch's batch-norm default, as the port
    "tf_same": Padding(MaxPool3dSame, 1e-3),  # TensorFlow's default, which training used
}
DEFAULT_PADDING = "port"


class ConvBnRelu(nn.Module):
    """Convolution (no bias) -> batch norm (epsilon ``eps``) -> ReLU, as ``conv1``/``bn1``; stride 1.

    ``separable``: a k x k x k convolution split into (1, k, k) in space (``conv1``/``bn1``) and
    (k, 1, 1) in time (``conv2``/``bn2``), each with its own batch norm and ReLU, 'same' padding.
    """

    def __init__(
        self, c_in: int, c_out: int, kernel: Size3, padding: Size3 = (0, 0, 0), separable: bool = False, *, eps: float
    ):
        super().__init__()
        self.separable = separable
        if separable:
            k, p = kernel[0], padding[0]
            self.conv1 = nn.Conv3d(c_in, c_out, (1, k, k), padding=(0, p, p), bias=False)
            self.conv2 = nn.Conv3d(c_out, c_out, (k, 1, 1), padding=(p, 0, 0), bias=False)
            self.bn2 = nn.BatchNorm3d(c_out, eps=eps)
        else:
            self.conv1 = nn.Conv3d(c_in, c_out, kernel, padding=padding, bias=False)
        self.bn1 = nn.BatchNorm3d(c_out, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(x))) if self.separable else x


def pointwise(c_in: int, c_out: int, eps: float) -> ConvBnRelu:
    """A 1x1x1 convolution unit."""
    return ConvBnRelu(c_in, c_out, (1, 1, 1), eps=eps)


def separable3(c_in: int, c_out: int, eps: float) -> ConvBnRelu:
    """A separable 3x3x3 convolution unit, output the size of the input."""
    return ConvBnRelu(c_in, c_out, (3, 3, 3), padding=(1, 1, 1), separable=True, eps=eps)


class SelfGating(nn.Module):
    """``x * sigmoid(fc(mean of x over time and space))``: per-clip weights for ``x``'s channels."""

    def __init__(self, channels: int):
        super().__init__()
        self.fc = nn.Linear(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = torch.sigmoid(self.fc(x.mean(dim=(2, 3, 4))))
        return x * weights[:, :, None, None, None]


class InceptionBlock(nn.Module):
    """Four branches, each self-gated, concatenated along channels:
    1x1x1 | 1x1x1 -> 3x3x3 | 1x1x1 -> 3x3x3 | 3x3x3 max-pool -> 1x1x1. Time and space keep size.

    The branch max-pool (stride 1) is padded one entry each side in both variants: TensorFlow
    'SAME' at stride 1, and the port's ``MaxPool3d(3, stride=1, padding=1)``.
    """

    def __init__(self, c_in: int, b0: int, b1_a: int, b1_b: int, b2_a: int, b2_b: int, b3_b: int, *, eps: float):
        super().__init__()
        self.conv_b0 = pointwise(c_in, b0, eps)
        self.conv_b1_a = pointwise(c_in, b1_a, eps)
        self.conv_b1_b = separable3(b1_a, b1_b, eps)
        self.conv_b2_a = pointwise(c_in, b2_a, eps)
        self.conv_b2_b = separable3(b2_a, b2_b, eps)
        self.maxpool_b3 = MaxPool3dSame((3, 3, 3), (1, 1, 1))
        self.conv_b3_b = pointwise(c_in, b3_b, eps)
        self.gating_b0, self.gating_b1 = SelfGating(b0), SelfGating(b1_b)
        self.gating_b2, self.gating_b3 = SelfGating(b2_b), SelfGating(b3_b)
        self.out_channels = b0 + b1_b + b2_b + b3_b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(
            [
                self.gating_b0(self.conv_b0(x)),
                self.gating_b1(self.conv_b1_b(self.conv_b1_a(x))),
                self.gating_b2(self.conv_b2_b(self.conv_b2_a(x))),
                self.gating_b3(self.conv_b3_b(self.maxpool_b3(x))),
            ],
            dim=1,
        )


# Branch widths (b0, b1_a, b1_b, b2_a, b2_b, b3_b) of each inception block, from the checkpoint.
INCEPTION_WIDTHS: dict[str, tuple[int, int, int, int, int, int]] = {
    "mixed_3b": (64, 96, 128, 16, 32, 32),
    "mixed_3c": (128, 128, 192, 32, 96, 64),
    "mixed_4b": (192, 96, 208, 16, 48, 64),
    "mixed_4c": (160, 112, 224, 24, 64, 64),
    "mixed_4d": (128, 128, 256, 24, 64, 64),
    "mixed_4e": (112, 144, 288, 32, 64, 64),
    "mixed_4f": (256, 160, 320, 32, 128, 128),
    "mixed_5b": (256, 160, 320, 32, 128, 128),
    "mixed_5c": (384, 192, 384, 48, 128, 128),
}


class S3DG(nn.Module):
    """S3D-G video network; ``forward`` maps clips ``(n, 3, T, H, W)`` in [0, 1] to ``(n, 1024)``.

    ``padding``: a key of :data:`PADDINGS`, the conventions of its strided max-pools and batch
    norms. Each axis is halved by space-to-depth; height and width by ``maxpool_2a``,
    ``maxpool_3a``, ``maxpool_4a`` and ``maxpool_5a``; time by the last two. 32 frames at 224x224
    give a ``mixed_5c`` map of 4 x 7 x 7.
    """

    def __init__(self, padding: str = DEFAULT_PADDING):
        super().__init__()
        if padding not in PADDINGS:
            raise ValueError(f"unknown S3D-G padding '{padding}'; known: {', '.join(PADDINGS)}")
        self.padding = padding
        pool, eps = PADDINGS[padding].pool, PADDINGS[padding].bn_eps
        widths = INCEPTION_WIDTHS
        self.conv1 = ConvBnRelu(24, 64, (2, 4, 4), padding=(1, 2, 2), eps=eps)
        self.maxpool_2a = pool((1, 3, 3), (1, 2, 2))
        self.conv_2b = pointwise(64, 64, eps)
        self.conv_2c = separable3(64, 192, eps)
        self.gating = SelfGating(192)
        self.maxpool_3a = pool((1, 3, 3), (1, 2, 2))
        self.mixed_3b = InceptionBlock(192, *widths["mixed_3b"], eps=eps)
        self.mixed_3c = InceptionBlock(self.mixed_3b.out_channels, *widths["mixed_3c"], eps=eps)
        self.maxpool_4a = pool((3, 3, 3), (2, 2, 2))
        self.mixed_4b = InceptionBlock(self.mixed_3c.out_channels, *widths["mixed_4b"], eps=eps)
        self.mixed_4c = InceptionBlock(self.mixed_4b.out_channels, *widths["mixed_4c"], eps=eps)
        self.mixed_4d = InceptionBlock(self.mixed_4c.out_channels, *widths["mixed_4d"], eps=eps)
        self.mixed_4e = InceptionBlock(self.mixed_4d.out_channels, *widths["mixed_4e"], eps=eps)
        self.mixed_4f = InceptionBlock(self.mixed_4e.out_channels, *widths["mixed_4f"], eps=eps)
        self.maxpool_5a = pool((2, 2, 2), (2, 2, 2))
        self.mixed_5b = InceptionBlock(self.mixed_4f.out_channels, *widths["mixed_5b"], eps=eps)
        self.mixed_5c = InceptionBlock(self.mixed_5b.out_channels, *widths["mixed_5c"], eps=eps)
        # MIL-NCE's projection into its 512-d video-text space: part of the checkpoint, so kept to
        # load it whole, but not used for the pipeline's feature (the 1024-d clip feature).
        self.fc = nn.Linear(FEATURE_DIM, 512)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The ``mixed_5c`` map ``(n, 1024, T', H', W')`` of clips ``(n, 3, T, H, W)`` in [0, 1]."""
        if x.ndim != 5 or x.shape[1] != 3:
            raise ValueError(f"S3D-G expects RGB clips (n, 3, T, H, W), got {tuple(x.shape)}")
        # The (2, 4, 4) convolution padded (1, 2, 2) yields one extra leading entry per axis;
        # dropping it leaves TensorFlow's 'SAME' alignment (padding (0, 1), (1, 2), (1, 2)).
        x = self.conv1(space_to_depth(x))[:, :, 1:, 1:, 1:]
        x = self.conv_2c(self.conv_2b(self.maxpool_2a(x)))
        x = self.maxpool_3a(self.gating(x))
        x = self.mixed_3c(self.mixed_3b(x))
        x = self.maxpool_4a(x)
        for block in (self.mixed_4b, self.mixed_4c, self.mixed_4d, self.mixed_4e, self.mixed_4f):
            x = block(x)
        return self.mixed_5c(self.mixed_5b(self.maxpool_5a(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The 1024-d clip feature: ``mixed_5c`` averaged over time and space, ``(n, 1024)``."""
        return self.features(x).mean(dim=(2, 3, 4))


StateLayout = Mapping[str, tuple[tuple[int, ...], torch.dtype]]


def seeded_state(seed: int, layout: StateLayout | None = None) -> dict[str, torch.Tensor]:
    """Seeded random tensors, one per entry of ``layout`` (name -> (shape, dtype)) in its order;
    by default :class:`S3DG`'s state dict, i.e. the checkpoint's tensors minus ``text_module.*``.

    Scaled so that a clip's content reaches ``mixed_5c``: kernels and weight matrices normal with
    standard deviation sqrt(2 / fan-in) (He), batch-norm scales 1 + N(0, 0.1²), running variances
    uniform in [0.5, 1.5), running means and biases N(0, 0.1²), int64 tensors (batch counts)
    uniform in [0, 1000). The weights that tests and benchmarks/make_s3dg_port_reference.py load
    into this module and into the public port.
    """
    if layout is None:
        with torch.device("meta"):
            layout = {name: (tuple(tensor.shape), tensor.dtype) for name, tensor in S3DG().state_dict().items()}
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for name, (shape, dtype) in layout.items():
        if dtype == torch.int64:
            state[name] = torch.randint(0, 1000, shape, generator=generator)
            continue
        noise = torch.randn(shape, generator=generator)
        if len(shape) >= 2:
            state[name] = noise * math.sqrt(2 / math.prod(shape[1:]))
        elif name.endswith("running_var"):
            state[name] = torch.rand(shape, generator=generator) + 0.5
        elif ".bn" in name and name.endswith(".weight"):
            state[name] = 1 + 0.1 * noise
        else:
            state[name] = 0.1 * noise
    return state
