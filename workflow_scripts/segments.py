"""Glue for rule segments: candidate segments with their tokens for one shard, as a table and as
the shard's segment index (fingerprinted with its feature files' sha256, read here once so that
training never hashes features)."""

from groundprobe.asr import vocabulary_ids
from groundprobe.features import FeatureStore
from groundprobe.io import file_sha256, read_table, setup_logging, write_table
from groundprobe.qc import qc_frame
from groundprobe.segments import shard_segments, write_segment_index

log = setup_logging(snakemake.log[0])
params = snakemake.params.segments
with FeatureStore([snakemake.input.features_2d], [snakemake.input.features_3d]) as store:
    # Seconds covered by both streams; a video missing from one was recorded by that stage's QC.
    n_seconds = {video_id: store.n_seconds(video_id) for video_id in store.video_ids}
vocabulary = vocabulary_ids(read_table(snakemake.input.vocab))
segments, qc = shard_segments(n_seconds, read_table(snakemake.input.words), vocabulary,
                              params["length_s"], params["candidates"], params["max_tokens"],
                              params["seed"])
write_table(segments, snakemake.output.segments)
fingerprint = write_segment_index(
    segments, params["length_s"],
    [file_sha256(snakemake.input.features_2d), file_sha256(snakemake.input.features_3d)],
    snakemake.output.index)
write_table(qc_frame(qc), snakemake.output.qc)
log.info("shard %s: %d segments from %d videos, %d videos to QC; fingerprint %s",
         snakemake.wildcards.shard, len(segments), segments["video_id"].nunique(), len(qc), fingerprint)
