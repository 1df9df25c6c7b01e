"""Glue for rule lexical_ols: OLS of segment AUC on controls + unigrams, F-test of the word block."""

from groundprobe.io import atomic_output, read_table, setup_logging, write_table
from groundprobe.lexical_ols import lexical_ols

log = setup_logging(snakemake.log[0])
params = snakemake.params.lexical_ols
top, words, ftest, summaries = lexical_ols(
    read_table(snakemake.input.segment_auc), params["split"], params["min_videos"], params["max_words"],
    params["top_words"], params["position_bins"], params["min_captions"])
write_table(top, snakemake.output.coefficients)
write_table(words, snakemake.output.words)
write_table(ftest, snakemake.output.ftest)
with atomic_output(snakemake.output.summaries) as tmp:
    tmp.write_text(summaries)
log.info("F-test of the word block per scope:\n%s", ftest.to_string(index=False))
