import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy.stats import norm

from groundprobe.context_effects import (CONTEXT_COLUMNS, OVERALL, SLOPE_COLUMNS, category_members,
                                         clustered_mean_interval, context_effects, position_bin_index,
                                         select_categories, token_bin_index, token_bins, token_slope,
                                         token_slopes, write_context_figures)


def test_position_bins_are_equal_width_and_close_the_last_bin():
    index = position_bin_index(np.array([0.0, 0.05, 0.1, 0.5, 0.99, 1.0]), 10)
    assert index.tolist() == [0, 0, 1, 5, 9, 9]
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        position_bin_index(np.array([0.5, 1.2]), 10)


def test_token_bins_cut_at_quantiles_by_hand():
    # Quantiles 0.2, 0.4, 0.6, 0.8 fall between sorted positions 1-2, 3-4, 5-6, 7-8; the higher
    # counts there are 2, 3, 4, 5, the lower edges after the smallest count 1.
    bins = token_bins(np.array([1, 1, 2, 2, 3, 3, 4, 4, 5, 9]), 5)
    assert bins["bin"].tolist() == ["1", "2", "3", "4", "5-9"]
    assert bins["bin_centre"].tolist() == [1, 2, 3, 4, 7]
    assert token_bin_index(np.array([1, 5, 9, 12, 4]), bins).tolist() == [0, 4, 4, 4, 3]
    # Counts concentrated on one value merge into fewer bins instead of empty ones.
    assert token_bins(np.array([9] * 10 + [10]), 5)["bin"].tolist() == ["9-10"]


def test_clustered_interval_matches_statsmodels_cluster_robust_mean():
    values = np.array([0.2, 0.4, 0.9, 0.7, 0.1])
    videos = np.array(["a", "a", "b", "c", "c"])
    mean, low, high = clustered_mean_interval(values, videos, 0.95)
    fit = smf.ols("y ~ 1", pd.DataFrame({"y": values})).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(videos)[0]})
    assert mean == pytest.approx(fit.params["Intercept"])
    assert (high - low) / 2 == pytest.approx(norm.ppf(0.975) * fit.bse["Intercept"])
    # By hand for {0.2, 0.4 | 0.9}: residual sums -0.4 and 0.4, se = sqrt(2 * 0.32) / 3 = 0.8 / 3.
    mean, low, high = clustered_mean_interval(np.array([0.2, 0.4, 0.9]), np.array(["a", "a", "b"]), 0.95)
    assert (mean, high - mean) == pytest.approx((0.5, norm.ppf(0.975) * 0.8 / 3))
    assert np.isnan(clustered_mean_interval(values, np.zeros(5), 0.95)[1:]).all()


def test_categories_are_chosen_by_videos_not_captions():
    captions = pd.DataFrame({"video_id": ["a"] * 5 + ["b", "c", "d"],
                             "labels": ["Pet"] * 5 + ["Cooking;Dance", "Cooking", "Dance"]})
    assert select_categories(captions, [], 2) == ["Cooking", "Dance"]
    assert select_categories(captions, ["Pet"], 2) == ["Pet"]
    members = category_members(captions.iloc[4:6], ["Cooking", "Dance", "Pet"])
    assert list(zip(members["video_id"], members["category"])) == [
        ("a", OVERALL), ("b", OVERALL), ("b", "Cooking"), ("b", "Dance"), ("a", "Pet")]


def planted_captions() -> pd.DataFrame:
    """20 videos x 10 captions at positions 0.05 ... 0.95: the first and last caption of every
    video score 0.8, the others 0.5, each shifted by a per-video 0.01 * (v % 3 - 1).
    Videos 0-9 are Cooking, 10-19 Pet; in Cooking captions of 3 tokens, in Pet of 1 token score
    the planted 0.8 (the length effect has opposite signs)."""
    rows = []
    for video in range(20):
        category = "Cooking" if video < 10 else "Pet"
        for position in range(10):
            grounded = position in (0, 9)
            n_tokens = (3 if grounded else 1) if category == "Cooking" else (1 if grounded else 3)
            rows.append((f"v{video:02d}", category, (position + 0.5) / 10, n_tokens,
                         (0.8 if grounded else 0.5) + 0.01 * (video % 3 - 1)))
    return pd.DataFrame(rows, columns=["video_id", "labels", "rel_position", "n_tokens", "segment_auc"])


def test_planted_start_and_end_effect_by_hand():
    table = context_effects(planted_captions(), ["Cooking", "Pet"], n_position_bins=10, n_token_bins=4,
                            confidence=0.95)
    assert list(table.columns) == CONTEXT_COLUMNS
    position = table[table["panel"] == "position"].set_index(["category", "bin"])
    assert position["n"].groupby(level="category").apply(list).to_dict() == {
        OVERALL: [20] * 10, "Cooking": [10] * 10, "Pet": [10] * 10}
    # Overall shift: residues 0, 1, 2 occur 7, 7, 6 times in 0..19 -> mean 0.01 * (-7 + 6) / 20.
    overall = position.loc[OVERALL, "mean_segment_auc"].to_numpy()
    np.testing.assert_allclose(overall, [0.7995] + [0.4995] * 8 + [0.7995])
    for category in (OVERALL, "Cooking", "Pet"):
        means = position.loc[category].sort_values("bin_low")
        assert min(means["mean_segment_auc"].iloc[[0, -1]]) > max(means["mean_segment_auc"].iloc[1:-1])
        assert (means["ci_low"] <= means["mean_segment_auc"]).all()
        assert (means["mean_segment_auc"] <= means["ci_high"]).all()
    tokens = table[table["panel"] == "tokens"].set_index(["category", "bin"])["mean_segment_auc"]
    # Two token counts only (1, 3), 100 captions each: the quantile edges are 1, 3 and 3.
    assert tokens.loc["Cooking", "3"] > tokens.loc["Cooking", "1-2"]
    assert tokens.loc["Pet", "3"] < tokens.loc["Pet", "1-2"]
    # Cooking, 1 token: the 8 middle captions of videos 0-9, mean shift 0.01 * (-4 + 3) / 10.
    assert tokens.loc["Cooking", "1-2"] == pytest.approx(0.499)


def cluster_robust_slope_se(y: np.ndarray, x: np.ndarray, groups: np.ndarray) -> tuple[float, float]:
    """Slope and its cluster-robust standard error written out in numpy: (X'X)^-1 B (X'X)^-1 with
    B the sum over clusters of (X_g' e_g)(X_g' e_g)', times G/(G-1)·(N-1)/(N-K)."""
    X = np.column_stack([np.ones_like(x), x])
    beta = np.linalg.lstsq(X, y, rcond=None)[0]
    residuals = y - X @ beta
    bread = np.linalg.inv(X.T @ X)
    meat = sum(np.outer(X[groups == g].T @ residuals[groups == g], X[groups == g].T @ residuals[groups == g])
               for g in np.unique(groups))
    n, k, n_groups = len(y), 2, len(np.unique(groups))
    covariance = bread @ meat @ bread * n_groups / (n_groups - 1) * (n - 1) / (n - k)
    return float(beta[1]), float(np.sqrt(covariance[1, 1]))


def test_token_slope_matches_a_least_squares_fit_and_a_sandwich_by_hand():
    rng = np.random.default_rng(0)
    videos = np.repeat(np.arange(30), 12)
    tokens = rng.integers(1, 15, len(videos)).astype(float)
    auc = 0.5 + 0.02 * tokens + rng.normal(0, 0.1, 30)[videos] + rng.normal(0, 0.05, len(videos))
    slope, se, low, high, p = token_slope(auc, tokens, videos, 0.95)
    assert slope == pytest.approx(np.polyfit(tokens, auc, 1)[0])
    assert (slope, se) == pytest.approx(cluster_robust_slope_se(auc, tokens, videos))
    assert (low, high) == pytest.approx((slope - norm.ppf(0.975) * se, slope + norm.ppf(0.975) * se))
    assert p == pytest.approx(2 * norm.sf(abs(slope / se)))
    assert low < 0.02 < high
    assert np.isnan(token_slope(auc, np.full(len(auc), 3.0), videos, 0.95)).all()
    one_video = token_slope(auc[:12], tokens[:12], videos[:12], 0.95)
    assert one_video[0] == pytest.approx(np.polyfit(tokens[:12], auc[:12], 1)[0]) and np.isnan(one_video[1:]).all()


def test_token_slopes_have_the_planted_signs():
    captions = planted_captions()
    # Noise, so that the clustered variance is not zero (every video has the same token pattern).
    captions["segment_auc"] += np.random.default_rng(1).normal(0, 0.01, len(captions))
    slopes = token_slopes(captions, ["Cooking", "Pet"], 0.95)
    assert list(slopes.columns) == SLOPE_COLUMNS
    slopes = slopes.set_index("category")
    assert list(slopes.index) == [OVERALL, "Cooking", "Pet"]
    assert slopes.loc["Cooking", ["n", "n_videos"]].tolist() == [100, 10]
    # Cooking: 3-token captions score 0.3 above 1-token ones -> 0.15 per token; Pet the reverse.
    assert slopes.loc["Cooking", "slope_per_token"] == pytest.approx(0.15, abs=0.005)
    assert slopes.loc["Pet", "slope_per_token"] == pytest.approx(-0.15, abs=0.005)
    assert slopes.loc["Cooking", "p"] < 0.001 and slopes.loc["Pet", "p"] < 0.001


def test_empty_bins_are_kept_with_no_statistics():
    captions = planted_captions()
    table = context_effects(captions[captions["rel_position"] < 0.5], [], 10, 2, 0.95)
    late = table[(table["panel"] == "position") & (table["bin_low"] >= 0.5)]
    assert (late["n"] == 0).all() and late["mean_segment_auc"].isna().all()


def test_figures_are_written_and_not_empty(tmp_path):
    table = context_effects(planted_captions(), ["Cooking", "Pet"], 10, 4, 0.95)
    paths = [tmp_path / name for name in ("p.png", "p.svg", "t.png", "t.svg")]
    write_context_figures(table, 0.95, *paths)
    for path in paths:
        assert path.stat().st_size > 1000
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in paths[1].read_text()
