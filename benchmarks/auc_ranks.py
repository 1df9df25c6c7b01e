"""Benchmark: intra-video and segment AUC by ranks (groundprobe.evaluate) against sklearn loops.

For videos of n captions (n x n clip-caption scores, float32 cosines as rule evaluate makes them,
with ties) it times each call in CPU seconds of this process and keeps the median over videos
and repeats (so that other load on the machine inflates no variant):
  intra-video AUC   evaluate.intra_video_auc (one sort of the n² scores, two binary searches)
                    against a per-video sklearn roc_auc_score loop (the issue's baseline) and
                    against the previous implementation (scipy rankdata of the n² scores);
  segment AUC       evaluate.segment_auc (per column counts by comparison, O(n²)) against a
                    per-caption sklearn roc_auc_score loop, and against np.sort of the columns
                    alone, the least that a sort-based segment AUC would cost (O(n² log n));
and prints the median CPU microseconds per video, the ratios, and the largest difference from sklearn's values.

    python benchmarks/auc_ranks.py                      # n = 21 and 180, as in issue 16
    python benchmarks/auc_ranks.py --captions 50 400 --videos 100

Measured 2026-12-03 (`PYTHONPATH=. python benchmarks/auc_ranks.py`, 2-core CPU shared with other
jobs, load average 11; numpy 2.4.6, scikit-learn 1.9.1; CPU microseconds per video):

    captions  variant                       median us    min us  ratio: baseline / this, median (min)
          21  intra: sklearn loop              4937.7    2289.8       1.0x (1.0x)
          21  intra: rankdata (previous)        156.4     131.9      31.6x (17.4x)
          21  intra: ranks                       35.1      19.9     140.8x (115.1x)
          21  segment: sklearn loop           93589.7   74002.0       1.0x (1.0x)
          21  segment: sort columns only          6.6       4.0   14282.0x (18696.8x)
          21  segment: counts                    37.6      16.1    2488.1x (4596.7x)
          21  314 videos; max |ranks - sklearn| intra 2.2e-16, segment 1.1e-16 (14 videos)
         180  intra: sklearn loop             12824.8    8338.7       1.0x (1.0x)
         180  intra: rankdata (previous)       4585.9    3637.0       2.8x (2.3x)
         180  intra: ranks                      374.6     239.1      34.2x (34.9x)
         180  segment: sklearn loop          845157.3  757991.4       1.0x (1.0x)
         180  segment: sort columns only        339.1     138.7    2492.6x (5463.8x)
         180  segment: counts                   141.1      86.9    5989.4x (8722.4x)
         180  62 videos; max |ranks - sklearn| intra 1.1e-16, segment 1.1e-16 (2 videos)

Rerun 2026-12-04 on a quiet machine (load average 0.1, same command): at 180 captions the sklearn
loop 8236.9 us, ranks 243.5 us (33.8x median, 31.2x min), rankdata 2.2x; segment counts 5337x; at
21 captions ranks 113x. The shortfall against 50x is not the load. Sorting order-preserving int32
keys of the float32 scores (the bits with the sign folded) sorts in 137 us against 242 us for
the floats, ~170 us with the key transform and the searches, about 48x: measured in isolation,
not adopted.

At 180 captions the sort of the n² = 32,400 float32 scores is nearly all of intra_video_auc's
time (np.sort alone: 150 us at best, 190-310 us under this load): ranks are 34x sklearn here, short
of the issue's 50x; batching videos would not help, since the per-call overhead is ~20 us. A
monotone bucketing of the scores (uniform bins, exact comparisons only within the bins holding
an aligned score) was tried and measured no faster in numpy (bincount and gathers cost as much as
the sort). Segment AUC by comparisons, O(n²), is cheaper than any sort-based variant (sorting
the columns alone costs more).
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
