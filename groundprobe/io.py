"""Atomic outputs, checksums, provenance and logging shared by every stage."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator

import pandas as pd

from groundprobe import __version__


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    A killed or failing job therefore never leaves a file that looks complete.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp creates 0600 files; outputs get the permissions the umask gives any new file.
    umask = os.umask(0)
    os.umask(umask)
    tmp_path.chmod(0o666 & ~umask)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


def table_separator(path: Path) -> str:
    """The field separator of a table file: ',' when its name ends in ``.csv`` (or ``.csv.gz``),
    else a tab."""
    return "," if path.name.removesuffix(".gz").endswith(".csv") else "\t"


TEXT_COLUMNS = {"video_id": str, "token": str, "tokens": str, "token_ids": str}


def write_table(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a table atomically; tab-separated unless the name ends in ``.csv`` (gzip for ``.gz``)."""
    target = Path(path)
    compression = "gzip" if target.suffix == ".gz" else None
    with atomic_output(target) as tmp:
        df.to_csv(tmp, sep=table_separator(target), index=False, compression=compression)


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a table written by :func:`write_table`; text columns stay text (no NaN for empty cells).

    Ids and tokens are always read as text, so that a video id or a token such as '007' survives.
    """
    target = Path(path)
    return pd.read_csv(target, sep=table_separator(target), keep_default_na=False, na_values=[""],
                       dtype=TEXT_COLUMNS)


def read_text_table(path: str | os.PathLike) -> pd.DataFrame:
    """A user's table with every cell as text (empty cells as ''), so that ids such as '007' and
    label lists such as '7' or '3 17' reach the validation untouched. Comma-separated when the
    name ends in ``.csv``, else tab-separated."""
    target = Path(path)
    return pd.read_csv(target, sep=table_separator(target), dtype=str, keep_default_na=False)


def file_sha256(path: str | os.PathLike, block_bytes: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in blocks so that weight files of any size fit."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(block_bytes):
            digest.update(block)
    return digest.hexdigest()


def code_version() -> str:
    """Package version plus the git commit of the checkout when there is one."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).parent,
            capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return __version__
    return f"{__version__}+g{commit}"


def provenance(**fields: object) -> dict[str, str]:
    """Provenance attributes for an artifact: code version plus the given fields as JSON strings."""
    record = {"code_version": code_version()}
    record.update({k: v if isinstance(v, str) else json.dumps(v, sort_keys=True) for k, v in fields.items()})
    return record


def setup_logging(log_path: str | os.PathLike | None) -> logging.Logger:
    """Log to the rule's log file (and stderr) with timestamps; returns the package logger."""
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        Path(log_path).write_text("")
        # Appending, so that the lines of processes the job starts (rule train's training
        # processes append to this file) are not overwritten by this handler's next line.
        handlers.append(logging.FileHandler(log_path, mode="a"))
    logging.basicConfig(level=logging.INFO, handlers=handlers, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return logging.getLogger("groundprobe")
