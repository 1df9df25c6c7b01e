"""Glue for rule qc: one QC table for the run, and the check that no video was lost."""

import pandas as pd

from groundprobe.io import count_table_rows, read_table, setup_logging, write_table
from groundprobe.ingest.manifest import block_files
from groundprobe.ingest.qc import first_reason_per_video, reconcile

log = setup_logging(snakemake.log[0])
stages = pd.concat([read_table(path) for path in snakemake.input.tables], ignore_index=True)
qc = first_reason_per_video(stages, snakemake.params.stage_order)
manifest = read_table(snakemake.input.manifest)
other_auc = block_files(snakemake.input.other_scores, ".auc.tsv")
evaluated = [read_table(path)["video_id"] for path in [snakemake.input.auc_by_video, *other_auc]]
# Counted from the sources tables themselves, so that a row the manifest lost fails here.
source_rows = sum(count_table_rows(path) for path in snakemake.input.sources)
summary = reconcile(manifest["video_id"].tolist(), pd.concat(evaluated).tolist(), qc, source_rows)
write_table(qc, snakemake.output.qc)
write_table(summary, snakemake.output.reconciliation)
log.info("reconciled: %s", summary.to_dict("records")[0])
