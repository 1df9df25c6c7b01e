"""Glue for rule shard_listing: the paths of one kind of per-shard file, one a line."""

from groundprobe.io import setup_logging
from groundprobe.manifest import write_shard_listing

log = setup_logging(snakemake.log[0])
write_shard_listing(list(map(str, snakemake.input.files)), snakemake.output.listing)
log.info("%s: %d shard files", snakemake.wildcards.kind, len(snakemake.input.files))
