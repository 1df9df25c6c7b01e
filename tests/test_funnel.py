import pandas as pd
import pytest

from groundprobe.funnel import corpus_funnel

# Ten videos, each leaving at a step chosen by hand (or used); the expected funnel is counted by hand.
VIDEOS = [  # id, split, download reason code ('' = ok), later QC stage ('' = none), evaluated
    ("v0", "train", "unavailable", "", False),
    ("v1", "validation", "live", "", False),
    ("v2", "train", "download_failed", "", False),
    ("v3", "train", "no_captions", "", False),
    ("v4", "validation", "no_captions", "", False),
    ("v5", "train", "not_english", "", False),
    ("v6", "validation", "too_short", "", False),
    ("v7", "train", "", "segments", False),
    ("v8", "train", "", "", True),
    ("v9", "validation", "", "", True),
]
EXPECTED = pd.DataFrame({
    "step": ["ids", "available", "with_captions", "english_asr", "used"],
    "videos": [10, 7, 5, 4, 2],
    "train": [6, 4, 3, 2, 1],
    "validation": [4, 3, 2, 2, 1],
    "removed": [0, 3, 2, 1, 2],
    "removed_by": ["", "download_failed: 1; live: 1; unavailable: 1", "no_captions: 2",
                   "not_english: 1", "segments: 1; too_short: 1"],
})


def tables(videos=VIDEOS):
    manifest = pd.DataFrame({"video_id": [v[0] for v in videos], "split": [v[1] for v in videos]})
    downloads = pd.DataFrame({"video_id": [v[0] for v in videos],
                              "status": ["failed" if v[2] else "ok" for v in videos],
                              "reason_code": [v[2] for v in videos]})
    qc = pd.DataFrame([(v[0], "download" if v[2] else v[3], "why") for v in videos if v[2] or v[3]],
                      columns=["video_id", "stage", "reason"])
    evaluated = {v[0] for v in videos if v[4]}
    return manifest, downloads, qc, evaluated


def test_funnel_counts_equal_the_hand_count():
    pd.testing.assert_frame_equal(corpus_funnel(*tables()), EXPECTED)


def test_a_video_neither_used_nor_dropped_is_an_error():
    manifest, downloads, qc, evaluated = tables()
    with pytest.raises(ValueError, match="neither used nor dropped, e.g. v9"):
        corpus_funnel(manifest, downloads, qc, evaluated - {"v9"})
