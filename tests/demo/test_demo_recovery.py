"""The demo's oracle (groundprobe.demo.recovery) on hand-made planted truths whose scores and
intra-video AUC are worked out by hand, and the recovery table on a planted per-video table."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from groundprobe.demo.recovery import (
    ALL_VIDEOS,
    IMPOSSIBLE_SHARE,
    RECOVERY_COLUMNS,
    VIDEO_COLUMNS,
    caption_names,
    oracle_auc_by_video,
    oracle_scores,
    recovery_table,
    write_demo_recovery,
)
from groundprobe.evaluation.auc import intra_video_auc
from groundprobe.io import write_table
from groundprobe.captions.segments import video_segments

LENGTH_S = 5


def word(token, start_s, obj=None, phase="narration"):
    return [token, start_s, start_s + 0.3, obj, phase]


# Every caption names what is on screen: cat [0, 4), coffee [4, 10); windows [0, 5), [2, 7),
# [5, 10). The words at 5.0 s lie in [2, 7) and [5, 10) but not in [0, 5) (segments.py's rule).
NAMED = {
    "category": "Cooking",
    "rate": 0.8,
    "scenes": [["cat", 0.0, 4.0], ["coffee", 4.0, 10.0]],
    "words": [
        word("hey", 0.5, phase="intro"),
        word("cat", 1.0, "cat"),
        word("cat", 3.0, "cat"),
        word("coffee", 5.0, "coffee"),
        word("good", 6.0),
        word("coffee", 8.0, "coffee"),
    ],
}
NAMED_STARTS = [0, 2, 5]
# Row i = clip, column j = caption. Captions: [cat, cat], [cat, coffee], [coffee, coffee]; share of
# each clip showing cat 0.8, 0.4, 0 (of the video: 0.4) and coffee 0.2, 0.6, 1 (of the video: 0.6);
# clip 2 shows no cat, so a cat named with it counts as share IMPOSSIBLE_SHARE.
L = np.log
NAMED_SCORES = [
    [2 * L(2), L(2) + L(1 / 3), 2 * L(1 / 3)],
    [0.0, 0.0, 0.0],
    [2 * L(IMPOSSIBLE_SHARE / 0.4), L(IMPOSSIBLE_SHARE / 0.4) + L(1 / 0.6), 2 * L(1 / 0.6)],
]
# Aligned 2 log 2 and 2 log(1/0.6) beat all 6 misaligned scores; aligned 0 beats the 4 negative
# ones and ties the other two 0: (6 + 6 + 4 + 2 / 2) / 18.
NAMED_AUC = 17 / 18

# Rate 0: only the intro (flower, at 1.3 s) and the outro (galaxy, at 15.8 s) name anything.
# flower [0, 6), rocket [6, 12), galaxy [12, 18); windows [0, 5), [4, 9), [8, 13), [12, 17).
INTRO_OUTRO = {
    "category": "Video game",
    "rate": 0.0,
    "scenes": [["flower", 0.0, 6.0], ["rocket", 6.0, 12.0], ["galaxy", 12.0, 18.0]],
    "words": [
        word("hey", 0.5, phase="intro"),
        word("welcome", 0.9, phase="intro"),
        word("flower", 1.3, "flower", "intro"),
        word("after", 5.0),
        word("pizza", 9.5),
        word("time", 12.2),
        word("that", 14.6, phase="outro"),
        word("was", 15.0, phase="outro"),
        word("the", 15.4, phase="outro"),
        word("galaxy", 15.8, "galaxy", "outro"),
        word("peace", 16.5, phase="outro"),
    ],
}
INTRO_OUTRO_STARTS = [0, 4, 8, 12]
# Columns: flower named (share of each clip 1, 0.4, 0, 0; of the video 1/3), two nameless captions,
# galaxy named (0, 0, 0.2, 1; of the video 1/3). Aligned log 3, log 3 beat all 12 misaligned scores;
# aligned 0, 0 each beat the five negative ones (four impossible pairs and log 0.6), tie the six
# misaligned zeros and lose to log 1.2: (2 * 12 + 2 * (5 + 6 / 2)) / 48.
INTRO_OUTRO_AUC = 40 / 48


@pytest.mark.parametrize(
    "video, starts, scores, auc",
    [
        (NAMED, NAMED_STARTS, NAMED_SCORES, NAMED_AUC),
        (
            INTRO_OUTRO,
            INTRO_OUTRO_STARTS,
            [
                [L(3), 0, 0, L(3 * IMPOSSIBLE_SHARE)],
                [L(1.2), 0, 0, L(3 * IMPOSSIBLE_SHARE)],
                [L(3 * IMPOSSIBLE_SHARE), 0, 0, L(0.6)],
                [L(3 * IMPOSSIBLE_SHARE), 0, 0, L(3)],
            ],
            INTRO_OUTRO_AUC,
        ),
    ],
    ids=["every-caption-named", "rate-0-intro-outro"],
)
def test_oracle_scores_and_auc_match_the_hand_computed_ones(video, starts, scores, auc):
    sim = oracle_scores(video, np.array(starts), LENGTH_S)
    np.testing.assert_allclose(sim, scores, atol=1e-12)
    assert intra_video_auc(sim) == pytest.approx(auc, abs=1e-12)


def test_an_object_on_screen_in_two_scenes_adds_up_and_unplaced_names_count_nothing():
    video = {
        "scenes": [["cat", 0.0, 2.0], ["rocket", 2.0, 3.0], ["cat", 3.0, 10.0]],
        "words": [word("cat", 1.0, "cat"), word("it", 2.5), word("rocket", 2.2, "rocket")],
    }
    sim = oracle_scores(video, np.array([0, 5]), LENGTH_S)
    # Caption 0 names cat and rocket; clip 0 shows cat 4 of 5 s and rocket 1 s; clip 1 only cat.
    # The video (10 s) shows cat 9 s, rocket 1 s.
    np.testing.assert_allclose(
        sim, [[L(0.8 / 0.9) + L(0.2 / 0.1), 0.0], [L(1.0 / 0.9) + L(IMPOSSIBLE_SHARE / 0.1), 0.0]], atol=1e-12
    )


def test_caption_names_count_the_words_that_rule_segments_puts_in_each_segment():
    """Against the segments stage itself: the object names among each sampled segment's tokens,
    with word starts on and beside whole seconds (the window's edges)."""
    rng = np.random.default_rng(3)
    starts = np.sort(np.concatenate([np.arange(0, 30, 1.0), rng.uniform(0, 30, 60)]))
    objects = rng.choice(["cat", "coffee", "so", "a"], size=len(starts))
    words = [
        word(str(token), float(start), str(token) if token in ("cat", "coffee") else None)
        for token, start in zip(objects, starts)
    ]
    table = pd.DataFrame({"token": objects, "start_s": starts})
    vocabulary = {"cat": 1, "coffee": 2, "so": 3, "a": 4}
    segments = video_segments("v", 30, table, vocabulary, LENGTH_S, candidates=26, max_tokens=1000, seed=0)
    assert len(segments) == 26
    names = caption_names(
        rng.permutation(np.array(words, dtype=object)).tolist(), segments["start_s"].to_numpy(), LENGTH_S
    )
    assert names == [[t for t in tokens.split() if t in ("cat", "coffee")] for tokens in segments["tokens"]]


def segment_rows(video_id: str, starts: list[int]) -> pd.DataFrame:
    """Segment rows as rule segments writes them (numbered in order, reversed here on purpose)."""
    return pd.DataFrame(
        {
            "video_id": video_id,
            "segment": range(len(starts)),
            "start_s": starts,
            "end_s": [s + LENGTH_S for s in starts],
        }
    ).iloc[::-1]


def truth_of(**videos) -> dict:
    return {"videos": videos}


def test_oracle_auc_by_video_scores_the_evaluated_validation_videos_only():
    truth = truth_of(named=NAMED, intro_outro=INTRO_OUTRO, trained=NAMED)
    segments = pd.concat(
        [
            segment_rows("named", NAMED_STARTS),
            segment_rows("intro_outro", INTRO_OUTRO_STARTS),
            segment_rows("trained", NAMED_STARTS),
        ]
    )
    auc_by_video = pd.DataFrame(
        {
            "video_id": ["intro_outro", "trained", "named"],
            "split": ["validation", "train", "validation"],
            "n_segments": [4, 3, 3],
            "auc": [0.6, 0.9, 0.7],
        }
    )
    table = oracle_auc_by_video(truth, segments, auc_by_video)
    assert list(table.columns) == VIDEO_COLUMNS
    assert table.to_dict("records") == [
        {
            "video_id": "intro_outro",
            "category": "Video game",
            "planted_rate": 0.0,
            "n_segments": 4,
            "oracle_auc": pytest.approx(INTRO_OUTRO_AUC),
            "model_auc": 0.6,
        },
        {
            "video_id": "named",
            "category": "Cooking",
            "planted_rate": 0.8,
            "n_segments": 3,
            "oracle_auc": pytest.approx(NAMED_AUC),
            "model_auc": 0.7,
        },
    ]


def named_validation(n_segments: int = 3) -> pd.DataFrame:
    return pd.DataFrame({"video_id": ["named"], "split": "validation", "n_segments": [n_segments], "auc": [0.7]})


def test_a_validation_video_the_planted_truth_lacks_is_refused():
    auc_by_video = pd.concat([named_validation(), named_validation().assign(video_id="elsewhere")])
    with pytest.raises(ValueError, match="1 validation videos are not in the planted truth .e.g. elsewhere"):
        oracle_auc_by_video(truth_of(named=NAMED), segment_rows("named", NAMED_STARTS), auc_by_video)


@pytest.mark.parametrize(
    "segments, message",
    [
        (segment_rows("named", NAMED_STARTS).iloc[1:], "named: 2 segments in the segment tables, 3 evaluated"),
        (segment_rows("other", NAMED_STARTS), "named: 0 segments in the segment tables, 3 evaluated"),
        (segment_rows("named", NAMED_STARTS).assign(end_s=[5, 7, 10]), "named: segments of different lengths"),
    ],
    ids=["fewer", "none", "unequal-lengths"],
)
def test_segments_other_than_the_evaluated_ones_are_refused(segments, message):
    with pytest.raises(ValueError, match=message):
        oracle_auc_by_video(truth_of(named=NAMED), segments, named_validation())


def planted_videos() -> pd.DataFrame:
    """Per-video AUCs of three categories (one with a tie in model AUC)."""
    rows = [
        ("a1", "High", 0.8, 0.90, 0.85),
        ("a2", "High", 0.8, 0.80, 0.75),
        ("b1", "Zero", 0.0, 0.60, 0.70),
        ("b2", "Zero", 0.0, 0.62, 0.66),
        ("b3", "Zero", 0.0, 0.58, 0.58),
        ("c1", "Mid", 0.5, 0.70, 0.66),
    ]
    return pd.DataFrame(
        [(vid, cat, rate, 10, oracle, model) for vid, cat, rate, oracle, model in rows], columns=VIDEO_COLUMNS
    )


def test_recovery_table_means_per_category_most_grounded_first_and_spearman_over_all_videos():
    videos = planted_videos()
    table = recovery_table(videos)
    assert list(table.columns) == RECOVERY_COLUMNS
    assert table["category"].tolist() == ["High", "Mid", "Zero", ALL_VIDEOS]
    assert table["n_videos"].tolist() == [2, 1, 3, 6]
    np.testing.assert_allclose(table["oracle_mean_auc"], [0.85, 0.70, 0.60, 4.2 / 6])
    np.testing.assert_allclose(table["model_mean_auc"], [0.80, 0.66, 1.94 / 3, 4.2 / 6])
    assert table["planted_rate"].iloc[:3].tolist() == [0.8, 0.5, 0.0]
    assert np.isnan(table["planted_rate"].iloc[3])
    assert table["spearman_model_oracle"].iloc[:3].isna().all()
    expected = spearmanr(videos["model_auc"], videos["oracle_auc"]).statistic
    assert table["spearman_model_oracle"].iloc[3] == pytest.approx(expected, abs=1e-12)
    assert 0.5 < expected < 1  # the tie (0.66 twice) is ranked, not broken


def test_write_demo_recovery_reads_the_runs_files_and_writes_both_tables(tmp_path):
    truth = tmp_path / "planted_truth.json"
    truth.write_text(json.dumps(truth_of(named=NAMED, intro_outro=INTRO_OUTRO)))
    shards = [tmp_path / "00000.tsv.gz", tmp_path / "00001.tsv.gz"]
    write_table(segment_rows("named", NAMED_STARTS).assign(tokens="cat"), shards[0])
    write_table(segment_rows("intro_outro", INTRO_OUTRO_STARTS).assign(tokens="flower"), shards[1])
    auc = tmp_path / "auc_by_video.csv"
    write_table(
        pd.DataFrame(
            {"video_id": ["named", "intro_outro"], "split": "validation", "n_segments": [3, 4], "auc": [0.75, 0.65]}
        ),
        auc,
    )
    table = write_demo_recovery(truth, shards, auc, tmp_path / "out.csv", tmp_path / "videos.csv")
    written = pd.read_csv(tmp_path / "out.csv")
    pd.testing.assert_frame_equal(written, table, check_dtype=False)
    assert written["category"].tolist() == ["Cooking", "Video game", ALL_VIDEOS]
    np.testing.assert_allclose(
        written["oracle_mean_auc"], [NAMED_AUC, INTRO_OUTRO_AUC, (NAMED_AUC + INTRO_OUTRO_AUC) / 2]
    )
    assert written["spearman_model_oracle"].iloc[2] == pytest.approx(1.0)
    assert pd.read_csv(tmp_path / "videos.csv")["video_id"].tolist() == ["named", "intro_outro"]
