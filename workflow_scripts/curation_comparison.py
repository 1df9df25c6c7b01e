"""Glue for rule curation_comparison: every curated model's target probes and the figure."""

from groundprobe.curation_comparison import comparison_table, plot_comparison
from groundprobe.io import read_table, setup_logging, write_table

log = setup_logging(snakemake.log[0])
curated = [(strategy, budget, read_table(selection), read_table(probe))
           for (strategy, _, budget), selection, probe
           in zip(snakemake.params.entries, snakemake.input.selections, snakemake.input.probes)]
table = comparison_table(curated, read_table(snakemake.input.baseline))
write_table(table, snakemake.output.csv)
plot_comparison(table, snakemake.params.metric, snakemake.output.png, snakemake.output.svg)
log.info("curation comparison:\n%s", table.to_string(index=False))
