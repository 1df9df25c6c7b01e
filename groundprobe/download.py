"""Ingest: bring every source of a shard to a local, probed video file plus its caption file.

Local files are used in place; HTTP sources are fetched once into the download folder (a file that
is already complete is never fetched again). Every video ends with status ``ok`` or ``failed`` and
a reason, so nothing is silently dropped.
"""

from __future__ import annotations

import http.client
import logging
import shutil
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pandas as pd

from groundprobe.decode import DecodeError, probe_video
from groundprobe.io import atomic_output
from groundprobe.qc import QcRecord

DOWNLOAD_COLUMNS = ["video_id", "video_path", "captions_path", "caption_kind", "duration_s",
                    "status", "reason"]
STAGE = "download"
log = logging.getLogger(__name__)


class FetchError(RuntimeError):
    """A source could not be brought to a local file."""


def fetch_http(url: str, target: Path, timeout_s: float = 60.0) -> Path:
    """Download ``url`` to ``target`` atomically unless ``target`` already exists (then reuse it)."""
    if target.exists():
        return target
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response, atomic_output(target) as tmp:
            with open(tmp, "wb") as out:
                shutil.copyfileobj(response, out)
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as error:
        raise FetchError(f"cannot fetch {url}: {error}") from error
    return target


def localise(source: str, source_type: str, target_stem: Path) -> Path:
    """A local path for ``source``: the file itself when local, else a fetched copy."""
    if source_type == "local":
        path = Path(source)
        if not path.is_file():
            raise FetchError(f"file not found: {source}")
        return path
    suffix = Path(urlparse(source).path).suffix or ".bin"
    return fetch_http(source, target_stem.with_name(target_stem.name + suffix))


def _is_remote(location: str) -> bool:
    return urlparse(location).scheme in ("http", "https")


def ingest_video(row: Any, download_dir: Path) -> dict:
    """Localise and probe one manifest row (a namedtuple from ``itertuples``); returns a download row."""
    record = {"video_id": row.video_id, "video_path": "", "captions_path": "",
              "caption_kind": row.caption_kind, "duration_s": float("nan"),
              "status": "failed", "reason": ""}
    stem = download_dir / row.video_id
    try:
        video = localise(row.source, row.source_type, stem)
        if not row.captions:
            raise FetchError("no caption file given")
        kind = "http" if _is_remote(row.captions) else "local"
        captions = localise(row.captions, kind, stem.with_name(stem.name + ".captions"))
        info = probe_video(video)
    except FetchError as error:
        record["reason"] = str(error)
        return record
    except DecodeError as error:
        record["reason"] = f"undecodable: {error}"
        return record
    record.update(video_path=str(video), captions_path=str(captions),
                  duration_s=round(info.duration_s, 3), status="ok")
    return record


def ingest_shard(videos: pd.DataFrame, download_dir: str | Path) -> tuple[pd.DataFrame, list[QcRecord]]:
    """Ingest every manifest row of a shard; failures become QC records with their reason."""
    table = pd.DataFrame([ingest_video(row, Path(download_dir)) for row in videos.itertuples()],
                         columns=DOWNLOAD_COLUMNS)
    failed = table[table["status"] != "ok"]
    for row in failed.itertuples():
        log.warning("%s: %s failed: %s", row.video_id, STAGE, row.reason)
    return table, [QcRecord(r.video_id, STAGE, r.reason) for r in failed.itertuples()]
