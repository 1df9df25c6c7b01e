"""The per-caption tables of the lexical OLS (groundprobe.analysis.lexical_ols), parsed one table
(a shard of whole videos) at a time: a split's captions with a segment AUC (INPUT_COLUMNS), their
tokens, controls and scopes (OVERALL and each category), gathered in a Frame (the sparse design of
controls then candidate-word indicators, the shifted AUC, video codes, scope membership); Frames
are streamed over a Tables factory per table (frames) and per scope (scope_blocks)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from groundprobe.evaluation.auc_by_category import label_names

OVERALL = "overall"
INPUT_COLUMNS = ["video_id", "split", "labels", "rel_position", "n_tokens", "tokens", "segment_auc"]

# A factory of the per-caption tables (columns INPUT_COLUMNS at least, one DataFrame per shard),
# called once per pass.
Tables = Callable[[], Iterable[pd.DataFrame]]


def split_captions(table: pd.DataFrame, split: str) -> pd.DataFrame:
    """The captions of ``split`` that have a segment AUC (INPUT_COLUMNS), index 0..n-1."""
    missing = sorted(set(INPUT_COLUMNS) - set(table.columns))
    if missing:
        raise ValueError(f"per-caption table lacks columns {missing}")
    rows = table.loc[(table["split"] == split) & table["segment_auc"].notna(), INPUT_COLUMNS]
    return rows.reset_index(drop=True)


def caption_words(tokens: pd.Series) -> tuple[np.ndarray, pa.Array]:
    """Every token of every caption as (caption row, word); ``tokens`` holds whitespace-separated
    tokens per row (missing = none). Repeats within a caption are kept."""
    text = pa.array(tokens.fillna("").astype(str).to_numpy(dtype=object), type=pa.string())
    lists = pc.utf8_split_whitespace(text)
    rows = pc.list_parent_indices(lists).to_numpy()
    words = pc.list_flatten(lists)
    nonempty = pc.not_equal(words, "")  # leading whitespace yields an empty first token
    return rows[nonempty.to_numpy(zero_copy_only=False)], words.filter(nonempty)


def control_matrix(rel_position: np.ndarray, n_tokens: np.ndarray, position_bins: int) -> np.ndarray:
    """(n, 4) controls, columns CONTROL_NAMES: 1, first-bin and last-bin indicators of the relative
    position (0 = start, 1 = end of the video), log of the token count."""
    rel_position = np.asarray(rel_position, dtype=np.float64)
    n_tokens = np.asarray(n_tokens, dtype=np.float64)
    if (n_tokens < 1).any():
        raise ValueError("every caption needs at least one token (log token count)")
    edge = 1.0 / position_bins
    return np.column_stack(
        [np.ones_like(rel_position), rel_position < edge, rel_position >= 1.0 - edge, np.log(n_tokens)]
    ).astype(np.float64)


def scope_membership(labels: pd.Series, scopes: dict[str, int]) -> sp.csc_matrix:
    """(rows, len(scopes)) 0/1: caption i belongs to scope j. OVERALL (when in ``scopes``) holds
    every caption, a category the captions whose ';'-separated ``labels`` name it."""
    codes, cells = pd.factorize(labels.fillna("").astype(str))
    cell_scopes = [
        [scopes[name] for name in dict.fromkeys([OVERALL] + label_names(text)) if name in scopes] for text in cells
    ]
    cell_idx = np.repeat(np.arange(len(cells)), [len(s) for s in cell_scopes])
    scope_idx = np.array([j for s in cell_scopes for j in s], dtype=np.int64)
    by_cell = sp.csr_matrix((np.ones(len(scope_idx)), (cell_idx, scope_idx)), shape=(len(cells), len(scopes)))
    one_hot = sp.csr_matrix((np.ones(len(codes)), (np.arange(len(codes)), codes)), shape=(len(codes), len(cells)))
    return (one_hot @ by_cell).tocsc()


def video_one_hot(video: np.ndarray, n_videos: int) -> sp.csr_matrix:
    """(n_videos, rows) 0/1: row i is a caption of video ``video[i]``."""
    return sp.csr_matrix((np.ones(len(video)), (video, np.arange(len(video)))), shape=(n_videos, len(video)))


@dataclass(frozen=True)
class Frame:
    """One table's captions of the split, parsed for passes 2-4.

    ``design``: (rows, 4 + len(words)) CSR, the controls then a 0/1 indicator per candidate word;
    ``y``: (rows,) segment AUC minus the shift; ``video``: (rows,) video code 0..n_videos-1 within
    the table; ``members``: (rows, scopes) CSC, scope_membership.
    """

    design: sp.csr_matrix
    y: np.ndarray
    video: np.ndarray
    n_videos: int
    members: sp.csc_matrix

    def scope_rows(self, scope: int) -> np.ndarray:
        return self.members.indices[self.members.indptr[scope] : self.members.indptr[scope + 1]]


def parse_frame(
    table: pd.DataFrame, split: str, words: pa.Array, scopes: dict[str, int], position_bins: int, shift: float
) -> Frame | None:
    """The Frame of ``table`` over the candidate ``words``, its captions in ``scopes`` only (a
    batch of categories parses only its own videos); None when there are none."""
    rows = split_captions(table, split)
    members = scope_membership(rows["labels"], scopes)
    in_scope = np.diff(members.tocsr().indptr) > 0
    if not in_scope.any():
        return None
    if not in_scope.all():
        rows, members = rows[in_scope].reset_index(drop=True), members[in_scope]
    caption, token = caption_words(rows["tokens"])
    column = pc.index_in(token, value_set=words)
    known = column.is_valid().to_numpy(zero_copy_only=False)
    indicators = sp.csr_matrix(
        (np.ones(int(known.sum())), (caption[known], column.drop_null().to_numpy())), shape=(len(rows), len(words))
    )
    indicators.sum_duplicates()
    indicators.data[:] = 1.0  # a word said twice in a caption is still one indicator
    controls = control_matrix(rows["rel_position"].to_numpy(), rows["n_tokens"].to_numpy(), position_bins)
    video, uniques = pd.factorize(rows["video_id"])
    return Frame(
        design=sp.hstack([sp.csr_matrix(controls), indicators], format="csr"),
        y=rows["segment_auc"].to_numpy(dtype=np.float64) - shift,
        video=video,
        n_videos=len(uniques),
        members=members.tocsc(),
    )


def frames(
    tables: Tables, split: str, words: pa.Array, scopes: dict[str, int], position_bins: int, shift: float
) -> Iterator[Frame]:
    for table in tables():
        frame = parse_frame(table, split, words, scopes, position_bins, shift)
        if frame is not None:
            yield frame


def scope_blocks(
    tables: Tables,
    split: str,
    scopes: list[str],
    columns: list[np.ndarray],
    words: pa.Array,
    position_bins: int,
    shift: float,
) -> Iterator[tuple[int, Frame, np.ndarray, sp.csr_matrix]]:
    """``(j, frame, rows, design)`` for every table and every scope ``j`` with captions in it:
    ``rows`` the frame's rows of the scope, ``design`` their design rows over ``columns[j]``."""
    index = {name: j for j, name in enumerate(scopes)}
    for frame in frames(tables, split, words, index, position_bins, shift):
        for j, cols in enumerate(columns):
            rows = frame.scope_rows(j)
            if len(rows):
                yield j, frame, rows, frame.design[rows][:, cols]
