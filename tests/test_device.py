import pytest
import torch

from groundprobe.device import assigned_gpus, resolve_device


@pytest.mark.parametrize("value, gpus", [("0", ["0"]), ("1,3", ["1", "3"]), ("", []),
                                         ("NoDevFiles", []), ("-1", [])])
def test_assigned_gpus_read_cuda_visible_devices(value, gpus):
    assert assigned_gpus({"CUDA_VISIBLE_DEVICES": value}) == gpus
    assert assigned_gpus({}) == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the fallback of a machine without CUDA")
def test_a_job_given_a_gpu_torch_cannot_use_stops_unless_the_fallback_is_allowed(caplog):
    slurm_gpu_job = {"CUDA_VISIBLE_DEVICES": "1", "SLURM_JOB_ID": "42"}
    with pytest.raises(RuntimeError, match=r"assigned GPU\(s\) 1 .*allow_cpu_fallback"):
        resolve_device("auto", allow_cpu_fallback=False, environ=slurm_gpu_job)
    with pytest.raises(RuntimeError):                      # the fallback is off unless asked for
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
