"""Glue for rule segments: candidate segments with their tokens for one shard."""

import h5py

from groundprobe.io import read_table, setup_logging, write_table
from groundprobe.qc import qc_frame
from groundprobe.segments import shard_segments

log = setup_logging(snakemake.log[0])
params = snakemake.params.segments
with h5py.File(snakemake.input.features_2d) as f2d, h5py.File(snakemake.input.features_3d) as f3d:
    # Seconds covered by both streams; a video missing from one was recorded by that stage's QC.
    n_seconds = {vid: min(f2d[vid].shape[0], f3d[vid].shape[0]) for vid in f2d if vid in f3d}
vocab = read_table(snakemake.input.vocab)
vocabulary = {token: i + 1 for i, token in enumerate(vocab["token"])}
segments, qc = shard_segments(n_seconds, read_table(snakemake.input.words), vocabulary,
                              params["length_s"], params["candidates"], params["max_tokens"],
                              params["seed"])
write_table(segments, snakemake.output.segments)
write_table(qc_frame(qc), snakemake.output.qc)
log.info("shard %s: %d segments from %d videos, %d videos to QC", snakemake.wildcards.shard,
         len(segments), segments["video_id"].nunique(), len(qc))
