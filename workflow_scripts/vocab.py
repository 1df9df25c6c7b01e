"""Glue for rule vocab: the vocabulary of the training split, one shard in memory at a time."""

import pandas as pd

from groundprobe.captions.asr import build_vocabulary, count_tokens
from groundprobe.io import read_table, setup_logging, write_table
from groundprobe.ingest.manifest import read_shard_listing

log = setup_logging(snakemake.log[0])
manifest = read_table(snakemake.input.manifest)
train_ids = set(manifest.loc[manifest["split"] == "train", "video_id"])
counts = pd.Series(dtype="int64")
for path in read_shard_listing(snakemake.input.words):
    words = read_table(path)
    counts = counts.add(count_tokens(words[words["video_id"].isin(train_ids)]), fill_value=0)
vocab = build_vocabulary(counts.astype("int64"), snakemake.params.min_count, snakemake.params.max_size)
write_table(vocab, snakemake.output.vocab)
log.info("vocabulary: %d of %d training token types kept", len(vocab), len(counts))
