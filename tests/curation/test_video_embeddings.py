import numpy as np
import pytest
import torch

from groundprobe.model.joint_embedding import JointEmbedding
from groundprobe.curation.video_embeddings import (
    embedding_blocks,
    load_embeddings,
    model_embedder,
    normalised,
    pooled_clips,
    save_embeddings,
    second_windows,
    uniform_windows,
    video_means,
)


class ArraySource:
    def __init__(self, arrays: dict[str, np.ndarray]):
        self.arrays = arrays

    def seconds(self, video_id: str) -> np.ndarray:
        return self.arrays[video_id]


def test_uniform_windows_tile_the_video_without_overlap():
    assert uniform_windows(12, 5).tolist() == [[0, 5], [5, 10]]
    assert uniform_windows(10, 5).tolist() == [[0, 5], [5, 10]]
    assert uniform_windows(3, 5).tolist() == [[0, 3]]  # shorter than a window: all of it
    assert uniform_windows(0, 5).shape == (0, 2)


def test_second_windows_cover_the_spans_in_whole_seconds_inside_the_video():
    windows = second_windows([0.4, 2.0, 7.5, 9.9, -1.0], [1.2, 2.0, 12.0, 11.0, 0.5], 10)
    # [0.4, 1.2) -> [0, 2); an empty span is dropped; spans are clipped to the 10 s of features.
    assert windows.tolist() == [[0, 2], [7, 10], [9, 10], [0, 1]]
    assert second_windows([], [], 10).shape == (0, 2)


def test_pooled_clips_are_the_max_over_each_window():
    seconds = np.arange(12, dtype=np.float32).reshape(6, 2) * np.array([1, -1], dtype=np.float32)
    pooled = pooled_clips(seconds, np.array([[0, 2], [3, 6]]))
    assert pooled.tolist() == [[2, -1], [10, -7]]


def test_video_means_average_the_normalised_clips_and_skip_videos_without_clips():
    rng = np.random.default_rng(0)
    source = ArraySource(
        {"a": rng.normal(size=(9, 4)).astype(np.float32), "b": rng.normal(size=(3, 4)).astype(np.float32)}
    )
    spans = {"a": np.array([[0, 3], [2, 7]])}
    ids, means, counts, qc = video_means(
        ["a", "b"],
        lambda v, n: spans.get(v, np.zeros((0, 2), int)),
        source,
        lambda v: len(source.arrays[v]),
        normalised,
    )
    expected = np.mean(
        [row / np.linalg.norm(row) for row in (source.arrays["a"][0:3].max(0), source.arrays["a"][2:7].max(0))], axis=0
    )
    assert ids == ["a"] and counts.tolist() == [2]
    np.testing.assert_allclose(means[0], expected, rtol=1e-6)
    assert [(r.video_id, r.stage) for r in qc] == [("b", "video_embeddings")]


def test_a_shard_without_embedded_videos_is_stored_and_skipped_when_blocks_are_read(tmp_path):
    source = ArraySource({"a": np.ones((4, 3), np.float32)})
    ids, means, counts, qc = video_means(["a"], lambda v, n: np.zeros((0, 2), int), source, lambda v: 4, normalised)
    assert ids == [] and means.shape == (0, 0) and len(counts) == 0 and len(qc) == 1
    empty, full = tmp_path / "00000.npz", tmp_path / "00001.npz"
    save_embeddings(empty, ids, means, counts)
    save_embeddings(full, ["b", "c"], np.eye(2, 5, dtype=np.float32), np.array([1, 2]))
    blocks = list(embedding_blocks([empty, full, empty], {"a", "b", "c"}, 8))
    assert [block_ids for block_ids, _ in blocks] == [["b", "c"]]
    np.testing.assert_array_equal(blocks[0][1], np.eye(2, 5))


def test_model_embedder_is_the_clip_branch_of_the_model():
    torch.manual_seed(0)
    model = JointEmbedding(video_dim=6, vocab_size=5, word_dim=4, joint_dim=3)
    seconds = torch.randn(2, 5, 6)
    expected = model.embed_clips(seconds).detach().numpy()
    got = model_embedder(model)(seconds.amax(dim=1).numpy())
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, rtol=1e-5)


def test_embeddings_round_trip_and_blocks_keep_only_the_asked_videos(tmp_path):
    rng = np.random.default_rng(1)
    paths, every = [], {}
    for shard, n in enumerate((3, 0, 5)):
        ids = [f"s{shard}v{k}" for k in range(n)]
        means = rng.normal(size=(n, 4)).astype(np.float32)
        every.update(zip(ids, means))
        path = tmp_path / f"{shard:05d}.npz"
        save_embeddings(path, ids, means, np.arange(n) + 1)
        paths.append(path)
        loaded_ids, loaded, counts = load_embeddings(path)
        assert loaded_ids == ids and counts.tolist() == list(range(1, n + 1))
        np.testing.assert_array_equal(loaded, means)
    keep = {"s0v0", "s0v2", "s2v1", "s2v2", "s2v4"}
    for block_videos in (1, 2, 3, 10):
        blocks = list(embedding_blocks(paths, keep, block_videos))
        assert all(len(ids) == len(means) <= block_videos for ids, means in blocks)
        ids = [video_id for block_ids, _ in blocks for video_id in block_ids]
        assert ids == ["s0v0", "s0v2", "s2v1", "s2v2", "s2v4"]
        stacked = np.concatenate([means for _, means in blocks])
        np.testing.assert_array_equal(stacked, np.stack([every[v] for v in ids]))
    assert list(embedding_blocks(paths, set(), 4)) == []


def test_save_embeddings_refuses_rows_that_do_not_line_up(tmp_path):
    path = tmp_path / "00000.npz"
    with pytest.raises(ValueError, match="2 ids, 3 mean rows, 2 clip counts"):
        save_embeddings(path, ["a", "b"], np.ones((3, 4), np.float32), np.ones(2))
    assert list(tmp_path.iterdir()) == []
