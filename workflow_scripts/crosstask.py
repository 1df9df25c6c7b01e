"""Glue for rule crosstask: every compared model's step localisation in the CrossTask videos, the
recall table, and the ledger of the videos that could not be evaluated."""

import pandas as pd
import torch

from groundprobe.captions.asr import vocabulary_ids
from groundprobe.evaluation.crosstask import (
    localise_task_videos,
    read_task_videos,
    read_tasks,
    recall_table,
    unevaluated_videos,
)
from groundprobe.ingest.crosstask_sources import read_video_list
from groundprobe.device import resolve_device
from groundprobe.features.store import FeatureStore
from groundprobe.io import read_table, setup_logging, write_table
from groundprobe.ingest.manifest import block_files
from groundprobe.ingest.qc import qc_frame, reconcile
from groundprobe.model.train import load_model

log = setup_logging(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
params = snakemake.params
tasks = read_tasks(snakemake.input.tasks)
listed = read_video_list(snakemake.input.videos)
videos, qc = read_task_videos(listed, tasks, snakemake.input.annotations)
stage_tables = [read_table(path) for path in snakemake.input.stage_qc]
stage_qc = pd.concat(stage_tables, ignore_index=True) if stage_tables else qc_frame([])
fetched = set(read_table(snakemake.input.manifest)["video_id"])
videos, dropped = unevaluated_videos(videos, fetched, stage_qc)
qc += dropped
device = resolve_device(snakemake.config["train"]["device"])
models = {name: load_model(path, device) for name, path in zip(params.models, snakemake.input.checkpoints)}
vocabulary = vocabulary_ids(read_table(snakemake.input.vocab))
with FeatureStore(
    block_files(snakemake.input.features_2d, ".h5"), block_files(snakemake.input.features_3d, ".h5")
) as store:
    by_video, too_short = localise_task_videos(
        models, videos, tasks, store, vocabulary, params.window_s, params.stride_s, params.prediction
    )
qc_table = qc_frame(qc + too_short)
summary = reconcile([video_id for _, video_id in listed], by_video["video_id"].tolist(), qc_table)
recall = recall_table(by_video, tasks, params.prediction)
write_table(by_video, snakemake.output.by_video)
write_table(qc_table, snakemake.output.qc)
write_table(recall, snakemake.output.recall)
log.info("CrossTask (%s): %s\n%s", params.prediction, summary.to_dict("records")[0], recall.to_string(index=False))
