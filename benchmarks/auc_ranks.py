"""Benchmark: intra-video and segment AUC by ranks (groundprobe.evaluate) against sklearn loops.

For videos of n captions (n x n clip-caption scores, float32 cosines as rule evaluate makes them,
with ties) it times each call in CPU seconds of this process and keeps the median over videos
and repeats (so that other load on the machine inflates no variant):
  intra-video AUC   evaluate.intra_video_auc (n² scores binned by a monotone map, a table
                    lookup per score, only the scores sharing a bin with an aligned one sorted;
                    all n² sorted below 12,000 scores)
                    against a per-video sklearn roc_auc_score loop (the issue's baseline) and
                    against the previous implementation (scipy rankdata of the n² scores);
  segment AUC       evaluate.segment_auc (per column counts by comparison, O(n²)) against a
                    per-caption sklearn roc_auc_score loop, and against np.sort of the columns
                    alone, the least that a sort-based segment AUC would cost (O(n² log n));
and prints the median CPU microseconds per video, the ratios, and the largest difference from sklearn's values.

    python benchmarks/auc_ranks.py                      # n = 21 and 180, as in issue 16
    python benchmarks/auc_ranks.py --captions 50 400 --videos 100

Measured 2026-12-04 (`PYTHONPATH=. python benchmarks/auc_ranks.py`, run twice, 2-core CPU shared
with other jobs, load average 2-3; numpy 2.4.6, scikit-learn 1.9.1; CPU microseconds per video):

    captions  variant                       median us    min us  ratio: baseline / this, median (min)
          21  intra: sklearn loop              2169.9    2020.3       1.0x (1.0x)
          21  intra: rankdata (previous)        132.6     125.7      16.4x (16.1x)
          21  intra: ranks                       28.6      27.2      75.9x (74.2x)
          21  segment: sklearn loop           43749.7   42151.8       1.0x (1.0x)
          21  segment: sort columns only          4.2       3.8   10499.1x (11011.4x)
          21  segment: counts                    16.5      16.0    2651.4x (2629.6x)
          21  314 videos; max |ranks - sklearn| intra 2.2e-16, segment 1.1e-16 (14 videos)
         180  intra: sklearn loop              7153.6    6788.9       1.0x (1.0x)
         180  intra: rankdata (previous)       3511.1    3342.9       2.0x (2.0x)
         180  intra: ranks                      165.2     155.4      43.3x (43.7x)
         180  segment: sklearn loop          408513.3  386110.6       1.0x (1.0x)
         180  segment: sort columns only        206.6     132.6    1977.4x (2911.5x)
         180  segment: counts                    84.6      81.2    4828.6x (4754.4x)
         180  62 videos; max |ranks - sklearn| intra 1.1e-16, segment 1.1e-16 (2 videos)

Second run: at 180 captions ranks 169.2 us, 41.7x (43.2x min); at 21, 76.4x. Short of the issue's
50x at 180. The previous implementation (np.sort of the n² float32 scores, two searchsorted)
measured 240 us, 30-33x, in the same sessions (33.8x on a quiet machine, load 0.1); 113x at 21.

What was tried at 180 captions (medians of CPU time in this process, same data, load 1.5-5, so
+-10% between runs; the sklearn loop 7000-8200 us):
  - sort of order-preserving int32 keys of the float32 scores (+0.0 folds -0.0; bits ^= (bits >>
    31) & 0x7FFFFFFF), in place on one buffer: the sort alone 145-170 us against 185-240 us for
    the floats; with the key ops and searches 175-180 us, ~45x at best. Sorting the raw bits
    (negatives in reverse order, counted from the sign split) saves the key ops: 233-240 us under
    load, no better than the float sort there.
  - np.sort kinds: stable int32 (timsort) 1700 us, int16 radix 244 us; torch.sort 1800 us.
  - per-row sorts: rows of 90 sort in 61-86 us, rows of 180 in 94 us, but counting the n aligned
    scores in each sorted row needs n² binary searches (searchsorted of the n² scores into the n
    aligned ones: 480 us row-sorted, 1100 us unsorted): no merge in NumPy is cheaper than the sort.
  - binning (adopted): ~10 passes over the n² scores (min, max, subtract, scale, int32 cast,
    table take ~30 us, mask, sum, compress ~20 us) plus a table of n²/2 bins (bincount +
    cumsum ~10-20 us) and a sort of the ~3% exactly counted scores: 155-170 us. n²/4 and n² bins
    measured the same or slower; int64 tables (arrays over 128 KB) slower. Below ~100 captions
    its fixed costs exceed the sort (21 captions: 84 us binned vs 35 us sorted), so intra_video_auc
    sorts all scores below 12,000 scores. A per-row merge, NumPy radix or a compiled loop (numba
    is not a dependency) would be needed for 50x.
At 180 captions the bins' take, mask and compress and the table's cumsum are most of the time;
batching videos would not help, the per-call overhead being ~20 us. Segment AUC by comparisons,
O(n²), is cheaper than any sort-based variant (sorting the columns alone costs more).
"""

from __future__ import annotations

import argparse
import time
from typing import Callable

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score

from groundprobe.evaluate import intra_video_auc, segment_auc


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
    parser.add_argument("--captions", type=int, nargs="+", default=[21, 180],
                        help="captions (= clips) per video")
    parser.add_argument("--videos", type=int, default=0,
                        help="videos per size (default: about 2 s of sklearn time per repeat)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'captions':>8}  {'variant':<28} {'median us':>10} {'min us':>9}  ratio: baseline / this, median (min)")
    for n in args.captions:
        # sklearn costs about 6 ms + 0.8 us per score and video here: about 2 s per repeat.
        videos = args.videos or max(20, int(2.0 / (6e-3 + 8e-7 * n * n)))
        sims = similarity_matrices(rng, n, videos)
        timings = {}
        for name, method in (("intra: sklearn loop", sklearn_intra), ("intra: rankdata (previous)", rankdata_intra),
                             ("intra: ranks", intra_video_auc), ("segment: sklearn loop", sklearn_segment),
                             ("segment: sort columns only", column_sort), ("segment: counts", segment_auc)):
            # Fewer videos for the per-caption sklearn loop: n calls per video.
            subset = sims if name != "segment: sklearn loop" else sims[:max(2, videos // n)]
            timings[name] = per_call_seconds(method, subset, args.repeats)
        intra_diff = np.max(np.abs(np.array(timings["intra: ranks"][2]) - timings["intra: sklearn loop"][2]))
        checked = len(timings["segment: sklearn loop"][2])
        segment_diff = max(np.max(np.abs(ours - theirs)) for ours, theirs in
                           zip(timings["segment: counts"][2][:checked], timings["segment: sklearn loop"][2]))
        for name, (median, minimum, _) in timings.items():
            base_median, base_min, _ = timings["intra: sklearn loop" if name.startswith("intra") else "segment: sklearn loop"]
            print(f"{n:>8}  {name:<28} {median * 1e6:>10.1f} {minimum * 1e6:>9.1f}  "
                  f"{base_median / median:8.1f}x ({base_min / minimum:.1f}x)")
        print(f"{n:>8}  {videos} videos; max |ranks - sklearn| intra {intra_diff:.1e}, segment "
              f"{segment_diff:.1e} ({checked} videos)")

if __name__ == "__main__":
    main()
