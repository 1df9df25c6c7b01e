import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy.stats import norm

from groundprobe.analysis.context_effects import (
    CONTEXT_COLUMNS,
    OVERALL,
    SLOPE_COLUMNS,
    ClusteredMeans,
    context_effects,
    position_bin_index,
    scope_pairs,
    select_categories,
    token_bin_index,
    token_bins,
    token_histogram,
    write_context_figures,
)


def chunked(captions: pd.DataFrame, n_chunks: int = 3):
    """``captions`` as context_effects reads them: ``n_chunks`` chunks of whole videos."""
    parts = np.array_split(captions["video_id"].unique(), n_chunks)
    return lambda columns: (captions.loc[captions["video_id"].isin(part), columns] for part in parts)


def test_position_bins_are_equal_width_and_close_the_last_bin():
    index = position_bin_index(np.array([0.0, 0.05, 0.1, 0.5, 0.99, 1.0]), 10)
    assert index.tolist() == [0, 0, 1, 5, 9, 9]
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        position_bin_index(np.array([0.5, 1.2]), 10)


def test_token_bins_cut_at_quantiles_by_hand():
    # Quantiles 0.2, 0.4, 0.6, 0.8 fall between sorted positions 1-2, 3-4, 5-6, 7-8; the higher
    # counts there are 2, 3, 4, 5, the lower edges after the smallest count 1.
    counts = np.array([1, 1, 2, 2, 3, 3, 4, 4, 5, 9])
    bins = token_bins(token_histogram(counts[7:], token_histogram(counts[:7])), 5)
    assert bins["bin"].tolist() == ["1", "2", "3", "4", "5-9"]
    assert bins["bin_centre"].tolist() == [1, 2, 3, 4, 7]
    assert token_bin_index(np.array([1, 5, 9, 12, 4]), bins).tolist() == [0, 4, 4, 4, 3]
    # Counts concentrated on one value merge into fewer bins instead of empty ones.
    assert token_bins(token_histogram(np.array([9] * 10 + [10])), 5)["bin"].tolist() == ["9-10"]
    with pytest.raises(ValueError, match="at least 1"):
        token_histogram(np.array([3, 0]))


@pytest.mark.parametrize("n_bins", [2, 3, 4, 7, 10])
def test_token_bins_from_the_histogram_cut_where_numpys_quantiles_do(n_bins):
    rng = np.random.default_rng(n_bins)
    for n_tokens in (rng.integers(1, 30, size=997), rng.poisson(4, size=50) + 1, np.array([5])):
        inner = np.quantile(n_tokens, np.linspace(0, 1, n_bins + 1)[1:-1], method="higher")
        lows = np.unique(np.concatenate([[n_tokens.min()], inner[inner > n_tokens.min()]]))
        bins = token_bins(token_histogram(n_tokens), n_bins)
        assert bins["bin_low"].tolist() == lows.tolist()
        assert bins["bin_high"].tolist() == np.append(lows[1:] - 1, n_tokens.max()).tolist()


def test_clustered_interval_matches_statsmodels_cluster_robust_mean():
    values = np.array([0.2, 0.4, 0.9, 0.7, 0.1])
    videos = np.array(["a", "a", "b", "c", "c"])
    # Two groups: the values above (chunks a | b, c) and the first three alone (chunk a | b).
    means = ClusteredMeans(2)
    chunks = [
        (np.array([0, 0, 1, 1]), np.array([0, 0, 0, 0]), values[[0, 1, 0, 1]]),
        (np.array([0, 0, 0, 1]), np.array([0, 1, 1, 0]), values[[2, 3, 4, 2]]),
    ]
    for groups, clusters, chunk_values in chunks:
        means.add(groups, clusters, chunk_values)
    for groups, clusters, chunk_values in chunks:
        means.add_residuals(groups, clusters, chunk_values)
    mean, low, high = means.intervals(0.95)
    fit = smf.ols("y ~ 1", pd.DataFrame({"y": values})).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(videos)[0]}
    )
    assert mean[0] == pytest.approx(fit.params["Intercept"])
    assert (high[0] - low[0]) / 2 == pytest.approx(norm.ppf(0.975) * fit.bse["Intercept"])
    # By hand for {0.2, 0.4 | 0.9}: residual sums -0.4 and 0.4, se = sqrt(2 * 0.32) / 3 = 0.8 / 3.
    assert (mean[1], high[1] - mean[1]) == pytest.approx((0.5, norm.ppf(0.975) * 0.8 / 3))
    assert means.n.tolist() == [5, 3] and means.n_clusters.tolist() == [3, 2]
    one_video = ClusteredMeans(1)
    one_video.add(np.zeros(3, dtype=np.int64), np.zeros(3, dtype=np.int64), values[:3])
    one_video.add_residuals(np.zeros(3, dtype=np.int64), np.zeros(3, dtype=np.int64), values[:3])
    assert np.isnan(one_video.intervals(0.95)[1:]).all()


def test_categories_are_chosen_by_videos_not_captions():
    captions = pd.DataFrame(
        {"video_id": ["a"] * 5 + ["b", "c", "d"], "labels": ["Pet"] * 5 + ["Cooking;Dance", "Cooking", "Dance"]}
    )
    assert select_categories([captions.iloc[:6], captions.iloc[6:]], [], 2) == ["Cooking", "Dance"]
    assert select_categories([captions], ["Pet"], 2) == ["Pet"]
    rows, scopes = scope_pairs(pd.Series(["Pet", "Cooking;Dance", np.nan, "Dance;Dance"]), ["Cooking", "Dance", "Pet"])
    assert list(zip(rows, scopes)) == [(0, 0), (0, 3), (1, 0), (1, 1), (1, 2), (2, 0), (3, 0), (3, 2)]


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
            rows.append(
                (
                    f"v{video:02d}",
                    category,
                    (position + 0.5) / 10,
                    n_tokens,
                    (0.8 if grounded else 0.5) + 0.01 * (video % 3 - 1),
                )
            )
    return pd.DataFrame(rows, columns=["video_id", "labels", "rel_position", "n_tokens", "segment_auc"])


def test_planted_start_and_end_effect_by_hand():
    table, _ = context_effects(
        chunked(planted_captions()), ["Cooking", "Pet"], n_position_bins=10, n_token_bins=4, confidence=0.95
    )
    assert list(table.columns) == CONTEXT_COLUMNS
    position = table[table["panel"] == "position"].set_index(["category", "bin"])
    assert position["n"].groupby(level="category").apply(list).to_dict() == {
        OVERALL: [20] * 10,
        "Cooking": [10] * 10,
        "Pet": [10] * 10,
    }
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
    meat = sum(
        np.outer(X[groups == g].T @ residuals[groups == g], X[groups == g].T @ residuals[groups == g])
        for g in np.unique(groups)
    )
    n, k, n_groups = len(y), 2, len(np.unique(groups))
    covariance = bread @ meat @ bread * n_groups / (n_groups - 1) * (n - 1) / (n - k)
    return float(beta[1]), float(np.sqrt(covariance[1, 1]))


def slopes_of(captions: pd.DataFrame, categories: list[str], n_chunks: int = 3) -> pd.DataFrame:
    return context_effects(chunked(captions, n_chunks), categories, 5, 3, 0.95)[1].set_index("category")


def test_token_slope_matches_a_least_squares_fit_and_a_sandwich_by_hand():
    rng = np.random.default_rng(0)
    videos = np.repeat(np.arange(30), 12)
    tokens = rng.integers(1, 15, len(videos))
    auc = 0.5 + 0.02 * tokens + rng.normal(0, 0.1, 30)[videos] + rng.normal(0, 0.05, len(videos))
    # Solo: one video, so a slope but no standard error; Flat: no variation, so no slope.
    labels = np.select([videos == 0, videos >= 28], ["Solo", "Flat"], "")
    captions = pd.DataFrame(
        {
            "video_id": [f"v{video}" for video in videos],
            "labels": labels,
            "rel_position": 0.5,
            "n_tokens": tokens,
            "segment_auc": auc,
        }
    )
    captions.loc[videos >= 28, "n_tokens"] = 4
    slopes = slopes_of(captions, ["Solo", "Flat"], n_chunks=4)
    assert list(slopes.columns) == SLOPE_COLUMNS[1:]
    slope, se, low, high, p = slopes.loc[OVERALL, SLOPE_COLUMNS[3:]]
    x = captions["n_tokens"].to_numpy(dtype=float)
    assert slope == pytest.approx(np.polyfit(x, auc, 1)[0], rel=1e-10)
    assert (slope, se) == pytest.approx(cluster_robust_slope_se(auc, x, videos), rel=1e-10)
    assert (low, high) == pytest.approx((slope - norm.ppf(0.975) * se, slope + norm.ppf(0.975) * se))
    assert p == pytest.approx(2 * norm.sf(abs(slope / se)))
    assert low < 0.02 < high
    assert slopes.loc["Flat", ["n", "n_videos"]].tolist() == [24, 2]
    assert slopes.loc["Flat", SLOPE_COLUMNS[3:]].isna().all()
    solo = slopes.loc["Solo"]
    assert solo["slope_per_token"] == pytest.approx(np.polyfit(x[videos == 0], auc[videos == 0], 1)[0])
    assert solo[SLOPE_COLUMNS[4:]].isna().all()


def reference_tables(
    captions: pd.DataFrame, categories: list[str], n_position_bins: int, n_token_bins: int, confidence: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both tables from every row at once: rows selected per category and bin with pandas, each
    mean and slope fitted by statsmodels with standard errors clustered by video."""
    z = norm.ppf((1 + confidence) / 2)
    inner = np.quantile(captions["n_tokens"], np.linspace(0, 1, n_token_bins + 1)[1:-1], method="higher")
    lows = np.unique(np.concatenate([[captions["n_tokens"].min()], inner[inner > captions["n_tokens"].min()]]))
    edges = {"position": np.linspace(0, 1, n_position_bins + 1)[:-1], "tokens": lows}
    values = {"position": captions["rel_position"].to_numpy(), "tokens": captions["n_tokens"].to_numpy()}
    members = {
        category: (
            np.ones(len(captions), dtype=bool)
            if category == OVERALL
            else captions["labels"].fillna("").map(lambda cell: category in cell.split(";")).to_numpy()
        )
        for category in [OVERALL] + categories
    }
    members = {category: member for category, member in members.items() if member.any()}
    bins, slopes = [], []
    for panel in ("position", "tokens"):
        index = np.clip(np.searchsorted(edges[panel], values[panel], side="right") - 1, 0, None)
        for category, member in members.items():
            for number in range(len(edges[panel])):
                rows = captions[member & (index == number)]
                mean = low = high = np.nan
                if len(rows):
                    mean = rows["segment_auc"].mean()
                if rows["video_id"].nunique() > 1:
                    fit = smf.ols("segment_auc ~ 1", rows).fit(
                        cov_type="cluster", cov_kwds={"groups": pd.factorize(rows["video_id"])[0]}
                    )
                    mean = fit.params["Intercept"]
                    low, high = np.clip([mean - z * fit.bse["Intercept"], mean + z * fit.bse["Intercept"]], 0, 1)
                bins.append((panel, category, number, len(rows), rows["video_id"].nunique(), mean, low, high))
    for category, member in members.items():
        rows = captions[member]
        if rows["video_id"].nunique() > 1:
            fit = smf.ols("segment_auc ~ n_tokens", rows).fit(
                cov_type="cluster", cov_kwds={"groups": pd.factorize(rows["video_id"])[0]}
            )
            low, high = fit.conf_int(alpha=1 - confidence).loc["n_tokens"]
            estimates = (fit.params["n_tokens"], fit.bse["n_tokens"], low, high, fit.pvalues["n_tokens"])
        else:  # no spread between videos to estimate
            estimates = (smf.ols("segment_auc ~ n_tokens", rows).fit().params["n_tokens"],) + (np.nan,) * 4
        slopes.append((category, len(rows), rows["video_id"].nunique(), *estimates))
    return (
        pd.DataFrame(
            bins, columns=["panel", "category", "number", "n", "n_videos", "mean_segment_auc", "ci_low", "ci_high"]
        ),
        pd.DataFrame(slopes, columns=SLOPE_COLUMNS),
    )


def test_accumulated_tables_equal_a_fit_on_every_row():
    rng = np.random.default_rng(3)
    cells = ["Cooking", "Pet", "Dance", "Cooking;Pet", "Pet;Dance", None, "Games", "Solo"]
    rows = []
    for video in range(120):
        cell = cells[rng.integers(len(cells) - 1)] if video else "Solo"  # Solo: one video only
        for _ in range(rng.integers(1, 10)):
            rows.append(
                (
                    f"v{video:03d}",
                    cell,
                    rng.choice([0.0, 0.1, 0.35, 0.5, 1.0, rng.uniform()]),
                    int(rng.integers(1, 9)),
                    float(np.round(rng.uniform(), 2)),
                )
            )
    captions = pd.DataFrame(rows, columns=["video_id", "labels", "rel_position", "n_tokens", "segment_auc"])
    categories = select_categories([captions], [], 3) + ["Solo", "Absent"]
    table, slopes = context_effects(chunked(captions, 5), categories, 4, 3, 0.9)
    bins, expected_slopes = reference_tables(captions, categories, 4, 3, 0.9)
    assert list(table.columns) == CONTEXT_COLUMNS
    assert table[["panel", "category"]].values.tolist() == bins[["panel", "category"]].values.tolist()
    for column in ("n", "n_videos"):
        assert table[column].tolist() == bins[column].tolist()
    for column in ("mean_segment_auc", "ci_low", "ci_high"):
        np.testing.assert_allclose(table[column], bins[column], rtol=1e-12, atol=1e-14)
    pd.testing.assert_frame_equal(slopes, expected_slopes, check_exact=False, rtol=1e-9)
    assert set(slopes["category"]) == {OVERALL, "Solo"} | set(categories[:3])


def test_token_slopes_have_the_planted_signs():
    captions = planted_captions()
    # Noise, so that the clustered variance is not zero (every video has the same token pattern).
    captions["segment_auc"] += np.random.default_rng(1).normal(0, 0.01, len(captions))
    slopes = slopes_of(captions, ["Cooking", "Pet"])
    assert list(slopes.index) == [OVERALL, "Cooking", "Pet"]
    assert slopes.loc["Cooking", ["n", "n_videos"]].tolist() == [100, 10]
    # Cooking: 3-token captions score 0.3 above 1-token ones -> 0.15 per token; Pet the reverse.
    assert slopes.loc["Cooking", "slope_per_token"] == pytest.approx(0.15, abs=0.005)
    assert slopes.loc["Pet", "slope_per_token"] == pytest.approx(-0.15, abs=0.005)
    assert slopes.loc["Cooking", "p"] < 0.001 and slopes.loc["Pet", "p"] < 0.001


def test_empty_bins_are_kept_with_no_statistics():
    captions = planted_captions()
    table, _ = context_effects(chunked(captions[captions["rel_position"] < 0.5]), [], 10, 2, 0.95)
    late = table[(table["panel"] == "position") & (table["bin_low"] >= 0.5)]
    assert (late["n"] == 0).all() and late["mean_segment_auc"].isna().all()


def test_figures_are_written_and_not_empty(tmp_path):
    table, _ = context_effects(chunked(planted_captions()), ["Cooking", "Pet"], 10, 4, 0.95)
    paths = [tmp_path / name for name in ("p.png", "p.svg", "t.png", "t.svg")]
    write_context_figures(table, 0.95, *paths)
    for path in paths:
        assert path.stat().st_size > 1000
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in paths[1].read_text()
