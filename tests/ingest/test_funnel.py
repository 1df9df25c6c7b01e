import pandas as pd
import pytest

from groundprobe.ingest.funnel import corpus_funnel

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
EXPECTED = pd.DataFrame(
    {
        "step": ["ids", "available", "with_captions", "english_asr", "used"],
        "videos": [10, 7, 5, 4, 2],
        "train": [6, 4, 3, 2, 1],
        "validation": [4, 3, 2, 2, 1],
        "removed": [0, 3, 2, 1, 2],
        "removed_by": [
            "",
            "download_failed: 1; live: 1; unavailable: 1",
            "no_captions: 2",
            "not_english: 1",
            "segments: 1; too_short: 1",
        ],
    }
)


def tables(videos=VIDEOS):
    manifest = pd.DataFrame({"video_id": [v[0] for v in videos], "split": [v[1] for v in videos]})
    downloads = pd.DataFrame(
        {
            "video_id": [v[0] for v in videos],
            "status": ["failed" if v[2] else "ok" for v in videos],
            "reason_code": [v[2] for v in videos],
        }
    )
    qc = pd.DataFrame(
        [(v[0], "download" if v[2] else v[3], "why") for v in videos if v[2] or v[3]],
        columns=["video_id", "stage", "reason"],
    )
    evaluated = {v[0] for v in videos if v[4]}
    return manifest, downloads, qc, evaluated


def test_funnel_counts_equal_the_hand_count():
    pd.testing.assert_frame_equal(corpus_funnel(*tables()), EXPECTED)


def test_a_video_neither_used_nor_dropped_is_an_error():
    manifest, downloads, qc, evaluated = tables()
    with pytest.raises(ValueError, match="neither used nor dropped, e.g. v9"):
        corpus_funnel(manifest, downloads, qc, evaluated - {"v9"})


def test_captions_refused_by_the_asr_language_check_leave_at_english_asr():
    # v8 (train) downloaded fine, but rule asr found its captions French: a loss of english_asr,
    # not of the last step; an asr drop for another reason (v9: no words) still counts at "used".
    manifest, downloads, qc, evaluated = tables()
    qc = pd.concat(
        [
            qc,
            pd.DataFrame(
                {
                    "video_id": ["v8", "v9"],
                    "stage": ["asr", "asr"],
                    "reason": ["not_english: text in 'fr' (confidence 1.00, 55 words)", "no words in captions"],
                }
            ),
        ],
        ignore_index=True,
    )
    funnel = corpus_funnel(manifest, downloads, qc, set()).set_index("step")
    assert funnel.loc["english_asr", "removed_by"] == "not_english: 2"
    assert funnel.loc["english_asr", "train"] == 1
    assert funnel.loc["used", "removed_by"] == "asr: 1; segments: 1; too_short: 1"
    assert funnel.loc["used", "videos"] == 0
