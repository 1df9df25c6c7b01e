from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from conftest import make_test_video
from groundprobe.device import assigned_gpus, resolve_device
from groundprobe.features.backbones import load_backbone
from groundprobe.features.extract import extract_video_features, iter_shard_features
from groundprobe.settings import FeatureSettings

CONFIG = yaml.safe_load((Path(__file__).parents[1] / "config.yaml").read_text())
FEATURES = FeatureSettings.from_config(CONFIG["features"], "features")


@pytest.mark.parametrize("value, gpus", [("0", ["0"]), ("1,3", ["1", "3"]), ("", []), ("NoDevFiles", []), ("-1", [])])
def test_assigned_gpus_read_cuda_visible_devices(value, gpus):
    assert assigned_gpus({"CUDA_VISIBLE_DEVICES": value}) == gpus
    assert assigned_gpus({}) == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the fallback of a machine without CUDA")
def test_a_job_given_a_gpu_torch_cannot_use_stops_unless_the_fallback_is_allowed(caplog):
    slurm_gpu_job = {"CUDA_VISIBLE_DEVICES": "1", "SLURM_JOB_ID": "42"}
    with pytest.raises(RuntimeError, match=r"assigned GPU\(s\) 1 .*allow_cpu_fallback"):
        resolve_device("auto", allow_cpu_fallback=False, environ=slurm_gpu_job)
    with pytest.raises(RuntimeError):  # the fallback is off unless asked for
        resolve_device("auto", environ=slurm_gpu_job)
    with caplog.at_level("INFO"):
        assert resolve_device("auto", allow_cpu_fallback=True, environ=slurm_gpu_job).type == "cpu"
    assert "GPUs assigned by the scheduler: 1; SLURM job 42" in caplog.text
    # Without a GPU from the scheduler (a local run), auto means the CPU; cuda is always an error.
    assert resolve_device("auto", allow_cpu_fallback=False, environ={}).type == "cpu"
    assert resolve_device("cpu", allow_cpu_fallback=False, environ=slurm_gpu_job).type == "cpu"
    with pytest.raises(ValueError, match="no CUDA device"):
        resolve_device("cuda", environ={})


def test_auto_is_the_cpu_in_a_slurm_job_without_gpus_even_where_torch_sees_one(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto", environ={"SLURM_JOB_ID": "7"}).type == "cpu"
    assert resolve_device("auto", environ={"SLURM_JOB_ID": "7", "CUDA_VISIBLE_DEVICES": "0"}).type == "cuda"
    assert resolve_device("auto", environ={}).type == "cuda"  # outside a scheduler: the GPU torch sees


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (benchmarks/gpu_check.sh)")
def test_decoders_feed_a_gpu_from_page_locked_slots_with_the_serial_features(tmp_path, caplog):
    # The slots are page-locked and copied by DMA while decoders refill them: the features must be
    # those of decoding and inference in one process, and locking must not have been refused.
    paths = [make_test_video(tmp_path / f"{i}.mp4", seconds, size="160x90") for i, seconds in enumerate((5, 3, 4))]
    settings = replace(
        FEATURES,
        decode_chunk_frames=64,
        threads=2,
        three_d=replace(FEATURES.three_d, fps=30, clip_seconds=1, frame_size=32, batch_size=2),
    )
    backbone = load_backbone("s3dg", "random", "cuda")
    with caplog.at_level("WARNING"):
        parallel = dict((i, rows) for i, rows, _ in iter_shard_features(paths, backbone, settings, 2))
    assert "page-lock" not in caplog.text
    for i, path in enumerate(paths):
        np.testing.assert_array_equal(parallel[i], extract_video_features(path, backbone, settings))
    assert [len(parallel[i]) for i in range(3)] == [5, 3, 4]
