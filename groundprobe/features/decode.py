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

Complete reads: a stream whose frames end markedly before the duration the container states for
the video stream raises :class:`TruncatedVideo` (threshold: ``FeatureSettings.truncation``), so that a
cut-off file yields no features for the part that decodes. ffmpeg's warnings and errors while
decoding a video are handed to the caller (``messages``) for the job's log.
"""

from __future__ import annotations

import math
import os
import subprocess
import threading
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import ffmpeg
import numpy as np

from groundprobe.settings import FeatureSettings, Stream2d, Stream3d, Truncation

STDERR_LINES_KEPT = 40  # ffmpeg stderr lines kept per video (the first ones, plus the last)


class DecodeError(ValueError):
    """A video cannot be probed or decoded; the message names the file and ffmpeg's complaint."""


class TruncatedVideo(DecodeError):
    """A video whose frames end markedly before the duration its container states for the video
    stream (a cut-off file): ``decoded_s`` seconds decoded of ``stated_s``."""

    def __init__(self, path: str, decoded_s: float, stated_s: float):
        super().__init__(
            f"{path}: decoded {decoded_s:.2f} s of the {stated_s:.2f} s its container states for the video stream"
        )
        self.path, self.decoded_s, self.stated_s = path, decoded_s, stated_s

    def __reduce__(self) -> tuple:
        # Pickled by its fields (it crosses from a decoder process), not by its message.
        return type(self), (self.path, self.decoded_s, self.stated_s)


@dataclass(frozen=True)
class VideoInfo:
    """What ffprobe says about the first (non cover-art) video stream of a file."""

    path: str
    duration_s: float  # seconds: the stream's duration, else the file's (format) duration
    width: int  # pixels, as stored (before any rotation)
    height: int  # pixels
    fps: float  # average frames per second
    codec: str
    # Seconds the container states for the video stream itself (what a complete read decodes):
    # ffprobe's stream duration, else the stream's DURATION tag (Matroska/WebM store it there),
    # else the format duration when the video is the file's only stream. None when none applies:
    # a format duration is the longest stream's, e.g. an audio track that outlasts the video.
    stream_duration_s: float | None = None

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
    videos = [
        s
        for s in meta.get("streams", [])
        if s.get("codec_type") == "video" and not s.get("disposition", {}).get("attached_pic")
    ]
    if not videos:
        raise DecodeError(f"{path}: no video stream")
    stream = videos[0]
    format_duration = meta.get("format", {}).get("duration")
    duration = stream.get("duration") or format_duration
    if duration is None:
        raise DecodeError(f"{path}: ffprobe reports no duration for its video stream")
    only_stream = len(meta.get("streams", [])) == 1
    stated = (
        stream.get("duration")
        or _tag_seconds(stream.get("tags", {}).get("DURATION"))
        or (format_duration if only_stream else None)
    )
    return VideoInfo(
        path=str(path),
        duration_s=float(duration),
        width=int(stream["width"]),
        height=int(stream["height"]),
        fps=_rate(stream.get("avg_frame_rate")) or _rate(stream.get("r_frame_rate")),
        codec=stream.get("codec_name", "unknown"),
        stream_duration_s=None if stated is None else float(stated),
    )


def _tag_seconds(text: str | None) -> float | None:
    """Seconds of a Matroska ``DURATION`` tag ``HH:MM:SS.fffffffff``; None when absent or unreadable."""
    parts = (text or "").split(":")
    try:
        hours, minutes, seconds = parts
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except ValueError:  # not three fields, or not numbers
        return None


def ffmpeg_version() -> str:
    """The first line of ``ffmpeg -version`` (recorded in feature provenance)."""
    result = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True, check=True)
    return result.stdout.splitlines()[0]


class StderrLines:
    """ffmpeg's stderr, read to its end by a thread (a full pipe would block ffmpeg): the first
    ``keep`` non-empty lines, the last one, and how many there were."""

    def __init__(self, pipe: Any, keep: int = STDERR_LINES_KEPT):
        self._keep = keep
        self._first: list[str] = []
        self._last = ""
        self._count = 0
        self._thread = threading.Thread(target=self._drain, args=(pipe,), daemon=True)
        self._thread.start()

    def _drain(self, pipe: Any) -> None:
        for raw in pipe:
            line = raw.decode(errors="replace").strip()
            if line:
                self._count += 1
                self._last = line
                if len(self._first) < self._keep:
                    self._first.append(line)

    def join(self) -> None:
        """Wait until the pipe is read to its end (ffmpeg has exited or closed it)."""
        self._thread.join()

    def lines(self) -> list[str]:
        """The lines kept; when there were more, a line counting those left out, then the last."""
        if self._count <= self._keep:
            return list(self._first)
        left_out = self._count - self._keep - 1  # between the first lines and the last one
        gap = [f"[{left_out} more lines from ffmpeg left out]"] if left_out else []
        return [*self._first, *gap, self._last]

    def gist(self) -> str:
        """The last line, where ffmpeg states why it failed (shortened)."""
        return _stderr_gist(self._last)


def iter_frames(
    path: str | os.PathLike,
    *,
    fps: float,
    size: tuple[int, int],
    chunk_frames: int,
    crop: int | None = None,
    phase: float = 0.0,
    max_frames: int | None = None,
    threads: int = 0,
    messages: list[str] | None = None,
) -> Iterator[np.ndarray]:
    """Stream RGB frames of ``path`` resampled to ``fps`` through an ffmpeg pipe.

    Output frame ``n`` is the frame shown at time ``(n + phase) / fps`` seconds. Frames are scaled
    to ``size = (width, height)`` pixels (aspect ratio not kept), then centre-cropped to
    ``crop x crop`` when ``crop`` is given. Yields uint8 arrays ``(n <= chunk_frames, H, W, 3)``;
    at most ``max_frames`` frames in total (0: nothing to read, ffmpeg is not started).
    ``threads``: decoder threads (0 = ffmpeg's choice).
    ``messages``: when given, ffmpeg's warnings and errors (:meth:`StderrLines.lines`) are
    appended to it once ffmpeg has ended, also when it failed.

    The ffmpeg process is killed and reaped when the caller stops early. Raises
    :class:`DecodeError` when ffmpeg ends with an error.
    """
    if max_frames == 0:  # (a video shorter than one second): ffmpeg would only warn of no output
        return
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
    # Warnings too: a damaged or cut-off file decodes with "partial file" and "Invalid NAL unit"
    # warnings and errors, yet ffmpeg exits with status 0.
    command = video.output("pipe:", format="rawvideo", pix_fmt="rgb24", **limit).global_args(
        "-nostdin", "-loglevel", "warning"
    )
    process = command.run_async(pipe_stdout=True, pipe_stderr=True)
    stderr = StderrLines(process.stderr)
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
        stderr.join()
        process.stderr.close()
        if messages is not None:
            messages.extend(stderr.lines())
    if returncode != 0:
        raise DecodeError(f"{path}: ffmpeg failed (exit status {returncode}) after {delivered} frames: {stderr.gist()}")


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
        frames = np.concatenate(pending)[: n_groups * group]
        yield frames.reshape(n_groups, group, *frames.shape[1:])


def frames_per_second(stream: Stream2d | Stream3d) -> int:
    """The stream's ``fps`` as a whole number: a row per second needs the same frames every second."""
    fps = stream.fps
    if fps < 1 or fps != int(fps):
        raise ValueError(f"features fps must be a whole number >= 1 (one row per second), got {fps}")
    return int(fps)


def check_complete(info: VideoInfo, decoded_s: float, truncation: Truncation) -> None:
    """Raise :class:`TruncatedVideo` when a read of ``info.path`` ended markedly early.

    ``decoded_s``: seconds of frames the read delivered (frames / fps; it reads at most
    ``info.n_seconds``). A complete read delivers the video stream's stated duration
    (``info.stream_duration_s``) up to that cap; a read more than ``max(max_missing_s,
    max_missing_fraction x stated duration)`` seconds short of it is truncated (``truncation``:
    those two settings). Not checked when the stream's own duration is unknown.
    """
    stated = info.stream_duration_s
    if stated is None:
        return
    missing = min(stated, info.n_seconds) - decoded_s
    if missing > max(truncation.max_missing_s, truncation.max_missing_fraction * stated):
        raise TruncatedVideo(info.path, decoded_s, stated)


def _checked(chunks: Iterable[np.ndarray], info: VideoInfo, fps: int, truncation: Truncation) -> Iterator[np.ndarray]:
    """``chunks`` passed on; once they end, :func:`check_complete` on the frames they held
    (counted as they pass: no second read of the file)."""
    frames = 0
    for chunk in chunks:
        frames += len(chunk)
        yield chunk
    check_complete(info, frames / fps, truncation)


def iter_seconds_2d(
    path: str | os.PathLike, settings: FeatureSettings, messages: list[str] | None = None
) -> Iterator[np.ndarray]:
    """Frames for the 2D stream: uint8 ``(n, crop, crop, 3)``, ``fps`` consecutive frames per second.

    Frames are sampled at the centres of ``1 / fps``-second intervals, scaled to
    ``resize x resize`` and centre-cropped to ``crop``. Every batch holds whole seconds, at most
    ``batch_size`` frames' worth of seconds (at least one second); only full seconds of the video.
    ``settings``: the 2D stream's fps, resize, crop, batch_size, and decode_chunk_frames, threads,
    truncation (:func:`check_complete`). ``messages``: as for :func:`iter_frames`. Raises
    :class:`TruncatedVideo` after the last batch of a read that ended markedly early.
    """
    stream = settings.two_d
    fps = frames_per_second(stream)
    info = probe_video(path)
    frames = iter_frames(
        path,
        fps=fps,
        size=(stream.resize, stream.resize),
        crop=stream.crop,
        phase=0.5,
        max_frames=info.n_seconds * fps,
        chunk_frames=settings.decode_chunk_frames,
        threads=settings.threads,
        messages=messages,
    )
    checked = _checked(frames, info, fps, settings.truncation)
    for seconds in group_frames(checked, fps, max(1, stream.batch_size // fps)):
        yield seconds.reshape(-1, *seconds.shape[2:])


def iter_clips_3d(
    path: str | os.PathLike, settings: FeatureSettings, messages: list[str] | None = None
) -> Iterator[np.ndarray]:
    """Clips for the 3D stream: uint8 ``(n <= batch_size, fps, S, S, 3)``, clip k = second [k, k+1).

    Frames are resampled to ``fps`` and scaled to ``S = frame_size`` pixels square; the last,
    incomplete second is dropped. ``settings``: the 3D stream's fps, clip_seconds (must be 1),
    frame_size, batch_size, and decode_chunk_frames, threads, truncation (:func:`check_complete`).
    ``messages``: as for :func:`iter_frames`. Raises :class:`TruncatedVideo` after the last
    batch of a read that ended markedly early.
    """
    stream = settings.three_d
    if stream.clip_seconds != 1:
        raise ValueError(f"3D clips must be 1 second long (one row per second), got clip_seconds={stream.clip_seconds}")
    fps = frames_per_second(stream)
    info = probe_video(path)
    size = stream.frame_size
    frames = iter_frames(
        path,
        fps=fps,
        size=(size, size),
        max_frames=info.n_seconds * fps,
        chunk_frames=settings.decode_chunk_frames,
        threads=settings.threads,
        messages=messages,
    )
    yield from group_frames(_checked(frames, info, fps, settings.truncation), fps, stream.batch_size)


def stream_batches(
    path: str | os.PathLike, kind: str, settings: FeatureSettings, messages: list[str] | None = None
) -> Iterator[np.ndarray]:
    """The batches a backbone of ``kind`` ('2d' or '3d') takes: :func:`iter_seconds_2d` or
    :func:`iter_clips_3d` of ``path``; ffmpeg's messages are appended to ``messages`` when given."""
    if kind == "2d":
        return iter_seconds_2d(path, settings, messages)
    if kind == "3d":
        return iter_clips_3d(path, settings, messages)
    raise ValueError(f"feature stream must be '2d' or '3d', got '{kind}'")


def max_batch_shape(kind: str, settings: FeatureSettings) -> tuple[int, ...]:
    """The largest batch :func:`stream_batches` yields: ``(frames, crop, crop, 3)`` for 2D,
    ``(clips, fps, S, S, 3)`` for 3D (uint8)."""
    stream = settings.stream(kind)
    fps = frames_per_second(stream)
    if kind == "2d":
        return max(1, stream.batch_size // fps) * fps, stream.crop, stream.crop, 3
    size = stream.frame_size
    return stream.batch_size, fps, size, size, 3
