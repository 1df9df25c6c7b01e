"""Glue for rule video_embeddings: the mean clip embedding of every video of one block, one file
per shard."""

from pathlib import Path

import torch

from groundprobe.device import resolve_device
from groundprobe.features.store import FeatureStore
from groundprobe.io import read_table, setup_logging, write_table
from groundprobe.ingest.manifest import block_shards
from groundprobe.ingest.qc import qc_frame
from groundprobe.model.train import load_model
from groundprobe.curation.video_embeddings import (
    model_embedder,
    normalised,
    save_embeddings,
    second_windows,
    uniform_windows,
    video_means,
    windows_by_video,
)
from groundprobe.settings import CurationSettings

log = setup_logging(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
# The rule passes the curation keys the embeddings depend on; the others come from the config.
settings = CurationSettings.for_job(snakemake.params.curation, snakemake.config["curation"], "curation")
by_model = settings.embedding != "features"
streams = ("2d", "3d") if by_model else settings.streams
if by_model:
    device = resolve_device(settings.device)
    embed = model_embedder(load_model(snakemake.input.checkpoint, device))
else:
    embed = normalised
events = windows_by_video(read_table(snakemake.input.events)) if settings.clips == "events" else None
no_span = ((), ())


def clip_windows(shard: str):
    """windows_of(video_id, n_seconds) for the videos of ``shard``: its clips' second windows."""
    if settings.clips == "uniform":
        return lambda video_id, n_seconds: uniform_windows(n_seconds, settings.window_s)
    spans = (
        events
        if events is not None
        else windows_by_video(read_table(Path(snakemake.input.segments) / f"{shard}.tsv.gz"))
    )
    return lambda video_id, n_seconds: second_windows(*spans.get(video_id, no_span), n_seconds)


out = Path(snakemake.output.npz)
out.mkdir(parents=True, exist_ok=True)
qc = []
for shard in block_shards(snakemake.wildcards.block):
    files = [[str(Path(snakemake.input[f"features_{stream}"]) / f"{shard}.h5")] for stream in streams]
    with FeatureStore(*files) as store:
        ids, means, n_clips, shard_qc = video_means(store.video_ids, clip_windows(shard), store, store.n_seconds, embed)
    save_embeddings(out / f"{shard}.npz", ids, means, n_clips)
    qc += shard_qc
    log.info(
        "shard %s: %d videos embedded (%s clips, %s, streams %s), %d without a clip",
        shard,
        len(ids),
        settings.clips,
        settings.embedding,
        "+".join(streams),
        len(shard_qc),
    )
write_table(qc_frame(qc), snakemake.output.qc)
