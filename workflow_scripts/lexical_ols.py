"""Glue for rule lexical_ols: OLS of segment AUC on controls + unigrams, F-test of the word block."""

import pandas as pd

from groundprobe.io import atomic_output, setup_logging, write_table
from groundprobe.lexical_ols import lexical_ols
from groundprobe.segment_auc import iter_segment_tables

log = setup_logging(snakemake.log[0])
params = snakemake.params.lexical_ols
# Every shard's table at once, as the whole CSV was read before: the OLS from per-shard
# sufficient statistics replaces this (issue 16).
segments = pd.concat(iter_segment_tables(snakemake.input.segment_auc), ignore_index=True)
top, words, ftest, summaries = lexical_ols(
    segments, params["split"], params["min_videos"], params["max_words"], params["top_words"],
    params["position_bins"], params["min_captions"])
write_table(top, snakemake.output.coefficients)
write_table(words, snakemake.output.words)
write_table(ftest, snakemake.output.ftest)
with atomic_output(snakemake.output.summaries) as tmp:
    tmp.write_text(summaries)
log.info("F-test of the word block per scope:\n%s", ftest.to_string(index=False))
