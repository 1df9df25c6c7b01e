"""Glue for rule segment_auc: every caption's segment AUC with its tokens and video metadata."""

from groundprobe.io import read_table, setup_logging
from groundprobe.segment_auc import join_segment_auc, write_segment_auc

log = setup_logging(snakemake.log[0])
videos = read_table(snakemake.input.manifest)
# per_shard expands both lists over the same sorted shard ids, so they pair up position by position.
shards = (join_segment_auc(read_table(scores), read_table(segments), videos)
          for scores, segments in zip(snakemake.input.scores, snakemake.input.segments, strict=True))
rows = write_segment_auc(shards, snakemake.output.csv)
log.info("%d captions from %d shards", rows, len(snakemake.input.scores))
