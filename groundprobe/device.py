"""Choosing the torch device for a stage from the config (``auto``, ``cpu`` or ``cuda``) and the GPUs
the scheduler assigned to the job."""

from __future__ import annotations

import logging
import os
from typing import Mapping

import torch

log = logging.getLogger(__name__)

# Values of CUDA_VISIBLE_DEVICES that hide every GPU (SLURM writes NoDevFiles; "" and -1 are the
# usual ways to hide them by hand).
NO_GPU_VALUES = ("", "-1", "NoDevFiles")


def assigned_gpus(environ: Mapping[str, str] = os.environ) -> list[str]:
    """The GPUs the scheduler assigned to this job (CUDA_VISIBLE_DEVICES, which SLURM sets for a job
    with ``--gpus``); empty when none were assigned."""
    value = environ.get("CUDA_VISIBLE_DEVICES", "").strip()
    return [] if value in NO_GPU_VALUES else value.split(",")


def resolve_device(
    name: str, allow_cpu_fallback: bool = False, environ: Mapping[str, str] = os.environ
) -> torch.device:
    """``auto`` -> CUDA when torch sees a device (the GPU SLURM assigned), else CPU; ``cpu``; ``cuda``.

    In a SLURM job that holds no GPU, ``auto`` is the CPU even where torch sees one (a node without
    device constraints): the scheduler counted the job as a CPU job.

    Asking for CUDA on a machine without it is a clear error, not a silent CPU run. So is ``auto``
    in a job that the scheduler gave GPUs torch cannot use (no driver, a CPU-only torch), unless
    ``allow_cpu_fallback`` (config resources.allow_cpu_fallback). The choice and the assigned GPUs
    are logged, so that a job's log shows what it ran on.
    """
    gpus = assigned_gpus(environ)
    cuda = torch.cuda.is_available()
    if name == "auto" and not cuda and gpus and not allow_cpu_fallback:
        raise RuntimeError(
            f"the scheduler assigned GPU(s) {','.join(gpus)} (CUDA_VISIBLE_DEVICES) but torch "
            f"{torch.__version__} sees no CUDA device; fix the node's driver or torch build, or set "
            "resources.allow_cpu_fallback: true to run this job on CPU"
        )
    if name == "auto":
        cpu_job = "SLURM_JOB_ID" in environ and not gpus
        device = torch.device("cuda" if cuda and not cpu_job else "cpu")
    else:
        device = torch.device(name)
        if device.type == "cuda" and not cuda:
            raise ValueError(f"device '{name}' requested but torch sees no CUDA device here")
    log.info(
        "device %s (GPUs assigned by the scheduler: %s; SLURM job %s)",
        device,
        ",".join(gpus) or "none",
        environ.get("SLURM_JOB_ID", "none"),
    )
    return device
