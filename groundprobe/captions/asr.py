"""ASR stage (rules asr and vocab): caption files (WebVTT or SRT) to one row per spoken token with
its own time, and the vocabulary. The files are read by :mod:`groundprobe.captions.caption_files`,
their timed words by :mod:`groundprobe.captions.caption_words`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from groundprobe.captions.caption_files import CaptionError
from groundprobe.captions.caption_words import SOUND_DESCRIPTION, Word, read_captions
from groundprobe.ingest.qc import QcRecord

STAGE = "asr"
WORD_COLUMNS = ["video_id", "token", "start_s", "end_s"]
# One row per caption file read: its format (WebVTT or SRT), caption_kind as labelled, read_as the
# parser used.
READING_COLUMNS = ["video_id", "format", "caption_kind", "read_as"]
# Letters/digits with inner apostrophes; the typographic apostrophe is folded to ' first.
TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


def tokenize(text: str) -> list[str]:
    """Lower-case tokens: letters/digits with inner apostrophes; punctuation, [Music]-style
    sound descriptions and speaker marks dropped."""
    text = SOUND_DESCRIPTION.sub(" ", text.lower().replace("\u2019", "'"))
    return TOKEN.findall(text)


def words_table(video_id: str, words: Iterable[Word]) -> pd.DataFrame:
    """One row per token (columns WORD_COLUMNS); a word's tokens share its times, rounded to ms."""
    rows = [(video_id, token, round(w.start_s, 3), round(w.end_s, 3)) for w in words for token in tokenize(w.text)]
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
