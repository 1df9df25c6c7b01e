import numpy as np
import pandas as pd
import pytest

from groundprobe.evaluation.auc_by_category import bootstrap_interval
from groundprobe.analysis.auc_by_vertical import (
    OVERALL,
    VERTICAL_COLUMNS,
    most_frequent_verticals,
    plot_vertical_distributions,
    vertical_members,
    vertical_table,
)


@pytest.fixture
def auc_by_video() -> pd.DataFrame:
    """v1 has two labels in V1 (counts once there); v2 is in V1 and V2; v4 is a training video."""
    return pd.DataFrame(
        {
            "video_id": ["v1", "v2", "v3", "v4", "v5", "v6"],
            "split": ["validation", "validation", "validation", "train", "validation", "validation"],
            "labels": ["A;B", "A;C", "C", "A", "D", "B"],
            "verticals": ["V1;V1", "V1;V2", "V2", "V1", "V3", "V1"],
            "auc": [0.6, 0.8, 0.4, 0.99, 0.7, 0.3],
        }
    )


def test_vertical_table_matches_hand_computed_statistics(auc_by_video):
    table = vertical_table(auc_by_video, n_boot=200, confidence=0.9, seed=0)
    assert list(table.columns) == VERTICAL_COLUMNS
    assert table["vertical"].tolist() == ["V3", "V2", "V1"]  # by mean: 0.7, 0.6, 0.5667
    expected = {  # (n, mean, median, q25, q75) by hand; quartiles interpolate linearly
        "V1": (3, (0.6 + 0.8 + 0.3) / 3, 0.6, 0.45, 0.7),
        "V2": (2, 0.6, 0.6, 0.5, 0.7),
        "V3": (1, 0.7, 0.7, 0.7, 0.7),
    }
    for row in table.itertuples():
        n, mean, median, q25, q75 = expected[row.vertical]
        assert row.n_videos == n
        assert (row.mean_auc, row.median_auc, row.q25_auc, row.q75_auc) == pytest.approx((mean, median, q25, q75))
        assert row.ci_low <= row.mean_auc <= row.ci_high
    single = table.set_index("vertical").loc["V3"]
    assert single["ci_low"] == single["ci_high"] == pytest.approx(0.7)


def test_vertical_table_ignores_row_order(auc_by_video):
    shuffled = auc_by_video.sample(frac=1, random_state=3)
    pd.testing.assert_frame_equal(vertical_table(auc_by_video, 100, 0.95, 7), vertical_table(shuffled, 100, 0.95, 7))


def test_members_count_a_video_once_per_distinct_vertical(auc_by_video):
    members = vertical_members(auc_by_video)
    assert sorted(members.loc[members["vertical"] == "V1", "video_id"]) == ["v1", "v2", "v6"]
    assert "v4" not in set(members["video_id"])
    assert most_frequent_verticals(members, 2) == ["V1", "V2"]


def test_bootstrap_interval_covers_the_known_mean_at_the_nominal_rate():
    """400 seeded samples of n = 50 from N(0.7, 0.1²): the 95 % interval should hold 0.7 in about
    95 % of them; 3 binomial standard errors (±3.3 points) of tolerance."""
    rng = np.random.default_rng(2024)
    true_mean, n_samples, confidence = 0.7, 400, 0.95
    covered = 0
    for _ in range(n_samples):
        low, high = bootstrap_interval(rng.normal(true_mean, 0.1, size=50), 1000, confidence, rng)
        covered += low <= true_mean <= high
    tolerance = 3 * np.sqrt(confidence * (1 - confidence) / n_samples)
    assert abs(covered / n_samples - confidence) <= tolerance


def test_figure_files_are_written(auc_by_video, tmp_path):
    png, svg = tmp_path / "fig.png", tmp_path / "fig.svg"
    plot_vertical_distributions(auc_by_video, top=8, png=png, svg=svg)  # more than exist: all 3
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = svg.read_text()
    assert "<svg" in text and "intra-video AUC" in text and f"{OVERALL} (n=5)" in text
    assert "V1 (n=3)" in text
