"""HowTo100M's release format (Miech et al. 2019), the corpus Hessel et al. train M_Instructional on.

The release is ``HowTo100M_v1.csv`` (one row per video: video_id, category_1, category_2, rank,
task_id) and a caption file, ``caption.json`` or ``raw_caption.json`` (with stop words): one JSON
object mapping each video id to ``{"start": [...], "end": [...], "text": [...]}``, the video's ASR
caption lines and their spans in seconds. The caption file of the 1.2M videos holds gigabytes, so
it is read one video at a time (:func:`iter_caption_file`), never whole.

:func:`write_howto100m_sources` turns the release into a sources table (groundprobe.ingest.manifest)
and one WebVTT file per video: a cue per caption line, read as ASR (caption_kind ``auto``), whose
words the ASR stage spreads evenly over the line's span. Videos come from a folder of
``<video_id>.mp4`` files or, without one, from YouTube through yt-dlp (their captions are still the
release's).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Iterator, TextIO

import pandas as pd

from groundprobe.io import atomic_output, write_text_table
from groundprobe.ingest.manifest import SOURCE_COLUMNS, YOUTUBE_ID

VIDEO_COLUMNS = ["video_id", "category_1", "category_2", "rank", "task_id"]
# Characters of the caption file read at a time, and the most one video's entry may take.
READ_CHARS = 1 << 20
MAX_ENTRY_CHARS = 1 << 26


class HowTo100MError(ValueError):
    """The release's files are not in HowTo100M's format."""


def read_howto100m_videos(path: str | os.PathLike) -> pd.DataFrame:
    """``HowTo100M_v1.csv`` as a table of VIDEO_COLUMNS (all text; empty cells ''), in file order.
    Raises HowTo100MError for a missing column, an id that is not a YouTube id or a repeated id."""
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [column for column in VIDEO_COLUMNS if column not in table.columns]
    if missing:
        raise HowTo100MError(
            f"{path}: not HowTo100M's video list: no column {', '.join(missing)} (columns: {', '.join(table.columns)})"
        )
    bad = table.loc[~table["video_id"].str.fullmatch(YOUTUBE_ID.pattern), "video_id"]
    if len(bad):
        raise HowTo100MError(f"{path}: {len(bad)} video ids are not YouTube ids: {', '.join(map(repr, bad.head(5)))}")
    repeated = table.loc[table["video_id"].duplicated(), "video_id"]
    if len(repeated):
        raise HowTo100MError(f"{path}: video ids listed twice: {', '.join(repeated.head(5))}")
    return table[VIDEO_COLUMNS]


def nested_subset(video_ids: pd.Series, size: int | None) -> pd.Series:
    """The ``size`` videos (all when None) first in the order of sha256(video id): a fixed draw
    that does not depend on the file's order, and whose smaller subsets lie inside the larger (the
    supplement's 200K videos are part of its 600K). Returned in the input's order."""
    if size is None or size >= len(video_ids):
        return video_ids
    keys = video_ids.map(lambda video_id: hashlib.sha256(video_id.encode()).hexdigest())
    chosen = set(keys.sort_values(kind="stable").index[:size])
    return video_ids[video_ids.index.isin(chosen)]


def _skip_space(handle: TextIO, buffer: str, at: int) -> tuple[str, int]:
    """(buffer, index of its next non-blank character), reading more of ``handle`` as needed;
    the index equals len(buffer) at the end of the file."""
    while True:
        while at < len(buffer) and buffer[at] in " \t\r\n":
            at += 1
        if at < len(buffer):
            return buffer, at
        more = handle.read(READ_CHARS)
        if not more:
            return buffer, at
        buffer, at = more, 0


def _decode(handle: TextIO, buffer: str, at: int, decoder: json.JSONDecoder, path: str) -> tuple[object, str, int]:
    """(the JSON string or object at ``buffer[at:]``, buffer, index after it), reading more of
    ``handle`` until the value is complete (at most MAX_ENTRY_CHARS)."""
    while True:
        try:
            value, end = decoder.raw_decode(buffer, at)
            return value, buffer, end
        except json.JSONDecodeError as error:
            more = handle.read(READ_CHARS)
            if not more or len(buffer) - at > MAX_ENTRY_CHARS:
                raise HowTo100MError(f"{path}: not a JSON object of captions: {error}") from None
            buffer, at = buffer[at:] + more, 0


def iter_caption_file(path: str | os.PathLike) -> Iterator[tuple[str, dict]]:
    """``(video_id, {"start": [...], "end": [...], "text": [...]})`` for every entry of a
    HowTo100M caption file in file order, reading one entry at a time (memory: the largest
    entry, not the file). Raises HowTo100MError when the file is not one JSON object of such
    entries."""
    decoder, name = json.JSONDecoder(), str(path)
    with open(path, encoding="utf-8") as handle:
        buffer, at = _skip_space(handle, handle.read(READ_CHARS), 0)
        if buffer[at : at + 1] != "{":
            raise HowTo100MError(f"{name}: not a JSON object of captions (starts {buffer[at : at + 20]!r})")
        buffer, at = _skip_space(handle, buffer, at + 1)
        if buffer[at : at + 1] == "}":
            return
        while True:
            key, buffer, at = _decode(handle, buffer, at, decoder, name)
            buffer, at = _skip_space(handle, buffer, at)
            if not isinstance(key, str) or buffer[at : at + 1] != ":":
                raise HowTo100MError(f"{name}: not a JSON object of captions near {key!r}")
            buffer, at = _skip_space(handle, buffer, at + 1)
            entry, buffer, at = _decode(handle, buffer, at, decoder, name)
            yield key, check_caption_entry(key, entry, name)
            buffer, at = _skip_space(handle, buffer, at)
            if buffer[at : at + 1] == "}":
                return
            if buffer[at : at + 1] != ",":
                raise HowTo100MError(f"{name}: not a JSON object of captions after {key!r}")
            buffer, at = _skip_space(handle, buffer, at + 1)


def check_caption_entry(video_id: str, entry: object, path: str) -> dict:
    """The entry of ``video_id`` if it is ``{start, end, text}`` lists of equal length with
    numeric times; HowTo100MError otherwise."""
    if not isinstance(entry, dict) or not {"start", "end", "text"} <= set(entry):
        raise HowTo100MError(f"{path}: captions of {video_id}: not an object with start, end, text")
    start, end, text = entry["start"], entry["end"], entry["text"]
    if not (
        isinstance(start, list)
        and isinstance(end, list)
        and isinstance(text, list)
        and len(start) == len(end) == len(text)
    ):
        raise HowTo100MError(f"{path}: captions of {video_id}: start, end and text are not lists of one length")
    if not all(isinstance(t, (int, float)) and not isinstance(t, bool) for t in start + end):
        raise HowTo100MError(f"{path}: captions of {video_id}: a time is not a number")
    return entry


def _vtt_time(seconds: float) -> str:
    milliseconds = max(0, round(seconds * 1000))
    hours, rest = divmod(milliseconds, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"


def caption_vtt(entry: dict) -> str:
    """A WebVTT file of one video's caption lines: a cue per line with text, in the release's
    order, its span as given (a line ending before it starts spans nothing: its end is its
    start); line breaks inside a line become spaces."""
    cues = ["WEBVTT", ""]
    for start, end, text in zip(entry["start"], entry["end"], entry["text"]):
        line = " ".join(str(text).split())
        if not line:
            continue
        cues += [f"{_vtt_time(start)} --> {_vtt_time(max(start, end))}", line, ""]
    return "\n".join(cues)


def write_howto100m_sources(
    videos_csv: str | os.PathLike,
    captions: str | os.PathLike,
    videos_dir: str | os.PathLike | None,
    size: int | None,
    out_table: str | os.PathLike,
    captions_dir: str | os.PathLike,
) -> tuple[int, int]:
    """The sources table (SOURCE_COLUMNS) of the release's videos in ``nested_subset(size)``, in the
    video list's order, with a WebVTT caption file per video in ``captions_dir``
    (``<video_id>.vtt``, caption_kind auto). Source: ``<videos_dir>/<video_id>.mp4`` (local) when
    ``videos_dir`` is given, else the YouTube id (ytdlp). Labels: category_1 and category_2
    (HowTo100M's wikiHow categories); split train, instructional 1: every video is a training
    video of the instructional model. A listed video the caption file lacks keeps an empty
    captions cell: the download records it as ``no_captions`` (local) or takes YouTube's own
    captions (ytdlp). Captions of unlisted videos are skipped. Returns (videos written, videos with
    captions)."""
    listed = read_howto100m_videos(videos_csv)
    listed = listed.loc[nested_subset(listed["video_id"], size).index]
    wanted = set(listed["video_id"])
    out = Path(captions_dir)
    out.mkdir(parents=True, exist_ok=True)
    captioned: dict[str, str] = {}
    for video_id, entry in iter_caption_file(captions):
        if video_id in wanted and video_id not in captioned:
            path = out / f"{video_id}.vtt"
            with atomic_output(path) as tmp:
                Path(tmp).write_text(caption_vtt(entry), encoding="utf-8")
            captioned[video_id] = str(path)
    local = videos_dir not in (None, "")
    labels = [
        ";".join(dict.fromkeys(c for c in (c1, c2) if c)) for c1, c2 in zip(listed["category_1"], listed["category_2"])
    ]
    table = pd.DataFrame(
        {
            "video_id": listed["video_id"],
            "source": [str(Path(videos_dir) / f"{v}.mp4") for v in listed["video_id"]] if local else listed["video_id"],
            "source_type": "local" if local else "ytdlp",
            "captions": [captioned.get(v, "") for v in listed["video_id"]],
            "caption_kind": "auto",
            "title": "",
            "labels": labels,
            "verticals": "",
            "split": "train",
            "instructional": "1",
        }
    )[SOURCE_COLUMNS]
    write_text_table(table, out_table)
    return len(table), len(captioned)
