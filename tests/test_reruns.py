"""Rerunning single stages of a finished run, as docs/cluster.md "Rerunning stages" documents: each command
plans exactly the jobs it should, on a copy of the tiny local run."""

import os
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import make_test_video
from tiny_workflow import ROOT, TARGET, planned_jobs, snakemake

pytestmark = pytest.mark.workflow


def planned(workdir: Path, *args: str, target: str = TARGET) -> dict[str, int]:
    """Jobs per rule of a dry run of ``target`` (it comes first: --forcerun and --until take
    several values and would swallow it)."""
    run = snakemake(workdir, target, "-n", *args)
    return planned_jobs(run.stdout + run.stderr)


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        below = children.get(todo.pop(), [])
        found += below
        todo += below
    return found


def blocks(workdir: Path) -> int:
    """The run's blocks of shards (a job each for the stages after download)."""
    return len([path for path in workdir.glob("results/segments/*") if path.is_dir()])


def test_a_finished_run_plans_nothing(finished_run):
    assert "Nothing to be done" in snakemake(finished_run, TARGET, "-n").stdout


def test_forcerun_redoes_a_stage_and_its_dependants_only(finished_run):
    n = blocks(finished_run)
    assert planned(finished_run, "--forcerun", "segments") == {
        "segments": n,
        "shard_listing": 1,
        "train": 1,
        "evaluate": n,
        "auc_by_video": 1,
        "qc": 1,
        "auc_by_category": 1,
    }


def test_until_stops_at_a_stage(finished_run):
    shards = len(list(finished_run.glob("results/download/*.tsv")))
    assert planned(finished_run, "--forcerun", "download", "--until", "features_2d") == {
        "download": shards,
        "features_2d": blocks(finished_run),
    }


def test_a_changed_parameter_reruns_only_its_dependants(finished_run):
    config_path = finished_run / "config.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["evaluate"]["bootstrap"] = 150  # the category table's confidence interval only
    config["download"]["sleep_s"] = 0  # politeness: read by the script, never reruns
    config["resources"]["rules"]["train"]["mem_mb"] = 1700  # what a job asks for, not its result
    config_path.write_text(yaml.safe_dump(config))
    assert planned(finished_run) == {"auc_by_category": 1}
    before = {path: path.stat().st_mtime_ns for path in finished_run.glob("results/**/*") if path.is_file()}
    snakemake(finished_run, TARGET, "--cores", "2")
    changed = {
        path.relative_to(finished_run).as_posix() for path, mtime in before.items() if path.stat().st_mtime_ns != mtime
    }
    assert {path for path in changed if not path.startswith(("results/logs/", "results/benchmarks/"))} == {
        TARGET,
        "results/auc_by_category_all.csv",
    }

    config["train"]["steps"] = 25  # the model: everything downstream of training
    config_path.write_text(yaml.safe_dump(config))
    assert planned(finished_run) == {
        "train": 1,
        "evaluate": blocks(finished_run),
        "auc_by_video": 1,
        "qc": 1,
        "auc_by_category": 1,
    }


def test_crosstask_runs_beside_a_finished_study_and_an_edited_annotation_reruns_only_its_table(finished_run):
    """Turning CrossTask on reruns nothing of the study (its videos have a manifest of their own);
    the CrossTask table is made from a local task set, and editing one annotation file reruns it
    alone."""
    release = finished_run / "crosstask"
    (release / "annotations").mkdir(parents=True)
    (release / "tasks_primary.txt").write_text("1\nWatch\nhttps://example.org\n2\nlook,watch\n\n")
    (release / "videos_val.csv").write_text("1,clipA,https://example.org/a\n1,clipB,https://example.org/b\n")
    for video in ("clipA", "clipB"):
        make_test_video(release / f"{video}.mp4", 12, fps=10)
        (release / "annotations" / f"1_{video}.csv").write_text("1,0,5\n2,6,11\n")
    (release / "sources.tsv").write_text("video_id\tsource\nclipA\tcrosstask/clipA.mp4\nclipB\tcrosstask/clipB.mp4\n")
    config_path = finished_run / "config.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["crosstask"].update(
        enabled=True,
        tasks="crosstask/tasks_primary.txt",
        annotations="crosstask/annotations",
        videos="crosstask/videos_val.csv",
        sources="crosstask/sources.tsv",
    )
    config_path.write_text(yaml.safe_dump(config))
    assert "Nothing to be done" in snakemake(finished_run, TARGET, "-n").stdout
    snakemake(finished_run, "--cores", "2", "results/crosstask_recall.csv")
    by_video = pd.read_csv(finished_run / "results/crosstask/recall_by_video.csv")
    assert by_video["video_id"].tolist() == ["clipA", "clipB"]
    assert by_video["annotated_steps"].tolist() == [2, 2]
    time.sleep(1)
    (release / "annotations" / "1_clipB.csv").write_text("1,0,5\n")
    assert planned(finished_run, target="results/crosstask_recall.csv") == {"crosstask": 1}


def test_a_killed_forced_run_is_completed_by_repeating_it(finished_run, tiny_local_run):
    """SIGKILL of snakemake and its job while a features job writes its output (forced to rerun,
    which recomputes the same features). Snakemake deleted the job's old outputs before it
    started and keeps no record of the force, so nothing else would redo them; after --unlock the
    same command redoes the forced jobs and what depends on them, the results equal the
    uninterrupted run's, and no litter remains: no temporary of an atomic write (``*.tmp``)
    under results/ and no incomplete marker of Snakemake's."""
    forced = planned(finished_run, "--forcerun", "features_3d")
    assert forced["features_3d"] == blocks(finished_run) and forced["auc_by_category"] == 1
    run = subprocess.Popen(
        [
            "snakemake",
            "--snakefile",
            str(ROOT / "Snakefile"),
            "--directory",
            str(finished_run),
            TARGET,
            "--cores",
            "1",
            "--forcerun",
            "features_3d",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    results = finished_run / "results"
    deadline = time.monotonic() + 300

    def litter() -> list[Path]:
        return list(results.rglob("*.tmp*"))

    while not litter():  # a features job is writing its HDF5 file
        assert run.poll() is None and time.monotonic() < deadline, "no features job started"
        time.sleep(0.05)
    # The job runs in a session of its own: kill it with snakemake, as a node failure would;
    # snakemake is stopped first, so that it starts no job between the listing and the kill.
    os.kill(run.pid, signal.SIGSTOP)
    for pid in [*descendants(run.pid), run.pid]:
        os.kill(pid, signal.SIGKILL)
    run.wait()
    [temporary] = litter()
    killed_output = temporary.with_name(temporary.name[1:].rsplit(".", 2)[0])
    assert not killed_output.exists(), "Snakemake deletes a job's outputs before it starts"

    locked = snakemake(finished_run, TARGET, "--cores", "1", check=False)
    assert locked.returncode != 0 and "--unlock" in locked.stdout + locked.stderr
    snakemake(finished_run, TARGET, "--unlock")
    assert planned(finished_run, "--forcerun", "features_3d") == forced
    snakemake(finished_run, TARGET, "--cores", "2", "--forcerun", "features_3d")
    assert "Nothing to be done" in snakemake(finished_run, TARGET, "-n").stdout
    for path in ("results/auc_by_video.csv", "results/qc.csv", TARGET):
        assert (finished_run / path).read_bytes() == (tiny_local_run[0] / path).read_bytes(), path
    assert killed_output.exists() and not litter()
    assert not list((finished_run / ".snakemake" / "incomplete").iterdir())
