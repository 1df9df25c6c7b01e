"""Property-based tests (hypothesis) of the sources table reader (groundprobe.io.read_text_table,
write_text_table, count_table_rows) and the sources parsing (groundprobe.ingest.manifest).

- Cells of arbitrary text (quotes, commas, a leading '"', Unicode; in a CSV also tabs and line
  breaks) written by write_text_table, or by a reference writer (the csv module for CSV, a plain
  join for TSV), read back exactly; count_table_rows, the reconciliation's independent count,
  agrees.
- Arbitrary text or bytes either read or raise :class:`TableError`, and a table read has as many
  rows as count_table_rows counts.
- Any table of text cells becomes a manifest with every row (ids valid, text cells unchanged) or
  a :class:`ManifestError`; valid generated sources tables reach the manifest row for row.

Expected cells come from the generator, never from the code under test. Settings (examples,
derandomize, no database): the 'groundprobe' profile in tests/conftest.py.
"""

from __future__ import annotations

import csv
import gzip
import re
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from groundprobe.io import TableError, count_table_rows, read_text_table, write_text_table
from groundprobe.ingest.manifest import (
    CAPTION_KINDS,
    REQUIRED_COLUMNS,
    SOURCE_COLUMNS,
    SPLITS,
    VIDEO_ID,
    ManifestError,
    build_manifest,
    load_yt8m_vocabulary,
)

NAMES = ["t.tsv", "t.csv", "t.tsv.gz", "t.csv.gz"]
# A manifest costs ~10 ms: its properties run half the profile's examples.
HALF = settings(max_examples=settings().max_examples // 2)
# The labels the generated tables use (the whole vocabulary costs ~30 ms a manifest).
VOCABULARY = load_yt8m_vocabulary().query("Name in ['Cooking', 'Pet']")


@pytest.fixture(scope="module")
def workdir():
    with tempfile.TemporaryDirectory() as directory:
        yield Path(directory)


def is_csv(name: str) -> bool:
    return name.removesuffix(".gz").endswith(".csv")


def cells(csv_format: bool) -> st.SearchStrategy[str]:
    """Cell text: anything a format can hold, with quotes, separators and line breaks made
    likely. A tab-separated table cannot hold a tab or line break (\\r, \\n) in a cell."""
    special = st.text(st.sampled_from(['"', "'", ",", ";", " ", "\t", "\r", "\n", "a", "\u00e9"]), max_size=6)
    text = st.one_of(
        st.text(max_size=12),
        special,
        st.sampled_from(['"', '""', '"a', 'a"', '"a,b"']),
        st.builds(lambda tail: '"' + tail, st.text(max_size=6)),
    )
    return text if csv_format else text.map(lambda cell: re.sub(r"[\t\r\n]", "", cell))


@st.composite
def tables(draw, csv_format: bool) -> tuple[list[str], list[list[str]]]:
    """A header (distinct names, not all empty; the first not starting with a byte order mark,
    which the reader drops as spreadsheet programs write one) and rows of cells."""
    header = draw(
        st.lists(cells(csv_format), min_size=1, max_size=4, unique=True).filter(
            lambda names: any(names) and not names[0].startswith("\ufeff")
        )
    )
    rows = draw(st.lists(st.lists(cells(csv_format), min_size=len(header), max_size=len(header)), max_size=6))
    return header, rows


def lost_as_empty_lines(header: list[str], rows: list[list[str]]) -> list[list[str]]:
    """The rows a tab-separated table holds: in a one-column table a row of one empty cell is an
    empty line, which the reader skips (documented)."""
    return [row for row in rows if len(header) > 1 or row != [""]]


def assert_reads_back(path: Path, header: list[str], rows: list[list[str]]) -> None:
    """The table at ``path`` reads as ``header`` and ``rows``, and count_table_rows counts them.

    The count is checked for tables of several columns, as sources tables are (video_id, source,
    split at least): in a one-column table a row of blanks is a blank line to pandas, which it
    skips, and a row to the reader (the reconciliation counts rows of sources tables only)."""
    table = read_text_table(path)
    assert list(table.columns) == header
    assert table.to_numpy().tolist() == rows
    if len(header) > 1:
        assert count_table_rows(path) == len(rows)


@given(data=st.data(), name=st.sampled_from(NAMES))
def test_written_tables_read_back_cell_for_cell(workdir, data, name):
    header, rows = data.draw(tables(is_csv(name)))
    path = workdir / name
    frame = pd.DataFrame(rows, columns=header, dtype=object)
    if not is_csv(name) and lost_as_empty_lines(header, rows) != rows:
        with pytest.raises(TableError, match="empty line"):
            write_text_table(frame, path)
        return
    write_text_table(frame, path)
    assert_reads_back(path, header, rows)


def reference_text(name: str, header: list[str], rows: list[list[str]], line_break: str) -> str:
    """A table as other programs write it: the csv module's standard CSV (CRLF line ends), or
    tab-joined lines."""
    if not is_csv(name):
        return "".join("\t".join(row) + line_break for row in [header] + rows)
    with tempfile.SpooledTemporaryFile(mode="w+", newline="") as handle:
        csv.writer(handle).writerows([header] + rows)
        handle.seek(0)
        return handle.read()


@given(
    data=st.data(),
    name=st.sampled_from(NAMES),
    line_break=st.sampled_from(["\n", "\r\n"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig"]),
)
def test_tables_written_by_other_programs_read_back_cell_for_cell(workdir, data, name, line_break, encoding):
    header, rows = data.draw(tables(is_csv(name)))
    path = workdir / name
    content = reference_text(name, header, rows, line_break).encode(encoding)
    path.write_bytes(gzip.compress(content) if name.endswith(".gz") else content)
    assert_reads_back(path, header, rows if is_csv(name) else lost_as_empty_lines(header, rows))


TABLE_FRAGMENTS = [
    "\t",
    ",",
    '"',
    '""',
    "\n",
    "\r\n",
    "\r",
    " ",
    "a",
    "video_id",
    "\ufeff",
    "\x00",
    "\u2028",
    "\x0c",
    "\u00e9",
]


@st.composite
def table_like_bytes(draw) -> bytes:
    """Random bytes, random text, or separators, quotes and line breaks strung together."""
    choice = draw(st.integers(0, 2))
    if choice == 0:
        return draw(st.binary(max_size=200))
    text = draw(
        st.text(max_size=80) if choice == 1 else st.lists(st.sampled_from(TABLE_FRAGMENTS), max_size=40).map("".join)
    )
    return text.encode(draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1"])), errors="replace")


@given(content=table_like_bytes(), name=st.sampled_from(NAMES), compress=st.booleans(), sources_header=st.booleans())
def test_any_bytes_read_as_a_table_or_are_a_table_error(workdir, content, name, compress, sources_header):
    """With a sources table's header (the pipeline counts rows only of tables that became a
    manifest, so with video_id, source and split), count_table_rows agrees with the reader. It
    need not for any header: pandas takes a header of blanks for no header at all."""
    separator = "," if is_csv(name) else "\t"
    if sources_header:
        content = separator.join(["video_id", "source", "split"]).encode() + b"\n" + content
    path = workdir / name
    path.write_bytes(gzip.compress(content) if compress and name.endswith(".gz") else content)
    try:
        table = read_text_table(path)
    except TableError as error:
        assert str(error).startswith(str(path))
        return
    assert all(isinstance(cell, str) for cell in table.to_numpy().flat)
    if sources_header:
        assert count_table_rows(path) == len(table)


# -- Sources tables to the manifest ------------------------------------------------------------


@st.composite
def any_sources(draw) -> pd.DataFrame:
    """A table of text cells with some of the sources table's columns (usually the required ones)
    and maybe an unknown one, each column's cells valid or (a quarter of the columns) arbitrary."""
    columns = draw(st.lists(st.sampled_from(SOURCE_COLUMNS + ["comment"]), unique=True))
    if draw(st.integers(0, 3)):
        columns = REQUIRED_COLUMNS + [c for c in columns if c not in REQUIRED_COLUMNS]
    n = draw(st.integers(0, 5))
    valid = {
        "video_id": st.from_regex(VIDEO_ID, fullmatch=True),
        "split": st.sampled_from(SPLITS),
        "source_type": st.sampled_from(["local", "", "local", "http", "ytdlp"]),
        "caption_kind": st.sampled_from(CAPTION_KINDS + ("",)),
        "source": st.sampled_from(["a.mp4", "https://example.org/v.mp4", "dQw4w9WgXcQ", "http://example.org/v?id=1"]),
        "captions": st.just(""),
        "verticals": st.just(""),
        "instructional": st.sampled_from(["", "0", "1", "1.0"]),
        "labels": st.sampled_from(["", "Cooking", "Cooking;Pet"]),
    }
    table = {}
    for column in columns:
        arbitrary = column not in valid or draw(st.integers(0, 3)) == 0
        table[column] = draw(st.lists(cells(False) if arbitrary else valid[column], min_size=n, max_size=n))
    return pd.DataFrame(table, columns=columns, dtype=object)


@HALF
@given(sources=any_sources(), shard_size=st.integers(1, 3))
def test_any_sources_table_becomes_a_manifest_of_every_row_or_a_manifest_error(sources, shard_size):
    try:
        manifest = build_manifest(sources, shard_size, vocabulary=VOCABULARY)
    except ManifestError:
        return
    assert manifest["video_id"].tolist() == sources["video_id"].tolist()
    assert all(VIDEO_ID.fullmatch(video_id) for video_id in manifest["video_id"])
    assert manifest["shard"].tolist() == [i // shard_size for i in range(len(sources))]
    for column in {"title", "captions", "labels"} & set(sources.columns):
        assert manifest[column].tolist() == sources[column].tolist()


@st.composite
def valid_sources(draw) -> list[dict[str, str]]:
    """Rows of a valid sources table of local and http videos; titles anything a TSV can hold."""
    ids = draw(st.lists(st.from_regex(VIDEO_ID, fullmatch=True), max_size=6, unique=True))
    return [
        {
            "video_id": video_id,
            "source_type": (kind := draw(st.sampled_from(["local", "http"]))),
            "source": f"videos/{video_id}.mp4" if kind == "local" else f"https://x.org/{video_id}",
            "split": draw(st.sampled_from(SPLITS)),
            "title": draw(cells(False)),
        }
        for video_id in ids
    ]


@HALF
@given(rows=valid_sources(), name=st.sampled_from(["sources.tsv", "sources.csv"]))
def test_a_valid_sources_table_reaches_the_manifest_row_for_row(workdir, rows, name):
    header = ["video_id", "source_type", "source", "split", "title"]
    path = workdir / name
    path.write_text(reference_text(name, header, [[row[c] for c in header] for row in rows], "\n"), newline="")
    manifest = build_manifest(read_text_table(path), shard_size=2, vocabulary=VOCABULARY)
    assert manifest[header].to_dict("records") == rows
    assert manifest["shard"].tolist() == [i // 2 for i in range(len(rows))]
    assert count_table_rows(path) == len(manifest)
