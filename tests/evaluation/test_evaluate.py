import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import roc_auc_score

from groundprobe.evaluation import auc
from groundprobe.evaluation.auc import intra_video_auc, segment_auc
from groundprobe.evaluation.auc_by_category import (
    CATEGORY_COLUMNS,
    bootstrap_interval,
    categories_with_videos,
    category_table,
)
from groundprobe.evaluation.evaluate import AUC_COLUMNS, evaluate_videos, score_video
from groundprobe.evaluation.segment_auc import SEGMENT_AUC_COLUMNS
from groundprobe.model.joint_embedding import JointEmbedding

from conftest import DictSource


def sklearn_auc(sim: np.ndarray) -> float:
    return roc_auc_score(np.eye(len(sim), dtype=int).ravel(), sim.ravel())


@pytest.mark.parametrize("n", [2, 3, 17, 64])
@pytest.mark.parametrize("kind", ["continuous", "integer", "rounded"])
def test_intra_video_auc_matches_sklearn(n, kind):
    rng = np.random.default_rng(n)
    sim = rng.normal(size=(n, n)) + np.eye(n) * rng.uniform(0, 2)
    if kind == "integer":  # many ties, also between aligned and misaligned pairs
        sim = rng.integers(0, 3, size=(n, n)).astype(float)
    elif kind == "rounded":
        sim = np.round(sim, 1)
    assert intra_video_auc(sim) == pytest.approx(sklearn_auc(sim), abs=1e-9)


def pairwise_auc(sim: np.ndarray) -> float:
    """Every (aligned, misaligned) pair compared: wins + ties / 2 over n (n² - n) pairs."""
    n = len(sim)
    aligned, misaligned = np.diag(sim), sim[~np.eye(n, dtype=bool)]
    wins = (aligned[:, None] > misaligned[None, :]).sum() + 0.5 * (aligned[:, None] == misaligned[None, :]).sum()
    return wins / (n * (n * n - n))


def pairwise_segment_auc(sim: np.ndarray) -> np.ndarray:
    n = len(sim)
    return np.array(
        [
            sum(1.0 if sim[j, j] > sim[i, j] else 0.5 if sim[j, j] == sim[i, j] else 0.0 for i in range(n) if i != j)
            / (n - 1)
            for j in range(n)
        ]
    )


def tied_matrix(rng: np.random.Generator, n: int, kind: str) -> np.ndarray:
    """Random (n, n) scores: continuous, with few distinct values (ties everywhere, -0.0 and 0.0
    among them), or with every aligned score copied from a misaligned one of its video."""
    if kind == "continuous":
        return rng.normal(size=(n, n)) + np.eye(n)
    if kind == "few values":
        return rng.choice([-0.0, 0.0, 0.25, 1.0], size=(n, n))
    sim = np.round(rng.normal(size=(n, n)), 1)
    off = np.flatnonzero(~np.eye(n, dtype=bool).ravel())
    np.fill_diagonal(sim, sim.ravel()[rng.choice(off, size=n)])
    return sim


@pytest.mark.parametrize("n", [2, 3, 21, 60, 120])
@pytest.mark.parametrize("kind", ["continuous", "few values", "aligned tied"])
def test_auc_by_ranks_equals_a_pairwise_count(n, kind):
    rng = np.random.default_rng(n)
    for _ in range(3):
        sim = tied_matrix(rng, n, kind)
        # The same rational from integer counts: equal to the last bit.
        assert intra_video_auc(sim) == pairwise_auc(sim)
        np.testing.assert_array_equal(segment_auc(sim), pairwise_segment_auc(sim))


@pytest.mark.parametrize(
    "values",
    [
        [-0.0, 0.0, 1e-45, -1e-45, 1e-38, 0.5],  # signed zeros, subnormals
        [np.finfo(np.float32).min, np.finfo(np.float32).max, 0.0, 1.0],  # range overflows: all exact
        [1000.0, 1000.0001, 1000.0002, -3.0],  # a span tiny against the values
    ],
)
def test_intra_video_auc_edge_values_match_sklearn(values):
    """Scores drawn from a few edge values (ties everywhere, also between aligned and misaligned
    pairs, across the bins and the exactly counted scores) equal sklearn's AUC."""
    rng = np.random.default_rng(len(values))
    for n in (2, 40, 120):  # 120: over _BINNED_MIN_SCORES, the binned path
        sim = rng.choice(np.array(values, dtype=np.float32), size=(n, n))
        sim[rng.random((n, n)) < 0.5] = rng.normal(size=(n, n)).astype(np.float32)[0, 0]
        assert intra_video_auc(sim) == pytest.approx(sklearn_auc(sim), abs=1e-12)


@pytest.mark.parametrize(
    "values",
    [
        [0.0, 1e-45, 3e-45],  # n_bins / range overflows float32: every score counted exactly
        [0.25],  # all equal: no range to bin
    ],
)
def test_intra_video_auc_unbinnable_ranges_equal_a_pairwise_count(values):
    sim = np.random.default_rng(0).choice(np.array(values, dtype=np.float32), size=(120, 120))
    assert intra_video_auc(sim) == pairwise_auc(sim)


@pytest.mark.parametrize("kind", ["continuous", "few values", "aligned tied"])
def test_intra_video_auc_with_few_bins_equals_a_pairwise_count(kind, monkeypatch):
    """Coarse bins (_MAX_BINS caps them above ~1,450 captions) put more scores in the bins of
    aligned ones, counted exactly: the same value."""
    monkeypatch.setattr(auc, "_MAX_BINS", 1000)
    sim = tied_matrix(np.random.default_rng(1), 120, kind).astype(np.float32)
    assert intra_video_auc(sim) == pairwise_auc(sim)


def test_intra_video_auc_float32_scale_matches_sklearn():
    """180 captions of float32 cosine-like scores, a tenth rounded (ties), as benchmarks/auc_ranks.py."""
    rng = np.random.default_rng(7)
    sim = np.tanh(rng.normal(0, 0.5, size=(180, 180)) + np.eye(180) * 0.5)
    tied = rng.random(sim.shape) < 0.1
    sim[tied] = np.round(sim[tied], 2)
    sim = sim.astype(np.float32)
    assert intra_video_auc(sim) == pytest.approx(sklearn_auc(sim), abs=1e-12)


def test_intra_video_auc_extremes():
    assert intra_video_auc(np.eye(4)) == 1.0
    assert intra_video_auc(1 - np.eye(4)) == 0.0
    assert intra_video_auc(np.ones((3, 3))) == 0.5


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_aucs_reject_a_single_pair_and_non_finite_scores(bad):
    for auc_of in (intra_video_auc, segment_auc):
        with pytest.raises(ValueError, match="square"):
            auc_of(np.ones((1, 1)))
        with pytest.raises(ValueError, match="non-finite"):
            auc_of(np.array([[0.0, bad, 0.5], [1.0, 0.0, 0.2], [0.3, 0.1, 0.9]], dtype=np.float32))
        large = np.zeros((120, 120), dtype=np.float32)  # the size intra_video_auc bins
        large[5, 7] = bad
        with pytest.raises(ValueError, match="non-finite"):
            auc_of(large)


def test_evaluate_videos_scores_by_hand_and_sends_single_segment_videos_to_qc():
    torch.manual_seed(0)
    model = JointEmbedding(video_dim=4, vocab_size=6, word_dim=3, joint_dim=3).eval()
    rng = np.random.default_rng(0)
    source = DictSource(
        {"a": rng.normal(size=(10, 4)).astype(np.float32), "b": rng.normal(size=(6, 4)).astype(np.float32)}
    )
    segments = pd.DataFrame(
        {
            "video_id": ["a", "a", "a", "b"],
            "segment": [0, 1, 2, 0],
            "start_s": [0, 3, 7, 1],
            "end_s": [2, 5, 9, 3],
            "rel_position": [0.1, 0.4, 0.8, 0.3],
            "n_tokens": [2, 1, 3, 1],
            "token_ids": ["1 4", "6", "2 2 5", "3"],
            "tokens": ["x y", "z", "u u v", "w"],
        }
    )
    auc, by_segment, qc = evaluate_videos(model, segments, source)
    assert list(auc.columns) == AUC_COLUMNS and list(by_segment.columns) == SEGMENT_AUC_COLUMNS
    assert [(r.video_id, r.stage, r.reason) for r in qc] == [("b", "evaluate", "fewer than 2 segments with words")]
    # By hand: max over the clip's seconds / the caption's words, then the model's units.
    seconds = source.arrays["a"]
    with torch.no_grad():
        pooled = np.stack([seconds[start : start + 2].max(axis=0) for start in (0, 3, 7)])
        clips = model.clip_unit(torch.from_numpy(pooled))
        words = model.word_embedding.weight
        captions = model.caption_unit(torch.stack([words[[1, 4]].max(0).values, words[6], words[[2, 5]].max(0).values]))
    sim = (clips @ captions.T).double().numpy()
    scored = score_video(model, seconds, segments[segments.video_id == "a"])
    np.testing.assert_allclose(scored, sim, atol=1e-6)
    assert auc.to_dict("records") == [
        {"video_id": "a", "n_segments": 3, "auc": pytest.approx(sklearn_auc(sim), abs=1e-9)}
    ]
    assert by_segment["segment"].tolist() == [0, 1, 2]
    np.testing.assert_allclose(by_segment["segment_auc"], segment_auc(sim))


def test_score_video_names_the_video_when_features_are_too_short():
    model = JointEmbedding(video_dim=4, vocab_size=6, word_dim=3, joint_dim=3)
    segments = pd.DataFrame(
        {"video_id": ["v", "v"], "segment": [0, 1], "start_s": [0, 4], "end_s": [2, 6], "token_ids": ["1", "2"]}
    )
    with pytest.raises(ValueError, match="video v: .*6 seconds of features, found 5"):
        score_video(model, np.zeros((5, 4), dtype=np.float32), segments)


def test_category_table_by_hand():
    videos = pd.DataFrame(
        {
            "video_id": ["m", "c1", "c2", "p1", "t1", "g1"],
            "auc": [0.9, 0.7, 0.8, 0.6, 0.1, 0.55],
            "labels": ["Cooking;Pet", "Cooking", "Cooking", "Pet", "Pet", "Video game"],
            "verticals": [
                "Food & Drink;Pets & Animals",
                "Food & Drink",
                "Food & Drink",
                "Pets & Animals",
                "Pets & Animals",
                "Games",
            ],
            "split": ["validation", "validation", "validation", "validation", "train", "validation"],
        }
    )
    table = category_table(videos, n_boot=2000, confidence=0.95, seed=0)
    assert list(table.columns) == CATEGORY_COLUMNS
    # Cooking: m, c1, c2 -> 0.8; Pet: m, p1 (t1 is a training video) -> 0.75; Video game: 0.55.
    assert table["category"].tolist() == ["Cooking", "Pet", "Video game"]
    assert table["vertical"].tolist() == ["Food & Drink", "Pets & Animals", "Games"]
    assert table["n_videos"].tolist() == [3, 2, 1]
    np.testing.assert_allclose(table["mean_auc"], [0.8, 0.75, 0.55])
    assert (table["ci_low"] <= table["mean_auc"]).all() and (table["mean_auc"] <= table["ci_high"]).all()
    # Pet resamples {0.9, 0.6}: the bootstrap means are 0.6, 0.75 and 0.9 (chances 1/4, 1/2, 1/4).
    pet = table.set_index("category").loc["Pet"]
    assert (pet.ci_low, pet.ci_high) == pytest.approx((0.6, 0.9), abs=1e-12)
    games = table.set_index("category").loc["Video game"]
    assert games.ci_low == games.ci_high == 0.55
    # Cooking resamples {0.7, 0.8, 0.9}: P(mean = 0.7) = P(mean = 0.9) = 1/27 > 2.5%, so the
    # 95% interval is [0.7, 0.9].
    cooking = table.set_index("category").loc["Cooking"]
    assert (cooking.ci_low, cooking.ci_high) == pytest.approx((0.7, 0.9), abs=1e-12)
    again = category_table(videos.iloc[::-1], n_boot=2000, confidence=0.95, seed=0)
    pd.testing.assert_frame_equal(table, again)
    # The readers' table: categories of at least 2 videos, in the full table's order.
    shown = categories_with_videos(table, min_videos=2)
    pd.testing.assert_frame_equal(shown, table.iloc[:2])
    assert categories_with_videos(table, min_videos=3)["category"].tolist() == ["Cooking"]
    assert categories_with_videos(table, min_videos=1).equals(table)


def test_category_table_names_a_video_whose_labels_and_verticals_disagree():
    videos = pd.DataFrame(
        {"video_id": ["x"], "auc": [0.5], "labels": ["A;B"], "verticals": ["V"], "split": ["validation"]}
    )
    with pytest.raises(ValueError, match="video x: 2 labels but 1 verticals"):
        category_table(videos, n_boot=10, confidence=0.9, seed=0)


@pytest.mark.parametrize("max_draws", [1 << 22, 1000])
def test_bootstrap_interval_agrees_with_normal_theory_for_a_large_category(max_draws):
    values = np.random.default_rng(5).uniform(0.4, 0.9, size=400)
    low, high = bootstrap_interval(values, 4000, 0.95, np.random.default_rng(0), max_draws=max_draws)
    half_width = 1.96 * values.std() / np.sqrt(len(values))
    assert low == pytest.approx(values.mean() - half_width, abs=0.15 * half_width)
    assert high == pytest.approx(values.mean() + half_width, abs=0.15 * half_width)
