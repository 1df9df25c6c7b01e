import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from groundprobe.evaluate import SEGMENT_AUC_COLUMNS, segment_auc
from groundprobe.io import read_table
from groundprobe.segment_auc import SEGMENT_TABLE_COLUMNS, join_segment_auc, write_segment_auc


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("kind", ["continuous", "ties"])
def test_segment_auc_matches_sklearn_per_caption(seed, kind):
    # Caption j (column j) against the n clips of its video: positive is clip j, the rest negative.
    rng = np.random.default_rng(seed)
    sim = rng.normal(size=(6, 6)) if kind == "continuous" else rng.integers(0, 3, size=(6, 6)).astype(float)
    expected = [roc_auc_score(np.eye(6, dtype=int)[:, j], sim[:, j]) for j in range(6)]
    np.testing.assert_allclose(segment_auc(sim), expected, atol=1e-12)


def _shard():
    scores = pd.DataFrame({"video_id": ["a", "a", "b", "b", "b"], "segment": [0, 2, 0, 1, 3],
                           "start_s": [0, 7, 3, 3, 20], "rel_position": [0.1, 0.5, 0.2, 0.2, 0.9],
                           "n_tokens": [2, 1, 3, 1, 2], "segment_auc": [1.0, 0.0, 0.5, 0.25, 0.75]})
    segments = pd.DataFrame({"video_id": ["b", "a", "a", "a", "b", "b", "b", "c"],
                             "segment": [3, 0, 1, 2, 0, 1, 2, 0], "start_s": [20, 0, 4, 7, 3, 3, 9, 0],
                             "tokens": ["x y", "hey welcome", "bye", "cat", "one two three", "007",
                                        "unused", "solo"]})
    videos = pd.DataFrame({"video_id": ["a", "b", "c"], "split": ["validation", "train", "validation"],
                           "labels": ["Cooking;Pet", "Pet", "Dance"], "verticals": ["F;P", "P", "D"],
                           "instructional": [1, 0, 0], "title": ["t", "u", "v"]})
    return scores[SEGMENT_AUC_COLUMNS], segments, videos


def test_join_keeps_every_caption_once_with_its_tokens_and_video():
    scores, segments, videos = _shard()
    table = join_segment_auc(scores, segments, videos)
    assert list(table.columns) == SEGMENT_TABLE_COLUMNS
    assert len(table) == len(scores)
    assert not table.duplicated(["video_id", "segment"]).any()
    assert table["tokens"].tolist() == ["hey welcome", "cat", "one two three", "007", "x y"]
    assert table["split"].tolist() == ["validation", "validation", "train", "train", "train"]
    assert table["labels"].tolist() == ["Cooking;Pet", "Cooking;Pet", "Pet", "Pet", "Pet"]
    pd.testing.assert_series_equal(table["segment_auc"], scores["segment_auc"])


@pytest.mark.parametrize("break_it, message", [
    (lambda s, g, v: (s, g[g["segment"] != 2], v), "1 scored captions have no segment row"),
    (lambda s, g, v: (s, g.assign(start_s=g["start_s"] + 1), v), "start_s differs"),
    (lambda s, g, v: (s, g, v[v["video_id"] != "b"]), "1 scored videos are not in the manifest, e.g. b"),
])
def test_join_refuses_tables_that_do_not_match(break_it, message):
    with pytest.raises(ValueError, match=message):
        join_segment_auc(*break_it(*_shard()))


def test_written_table_reads_back_and_keeps_text_tokens(tmp_path):
    scores, segments, videos = _shard()
    shard = join_segment_auc(scores, segments, videos)
    path = tmp_path / "segment_auc.csv"
    assert write_segment_auc([shard.iloc[:2], shard.iloc[2:]], path) == len(shard)
    pd.testing.assert_frame_equal(read_table(path), shard.reset_index(drop=True), check_dtype=False)
    assert write_segment_auc([], path) == 0
    assert list(read_table(path).columns) == SEGMENT_TABLE_COLUMNS
