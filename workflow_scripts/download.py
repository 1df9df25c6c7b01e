"""Glue for rule download: ingest the videos of one shard."""

from groundprobe.download import ingest_shard
from groundprobe.io import read_table, setup_logging, write_table
from groundprobe.qc import qc_frame

log = setup_logging(snakemake.log[0])
manifest = read_table(snakemake.input.manifest)
videos = manifest[manifest["shard"] == int(snakemake.wildcards.shard)]
table, qc = ingest_shard(videos, snakemake.params.download_dir)
write_table(table, snakemake.output.table)
write_table(qc_frame(qc), snakemake.output.qc)
log.info("shard %s: %d videos, %d failed", snakemake.wildcards.shard, len(table), len(qc))
