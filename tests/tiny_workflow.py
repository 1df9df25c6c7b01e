"""Running the workflow from the tests: snakemake in a directory, a dry run's job counts, and a tiny
demo run small enough to run several times per test session: 2 categories x 4 videos of 10-14 s
at 64x48 pixels plus the 3 bad inputs, in shards of 8, trained for 20 steps in 2 processes,
without curation and CrossTask. The SLURM test and the rerun tests share it."""

import os
import re
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
TARGET = "results/auc_by_category.csv"


def tiny_config() -> dict:
    """config.yaml, shrunk; every job single-threaded so that a 2-core SLURM node runs two at once
    and local and SLURM runs compute alike."""
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["corpus"].update(shard_size=8, target_sources="")
    config["demo_corpus"].update(
        videos_per_category=4,
        duration_s=[10, 14],
        scene_s=[3, 5],
        width=64,
        height=48,
        fps=10,
        categories=[{"label": "Cooking", "rate": 0.8}, {"label": "Video game", "rate": 0.0}],
    )
    config["demo_corpus"]["target_domain"]["videos"] = 0
    config["demo_corpus"]["crosstask"]["videos_per_task"] = 0
    config["demo_corpus"]["instructional_corpus"]["videos"] = 0
    config["corpus"]["instructional_sources"] = ""
    config["howto100m"]["videos"] = ""
    config["features"].update(threads=1)
    config["features"]["3d"].update(frame_size=32)
    config["train"].update(steps=20, batch_videos=4, checkpoint_every=10, log_every=10, threads=1)
    config["evaluate"]["bootstrap"] = 100
    config["curation"]["enabled"] = False
    config["analysis"]["model_comparison"]["enabled"] = False
    config["crosstask"]["enabled"] = False
    # Small enough for a 2-core, 24 GB test node; GPU jobs fall back to the CPU of its fake GPUs.
    config["resources"].update(allow_cpu_fallback=True, default={"mem_mb": 1000, "runtime": 10})
    config["resources"]["rules"] = {
        name: {**spec, "mem_mb": 1500, "runtime": 10} for name, spec in config["resources"]["rules"].items()
    }
    # Training on 2 GPUs: 2 DistributedDataParallel processes (gloo where torch sees no GPU).
    config["resources"]["rules"]["train"].update(gpu=2, mem_mb=1000)
    return config


def shard_file(workdir: Path, folder: str, name: str) -> Path:
    """The per-shard file ``name`` (e.g. 00000.h5) of a run, in the block folder of ``folder``
    (e.g. results/features/2d) that holds it."""
    [path] = (workdir / folder).glob(f"*/{name}")
    return path


def write_config(workdir: Path, config: dict) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))


def snakemake(
    workdir: Path, *args: str, timeout: int = 2400, check: bool = True, env: dict | None = None
) -> subprocess.CompletedProcess:
    """snakemake on the project's Snakefile in ``workdir`` (``env`` added to the environment),
    killed (SIGKILL) after ``timeout`` s."""
    result = subprocess.run(
        [
            "timeout",
            "-s",
            "KILL",
            str(timeout),
            "snakemake",
            "--snakefile",
            str(ROOT / "Snakefile"),
            "--directory",
            str(workdir),
            *args,
        ],
        capture_output=True,
        text=True,
        env=None if env is None else os.environ | env,
    )
    assert result.returncode == 0 or not check, (
        f"snakemake {' '.join(args)} failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-6000:]}"
    )
    return result


def planned_jobs(dry_run_output: str) -> dict[str, int]:
    """Job counts per rule from the 'Job stats' table a dry run prints (the last, after the
    checkpoint's re-evaluation)."""
    table = dry_run_output.split("Job stats:")[-1]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M) if m.group(1) != "total"}
