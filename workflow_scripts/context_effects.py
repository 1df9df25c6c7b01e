"""Glue for rule context_effects: Fig. 3 (segment AUC by position and length) on validation captions,
read from the per-shard segment AUC tables one shard at a time."""

from groundprobe.analysis.context_effects import context_effects, select_categories, write_context_figures
from groundprobe.io import setup_logging, write_table
from groundprobe.ingest.manifest import block_files
from groundprobe.evaluation.segment_auc import iter_segment_tables
from groundprobe.settings import ContextEffectSettings

log = setup_logging(snakemake.log[0])
context = ContextEffectSettings.from_config(snakemake.params.context, "analysis.context_effects")
tables = block_files(snakemake.input.segment_auc, ".parquet")


def validation_captions(columns):
    """The validation captions of each shard (the split the paper analyses), only ``columns``."""
    return iter_segment_tables(tables, columns, [("split", "==", "validation")])


categories = select_categories(validation_captions(["video_id", "labels"]), context.categories, context.max_categories)
table, slopes = context_effects(
    validation_captions, categories, context.position_bins, context.token_bins, snakemake.params.confidence
)
absent = sorted(set(categories) - set(table["category"]))
if absent:
    log.warning("configured categories with no validation caption: %s", ", ".join(absent))
write_table(table, snakemake.output.csv)
write_table(slopes, snakemake.output.token_slopes)
write_context_figures(
    table,
    snakemake.params.confidence,
    snakemake.output.position_png,
    snakemake.output.position_svg,
    snakemake.output.tokens_png,
    snakemake.output.tokens_svg,
)
log.info("categories %s\n%s\n%s", categories, table.to_string(index=False), slopes.to_string(index=False))
