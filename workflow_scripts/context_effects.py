"""Glue for rule context_effects: Fig. 3 (segment AUC by position and length) on validation captions."""

from groundprobe.context_effects import (context_effects, select_categories, token_slopes,
                                         write_context_figures)
from groundprobe.io import read_table, setup_logging, write_table

log = setup_logging(snakemake.log[0])
params = snakemake.params.context
captions = read_table(snakemake.input.segment_auc)
captions = captions[captions["split"] == "validation"]  # the paper analyses the validation split
categories = select_categories(captions, params["categories"], params["max_categories"])
table = context_effects(captions, categories, params["position_bins"], params["token_bins"],
                        snakemake.params.confidence)
absent = sorted(set(categories) - set(table["category"]))
if absent:
    log.warning("configured categories with no validation caption: %s", ", ".join(absent))
write_table(table, snakemake.output.csv)
slopes = token_slopes(captions, categories, snakemake.params.confidence)
write_table(slopes, snakemake.output.token_slopes)
write_context_figures(table, snakemake.params.confidence, snakemake.output.position_png,
                      snakemake.output.position_svg, snakemake.output.tokens_png,
                      snakemake.output.tokens_svg)
log.info("%d validation captions; categories %s\n%s\n%s", len(captions), categories,
         table.to_string(index=False), slopes.to_string(index=False))
