"""Glue for rule crosstask_manifest: the CrossTask videos' sources table -> their own manifest."""

from groundprobe.io import read_table, read_text_table, setup_logging, write_table
from groundprobe.ingest.manifest import build_crosstask_manifest

log = setup_logging(snakemake.log[0])
manifest = build_crosstask_manifest(
    read_text_table(snakemake.input.sources), snakemake.params.shard_size, read_table(snakemake.input.study)
)
write_table(manifest, snakemake.output.manifest)
log.info("CrossTask manifest: %d videos in %d shards", len(manifest), manifest["shard"].nunique())
