"""Glue for rule curate: one selection of source training videos for one (strategy, budget)."""

import torch

from groundprobe.config import parse_budget
from groundprobe.curate import avg_sim_select, heuristic_select, knn_select, random_select
from groundprobe.device import resolve_device
from groundprobe.io import read_table, setup_logging, write_table
from groundprobe.manifest import TARGET_CORPUS, corpus_videos
from groundprobe.video_embeddings import embedding_blocks

log = setup_logging(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
params = snakemake.params.curation
strategy = snakemake.wildcards.strategy
manifest = read_table(snakemake.input.manifest)
train = manifest[manifest["split"] == "train"]
source_train = set(corpus_videos(train)["video_id"])
target_train = set(corpus_videos(train, TARGET_CORPUS)["video_id"])


def source_blocks():
    """A fresh pass over the source training videos that have an embedding, block by block."""
    return embedding_blocks(snakemake.input.source, source_train,
                            snakemake.config["curation"]["block_videos"])


# Every strategy picks from the same pool: the source training videos with a clip embedding.
pool = [video_id for ids, _ in source_blocks() for video_id in ids]
budget = parse_budget(snakemake.params.budget, len(pool))
log.info("%s: %d of %d source training videos (budget %s), target reference: %d training videos",
         strategy, budget, len(pool), snakemake.params.budget, len(target_train))
device = resolve_device(params["device"])
if strategy in ("avg_sim", "knn"):
    target_blocks = list(embedding_blocks(snakemake.input.target, target_train, len(target_train) or 1))
    if not target_blocks:
        raise ValueError("curation needs target training videos with a clip embedding; the target "
                         "corpus has none (see results/qc.csv)")
    target_means = target_blocks[0][1]
if strategy == "random":
    selection = random_select(pool, budget, params["seed"])
elif strategy == "heuristic":
    in_pool = manifest["video_id"].isin(set(pool))
    selection = heuristic_select(manifest[in_pool], manifest[manifest["video_id"].isin(target_train)],
                                 params["heuristic"]["genres"], params["heuristic"]["target_genre"],
                                 budget, params["seed"])
elif strategy == "avg_sim":
    selection = avg_sim_select(target_means, source_blocks(), budget, device)
else:
    selection = knn_select(target_means, source_blocks, budget, params["knn_pool_factor"],
                           params["seed"], device)
write_table(selection, snakemake.output.tsv)
log.info("%s selected %d videos", strategy, len(selection))
