import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from statsmodels.stats.anova import anova_lm

from groundprobe.lexical_ols import (COEF_COLUMNS, FTEST_COLUMNS, WORD_COLUMNS, fit_scope, ftest_row, lexical_ols,
                                     select_vocabulary, word_coefficients)

POSITIVE = ["oven", "knife"]      # planted: always said while the object is visible
NEGATIVE = ["subscribe", "guys"]  # planted: never
NEUTRAL = ["today", "really", "just", "okay"]
WORDS = POSITIVE + NEGATIVE + NEUTRAL


def simulate(seed: int, word_effect: float, n_videos: int = 60, per_video: int = 20) -> pd.DataFrame:
    """Captions with known effects: +0.08 in the first position bin, +0.05 in the last, +0.03 per
    log token, +word_effect for POSITIVE words, -word_effect for NEGATIVE ones, N(0, 0.05) noise."""
    rng = np.random.default_rng(seed)
    n = n_videos * per_video
    rel_position = rng.uniform(0, 1, n)
    n_tokens = rng.integers(1, 30, n)
    present = rng.random((n, len(WORDS))) < 0.2
    tokens = [" ".join([w for w, p in zip(WORDS, row) if p] + ["filler"]) for row in present]
    effect = np.r_[np.full(2, word_effect), np.full(2, -word_effect), np.zeros(4)]
    auc = (0.6 + 0.08 * (rel_position < 0.1) + 0.05 * (rel_position >= 0.9) + 0.03 * np.log(n_tokens)
           + present @ effect + rng.normal(0, 0.05, n))
    return pd.DataFrame({"video_id": np.repeat([f"v{i:03d}" for i in range(n_videos)], per_video),
                         "split": "validation", "category": "Cooking", "labels": "Cooking",
                         "start_s": 0, "rel_position": rel_position, "n_tokens": n_tokens,
                         "tokens": tokens, "segment_auc": auc})


def formula_reference(rows: pd.DataFrame):
    """The same models through the formula API, which builds its own design from named columns."""
    frame = rows.assign(**{f"w_{w}": rows["tokens"].str.split().apply(lambda t, w=w: float(w in t))
                           for w in WORDS})
    frame["first"] = (frame["rel_position"] < 0.1).astype(float)
    frame["last"] = (frame["rel_position"] >= 0.9).astype(float)
    controls = "segment_auc ~ first + last + np.log(n_tokens)"
    restricted = smf.ols(controls, frame).fit()
    full = smf.ols(controls + "".join(f" + w_{w}" for w in WORDS), frame).fit()
    return restricted, full


def fit(rows: pd.DataFrame, **overrides):
    args = dict(min_videos=5, max_words=100, position_bins=10, min_captions=0) | overrides
    return fit_scope("Cooking", rows, **args)


@pytest.mark.parametrize("seed", [0, 1])
def test_matches_formula_api(seed):
    rows = simulate(seed, word_effect=0.1)
    ours = fit(rows)
    assert sorted(ours.words) == sorted(WORDS)  # "filler" is in every caption: collinear, dropped
    restricted, full = formula_reference(rows)
    coefs = word_coefficients(ours).set_index("word")
    for word in WORDS:
        for ours_col, ref in (("coef", full.params), ("se", full.bse), ("p", full.pvalues)):
            assert coefs.loc[word, ours_col] == pytest.approx(ref[f"w_{word}"], rel=1e-8, abs=1e-12)
    np.testing.assert_allclose(ours.restricted.params, restricted.params.to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(ours.restricted.bse, restricted.bse.to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(ours.full.params[:4], full.params.to_numpy()[:4], rtol=1e-8)
    anova = anova_lm(restricted, full)
    row = ftest_row(ours)
    assert row["F"] == pytest.approx(anova["F"].iloc[1], rel=1e-8)
    assert row["p"] == pytest.approx(anova["Pr(>F)"].iloc[1], rel=1e-8, abs=1e-300)
    assert (row["df_num"], row["df_den"]) == (anova["df_diff"].iloc[1], anova["df_resid"].iloc[1])
    assert row["r2_full"] == pytest.approx(full.rsquared, rel=1e-8)
    assert row["r2_restricted"] == pytest.approx(restricted.rsquared, rel=1e-8)


def test_planted_words_recovered_and_ftest_significant():
    coefs = word_coefficients(fit(simulate(2, word_effect=0.05))).set_index("word")
    assert (coefs.loc[POSITIVE, "coef"] > 0).all() and (coefs.loc[POSITIVE, "p"] < 0.01).all()
    assert (coefs.loc[NEGATIVE, "coef"] < 0).all() and (coefs.loc[NEGATIVE, "p"] < 0.01).all()
    assert ftest_row(fit(simulate(2, word_effect=0.05)))["p"] < 0.01


def test_ftest_not_small_without_lexical_effect():
    assert ftest_row(fit(simulate(3, word_effect=0.0)))["p"] > 0.05


def test_select_vocabulary_counts_videos_not_captions():
    video_ids = pd.Series(["a", "a", "a", "b", "c"])
    words = [{"x"}, {"x"}, {"x"}, {"y"}, {"y", "z"}]
    assert select_vocabulary(video_ids, words, min_videos=2, max_words=10) == ["y"]
    assert select_vocabulary(video_ids, words, min_videos=1, max_words=2) == ["y", "x"]


def test_tables_with_skipped_category():
    big = simulate(4, word_effect=0.1)
    small = simulate(5, word_effect=0.1, n_videos=3, per_video=5).assign(
        video_id=lambda d: "s" + d["video_id"], category="Mixtape", labels="Mixtape")
    train = simulate(6, word_effect=0.1, n_videos=2).assign(split="train", video_id=lambda d: "t" + d["video_id"])
    coefs, words, ftest, summaries = lexical_ols(pd.concat([big, small, train]), "validation", min_videos=2,
                                                 max_words=100, top_words=2, position_bins=10, min_captions=50)
    assert list(coefs.columns) == COEF_COLUMNS and list(ftest.columns) == FTEST_COLUMNS
    assert list(words.columns) == WORD_COLUMNS and set(words["scope"]) == {"overall", "Cooking"}
    # Every word of a fitted scope is listed, the top ones with the same numbers.
    assert len(words[words["scope"] == "Cooking"]) == ftest.set_index("scope").loc["Cooking", "k_words"]
    merged = coefs.merge(words, on=["scope", "word"], suffixes=("", "_all"))
    assert len(merged) == len(coefs) and (merged["coef"] == merged["coef_all"]).all()
    ftest = ftest.set_index("scope")
    assert ftest.loc["overall", "n"] == len(big) + len(small)  # training captions left out
    assert ftest.loc["Mixtape", "skipped_reason"] == "15 captions < min_captions 50"
    assert np.isnan(ftest.loc["Mixtape", "F"])
    assert ftest.loc["Cooking", "skipped_reason"] == "" and ftest.loc["Cooking", "p"] < 0.01
    cooking = coefs[coefs["scope"] == "Cooking"]
    assert set(cooking.loc[cooking["sign"] == "positive", "word"]) == set(POSITIVE)
    assert set(cooking.loc[cooking["sign"] == "negative", "word"]) == set(NEGATIVE)
    assert list(cooking["rank"]) == [1, 2, 1, 2]
    assert "Mixtape: skipped" in summaries and "word[oven]" in summaries


def test_fewer_captions_than_parameters_is_skipped():
    rows = simulate(7, word_effect=0.1, n_videos=10, per_video=1)
    assert fit(rows, min_videos=1).skipped_reason.startswith("10 captions <= ")
