"""The paper's model comparison: M_Diverse (all training videos) vs M_Instructional (instructional
training videos only), video by video on intra-video AUC.

On the validation videos that carry a human instructional label and were scored by both models,
count the videos each model wins (higher AUC) and the ties, overall and per label, and test
wins against losses with a two-sided exact sign test (ties dropped).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import binomtest

COMPARISON_COLUMNS = [
    "scope",
    "n",
    "diverse_wins",
    "instructional_wins",
    "ties",
    "share_diverse_wins",
    "share_instructional_wins",
    "sign_test_p",
    "mean_auc_diverse",
    "mean_auc_instructional",
    "note",
]
PAIR_COLUMNS = ["video_id", "instructional", "auc_diverse", "auc_instructional"]


def paired_auc(diverse: pd.DataFrame, instructional: pd.DataFrame, manifest: pd.DataFrame) -> pd.DataFrame:
    """Both models' AUC per labelled validation video scored by both, with its label (0/1).

    ``diverse``, ``instructional``: evaluate tables (video_id, auc) of the two models;
    ``manifest``: video_id, split, instructional (1, 0 or empty). Columns: PAIR_COLUMNS, sorted
    by video id.
    """
    pairs = (
        diverse[["video_id", "auc"]]
        .merge(
            instructional[["video_id", "auc"]],
            on="video_id",
            suffixes=("_diverse", "_instructional"),
            validate="one_to_one",
        )
        .merge(manifest[["video_id", "split", "instructional"]], on="video_id", validate="one_to_one")
    )
    pairs["instructional"] = pd.to_numeric(pairs["instructional"], errors="coerce")
    scored = pairs["auc_diverse"].notna() & pairs["auc_instructional"].notna()
    keep = scored & (pairs["split"] == "validation") & pairs["instructional"].isin([0, 1])
    pairs = pairs.loc[keep, PAIR_COLUMNS].astype({"instructional": int})
    return pairs.sort_values("video_id").reset_index(drop=True)


def sign_test_p(wins: int, losses: int) -> float:
    """Two-sided exact binomial p-value of ``wins`` against ``losses`` under p = 1/2
    (scipy.stats.binomtest); NaN when there are neither."""
    if wins + losses == 0:
        return float("nan")
    return float(binomtest(wins, wins + losses, 0.5, alternative="two-sided").pvalue)


def comparison_row(scope: str, pairs: pd.DataFrame) -> dict:
    """One COMPARISON_COLUMNS row for the videos of ``pairs`` (columns auc_diverse,
    auc_instructional). Shares are of all ``n`` videos, ties included; an empty scope or one of
    ties only gets empty statistics and a note saying why."""
    diverse, instructional = (pairs[c].to_numpy(dtype=np.float64) for c in ("auc_diverse", "auc_instructional"))
    n = len(pairs)
    diverse_wins = int((diverse > instructional).sum())
    instructional_wins = int((instructional > diverse).sum())
    row = {
        "scope": scope,
        "n": n,
        "diverse_wins": diverse_wins,
        "instructional_wins": instructional_wins,
        "ties": n - diverse_wins - instructional_wins,
        "share_diverse_wins": np.nan,
        "share_instructional_wins": np.nan,
        "sign_test_p": sign_test_p(diverse_wins, instructional_wins),
        "mean_auc_diverse": np.nan,
        "mean_auc_instructional": np.nan,
        "note": "",
    }
    if n == 0:
        row["note"] = "not computed: no labelled validation video scored by both models"
        return row
    row.update(
        share_diverse_wins=diverse_wins / n,
        share_instructional_wins=instructional_wins / n,
        mean_auc_diverse=float(diverse.mean()),
        mean_auc_instructional=float(instructional.mean()),
    )
    if diverse_wins + instructional_wins == 0:
        row["note"] = f"sign test not computed: all {n} videos are ties"
    return row


def comparison_table(pairs: pd.DataFrame) -> pd.DataFrame:
    """Rows for scopes overall, instructional=1 and instructional=0 (``pairs``: see
    :func:`paired_auc`), with COMPARISON_COLUMNS."""
    rows = [comparison_row("overall", pairs)]
    rows += [comparison_row(f"instructional={label}", pairs[pairs["instructional"] == label]) for label in (1, 0)]
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)
