"""OLS of segment AUC on timing/length controls plus unigram indicators (Hessel et al. 2020, §5).

Each caption (one 5-second segment of a validation video) is a row; the response is its segment
AUC. Controls: an intercept, indicators for the first and the last position bin of the video
(``rel_position`` < 1/bins, ≥ 1 - 1/bins) and log token count. The end bins are indicators rather
than a parabola in ``rel_position`` because intro and outro talk ("hey welcome", "thanks for
watching") is a step at either end of the video, of possibly different size at each end; a
parabola forces one symmetric curve and leaks the end effect into the middle. Token count enters
as a log because one more word matters more in a 2-word caption than in a 20-word one (every
caption has at least one token: segments without ASR are discarded upstream).

Lexical block: one indicator per vocabulary word (1 when the caption contains it). The nested
F-test compares controls only (restricted) with controls + words (full).

Memory: the word indicators are built as a scipy CSR matrix (one entry per distinct word of a
caption), but statsmodels' OLS needs a dense exog of n × p float64, i.e. 8·n·p bytes, and its pinv
fit holds about three such arrays. At 256 captions × 800K videos (n ≈ 2·10⁸) and p ≈ 2000 that is
terabytes: fit a sample of videos, or one category at a time, there. Nothing is quadratic in n.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
import statsmodels.api as sm
from statsmodels.regression.linear_model import RegressionResultsWrapper

from groundprobe.evaluate import label_names

CONTROL_NAMES = ["const", "position_first", "position_last", "log_tokens"]
WORD_COLUMNS = ["scope", "word", "coef", "se", "t", "p"]
COEF_COLUMNS = WORD_COLUMNS + ["rank", "sign"]
FTEST_COLUMNS = ["scope", "n", "k_controls", "k_words", "F", "df_num", "df_den", "p",
                 "r2_restricted", "r2_full", "skipped_reason"]
OVERALL = "overall"


@dataclass(frozen=True)
class ScopeFit:
    """One scope's outcome: the fitted models, or ``skipped_reason`` and no models."""

    scope: str
    n: int
    words: list[str]
    restricted: RegressionResultsWrapper | None = None
    full: RegressionResultsWrapper | None = None
    skipped_reason: str = ""


def caption_words(tokens: pd.Series) -> list[set[str]]:
    """The distinct words of each caption; ``tokens`` holds space-separated tokens per row."""
    return [set(str(cell).split()) for cell in tokens.fillna("")]


def select_vocabulary(video_ids: pd.Series, words: list[set[str]], min_videos: int,
                      max_words: int) -> list[str]:
    """Words said in at least ``min_videos`` distinct videos, the ``max_words`` said in the most
    videos (ties broken alphabetically, so the choice is deterministic)."""
    videos_by_word: dict[str, set[str]] = {}
    for video, caption in zip(video_ids, words):
        for word in caption:
            videos_by_word.setdefault(word, set()).add(video)
    counts = Counter({word: len(videos) for word, videos in videos_by_word.items()})
    frequent = sorted((w for w, c in counts.items() if c >= min_videos), key=lambda w: (-counts[w], w))
    return frequent[:max_words]


def word_indicators(words: list[set[str]], vocabulary: list[str]) -> sp.csr_matrix:
    """(n_captions, len(vocabulary)) 0/1 CSR matrix: caption i contains vocabulary word j."""
    column = {word: j for j, word in enumerate(vocabulary)}
    rows, cols = [], []
    for i, caption in enumerate(words):
        hits = [column[w] for w in caption if w in column]
        rows.extend([i] * len(hits))
        cols.extend(hits)
    data = np.ones(len(rows), dtype=np.float64)
    return sp.csr_matrix((data, (rows, cols)), shape=(len(words), len(vocabulary)))


def control_matrix(rel_position: np.ndarray, n_tokens: np.ndarray, position_bins: int) -> np.ndarray:
    """(n, 4) controls, columns CONTROL_NAMES: 1, first-bin and last-bin indicators of the relative
    position (0 = start, 1 = end of the video), log of the token count."""
    rel_position = np.asarray(rel_position, dtype=np.float64)
    n_tokens = np.asarray(n_tokens, dtype=np.float64)
    if (n_tokens < 1).any():
        raise ValueError("every caption needs at least one token (log token count)")
    edge = 1.0 / position_bins
    return np.column_stack([np.ones_like(rel_position), rel_position < edge,
                            rel_position >= 1.0 - edge, np.log(n_tokens)]).astype(np.float64)


def drop_redundant_words(indicators: sp.csr_matrix, vocabulary: list[str]) -> tuple[sp.csr_matrix, list[str]]:
    """Drop word columns that are constant over the rows (absent everywhere or present in every
    caption: collinear with the intercept) or that duplicate an earlier column (words always said
    together); either makes the design singular. Kept columns keep their order."""
    csc = indicators.tocsc()
    counts = np.diff(csc.indptr)
    seen: set[bytes] = set()
    keep = []
    for j in range(csc.shape[1]):
        if counts[j] in (0, csc.shape[0]):
            continue
        pattern = csc.indices[csc.indptr[j]:csc.indptr[j + 1]].tobytes()
        if pattern not in seen:
            seen.add(pattern)
            keep.append(j)
    return csc[:, keep].tocsr(), [vocabulary[j] for j in keep]


def fit_scope(scope: str, rows: pd.DataFrame, min_videos: int, max_words: int, position_bins: int,
              min_captions: int) -> ScopeFit:
    """Restricted (controls) and full (controls + words) OLS of ``segment_auc`` over ``rows``.

    ``rows``: columns video_id, rel_position, n_tokens, tokens, segment_auc. The vocabulary is
    chosen within the scope (a word must be said in ``min_videos`` of the scope's videos). A scope
    is skipped, with the reason, when it has fewer than ``min_captions`` captions, no word, fewer
    captions than parameters, or a rank-deficient design.
    """
    n = len(rows)
    if n < min_captions:
        return ScopeFit(scope, n, [], skipped_reason=f"{n} captions < min_captions {min_captions}")
    words = caption_words(rows["tokens"])
    vocabulary = select_vocabulary(rows["video_id"], words, min_videos, max_words)
    indicators, vocabulary = drop_redundant_words(word_indicators(words, vocabulary), vocabulary)
    if not vocabulary:
        return ScopeFit(scope, n, [], skipped_reason=f"no word said in >= {min_videos} videos")
    controls = control_matrix(rows["rel_position"].to_numpy(), rows["n_tokens"].to_numpy(), position_bins)
    n_params = controls.shape[1] + len(vocabulary)
    if n <= n_params:
        return ScopeFit(scope, n, vocabulary, skipped_reason=f"{n} captions <= {n_params} parameters")
    design = np.hstack([controls, indicators.toarray()])
    auc = rows["segment_auc"].to_numpy(dtype=np.float64)
    full = sm.OLS(auc, design).fit()
    # pinv fits a singular design silently (minimum-norm solution); its rank tells.
    if full.model.rank < n_params:
        return ScopeFit(scope, n, vocabulary,
                        skipped_reason=f"singular design: rank {full.model.rank} < {n_params} parameters")
    restricted = sm.OLS(auc, controls).fit()
    return ScopeFit(scope, n, vocabulary, restricted, full)


def ftest_row(fit: ScopeFit) -> dict[str, object]:
    """One FTEST_COLUMNS row: the nested F-test of the word block, or the skip reason (NaNs)."""
    row: dict[str, object] = dict.fromkeys(FTEST_COLUMNS, np.nan)
    row.update(scope=fit.scope, n=fit.n, k_controls=len(CONTROL_NAMES), k_words=len(fit.words),
               skipped_reason=fit.skipped_reason)
    if fit.full is not None:
        f_value, p_value, df_num = fit.full.compare_f_test(fit.restricted)
        row.update(F=f_value, df_num=df_num, df_den=fit.full.df_resid, p=p_value,
                   r2_restricted=fit.restricted.rsquared, r2_full=fit.full.rsquared)
    return row


def word_coefficients(fit: ScopeFit) -> pd.DataFrame:
    """Every word's coefficient, standard error, t and two-sided p in the full model (WORD_COLUMNS)."""
    k = len(CONTROL_NAMES)
    return pd.DataFrame({"scope": fit.scope, "word": fit.words, "coef": fit.full.params[k:],
                         "se": fit.full.bse[k:], "t": fit.full.tvalues[k:], "p": fit.full.pvalues[k:]})


def top_coefficients(coefs: pd.DataFrame, top_words: int) -> pd.DataFrame:
    """The ``top_words`` largest positive and most negative coefficients, rank 1 = most extreme."""
    positive = coefs[coefs["coef"] > 0].sort_values(["coef", "word"], ascending=[False, True]).head(top_words)
    negative = coefs[coefs["coef"] < 0].sort_values(["coef", "word"]).head(top_words)
    parts = [part.assign(rank=np.arange(1, len(part) + 1), sign=sign)
             for part, sign in ((positive, "positive"), (negative, "negative"))]
    return pd.concat(parts, ignore_index=True)[COEF_COLUMNS]


def scope_rows(segments: pd.DataFrame, split: str) -> dict[str, pd.DataFrame]:
    """The captions of ``split`` for "overall" and for each category label (';'-separated
    ``labels``: a video counts in each of its categories), categories sorted by name.
    Captions without a segment AUC are dropped.
    """
    rows = segments[segments["split"] == split].dropna(subset=["segment_auc"]).reset_index(drop=True)
    labels = rows["labels"].map(label_names)
    categories = sorted({label for names in labels for label in names})
    scopes = {OVERALL: rows}
    for category in categories:
        scopes[category] = rows[labels.apply(lambda names, c=category: c in names)].reset_index(drop=True)
    return scopes


def lexical_ols(segments: pd.DataFrame, split: str, min_videos: int, max_words: int, top_words: int,
                position_bins: int, min_captions: int
                ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, str]:
    """Fit every scope; return (top coefficients COEF_COLUMNS, every word's coefficient
    WORD_COLUMNS, F-test table FTEST_COLUMNS, text of every fitted model's statsmodels summary).
    The overall scope is never held to ``min_captions`` (only categories are), so it is skipped
    only for a structural reason."""
    top_tables, word_tables, ftests, summaries = [], [], [], []
    for scope, rows in scope_rows(segments, split).items():
        fit = fit_scope(scope, rows, min_videos, max_words, position_bins,
                        0 if scope == OVERALL else min_captions)
        ftests.append(ftest_row(fit))
        if fit.full is None:
            summaries.append(f"=== {scope}: skipped ({fit.skipped_reason}) ===\n")
            continue
        words = word_coefficients(fit)
        word_tables.append(words)
        top_tables.append(top_coefficients(words, top_words))
        full_summary = fit.full.summary(xname=CONTROL_NAMES + [f"word[{w}]" for w in fit.words])
        summaries.append(f"=== {scope}: restricted (controls only) ===\n"
                         f"{fit.restricted.summary(xname=CONTROL_NAMES)}\n\n"
                         f"=== {scope}: full (controls + {len(fit.words)} words) ===\n{full_summary}\n")
    top = pd.concat(top_tables, ignore_index=True) if top_tables else pd.DataFrame(columns=COEF_COLUMNS)
    words = pd.concat(word_tables, ignore_index=True) if word_tables else pd.DataFrame(columns=WORD_COLUMNS)
    return top, words, pd.DataFrame(ftests, columns=FTEST_COLUMNS), "\n".join(summaries)
