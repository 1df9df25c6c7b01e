"""The DAG grows with shards, not videos: dry runs of the default target on two generated corpora.

Two corpora of ytdlp videos (fake YouTube ids, so nothing is fetched: the manifest only validates
the ids) in SHARDS[0] and SHARDS[1] shards of SHARD_SIZE videos; the manifest checkpoint runs for
real and `snakemake -n` plans the default target. Every rule's job count must then be
``slope * shards + constant`` with either a slope of a few jobs per shard and no constant (a
per-shard rule; evaluate has one job per evaluated model and shard) or no slope and a few jobs
(an aggregate rule). A rule that became per-video has a slope of SHARD_SIZE or more, one that
became per-shard-pair or quadratic fits no line. benchmarks/dag_scale.py measures the same at
YouTube-600K scale.
"""

from pathlib import Path

import pandas as pd
import pytest
import yaml

from tiny_workflow import ROOT, planned_jobs, snakemake
pytestmark = pytest.mark.workflow

SHARDS = (8, 16)
SHARD_SIZE = 5          # more than any rule's jobs per shard, so that per-video shows as a slope
# The per-shard stages (jobs per shard) of the default target with the model comparison on and
# videos deleted after features (prune_videos); evaluate runs for both compared models.
PER_SHARD = {"download": 1, "features_2d": 1, "features_3d": 1, "asr": 1, "segments": 1,
             "prune_videos": 1, "evaluate": 2}
# Rules that run once per run, whatever the corpus size (train: the two compared models;
# shard_listing: the asr, segments and two feature listings that vocab and train read).
AGGREGATE = {"vocab": 1, "train": 2, "auc_by_video": 1, "qc": 1, "auc_by_category": 1,
             "funnel": 1, "model_comparison": 1, "all": 1, "shard_listing": 4}
MAX_AGGREGATE_JOBS = 4  # any other aggregate rule (the analyses) plans at most this many jobs


def write_corpus(workdir: Path, shards: int) -> None:
    """config.yaml (no curation: there is no target corpus; model comparison on; videos deleted
    after features) and a sources table of shards * SHARD_SIZE ytdlp videos, some of the training
    videos labelled instructional."""
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["corpus"].update(sources="sources.tsv", shard_size=SHARD_SIZE, target_sources="")
    config["curation"]["enabled"] = False
    config["analysis"]["model_comparison"]["enabled"] = True
    config["download"]["delete_videos_after_features"] = True
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    n = shards * SHARD_SIZE
    ids = [f"yt{i:09d}" for i in range(n)]  # 11 characters: a valid YouTube id
    pd.DataFrame({
        "video_id": ids, "source": ids, "source_type": "ytdlp",
        "labels": [("Cooking", "Pet;Dog", "Vehicle")[i % 3] for i in range(n)],
        "split": ["validation" if i % 4 == 3 else "train" for i in range(n)],
        "instructional": [("1", "0", "")[i % 3] for i in range(n)],
    }).to_csv(workdir / "sources.tsv", sep="\t", index=False)


@pytest.fixture(scope="module")
def jobs_by_shards(tmp_path_factory) -> dict[int, dict[str, int]]:
    counts = {}
    for shards in SHARDS:
        workdir = tmp_path_factory.mktemp(f"dag_{shards}_shards")
        write_corpus(workdir, shards)
        snakemake(workdir, "--cores", "1", "results/manifest.tsv", timeout=300)
        manifest = pd.read_csv(workdir / "results/manifest.tsv", sep="\t")
        assert manifest["shard"].nunique() == shards and (manifest["source_type"] == "ytdlp").all()
        dry_run = snakemake(workdir, "-n", "--cores", "all", timeout=300)  # default target
        counts[shards] = planned_jobs(dry_run.stdout + dry_run.stderr)
    return counts


def linear_fit(counts: dict[int, dict[str, int]], rule: str) -> tuple[int, int]:
    """(jobs per shard, constant jobs) of a rule's job counts at the two shard counts; fails when
    they fit no line with a whole number of jobs per shard."""
    (s1, s2), (c1, c2) = SHARDS, (counts[SHARDS[0]].get(rule, 0), counts[SHARDS[1]].get(rule, 0))
    slope, rest = divmod(c2 - c1, s2 - s1)
    assert rest == 0, f"{rule}: {c1} jobs at {s1} shards, {c2} at {s2}: not linear in shards"
    return slope, c1 - slope * s1


def test_per_shard_rules_plan_one_job_per_shard_and_aggregates_a_constant(jobs_by_shards):
    rules = sorted(set(jobs_by_shards[SHARDS[0]]) | set(jobs_by_shards[SHARDS[1]]))
    assert set(PER_SHARD) | set(AGGREGATE) <= set(rules), jobs_by_shards
    for rule in rules:
        slope, constant = linear_fit(jobs_by_shards, rule)
        counts = {shards: jobs.get(rule, 0) for shards, jobs in jobs_by_shards.items()}
        assert 0 <= slope < SHARD_SIZE, f"{rule} grows with the videos, not the shards: {counts}"
        if slope:
            assert constant == 0, f"per-shard rule {rule} has jobs beside its shards: {counts}"
        else:
            assert 1 <= constant <= MAX_AGGREGATE_JOBS, f"{rule}: {counts}"
        if rule in PER_SHARD:
            assert (slope, constant) == (PER_SHARD[rule], 0), f"{rule} is per shard: {counts}"
        if rule in AGGREGATE:
            assert (slope, constant) == (0, AGGREGATE[rule]), f"{rule} runs once: {counts}"


def test_total_jobs_grow_by_the_per_shard_jobs_of_each_added_shard(jobs_by_shards):
    totals = {shards: sum(jobs.values()) for shards, jobs in jobs_by_shards.items()}
    per_shard_jobs = sum(linear_fit(jobs_by_shards, rule)[0] for rule in jobs_by_shards[SHARDS[1]])
    assert per_shard_jobs >= sum(PER_SHARD.values())
    assert totals[SHARDS[1]] - totals[SHARDS[0]] == per_shard_jobs * (SHARDS[1] - SHARDS[0]), totals
