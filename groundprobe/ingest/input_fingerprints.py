"""Content fingerprints of a shard's local input files, so that editing one reruns its shard.

Rule download records where a ``local`` source's video and caption files are; the stages after it
(features, asr) read those files in place. Snakemake sees only the manifest and the download
table as inputs, so a caption or video file edited in place would be used by no job. The rules that
read them carry the shard's fingerprint of that kind as a ``params`` entry: when the content of one
file changes, so does the fingerprint, and Snakemake's params trigger reruns exactly those jobs.

Content, not modification time: a ``touch``, a copy with the same bytes or a restored backup must
rerun nothing (at 800K videos that would be every job). Hashing every file at every DAG build would
read the whole corpus, so each shard keeps a cache of (size, mtime_ns, inode) -> SHA-256 per path:
only a file whose stat changed is read again. The cache lives in Snakemake's working directory
under ``.snakemake/`` (:data:`CACHE_DIR`) beside Snakemake's own metadata: it describes the files
this working directory's jobs read, it is no result (deleting it costs one re-read of the local
files and changes no fingerprint), and ``results/`` holds only rule outputs.

http and ytdlp sources are fetched by rule download into files of its own; they are not covered.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path

import pandas as pd

from groundprobe.io import file_sha256, table_separator
from groundprobe.ingest.manifest import read_shard_rows, shard_name

CACHE_DIR = Path(".snakemake") / "groundprobe" / "input_hashes"
KINDS = ("captions", "videos")


class NoLocalFiles:
    """The fingerprint param of a shard without local files of its kind (or before its manifest
    exists). Not a builtin type, so Snakemake records no value for it (its persistence skips
    params it cannot represent): runs of remote corpora (yt-dlp, http) made before the param
    existed keep their recorded params, and the param reruns none of their jobs. Defined here, not
    in the rules, so that the ``script:`` preamble can pickle it."""

    def __repr__(self) -> str:
        return "NoLocalFiles()"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NoLocalFiles)

    def __hash__(self) -> int:
        return hash(NoLocalFiles)


def _local_captions(captions: pd.Series) -> pd.Series:
    """Which caption locations are local files: given and not http(s) URLs (groundprobe.ingest.download
    fetches those and reads every other location from the disk, whatever the video's source)."""
    captions = captions.fillna("")
    return (captions != "") & ~captions.str.match(r"(?i)https?:")


def local_files(rows: pd.DataFrame, kind: str) -> list[tuple[str, str]]:
    """(video_id, path) of the local files of ``kind`` among manifest ``rows``, in row order:
    for ``videos`` the sources of source_type local; for ``captions`` every caption location that
    is not an http(s) URL (groundprobe.ingest.download reads those from the disk, whatever the video's
    source type)."""
    if kind == "videos":
        local = rows[rows["source_type"] == "local"]
        return list(zip(local["video_id"], local["source"]))
    if kind == "captions":
        keep = _local_captions(rows["captions"])
        return list(zip(rows.loc[keep, "video_id"], rows.loc[keep, "captions"]))
    raise ValueError(f"unknown kind of input file '{kind}'; one of {', '.join(KINDS)}")


def _load_cache(path: Path) -> dict[str, list]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):  # none yet, or damaged: it is only a cache
        return {}


def _save_cache(path: Path, cache: dict[str, list]) -> None:
    """Written to a temporary file and renamed, so that concurrent DAG builds never read half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(cache, sort_keys=True))
    os.replace(temporary, path)


def files_fingerprint(files: list[tuple[str, str]], cache_path: Path) -> str:
    """A 16-hex-digit hash over (video_id, SHA-256 of the file's content) of ``files``; a missing
    file counts as the mark ``missing`` (download reports it). Files whose (size, mtime_ns, inode)
    equals the cached one are not read; the cache at ``cache_path`` (JSON, path -> [size,
    mtime_ns, inode, sha256]) is rewritten only when an entry changed."""
    cache, fresh, changed = _load_cache(cache_path), {}, False
    digest = hashlib.sha256()
    for video_id, path in files:
        try:
            stat = os.stat(path)
        except OSError:
            content = "missing"
        else:
            key = [stat.st_size, stat.st_mtime_ns, stat.st_ino]
            cached = cache.get(path)
            if cached is not None and cached[:3] == key:
                content = cached[3]
            else:
                content, changed = file_sha256(path), True
            fresh[path] = key + [content]
        digest.update(f"{video_id}\t{content}\n".encode())
    if changed or fresh.keys() != cache.keys():
        _save_cache(cache_path, fresh)
    return digest.hexdigest()[:16]


def shards_with_local_files(manifest: str | os.PathLike) -> dict[str, frozenset[str]]:
    """Per kind (captions, videos), the names of the shards of ``manifest`` that have local files
    of that kind. Read once per version of the file (cached by path, inode, size and modification
    time, as groundprobe.ingest.manifest.manifest_shards) and only 4 of its columns, so that a corpus of
    remote sources pays one read per DAG build instead of one shard read per job (12 ms a shard of
    1,000 rows: 3 jobs x 6,100 shards would be 220 s; benchmarks/input_fingerprints.py)."""
    stat = os.stat(manifest)
    return _shards_with_local_files(os.path.realpath(manifest), stat.st_ino, stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=4)
def _shards_with_local_files(path: str, inode: int, size: int, mtime_ns: int) -> dict[str, frozenset[str]]:
    table = pd.read_csv(
        path,
        sep=table_separator(Path(path)),
        usecols=["corpus", "shard", "source_type", "captions"],
        dtype={"corpus": "category", "shard": "int64", "source_type": "category", "captions": "str"},
        keep_default_na=False,
    )
    masks = {"videos": table["source_type"] == "local", "captions": _local_captions(table["captions"])}
    return {
        kind: frozenset(
            shard_name(corpus, shard)
            for corpus, shard in table.loc[mask, ["corpus", "shard"]].drop_duplicates().itertuples(index=False)
        )
        for kind, mask in masks.items()
    }


@lru_cache(maxsize=16384)
def _shard_files(path: str, inode: int, size: int, mtime_ns: int, shard: str) -> dict[str, tuple[tuple[str, str], ...]]:
    """local_files of each kind of one shard of one version of a manifest, from one read of the
    shard's rows: rules asr, features_2d and features_3d ask for the same shard."""
    rows = read_shard_rows(path, shard)
    return {kind: tuple(local_files(rows, kind)) for kind in KINDS}


def shard_input_fingerprint(
    manifest: str | os.PathLike, shard: str, kind: str, cache_dir: str | os.PathLike = CACHE_DIR
) -> str:
    """The fingerprint (:func:`files_fingerprint`) of shard ``shard``'s local files of ``kind``
    (captions or videos), its rows read from ``manifest`` (the shard's bytes only); '' for a shard
    without such files, so that a corpus of remote sources carries an empty param."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind of input file '{kind}'; one of {', '.join(KINDS)}")
    if shard not in shards_with_local_files(manifest)[kind]:
        return ""
    stat = os.stat(manifest)
    files = _shard_files(os.path.realpath(manifest), stat.st_ino, stat.st_size, stat.st_mtime_ns, shard)[kind]
    return files_fingerprint(list(files), Path(cache_dir) / kind / f"{shard}.json")
