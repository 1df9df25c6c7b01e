"""Benchmark: blockwise CUPID similarity (groundprobe.curation.curate) against one full matrix product.

On random unit-normalised float32 video means (the curation stage's input) it times, each variant
in a fresh process (multiprocessing 'spawn', so one variant's memory cannot hide another's):
  blockwise k-NN   nearest_sources over --block source videos at a time (the workflow's way),
  average sim      average_similarity (one product with the mean target vector),
  full product     T @ S.T held whole plus torch.topk on it (what the blocks avoid at scale),
and prints wall seconds, (target, source) pairs per second, milliseconds per million pairs, the
process's peak resident memory and its growth over the data alone (ru_maxrss), on CUDA also
torch.cuda.max_memory_allocated, and the ratios blockwise / full product. The blockwise top-k
similarities are checked against the full product's.

    python benchmarks/curation_similarity.py                                 # 100K x 1K x 1024, auto
    python benchmarks/curation_similarity.py --sources 1000000 --targets 10000 --device cuda

Measured 2026-11-29 (the date of 52da885, the README commit that first recorded the figures; 2-core development machine,
2 threads, CPU; the first command): the blockwise k-NN pass (blocks of 16,384 source videos, a running top-10 per
target) 9.7 s, i.e. 97 ms per million (target, source) pairs, 1.26x the single full product with topk (7.7 s; 1.11x in a
quieter run), with the same top-k; memory growth over the data 82 MB blockwise against 395 MB for the full product
(which grows with source x target, the blocks with block x target). average sim is one product with the mean target
vector: 0.05 s. At 1M x 10K videos that is about 16 minutes per k-NN pass on this CPU, with memory bounded by the block
size.

Measured 2026-12-04 on a lent NVIDIA H200 (torch 2.11.0+cu130, 16 cores), the second command with
--threads 8:

    variant            wall s   Mpairs/s  ms/Mpairs  peak RSS MB  growth MB  CUDA peak MB
    blockwise k-NN      1.889     5294.1      0.189         5148        322           840
    average sim         0.690    14500.7      0.069         4864         37            96
    full product        1.012     9882.9      0.101         4918         91         42125
    blockwise / full product: time 1.87x, CUDA peak 0.02x; top-k equal: True
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import time

import numpy as np
import torch

from groundprobe.curation.curate import average_similarity, nearest_sources, source_blocks
from groundprobe.device import resolve_device

VARIANTS = ("blockwise k-NN", "average sim", "full product")


def unit_means(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    """(n, dim) float32 rows of unit length, normalised in place (no float64 copy of the matrix)."""
    means = rng.standard_normal((n, dim), dtype=np.float32)
    means /= np.sqrt(np.einsum("ij,ij->i", means, means))[:, None]
    return means


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (Linux reports ru_maxrss in kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_variant(variant: str, args: dict) -> dict:
    """Run one variant on freshly generated data in this (spawned) process; returns its figures."""
    torch.set_num_threads(args["threads"])
    device = resolve_device(args["device"])
    rng = np.random.default_rng(0)
    sources = unit_means(rng, args["sources"], args["dim"])
    targets = unit_means(rng, args["targets"], args["dim"])
    ids = [f"s{i}" for i in range(args["sources"])]
    # Warm-up: thread pool, cuBLAS handles and lazy initialisation stay out of the timing.
    warm = torch.as_tensor(targets[:64], device=device)
    (warm @ warm.T).cpu()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    data_rss = peak_rss_mb()
    start = time.perf_counter()
    if variant == "blockwise k-NN":
        _, _, sims = nearest_sources(targets, source_blocks(ids, sources, args["block"]), args["k"], device)
    elif variant == "average sim":
        average_similarity(targets, source_blocks(ids, sources, args["block"]), device)
        sims = None
    else:
        scores = torch.as_tensor(targets, device=device) @ torch.as_tensor(sources, device=device).T
        sims = torch.topk(scores, args["k"], dim=1).values.cpu().numpy()  # .cpu() waits for CUDA
    wall_s = time.perf_counter() - start
    return {
        "wall_s": wall_s,
        "peak_rss_mb": peak_rss_mb(),
        "rss_growth_mb": peak_rss_mb() - data_rss,
        "cuda_peak_mb": (torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None),
        "sims": sims,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=100_000, help="source videos")
    parser.add_argument("--targets", type=int, default=1_000, help="target videos")
    parser.add_argument("--dim", type=int, default=1024, help="embedding dimension D")
    parser.add_argument("--block", type=int, default=16_384, help="source videos per block")
    parser.add_argument("--k", type=int, default=10, help="neighbours per target video")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args()
    device = resolve_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu, {args.threads} threads"
    pairs = args.sources * args.targets
    print(
        f"device: {name}; torch {torch.__version__}; {args.sources} sources x {args.targets} targets "
        f"x D={args.dim}, block {args.block}, k={args.k}; full score matrix "
        f"{pairs * 4 / 2**20:.0f} MiB, source means {args.sources * args.dim * 4 / 2**20:.0f} MiB"
    )
    context = multiprocessing.get_context("spawn")
    results = {}
    for variant in VARIANTS:
        with context.Pool(1) as pool:
            results[variant] = pool.apply(run_variant, (variant, vars(args) | {"device": str(device)}))
    cuda = device.type == "cuda"
    print(
        f"{'variant':<16}{'wall s':>9}{'Mpairs/s':>11}{'ms/Mpairs':>11}{'peak RSS MB':>13}"
        f"{'growth MB':>11}" + (f"{'CUDA peak MB':>14}" if cuda else "")
    )
    for variant, result in results.items():
        print(
            f"{variant:<16}{result['wall_s']:>9.3f}{pairs / result['wall_s'] / 1e6:>11.1f}"
            f"{result['wall_s'] * 1e3 / (pairs / 1e6):>11.3f}{result['peak_rss_mb']:>13.0f}"
            f"{result['rss_growth_mb']:>11.0f}" + (f"{result['cuda_peak_mb']:>14.0f}" if cuda else "")
        )
    blockwise, full = results["blockwise k-NN"], results["full product"]
    memory = "cuda_peak_mb" if cuda else "rss_growth_mb"
    print(
        f"blockwise / full product: time {blockwise['wall_s'] / full['wall_s']:.2f}x, "
        f"{'CUDA peak' if cuda else 'RSS growth'} {blockwise[memory] / max(full[memory], 1):.2f}x"
    )
    print(
        "blockwise top-k similarities match the full product's: "
        f"{np.allclose(blockwise['sims'], full['sims'], atol=1e-5)}"
    )


if __name__ == "__main__":
    main()
