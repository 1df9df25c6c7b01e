"""yt-dlp adapter: what yt-dlp reports about one video, and fetching its files through the Python API.

This module holds the knowledge of yt-dlp's conventions: how it keys YouTube's caption tracks, what
its error messages mean, which options do what. What to do with a video (skip it, retry it, keep
it) is decided by the download stage, :mod:`groundprobe.ingest.download` and
:mod:`groundprobe.ingest.download_plan`.

Which caption track is YouTube's English ASR (the paper's "English ASR" videos): YouTube offers
the automatic track of a video machine-translated into every language, so an ``en`` key in
``automatic_captions`` is no evidence that anyone spoke English. yt-dlp's YouTube extractor
(``yt_dlp/extractor/youtube/_video.py``, caption loop) additionally lists each *untranslated* ASR
track under ``<lang>-orig`` ("Add an '-orig' label to the original language so that it can be
distinguished"), and sets the language of the audio formats from it. See :func:`asr_track`.
"""

from __future__ import annotations

import enum
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yt_dlp
from yt_dlp.networking.exceptions import HTTPError, TransportError
from yt_dlp.utils import ContentTooShortError, GeoRestrictedError, UnsupportedError

from groundprobe.io import atomic_output
from groundprobe.ingest.manifest import VIDEO_ID

# Untranslated ASR tracks are keyed '<lang>-orig' by yt-dlp's YouTube extractor.
ORIG_SUFFIX = "-orig"
# language_preference that yt-dlp's YouTube extractor gives the audio track YouTube names
# "original" (auto-dubbed videos also carry dubbed audio tracks, each with its own ASR track).
ORIGINAL_AUDIO_PREFERENCE = 10
CAPTION_EXT = "vtt"
# live_status values of a stream that is running, announced, or not yet processed into a video.
LIVE_STATUSES = ("is_live", "is_upcoming", "post_live")

# Substrings of yt-dlp error messages (lower-cased), checked in this order: live first, then the
# transient ones, because YouTube words some rate limits as "Video unavailable. ... try again later".
LIVE_MESSAGES = ("live event will begin", "premieres in", "live stream recording is not available")
TRANSIENT_MESSAGES = (
    "not a bot",
    "try again later",
    "rate-limit",
    "too many requests",
    "http error 429",
    "http error 5",
    "timed out",
    "timeout",
    "connection",
    "bytes read",
    "more expected",
    "incomplete read",
    "giving up after",
    # YouTube answers 403 on media URLs that expired or lack a PO token: a later try succeeds.
    "http error 403",
    # No format at all is, with a fallback selector, a failed player/JS challenge, not the video.
    "requested format is not available",
    "no video formats found",
)
UNAVAILABLE_MESSAGES = (
    "private video",
    "video unavailable",
    "has been removed",
    "been terminated",
    "no longer available",
    "available in your country",
    "geo restrict",
    "confirm your age",
    "age-restricted",
    "inappropriate",
    "members-only",
    "premium members",
    "registered users",
    "http error 401",
    "http error 404",
    "http error 410",
    "video not found",
    "unsupported url",
    "drm protected",
    "does not exist",
)


class ErrorKind(enum.Enum):
    """What a yt-dlp error says about the video."""

    UNAVAILABLE = "unavailable"  # private, removed, geo/age blocked, not found: it will not come
    LIVE = "live"  # a live stream or premiere that has not become a video yet
    TRANSIENT = "transient"  # network, rate limit, stalled or truncated transfer: try later


class MissingFileError(RuntimeError):
    """yt-dlp returned without error but a requested file is not on disk."""


@dataclass(frozen=True)
class YtdlpOptions:
    """The yt-dlp settings of a run (units in the names)."""

    format: str  # yt-dlp format selector
    socket_timeout_s: float  # a connection silent this long fails (bounds a stalled server)
    retries: int  # yt-dlp's retries of one request or fragment
    retry_backoff_s: float  # first wait before a retry; doubles with every further retry
    rate_limit: int  # bytes/s, 0 = unlimited
    sleep_s: float  # pause before each video file download (politeness)
    cookies: str  # Netscape cookie file, '' = none
    proxy: str  # proxy URL, '' = direct


@dataclass(frozen=True)
class Downloaded:
    """Files of one video that yt-dlp wrote."""

    video: Path
    captions: dict[str, Path]  # output name (see :func:`download`) -> WebVTT file


def error_message(error: BaseException) -> str:
    """yt-dlp's message on one line, without its 'ERROR: ' prefix."""
    text = " ".join(str(getattr(error, "msg", None) or error).split())
    return text.removeprefix("ERROR: ")


def _error_chain(error: BaseException) -> list[BaseException]:
    """The error and the errors that caused it (DownloadError keeps its cause in exc_info)."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        exc_info = getattr(current, "exc_info", None) or (None, None)
        current = exc_info[1] or getattr(current, "cause", None) or current.__cause__
    return chain


def _kind_from_type(error: BaseException) -> ErrorKind | None:
    if isinstance(error, (GeoRestrictedError, UnsupportedError)):
        return ErrorKind.UNAVAILABLE
    if isinstance(error, HTTPError):
        return ErrorKind.UNAVAILABLE if error.status in (401, 404, 410) else ErrorKind.TRANSIENT
    if isinstance(error, (TransportError, ContentTooShortError, MissingFileError, TimeoutError, ConnectionError)):
        return ErrorKind.TRANSIENT
    return None


def classify_error(error: BaseException) -> ErrorKind:
    """What a yt-dlp error (usually a ``DownloadError``) says about the video.

    The exception types in its cause chain decide when they are telling (an HTTP status, a
    geo restriction, a transport failure); otherwise its message does. Unknown errors count as
    transient: retrying costs one page request, dropping a good video costs the video.
    """
    for cause in _error_chain(error):
        kind = _kind_from_type(cause)
        if kind is not None:
            return kind
    message = error_message(error).lower()
    for kind, needles in (
        (ErrorKind.LIVE, LIVE_MESSAGES),
        (ErrorKind.TRANSIENT, TRANSIENT_MESSAGES),
        (ErrorKind.UNAVAILABLE, UNAVAILABLE_MESSAGES),
    ):
        if any(needle in message for needle in needles):
            return kind
    return ErrorKind.TRANSIENT


def live_status(info: dict) -> str | None:
    """The live status when the video is a running, announced or unprocessed stream, else None."""
    status = info.get("live_status")
    if status in LIVE_STATUSES:
        return status
    return "is_live" if status is None and info.get("is_live") else None


def _has_vtt(formats: list[dict] | None) -> bool:
    return any(f.get("ext") == CAPTION_EXT for f in formats or ())


def _names_a_file(key: str) -> bool:
    """Whether a caption track key may become part of a file name (``<id>.<key>.vtt``): the site
    reports the keys, so they are held to the rule for video ids (no '/', no leading '.')."""
    return VIDEO_ID.fullmatch(key) is not None


def vtt_keys(tracks: dict | None) -> list[str]:
    """Keys of a ``subtitles``/``automatic_captions`` dict that have a WebVTT rendition and may
    name a file (the others: :func:`unusable_caption_keys`)."""
    return [key for key, formats in (tracks or {}).items() if _has_vtt(formats) and _names_a_file(key)]


def unusable_caption_keys(info: dict) -> list[str]:
    """Keys of WebVTT caption tracks (ASR or manual) that :func:`vtt_keys` leaves out because they
    cannot name a file, e.g. 'en-/../../x': the stage logs them, and they count as absent."""
    return [
        key
        for field in ("automatic_captions", "subtitles")
        for key, formats in (info.get(field) or {}).items()
        if _has_vtt(formats) and not _names_a_file(key)
    ]


def original_audio_language(info: dict) -> str | None:
    """The language of the audio track YouTube marks as original, when exactly one is marked."""
    marked = {
        f["language"]
        for f in info.get("formats") or ()
        if f.get("language")
        and f.get("acodec") not in (None, "none")
        and (f.get("language_preference") or 0) >= ORIGINAL_AUDIO_PREFERENCE
    }
    return marked.pop() if len(marked) == 1 else None


def asr_track(info: dict) -> tuple[str | None, str | None]:
    """``(key, language)`` of the video's untranslated ASR track; ``(None, None)`` when unknown.

    The rule (English ASR = this language is English):

    1. Keys ``<lang>-orig`` are untranslated ASR tracks. One of them: that is the track. Several
       (YouTube auto-dubbing adds an ASR track per dubbed audio track): the one in the language
       of the audio track marked original (else ``info['language']``); none when undecidable.
    2. No ``-orig`` key (other sites; or a YouTube track yt-dlp could not list translations for):
       the tracks are untranslated. A single language is the track; with several, the one in
       ``info['language']``; else undecidable.

    Only tracks with a WebVTT rendition count.
    """
    keys = vtt_keys(info.get("automatic_captions"))
    originals = [key for key in keys if key.endswith(ORIG_SUFFIX)]
    if len(originals) == 1:
        return originals[0], originals[0].removesuffix(ORIG_SUFFIX)
    if originals:
        spoken = original_audio_language(info) or info.get("language")
        key = f"{spoken}{ORIG_SUFFIX}"
        return (key, spoken) if key in originals else (None, None)
    if len(keys) == 1:
        return keys[0], keys[0]
    spoken = info.get("language")
    return (spoken, spoken) if spoken in keys else (None, None)


def _log_adapter(log: logging.Logger) -> Any:
    """A yt-dlp logger (debug/warning/error methods) writing to ``log``.

    yt-dlp's own errors go to debug: the stage logs each failure once, with its reason code.
    """

    class Adapter:
        debug = staticmethod(log.debug)
        warning = staticmethod(log.warning)
        error = staticmethod(log.debug)

    return Adapter()


def ytdlp_params(options: YtdlpOptions, video_dir: Path, stem: str, log: logging.Logger) -> dict:
    """YoutubeDL parameters: files go to ``video_dir/<stem>.<ext>``, captions as WebVTT."""

    def backoff(n: int) -> float:
        """Seconds to wait after ``n`` retries of one request (yt-dlp's retry_sleep_functions)."""
        return options.retry_backoff_s * 2**n

    params: dict[str, Any] = {
        "format": options.format,
        "paths": {"home": str(video_dir)},
        "outtmpl": {"default": stem.replace("%", "%%") + ".%(ext)s"},
        "writesubtitles": True,
        "writeautomaticsub": True,
        "subtitleslangs": ["all"],
        "subtitlesformat": CAPTION_EXT,
        # Manual tracks machine-translated into every language are never wanted (and slow to list).
        "extractor_args": {"youtube": {"skip": ["translated_subs"]}},
        "noplaylist": True,
        "socket_timeout": options.socket_timeout_s,
        "retries": options.retries,
        "fragment_retries": options.retries,
        "extractor_retries": options.retries,
        "retry_sleep_functions": {"http": backoff, "fragment": backoff, "extractor": backoff},
        "ratelimit": options.rate_limit or None,
        "sleep_interval": options.sleep_s or None,
        # A video folder holds nothing trusted before the stage marks it complete: start afresh.
        "continuedl": False,
        "overwrites": True,
        "logger": _log_adapter(log),
        "quiet": True,
        "noprogress": True,
    }
    if options.cookies:
        params["cookiefile"] = options.cookies
    if options.proxy:
        params["proxy"] = options.proxy
    return params


def extract(url: str, params: dict) -> dict:
    """The info of the video at ``url``, formats selected, nothing downloaded (JSON-safe dict).

    Raises yt-dlp's ``DownloadError``; classify it with :func:`classify_error`.
    """
    with yt_dlp.YoutubeDL(params) as ydl:
        info = ydl.extract_info(url, download=False)
        return ydl.sanitize_info(info, remove_private_keys=True)


def write_info_json(info: dict, path: Path) -> Path:
    """Write the info of :func:`extract` (all caption tracks listed) atomically."""
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(info, ensure_ascii=False))
    return path


def download(info: dict, wanted: dict[str, tuple[str, str]], params: dict) -> Downloaded:
    """Download the selected format and the ``wanted`` caption tracks of an extracted video.

    ``wanted`` maps an output name to ``(field, key)``: the track ``info[field][key]`` (field
    ``automatic_captions`` or ``subtitles``) is written as ``<stem>.<name>.vtt``. The info is
    handed back to yt-dlp with only those tracks (yt-dlp processes a modified extractor result
    as it does a loaded info JSON), so that neither the page is fetched again nor a manual and an
    automatic track with the same key can be confused. Raises ``DownloadError`` or
    :class:`MissingFileError`.
    """
    chosen = dict(info, subtitles={}, automatic_captions={})
    for name, (field, key) in wanted.items():
        chosen[field][name] = [f for f in info[field][key] if f.get("ext") == CAPTION_EXT]
    with yt_dlp.YoutubeDL(params) as ydl:
        result = ydl.process_ie_result(chosen, download=True)
    # Paths under the folder as configured (yt-dlp makes the video's absolute, not the captions').
    home = Path(params["paths"]["home"])
    downloads = result.get("requested_downloads") or [{}]
    video = home / Path(downloads[0].get("filepath") or "").name
    subtitles = result.get("requested_subtitles") or {}
    captions = {name: home / Path(subtitles.get(name, {}).get("filepath") or "").name for name in wanted}
    missing = [name for name, path in {"video": video, **captions}.items() if not path.is_file()]
    if missing:
        raise MissingFileError(f"yt-dlp reported success but did not write: {', '.join(missing)}")
    return Downloaded(video=video, captions=captions)
