"""Glue for rule probe: retrieval and intra-video AUC of one model on one corpus's validation videos."""

import pandas as pd
import torch

from groundprobe.device import resolve_device
from groundprobe.evaluation.evaluate import evaluate_videos
from groundprobe.features.store import FeatureStore
from groundprobe.io import read_table, setup_logging, write_table
from groundprobe.ingest.manifest import block_files
from groundprobe.evaluation.probe import probe_row, validation_ids
from groundprobe.evaluation.retrieval import retrieve
from groundprobe.model.train import load_model, training_summary
from groundprobe.settings import RetrievalSettings

log = setup_logging(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
model_name, corpus = snakemake.wildcards.model, snakemake.wildcards.corpus
validation = validation_ids(read_table(snakemake.input.manifest), corpus)
segments = pd.concat([read_table(path) for path in block_files(snakemake.input.segments, ".tsv.gz")], ignore_index=True)
segments = segments[segments["video_id"].isin(validation)]
model = load_model(snakemake.input.checkpoint, resolve_device(snakemake.config["train"]["device"]))
retrieval = RetrievalSettings.for_job(snakemake.params.retrieval, snakemake.config["retrieval"], "retrieval")
with FeatureStore(
    block_files(snakemake.input.features_2d, ".h5"), block_files(snakemake.input.features_3d, ".h5")
) as store:
    ranks, metrics = retrieve(
        model, segments, store, retrieval.clips_per_video, retrieval.query_block, retrieval.max_items, retrieval.seed
    )
    # Here rather than from rule evaluate's shard tables: a job per shard and model costs more
    # than scoring the validation videos (curated models are many).
    auc, _, _ = evaluate_videos(model, segments, store)
row = probe_row(model_name, corpus, training_summary(snakemake.input.checkpoint), metrics, auc)
write_table(ranks, snakemake.output.ranks)
write_table(row, snakemake.output.probe)
log.info("model %s on %s validation videos:\n%s", model_name, corpus, row.to_string(index=False))
