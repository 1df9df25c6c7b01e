import pandas as pd
import pytest

from groundprobe.qc import QcRecord, ReconciliationError, first_reason_per_video, qc_frame, reconcile


def test_reconcile_counts():
    qc = qc_frame([QcRecord("c", "download", "file not found")])
    summary = reconcile(["a", "b", "c"], ["a", "b"], qc)
    assert summary.to_dict("records") == [{"manifest": 3, "evaluated": 2, "qc": 1, "reconciled": True}]


@pytest.mark.parametrize("evaluated, qc_ids, message", [
    (["a"], ["c"], "lost.*b"),
    (["a", "b"], ["b", "c"], "both evaluated and in QC: b"),
    (["a", "b", "zz"], ["c"], "not in the manifest: zz"),
])
def test_reconcile_names_offenders(evaluated, qc_ids, message):
    qc = qc_frame([QcRecord(v, "asr", "no words in captions") for v in qc_ids])
    with pytest.raises(ReconciliationError, match=message):
        reconcile(["a", "b", "c"], evaluated, qc)


def test_first_reason_wins():
    qc = pd.DataFrame({"video_id": ["x", "x", "y"], "stage": ["features_3d", "download", "segments"],
                       "reason": ["later echo", "undecodable", "short"]})
    out = first_reason_per_video(qc, ["download", "features_2d", "features_3d", "segments"])
    assert out.set_index("video_id")["reason"].to_dict() == {"x": "undecodable", "y": "short"}
