"""What each job asks of a scheduler (config resources, rules/common.smk job_resources), read from
the resources Snakemake plans for the jobs of the tiny run (a dry run from the downloads on)."""

import math
import re

import pytest
import yaml

from groundprobe.ingest.manifest import SHARDS_PER_BLOCK
from tiny_workflow import ROOT, TARGET, snakemake, tiny_config

pytestmark = pytest.mark.workflow
GPU_RULES = {"features_2d", "features_3d", "train"}
# Rules with a job per block of SHARDS_PER_BLOCK shards: their runtime grows with a block's videos.
PER_BLOCK_RULES = {
    "features_2d",
    "features_3d",
    "asr",
    "segments",
    "evaluate",
    "segment_auc",
    "video_embeddings",
    "prune_videos",
}


def planned_resources(workdir, *args: str) -> dict[str, dict[str, str]]:
    """Rule -> the resources of its (last) job in a dry run that plans every job of TARGET after
    the manifest (a checkpoint: a forced manifest would hide the jobs after it)."""
    output = snakemake(workdir, TARGET, "-n", *args, "--forcerun", "download").stdout
    resources = {}
    for block in output.split("\nrule ")[1:]:
        rule = block.split(":", 1)[0]
        line = re.search(r"^\s+resources: (.*)$", block, re.M).group(1)
        resources[rule] = dict(item.split("=", 1) for item in line.split(", "))
    return resources


def test_gpu_rules_ask_for_a_gpu_and_every_rule_for_memory_and_time(tiny_local_run):
    config = tiny_config()
    shard_size = config["corpus"]["shard_size"]
    planned = planned_resources(tiny_local_run[0])
    assert GPU_RULES | {"download", "evaluate", "auc_by_category"} <= set(planned)
    for rule, resources in planned.items():
        spec = config["resources"]["rules"].get(rule, config["resources"]["default"])
        gpus = spec.get("gpu", 0)
        assert int(resources["mem_mb"]) == spec["mem_mb"] * max(1, gpus), rule
        videos = shard_size * (SHARDS_PER_BLOCK if rule in PER_BLOCK_RULES else 1)
        assert int(resources["runtime"]) == math.ceil(spec["runtime"] + spec.get("runtime_per_video", 0) * videos), rule
        if rule in GPU_RULES:
            assert (resources["gpu"], resources["cpus_per_gpu"], resources["nodes"]) == (str(gpus), "1", "1"), rule
            assert "gpu_model" not in resources, rule
        else:
            assert not {"gpu", "cpus_per_gpu", "nodes"} & set(resources), rule


def test_gpu_type_count_and_cpu_device_come_from_the_config(tiny_local_run, tmp_path):
    overrides = {
        "resources": {
            "gpu_model": "a100",
            "rules": {"train": {"gpu": 2, "mem_mb": 900, "runtime": 7}, "features_2d": {"mem_mb_per_video": 10.5}},
        },
        "features": {"device": "cpu", "threads": 4},
        "train": {"threads": 4},
    }
    (tmp_path / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    planned = planned_resources(tiny_local_run[0], "--configfile", str(tmp_path / "overrides.yaml"))
    assert {key: planned["train"][key] for key in ("gpu", "gpu_model", "cpus_per_gpu", "mem_mb")} == {
        "gpu": "2",
        "gpu_model": "a100",
        "cpus_per_gpu": "2",
        "mem_mb": "1800",
    }
    # Features on the CPU: CPU jobs, whatever the GPU setting says; memory grows with the shard.
    assert "gpu" not in planned["features_2d"] and "gpu" not in planned["features_3d"]
    config = tiny_config()
    assert planned["features_2d"]["mem_mb"] == str(
        math.ceil(config["resources"]["rules"]["features_2d"]["mem_mb"] + 10.5 * config["corpus"]["shard_size"])
    )


def test_the_schema_names_every_rule_of_the_workflow():
    schema = yaml.safe_load((ROOT / "config" / "schema.yaml").read_text())
    named = set(schema["properties"]["resources"]["properties"]["rules"]["propertyNames"]["enum"])
    listed = snakemake(ROOT, "--list-rules", "--config", "yt8m={ids: ids.csv}").stdout.split()
    assert named == set(listed) - {"all"}
