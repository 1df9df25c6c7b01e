"""The QC table: every video that leaves the pipeline early is recorded here with its stage and reason."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

QC_COLUMNS = ["video_id", "stage", "reason"]


@dataclass(frozen=True)
class QcRecord:
    """One video dropped by one stage, with a human-readable reason."""

    video_id: str
    stage: str
    reason: str


def qc_frame(records: list[QcRecord]) -> pd.DataFrame:
    """QC records as a table with the columns ``video_id, stage, reason`` (also when empty)."""
    return pd.DataFrame([(r.video_id, r.stage, r.reason) for r in records], columns=QC_COLUMNS)


class ReconciliationError(RuntimeError):
    """Rows of the sources tables are missing from the manifest, or manifest videos are neither in
    the results nor in the QC table (or are in both)."""


def reconcile(
    manifest_ids: list[str], evaluated_ids: list[str], qc: pd.DataFrame, source_rows: int | None = None
) -> pd.DataFrame:
    """Check that every manifest video is evaluated or in QC, never both, never lost; and, given
    ``source_rows`` (the rows of the sources tables the manifest was built from, counted from the
    files themselves), that every one of them is a manifest row: the manifest refuses a table
    with an invalid row as a whole, so none is dropped with a reason.

    Returns a one-row summary (``sources`` when given, manifest, evaluated, qc, reconciled);
    raises :class:`ReconciliationError` naming up to ten offending ids otherwise.
    """
    manifest, evaluated, dropped = set(manifest_ids), set(evaluated_ids), set(qc["video_id"])
    lost = sorted(manifest - evaluated - dropped)
    both = sorted(evaluated & dropped)
    unknown = sorted((evaluated | dropped) - manifest)
    problems = [
        f"{what}: {', '.join(ids[:10])}"
        for what, ids in (
            ("lost (neither evaluated nor in QC)", lost),
            ("both evaluated and in QC", both),
            ("not in the manifest", unknown),
        )
        if ids
    ]
    if source_rows is not None and source_rows != len(manifest_ids):
        problems.insert(
            0,
            f"the sources tables hold {source_rows} rows, the manifest "
            f"{len(manifest_ids)}: rows were lost or made up reading the tables",
        )
    if problems:
        raise ReconciliationError("video counts do not reconcile:\n  " + "\n  ".join(problems))
    counts = {"sources": source_rows} if source_rows is not None else {}
    return pd.DataFrame(
        [{**counts, "manifest": len(manifest), "evaluated": len(evaluated), "qc": len(dropped), "reconciled": True}]
    )


def first_reason_per_video(qc: pd.DataFrame, stage_order: list[str]) -> pd.DataFrame:
    """One QC row per video: the reason given by the earliest stage (later stages only echo it)."""
    rank = {stage: i for i, stage in enumerate(stage_order)}
    ordered = qc.assign(_rank=qc["stage"].map(lambda s: rank.get(s, len(rank))))
    return (
        ordered.sort_values(["_rank", "video_id"], kind="stable")
        .drop_duplicates("video_id")
        .drop(columns="_rank")
        .reset_index(drop=True)
    )
