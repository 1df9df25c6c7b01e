"""Glue for rule evaluate: intra-video and segment AUC of one block's videos under one model, one
pair of tables per shard."""

from pathlib import Path

import torch

from groundprobe.device import resolve_device
from groundprobe.evaluation.evaluate import evaluate_videos
from groundprobe.features.store import FeatureStore
from groundprobe.io import read_table, setup_logging, write_table
from groundprobe.ingest.manifest import block_shards
from groundprobe.ingest.qc import qc_frame
from groundprobe.evaluation.segment_auc import SCORE_SCHEMA, write_parquet
from groundprobe.model.train import load_model

log = setup_logging(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
model = load_model(snakemake.input.checkpoint, resolve_device(snakemake.config["train"]["device"]))
out = Path(snakemake.output.scores)
out.mkdir(parents=True, exist_ok=True)
qc = []
for shard in block_shards(snakemake.wildcards.block):
    features = [str(Path(snakemake.input[f"features_{stream}"]) / f"{shard}.h5") for stream in ("2d", "3d")]
    with FeatureStore([features[0]], [features[1]]) as store:
        auc, segment_auc, shard_qc = evaluate_videos(
            model, read_table(Path(snakemake.input.segments) / f"{shard}.tsv.gz"), store
        )
    write_table(auc, out / f"{shard}.auc.tsv")
    write_parquet(segment_auc, out / f"{shard}.segment_auc.parquet", SCORE_SCHEMA)
    qc += shard_qc
    log.info("shard %s: %d videos scored (mean AUC %.3f), %d to QC", shard, len(auc), auc["auc"].mean(), len(shard_qc))
write_table(qc_frame(qc), snakemake.output.qc)
