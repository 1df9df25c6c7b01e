"""Glue for rule correlations: Spearman ρ of instructional-ness and of category frequency with AUC."""

from groundprobe.analysis.correlations import correlation_table
from groundprobe.io import read_table, setup_logging, write_table
from groundprobe.ingest.manifest import corpus_videos
from groundprobe.settings import CorrelationSettings

log = setup_logging(snakemake.log[0])
correlations = CorrelationSettings.from_config(snakemake.params.correlations, "analysis.correlations")
# A category's frequency counts the study's (source) videos; a curation target is no part of it.
table = correlation_table(
    read_table(snakemake.input.auc_by_video),
    read_table(snakemake.input.categories),
    corpus_videos(read_table(snakemake.input.manifest)),
    correlations.frequency_split,
)
write_table(table, snakemake.output.csv)
log.info("correlations:\n%s", table.to_string(index=False))
