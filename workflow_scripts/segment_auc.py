"""Glue for rule segment_auc: each shard's captions with their segment AUC, tokens and video
metadata, one Parquet file per shard of the block."""

from pathlib import Path

from groundprobe.io import read_table, setup_logging
from groundprobe.ingest.manifest import block_shards
from groundprobe.evaluation.segment_auc import (
    SEGMENT_TABLE_SCHEMA,
    join_segment_auc,
    read_scores,
    read_shard_videos,
    write_parquet,
)

log = setup_logging(snakemake.log[0])
scores, segments = Path(snakemake.input.scores), Path(snakemake.input.segments)
out = Path(snakemake.output.table)
out.mkdir(parents=True, exist_ok=True)
for shard in block_shards(snakemake.wildcards.block):
    videos = read_shard_videos(snakemake.input.manifest, shard)
    table = join_segment_auc(
        read_scores(scores / f"{shard}.segment_auc.parquet"), read_table(segments / f"{shard}.tsv.gz"), videos
    )
    write_parquet(table, out / f"{shard}.parquet", SEGMENT_TABLE_SCHEMA)
    log.info("shard %s: %d captions of %d videos", shard, len(table), table["video_id"].nunique())
