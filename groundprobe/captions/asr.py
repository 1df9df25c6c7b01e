"""ASR stage: caption files (WebVTT or SRT) to one row per spoken token with its own time, and the
vocabulary.

Automatic (YouTube ASR) captions in WebVTT carry a start time for every word: within a cue the
first word of a line starts at the cue start and each later word at the ``<hh:mm:ss.mmm>`` tag
before it. The same text is shown several times (rolling cues repeat the previous line, 10 ms cues
freeze the last line), so a line counts as spoken only when it is new: it carries word-time tags,
or it is not a repetition of the lines the previous cue showed. The same captions converted to SRT
(``yt-dlp --convert-subs srt``) have lost the word tags but keep the rolling cues, so they go
through the same rule, and the words of each new line share its cue evenly. Human captions have no
word timing; their words are spread evenly over the cue. All times are in seconds.

The format is read from the content, not the file name: a file starting with WebVTT's mandatory
``WEBVTT`` header is WebVTT, any other file is read as SRT (comma or dot milliseconds, BOM, CRLF,
``<i>``/``<b>``/``<font>`` tags and ``{\\an8}`` position codes allowed); SBV, YouTube's XML
(srv1/srv2/srv3/ytt), TTML and json3 files are recognised and refused by name. So is the kind: a
file labelled 'manual' whose content is YouTube's rolling ASR is read as 'auto' (the readings
table says so).

Reading is strict: a cue that cannot be read (a damaged timing line, times out of range or out of
order, text outside any cue, bytes that are not UTF-8) makes the whole file a
:class:`CaptionError` naming the file and the line, never a cue silently dropped: in rolling ASR
a dropped cue loses words, and the same holds for SRT.
"""

from __future__ import annotations

import codecs
import html
import io
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import webvtt
from webvtt.errors import MalformedCaptionError, MalformedFileError
from webvtt.models import Timestamp

from groundprobe.ingest.qc import QcRecord

STAGE = "asr"
WORD_COLUMNS = ["video_id", "token", "start_s", "end_s"]
# One row per caption file read: its format (WebVTT or SRT), caption_kind as labelled, read_as the
# parser used.
READING_COLUMNS = ["video_id", "format", "caption_kind", "read_as"]

WORD_TIME_TAG = re.compile(r"<((?:\d+:)?\d{1,2}:\d{1,2}\.\d{1,3})>")
CUE_TAG = re.compile(r"<[^>]*>")
# SSA/ASS override codes that SRT files borrow for position and style: {\an8}, {\i1}, {\pos(10,20)}.
ASS_OVERRIDE = re.compile(r"\{\\[^}]*\}")
LINE_BREAK = re.compile(r"\r\n|\r|\n")
# Sound descriptions as captioners write them: [Music], [Applause], (upbeat music).
SOUND_DESCRIPTION = re.compile(r"\[[^\]]*\]|\([^)]*\)")
# A "word" without any letter or digit is a mark, not speech: speaker dashes "- Hi", ">> Hi", "♪".
HAS_LETTER_OR_DIGIT = re.compile(r"[^\W_]")
# Letters/digits with inner apostrophes; the typographic apostrophe is folded to ' first.
TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
# YouTube's automatic captions roll: a cue opens with the last line the previous cue showed. In
# human captions that happens only where a line is really said twice; a file is taken for rolling
# ASR when at least this share of its consecutive cue pairs (cues with text) roll.
ROLLING_SHARE = 0.5
# Caption formats that are not read, told apart by their first characters so that the error names
# them (YouTube serves all of these; yt-dlp --sub-format vtt asks for WebVTT).
OTHER_FORMATS = [
    (re.compile(r"\s*\d+:\d{2}:\d{2}\.\d{3},\d+:\d{2}:\d{2}\.\d{3}"), "SBV (YouTube SubViewer)"),
    (re.compile(r"\s*(?:<\?xml[^>]*\?>\s*)?<(?:timedtext|transcript)\b"),
     "YouTube timed text XML (srv1/srv2/srv3/ytt)"),
    (re.compile(r"\s*(?:<\?xml[^>]*\?>\s*)?<tt\b"), "TTML (XML)"),
    (re.compile(r"\s*\{\s*\"(?:wireMagic|events)\""), "YouTube json3"),
]


class CaptionError(ValueError):
    """A caption file that cannot be read, is not valid WebVTT or SRT, or holds a cue that cannot
    be read; the message names the file, and the line where one line is to blame."""


@dataclass(frozen=True)
class Word:
    """One caption word (as written, punctuation included) and its time span in seconds."""

    text: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class _Cue:
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
    name="WebVTT", time_form="hh:mm:ss.ttt", time=re.compile(VTT_TIME),
    # cue settings ("align:start position:0%") may follow the end time after white space
    timing=re.compile(rf"\s*{VTT_TIME}\s*-->\s*{VTT_TIME}(?=\s|$)"),
    # WebVTT cue text cannot hold "-->"; a line opening with a time with a fraction is a timing.
    timing_like=re.compile(r".*-->|\s*(?:\d+:)?\d+:\d+[.,]\d"),
    needs_cue_number=False, keeps_empty_cues=True)
SRT = _Syntax(
    name="SRT", time_form="hh:mm:ss,mmm", time=re.compile(SRT_TIME),
    # anything may follow the end time (some writers add X1:.. Y1:.. coordinates)
    timing=re.compile(rf"\s*{SRT_TIME}\s*-->\s*{SRT_TIME}(?!\d)"),
    # Caption text holding "-->" is taken for a damaged timing too: a reader cannot tell them apart.
    timing_like=re.compile(r"\s*\d+:\d+:\d+|.*-->"),
    needs_cue_number=True, keeps_empty_cues=False)


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
    encoding = ("utf-16" if data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
                else "utf-8-sig")
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as error:
        line = _line_number(data[:error.start].decode(encoding, errors="replace"))
        name = encoding.removesuffix("-sig").upper()
        raise CaptionError(
            f"{path}: line {line}: not {name} (UnicodeDecodeError: {error.reason} at byte "
            f"{error.start}); captions must be UTF-8, or UTF-16 with a byte-order mark") from error
    if "\x00" in text:
        line = _line_number(text[:text.index("\x00")])
        raise CaptionError(f"{path}: line {line}: NUL character (UTF-16 without a byte-order "
                           "mark?); captions must be UTF-8, or UTF-16 with a byte-order mark")
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
        raise CaptionError(f"{path}: line {n}: unreadable {syntax.name} cue timing "
                           f"{line.strip()!r}: {problem}")
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
                raise CaptionError(f"{path}: line {n}: {syntax.name} cue timing without a cue "
                                   "number before it")
            if timings and timing.start_ms < timings[-1].start_ms:
                previous = timings[-1]
                raise CaptionError(
                    f"{path}: line {n}: cue out of order: it starts at {timing.start_ms / 1000:.3f}"
                    f" s, before the cue of line {previous.line} ({previous.start_ms / 1000:.3f} s)")
            timings.append(timing)
        last_non_blank = line.strip() or last_non_blank
    return timings


def _has_text(lines: list[str], timings: list[_Timing], i: int) -> bool:
    """Whether the SRT cue of ``timings[i]`` has a non-blank line of text: a line between its
    timing and the next cue's number (the last non-blank line before the next timing)."""
    last = i + 1 == len(timings)
    after = lines[timings[i].line:] if last else lines[timings[i].line:timings[i + 1].line - 1]
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
                raise CaptionError(f"{path}: line {n}: text outside any cue (a block without a "
                                   "timing line)")


def _refuse_other_formats(text: str, path: str | os.PathLike) -> None:
    """Raise :class:`CaptionError` naming the format of a file in a caption format not read here."""
    for pattern, name in OTHER_FORMATS:
        if pattern.match(text):
            raise CaptionError(f"{path}: {name} captions, which are not read: give WebVTT or SRT "
                               "(yt-dlp --sub-format vtt)")


def _read_cues(path: str | os.PathLike) -> tuple[_Syntax, list[_Cue]]:
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
        raise CaptionError(f"{path}: empty file (nothing but white space): not valid SRT or "
                           "WebVTT")
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
        captions = webvtt.from_buffer(io.StringIO(text.lstrip() if syntax is SRT else text),
                                      format="vtt" if syntax is VTT else "srt").captions
    except (MalformedFileError, MalformedCaptionError) as error:
        expected = "WebVTT" if syntax is VTT else "SRT (no WEBVTT header, so not WebVTT)"
        raise CaptionError(
            f"{path}: not valid {expected}: {type(error).__name__}: {error}") from error
    return syntax, _match_timings(captions, timings, lines, syntax, path)


def _match_timings(captions: list[webvtt.Caption], timings: list[_Timing], lines: list[str],
                   syntax: _Syntax, path: str | os.PathLike) -> list[_Cue]:
    """webvtt-py's cues, each with the line of its timing (timings and cues are both in file
    order); raises :class:`CaptionError` for a timing whose cue the reader dropped (an SRT cue
    without text excepted) or a cue without a timing line."""
    cues: list[_Cue] = []
    i = 0

    def read_by_reader(i: int) -> bool:
        # the SRT reader returns no cue for a timing without text, so none may be matched to it
        # (an empty cue timed like the next one took that cue's words and line)
        return syntax.keeps_empty_cues or _has_text(lines, timings, i)

    def check_dropped(i: int) -> None:
        if read_by_reader(i):
            raise CaptionError(f"{path}: line {timings[i].line}: cue block that the {syntax.name} "
                               "reader cannot take (malformed; it would be dropped)")

    for caption in captions:
        start_ms, end_ms = caption.start_time.in_milliseconds(), caption.end_time.in_milliseconds()
        while i < len(timings) and ((timings[i].start_ms, timings[i].end_ms) != (start_ms, end_ms)
                                    or not read_by_reader(i)):
            check_dropped(i)
            i += 1
        if i == len(timings):
            raise CaptionError(f"{path}: cue {caption.start} --> {caption.end} read from no "
                               f"{syntax.name} timing line")
        cues.append(_Cue(timings[i].line, start_ms / 1000, end_ms / 1000, list(caption.lines)))
        i += 1
    for rest in range(i, len(timings)):
        check_dropped(rest)
    return cues


def _plain(raw: str) -> str:
    """Displayed text of a raw cue line: tags and position codes removed, entities decoded,
    whitespace collapsed."""
    return " ".join(html.unescape(ASS_OVERRIDE.sub("", CUE_TAG.sub("", raw))).split())


def _spoken_words(text: str) -> list[str]:
    """Words of displayed text, without sound descriptions and speaker marks."""
    return [w for w in SOUND_DESCRIPTION.sub(" ", text).split() if HAS_LETTER_OR_DIGIT.search(w)]


def _spread(words: list[str], start_s: float, end_s: float) -> list[Word]:
    """Words sharing one time span, each given an equal consecutive share of it."""
    step = (end_s - start_s) / len(words) if words else 0.0
    return [Word(w, start_s + i * step, start_s + (i + 1) * step) for i, w in enumerate(words)]


def _carried_over(lines: list[str], raw_lines: list[str], previous: list[str]) -> int:
    """How many leading lines of a cue repeat the last lines the previous cue showed.

    ``lines`` are the displayed (plain) texts of the cue's non-blank lines, ``raw_lines`` the same
    lines with tags. A line with word-time tags is always new speech, so it cannot be carried over.
    """
    for n in range(min(len(lines), len(previous)), 0, -1):
        if (lines[:n] == previous[-n:]
                and not any(WORD_TIME_TAG.search(raw) for raw in raw_lines[:n])):
            return n
    return 0


def _timed_words(raw_text: str, start_s: float, end_s: float) -> list[Word]:
    """Words of the new text of one automatic cue, timed by its word-time tags.

    The text is split at the tags: the part before the first tag starts at the cue start, each
    later part at its tag; a part ends where the next begins (the last at the cue end, or at its
    own start if the tag lies past the cue end). Parts holding several words (untagged cues)
    share their span evenly.
    """
    pieces = WORD_TIME_TAG.split(raw_text)
    texts = pieces[0::2]
    starts = [start_s] + [Timestamp.from_string(t).in_milliseconds() / 1000 for t in pieces[1::2]]
    ends = starts[1:] + [max(end_s, starts[-1])]
    words: list[Word] = []
    for text, part_start, part_end in zip(texts, starts, ends):
        words.extend(_spread(_spoken_words(_plain(text)), part_start, part_end))
    return words


def _clip_to_next_start(words: list[Word]) -> list[Word]:
    """End every word no later than the next word starts (and never before its own start)."""
    clipped = [Word(w.text, w.start_s, max(w.start_s, min(w.end_s, nxt.start_s)))
               for w, nxt in zip(words, words[1:])]
    return clipped + words[-1:]


def _auto_words(cues: list[_Cue], path: str | os.PathLike) -> list[Word]:
    """Each spoken word of automatic-caption cues once (see :func:`parse_auto_captions`)."""
    words: list[Word] = []
    previous: list[str] = []
    for cue in cues:
        raw_lines = [raw for raw in cue.lines if _plain(raw)]
        lines = [_plain(raw) for raw in raw_lines]
        new_raw = raw_lines[_carried_over(lines, raw_lines, previous):]
        try:
            words.extend(_timed_words(" ".join(new_raw), cue.start_s, cue.end_s))
        except MalformedCaptionError as error:
            raise CaptionError(f"{path}: line {cue.line}: unreadable word time tag in the cue at "
                               f"{cue.start_s:.3f} s: {error}") from error
        previous = lines
    return _clip_to_next_start(words)


def _manual_words(cues: list[_Cue]) -> list[Word]:
    """Words of human-caption cues (see :func:`parse_manual_captions`)."""
    words: list[Word] = []
    for cue in cues:
        text = " ".join(_plain(raw) for raw in cue.lines)
        words.extend(_spread(_spoken_words(text), cue.start_s, cue.end_s))
    return _clip_to_next_start(words)


def parse_auto_captions(path: str | os.PathLike) -> list[Word]:
    """Each spoken word of an automatic-caption file once, with its own start and end (seconds).

    In SRT the blank cue that clears the screen after a pause is lost (the reader drops cues
    without text), so a line said again right after such a pause is taken for a repetition.
    """
    return _auto_words(_read_cues(path)[1], path)


def parse_manual_captions(path: str | os.PathLike) -> list[Word]:
    """Words of a human-caption file, each cue's words spread evenly over the cue (seconds).

    Speaker dashes and sound descriptions ((upbeat music), [Applause]) are not speech and are
    removed; a description may span the lines of a cue.
    """
    return _manual_words(_read_cues(path)[1])


def is_rolling_asr(cues: list[_Cue]) -> bool:
    """Whether cues are YouTube's automatic captions, told by their content: a word-time tag
    (``<00:00:01.500>``, written by ASR only), or rolling cues: at least ROLLING_SHARE of the
    consecutive pairs of cues with text open with the last line the previous cue showed (YouTube
    ASR converted to SRT has lost its tags but still rolls)."""
    if any(WORD_TIME_TAG.search(raw) for cue in cues for raw in cue.lines):
        return True
    shown = [lines for lines in ([_plain(raw) for raw in cue.lines if _plain(raw)] for cue in cues)
             if lines]
    pairs = list(zip(shown, shown[1:]))
    rolled = sum(current[0] == previous[-1] for previous, current in pairs)
    return bool(pairs) and rolled >= ROLLING_SHARE * len(pairs)


CAPTION_KINDS = ("auto", "manual")


@dataclass(frozen=True)
class CaptionReading:
    """One caption file as read: its format ('WebVTT' or 'SRT'), the parser used ('auto' or
    'manual') and the words (times in seconds)."""

    format: str
    read_as: str
    words: list[Word]


def read_captions(path: str | os.PathLike, kind: str) -> CaptionReading:
    """A WebVTT or SRT caption file labelled ``kind`` 'auto' (ASR) or 'manual' (human), read.

    A file labelled 'manual' whose content is YouTube's rolling ASR (:func:`is_rolling_asr`) is read
    as 'auto': read as human captions, each word of it would count two or three times.
    """
    if kind not in CAPTION_KINDS:
        raise ValueError(f"{path}: caption kind must be one of {sorted(CAPTION_KINDS)}, got {kind!r}")
    syntax, cues = _read_cues(path)
    read_as = "auto" if kind == "auto" or is_rolling_asr(cues) else "manual"
    words = _auto_words(cues, path) if read_as == "auto" else _manual_words(cues)
    return CaptionReading(syntax.name, read_as, words)


def parse_captions(path: str | os.PathLike, kind: str) -> list[Word]:
    """Words of a WebVTT or SRT caption file labelled ``kind`` 'auto' or 'manual' (see
    :func:`read_captions`: a rolling ASR file labelled 'manual' is read as 'auto')."""
    return read_captions(path, kind).words


def tokenize(text: str) -> list[str]:
    """Lower-case tokens: letters/digits with inner apostrophes; punctuation, [Music]-style
    sound descriptions and speaker marks dropped."""
    text = SOUND_DESCRIPTION.sub(" ", text.lower().replace("\u2019", "'"))
    return TOKEN.findall(text)


def words_table(video_id: str, words: Iterable[Word]) -> pd.DataFrame:
    """One row per token (columns WORD_COLUMNS); a word's tokens share its times, rounded to ms."""
    rows = [(video_id, token, round(w.start_s, 3), round(w.end_s, 3))
            for w in words for token in tokenize(w.text)]
    return pd.DataFrame(rows, columns=WORD_COLUMNS).astype({"start_s": float, "end_s": float})


def extract_shard_words(videos: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, list[QcRecord]]:
    """Token tables of a shard's videos (columns video_id, captions, caption_kind).

    Returns the words table (videos in input order, each sorted by start), the readings table (one
    row per caption file read, columns READING_COLUMNS: its format, its label ``caption_kind`` and
    ``read_as``, the parser used, 'auto' for a file labelled 'manual' that is rolling ASR), and a
    QC record for every video whose caption file is missing or unreadable, or holds no words.
    """
    tables: list[pd.DataFrame] = []
    readings: list[tuple[str, str, str, str]] = []
    qc: list[QcRecord] = []
    for row in videos.itertuples():
        if pd.isna(row.captions) or not str(row.captions):
            qc.append(QcRecord(row.video_id, STAGE, "caption file unreadable: no caption file given"))
            continue
        try:
            reading = read_captions(Path(row.captions), row.caption_kind)
        except CaptionError as error:
            qc.append(QcRecord(row.video_id, STAGE, f"caption file unreadable: {error}"))
            continue
        readings.append((row.video_id, reading.format, row.caption_kind, reading.read_as))
        table = words_table(row.video_id, reading.words)
        if table.empty:
            qc.append(QcRecord(row.video_id, STAGE, "no words in captions"))
            continue
        tables.append(table.sort_values("start_s", kind="stable"))
    words = pd.concat(tables, ignore_index=True) if tables else words_table("", [])
    return words, pd.DataFrame(readings, columns=READING_COLUMNS), qc


def count_tokens(words: pd.DataFrame) -> pd.Series:
    """How often each token occurs in a words table (index: token, values: int counts)."""
    return words["token"].astype(str).value_counts().rename("count").rename_axis("token")


def build_vocabulary(counts: pd.Series, min_count: int, max_size: int) -> pd.DataFrame:
    """Vocabulary table (token, count): tokens seen at least ``min_count`` times, the ``max_size``
    most frequent, ordered by count descending then token ascending (ties broken deterministically).
    Token id = row index + 1; 0 is padding.
    """
    table = pd.DataFrame({"token": counts.index.astype(str), "count": counts.to_numpy(dtype="int64")})
    table = table[table["count"] >= min_count]
    table = table.sort_values(["count", "token"], ascending=[False, True], kind="stable")
    return table.head(max_size).reset_index(drop=True)


def vocabulary_ids(vocabulary: pd.DataFrame) -> dict[str, int]:
    """Token -> id for a vocabulary table: id = row index + 1 (0 is the padding id)."""
    return {token: i + 1 for i, token in enumerate(vocabulary["token"])}
