"""Benchmark: intra-video and segment AUC by ranks (groundprobe.evaluation.auc) against sklearn loops.

For videos of n captions (n x n clip-caption scores, float32 cosines as rule evaluate makes them,
with ties) it times each call in CPU seconds of this process and keeps the median over videos
and repeats (so that other load on the machine inflates no variant):
  intra-video AUC   auc.intra_video_auc (n² scores binned by a monotone map, a table
                    lookup per score, only the scores sharing a bin with an aligned one sorted;
                    all n² sorted below 8,000 scores)
                    against a per-video sklearn roc_auc_score loop (the issue's baseline) and
                    against the previous implementation (scipy rankdata of the n² scores);
  segment AUC       auc.segment_auc (per column counts by comparison, O(n²)) against a
                    per-caption sklearn roc_auc_score loop, and against np.sort of the columns
                    alone, the least that a sort-based segment AUC would cost (O(n² log n));
and prints the median CPU microseconds per video, the ratios, and the largest difference from sklearn's values.

    python benchmarks/auc_ranks.py                      # n = 21 and 180, as in issue 16
    python benchmarks/auc_ranks.py --captions 50 400 --videos 100

Measured 2026-12-04 (`PYTHONPATH=. python benchmarks/auc_ranks.py`, run twice, 2-core CPU shared
with other jobs, load average 10-11; numpy 2.4.6, scikit-learn 1.9.1; CPU microseconds per video):

    captions  variant                       median us    min us  ratio: baseline / this, median (min)
          21  intra: sklearn loop              2535.5    2133.5       1.0x (1.0x)
          21  intra: rankdata (previous)        142.2     132.5      17.8x (16.1x)
          21  intra: ranks                       17.4      16.6     145.4x (128.8x)
          21  segment: sklearn loop           49023.2   46687.4       1.0x (1.0x)
          21  segment: sort columns only          4.4       3.9   11146.7x (11858.6x)
          21  segment: counts                    17.1      16.4    2869.9x (2851.8x)
          21  314 videos; max |ranks - sklearn| intra 2.2e-16, segment 1.1e-16 (14 videos)
         180  intra: sklearn loop              7786.3    7181.4       1.0x (1.0x)
         180  intra: rankdata (previous)       3604.5    3401.3       2.2x (2.1x)
         180  intra: ranks                      140.5     131.8      55.4x (54.5x)
         180  segment: sklearn loop          431323.6  403140.3       1.0x (1.0x)
         180  segment: sort columns only        201.0     131.9    2145.6x (3057.4x)
         180  segment: counts                    85.4      81.5    5048.0x (4945.1x)
         180  62 videos; max |ranks - sklearn| intra 1.1e-16, segment 1.1e-16 (2 videos)

Second run: at 180 captions ranks 147.3 us, 52.6x (53.1x min); at 21, 146.9x (127.6x min).

Intra-video AUC at 180 captions, what was tried (medians of CPU time in one run, same data; the
sklearn loop 7000-9500 us, +-10% between runs under load 1.5-12):
  - np.sort of the n² float32 scores and two searchsorted: 240 us, 30-33x. Sorting order-preserving
    int32 keys instead: ~45x at best; other sorts (stable, int16 radix, torch.sort) slower; per-row
    sorts then need n² binary searches (480-1100 us).
  - binning (~10 NumPy passes: min, max, subtract, scale, int32 cast, table take, mask, sum,
    compress; an int64 table of n²/2 bins cumsummed and cast to int32; the ~3% scores in bins of
    aligned ones sorted): 155-170 us, 42-43x.
  - adopted, the same binning with fewer calls and passes: 140-150 us, 52-55x. The product and its
    int32 truncation in one ufunc call (out=, casting="unsafe"), the table accumulated in int32 in
    place, int32 sums, range checks on Python floats, two binary searches of the (sorted) aligned
    scores among the exactly counted ones instead of one of them and their next floats up (no
    nextafter, concatenate, errstate: ~12 us less under load), and binning from 8,000 scores (the
    crossover with sorting them all; was 12,000).
  - measured, not better: bins spanning the aligned scores' range only, clipped, finiteness by
    np.isfinite (154 against 142 us: the clip and the check cost the two passes they save); a
    histogram of all n² bins (np.bincount) dotted with the cumulative aligned counts (215 us: a
    bincount over n² costs about twice the take, and the mask is still needed); np.floor_divide for
    the bins (638 us); n²/3, n²/4, n² bins (within 5%); an int16 table; int64 bin indices (the
    float32 -> int64 cast costs what the take saves).
  - not done: batching a shard's videos into shared NumPy calls. The calls' fixed costs are ~30 us
    of the ~145 us at 180 captions (measured on 20-caption videos forced through the binning);
    the passes over the n² scores (take ~30 us, compress ~20 us) are the rest.
Segment AUC by comparisons, O(n²), is cheaper than any sort-based variant (sorting the columns
alone costs more).
"""

from __future__ import annotations

import argparse
import time
from typing import Callable

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score

from groundprobe.evaluation.auc import intra_video_auc, segment_auc


def similarity_matrices(rng: np.random.Generator, n: int, videos: int) -> list[np.ndarray]:
    """``videos`` (n, n) float32 matrices (evaluate.score_video's type) of scores in [-1, 1], the
    aligned diagonal shifted up, a tenth of the scores rounded to 2 decimals so that ties occur."""
    sims = []
    for _ in range(videos):
        sim = np.tanh(rng.normal(0, 0.5, size=(n, n)) + np.eye(n) * 0.5)
        tied = rng.random((n, n)) < 0.1
        sim[tied] = np.round(sim[tied], 2)
        sims.append(sim.astype(np.float32))
    return sims


def sklearn_intra(sim: np.ndarray) -> float:
    return roc_auc_score(np.eye(len(sim), dtype=np.int8).ravel(), sim.ravel())


def rankdata_intra(sim: np.ndarray) -> float:
    """The previous implementation: average ranks of all n² scores, aligned rank sum."""
    n = len(sim)
    u_statistic = np.trace(rankdata(sim.ravel()).reshape(n, n)) - n * (n + 1) / 2
    return u_statistic / (n * (n * n - n))


def sklearn_segment(sim: np.ndarray) -> np.ndarray:
    eye = np.eye(len(sim), dtype=np.int8)
    return np.array([roc_auc_score(eye[:, j], sim[:, j]) for j in range(len(sim))])


def column_sort(sim: np.ndarray) -> np.ndarray:
    return np.sort(sim, axis=0)


def per_call_seconds(method: Callable, sims: list[np.ndarray], repeats: int) -> tuple[float, float, list]:
    """CPU seconds one call of ``method`` takes, median and minimum over videos and ``repeats``,
    and the values of the last repeat.

    CPU time of this process (time.process_time), not wall time, and the median, not the mean: on
    a machine shared with other jobs, wall time charges a call with the time slices of the others,
    and a short call hit by another process's cache traffic would weigh in a mean like a long one.
    The minimum is the nearest to an idle machine.
    """
    seconds = []
    for _ in range(repeats):
        values = []
        for sim in sims:
            start = time.process_time()
            values.append(method(sim))
            seconds.append(time.process_time() - start)
    return float(np.median(seconds)), float(np.min(seconds)), values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--captions", type=int, nargs="+", default=[21, 180], help="captions (= clips) per video")
    parser.add_argument(
        "--videos", type=int, default=0, help="videos per size (default: about 2 s of sklearn time per repeat)"
    )
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'captions':>8}  {'variant':<28} {'median us':>10} {'min us':>9}  ratio: baseline / this, median (min)")
    for n in args.captions:
        # sklearn costs about 6 ms + 0.8 us per score and video here: about 2 s per repeat.
        videos = args.videos or max(20, int(2.0 / (6e-3 + 8e-7 * n * n)))
        sims = similarity_matrices(rng, n, videos)
        timings = {}
        for name, method in (
            ("intra: sklearn loop", sklearn_intra),
            ("intra: rankdata (previous)", rankdata_intra),
            ("intra: ranks", intra_video_auc),
            ("segment: sklearn loop", sklearn_segment),
            ("segment: sort columns only", column_sort),
            ("segment: counts", segment_auc),
        ):
            # Fewer videos for the per-caption sklearn loop: n calls per video.
            subset = sims if name != "segment: sklearn loop" else sims[: max(2, videos // n)]
            timings[name] = per_call_seconds(method, subset, args.repeats)
        intra_diff = np.max(np.abs(np.array(timings["intra: ranks"][2]) - timings["intra: sklearn loop"][2]))
        checked = len(timings["segment: sklearn loop"][2])
        segment_diff = max(
            np.max(np.abs(ours - theirs))
            for ours, theirs in zip(timings["segment: counts"][2][:checked], timings["segment: sklearn loop"][2])
        )
        for name, (median, minimum, _) in timings.items():
            baseline = "intra: sklearn loop" if name.startswith("intra") else "segment: sklearn loop"
            base_median, base_min, _ = timings[baseline]
            print(
                f"{n:>8}  {name:<28} {median * 1e6:>10.1f} {minimum * 1e6:>9.1f}  "
                f"{base_median / median:8.1f}x ({base_min / minimum:.1f}x)"
            )
        print(
            f"{n:>8}  {videos} videos; max |ranks - sklearn| intra {intra_diff:.1e}, segment "
            f"{segment_diff:.1e} ({checked} videos)"
        )


if __name__ == "__main__":
    main()
