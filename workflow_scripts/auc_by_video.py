"""Glue for rule auc_by_video: every evaluated video's AUC with its manifest metadata."""

from groundprobe.evaluation.auc_by_video import write_auc_by_video
from groundprobe.io import setup_logging
from groundprobe.ingest.manifest import block_files

log = setup_logging(snakemake.log[0])
videos, splits = write_auc_by_video(
    block_files(snakemake.input.scores, ".auc.tsv"), snakemake.input.manifest, snakemake.output.csv
)
log.info("%d videos evaluated (%s)", videos, splits)
