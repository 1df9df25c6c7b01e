"""Rule evaluate: a trained :class:`~groundprobe.model.joint_embedding.JointEmbedding` scores every clip of a
video against every caption (Hessel et al. 2020, §4); the temporally aligned pairs are the
diagonal, and groundprobe.evaluation.auc turns the scores into intra-video and segment AUC.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from groundprobe.evaluation.auc import intra_video_auc, segment_auc
from groundprobe.model.joint_embedding import JointEmbedding
from groundprobe.ingest.qc import QcRecord
from groundprobe.evaluation.segment_auc import SEGMENT_AUC_COLUMNS
from groundprobe.model.batches import SecondsSource, clip_windows, pad_token_ids, parse_captions, segment_length

STAGE = "evaluate"
AUC_COLUMNS = ["video_id", "n_segments", "auc"]


def score_video(model: JointEmbedding, seconds: np.ndarray, segments: pd.DataFrame) -> np.ndarray:
    """Cosine similarities (n, n), float32 as the model computes them, of every clip (row) with
    every caption (column) of one video.

    ``seconds`` (n_seconds, D): the video's per-second features; ``segments``: its segment rows
    (start_s, end_s, token_ids). The model is switched to eval mode and run without gradients on
    the device its weights are on.
    """
    video_id = str(segments["video_id"].iloc[0])
    clips = clip_windows(
        video_id,
        np.asarray(seconds, dtype=np.float32),
        segments["start_s"].to_numpy(dtype=np.int64),
        segment_length(segments),
    )
    captions = parse_captions(video_id, segments["token_ids"].tolist(), model.word_embedding.num_embeddings - 1)
    device = next(model.parameters()).device
    model.eval()
    with torch.inference_mode():
        sim = model.similarity(
            model.embed_clips(torch.from_numpy(clips).to(device)),
            model.embed_captions(torch.from_numpy(pad_token_ids(captions)).to(device)),
        )
    return sim.cpu().numpy()


def evaluate_videos(
    model: JointEmbedding, segments: pd.DataFrame, source: SecondsSource
) -> tuple[pd.DataFrame, pd.DataFrame, list[QcRecord]]:
    """Intra-video AUC per video and segment AUC per caption for every video of ``segments``.

    Returns (AUC_COLUMNS table, SEGMENT_AUC_COLUMNS table, QC records); a video with fewer than
    two segments has no misaligned pair and goes to QC.
    """
    video_rows, segment_tables, qc = [], [], []
    for video_id, rows in segments.groupby("video_id", sort=False):
        rows = rows.sort_values("segment")
        if len(rows) < 2:
            qc.append(QcRecord(str(video_id), STAGE, "fewer than 2 segments with words"))
            continue
        sim = score_video(model, source.seconds(str(video_id)), rows)
        video_rows.append((str(video_id), len(rows), intra_video_auc(sim)))
        segment_tables.append(rows[SEGMENT_AUC_COLUMNS[:-1]].assign(segment_auc=segment_auc(sim)))
    by_segment = (
        pd.concat(segment_tables, ignore_index=True) if segment_tables else pd.DataFrame(columns=SEGMENT_AUC_COLUMNS)
    )
    return pd.DataFrame(video_rows, columns=AUC_COLUMNS), by_segment, qc
