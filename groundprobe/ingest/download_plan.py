"""What one video's download is to be, decided before any byte of it is fetched: the ``download``
settings (:class:`DownloadSettings`), the failure that ends a video (:class:`DownloadFailure`), and
for a yt-dlp video the checks on its extracted info and the caption tracks to fetch
(:func:`plan_video`, :func:`plan_captions`). The download stage itself is
:mod:`groundprobe.ingest.download`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from groundprobe.ingest import ytdlp_download as ytdlp


@dataclass(frozen=True)
class DownloadSettings:
    """The ``download`` config block (defaults as in config.yaml; units in the names)."""

    format: str = "bv*[height<=?{max_height}]/b[height<=?{max_height}]/wv*/w"  # yt-dlp selector
    max_height: int = 360  # pixels; fills {max_height} in ``format``
    caption_languages: tuple[str, ...] = ("en",)
    caption_kinds: tuple[str, ...] = ("auto",)  # accepted kinds, in order of preference
    min_duration_s: float = 5.0  # shorter yt-dlp videos are skipped (too_short)
    rate_limit: int = 0  # bytes/s, 0 = unlimited
    sleep_s: float = 5.0  # pause before each yt-dlp video download
    retries: int = 5  # yt-dlp's retries per request
    retry_backoff_s: float = 2.0  # first back-off; doubles per retry
    video_attempts: int = 2  # whole-video attempts per run (transient errors)
    socket_timeout_s: float = 30.0  # silence after which a connection fails
    cookies: str = ""  # Netscape cookie file; '' = none
    proxy: str = ""  # proxy URL; '' = direct
    # False: a video without an accepted caption track is fetched all the same (CrossTask's
    # videos: step localisation needs no speech).
    captions_required: bool = True

    @classmethod
    def from_config(cls, download: Mapping[str, Any]) -> DownloadSettings:
        """Settings from the ``download`` config block, ``min_duration_s`` already resolved."""
        fields = {name: download[name] for name in cls.__dataclass_fields__ if name in download}
        for name in ("caption_languages", "caption_kinds"):
            if name in fields:
                fields[name] = tuple(fields[name])
        return cls(**fields)

    def format_selector(self) -> str:
        """The yt-dlp format selector with the height limit filled in."""
        return self.format.replace("{max_height}", str(self.max_height))

    def fingerprint(self) -> dict[str, Any]:
        """The settings that decide a video's outcome; a completion marker holds only for these."""
        return {
            "format": self.format_selector(),
            "caption_languages": list(self.caption_languages),
            "caption_kinds": list(self.caption_kinds),
            "min_duration_s": self.min_duration_s,
            # Only when off, so that the markers of captioned corpora keep holding.
            **({} if self.captions_required else {"captions_required": False}),
        }

    def ytdlp_options(self) -> ytdlp.YtdlpOptions:
        """What yt-dlp itself needs."""
        return ytdlp.YtdlpOptions(
            format=self.format_selector(),
            socket_timeout_s=self.socket_timeout_s,
            retries=self.retries,
            retry_backoff_s=self.retry_backoff_s,
            rate_limit=self.rate_limit,
            sleep_s=self.sleep_s,
            cookies=self.cookies,
            proxy=self.proxy,
        )


class DownloadFailure(RuntimeError):
    """A video that does not arrive: ``code`` (one of
    :data:`groundprobe.ingest.download.REASON_CODES`) and a human ``reason``."""

    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code, self.reason = code, reason


@dataclass(frozen=True)
class CaptionPlan:
    """Which caption tracks of a yt-dlp video to fetch and which one the pipeline reads."""

    kind: str  # 'auto' or 'manual': the track the pipeline reads
    captions: str  # its output name (key of ``wanted``)
    manual: str | None  # output name of the English manual track, if any
    wanted: dict[str, tuple[str, str]]  # output name -> (info field, track key)
    english_tracks: str  # English tracks present: 'auto', 'manual', 'auto;manual'


def is_language(code: str, languages: tuple[str, ...]) -> bool:
    """Whether a language code ('en', 'en-GB') has one of ``languages`` as its primary subtag."""
    return code.split("-")[0].lower() in {language.lower() for language in languages}


def _preferred(keys: list[str], languages: tuple[str, ...]) -> str | None:
    """The track to use among those in ``languages``: an exact code in config order ('en' before
    'en-GB'), else the first by name."""
    exact = [language for language in languages if language in keys]
    return exact[0] if exact else min(keys, default=None)


def _caption_skip(
    info: dict, asr_language: str | None, manual_keys: list[str], languages: tuple[str, ...], kinds: tuple[str, ...]
) -> DownloadFailure:
    """Why no track was accepted: ``not_english`` if tracks of an accepted kind exist, else
    ``no_captions`` (naming kinds present but not accepted)."""
    auto_keys = ytdlp.vtt_keys(info.get("automatic_captions"))
    found = []
    if "auto" in kinds and auto_keys:
        found.append(
            f"ASR track in '{asr_language}'"
            if asr_language
            else "ASR tracks whose spoken language cannot be told apart from translations"
        )
    if "manual" in kinds and manual_keys:
        found.append(f"manual captions in {', '.join(manual_keys)}")
    if found:
        return DownloadFailure("not_english", f"{'; '.join(found)}; wanted {', '.join(languages)}")
    others = [kind for kind, keys in (("auto", auto_keys), ("manual", manual_keys)) if keys and kind not in kinds]
    return DownloadFailure(
        "no_captions",
        f"no {' or '.join(kinds)} captions"
        + (f" (only {', '.join(others)}, not accepted by download.caption_kinds)" if others else ""),
    )


def plan_captions(info: dict, languages: tuple[str, ...], kinds: tuple[str, ...]) -> CaptionPlan:
    """The caption tracks to fetch, by the first accepted kind with a track in ``languages``.

    'auto' is YouTube's ASR in the video's spoken language (the rule in
    :func:`groundprobe.ingest.ytdlp_download.asr_track`: auto-translations never count); 'manual' is a
    human track. An English manual track is fetched as well when present (name '<lang>-manual').
    Raises :class:`DownloadFailure`: ``no_captions`` when no track of an accepted kind exists,
    ``not_english`` when tracks exist but none in ``languages``.
    """
    asr_key, asr_language = ytdlp.asr_track(info)
    asr_ok = asr_language is not None and is_language(asr_language, languages)
    manual_keys = ytdlp.vtt_keys(info.get("subtitles"))
    manual_key = _preferred([key for key in manual_keys if is_language(key, languages)], languages)
    manual = f"{manual_key}-manual" if manual_key else None
    manual_wanted = {manual: ("subtitles", manual_key)} if manual else {}
    english = ";".join(kind for kind, present in (("auto", asr_ok), ("manual", manual)) if present)
    for kind in kinds:
        if kind == "auto" and asr_ok:
            wanted = {asr_language: ("automatic_captions", asr_key)} | manual_wanted
            return CaptionPlan("auto", asr_language, manual, wanted, english)
        if kind == "manual" and manual:
            return CaptionPlan("manual", manual, manual, manual_wanted, english)
    raise _caption_skip(info, asr_language, manual_keys, languages, kinds)


def plan_video(info: dict, settings: DownloadSettings) -> CaptionPlan:
    """Decide from the extracted info, before any video byte is fetched, whether to download.

    Checks, in this order: a single video (not a playlist), not live, captions
    (:func:`plan_captions`; when captions are not required, the plan fetches none), duration
    (when yt-dlp reports one) at least ``min_duration_s``.
    Raises :class:`DownloadFailure`; returns the caption plan otherwise.
    """
    if info.get("_type", "video") != "video":
        raise DownloadFailure(
            "unavailable",
            f"the source is a {info.get('_type')} ({len(info.get('entries') or [])} entries), not one video",
        )
    status = ytdlp.live_status(info)
    if status:
        raise DownloadFailure("live", f"live_status {status}: not a finished video")
    if settings.captions_required:
        plan = plan_captions(info, settings.caption_languages, settings.caption_kinds)
    else:
        plan = CaptionPlan(kind="", captions="", manual=None, wanted={}, english_tracks="")
    duration = info.get("duration")
    if duration is not None and duration < settings.min_duration_s:
        raise DownloadFailure(
            "too_short", f"{duration} s long, under download.min_duration_s ({settings.min_duration_s} s)"
        )
    return plan
