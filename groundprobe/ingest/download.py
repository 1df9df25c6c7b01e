"""Ingest: bring every source of a shard to a local, probed video file plus its caption file.

Sources (manifest ``source_type``):

- ``local``: files used in place.
- ``http``: fetched once into the download folder (a complete file is never fetched again).
- ``ytdlp``: a YouTube watch URL or any page yt-dlp handles, fetched with yt-dlp's Python API into
  ``<dir>/<video_id>/`` (:func:`ingest_ytdlp`): video, captions as WebVTT and the info JSON.

Every video ends with status ``ok`` or ``failed``, a reason code (:data:`REASON_CODES`) and a human
reason, so nothing is silently dropped; the QC reason reads ``<code>: <reason>``. The ``download``
settings, and what to fetch of a yt-dlp video, are decided in :mod:`groundprobe.ingest.download_plan`.
"""

from __future__ import annotations

import http.client
import json
import logging
import math
import shutil
import time
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pandas as pd
from yt_dlp.utils import DownloadError

from groundprobe.ingest import ytdlp_download as ytdlp
from groundprobe.ingest.download_plan import DownloadFailure, DownloadSettings, plan_video
from groundprobe.features.decode import DecodeError, probe_video
from groundprobe.io import atomic_output
from groundprobe.ingest.qc import QcRecord

# The download table, one row per manifest video. captions_path: the track later stages read, of
# caption_kind 'auto' (ASR) or 'manual'; manual_captions_path: the English human track when there
# is one; english_tracks: which English tracks exist ('auto', 'manual', 'auto;manual'; for local
# and http sources the manifest's caption_kind); language: the spoken (ASR) language; duration_s:
# seconds (ffprobe for ok rows, else yt-dlp's when known); reason_code: see REASON_CODES ('' when
# ok); the metadata columns (title ... live_status) come from yt-dlp, categories and tags joined
# by ';'. The info JSON holds everything yt-dlp reported.
DOWNLOAD_COLUMNS = [
    "video_id",
    "video_path",
    "captions_path",
    "caption_kind",
    "duration_s",
    "status",
    "reason",
    "source_type",
    "reason_code",
    "retryable",
    "manual_captions_path",
    "info_path",
    "english_tracks",
    "language",
    "title",
    "channel",
    "upload_date",
    "categories",
    "tags",
    "live_status",
]
STAGE = "download"
# Why a video was not ingested -> whether the next run of its shard tries it again.
REASON_CODES: dict[str, bool] = {
    "unavailable": False,  # private, deleted, removed, geo/age blocked, not found
    "live": False,  # a live stream, an announced one, or one not yet processed
    "no_captions": False,  # no caption track of an accepted kind (download.caption_kinds)
    "not_english": False,  # tracks exist, but the spoken (ASR) or caption language is not wanted
    "too_short": False,  # shorter than download.min_duration_s
    "undecodable": False,  # the file arrived but ffprobe cannot read it
    "download_failed": True,  # network error, timeout, stalled or truncated transfer
}
ERROR_CODES = {
    ytdlp.ErrorKind.UNAVAILABLE: "unavailable",
    ytdlp.ErrorKind.LIVE: "live",
    ytdlp.ErrorKind.TRANSIENT: "download_failed",
}
MARKER = "done.json"
# Sources whose video files the pipeline fetched itself (and so may delete): never the user's.
FETCHED_SOURCE_TYPES = ("http", "ytdlp")
PRUNED_COLUMNS = ["video_id", "video_path", "bytes_freed"]
log = logging.getLogger(__name__)


def _http_error_code(error: BaseException) -> str:
    """Reason code of a failed HTTP fetch: a client error other than timeout/throttling is final."""
    if isinstance(error, urllib.error.HTTPError):
        final = 400 <= error.code < 500 and error.code not in (408, 429)
        return "unavailable" if final else "download_failed"
    return "unavailable" if isinstance(error, ValueError) else "download_failed"


def fetch_http(url: str, target: Path, timeout_s: float = 60.0) -> Path:
    """Download ``url`` to ``target`` atomically unless ``target`` already exists (then reuse it).

    ``url``: http:// or https:// only; any other scheme (file://, which would copy a local file)
    is a permanent ``unavailable`` failure. ``timeout_s``: seconds of silence after which the
    connection fails. A transfer that ends before its announced length fails too (http.client
    reads such a body to its end silently), so no partial file remains.
    """
    if not _is_remote(url):  # urllib also opens file://, ftp:// and data: URLs
        raise DownloadFailure("unavailable", f"cannot fetch {url}: only http:// and https:// URLs are fetched")
    if target.exists():
        return target
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response, atomic_output(target) as tmp:
            with open(tmp, "wb") as out:
                shutil.copyfileobj(response, out)
            announced, received = response.headers.get("Content-Length"), tmp.stat().st_size
            if announced is not None and received < int(announced):
                # Not IncompleteRead(b"", ...), whose message says "0 bytes read".
                raise http.client.HTTPException(f"transfer ended after {received} of the {announced} bytes announced")
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as error:
        raise DownloadFailure(_http_error_code(error), f"cannot fetch {url}: {error}") from error
    return target


def localise(source: str, source_type: str, target_stem: Path, timeout_s: float = 60.0) -> Path:
    """A local path for ``source``: the file itself when local, else a fetched copy."""
    if source_type == "local":
        path = Path(source)
        if not path.is_file():
            raise DownloadFailure("unavailable", f"file not found: {source}")
        return path
    suffix = Path(urlparse(source).path).suffix or ".bin"
    return fetch_http(source, target_stem.with_name(target_stem.name + suffix), timeout_s)


def _is_remote(location: str) -> bool:
    return urlparse(location).scheme in ("http", "https")


def _record(row: Any) -> dict:
    """A failed download row for manifest ``row``, to be filled in."""
    title = getattr(row, "title", "")
    record = dict.fromkeys(DOWNLOAD_COLUMNS, "")
    record.update(
        video_id=row.video_id,
        source_type=row.source_type,
        caption_kind=row.caption_kind,
        title="" if pd.isna(title) else title,
        duration_s=math.nan,
        status="failed",
        retryable=False,
    )
    return record


def _fail(record: dict, code: str, reason: str) -> dict:
    record.update(status="failed", reason_code=code, reason=reason, retryable=REASON_CODES[code])
    return record


def ingest_video(row: Any, download_dir: Path, timeout_s: float = 60.0, captions_required: bool = True) -> dict:
    """Localise and probe one local/http manifest row (a namedtuple from ``itertuples``); without
    ``captions_required``, its caption file is neither needed nor read."""
    record = _record(row)
    stem = download_dir / row.video_id
    try:
        video = localise(row.source, row.source_type, stem, timeout_s)
    except DownloadFailure as error:
        return _fail(record, error.code, str(error))
    captions, english_tracks = "", ""
    if captions_required:
        if pd.isna(row.captions) or not row.captions:
            return _fail(record, "no_captions", "no caption file given")
        try:
            captions = localise_captions(row.captions, stem, timeout_s)
        except DownloadFailure as error:
            return _fail(record, error.code, f"captions: {error}")
        english_tracks = row.caption_kind
    try:
        info = probe_video(video)
    except DecodeError as error:
        return _fail(record, "undecodable", str(error))
    record.update(
        video_path=str(video),
        captions_path=captions,
        english_tracks=english_tracks,
        duration_s=round(info.duration_s, 3),
        status="ok",
    )
    return record


def localise_captions(location: str, stem: Path, timeout_s: float) -> str:
    """A local path of the caption file a manifest row names: the file itself, or a URL fetched
    to ``<stem>.captions<suffix>``. DownloadFailure ``no_captions`` when it is unavailable (the
    file or URL is not there), other codes as :func:`localise` raises them."""
    kind = "http" if _is_remote(location) else "local"
    try:
        return str(localise(location, kind, stem.with_name(stem.name + ".captions"), timeout_s))
    except DownloadFailure as error:
        if error.code == "unavailable":
            raise DownloadFailure("no_captions", error.reason) from None
        raise


def _metadata(info: dict) -> dict:
    """Table fields from yt-dlp's info (the full info stays in the info JSON)."""
    duration = info.get("duration")
    return {
        "title": info.get("title") or "",
        "channel": info.get("channel") or info.get("uploader") or "",
        "upload_date": info.get("upload_date") or "",
        "categories": ";".join(info.get("categories") or []),
        "tags": ";".join(info.get("tags") or []),
        "live_status": info.get("live_status") or "",
        "language": ytdlp.asr_track(info)[1] or info.get("language") or "",
        "duration_s": float(duration) if duration is not None else math.nan,
    }


def _discard_media(video_dir: Path, keep: Path) -> None:
    """Delete the fetched files of a video that failed after download, keeping its info JSON."""
    for path in video_dir.iterdir():
        if path != keep:
            path.unlink()


def _ytdlp_attempt(row: Any, video_dir: Path, settings: DownloadSettings) -> dict:
    """One attempt at a yt-dlp video, from an empty folder: extract, decide, download, probe."""
    record = _record(row)
    record["caption_kind"] = ""  # decided by download.caption_kinds once the tracks are known
    shutil.rmtree(video_dir, ignore_errors=True)
    video_dir.mkdir(parents=True)
    params = ytdlp.ytdlp_params(settings.ytdlp_options(), video_dir, row.video_id, log)
    try:
        info = ytdlp.extract(row.source, params)
    except DownloadError as error:
        return _fail(record, ERROR_CODES[ytdlp.classify_error(error)], ytdlp.error_message(error))
    info_path = ytdlp.write_info_json(info, video_dir / f"{row.video_id}.info.json")
    record.update(_metadata(info), info_path=str(info_path))
    for key in ytdlp.unusable_caption_keys(info):
        log.warning(
            "%s: caption track %r skipped: a track key names a file, so it must be "
            "letters, digits, _ - . only (not starting with '.')",
            row.video_id,
            key,
        )
    try:
        plan = plan_video(info, settings)
    except DownloadFailure as skip:
        return _fail(record, skip.code, skip.reason)
    record.update(caption_kind=plan.kind, english_tracks=plan.english_tracks)
    try:
        files = ytdlp.download(info, plan.wanted, params)
    except (DownloadError, ytdlp.MissingFileError) as error:
        return _fail(record, ERROR_CODES[ytdlp.classify_error(error)], ytdlp.error_message(error))
    try:
        duration_s = probe_video(files.video).duration_s
    except DecodeError as error:
        _discard_media(video_dir, keep=info_path)
        return _fail(record, "undecodable", str(error))
    if duration_s < settings.min_duration_s:  # yt-dlp did not know the duration beforehand
        _discard_media(video_dir, keep=info_path)
        return _fail(
            record, "too_short", f"{duration_s:.3f} s long, under download.min_duration_s ({settings.min_duration_s} s)"
        )
    record.update(
        status="ok",
        video_path=str(files.video),
        duration_s=round(duration_s, 3),
        captions_path=str(files.captions[plan.captions]) if plan.captions else "",
        manual_captions_path=str(files.captions[plan.manual]) if plan.manual else "",
    )
    return record


def _marker_paths(record: dict) -> list[str]:
    return [record[c] for c in ("video_path", "captions_path", "manual_captions_path", "info_path") if record[c]]


def read_marker(video_dir: Path, settings: DownloadSettings) -> dict | None:
    """The row a previous run settled for this video, or None when it must be fetched (again).

    Settled: the marker exists, was written under the same outcome-deciding settings, and says
    either ok with every file still present (a pruned video is fetched again) or a permanent
    failure.
    """
    try:
        marker = json.loads((video_dir / MARKER).read_text())
        record, written_under = marker["row"], marker["settings"]
    except (OSError, ValueError, KeyError, TypeError):
        return None  # no marker, or not one this code wrote: fetch again
    if written_under != settings.fingerprint() or record["retryable"]:
        return None
    if record["status"] == "ok" and not all(Path(p).is_file() for p in _marker_paths(record)):
        return None
    record["duration_s"] = math.nan if record["duration_s"] is None else record["duration_s"]
    return record


def write_marker(video_dir: Path, record: dict, settings: DownloadSettings) -> None:
    """Mark a video settled (atomically): written only once all its files are complete."""
    row = dict(record, duration_s=None if math.isnan(record["duration_s"]) else record["duration_s"])
    with atomic_output(video_dir / MARKER) as tmp:
        tmp.write_text(json.dumps({"settings": settings.fingerprint(), "row": row}, indent=1))


def ingest_ytdlp(row: Any, download_dir: Path, settings: DownloadSettings) -> dict:
    """Fetch one ``ytdlp`` manifest row into ``download_dir/<video_id>/``; returns its download row.

    Files: ``<id>.<ext>`` (the video), ``<id>.<lang>.vtt`` (ASR captions), ``<id>.<lang>-manual.vtt``
    (human captions), ``<id>.info.json`` (everything yt-dlp reported, all caption tracks listed)
    and ``done.json``, the completion marker holding the row. A video with a marker from the same
    settings is not fetched again (see :func:`read_marker`). Transient failures are retried up to
    ``video_attempts`` times with exponential back-off; if all fail the folder is emptied, so
    that nothing partial survives, and the next run tries again.
    """
    video_dir = download_dir / row.video_id
    settled = read_marker(video_dir, settings)
    if settled is not None:
        return settled
    for attempt in range(settings.video_attempts):
        if attempt:
            time.sleep(settings.retry_backoff_s * 2 ** (attempt - 1))
        record = _ytdlp_attempt(row, video_dir, settings)
        if not record["retryable"]:
            write_marker(video_dir, record, settings)
            return record
        log.info(
            "%s: attempt %d of %d failed: %s", row.video_id, attempt + 1, settings.video_attempts, record["reason"]
        )
    shutil.rmtree(video_dir, ignore_errors=True)
    return dict(record, info_path="")  # the info JSON went with the folder


def _captions_given(row: Any) -> bool:
    """Whether a manifest row names its own caption file."""
    return isinstance(row.captions, str) and row.captions != ""


def _with_given_captions(record: dict, row: Any, download_dir: Path, timeout_s: float) -> dict:
    """A fetched ``ytdlp`` row's download row with the caption file its manifest row names
    (:func:`localise_captions`, as a local/http row's) as its captions, of the row's kind."""
    if record["status"] != "ok":
        return record
    try:
        captions = localise_captions(row.captions, download_dir / row.video_id / row.video_id, timeout_s)
    except DownloadFailure as error:
        return _fail(dict(record), error.code, f"captions: {error}")
    return dict(record, captions_path=captions, caption_kind=row.caption_kind, english_tracks=row.caption_kind)


def ingest_shard(
    videos: pd.DataFrame, download_dir: str | Path, settings: DownloadSettings | None = None
) -> tuple[pd.DataFrame, list[QcRecord]]:
    """Ingest every manifest row of a shard; failures become QC records '<code>: <reason>'."""
    settings = settings or DownloadSettings()
    records = []
    for row in videos.itertuples():
        if row.source_type == "ytdlp" and _captions_given(row):
            # The table's own captions (e.g. HowTo100M's release): yt-dlp fetches the video only.
            record = ingest_ytdlp(row, Path(download_dir), replace(settings, captions_required=False))
            records.append(_with_given_captions(record, row, Path(download_dir), settings.socket_timeout_s))
        elif row.source_type == "ytdlp":
            records.append(ingest_ytdlp(row, Path(download_dir), settings))
        else:
            records.append(ingest_video(row, Path(download_dir), settings.socket_timeout_s, settings.captions_required))
    table = pd.DataFrame(records, columns=DOWNLOAD_COLUMNS)
    failed = table[table["status"] != "ok"]
    for row in failed.itertuples():
        log.warning("%s: %s failed: %s: %s", row.video_id, STAGE, row.reason_code, row.reason)
    return table, [QcRecord(r.video_id, STAGE, f"{r.reason_code}: {r.reason}") for r in failed.itertuples()]


class MissingVideoError(FileNotFoundError):
    """Downloaded video files that a later stage needs are gone."""


def require_video_files(videos: pd.DataFrame, rerun_hint: str) -> None:
    """Raise :class:`MissingVideoError` naming the videos (columns video_id, video_path) whose file
    is gone, e.g. deleted after feature extraction; ``rerun_hint`` says how to fetch them again."""
    missing = videos.loc[~videos["video_path"].map(lambda p: Path(p).is_file()), "video_id"].tolist()
    if missing:
        raise MissingVideoError(
            f"{len(missing)} downloaded video file(s) are gone: {', '.join(missing[:10])}"
            f"{' ...' if len(missing) > 10 else ''}. They were deleted after feature extraction "
            f"(download.delete_videos_after_features) or removed by hand; rerun the download of "
            f"this shard first: {rerun_hint}"
        )


def prune_videos(downloads: pd.DataFrame, download_dir: str | Path) -> pd.DataFrame:
    """Delete the video files the pipeline fetched (http, ytdlp) for a shard; returns what went.

    Files of ``local`` sources, and any file outside ``download_dir``, are never touched. Captions
    and info JSON stay. Columns: video_id, video_path, bytes_freed.
    """
    root = Path(download_dir).resolve()
    fetched = downloads[(downloads["status"] == "ok") & downloads["source_type"].isin(FETCHED_SOURCE_TYPES)]
    rows = []
    for row in fetched.itertuples():
        path = Path(row.video_path)
        if path.is_file() and root in path.resolve().parents:
            size = path.stat().st_size
            path.unlink()
            rows.append((row.video_id, row.video_path, size))
    return pd.DataFrame(rows, columns=PRUNED_COLUMNS)
