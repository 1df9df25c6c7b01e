"""Glue for rule auc_by_category: mean intra-video AUC per category over the validation videos,
every category and those with enough videos."""

from groundprobe.evaluation.auc_by_category import categories_with_videos, category_table
from groundprobe.io import read_table, setup_logging, write_table
from groundprobe.settings import EvaluateSettings

log = setup_logging(snakemake.log[0])
evaluate = EvaluateSettings.from_config(snakemake.params.evaluate, "evaluate")
table = category_table(read_table(snakemake.input.auc_by_video), evaluate.bootstrap, evaluate.confidence, evaluate.seed)
write_table(table, snakemake.output.all)
shown = categories_with_videos(table, evaluate.min_videos)
write_table(shown, snakemake.output.csv)
log.info(
    "%d categories, %d with at least %d validation videos:\n%s",
    len(table),
    len(shown),
    evaluate.min_videos,
    table.to_string(index=False),
)
