"""Benchmark: with N decoder processes, a feature job runs at min(model rate, N x one decoder's rate).

Feature extraction (groundprobe.features.extract.iter_shard_features) runs a stand-in model of a fixed
speed that holds no CPU: it sleeps len(batch) / rate seconds per batch (time.sleep releases the
GIL, as a GPU kernel does) and returns pixel samples as features. Videos are ffmpeg testsrc2
clips (640x360, 30 fps, H.264: YouTube-600K's 360p downloads) made in a temp dir. Each ffmpeg
decoder runs on one thread.

For each stream kind and N in --decoders:
- r1: one decoder's rate, measured with its own process (ParallelDecoder, N=1, nothing
  consuming but counting) just before each pipeline run;
- the stand-in's rate M = --model-factor x r1 (measured once per kind, before N=1);
- bound = min(M, N x r1): what the job should reach;
- decode-only: N decoders with nothing consuming (what this machine's cores give N of them);
- pipeline: items/s of iter_shard_features with N decoders and the stand-in; ratio = pipeline /
  bound;
- r1, bound, pipeline and ratio are medians over --repeats rounds of (r1, pipeline), interleaved
  so that both see the same load on a shared machine;
- serial: the serial path (extract_video_features: decode, then model, in one thread), once.
Features of every N are compared with the serial path's (arrays must be equal). Every rate is
steady-state: timed from the first batch on (its items not counted), leaving out the fill time
until the first batch (ffprobe, ffmpeg's start, one batch: about a second here, once per job,
which a shard of 1,000 videos amortises but a run of a few seconds would not).
Exit status 0 only if every ratio is >= --min-ratio (0.9) and every feature array is equal.

On a 2-core machine N decoders get at most 2 cores, so N x r1 is reachable only up to N = 2: with
the default --model-factor 1.6, bound is r1 for N = 1 (decoder-bound: decoding must overlap with the
model, as the serial path does not) and M = 1.6 r1 for N = 2 and 4 (model-bound: the decoders
together must outrun one decoder by 1.6x, and 4 of them on 2 cores must keep up as well as 2).

    python benchmarks/decoder_pipeline.py                     # 3d and 2d, N = 1, 2, 4
    python benchmarks/decoder_pipeline.py --kinds 3d --decoders 1 2 --videos 4 --seconds 4

Measured 2026-12-03, `PYTHONPATH=. python benchmarks/decoder_pipeline.py` on the 2-core
development machine while other jobs shared it (load average 4-9 during the run); 3D items are
clips (30 frames at 112x112), 2D items frames (1 fps, 256 -> 224), batches of 2 items:

    kind   N      r1       M   bound  decode-only  pipeline  serial  ratio  same features
    3d     1    7.37    7.89    7.37         5.34      6.23    2.80   0.84  yes
    3d     2    6.98    7.89    7.89         9.70      7.15    2.80   0.91  yes
    3d     4    7.30    7.89    7.89        16.29      7.23    2.80   0.92  yes
    2d     1    8.92   12.87    8.92         9.85      8.75    5.08   0.95  yes
    2d     2    9.53   12.87   12.87        10.81      9.30    5.08   0.72  yes
    2d     4    8.78   12.87   12.87        16.03      9.12    5.08   0.71  yes

Features were equal to the serial path's everywhere, and the pipeline beat the serial path by
1.7-2.6x, but the 0.9 target was met only for 3D at N = 2 and 4 (3D N = 1 reached 0.92 in an
earlier run at load 12, with batches of 4; here M was set from an r1 measured under more load,
so M was only 1.07 r1 and model and decoder took turns). 2D at N = 2 and 4 stays near 9 frames/s
although decode-only reaches 11-16: with 4-s videos a 2D decoder spends most of its time
starting ffprobe and ffmpeg for 4 frames, and where that time goes is not yet understood.
A 2D run with 12-s videos (`--kinds 2d --seconds 12 --repeats 1`, load average 3.5) gave ratios
0.70, 0.71, 0.89 for N = 1, 2, 4 (r1 23-26 frames/s, decode-only 23, 26, 53; pipeline 16.2,
28.3, 35.7; serial 14.1): decode-only of 2 decoders barely beat one, so the machine's load
varied within the run; the 2D shortfall is open.

Rerun 2026-12-04 on a quiet machine (load average 0.1-1.2, nothing else running), same
command; three runs:

    run                kind  N=1   N=2   N=4   (ratio)
    --kinds 2d         2d    1.05  0.91  0.89
    (both kinds)       3d    0.93  0.92  0.91   PASS
                       2d    1.00  0.91  0.91
    --kinds 2d         2d    0.96  0.93  0.91   PASS

(r1 13-19 items/s, decode-only of 2 decoders 1.8-2.1 x r1.) So the 2D shortfall above was the
machine's load: with the two cores free, 2 and 4 decoders keep the stand-in at 0.89-0.93 of its
rate, just at the 0.9 line on 2 cores where 4 decoders, the model's process and ffmpeg share
them; features equal every time.

Measured 2026-12-04 on the 16-core host of a lent H200 machine (the stand-in holds no GPU; torch
2.11, ffmpeg 6.0 static build), `PYTHONPATH=. python benchmarks/decoder_pipeline.py --repeats 3
--model-factor 6`: with a stand-in 6x one decoder, the bound is N x r1 for every N, so the
decoders' scaling is what is judged:

    kind   N      r1       M   bound  decode-only  pipeline  serial  ratio  same features
    3d     1   24.46  142.95   24.46        24.31     24.91   21.49   1.02  yes
    3d     2   25.19  142.95   50.39        53.74     52.58   21.49   1.05  yes
    3d     4   23.59  142.95   94.34       107.81    100.90   21.49   1.07  yes
    2d     1   31.05  185.01   31.05        32.56     30.51   28.88   0.98  yes
    2d     2   32.25  185.01   64.49        63.83     66.75   28.88   1.03  yes
    2d     4   33.62  185.01  134.49       177.65    132.80   28.88   1.01  yes

Every ratio >= 0.98 with cores to spare: the shortfalls above are the 2-core machine's.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from decode_feature_memory import make_video  # noqa: E402  (benchmarks/ is not a package)

from groundprobe.config import load_yaml  # noqa: E402
from groundprobe.features.parallel_decode import ParallelDecoder  # noqa: E402
from groundprobe.features.extract import extract_video_features, iter_shard_features  # noqa: E402
from groundprobe.settings import FeatureSettings  # noqa: E402

FEATURES = replace(
    FeatureSettings.from_config(load_yaml(Path(__file__).resolve().parents[1] / "config.yaml")["features"], "features"),
    decode_chunk_frames=64,
    threads=1,
)
SETTINGS = {  # feature settings per stream; threads = 1: one ffmpeg thread per decoder; small
    # batches keep the stream of batches fine-grained in runs of a few seconds
    "3d": replace(FEATURES, three_d=replace(FEATURES.three_d, fps=30, clip_seconds=1, frame_size=112, batch_size=2)),
    "2d": replace(FEATURES, two_d=replace(FEATURES.two_d, fps=1, resize=256, crop=224, batch_size=2)),
}
UNITS = {"3d": "clips/s", "2d": "frames/s"}


class StandInModel:
    """A backbone of fixed speed that holds no CPU: ``items_per_s`` items per second.

    ``model(batch)`` sleeps ``len(batch) / items_per_s`` seconds and returns ``dim`` evenly spaced
    pixels of each item as float32 ``(n, dim)`` features, so that features depend on the frames.
    """

    def __init__(self, kind: str, items_per_s: float, dim: int = 32):
        self.kind, self.items_per_s, self.dim = kind, items_per_s, dim
        self.device = torch.device("cpu")  # no copy to a GPU
        self.first_call: tuple[float, int] | None = None  # (perf_counter, items) of the first batch

    def __call__(self, batch: np.ndarray) -> torch.Tensor:
        if self.first_call is None:
            self.first_call = time.perf_counter(), len(batch)
        time.sleep(len(batch) / self.items_per_s)
        flat = batch.reshape(len(batch), -1)
        return torch.from_numpy(flat[:, :: flat.shape[1] // self.dim][:, : self.dim].astype(np.float32))


def decode_rate(paths: list[Path], kind: str, settings: FeatureSettings, decoders: int) -> float:
    """Items per second that ``decoders`` decoder processes deliver when nothing else runs, from
    the first batch's arrival on."""
    items, start = 0, None
    with ParallelDecoder(paths, kind, settings, decoders) as decoded:
        for event in decoded:
            if event.error is not None:
                raise event.error
            if event.frames is not None:
                if start is None:
                    start = time.perf_counter()
                else:
                    items += len(event.frames)
    return items / (time.perf_counter() - start)


def steady_rate(model: StandInModel, items: int) -> float:
    """Items per second from the model's first call on (that batch's items not counted)."""
    started, first_items = model.first_call
    model.first_call = None
    return (items - first_items) / (time.perf_counter() - started)


def items_of(features: list[np.ndarray], kind: str, settings: FeatureSettings) -> int:
    """Model items behind feature rows: a 2D row is fps frames, a 3D row one clip."""
    return sum(len(f) for f in features) * (settings.two_d.fps if kind == "2d" else 1)


def run_pipeline(
    paths: list[Path], model: StandInModel, settings: FeatureSettings, decoders: int
) -> tuple[float, list[np.ndarray]]:
    """Items per second of iter_shard_features with ``decoders`` processes, and its features."""
    features = []
    for _, rows, _ in iter_shard_features(paths, model, settings, decoders):
        if not isinstance(rows, np.ndarray):
            raise rows
        features.append(rows)
    return steady_rate(model, items_of(features, model.kind, settings)), features


def run_serial(paths: list[Path], model: StandInModel, settings: FeatureSettings) -> tuple[float, list[np.ndarray]]:
    """Items per second and features of the serial path (decode, then model, in one thread)."""
    features = [extract_video_features(path, model, settings) for path in paths]
    return steady_rate(model, items_of(features, model.kind, settings)), features


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", nargs="+", choices=["3d", "2d"], default=["3d", "2d"])
    parser.add_argument("--decoders", nargs="+", type=int, default=[1, 2, 4])
    parser.add_argument("--videos", type=int, default=8, help="videos per run (8: as many per decoder)")
    parser.add_argument("--seconds", type=float, default=4, help="length of each video")
    parser.add_argument(
        "--model-factor", type=float, default=1.6, help="stand-in model rate as a multiple of one decoder's rate"
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="rounds of (r1, pipeline) per N; the table shows medians"
    )
    parser.add_argument("--min-ratio", type=float, default=0.9)
    parser.add_argument("--workdir", help="keep the generated videos here (default: a temp dir)")
    args = parser.parse_args()
    torch.set_num_threads(1)  # the main process only normalises rows; the decoders need the cores

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.workdir or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        paths = [
            make_video(folder / f"testsrc2_640x360_{i}_{args.seconds:g}s.mp4", args.seconds / 60, 640, 360, 30)
            for i in range(args.videos)
        ]
        print(
            f"{args.videos} videos of {args.seconds:g} s, 640x360 at 30 fps; one ffmpeg thread "
            f"per decoder; stand-in model at {args.model_factor:g} x r1; medians of "
            f"{args.repeats} rounds"
        )
        print(
            f"{'kind':<5}{'N':>3}{'r1':>8}{'M':>8}{'bound':>8}{'decode-only':>13}"
            f"{'pipeline':>10}{'serial':>8}{'ratio':>7}  same features"
        )
        ok = True
        for kind in args.kinds:
            settings = SETTINGS[kind]
            model = StandInModel(kind, args.model_factor * decode_rate(paths, kind, settings, 1))
            serial_rate, serial = run_serial(paths, model, settings)
            for decoders in args.decoders:
                decode_only = decode_rate(paths, kind, settings, decoders)
                rounds, same = [], True
                for _ in range(args.repeats):  # interleaved, so that r1 and pipeline share the load
                    r1 = decode_rate(paths, kind, settings, 1)
                    rate, features = run_pipeline(paths, model, settings, decoders)
                    same &= all(np.array_equal(a, b) for a, b in zip(features, serial, strict=True))
                    bound = min(model.items_per_s, decoders * r1)
                    rounds.append((r1, bound, rate, rate / bound))
                r1, bound, rate, ratio = np.median(np.array(rounds), axis=0)
                ok &= same and ratio >= args.min_ratio
                print(
                    f"{kind:<5}{decoders:>3}{r1:>8.2f}{model.items_per_s:>8.2f}{bound:>8.2f}"
                    f"{decode_only:>13.2f}{rate:>10.2f}{serial_rate:>8.2f}{ratio:>7.2f}  "
                    f"{'yes' if same else 'NO'}",
                    flush=True,
                )
        print(
            f"rates in {', '.join(f'{UNITS[k]} ({k})' for k in args.kinds)}; bound = min(M, N x r1)"
            f"; ratio = median of the rounds' pipeline / bound"
        )
        print(f"every ratio >= {args.min_ratio} and features equal: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
