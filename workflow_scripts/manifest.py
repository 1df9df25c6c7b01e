"""Glue for rule manifest: sources table -> manifest with verticals and shards."""

from groundprobe.io import read_table, setup_logging, write_table
from groundprobe.manifest import build_manifest

log = setup_logging(snakemake.log[0])
manifest = build_manifest(read_table(snakemake.input.sources), snakemake.params.shard_size)
write_table(manifest, snakemake.output.manifest)
log.info("manifest: %d videos in %d shards", len(manifest), manifest["shard"].nunique())
