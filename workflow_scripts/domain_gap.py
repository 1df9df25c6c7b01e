"""Glue for rule domain_gap: the whole-source model's probes on source vs target validation videos."""

from groundprobe.curation.curation_comparison import domain_gap_table
from groundprobe.io import read_table, setup_logging, write_table

log = setup_logging(snakemake.log[0])
table = domain_gap_table(read_table(snakemake.input.source), read_table(snakemake.input.target))
write_table(table, snakemake.output.csv)
log.info("domain gap:\n%s", table.to_string(index=False))
