"""Benchmark: what opening a FeatureStore costs per video, and the HDF5 chunk layout's disk waste.

Builds synthetic feature shards in the real layout (one HDF5 file per shard, one float16 dataset
``(n_seconds, dim)`` per video at the root, chunks of ``feature_chunk_rows`` rows, 11-character
ids), with a small ``dim`` (default 8) to save disk: the index does not depend on it. Video lengths
are log-normal with a mean of about 204 s (YouTube-600K's 3.4 min), 1 to 7,200 s. One template
shard is written and copied per shard with its datasets renamed to that shard's ids; the 3D
stream's shards are byte copies of the 2D ones (separate files, same ids). The first
``--sizes[0] / --videos-per-shard`` shards form the small store.

Each case runs in a fresh interpreter so that its RSS is its own, measured after the imports:

- ``open N``: ``FeatureStore(shards_2d, shards_3d)`` over N videos: seconds, RSS growth (VmRSS
  after minus before; peak VmHWM too), bytes per video; then ``seconds()`` of ``--reads`` random
  videos: seconds, files opened, RSS growth.
- ``for_videos``: a job reading ``--reads`` videos of the largest store that live in
  ``--job-shards`` shards builds ``FeatureStore.for_videos`` from ``{video id: shard}`` per stream
  and reads them: files opened (counted by wrapping ``h5py.File``) against the store's files;
  also for ``--reads`` videos drawn from the whole store.

Then the chunk-allocation ratio (``dataset.id.get_storage_size()`` / raw bytes) for a range of
lengths and for the template shard's length distribution, old layout (``min(n, 256)`` rows per
chunk) against the new one, measured on datasets written here.

Not run in CI. Measured 2026-12-03 on the 2-core CPU machine (shared with other jobs), dim 8,
shards of 1,000 videos::

    python benchmarks/feature_store.py      # 3 min (load average ~18 from other jobs), 1.2 GB of shards

    FeatureStore(2d shards, 3d shards): opening | reading random videos
       videos files open_s RSS+MB peak+MB RSS_B/video held_B/video | reads ms/read files_opened RSS+MB
        10000    20   0.20    1.8     3.6       190.1         35.8 |  1000    3.03           20   38.7
       100000   200   2.00    8.7     8.7        91.0         35.3 |  1000    4.48          200   17.9
    ratios 100000 / 10000 videos: RSS growth at opening 4.8, heap held 9.9, opening time 10.1;
    marginal RSS per video 80 B

    FeatureStore.for_videos over the 100000-video store (200 files):
      1000 videos living in 3 shards: 6 files opened to index (0.11 s), 6 to read them (2.10 s), RSS +14.0 MB
      1000 videos drawn from the whole store: 200 files opened to index (0.61 s), 200 to read them
      (5.30 s), RSS +22.8 MB

    chunk allocation / raw bytes:  length_s  old(min(n,256))  new(ceil(n/ceil(n/256)))
           1   1.000   1.000
           5   1.000   1.000
          60   1.000   1.000
         255   1.000   1.000
         256   1.000   1.000
         257   1.992   1.004
         300   1.707   1.000
         400   1.280   1.000
         511   1.002   1.002
         513   1.497   1.000
        1000   1.024   1.000
        3600   1.067   1.000
        7200   1.031   1.003
      a shard of 1000 log-normal lengths (mean 195 s), old layout: 1.183 x the data
      a shard of 1000 log-normal lengths (mean 195 s), new layout: 1.001 x the data

Reading: the index holds 35 B per video (two streams of 11-byte ids and 1-byte file numbers, and
the 11-byte common ids), so held heap scales 9.9x for 10x the videos; RSS growth also carries a
constant ~1 MB (HDF5's first file) and transient sorting memory, ~80 B per video at the margin.
The store this replaced held an h5py Dataset per video: +2.1 GB RSS and 3.6 s for 10K videos
(issue 16's table). Each open file holds ~2 MB once its videos have been read (metadata cache
capped at 256 KiB; HDF5's default reached ~13 MB), so reading RSS is bounded by max_open_files
(32): 20 files open at 10K, 32 at 100K. A read costs one or two file openings (~1.3 ms each here)
when its shard is not among the open files (the 100K case: 200 files, 32 open).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import h5py
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from groundprobe.features.extract import feature_chunk_rows  # noqa: E402
from groundprobe.features.store import FeatureStore  # noqa: E402

ID_ALPHABET = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"))
LENGTHS_S = [1, 5, 60, 255, 256, 257, 300, 400, 511, 513, 1000, 3600, 7200]


def video_lengths(n: int, rng: np.random.Generator) -> np.ndarray:
    """Log-normal video lengths in seconds, mean about 204 s, clipped to 1..7,200."""
    return np.clip(rng.lognormal(np.log(150), 0.8, n), 1, 7200).astype(int)


def write_template(path: Path, lengths: np.ndarray, dim: int, chunk_rows) -> None:
    """A shard of ``len(lengths)`` videos named t000000...; ``chunk_rows(n)`` rows per chunk."""
    rng = np.random.default_rng(1)
    with h5py.File(path, "w") as h5:
        for i, n in enumerate(lengths):
            h5.create_dataset(
                f"t{i:06d}", data=rng.normal(size=(n, dim)).astype(np.float16), chunks=(chunk_rows(int(n)), dim)
            )


def build_store(folder: Path, n_videos: int, per_shard: int, dim: int) -> list[str]:
    """Shards ``2d/SSSSS.h5`` and ``3d/SSSSS.h5`` of ``n_videos`` unique random 11-character ids
    (reused when there); returns every id in shard order."""
    ids_file = folder / "ids.npy"
    if ids_file.exists():
        return np.load(ids_file).tolist()
    rng = np.random.default_rng(0)
    codes = np.unique(rng.integers(0, 64**5, n_videos * 2, dtype=np.int64))[:n_videos]
    assert len(codes) == n_videos
    rng.shuffle(codes)
    digits = np.hstack(
        [
            (codes[:, None] // 64 ** np.arange(5)) % 64,  # 5 unique, then 6 random
            rng.integers(0, 64, (n_videos, 6)),
        ]
    )
    ids = ["".join(row) for row in ID_ALPHABET[digits]]
    template = folder / "template.h5"
    write_template(template, video_lengths(per_shard, rng), dim, feature_chunk_rows)
    for stream in ("2d", "3d"):
        (folder / stream).mkdir(parents=True, exist_ok=True)
    for shard, start in enumerate(range(0, n_videos, per_shard)):
        path_2d = folder / "2d" / f"{shard:05d}.h5"
        shutil.copyfile(template, path_2d)
        with h5py.File(path_2d, "a") as h5:
            for i, video_id in enumerate(ids[start : start + per_shard]):
                h5.move(f"t{i:06d}", video_id)
        shutil.copyfile(path_2d, folder / "3d" / f"{shard:05d}.h5")
    np.save(ids_file, np.array(ids))
    return ids


def rss_kb() -> tuple[int, int]:
    """(VmRSS, VmHWM) of this process in kB."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def count_file_opens() -> list[str]:
    """Make every h5py.File opening append its path to the returned list."""
    opened: list[str] = []

    class CountingFile(h5py.File):
        def __init__(self, name, *args, **kwargs):
            opened.append(str(name))
            super().__init__(name, *args, **kwargs)

    h5py.File = CountingFile
    return opened


def child(case: dict) -> dict:
    """One measured case (run in a fresh interpreter): see the module docstring."""
    folder, n_shards, reads = Path(case["folder"]), case["n_shards"], case["reads"]
    ids = np.load(folder / "ids.npy")[: n_shards * case["per_shard"]].tolist()
    shards = {s: [str(folder / s / f"{k:05d}.h5") for k in range(n_shards)] for s in ("2d", "3d")}
    # for_videos: the videos of the first job_shards shards, or drawn from all
    pool = ids[: case["job_shards"] * case["per_shard"]] if case.get("job_shards") else ids
    drawn = np.random.default_rng(2).choice(len(pool), reads, replace=False)
    wanted = [pool[i] for i in drawn]
    locations = [{pool[i]: shards[s][i // case["per_shard"]] for i in drawn} for s in ("2d", "3d")]
    opened = count_file_opens()

    def open_store() -> FeatureStore:
        if case["kind"] == "open":
            return FeatureStore(shards["2d"], shards["3d"])
        return FeatureStore.for_videos(*locations)

    rss0, _ = rss_kb()
    start = time.perf_counter()
    store = open_store()
    open_s = time.perf_counter() - start
    rss1, hwm1 = rss_kb()
    opened_at_open = len(opened)
    start = time.perf_counter()
    rows = sum(len(store.seconds(video_id)) for video_id in wanted)
    read_s = time.perf_counter() - start
    rss2, _ = rss_kb()
    store.close()
    tracemalloc.start()  # the heap a second store holds once open (its index: arrays of bytes)
    held = open_store()
    held_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return {
        "videos": len(held.video_ids),
        "open_s": open_s,
        "open_rss_kb": rss1 - rss0,
        "held_bytes": held_bytes,
        "open_peak_kb": hwm1 - rss0,
        "read_s": read_s,
        "read_rss_kb": rss2 - rss1,
        "rows": rows,
        "files_opened_at_open": opened_at_open,
        "files_opened_reading": len(set(opened[opened_at_open:])),
        "files": 2 * n_shards,
    }


def run_child(case: dict) -> dict:
    result = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(case)], stdout=subprocess.PIPE, check=True, cwd=REPO
    )
    return json.loads(result.stdout)


def storage_ratio(h5: h5py.File, n: int, dim: int, chunk_rows) -> float:
    """Allocated bytes / raw bytes of an ``(n, dim)`` float16 dataset in chunks of ``chunk_rows(n)``."""
    name = f"d{len(h5)}"
    dataset = h5.create_dataset(name, shape=(n, dim), dtype=np.float16, chunks=(chunk_rows(n), dim))
    dataset[...] = 1  # every chunk written, so allocated
    return dataset.id.get_storage_size() / (n * dim * 2)


def old_chunk_rows(n: int) -> int:
    """The layout before: ``min(n, 256)`` rows per chunk."""
    return min(n, 256)


def chunk_table(folder: Path, dim: int, per_shard: int) -> None:
    with h5py.File(folder / "chunks.h5", "w") as h5:
        print("\nchunk allocation / raw bytes:  length_s  old(min(n,256))  new(ceil(n/ceil(n/256)))")
        for n in LENGTHS_S:
            print(
                f"  {n:>6}  {storage_ratio(h5, n, dim, old_chunk_rows):6.3f}  "
                f"{storage_ratio(h5, n, dim, feature_chunk_rows):6.3f}"
            )
    lengths = video_lengths(per_shard, np.random.default_rng(0))
    raw = lengths.sum() * dim * 2
    for label, rows in (("old", old_chunk_rows), ("new", feature_chunk_rows)):
        path = folder / f"shard_{label}.h5"
        write_template(path, lengths, dim, rows)
        with h5py.File(path) as h5:
            allocated = sum(h5[name].id.get_storage_size() for name in h5)
        print(
            f"  a shard of {per_shard} log-normal lengths (mean {lengths.mean():.0f} s), {label} layout: "
            f"{allocated / raw:.3f} x the data"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[10_000, 100_000])
    parser.add_argument("--videos-per-shard", type=int, default=1000)
    parser.add_argument("--dim", type=int, default=8)
    parser.add_argument("--reads", type=int, default=1000)
    parser.add_argument("--job-shards", type=int, default=3)
    parser.add_argument("--dir", type=Path, help="keep the shards here (reused when there)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.dir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        per = args.videos_per_shard
        start = time.perf_counter()
        build_store(folder, args.sizes[1], per, args.dim)
        print(
            f"{args.sizes[1]} videos x 2 streams in shards of {per}, dim {args.dim}: "
            f"built in {time.perf_counter() - start:.0f} s"
        )
        base = {"folder": str(folder), "per_shard": per, "reads": args.reads}
        opened = {}
        print("\nFeatureStore(2d shards, 3d shards): opening | reading random videos")
        print("   videos files open_s RSS+MB peak+MB RSS_B/video held_B/video | reads ms/read files_opened RSS+MB")
        for size in args.sizes:
            r = opened[size] = run_child(base | {"kind": "open", "n_shards": size // per})
            print(
                f"  {r['videos']:>7} {r['files']:>5} {r['open_s']:6.2f} {r['open_rss_kb'] / 1024:6.1f} "
                f"{r['open_peak_kb'] / 1024:7.1f} {r['open_rss_kb'] * 1024 / r['videos']:11.1f} "
                f"{r['held_bytes'] / r['videos']:12.1f} | {args.reads:>5} "
                f"{r['read_s'] * 1000 / args.reads:7.2f} {r['files_opened_reading']:>12} "
                f"{r['read_rss_kb'] / 1024:6.1f}"
            )
        small, large = (opened[size] for size in args.sizes)
        margin_kb = large["open_rss_kb"] - small["open_rss_kb"]
        print(
            f"ratios {args.sizes[1]} / {args.sizes[0]} videos: RSS growth at opening "
            f"{large['open_rss_kb'] / max(small['open_rss_kb'], 1):.1f}, heap held "
            f"{large['held_bytes'] / small['held_bytes']:.1f}, opening time "
            f"{large['open_s'] / small['open_s']:.1f}; marginal RSS per video "
            f"{margin_kb * 1024 / (large['videos'] - small['videos']):.0f} B"
        )
        n_shards = args.sizes[1] // per
        print(f"\nFeatureStore.for_videos over the {args.sizes[1]}-video store ({2 * n_shards} files):")
        for job_shards, what in (
            (args.job_shards, f"living in {args.job_shards} shards"),
            (0, "drawn from the whole store"),
        ):
            r = run_child(base | {"kind": "for_videos", "n_shards": n_shards, "job_shards": job_shards})
            print(
                f"  {args.reads} videos {what}: {r['files_opened_at_open']} files opened to index "
                f"({r['open_s']:.2f} s), {r['files_opened_reading']} to read them "
                f"({r['read_s']:.2f} s), RSS +{(r['open_rss_kb'] + r['read_rss_kb']) / 1024:.1f} MB"
            )
        chunk_table(folder, args.dim, per)


if __name__ == "__main__":
    main()
