"""Atomic outputs, table files, checksums, provenance and logging shared by every stage."""

from __future__ import annotations

import contextlib
import csv
import glob
import gzip
import hashlib
import json
import logging
import os
import re
import subprocess
import tempfile
import zlib
from pathlib import Path
from typing import Iterator, TextIO

import pandas as pd

from groundprobe import __version__


def stale_temporaries(target: Path) -> list[Path]:
    """The temporaries of :func:`atomic_output` for ``target`` in its folder
    (``.<name>.<random>.tmp``; the random part has no dot, so ``x``'s never match ``x.y``'s)."""
    pattern = re.compile(re.escape(f".{target.name}.") + r"[^.]+" + re.escape(".tmp"))
    return [path for path in target.parent.glob(f".{glob.escape(target.name)}.*.tmp") if pattern.fullmatch(path.name)]


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    A killed or failing job therefore never leaves a file that looks complete. A writer killed
    with SIGKILL (a lost node, a time limit) cannot remove its temporary: the next write of the
    same ``path`` removes it first. One writer per path at a time, as Snakemake's output locks
    guarantee (a second, concurrent writer would fail at its rename, never mix two files).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in stale_temporaries(target):
        stale.unlink(missing_ok=True)
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
    return pd.read_csv(target, sep=table_separator(target), keep_default_na=False, na_values=[""], dtype=TEXT_COLUMNS)


class TableError(ValueError):
    """A user's table file that is not rows of its header's fields; the message names the file
    and the line."""


def _quoting(target: Path) -> int:
    """The csv quoting of a user's table: none in a tab-separated table, standard in a CSV.

    A tab-separated table cannot hold a tab or a line break in a cell, so it needs no quotes: a
    '"' is a character like any other and a cell may start with one (a quoted title). Read with
    CSV quoting, such a cell swallowed the rows up to the next quote.
    """
    return csv.QUOTE_NONE if table_separator(target) == "\t" else csv.QUOTE_MINIMAL


def _open_text(target: Path) -> TextIO:
    """The file as UTF-8 text for the csv module (gzip-compressed when named ``.gz``; a byte
    order mark, as spreadsheet programs write, is dropped)."""
    opener = gzip.open if target.suffix == ".gz" else open
    return opener(target, "rt", newline="", encoding="utf-8-sig")


def read_text_table(path: str | os.PathLike) -> pd.DataFrame:
    """A user's table (a sources table, an id list) losslessly: every cell as text, exactly as
    written (empty cells as ''), so that ids such as '007', label lists such as '7' or '3 17' and
    titles starting with '"' reach the validation untouched.

    Tab-separated without quote processing, comma-separated (name ending in ``.csv``, or
    ``.csv.gz``) with standard CSV quoting. Empty lines are skipped. Raises :class:`TableError`
    naming the line of a row whose number of fields differs from the header's, of malformed CSV
    quoting (e.g. a quote left open to the end of the file), of text that is not UTF-8 or a
    ``.gz`` file that is not gzip (or is cut short), and a header without columns or with a column
    twice. The csv module reads it: pandas' faster reader pads a short row with empty cells and
    drops surplus fields or makes them an index, silently.
    """
    target = Path(path)
    with _open_text(target) as handle:
        reader = csv.reader(handle, delimiter=table_separator(target), quoting=_quoting(target), strict=True)
        try:
            header = next(reader, None)
            if header is None:
                raise TableError(f"{target}: empty file; a table starts with a header line")
            if not any(header) or len(set(header)) != len(header):
                raise TableError(
                    f"{target}, line {reader.line_num}: the header needs distinct column names; found {header}"
                )
            rows = []
            for row in reader:
                if not row:  # an empty line
                    continue
                if len(row) != len(header):
                    raise TableError(
                        f"{target}, line {reader.line_num}: {len(row)} field(s), but "
                        f"the header has {len(header)} ({', '.join(header)})"
                    )
                rows.append(row)
        except csv.Error as error:
            raise TableError(f"{target}, line {reader.line_num}: {error}") from None
        except UnicodeDecodeError as error:
            raise TableError(f"{target}: not UTF-8 text ({error}); save it as UTF-8") from None
        except (gzip.BadGzipFile, EOFError, zlib.error) as error:
            raise TableError(
                f"{target}: not a complete gzip file ({type(error).__name__}: "
                f"{error}); a name ending in .gz means gzip-compressed"
            ) from None
    return pd.DataFrame(rows, columns=header, dtype=object)


def count_table_rows(path: str | os.PathLike) -> int:
    """The rows below the header of a user's table, counted by pandas' C parser under the quoting
    of :func:`read_text_table` (empty lines skipped): a count independent of that reader and of
    everything built from its rows, so that a reconciliation starting here notices a lost row."""
    target = Path(path)
    return len(
        pd.read_csv(
            target,
            sep=table_separator(target),
            quoting=_quoting(target),
            usecols=[0],
            dtype=str,
            keep_default_na=False,
            encoding="utf-8-sig",
        )
    )


def write_text_table(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a table for :func:`read_text_table` atomically: tab-separated without quoting (a
    tab or line break in a cell, or an empty cell in a table of one column, which would be an
    empty line, is a :class:`TableError` naming the column), comma-separated with standard quoting
    and CRLF line ends when the name ends in ``.csv`` (gzip for ``.gz``)."""
    target = Path(path)
    if _quoting(target) == csv.QUOTE_NONE:
        for column in df.columns:
            text = df[column].fillna("").astype(str)
            bad = text.str.contains(r"[\t\r\n]", regex=True)
            if bad.any():
                raise TableError(
                    f"{target}: column {column} holds a tab or line break "
                    f"({text[bad].iloc[0]!r}), which a tab-separated table cannot"
                )
            if len(df.columns) == 1 and (text == "").any():
                raise TableError(
                    f"{target}: column {column} holds an empty cell, which in a "
                    "tab-separated table of one column is an empty line (skipped)"
                )
    compression = "gzip" if target.suffix == ".gz" else None
    # CSV lines end in CRLF, as the csv module writes them by default: with '\n' line ends it
    # leaves a cell holding a lone '\r' unquoted, and that cell read back as two rows.
    line_end = "\r\n" if table_separator(target) == "," else "\n"
    with atomic_output(target) as tmp:
        df.to_csv(
            tmp,
            sep=table_separator(target),
            index=False,
            quoting=_quoting(target),
            compression=compression,
            lineterminator=line_end,
        )


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
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
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
    logging.basicConfig(
        level=logging.INFO, handlers=handlers, force=True, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return logging.getLogger("groundprobe")
