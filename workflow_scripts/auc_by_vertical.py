"""Glue for rule auc_by_vertical: AUC statistics per vertical and the distributions figure."""

from groundprobe.io import read_table, setup_logging, write_table
from groundprobe.analysis.auc_by_vertical import plot_vertical_distributions, vertical_table
from groundprobe.settings import EvaluateSettings, VerticalSettings

log = setup_logging(snakemake.log[0])
# The rule passes the interval's evaluate keys only; the others come from the config.
evaluate = EvaluateSettings.for_job(snakemake.params.evaluate, snakemake.config["evaluate"], "evaluate")
verticals = VerticalSettings.from_config(snakemake.params.verticals, "analysis.verticals")
auc_by_video = read_table(snakemake.input.auc_by_video)
table = vertical_table(auc_by_video, evaluate.bootstrap, evaluate.confidence, evaluate.seed)
write_table(table, snakemake.output.csv)
plot_vertical_distributions(auc_by_video, verticals.top, snakemake.output.png, snakemake.output.svg)
log.info("%d verticals:\n%s", len(table), table.to_string(index=False))
