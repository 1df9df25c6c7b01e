import pandas as pd
import pytest

from groundprobe.io import count_table_rows
from groundprobe.ingest.qc import QcRecord, ReconciliationError, first_reason_per_video, qc_frame, reconcile


def test_reconcile_counts():
    qc = qc_frame([QcRecord("c", "download", "file not found")])
    summary = reconcile(["a", "b", "c"], ["a", "b"], qc)
    assert summary.to_dict("records") == [{"manifest": 3, "evaluated": 2, "qc": 1, "reconciled": True}]


@pytest.mark.parametrize(
    "evaluated, qc_ids, message",
    [
        (["a"], ["c"], "lost.*b"),
        (["a", "b"], ["b", "c"], "both evaluated and in QC: b"),
        (["a", "b", "zz"], ["c"], "not in the manifest: zz"),
    ],
)
def test_reconcile_names_offenders(evaluated, qc_ids, message):
    qc = qc_frame([QcRecord(v, "asr", "no words in captions") for v in qc_ids])
    with pytest.raises(ReconciliationError, match=message):
        reconcile(["a", "b", "c"], evaluated, qc)


def test_reconciliation_starts_at_the_rows_of_the_sources_tables():
    qc = qc_frame([QcRecord("c", "download", "file not found")])
    summary = reconcile(["a", "b", "c"], ["a", "b"], qc, source_rows=3)
    assert summary.to_dict("records") == [{"sources": 3, "manifest": 3, "evaluated": 2, "qc": 1, "reconciled": True}]
    with pytest.raises(ReconciliationError, match="the sources tables hold 5 rows, the manifest 3"):
        reconcile(["a", "b", "c"], ["a", "b"], qc, source_rows=5)


def test_a_row_lost_reading_the_sources_table_fails_the_reconciliation(tmp_path):
    """The planted loss: the table read with CSV quoting (the old reader) gives 3 of its 5 rows, a
    manifest built from them reconciles with its own results, but not with the file's rows."""
    from test_manifest import quoted_sources_tsv

    path = quoted_sources_tsv(tmp_path / "sources.tsv")
    lossy = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    assert len(lossy) == 3
    ids = lossy["video_id"].tolist()
    reconcile(ids, ids, qc_frame([]))
    with pytest.raises(ReconciliationError, match="hold 5 rows, the manifest 3"):
        reconcile(ids, ids, qc_frame([]), source_rows=count_table_rows(path))


def test_first_reason_wins():
    qc = pd.DataFrame(
        {
            "video_id": ["x", "x", "y"],
            "stage": ["features_3d", "download", "segments"],
            "reason": ["later echo", "undecodable", "short"],
        }
    )
    out = first_reason_per_video(qc, ["download", "features_2d", "features_3d", "segments"])
    assert out.set_index("video_id")["reason"].to_dict() == {"x": "undecodable", "y": "short"}
