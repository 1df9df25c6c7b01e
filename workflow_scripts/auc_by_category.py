"""Glue for rule auc_by_category: mean intra-video AUC per category over the validation videos."""

from groundprobe.evaluate import category_table
from groundprobe.io import read_table, setup_logging, write_table

log = setup_logging(snakemake.log[0])
params = snakemake.params.evaluate
table = category_table(read_table(snakemake.input.auc_by_video), params["bootstrap"],
                       params["confidence"], params["seed"])
write_table(table, snakemake.output.csv)
log.info("%d categories:\n%s", len(table), table.to_string(index=False))
