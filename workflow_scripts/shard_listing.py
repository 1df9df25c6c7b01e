"""Glue for rule shard_listing: the paths of one kind of per-shard file in the block folders, one a
line."""

from groundprobe.io import setup_logging
from groundprobe.ingest.manifest import block_files, write_shard_listing

log = setup_logging(snakemake.log[0])
files = block_files(snakemake.input.blocks, snakemake.params.suffix)
write_shard_listing(files, snakemake.output.listing)
log.info("%s: %d shard files in %d blocks", snakemake.wildcards.kind, len(files), len(snakemake.input.blocks))
