import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from groundprobe.evaluation.auc import segment_auc
from groundprobe.io import read_table, write_table
from groundprobe.ingest.manifest import MANIFEST_COLUMNS, shard_rows
from groundprobe.evaluation.segment_auc import (
    SCORE_SCHEMA,
    SEGMENT_AUC_COLUMNS,
    SEGMENT_TABLE_COLUMNS,
    SEGMENT_TABLE_SCHEMA,
    VIDEO_COLUMNS,
    iter_segment_tables,
    join_segment_auc,
    read_scores,
    read_shard_videos,
    write_parquet,
)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("kind", ["continuous", "ties"])
def test_segment_auc_matches_sklearn_per_caption(seed, kind):
    # Caption j (column j) against the n clips of its video: positive is clip j, the rest negative.
    rng = np.random.default_rng(seed)
    sim = rng.normal(size=(6, 6)) if kind == "continuous" else rng.integers(0, 3, size=(6, 6)).astype(float)
    expected = [roc_auc_score(np.eye(6, dtype=int)[:, j], sim[:, j]) for j in range(6)]
    np.testing.assert_allclose(segment_auc(sim), expected, atol=1e-12)


def _shard():
    scores = pd.DataFrame(
        {
            "video_id": ["a", "a", "b", "b", "b"],
            "segment": [0, 2, 0, 1, 3],
            "start_s": [0, 7, 3, 3, 20],
            "rel_position": [0.1, 0.5, 0.2, 0.2, 0.9],
            "n_tokens": [2, 1, 3, 1, 2],
            "segment_auc": [1.0, 0.0, 0.5, 0.25, 0.75],
        }
    )
    segments = pd.DataFrame(
        {
            "video_id": ["b", "a", "a", "a", "b", "b", "b", "c"],
            "segment": [3, 0, 1, 2, 0, 1, 2, 0],
            "start_s": [20, 0, 4, 7, 3, 3, 9, 0],
            "tokens": ["x y", "hey welcome", "bye", "cat", "one two three", "007", "unused", "solo"],
        }
    )
    videos = pd.DataFrame(
        {
            "video_id": ["a", "b", "c"],
            "split": ["validation", "train", "validation"],
            "labels": ["Cooking;Pet", "Pet", "Dance"],
            "verticals": ["F;P", "P", "D"],
            "instructional": [1, 0, 0],
            "title": ["t", "u", "v"],
        }
    )
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


@pytest.mark.parametrize(
    "break_it, message",
    [
        (lambda s, g, v: (s, g[g["segment"] != 2], v), "1 scored captions have no segment row"),
        (lambda s, g, v: (s, g.assign(start_s=g["start_s"] + 1), v), "start_s differs"),
        (lambda s, g, v: (s, g, v[v["video_id"] != "b"]), "1 scored videos are not in the manifest, e.g. b"),
    ],
)
def test_join_refuses_tables_that_do_not_match(break_it, message):
    with pytest.raises(ValueError, match=message):
        join_segment_auc(*break_it(*_shard()))


def test_per_shard_tables_read_back_lazily_with_their_types(tmp_path):
    scores, segments, videos = _shard()
    videos.loc[videos["video_id"] == "b", ["labels", "verticals", "instructional"]] = np.nan
    write_parquet(
        scores.assign(video_id=scores["video_id"].map({"a": "007", "b": "b"})),
        tmp_path / "scores.parquet",
        SCORE_SCHEMA,
    )
    assert read_scores(tmp_path / "scores.parquet")["video_id"].tolist() == ["007", "007", "b", "b", "b"]
    table = join_segment_auc(scores, segments, videos)
    paths = [tmp_path / "00000.parquet", tmp_path / "00001.parquet", tmp_path / "00002.parquet"]
    write_parquet(table.iloc[:2], paths[0], SEGMENT_TABLE_SCHEMA)
    write_parquet(table.iloc[2:], paths[1], SEGMENT_TABLE_SCHEMA)
    write_parquet(table.iloc[:0], paths[2], SEGMENT_TABLE_SCHEMA)  # a shard with no scored video
    shards = list(iter_segment_tables(paths))
    assert [len(shard) for shard in shards] == [2, 3, 0]
    assert all(list(shard.columns) == SEGMENT_TABLE_COLUMNS for shard in shards)
    pd.testing.assert_frame_equal(
        pd.concat(shards[:2], ignore_index=True), table.reset_index(drop=True), check_dtype=False
    )
    assert shards[1]["labels"].isna().all() and shards[1]["instructional"].isna().all()
    assert shards[0]["instructional"].tolist() == [1, 1] and shards[1]["tokens"].tolist()[1] == "007"
    # Only the columns and rows asked for.
    validation = list(iter_segment_tables(paths, ["video_id", "segment_auc"], [("split", "==", "validation")]))
    assert [list(shard.columns) for shard in validation] == [["video_id", "segment_auc"]] * 3
    assert [len(shard) for shard in validation] == [2, 0, 0]
    with pytest.raises(ValueError, match="not columns of the segment AUC table: title"):
        iter_segment_tables(paths, ["video_id", "title"])


def test_a_shard_reads_only_its_rows_of_the_manifest(tmp_path):
    # Source shards 0-1 and target shard 2 in one table, as build_manifest orders them.
    manifest = pd.DataFrame({column: "" for column in MANIFEST_COLUMNS}, index=range(5))
    manifest["video_id"] = ["007", "s2", "s3", "s4", "t1"]
    manifest["corpus"] = ["source"] * 4 + ["target"]
    manifest["shard"] = [0, 0, 1, 1, 2]
    manifest["split"] = "validation"
    manifest["labels"] = ["A;B", "", "C", "A", "D"]
    manifest["instructional"] = ["1", "", "0", "1", ""]
    write_table(manifest, tmp_path / "manifest.tsv")
    everything = read_table(tmp_path / "manifest.tsv")
    for shard in ("00000", "00001", "00002", "00003"):
        videos = read_shard_videos(tmp_path / "manifest.tsv", shard)
        expected = shard_rows(everything, shard)[VIDEO_COLUMNS].reset_index(drop=True)
        pd.testing.assert_frame_equal(videos, expected, check_dtype=False)
    first = read_shard_videos(tmp_path / "manifest.tsv", "00000")
    assert first["video_id"].tolist() == ["007", "s2"]
    assert first["instructional"].iloc[0] == 1 and pd.isna(first["instructional"].iloc[1])
    with pytest.raises(ValueError, match="not a shard name"):
        read_shard_videos(tmp_path / "manifest.tsv", "../x")
