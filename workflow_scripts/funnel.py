"""Glue for rule funnel: ids -> available -> with captions -> English ASR -> used, of the studied
(source) corpus."""

import pandas as pd

from groundprobe.ingest.funnel import corpus_funnel
from groundprobe.io import read_table, setup_logging, write_table
from groundprobe.ingest.manifest import corpus_videos

log = setup_logging(snakemake.log[0])
downloads = pd.concat([read_table(path) for path in snakemake.input.downloads], ignore_index=True)
funnel = corpus_funnel(
    corpus_videos(read_table(snakemake.input.manifest)),
    downloads,
    read_table(snakemake.input.qc),
    set(read_table(snakemake.input.auc_by_video)["video_id"]),
)
write_table(funnel, snakemake.output.csv)
log.info("funnel:\n%s", funnel.to_string(index=False))
