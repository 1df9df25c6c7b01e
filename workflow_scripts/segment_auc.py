"""Glue for rule segment_auc: one shard's captions with their segment AUC, tokens and video metadata."""

from groundprobe.io import read_table, setup_logging
from groundprobe.segment_auc import (SEGMENT_TABLE_SCHEMA, join_segment_auc, read_scores,
                                     read_shard_videos, write_parquet)

log = setup_logging(snakemake.log[0])
videos = read_shard_videos(snakemake.input.manifest, snakemake.wildcards.shard)
table = join_segment_auc(read_scores(snakemake.input.scores), read_table(snakemake.input.segments), videos)
write_parquet(table, snakemake.output.table, SEGMENT_TABLE_SCHEMA)
log.info("shard %s: %d captions of %d videos", snakemake.wildcards.shard, len(table),
         table["video_id"].nunique())
