"""Glue for rule model_comparison: M_Diverse vs M_Instructional on labelled validation videos."""

import pandas as pd

from groundprobe.io import read_table, setup_logging, write_table
from groundprobe.ingest.manifest import block_files
from groundprobe.evaluation.model_comparison import comparison_table, paired_auc

log = setup_logging(snakemake.log[0])


def evaluated(blocks) -> pd.DataFrame:
    """One model's per-shard evaluate tables (in its block folders) as one table."""
    return pd.concat([read_table(path) for path in block_files(blocks, ".auc.tsv")], ignore_index=True)


pairs = paired_auc(
    evaluated(snakemake.input.diverse), evaluated(snakemake.input.instructional), read_table(snakemake.input.manifest)
)
log.info("models %s: %d labelled validation videos scored by both", snakemake.params.models, len(pairs))
table = comparison_table(pairs)
write_table(table, snakemake.output.csv)
log.info("model comparison:\n%s", table.to_string(index=False))
