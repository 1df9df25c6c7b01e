"""The corpus funnel: how many videos survive each step from the id list to the analysed corpus.

The paper's YouTube-600K funnel reads 6.1M ids -> 1.4M with YouTube ASR -> 817K with English ASR
-> 639K train / 167K validation. Here each video leaves at the step its first QC reason belongs to:
download reason codes map to the step they fail, and every later stage's drop (too short, not
decodable, no features, no words, no segments) counts against the last step, ``used``, except
rule asr's language check, whose ``not_english`` reason fails ``english_asr`` as the download's does.
"""

from __future__ import annotations

import pandas as pd

FUNNEL_STEPS = ["ids", "available", "with_captions", "english_asr", "used"]
# The step each download reason code fails; codes not listed here fail "used".
DROPPED_AT = {
    "unavailable": "available",
    "live": "available",
    "download_failed": "available",
    "no_captions": "with_captions",
    "not_english": "english_asr",
}
FUNNEL_COLUMNS = ["step", "videos", "train", "validation", "removed", "removed_by"]


def drop_codes(
    manifest_ids: pd.Series, downloads: pd.DataFrame, qc: pd.DataFrame, evaluated_ids: set[str]
) -> pd.Series:
    """Per video (indexed by id): the reason code it left with, or ``"used"``.

    A download failure gives its ``reason_code``; a later drop gives the QC stage that dropped it,
    or the funnel code its reason starts with (rule asr's language check: ``not_english: ...``).
    Raises ValueError for a video that is neither evaluated nor dropped, which the QC
    reconciliation already rules out.
    """
    failed = downloads[downloads["status"] != "ok"]
    reason_code = qc["reason"].astype(str).str.split(":", n=1).str[0]
    code = dict(zip(qc["video_id"], qc["stage"].where(~reason_code.isin(list(DROPPED_AT)), reason_code)))
    code |= dict(zip(failed["video_id"], failed["reason_code"]))
    code |= {video_id: "used" for video_id in evaluated_ids}
    lost = [video_id for video_id in manifest_ids if video_id not in code]
    if lost:
        raise ValueError(f"{len(lost)} videos are neither used nor dropped, e.g. {', '.join(lost[:5])}")
    return pd.Series({video_id: code[video_id] for video_id in manifest_ids}, name="code", dtype=str)


def _reason_counts(codes: pd.Series) -> str:
    return "; ".join(f"{code}: {n}" for code, n in codes.value_counts().sort_index().items())


def corpus_funnel(
    manifest: pd.DataFrame, downloads: pd.DataFrame, qc: pd.DataFrame, evaluated_ids: set[str]
) -> pd.DataFrame:
    """One row per funnel step: videos reaching it (overall, train, validation), how many the step
    removed and by which reason codes (``"code: n; ..."``)."""
    codes = drop_codes(manifest["video_id"], downloads, qc, evaluated_ids)
    split = manifest.set_index("video_id")["split"].reindex(codes.index)
    # The step at which each video leaves; used videos never leave.
    leaves_at = codes.map(lambda code: "" if code == "used" else DROPPED_AT.get(code, "used"))
    rows, remaining = [], pd.Series(True, index=codes.index)
    for step in FUNNEL_STEPS:
        leaving = leaves_at == step
        remaining &= ~leaving
        rows.append(
            {
                "step": step,
                "videos": int(remaining.sum()),
                "train": int((remaining & (split == "train")).sum()),
                "validation": int((remaining & (split == "validation")).sum()),
                "removed": int(leaving.sum()),
                "removed_by": _reason_counts(codes[leaving]),
            }
        )
    return pd.DataFrame(rows, columns=FUNNEL_COLUMNS)
