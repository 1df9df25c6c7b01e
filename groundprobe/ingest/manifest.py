"""The corpus as one table: validated source rows, verticals from YouTube-8M labels, shard numbers.

A run studies one ``source`` corpus; curation (CUPID) adds a ``target`` corpus, whose videos go
through the same per-shard stages (download to segments) in shards of their own but are never
trained on: they are the domain that curation aims at and that the probes measure. The CrossTask
evaluation has a manifest of its own (:func:`build_crosstask_manifest`, corpus ``crosstask``,
shards named ``ct00000``...): its videos are downloaded and their features extracted for step
localisation only, and turning it on or changing its video list leaves the study's manifest, and
so every job of the study, untouched.
"""

from __future__ import annotations

import io
import os
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import BinaryIO, Iterable, Sequence

import pandas as pd

from groundprobe.io import table_separator

SOURCE_COLUMNS = [
    "video_id",
    "source",
    "source_type",
    "captions",
    "caption_kind",
    "title",
    "labels",
    "verticals",
    "split",
    "instructional",
]
REQUIRED_COLUMNS = ["video_id", "source", "split"]
SOURCE_TYPES = ("local", "http", "ytdlp")
CAPTION_KINDS = ("auto", "manual")
SPLITS = ("train", "validation")
SOURCE_CORPUS, TARGET_CORPUS, CROSSTASK_CORPUS = "source", "target", "crosstask"
# M_Instructional's own training corpus (Hessel et al.: HowTo100M), beside the studied one.
INSTRUCTIONAL_CORPUS = "instructional"
# Shard names are the shard number in 5 digits, after this prefix for the corpora with a
# manifest of their own (so no shard name is in two manifests).
SHARD_PREFIXES = {CROSSTASK_CORPUS: "ct"}
# The stages after download run one job per block of this many consecutive shards of one corpus,
# and write each shard's files into the block's folder: with a job per shard, `snakemake -n` on
# YouTube-8M's 6.1M ids (6,100 shards of 1,000) planned 7 jobs a shard at ~2.8 ms each, ~120 s
# (benchmarks/dag_scale.py). Fixed, not a setting: it decides where files are, not what they hold.
SHARDS_PER_BLOCK = 10
# Ids become file names and HDF5 dataset names: YouTube ids and similar slugs only. Always matched
# whole (fullmatch: '$' would accept a trailing line break).
VIDEO_ID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}")
YOUTUBE_ID = re.compile(r"[A-Za-z0-9_-]{11}")
WEB_URL = re.compile(r"https?://\S+")
WATCH_URL = "https://www.youtube.com/watch?v="


class ManifestError(ValueError):
    """The sources table cannot become a manifest; the message names the rows and the problem."""


def load_yt8m_vocabulary() -> pd.DataFrame:
    """The YouTube-8M label vocabulary shipped with the package (CC BY 4.0, see data/ATTRIBUTION.md)."""
    with resources.files("groundprobe.data").joinpath("yt8m_vocabulary.csv").open() as handle:
        return pd.read_csv(handle, keep_default_na=False)


def verticals_of(labels: str, vertical_by_label: dict[str, str]) -> str:
    """';'-separated verticals for ';'-separated labels, in the same order ('(Unknown)' if unmapped)."""
    names = [name for name in labels.split(";") if name]
    return ";".join(vertical_by_label.get(name) or "(Unknown)" for name in names)


def ytdlp_url(source: str) -> str:
    """What yt-dlp fetches for a ``ytdlp`` source: a YouTube id becomes its watch page URL."""
    return f"{WATCH_URL}{source}" if YOUTUBE_ID.fullmatch(source) else source


def _problem_rows(mask: pd.Series, df: pd.DataFrame, limit: int = 5) -> str:
    """Up to ``limit`` video ids of the masked rows; an invalid id quoted, so that a space or line
    break in it shows."""
    ids = [v if VIDEO_ID.fullmatch(v) else repr(v) for v in df.loc[mask, "video_id"].astype(str)]
    more = f" and {len(ids) - limit} more" if len(ids) > limit else ""
    return ", ".join(ids[:limit]) + more


def _text(column: pd.Series) -> pd.Series:
    """A column as text, missing cells (NaN of a data frame built in code) as ''."""
    return column.fillna("").astype(str)


def normalise_sources(sources: pd.DataFrame) -> pd.DataFrame:
    """Fill optional columns with their defaults and reject rows the pipeline cannot use.

    ``sources``: the table as :func:`groundprobe.io.read_text_table` reads it (every cell text,
    empty cells ''; NaN counts as empty too). Raises :class:`ManifestError` naming the offending
    video ids.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in sources.columns]
    if missing:
        raise ManifestError(f"sources table lacks required column(s): {', '.join(missing)}")
    df = sources.copy()
    df["video_id"], df["source"], df["split"] = (_text(df[c]) for c in REQUIRED_COLUMNS)
    if (df["video_id"] == "").any():
        rows = ", ".join(str(i + 2) for i in df.index[df["video_id"] == ""][:5])
        raise ManifestError(f"sources table has rows without a video_id (table lines {rows})")
    defaults = {
        "source_type": "local",
        "captions": "",
        "caption_kind": "auto",
        "title": "",
        "labels": "",
        "verticals": "",
        "instructional": "",
    }
    for column, value in defaults.items():
        df[column] = _text(df[column]).replace("", value) if column in df else value
    checks = [
        (~df["video_id"].str.fullmatch(VIDEO_ID), "invalid video_id (letters, digits, _ - . only)"),
        (df["video_id"].duplicated(keep=False), "duplicate video_id"),
        (~df["source_type"].isin(SOURCE_TYPES), f"source_type must be one of {', '.join(SOURCE_TYPES)}"),
        (
            (df["source_type"] == "ytdlp")
            & ~df["source"].str.fullmatch(YOUTUBE_ID)
            & ~df["source"].str.fullmatch(WEB_URL),
            "a ytdlp source must be an 11-character YouTube id or an http(s) URL",
        ),
        # urllib would also open file:// (a copy of a local file), ftp:// and data: URLs.
        (
            (df["source_type"] == "http") & ~df["source"].str.fullmatch(WEB_URL),
            "an http source must be an http:// or https:// URL",
        ),
        (~df["caption_kind"].isin(CAPTION_KINDS), f"caption_kind must be one of {', '.join(CAPTION_KINDS)}"),
        (~df["split"].isin(SPLITS), f"split must be one of {', '.join(SPLITS)}"),
        (~df["instructional"].isin(["", "0", "1", "0.0", "1.0"]), "instructional must be 1, 0 or empty"),
        (
            (df["verticals"] != "") & (df["verticals"].str.count(";") != df["labels"].str.count(";")),
            "verticals must name one vertical per label (or be empty)",
        ),
    ]
    problems = [f"{why}: {_problem_rows(mask, df)}" for mask, why in checks if mask.any()]
    if problems:
        raise ManifestError("sources table has invalid rows:\n  " + "\n  ".join(problems))
    df["instructional"] = df["instructional"].str.replace(".0", "", regex=False)
    ytdlp = df["source_type"] == "ytdlp"
    # ytdlp_url, column-wise: a YouTube id becomes its watch page URL.
    youtube_id = ytdlp & df["source"].str.fullmatch(YOUTUBE_ID)
    df.loc[youtube_id, "source"] = WATCH_URL + df.loc[youtube_id, "source"]
    return df


def assign_shards(n_videos: int, shard_size: int) -> list[int]:
    """Shard number of each row, in table order: rows 0..shard_size-1 are shard 0, and so on.

    Appending videos to a table never moves an existing video to another shard.
    """
    return [row // shard_size for row in range(n_videos)]


MANIFEST_COLUMNS = SOURCE_COLUMNS + ["corpus", "shard"]


def corpus_videos(manifest: pd.DataFrame, corpus: str = SOURCE_CORPUS) -> pd.DataFrame:
    """The manifest rows of one corpus: by default the studied (source) corpus, without the
    curation target's videos."""
    return manifest[manifest["corpus"] == corpus]


def build_manifest(
    sources: pd.DataFrame,
    shard_size: int,
    vocabulary: pd.DataFrame | None = None,
    target: pd.DataFrame | None = None,
    instructional: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The manifest: normalised sources, verticals filled from the labels, the ``corpus`` each
    video belongs to (``source``, ``target`` for the rows of ``target``, ``instructional`` for
    those of ``instructional``, M_Instructional's training corpus) and a ``shard`` column.

    Target and instructional videos fill shards of their own after the source's, in that order,
    so no job mixes two corpora (adding source videos renumbers the others' shards, never the
    source's). Columns: MANIFEST_COLUMNS. Raises ManifestError when a video id is in two tables,
    the target lacks training or validation videos or the instructional table training videos.
    """
    vocab = load_yt8m_vocabulary() if vocabulary is None else vocabulary
    vertical_by_label = dict(zip(vocab["Name"], vocab["Vertical1"]))
    corpora = [(SOURCE_CORPUS, sources)] + [
        (corpus, table)
        for corpus, table in ((TARGET_CORPUS, target), (INSTRUCTIONAL_CORPUS, instructional))
        if table is not None
    ]
    frames, first_shard = [], 0
    for corpus, table in corpora:
        df = normalise_sources(table)
        empty = df["verticals"] == ""
        labels = df.loc[empty, "labels"]
        # Once per distinct label list (at 6.1M videos a few hundred thousand), not per video.
        df.loc[empty, "verticals"] = labels.map(
            {names: verticals_of(names, vertical_by_label) for names in labels.unique()}
        )
        missing = sorted(set(SPLITS) - set(df["split"])) if corpus == TARGET_CORPUS else []
        if missing:
            raise ManifestError(
                f"the target table has no {missing[0]} videos: curation "
                f"selects toward the target's training videos and probes its "
                f"validation videos (column 'split')"
            )
        if corpus == INSTRUCTIONAL_CORPUS and "train" not in set(df["split"]):
            raise ManifestError(
                "the instructional table has no train videos: M_Instructional trains on them (column 'split')"
            )
        df["corpus"] = corpus
        df["shard"] = [first_shard + shard for shard in assign_shards(len(df), shard_size)]
        first_shard = df["shard"].max() + 1 if len(df) else first_shard
        frames.append(df)
    manifest = pd.concat(frames, ignore_index=True)
    refuse_shared_ids(manifest)
    return manifest[MANIFEST_COLUMNS]


def refuse_shared_ids(manifest: pd.DataFrame) -> None:
    """ManifestError naming (up to ten) video ids that rows of two corpora share."""
    repeated = manifest["video_id"].duplicated(keep=False)
    if repeated.any():
        where = manifest[repeated].groupby("video_id")["corpus"].agg(" and ".join).head(10)
        raise ManifestError(
            "video ids in more than one corpus's table (a video belongs to one "
            "corpus; evaluating on a training video says nothing): "
            + ", ".join(f"{video_id} ({corpora})" for video_id, corpora in where.items())
        )


def build_crosstask_manifest(videos: pd.DataFrame, shard_size: int, study: pd.DataFrame) -> pd.DataFrame:
    """The CrossTask videos' manifest: their sources table normalised, every row a ``validation``
    video of corpus ``crosstask`` (they are only ever evaluated), in shards numbered from 0
    (named ``ct00000``...). ``study``: the study's manifest; a video in it too is a ManifestError.
    Columns: MANIFEST_COLUMNS."""
    df = normalise_sources(videos.assign(split="validation"))
    df["corpus"] = CROSSTASK_CORPUS
    df["shard"] = pd.Series(assign_shards(len(df), shard_size), index=df.index, dtype="int64")
    refuse_shared_ids(pd.concat([study[["video_id", "corpus"]], df[["video_id", "corpus"]]]))
    return df[MANIFEST_COLUMNS]


def shard_name(corpus: str, shard: int) -> str:
    """The name of a corpus's shard in file names and the ``shard`` wildcard: '00042', 'ct00003'."""
    return f"{SHARD_PREFIXES.get(corpus, '')}{shard:05d}"


def shard_rows(manifest: pd.DataFrame, name: str) -> pd.DataFrame:
    """The manifest rows of the shard named ``name`` (:func:`shard_name`)."""
    names = [shard_name(corpus, int(shard)) for corpus, shard in zip(manifest["corpus"], manifest["shard"])]
    return manifest[[n == name for n in names]]


def shard_number(name: str) -> int:
    """The shard number of a shard name (:func:`shard_name`): '00042' -> 42, 'ct00003' -> 3."""
    digits = name
    for prefix in SHARD_PREFIXES.values():
        digits = digits.removeprefix(prefix)
    if not digits.isdigit():
        raise ValueError(
            f"'{name}' is not a shard name (5 digits, optionally after {', '.join(SHARD_PREFIXES.values())})"
        )
    return int(digits)


def read_shard_rows(path: str | os.PathLike, name: str) -> pd.DataFrame:
    """The rows of shard ``name`` of a manifest file (index 0..n-1), read as
    :func:`groundprobe.io.read_table` reads the whole file, but from the shard's own bytes only.

    A per-shard job (download) used to read the whole manifest: 3.3 s at 800K rows, so that all
    jobs together read N² / shard_size rows. A manifest lists its rows in shard order with
    ``shard`` as the last column (:func:`build_manifest` guarantees both), so the shard's first
    and last line are found by bisecting the file's bytes: about 2 log2(rows) line reads.
    """
    target = Path(path)
    number, separator = shard_number(name), table_separator(target)
    with open(target, "rb") as handle:
        header = handle.readline()
        if header.rstrip(b"\r\n").split(separator.encode())[-1] != b"shard":
            raise ManifestError(f"{target}: 'shard' is not the last column of the manifest")
        try:
            begin = _first_line_of_shard(handle, len(header), number, separator)
            end = _first_line_of_shard(handle, begin, number + 1, separator)
        except ValueError:  # a quoted line break in a field: no line is a row
            begin = end = -1
        if begin >= 0:
            handle.seek(begin)
            rows = handle.read(end - begin)
    if begin >= 0:
        table = read_manifest_text(io.BytesIO(header + rows), separator)
        if len(table) == rows.count(b"\n"):  # else a field held a line break: read it all
            return (shard_rows(table, name) if len(table) else table).reset_index(drop=True)
    return shard_rows(read_manifest_text(target, separator), name).reset_index(drop=True)


def read_manifest_text(source: str | os.PathLike | BinaryIO, separator: str) -> pd.DataFrame:
    """A manifest table with every column but ``shard`` as text (empty cells NaN, as
    :func:`groundprobe.io.read_table`), so that a slice of the rows reads the same values as the
    whole file, whatever digits a shard's titles or labels happen to hold."""
    return pd.read_csv(
        source,
        sep=separator,
        keep_default_na=False,
        na_values=[""],
        dtype={column: str for column in MANIFEST_COLUMNS if column != "shard"},
    )


def _first_line_of_shard(handle: BinaryIO, begin: int, number: int, separator: str) -> int:
    """Byte offset of the first line at or after offset ``begin`` (a line start) whose last field,
    the shard, is ``number`` or more; the file's size when there is none. Lines are in shard
    order."""
    size = handle.seek(0, os.SEEK_END)

    def line_at(offset: int) -> tuple[int, bytes]:
        """(start, text) of the first line starting at or after ``offset`` (> begin)."""
        handle.seek(offset - 1)
        handle.readline()  # the rest of the line ``offset`` falls in
        start = handle.tell()
        return start, handle.readline()

    def shard_of(line: bytes) -> int:
        return int(line.rstrip(b"\r\n").rsplit(separator.encode(), 1)[-1])

    low, high = begin, size  # the answer is a line start in [low, high]
    while low < high:
        start, line = line_at((low + high) // 2 + 1)
        if start >= high:  # no line starts past the middle: step from low
            handle.seek(low)
            line = handle.readline()
            if shard_of(line) >= number:
                return low
            low += len(line)
        elif shard_of(line) >= number:
            high = start
        else:
            low = start + len(line)
    return low


def manifest_shards(path: str | os.PathLike) -> dict[str | None, tuple[str, ...]]:
    """The shard names (:func:`shard_name`) of a manifest file, per corpus and of all corpora
    (key None), in order.

    The workflow's input functions ask for them once per aggregate job; at YouTube-600K scale the
    manifest holds ~800,000 rows (~110 MB), so this reads only its corpus and shard columns, and
    only once per version of the file: the answer is cached by the file's path, inode, size and
    modification time, so a rewritten manifest (a rerun of the checkpoint) is read again.
    """
    stat = os.stat(path)
    return _manifest_shards(os.path.realpath(path), stat.st_ino, stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=4)
def _manifest_shards(path: str, inode: int, size: int, mtime_ns: int) -> dict[str | None, tuple[str, ...]]:
    # corpus as a category and the (corpus, shard) pairs deduplicated before grouping, so that
    # only the few thousand pairs of millions of rows become Python objects (YouTube-8M's 6.1M
    # ids: 1.4-1.8 CPU s a dry run instead of 2.2-3.1, benchmarks/dag_scale.py).
    table = pd.read_csv(
        path,
        sep=table_separator(Path(path)),
        usecols=["corpus", "shard"],
        dtype={"corpus": "category", "shard": "int64"},
        keep_default_na=False,
    )
    pairs = table.drop_duplicates()
    by_corpus = {
        corpus: tuple(shard_name(corpus, shard) for shard in sorted(group))
        for corpus, group in pairs.groupby("corpus", observed=True)["shard"]
    }
    by_corpus[None] = tuple(sorted(name for names in by_corpus.values() for name in names))
    return by_corpus


def write_shard_listing(paths: list[str], out: str | os.PathLike) -> None:
    """A listing of per-shard files, one path a line, in shard order (rule shard_listing)."""
    Path(out).write_text("".join(f"{path}\n" for path in paths))


def read_shard_listing(path: str | os.PathLike) -> tuple[str, ...]:
    """The per-shard files a listing written by :func:`write_shard_listing` names, in order.

    An aggregate job (vocab, train) depends on one listing per kind of shard file rather than on
    every block folder: Snakemake checks each consumer of a job's output against that job's whole
    input list, so with the shard files as train's input the DAG of 6,100 shards cost
    consumers (then one evaluate job per shard) x inputs (3 per shard), quadratic in the shards.
    """
    return tuple(line for line in Path(path).read_text().splitlines() if line)


def shard_blocks(shards: Sequence[str]) -> tuple[str, ...]:
    """The block names of one corpus's shard names (in order): runs of :data:`SHARDS_PER_BLOCK`
    consecutive shards, each named by its first and last shard ('00010-00019', 'ct00000-ct00003')."""
    runs = (shards[start : start + SHARDS_PER_BLOCK] for start in range(0, len(shards), SHARDS_PER_BLOCK))
    return tuple(f"{run[0]}-{run[-1]}" for run in runs)


def block_shards(block: str) -> list[str]:
    """The shard names of a block name (:func:`shard_blocks`): '00010-00012' -> 00010, 00011, 00012."""
    first, _, last = block.partition("-")
    prefix = first[: len(first) - 5]
    if last[: len(last) - 5] != prefix or shard_number(last) < shard_number(first):
        raise ValueError(f"'{block}' is not a block name (first-last shard of one corpus)")
    return [f"{prefix}{number:05d}" for number in range(shard_number(first), shard_number(last) + 1)]


def manifest_blocks(path: str | os.PathLike) -> dict[str | None, tuple[str, ...]]:
    """The block names (:func:`shard_blocks`) of a manifest file, per corpus and of all corpora
    (key None, in shard order): a block never spans two corpora."""
    by_corpus = {corpus: shard_blocks(shards) for corpus, shards in manifest_shards(path).items() if corpus is not None}
    by_corpus[None] = tuple(sorted(block for blocks in by_corpus.values() for block in blocks))
    return by_corpus


def block_files(directories: Iterable[str | os.PathLike], suffix: str) -> list[str]:
    """The per-shard files of block folders named by their block (results/asr/00010-00019/...):
    ``<folder>/<shard><suffix>`` for every shard of every folder's block, in order."""
    return [
        str(Path(folder) / f"{shard}{suffix}") for folder in directories for shard in block_shards(Path(folder).name)
    ]
