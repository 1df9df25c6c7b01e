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
``<i>``/``<b>``/``<font>`` tags and ``{\\an8}`` position codes allowed).
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

from groundprobe.qc import QcRecord

STAGE = "asr"
WORD_COLUMNS = ["video_id", "token", "start_s", "end_s"]

WORD_TIME_TAG = re.compile(r"<((?:\d+:)?\d{1,2}:\d{1,2}\.\d{1,3})>")
CUE_TAG = re.compile(r"<[^>]*>")
# SSA/ASS override codes that SRT files borrow for position and style: {\an8}, {\i1}, {\pos(10,20)}.
ASS_OVERRIDE = re.compile(r"\{\\[^}]*\}")
# An SRT timing line as webvtt-py's SRT reader accepts it: comma or dot before the milliseconds,
# anything after the end time (some writers add X1:.. Y1:.. coordinates).
SRT_TIMESTAMP = r"\d+:\d{1,2}:\d{1,2}[,.]\d+"
SRT_TIMING = re.compile(rf"\s*{SRT_TIMESTAMP}\s*-->\s*{SRT_TIMESTAMP}")
# A line meant as an SRT timing: it holds an arrow or starts with an h:mm:ss time. (Caption text
# holding "-->" is taken for a damaged timing too: an SRT reader cannot tell them apart.)
SRT_TIMING_LIKE = re.compile(r"\s*\d+:\d+:\d+|.*-->")
LINE_BREAK = re.compile(r"\r\n|\r|\n")
# Sound descriptions as captioners write them: [Music], [Applause], (upbeat music).
SOUND_DESCRIPTION = re.compile(r"\[[^\]]*\]|\([^)]*\)")
# A "word" without any letter or digit is a mark, not speech: speaker dashes "- Hi", ">> Hi", "♪".
HAS_LETTER_OR_DIGIT = re.compile(r"[^\W_]")
# Letters/digits with inner apostrophes; the typographic apostrophe is folded to ' first.
TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


class CaptionError(ValueError):
    """A caption file that cannot be read or is not valid WebVTT or SRT; the message names it."""


@dataclass(frozen=True)
class Word:
    """One caption word (as written, punctuation included) and its time span in seconds."""

    text: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class _Cue:
    start_s: float
    end_s: float
    lines: list[str]  # raw lines, cue tags included


def _read_text(path: str | os.PathLike) -> str:
    """The text of a caption file: UTF-8 (with or without a byte-order mark) or UTF-16 with one."""
    try:
        data = Path(path).read_bytes()
        # Windows editors save "Unicode" SRT as UTF-16 with a BOM; everything else is UTF-8.
        utf16 = data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
        return data.decode("utf-16" if utf16 else "utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise CaptionError(f"{path}: {type(error).__name__}: {error}") from error


def _check_srt_timings(text: str, path: str | os.PathLike) -> None:
    """Raise :class:`CaptionError` for a line meant as a cue timing that the SRT reader would not
    take as one (it would drop that cue, or read the timing as words): every timing must be
    complete and follow its cue number (the last non-blank line before it)."""
    last_non_blank = ""
    for n, line in enumerate(LINE_BREAK.split(text), start=1):
        if SRT_TIMING_LIKE.match(line):
            if not SRT_TIMING.match(line):
                raise CaptionError(f"{path}: line {n}: unreadable SRT cue timing {line.strip()!r}")
            if not last_non_blank.isdigit():
                raise CaptionError(f"{path}: line {n}: SRT cue timing without a cue number "
                                   "before it")
        last_non_blank = line.strip() or last_non_blank


def _read_captions(path: str | os.PathLike) -> list[webvtt.Caption]:
    """Captions of a WebVTT or SRT file, told apart by WebVTT's mandatory ``WEBVTT`` header (a file
    without it cannot be WebVTT, whatever its extension, so it is read as SRT)."""
    text = _read_text(path)
    is_vtt = text.startswith("WEBVTT")
    try:
        if is_vtt:
            # Not strict: YouTube's older files omit the blank line between some cues.
            return webvtt.from_buffer(io.StringIO(text), format="vtt").captions
        _check_srt_timings(text, path)
        # lstrip: blank lines before the first cue number make the reader reject the file.
        return webvtt.from_buffer(io.StringIO(text.lstrip()), format="srt").captions
    except (MalformedFileError, MalformedCaptionError) as error:
        expected = "WebVTT" if is_vtt else "SRT (no WEBVTT header, so not WebVTT)"
        raise CaptionError(
            f"{path}: not valid {expected}: {type(error).__name__}: {error}") from error


def _read_cues(path: str | os.PathLike) -> list[_Cue]:
    """Cues of a WebVTT or SRT file; raises :class:`CaptionError` naming the file and the cause.

    SRT cues without text are dropped by the reader (WebVTT ones are kept).
    """
    cues = []
    for caption in _read_captions(path):
        start_s = caption.start_time.in_milliseconds() / 1000
        end_s = caption.end_time.in_milliseconds() / 1000
        if end_s < start_s:
            raise CaptionError(f"{path}: cue {caption.start} --> {caption.end} ends before it starts")
        cues.append(_Cue(start_s, end_s, list(caption.lines)))
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


def parse_auto_captions(path: str | os.PathLike) -> list[Word]:
    """Each spoken word of an automatic-caption file once, with its own start and end (seconds).

    In SRT the blank cue that clears the screen after a pause is lost (the reader drops cues
    without text), so a line said again right after such a pause is taken for a repetition.
    """
    words: list[Word] = []
    previous: list[str] = []
    for cue in _read_cues(path):
        raw_lines = [raw for raw in cue.lines if _plain(raw)]
        lines = [_plain(raw) for raw in raw_lines]
        new_raw = raw_lines[_carried_over(lines, raw_lines, previous):]
        try:
            words.extend(_timed_words(" ".join(new_raw), cue.start_s, cue.end_s))
        except MalformedCaptionError as error:
            raise CaptionError(
                f"{path}: word time tag in cue at {cue.start_s:.3f} s: {error}") from error
        previous = lines
    return _clip_to_next_start(words)


def parse_manual_captions(path: str | os.PathLike) -> list[Word]:
    """Words of a human-caption file, each cue's words spread evenly over the cue (seconds).

    Speaker dashes and sound descriptions ((upbeat music), [Applause]) are not speech and are
    removed; a description may span the lines of a cue.
    """
    words: list[Word] = []
    for cue in _read_cues(path):
        text = " ".join(_plain(raw) for raw in cue.lines)
        words.extend(_spread(_spoken_words(text), cue.start_s, cue.end_s))
    return _clip_to_next_start(words)


CAPTION_PARSERS = {"auto": parse_auto_captions, "manual": parse_manual_captions}


def parse_captions(path: str | os.PathLike, kind: str) -> list[Word]:
    """Words of a WebVTT or SRT caption file of ``kind`` 'auto' (ASR) or 'manual' (human)."""
    if kind not in CAPTION_PARSERS:
        raise ValueError(f"{path}: caption kind must be one of {sorted(CAPTION_PARSERS)}, got {kind!r}")
    return CAPTION_PARSERS[kind](path)


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


def extract_shard_words(videos: pd.DataFrame) -> tuple[pd.DataFrame, list[QcRecord]]:
    """Token tables of a shard's videos (columns video_id, captions, caption_kind).

    Returns the words table (videos in input order, each sorted by start) and a QC record for
    every video whose caption file is missing or unreadable, or holds no words.
    """
    tables: list[pd.DataFrame] = []
    qc: list[QcRecord] = []
    for row in videos.itertuples():
        if pd.isna(row.captions) or not str(row.captions):
            qc.append(QcRecord(row.video_id, STAGE, "caption file unreadable: no caption file given"))
            continue
        try:
            table = words_table(row.video_id, parse_captions(Path(row.captions), row.caption_kind))
        except CaptionError as error:
            qc.append(QcRecord(row.video_id, STAGE, f"caption file unreadable: {error}"))
            continue
        if table.empty:
            qc.append(QcRecord(row.video_id, STAGE, "no words in captions"))
            continue
        tables.append(table.sort_values("start_s", kind="stable"))
    words = pd.concat(tables, ignore_index=True) if tables else words_table("", [])
    return words, qc


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
