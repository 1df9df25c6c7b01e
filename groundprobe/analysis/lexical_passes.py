"""The four streamed passes of rule lexical_ols over the caption tables (one shard table at a
time, nothing grows with the corpus but the counts): pass 1 counts the videos saying each word,
pass 2 the videos per category, passes 3-4 accumulate the sufficient statistics (Moments) and the
per-video cluster scores. The method: groundprobe.analysis.lexical_ols."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from groundprobe.analysis.lexical_captions import (
    OVERALL,
    Tables,
    caption_words,
    frames,
    scope_blocks,
    split_captions,
    video_one_hot,
)
from groundprobe.analysis.ols import (
    K,
    Moments,
    count_dtype,
    triangle_offsets,
)
from groundprobe.evaluation.auc_by_category import label_names

# ---------------------------------------------------------------------------------------------
# Pass 1: counts


@dataclass(frozen=True)
class CorpusCounts:
    """Pass 1. ``captions``: per scope (OVERALL and every category); ``words``: the words said in
    ≥ min_videos videos, alphabetical; ``video_counts``: how many videos say each of them;
    ``mean_auc``: over every caption of the split (0 when none)."""

    captions: dict[str, int]
    words: list[str]
    video_counts: np.ndarray
    mean_auc: float


def count_captions(tables: Tables, split: str, min_videos: int) -> CorpusCounts:
    captions: dict[str, int] = {OVERALL: 0}
    videos_by_word: dict[str, int] = {}
    auc_sum = 0.0
    for table in tables():
        rows = split_captions(table, split)
        if rows.empty:
            continue
        captions[OVERALL] += len(rows)
        auc_sum += float(rows["segment_auc"].sum())
        for cell, count in rows["labels"].fillna("").astype(str).value_counts().items():
            for name in dict.fromkeys(label_names(cell)):
                captions[name] = captions.get(name, 0) + int(count)
        video, _ = pd.factorize(rows["video_id"])
        caption, token = caption_words(rows["tokens"])
        encoded = pc.dictionary_encode(token)
        word_code = encoded.indices.to_numpy().astype(np.int64)
        n_words = len(encoded.dictionary)
        pairs = np.unique(video[caption].astype(np.int64) * n_words + word_code)
        for word, count in zip(encoded.dictionary.to_pylist(), np.bincount(pairs % n_words, minlength=n_words)):
            videos_by_word[word] = videos_by_word.get(word, 0) + int(count)
    words = sorted(w for w, c in videos_by_word.items() if c >= min_videos)
    counts = np.array([videos_by_word[w] for w in words], dtype=np.int64)
    mean = auc_sum / captions[OVERALL] if captions[OVERALL] else 0.0
    return CorpusCounts(captions, words, counts, mean)


def select_vocabulary(video_counts: np.ndarray, min_videos: int, max_words: int) -> np.ndarray:
    """Indices of the words said in ≥ ``min_videos`` videos, the ``max_words`` said in the most
    videos first; ``video_counts`` is aligned with an alphabetical word list, so ties go
    alphabetically (the choice is deterministic)."""
    eligible = np.flatnonzero(video_counts >= min_videos)
    order = np.lexsort((eligible, -video_counts[eligible]))
    return eligible[order[:max_words]]


# ---------------------------------------------------------------------------------------------
# Pass 2: per-category word counts


def add_sparse(target: np.ndarray, product: sp.spmatrix) -> None:
    """target += product, touching only its nonzeros (no dense temporary of target's size)."""
    coo = product.tocoo()
    coo.sum_duplicates()  # then no index repeats, and fancy-index += adds every entry
    target[coo.row, coo.col] += coo.data


def category_video_counts(
    tables: Tables, split: str, categories: list[str], words: pa.Array, position_bins: int
) -> np.ndarray:
    """(len(categories), len(words)) int: how many of each category's videos say each word."""
    scopes = {name: j for j, name in enumerate(categories)}
    counts = np.zeros((len(categories), len(words)), dtype=np.int64)
    for frame in frames(tables, split, words, scopes, position_bins, 0.0):
        said = video_one_hot(frame.video, frame.n_videos) @ frame.design[:, K:]
        said.data[:] = 1.0
        first_caption = np.unique(frame.video, return_index=True)[1]
        video_members = frame.members.tocsr()[first_caption]  # a video's captions share its labels
        add_sparse(counts, (video_members.T @ said).astype(np.int64))
    return counts


# ---------------------------------------------------------------------------------------------
# Passes 3-4: sufficient statistics and cluster scores


def accumulate_moments(
    tables: Tables,
    split: str,
    scopes: list[str],
    columns: list[np.ndarray],
    captions: list[int],
    words: pa.Array,
    position_bins: int,
    shift: float,
) -> list[Moments]:
    """Pass 3: the Moments of each scope over its design ``columns``; ``captions``: each scope's
    number of captions (pass 1), which sets the integer type of its co-occurrence counts."""
    n = np.zeros(len(scopes), dtype=np.int64)
    n_videos = np.zeros(len(scopes), dtype=np.int64)
    controls = [np.zeros((K, len(c))) for c in columns]
    cooccurrence = [
        np.zeros((len(c) - K) * (len(c) - K + 1) // 2, dtype=count_dtype(count)) for c, count in zip(columns, captions)
    ]
    offsets = [triangle_offsets(len(c) - K) for c in columns]
    xty = [np.zeros(len(c)) for c in columns]
    yty = np.zeros(len(scopes))
    for j, frame, rows, design in scope_blocks(tables, split, scopes, columns, words, position_bins, shift):
        y = frame.y[rows]
        controls[j] += (design[:, :K].T @ design).toarray()
        indicators = design[:, K:].astype(np.int32)  # a table's counts fit in int32
        pairs = sp.triu(indicators.T @ indicators, format="coo")  # canonical: no index repeats
        cooccurrence[j][offsets[j][pairs.row] + pairs.col - pairs.row] += pairs.data
        xty[j] += design.T @ y
        yty[j] += y @ y
        n[j] += len(rows)
        n_videos[j] += len(np.unique(frame.video[rows]))
    return [
        Moments(int(n[j]), int(n_videos[j]), controls[j], cooccurrence[j], xty[j], float(yty[j]))
        for j in range(len(scopes))
    ]


def cluster_meat(
    tables: Tables,
    split: str,
    scopes: list[str],
    columns: list[np.ndarray],
    params: list[np.ndarray],
    words: pa.Array,
    position_bins: int,
    shift: float,
) -> list[np.ndarray]:
    """Pass 4: Σ_videos s_v s_v' per scope, s_v = X_v' e_v the video's score (X_v its captions'
    design rows over ``columns``, e_v their residuals under ``params``, shifted y)."""
    meat = [np.zeros((len(c), len(c))) for c in columns]
    for j, frame, rows, design in scope_blocks(tables, split, scopes, columns, words, position_bins, shift):
        residual = frame.y[rows] - design @ params[j]
        video, uniques = pd.factorize(frame.video[rows])
        # (videos, p), dense: a video says many of the words, so S'S is nearly dense and a
        # sparse product would hold several times the p × p accumulator in temporaries.
        scores = (video_one_hot(video, len(uniques)) @ sp.diags(residual) @ design).toarray()
        meat[j] += scores.T @ scores
    return meat
