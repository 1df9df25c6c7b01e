import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from groundprobe.analysis.correlations import (
    CORRELATION_COLUMNS,
    category_frequency,
    correlation_table,
    frequency_correlation,
    instructional_correlation,
    spearman_row,
)

# A small example with ties in both variables, and its average ranks written out by hand.
X = [1, 2, 2, 3, 5, 5, 5, 8]
Y = [2, 1, 4, 4, 3, 6, 6, 9]
X_RANKS = [1, 2.5, 2.5, 4, 6, 6, 6, 8]
Y_RANKS = [2, 1, 4.5, 4.5, 3, 6.5, 6.5, 8]


def test_spearman_matches_scipy_and_a_hand_computation_with_ties():
    row = spearman_row("example", "x", "y", np.array(X), np.array(Y))
    reference = spearmanr(X, Y)
    assert row["rho"] == pytest.approx(reference.statistic)
    assert row["p"] == pytest.approx(reference.pvalue)
    # Spearman's ρ is Pearson's r of the (average) ranks.
    assert row["rho"] == pytest.approx(np.corrcoef(X_RANKS, Y_RANKS)[0, 1])
    assert (row["n"], row["note"]) == (8, "")


@pytest.mark.parametrize(
    "x, y, reason",
    [
        ([1, 2], [3, 4], "2 pairs"),
        ([1, 1, 1, 1], [1, 2, 3, 4], "x is constant"),
        ([1, 2, 3, 4], [5, 5, 5, 5], "y is constant"),
    ],
)
def test_spearman_states_why_it_is_not_computed(x, y, reason):
    row = spearman_row("example", "x", "y", np.array(x), np.array(y))
    assert np.isnan(row["rho"]) and np.isnan(row["p"])
    assert reason in row["note"]


def test_instructional_uses_labelled_validation_videos_only():
    auc_by_video = pd.DataFrame(
        {
            "split": ["validation"] * 5 + ["train"],
            "instructional": [1, 0, np.nan, 1, 0, 1],
            "auc": [0.9, 0.6, 0.1, 0.8, 0.7, 0.0],
        }
    )
    row = instructional_correlation(auc_by_video)
    assert row["n"] == 4
    assert row["rho"] == pytest.approx(spearmanr([1, 0, 1, 0], [0.9, 0.6, 0.8, 0.7]).statistic)


def test_category_frequency_counts_videos_once_per_label_in_the_split():
    manifest = pd.DataFrame({"split": ["train", "train", "train", "validation"], "labels": ["A;A;B", "A", "", "C"]})
    assert category_frequency(manifest, "train").to_dict() == {"A": 2, "B": 1}
    assert category_frequency(manifest, "all").to_dict() == {"A": 2, "B": 1, "C": 1}


def test_frequency_correlation_gives_absent_categories_frequency_zero():
    manifest = pd.DataFrame({"split": ["train"] * 6, "labels": ["A", "A", "A", "B", "B", "D"]})
    categories = pd.DataFrame({"category": ["A", "B", "C", "D"], "mean_auc": [0.9, 0.7, 0.5, 0.6]})
    row = frequency_correlation(categories, manifest, "train")
    assert row["n"] == 4
    assert row["rho"] == pytest.approx(spearmanr([3, 2, 0, 1], [0.9, 0.7, 0.5, 0.6]).statistic)
    assert "training" in row["x"]


def test_correlation_table_has_both_rows():
    auc_by_video = pd.DataFrame({"split": ["validation"] * 2, "instructional": [1, 0], "auc": [0.8, 0.6]})
    categories = pd.DataFrame({"category": ["A"], "mean_auc": [0.7]})
    manifest = pd.DataFrame({"split": ["train"], "labels": ["A"]})
    table = correlation_table(auc_by_video, categories, manifest, "all")
    assert list(table.columns) == CORRELATION_COLUMNS
    assert table["analysis"].tolist() == ["instructional_vs_auc", "category_auc_vs_frequency"]
    assert table["note"].str.startswith("not computed").all()
