"""Glue for rule download: ingest the videos of one shard."""

from groundprobe.ingest.download import ingest_shard
from groundprobe.ingest.download_plan import DownloadSettings
from groundprobe.io import setup_logging, write_table
from groundprobe.ingest.manifest import CROSSTASK_CORPUS, read_shard_rows
from groundprobe.ingest.qc import qc_frame

log = setup_logging(snakemake.log[0])
# Only this shard's rows: reading the whole manifest in every job costs N² / shard_size in all.
videos = read_shard_rows(snakemake.input.manifest, snakemake.wildcards.shard)
# Operational settings from the config, outcome-deciding ones from params (see rules/download.smk).
settings = DownloadSettings.from_config(
    snakemake.config["download"]
    | snakemake.params.selection
    | {
        "min_duration_s": snakemake.params.min_duration_s,
        # CrossTask's videos are only ever looked at, so they need no captions.
        "captions_required": not (videos["corpus"] == CROSSTASK_CORPUS).all(),
    }
)
table, qc = ingest_shard(videos, snakemake.params.download_dir, settings)
write_table(table, snakemake.output.table)
write_table(qc_frame(qc), snakemake.output.qc)
log.info("shard %s: %d videos, %d failed", snakemake.wildcards.shard, len(table), len(qc))
