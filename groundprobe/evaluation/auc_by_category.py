"""Rule auc_by_category: mean intra-video AUC per category label over the validation videos, with a
bootstrap interval (Hessel et al. 2020, Table 2), and the ';'-separated label cells it reads.
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

CATEGORY_COLUMNS = ["category", "vertical", "n_videos", "mean_auc", "ci_low", "ci_high"]


def label_names(cell: object) -> list[str]:
    """The names of a ';'-separated ``labels`` or ``verticals`` cell, in order (none when empty)."""
    return [name for name in cell.split(";") if name] if isinstance(cell, str) else []


def bootstrap_interval(
    values: np.ndarray, n_boot: int, confidence: float, rng: np.random.Generator, max_draws: int = 1 << 22
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values``, resampling ``n_boot`` times.

    Draws in chunks of at most ``max_draws`` indices, so memory stays bounded for big categories.
    """
    per_chunk = max(1, max_draws // len(values))
    means = np.concatenate(
        [
            values[rng.integers(0, len(values), size=(min(per_chunk, n_boot - done), len(values)))].mean(axis=1)
            for done in range(0, n_boot, per_chunk)
        ]
    )
    low, high = np.quantile(means, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(low), float(high)


def category_table(auc_by_video: pd.DataFrame, n_boot: int, confidence: float, seed: int) -> pd.DataFrame:
    """Mean intra-video AUC per category label over the validation videos, with a bootstrap CI.

    ``auc_by_video``: columns video_id, auc, split, labels and verticals (';'-separated, same
    order). A video counts once for each of its labels, with the vertical at the same position.
    The interval resamples the category's videos with a generator seeded by ``seed`` and the
    category's name, so one category's interval does not depend on the others. Sorted by
    mean_auc, highest first. Columns: CATEGORY_COLUMNS.
    """
    memberships = []
    for video in auc_by_video[auc_by_video["split"] == "validation"].itertuples():
        labels, verticals = label_names(video.labels), label_names(video.verticals)
        if len(labels) != len(verticals):
            raise ValueError(f"video {video.video_id}: {len(labels)} labels but {len(verticals)} verticals")
        memberships.extend(
            (label, vertical, video.video_id, float(video.auc))
            for label, vertical in dict.fromkeys(zip(labels, verticals))
        )
    members = pd.DataFrame(memberships, columns=["category", "vertical", "video_id", "auc"])
    rows = []
    for category, group in members.groupby("category", sort=True):
        aucs = group.sort_values("video_id")["auc"].to_numpy(dtype=np.float64)  # order-free CI
        rng = np.random.default_rng([seed, zlib.crc32(str(category).encode())])
        low, high = bootstrap_interval(aucs, n_boot, confidence, rng)
        rows.append((category, group["vertical"].mode().iloc[0], len(aucs), aucs.mean(), low, high))
    table = pd.DataFrame(rows, columns=CATEGORY_COLUMNS)
    return table.sort_values(["mean_auc", "category"], ascending=[False, True], kind="stable").reset_index(drop=True)


def categories_with_videos(table: pd.DataFrame, min_videos: int) -> pd.DataFrame:
    """The rows of a category_table with at least ``min_videos`` validation videos, in its order:
    the table for readers, whose top a mean over one or two videos would otherwise take by chance."""
    return table[table["n_videos"] >= min_videos].reset_index(drop=True)
