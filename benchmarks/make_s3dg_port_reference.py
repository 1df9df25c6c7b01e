"""Reference output of the public PyTorch S3D-G port, for tests/test_s3dg.py.

Runs the port (antoine77340/S3D_HowTo100M, ``s3dg.py``: its path is the argument; its code stays
outside this project) with the seeded random weights of :func:`groundprobe.features.s3dg.seeded_state`
(He-scaled, randomised batch-norm statistics; the checkpoint's tensors minus the sentence encoder,
which the port then keeps at its own initialisation) on two seeded noise clips of 32 frames at
76x70 pixels and on their first 30 frames, and writes ``tests/fixtures/s3dg_port_reference.npz``:

    features_<T>   float32 (2, 1024)  the port's 1024-d clip feature (``mixed_5c`` averaged)
    map_<T>        float32 (2, 32, t, h, w)  every CHANNEL_STEP-th channel of the ``mixed_5c`` map
    state_seed, clip_seed, clip_shape, channel_step; clip_sha256, state_sha256 (of the inputs, so
    that the test can tell a changed input from a changed model), port_sha256 (of the port's file)

T = 32 is the authors' clip length; T = 30 (the paper's 1-s clips) reaches ``maxpool_4a`` with an
odd time length (15). 76x70 pixels make some pooled size odd at every strided max-pool (76: 38,
19 at ``maxpool_3a``, 5 at ``maxpool_5a``; 70: 35 at ``maxpool_2a``, 9 at ``maxpool_4a``), where the
port's fixed padding and TensorFlow's 'SAME' differ.

    git clone https://github.com/antoine77340/S3D_HowTo100M /tmp/port
    PYTHONPATH=. python benchmarks/make_s3dg_port_reference.py /tmp/port/s3dg.py

Made 2026-12-04 from the port at commit b8cd0bbfd16fe41629d1b15e0cf384d75f56101a (s3dg.py sha256
bf47794d...), torch 2.14.1 CPU; 38 KB. tests/test_s3dg.py matches it bit for bit here.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import tempfile
from pathlib import Path
from types import ModuleType

import numpy as np
import torch

from groundprobe.features.s3dg import seeded_state

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "s3dg_port_reference.npz"
STATE_SEED = 11
CLIP_SEED = 12
CLIP_SHAPE = (2, 32, 76, 70, 3)  # clips, frames, height, width, RGB
FRAMES = (30, 32)
CHANNEL_STEP = 32


def load_port(path: Path) -> ModuleType:
    """The port's ``s3dg.py`` as a module, imported from its file."""
    spec = importlib.util.spec_from_file_location("s3dg_port", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def port_model(port: ModuleType, state: dict[str, torch.Tensor]) -> torch.nn.Module:
    """The port's S3D with ``state``; its sentence encoder (absent from ``state``) is left alone."""
    with tempfile.TemporaryDirectory() as tmp:
        words = Path(tmp) / "dict.npy"  # the sentence encoder reads a vocabulary file
        np.save(words, np.array(["unused"]))
        model = port.S3D(str(words)).eval()
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or any(not key.startswith("text_module.") for key in missing):
        raise ValueError(f"the port's S3D does not fit the state: missing {missing}, unexpected {unexpected}")
    return model


def reference_clips() -> torch.Tensor:
    """The seeded uint8 clips ``CLIP_SHAPE`` (n, T, H, W, RGB)."""
    return torch.randint(0, 256, CLIP_SHAPE, dtype=torch.uint8, generator=torch.Generator().manual_seed(CLIP_SEED))


def sha256(arrays: list[np.ndarray]) -> str:
    return hashlib.sha256(b"".join(array.tobytes() for array in arrays)).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("port", type=Path, help="the port's s3dg.py")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    state = seeded_state(STATE_SEED)
    model = port_model(load_port(args.port), state)
    maps: list[torch.Tensor] = []
    model.mixed_5c.register_forward_hook(lambda module, inputs, output: maps.append(output))
    clips = reference_clips()
    arrays: dict[str, np.ndarray] = {}
    for frames in FRAMES:
        x = clips[:, :frames].permute(0, 4, 1, 2, 3).float() / 255  # the port's input, [0, 1]
        with torch.no_grad():
            arrays[f"features_{frames}"] = model(x)["mixed_5c"].numpy()
        arrays[f"map_{frames}"] = maps.pop()[:, ::CHANNEL_STEP].numpy()
    np.savez(
        args.out,
        **arrays,
        state_seed=STATE_SEED,
        clip_seed=CLIP_SEED,
        clip_shape=np.array(CLIP_SHAPE),
        channel_step=CHANNEL_STEP,
        clip_sha256=sha256([clips.numpy()]),
        state_sha256=sha256([tensor.numpy() for tensor in state.values()]),
        port_sha256=hashlib.sha256(args.port.read_bytes()).hexdigest(),
    )
    for name, array in arrays.items():
        print(f"{name}: {array.shape}, largest |value| {np.abs(array).max():.4g}")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1000:.0f} KB)")


if __name__ == "__main__":
    main()
