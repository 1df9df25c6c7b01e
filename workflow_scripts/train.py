"""Glue for rule train: one joint embedding model on the manifest rows its spec selects, or on the
videos of its draw of a curation table (curated models)."""

import pandas as pd
import torch

from groundprobe.curate import drawn_videos
from groundprobe.features import FeatureStore, feature_provenance
from groundprobe.io import file_sha256, read_table, setup_logging
from groundprobe.train import select_videos, train_model

log = setup_logging(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
if snakemake.input.curation:
    training_ids = set(drawn_videos(read_table(snakemake.input.curation[0]), snakemake.params.draw))
else:
    training_ids = set(select_videos(read_table(snakemake.input.manifest),
                                     snakemake.params.model_spec, snakemake.wildcards.model))
segments = pd.concat([read_table(path) for path in snakemake.input.segments], ignore_index=True)
segments = segments[segments["video_id"].isin(training_ids)]
log.info("model %s: %d videos selected by %s, %d of them with segments", snakemake.wildcards.model,
         len(training_ids),
         f"draw {snakemake.params.draw} of {snakemake.input.curation[0]}" if snakemake.input.curation
         else snakemake.params.model_spec,
         segments["video_id"].nunique())
with FeatureStore(snakemake.input.features_2d, snakemake.input.features_3d) as store:
    summary = train_model(segments, store, len(read_table(snakemake.input.vocab)),
                          snakemake.params.model, snakemake.params.train,
                          snakemake.params.segments["length_s"], snakemake.output.checkpoint,
                          # Not a declared output, so that it survives a killed job.
                          f"{snakemake.output.checkpoint}.resume", snakemake.output.log_tsv,
                          inputs={"features_2d": feature_provenance(snakemake.input.features_2d),
                                  "features_3d": feature_provenance(snakemake.input.features_3d),
                                  "vocab_sha256": file_sha256(snakemake.input.vocab)})
log.info("trained: %s", summary)
