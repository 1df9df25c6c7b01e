"""The DAG grows with shards, not videos: dry runs of the default target on two generated corpora.

Two corpora of ytdlp videos (fake YouTube ids, so nothing is fetched: the manifest only validates
the ids) in SHARDS[0] and SHARDS[1] shards of SHARD_SIZE videos; the manifest checkpoint runs for
real and `snakemake -n` plans the default target. Every rule's job count must then be a whole
number of jobs per shard (download), per block of SHARDS_PER_BLOCK shards (the stages after
download; evaluate has one job per evaluated model and block; the last block of each corpus is
partial here) or a constant few (an aggregate rule). A rule that became per-video has a slope of
SHARD_SIZE or more per shard, one that became per-shard-pair or quadratic fits none.
benchmarks/dag_scale.py measures the same at YouTube-8M scale.
"""

from pathlib import Path

import pandas as pd
import pytest
import yaml

from groundprobe.ingest.manifest import SHARDS_PER_BLOCK
from tiny_workflow import ROOT, planned_jobs, snakemake

pytestmark = pytest.mark.workflow

SHARDS = (15, 35)  # 2 and 4 blocks, the last one partial
SHARD_SIZE = 5  # more than any rule's jobs per shard, so that per-video shows as a slope
# The per-shard and per-block stages (jobs per shard or block) of the default target with the
# model comparison on and videos deleted after features (prune_videos); evaluate runs for both
# compared models.
PER_SHARD = {"download": 1}
PER_BLOCK = {
    "features_2d": 1,
    "features_3d": 1,
    "asr": 1,
    "segments": 1,
    "prune_videos": 1,
    "evaluate": 2,
    "segment_auc": 1,
}
# Rules that run once per run, whatever the corpus size (train: the two compared models;
# shard_listing: the asr, segments and two feature listings that vocab and train read).
AGGREGATE = {
    "vocab": 1,
    "train": 2,
    "auc_by_video": 1,
    "qc": 1,
    "auc_by_category": 1,
    "funnel": 1,
    "model_comparison": 1,
    "all": 1,
    "shard_listing": 4,
}
MAX_AGGREGATE_JOBS = 4  # any other aggregate rule (the analyses) plans at most this many jobs


def write_corpus(workdir: Path, shards: int) -> None:
    """config.yaml (no curation: there is no target corpus; model comparison on; videos deleted
    after features) and a sources table of shards * SHARD_SIZE ytdlp videos, some of the training
    videos labelled instructional."""
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["corpus"].update(sources="sources.tsv", shard_size=SHARD_SIZE, target_sources="")
    config["curation"]["enabled"] = False
    config["analysis"]["model_comparison"]["enabled"] = True
    # M_Instructional on the corpus's videos labelled instructional, not on a corpus of its own.
    config["corpus"]["instructional_sources"] = ""
    config["train"]["models"]["instructional"] = {"split": "train", "instructional": 1}
    config["download"]["delete_videos_after_features"] = True
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    n = shards * SHARD_SIZE
    ids = [f"yt{i:09d}" for i in range(n)]  # 11 characters: a valid YouTube id
    pd.DataFrame(
        {
            "video_id": ids,
            "source": ids,
            "source_type": "ytdlp",
            "labels": [("Cooking", "Pet;Dog", "Vehicle")[i % 3] for i in range(n)],
            "split": ["validation" if i % 4 == 3 else "train" for i in range(n)],
            "instructional": [("1", "0", "")[i % 3] for i in range(n)],
        }
    ).to_csv(workdir / "sources.tsv", sep="\t", index=False)


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


def blocks(shards: int) -> int:
    """The blocks of a corpus of ``shards`` shards."""
    return -(-shards // SHARDS_PER_BLOCK)


def growth(counts: dict[int, dict[str, int]], rule: str) -> tuple[str, int]:
    """('shard', k), ('block', k) or ('run', k) for a rule planning k jobs per shard, per block or
    per run at both shard counts; fails when its counts fit none of them."""
    (s1, s2), (c1, c2) = SHARDS, (counts[SHARDS[0]].get(rule, 0), counts[SHARDS[1]].get(rule, 0))
    if c1 == c2:
        return "run", c1
    for unit, units in (("shard", lambda shards: shards), ("block", blocks)):
        k, rest = divmod(c1, units(s1))
        if k and not rest and c2 == k * units(s2):
            return unit, k
    raise AssertionError(f"{rule}: {c1} jobs at {s1} shards, {c2} at {s2}: neither per shard, per block nor per run")


def test_per_shard_and_per_block_rules_and_aggregates_plan_their_jobs(jobs_by_shards):
    rules = sorted(set(jobs_by_shards[SHARDS[0]]) | set(jobs_by_shards[SHARDS[1]]))
    assert set(PER_SHARD) | set(PER_BLOCK) | set(AGGREGATE) <= set(rules), jobs_by_shards
    for rule in rules:
        unit, k = growth(jobs_by_shards, rule)
        counts = {shards: jobs.get(rule, 0) for shards, jobs in jobs_by_shards.items()}
        assert unit != "shard" or k < SHARD_SIZE, f"{rule} grows with the videos, not the shards: {counts}"
        if unit == "run":
            assert 1 <= k <= MAX_AGGREGATE_JOBS, f"{rule}: {counts}"
        expected = (
            ("shard", PER_SHARD.get(rule))
            if rule in PER_SHARD
            else ("block", PER_BLOCK.get(rule))
            if rule in PER_BLOCK
            else ("run", AGGREGATE.get(rule))
            if rule in AGGREGATE
            else None
        )
        assert expected is None or (unit, k) == expected, f"{rule}: {counts}, expected {expected}"


def test_total_jobs_grow_by_the_jobs_of_each_added_shard_and_block(jobs_by_shards):
    totals = {shards: sum(jobs.values()) for shards, jobs in jobs_by_shards.items()}
    units = {"shard": SHARDS[1] - SHARDS[0], "block": blocks(SHARDS[1]) - blocks(SHARDS[0]), "run": 0}
    added = 0
    for rule in jobs_by_shards[SHARDS[1]]:
        unit, k = growth(jobs_by_shards, rule)
        added += k * units[unit]
    assert totals[SHARDS[1]] - totals[SHARDS[0]] == added, totals
    # under 2 jobs per shard (7 with a job per shard and stage): what keeps the dry run of
    # 6,100 shards under a minute (benchmarks/dag_scale.py)
    assert added / units["shard"] < 2, jobs_by_shards
