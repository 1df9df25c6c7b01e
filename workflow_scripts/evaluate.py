"""Glue for rule evaluate: intra-video and segment AUC of one shard's videos under one model."""

import torch

from groundprobe.evaluate import evaluate_videos
from groundprobe.features import FeatureStore
from groundprobe.io import read_table, setup_logging, write_table
from groundprobe.device import resolve_device
from groundprobe.qc import qc_frame
from groundprobe.segment_auc import SCORE_SCHEMA, write_parquet
from groundprobe.train import load_model

log = setup_logging(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
model = load_model(snakemake.input.checkpoint, resolve_device(snakemake.config["train"]["device"]))
with FeatureStore([snakemake.input.features_2d], [snakemake.input.features_3d]) as store:
    auc, segment_auc, qc = evaluate_videos(model, read_table(snakemake.input.segments), store)
write_table(auc, snakemake.output.auc)
write_parquet(segment_auc, snakemake.output.segment_auc, SCORE_SCHEMA)
write_table(qc_frame(qc), snakemake.output.qc)
log.info("shard %s: %d videos scored (mean AUC %.3f), %d to QC", snakemake.wildcards.shard, len(auc),
         auc["auc"].mean(), len(qc))
