"""Glue for rule auc_by_video: every evaluated video's AUC with its manifest metadata."""

import pandas as pd

from groundprobe.io import read_table, setup_logging, write_table

COLUMNS = ["video_id", "split", "labels", "verticals", "instructional", "n_segments", "auc"]

log = setup_logging(snakemake.log[0])
auc = pd.concat([read_table(path) for path in snakemake.input.auc], ignore_index=True)
manifest = read_table(snakemake.input.manifest)
table = auc.merge(manifest, on="video_id", how="left", validate="one_to_one")
write_table(table[COLUMNS], snakemake.output.csv)
log.info("%d videos evaluated (%s)", len(table), table["split"].value_counts().to_dict())
