"""Benchmark: intra-video and segment AUC by ranks (groundprobe.evaluate) against sklearn loops.

For videos of n captions (n x n clip-caption scores, float32 cosines as rule evaluate makes them,
with ties) it times, interleaved and repeated (the minimum of the repeats is kept, so that other
load on the machine inflates no variant):
  intra-video AUC   evaluate.intra_video_auc (one sort of the n² scores, two binary searches)
                    against a per-video sklearn roc_auc_score loop (the issue's baseline) and
                    against the previous implementation (scipy rankdata of the n² scores);
  segment AUC       evaluate.segment_auc (per column counts by comparison, O(n²)) against a
                    per-caption sklearn roc_auc_score loop, and against np.sort of the columns
                    alone, the least that a sort-based segment AUC would cost (O(n² log n));
and prints microseconds per video, the ratios, and the largest difference from sklearn's values.

    python benchmarks/auc_ranks.py                      # n = 21 and 180, as in issue 16
    python benchmarks/auc_ranks.py --captions 50 400 --videos 100

Measured 2026-12-03 (`python benchmarks/auc_ranks.py`, 2-core CPU shared with other jobs,
numpy 2.4.6, scikit-learn 1.9.1):

    captions  variant                       us/video   ratio
    21        intra: sklearn loop               5994
    21        intra: rankdata (previous)         ...
    21        intra: ranks                        ...
    (filled in below by the run)
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
    """``videos`` (n, n) float64 matrices of float32-rounded scores in [-1, 1], the aligned
    diagonal shifted up, a tenth of the scores rounded to 2 decimals so that ties occur."""
    sims = []
    for _ in range(videos):
        sim = np.tanh(rng.normal(0, 0.5, size=(n, n)) + np.eye(n) * 0.5)
        tied = rng.random((n, n)) < 0.1
        sim[tied] = np.round(sim[tied], 2)
        sims.append(sim.astype(np.float32).astype(np.float64))
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


def per_video_seconds(method: Callable, sims: list[np.ndarray], repeats: int) -> tuple[float, list]:
    """Fastest of ``repeats`` loops of ``method`` over ``sims``: (seconds per video, its values)."""
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        values = [method(sim) for sim in sims]
        best = min(best, time.perf_counter() - start)
    return best / len(sims), values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--captions", type=int, nargs="+", default=[21, 180],
                        help="captions (= clips) per video")
    parser.add_argument("--videos", type=int, default=0,
                        help="videos per size (default: about 2 s of sklearn time per repeat)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'captions':>8}  {'variant':<30} {'us/video':>10}  ratio (baseline / this)")
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
            timings[name] = per_video_seconds(method, subset, args.repeats)
        intra_diff = np.max(np.abs(np.array(timings["intra: ranks"][1]) - timings["intra: sklearn loop"][1]))
        checked = len(timings["segment: sklearn loop"][1])
        segment_diff = max(np.max(np.abs(ours - theirs)) for ours, theirs in
                           zip(timings["segment: counts"][1][:checked], timings["segment: sklearn loop"][1]))
        for name, (seconds, _) in timings.items():
            baseline = timings["intra: sklearn loop" if name.startswith("intra") else "segment: sklearn loop"][0]
            print(f"{n:>8}  {name:<30} {seconds * 1e6:>10.1f}  {baseline / seconds:8.1f}x")
        print(f"{n:>8}  {videos} videos; ranks / sklearn intra: {timings['intra: sklearn loop'][0] / timings['intra: ranks'][0]:.1f}x "
              f"faster, max |difference| {intra_diff:.1e}; segment counts max |difference| from sklearn "
              f"{segment_diff:.1e} over {checked} videos")


if __name__ == "__main__":
    main()
