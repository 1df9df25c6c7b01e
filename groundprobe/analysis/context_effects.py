"""Context effects on segment AUC (Hessel et al. 2020, Fig. 3): position in the video and length.

Captions are binned by relative position (equal-width bins of [0, 1]) and by token count
(integer ranges cut at quantiles of the token counts), per category and overall; each bin gets
the mean segment AUC with a normal-approximation interval whose standard error is clustered by
video, because captions of one video share a model score scale and are not independent. The
length effect is also summarised by one number per category: the OLS slope of segment AUC on the
token count, with a standard error clustered by video in the same way.

Everything is accumulated chunk by chunk (one shard of the per-caption table at a time, see
segment_auc.iter_segment_tables) as sums per (scope, bin) and per scope, a scope being OVERALL
or one category: memory depends on the numbers of scopes, bins and one chunk's captions, not on
the corpus. Three passes over the chunks: the token counts' histogram (for the bins), then the
sums (means, slopes), then the residuals about them (clustered standard errors), so that the
standard errors are computed as from the rows, not from differences of large sums. A caption
counts for every selected category of its video, in one grouping pass (no copy per category).
"""

from __future__ import annotations

from collections import Counter
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
import pandas as pd
from matplotlib import pyplot as plt
from scipy.stats import norm

from groundprobe.evaluation.auc_by_category import label_names
from groundprobe.analysis.figures import save_figure

OVERALL = "overall"
POSITION, TOKENS = "position", "tokens"
CONTEXT_COLUMNS = [
    "panel",
    "category",
    "bin",
    "bin_low",
    "bin_high",
    "bin_centre",
    "n",
    "n_videos",
    "mean_segment_auc",
    "ci_low",
    "ci_high",
]
SLOPE_COLUMNS = ["category", "n", "n_videos", "slope_per_token", "se", "ci_low", "ci_high", "p"]
AXIS_LABELS = {POSITION: "relative position in video (0 = start, 1 = end)", TOKENS: "tokens in caption"}
TITLES = {POSITION: "Segment AUC by position of the caption in its video", TOKENS: "Segment AUC by caption length"}
CAPTION_COLUMNS = ["video_id", "labels", "rel_position", "n_tokens", "segment_auc"]
# Chunks(columns): a fresh iterable of caption frames holding ``columns`` (CAPTION_COLUMNS
# names), each holding every caption of its videos (clusters never span chunks), e.g. the
# validation captions of each shard from segment_auc.iter_segment_tables. Called once per pass.
Chunks = Callable[[list[str]], Iterable[pd.DataFrame]]


def position_bins(n_bins: int) -> pd.DataFrame:
    """``n_bins`` equal-width bins of relative position [0, 1]: columns bin, bin_low, bin_high,
    bin_centre (fractions of the video's duration); the last bin is closed on the right."""
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    labels = [f"{low:.2f}-{high:.2f}" for low, high in zip(edges[:-1], edges[1:])]
    return pd.DataFrame(
        {"bin": labels, "bin_low": edges[:-1], "bin_high": edges[1:], "bin_centre": (edges[:-1] + edges[1:]) / 2}
    )


def position_bin_index(rel_position: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin index (n,) of each relative position (n,) in [0, 1] among ``n_bins`` equal-width bins.

    A position of exactly 1 falls in the last bin. Raises ValueError outside [0, 1].
    """
    rel_position = np.asarray(rel_position, dtype=np.float64)
    if not ((rel_position >= 0) & (rel_position <= 1)).all():
        raise ValueError("relative positions must lie in [0, 1]")
    return np.minimum((rel_position * n_bins).astype(np.int64), n_bins - 1)


def token_histogram(n_tokens: np.ndarray, histogram: np.ndarray | None = None) -> np.ndarray:
    """``histogram`` (captions per token count, index = count) with the counts ``n_tokens`` (n,)
    added; a new one when None. Raises ValueError for a count below 1."""
    n_tokens = np.asarray(n_tokens, dtype=np.int64)
    if n_tokens.size and n_tokens.min() < 1:
        raise ValueError("token counts must be non-empty and at least 1")
    added = np.bincount(n_tokens)
    if histogram is None:
        return added
    size = max(len(histogram), len(added))
    return np.pad(histogram, (0, size - len(histogram))) + np.pad(added, (0, size - len(added)))


def token_bins(histogram: np.ndarray, n_bins: int) -> pd.DataFrame:
    """At most ``n_bins`` inclusive integer ranges of token counts holding similar numbers of captions.

    ``histogram``: captions per token count (:func:`token_histogram`). Lower edges are the
    smallest count and the inner quantiles of the counts, each taken as the next observed count
    (numpy's quantile method "higher": sorted position ceil((N - 1) q)); edges that coincide
    (counts are integers, often concentrated) merge, so fewer bins may come back. The last range
    ends at the largest count. Shared by every category so that their curves are comparable.
    Columns: bin ("4-6" or "7"), bin_low, bin_high (tokens, inclusive), bin_centre.
    """
    histogram = np.asarray(histogram, dtype=np.int64)
    total = int(histogram.sum())
    if total == 0 or histogram[0] > 0:
        raise ValueError("token counts must be non-empty and at least 1")
    observed = np.flatnonzero(histogram)
    smallest, largest = observed[0], observed[-1]
    positions = np.ceil((total - 1) * np.linspace(0, 1, n_bins + 1)[1:-1]).astype(np.intp)
    # The count at sorted position k: the first count whose cumulative number exceeds k.
    inner = np.searchsorted(np.cumsum(histogram), positions, side="right")
    lows = np.unique(np.concatenate([[smallest], inner[inner > smallest]])).astype(np.int64)
    highs = np.append(lows[1:] - 1, largest)
    labels = [str(low) if low == high else f"{low}-{high}" for low, high in zip(lows, highs)]
    return pd.DataFrame({"bin": labels, "bin_low": lows, "bin_high": highs, "bin_centre": (lows + highs) / 2})


def token_bin_index(n_tokens: np.ndarray, bins: pd.DataFrame) -> np.ndarray:
    """Bin index (n,) of each token count (n,) among ``bins`` from :func:`token_bins`.

    Counts below the first range go to the first bin and above the last to the last, so that
    bins made on one table can be applied to a subset of it.
    """
    lows = bins["bin_low"].to_numpy(dtype=np.int64)
    return np.maximum(np.searchsorted(lows, np.asarray(n_tokens, dtype=np.int64), side="right") - 1, 0)


def select_categories(chunks: Iterable[pd.DataFrame], configured: Sequence[str], max_categories: int) -> list[str]:
    """The categories to plot: ``configured`` if not empty, else the ``max_categories`` carried by
    the most videos of the caption ``chunks`` (columns video_id, labels; every caption of a video
    in one chunk), ties by name. Holds one count per label, not per video."""
    if configured:
        return list(dict.fromkeys(configured))
    counts: Counter[str] = Counter()
    for chunk in chunks:
        for cell, videos in chunk.drop_duplicates("video_id")["labels"].value_counts().items():
            for label in dict.fromkeys(label_names(cell)):
                counts[label] += int(videos)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [label for label, _ in ranked[:max_categories]]


def scope_pairs(labels: pd.Series, categories: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Every (caption, scope) membership of captions with ``labels`` (n,) (';'-separated cells):
    scope 0 is OVERALL, scope k the k-th of ``categories``. A caption counts for every label its
    video carries, as videos do in auc_by_category.category_table. Each distinct cell is parsed once.
    Returns (caption index, scope index), both (m,), sorted by caption then scope."""
    codes, cells = pd.factorize(labels)  # missing cells: code -1, the last row below
    member = np.zeros((len(cells) + 1, len(categories) + 1), dtype=bool)
    member[:, 0] = True
    for row, cell in enumerate(cells):
        names = set(label_names(cell))
        member[row, 1:] = [name in names for name in categories]
    return np.nonzero(member[codes])


def _cluster_sums(groups: np.ndarray, clusters: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sums of ``weights`` (m, d) per distinct (group, cluster) pair of ``groups`` and
    ``clusters`` (m,): (group of each pair (p,), its sums (p, d))."""
    # Cluster indices are below m, so group * m + cluster tells the pairs apart.
    pairs, pair_index = np.unique(groups * len(groups) + clusters, return_inverse=True)
    sums = np.stack([np.bincount(pair_index, weights=column, minlength=len(pairs)) for column in weights.T], axis=1)
    return pairs // max(len(groups), 1), sums


class ClusteredMeans:
    """Means of values in ``n_groups`` groups, each with a standard error clustered by video.

    Two passes over the same chunks: :meth:`add` every chunk, then :meth:`add_residuals` every
    chunk. ``groups`` (m,): group index of each value; ``clusters`` (m,): its video's index within
    the chunk. The standard error of a group's mean is the cluster-robust (sandwich) one,
    sqrt(G / (G - 1) * sum_g r_g^2) / n with r_g the sum of residuals of cluster g and G clusters;
    with one value per cluster it equals the usual s / sqrt(n).
    """

    def __init__(self, n_groups: int):
        self.n = np.zeros(n_groups, dtype=np.int64)
        self.n_clusters = np.zeros(n_groups, dtype=np.int64)
        self.total = np.zeros(n_groups)
        self.residual_squares = np.zeros(n_groups)

    def add(self, groups: np.ndarray, clusters: np.ndarray, values: np.ndarray) -> None:
        size = len(self.n)
        self.n += np.bincount(groups, minlength=size)
        self.total += np.bincount(groups, weights=values, minlength=size)
        self.n_clusters += np.bincount(_cluster_sums(groups, clusters, values[:, None])[0], minlength=size)

    @property
    def means(self) -> np.ndarray:
        """(n_groups,): NaN for an empty group."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.total / self.n

    def add_residuals(self, groups: np.ndarray, clusters: np.ndarray, values: np.ndarray) -> None:
        group, sums = _cluster_sums(groups, clusters, (values - self.means[groups])[:, None])
        self.residual_squares += np.bincount(group, weights=sums[:, 0] ** 2, minlength=len(self.n))

    def intervals(self, confidence: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(mean, low, high) per group, normal approximation; bounds NaN with fewer than two
        clusters, where no spread can be estimated, all NaN for an empty group."""
        clusters = self.n_clusters.astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            standard_error = np.sqrt(clusters / (clusters - 1) * self.residual_squares) / self.n
        half_width = np.where(self.n_clusters >= 2, norm.ppf((1 + confidence) / 2) * standard_error, np.nan)
        return self.means, self.means - half_width, self.means + half_width


class ClusteredSlopes:
    """OLS slope of y on x with an intercept in each of ``n_groups`` groups, with a standard error
    clustered by video, in two passes like :class:`ClusteredMeans`.

    x is shifted by ``x_shift`` (e.g. its mean) before it is summed, which changes neither the
    slope nor its standard error but keeps the sums well conditioned. The covariance is the
    cluster-robust sandwich (X'X)^-1 (sum_g X_g'e_g e_g'X_g) (X'X)^-1 with statsmodels'
    small-sample correction G/(G-1)·(N-1)/(N-K), K = 2.
    """

    def __init__(self, n_groups: int, x_shift: float):
        self.x_shift = x_shift
        self.n = np.zeros(n_groups, dtype=np.int64)
        self.n_clusters = np.zeros(n_groups, dtype=np.int64)
        self.moments = np.zeros((n_groups, 4))  # sums of x, y, x², x·y
        self.x_min = np.full(n_groups, np.inf)
        self.x_max = np.full(n_groups, -np.inf)
        self.meat = np.zeros((n_groups, 2, 2))

    def add(self, groups: np.ndarray, clusters: np.ndarray, x: np.ndarray, y: np.ndarray) -> None:
        size = len(self.n)
        x = np.asarray(x, dtype=np.float64) - self.x_shift
        self.n += np.bincount(groups, minlength=size)
        for column, weights in enumerate((x, y, x * x, x * y)):
            self.moments[:, column] += np.bincount(groups, weights=weights, minlength=size)
        np.minimum.at(self.x_min, groups, x)
        np.maximum.at(self.x_max, groups, x)
        self.n_clusters += np.bincount(_cluster_sums(groups, clusters, x[:, None])[0], minlength=size)

    @property
    def coefficients(self) -> np.ndarray:
        """(n_groups, 2): intercept (at x = x_shift) and slope; NaN where x does not vary."""
        sx, sy, sxx, sxy = self.moments.T
        with np.errstate(invalid="ignore", divide="ignore"):
            slope = np.where(self.x_max > self.x_min, (self.n * sxy - sx * sy) / (self.n * sxx - sx * sx), np.nan)
            return np.stack([(sy - slope * sx) / self.n, slope], axis=1)

    def add_residuals(self, groups: np.ndarray, clusters: np.ndarray, x: np.ndarray, y: np.ndarray) -> None:
        x = np.asarray(x, dtype=np.float64) - self.x_shift
        intercept, slope = self.coefficients[groups].T
        residuals = y - intercept - slope * x
        group, scores = _cluster_sums(groups, clusters, np.stack([residuals, residuals * x], axis=1))
        np.add.at(self.meat, group, scores[:, :, None] * scores[:, None, :])

    def estimates(self, confidence: float) -> np.ndarray:
        """(n_groups, 5): slope, se, low, high and two-sided p (normal distribution, as the bin
        intervals); all but the slope NaN with fewer than two clusters, all NaN where x does not
        vary."""
        slope = self.coefficients[:, 1]
        sx, _, sxx, _ = self.moments.T
        n, clusters = self.n.astype(np.float64), self.n_clusters.astype(np.float64)
        # The slope's row of (X'X)^-1 is (-sx, n) / det, det = n sxx - sx².
        with np.errstate(invalid="ignore", divide="ignore"):
            bread = np.stack([-sx, n], axis=1) / (n * sxx - sx * sx)[:, None]
            variance = np.einsum("ga,gab,gb->g", bread, self.meat, bread)
            variance *= clusters / (clusters - 1) * (n - 1) / (n - 2)
            se = np.where((self.n_clusters >= 2) & (self.x_max > self.x_min), np.sqrt(variance), np.nan)
            p = 2 * norm.sf(np.abs(slope / se))
        half_width = norm.ppf((1 + confidence) / 2) * se
        return np.stack([slope, se, slope - half_width, slope + half_width, p], axis=1)


def context_effects(
    chunks: Chunks, categories: list[str], n_position_bins: int, n_token_bins: int, confidence: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both panels of Fig. 3 and the token slopes of the captions that ``chunks`` yields.

    Pass the validation captions only for the paper's analysis. Returns (CONTEXT_COLUMNS table:
    panel "position" then "tokens", each OVERALL first and then those of ``categories`` that
    have captions, every bin of each, empty bins with n = 0 and NaN statistics so that curves
    break at gaps instead of bridging them, intervals clipped to [0, 1], the range of an AUC;
    SLOPE_COLUMNS table of the same scopes). Raises ValueError when there is no caption.
    """
    histogram = None
    for chunk in chunks(["n_tokens"]):
        histogram = token_histogram(chunk["n_tokens"].to_numpy(), histogram)
    if histogram is None:
        raise ValueError("token counts must be non-empty and at least 1")
    panels = {POSITION: position_bins(n_position_bins), TOKENS: token_bins(histogram, n_token_bins)}
    n_scopes = len(categories) + 1
    means = {panel: ClusteredMeans(n_scopes * len(bins)) for panel, bins in panels.items()}
    slopes = ClusteredSlopes(n_scopes, float(np.arange(len(histogram)) @ histogram / histogram.sum()))
    for scopes, clusters, n_tokens, auc, bin_index in _memberships(chunks, categories, panels):
        for panel, bins in panels.items():
            means[panel].add(scopes * len(bins) + bin_index[panel], clusters, auc)
        slopes.add(scopes, clusters, n_tokens, auc)
    for scopes, clusters, n_tokens, auc, bin_index in _memberships(chunks, categories, panels):
        for panel, bins in panels.items():
            means[panel].add_residuals(scopes * len(bins) + bin_index[panel], clusters, auc)
        slopes.add_residuals(scopes, clusters, n_tokens, auc)
    present = slopes.n > 0
    table = pd.concat(
        [
            _panel_table(panel, bins, means[panel], [OVERALL] + categories, present, confidence)
            for panel, bins in panels.items()
        ],
        ignore_index=True,
    )
    slope_table = pd.DataFrame({"category": [OVERALL] + categories, "n": slopes.n, "n_videos": slopes.n_clusters})
    slope_table[SLOPE_COLUMNS[3:]] = slopes.estimates(confidence)
    return table, slope_table[present].reset_index(drop=True)


def _memberships(
    chunks: Chunks, categories: list[str], panels: dict[str, pd.DataFrame]
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]]:
    """Per chunk, one entry per (caption, scope) membership (:func:`scope_pairs`): (scope,
    video index within the chunk, token count, segment AUC, bin index per panel), each (m,)."""
    for chunk in chunks(CAPTION_COLUMNS):
        rows, scopes = scope_pairs(chunk["labels"], categories)
        n_tokens = chunk["n_tokens"].to_numpy(dtype=np.int64)[rows]
        bin_index = {
            POSITION: position_bin_index(chunk["rel_position"].to_numpy()[rows], len(panels[POSITION])),
            TOKENS: token_bin_index(n_tokens, panels[TOKENS]),
        }
        yield (
            scopes,
            pd.factorize(chunk["video_id"])[0][rows],
            n_tokens,
            chunk["segment_auc"].to_numpy(dtype=np.float64)[rows],
            bin_index,
        )


def _panel_table(
    panel: str, bins: pd.DataFrame, means: ClusteredMeans, scopes: list[str], present: np.ndarray, confidence: float
) -> pd.DataFrame:
    """CONTEXT_COLUMNS rows of one panel: every bin of each scope with captions (``present``)."""
    mean, low, high = means.intervals(confidence)
    table = pd.concat([bins.assign(panel=panel, category=scope) for scope in scopes], ignore_index=True)
    table["n"], table["n_videos"], table["mean_segment_auc"] = means.n, means.n_clusters, mean
    # The normal approximation can reach past the range an AUC can take (NaN stays NaN).
    table["ci_low"], table["ci_high"] = np.clip(low, 0.0, 1.0), np.clip(high, 0.0, 1.0)
    return table[np.repeat(present, len(bins))][CONTEXT_COLUMNS]


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
        ax.errorbar(
            x + nudge,
            mean,
            yerr=np.nan_to_num(errors),
            marker="o",
            markersize=4,
            capsize=3,
            color="black" if overall else colours(number - 1),
            linewidth=2.2 if overall else 1.2,
            label=f"{category} ({int(curve['n'].sum())} captions)",
            zorder=3 if overall else 2,
        )
    ax.axhline(0.5, color="grey", linestyle="--", linewidth=1, label="chance (AUC 0.5)")
    ax.set_xlabel(AXIS_LABELS[panel])
    ax.set_ylabel("mean segment AUC")
    ax.set_title(
        f"{TITLES[panel]}\n(validation captions; bars: {confidence:.0%} interval, standard error clustered by video)",
        fontsize=10,
    )
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))  # outside: curves fill the axes
    ax.grid(alpha=0.3)
    return fig


def write_context_figures(
    table: pd.DataFrame, confidence: float, position_png: str, position_svg: str, tokens_png: str, tokens_svg: str
) -> None:
    """Render both panels of ``table`` and save each as PNG and SVG."""
    save_figure(plot_context(table, POSITION, confidence), position_png, position_svg)
    save_figure(plot_context(table, TOKENS, confidence), tokens_png, tokens_svg)
