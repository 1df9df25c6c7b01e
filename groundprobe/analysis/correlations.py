"""Rank correlations of the paper's §4-5: instructional-ness vs AUC, category AUC vs frequency.

Hessel et al. (2020) report Spearman ρ = 0.20 between the human "is it instructional" label and
intra-video AUC, and ρ = 0.02 between a category's mean AUC and how often the category occurs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from groundprobe.evaluation.auc_by_category import label_names

CORRELATION_COLUMNS = ["analysis", "x", "y", "n", "rho", "p", "note"]
MIN_PAIRS = 3  # with 2 pairs ρ is ±1 whatever the data, and its p-value is undefined


def spearman_row(analysis: str, x_name: str, y_name: str, x: np.ndarray, y: np.ndarray) -> dict:
    """Spearman ρ and its two-sided p-value (scipy.stats.spearmanr) of the paired arrays ``x``, ``y``
    (n,), as one CORRELATION_COLUMNS row.

    Fewer than MIN_PAIRS pairs or a constant input leave rho and p empty (NaN) and say why in note,
    instead of scipy's warning and a silent NaN.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    row = {"analysis": analysis, "x": x_name, "y": y_name, "n": len(x), "rho": np.nan, "p": np.nan, "note": ""}
    if len(x) < MIN_PAIRS:
        row["note"] = f"not computed: {len(x)} pairs, at least {MIN_PAIRS} needed"
    elif np.ptp(x) == 0 or np.ptp(y) == 0:
        constant = x_name if np.ptp(x) == 0 else y_name
        row["note"] = f"not computed: {constant} is constant over the {len(x)} pairs"
    else:
        result = spearmanr(x, y)
        row["rho"], row["p"] = float(result.statistic), float(result.pvalue)
    return row


def instructional_correlation(auc_by_video: pd.DataFrame) -> dict:
    """ρ between the human instructional label (0/1) and intra-video AUC over the validation videos
    that carry a label (``auc_by_video``: columns split, instructional, auc; unlabelled = empty)."""
    labels = pd.to_numeric(auc_by_video["instructional"], errors="coerce")
    labelled = (auc_by_video["split"] == "validation") & labels.notna()
    return spearman_row(
        "instructional_vs_auc",
        "instructional label (0/1)",
        "intra-video AUC",
        labels[labelled].to_numpy(),
        auc_by_video.loc[labelled, "auc"].to_numpy(),
    )


def category_frequency(manifest: pd.DataFrame, split: str) -> pd.Series:
    """Number of videos per category label in the manifest (split ``"train"``, or ``"all"`` for the
    whole corpus), a video counted once per distinct label. Index: category; values: counts."""
    videos = manifest if split == "all" else manifest[manifest["split"] == split]
    labels = [label for cell in videos["labels"] for label in dict.fromkeys(label_names(cell))]
    return pd.Series(labels, dtype=object).value_counts().rename("n_videos")


def frequency_correlation(categories: pd.DataFrame, manifest: pd.DataFrame, split: str) -> dict:
    """ρ between each category's mean AUC (``categories``: category_table rows) and its frequency
    in the manifest's ``split`` (0 for a category absent from it)."""
    frequency = category_frequency(manifest, split).reindex(categories["category"], fill_value=0)
    scope = "training videos" if split == "train" else "videos in the manifest"
    return spearman_row(
        "category_auc_vs_frequency",
        f"category frequency ({scope})",
        "category mean intra-video AUC (validation)",
        frequency.to_numpy(),
        categories["mean_auc"].to_numpy(),
    )


def correlation_table(
    auc_by_video: pd.DataFrame, categories: pd.DataFrame, manifest: pd.DataFrame, frequency_split: str
) -> pd.DataFrame:
    """Both correlations as a table with CORRELATION_COLUMNS, one row each."""
    rows = [instructional_correlation(auc_by_video), frequency_correlation(categories, manifest, frequency_split)]
    return pd.DataFrame(rows, columns=CORRELATION_COLUMNS)
