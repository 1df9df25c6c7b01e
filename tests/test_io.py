"""Atomic outputs: nothing that looks complete after a failure, and no temporary left behind by a
writer that was killed once its target is written again."""

import subprocess
import sys

import pytest

from groundprobe.io import atomic_output

KILLED_WRITER = """
import os, signal, sys
from groundprobe.io import atomic_output
with atomic_output(sys.argv[1]) as tmp:
    tmp.write_text("half")
    os.kill(os.getpid(), signal.SIGKILL)
"""


def killed_writer(target) -> None:
    """A process killed (SIGKILL) while writing ``target``: its temporary stays."""
    run = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(target)])
    assert run.returncode == -9


def test_a_failing_write_leaves_neither_the_target_nor_a_temporary(tmp_path):
    target = tmp_path / "table.tsv"
    with pytest.raises(RuntimeError), atomic_output(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("stop")
    assert list(tmp_path.iterdir()) == []


def test_the_next_write_of_a_target_removes_the_temporary_of_its_killed_writer(tmp_path):
    target, longer = tmp_path / "00001.h5", tmp_path / "00001.h5.gz"
    killed_writer(target)
    killed_writer(longer)
    [longer_left] = tmp_path.glob(".00001.h5.gz.*.tmp")
    [left] = set(tmp_path.glob(".00001.h5.*.tmp")) - {longer_left}
    assert left.read_text() == "half"
    with atomic_output(target) as tmp:
        tmp.write_text("whole")
    # the other target's temporary is not this target's to remove
    assert sorted(tmp_path.iterdir()) == sorted([target, longer_left])
    assert target.read_text() == "whole"
