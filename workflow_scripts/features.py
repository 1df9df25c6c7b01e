"""Glue for rules features_2d and features_3d: per-second features of one shard's videos."""

import torch

from groundprobe.download import require_video_files
from groundprobe.features import extract_shard_features, stream_params
from groundprobe.io import read_table, setup_logging, write_table
from groundprobe.qc import qc_frame

log = setup_logging(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
stream = snakemake.params.stream
# ffmpeg's decoders share the job's threads too, so that a job never uses more cores than it holds.
# The CPU fallback and the number of decoder processes are read from the config, not params: they
# never change what a feature means.
params = stream_params(snakemake.params.features, stream) | {
    "threads": snakemake.threads,
    "decoders": snakemake.config["features"]["decoders"],
    "allow_cpu_fallback": snakemake.config["resources"]["allow_cpu_fallback"],
}
downloads = read_table(snakemake.input.download)
videos = downloads.loc[downloads["status"] == "ok", ["video_id", "video_path"]]
require_video_files(videos, f"snakemake {snakemake.input.download} --forcerun download")
qc = extract_shard_features(videos, stream, params, snakemake.output.h5, log)
write_table(qc_frame(qc), snakemake.output.qc)
log.info("shard %s: %s features for %d videos, %d to QC", snakemake.wildcards.shard, stream,
         len(videos) - len(qc), len(qc))
