"""Glue for rule demo_recovery: oracle vs model intra-video AUC on the demo's validation videos."""

from groundprobe.demo.recovery import write_demo_recovery
from groundprobe.io import setup_logging
from groundprobe.ingest.manifest import block_files

log = setup_logging(snakemake.log[0])
table = write_demo_recovery(
    snakemake.input.truth,
    block_files(snakemake.input.segments, ".tsv.gz"),
    snakemake.input.auc_by_video,
    snakemake.output.csv,
    snakemake.output.videos,
)
log.info("planted grounding recovered:\n%s", table.to_string(index=False))
