"""Glue for rule manifest: sources table (and the curation target's and the instructional
corpus's, if any) -> manifest with verticals, corpus and shards."""

from groundprobe.io import read_text_table, setup_logging, write_table
from groundprobe.ingest.manifest import build_manifest

log = setup_logging(snakemake.log[0])
target = read_text_table(snakemake.input.target[0]) if snakemake.input.target else None
instructional = read_text_table(snakemake.input.instructional[0]) if snakemake.input.instructional else None
manifest = build_manifest(
    read_text_table(snakemake.input.sources), snakemake.params.shard_size, target=target, instructional=instructional
)
write_table(manifest, snakemake.output.manifest)
log.info(
    "manifest: %d videos in %d shards (%s)",
    len(manifest),
    manifest["shard"].nunique(),
    manifest["corpus"].value_counts().to_dict(),
)
