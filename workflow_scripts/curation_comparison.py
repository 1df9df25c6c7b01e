"""Glue for rule curation_comparison: every selection's target probes (one per seed) and the figure."""

from groundprobe.curation.curation_comparison import comparison_table, plot_comparison
from groundprobe.io import read_table, setup_logging, write_table

log = setup_logging(snakemake.log[0])
seeds = snakemake.params.seeds
probes = [read_table(path) for path in snakemake.input.probes]
curated = [
    (strategy, budget, read_table(selection), probes[k * seeds : (k + 1) * seeds])
    for k, ((strategy, _, budget), selection) in enumerate(zip(snakemake.params.entries, snakemake.input.selections))
]
table = comparison_table(curated, read_table(snakemake.input.baseline))
write_table(table, snakemake.output.csv)
plot_comparison(table, snakemake.params.metric, snakemake.output.png, snakemake.output.svg)
log.info("curation comparison:\n%s", table.to_string(index=False))
