"""Benchmark: inference throughput of every backbone at the paper's input sizes, random weights.

Runs each backbone of groundprobe.features.backbones.BACKBONES the way the pipeline does (uint8 frames in,
normalisation, pooled features back on the CPU) on random pixels, and prints 2D frames/s and 3D
clips/s (a clip is one second: 30 frames). Decoding is not included (see
decode_feature_memory.py for end-to-end figures). Weights are random: throughput does not depend on
their values, and no weights file is needed.

    python benchmarks/backbone_throughput.py                         # every case, auto device
    python benchmarks/backbone_throughput.py --only s3dg --batches 5 --device cuda --batch-scale 16

Measured 2026-11-23 (the date of 1ba6ed9, the README commit that first recorded the figures; 2-core development
machine, 2 threads, fp32; `python benchmarks/backbone_throughput.py`): EfficientNet-Lite0 224²
~7 frames/s, Inception-v3 256² 6.0 frames/s, S3D-G 30x224² 0.37 clips/s and 30x112² 2.1 clips/s; torchvision's S3D
is within load noise of S3D-G.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np
import torch

from groundprobe.device import resolve_device
from groundprobe.features.backbones import load_backbone


@dataclass(frozen=True)
class Case:
    backbone: str
    shape: tuple[int, ...]  # one item: (H, W, 3) for 2D, (T, H, W, 3) for 3D
    batch: int  # items per batch on the CPU (times --batch-scale)


CASES = (
    Case("efficientnet_lite0", (224, 224, 3), 16),  # the demo's 2D backbone, for comparison
    Case("inception_v3", (256, 256, 3), 16),  # the paper's 2D backbone on its 256² frames
    Case("s3dg", (30, 224, 224, 3), 2),  # the paper's 3D backbone, 1 s at 30 fps
    Case("s3d_kinetics", (30, 224, 224, 3), 2),
    Case("s3dg", (30, 112, 112, 3), 4),
    Case("s3d_kinetics", (30, 112, 112, 3), 4),
)


def measure(case: Case, device: torch.device, bf16_cpu: bool, batch: int, batches: int) -> dict:
    """Items per second over ``batches`` timed batches, after one untimed warm-up batch."""
    backbone = load_backbone(case.backbone, "random", device, bf16_cpu=bf16_cpu)
    pixels = np.random.default_rng(0).integers(0, 256, (batch, *case.shape), dtype=np.uint8)
    backbone(pixels)  # warm-up: allocator, cuDNN algorithm choice, lazy initialisation
    start = time.perf_counter()
    for _ in range(batches):
        backbone(pixels)  # returns on the CPU, so CUDA work has finished when it returns
    seconds = time.perf_counter() - start
    return {
        "items_per_s": batch * batches / seconds,
        "precision": str(backbone.precision or "float32"),
        "unit": "frames/s" if backbone.kind == "2d" else "clips/s",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--bf16-cpu", action="store_true", help="bf16 autocast on CPU")
    parser.add_argument("--batches", type=int, default=2, help="timed batches per case")
    parser.add_argument(
        "--batch-scale", type=int, default=None, help="multiply every case's batch (default: 1 on CPU, 8 on CUDA)"
    )
    parser.add_argument("--only", nargs="*", help="backbone names to run (default: all)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    scale = args.batch_scale or (8 if device.type == "cuda" else 1)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu, {args.threads} threads"
    print(f"device: {name}; torch {torch.__version__}; {args.batches} timed batches per case")
    print(f"{'backbone':<20}{'input':<18}{'batch':>6}  {'precision':<16}{'throughput':>12}")
    for case in CASES:
        if args.only and case.backbone not in args.only:
            continue
        result = measure(case, device, args.bf16_cpu, case.batch * scale, args.batches)
        size = "x".join(map(str, case.shape[:-1]))
        print(
            f"{case.backbone:<20}{size:<18}{case.batch * scale:>6}  {result['precision']:<16}"
            f"{result['items_per_s']:>8.2f} {result['unit']}",
            flush=True,
        )


if __name__ == "__main__":
    main()
