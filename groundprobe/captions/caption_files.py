"""Caption files as read: WebVTT or SRT syntax, checked strictly, to cues (each with the line of its
timing, its times in seconds and its raw lines); :mod:`groundprobe.captions.caption_words` reads the
words of the cues.

The format is read from the content, not the file name: a file starting with WebVTT's mandatory
``WEBVTT`` header is WebVTT, any other file is read as SRT (comma or dot milliseconds, BOM, CRLF,
``<i>``/``<b>``/``<font>`` tags and ``{\\an8}`` position codes allowed); SBV, YouTube's XML
(srv1/srv2/srv3/ytt), TTML and json3 files are recognised and refused by name.

Reading is strict: a cue that cannot be read (a damaged timing line, times out of range or out of
order, text outside any cue, bytes that are not UTF-8) makes the whole file a
:class:`CaptionError` naming the file and the line, never a cue silently dropped: in rolling ASR
a dropped cue loses words, and the same holds for SRT.
"""

from __future__ import annotations

import codecs
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

import webvtt
from webvtt.errors import MalformedCaptionError, MalformedFileError

LINE_BREAK = re.compile(r"\r\n|\r|\n")
# Caption formats that are not read, told apart by their first characters so that the error names
# them (YouTube serves all of these; yt-dlp --sub-format vtt asks for WebVTT).
OTHER_FORMATS = [
    (re.compile(r"\s*\d+:\d{2}:\d{2}\.\d{3},\d+:\d{2}:\d{2}\.\d{3}"), "SBV (YouTube SubViewer)"),
    (
        re.compile(r"\s*(?:<\?xml[^>]*\?>\s*)?<(?:timedtext|transcript)\b"),
        "YouTube timed text XML (srv1/srv2/srv3/ytt)",
    ),
    (re.compile(r"\s*(?:<\?xml[^>]*\?>\s*)?<tt\b"), "TTML (XML)"),
    (re.compile(r"\s*\{\s*\"(?:wireMagic|events)\""), "YouTube json3"),
]


class CaptionError(ValueError):
    """A caption file that cannot be read, is not valid WebVTT or SRT, or holds a cue that cannot
    be read; the message names the file, and the line where one line is to blame."""


@dataclass(frozen=True)
class Cue:
    """One cue of a caption file as the reader returns it (times in seconds)."""

    line: int  # 1-based line number of its timing line in the file
    start_s: float
    end_s: float
    lines: list[str]  # raw lines, cue tags included


@dataclass(frozen=True)
class _Timing:
    line: int  # 1-based line number in the file
    start_ms: int
    end_ms: int


@dataclass(frozen=True)
class _Syntax:
    """How one caption format writes cue timings. ``time`` fully matches one time with the groups
    hours (or None), minutes, seconds, fraction; ``timing`` matches a valid timing line (the two
    times' groups in turn); ``timing_like`` matches any line meant as a timing, valid or damaged."""

    name: str
    time_form: str  # the time as the format writes it, for messages
    time: re.Pattern[str]
    timing: re.Pattern[str]
    timing_like: re.Pattern[str]
    needs_cue_number: bool  # SRT: the line before a timing is its cue number
    keeps_empty_cues: bool  # webvtt-py keeps WebVTT cues without text, drops SRT ones


# WebVTT blocks that are not cues.
VTT_OTHER_BLOCK = re.compile(r"(?:NOTE|STYLE|REGION)(?:[ \t]|$)")
# Times as webvtt-py reads them correctly: WebVTT's fraction is a decimal fraction of a second
# (".5" is 500 ms) and the hours are optional; SRT's must have three digits, as webvtt-py reads
# ",5" as 5 ms.
VTT_TIME = r"(?:(\d+):)?(\d{1,2}):(\d{1,2})\.(\d{1,3})"
SRT_TIME = r"(\d+):(\d{1,2}):(\d{1,2})[,.](\d{3})"
VTT = _Syntax(
    name="WebVTT",
    time_form="hh:mm:ss.ttt",
    time=re.compile(VTT_TIME),
    # cue settings ("align:start position:0%") may follow the end time after white space
    timing=re.compile(rf"\s*{VTT_TIME}\s*-->\s*{VTT_TIME}(?=\s|$)"),
    # WebVTT cue text cannot hold "-->"; a line opening with a time with a fraction is a timing.
    timing_like=re.compile(r".*-->|\s*(?:\d+:)?\d+:\d+[.,]\d"),
    needs_cue_number=False,
    keeps_empty_cues=True,
)
SRT = _Syntax(
    name="SRT",
    time_form="hh:mm:ss,mmm",
    time=re.compile(SRT_TIME),
    # anything may follow the end time (some writers add X1:.. Y1:.. coordinates)
    timing=re.compile(rf"\s*{SRT_TIME}\s*-->\s*{SRT_TIME}(?!\d)"),
    # Caption text holding "-->" is taken for a damaged timing too: a reader cannot tell them apart.
    timing_like=re.compile(r"\s*\d+:\d+:\d+|.*-->"),
    needs_cue_number=True,
    keeps_empty_cues=False,
)


def _line_number(text: str) -> int:
    """The 1-based number of the line that follows ``text`` (any line break style)."""
    return len(LINE_BREAK.split(text))


def read_caption_text(path: str | os.PathLike) -> str:
    """The text of a caption file: UTF-8 (with or without a byte-order mark) or UTF-16 with one.

    Bytes that are not UTF-8 (Latin-1, Windows-1252) and NUL characters (UTF-16 without a
    byte-order mark reads as UTF-8 with a NUL before or after every ASCII letter) are errors that
    name their line.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise CaptionError(f"{path}: {type(error).__name__}: {error}") from error
    # Windows editors save "Unicode" SRT as UTF-16 with a BOM; everything else is UTF-8.
    encoding = "utf-16" if data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) else "utf-8-sig"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as error:
        line = _line_number(data[: error.start].decode(encoding, errors="replace"))
        name = encoding.removesuffix("-sig").upper()
        raise CaptionError(
            f"{path}: line {line}: not {name} (UnicodeDecodeError: {error.reason} at byte "
            f"{error.start}); captions must be UTF-8, or UTF-16 with a byte-order mark"
        ) from error
    if "\x00" in text:
        line = _line_number(text[: text.index("\x00")])
        raise CaptionError(
            f"{path}: line {line}: NUL character (UTF-16 without a byte-order "
            "mark?); captions must be UTF-8, or UTF-16 with a byte-order mark"
        )
    return text


def _milliseconds(hours: str | None, minutes: str, seconds: str, fraction: str) -> int:
    """A time's groups as matched by a ``_Syntax.time`` pattern, in milliseconds."""
    whole_s = (int(hours or 0) * 60 + int(minutes)) * 60 + int(seconds)
    return whole_s * 1000 + int(fraction.ljust(3, "0"))


def _range_problem(groups: tuple[str | None, ...]) -> str | None:
    """What is out of range in a valid timing line's times (minutes and seconds run to 59)."""
    for what, (_, minutes, seconds, _) in (("start", groups[:4]), ("end", groups[4:])):
        for unit, value in (("minutes", minutes), ("seconds", seconds)):
            if int(value) > 59:
                return f"{what} time has {unit} {value} (at most 59)"
    return None


def _timing_problem(line: str, syntax: _Syntax) -> str:
    """What is wrong with a line meant as a cue timing that ``syntax.timing`` does not match."""
    if "-->" not in line:
        return "no '-->' between start and end"
    start, _, rest = line.partition("-->")
    end = rest.split()[0] if rest.split() else ""  # cue settings may follow the end time
    for what, time in (("start", start.strip()), ("end", end)):
        if not time:
            return f"no {what} time"
        if not syntax.time.fullmatch(time):
            return f"{what} time {time!r} is not {syntax.time_form}"
    return f"not a {syntax.name} timing line"


def _parse_timing(line: str, n: int, syntax: _Syntax, path: str | os.PathLike) -> _Timing:
    """The timing on line ``n``, a line meant as one; raises :class:`CaptionError` naming the line
    if it cannot be read (webvtt-py would drop its cue, or read the timing as words) or ends before
    it starts."""
    match = syntax.timing.match(line)
    problem = _range_problem(match.groups()) if match else _timing_problem(line, syntax)
    if problem or match is None:
        raise CaptionError(f"{path}: line {n}: unreadable {syntax.name} cue timing {line.strip()!r}: {problem}")
    groups = match.groups()
    timing = _Timing(n, _milliseconds(*groups[:4]), _milliseconds(*groups[4:]))
    if timing.end_ms < timing.start_ms:
        raise CaptionError(f"{path}: line {n}: cue {line.strip()!r} ends before it starts")
    return timing


def _scan_timings(lines: list[str], syntax: _Syntax, path: str | os.PathLike) -> list[_Timing]:
    """The cue timings of a caption file's lines, each with its line number.

    Raises :class:`CaptionError` naming the line for a line meant as a timing that cannot be read
    (:func:`_parse_timing`), an SRT timing without its cue number, and a cue that starts before the
    previous one (cues must be in time order, as WebVTT requires; the rolling-cue rule reads them
    in order).
    """
    timings: list[_Timing] = []
    last_non_blank = ""
    for n, line in enumerate(lines, start=1):
        if syntax.timing_like.match(line):
            timing = _parse_timing(line, n, syntax, path)
            if syntax.needs_cue_number and not last_non_blank.isdigit():
                raise CaptionError(f"{path}: line {n}: {syntax.name} cue timing without a cue number before it")
            if timings and timing.start_ms < timings[-1].start_ms:
                previous = timings[-1]
                raise CaptionError(
                    f"{path}: line {n}: cue out of order: it starts at {timing.start_ms / 1000:.3f}"
                    f" s, before the cue of line {previous.line} ({previous.start_ms / 1000:.3f} s)"
                )
            timings.append(timing)
        last_non_blank = line.strip() or last_non_blank
    return timings


def _has_text(lines: list[str], timings: list[_Timing], i: int) -> bool:
    """Whether the SRT cue of ``timings[i]`` has a non-blank line of text: a line between its
    timing and the next cue's number (the last non-blank line before the next timing)."""
    last = i + 1 == len(timings)
    after = lines[timings[i].line :] if last else lines[timings[i].line : timings[i + 1].line - 1]
    text = [line for line in after if line.strip()]
    return bool(text if last else text[:-1])


def _check_vtt_blocks(lines: list[str], timing_lines: set[int], path: str | os.PathLike) -> None:
    """Raise :class:`CaptionError` for a WebVTT block after the header that is neither a cue (a
    timing on its first line, or on its second after a cue identifier) nor a NOTE, STYLE or REGION
    block: webvtt-py skips such a block, so its text (a cue whose timing line was lost) would be
    lost. Blocks end at empty lines only (a line of spaces is cue text, as YouTube writes it)."""
    in_block = True  # line 1 (WEBVTT) opens the header block
    for n, line in enumerate(lines, start=1):
        if not line:
            in_block = False
        elif not in_block:
            in_block = True
            if not ({n, n + 1} & timing_lines or VTT_OTHER_BLOCK.match(line)):
                raise CaptionError(f"{path}: line {n}: text outside any cue (a block without a timing line)")


def _refuse_other_formats(text: str, path: str | os.PathLike) -> None:
    """Raise :class:`CaptionError` naming the format of a file in a caption format not read here."""
    for pattern, name in OTHER_FORMATS:
        if pattern.match(text):
            raise CaptionError(
                f"{path}: {name} captions, which are not read: give WebVTT or SRT (yt-dlp --sub-format vtt)"
            )


def read_cues(path: str | os.PathLike) -> tuple[_Syntax, list[Cue]]:
    """The format (WebVTT or SRT) and the cues of a caption file.

    The format is told by WebVTT's mandatory ``WEBVTT`` header (a file without it cannot be
    WebVTT, whatever its extension, so it is read as SRT, unless its content names another format).
    webvtt-py reads the cues, leniently (YouTube's older WebVTT files omit the blank line between
    some cues); every timing line it must take was checked first (:func:`_scan_timings`), and every
    cue it returns is matched to its timing line, so that a cue it drops is an error naming its line
    (SRT cues without text excepted: the reader drops them, and they hold no words). Raises
    :class:`CaptionError` naming the file, and the line where one line is to blame.
    """
    text = read_caption_text(path)
    if not text.strip():  # else webvtt-py's "Invalid format": a 0-byte file is named as such
        raise CaptionError(f"{path}: empty file (nothing but white space): not valid SRT or WebVTT")
    if text.startswith("WEBVTT"):
        syntax = VTT
    else:
        _refuse_other_formats(text, path)
        syntax = SRT
    lines = LINE_BREAK.split(text)
    timings = _scan_timings(lines, syntax, path)
    if syntax is VTT:
        _check_vtt_blocks(lines, {timing.line for timing in timings}, path)
    try:
        # lstrip: blank lines before the first SRT cue number make the reader reject the file.
        captions = webvtt.from_buffer(
            io.StringIO(text.lstrip() if syntax is SRT else text), format="vtt" if syntax is VTT else "srt"
        ).captions
    except (MalformedFileError, MalformedCaptionError) as error:
        expected = "WebVTT" if syntax is VTT else "SRT (no WEBVTT header, so not WebVTT)"
        raise CaptionError(f"{path}: not valid {expected}: {type(error).__name__}: {error}") from error
    return syntax, _match_timings(captions, timings, lines, syntax, path)


def _match_timings(
    captions: list[webvtt.Caption], timings: list[_Timing], lines: list[str], syntax: _Syntax, path: str | os.PathLike
) -> list[Cue]:
    """webvtt-py's cues, each with the line of its timing (timings and cues are both in file
    order); raises :class:`CaptionError` for a timing whose cue the reader dropped (an SRT cue
    without text excepted) or a cue without a timing line."""
    cues: list[Cue] = []
    i = 0

    def read_by_reader(i: int) -> bool:
        # the SRT reader returns no cue for a timing without text, so none may be matched to it
        # (an empty cue timed like the next one took that cue's words and line)
        return syntax.keeps_empty_cues or _has_text(lines, timings, i)

    def check_dropped(i: int) -> None:
        if read_by_reader(i):
            raise CaptionError(
                f"{path}: line {timings[i].line}: cue block that the {syntax.name} "
                "reader cannot take (malformed; it would be dropped)"
            )

    for caption in captions:
        start_ms, end_ms = caption.start_time.in_milliseconds(), caption.end_time.in_milliseconds()
        while i < len(timings) and (
            (timings[i].start_ms, timings[i].end_ms) != (start_ms, end_ms) or not read_by_reader(i)
        ):
            check_dropped(i)
            i += 1
        if i == len(timings):
            raise CaptionError(f"{path}: cue {caption.start} --> {caption.end} read from no {syntax.name} timing line")
        cues.append(Cue(timings[i].line, start_ms / 1000, end_ms / 1000, list(caption.lines)))
        i += 1
    for rest in range(i, len(timings)):
        check_dropped(rest)
    return cues
