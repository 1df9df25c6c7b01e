"""Glue for rule video_embeddings: the mean clip embedding of every video of one shard."""

import torch

from groundprobe.device import resolve_device
from groundprobe.features import FeatureStore
from groundprobe.io import read_table, setup_logging, write_table
from groundprobe.qc import qc_frame
from groundprobe.train import load_model
from groundprobe.video_embeddings import (model_embedder, normalised, save_embeddings,
                                          second_windows, uniform_windows, video_means,
                                          windows_by_video)

log = setup_logging(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
params = snakemake.params.curation
by_model = params["embedding"] != "features"
streams = ("2d", "3d") if by_model else tuple(params["streams"])
if by_model:
    device = resolve_device(snakemake.config["curation"]["device"])
    embed = model_embedder(load_model(snakemake.input.checkpoint, device))
else:
    embed = normalised

if params["clips"] == "uniform":
    def windows_of(video_id, n_seconds):
        return uniform_windows(n_seconds, params["window_s"])
else:
    spans = windows_by_video(read_table(snakemake.input.segments if params["clips"] == "captions"
                                        else snakemake.input.events))
    no_span = ((), ())

    def windows_of(video_id, n_seconds):
        return second_windows(*spans.get(video_id, no_span), n_seconds)

with FeatureStore(*[[snakemake.input[f"features_{stream}"]] for stream in streams]) as store:
    ids, means, n_clips, qc = video_means(store.video_ids, windows_of, store, store.n_seconds, embed)
save_embeddings(snakemake.output.npz, ids, means, n_clips)
write_table(qc_frame(qc), snakemake.output.qc)
log.info("shard %s: %d videos embedded (%s clips, %s, streams %s), %d without a clip",
         snakemake.wildcards.shard, len(ids), params["clips"], params["embedding"], "+".join(streams),
         len(qc))
