"""The per-video AUC table (rule auc_by_video): every evaluated video's intra-video AUC with its
manifest metadata, written shard by shard.

At YouTube-600K scale the table holds ~640K rows; joining every shard's AUC table with the whole
manifest in one DataFrame grew with the corpus (143 / 225 / 274 MB of RSS at 10K / 100K / 200K
videos). Here one shard at a time is joined with that shard's manifest rows only
(:func:`groundprobe.ingest.manifest.read_shard_rows`, which reads the shard's own bytes) and appended
to the output, so memory is one shard's rows whatever the corpus's size.
"""

from __future__ import annotations

import gzip
import os
from collections import Counter
from pathlib import Path
from typing import Iterable

import pandas as pd

from groundprobe.io import atomic_output, read_table, table_separator
from groundprobe.ingest.manifest import read_shard_rows, shard_number

COLUMNS = ["video_id", "split", "labels", "verticals", "instructional", "n_segments", "auc"]
# Rule evaluate writes each shard's per-video AUC table to results/evaluate/{model}/{block}/{shard}.auc.tsv.
AUC_SUFFIX = ".auc.tsv"


def auc_shard_name(path: str | os.PathLike) -> str:
    """The shard name (manifest.shard_name) of a per-shard AUC table, from its file name
    ``{shard}.auc.tsv``; ValueError when the name is not a shard's."""
    name = Path(path).name
    shard = name.removesuffix(AUC_SUFFIX)
    if shard == name:
        raise ValueError(f"{path}: a per-shard AUC table is named {{shard}}{AUC_SUFFIX}")
    shard_number(shard)  # ValueError naming the expected form
    return shard


def shard_auc_by_video(auc_path: str | os.PathLike, manifest: str | os.PathLike) -> pd.DataFrame:
    """One shard's rows of the per-video table (COLUMNS): its AUC table (AUC_COLUMNS of
    groundprobe.evaluation.evaluate, one row per video) left-joined, one to one, with the shard's manifest
    rows, in the AUC table's row order. A video the manifest's shard does not list keeps its AUC
    with empty metadata.

    ``instructional`` is a float (1.0, 0.0, NaN when unlabelled): the table's format since it was
    one join with the whole manifest, where any unlabelled video (the curation target's, or a
    YouTube-8M video without a human label) made the whole column float.
    """
    videos = read_shard_rows(manifest, auc_shard_name(auc_path))
    table = read_table(auc_path).merge(videos, on="video_id", how="left", validate="one_to_one")
    return table[COLUMNS].astype({"instructional": "float64"})


def write_auc_by_video(
    auc_paths: Iterable[str | os.PathLike], manifest: str | os.PathLike, out: str | os.PathLike
) -> tuple[int, dict[str, int]]:
    """Write the per-video table (COLUMNS) of every shard's AUC table, in the order of
    ``auc_paths`` (files ``{shard}.auc.tsv``), to ``out`` atomically, comma-separated when its
    name ends in ``.csv`` (gzip for ``.gz``), as groundprobe.io.write_table writes the table.

    Returns the number of videos written (those absent from the manifest included) and the
    number per split, most frequent split first.
    """
    target = Path(out)
    separator, opener = table_separator(target), gzip.open if target.suffix == ".gz" else open
    videos, splits = 0, Counter()
    with atomic_output(target) as tmp, opener(tmp, "wt", newline="") as handle:
        pd.DataFrame(columns=COLUMNS).to_csv(handle, sep=separator, index=False)
        for path in auc_paths:
            table = shard_auc_by_video(path, manifest)
            table.to_csv(handle, sep=separator, index=False, header=False)
            videos += len(table)
            splits.update(table["split"].value_counts().to_dict())
    return videos, dict(splits.most_common())
