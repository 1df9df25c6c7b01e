import gc
import math
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from groundprobe.decode import (DecodeError, iter_clips_3d, iter_frames, iter_seconds_2d,
                                probe_video)

PLANT_SIZE = 32


def reference_decode(path: Path, vf: str | None = None) -> np.ndarray:
    """All frames of a tiny video at its own rate, decoded by the ffmpeg CLI into one rawvideo file."""
    raw = path.with_suffix(".rgb")
    filters = ["-vf", vf] if vf else []
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(path), *filters, "-f", "rawvideo",
                    "-pix_fmt", "rgb24", str(raw)], check=True)
    info = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                           "stream=width,height", "-of", "csv=p=0", str(path)],
                          capture_output=True, text=True, check=True).stdout.strip()
    width, height = map(int, info.split(","))
    if vf:
        width, height = map(int, vf.removeprefix("scale=").split(":"))
    return np.fromfile(raw, np.uint8).reshape(-1, height, width, 3)


def make_planted_video(path: Path, rate: int, seconds: float) -> Path:
    """Losslessly coded solid frames; frame n has grey level 20 + 2n, so every frame is distinct."""
    n = round(rate * seconds)
    frames = np.repeat((20 + 2 * np.arange(n)).astype(np.uint8), PLANT_SIZE * PLANT_SIZE * 3)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s",
                    f"{PLANT_SIZE}x{PLANT_SIZE}", "-r", str(rate), "-i", "-", "-c:v", "libx264",
                    "-qp", "0", "-pix_fmt", "yuv444p", str(path)], input=frames.tobytes(), check=True)
    return path


def source_index(frames: np.ndarray, reference: np.ndarray) -> list[int]:
    """For each frame (any size, solid grey), the index of the source frame with the nearest level."""
    levels = reference.reshape(len(reference), -1).mean(1)
    return [int(np.abs(levels - f.mean()).argmin()) for f in frames]


def params_2d(**overrides):
    return {"fps": 1, "resize": 40, "crop": 24, "batch_size": 2, "decode_chunk_frames": 7,
            "threads": 1} | overrides


def params_3d(**overrides):
    return {"fps": 30, "clip_seconds": 1, "frame_size": 16, "batch_size": 2,
            "decode_chunk_frames": 7, "threads": 1} | overrides


@pytest.mark.parametrize("chunk_frames", [1, 7, 64])
def test_streamed_frames_equal_a_whole_video_reference_decode(tiny_video, chunk_frames):
    reference = reference_decode(tiny_video)
    chunks = list(iter_frames(tiny_video, fps=30, size=(64, 48), chunk_frames=chunk_frames))
    assert all(1 <= len(c) <= chunk_frames for c in chunks)
    assert all(len(c) == chunk_frames for c in chunks[:-1])
    np.testing.assert_array_equal(np.concatenate(chunks), reference)


def test_scale_then_centre_crop_matches_a_numpy_crop_of_the_scaled_reference(tiny_video):
    scaled = reference_decode(tiny_video, vf="scale=40:40")
    frames = np.concatenate(list(iter_frames(tiny_video, fps=30, size=(40, 40), crop=24,
                                             chunk_frames=16)))
    np.testing.assert_array_equal(frames, scaled[:, 8:32, 8:32])


@pytest.mark.parametrize("rate", [30, 25])
def test_2d_row_k_is_the_frame_shown_at_the_centre_of_second_k(tmp_path, rate):
    video = make_planted_video(tmp_path / f"plant{rate}.mp4", rate, 3.5)
    reference = reference_decode(video)
    frames = np.concatenate(list(iter_seconds_2d(video, params_2d())))
    assert frames.shape == (3, 24, 24, 3)
    # frame shown at time k + 0.5 = last source frame n with n / rate <= k + 0.5
    assert source_index(frames, reference) == [(2 * k + 1) * rate // 2 for k in range(3)]


@pytest.mark.parametrize("rate", [30, 25])
def test_3d_clip_k_holds_the_30_frames_of_second_k(tmp_path, rate):
    video = make_planted_video(tmp_path / f"plant{rate}.mp4", rate, 3.5)
    reference = reference_decode(video)
    clips = np.concatenate(list(iter_clips_3d(video, params_3d())))
    assert clips.shape == (3, 30, 16, 16, 3)
    for k, clip in enumerate(clips):
        shown = [(30 * k + j) * rate // 30 for j in range(30)]  # floor((k + j/30) * rate)
        assert source_index(clip, reference) == shown
        if rate == 30:
            assert shown == list(range(30 * k, 30 * k + 30))


def test_2d_with_two_samples_per_second_takes_the_centres_of_half_seconds(tmp_path):
    video = make_planted_video(tmp_path / "plant.mp4", 30, 2.5)
    reference = reference_decode(video)
    frames = np.concatenate(list(iter_seconds_2d(video, params_2d(fps=2, batch_size=3))))
    assert source_index(frames, reference) == [7, 22, 37, 52]  # floor(30 * (n + 0.5) / 2)


def test_only_full_seconds_are_returned(tmp_path):
    video = make_planted_video(tmp_path / "plant.mp4", 30, 3.5)
    assert math.floor(probe_video(video).duration_s) == 3
    assert sum(len(b) for b in iter_seconds_2d(video, params_2d(batch_size=1))) == 3
    assert sum(len(b) for b in iter_clips_3d(video, params_3d(batch_size=1))) == 3


def test_probe_reads_duration_size_and_rate(tiny_video):
    info = probe_video(tiny_video)
    assert (info.width, info.height, info.fps, info.codec) == (64, 48, 30.0, "h264")
    assert info.duration_s == pytest.approx(6.0, abs=0.05) and info.n_seconds == 6


def test_random_bytes_raise_a_decode_error_naming_the_file(tmp_path):
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 20_000, dtype=np.uint8).tobytes())
    with pytest.raises(DecodeError, match="garbage.mp4"):
        probe_video(garbage)
    with pytest.raises(DecodeError, match="garbage.mp4"):
        list(iter_frames(garbage, fps=1, size=(8, 8), chunk_frames=4))


def test_a_file_without_video_raises_a_decode_error(tmp_path):
    audio = tmp_path / "tone.m4a"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=duration=1",
                    str(audio)], check=True)
    with pytest.raises(DecodeError, match="tone.m4a: no video stream"):
        probe_video(audio)


def ffmpeg_children() -> set[int]:
    """Pids of this process's child processes named ffmpeg, zombies included (from /proc)."""
    children = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        if ppid == os.getpid() and name == "ffmpeg":
            children.add(int(entry.name))
    return children


def test_abandoning_the_stream_leaves_no_ffmpeg_process(tiny_video):
    before = ffmpeg_children()
    frames = iter_frames(tiny_video, fps=30, size=(64, 48), chunk_frames=2)
    next(frames)
    assert ffmpeg_children() - before, "ffmpeg should be running while the stream is open"
    frames.close()
    assert ffmpeg_children() == before
    abandoned = iter_clips_3d(tiny_video, params_3d(batch_size=1))
    next(abandoned)
    del abandoned
    gc.collect()
    assert ffmpeg_children() == before
