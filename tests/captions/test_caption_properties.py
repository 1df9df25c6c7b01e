"""Property-based tests (hypothesis) of the caption parsers (groundprobe.captions.caption_files and
groundprobe.captions.caption_words).

- Arbitrary text or bytes (random, caption-like fragments, damaged valid files) either read or
  raise :class:`CaptionError`, the documented error that the ASR stage turns into a QC row; any
  other exception would fail a whole shard.
- Generated human captions (SRT and WebVTT: random cue counts, times in order, words of Unicode
  letters and digits, styling tags, position codes, sound descriptions, speaker marks, encodings,
  line endings) read back as exactly the generated words, each with its share of its cue.
- Generated YouTube rolling ASR (WebVTT with word-time tags, and the same converted to SRT) is
  detected as ASR when labelled 'manual' and reads back as each spoken word once with its time.

Expected words and times come from the generator (it knows what it wrote), never from the parser.
Settings (examples, derandomize, no database): the 'groundprobe' profile in tests/conftest.py.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from groundprobe.captions.caption_files import CaptionError, read_caption_text
from groundprobe.captions.caption_words import Word, read_captions

# Cue times in ms: YouTube videos run up to ~12 h, so hours beyond 9 occur.
MAX_GAP_MS, MAX_CUE_MS = 4_000_000, 20_000
# A time in the parser's output is float seconds; the generator's are whole ms.
TIME_TOLERANCE_S = 1e-6


@pytest.fixture(scope="module")
def workdir():
    with tempfile.TemporaryDirectory() as directory:
        yield Path(directory)


# -- Writing -----------------------------------------------------------------------------------


def clock(ms: int, fraction_separator: str = ".", hours: bool = True) -> str:
    """``ms`` as hh:mm:ss.ttt (``hours`` False and under an hour: mm:ss.ttt, as WebVTT allows)."""
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, rest = divmod(rest, 1000)
    stamp = f"{m:02d}:{s:02d}{fraction_separator}{rest:03d}"
    return f"{h:02d}:{stamp}" if hours or h else stamp


@dataclass(frozen=True)
class Layout:
    """How a generated file is laid out around its cues: none of it may change the words."""

    line_break: str
    encoding: str  # 'utf-8', 'utf-8-sig' (BOM) or 'utf-16' (with its BOM)
    final_line_break: bool


layouts = st.builds(
    Layout, st.sampled_from(["\n", "\r\n"]), st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]), st.booleans()
)


def write(path: Path, lines: list[str], layout: Layout) -> Path:
    text = layout.line_break.join(lines) + (layout.line_break if layout.final_line_break else "")
    path.write_bytes(text.encode(layout.encoding))
    return path


# -- Human captions ------------------------------------------------------------------------------

# Words: Unicode letters and decimal digits (Latin, Cyrillic, CJK, Arabic-Indic digits...).
WORDS = st.text(st.characters(categories=["L", "Nd"]), min_size=1, max_size=8)
PUNCTUATION = st.sampled_from(["", "", ",", ".", "!", "?", ":", "\u2019s"])


@dataclass(frozen=True)
class Piece:
    """A piece of a caption line: its text as written, as displayed, and the word it is (None
    for a mark, a tag-only piece or a sound description: not speech)."""

    raw: str
    shown: str
    word: str | None


@st.composite
def word_pieces(draw, srt: bool) -> Piece:
    word = draw(WORDS) + draw(PUNCTUATION)
    tags = ["<i>{}</i>", "<b>{}</b>", "<u>{}</u>"] + (
        ['<font color="#ffff00">{}</font>'] if srt else ["<c.colorE5E5E5>{}</c>", "<c>{}</c>"]
    )
    raw = draw(st.sampled_from(["{}"] * 3 + tags)).format(word)
    return Piece(raw, word, word)


# Pieces that display but are not speech (sound descriptions, speaker marks, a lone entity), and
# tags that display nothing.
NOT_SPEECH = [
    Piece("[Music]", "[Music]", None),
    Piece("(upbeat music)", "(upbeat music)", None),
    Piece("-", "-", None),
    Piece("&gt;&gt;", ">>", None),
    Piece("&amp;", "&", None),
    Piece("\u266a", "\u266a", None),
]


def pieces(srt: bool) -> st.SearchStrategy[Piece]:
    marks = NOT_SPEECH + ([Piece(r"{\an8}", "", None)] if srt else [Piece("<v Ana>", "", None)])
    return st.one_of(word_pieces(srt), word_pieces(srt), st.sampled_from(marks))


@dataclass(frozen=True)
class Line:
    raw: str
    shown: str
    words: tuple[str, ...]


@st.composite
def caption_lines(draw, srt: bool) -> Line:
    """A caption line holding at least one word (so that no two lines of a file display the same
    text by chance, which would make them rolling cues)."""
    parts = draw(st.lists(pieces(srt), max_size=4))
    parts.insert(draw(st.integers(0, len(parts))), draw(word_pieces(srt)))
    return Line(
        " ".join(p.raw for p in parts),
        " ".join(p.shown for p in parts if p.shown),
        tuple(p.word for p in parts if p.word),
    )


@dataclass(frozen=True)
class Cue:
    start_ms: int
    end_ms: int
    lines: tuple[Line, ...]


@st.composite
def human_cues(draw, srt: bool) -> list[Cue]:
    """Cues in time order, none overlapping the next (gaps and zero-length cues allowed), each with
    0-3 lines; no two lines of the file display the same text (human captions do not roll)."""
    n = draw(st.integers(1, 6))
    # Deliberate: an SRT file of one cue without text is not SRT to webvtt-py ("Invalid format", a
    # CaptionError); it holds no word, which the ASR stage records as a QC row either way.
    least = 1 if srt and n == 1 else 0
    line_counts = draw(st.lists(st.integers(least, 3), min_size=n, max_size=n))
    lines = draw(
        st.lists(
            caption_lines(srt), min_size=sum(line_counts), max_size=sum(line_counts), unique_by=lambda line: line.shown
        )
    )
    cues, end_ms = [], 0
    for count in line_counts:
        start_ms = end_ms + draw(st.integers(0, MAX_GAP_MS))
        end_ms = start_ms + draw(st.integers(0, MAX_CUE_MS))
        cues.append(Cue(start_ms, end_ms, tuple(lines[:count])))
        lines = lines[count:]
    return cues


def spread(words: tuple[str, ...], start_ms: int, end_ms: int) -> list[tuple[str, float, float]]:
    """Words sharing a span evenly, as the module docstring defines human captions' word times."""
    step = (end_ms - start_ms) / 1000 / len(words) if words else 0
    return [(word, start_ms / 1000 + i * step, start_ms / 1000 + (i + 1) * step) for i, word in enumerate(words)]


def assert_words(words: list[Word], expected: list[tuple[str, float, float]]) -> None:
    assert [w.text for w in words] == [text for text, _, _ in expected]
    for word, (_, start_s, end_s) in zip(words, expected):
        assert word.start_s == pytest.approx(start_s, abs=TIME_TOLERANCE_S), word
        assert word.end_s == pytest.approx(end_s, abs=TIME_TOLERANCE_S), word


@st.composite
def srt_files(draw, cues: list[Cue]) -> list[str]:
    """The lines of an SRT file of ``cues``: increasing cue numbers, ',' or '.' before the ms,
    optionally blank lines before the first cue and X1/Y1 coordinates after a timing."""
    separator = draw(st.sampled_from([",", "."]))
    number = draw(st.integers(0, 5))
    lines = [""] * draw(st.integers(0, 2))
    for cue in cues:
        number += draw(st.integers(1, 3))
        coordinates = draw(st.sampled_from(["", "", "  X1:100 X2:600 Y1:40 Y2:80"]))
        lines += [
            str(number),
            f"{clock(cue.start_ms, separator)} --> {clock(cue.end_ms, separator)}{coordinates}",
            *(line.raw for line in cue.lines),
            "",
        ]
    return lines


@st.composite
def vtt_files(draw, cues: list[Cue]) -> list[str]:
    """The lines of a WebVTT file of ``cues``: a header (with or without a title and metadata),
    optionally a NOTE block, cue identifiers, cue settings and mm:ss.ttt times."""
    lines = [draw(st.sampled_from(["WEBVTT", "WEBVTT - a title"]))]
    lines += draw(st.sampled_from([[], ["Kind: captions", "Language: en"]])) + [""]
    if draw(st.booleans()):
        lines += ["NOTE made by hand,", "not by a machine", ""]
    for i, cue in enumerate(cues):
        if draw(st.booleans()):
            lines.append(draw(st.sampled_from([f"cue-{i}", str(i + 1)])))
        short = draw(st.booleans())
        settings = draw(st.sampled_from(["", " align:start position:10%", " line:0 size:80%"]))
        lines.append(f"{clock(cue.start_ms, hours=not short)} --> {clock(cue.end_ms, hours=not short)}{settings}")
        lines += [line.raw for line in cue.lines] + [""]
    return lines


@given(data=st.data(), srt=st.booleans(), layout=layouts, kind=st.sampled_from(["manual", "auto"]))
def test_generated_human_captions_read_back_as_their_words(workdir, data, srt, layout, kind):
    """Read as labelled; labelled 'auto', cues without word tags that do not roll are all new
    text, whose words share their cue as human captions' do."""
    cues = data.draw(human_cues(srt))
    lines = data.draw(srt_files(cues) if srt else vtt_files(cues))
    path = write(workdir / ("captions.srt" if srt else "captions.vtt"), lines, layout)
    reading = read_captions(path, kind)
    assert (reading.format, reading.read_as) == ("SRT" if srt else "WebVTT", kind)
    expected = [
        word for cue in cues for word in spread(sum((line.words for line in cue.lines), ()), cue.start_ms, cue.end_ms)
    ]
    assert_words(reading.words, expected)


# -- YouTube's rolling ASR -----------------------------------------------------------------------


@dataclass(frozen=True)
class SpokenLine:
    """A line of ASR: its words and each word's start in ms (the first at the cue start), shown
    by the cue [start_ms, end_ms] and frozen for 10 ms after; the next line's cue starts then or
    after a pause."""

    words: tuple[str, ...]
    word_starts_ms: tuple[int, ...]
    end_ms: int


@st.composite
def spoken_lines(draw) -> list[SpokenLine]:
    """1-6 distinct lines of 1-5 words each, times increasing."""
    texts = draw(
        st.lists(st.lists(WORDS, min_size=1, max_size=5).map(tuple), min_size=1, max_size=6, unique_by=" ".join)
    )
    lines, now_ms = [], draw(st.integers(0, MAX_GAP_MS))
    for words in texts:
        starts = [now_ms]
        for _ in words[1:]:
            starts.append(starts[-1] + draw(st.integers(0, 2000)))
        end_ms = starts[-1] + draw(st.integers(0, 2000))
        lines.append(SpokenLine(words, tuple(starts), end_ms))
        now_ms = end_ms + 10 + draw(st.one_of(st.just(0), st.integers(0, 5000)))
    return lines


def rolling_cues(
    lines: list[SpokenLine], timing: Callable[[int, int], str], tagged: Callable[[SpokenLine], str]
) -> list[list[str]]:
    """YouTube's rolling layout: each line's cue shows the previous line above it (the first
    cue a blank line), then a 10 ms cue freezes it above a blank line. ``timing(start, end)``
    writes a timing line; ``tagged(line)`` the new line as written."""
    cues, previous = [], " "
    for line in lines:
        cues.append([timing(line.word_starts_ms[0], line.end_ms), previous, tagged(line)])
        cues.append([timing(line.end_ms, line.end_ms + 10), " ".join(line.words), " "])
        previous = " ".join(line.words)
    return cues


def vtt_tagged(line: SpokenLine) -> str:
    """A line as YouTube writes it: the first word plain, each later word after its start tag."""
    return line.words[0] + "".join(
        f"<{clock(start)}><c> {word}</c>" for word, start in zip(line.words[1:], line.word_starts_ms[1:])
    )


def asr_vtt(lines: list[SpokenLine]) -> list[str]:
    cues = rolling_cues(lines, lambda s, e: f"{clock(s)} --> {clock(e)} align:start position:0%", vtt_tagged)
    return ["WEBVTT", "Kind: captions", "Language: en", ""] + [text for cue in cues for text in cue + [""]]


def asr_srt(lines: list[SpokenLine]) -> list[str]:
    """The same captions converted to SRT (yt-dlp --convert-subs srt): word tags lost."""
    cues = rolling_cues(lines, lambda s, e: f"{clock(s, ',')} --> {clock(e, ',')}", lambda line: " ".join(line.words))
    return [text for n, cue in enumerate(cues, start=1) for text in [str(n)] + cue + [""]]


def asr_vtt_words(lines: list[SpokenLine]) -> list[tuple[str, float, float]]:
    """Each word once: from its start to the next word's start, a line's last word to the end of
    its cue."""
    words = []
    for line in lines:
        ends = line.word_starts_ms[1:] + (line.end_ms,)
        words += [(word, start / 1000, end / 1000) for word, start, end in zip(line.words, line.word_starts_ms, ends)]
    return words


def asr_srt_words(lines: list[SpokenLine]) -> list[tuple[str, float, float]]:
    """Each word once, a line's words sharing its cue evenly (the tags are lost)."""
    return [word for line in lines for word in spread(line.words, line.word_starts_ms[0], line.end_ms)]


@given(lines=spoken_lines(), srt=st.booleans(), layout=layouts, kind=st.sampled_from(["auto", "manual"]))
def test_generated_rolling_asr_is_detected_and_read_once_per_word(workdir, lines, srt, layout, kind):
    path = write(workdir / ("asr.srt" if srt else "asr.vtt"), asr_srt(lines) if srt else asr_vtt(lines), layout)
    reading = read_captions(path, kind)
    assert (reading.format, reading.read_as) == ("SRT" if srt else "WebVTT", "auto")
    assert_words(reading.words, asr_srt_words(lines) if srt else asr_vtt_words(lines))


# -- Anything else: read, or a CaptionError ------------------------------------------------------

# Pieces of caption syntax that random text rarely holds: timings (damaged, huge, in Arabic-Indic
# digits), tags, block keywords, other formats' openings, encodings' marks.
FRAGMENTS = [
    "WEBVTT",
    "WEBVTT\n",
    "\n",
    "\n\n",
    "\r\n",
    "\r",
    " ",
    "-->",
    " --> ",
    "->",
    "1",
    "12",
    "00:00:01.000",
    "00:00:01,000",
    "00:01.5",
    "99:99:99.999",
    "1:2:3",
    ":",
    ".",
    ",",
    "<00:00:01.500>",
    "<c>",
    "</c>",
    "<i>",
    "</i>",
    "<",
    ">",
    "<v Ana>",
    r"{\an8}",
    "{",
    "}",
    "NOTE",
    "STYLE",
    "REGION",
    "align:start",
    "&amp;",
    "&",
    "[Music]",
    "(",
    ")",
    "[",
    "word",
    "слово",
    "\u65e5\u672c",
    "\ufeff",
    "\x00",
    "\u2028",
    "\t",
    "\u0663",
    "\u0660\u0660:\u0660\u0661.\u0660\u0660\u0660",
    "99999999999999999999:00:00.000",
    "<?xml version='1.0'?>",
    "<timedtext>",
    "<tt",
    '{"events"',
    "0:00:01.000,0:00:02.000",
]


def splice(lines: list[str], data: st.DataObject) -> str:
    """A valid file's text damaged: a few slices deleted, fragments inserted, lines repeated."""
    text = "\n".join(lines)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(text)))
        edit = data.draw(st.sampled_from(["delete", "insert", "repeat"]))
        if edit == "delete":
            text = text[:at] + text[at + data.draw(st.integers(1, 12)) :]
        elif edit == "insert":
            text = text[:at] + data.draw(st.sampled_from(FRAGMENTS)) + text[at:]
        else:
            line = data.draw(st.sampled_from(lines))
            text = text[:at] + line + "\n" + text[at:]
    return text


@st.composite
def caption_like_texts(draw) -> str:
    choice = draw(st.integers(0, 3))
    if choice == 0:
        return draw(st.text())
    if choice == 1:
        parts = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=3)), max_size=40)
        return draw(st.sampled_from(["", "WEBVTT\n\n"])) + "".join(draw(parts))
    srt = draw(st.booleans())
    if choice == 2:
        cues = draw(human_cues(srt))
        lines = draw(srt_files(cues) if srt else vtt_files(cues))
    else:
        lines = draw(spoken_lines().map(asr_srt if srt else asr_vtt))
    return splice(lines, draw(st.data()))


def assert_well_formed(words: list[Word]) -> None:
    """What any reading must satisfy: every word holds a letter or digit, and ends no earlier
    than it starts."""
    for word in words:
        assert any(c.isalnum() for c in word.text) and word.end_s >= word.start_s >= 0, word


@given(text=caption_like_texts(), encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]))
def test_any_text_reads_or_is_a_caption_error(workdir, text, encoding):
    path = workdir / "any.vtt"
    path.write_bytes(text.encode(encoding))
    for kind in ("auto", "manual"):
        try:
            reading = read_captions(path, kind)
        except CaptionError as error:
            assert str(error).startswith(f"{path}: ")
            continue
        assert_well_formed(reading.words)


@st.composite
def any_bytes(draw) -> bytes:
    """Random bytes, or text in an encoding the reader refuses (Latin-1, UTF-16 without a BOM)."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=200))
    text = draw(caption_like_texts())
    return text.encode(draw(st.sampled_from(["latin-1", "utf-16-le", "utf-16-be", "cp1252"])), errors="replace")


@given(data=any_bytes())
def test_any_bytes_read_as_text_or_are_a_caption_error(workdir, data):
    path = workdir / "any.srt"
    path.write_bytes(data)
    try:
        text = read_caption_text(path)
    except CaptionError as error:
        assert str(error).startswith(f"{path}: ")
        with pytest.raises(CaptionError):
            read_captions(path, "manual")
        return
    assert "\x00" not in text
    for kind in ("auto", "manual"):
        try:
            assert_well_formed(read_captions(path, kind).words)
        except CaptionError:
            pass
