"""Glue for rule lexical_ols: OLS of segment AUC on controls + unigrams, F-test of the word block."""

from groundprobe.io import atomic_output, setup_logging, write_table
from groundprobe.analysis.lexical_captions import INPUT_COLUMNS
from groundprobe.analysis.lexical_ols import lexical_ols
from groundprobe.ingest.manifest import block_files
from groundprobe.evaluation.segment_auc import iter_segment_tables
from groundprobe.settings import LexicalOlsSettings

log = setup_logging(snakemake.log[0])
# The rule passes the result settings; the execution setting accumulator_mb comes from the config.
settings = LexicalOlsSettings.for_job(
    snakemake.params.lexical_ols, snakemake.config["analysis"]["lexical_ols"], "analysis.lexical_ols"
)
tables = block_files(snakemake.input.segment_auc, ".parquet")
# The per-shard tables are read afresh for each pass of the library, one shard at a time.
top, words, ftest, summaries = lexical_ols(
    lambda: iter_segment_tables(tables, columns=INPUT_COLUMNS),
    settings.split,
    settings.min_videos,
    settings.max_words,
    settings.top_words,
    settings.position_bins,
    settings.min_captions,
    settings.cluster_by_video,
    accumulator_bytes=settings.accumulator_mb << 20,
)
write_table(top, snakemake.output.coefficients)
write_table(words, snakemake.output.words)
write_table(ftest, snakemake.output.ftest)
with atomic_output(snakemake.output.summaries) as tmp:
    tmp.write_text(summaries)
log.info("F-test of the word block per scope:\n%s", ftest.to_string(index=False))
