"""Benchmark: memory of streaming decode + feature extraction must not grow with video length.

Generates a short and a long synthetic video (ffmpeg testsrc2), runs the 2D and 3D feature
extraction of each in a fresh Python process, and reports per video: duration, seconds processed,
wall time, throughput (2D frames/s, 3D clips/s, end to end and decode only) and peak resident
memory. The ratio of peak memory (long / short) must stay <= --max-ratio; the exit status says
whether it did.

    python benchmarks/decode_feature_memory.py                      # config values, 1 vs 20 minutes
    python benchmarks/decode_feature_memory.py --long-minutes 3 --frame-size 32 --crop 112 --resize 128

Measured 2026-11-23 (the date of 2f553c1, the README commit that first recorded the figures; 2-core development
machine shared with other jobs, 2 threads; `python benchmarks/decode_feature_memory.py` with config.yaml's settings
then, EfficientNet-Lite0 224² and S3D 64²): peak RSS 1244 MB (1 min) vs 1319 MB (20 min), ratio 1.06
(target <= 1.2); ffmpeg stays at 60 MB; EfficientNet-Lite0 224² ~9-11 frames/s and S3D 64² ~3-6 clips/s.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def make_video(path: Path, minutes: float, width: int, height: int, fps: int) -> Path:
    """A synthetic H.264 video from ffmpeg's testsrc2 pattern (reused when already there)."""
    if not path.exists():
        subprocess.run(
            [
                "ffmpeg",
                "-v",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                f"testsrc2=size={width}x{height}:rate={fps}",
                "-t",
                str(minutes * 60),
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-pix_fmt",
                "yuv420p",
                str(path),
            ],
            check=True,
        )
    return path


def run_child(video: Path, job: dict) -> dict:
    """Run this script's child mode on ``video`` in a fresh interpreter; returns its measurements.
    ``job``: the streams to run and the features block (config form), as :func:`job_from` gives."""
    process = subprocess.run(
        [sys.executable, __file__, "--child", str(video), json.dumps(job)], stdout=subprocess.PIPE, cwd=REPO
    )
    if process.returncode != 0:
        raise RuntimeError(f"child failed on {video} (exit status {process.returncode})")
    return json.loads(process.stdout)


def watch_children_peak_rss(stop: threading.Event, peak_kb: list[int]) -> None:
    """Poll this process's children (ffmpeg) and keep the largest VmHWM seen, in kB.

    Not ``RUSAGE_CHILDREN``: Linux charges a child with the RSS of the process it was forked from.
    """
    parent = os.getpid()
    while not stop.wait(0.05):
        for entry in Path("/proc").iterdir():
            try:
                stat = (entry / "stat").read_text()
                if int(stat[stat.rindex(")") + 2 :].split()[1]) != parent:
                    continue
                status = (entry / "status").read_text()
            except (OSError, ValueError):
                continue
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    peak_kb[0] = max(peak_kb[0], int(line.split()[1]))


def child(video: str, job: dict) -> None:
    """Decode-only pass, then decode + features, for each stream of ``job`` (:func:`job_from`);
    print one JSON object."""
    import torch

    from groundprobe.features.decode import iter_clips_3d, iter_seconds_2d, probe_video
    from groundprobe.device import resolve_device
    from groundprobe.features.backbones import load_backbone
    from groundprobe.features.extract import extract_video_features
    from groundprobe.settings import FeatureSettings

    features = FeatureSettings.from_config(job["features"], "features")
    torch.set_num_threads(features.threads)
    stop, ffmpeg_peak_kb = threading.Event(), [0]
    watcher = threading.Thread(target=watch_children_peak_rss, args=(stop, ffmpeg_peak_kb), daemon=True)
    watcher.start()
    result: dict = {"duration_s": probe_video(video).duration_s}
    for stream in job["streams"]:
        decode = iter_seconds_2d if stream == "2d" else iter_clips_3d
        start = time.perf_counter()
        decoded = sum(len(batch) for batch in decode(video, features))
        decode_s = time.perf_counter() - start
        settings = features.stream(stream)
        backbone = load_backbone(
            settings.backbone, settings.weights, resolve_device(features.device), bf16_cpu=features.bf16_cpu
        )
        start = time.perf_counter()
        rows = extract_video_features(video, backbone, features)
        wall_s = time.perf_counter() - start
        result[stream] = {
            "seconds": len(rows),
            "wall_s": wall_s,
            "per_s": len(rows) / wall_s,
            "decode_per_s": decoded / decode_s,
        }
    stop.set()
    watcher.join()
    result["peak_rss_python_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["peak_rss_ffmpeg_mb"] = ffmpeg_peak_kb[0] / 1024
    print(json.dumps(result))


def job_from(args: argparse.Namespace) -> dict:
    """The streams to run and config.yaml's features block with the command line's overrides."""
    features = yaml.safe_load(Path(args.config).read_text())["features"]
    features["threads"] = args.threads or features["threads"]
    overrides = {
        "2d": {"resize": args.resize, "crop": args.crop, "weights": args.weights_2d},
        "3d": {"frame_size": args.frame_size, "weights": args.weights_3d},
    }
    for stream, values in overrides.items():
        features[stream].update({k: v for k, v in values.items() if v is not None})
    return {"streams": args.streams, "features": features}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", nargs=2, metavar=("VIDEO", "JOB_JSON"), help=argparse.SUPPRESS)
    parser.add_argument("--short-minutes", type=float, default=1.0)
    parser.add_argument("--long-minutes", type=float, default=20.0)
    parser.add_argument("--width", type=int, default=320, help="source video width (pixels)")
    parser.add_argument("--height", type=int, default=240, help="source video height (pixels)")
    parser.add_argument("--fps", type=int, default=30, help="source video frame rate")
    parser.add_argument("--streams", nargs="+", choices=["2d", "3d"], default=["2d", "3d"])
    parser.add_argument("--config", default=str(REPO / "config.yaml"))
    parser.add_argument("--threads", type=int, help="torch and decoder threads (default: config)")
    parser.add_argument("--resize", type=int, help="2D resize (default: config)")
    parser.add_argument("--crop", type=int, help="2D crop (default: config)")
    parser.add_argument("--frame-size", type=int, help="3D frame size (default: config)")
    parser.add_argument("--weights-2d", help="2D weights (default: config)")
    parser.add_argument("--weights-3d", help="3D weights (default: config)")
    parser.add_argument("--workdir", help="keep the generated videos here (default: a temp dir)")
    parser.add_argument("--max-ratio", type=float, default=1.2, help="allowed long/short peak RSS ratio")
    args = parser.parse_args()
    if args.child:
        child(args.child[0], json.loads(args.child[1]))
        return 0

    job = job_from(args)
    print("parameters:", json.dumps(job, sort_keys=True))
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(args.workdir or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        results = {}
        for label, minutes in (("short", args.short_minutes), ("long", args.long_minutes)):
            name = f"testsrc2_{args.width}x{args.height}_{args.fps}fps_{minutes:g}min.mp4"
            video = make_video(workdir / name, minutes, args.width, args.height, args.fps)
            results[label] = result = run_child(video, job)
            rates = "  ".join(
                f"{s}: {result[s]['seconds']} s in {result[s]['wall_s']:.1f} s wall = "
                f"{result[s]['per_s']:.2f} {'frames' if s == '2d' else 'clips'}/s "
                f"(decode alone {result[s]['decode_per_s']:.0f} video-seconds/s)"
                for s in args.streams
            )
            print(
                f"{label}: {result['duration_s']:.1f} s video  {rates}  peak RSS python "
                f"{result['peak_rss_python_mb']:.0f} MB, ffmpeg {result['peak_rss_ffmpeg_mb']:.0f} MB",
                flush=True,
            )
    ratio = results["long"]["peak_rss_python_mb"] / results["short"]["peak_rss_python_mb"]
    ffmpeg_ratio = results["long"]["peak_rss_ffmpeg_mb"] / results["short"]["peak_rss_ffmpeg_mb"]
    verdict = "OK" if max(ratio, ffmpeg_ratio) <= args.max_ratio else "FAIL"
    print(
        f"peak RSS ratio long/short: python {ratio:.3f}, ffmpeg {ffmpeg_ratio:.3f} "
        f"(target <= {args.max_ratio}): {verdict}"
    )
    return 0 if verdict == "OK" else 1


if __name__ == "__main__":
    sys.exit(main())
