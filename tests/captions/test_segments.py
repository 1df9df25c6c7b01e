import h5py
import numpy as np
import pandas as pd
import pytest

from groundprobe.captions.segments import (
    SegmentIndex,
    sample_segment_starts,
    shard_segments,
    video_segments,
    write_segment_index,
)

VOCAB = {"cat": 1, "cup": 2, "rocket": 3}


def words(rows):
    return pd.DataFrame(rows, columns=["video_id", "token", "start_s", "end_s"])


def test_starts_are_distinct_uniform_and_reproducible():
    rng = np.random.default_rng(1)
    starts = sample_segment_starts(600, 5, 256, rng)
    assert len(starts) == 256 and len(set(starts.tolist())) == 256
    assert starts.min() >= 0 and starts.max() <= 595
    again = sample_segment_starts(600, 5, 256, np.random.default_rng(1))
    assert np.array_equal(starts, again)
    # Uniform: across many draws every start is about equally likely (chi-square-free check).
    counts = np.bincount(
        np.concatenate([sample_segment_starts(40, 5, 10, np.random.default_rng(s)) for s in range(2000)]), minlength=36
    )
    assert counts.min() > 0.8 * counts.mean() and counts.max() < 1.2 * counts.mean()


def test_short_videos_get_every_start_or_none():
    assert sample_segment_starts(8, 5, 256, np.random.default_rng(0)).tolist() == [0, 1, 2, 3]
    assert sample_segment_starts(4, 5, 256, np.random.default_rng(0)).size == 0


def test_segments_hold_exactly_the_words_spoken_inside_them():
    spoken = words(
        [
            ("v", "cat", 0.5, 0.9),
            ("v", "xyzzy", 3.0, 3.2),
            ("v", "cup", 4.99, 5.3),
            ("v", "rocket", 5.0, 5.4),
            ("v", "cat", 12.0, 12.5),
        ]
    )
    seg = video_segments("v", 20, spoken, VOCAB, length_s=5, candidates=256, max_tokens=32, seed=0)
    # Hand count: a start s keeps the tokens with s <= start_s < s + 5 that are in the vocabulary.
    for row in seg.itertuples():
        inside = spoken[(spoken.start_s >= row.start_s) & (spoken.start_s < row.start_s + 5)]
        expected = [t for t in inside.token if t in VOCAB]
        assert row.tokens.split() == expected
        assert [int(i) for i in row.token_ids.split()] == [VOCAB[t] for t in expected]
        assert row.n_tokens == len(expected) > 0
        assert row.rel_position == (row.start_s + 2.5) / 20
    # Every start in 0..15 whose window holds a vocabulary word, and only those.
    with_words = {s for s in range(16) if any(s <= t < s + 5 for t in (0.5, 4.99, 5.0, 12.0))}
    assert set(seg.start_s) == with_words


def test_segments_are_reproducible_per_video_whatever_the_shard():
    spoken = words(
        [("a", "cat", t, t + 0.3) for t in range(0, 300, 2)] + [("b", "cup", t, t + 0.3) for t in range(0, 300, 3)]
    )
    together, _ = shard_segments({"a": 300, "b": 300}, spoken, VOCAB, 5, 256, 32, seed=7)
    alone, _ = shard_segments({"b": 300}, spoken[spoken.video_id == "b"], VOCAB, 5, 256, 32, seed=7)
    assert together[together.video_id == "b"].reset_index(drop=True).equals(alone)
    other_seed, _ = shard_segments({"b": 300}, spoken[spoken.video_id == "b"], VOCAB, 5, 256, 32, seed=8)
    assert not other_seed["start_s"].equals(alone["start_s"])


def test_max_tokens_keeps_the_first_spoken():
    spoken = words([("v", "cat", 0.1 * i, 0.1 * i + 0.05) for i in range(40)])
    seg = video_segments("v", 5, spoken, VOCAB, length_s=5, candidates=256, max_tokens=3, seed=0)
    assert seg["n_tokens"].tolist() == [3]


def test_qc_records_short_and_wordless_videos():
    spoken = words([("short", "cat", 1.0, 1.2), ("oov", "xyzzy", 1.0, 1.2), ("ok", "cat", 1.0, 1.2)])
    table, qc = shard_segments({"short": 3, "oov": 30, "ok": 30, "silent": 30}, spoken, VOCAB, 5, 256, 32, 0)
    reasons = {r.video_id: r.reason for r in qc}
    assert reasons == {
        "short": "shorter than one segment (3 s < 5 s)",
        "oov": "no segment contains an in-vocabulary word",
    }
    assert set(table.video_id) == {"ok"}  # 'silent' has no words: the ASR stage records it


def test_segment_index_gives_each_video_its_rows_of_the_table(tmp_path):
    spoken = words(
        [("b", "cat", t, t + 0.3) for t in range(0, 60, 2)]
        + [("a", "cup", t, t + 0.3) for t in range(0, 60, 7)]
        + [("é", "rocket", t, t + 0.3) for t in (3.0, 3.5, 30.0)]
    )
    table, _ = shard_segments({"b": 60, "a": 60, "é": 40}, spoken, VOCAB, 5, 20, 2, seed=3)
    fingerprint = write_segment_index(table, 5, ["f2d", "f3d"], tmp_path / "index.h5")
    with SegmentIndex(tmp_path / "index.h5") as index:
        ids, counts = index.videos()
        assert ids.tolist() == ["a", "b", "é"]  # sorted as Python sorts str
        assert (index.length_s, index.fingerprint, index.max_token_id) == (5, fingerprint, 3)
        for row, video_id in enumerate(ids):
            rows = table[table.video_id == video_id].sort_values("segment")
            video = index.video(row)
            assert video.video_id == video_id and counts[row] == len(rows)
            assert video.starts.tolist() == rows["start_s"].tolist()
            picks = np.arange(len(rows))[::-1]
            assert [c.tolist() for c in video.captions(picks)] == [
                [int(i) for i in cell.split()] for cell in rows["token_ids"].iloc[picks]
            ]


def test_segment_index_fingerprint_follows_the_data_and_the_feature_files(tmp_path):
    table, _ = shard_segments(
        {"a": 60, "b": 60}, words([(v, "cat", t, t + 0.3) for v in "ab" for t in range(0, 60, 3)]), VOCAB, 5, 20, 2, 0
    )

    def fingerprint(t, features=("x", "y"), length_s=5):
        return write_segment_index(t, length_s, list(features), tmp_path / "index.h5")

    same = fingerprint(table)
    assert fingerprint(table.sample(frac=1, random_state=0)) == same  # row order is not data
    assert fingerprint(table, features=("x", "z")) != same
    assert fingerprint(table, length_s=6) != same
    assert fingerprint(table.assign(start_s=table["start_s"] + (table.index == 3))) != same
    assert fingerprint(table.assign(token_ids=table["token_ids"].where(table.index != 5, "1 2"))) != same
    assert fingerprint(table[table.video_id == "a"]) != same


def test_a_file_that_is_no_segment_index_is_refused(tmp_path):
    with h5py.File(tmp_path / "features.h5", "w") as h5:
        h5.create_dataset("v1", data=np.zeros((3, 2)))
    with pytest.raises(ValueError, match="is not a segment index .*rerun rule segments"):
        SegmentIndex(tmp_path / "features.h5")
