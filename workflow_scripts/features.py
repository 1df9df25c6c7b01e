"""Glue for rules features_2d and features_3d: per-second features of one block's videos, one
file per shard."""

import dataclasses
from pathlib import Path

import torch

from groundprobe.ingest.download import require_video_files
from groundprobe.features.extract import extract_shard_features
from groundprobe.io import read_table, setup_logging, write_table
from groundprobe.ingest.manifest import block_shards
from groundprobe.ingest.qc import qc_frame
from groundprobe.settings import FeatureSettings

log = setup_logging(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
stream = snakemake.params.stream
# Execution settings (device, batch sizes, decoding) and the CPU fallback are read from the config,
# not params: they never change what a feature means. ffmpeg's decoder gets the job's threads too,
# so that a job never uses more cores than it holds.
features = dataclasses.replace(
    FeatureSettings.for_job(snakemake.params.features, snakemake.config["features"], "features"),
    threads=snakemake.threads,
)
allow_cpu_fallback = snakemake.config["resources"]["allow_cpu_fallback"]
out = Path(snakemake.output.h5)
out.mkdir(parents=True, exist_ok=True)
qc = []
for shard, download in zip(block_shards(snakemake.wildcards.block), snakemake.input.download):
    downloads = read_table(download)
    videos = downloads.loc[downloads["status"] == "ok", ["video_id", "video_path"]]
    require_video_files(videos, f"snakemake {download} --forcerun download")
    shard_qc = extract_shard_features(
        videos, stream, features, out / f"{shard}.h5", log, allow_cpu_fallback=allow_cpu_fallback
    )
    qc += shard_qc
    log.info("shard %s: %s features for %d videos, %d to QC", shard, stream, len(videos) - len(shard_qc), len(shard_qc))
write_table(qc_frame(qc), snakemake.output.qc)
