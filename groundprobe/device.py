"""Choosing the torch device for a stage from the config (``auto``, ``cpu`` or ``cuda``)."""

from __future__ import annotations

import torch


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available (the GPU SLURM assigned, via CUDA_VISIBLE_DEVICES), else CPU.

    Asking for CUDA on a machine without it is a clear error, not a silent CPU run.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device '{name}' requested but torch sees no CUDA device here")
    return device
