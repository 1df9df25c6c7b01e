"""Timed words from caption cues (:mod:`groundprobe.captions.caption_files`): the words of automatic
(ASR) and manual (human) captions, each spoken word once with its own start and end.

Automatic (YouTube ASR) captions in WebVTT carry a start time for every word: within a cue the
first word of a line starts at the cue start and each later word at the ``<hh:mm:ss.mmm>`` tag
before it. The same text is shown several times (rolling cues repeat the previous line, 10 ms cues
freeze the last line), so a line counts as spoken only when it is new: it carries word-time tags,
or it is not a repetition of the lines the previous cue showed. The same captions converted to SRT
(``yt-dlp --convert-subs srt``) have lost the word tags but keep the rolling cues, so they go
through the same rule, and the words of each new line share its cue evenly. Human captions have no
word timing; their words are spread evenly over the cue. All times are in seconds.

The kind is read from the content, as the format is: a file labelled 'manual' whose content is
YouTube's rolling ASR is read as 'auto' (the readings table says so).
"""

from __future__ import annotations

import html
import os
import re
from dataclasses import dataclass

from webvtt.errors import MalformedCaptionError
from webvtt.models import Timestamp

from groundprobe.captions.caption_files import CaptionError, Cue, read_cues

WORD_TIME_TAG = re.compile(r"<((?:\d+:)?\d{1,2}:\d{1,2}\.\d{1,3})>")
CUE_TAG = re.compile(r"<[^>]*>")
# SSA/ASS override codes that SRT files borrow for position and style: {\an8}, {\i1}, {\pos(10,20)}.
ASS_OVERRIDE = re.compile(r"\{\\[^}]*\}")
# Sound descriptions as captioners write them: [Music], [Applause], (upbeat music).
SOUND_DESCRIPTION = re.compile(r"\[[^\]]*\]|\([^)]*\)")
# A "word" without any letter or digit is a mark, not speech: speaker dashes "- Hi", ">> Hi", "♪".
HAS_LETTER_OR_DIGIT = re.compile(r"[^\W_]")
# YouTube's automatic captions roll: a cue opens with the last line the previous cue showed. In
# human captions that happens only where a line is really said twice; a file is taken for rolling
# ASR when at least this share of its consecutive cue pairs (cues with text) roll.
ROLLING_SHARE = 0.5


@dataclass(frozen=True)
class Word:
    """One caption word (as written, punctuation included) and its time span in seconds."""

    text: str
    start_s: float
    end_s: float


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
        if lines[:n] == previous[-n:] and not any(WORD_TIME_TAG.search(raw) for raw in raw_lines[:n]):
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
    clipped = [Word(w.text, w.start_s, max(w.start_s, min(w.end_s, nxt.start_s))) for w, nxt in zip(words, words[1:])]
    return clipped + words[-1:]


def _auto_words(cues: list[Cue], path: str | os.PathLike) -> list[Word]:
    """Each spoken word of automatic-caption cues once (see :func:`parse_auto_captions`)."""
    words: list[Word] = []
    previous: list[str] = []
    for cue in cues:
        raw_lines = [raw for raw in cue.lines if _plain(raw)]
        lines = [_plain(raw) for raw in raw_lines]
        new_raw = raw_lines[_carried_over(lines, raw_lines, previous) :]
        try:
            words.extend(_timed_words(" ".join(new_raw), cue.start_s, cue.end_s))
        except MalformedCaptionError as error:
            raise CaptionError(
                f"{path}: line {cue.line}: unreadable word time tag in the cue at {cue.start_s:.3f} s: {error}"
            ) from error
        previous = lines
    return _clip_to_next_start(words)


def _manual_words(cues: list[Cue]) -> list[Word]:
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
    return _auto_words(read_cues(path)[1], path)


def parse_manual_captions(path: str | os.PathLike) -> list[Word]:
    """Words of a human-caption file, each cue's words spread evenly over the cue (seconds).

    Speaker dashes and sound descriptions ((upbeat music), [Applause]) are not speech and are
    removed; a description may span the lines of a cue.
    """
    return _manual_words(read_cues(path)[1])


def is_rolling_asr(cues: list[Cue]) -> bool:
    """Whether cues are YouTube's automatic captions, told by their content: a word-time tag
    (``<00:00:01.500>``, written by ASR only), or rolling cues: at least ROLLING_SHARE of the
    consecutive pairs of cues with text open with the last line the previous cue showed (YouTube
    ASR converted to SRT has lost its tags but still rolls)."""
    if any(WORD_TIME_TAG.search(raw) for cue in cues for raw in cue.lines):
        return True
    shown = [lines for lines in ([_plain(raw) for raw in cue.lines if _plain(raw)] for cue in cues) if lines]
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
    syntax, cues = read_cues(path)
    read_as = "auto" if kind == "auto" or is_rolling_asr(cues) else "manual"
    words = _auto_words(cues, path) if read_as == "auto" else _manual_words(cues)
    return CaptionReading(syntax.name, read_as, words)


def parse_captions(path: str | os.PathLike, kind: str) -> list[Word]:
    """Words of a WebVTT or SRT caption file labelled ``kind`` 'auto' or 'manual' (see
    :func:`read_captions`: a rolling ASR file labelled 'manual' is read as 'auto')."""
    return read_captions(path, kind).words
