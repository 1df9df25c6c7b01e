"""Streaming decode with ffmpeg: frames come through a pipe in fixed-size chunks, never a whole video.

Time convention shared by both feature streams: row ``k`` describes second ``[k, k + 1)`` of the
video, and a video has ``floor(duration_s)`` rows (only full seconds).

- 2D: at ``fps`` samples per second, sample ``n`` is the frame shown at time ``(n + 0.5) / fps``
  seconds (at 1 fps: the centre of second ``n``).
- 3D: at ``fps`` frames per second, clip ``k`` is the ``fps`` frames shown at times
  ``k + j / fps`` for ``j = 0 .. fps - 1``, i.e. exactly the frames of second ``[k, k + 1)``.

"The frame shown at time t" is the last decoded frame whose timestamp is <= t. ffmpeg's ``fps``
filter with ``round=up`` implements exactly that: an input frame at time ``t`` is rounded up to the
output tick ``ceil(t * fps)``, and output tick ``n`` takes the last input frame rounded to <= ``n``.
"""

from __future__ import annotations

import collections
import math
import os
import subprocess
import threading
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import ffmpeg
import numpy as np

STDERR_LINES_KEPT = 40


class DecodeError(ValueError):
    """A video cannot be probed or decoded; the message names the file and ffmpeg's complaint."""


@dataclass(frozen=True)
class VideoInfo:
    """What ffprobe says about the first (non cover-art) video stream of a file."""

    path: str
    duration_s: float   # seconds
    width: int          # pixels, as stored (before any rotation)
    height: int         # pixels
    fps: float          # average frames per second
    codec: str

    @property
    def n_seconds(self) -> int:
        """Number of full seconds, i.e. of feature rows."""
        return math.floor(self.duration_s)


def _stderr_gist(stderr: bytes | str | None, max_chars: int = 300) -> str:
    """The last non-empty line of ffmpeg's stderr, which is where it states the cause."""
    text = stderr.decode(errors="replace") if isinstance(stderr, bytes) else (stderr or "")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:max_chars] if lines else "no message from ffmpeg"


def _rate(text: str | None) -> float:
    """Frames per second from ffprobe's ``num/den`` notation (0.0 when unknown)."""
    num, _, den = (text or "0/0").partition("/")
    return float(num) / float(den) if den and float(den) else 0.0


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Probe ``path`` with ffprobe; :class:`DecodeError` if it is unreadable or has no video."""
    try:
        meta = ffmpeg.probe(str(path))
    except ffmpeg.Error as error:
        raise DecodeError(f"{path}: ffprobe cannot read it: {_stderr_gist(error.stderr)}") from None
    videos = [s for s in meta.get("streams", []) if s.get("codec_type") == "video"
              and not s.get("disposition", {}).get("attached_pic")]
    if not videos:
        raise DecodeError(f"{path}: no video stream")
    stream = videos[0]
    duration = stream.get("duration") or meta.get("format", {}).get("duration")
    if duration is None:
        raise DecodeError(f"{path}: ffprobe reports no duration for its video stream")
    return VideoInfo(path=str(path), duration_s=float(duration), width=int(stream["width"]),
                     height=int(stream["height"]),
                     fps=_rate(stream.get("avg_frame_rate")) or _rate(stream.get("r_frame_rate")),
                     codec=stream.get("codec_name", "unknown"))


def ffmpeg_version() -> str:
    """The first line of ``ffmpeg -version`` (recorded in feature provenance)."""
    result = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True, check=True)
    return result.stdout.splitlines()[0]


def _drain(pipe: Any, tail: collections.deque) -> None:
    """Read a pipe to its end, keeping the last lines: a full stderr pipe would block ffmpeg."""
    for line in pipe:
        tail.append(line.decode(errors="replace"))


def iter_frames(path: str | os.PathLike, *, fps: float, size: tuple[int, int], chunk_frames: int,
                crop: int | None = None, phase: float = 0.0, max_frames: int | None = None,
                threads: int = 0) -> Iterator[np.ndarray]:
    """Stream RGB frames of ``path`` resampled to ``fps`` through an ffmpeg pipe.

    Output frame ``n`` is the frame shown at time ``(n + phase) / fps`` seconds. Frames are scaled
    to ``size = (width, height)`` pixels (aspect ratio not kept), then centre-cropped to
    ``crop x crop`` when ``crop`` is given. Yields uint8 arrays ``(n <= chunk_frames, H, W, 3)``;
    at most ``max_frames`` frames in total. ``threads``: decoder threads (0 = ffmpeg's choice).

    The ffmpeg process is killed and reaped when the caller stops early. Raises
    :class:`DecodeError` when ffmpeg ends with an error.
    """
    width, height = size
    out_w, out_h = (crop, crop) if crop else (width, height)
    video = ffmpeg.input(str(path), threads=threads)["V"]  # "V": video, never cover art
    if phase:
        video = video.setpts(f"PTS-{phase / fps!r}/TB")
    video = video.filter("fps", fps=fps, round="up").filter("scale", width, height)
    # Convert to RGB before cropping so that the crop cuts RGB pixels, not subsampled chroma.
    video = video.filter("format", "rgb24")
    if crop:
        video = video.filter("crop", crop, crop)
    limit = {"frames:v": max_frames} if max_frames is not None else {}
    command = (video.output("pipe:", format="rawvideo", pix_fmt="rgb24", **limit)
               .global_args("-nostdin", "-loglevel", "error"))
    process = command.run_async(pipe_stdout=True, pipe_stderr=True)
    stderr_tail: collections.deque = collections.deque(maxlen=STDERR_LINES_KEPT)
    drainer = threading.Thread(target=_drain, args=(process.stderr, stderr_tail), daemon=True)
    drainer.start()
    frame_bytes = out_w * out_h * 3
    delivered = 0
    finished = False
    try:
        while True:
            chunk = np.empty((chunk_frames, out_h, out_w, 3), np.uint8)
            n_bytes = process.stdout.readinto(memoryview(chunk).cast("B"))
            n_frames = n_bytes // frame_bytes
            if n_frames:
                delivered += n_frames
                yield chunk[:n_frames]
            if n_bytes < chunk.nbytes:
                break
        finished = True
    finally:
        if not finished:
            process.kill()
        process.stdout.close()
        returncode = process.wait()
        drainer.join()
        process.stderr.close()
    if returncode != 0:
        raise DecodeError(f"{path}: ffmpeg failed (exit status {returncode}) after {delivered} "
                          f"frames: {_stderr_gist(''.join(stderr_tail))}")


def group_frames(chunks: Iterable[np.ndarray], group: int, batch: int) -> Iterator[np.ndarray]:
    """Regroup a frame stream into batches of ``batch`` groups of ``group`` consecutive frames.

    Yields ``(n <= batch, group, H, W, 3)``; a group left incomplete at the end is dropped.
    Holds at most ``group * batch`` frames plus one chunk.
    """
    pending: list[np.ndarray] = []
    n_pending = 0
    frames_per_batch = group * batch
    for chunk in chunks:
        pending.append(chunk)
        n_pending += len(chunk)
        while n_pending >= frames_per_batch:
            frames = np.concatenate(pending)
            yield frames[:frames_per_batch].reshape(batch, group, *frames.shape[1:])
            pending, n_pending = [frames[frames_per_batch:]], n_pending - frames_per_batch
    n_groups = n_pending // group
    if n_groups:
        frames = np.concatenate(pending)[:n_groups * group]
        yield frames.reshape(n_groups, group, *frames.shape[1:])


def frames_per_second(params: dict) -> int:
    """The stream's ``fps`` as a whole number: a row per second needs the same frames every second."""
    fps = params["fps"]
    if fps < 1 or fps != int(fps):
        raise ValueError(f"features fps must be a whole number >= 1 (one row per second), got {fps}")
    return int(fps)


def iter_seconds_2d(path: str | os.PathLike, params: dict) -> Iterator[np.ndarray]:
    """Frames for the 2D stream: uint8 ``(n, crop, crop, 3)``, ``fps`` consecutive frames per second.

    Frames are sampled at the centres of ``1 / fps``-second intervals, scaled to
    ``resize x resize`` and centre-cropped to ``crop``. Every batch holds whole seconds, at most
    ``batch_size`` frames' worth of seconds (at least one second); only full seconds of the video.
    ``params``: fps, resize, crop, batch_size, decode_chunk_frames, threads.
    """
    fps = frames_per_second(params)
    n_seconds = probe_video(path).n_seconds
    frames = iter_frames(path, fps=fps, size=(params["resize"], params["resize"]),
                         crop=params["crop"], phase=0.5, max_frames=n_seconds * fps,
                         chunk_frames=params["decode_chunk_frames"], threads=params["threads"])
    for seconds in group_frames(frames, fps, max(1, params["batch_size"] // fps)):
        yield seconds.reshape(-1, *seconds.shape[2:])


def iter_clips_3d(path: str | os.PathLike, params: dict) -> Iterator[np.ndarray]:
    """Clips for the 3D stream: uint8 ``(n <= batch_size, fps, S, S, 3)``, clip k = second [k, k+1).

    Frames are resampled to ``fps`` and scaled to ``S = frame_size`` pixels square; the last,
    incomplete second is dropped. ``params``: fps, clip_seconds (must be 1), frame_size,
    batch_size, decode_chunk_frames, threads.
    """
    if params["clip_seconds"] != 1:
        raise ValueError(f"3D clips must be 1 second long (one row per second), got "
                         f"clip_seconds={params['clip_seconds']}")
    fps = frames_per_second(params)
    n_seconds = probe_video(path).n_seconds
    size = params["frame_size"]
    frames = iter_frames(path, fps=fps, size=(size, size), max_frames=n_seconds * fps,
                         chunk_frames=params["decode_chunk_frames"], threads=params["threads"])
    yield from group_frames(frames, fps, params["batch_size"])
