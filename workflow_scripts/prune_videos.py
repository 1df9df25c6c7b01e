"""Glue for rule prune_videos: delete a block's fetched video files once its features exist."""

import pandas as pd

from groundprobe.ingest.download import prune_videos
from groundprobe.io import read_table, setup_logging, write_table

log = setup_logging(snakemake.log[0])
pruned = pd.concat(
    [prune_videos(read_table(download), snakemake.params.download_dir) for download in snakemake.input.download],
    ignore_index=True,
)
write_table(pruned, snakemake.output.table)
log.info(
    "block %s: deleted %d video files, %d bytes freed",
    snakemake.wildcards.block,
    len(pruned),
    pruned["bytes_freed"].sum(),
)
