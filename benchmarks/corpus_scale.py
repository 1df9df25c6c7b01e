"""Benchmark: peak memory and time of training, evaluation and the analyses as the corpus grows.

Issue 16 item 7: every stage that reads the corpus must run in memory that does not depend on the
corpus's size. For each corpus size N (default 10,000 and 100,000 videos) this builds a synthetic
corpus in the real shard layout and runs each stage the way its rule does (calling the library
functions, not Snakemake), each in a fresh Python process, and prints per stage the peak resident
memory (``ru_maxrss`` of that process, see MEASURE) and the seconds, and per stage the ratio
of peak memory at the largest N to the smallest (the issue's bar: <= 1.2), plus training's data
loading share of step time.

Synthetic corpus (cached under --cache-dir and reused; shard k is the same at every N, so the
10K corpus is the first 10 shards of the 100K one and 100K costs only its 90 further shards):

* shards of --shard-size (1,000) videos, named as the manifest names them (00000, 00001, ...);
* ``features/{2d,3d}/{shard}.h5``: as ``features.extract_shard_features`` writes them, one float16
  dataset ``(n_seconds, dim)`` per video id at the file root, rows L2-normalised (random
  directions), chunked by video, provenance attributes; small dims to save disk: 2D 32-d, 3D 16-d
  (the paper: 2048 + 1024); video lengths uniform in 20-60 s (the paper's mean: ~200 s);
* ``segments/{shard}.tsv.gz``: rule segments' table (``segments.SEGMENT_COLUMNS``), 8 captions per
  video at distinct 5-s starts drawn by ``segments.sample_segment_starts`` (rule segments draws
  256 candidates; 8 keeps the analyses' run time short), 1 + Poisson(8) tokens per caption (at
  most segments.max_tokens) drawn from a Zipf(1.1) law over a 61,000-token vocabulary;
* ``segments/{shard}.h5``: rule segments' segment index of that table
  (``segments.write_segment_index``, fingerprinted with the feature files' sha256), what train reads;
* ``vocab.tsv`` (token, count; id = row + 1 as ``asr.vocabulary_ids``);
* ``sources/{shard}.tsv`` and ``manifests/{N}.tsv``: the manifest (``manifest.build_manifest``)
  with 1-3 labels per video among the 50 most frequent YouTube-8M labels (drawn by their video
  counts), half of the videos validation;
* ``shards/{N}/{segments,features_2d,features_3d}.txt``: rule shard_listing's listings of the
  N-video corpus's shard files, which train reads;
* ``evaluate/diverse/{shard}.auc.tsv`` and ``.segment_auc.parquet``: what rule evaluate writes
  for every shard, with synthetic scores (segment AUCs on the k / (2 (n - 1)) grid a video of n
  captions gives, intra-video AUC their mean), read by the analyses; evaluating all 100 shards
  for real would take longer than the whole benchmark. The evaluate stage itself runs for real on
  --eval-shards shards (the first, the middle and the last) with an untrained model (weights do
  not change its cost) of the configured size;
* ``segment_auc/{shard}.parquet``: rule segment_auc's per-caption table of every shard (made by
  the same function as the stage segment_auc, in the benchmark's process, unmeasured), which
  context_effects and lexical_ols read; with --analysis-captions C, ``segment_auc_cC/{shard}.parquet``
  instead: the same videos, lengths and manifest rows with C candidate captions per video (C =
  256, config segments.candidates, keeps every 5-s start: ~36 per 20-60-s video, ~330 tokens),
  made once per C (under 1 s per shard).

Stages (each a small adapter function below, ``run_<stage>``; adapt them when a library API
changes): imports (the floor: the interpreter with torch and the library), train (rule train via
``distributed.train_processes``, --steps steps, config.yaml's train block on the CPU, batches
streamed from the shards by its loader workers), evaluate and segment_auc (per shard, as their
rules, on the --eval-shards shards), auc_by_video and auc_by_category, context_effects (its
tables, not its figures) and lexical_ols (both reading every shard's segment_auc table). The
config blocks are config.yaml's. Each process runs with its data segment limited
to --memory-limit-gb (setrlimit RLIMIT_DATA: RLIMIT_AS would count the ~3.7 GB of address space
that importing torch maps; the data segment of a process with torch is ~1 GB above its RSS, so
6 GB refuses allocations at ~5 GB of RSS), so that a stage that would not fit prints "over limit"
(with the seconds it ran) instead of taking the machine's memory; torch and BLAS get --threads
threads.

    python benchmarks/corpus_scale.py                           # 10K and 100K videos
    python benchmarks/corpus_scale.py --sizes 2000,20000        # a quick run
    python benchmarks/corpus_scale.py --stages train,evaluate --steps 20
    python benchmarks/corpus_scale.py --stages context_effects,lexical_ols --analysis-captions 256

The exit status is 1 when a stage misses --max-ratio (or fails) at the largest size.

Measured on 2026-12-03 on the code before issue 16's changes (the "before" figures), 2 CPU cores
shared with other jobs (load average 11-16, so the seconds are inflated several times and noisy;
the memory is not), --threads 1, ``python benchmarks/corpus_scale.py``; segment_auc and
auc_by_video from a rerun (``--stages segment_auc,auc_by_video``) after the measuring was fixed to
start each stage from a small process (see MEASURE: the first run reported the benchmark's own
342 MB for them). Peak RSS in MB, seconds of the stage after its imports:

    stage                  MB @10000   s @10000   MB @100000   s @100000   ratio  bar <= 1.2
    imports                      948        0.0          957         0.0    1.01  ok
    train                       3269      246.2   over limit      (59.4) >= 1.64  MISSED (5364 MB when refused)
    evaluate (max of 3)         1219       45.1         1215        28.0    1.00  ok
    segment_auc                  168        5.5          226        63.2    1.34  MISSED
    auc_by_video                 139        0.3          211         3.6    1.52  MISSED
    auc_by_category              814        0.5          846         4.8    1.04  ok
    context_effects              930        4.0         1280        28.4    1.38  MISSED
    lexical_ols                 3456      298.1   over limit      (46.8)    over  MISSED
                                (refused a dense 400848 x 2000 design, 5.97 GiB)
    evaluate 00000              1214       45.1         1209        28.0    1.00  ok
                                (the same shard file at both sizes)

    train at 10000: data loading 0.4% of step time (features held in memory), 2609 ms per step
    (61K-word dense Adam, 1 thread, busy machine), start-up before the first step 91.7 s (feature
    index of 20K datasets, loading every training video, fingerprint). At 2000 videos train
    peaked at 1699 MB (1699 -> 3269 MB from 2K to 10K videos: ~0.2 MB per video); at 20000 it
    held 4.8 GB while still starting up (stopped there).

After issue 16's changes (the "after" figures), measured on 2026-12-03 with ``python
benchmarks/corpus_scale.py --json ...`` (10K and 100K, --threads 1, 50 steps), 2 CPU cores shared
with other jobs (load average 2.5-7), same columns (segment_auc is now rule segment_auc's
per-shard job, measured on 3 shards like evaluate; before it was one job over every shard); the
rows marked 12-04 re-measured on 2026-12-04 with ``python benchmarks/corpus_scale.py --stages
segment_auc,auc_by_video,context_effects,lexical_ols`` (load average 2-3.5), after the changes to
segment_auc and lexical_ols described below:

    stage                    MB @10000   s @10000   MB @100000   s @100000   ratio  bar <= 1.2
    imports                        959        0.0          959         0.0    1.00  ok
    train                         1306       31.1         1318        22.4    1.01  ok
    evaluate (max of 3)            958       10.3          962         5.5    1.00  ok
    segment_auc (max of 3)         172        0.1          173         0.2    1.00  ok  (12-04)
    auc_by_video                   138        0.2          138         1.9    1.00  ok  (12-04)
    auc_by_category                920        0.3          950         2.2    1.03  ok
    context_effects                999        0.2         1002         2.2    1.00  ok  (12-04)
    lexical_ols                   1034        3.2         1155        29.5    1.12  ok  (12-04)
    evaluate 00000                 957       10.3          950         5.5    0.99  ok

    train at 10000: data loading 2.9% of step time (goal <= 10%; 1 loader worker), 571 ms per
    step, 2.5 s outside the training loop (start-up, final checkpoint)
    train at 100000: data loading 4.0% of step time (goal <= 10%; 1 loader worker), 386 ms per
    step, 3.1 s outside the training loop

segment_auc: 1.07 on 12-03, while it parsed the manifest in chunks of 100,000 rows (the whole
manifest at 10K, one chunk at 100K); it now reads only its shard's bytes of the manifest
(manifest.read_shard_rows, as download does): 172 / 173 MB on 12-04.

What grew in the two misses of 12-03, with ``--sizes 100000,200000 --stages
auc_by_video,context_effects,lexical_ols`` (same day) as a third size:

* lexical_ols (12-03: 1077 / 1959 MB, 1.82): its X'X accumulators (then 8 p^2 bytes per fitted
  scope, p = 4 controls + the scope's words, pass 3), not the captions. The scopes' vocabularies
  (words said in >= min_videos videos of the scope, at most max_words) grow with the corpus until
  every scope has max_words: the 51 fitted scopes' X'X summed to 87 MB at 10K, 888 MB at 100K
  and 1.4 GB at 200K, where the accumulator budget (then 1 GiB) split them into two batches;
  peak 1077 / 1959 / 2109 MB at 10K / 100K / 200K. Changed on 12-04 (groundprobe/analysis/lexical_ols.py;
  its Moments and Factor now in groundprobe/analysis/ols.py):
  X'X's word block is held as exact int32 co-occurrence counts, upper triangle only (2 p^2 bytes
  per scope: 22 MB at 10K, 224 MB at 100K, 353 MB at 200K; ``accumulators_mb`` in its line); a
  scope is solved from one dense X'X built over its used columns and factored in place (before:
  ~6 further p x p arrays, 32 MB each at p = 2004); and the budget is the execution setting
  analysis.lexical_ols.accumulator_mb, default 128 MiB (16 scopes at p = 2004; ``batches`` in
  its line). Measured on 12-04:

      accumulator_mb   MB @10K  s @10K  MB @100K  s @100K  ratio  batches @100K
      1024 (``--accumulator-mb 1024``)
                          1032     3.3      1260     28.5   1.22   1
      128 (default)       1034     3.2      1155     29.5   1.12   2
      128, ``--sizes 100000,200000 --stages lexical_ols``: 1151 MB / 27.5 s at 100K, 1184 MB /
      61.5 s at 200K (3 batches), 200K / 100K 1.03

  Peak = imports (~810 MB when measured: torch, then imported through label_names; since
  2026-12-04 label_names lives in the torch-free groundprobe.evaluation.auc_by_category) + one
  table's parse + the largest batch of accumulators (<= accumulator_mb) + one scope's solve. Only
  the accumulators grow with the corpus, until every scope's vocabulary is full or the budget
  is reached: the bound at any size is ~1.2 GB at the default, ~2 GB at 1 GiB (there the 10K
  -> 100K ratio, 1.22, measures how far 10K synthetic videos are from full vocabularies). Each
  further batch is one more pass over the tables: measured alone at 100K, 1.7 s (reading the 100
  tables 1.0 s, filtering and grouping by scope 0.7 s) of a ~28 s fit, i.e. ~6% per batch; the
  two runs above differ by less than the shared machine's noise. config/youtube600k.yaml sets
  4096 (thousands of labels, an 8 GB job: a few passes instead of tens).

  The regime: this corpus is sparse for lexical_ols. Its 8 captions of ~9 tokens give ~72 tokens
  per 20-60 s video, 1-3 of 50 labels; rule segments keeps every 5-s window with a word among
  segments.candidates = 256 (all ~36 starts of a 20-60 s video, ~180 of a ~200-s YouTube video:
  DESIGN.md), and YouTube-8M has 3,862 labels. Vocabularies fill with the number of videos saying
  each word. Denser, with ``--stages context_effects,lexical_ols --analysis-captions 256``
  (12-04: every start of the same videos, 36.7 captions and ~330 tokens per video, 1.8M
  validation captions at 100K):

      accumulator_mb   MB @10K  s @10K  MB @100K  s @100K  ratio  accumulators_mb  batches @100K
      128 (default)       1143    10.3      1152     61.5   1.01  116 / 393        4
      1024                1148     9.4      1433     55.8   1.25  116 / 393        1
      context_effects     1015     0.4      1028      4.1   1.01

  Even there 10K videos fill only 30% of the 100K accumulators, so at 1 GiB the ratio still
  measures the filling; three extra batches cost 5.7 s of 56 (~3% each). Not measured: ~200-s
  videos (~180 captions each: one table's parse is a per-shard constant, ~5x these rows per
  shard) and thousands of labels (more scopes: more batches at the same memory).
* auc_by_video: its script joined every shard's per-video AUC table with the whole manifest in
  one DataFrame (143 / 225 / 274 MB at 10K / 100K / 200K, ratio 1.57, ~0.5 GB at 640K videos).
  Now ``auc_by_video.write_auc_by_video`` joins one shard's AUC table with that shard's manifest
  rows (``manifest.read_shard_rows``) and appends it to the output: rerun with ``python
  benchmarks/corpus_scale.py --stages auc_by_video`` (2026-12-03, load average ~5): 138 MB at
  10K, 100K and (``--sizes 100000,200000``) 200K, ratio 1.00; 0.5 / 3.7 / 8.8 s, ~35 ms per
  shard (parsing the shard's manifest rows and its AUC table, the join, the CSV rows; the
  whole-table join took 1.2 s at 100K). Its consumers (auc_by_category, auc_by_vertical,
  correlations) read that per-video table whole (auc_by_category: +30 MB from 10K to 100K,
  under its torch floor).

Disk: the 100K corpus takes 1.1 GB (features 968 MB: 9.7 KB per video for 3.8 KB of float16
data, i.e. ~3 KB of HDF5 overhead per dataset; segment tables and indexes 71 MB; per-shard
Parquet tables 31 MB); generating its 90 shards beyond the 10K corpus took 110 s plus the
segment_auc tables, once: it is cached (the before figures' layout took 13 minutes on a busier
machine).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import traceback
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Callable

import h5py
import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from groundprobe.io import (
    atomic_output,
    file_sha256,
    provenance,
    read_table,  # noqa: E402
    read_text_table,
    write_table,
)
from groundprobe.ingest.manifest import (
    SOURCE_CORPUS,
    build_manifest,
    load_yt8m_vocabulary,  # noqa: E402
    read_shard_listing,
    shard_name,
    write_shard_listing,
)
from groundprobe.evaluation.segment_auc import SCORE_SCHEMA, write_parquet  # noqa: E402
from groundprobe.captions.segments import (
    SEGMENT_COLUMNS,
    sample_segment_starts,
    video_rng,  # noqa: E402
    write_segment_index,
)
from groundprobe.settings import ModelSettings, SegmentSettings, TrainSettings  # noqa: E402

GENERATOR_VERSION = 2  # bump when the synthetic corpus changes: a new pool directory is made
MODEL = "diverse"  # the model name in evaluate's output paths
ZIPF_EXPONENT = 1.1  # token frequencies ~ rank^-1.1, as word frequencies in speech
MEAN_EXTRA_TOKENS = 8  # tokens per caption: 1 + Poisson(8), capped at segments.max_tokens
MEMORY_WORDS = re.compile(r"memory|alloc", re.IGNORECASE)  # how allocation failures read


# ---------------------------------------------------------------------------------------------
# The synthetic corpus


@dataclass(frozen=True)
class CorpusSpec:
    """What the synthetic corpus looks like; everything but the number of videos (shards are the
    same at every size)."""

    shard_size: int = 1000
    dim_2d: int = 32
    dim_3d: int = 16
    min_seconds: int = 20
    max_seconds: int = 60
    captions_per_video: int = 8
    vocab_size: int = 61000
    n_labels: int = 50
    validation_fraction: float = 0.5
    length_s: int = 5
    max_tokens: int = 32
    seed: int = 0

    def pool_name(self) -> str:
        """A directory name that changes with the spec and the generator's version."""
        text = json.dumps([GENERATOR_VERSION, asdict(self)], sort_keys=True)
        return f"pool_{hashlib.sha256(text.encode()).hexdigest()[:10]}"


@dataclass(frozen=True)
class Corpus:
    """The files of a corpus of ``n_videos`` videos in a shard pool (paths as under results/)."""

    pool: Path
    n_videos: int
    shard_size: int
    analysis_captions: int | None = None  # candidate captions per video of the analyses' tables

    @property
    def shards(self) -> list[str]:
        return [shard_name(SOURCE_CORPUS, k) for k in range(self.n_videos // self.shard_size)]

    @property
    def manifest(self) -> Path:
        return self.pool / "manifests" / f"{self.n_videos}.tsv"

    @property
    def vocab(self) -> Path:
        return self.pool / "vocab.tsv"

    def features(self, stream: str, shard: str) -> Path:
        return self.pool / "features" / stream / f"{shard}.h5"

    def segments(self, shard: str) -> Path:
        return self.pool / "segments" / f"{shard}.tsv.gz"

    def segment_index(self, shard: str) -> Path:
        """Rule segments' second output, read by train."""
        return self.pool / "segments" / f"{shard}.h5"

    def scores(self, shard: str, kind: str) -> Path:
        """Rule evaluate's per-shard output: kind 'auc' or 'segment_auc'."""
        suffix = ".auc.tsv" if kind == "auc" else ".segment_auc.parquet"
        return self.pool / "evaluate" / MODEL / f"{shard}{suffix}"

    def segment_auc(self, shard: str) -> Path:
        """Rule segment_auc's per-shard table, read by the caption-level analyses (with
        analysis_captions: made by dense_segment_auc)."""
        kind = f"segment_auc_c{self.analysis_captions}" if self.analysis_captions else "segment_auc"
        return self.pool / kind / f"{shard}.parquet"

    def listing(self, kind: str) -> Path:
        """Rule shard_listing's listing of this size's shard files of ``kind`` (LISTED)."""
        return self.pool / "shards" / str(self.n_videos) / f"{kind}.txt"

    def sources(self, shard: str) -> Path:
        return self.pool / "sources" / f"{shard}.tsv"

    def done(self, shard: str) -> Path:
        return self.pool / "done" / shard


@lru_cache(maxsize=1)
def zipf_cdf(size: int) -> np.ndarray:
    """Cumulative probabilities (size,) of token ids 1..size under rank^-ZIPF_EXPONENT."""
    weights = 1.0 / np.arange(1, size + 1) ** ZIPF_EXPONENT
    return np.cumsum(weights) / weights.sum()


@lru_cache(maxsize=1)
def token_texts(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Object arrays (size + 1,) indexed by token id: the id as text, the token (index 0 unused)."""
    ids = np.array([str(i) for i in range(size + 1)], dtype=object)
    return ids, np.array([""] + [f"w{k:05d}" for k in range(1, size + 1)], dtype=object)


def vocabulary_table(spec: CorpusSpec) -> pd.DataFrame:
    """The vocabulary as rule vocab writes it (token, count), most frequent first: token ids are
    row + 1; names ``w00001``... so that ties in count stay in token order."""
    probabilities = np.diff(zipf_cdf(spec.vocab_size), prepend=0.0)
    counts = np.maximum(1, np.round(1e8 * probabilities)).astype(np.int64)
    return pd.DataFrame({"token": token_texts(spec.vocab_size)[1][1:], "count": counts})


def write_video_features(h5: h5py.File, video_id: str, rows: np.ndarray) -> None:
    """One video's dataset, as ``features.extract_shard_features`` writes it (adapt with it)."""
    from groundprobe.features.extract import feature_chunk_rows

    h5.create_dataset(video_id, data=rows, chunks=(feature_chunk_rows(len(rows)), rows.shape[1]))


def write_feature_shard(
    path: Path, stream: str, dim: int, video_ids: list[str], lengths: np.ndarray, rng: np.random.Generator
) -> None:
    """One stream's shard file: float16 (n_seconds, dim) per video, rows of unit length."""
    rows = rng.standard_normal((int(lengths.sum()), dim), dtype=np.float32)
    rows = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float16)
    ends = np.cumsum(lengths)
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as h5:
        h5.attrs.update(
            provenance(
                stream=stream,
                backbone=f"synthetic_{stream}",
                weights="random",
                weights_sha256="synthetic",
                dim=dim,
                fps=1,
            )
        )
        for video_id, end, n in zip(video_ids, ends.tolist(), lengths.tolist()):
            write_video_features(h5, video_id, rows[end - n : end])


def segment_table(
    spec: CorpusSpec, video_ids: list[str], lengths: np.ndarray, rng: np.random.Generator
) -> pd.DataFrame:
    """Rule segments' table of one shard (SEGMENT_COLUMNS): captions_per_video distinct starts
    per video, Zipf-distributed token ids."""
    videos, numbers, starts, seconds = [], [], [], []
    for video_id, n_seconds in zip(video_ids, lengths.tolist()):
        picked = sample_segment_starts(
            n_seconds, spec.length_s, spec.captions_per_video, video_rng(spec.seed, video_id)
        )
        videos += [video_id] * len(picked)
        numbers += range(len(picked))
        starts += picked.tolist()
        seconds += [n_seconds] * len(picked)
    start = np.array(starts, dtype=np.int64)
    n_tokens = np.minimum(1 + rng.poisson(MEAN_EXTRA_TOKENS, size=len(start)), spec.max_tokens)
    ids = np.searchsorted(zipf_cdf(spec.vocab_size), rng.random(int(n_tokens.sum()))) + 1
    id_text, word_text = token_texts(spec.vocab_size)
    ends = np.cumsum(n_tokens)
    spans = [slice(end - n, end) for end, n in zip(ends.tolist(), n_tokens.tolist())]
    return pd.DataFrame(
        {
            "video_id": videos,
            "segment": numbers,
            "start_s": start,
            "end_s": start + spec.length_s,
            "rel_position": (start + spec.length_s / 2) / np.array(seconds, dtype=np.float64),
            "n_tokens": n_tokens,
            "token_ids": [" ".join(id_text[ids[s]]) for s in spans],
            "tokens": [" ".join(word_text[ids[s]]) for s in spans],
        }
    )[SEGMENT_COLUMNS]


def synthetic_scores(segments: pd.DataFrame, rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What rule evaluate writes for a shard (evaluate.AUC_COLUMNS, SEGMENT_AUC_COLUMNS) with
    synthetic scores: a caption's segment AUC on the grid k / (2 (n - 1)) of its video's n
    captions, the video's AUC the mean of its captions'. Videos with one caption are left out."""
    from groundprobe.evaluation.evaluate import AUC_COLUMNS
    from groundprobe.evaluation.segment_auc import SEGMENT_AUC_COLUMNS

    n = segments.groupby("video_id", sort=False)["segment"].transform("size").to_numpy()
    scored = segments[n >= 2].copy()
    steps = 2 * (n[n >= 2] - 1)
    scored["segment_auc"] = np.round(rng.beta(3.0, 2.0, size=len(scored)) * steps) / steps
    per_video = scored.groupby("video_id", sort=False)["segment_auc"].agg(["size", "mean"])
    auc = pd.DataFrame(
        {"video_id": per_video.index, "n_segments": per_video["size"].to_numpy(), "auc": per_video["mean"].to_numpy()}
    )
    return auc[AUC_COLUMNS], scored[SEGMENT_AUC_COLUMNS]


@lru_cache(maxsize=1)
def frequent_labels(count: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``count`` YouTube-8M labels with the most training videos: names and video counts."""
    labels = load_yt8m_vocabulary().nlargest(count, "TrainVideoCount")
    return labels["Name"].to_numpy(), labels["TrainVideoCount"].to_numpy(dtype=np.float64)


def sources_table(spec: CorpusSpec, video_ids: list[str], rng: np.random.Generator) -> pd.DataFrame:
    """A shard's rows of the sources table: 1-3 labels among the spec's most frequent YouTube-8M
    labels (drawn by their video counts), split, local video paths (never opened)."""
    names, weights = frequent_labels(spec.n_labels)
    # k labels without replacement, each draw in proportion to the weights of those left: the k
    # largest of log(weight) + Gumbel noise (the Gumbel top-k trick), for all videos at once.
    keys = np.log(weights) + rng.gumbel(size=(len(video_ids), len(names)))
    order = np.argsort(-keys, axis=1)
    cells = [";".join(names[row[:k]]) for row, k in zip(order, rng.integers(1, 4, size=len(video_ids)).tolist())]
    split = np.where(rng.random(len(video_ids)) < spec.validation_fraction, "validation", "train")
    return pd.DataFrame(
        {
            "video_id": video_ids,
            "source": [f"videos/{v}.mp4" for v in video_ids],
            "source_type": "local",
            "labels": cells,
            "split": split,
            "instructional": rng.integers(0, 2, size=len(video_ids)).astype(str),
        }
    )


def shard_videos(spec: CorpusSpec, number: int) -> tuple[np.random.Generator, list[str], np.ndarray]:
    """Shard ``number``'s random stream, after drawing its video ids and lengths (seconds)."""
    rng = np.random.default_rng([spec.seed, number])
    video_ids = [f"v{number * spec.shard_size + row:010d}" for row in range(spec.shard_size)]
    return rng, video_ids, rng.integers(spec.min_seconds, spec.max_seconds + 1, size=spec.shard_size)


def generate_shard(spec: CorpusSpec, corpus: Corpus, number: int) -> None:
    """Every file of shard ``number``; depends only on the spec and the number."""
    shard = shard_name(SOURCE_CORPUS, number)
    rng, video_ids, lengths = shard_videos(spec, number)
    write_table(sources_table(spec, video_ids, rng), corpus.sources(shard))
    write_feature_shard(corpus.features("2d", shard), "2d", spec.dim_2d, video_ids, lengths, rng)
    write_feature_shard(corpus.features("3d", shard), "3d", spec.dim_3d, video_ids, lengths, rng)
    segments = segment_table(spec, video_ids, lengths, rng)
    write_table(segments, corpus.segments(shard))
    write_segment_index(
        segments,
        spec.length_s,
        [file_sha256(corpus.features("2d", shard)), file_sha256(corpus.features("3d", shard))],
        corpus.segment_index(shard),
    )
    auc, segment_auc = synthetic_scores(segments, rng)
    write_table(auc, corpus.scores(shard, "auc"))
    write_parquet(segment_auc, corpus.scores(shard, "segment_auc"), SCORE_SCHEMA)
    corpus.done(shard).parent.mkdir(parents=True, exist_ok=True)
    corpus.done(shard).touch()


def ensure_corpus(spec: CorpusSpec, cache: Path, n_videos: int, analysis_captions: int | None) -> Corpus:
    """The corpus of ``n_videos`` videos, generating only the shards and manifest not yet cached."""
    if n_videos % spec.shard_size:
        raise SystemExit(f"--sizes must be multiples of --shard-size {spec.shard_size}, got {n_videos}")
    corpus = Corpus(cache / spec.pool_name(), n_videos, spec.shard_size, analysis_captions)
    if not corpus.vocab.exists():
        write_table(vocabulary_table(spec), corpus.vocab)
    missing = [k for k, shard in enumerate(corpus.shards) if not corpus.done(shard).exists()]
    started = time.perf_counter()
    for done, number in enumerate(missing, 1):
        generate_shard(spec, corpus, number)
        if done % 10 == 0 or done == len(missing):
            print(f"  generated {done}/{len(missing)} shards ({time.perf_counter() - started:.0f} s)", flush=True)
    if not corpus.manifest.exists():
        sources = pd.concat([read_text_table(corpus.sources(s)) for s in corpus.shards], ignore_index=True)
        write_table(build_manifest(sources, spec.shard_size), corpus.manifest)
    # Rule segment_auc's tables, which the caption-level analyses read; made here, unmeasured, as
    # the synthetic scores are (the stage segment_auc measures the same job on a few shards).
    # Shard k's manifest rows, and so its table, are the same at every size.
    missing = [k for k, shard in enumerate(corpus.shards) if not corpus.segment_auc(shard).exists()]
    started = time.perf_counter()
    for done, number in enumerate(missing, 1):
        shard = corpus.shards[number]
        if analysis_captions:
            dense_segment_auc(spec, corpus, number)
        else:
            shard_segment_auc(corpus, shard, corpus.segment_auc(shard))
        if done % 10 == 0 or done == len(missing):
            print(f"  made {done}/{len(missing)} analysis tables ({time.perf_counter() - started:.0f} s)", flush=True)
    for kind, path in LISTED.items():
        corpus.listing(kind).parent.mkdir(parents=True, exist_ok=True)
        write_shard_listing([str(path(corpus, shard)) for shard in corpus.shards], corpus.listing(kind))
    return corpus


# Rule shard_listing's kinds of per-shard file that train reads (rules/common.smk SHARD_LISTINGS).
LISTED: dict[str, Callable[[Corpus, str], Path]] = {
    "segments": Corpus.segment_index,
    "features_2d": lambda corpus, shard: corpus.features("2d", shard),
    "features_3d": lambda corpus, shard: corpus.features("3d", shard),
}


def shard_segment_auc(corpus: Corpus, shard: str, out: Path) -> int:
    """Rule segment_auc on one shard (workflow_scripts/segment_auc.py): its scored captions joined
    with their tokens and their videos' manifest rows, written to ``out``; returns the captions."""
    from groundprobe.evaluation.segment_auc import (
        SEGMENT_TABLE_SCHEMA,
        join_segment_auc,
        read_scores,
        read_shard_videos,
    )

    videos = read_shard_videos(corpus.manifest, shard)
    table = join_segment_auc(
        read_scores(corpus.scores(shard, "segment_auc")), read_table(corpus.segments(shard)), videos
    )
    write_parquet(table, out, SEGMENT_TABLE_SCHEMA)
    return len(table)


def dense_segment_auc(spec: CorpusSpec, corpus: Corpus, number: int) -> int:
    """Shard ``number``'s table for the caption-level analyses with corpus.analysis_captions
    candidate captions per video (segment_table: that many distinct 5-s starts, all of them in a
    shorter video; 1 + Poisson(8) Zipf tokens each) and synthetic scores, joined with the shard's
    manifest rows as rule segment_auc joins them; the videos and lengths are the cached shard's.
    Written to corpus.segment_auc; returns the captions."""
    from groundprobe.evaluation.segment_auc import SEGMENT_TABLE_SCHEMA, join_segment_auc, read_shard_videos

    shard = shard_name(SOURCE_CORPUS, number)
    _, video_ids, lengths = shard_videos(spec, number)
    rng = np.random.default_rng([spec.seed, number, corpus.analysis_captions])
    segments = segment_table(replace(spec, captions_per_video=corpus.analysis_captions), video_ids, lengths, rng)
    _, scores = synthetic_scores(segments, rng)
    table = join_segment_auc(scores, segments, read_shard_videos(corpus.manifest, shard))
    write_parquet(table, corpus.segment_auc(shard), SEGMENT_TABLE_SCHEMA)
    return len(table)


def write_untrained_checkpoint(path: Path, spec: CorpusSpec, model_settings: ModelSettings, seed: int) -> None:
    """A checkpoint that ``train.load_model`` reads: an untrained JointEmbedding of the corpus's
    feature width and vocabulary and the configured sizes (evaluate's cost does not depend on the
    weights' values, so evaluate does not wait for, or depend on, the train stage)."""
    import torch
    from groundprobe.model.joint_embedding import JointEmbedding

    hyper = {
        "video_dim": spec.dim_2d + spec.dim_3d,
        "vocab_size": spec.vocab_size,
        "word_dim": model_settings.word_dim,
        "joint_dim": model_settings.joint_dim,
    }
    torch.manual_seed(seed)
    with atomic_output(path) as tmp:
        torch.save({"model_state": JointEmbedding(**hyper).state_dict(), "model_params": hyper}, tmp)


# ---------------------------------------------------------------------------------------------
# Stage adapters: each runs one stage as its rule does, in the measured process; returns extras
# to report. Keep them small: they are what changes when the library's APIs do.


@dataclass(frozen=True)
class Context:
    """What a stage process gets: the corpus, where to write, the config and the settings."""

    corpus: Corpus
    run: Path  # this size's output directory (outputs of earlier stages)
    config: dict  # config.yaml
    threads: int
    steps: int
    shard: str | None  # evaluate's shard
    started: float  # perf_counter at the stage's start (after its imports)


def run_imports(ctx: Context) -> dict:
    """Nothing: the floor every stage's process starts from."""
    return {}


def run_train(ctx: Context) -> dict:
    """Rule train (workflow_scripts/train.py): model 'diverse' on the manifest's training videos,
    streamed from every shard's files as the shard listings name them, one process, with the
    config's loader workers. Data loading: train_model's wait for the next batch (the share its
    log reports), over the training loop's seconds."""
    from groundprobe.model.distributed import TrainingJob, train_processes

    c, out = ctx.corpus, ctx.run / "train"
    out.mkdir(parents=True, exist_ok=True)
    settings = replace(
        TrainSettings.from_config(ctx.config["train"], "train"),
        steps=ctx.steps,
        checkpoint_every=ctx.steps,
        log_every=max(1, ctx.steps // 5),
        device="cpu",
    )
    job = TrainingJob(
        model=MODEL,
        segments=read_shard_listing(c.listing("segments")),
        features_2d=read_shard_listing(c.listing("features_2d")),
        features_3d=read_shard_listing(c.listing("features_3d")),
        vocab=str(c.vocab),
        manifest=str(c.manifest),
        curation=None,
        draw=None,
        model_spec={"split": "train"},
        model_settings=ModelSettings.from_config(ctx.config["model"], "model"),
        train_settings=settings,
        allow_cpu_fallback=True,
        length_s=SegmentSettings.from_config(ctx.config["segments"], "segments").length_s,
        checkpoint=str(out / "checkpoint.pt"),
        resume=str(out / "checkpoint.pt.resume"),
        log_tsv=str(out / "train_log.tsv"),
    )
    summary = train_processes(job, 1, threads=ctx.threads)
    loop_s = float(summary["seconds"])
    return {
        "videos": summary["n_videos"],
        "loader_workers": settings.loader_workers,
        "step_ms": 1000 * loop_s / ctx.steps,
        "loading_share": summary["loading_seconds"] / loop_s if loop_s else None,
        "outside_loop_s": time.perf_counter() - ctx.started - loop_s,
    }


def run_evaluate(ctx: Context) -> dict:
    """Rule evaluate on one shard (workflow_scripts/evaluate.py): intra-video and segment AUC of
    its videos."""
    import torch
    from groundprobe.evaluation.evaluate import evaluate_videos
    from groundprobe.features.store import FeatureStore
    from groundprobe.model.train import load_model

    c, shard, out = ctx.corpus, ctx.shard, ctx.run / "evaluate"
    torch.set_num_threads(ctx.threads)
    model = load_model(ctx.run.parent / "untrained.pt", "cpu")
    with FeatureStore([c.features("2d", shard)], [c.features("3d", shard)]) as store:
        auc, segment_auc, _ = evaluate_videos(model, read_table(c.segments(shard)), store)
    write_table(auc, out / f"{shard}.auc.tsv")
    write_parquet(segment_auc, out / f"{shard}.segment_auc.parquet", SCORE_SCHEMA)
    return {"videos": len(auc), "captions": len(segment_auc)}


def run_segment_auc(ctx: Context) -> dict:
    """Rule segment_auc on one shard: its scored captions with tokens and video metadata."""
    return {"captions": shard_segment_auc(ctx.corpus, ctx.shard, ctx.run / "segment_auc" / f"{ctx.shard}.parquet")}


def run_auc_by_video(ctx: Context) -> dict:
    """Rule auc_by_video (workflow_scripts/auc_by_video.py): every shard's per-video AUC table
    joined with that shard's manifest rows, shard by shard."""
    from groundprobe.evaluation.auc_by_video import write_auc_by_video

    c = ctx.corpus
    videos, _ = write_auc_by_video([c.scores(s, "auc") for s in c.shards], c.manifest, ctx.run / "auc_by_video.csv")
    return {"videos": videos}


def run_auc_by_category(ctx: Context) -> dict:
    """Rule auc_by_category: mean intra-video AUC per category with bootstrap intervals."""
    from groundprobe.evaluation.auc_by_category import category_table

    params = ctx.config["evaluate"]
    table = category_table(
        read_table(ctx.run / "auc_by_video.csv"), params["bootstrap"], params["confidence"], params["seed"]
    )
    write_table(table, ctx.run / "auc_by_category.csv")
    return {"categories": len(table)}


def segment_tables(ctx: Context) -> list[Path]:
    """Rule segment_auc's per-shard tables of every shard of the corpus (the analyses' input)."""
    return [ctx.corpus.segment_auc(shard) for shard in ctx.corpus.shards]


def run_context_effects(ctx: Context) -> dict:
    """Rule context_effects' tables (workflow_scripts/context_effects.py; the figures drawn from
    them cost the same at any size), read from the per-shard tables."""
    from groundprobe.analysis.context_effects import context_effects, select_categories
    from groundprobe.evaluation.segment_auc import iter_segment_tables

    params, confidence = ctx.config["analysis"]["context_effects"], ctx.config["evaluate"]["confidence"]
    paths = segment_tables(ctx)

    def validation_captions(columns):
        return iter_segment_tables(paths, columns, [("split", "==", "validation")])

    categories = select_categories(
        validation_captions(["video_id", "labels"]), params["categories"], params["max_categories"]
    )
    table, slopes = context_effects(
        validation_captions, categories, params["position_bins"], params["token_bins"], confidence
    )
    write_table(table, ctx.run / "context_effects.csv")
    write_table(slopes, ctx.run / "context_token_slopes.csv")
    return {"captions": int(slopes["n"].iloc[0])}  # the first scope's: every validation caption


def run_lexical_ols(ctx: Context) -> dict:
    """Rule lexical_ols (workflow_scripts/lexical_ols.py): OLS of segment AUC on controls + word
    indicators per scope, from sufficient statistics accumulated over the per-shard tables."""
    from groundprobe.analysis.lexical_captions import INPUT_COLUMNS
    from groundprobe.analysis.lexical_ols import batches, lexical_ols
    from groundprobe.analysis.ols import accumulator_bytes_of
    from groundprobe.evaluation.segment_auc import iter_segment_tables

    params, paths = ctx.config["analysis"]["lexical_ols"], segment_tables(ctx)
    budget = params["accumulator_mb"] << 20  # the execution setting the rule's script reads
    top, words, ftest, _ = lexical_ols(
        lambda: iter_segment_tables(paths, columns=INPUT_COLUMNS),
        params["split"],
        params["min_videos"],
        params["max_words"],
        params["top_words"],
        params["position_bins"],
        params["min_captions"],
        params["cluster_by_video"],
        budget,
    )
    write_table(ftest, ctx.run / "lexical_ftest.csv")
    fitted = ftest[ftest["skipped_reason"].fillna("").eq("")]
    # The fitted scopes' accumulators (X'X with integer word co-occurrences, p = controls + words):
    # what grows while the scopes' vocabularies grow towards max_words, held a batch of at most
    # the budget at a time (each batch one pass over the tables).
    sizes = [
        accumulator_bytes_of(int(k + w), int(n), params["cluster_by_video"])
        for k, w, n in zip(fitted["k_controls"], fitted["k_words"], fitted["n"])
    ]
    return {"scopes_fitted": len(fitted), "accumulators_mb": sum(sizes) / 2**20, "batches": len(batches(sizes, budget))}


@dataclass(frozen=True)
class Stage:
    run: Callable[[Context], dict]
    modules: tuple[str, ...]  # imported before the clock starts (as the rule's script)
    needs: tuple[str, ...] = ()  # stages whose outputs it reads
    per_shard: bool = False  # one process per measured shard


STAGES: dict[str, Stage] = {
    "imports": Stage(run_imports, ("torch", "groundprobe.model.distributed")),
    "train": Stage(run_train, ("torch", "groundprobe.model.distributed")),
    "evaluate": Stage(
        run_evaluate, ("torch", "groundprobe.evaluation.evaluate", "groundprobe.features.store"), per_shard=True
    ),
    "segment_auc": Stage(run_segment_auc, ("groundprobe.evaluation.segment_auc",), per_shard=True),
    "auc_by_video": Stage(run_auc_by_video, ("groundprobe.evaluation.auc_by_video",)),
    "auc_by_category": Stage(run_auc_by_category, ("groundprobe.evaluation.auc_by_category",), needs=("auc_by_video",)),
    "context_effects": Stage(
        run_context_effects, ("groundprobe.analysis.context_effects", "groundprobe.evaluation.segment_auc")
    ),
    "lexical_ols": Stage(run_lexical_ols, ("groundprobe.analysis.lexical_ols", "groundprobe.evaluation.segment_auc")),
}


# ---------------------------------------------------------------------------------------------
# Measuring: one fresh process per stage (and per evaluated shard)


def is_memory_error(error: BaseException) -> bool:
    """Whether ``error`` is an allocation refused under the memory limit (numpy's MemoryError,
    torch's and HDF5's allocation errors)."""
    return isinstance(error, MemoryError) or bool(MEMORY_WORDS.search(str(error)))


def child_main(args: argparse.Namespace) -> None:
    """Run one stage in this process and write its result (status, seconds, extras) as JSON."""
    stage = STAGES[args.child]
    for module in stage.modules:
        importlib.import_module(module)
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    if args.accumulator_mb:
        config["analysis"]["lexical_ols"]["accumulator_mb"] = args.accumulator_mb
    corpus = Corpus(Path(args.pool), args.videos, args.shard_size, args.analysis_captions)
    started = time.perf_counter()
    ctx = Context(corpus, Path(args.run), config, args.threads, args.steps, args.shard, started)
    try:
        record = {"status": "ok", **stage.run(ctx)}
    except BaseException as error:  # noqa: BLE001 - reported, not hidden: the traceback goes to the log
        traceback.print_exc()
        record = {
            "status": "over limit" if is_memory_error(error) else "failed",
            "error": f"{type(error).__name__}: {error}"[:300],
        }
    record["seconds"] = time.perf_counter() - started
    Path(args.result).write_text(json.dumps(record))


# Starts one stage's process and reports its peak RSS: a fresh interpreter with no imports runs it
# under the memory limit, waits (killing it after the timeout) and prints its exit code, wall time
# and ru_maxrss (RUSAGE_CHILDREN; Linux reports kB). Why not fork the stage from the benchmark
# itself: Linux counts in a process's ru_maxrss the memory it held before exec, i.e. the anonymous
# pages it shared with the process that forked it, so a stage forked from a big process would
# report at least that one's size.
MEASURE = r"""
import json, resource, subprocess, sys, time
limit, timeout, log, cmd = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4:]
resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
with open(log, "w") as out:
    start = time.perf_counter()
    try:
        rc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=timeout).returncode
    except subprocess.TimeoutExpired:
        rc = None
    wall = time.perf_counter() - start
print(json.dumps({"rc": rc, "wall_s": wall,
                  "peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def measure(stage: str, corpus: Corpus, run: Path, args: argparse.Namespace, shard: str | None = None) -> dict:
    """Run ``stage`` in a fresh process under the memory limit; its result with peak_mb (the
    process's ru_maxrss) and wall_s (including the interpreter's start and imports)."""
    name = f"{stage}.{shard}" if shard else stage
    result, log = run / f"{name}.json", run / f"{name}.log"
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        stage,
        "--pool",
        str(corpus.pool),
        "--videos",
        str(corpus.n_videos),
        "--shard-size",
        str(corpus.shard_size),
        "--run",
        str(run),
        "--result",
        str(result),
        "--threads",
        str(args.threads),
        "--steps",
        str(args.steps),
    ]
    cmd += ["--shard", shard] if shard else []
    cmd += ["--accumulator-mb", str(args.accumulator_mb)] if args.accumulator_mb else []
    cmd += ["--analysis-captions", str(args.analysis_captions)] if args.analysis_captions else []
    threads = str(args.threads)
    env = os.environ | {"OMP_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
    measured = json.loads(
        subprocess.run(
            [
                sys.executable,
                "-c",
                MEASURE,
                str(int(args.memory_limit_gb * 2**30)),
                str(args.timeout_s),
                str(log),
                *cmd,
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    record = json.loads(result.read_text()) if result.exists() else {}
    if measured["rc"] is None:
        record["status"] = f"timeout after {args.timeout_s:.0f} s"
    elif not record:
        code = measured["rc"]
        record["status"] = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit {code}"
    return record | {"peak_mb": measured["peak_mb"], "wall_s": measured["wall_s"], "log": str(log)}


def eval_shards(corpus: Corpus, count: int) -> list[str]:
    """``count`` shards spread over the corpus: the first, the last and evenly between."""
    picks = np.unique(np.linspace(0, len(corpus.shards) - 1, count).round().astype(int))
    return [corpus.shards[k] for k in picks]


def describe(record: dict) -> str:
    """One line of a stage's result."""
    extras = {k: v for k, v in record.items() if k not in ("status", "seconds", "peak_mb", "wall_s", "log")}
    shown = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in extras.items())
    seconds = f"{record['seconds']:.1f} s" if "seconds" in record else "-"
    return f"{record['peak_mb']:7.0f} MB  {seconds:>9}  {record['status']}" + (f"  ({shown})" if shown else "")


def run_size(
    spec: CorpusSpec, n_videos: int, stages: list[str], args: argparse.Namespace, config: dict
) -> dict[str, dict]:
    """Every selected stage at one corpus size; returns stage (or 'evaluate SHARD') -> record."""
    print(f"\n== {n_videos} videos", flush=True)
    corpus = ensure_corpus(spec, args.cache_dir, n_videos, args.analysis_captions)
    run = args.cache_dir / "runs" / str(n_videos)
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    write_untrained_checkpoint(
        run.parent / "untrained.pt", spec, ModelSettings.from_config(config["model"], "model"), spec.seed
    )
    records: dict[str, dict] = {}
    for stage in stages:
        failed = [need for need in STAGES[stage].needs if records.get(need, {}).get("status") != "ok"]
        if failed:
            records[stage] = {"status": f"skipped ({failed[0]} did not run)", "peak_mb": float("nan")}
            print(f"  {stage:<18} skipped: needs {failed[0]}", flush=True)
            continue
        shards = eval_shards(corpus, args.eval_shards) if STAGES[stage].per_shard else [None]
        for shard in shards:
            record = measure(stage, corpus, run, args, shard)
            records[f"{stage} {shard}" if shard else stage] = record
            print(f"  {stage + (' ' + shard if shard else ''):<18} {describe(record)}", flush=True)
        if STAGES[stage].per_shard:
            records[stage] = worst_shard([records[f"{stage} {s}"] for s in shards])
    return records


def worst_shard(records: list[dict]) -> dict:
    """A per-shard stage's summary: the largest peak, the slowest time, ok only if every shard was."""
    bad = [r["status"] for r in records if r["status"] != "ok"]
    return {
        "status": bad[0] if bad else "ok",
        "peak_mb": max(r["peak_mb"] for r in records),
        "seconds": max(r.get("seconds", float("nan")) for r in records),
    }


# ---------------------------------------------------------------------------------------------
# The table


def ratio_text(small: dict, large: dict, limit_mb: float) -> tuple[str, float | None]:
    """The peak-memory ratio large / small as text, and whether it is within the bar (None: no
    ratio). A stage over the limit at the large size misses the bar; its RSS when refused gives a
    lower bound of the ratio when above the small size's peak ('over' otherwise)."""
    if small.get("status") != "ok":
        return "n/a", None
    if large.get("status") == "ok":
        ratio = large["peak_mb"] / small["peak_mb"]
        return f"{ratio:.2f}", ratio
    if large.get("status") == "over limit" or large["peak_mb"] >= 0.9 * limit_mb:
        bound = large["peak_mb"] / small["peak_mb"]
        return (f">= {bound:.2f}" if bound > 1 else "over"), float("inf")
    return "n/a", None


def print_table(results: dict[int, dict[str, dict]], stages: list[str], args: argparse.Namespace) -> bool:
    """The per-stage table of the smallest and largest size; True when every stage met the bar."""
    small_n, large_n = min(results), max(results)
    small, large = results[small_n], results[large_n]
    limit_mb = args.memory_limit_gb * 1024
    # Then evaluate's first shard alone: the same file at every size.
    rows = stages + [k for k in small if k.startswith("evaluate ")][:1]
    print(f"\nPeak RSS (MB) and seconds per stage (each in its own process; limit {limit_mb:.0f} MB)")
    header = (
        f"{'stage':<22}{'MB @' + str(small_n):>12}{'s @' + str(small_n):>11}"
        f"{'MB @' + str(large_n):>13}{'s @' + str(large_n):>12}{'ratio':>8}  bar <= {args.max_ratio}"
    )
    print(header)
    print("-" * len(header))
    all_met = True
    for row in rows:
        a, b = small.get(row), large.get(row)
        if a is None or b is None:
            continue
        text, ratio = ratio_text(a, b, limit_mb)
        met = ratio is not None and ratio <= args.max_ratio
        all_met &= met or row.startswith("evaluate ")
        label = f"{row} (max of {args.eval_shards})" if row in STAGES and STAGES[row].per_shard else row
        print(
            f"{label:<22}{cell(a, 'peak_mb', 0):>12}{cell(a, 'seconds', 1):>11}"
            f"{cell(b, 'peak_mb', 0):>13}{cell(b, 'seconds', 1):>12}{text:>8}  "
            f"{'ok' if met else 'MISSED' if ratio is not None else '-'}"
            f"{'' if b['status'] == 'ok' else '  (' + b['status'] + f' at {large_n})'}"
        )
    for n, records in sorted(results.items()):
        train = records.get("train", {})
        if train.get("status") == "ok" and train.get("loading_share") is not None:
            print(
                f"train at {n}: data loading {100 * train['loading_share']:.1f}% of step time "
                f"(goal <= 10%; {train['loader_workers']} loader worker(s)), "
                f"{train['step_ms']:.0f} ms per step, {train['outside_loop_s']:.1f} s outside the "
                f"training loop (start-up, final checkpoint)"
            )
    return all_met


def cell(record: dict, key: str, digits: int) -> str:
    """A table cell: the value; for a stage that did not finish, 'over limit' or '-' for its peak
    and, in parentheses, the seconds it ran."""
    value, status = record.get(key), record.get("status")
    if status == "ok":
        return f"{value:.{digits}f}"
    if key == "peak_mb":
        return "over limit" if status == "over limit" else "-"
    return "-" if value is None else f"({value:.{digits}f})"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="corpus sizes in videos, comma-separated")
    parser.add_argument("--stages", default=",".join(STAGES), help="stages to run, comma-separated")
    parser.add_argument("--steps", type=int, default=50, help="training steps")
    parser.add_argument("--eval-shards", type=int, default=3, help="shards evaluated per size")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch and BLAS threads per stage (1: on a shared machine, idle "
        "threads of a busy CPU spin and slow small operations many times)",
    )
    parser.add_argument(
        "--memory-limit-gb", type=float, default=6.0, help="data segment limit of every stage's process (RLIMIT_DATA)"
    )
    parser.add_argument("--timeout-s", type=float, default=900.0, help="a stage's process is killed after this")
    parser.add_argument("--max-ratio", type=float, default=1.2, help="the bar on peak RSS, largest / smallest size")
    parser.add_argument("--shard-size", type=int, default=1000, help="videos per shard")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path("/tmp/groundprobe_corpus_scale"),
        help="where the synthetic corpora and the stages' outputs live (reused)",
    )
    parser.add_argument("--json", type=Path, help="also write every record to this file")
    parser.add_argument(
        "--analysis-captions",
        type=int,
        help="candidate captions per video of the tables that context_effects and "
        "lexical_ols read (default: the corpus's 8; 256, config segments."
        "candidates, keeps every 5-s start of the 20-60-s videos, ~36 per video); "
        "generated once per value from the cached shards' videos and manifest",
    )
    parser.add_argument(
        "--accumulator-mb",
        type=int,
        help="lexical_ols's accumulator budget (MiB; default: config.yaml's "
        "analysis.lexical_ols.accumulator_mb), to measure its time cost",
    )
    # The measured process's arguments (the benchmark starts itself with them).
    parser.add_argument("--child", choices=list(STAGES), help=argparse.SUPPRESS)
    for name in ("--pool", "--run", "--result", "--shard"):
        parser.add_argument(name, help=argparse.SUPPRESS)
    parser.add_argument("--videos", type=int, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    if args.child:
        child_main(args)
        return
    sizes = sorted(int(n) for n in args.sizes.split(","))
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = sorted(set(stages) - set(STAGES))
    if unknown:
        raise SystemExit(f"unknown stage(s) {', '.join(unknown)}; known: {', '.join(STAGES)}")
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    spec = CorpusSpec(
        shard_size=args.shard_size,
        length_s=int(config["segments"]["length_s"]),
        max_tokens=int(config["segments"]["max_tokens"]),
    )
    results = {n: run_size(spec, n, stages, args, config) for n in sizes}
    if args.json:
        args.json.write_text(json.dumps({str(n): r for n, r in results.items()}, indent=1))
    met = print_table(results, stages, args)
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
