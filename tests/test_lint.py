"""The repository's own lint and format gates, run by CI with the rest of the suite: ruff
(pycodestyle and pyflakes at the settings pinned in pyproject.toml) over every Python file, ruff's
formatter and snakefmt (the rules) in check mode, and ``snakemake --lint`` over the workflow with
config.yaml. Each exits non-zero on any finding; ``ruff format .`` and ``snakefmt Snakefile rules``
fix the format."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True)


def test_python_passes_ruff():
    result = run([sys.executable, "-m", "ruff", "check", "--no-cache", "."])
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_python_is_formatted_by_ruff():
    result = run([sys.executable, "-m", "ruff", "format", "--check", "--no-cache", "."])
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_rules_are_formatted_by_snakefmt():
    result = run(["snakefmt", "--check", "Snakefile", "rules"])
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_workflow_passes_snakemake_lint():
    result = run(["snakemake", "--lint"])
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
