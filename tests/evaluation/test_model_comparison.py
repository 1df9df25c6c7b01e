from math import comb

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

from groundprobe.evaluation.model_comparison import (
    COMPARISON_COLUMNS,
    comparison_row,
    comparison_table,
    paired_auc,
    sign_test_p,
)

# Per labelled validation video: label, AUC of M_Diverse, AUC of M_Instructional, who wins.
LABELLED = {
    "v1": (1, 0.8, 0.6),  # diverse
    "v2": (1, 0.7, 0.9),  # instructional
    "v3": (1, 0.5, 0.5),  # tie
    "v4": (1, 0.9, 0.4),  # diverse
    "v5": (0, 0.6, 0.5),  # diverse
    "v6": (0, 0.7, 0.6),  # diverse
    "v7": (0, 0.8, 0.7),  # diverse
    "v8": (0, 0.4, 0.4),  # tie
}


def example_inputs() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Evaluate tables of both models and a manifest (labels as text, as in the manifest file),
    with a training video, an unlabelled one and one scored by M_Diverse only beside LABELLED."""
    ids = list(LABELLED)
    diverse = pd.DataFrame(
        {
            "video_id": ids + ["train1", "unlabelled", "diverse_only"],
            "n_segments": 4,
            "auc": [v[1] for v in LABELLED.values()] + [0.9, 0.9, 0.9],
        }
    )
    instructional = pd.DataFrame(
        {
            "video_id": ids + ["train1", "unlabelled"],
            "n_segments": 4,
            "auc": [v[2] for v in LABELLED.values()] + [0.1, 0.1],
        }
    )
    manifest = pd.DataFrame(
        {
            "video_id": ids + ["train1", "unlabelled", "diverse_only"],
            "split": ["validation"] * len(ids) + ["train", "validation", "validation"],
            "instructional": [str(v[0]) for v in LABELLED.values()] + ["1", "", "1"],
        }
    )
    return diverse, instructional, manifest


def test_pairs_are_the_labelled_validation_videos_scored_by_both_models():
    pairs = paired_auc(*example_inputs())
    assert pairs["video_id"].tolist() == list(LABELLED)
    assert pairs["instructional"].tolist() == [v[0] for v in LABELLED.values()]
    assert pairs["auc_instructional"].tolist() == [v[2] for v in LABELLED.values()]


def test_wins_ties_and_shares_are_counted_per_scope():
    table = comparison_table(paired_auc(*example_inputs())).set_index("scope")
    assert list(table.index) == ["overall", "instructional=1", "instructional=0"]
    assert list(table.columns) == COMPARISON_COLUMNS[1:]
    counts = table[["n", "diverse_wins", "instructional_wins", "ties"]]
    assert counts.loc["overall"].tolist() == [8, 5, 1, 2]
    assert counts.loc["instructional=1"].tolist() == [4, 2, 1, 1]
    assert counts.loc["instructional=0"].tolist() == [4, 3, 0, 1]
    assert table.loc["overall", "share_diverse_wins"] == pytest.approx(5 / 8)
    assert table.loc["overall", "share_instructional_wins"] == pytest.approx(1 / 8)
    assert table.loc["instructional=1", "mean_auc_diverse"] == pytest.approx((0.8 + 0.7 + 0.5 + 0.9) / 4)
    assert table.loc["instructional=0", "mean_auc_instructional"] == pytest.approx((0.5 + 0.6 + 0.7 + 0.4) / 4)
    assert (table["note"] == "").all()


def test_sign_test_drops_ties_and_matches_scipy_and_the_binomial_tail():
    table = comparison_table(paired_auc(*example_inputs())).set_index("scope")
    # Overall: 5 wins against 1 loss. Two-sided under p = 1/2: the outcomes as extreme as 5 of 6,
    # i.e. 0, 1, 5 or 6 wins: (1 + 6 + 6 + 1) / 2**6.
    hand = sum(comb(6, k) for k in (0, 1, 5, 6)) / 2**6
    assert hand == pytest.approx(14 / 64)
    assert table.loc["overall", "sign_test_p"] == pytest.approx(hand)
    assert table.loc["overall", "sign_test_p"] == pytest.approx(binomtest(5, 6, 0.5).pvalue)
    assert table.loc["instructional=0", "sign_test_p"] == pytest.approx(2 / 2**3)  # 3 of 3
    assert table.loc["instructional=1", "sign_test_p"] == pytest.approx(1.0)  # 2 of 3
    assert sign_test_p(12, 3) == pytest.approx(binomtest(12, 15, 0.5).pvalue)


def test_an_empty_scope_gives_a_row_with_n_zero_and_a_note():
    diverse, instructional, manifest = example_inputs()
    manifest["instructional"] = manifest["instructional"].replace("0", "")  # no label-0 video left
    table = comparison_table(paired_auc(diverse, instructional, manifest)).set_index("scope")
    empty = table.loc["instructional=0"]
    assert empty["n"] == empty["diverse_wins"] == empty["instructional_wins"] == empty["ties"] == 0
    assert np.isnan(empty["sign_test_p"]) and np.isnan(empty["share_diverse_wins"])
    assert empty["note"].startswith("not computed: no labelled validation video")
    assert table.loc["overall", "n"] == table.loc["instructional=1", "n"] == 4


def test_a_scope_of_ties_only_has_shares_but_no_sign_test():
    pairs = pd.DataFrame({"auc_diverse": [0.5, 0.7], "auc_instructional": [0.5, 0.7]})
    row = comparison_row("overall", pairs)
    assert (row["n"], row["ties"], row["share_diverse_wins"]) == (2, 2, 0.0)
    assert np.isnan(row["sign_test_p"]) and "all 2 videos are ties" in row["note"]
