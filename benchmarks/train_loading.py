"""Benchmark: the share of training step time spent waiting for data, streamed from the shards.

Writes synthetic shards in the pipeline's layout (per stream one HDF5 feature file per shard, one
float16 dataset per video, chunks of up to 256 rows; per shard a segment index written by
groundprobe.captions.segments.write_segment_index from a segment table like rule segments makes: up to 256
distinct 5-second windows per video, 1 to 32 tokens each), then, per number of loader workers:
trains with groundprobe.model.train.train_model in this process (the real step), and consumes the same
kind of batches with a stand-in step of a fixed duration that holds no CPU (a sleep, as a GPU
step leaves the CPU to the workers). Prints milliseconds per step, of which waiting for the next
batch, that share, and for the stand-ins the first wait (the worker's start: fork, opening the
store, the first batch) and the median of the others (steady state). Last, the time to read one
batch's features in-process, as BatchReader reads them (FeatureStore.windows: only the drawn
windows' rows) and as it did before (FeatureStore.seconds: whole videos, then clip_windows), the
same batches. The batches and weights are the same for every number of workers
(tests/model/test_train.py); only the wait changes.

Settings: demo-like (features 1280 + 1024 = 2304-d, videos of 20-40 s, vocabulary 2,000, batches
of 16 videos x 8 segments, the model of config.yaml) and paper-like (2048 + 1024 = 3072-d,
videos of 60-340 s (mean 200 s, YouTube-600K's 3.4 min), vocabulary 61,000, 16 x 8). Shards are
read through the page cache (written just before), as on a node whose disk keeps up.

    python benchmarks/train_loading.py                     # both settings, 0 vs 1 worker, 60 steps
    python benchmarks/train_loading.py --steps 200 --workers 0 1 2 --stand-in-ms 50 10 5

Measured 2026-12-03 with ``python benchmarks/train_loading.py --steps 200 --workers 0 1`` (300
videos in 3 shards, 2 torch threads) on the shared 2-core CPU machine under a load average of 3-5
from other jobs, which inflates the real steps several-fold (the demo's own step is ~50 ms);
figures from one run:

    setting     step           workers  ms/step  wait ms wait share first ms median ms
    demo-like   training             0    378.4     31.9       8.4%
    demo-like   training             1    453.2      8.7       1.9%
    demo-like   stand-in 50 ms       1     59.6      8.0      13.4%    122.2      6.03
    demo-like   stand-in 10 ms       1     29.9     18.1      60.5%    221.4     17.26
    demo-like   a batch's features read in-process: windows 15.8 ms, whole videos 11.7 ms, ratio 1.356
    paper-like  training             0    870.8     35.0       4.0%
    paper-like  training             1   1009.8      9.2       0.9%
    paper-like  stand-in 50 ms       1    111.1     54.3      48.9%    432.8     31.30
    paper-like  stand-in 10 ms       1     88.5     74.6      84.2%    339.9     66.46
    paper-like  a batch's features read in-process: windows 63.0 ms, whole videos 136.2 ms, ratio 0.463

An earlier run of the same code at ``--steps 60`` under a load average of ~1 (real steps near
the demo's): demo-like training 46.2 ms/step with 0 workers (44.8% waiting), 56.5 ms/step with 1
(12.6%, the 60 steps carrying the worker's start); stand-in 50 ms 9.7%; paper-like training
2.8% with 1 worker, stand-in 50 ms 11.7%; reading windows / whole videos 1.115 (demo-like) and
0.487 (paper-like). Before this reading (BatchReader read whole videos; ``--steps 60 --workers
0 1`` of the benchmark as it was, load ~2-6): demo-like 2.2% and paper-like 1.3% with 1 worker
at CPU steps of 0.8 and 1.4 s; the demo's own training log: 20.8% at ~60 ms steps.

What the figures say: windows halve the read at YouTube lengths and change nothing at the demo's
(8 windows of 5 s cover most of a 30-s video). With one worker the steady wait is the DataLoader's
handover of a batch (5.9 MB of clips mapped from the worker: ~3 ms on this machine, measured
apart with a dataset that does no work; plus drawing the plan), ~4-6 ms a step; the worker's
start adds 0.1-0.4 s once. So a ~50-ms CPU step waits ~8-13%, a long CPU step (paper-like) ~1-3%,
and a GPU-short step (10 ms) waits most of the time with one worker: it needs more workers (and
the machine's CPUs for them) or a handover cheaper than a new shared-memory segment per batch.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from groundprobe.features.store import FeatureStore  # noqa: E402
from groundprobe.config import load_yaml  # noqa: E402
from groundprobe.io import file_sha256  # noqa: E402
from groundprobe.captions.segments import SEGMENT_COLUMNS, SegmentIndex, write_segment_index  # noqa: E402
from groundprobe.model.batches import (
    BatchReader,
    TrainingVideos,
    clip_windows,
    plan_batch,  # noqa: E402
    planned_batches,
    training_videos,
)
from groundprobe.model.train import train_model  # noqa: E402
from groundprobe.settings import ModelSettings, TrainSettings  # noqa: E402

SETTINGS = {
    "demo-like": {"dims": (1280, 1024), "seconds": (20, 40), "vocab": 2_000},
    "paper-like": {"dims": (2048, 1024), "seconds": (60, 340), "vocab": 61_000},
}
LENGTH_S, CANDIDATES, MAX_TOKENS = 5, 256, 32
MODEL = ModelSettings(word_dim=300, joint_dim=256)


def write_shards(
    directory: Path,
    n_videos: int,
    n_shards: int,
    dims: tuple[int, int],
    seconds: tuple[int, int],
    vocab: int,
    seed: int = 0,
) -> dict:
    """Feature files of both streams and segment indexes of ``n_shards`` shards."""
    rng = np.random.default_rng(seed)
    files = {"segments": [], "features_2d": [], "features_3d": []}
    for shard in range(n_shards):
        ids = [f"s{shard}v{k:05d}" for k in range(shard, n_videos, n_shards)]
        lengths = rng.integers(seconds[0], seconds[1] + 1, size=len(ids))
        for stream, dim in zip(("features_2d", "features_3d"), dims):
            path = directory / f"{stream}_{shard}.h5"
            with h5py.File(path, "w") as h5:
                for video_id, n in zip(ids, lengths.tolist()):
                    features = rng.standard_normal((n, dim), dtype=np.float32).astype(np.float16)
                    h5.create_dataset(video_id, data=features, chunks=(min(n, 256), dim))
            files[stream].append(str(path))
        rows = []
        for video_id, n in zip(ids, lengths.tolist()):
            starts = np.sort(rng.choice(n - LENGTH_S + 1, min(CANDIDATES, n - LENGTH_S + 1), replace=False))
            for segment, start in enumerate(starts.tolist()):
                tokens = rng.integers(1, vocab + 1, size=rng.integers(1, MAX_TOKENS + 1))
                rows.append(
                    (
                        video_id,
                        segment,
                        start,
                        start + LENGTH_S,
                        0.5,
                        len(tokens),
                        " ".join(map(str, tokens.tolist())),
                        "",
                    )
                )
        index = directory / f"segments_{shard}.h5"
        write_segment_index(
            pd.DataFrame(rows, columns=SEGMENT_COLUMNS),
            LENGTH_S,
            [file_sha256(files[s][-1]) for s in ("features_2d", "features_3d")],
            index,
        )
        files["segments"].append(str(index))
    return files


def all_videos(files: dict, vocab: int) -> TrainingVideos:
    """Every video of the shards as training videos."""
    ids = []
    for path in files["segments"]:
        with SegmentIndex(path) as index:
            ids.append(index.videos()[0])
    return training_videos(files["segments"], np.unique(np.concatenate(ids)), LENGTH_S, vocab)


def reader_of(files: dict, vocab: int, videos: TrainingVideos) -> BatchReader:
    streams = (files["features_2d"], files["features_3d"])
    with FeatureStore(*streams) as store:
        dim = store.seconds(store.video_ids[0]).shape[1]
    return BatchReader(videos.index_files, streams, LENGTH_S, vocab, dim)


def read_costs(files: dict, vocab: int, n_batches: int) -> dict:
    """Milliseconds to read the features of a batch (16 videos x 8 windows) in this process, as
    BatchReader reads them (``FeatureStore.windows``: each video's windows only) and as it did
    before (``FeatureStore.seconds``, the whole video, then the windows cut out), the same planned
    batches; each way timed twice, alternately, keeping the second (files open, caches warm)."""
    videos = all_videos(files, vocab)
    rng = np.random.default_rng(1)
    wanted = []
    for _ in range(n_batches):
        plan = plan_batch(rng, videos, 16, 8)
        for shard, row, segments in zip(plan.shard.tolist(), plan.row.tolist(), plan.segments):
            with SegmentIndex(videos.index_files[shard]) as index:
                video = index.video(row)
            wanted.append((video.video_id, video.starts[segments]))
    ways = {
        "windows_ms": lambda store, video_id, starts: store.windows(video_id, starts, LENGTH_S),
        "whole_ms": lambda store, video_id, starts: clip_windows(video_id, store.seconds(video_id), starts, LENGTH_S),
    }
    costs = {}
    with FeatureStore(files["features_2d"], files["features_3d"]) as store:
        for _ in range(2):
            for way, read in ways.items():
                started = time.perf_counter()
                for video_id, starts in wanted:
                    read(store, video_id, starts)
                costs[way] = 1e3 * (time.perf_counter() - started) / n_batches
    return costs


def stand_in_once(files: dict, vocab: int, steps: int, workers: int, step_ms: float) -> dict:
    """Batches from ``workers`` loader workers consumed by a stand-in step of ``step_ms`` that
    holds no CPU (a sleep, as a GPU step leaves the CPU to the workers); waiting per step."""
    videos = all_videos(files, vocab)
    batches = planned_batches(np.random.default_rng(0), videos, reader_of(files, vocab, videos), 16, 8, steps, workers)
    waits, started = [], time.perf_counter()
    for _ in range(steps):
        asked = time.perf_counter()
        next(batches)
        waits.append(time.perf_counter() - asked)
        time.sleep(step_ms / 1e3)
    total = time.perf_counter() - started
    batches.close()
    return {
        "workers": workers,
        "step_ms": 1e3 * total / steps,
        "wait_ms": 1e3 * sum(waits) / steps,
        "share": sum(waits) / total,
        "first_ms": 1e3 * waits[0],
        "median_ms": 1e3 * float(np.median(waits[1:])),
    }


def train_once(directory: Path, files: dict, vocab: int, steps: int, workers: int, threads: int) -> dict:
    """Train ``steps`` steps from the shards; milliseconds per step and waiting for batches."""
    videos = all_videos(files, vocab)
    settings = replace(
        TrainSettings.from_config(load_yaml(REPO / "config.yaml")["train"], "train"),
        steps=steps,
        batch_videos=16,
        segments_per_video=8,
        lr=1e-3,
        margin=0.1,
        checkpoint_every=10**9,
        log_every=steps,
        seed=0,
        device="cpu",
        loader_workers=workers,
    )
    torch.set_num_threads(threads)
    name = f"w{workers}"
    started = time.perf_counter()
    summary = train_model(
        videos,
        (files["features_2d"], files["features_3d"]),
        vocab,
        MODEL,
        settings,
        LENGTH_S,
        directory / f"{name}.pt",
        directory / f"{name}.resume",
        directory / f"{name}.log.tsv",
    )
    total = time.perf_counter() - started
    (directory / f"{name}.resume").unlink()
    return {
        "workers": workers,
        "step_ms": 1e3 * summary["seconds"] / steps,
        "wait_ms": 1e3 * summary["loading_seconds"] / steps,
        "share": summary["loading_seconds"] / summary["seconds"],
        "total_s": total,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--videos", type=int, default=300)
    parser.add_argument("--shards", type=int, default=3)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the training process")
    parser.add_argument(
        "--stand-in-ms",
        type=float,
        nargs="*",
        default=[50.0, 10.0],
        help="stand-in steps (a sleep) to run besides the real training step",
    )
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    args = parser.parse_args()
    print(
        f"{'setting':<11} {'step':<14} {'workers':>7} {'ms/step':>8} {'wait ms':>8} "
        f"{'wait share':>10} {'first ms':>8} {'median ms':>9}"
    )
    for name in args.settings:
        setting = SETTINGS[name]
        with tempfile.TemporaryDirectory(prefix="train_loading_") as tmp:
            directory = Path(tmp)
            files = write_shards(
                directory, args.videos, args.shards, setting["dims"], setting["seconds"], setting["vocab"]
            )
            runs = [
                (
                    "training",
                    [
                        train_once(directory, files, setting["vocab"], args.steps, workers, args.threads)
                        for workers in args.workers
                    ],
                )
            ]
            runs += [
                (
                    f"stand-in {ms:g} ms",
                    [
                        stand_in_once(files, setting["vocab"], args.steps, workers, ms)
                        for workers in args.workers
                        if workers
                    ],
                )
                for ms in args.stand_in_ms
            ]
            costs = read_costs(files, setting["vocab"], args.steps)
        for step, results in runs:
            for result in results:
                startup = f" {result['first_ms']:>8.1f} {result['median_ms']:>9.2f}" if "first_ms" in result else ""
                print(
                    f"{name:<11} {step:<14} {result['workers']:>7} {result['step_ms']:>8.1f} "
                    f"{result['wait_ms']:>8.1f} {result['share']:>10.1%}{startup}",
                    flush=True,
                )
        print(
            f"{name:<11} a batch's features read in-process: windows {costs['windows_ms']:.1f} ms, "
            f"whole videos {costs['whole_ms']:.1f} ms, ratio {costs['windows_ms'] / costs['whole_ms']:.3f}"
        )


if __name__ == "__main__":
    main()
