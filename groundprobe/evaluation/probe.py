"""Probes of one trained model on one corpus (CUPID, Zhou et al. 2021): zero-shot text->video
retrieval and intra-video AUC on the corpus's validation videos, with what the model trained on.

One row per (model, corpus); curation_comparison and domain_gap are built from these rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from groundprobe.ingest.manifest import corpus_videos
from groundprobe.evaluation.retrieval_metrics import METRIC_KEYS

PROBE_COLUMNS = [
    "model",
    "corpus",
    "training_videos",
    "training_steps",
    "training_batch_videos",
    *METRIC_KEYS,
    "auc_videos",
    "mean_auc",
]


def validation_ids(manifest: pd.DataFrame, corpus: str) -> set[str]:
    """Ids of the validation videos of ``corpus`` (source or target)."""
    rows = corpus_videos(manifest, corpus)
    return set(rows.loc[rows["split"] == "validation", "video_id"].astype(str))


def probe_row(model: str, corpus: str, training: dict, metrics: dict, auc: pd.DataFrame) -> pd.DataFrame:
    """The one-row probe table (PROBE_COLUMNS).

    ``training``: the model's training summary (steps, n_videos, batch_videos: a model trained on
    fewer videos than train.batch_videos saw smaller batches); ``metrics``: retrieval metrics
    (retrieval_metrics.METRIC_KEYS); ``auc``: intra-video AUC (column ``auc``) of the validation videos.
    """
    row = {
        "model": model,
        "corpus": corpus,
        "training_videos": int(training["n_videos"]),
        "training_steps": int(training["steps"]),
        "training_batch_videos": int(training["batch_videos"]),
        **{key: metrics[key] for key in METRIC_KEYS},
        "auc_videos": len(auc),
        "mean_auc": float(np.mean(auc["auc"])) if len(auc) else np.nan,
    }
    return pd.DataFrame([row], columns=PROBE_COLUMNS)
