"""Intra-video AUC per YouTube-8M vertical and its figure (Hessel et al. 2020, §4 and Fig. 2).

A vertical groups category labels (e.g. "Food & Drink" holds "Cooking" and "Recipe"); a video
belongs to every vertical of its labels, once each, and only validation videos are scored, as in
:func:`groundprobe.evaluation.auc_by_category.category_table`.
"""

from __future__ import annotations

import os
import zlib

import numpy as np
import pandas as pd

from groundprobe.evaluation.auc_by_category import bootstrap_interval, label_names
from groundprobe.analysis.figures import plt, save_figure

VERTICAL_COLUMNS = ["vertical", "n_videos", "mean_auc", "median_auc", "q25_auc", "q75_auc", "ci_low", "ci_high"]
OVERALL = "All validation videos"
CHANCE_AUC = 0.5


def validation_aucs(auc_by_video: pd.DataFrame) -> pd.DataFrame:
    """The validation videos of ``auc_by_video`` (columns video_id, split, auc, verticals ...),
    each once, ordered by video_id so that every later statistic is independent of row order."""
    validation = auc_by_video[auc_by_video["split"] == "validation"]
    return validation.sort_values("video_id", kind="stable").reset_index(drop=True)


def vertical_members(auc_by_video: pd.DataFrame) -> pd.DataFrame:
    """One row (vertical, video_id, auc) per validation video and distinct vertical of its labels.

    A video with two labels in the same vertical counts once for it: the vertical's statistics are
    over videos, not over labels.
    """
    rows = [
        (vertical, video.video_id, float(video.auc))
        for video in validation_aucs(auc_by_video).itertuples()
        for vertical in dict.fromkeys(label_names(video.verticals))
    ]
    return pd.DataFrame(rows, columns=["vertical", "video_id", "auc"])


def vertical_table(auc_by_video: pd.DataFrame, n_boot: int, confidence: float, seed: int) -> pd.DataFrame:
    """Per vertical: number of validation videos, mean, median, quartiles of their intra-video AUC
    (unitless, 0.5 = chance) and a percentile-bootstrap interval of the mean at ``confidence``.

    The interval of each vertical uses a generator seeded by ``seed`` and the vertical's name, so it
    does not depend on which other verticals exist. Sorted by mean_auc, highest first (ties by
    name). Columns: VERTICAL_COLUMNS.
    """
    rows = []
    for vertical, group in vertical_members(auc_by_video).groupby("vertical", sort=True):
        aucs = group["auc"].to_numpy(dtype=np.float64)
        rng = np.random.default_rng([seed, zlib.crc32(str(vertical).encode())])
        low, high = bootstrap_interval(aucs, n_boot, confidence, rng)
        q25, median, q75 = np.quantile(aucs, [0.25, 0.5, 0.75])
        rows.append((vertical, len(aucs), aucs.mean(), median, q25, q75, low, high))
    table = pd.DataFrame(rows, columns=VERTICAL_COLUMNS)
    return table.sort_values(["mean_auc", "vertical"], ascending=[False, True], kind="stable").reset_index(drop=True)


def most_frequent_verticals(members: pd.DataFrame, top: int) -> list[str]:
    """The ``top`` verticals of ``members`` (vertical_members rows) with the most videos, most
    frequent first, ties broken by name so that the choice is deterministic."""
    counts = members.groupby("vertical").size().rename("n").reset_index()
    ranked = counts.sort_values(["n", "vertical"], ascending=[False, True], kind="stable")
    return ranked["vertical"].head(top).tolist()


def plot_vertical_distributions(
    auc_by_video: pd.DataFrame, top: int, png: str | os.PathLike, svg: str | os.PathLike
) -> None:
    """Horizontal box plots of per-video AUC: all validation videos first (the reference), then the
    ``top`` most frequent verticals; each video drawn as a dot on its box, a dashed line at chance.

    Horizontal so that long vertical names stay readable; every tick label carries its n.
    """
    members = vertical_members(auc_by_video)
    verticals = most_frequent_verticals(members, top)
    overall = validation_aucs(auc_by_video)["auc"].to_numpy(dtype=np.float64)
    groups = [overall] + [members.loc[members["vertical"] == v, "auc"].to_numpy() for v in verticals]
    names = [f"{name} (n={len(aucs)})" for name, aucs in zip([OVERALL] + verticals, groups)]

    fig, ax = plt.subplots(figsize=(7.5, 1.2 + 0.45 * len(groups)))
    positions = np.arange(len(groups), 0, -1)  # the reference entry on top
    boxes = ax.boxplot(
        groups,
        positions=positions,
        orientation="horizontal",
        widths=0.6,
        patch_artist=True,
        showfliers=False,
        medianprops={"color": "black"},
    )
    for patch, colour in zip(boxes["boxes"], ["tab:grey"] + ["tab:blue"] * len(verticals)):
        patch.set(facecolor=colour, alpha=0.35)
    # Small samples: the dots show what a box alone would hide. Jitter is seeded: reruns are identical.
    jitter = np.random.default_rng(0)
    for y, aucs in zip(positions, groups):
        ax.scatter(aucs, y + jitter.uniform(-0.15, 0.15, len(aucs)), s=10, color="black", alpha=0.6, zorder=3)
    ax.axvline(CHANCE_AUC, color="tab:red", linestyle="--", linewidth=1, label="chance (AUC = 0.5)")
    ax.set_yticks(positions, names)
    ax.set_xlabel("intra-video AUC")
    ax.set_title(f"Intra-video AUC by vertical: the {len(verticals)} most frequent vs all validation videos")
    ax.legend(loc="lower right", fontsize="small")
    ax.grid(axis="x", alpha=0.3)
    save_figure(fig, png, svg)
