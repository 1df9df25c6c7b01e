"""Rule train's training from its files, in this process or in several under torchrun's launcher.

Several processes train one model with DistributedDataParallel, one process per GPU (or several on
the CPU): the same batches, loss and updates as one process (``train.replica_train_step``), each
process embedding its share of every batch. The processes are started by
``torch.distributed.launcher.api.elastic_launch``, the launcher the ``torchrun`` command runs, with
a standalone rendezvous on this machine.
"""

from __future__ import annotations

import logging
import os
import tempfile
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
import torch.distributed as dist
from torch.distributed.elastic.multiprocessing import DefaultLogsSpecs
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError, ProcessFailure
from torch.distributed.launcher.api import LaunchConfig, elastic_launch

from groundprobe.curation.draws import drawn_videos
from groundprobe.device import resolve_device
from groundprobe.features.extract import feature_provenance
from groundprobe.io import file_sha256, read_table
from groundprobe.model.batches import select_videos, training_videos
from groundprobe.model.train import Replica, train_model
from groundprobe.settings import ModelSettings, TrainSettings

log = logging.getLogger(__name__)

# Seconds the processes may wait for each other: to meet at the start, and in any one collective
# (a step's gathers and gradient all-reduce, but also the data loading before the first one).
DEFAULT_TIMEOUT_S = 1800.0


@dataclass(frozen=True)
class TrainingJob:
    """One model's training as rule train describes it: file paths and settings only, so that it
    can be pickled to the training processes."""

    model: str  # the model's name (config train.models key or curated/...)
    segments: tuple[str, ...]  # segment indexes of the source shards (groundprobe.captions.segments)
    features_2d: tuple[str, ...]  # feature shard files, one list per stream
    features_3d: tuple[str, ...]
    vocab: str  # vocabulary table: one row per token id
    manifest: str
    curation: str | None  # a curated model's selection table, else None
    draw: int | None  # the selection draw a curated model trains on
    model_spec: Mapping[str, object]  # manifest columns selecting the videos (not curated models)
    model_settings: ModelSettings  # config block model
    train_settings: TrainSettings  # config block train (its seed the model's)
    allow_cpu_fallback: bool  # config resources.allow_cpu_fallback
    length_s: int  # segment length in seconds
    checkpoint: str  # the final checkpoint
    resume: str  # the resume file (survives a killed job)
    log_tsv: str  # the (step, loss, seconds) log


def train_job(job: TrainingJob, replica: Replica | None = None) -> dict:
    """Train ``job``'s model on its training videos' segments; returns ``train_model``'s summary.

    The training videos are a curated model's draw of its selection table, or the manifest rows
    its spec selects; ``replica`` as in :func:`groundprobe.model.train.train_model`.
    """
    if job.curation:
        training_ids = np.unique(np.array(drawn_videos(read_table(job.curation), job.draw), dtype=str))
        selected_by = f"draw {job.draw} of {job.curation}"
    else:
        training_ids = select_videos(job.manifest, job.model_spec, job.model)
        selected_by = str(dict(job.model_spec))
    vocab_size = len(read_table(job.vocab))
    videos = training_videos(job.segments, training_ids, job.length_s, vocab_size)
    log.info(
        "model %s: %d videos selected by %s, %d of them with segments",
        job.model,
        len(training_ids),
        selected_by,
        len(videos),
    )
    return train_model(
        videos,
        (job.features_2d, job.features_3d),
        vocab_size,
        job.model_settings,
        job.train_settings,
        job.length_s,
        job.checkpoint,
        job.resume,
        job.log_tsv,
        inputs={
            "features_2d": feature_provenance(job.features_2d),
            "features_3d": feature_provenance(job.features_3d),
            "vocab_sha256": file_sha256(job.vocab),
        },
        replica=replica,
        allow_cpu_fallback=job.allow_cpu_fallback,
    )


def process_device(name: str, local_rank: int, allow_cpu_fallback: bool = False) -> torch.device:
    """The device of the training process ``local_rank`` on this machine: GPU ``local_rank`` when
    config ``name`` (auto, cpu, cuda) resolves to CUDA, else the CPU (see
    :func:`groundprobe.device.resolve_device` for ``allow_cpu_fallback``)."""
    device = resolve_device(name, allow_cpu_fallback)
    if device.type != "cuda":
        return torch.device("cpu")
    if local_rank >= torch.cuda.device_count():
        raise ValueError(
            f"training process {local_rank} needs GPU {local_rank}, but torch sees "
            f"{torch.cuda.device_count()} GPU(s); request as many GPUs as processes"
        )
    return torch.device("cuda", local_rank)


def _log_to(log_file: str | None, rank: int) -> None:
    """Send this process's records to stderr and, appended, to ``log_file``, tagged with its rank;
    ranks above 0 log warnings only, since every rank sees the same losses."""
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_file:
        handlers.append(logging.FileHandler(log_file, mode="a"))
    logging.basicConfig(
        level=logging.INFO if rank == 0 else logging.WARNING,
        handlers=handlers,
        force=True,
        format=f"%(asctime)s rank {rank} %(levelname)s %(name)s: %(message)s",
    )


def _train_worker(job: TrainingJob, threads: int, timeout_s: float, log_file: str | None) -> dict:
    """One training process (started by the launcher, which sets RANK, LOCAL_RANK, WORLD_SIZE and
    the rendezvous address in its environment); returns its summary."""
    local_rank = int(os.environ["LOCAL_RANK"])
    _log_to(log_file, int(os.environ["RANK"]))
    torch.set_num_threads(threads)
    device = process_device(job.train_settings.device, local_rank, job.allow_cpu_fallback)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=timedelta(seconds=timeout_s))
    summary = train_job(job, Replica(dist.get_rank(), dist.get_world_size(), device))
    # Not in a `finally`: after a failure the launcher stops the other processes, whereas a
    # teardown could wait for them.
    dist.destroy_process_group()
    return summary


def _failure_message(failure: ProcessFailure) -> str:
    """The exception a failed process raised ('ValueError: ...'), or how it ended (a signal)."""
    message = failure.message
    return str(message["message"]) if isinstance(message, dict) else str(message)


def launch(
    entrypoint: Callable[..., Any], args: Sequence[object], n_processes: int, timeout_s: float = DEFAULT_TIMEOUT_S
) -> dict[int, Any]:
    """Run ``entrypoint(*args)`` in ``n_processes`` new processes on this machine, as
    ``torchrun --standalone --nproc-per-node n_processes`` would; returns each rank's return value.

    ``entrypoint`` must be a module-level function and ``args`` picklable (the processes are
    spawned). The processes meet at a rendezvous on 127.0.0.1 (a free port), within ``timeout_s``
    seconds. A process that fails is not restarted: the others are stopped and RuntimeError is
    raised here with the first failure's exception.
    """
    with tempfile.TemporaryDirectory(prefix="groundprobe_launch_") as logs_dir:
        config = LaunchConfig(
            min_nodes=1,
            max_nodes=1,
            nproc_per_node=n_processes,
            run_id=f"groundprobe-{uuid.uuid4().hex}",
            rdzv_backend="c10d",
            rdzv_endpoint="127.0.0.1:0",
            local_addr="127.0.0.1",
            rdzv_configs={"join_timeout": int(timeout_s)},
            max_restarts=0,
            start_method="spawn",
            # For the processes' error files (read below), removed afterwards;
            # their output is not redirected.
            logs_specs=DefaultLogsSpecs(log_dir=logs_dir),
        )
        try:
            return elastic_launch(config, entrypoint)(*args)
        except ChildFailedError as error:
            rank, failure = error.get_first_failure()
            raise RuntimeError(f"process {rank} of {n_processes} failed: {_failure_message(failure)}") from error


def train_processes(
    job: TrainingJob, n_processes: int, threads: int, timeout_s: float = DEFAULT_TIMEOUT_S, log_file: str | None = None
) -> dict:
    """Train ``job``'s model in ``n_processes`` processes with DistributedDataParallel, or in
    this process when ``n_processes`` is 1; returns rank 0's :func:`train_job` summary.

    Each process runs ``threads`` torch threads (this one too when it trains) and uses GPU
    ``local rank`` when the config's device resolves to CUDA (backend nccl), else the CPU (gloo).
    The processes log to stderr and append to ``log_file``; rank 0 alone writes the outputs.
    ``timeout_s``: see :func:`launch`; it also bounds each collective, so a stalled process fails
    the run instead of hanging it.
    """
    if n_processes < 1:
        raise ValueError(f"training needs at least 1 process, got {n_processes}")
    if n_processes == 1:
        torch.set_num_threads(threads)
        return train_job(job)
    return launch(_train_worker, (job, threads, timeout_s, log_file), n_processes, timeout_s)[0]
