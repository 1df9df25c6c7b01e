"""Glue for rule correlations: Spearman ρ of instructional-ness and of category frequency with AUC."""

from groundprobe.correlations import correlation_table
from groundprobe.io import read_table, setup_logging, write_table
from groundprobe.manifest import SOURCE_CORPUS

log = setup_logging(snakemake.log[0])
manifest = read_table(snakemake.input.manifest)
# A category's frequency is its share of the study's (source) corpus; a curation target is no part of it.
table = correlation_table(read_table(snakemake.input.auc_by_video), read_table(snakemake.input.categories),
                          manifest[manifest["corpus"] == SOURCE_CORPUS],
                          snakemake.params.correlations["frequency_split"])
write_table(table, snakemake.output.csv)
log.info("correlations:\n%s", table.to_string(index=False))
