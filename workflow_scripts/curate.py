"""Glue for rule curate: the selections of source training videos for one (strategy, budget), one
draw per seed (curation.seed, curation.seed + 1, …; one per curated model)."""

import torch

from groundprobe.config import parse_budget
from groundprobe.curation.curate import curated_draws
from groundprobe.curation.draws import stack_draws
from groundprobe.device import resolve_device
from groundprobe.io import read_table, setup_logging, write_table
from groundprobe.ingest.manifest import TARGET_CORPUS, block_files, corpus_videos
from groundprobe.curation.video_embeddings import embedding_blocks
from groundprobe.settings import CurationSettings

log = setup_logging(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
# The rule passes the curation keys a selection depends on; the others come from the config.
settings = CurationSettings.for_job(snakemake.params.curation, snakemake.config["curation"], "curation")
strategy = snakemake.wildcards.strategy
manifest = read_table(snakemake.input.manifest)
train = manifest[manifest["split"] == "train"]
source_train = set(corpus_videos(train)["video_id"])
target_train = set(corpus_videos(train, TARGET_CORPUS)["video_id"])


def source_blocks():
    """A fresh pass over the source training videos that have an embedding, block by block."""
    return embedding_blocks(block_files(snakemake.input.source, ".npz"), source_train, settings.block_videos)


# Every strategy picks from the same pool: the source training videos with a clip embedding.
pool = [video_id for ids, _ in source_blocks() for video_id in ids]
budget = parse_budget(snakemake.params.budget, len(pool))
log.info(
    "%s: %d of %d source training videos (budget %s), target reference: %d training videos",
    strategy,
    budget,
    len(pool),
    snakemake.params.budget,
    len(target_train),
)
device = resolve_device(settings.device, snakemake.config["resources"]["allow_cpu_fallback"])
target_means = None
if strategy in ("avg_sim", "knn"):
    target_blocks = list(
        embedding_blocks(block_files(snakemake.input.target, ".npz"), target_train, len(target_train) or 1)
    )
    if not target_blocks:
        raise ValueError(
            "curation needs target training videos with a clip embedding; the target "
            "corpus has none (see results/qc.csv)"
        )
    target_means = target_blocks[0][1]
seeds = [settings.seed + draw for draw in range(settings.seeds)]
draws = curated_draws(
    strategy,
    pool,
    source_blocks,
    target_means,
    manifest[manifest["video_id"].isin(set(pool))],
    manifest[manifest["video_id"].isin(target_train)],
    budget,
    seeds,
    settings,
    device,
)
write_table(stack_draws(draws), snakemake.output.tsv)
log.info("%s selected %d videos in each of %d draws", strategy, budget, len(draws))
