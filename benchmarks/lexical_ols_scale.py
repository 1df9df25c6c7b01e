"""Benchmark: peak memory and time of the lexical OLS against the number of captions.

Writes synthetic per-caption shards (Parquet, the columns of groundprobe.evaluation.segment_auc's per-caption
table; SHARD_CAPTIONS captions per shard, whole videos of 50-150 captions, 1-3 of CATEGORIES
labels per video, 8-16 tokens per caption drawn from a Zipf law over VOCABULARY words, AUC with a
planted word effect) for each size, then fits them in a fresh process each (so that the peak RSS
is the fit's own: imports, one shard's parse, the accumulators) with the configured defaults
(max_words 2000, min_videos 5, min_captions 200). Prints seconds and peak RSS per size and their
ratio to the smallest size: peak RSS must not grow with the number of captions.

    PYTHONPATH=. python benchmarks/lexical_ols_scale.py                    # 10K, 100K, 1M captions
    PYTHONPATH=. python benchmarks/lexical_ols_scale.py --sizes 10000 100000 --cluster

Measured 2026-12-03 on the 2-core CPU shared with ~7 other jobs (load 10-16: times are inflated
and noisy), peak RSS includes ~640 MB of imports (torch, then imported through label_names, which
has lived in the torch-free groundprobe.evaluation.auc_by_category since 2026-12-04):

    PYTHONPATH=. python benchmarks/lexical_ols_scale.py --sizes 10000 100000 1000000 --max-words 300
     captions  seconds  peak_rss_mb  above_imports_mb  accumulators_mb  rss_ratio  above_imports_ratio
        10093     5.21          721              82.7             9.10       1                    1
       100435     14.3          728              90.4             9.17       1.01                 1.09
      1005665      108          730              92.5             9.17       1.01                 1.12

    PYTHONPATH=. python benchmarks/lexical_ols_scale.py --sizes 10000 100000 1000000 --cluster
     captions  seconds  peak_rss_mb  above_imports_mb  accumulators_mb  rss_ratio  above_imports_ratio
        10093     22.2          940               302             47.6       1                    1
       100435      149        1.71e3            1071              398       1.82                 3.54
      1005665      308        1.70e3            1065              398       1.81                 3.52

Reading: memory does not grow with captions once every fitted scope's vocabulary has reached
max_words (max_words 300: from 10K captions on, 1.01x peak RSS from 10K to 1M). With max_words
2000, 10K captions are too few for 2000-word category vocabularies (the X'X accumulators hold
48 MB at 10K, 398 MB at 100K: 13 scopes, most at p = 2004); beyond that the accumulators are
capped by the vocabularies (peak RSS 1M ÷ 100K: 1.00) and by ``accumulator_bytes`` (then 1 GiB by
default per batch of scopes, more passes when exceeded). Peak above the imports ≈ (1 + cluster) ×
the batch's X'X + the solve of one scope (a few p × p arrays, ~200 MB at p = 2004) + one shard's parse.

Not re-measured since 2026-12-04's changes (benchmarks/corpus_scale.py has the figures after
them): the accumulators now hold X'X's word block as int32 co-occurrence counts, upper triangle
only, ~2·p² bytes per scope instead of 8·p² (the accumulators_mb column above is Σ 8·p²; the
script now prints ols.accumulator_bytes_of), one scope's solve holds one dense X'X and
its factor's inverse, and the library's default budget is 128 MiB (the rule's config default).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

SHARD_CAPTIONS = 10_000
CATEGORIES = 12
VOCABULARY = 20_000


def write_shards(directory: Path, captions: int, seed: int = 0) -> list[Path]:
    """Synthetic shards of about ``captions`` captions in total (whole videos per shard)."""
    rng = np.random.default_rng(seed)
    words = np.array([f"w{i}" for i in range(VOCABULARY)])
    zipf = 1.0 / np.arange(1, VOCABULARY + 1)
    zipf /= zipf.sum()
    paths, video = [], 0
    for shard in range(max(1, captions // SHARD_CAPTIONS)):
        lengths = []
        while sum(lengths) < SHARD_CAPTIONS:
            lengths.append(int(rng.integers(50, 151)))
        n = sum(lengths)
        video_ids = np.repeat([f"v{video + i:07d}" for i in range(len(lengths))], lengths)
        labels = np.repeat(
            [
                ";".join(f"c{c:02d}" for c in sorted(set(rng.integers(0, CATEGORIES, rng.integers(1, 4)))))
                for _ in lengths
            ],
            lengths,
        )
        video += len(lengths)
        n_tokens = rng.integers(8, 17, n)
        drawn = rng.choice(VOCABULARY, size=int(n_tokens.sum()), p=zipf)
        tokens = [" ".join(words[part]) for part in np.split(drawn, np.cumsum(n_tokens)[:-1])]
        planted = np.array([" w3 " in f" {t} " for t in tokens])
        rel_position = np.concatenate([np.arange(k) / k for k in lengths])
        table = pd.DataFrame(
            {
                "video_id": video_ids,
                "split": "validation",
                "labels": labels,
                "verticals": "",
                "instructional": 0,
                "segment": np.concatenate([np.arange(k) for k in lengths]),
                "start_s": 0.0,
                "rel_position": rel_position,
                "n_tokens": n_tokens,
                "tokens": tokens,
                "segment_auc": 0.6 + 0.05 * planted + 0.1 * rng.standard_normal(n),
            }
        )
        path = directory / f"{shard:05d}.parquet"
        table.to_parquet(path, index=False)
        paths.append(path)
    return paths


def fit(directory: Path, cluster: bool, max_words: int) -> dict:
    """Fit the shards of ``directory`` in this process: seconds, peak RSS (MB) overall and above
    the imports, captions, fitted scopes, overall words, and the X'X accumulators of the fitted
    scopes (MB, ols.accumulator_bytes_of: the part of memory that grows with the
    vocabulary up to max_words, held a batch of at most the library's accumulator_bytes at a time)."""
    from groundprobe.analysis.lexical_captions import INPUT_COLUMNS
    from groundprobe.analysis.lexical_ols import lexical_ols
    from groundprobe.analysis.ols import accumulator_bytes_of

    imports_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # pandas, pyarrow, scipy
    paths = sorted(directory.glob("*.parquet"))
    start = time.perf_counter()
    _, words, ftest, _ = lexical_ols(
        lambda: (pd.read_parquet(p, columns=INPUT_COLUMNS) for p in paths),
        "validation",
        min_videos=5,
        max_words=max_words,
        top_words=10,
        position_bins=5,
        min_captions=200,
        cluster_by_video=cluster,
    )
    seconds = time.perf_counter() - start
    fitted = ftest[ftest["skipped_reason"] == ""]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "seconds": seconds,
        "peak_rss_mb": peak_mb,
        "above_imports_mb": peak_mb - imports_mb,
        "captions": int(ftest["n"].iloc[0]),
        "fitted_scopes": int((ftest["skipped_reason"] == "").sum()),
        "words_overall": int(ftest["k_words"].iloc[0]),
        "accumulators_mb": sum(
            accumulator_bytes_of(4 + int(k), int(n), cluster) for k, n in zip(fitted["k_words"], fitted["n"])
        )
        / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--cluster", action="store_true", help="with standard errors clustered by video")
    parser.add_argument("--max-words", type=int, default=2000, help="analysis.lexical_ols.max_words")
    parser.add_argument("--fit", type=Path, help=argparse.SUPPRESS)  # child: fit one directory
    args = parser.parse_args()
    if args.fit:
        print(json.dumps(fit(args.fit, args.cluster, args.max_words)))
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            directory = Path(tmp) / str(size)
            directory.mkdir()
            write_shards(directory, size)
            child = subprocess.run(
                [sys.executable, __file__, "--fit", str(directory), "--max-words", str(args.max_words)]
                + (["--cluster"] if args.cluster else []),
                check=True,
                capture_output=True,
                text=True,
            )
            rows.append(json.loads(child.stdout.strip().splitlines()[-1]))
            print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    table["rss_ratio"] = table["peak_rss_mb"] / table["peak_rss_mb"].iloc[0]
    table["above_imports_ratio"] = table["above_imports_mb"] / table["above_imports_mb"].iloc[0]
    table["time_ratio"] = table["seconds"] / table["seconds"].iloc[0]
    print(f"cluster_by_video={args.cluster}, max_words={args.max_words}, {SHARD_CAPTIONS} captions per shard")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))


if __name__ == "__main__":
    main()
