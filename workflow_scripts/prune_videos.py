"""Glue for rule prune_videos: delete a shard's fetched video files once its features exist."""

from groundprobe.download import prune_videos
from groundprobe.io import read_table, setup_logging, write_table

log = setup_logging(snakemake.log[0])
pruned = prune_videos(read_table(snakemake.input.download), snakemake.params.download_dir)
write_table(pruned, snakemake.output.table)
log.info("shard %s: deleted %d video files, %d bytes freed", snakemake.wildcards.shard, len(pruned),
         pruned["bytes_freed"].sum())
