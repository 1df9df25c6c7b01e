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

Modules: groundprobe.analysis.lexical_captions parses the caption tables (Frame);
groundprobe.analysis.lexical_passes streams passes 1-4 over them;
groundprobe.analysis.ols holds the linear algebra from sufficient statistics (Moments, Factor,
OlsFit, the clustered covariance).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pyarrow as pa

from groundprobe.analysis.lexical_captions import (
    OVERALL,
    Tables,
)
from groundprobe.analysis.lexical_passes import (
    CorpusCounts,
    accumulate_moments,
    category_video_counts,
    cluster_meat,
    count_captions,
    select_vocabulary,
)
from groundprobe.analysis.ols import (
    CONTROL_NAMES,
    K,
    Factor,
    Moments,
    OlsFit,
    accumulator_bytes_of,
    drop_redundant_words,
    factorize,
    model_summary,
    ols_fit,
    with_cluster_cov,
)

WORD_COLUMNS = ["scope", "word", "coef", "se", "t", "p"]
COEF_COLUMNS = WORD_COLUMNS + ["rank", "sign"]
FTEST_COLUMNS = [
    "scope",
    "n",
    "k_controls",
    "k_words",
    "F",
    "df_num",
    "df_den",
    "p",
    "r2_restricted",
    "r2_full",
    "skipped_reason",
]
# Added after the columns above only with cluster_by_video.
CLUSTER_WORD_COLUMNS = ["se_cluster", "t_cluster", "p_cluster"]
CLUSTER_FTEST_COLUMNS = ["n_videos", "F_cluster", "df_den_cluster", "p_cluster"]

log = logging.getLogger(__name__)


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


def fit_from_moments(
    scope: str, moments: Moments, vocabulary: list[str], min_videos: int, shift: float
) -> tuple[ScopeFit, np.ndarray, Factor | None]:
    """The scope's fit from its moments over the controls + ``vocabulary`` columns, the design
    columns used (into the moments' columns) and the full model's factor (None when skipped)."""
    kept = drop_redundant_words(moments)
    words = [vocabulary[j] for j in kept]
    columns = np.r_[np.arange(K), K + kept]
    if not words:
        return ScopeFit(scope, moments.n, [], skipped_reason=f"no word said in >= {min_videos} videos"), columns, None
    if moments.n <= len(columns):
        return (
            ScopeFit(scope, moments.n, words, skipped_reason=f"{moments.n} captions <= {len(columns)} parameters"),
            columns,
            None,
        )
    xtx = moments.xtx(columns)  # dense, one scope at a time
    controls = np.arange(K)
    restricted_factor = factorize(xtx[np.ix_(controls, controls)])
    factor = factorize(xtx, overwrite=True)
    del xtx
    if factor.rank < len(columns):
        return (
            ScopeFit(
                scope,
                moments.n,
                words,
                skipped_reason=f"singular design: rank {factor.rank} < {len(columns)} parameters",
            ),
            columns,
            None,
        )
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


def vocabularies(
    tables: Tables,
    split: str,
    counts: CorpusCounts,
    categories: list[str],
    min_videos: int,
    max_words: int,
    position_bins: int,
    accumulator_bytes: int,
) -> dict[str, np.ndarray]:
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
        row.update(
            F=f_value,
            df_num=float(df_num),
            df_den=float(fit.full.df_resid),
            p=p_value,
            r2_restricted=fit.restricted.rsquared,
            r2_full=fit.full.rsquared,
        )
        if cluster_by_video:
            f_cluster, p_cluster = fit.full.cluster_wald
            row.update(
                n_videos=fit.full.n_videos,
                F_cluster=f_cluster,
                df_den_cluster=fit.full.n_videos - 1,
                p_cluster=p_cluster,
            )
    return row


def word_coefficients(fit: ScopeFit) -> pd.DataFrame:
    """Every word's coefficient, standard error, t and two-sided p in the full model (WORD_COLUMNS,
    + CLUSTER_WORD_COLUMNS when the fit has a clustered covariance)."""
    full = fit.full
    table = pd.DataFrame(
        {
            "scope": fit.scope,
            "word": fit.words,
            "coef": full.params[K:],
            "se": full.bse[K:],
            "t": full.tvalues[K:],
            "p": full.pvalues[K:],
        }
    )
    if full.cluster_variance is not None:
        table = table.assign(
            se_cluster=full.bse_cluster[K:], t_cluster=full.tvalues_cluster[K:], p_cluster=full.pvalues_cluster[K:]
        )
    return table


def top_coefficients(coefs: pd.DataFrame, top_words: int) -> pd.DataFrame:
    """The ``top_words`` largest positive and most negative coefficients, rank 1 = most extreme."""
    positive = coefs[coefs["coef"] > 0].sort_values(["coef", "word"], ascending=[False, True]).head(top_words)
    negative = coefs[coefs["coef"] < 0].sort_values(["coef", "word"]).head(top_words)
    parts = [
        part.assign(rank=np.arange(1, len(part) + 1), sign=sign)
        for part, sign in ((positive, "positive"), (negative, "negative"))
    ]
    return pd.concat(parts, ignore_index=True)[list(coefs.columns) + ["rank", "sign"]]


def scope_summary(fit: ScopeFit) -> str:
    if fit.full is None:
        return f"=== {fit.scope}: skipped ({fit.skipped_reason}) ===\n"
    return (
        f"=== {fit.scope}: restricted (controls only) ===\n{model_summary(fit.restricted, CONTROL_NAMES)}\n"
        f"=== {fit.scope}: full (controls + {len(fit.words)} words) ===\n"
        f"{model_summary(fit.full, CONTROL_NAMES + [f'word[{w}]' for w in fit.words])}\n"
    )


def add_cluster_cov(
    tables: Tables,
    split: str,
    fits: list[ScopeFit],
    factors: list[Factor | None],
    design_columns: list[np.ndarray],
    words: pa.Array,
    position_bins: int,
    shift: float,
) -> list[ScopeFit]:
    """``fits`` whose full models gain their covariance clustered by video (pass 4); ``factors``:
    their full models' factors (None for a skipped scope), ``design_columns``: their Frame.design
    columns."""
    done = [j for j, factor in enumerate(factors) if factor is not None]
    params = []
    for j in done:
        shifted = fits[j].full.params.copy()
        shifted[0] -= shift  # the residuals of pass 4 are of the shifted y
        params.append(shifted)
    meat = cluster_meat(
        tables,
        split,
        [fits[j].scope for j in done],
        [design_columns[j] for j in done],
        params,
        words,
        position_bins,
        shift,
    )
    fits = list(fits)
    for j, scope_meat in zip(done, meat):
        full = with_cluster_cov(fits[j].full, factors[j].inverse(), scope_meat, slice(K, None))
        fits[j] = replace(fits[j], full=full)
    return fits


def fit_scopes(
    tables: Tables,
    split: str,
    min_videos: int,
    max_words: int,
    position_bins: int,
    min_captions: int,
    cluster_by_video: bool = False,
    accumulator_bytes: int = 128 << 20,
) -> list[ScopeFit]:
    """Every scope's fit, OVERALL first then the categories by name (module docstring: passes,
    memory). A category with fewer than ``min_captions`` captions is skipped; the overall scope
    only for a structural reason (no word, fewer captions than parameters, singular design)."""
    counts = count_captions(tables, split, min_videos)
    categories = sorted(name for name in counts.captions if name != OVERALL)
    fitted = [c for c in categories if counts.captions[c] >= min_captions]
    chosen = vocabularies(tables, split, counts, fitted, min_videos, max_words, position_bins, accumulator_bytes)
    results: dict[str, ScopeFit] = {
        c: ScopeFit(
            c, counts.captions[c], [], skipped_reason=f"{counts.captions[c]} captions < min_captions {min_captions}"
        )
        for c in categories
        if c not in chosen
    }
    for name in [OVERALL] + fitted:
        if not len(chosen[name]):
            results[name] = ScopeFit(
                name, counts.captions[name], [], skipped_reason=f"no word said in >= {min_videos} videos"
            )
    todo = [name for name in [OVERALL] + fitted if name not in results]
    words = pa.array(counts.words, type=pa.string())
    sizes = [accumulator_bytes_of(K + len(chosen[name]), counts.captions[name], cluster_by_video) for name in todo]
    for group in batches(sizes, accumulator_bytes):
        names = [todo[i] for i in group]
        columns = [np.r_[np.arange(K), K + chosen[name]] for name in names]
        moments = accumulate_moments(
            tables,
            split,
            names,
            columns,
            [counts.captions[name] for name in names],
            words,
            position_bins,
            counts.mean_auc,
        )
        fits, factors, design_columns = [], [], []
        moments.reverse()
        for name, cols in zip(names, columns):
            # Each scope's X'X is dropped once solved: its memory serves the next scope's solve
            # (only the factors stay, for the cluster pass).
            fit, used, factor = fit_from_moments(
                name, moments.pop(), [counts.words[i] for i in chosen[name]], min_videos, counts.mean_auc
            )
            fits.append(fit)
            factors.append(factor if cluster_by_video else None)
            design_columns.append(cols[used])
        if cluster_by_video:
            fits = add_cluster_cov(tables, split, fits, factors, design_columns, words, position_bins, counts.mean_auc)
        results.update({fit.scope: fit for fit in fits})
        log.info("lexical OLS: %d of %d scopes done", len(results), 1 + len(categories))
    return [results[name] for name in [OVERALL] + categories]


def lexical_ols(
    tables: Tables,
    split: str,
    min_videos: int,
    max_words: int,
    top_words: int,
    position_bins: int,
    min_captions: int,
    cluster_by_video: bool = False,
    accumulator_bytes: int = 128 << 20,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, str]:
    """Fit every scope; return (top coefficients COEF_COLUMNS, every word's coefficient
    WORD_COLUMNS, F-test table FTEST_COLUMNS, text summary of every fitted model); with
    ``cluster_by_video`` the tables gain CLUSTER_WORD_COLUMNS / CLUSTER_FTEST_COLUMNS.

    ``tables``: called once per pass, yields the per-caption tables (INPUT_COLUMNS, one per shard,
    every video's captions in one table). ``accumulator_bytes`` bounds memory, not results.
    """
    fits = fit_scopes(
        tables, split, min_videos, max_words, position_bins, min_captions, cluster_by_video, accumulator_bytes
    )
    word_columns = WORD_COLUMNS + (CLUSTER_WORD_COLUMNS if cluster_by_video else [])
    word_tables = [word_coefficients(fit) for fit in fits if fit.full is not None]
    words = pd.concat(word_tables, ignore_index=True) if word_tables else pd.DataFrame(columns=word_columns)
    top_tables = [top_coefficients(table, top_words) for table in word_tables]
    top = (
        pd.concat(top_tables, ignore_index=True)
        if top_tables
        else pd.DataFrame(columns=word_columns + ["rank", "sign"])
    )
    ftest = pd.DataFrame(
        [ftest_row(fit, cluster_by_video) for fit in fits],
        columns=FTEST_COLUMNS + (CLUSTER_FTEST_COLUMNS if cluster_by_video else []),
    )
    return top, words, ftest, "\n".join(scope_summary(fit) for fit in fits)
