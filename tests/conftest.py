import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings
from hypothesis.configuration import set_hypothesis_home_dir

# Property-based tests (hypothesis): the same examples on every run and machine (derandomize), no
# example database, and hypothesis's caches outside the checkout; no per-example deadline (a shared
# 2-core machine's timing is noise). 'fuzz' searches deeper, by hand:
# python3 -m pytest --hypothesis-profile=fuzz tests/test_caption_properties.py tests/test_table_properties.py
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "groundprobe-hypothesis")
settings.register_profile("groundprobe", database=None, deadline=None, derandomize=True, max_examples=100)
settings.register_profile("fuzz", parent=settings.get_profile("groundprobe"), derandomize=False, max_examples=5000)
settings.load_profile("groundprobe")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """SLURM tests run last: once SLURM's client is installed and its controller stopped, every
    snakemake start waits ~9 s in the SLURM executor plugin's import (``scontrol show config``
    cannot reach a controller), which would slow every workflow test collected after them."""
    items.sort(key=lambda item: item.get_closest_marker("slurm") is not None)


def make_test_video(
    path: Path, seconds: float, size: str = "64x48", fps: int = 30, output_args: tuple[str, ...] = ()
) -> Path:
    """A real H.264 mp4 from ffmpeg's test pattern source (independent of the project's code);
    ``output_args``: further ffmpeg output options (filters, keyframe interval, muxer flags)."""
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size={size}:rate={fps}",
            "-t",
            str(seconds),
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            *output_args,
            str(path),
        ],
        check=True,
    )
    return path


# A streaming layout, as downloaded files have it: the mp4 index (moov) first, so that the first
# half of the file still opens and decodes (with the index last, half a file does not open at all).
FASTSTART = ("-movflags", "+faststart")


def cut_in_half(path: Path, out: Path) -> Path:
    """The first half of ``path``'s bytes as ``out``: a file cut off mid-copy or mid-download."""
    data = path.read_bytes()
    out.write_bytes(data[: len(data) // 2])
    return out


@pytest.fixture(scope="session")
def tiny_video(tmp_path_factory) -> Path:
    """A 6-second 64x48 30 fps H.264 video."""
    return make_test_video(tmp_path_factory.mktemp("video") / "tiny.mp4", 6)


@pytest.fixture(scope="session")
def tiny_local_run(tmp_path_factory) -> tuple[Path, str]:
    """The tiny workflow run locally once per session: its directory and snakemake's output. Tests
    that change the run work on a copy."""
    from tiny_workflow import TARGET, snakemake, tiny_config, write_config

    workdir = tmp_path_factory.mktemp("tiny_local")
    write_config(workdir, tiny_config())
    run = snakemake(workdir, "--cores", "2", TARGET)
    return workdir, run.stdout + run.stderr


@pytest.fixture
def finished_run(tiny_local_run, tmp_path) -> Path:
    """A copy of the tiny local run (files and Snakemake's metadata, modification times kept)."""
    workdir = tmp_path / "run"
    shutil.copytree(tiny_local_run[0], workdir, symlinks=True)
    return workdir


def descendant_processes() -> dict[int, str]:
    """Pid -> name of every process descending from this one, zombies included (from /proc)."""
    parents, names = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        names[int(entry.name)] = stat[stat.index("(") + 1 : stat.rindex(")")]
        parents[int(entry.name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
    found, frontier = {}, {os.getpid()}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier and pid not in found}
        found.update((pid, names[pid]) for pid in frontier)
    return found


class DictSource:
    """Per-second features held in memory, a stand-in for ``groundprobe.features.store.FeatureStore``
    (``groundprobe.model.batches.SecondsSource``): ``arrays`` maps a video id to its (n_seconds, D)
    features, returned as they are."""

    def __init__(self, arrays: dict[str, np.ndarray]):
        self.arrays = arrays

    def seconds(self, video_id: str) -> np.ndarray:
        return self.arrays[video_id]
