"""Context effects on segment AUC (Hessel et al. 2020, Fig. 3): position in the video and length.

Captions are binned by relative position (equal-width bins of [0, 1]) and by token count
(integer ranges cut at quantiles of the token counts), per category and overall; each bin gets
the mean segment AUC with a normal-approximation interval whose standard error is clustered by
video, because captions of one video share a model score scale and are not independent. The
length effect is also summarised by one number per category: the OLS slope of segment AUC on the
token count, with a standard error clustered by video in the same way.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.api as sm
from matplotlib import pyplot as plt
from scipy.stats import norm

from groundprobe.evaluate import label_names
from groundprobe.figures import save_figure

OVERALL = "overall"
POSITION, TOKENS = "position", "tokens"
CONTEXT_COLUMNS = ["panel", "category", "bin", "bin_low", "bin_high", "bin_centre", "n", "n_videos",
                   "mean_segment_auc", "ci_low", "ci_high"]
SLOPE_COLUMNS = ["category", "n", "n_videos", "slope_per_token", "se", "ci_low", "ci_high", "p"]
AXIS_LABELS = {POSITION: "relative position in video (0 = start, 1 = end)",
               TOKENS: "tokens in caption"}
TITLES = {POSITION: "Segment AUC by position of the caption in its video",
          TOKENS: "Segment AUC by caption length"}


def position_bins(n_bins: int) -> pd.DataFrame:
    """``n_bins`` equal-width bins of relative position [0, 1]: columns bin, bin_low, bin_high,
    bin_centre (fractions of the video's duration); the last bin is closed on the right."""
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    labels = [f"{low:.2f}-{high:.2f}" for low, high in zip(edges[:-1], edges[1:])]
    return pd.DataFrame({"bin": labels, "bin_low": edges[:-1], "bin_high": edges[1:],
                         "bin_centre": (edges[:-1] + edges[1:]) / 2})


def position_bin_index(rel_position: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin index (n,) of each relative position (n,) in [0, 1] among ``n_bins`` equal-width bins.

    A position of exactly 1 falls in the last bin. Raises ValueError outside [0, 1].
    """
    rel_position = np.asarray(rel_position, dtype=np.float64)
    if not ((rel_position >= 0) & (rel_position <= 1)).all():
        raise ValueError("relative positions must lie in [0, 1]")
    return np.minimum((rel_position * n_bins).astype(np.int64), n_bins - 1)


def token_bins(n_tokens: np.ndarray, n_bins: int) -> pd.DataFrame:
    """At most ``n_bins`` inclusive integer ranges of token counts holding similar numbers of captions.

    Lower edges are the smallest count and the inner quantiles of ``n_tokens`` (n,), each taken
    as the next observed count; edges that coincide (counts are integers, often concentrated)
    merge, so fewer bins may come back. The last range ends at the largest count. Shared by
    every category so that their curves are comparable. Columns: bin ("4-6" or "7"), bin_low,
    bin_high (tokens, inclusive), bin_centre.
    """
    n_tokens = np.asarray(n_tokens, dtype=np.int64)
    if n_tokens.size == 0 or n_tokens.min() < 1:
        raise ValueError("token counts must be non-empty and at least 1")
    # "higher": each edge is an observed count, so no bin is cut between counts that never occur.
    inner = np.quantile(n_tokens, np.linspace(0, 1, n_bins + 1)[1:-1], method="higher")
    lows = np.unique(np.concatenate([[n_tokens.min()], inner[inner > n_tokens.min()]]))
    highs = np.append(lows[1:] - 1, n_tokens.max())
    labels = [str(low) if low == high else f"{low}-{high}" for low, high in zip(lows, highs)]
    return pd.DataFrame({"bin": labels, "bin_low": lows, "bin_high": highs,
                         "bin_centre": (lows + highs) / 2})


def token_bin_index(n_tokens: np.ndarray, bins: pd.DataFrame) -> np.ndarray:
    """Bin index (n,) of each token count (n,) among ``bins`` from :func:`token_bins`.

    Counts below the first range go to the first bin and above the last to the last, so that
    bins made on one table can be applied to a subset of it.
    """
    lows = bins["bin_low"].to_numpy(dtype=np.int64)
    return np.maximum(np.searchsorted(lows, np.asarray(n_tokens, dtype=np.int64), side="right") - 1, 0)


def clustered_mean_interval(values: np.ndarray, clusters: np.ndarray, confidence: float
                            ) -> tuple[float, float, float]:
    """Mean of ``values`` (n,) with a normal-approximation interval clustered by ``clusters`` (n,).

    The standard error is the cluster-robust (sandwich) one of a mean,
    sqrt(G / (G - 1) * sum_g r_g^2) / n with r_g the sum of residuals of cluster g and G clusters;
    with one value per cluster it equals the usual s / sqrt(n). Returns (mean, low, high); the
    bounds are NaN with fewer than two clusters, where no spread can be estimated.
    """
    values = np.asarray(values, dtype=np.float64)
    mean = float(values.mean())
    _, cluster_index = np.unique(np.asarray(clusters), return_inverse=True)
    n_clusters = int(cluster_index.max()) + 1
    if n_clusters < 2:
        return mean, float("nan"), float("nan")
    residual_sums = np.bincount(cluster_index, weights=values - mean)
    standard_error = np.sqrt(n_clusters / (n_clusters - 1) * np.sum(residual_sums ** 2)) / len(values)
    half_width = float(norm.ppf((1 + confidence) / 2) * standard_error)
    return mean, mean - half_width, mean + half_width


def select_categories(captions: pd.DataFrame, configured: list[str], max_categories: int) -> list[str]:
    """The categories to plot: ``configured`` if not empty, else the ``max_categories`` carried by
    the most videos of ``captions`` (ties by name). ``captions``: columns video_id, labels."""
    if configured:
        return list(configured)
    videos = captions.drop_duplicates("video_id")
    counts = pd.Series([label for cell in videos["labels"] for label in dict.fromkeys(label_names(cell))],
                       dtype=object).value_counts()
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [label for label, _ in ranked[:max_categories]]


def category_members(captions: pd.DataFrame, categories: list[str]) -> pd.DataFrame:
    """``captions`` once under ``OVERALL`` and once more under each selected category of its video.

    A caption counts for every label its video carries, as videos do in evaluate.category_table.
    Adds a column ``category``; the row order is OVERALL first, then ``categories``.
    """
    labels = captions["labels"].map(lambda cell: set(label_names(cell)))
    groups = [captions.assign(category=OVERALL)]
    groups += [captions[labels.map(lambda names, name=name: name in names)].assign(category=name)
               for name in categories]
    return pd.concat(groups, ignore_index=True)


def summarise_bins(members: pd.DataFrame, bin_index: np.ndarray, bins: pd.DataFrame, panel: str,
                   confidence: float) -> pd.DataFrame:
    """Mean segment AUC with its clustered interval per category and bin (CONTEXT_COLUMNS).

    ``members``: rows of :func:`category_members` (video_id, category, segment_auc);
    ``bin_index`` (n,): each row's bin in ``bins``. Intervals are clipped to [0, 1], the range of
    an AUC. Every (category, bin) appears, empty bins with
    n = 0 and NaN statistics, so that curves break at gaps instead of bridging them.
    """
    rows = []
    for category in members["category"].unique():
        in_category = (members["category"] == category).to_numpy()
        for index, bin_row in enumerate(bins.itertuples(index=False)):
            selected = members[in_category & (bin_index == index)]
            if len(selected):
                mean, low, high = clustered_mean_interval(selected["segment_auc"].to_numpy(),
                                                          selected["video_id"].to_numpy(), confidence)
                # The normal approximation can reach past the range an AUC can take.
                low, high = np.clip([low, high], 0.0, 1.0)  # NaN stays NaN
            else:
                mean = low = high = float("nan")
            rows.append((panel, category, bin_row.bin, bin_row.bin_low, bin_row.bin_high,
                         bin_row.bin_centre, len(selected), selected["video_id"].nunique(), mean, low, high))
    return pd.DataFrame(rows, columns=CONTEXT_COLUMNS)


def context_effects(captions: pd.DataFrame, categories: list[str], n_position_bins: int,
                    n_token_bins: int, confidence: float) -> pd.DataFrame:
    """Both panels of Fig. 3 for ``captions`` (video_id, labels, rel_position, n_tokens, segment_auc).

    Pass validation captions only for the paper's analysis. Returns CONTEXT_COLUMNS, panel
    "position" then "tokens", each OVERALL first and then ``categories``.
    """
    members = category_members(captions, categories)
    positions = position_bin_index(members["rel_position"].to_numpy(), n_position_bins)
    tokens = token_bins(captions["n_tokens"].to_numpy(), n_token_bins)
    return pd.concat([
        summarise_bins(members, positions, position_bins(n_position_bins), POSITION, confidence),
        summarise_bins(members, token_bin_index(members["n_tokens"].to_numpy(), tokens), tokens,
                       TOKENS, confidence),
    ], ignore_index=True)


def token_slope(segment_auc: np.ndarray, n_tokens: np.ndarray, videos: np.ndarray,
                confidence: float) -> tuple[float, float, float, float, float]:
    """OLS slope of segment AUC (n,) on token count (n,) with an intercept: change in AUC per token.

    The standard error is cluster-robust by ``videos`` (n,) with statsmodels' small-sample
    correction G/(G-1)·(N-1)/(N-K); the interval and two-sided p use the normal distribution, as
    the bin intervals do. Returns (slope, se, low, high, p); all but the slope are NaN with fewer
    than two videos, and everything is NaN when the token count does not vary.
    """
    n_tokens = np.asarray(n_tokens, dtype=np.float64)
    if len(n_tokens) < 2 or np.ptp(n_tokens) == 0:
        return (float("nan"),) * 5
    design = sm.add_constant(n_tokens, has_constant="add")
    groups = pd.factorize(np.asarray(videos))[0]
    if groups.max() < 1:
        slope = float(sm.OLS(np.asarray(segment_auc, dtype=np.float64), design).fit().params[1])
        return slope, float("nan"), float("nan"), float("nan"), float("nan")
    fit = sm.OLS(np.asarray(segment_auc, dtype=np.float64), design).fit(
        cov_type="cluster", cov_kwds={"groups": groups})
    low, high = fit.conf_int(alpha=1 - confidence)[1]
    return float(fit.params[1]), float(fit.bse[1]), float(low), float(high), float(fit.pvalues[1])


def token_slopes(captions: pd.DataFrame, categories: list[str], confidence: float) -> pd.DataFrame:
    """:func:`token_slope` overall and per category of ``captions`` (video_id, labels, n_tokens,
    segment_auc), as SLOPE_COLUMNS; OVERALL first, then ``categories`` that have captions."""
    rows = []
    for category, members in category_members(captions, categories).groupby("category", sort=False):
        slope = token_slope(members["segment_auc"].to_numpy(), members["n_tokens"].to_numpy(),
                            members["video_id"].to_numpy(), confidence)
        rows.append((category, len(members), members["video_id"].nunique(), *slope))
    return pd.DataFrame(rows, columns=SLOPE_COLUMNS)


def plot_context(table: pd.DataFrame, panel: str, confidence: float) -> plt.Figure:
    """One panel of :func:`context_effects` as a figure: a curve with interval bars per category.

    Position curves sit at the bin centres on [0, 1]; token bins are evenly spaced and named by
    their ranges, since their widths differ. Curves are nudged sideways so that bars do not hide
    each other; OVERALL is drawn black and thicker. A dashed line marks chance (AUC 0.5).
    """
    rows = table[table["panel"] == panel]
    categories = list(rows["category"].unique())
    fig, ax = plt.subplots(figsize=(9, 4.5))
    bins = rows[rows["category"] == categories[0]]
    if panel == POSITION:
        x = bins["bin_centre"].to_numpy()
        step = x[1] - x[0] if len(x) > 1 else 1.0
        ax.set_xlim(0, 1)
    else:
        x = np.arange(len(bins), dtype=np.float64)
        step = 1.0
        ax.set_xticks(x, bins["bin"])
    nudges = (np.arange(len(categories)) - (len(categories) - 1) / 2) * step * 0.5 / max(len(categories), 1)
    colours = plt.get_cmap("tab10")
    for number, (category, nudge) in enumerate(zip(categories, nudges)):
        curve = rows[rows["category"] == category]
        mean = curve["mean_segment_auc"].to_numpy()
        errors = np.vstack([mean - curve["ci_low"].to_numpy(), curve["ci_high"].to_numpy() - mean])
        overall = category == OVERALL
        ax.errorbar(x + nudge, mean, yerr=np.nan_to_num(errors), marker="o", markersize=4, capsize=3,
                    color="black" if overall else colours(number - 1), linewidth=2.2 if overall else 1.2,
                    label=f"{category} ({int(curve['n'].sum())} captions)", zorder=3 if overall else 2)
    ax.axhline(0.5, color="grey", linestyle="--", linewidth=1, label="chance (AUC 0.5)")
    ax.set_xlabel(AXIS_LABELS[panel])
    ax.set_ylabel("mean segment AUC")
    ax.set_title(f"{TITLES[panel]}\n(validation captions; bars: {confidence:.0%} interval, "
                 "standard error clustered by video)", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))  # outside: curves fill the axes
    ax.grid(alpha=0.3)
    return fig


def write_context_figures(table: pd.DataFrame, confidence: float, position_png: str,
                          position_svg: str, tokens_png: str, tokens_svg: str) -> None:
    """Render both panels of ``table`` and save each as PNG and SVG."""
    save_figure(plot_context(table, POSITION, confidence), position_png, position_svg)
    save_figure(plot_context(table, TOKENS, confidence), tokens_png, tokens_svg)
