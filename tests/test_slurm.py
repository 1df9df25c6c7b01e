"""The tiny demo on a real one-node SLURM cluster (munge, slurmctld, slurmd, slurmdbd, two fake GPUs
declared through GRES, partitions cpu and gpu), submitted with the project's profile exactly as
committed: every job must be a SLURM job asking for what its rule declares, and the results must
equal a local run's."""

import os
import re
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from tiny_workflow import ROOT, TARGET, snakemake, tiny_config, write_config

pytestmark = [pytest.mark.workflow, pytest.mark.slurm]
CLUSTER_SCRIPT = ROOT / "tests" / "local_slurm.sh"
STARTED_PIDS = Path("/run/local_slurm/started.pids")
GPUS = {"features_2d": 1, "features_3d": 1, "train": 2}  # as tiny_workflow configures them
# Compared byte for byte with the local run: every video's AUC, the QC table, the category table
# (seeded bootstrap); the training log's losses too (its seconds are wall time).
SAME_OUTPUTS = ["results/auc_by_video.csv", "results/qc.csv", TARGET, "results/manifest.tsv"]
# Rules that run in the submitting process even under a cluster profile (`localrule: True`).
LOCAL_RULES = {
    path.stem
    for path in (ROOT / "rules").glob("*.smk")
    if re.search(r"^\s*localrule:\s*True", path.read_text(), re.MULTILINE)
}


@pytest.fixture(scope="module")
def slurm_cluster():
    """The cluster, started by tests/local_slurm.sh and stopped by the PIDs it started (a cluster
    that was already up is left running)."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("installing SLURM needs root on a Debian machine")
    already_up = STARTED_PIDS.exists() and STARTED_PIDS.read_text().strip()
    env = os.environ | {"SLURM_FAKE_GPUS": "2", "SLURM_WITH_DBD": "1", "LOCAL_SLURM_PARTITIONS": "cpu gpu"}
    try:
        start = subprocess.run(
            ["timeout", "-s", "KILL", "900", "bash", str(CLUSTER_SCRIPT), "start"],
            capture_output=True,
            text=True,
            env=env,
        )
        assert start.returncode == 0, f"SLURM did not start:\n{start.stdout[-3000:]}\n{start.stderr[-3000:]}"
        yield
    finally:
        if not already_up:
            subprocess.run(["timeout", "-s", "KILL", "120", "bash", str(CLUSTER_SCRIPT), "stop"], capture_output=True)


def finished_jobs(snakemake_output: str) -> Counter:
    """Jobs per rule that a snakemake run reports finished."""
    return Counter(re.findall(r"Finished jobid: \d+ \(Rule: (\w+)\)", snakemake_output))


def slurm_jobs(workdir: Path, since: str) -> list[dict]:
    """The SLURM jobs submitted from ``workdir`` since ``since`` (sacct, from slurmdbd): rule, state,
    partition and sbatch command line of each."""
    listing = subprocess.run(
        ["sacct", "-n", "-X", "-P", "-S", since, "-o", "JobID,State,Partition,SubmitLine"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    jobs = []
    for line in listing.splitlines():
        job_id, state, partition, submit = line.split("|", 3)
        if f"-D {workdir} " not in submit:
            continue
        rule = re.search(r"--comment rule_(\w+?)(?:_wildcards_\S*)? ", submit).group(1)
        jobs.append({"id": job_id, "rule": rule, "state": state, "partition": partition, "submit": submit})
    return jobs


def test_the_tiny_demo_on_slurm_equals_a_local_run(slurm_cluster, tiny_local_run, tmp_path):
    local_dir, local_output = tiny_local_run
    write_config(tmp_path, tiny_config())
    since = time.strftime("%Y-%m-%dT%H:%M:%S")
    # The profile as committed; only the status polling is quickened for a short test.
    run = snakemake(
        tmp_path,
        "--profile",
        str(ROOT / "profiles" / "slurm"),
        "--slurm-init-seconds-before-status-checks",
        "1",
        "--seconds-between-status-checks",
        "1",
        TARGET,
        timeout=1200,
    )

    jobs = slurm_jobs(tmp_path, since)
    expected = finished_jobs(local_output)
    assert finished_jobs(run.stdout + run.stderr) == expected
    assert LOCAL_RULES and LOCAL_RULES <= set(expected), LOCAL_RULES
    assert Counter(job["rule"] for job in jobs) == Counter(
        {rule: count for rule, count in expected.items() if rule not in LOCAL_RULES}
    )
    assert {job["state"] for job in jobs} == {"COMPLETED"}
    for job in jobs:
        gpu_rule = job["rule"] in GPUS
        asked_gpus = re.search(r"--gpus=(\S+)", job["submit"])
        assert (asked_gpus.group(1) if asked_gpus else None) == (str(GPUS[job["rule"]]) if gpu_rule else None), job
        assert ("--cpus-per-gpu=1" in job["submit"]) == gpu_rule, job
        assert ("--nodes=1" in job["submit"]) == gpu_rule, job
        assert job["partition"] == ("gpu" if gpu_rule else "cpu"), job
        assert re.search(r" --mem \d+ ", job["submit"]) and re.search(r" -t \d+ ", job["submit"]), job
    # Each GPU job received its GPUs from SLURM (CUDA_VISIBLE_DEVICES) and says so in its log
    # (falling back to the CPU, as configured, on this cluster's fake GPUs); training ran in two
    # processes; a CPU job that loads a model got none.
    for log in [*tmp_path.glob("results/logs/features_2d/*.log"), *tmp_path.glob("results/logs/features_3d/*.log")]:
        assert re.search(r"device \w+ \(GPUs assigned by the scheduler: \d; SLURM job \d+\)", log.read_text()), log
    train_log = (tmp_path / "results/logs/train/diverse.log").read_text()
    assert re.search(r"GPUs assigned by the scheduler: \d,\d; SLURM job \d+", train_log), train_log
    assert "2 process(es)" in train_log, train_log
    for log in tmp_path.glob("results/logs/evaluate/diverse/*.log"):
        assert "GPUs assigned by the scheduler: none; SLURM job" in log.read_text(), log

    for path in SAME_OUTPUTS:
        assert (tmp_path / path).read_bytes() == (local_dir / path).read_bytes(), path
    losses = [
        pd.read_csv(run_dir / "results/models/diverse/train_log.tsv", sep="\t")[["step", "loss"]]
        for run_dir in (tmp_path, local_dir)
    ]
    pd.testing.assert_frame_equal(*losses, check_exact=True)
