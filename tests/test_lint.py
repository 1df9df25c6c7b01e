"""The repository's own lint gates, run by CI with the rest of the suite: ruff (pycodestyle and
pyflakes at the settings pinned in pyproject.toml) over every Python file, and ``snakemake --lint``
over the workflow with config.yaml. Each exits non-zero on any finding."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True)


def test_python_passes_ruff():
    result = run([sys.executable, "-m", "ruff", "check", "--no-cache", "."])
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_workflow_passes_snakemake_lint():
    result = run(["snakemake", "--lint"])
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
