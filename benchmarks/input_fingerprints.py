"""Benchmark: what the local-input fingerprints (groundprobe.ingest.input_fingerprints) add to a DAG build.

Rules asr, features_2d and features_3d carry their shard's fingerprint of local caption or video
files as a param, computed at every DAG build (`snakemake -n` included). This measures, in one run:

  1. a corpus of remote sources (ytdlp, as YouTube-600K): --remote-videos rows in shards of
     --shard-size; the three params of every shard (one read of 4 manifest columns, then a set
     lookup per job), against one read of the 2 columns that groundprobe.ingest.manifest.manifest_shards
     already makes per DAG build;
  2. a corpus of local files: --local-videos rows, one caption file (~2 KB) and one video file
     (--video-kb) each; per video: the first build (every file hashed), a build with nothing
     changed (a stat and a cache lookup per file), and a build after touching every file (re-read,
     same fingerprint);

and prints seconds per build, microseconds per video and the ratios to the unchanged build.

    python benchmarks/input_fingerprints.py
    python benchmarks/input_fingerprints.py --remote-videos 800000 --local-videos 20000

Measured 2026-12-04 on the 2-core development machine (shared with other sessions' jobs),
`python benchmarks/input_fingerprints.py` (defaults: 800,000 remote videos; 20,000 local videos of
64 KB + 1,850 B in 20 shards of 1,000):

    remote, 800,000 videos, 800 shards: params of all jobs 0.23 s (0.29 us/video),
        manifest_shards's read 0.14 s (ratio 1.63)
    local, 20,000 videos:
      first build (hash all)      2.16 s     108.2 us/video  ratio to unchanged    7.1
      unchanged                   0.30 s      15.2 us/video  ratio to unchanged    1.0
      after touch (re-read)       3.19 s     159.6 us/video  ratio to unchanged   10.5
      unchanged, extrapolated to 800,000 local videos: 12.1 s

A remote corpus pays one 4-column read of the manifest per DAG build (0.3 us a video: ~0.25 s at
800K, ~2 s at YouTube-8M's 6.1M ids, against the 60 s budget of benchmarks/dag_scale.py). An
unchanged local corpus pays ~15 us a video, of which ~12 are the shard's row read
(read_shard_rows, ~12 ms a shard of 1,000, once per shard for both kinds) and the rest a stat per
file and the JSON cache; only after a touch or an edit are bytes read (the first build reads the
whole corpus once: ~0.1 ms per 66 KB here, i.e. disk speed for real videos).
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from groundprobe.ingest.input_fingerprints import shard_input_fingerprint
from groundprobe.ingest.manifest import MANIFEST_COLUMNS, manifest_shards, shard_name


def write_manifest(path: Path, sources: list[str], source_type: str, captions: list[str], shard_size: int) -> list[str]:
    """A manifest of one row per source, in shards of ``shard_size``; its shard names."""
    n = len(sources)
    table = pd.DataFrame({column: "" for column in MANIFEST_COLUMNS}, index=range(n))
    table["video_id"] = [f"v{i:010d}" for i in range(n)]
    table["source"], table["source_type"], table["captions"] = sources, source_type, captions
    table["title"], table["labels"], table["split"] = "a title of some words", "Cooking", "train"
    table["corpus"], table["shard"] = "source", np.arange(n) // shard_size
    table.to_csv(path, sep="\t", index=False)
    return [shard_name("source", shard) for shard in range(int(table["shard"].max()) + 1)]


def build(manifest: Path, shards: list[str], cache: Path) -> tuple[float, list[str]]:
    """Wall seconds of the params of one DAG build (asr, features_2d, features_3d per shard)."""
    start = time.perf_counter()
    prints = [
        shard_input_fingerprint(manifest, shard, kind, cache)
        for shard in shards
        for kind in ("captions", "videos", "videos")
    ]
    return time.perf_counter() - start, prints


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--remote-videos", type=int, default=800_000)
    parser.add_argument("--local-videos", type=int, default=20_000)
    parser.add_argument("--shard-size", type=int, default=1000)
    parser.add_argument("--video-kb", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        remote = root / "remote.tsv"
        n = args.remote_videos
        shards = write_manifest(remote, [f"{i:011d}" for i in range(n)], "ytdlp", [""] * n, args.shard_size)
        start = time.perf_counter()
        manifest_shards(remote)
        shards_read = time.perf_counter() - start
        seconds, _ = build(remote, shards, root / "cache")
        print(
            f"remote, {n:,} videos, {len(shards):,} shards: params of all jobs {seconds:.2f} s "
            f"({seconds / n * 1e6:.2f} us/video), manifest_shards's read {shards_read:.2f} s "
            f"(ratio {seconds / shards_read:.2f})"
        )

        n = args.local_videos
        files = root / "files"
        files.mkdir()
        video_bytes, caption = os.urandom(args.video_kb * 1024), b"1\n00:00:00,000 --> 00:00:01,000\nword\n" * 50
        videos, captions = [], []
        for i in range(n):
            videos.append(str(files / f"{i}.mp4"))
            captions.append(str(files / f"{i}.srt"))
            Path(videos[-1]).write_bytes(video_bytes)
            Path(captions[-1]).write_bytes(caption)
        local = root / "local.tsv"
        shards = write_manifest(local, videos, "local", captions, args.shard_size)
        cold, first = build(local, shards, root / "cache")
        warm, second = build(local, shards, root / "cache")
        for path in videos + captions:
            os.utime(path)
        touched, third = build(local, shards, root / "cache")
        assert first == second == third, "a fingerprint changed without a content change"
        print(f"local, {n:,} videos ({args.video_kb} KB + {len(caption)} B each), {len(shards)} shards:")
        for name, seconds in (
            ("first build (hash all)", cold),
            ("unchanged", warm),
            ("after touch (re-read)", touched),
        ):
            print(
                f"  {name:24s} {seconds:7.2f} s  {seconds / n * 1e6:8.1f} us/video  "
                f"ratio to unchanged {seconds / warm:6.1f}"
            )
        print(f"  unchanged, extrapolated to 800,000 local videos: {warm / n * 800_000:.1f} s")


if __name__ == "__main__":
    main()
