import numpy as np
import pandas as pd
import pytest
import torch

from groundprobe.model.joint_embedding import JointEmbedding
from groundprobe.evaluation.retrieval import RANK_COLUMNS, embed_items, retrieval_items, retrieve, sample_items
from groundprobe.evaluation.retrieval_metrics import METRIC_KEYS, retrieval_metrics, retrieval_ranks

from conftest import DictSource


def test_retrieval_ranks_by_hand_with_ties():
    sim = np.array(
        [
            [0.9, 0.1, 0.2, 0.3],  # correct 0.9 is the best
            [0.8, 0.5, 0.7, 0.1],  # 0.8 and 0.7 beat 0.5
            [0.4, 0.6, 0.4, 0.4],  # 0.6 beats 0.4; columns 0 and 3 tie with it
            [0.3, 0.3, 0.2, 0.1],
        ]
    )  # everything beats 0.1
    ranks, ties = retrieval_ranks(sim)
    assert ranks.dtype == ties.dtype == np.int64
    assert ranks.tolist() == [1, 3, 2, 4]
    assert ties.tolist() == [0, 0, 2, 0]
    # A block of the last two queries against the whole gallery ranks them the same.
    block_ranks, block_ties = retrieval_ranks(sim[2:], first_query=2)
    assert block_ranks.tolist() == [2, 4] and block_ties.tolist() == [2, 0]


@pytest.mark.parametrize("seed", range(4))
def test_retrieval_ranks_match_a_double_loop(seed):
    rng = np.random.default_rng(seed)
    n_queries, n_gallery, first = 7, 12, 3
    sim = rng.integers(0, 4, size=(n_queries, n_gallery)).astype(float)  # ties everywhere
    expected_ranks, expected_ties = [], []
    for q in range(n_queries):
        correct = sim[q, first + q]
        above = equal = 0
        for g in range(n_gallery):
            if g != first + q:
                above += sim[q, g] > correct
                equal += sim[q, g] == correct
        expected_ranks.append(1 + above)
        expected_ties.append(equal)
    ranks, ties = retrieval_ranks(sim, first_query=first)
    assert ranks.tolist() == expected_ranks and ties.tolist() == expected_ties


def test_retrieval_ranks_reject_bad_shapes_and_nan():
    with pytest.raises(ValueError, match="shape"):
        retrieval_ranks(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="shape"):
        retrieval_ranks(np.zeros((2, 3)), first_query=2)
    with pytest.raises(ValueError, match="non-finite"):
        retrieval_ranks(np.array([[1.0, np.nan], [0.0, 1.0]]))


def test_retrieval_metrics_by_hand():
    metrics = retrieval_metrics(np.array([1, 2, 5, 6, 11, 1]), np.array([0, 2, 0, 1, 0, 0]))
    assert (
        list(metrics)
        == METRIC_KEYS
        == ["n_queries", "r1", "r5", "r10", "median_rank", "mean_rank", "queries_with_ties"]
    )
    # Sorted ranks 1 1 2 5 6 11: two at 1, four at 5 or better, five at 10 or better.
    assert metrics == {
        "n_queries": 6,
        "r1": pytest.approx(2 / 6),
        "r5": pytest.approx(4 / 6),
        "r10": pytest.approx(5 / 6),
        "median_rank": 3.5,
        "mean_rank": pytest.approx(26 / 6),
        "queries_with_ties": 2,
    }
    odd = retrieval_metrics(np.array([3, 1, 10]), np.array([0, 0, 0]), ks=(1, 3))
    assert odd == {
        "n_queries": 3,
        "r1": pytest.approx(1 / 3),
        "r3": pytest.approx(2 / 3),
        "median_rank": 3.0,
        "mean_rank": pytest.approx(14 / 3),
        "queries_with_ties": 0,
    }


def overlapping_segments() -> pd.DataFrame:
    rows = [  # (video_id, segment, start_s, end_s), deliberately out of order
        ("b", 4, 12, 17),
        ("b", 1, 3, 8),
        ("b", 0, 0, 5),
        ("b", 3, 12, 17),
        ("b", 5, 2, 7),
        ("b", 2, 5, 10),
        ("a", 0, 4, 9),
        ("a", 2, 9, 14),
        ("a", 1, 0, 5),
    ]
    table = pd.DataFrame(rows, columns=["video_id", "segment", "start_s", "end_s"])
    return table.assign(token_ids=[f"{s + 1}" for s in table["segment"]])


def test_retrieval_items_keep_non_overlapping_segments_greedily():
    segments = overlapping_segments()
    # b in start order: 0 [0,5) kept; 5 [2,7) and 1 [3,8) overlap it; 2 [5,10) starts at its end,
    # kept; 3 and 4 both [12,17): the lower segment number, 3, is kept and 4 overlaps it.
    # a: 1 [0,5) kept; 0 [4,9) overlaps; 2 [9,14) kept.
    items = retrieval_items(segments, None)
    assert list(zip(items["video_id"], items["segment"])) == [("a", 1), ("a", 2), ("b", 0), ("b", 2), ("b", 3)]
    assert list(items.columns) == list(segments.columns) and items.index.tolist() == list(range(5))
    assert items["token_ids"].tolist() == ["2", "3", "1", "3", "4"]
    assert retrieval_items(segments, 3).equals(items)  # no video has more than 3: nothing drawn
    one = retrieval_items(segments, 1)
    assert len(one) == 2 and set(zip(one["video_id"], one["segment"])) <= set(zip(items["video_id"], items["segment"]))
    for seed in range(5):
        shuffled = segments.sample(frac=1, random_state=seed).reset_index(drop=True)
        pd.testing.assert_frame_equal(retrieval_items(shuffled, None), items)
    with pytest.raises(ValueError, match="clips_per_video"):
        retrieval_items(segments, 0)


def test_capped_retrieval_items_are_drawn_from_the_whole_video_not_its_opening():
    # 30 back-to-back segments: the first 3 would all be the video's opening.
    long = pd.DataFrame(
        {
            "video_id": "v",
            "segment": range(30),
            "start_s": range(0, 150, 5),
            "end_s": range(5, 155, 5),
            "token_ids": "1",
        }
    )
    drawn = [retrieval_items(long, 3, seed)["segment"].tolist() for seed in range(20)]
    assert all(len(segs) == 3 and segs == sorted(set(segs)) for segs in drawn)
    assert drawn[0] == retrieval_items(long, 3, 0)["segment"].tolist()  # seeded
    assert len({tuple(segs) for segs in drawn}) > 10
    assert np.mean([np.mean(segs) for segs in drawn]) == pytest.approx(14.5, abs=3)
    # A video's draw does not depend on which other videos are in the table.
    other = long.assign(video_id="w")
    both = retrieval_items(pd.concat([other, long]), 3, 7)
    assert both.loc[both["video_id"] == "v", "segment"].tolist() == retrieval_items(long, 3, 7)["segment"].tolist()


def random_corpus(seed: int) -> tuple[pd.DataFrame, DictSource]:
    """Four videos of 3-s segments (some overlapping) with random features and captions."""
    rng = np.random.default_rng(seed)
    rows, arrays = [], {}
    for video_id, starts in [("v1", [0, 2, 3, 7]), ("v2", [1, 4]), ("v3", [0, 3, 6, 9, 12]), ("v4", [5])]:
        arrays[video_id] = rng.normal(size=(16, 4)).astype(np.float32)
        for segment, start in enumerate(starts):
            ids = rng.integers(1, 9, size=rng.integers(1, 5))
            rows.append((video_id, segment, start, start + 3, " ".join(map(str, ids))))
    table = pd.DataFrame(rows, columns=["video_id", "segment", "start_s", "end_s", "token_ids"])
    return table, DictSource(arrays)


def brute_force_ranks(model: JointEmbedding, items: pd.DataFrame, source: DictSource) -> tuple[list, list]:
    """Embed each item on its own and rank each query with plain Python loops."""
    clips, captions = [], []
    with torch.no_grad():
        for item in items.itertuples():
            window = source.seconds(item.video_id)[item.start_s : item.end_s]
            clips.append(model.embed_clips(torch.from_numpy(window)[None])[0].double().numpy())
            ids = torch.tensor([[int(t) for t in item.token_ids.split()]])
            captions.append(model.embed_captions(ids)[0].double().numpy())
    ranks, ties = [], []
    for q, caption in enumerate(captions):
        scores = [float(caption @ clip) for clip in clips]
        ranks.append(1 + sum(score > scores[q] for score in scores))
        ties.append(sum(score == scores[q] for g, score in enumerate(scores) if g != q))
    return ranks, ties


@pytest.mark.parametrize("clips_per_video", [None, 2])
def test_retrieve_matches_a_one_item_at_a_time_reference(clips_per_video):
    torch.manual_seed(0)
    model = JointEmbedding(video_dim=4, vocab_size=8, word_dim=5, joint_dim=6)
    segments, source = random_corpus(1)
    table, metrics = retrieve(model, segments, source, clips_per_video)
    items = retrieval_items(segments, clips_per_video)
    expected_ranks, expected_ties = brute_force_ranks(model, items, source)
    assert list(table.columns) == RANK_COLUMNS
    assert table[["video_id", "segment"]].values.tolist() == items[["video_id", "segment"]].values.tolist()
    assert table["rank"].tolist() == expected_ranks and table["ties"].tolist() == expected_ties
    assert len(set(expected_ranks)) > 2  # an untrained model ranks far from perfectly
    assert metrics["n_queries"] == len(items)
    assert metrics["r1"] == pytest.approx(np.mean(np.array(expected_ranks) <= 1))
    # Blocks of queries smaller than the item count give the very same table and metrics.
    for query_block in (1, 3):
        blocked_table, blocked_metrics = retrieve(model, segments, source, clips_per_video, query_block)
        pd.testing.assert_frame_equal(blocked_table, table)
        assert blocked_metrics == metrics


def test_embed_items_rows_follow_the_items_order_whatever_it_is():
    torch.manual_seed(0)
    model = JointEmbedding(video_dim=4, vocab_size=8, word_dim=5, joint_dim=6)
    segments, source = random_corpus(2)
    items = retrieval_items(segments, None)
    clips, captions = embed_items(model, items, source, batch_size=2)
    order = np.random.default_rng(0).permutation(len(items))  # videos interleaved
    mixed_clips, mixed_captions = embed_items(model, items.iloc[order], source, batch_size=3)
    assert clips.dtype == torch.float32 and clips.device.type == "cpu" and clips.shape == (len(items), 6)
    torch.testing.assert_close(mixed_clips, clips[order])
    torch.testing.assert_close(mixed_captions, captions[order])


def planted_model(size: int) -> JointEmbedding:
    """Clip features, words and the joint space are all ``size``-d one-hot: feature k and token k + 1
    both map to the joint direction k, so a clip and a caption match exactly when they share k."""
    model = JointEmbedding(video_dim=size, vocab_size=size, word_dim=size, joint_dim=size)
    with torch.no_grad():
        for unit in (model.clip_unit, model.caption_unit):
            unit.linear.weight.copy_(torch.eye(size))
            for parameter in (unit.linear.bias, unit.gate.weight, unit.gate.bias):
                parameter.zero_()  # the gate is then a constant 1/2, which the unit norm removes
        model.word_embedding.weight.copy_(torch.cat([torch.zeros(1, size), torch.eye(size)]))
    return model


def test_planted_retrieval_is_perfect_and_ties_are_neither_penalised_nor_rewarded():
    one_hot = np.eye(4, dtype=np.float32)
    source = DictSource({"a": one_hot[[0, 0, 1, 1]], "b": one_hot[[0, 0, 2, 2]], "c": one_hot[[3, 3]]})
    # (video, segment, start_s, end_s, token_ids); each 2-s clip shows one direction.
    segments = pd.DataFrame(
        [("a", 0, 0, 2, "1"), ("a", 1, 2, 4, "2"), ("b", 0, 0, 2, "1"), ("b", 1, 2, 4, "3"), ("c", 0, 0, 2, "4")],
        columns=["video_id", "segment", "start_s", "end_s", "token_ids"],
    )
    table, metrics = retrieve(planted_model(4), segments, source, None)
    # Clips a0 and b0 are identical and so are their captions: each query finds both at the top.
    assert table["rank"].tolist() == [1, 1, 1, 1, 1] and table["ties"].tolist() == [1, 0, 1, 0, 0]
    assert metrics["r1"] == 1.0 and metrics["queries_with_ties"] == 2

    # b1's caption now names direction 3: clip c0 beats its correct clip (direction 2) and the
    # other three clips tie with it at 0, so it is ranked 2 -- not 1 (rewarded) or 5 (penalised).
    segments.loc[3, "token_ids"] = "4"
    table, metrics = retrieve(planted_model(4), segments, source, None)
    assert table["rank"].tolist() == [1, 1, 1, 2, 1] and table["ties"].tolist() == [1, 0, 1, 3, 0]
    assert metrics == {
        "n_queries": 5,
        "r1": 0.8,
        "r5": 1.0,
        "r10": 1.0,
        "median_rank": 1.0,
        "mean_rank": pytest.approx(1.2),
        "queries_with_ties": 3,
    }


def test_retrieve_needs_two_candidates():
    model = JointEmbedding(video_dim=4, vocab_size=8, word_dim=5, joint_dim=6)
    source = DictSource({"a": np.zeros((10, 4), dtype=np.float32)})
    # Two segments, but the second overlaps the first and is dropped: one item is left.
    segments = pd.DataFrame(
        {"video_id": ["a", "a"], "segment": [0, 1], "start_s": [0, 2], "end_s": [5, 7], "token_ids": ["1", "2"]}
    )
    with pytest.raises(ValueError, match="at least 2 candidate clips, found 1"):
        retrieve(model, segments, source, None)


def test_sample_items_draws_a_seeded_subset_in_order():
    items = pd.DataFrame({"video_id": [f"v{k // 3}" for k in range(30)], "segment": list(range(30))})
    assert sample_items(items, None, 0) is items and sample_items(items, 30, 0) is items
    drawn = sample_items(items, 8, seed=1)
    assert len(drawn) == 8 and drawn["segment"].is_monotonic_increasing
    assert drawn["segment"].is_unique and set(drawn["segment"]) <= set(items["segment"])
    pd.testing.assert_frame_equal(drawn, sample_items(items, 8, seed=1))
    assert len({tuple(sample_items(items, 8, seed)["segment"]) for seed in range(10)}) > 1
