"""The language of every caption file, whatever its source: the words the ASR stage read from it
and, in WebVTT, its ``Language:`` header must both be in ``download.caption_languages``; a file
that is not becomes a QC row ``not_english`` (stage ``asr``) naming the detected language and its
confidence.

**The text.** The file's tokens (as the words table holds them: what training would use) are cut
into consecutive windows of at least :data:`WINDOW_CHARS` letters (whole tokens; a shorter rest
joins the last window). Each window is identified on its own, and the file's language is the one
of the majority of its text: the language whose windows hold the most letters (for
space-delimited languages, the majority of the words; letters also weigh scripts written without
spaces fairly). Its confidence is the share of the file's letters in windows of that language,
each weighted by the window's probability: 0.9 means nine tenths of the text confidently in it.
A file whose language is not accepted is ``not_english`` when that confidence reaches
``asr.language.min_confidence``; below it (text scattered over several languages, none clearly)
it is kept, and the log says so. A file with fewer than ``asr.language.min_chars`` letters is
too short to judge by its text: it is kept unless its header names a language not accepted.

**The header.** A WebVTT ``Language:`` header (YouTube writes the track's language there) that is
not accepted makes the file ``not_english`` whatever its text, since the producer says so.
Languages compare by primary subtag (``en`` accepts ``en-GB``), as the download stage does.

**The package: py3langid 0.4.0** (BSD-3-Clause; a maintained fork of langid.py, released
2026-09; naive Bayes over byte n-grams, 97 languages, its model shipped in the wheel: offline).
Measured 2026-12-04 against lingua-language-detector 2.1.1 (all 75 languages; the newest that
installs here), on the 5 real YouTube caption files of ../shared/realdata plus the demo corpus's
115 (English; 19K words) cut into windows, and made-up French, German, Russian, Japanese and
Spanish ASR-like text (lower case, no punctuation):

    window     English windows taken for another language        foreign windows right
               py3langid    lingua high   lingua low               py3langid  high   low
    5 words    88 of 3741   98            615                      35/37      34/37  28/37
    10 words   2 of 1900    2             49                       19/20      20/20  17/20
    20 words   0 of 982     0             2                        11/11      11/11  10/11

    cost       py3langid 6.6 us/word, lingua low 47, lingua high 231 (35x py3langid)
    load       py3langid 0.8 s; lingua high, all models preloaded, 12.7 s (1.5 GB peak, both modes)
    install    py3langid 4.6 MB (numpy only, pinned already); lingua 96 MB

With the check's own windows (100 letters, about 26 words of these files), py3langid took 1 of
the 714 English windows for another language, and every whole file for English (the demo's
lowest confidence 0.97). So py3langid is as accurate as lingua's high-accuracy mode on windows of ASR text at a
thirty-fifth of its time and a twentieth of its size. langid 1.1.6 (its parent) has had no
release since 2016; pycld3/gcld3 need protobuf builds and were last released in 2020-2021;
fasttext-langdetect downloads its model at run time.

**Cost** (``PYTHONPATH=. python benchmarks/caption_language.py``, 2026-12-04, figures in its
docstring): about 6 us of CPU per word, a fifth of the parse's own cost (44 ms for the largest
real file, 7,647 words, against 200 ms to parse it); at 640K videos of the real ASR files' mean
length, about 2 CPU hours added to the asr stage's ~10, plus a 0.5 s model load per shard job.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from py3langid.langid import MODEL_FILE, LanguageIdentifier

from groundprobe.captions.asr import STAGE

# read_caption_text: the parser's own decoding, so that the header is read as the cues were.
from groundprobe.captions.caption_files import read_caption_text
from groundprobe.ingest.download_plan import is_language
from groundprobe.ingest.qc import QcRecord

REASON_CODE = "not_english"
# Letters per window: about 20-26 English words, where English windows of the real and demo
# captions are no longer taken for another language (module docstring: 1 of 714).
WINDOW_CHARS = 100


class LanguageConfigError(ValueError):
    """An accepted language the identifier cannot name (it knows ISO 639-1 codes)."""


@dataclass(frozen=True)
class LanguageCheck:
    """What the check accepts: ``languages`` (primary subtags, download.caption_languages),
    ``min_confidence`` (0-1) for a not-accepted language to drop a file, ``min_chars`` letters
    below which the text is not judged."""

    languages: tuple[str, ...]
    min_confidence: float
    min_chars: int

    @classmethod
    def from_config(cls, languages: Sequence[str], language: Mapping[str, Any]) -> LanguageCheck:
        """From ``download.caption_languages`` and the ``asr.language`` block; raises
        :class:`LanguageConfigError` for a language the identifier does not know (it could never
        be detected, so every file would be dropped)."""
        known = set(identifier().labels)
        unknown = [code for code in languages if code.lower() not in known]
        if unknown:
            raise LanguageConfigError(
                f"download.caption_languages: {', '.join(unknown)} unknown to the caption language "
                f"check; allowed: ISO 639-1 codes ({', '.join(sorted(known))})"
            )
        return cls(tuple(languages), float(language["min_confidence"]), int(language["min_chars"]))

    def accepts(self, code: str) -> bool:
        return is_language(code, self.languages)


@dataclass(frozen=True)
class Verdict:
    """The check's findings for one file: ``language`` detected from the text ('' when the text
    is too short to judge) with its ``confidence`` (0-1), the text's ``letters`` and ``words``,
    the WebVTT ``header`` language ('' when none), and whether the file is ``accepted``."""

    language: str
    confidence: float
    letters: int
    words: int
    header: str
    accepted: bool

    def findings(self) -> str:
        """What was found, e.g. "text in 'ru' (confidence 0.97, 412 words); WebVTT header
        Language: ru"."""
        text = (
            f"text in '{self.language}' (confidence {self.confidence:.2f}, {self.words} words)"
            if self.language
            else f"text too short to judge ({self.letters} letters)"
        )
        return text + (f"; WebVTT header Language: {self.header}" if self.header else "")

    def reason(self, languages: Sequence[str]) -> str:
        """The QC reason: ``not_english: <findings>; accepted: <languages>``."""
        return f"{REASON_CODE}: {self.findings()}; accepted: {', '.join(languages)}"


@functools.cache
def identifier() -> LanguageIdentifier:
    """py3langid's model (shipped in its wheel) with probabilities normalised to sum to 1."""
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def webvtt_language(text: str) -> str:
    """The value of a WebVTT file's ``Language:`` header ('' when the text is not WebVTT or has
    none). Header lines follow the ``WEBVTT`` line up to the first blank line."""
    lines = text.splitlines()
    if not lines or not lines[0].startswith("WEBVTT"):
        return ""
    for line in lines[1:]:
        if not line.strip():
            break
        key, _, value = line.partition(":")
        if key.strip().lower() == "language":
            return value.strip()
    return ""


def windows(tokens: Sequence[str]) -> list[list[str]]:
    """Consecutive runs of whole tokens of at least WINDOW_CHARS letters; a shorter rest joins
    the last run (so a text shorter than one window is one run)."""
    runs: list[list[str]] = [[]]
    letters = 0
    for token in tokens:
        if letters >= WINDOW_CHARS:
            runs.append([])
            letters = 0
        runs[-1].append(token)
        letters += len(token)
    if len(runs) > 1 and letters < WINDOW_CHARS:
        runs[-2].extend(runs.pop())
    return runs


def detect_language(tokens: Sequence[str]) -> tuple[str, float]:
    """The language of the majority of the tokens' letters, judged window by window, and its
    confidence: the share of all letters in windows of that language, weighted by each window's
    probability (0-1). Ties go to the alphabetically first code."""
    letters_by: dict[str, int] = defaultdict(int)
    weighted_by: dict[str, float] = defaultdict(float)
    total = 0
    for run in windows(tokens):
        language, probability = identifier().classify(" ".join(run))
        letters = sum(map(len, run))
        letters_by[language] += letters
        weighted_by[language] += letters * probability
        total += letters
    language = min(letters_by, key=lambda code: (-letters_by[code], code))
    return language, weighted_by[language] / total


def judge(tokens: Sequence[str], header: str, check: LanguageCheck) -> Verdict:
    """The verdict on one file from its tokens and its WebVTT header language ('' = none)."""
    letters = sum(map(len, tokens))
    language, confidence = detect_language(tokens) if letters >= check.min_chars else ("", 0.0)
    text_foreign = bool(language) and not check.accepts(language) and (confidence >= check.min_confidence)
    header_foreign = bool(header) and not check.accepts(header)
    return Verdict(
        language, round(confidence, 4), letters, len(tokens), header, accepted=not (text_foreign or header_foreign)
    )


def check_caption_languages(
    words: pd.DataFrame, captions: Mapping[str, str | Path], check: LanguageCheck
) -> tuple[pd.DataFrame, list[QcRecord], dict[str, Verdict]]:
    """Drop from a words table (columns video_id, token, ...) the videos whose captions are not in
    an accepted language. ``captions``: video id -> caption file (read again for its header).

    Returns the words of the accepted videos (order kept), a ``not_english`` QC record (stage
    ``asr``) per dropped video, and every video's verdict (for the log).
    """
    verdicts: dict[str, Verdict] = {}
    for video_id, tokens in words.groupby("video_id", sort=False)["token"]:
        header = webvtt_language(read_caption_text(captions[video_id]))
        verdicts[video_id] = judge(tokens.astype(str).tolist(), header, check)
    rejected = [video_id for video_id, verdict in verdicts.items() if not verdict.accepted]
    qc = [QcRecord(video_id, STAGE, verdicts[video_id].reason(check.languages)) for video_id in rejected]
    kept = words[~words["video_id"].isin(rejected)].reset_index(drop=True)
    return kept, qc, verdicts
