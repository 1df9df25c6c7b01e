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
F-test compares controls only (restricted) with controls + words (full). Scopes: "overall" (every
caption of the split) and each category (the captions of the videos labelled with it).

Sufficient statistics, streamed. The fit never builds the n × p design: OLS needs only X'X, X'y,
y'y and n, which are sums over captions, so they are accumulated one table (shard) at a time with
sparse word indicators and the models are solved from them. Passes over the tables (each a call
of the ``tables`` factory):

1. counts: captions per scope, the number of videos saying each word (the overall vocabulary) and
   the mean AUC (subtracted from y before summing, so that y'y does not swamp the residual sum);
2. per category, the videos saying each candidate word (its vocabulary), in batches of categories;
3. per fitted scope, X'X, X'y, y'y, n and the number of videos, in batches of scopes;
4. only with ``cluster_by_video``: per scope, Σ_videos (X_v' e_v)(X_v' e_v)' with the residuals
   e of the fitted model (the meat of the cluster-robust sandwich).

A caption is added to each of its scopes while its table is in memory (one grouping of the rows
by scope per table), never copied per category. Every video's captions must lie in one table (a
shard holds whole videos): the per-video counts of passes 1-2 and the per-video score sums of
pass 4 rely on it.

Memory: one table's parse (its rows with their few words, sparse) plus the accumulators of one
batch of scopes, at most ``accumulator_bytes`` (the rule's execution setting
analysis.lexical_ols.accumulator_mb, 128 MiB by default; a single scope larger than that is its own
batch; accumulator_bytes_of; each further batch is one more pass over the tables): per scope, X'X
with its word block as exact integer co-occurrence counts, upper triangle only, 4 bytes each
(Moments): ~2·p² bytes, p = 4 + its words ≤ 4 + max_words (8 MB at p = 2004); with cluster_by_video
also 16·p² bytes (the factor of X'X and the meat, dense float64); and 8 bytes × candidate words per
category in pass 2. One scope at a time is solved from a dense float64 X'X (8·p²) and its factor. A
finished scope keeps O(p) numbers. The candidate words are the distinct tokens said in ≥ min_videos
videos, bounded by the model's vocabulary (``vocab.max_size``), and the scopes by the labels.
Nothing grows with the number of captions.

Equal to statsmodels' OLS on the dense design (coefficients, standard errors, t, p, R², the nested
F-test) up to rounding: the normal equations are solved by a pivoted Cholesky factor of X'X scaled
to unit diagonal, so the error grows with the square of the (scaled) design's condition number,
~1e-12 relative on demo-like tables. Rank: statsmodels tests the singular values of X; here a
scope is singular when a pivot of that factor falls to ≤ p × machine epsilon (LAPACK dpstrf's
default tolerance), which catches exact collinearity (words whose indicators add up to another
column) and near-collinearity that the normal equations could not solve to 1e-8.

Cluster-robust standard errors by video (optional, new ``*_cluster`` columns): CRV1 with
statsmodels' small-sample factor G/(G-1)·(n-1)/(n-p), t and p on G-1 degrees of freedom, as
``OLS.fit(cov_type="cluster", cov_kwds={"groups": video}, use_t=True)``; the word block's Wald F
on (k_words, G-1) degrees of freedom, left empty when the clustered covariance of the block is
singular (fewer videos than words).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Callable, Iterable, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import scipy.linalg
import scipy.sparse as sp
from scipy import stats

from groundprobe.evaluation.auc_by_category import label_names

CONTROL_NAMES = ["const", "position_first", "position_last", "log_tokens"]
WORD_COLUMNS = ["scope", "word", "coef", "se", "t", "p"]
COEF_COLUMNS = WORD_COLUMNS + ["rank", "sign"]
FTEST_COLUMNS = ["scope", "n", "k_controls", "k_words", "F", "df_num", "df_den", "p",
                 "r2_restricted", "r2_full", "skipped_reason"]
# Added after the columns above only with cluster_by_video.
CLUSTER_WORD_COLUMNS = ["se_cluster", "t_cluster", "p_cluster"]
CLUSTER_FTEST_COLUMNS = ["n_videos", "F_cluster", "df_den_cluster", "p_cluster"]
OVERALL = "overall"
INPUT_COLUMNS = ["video_id", "split", "labels", "rel_position", "n_tokens", "tokens", "segment_auc"]
K = len(CONTROL_NAMES)

# A factory of the per-caption tables (columns INPUT_COLUMNS at least, one DataFrame per shard),
# called once per pass.
Tables = Callable[[], Iterable[pd.DataFrame]]

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# Parsing one table


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
    return np.column_stack([np.ones_like(rel_position), rel_position < edge,
                            rel_position >= 1.0 - edge, np.log(n_tokens)]).astype(np.float64)


def scope_membership(labels: pd.Series, scopes: dict[str, int]) -> sp.csc_matrix:
    """(rows, len(scopes)) 0/1: caption i belongs to scope j. OVERALL (when in ``scopes``) holds
    every caption, a category the captions whose ';'-separated ``labels`` name it."""
    codes, cells = pd.factorize(labels.fillna("").astype(str))
    cell_scopes = [[scopes[name] for name in dict.fromkeys([OVERALL] + label_names(text)) if name in scopes]
                   for text in cells]
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
        return self.members.indices[self.members.indptr[scope]:self.members.indptr[scope + 1]]


def parse_frame(table: pd.DataFrame, split: str, words: pa.Array, scopes: dict[str, int],
                position_bins: int, shift: float) -> Frame | None:
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
    indicators = sp.csr_matrix((np.ones(int(known.sum())), (caption[known], column.drop_null().to_numpy())),
                               shape=(len(rows), len(words)))
    indicators.sum_duplicates()
    indicators.data[:] = 1.0  # a word said twice in a caption is still one indicator
    controls = control_matrix(rows["rel_position"].to_numpy(), rows["n_tokens"].to_numpy(), position_bins)
    video, uniques = pd.factorize(rows["video_id"])
    return Frame(design=sp.hstack([sp.csr_matrix(controls), indicators], format="csr"),
                 y=rows["segment_auc"].to_numpy(dtype=np.float64) - shift, video=video,
                 n_videos=len(uniques), members=members.tocsc())


def frames(tables: Tables, split: str, words: pa.Array, scopes: dict[str, int], position_bins: int,
           shift: float) -> Iterator[Frame]:
    for table in tables():
        frame = parse_frame(table, split, words, scopes, position_bins, shift)
        if frame is not None:
            yield frame


def scope_blocks(tables: Tables, split: str, scopes: list[str], columns: list[np.ndarray],
                 words: pa.Array, position_bins: int,
                 shift: float) -> Iterator[tuple[int, Frame, np.ndarray, sp.csr_matrix]]:
    """``(j, frame, rows, design)`` for every table and every scope ``j`` with captions in it:
    ``rows`` the frame's rows of the scope, ``design`` their design rows over ``columns[j]``."""
    index = {name: j for j, name in enumerate(scopes)}
    for frame in frames(tables, split, words, index, position_bins, shift):
        for j, cols in enumerate(columns):
            rows = frame.scope_rows(j)
            if len(rows):
                yield j, frame, rows, frame.design[rows][:, cols]


def add_sparse(target: np.ndarray, product: sp.spmatrix) -> None:
    """target += product, touching only its nonzeros (no dense temporary of target's size)."""
    coo = product.tocoo()
    coo.sum_duplicates()  # then no index repeats, and fancy-index += adds every entry
    target[coo.row, coo.col] += coo.data


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


def category_video_counts(tables: Tables, split: str, categories: list[str], words: pa.Array,
                          position_bins: int) -> np.ndarray:
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


def count_dtype(captions: int) -> type:
    """The integer type that holds counts of up to ``captions`` captions: int32 (4 bytes) unless a
    scope has 2^31 captions or more."""
    return np.int32 if captions <= np.iinfo(np.int32).max else np.int64


def triangle_offsets(k: int) -> np.ndarray:
    """(k,) int64: where row r of a k × k upper triangle starts when stored row by row (entries
    (r, r..k-1)), so that entry (r, c), r <= c, is at offsets[r] + c - r."""
    r = np.arange(k, dtype=np.int64)
    return r * k - r * (r - 1) // 2


@dataclass(frozen=True)
class Moments:
    """Sufficient statistics of one scope over ``columns`` of Frame.design (shifted y), p columns:
    the K controls, then k = p - K words.

    X'X is held in two parts: ``controls`` (K, p) float64, its control rows (the control columns
    and their products with every word); ``cooccurrence`` (k (k + 1) / 2,) integer, the word block's
    upper triangle row by row (triangle_offsets): how many captions say both words, exact since
    the indicators are 0/1. That is 2 bytes per entry of X'X (int32) instead of 8, so a batch holds
    4x the scopes; ``xtx(columns)`` builds the dense matrix of one scope when it is solved.
    """

    n: int
    n_videos: int
    controls: np.ndarray  # (K, p)
    cooccurrence: np.ndarray  # (k (k + 1) / 2,)
    xty: np.ndarray  # (p,)
    yty: float

    def cooccurrences(self, i: int | np.ndarray, j: int | np.ndarray) -> np.ndarray:
        """The counts of captions saying both word i and word j (positions among the words)."""
        i, j = np.minimum(i, j), np.maximum(i, j)
        return self.cooccurrence[triangle_offsets(len(self.xty) - K)[i] + j - i]

    def xtx(self, columns: np.ndarray) -> np.ndarray:
        """(len(columns), len(columns)) float64 X'X over ``columns`` (the K controls first, then
        word columns, increasing), one dense matrix and no intermediate of its size."""
        words = columns[K:] - K
        out = np.empty((len(columns), len(columns)))
        out[:K] = self.controls[:, columns]
        out[K:, :K] = self.controls[:, columns[K:]].T
        for r, word in enumerate(words.tolist()):
            out[K + r, K:] = self.cooccurrences(word, words)
        return out


def accumulator_bytes_of(p: int, captions: int, cluster_by_video: bool) -> int:
    """Bytes one scope of p columns (K controls + words) with ``captions`` captions holds while its
    batch is fitted: its Moments (pass 3); with ``cluster_by_video`` also its full model's factor
    and its meat, dense (p, p) float64 each (pass 4)."""
    k = p - K
    moments = np.dtype(count_dtype(captions)).itemsize * k * (k + 1) // 2 + 8 * (K + 1) * p
    return moments + (2 * 8 * p * p if cluster_by_video else 0)


def accumulate_moments(tables: Tables, split: str, scopes: list[str], columns: list[np.ndarray],
                       captions: list[int], words: pa.Array, position_bins: int, shift: float) -> list[Moments]:
    """Pass 3: the Moments of each scope over its design ``columns``; ``captions``: each scope's
    number of captions (pass 1), which sets the integer type of its co-occurrence counts."""
    n = np.zeros(len(scopes), dtype=np.int64)
    n_videos = np.zeros(len(scopes), dtype=np.int64)
    controls = [np.zeros((K, len(c))) for c in columns]
    cooccurrence = [np.zeros((len(c) - K) * (len(c) - K + 1) // 2, dtype=count_dtype(count))
                    for c, count in zip(columns, captions)]
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
    return [Moments(int(n[j]), int(n_videos[j]), controls[j], cooccurrence[j], xty[j], float(yty[j]))
            for j in range(len(scopes))]


def cluster_meat(tables: Tables, split: str, scopes: list[str], columns: list[np.ndarray],
                 params: list[np.ndarray], words: pa.Array, position_bins: int, shift: float) -> list[np.ndarray]:
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


# ---------------------------------------------------------------------------------------------
# Solving


@dataclass(frozen=True)
class Factor:
    """Pivoted Cholesky factor of a p × p X'X scaled to unit diagonal (LAPACK dpstrf):
    S = X'X / d d' (d: column norms, 1 for a zero column), S[order][:, order] = U'U. ``rank``: the
    pivots above p × machine epsilon (dpstrf's default tolerance); U is meaningful when rank = p."""

    upper: np.ndarray  # (p, p) U, upper triangular
    order: np.ndarray  # (p,) pivot order, 0-based
    norms: np.ndarray  # (p,) d
    rank: int

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """(X'X)^-1 rhs for a (p,) vector."""
        z = rhs[self.order] / self.norms[self.order]
        x = scipy.linalg.solve_triangular(self.upper, scipy.linalg.solve_triangular(self.upper, z, trans="T"))
        out = np.empty_like(x)
        out[self.order] = x
        return out / self.norms

    def inverse_upper(self) -> np.ndarray:
        """U^-1, (p, p) upper triangular (LAPACK dtrtri: no identity matrix to solve against)."""
        inverse, info = scipy.linalg.lapack.dtrtri(self.upper, lower=0)
        if info != 0:
            raise np.linalg.LinAlgError(f"dtrtri: singular factor (info {info})")
        return inverse

    def inverse_diagonal(self) -> np.ndarray:
        """The diagonal of (X'X)^-1, (p,)."""
        inverse_upper = self.inverse_upper()
        out = np.empty(len(self.upper))
        out[self.order] = np.einsum("ij,ij->i", inverse_upper, inverse_upper)  # row sums of squares
        return out / self.norms ** 2

    def inverse(self) -> np.ndarray:
        """(X'X)^-1, (p, p)."""
        inverse_upper = self.inverse_upper()
        out = np.empty_like(inverse_upper)
        out[np.ix_(self.order, self.order)] = inverse_upper @ inverse_upper.T
        return out / np.outer(self.norms, self.norms)


def factorize(xtx: np.ndarray, overwrite: bool = False) -> Factor:
    """The Factor of the (p, p) ``xtx``; with ``overwrite`` it is computed in ``xtx``'s memory
    (no other p × p array: at p = 2004 each is 32 MB)."""
    norms = np.sqrt(np.diag(xtx))
    norms[norms == 0] = 1.0  # a zero column stays zero: its pivot, 0, counts as rank lost
    scaled = xtx if overwrite else xtx.copy()
    for r, norm in enumerate(norms.tolist()):  # row by row: no (p, p) temporary
        scaled[r] /= norm * norms
    upper, pivots, rank, _ = scipy.linalg.lapack.dpstrf(scaled, lower=0, overwrite_a=1)
    for r in range(1, len(upper)):  # dpstrf leaves the strict lower triangle as it found it
        upper[r, :r] = 0.0
    return Factor(upper, pivots - 1, norms, int(rank))


@dataclass(frozen=True)
class OlsFit:
    """OLS solved from sufficient statistics; the attributes mirror statsmodels' results.

    ``params``: (p,) with the intercept first; ``cov_diagonal``: the diagonal of (X'X)^-1;
    ``cluster_variance``: the diagonal of the covariance clustered by video and ``cluster_wald``
    the (F, p) of the words' Wald test under it (None when not asked for).
    """

    params: np.ndarray
    cov_diagonal: np.ndarray
    ssr: float
    centered_tss: float
    nobs: int
    n_videos: int
    cluster_variance: np.ndarray | None = None
    cluster_wald: tuple[float, float] | None = None

    @property
    def df_resid(self) -> int:
        return self.nobs - len(self.params)

    @property
    def df_model(self) -> int:
        return len(self.params) - 1

    @property
    def scale(self) -> float:
        return self.ssr / self.df_resid

    @property
    def bse(self) -> np.ndarray:
        return np.sqrt(self.cov_diagonal * self.scale)

    @property
    def tvalues(self) -> np.ndarray:
        return self.params / self.bse

    @property
    def pvalues(self) -> np.ndarray:
        return 2 * stats.t.sf(np.abs(self.tvalues), self.df_resid)

    @property
    def rsquared(self) -> float:
        return 1 - self.ssr / self.centered_tss

    @property
    def rsquared_adj(self) -> float:
        return 1 - (self.nobs - 1) / self.df_resid * (1 - self.rsquared)

    @property
    def fvalue(self) -> float:
        return (self.centered_tss - self.ssr) / self.df_model / self.scale

    @property
    def f_pvalue(self) -> float:
        return float(stats.f.sf(self.fvalue, self.df_model, self.df_resid))

    @property
    def llf(self) -> float:
        return -self.nobs / 2 * (np.log(2 * np.pi) + np.log(self.ssr / self.nobs) + 1)

    @property
    def aic(self) -> float:
        return -2 * self.llf + 2 * len(self.params)

    @property
    def bic(self) -> float:
        return -2 * self.llf + np.log(self.nobs) * len(self.params)

    @property
    def bse_cluster(self) -> np.ndarray:
        return np.sqrt(self.cluster_variance)

    @property
    def tvalues_cluster(self) -> np.ndarray:
        return self.params / self.bse_cluster

    @property
    def pvalues_cluster(self) -> np.ndarray:
        return 2 * stats.t.sf(np.abs(self.tvalues_cluster), self.n_videos - 1)

    def compare_f_test(self, restricted: OlsFit) -> tuple[float, float, int]:
        """(F, p, df_num) of this model against the nested ``restricted`` one, as statsmodels."""
        df_num = restricted.df_resid - self.df_resid
        f_value = (restricted.ssr - self.ssr) / df_num / self.scale
        return f_value, float(stats.f.sf(f_value, df_num, self.df_resid)), df_num


def ols_fit(moments: Moments, columns: np.ndarray, factor: Factor, shift: float) -> OlsFit:
    """The OLS fit over the design ``columns`` (indices into the moments' columns, the intercept
    first) of a full-rank design, ``factor`` its factorized X'X. ``shift`` was subtracted from y
    before summing; the intercept gets it back."""
    xty = moments.xty[columns]
    params = factor.solve(xty)
    ssr = moments.yty - params @ xty
    centered_tss = moments.yty - moments.xty[0] ** 2 / moments.n  # column 0 is the intercept
    params[0] += shift
    return OlsFit(params, factor.inverse_diagonal(), float(ssr), float(centered_tss), moments.n, moments.n_videos)


def with_cluster_cov(fit: OlsFit, bread: np.ndarray, meat: np.ndarray, block: slice) -> OlsFit:
    """``fit`` with the CRV1 covariance clustered by video, bread · meat · bread times
    statsmodels' correction G/(G-1) · (n-1)/(n-p) (``bread`` = (X'X)^-1, ``meat`` = Σ_v s_v s_v'),
    and the Wald test of the ``block`` coefficients under it, F(k, G-1): NaN when that
    covariance is singular on the block (fewer videos than words) or with fewer than 2 videos."""
    groups, p = fit.n_videos, len(fit.params)
    if groups < 2:
        return replace(fit, cluster_variance=np.full(p, np.nan), cluster_wald=(np.nan, np.nan))
    cov = bread @ meat @ bread * (groups / (groups - 1) * (fit.nobs - 1) / (fit.nobs - p))
    params = fit.params[block]
    wald = np.nan, np.nan
    factor = factorize(cov[block, block])
    if groups - 1 >= len(params) and factor.rank == len(params):
        f_value = float(params @ factor.solve(params)) / len(params)
        wald = f_value, float(stats.f.sf(f_value, len(params), groups - 1))
    return replace(fit, cluster_variance=np.diag(cov).copy(), cluster_wald=wald)


def drop_redundant_words(moments: Moments) -> np.ndarray:
    """Positions of the word columns (after the K controls) to keep: not constant over the scope
    (said in no caption or in every one: collinear with the intercept) and not a duplicate of an
    earlier kept column (words always said together), judged from the exact 0/1 counts: columns
    i, j are equal iff count_i = count_j = co-occurrences_ij. Kept columns keep their order."""
    counts = moments.cooccurrences(*(2 * [np.arange(len(moments.xty) - K)]))
    keep: list[int] = []
    for j in range(len(counts)):
        if counts[j] in (0, moments.n):
            continue
        kept = np.array(keep, dtype=np.int64)
        if ((counts[kept] == counts[j]) & (moments.cooccurrences(kept, j) == counts[j])).any():
            continue
        keep.append(j)
    return np.array(keep, dtype=np.int64)


# ---------------------------------------------------------------------------------------------
# Scopes and tables


@dataclass(frozen=True)
class ScopeFit:
    """One scope's outcome: the fitted models, or ``skipped_reason`` and no models."""

    scope: str
    n: int
    words: list[str]
    restricted: OlsFit | None = None
    full: OlsFit | None = None
    skipped_reason: str = ""


def fit_from_moments(scope: str, moments: Moments, vocabulary: list[str], min_videos: int,
                     shift: float) -> tuple[ScopeFit, np.ndarray, Factor | None]:
    """The scope's fit from its moments over the controls + ``vocabulary`` columns, the design
    columns used (into the moments' columns) and the full model's factor (None when skipped)."""
    kept = drop_redundant_words(moments)
    words = [vocabulary[j] for j in kept]
    columns = np.r_[np.arange(K), K + kept]
    if not words:
        return ScopeFit(scope, moments.n, [], skipped_reason=f"no word said in >= {min_videos} videos"), columns, None
    if moments.n <= len(columns):
        return (ScopeFit(scope, moments.n, words, skipped_reason=f"{moments.n} captions <= {len(columns)} parameters"),
                columns, None)
    xtx = moments.xtx(columns)  # dense, one scope at a time
    controls = np.arange(K)
    restricted_factor = factorize(xtx[np.ix_(controls, controls)])
    factor = factorize(xtx, overwrite=True)
    del xtx
    if factor.rank < len(columns):
        return (ScopeFit(scope, moments.n, words,
                         skipped_reason=f"singular design: rank {factor.rank} < {len(columns)} parameters"),
                columns, None)
    restricted = ols_fit(moments, controls, restricted_factor, shift)
    return ScopeFit(scope, moments.n, words, restricted, ols_fit(moments, columns, factor, shift)), columns, factor


def batches(sizes: list[int], budget: int) -> list[list[int]]:
    """Consecutive index groups whose sizes add up to ≤ ``budget`` (an item above it alone)."""
    groups: list[list[int]] = []
    total = budget + 1
    for i, size in enumerate(sizes):
        if total + size > budget:
            groups.append([])
            total = 0
        groups[-1].append(i)
        total += size
    return groups


def vocabularies(tables: Tables, split: str, counts: CorpusCounts, categories: list[str], min_videos: int,
                 max_words: int, position_bins: int, accumulator_bytes: int) -> dict[str, np.ndarray]:
    """Each fitted scope's vocabulary as indices into ``counts.words`` (pass 2 for categories)."""
    chosen = {OVERALL: select_vocabulary(counts.video_counts, min_videos, max_words)}
    words = pa.array(counts.words, type=pa.string())
    per_category = 8 * max(len(counts.words), 1)
    for group in batches([per_category] * len(categories), accumulator_bytes):
        names = [categories[i] for i in group]
        for name, row in zip(names, category_video_counts(tables, split, names, words, position_bins)):
            chosen[name] = select_vocabulary(row, min_videos, max_words)
    return chosen


def ftest_row(fit: ScopeFit, cluster_by_video: bool = False) -> dict[str, object]:
    """One FTEST_COLUMNS row (+ CLUSTER_FTEST_COLUMNS): the nested F-test of the word block, or
    the skip reason (NaNs)."""
    columns = FTEST_COLUMNS + (CLUSTER_FTEST_COLUMNS if cluster_by_video else [])
    row: dict[str, object] = dict.fromkeys(columns, np.nan)
    row.update(scope=fit.scope, n=fit.n, k_controls=K, k_words=len(fit.words), skipped_reason=fit.skipped_reason)
    if fit.full is not None:
        f_value, p_value, df_num = fit.full.compare_f_test(fit.restricted)
        # Degrees of freedom as floats, as statsmodels gives them (the written tables keep "49.0").
        row.update(F=f_value, df_num=float(df_num), df_den=float(fit.full.df_resid), p=p_value,
                   r2_restricted=fit.restricted.rsquared, r2_full=fit.full.rsquared)
        if cluster_by_video:
            f_cluster, p_cluster = fit.full.cluster_wald
            row.update(n_videos=fit.full.n_videos, F_cluster=f_cluster, df_den_cluster=fit.full.n_videos - 1,
                       p_cluster=p_cluster)
    return row


def word_coefficients(fit: ScopeFit) -> pd.DataFrame:
    """Every word's coefficient, standard error, t and two-sided p in the full model (WORD_COLUMNS,
    + CLUSTER_WORD_COLUMNS when the fit has a clustered covariance)."""
    full = fit.full
    table = pd.DataFrame({"scope": fit.scope, "word": fit.words, "coef": full.params[K:],
                          "se": full.bse[K:], "t": full.tvalues[K:], "p": full.pvalues[K:]})
    if full.cluster_variance is not None:
        table = table.assign(se_cluster=full.bse_cluster[K:], t_cluster=full.tvalues_cluster[K:],
                             p_cluster=full.pvalues_cluster[K:])
    return table


def top_coefficients(coefs: pd.DataFrame, top_words: int) -> pd.DataFrame:
    """The ``top_words`` largest positive and most negative coefficients, rank 1 = most extreme."""
    positive = coefs[coefs["coef"] > 0].sort_values(["coef", "word"], ascending=[False, True]).head(top_words)
    negative = coefs[coefs["coef"] < 0].sort_values(["coef", "word"]).head(top_words)
    parts = [part.assign(rank=np.arange(1, len(part) + 1), sign=sign)
             for part, sign in ((positive, "positive"), (negative, "negative"))]
    return pd.concat(parts, ignore_index=True)[list(coefs.columns) + ["rank", "sign"]]


def model_summary(fit: OlsFit, names: list[str]) -> str:
    """A statsmodels-like text summary: fit statistics, then one line per coefficient starting
    with its name (coef, std err, t, P>|t|, 95% interval; clustered SE, t, p when present)."""
    quantile = stats.t.ppf(0.975, fit.df_resid)
    header = (f"OLS of segment_auc   n = {fit.nobs}   parameters = {len(fit.params)}   df_resid = {fit.df_resid}\n"
              f"R-squared {fit.rsquared:.6f}   adj. R-squared {fit.rsquared_adj:.6f}   "
              f"F-statistic {fit.fvalue:.6g}   Prob (F-statistic) {fit.f_pvalue:.4g}\n"
              f"Log-likelihood {fit.llf:.6g}   AIC {fit.aic:.6g}   BIC {fit.bic:.6g}\n")
    width = max(len(name) for name in names)
    columns = f"{'coef':>12} {'std err':>12} {'t':>9} {'P>|t|':>10} {'[0.025':>12} {'0.975]':>12}"
    clustered = fit.cluster_variance is not None
    if clustered:
        header += f"clustered by video: {fit.n_videos} videos, t on {fit.n_videos - 1} df\n"
        columns += f" {'se_cluster':>12} {'t_cluster':>9} {'p_cluster':>10}"
    lines = [f"{'':<{width}} {columns}"]
    coef, se, t, p = fit.params, fit.bse, fit.tvalues, fit.pvalues  # each a vector, computed once
    cluster = (fit.bse_cluster, fit.tvalues_cluster, fit.pvalues_cluster) if clustered else None
    for j, name in enumerate(names):
        line = (f"{name:<{width}} {coef[j]:>12.6f} {se[j]:>12.6f} {t[j]:>9.3f} {p[j]:>10.4g} "
                f"{coef[j] - quantile * se[j]:>12.6f} {coef[j] + quantile * se[j]:>12.6f}")
        if cluster:
            line += f" {cluster[0][j]:>12.6f} {cluster[1][j]:>9.3f} {cluster[2][j]:>10.4g}"
        lines.append(line)
    return header + "\n".join(lines) + "\n"


def scope_summary(fit: ScopeFit) -> str:
    if fit.full is None:
        return f"=== {fit.scope}: skipped ({fit.skipped_reason}) ===\n"
    return (f"=== {fit.scope}: restricted (controls only) ===\n{model_summary(fit.restricted, CONTROL_NAMES)}\n"
            f"=== {fit.scope}: full (controls + {len(fit.words)} words) ===\n"
            f"{model_summary(fit.full, CONTROL_NAMES + [f'word[{w}]' for w in fit.words])}\n")


def add_cluster_cov(tables: Tables, split: str, fits: list[ScopeFit], factors: list[Factor | None],
                    design_columns: list[np.ndarray], words: pa.Array, position_bins: int,
                    shift: float) -> list[ScopeFit]:
    """``fits`` whose full models gain their covariance clustered by video (pass 4); ``factors``:
    their full models' factors (None for a skipped scope), ``design_columns``: their Frame.design
    columns."""
    done = [j for j, factor in enumerate(factors) if factor is not None]
    params = []
    for j in done:
        shifted = fits[j].full.params.copy()
        shifted[0] -= shift  # the residuals of pass 4 are of the shifted y
        params.append(shifted)
    meat = cluster_meat(tables, split, [fits[j].scope for j in done], [design_columns[j] for j in done],
                        params, words, position_bins, shift)
    fits = list(fits)
    for j, scope_meat in zip(done, meat):
        full = with_cluster_cov(fits[j].full, factors[j].inverse(), scope_meat, slice(K, None))
        fits[j] = replace(fits[j], full=full)
    return fits


def fit_scopes(tables: Tables, split: str, min_videos: int, max_words: int, position_bins: int,
               min_captions: int, cluster_by_video: bool = False,
               accumulator_bytes: int = 128 << 20) -> list[ScopeFit]:
    """Every scope's fit, OVERALL first then the categories by name (module docstring: passes,
    memory). A category with fewer than ``min_captions`` captions is skipped; the overall scope
    only for a structural reason (no word, fewer captions than parameters, singular design)."""
    counts = count_captions(tables, split, min_videos)
    categories = sorted(name for name in counts.captions if name != OVERALL)
    fitted = [c for c in categories if counts.captions[c] >= min_captions]
    chosen = vocabularies(tables, split, counts, fitted, min_videos, max_words, position_bins, accumulator_bytes)
    results: dict[str, ScopeFit] = {
        c: ScopeFit(c, counts.captions[c], [],
                    skipped_reason=f"{counts.captions[c]} captions < min_captions {min_captions}")
        for c in categories if c not in chosen}
    for name in [OVERALL] + fitted:
        if not len(chosen[name]):
            results[name] = ScopeFit(name, counts.captions[name], [],
                                     skipped_reason=f"no word said in >= {min_videos} videos")
    todo = [name for name in [OVERALL] + fitted if name not in results]
    words = pa.array(counts.words, type=pa.string())
    sizes = [accumulator_bytes_of(K + len(chosen[name]), counts.captions[name], cluster_by_video) for name in todo]
    for group in batches(sizes, accumulator_bytes):
        names = [todo[i] for i in group]
        columns = [np.r_[np.arange(K), K + chosen[name]] for name in names]
        moments = accumulate_moments(tables, split, names, columns, [counts.captions[name] for name in names],
                                     words, position_bins, counts.mean_auc)
        fits, factors, design_columns = [], [], []
        moments.reverse()
        for name, cols in zip(names, columns):
            # Each scope's X'X is dropped once solved: its memory serves the next scope's solve
            # (only the factors stay, for the cluster pass).
            fit, used, factor = fit_from_moments(name, moments.pop(), [counts.words[i] for i in chosen[name]],
                                                 min_videos, counts.mean_auc)
            fits.append(fit)
            factors.append(factor if cluster_by_video else None)
            design_columns.append(cols[used])
        if cluster_by_video:
            fits = add_cluster_cov(tables, split, fits, factors, design_columns, words, position_bins,
                                   counts.mean_auc)
        results.update({fit.scope: fit for fit in fits})
        log.info("lexical OLS: %d of %d scopes done", len(results), 1 + len(categories))
    return [results[name] for name in [OVERALL] + categories]


def lexical_ols(tables: Tables, split: str, min_videos: int, max_words: int, top_words: int,
                position_bins: int, min_captions: int, cluster_by_video: bool = False,
                accumulator_bytes: int = 128 << 20) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, str]:
    """Fit every scope; return (top coefficients COEF_COLUMNS, every word's coefficient
    WORD_COLUMNS, F-test table FTEST_COLUMNS, text summary of every fitted model); with
    ``cluster_by_video`` the tables gain CLUSTER_WORD_COLUMNS / CLUSTER_FTEST_COLUMNS.

    ``tables``: called once per pass, yields the per-caption tables (INPUT_COLUMNS, one per shard,
    every video's captions in one table). ``accumulator_bytes`` bounds memory, not results.
    """
    fits = fit_scopes(tables, split, min_videos, max_words, position_bins, min_captions, cluster_by_video,
                      accumulator_bytes)
    word_columns = WORD_COLUMNS + (CLUSTER_WORD_COLUMNS if cluster_by_video else [])
    word_tables = [word_coefficients(fit) for fit in fits if fit.full is not None]
    words = pd.concat(word_tables, ignore_index=True) if word_tables else pd.DataFrame(columns=word_columns)
    top_tables = [top_coefficients(table, top_words) for table in word_tables]
    top = (pd.concat(top_tables, ignore_index=True) if top_tables
           else pd.DataFrame(columns=word_columns + ["rank", "sign"]))
    ftest = pd.DataFrame([ftest_row(fit, cluster_by_video) for fit in fits],
                         columns=FTEST_COLUMNS + (CLUSTER_FTEST_COLUMNS if cluster_by_video else []))
    return top, words, ftest, "\n".join(scope_summary(fit) for fit in fits)
