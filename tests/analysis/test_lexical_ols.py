import re
from collections import defaultdict

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import statsmodels.api as sm

from groundprobe.analysis.lexical_captions import OVERALL
from groundprobe.analysis.lexical_ols import (
    CLUSTER_FTEST_COLUMNS,
    CLUSTER_WORD_COLUMNS,
    COEF_COLUMNS,
    FTEST_COLUMNS,
    WORD_COLUMNS,
    fit_scopes,
    ftest_row,
    lexical_ols,
    word_coefficients,
)
from groundprobe.analysis.lexical_passes import accumulate_moments, select_vocabulary
from groundprobe.analysis.ols import CONTROL_NAMES

POSITIVE = ["oven", "knife"]  # planted: always said while the object is visible
NEGATIVE = ["subscribe", "guys"]  # planted: never
NEUTRAL = ["today", "really", "just", "okay", "pepper", "salt", "rare"]
WORDS = POSITIVE + NEGATIVE + NEUTRAL
ARGS = dict(min_videos=5, max_words=100, position_bins=10)


def simulate(
    seed: int,
    word_effect: float,
    n_videos: int = 60,
    per_video: int = 20,
    prefix: str = "v",
    labels=lambda i: "Cooking" if i % 2 else "Cooking;Tools" if i % 3 else "Tools",
) -> pd.DataFrame:
    """Captions with known effects: +0.08 in the first position bin, +0.05 in the last, +0.03 per
    log token, +word_effect for POSITIVE words, -word_effect for NEGATIVE ones, a N(0, 0.03)
    effect per video and N(0, 0.05) noise per caption. "pepper" is always said with "salt"
    (duplicate columns), "filler" in every caption (constant), "rare" in one video only."""
    rng = np.random.default_rng(seed)
    n = n_videos * per_video
    video = np.repeat(np.arange(n_videos), per_video)
    rel_position = rng.uniform(0, 1, n)
    n_tokens = rng.integers(1, 30, n)
    present = rng.random((n, len(WORDS))) < 0.2
    present[:, WORDS.index("pepper")] = present[:, WORDS.index("salt")]
    present[:, WORDS.index("rare")] &= video < 1
    tokens = [" ".join([w for w, p in zip(WORDS, row) if p] + ["filler"]) for row in present]
    effect = np.r_[np.full(2, word_effect), np.full(2, -word_effect), np.zeros(len(NEUTRAL))]
    auc = (
        0.6
        + 0.08 * (rel_position < 0.1)
        + 0.05 * (rel_position >= 0.9)
        + 0.03 * np.log(n_tokens)
        + present @ effect
        + rng.normal(0, 0.03, n_videos)[video]
        + rng.normal(0, 0.05, n)
    )
    return pd.DataFrame(
        {
            "video_id": [f"{prefix}{i:03d}" for i in video],
            "split": "validation",
            "labels": [labels(i) for i in video],
            "verticals": "",
            "instructional": 1,
            "segment": np.tile(np.arange(per_video), n_videos),
            "start_s": 0,
            "rel_position": rel_position,
            "n_tokens": n_tokens,
            "tokens": tokens,
            "segment_auc": auc,
        }
    )


def corpus(seed: int = 0, word_effect: float = 0.1) -> pd.DataFrame:
    """Cooking and Tools (overlapping), a Singular category whose videos say exactly one of
    "left"/"right" per caption (their indicators add up to the intercept), a small Mixtape
    category, training captions and a caption without AUC (both left out)."""
    main = simulate(seed, word_effect)
    singular = simulate(seed + 100, word_effect, n_videos=8, per_video=15, prefix="s", labels=lambda i: "Singular")
    side = np.random.default_rng(seed).random(len(singular)) < 0.5
    singular["tokens"] = singular["tokens"] + np.where(side, " left", " right")
    small = simulate(seed + 200, word_effect, n_videos=3, per_video=5, prefix="m", labels=lambda i: "Mixtape")
    small.loc[0, "tokens"] = np.nan  # a caption of no known token
    train = simulate(seed + 300, word_effect, n_videos=4, prefix="t").assign(split="train")
    main.loc[5, "segment_auc"] = np.nan
    return pd.concat([main, singular, small, train], ignore_index=True)


def shards(table: pd.DataFrame, n_shards: int) -> list[pd.DataFrame]:
    """Whole videos per shard, round-robin."""
    codes = pd.factorize(table["video_id"])[0] % n_shards
    return [table[codes == s] for s in range(n_shards)]


def reference(rows: pd.DataFrame, min_videos: int, max_words: int, position_bins: int):
    """(words, dense design) built independently: sets of words, 0/1 columns, duplicates and
    constant columns dropped by comparing whole columns."""
    said = [set(t.split()) if isinstance(t, str) else set() for t in rows["tokens"]]
    videos = defaultdict(set)
    for video, words in zip(rows["video_id"], said):
        for word in words:
            videos[word].add(video)
    vocabulary = sorted((w for w in videos if len(videos[w]) >= min_videos), key=lambda w: (-len(videos[w]), w))
    indicators = np.array([[w in words for w in vocabulary[:max_words]] for words in said], dtype=float)
    keep = []
    for j in range(indicators.shape[1]):
        column = indicators[:, j]
        if column.min() < column.max() and not any((indicators[:, i] == column).all() for i in keep):
            keep.append(j)
    rel, tokens = rows["rel_position"].to_numpy(), rows["n_tokens"].to_numpy()
    controls = np.column_stack(
        [np.ones(len(rows)), rel < 1 / position_bins, rel >= 1 - 1 / position_bins, np.log(tokens)]
    )
    return [vocabulary[j] for j in keep], np.hstack([controls, indicators[:, keep]])


def scope_captions(table: pd.DataFrame, scope: str) -> pd.DataFrame:
    rows = table[(table["split"] == "validation") & table["segment_auc"].notna()]
    return rows if scope == OVERALL else rows[rows["labels"].str.split(";").apply(lambda names: scope in names)]


def close(ours, theirs, rtol=1e-8):
    np.testing.assert_allclose(np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float), rtol=rtol, atol=1e-14)


@pytest.mark.parametrize("seed", [0, 1])
def test_matches_statsmodels_on_the_dense_design_with_clustered_errors(seed):
    table = corpus(seed)
    fits = {
        fit.scope: fit
        for fit in fit_scopes(lambda: shards(table, 3), "validation", min_captions=100, cluster_by_video=True, **ARGS)
    }
    assert list(fits) == [OVERALL, "Cooking", "Mixtape", "Singular", "Tools"]
    assert fits["Mixtape"].skipped_reason == "15 captions < min_captions 100"
    for scope in (OVERALL, "Cooking", "Tools"):
        rows = scope_captions(table, scope)
        words, design = reference(rows, **ARGS)
        ours = fits[scope]
        assert ours.words == words and ours.n == len(rows)
        assert "pepper" in words and not {"salt", "rare"} & set(words)  # duplicate, in < min_videos videos
        assert ("filler" in words) == (scope == OVERALL)  # constant but in the caption without tokens
        auc = rows["segment_auc"].to_numpy()
        full, restricted = sm.OLS(auc, design).fit(), sm.OLS(auc, design[:, :4]).fit()
        for model, reference_model in ((ours.full, full), (ours.restricted, restricted)):
            for attribute in (
                "params",
                "bse",
                "tvalues",
                "pvalues",
                "ssr",
                "rsquared",
                "rsquared_adj",
                "fvalue",
                "f_pvalue",
                "llf",
                "aic",
                "bic",
                "df_resid",
            ):
                close(getattr(model, attribute), getattr(reference_model, attribute))
        f_value, p_value, df_num = full.compare_f_test(restricted)
        row = ftest_row(ours, cluster_by_video=True)
        close(
            [row["F"], row["p"], row["df_num"], row["df_den"], row["r2_full"], row["r2_restricted"]],
            [f_value, p_value, df_num, full.df_resid, full.rsquared, restricted.rsquared],
        )
        groups = pd.factorize(rows["video_id"])[0]
        clustered = sm.OLS(auc, design).fit(cov_type="cluster", cov_kwds={"groups": groups}, use_t=True)
        close(ours.full.bse_cluster, clustered.bse)
        close(ours.full.pvalues_cluster, clustered.pvalues)
        wald = clustered.f_test(np.eye(design.shape[1])[4:])
        assert row["n_videos"] == groups.max() + 1 and row["df_den_cluster"] == wald.df_denom
        close([row["F_cluster"], row["p_cluster"]], [wald.fvalue, wald.pvalue])
    singular_rows = scope_captions(table, "Singular")
    words, design = reference(singular_rows, **ARGS)
    rank = np.linalg.matrix_rank(design)
    assert rank < design.shape[1]  # left + right = intercept
    assert fits["Singular"].skipped_reason == f"singular design: rank {rank} < {design.shape[1]} parameters"


def test_tables_do_not_depend_on_sharding_or_the_memory_budget():
    table = corpus(2)
    one = lexical_ols(lambda: [table], "validation", top_words=2, min_captions=100, cluster_by_video=True, **ARGS)
    many = lexical_ols(
        lambda: shards(table, 3),
        "validation",
        top_words=2,
        min_captions=100,
        cluster_by_video=True,
        accumulator_bytes=1,
        **ARGS,
    )  # every scope (and category count) in a pass of its own
    for ours, theirs in zip(one[:3], many[:3]):
        pd.testing.assert_frame_equal(ours, theirs, rtol=1e-10)


def test_moments_hold_the_exact_xtx_of_the_dense_design_in_int32_or_int64():
    """Pass 3's X'X (word block as integer counts, upper triangle) against the dense design's
    X'X; the counts switch to int64 for a scope of >= 2^31 captions (only the type changes)."""
    table = corpus(3)
    vocabulary = ["oven", "salt", "pepper", "filler", "guys"]
    columns = np.arange(4 + len(vocabulary))
    scopes = [OVERALL, "Tools"]
    moments = accumulate_moments(
        lambda: shards(table, 3),
        "validation",
        scopes,
        [columns] * 2,
        [100, 2**31],
        pa.array(sorted(vocabulary)),
        10,
        0.0,
    )
    for scope, ours in zip(scopes, moments):
        rows = scope_captions(table, scope)
        said = [set(t.split()) if isinstance(t, str) else set() for t in rows["tokens"]]
        rel, tokens = rows["rel_position"].to_numpy(), rows["n_tokens"].to_numpy()
        # the Frame's columns: controls, then the words in the order of the word array (sorted)
        design = np.column_stack(
            [np.ones(len(rows)), rel < 0.1, rel >= 0.9, np.log(tokens)]
            + [[w in words for words in said] for w in sorted(vocabulary)]
        ).astype(float)
        assert ours.n == len(rows) and ours.n_videos == rows["video_id"].nunique()
        xtx = design.T @ design
        np.testing.assert_allclose(ours.xtx(columns), xtx, rtol=1e-12)
        np.testing.assert_array_equal(ours.xtx(columns)[4:, 4:], xtx[4:, 4:])  # exact counts
        some = np.r_[0, 1, 2, 3, 5, 7, 8]  # controls and three of the words
        np.testing.assert_allclose(ours.xtx(some), xtx[np.ix_(some, some)], rtol=1e-12)
        close(ours.xty, design.T @ rows["segment_auc"].to_numpy())
    assert moments[0].cooccurrence.dtype == np.int32 and moments[1].cooccurrence.dtype == np.int64


def test_tables_columns_summaries_and_planted_words():
    table = corpus(4)
    coefs, words, ftest, summaries = lexical_ols(
        lambda: shards(table, 2), "validation", top_words=2, min_captions=100, **ARGS
    )
    assert list(coefs.columns) == COEF_COLUMNS and list(ftest.columns) == FTEST_COLUMNS
    assert list(words.columns) == WORD_COLUMNS and set(words["scope"]) == {OVERALL, "Cooking", "Tools"}
    assert len(words[words["scope"] == "Cooking"]) == ftest.set_index("scope").loc["Cooking", "k_words"]
    merged = coefs.merge(words, on=["scope", "word"], suffixes=("", "_all"))
    assert len(merged) == len(coefs) and (merged["coef"] == merged["coef_all"]).all()
    ftest = ftest.set_index("scope")
    assert ftest.loc[OVERALL, "n"] == (table["split"] == "validation").sum() - 1  # training and no-AUC left out
    assert np.isnan(ftest.loc["Mixtape", "F"]) and ftest.loc["Mixtape", "k_words"] == 0
    assert ftest.loc["Cooking", "skipped_reason"] == "" and ftest.loc["Cooking", "p"] < 0.01
    cooking = coefs[coefs["scope"] == "Cooking"]
    assert set(cooking.loc[cooking["sign"] == "positive", "word"]) == set(POSITIVE)
    assert set(cooking.loc[cooking["sign"] == "negative", "word"]) == set(NEGATIVE)
    assert list(cooking["rank"]) == [1, 2, 1, 2]
    assert "Mixtape: skipped" in summaries and "Singular: skipped (singular design" in summaries
    # The summary lines start with the name, then the coefficient (as the workflow test reads them).
    rows = scope_captions(table, OVERALL)
    restricted = sm.OLS(rows["segment_auc"].to_numpy(), reference(rows, **ARGS)[1][:, :4]).fit()
    block = summaries.split("=== overall: restricted (controls only) ===")[1].split("\n=== ")[0]
    for name, coef in zip(CONTROL_NAMES, restricted.params):
        assert float(re.search(rf"^{name}\s+(\S+)", block, re.M).group(1)) == pytest.approx(coef, abs=1e-6)
    assert "word[oven]" in summaries


def test_clustered_columns_are_added_after_todays():
    table = corpus(5)
    coefs, words, ftest, _ = lexical_ols(
        lambda: [table], "validation", top_words=2, min_captions=100, cluster_by_video=True, **ARGS
    )
    assert list(words.columns) == WORD_COLUMNS + CLUSTER_WORD_COLUMNS
    assert list(coefs.columns) == WORD_COLUMNS + CLUSTER_WORD_COLUMNS + ["rank", "sign"]
    assert list(ftest.columns) == FTEST_COLUMNS + CLUSTER_FTEST_COLUMNS
    # The planted per-video effect (sd 0.03 against 0.05 per caption, 20 captions a video) makes a
    # video's captions correlated: the intercept's clustered SE is wider than the plain one (1.44x
    # here; in Cooking, as overall "filler" is nearly the intercept).
    cooking = fit_scopes(lambda: [table], "validation", min_captions=100, cluster_by_video=True, **ARGS)[1]
    assert cooking.scope == "Cooking" and cooking.full.bse_cluster[0] > 1.2 * cooking.full.bse[0]


def fit_overall(table: pd.DataFrame):
    return fit_scopes(lambda: [table], "validation", min_captions=100, **ARGS)[0]


def test_planted_words_recovered_and_ftest_significant():
    fit = fit_overall(simulate(2, word_effect=0.05))
    coefs = word_coefficients(fit).set_index("word")
    assert (coefs.loc[POSITIVE, "coef"] > 0).all() and (coefs.loc[POSITIVE, "p"] < 0.01).all()
    assert (coefs.loc[NEGATIVE, "coef"] < 0).all() and (coefs.loc[NEGATIVE, "p"] < 0.01).all()
    assert ftest_row(fit)["p"] < 0.01


def test_ftest_not_small_without_lexical_effect():
    assert ftest_row(fit_overall(simulate(3, word_effect=0.0)))["p"] > 0.05


def test_select_vocabulary_counts_threshold_and_ties():
    # counts aligned with the alphabetical words a, b, c, d
    assert list(select_vocabulary(np.array([3, 1, 5, 3]), min_videos=2, max_words=10)) == [2, 0, 3]
    assert list(select_vocabulary(np.array([3, 1, 5, 3]), min_videos=2, max_words=2)) == [2, 0]


def test_fewer_captions_than_parameters_is_skipped():
    rows = simulate(7, word_effect=0.1, n_videos=10, per_video=1)
    fit = fit_scopes(lambda: [rows], "validation", min_captions=0, **(ARGS | {"min_videos": 1}))[0]
    assert fit.skipped_reason.startswith("10 captions <= ") and fit.full is None
