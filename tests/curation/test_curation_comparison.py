import numpy as np
import pandas as pd
import pytest

from groundprobe.curation.draws import stack_draws
from groundprobe.curation.curation_comparison import (
    BASELINE,
    COMPARISON_COLUMNS,
    comparison_table,
    domain_gap_table,
    plot_comparison,
)
from groundprobe.evaluation.probe import PROBE_COLUMNS, probe_row, validation_ids


def probe(model, corpus, n_videos, r5, mean_auc):
    metrics = {
        "n_queries": 40,
        "r1": r5 / 3,
        "r5": r5,
        "r10": min(1.0, 1.5 * r5),
        "median_rank": 9.0,
        "mean_rank": 12.5,
        "queries_with_ties": 0,
    }
    auc = pd.DataFrame({"video_id": ["a", "b"], "auc": [mean_auc - 0.1, mean_auc + 0.1]})
    training = {"n_videos": n_videos, "steps": 200, "batch_videos": min(n_videos, 16)}
    return probe_row(model, corpus, training, metrics, auc)


def test_probe_row_takes_training_size_metrics_and_mean_auc():
    row = probe("curated/knn/25pct/seed0", "target", 8, 0.3, 0.7).iloc[0]
    assert list(row.index) == PROBE_COLUMNS
    assert (row["training_videos"], row["training_steps"], row["auc_videos"]) == (8, 200, 2)
    assert row["training_batch_videos"] == 8
    assert row["mean_auc"] == pytest.approx(0.7) and row["r5"] == 0.3
    empty = probe_row(
        "m",
        "target",
        {"n_videos": 2, "steps": 1, "batch_videos": 2},
        probe("m", "t", 1, 0.1, 0.5).iloc[0],
        pd.DataFrame({"video_id": [], "auc": []}),
    )
    assert empty["auc_videos"].iloc[0] == 0 and np.isnan(empty["mean_auc"].iloc[0])


def test_validation_ids_of_one_corpus():
    manifest = pd.DataFrame(
        {
            "video_id": list("abcd"),
            "corpus": ["source", "target", "target", "source"],
            "split": ["validation", "validation", "train", "train"],
        }
    )
    assert validation_ids(manifest, "target") == {"b"}
    assert validation_ids(manifest, "source") == {"a"}


def test_comparison_rows_average_the_seeds_of_each_selection_then_the_baseline():
    selection = pd.DataFrame({"video_id": ["v1", "v2", "v3"], "score": [0.0] * 3, "rank": [1, 2, 3]})
    random_r5, knn_r5 = [0.1, 0.2, 0.3], [0.4, 0.5]
    random_draws = [selection.assign(video_id=[f"v{3 * d + k}" for k in range(3)]) for d in range(3)]
    # The third draw's model found only 2 of its videos trainable.
    curated = [
        (
            "random",
            "12.5%",
            stack_draws(random_draws),
            [
                probe(f"curated/random/12.5pct/seed{s}", "target", n, r5, 0.5 + r5)
                for s, (r5, n) in enumerate(zip(random_r5, [3, 3, 2]))
            ],
        ),
        (
            "knn",
            "12.5%",
            stack_draws([selection.iloc[:2]] * 2),
            [probe(f"curated/knn/12.5pct/seed{s}", "target", 2, r5, 0.7) for s, r5 in enumerate(knn_r5)],
        ),
    ]
    table = comparison_table(curated, probe("diverse", "target", 30, 0.2, 0.6))
    assert list(table.columns) == COMPARISON_COLUMNS
    assert table["strategy"].tolist() == ["random", "knn", BASELINE]
    assert table["budget"].tolist() == ["12.5%", "12.5%", "100%"]
    assert table["selected_videos"].tolist() == [3, 2, 30]
    assert table["seeds"].tolist() == [3, 2, 1]
    assert table["models"].tolist() == [
        "curated/random/12.5pct/seed0;curated/random/12.5pct/seed1;curated/random/12.5pct/seed2",
        "curated/knn/12.5pct/seed0;curated/knn/12.5pct/seed1",
        "diverse",
    ]
    # Means and sample standard deviations, computed by hand.
    assert table["r5"].tolist() == pytest.approx([0.2, 0.45, 0.2])
    assert table["r5_sd"].iloc[:2].tolist() == pytest.approx([0.1, np.sqrt(0.005)])
    assert table["r1"].iloc[0] == pytest.approx(0.2 / 3) and table["r1_sd"].iloc[0] == pytest.approx(0.1 / 3)
    assert table["mean_auc"].iloc[0] == pytest.approx(0.7) and table["mean_auc_sd"].iloc[1] == pytest.approx(0)
    assert table["median_rank_sd"].iloc[0] == 0 and np.isnan(table["r5_sd"].iloc[2])
    assert table["training_batch_videos"].tolist() == pytest.approx([8 / 3, 2, 16])
    assert table["training_videos"].tolist() == pytest.approx([8 / 3, 2, 30])
    # A model without its draw (or a draw without its model) is an error, not a silent mismatch.
    with pytest.raises(ValueError, match="random 12.5%: 2 models but draws \\[0, 1, 2\\]"):
        comparison_table([(*curated[0][:3], curated[0][3][:2])], probe("diverse", "target", 30, 0.2, 0.6))


def test_domain_gap_is_target_minus_source():
    table = domain_gap_table(probe("diverse", "source", 30, 0.5, 0.8), probe("diverse", "target", 30, 0.2, 0.6))
    assert table["corpus"].tolist() == ["source", "target", "target - source"]
    gap = table.iloc[2]
    assert gap["r5"] == pytest.approx(-0.3) and gap["mean_auc"] == pytest.approx(-0.2)
    assert pd.isna(gap["training_videos"]) and pd.isna(gap["n_queries"])
    assert table["training_videos"].tolist()[:2] == [30, 30]


def test_the_figure_is_written_as_png_and_svg(tmp_path):
    curated = [
        (
            s,
            b,
            stack_draws(
                [pd.DataFrame({"video_id": [f"v{k}" for k in range(n)], "score": 0.0, "rank": range(1, n + 1)})] * 2
            ),
            [probe(f"curated/{s}/{b}/seed{seed}", "target", n, r5 + 0.05 * seed, 0.6) for seed in (0, 1)],
        )
        for s, b, n, r5 in [
            ("random", "4", 4, 0.1),
            ("random", "8", 8, 0.15),
            ("knn", "4", 4, 0.3),
            ("knn", "8", 8, 0.35),
        ]
    ]
    table = comparison_table(curated, probe("diverse", "target", 32, 0.2, 0.6))
    plot_comparison(table, "r5", tmp_path / "c.png", tmp_path / "c.svg")
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = (tmp_path / "c.svg").read_text()
    for text in ("R@5", "selected source videos", "random", "knn", "whole source (32 videos)", "mean of 2 seeds"):
        assert text in svg
