"""The whole Snakemake DAG on a tiny generated corpus, plus dry-run checks of its shape."""

import json
import re
import subprocess
from pathlib import Path

import h5py
import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.workflow


def tiny_config(**overrides) -> dict:
    """The default config, shrunk so that the whole DAG runs in a few minutes on 2 cores."""
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["demo_corpus"].update(
        videos_per_category=12, duration_s=[20, 28], width=160, height=120, validation_fraction=0.34,
        categories=[{"label": "Cooking", "rate": 1.0}, {"label": "Video game", "rate": 0.0}],
    )
    config["corpus"]["shard_size"] = 8
    config["features"]["3d"]["frame_size"] = 32  # the 3D stream carries no planted signal
    config["train"]["log_every"] = 20
    config["evaluate"]["bootstrap"] = 200
    for key, value in overrides.items():
        section, name = key.split("__")
        config[section][name] = value
    return config


def snakemake(workdir: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    result = subprocess.run(
        ["snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir), *args],
        capture_output=True, text=True, timeout=timeout,
    )
    assert result.returncode == 0, f"snakemake {' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-6000:]}"
    return result


def write_config(workdir: Path, config: dict) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))


def planned_jobs(dry_run_output: str) -> dict[str, int]:
    """Job counts per rule from the table a dry run prints."""
    table = dry_run_output.split("Job stats:")[-1]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)
            if m.group(1) != "total"}


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("demo_run")
    write_config(workdir, tiny_config())
    snakemake(workdir, "--cores", "2", "results/auc_by_category.csv")
    return workdir


def test_demo_run_recovers_the_planted_ordering(demo_run):
    truth = json.loads((demo_run / "resources/demo_corpus/planted_truth.json").read_text())
    table = pd.read_csv(demo_run / "results/auc_by_category.csv").set_index("category")
    assert {"Cooking", "Video game"} <= set(table.index)
    grounded, ungrounded = table.loc["Cooking"], table.loc["Video game"]
    assert grounded.mean_auc > 0.62, table
    assert abs(ungrounded.mean_auc - 0.5) < 0.08, table
    assert grounded.mean_auc > ungrounded.mean_auc + 0.1
    assert grounded.vertical == "Food & Drink" and ungrounded.vertical == "Games"
    assert grounded.ci_low <= grounded.mean_auc <= grounded.ci_high
    assert {label: c["rate"] for label, c in truth["categories"].items()} == {"Cooking": 1.0, "Video game": 0.0}


def test_every_video_is_evaluated_or_in_qc_with_its_reason(demo_run):
    manifest = pd.read_csv(demo_run / "results/manifest.tsv", sep="\t", dtype={"video_id": str})
    by_video = pd.read_csv(demo_run / "results/auc_by_video.csv", dtype={"video_id": str})
    qc = pd.read_csv(demo_run / "results/qc.csv", dtype={"video_id": str})
    assert set(by_video.video_id) | set(qc.video_id) == set(manifest.video_id)
    assert not set(by_video.video_id) & set(qc.video_id)
    assert len(by_video) + len(qc) == len(manifest)
    assert by_video["auc"].between(0, 1).all()
    bad = json.loads((demo_run / "resources/demo_corpus/planted_truth.json").read_text())["bad_inputs"]
    reasons = qc.set_index("video_id")
    assert reasons.loc[bad["undecodable"]["video_id"], "reason"].startswith("undecodable")
    assert reasons.loc[bad["too_short"]["video_id"], "reason"].startswith("shorter than one segment")
    assert reasons.loc[bad["no_words"]["video_id"], "reason"] == "no words in captions"
    for entry in bad.values():
        assert reasons.loc[entry["video_id"], "stage"] == entry["qc_stage"]
    summary = pd.read_csv(demo_run / "results/reconciliation.tsv", sep="\t")
    assert summary.loc[0, "manifest"] == len(manifest) and bool(summary.loc[0, "reconciled"])


def test_features_are_float16_per_second_with_provenance(demo_run):
    by_video = pd.read_csv(demo_run / "results/download/00000.tsv", sep="\t", dtype={"video_id": str})
    ok = by_video[by_video.status == "ok"]
    for stream, dim in (("2d", 1280), ("3d", 1024)):
        with h5py.File(demo_run / f"results/features/{stream}/00000.h5") as h5:
            assert h5.attrs["backbone"] in ("efficientnet_lite0", "s3d")
            assert "weights_sha256" in h5.attrs and "code_version" in h5.attrs
            for row in ok.itertuples():
                if row.video_id in h5:
                    data = h5[row.video_id]
                    assert data.dtype == "float16" and data.shape == (int(row.duration_s), dim)


def test_changing_a_training_parameter_reruns_training_not_features(demo_run):
    config = tiny_config(train__lr=0.002)
    write_config(demo_run, config)
    try:
        jobs = planned_jobs(snakemake(demo_run, "-n", "results/auc_by_category.csv").stdout)
    finally:
        write_config(demo_run, tiny_config())
    assert jobs.get("train") == 1 and jobs.get("auc_by_category") == 1
    assert jobs.get("evaluate", 0) >= 1
    for upstream in ("demo_corpus", "manifest", "download", "features_2d", "features_3d", "asr",
                     "vocab", "segments"):
        assert upstream not in jobs, f"{upstream} would rerun: {jobs}"


@pytest.mark.parametrize("n_videos", [48])
def test_job_count_grows_with_shards_not_videos(tmp_path, n_videos):
    counts = {}
    for shard_size in (4, 12):
        workdir = tmp_path / f"shard{shard_size}"
        config = tiny_config(corpus__shard_size=shard_size, corpus__sources="sources.tsv")
        write_config(workdir, config)
        pd.DataFrame({"video_id": [f"v{i:04d}" for i in range(n_videos)],
                      "source": [f"videos/v{i:04d}.mp4" for i in range(n_videos)],
                      "split": ["train", "validation"] * (n_videos // 2)}).to_csv(
            workdir / "sources.tsv", sep="\t", index=False)
        snakemake(workdir, "--cores", "1", "results/manifest.tsv")
        counts[shard_size] = planned_jobs(snakemake(workdir, "-n", "results/auc_by_category.csv").stdout)
    per_shard = ("download", "features_2d", "features_3d", "asr", "segments", "evaluate")
    for rule in per_shard:
        assert counts[4][rule] == n_videos // 4 and counts[12][rule] == n_videos // 12, counts
    for rule in ("vocab", "train", "auc_by_video", "qc", "auc_by_category"):
        assert counts[4][rule] == counts[12][rule] == 1
