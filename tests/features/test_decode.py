import gc
import io
import math
import os
import re
import signal
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from groundprobe.config import load_yaml
from groundprobe.features.decode import (
    STDERR_LINES_KEPT,
    DecodeError,
    StderrLines,
    TruncatedVideo,
    iter_clips_3d,
    iter_frames,
    iter_seconds_2d,
    max_batch_shape,
    probe_video,
    stream_batches,
)
from groundprobe.features.parallel_decode import ParallelDecoder, decoder_threads
from groundprobe.settings import FeatureSettings

from conftest import FASTSTART, cut_in_half, descendant_processes, make_test_video

PLANT_SIZE = 32
FEATURES = FeatureSettings.from_config(load_yaml(Path(__file__).parents[2] / "config.yaml")["features"], "features")


def reference_decode(path: Path, vf: str | None = None) -> np.ndarray:
    """All frames of a tiny video at its own rate, decoded by the ffmpeg CLI into one rawvideo file."""
    raw = path.with_suffix(".rgb")
    filters = ["-vf", vf] if vf else []
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(path), *filters, "-f", "rawvideo", "-pix_fmt", "rgb24", str(raw)],
        check=True,
    )
    info = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=width,height",
            "-of",
            "csv=p=0",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    width, height = map(int, info.split(","))
    if vf:
        width, height = map(int, vf.removeprefix("scale=").split(":"))
    return np.fromfile(raw, np.uint8).reshape(-1, height, width, 3)


def make_planted_video(path: Path, rate: int, seconds: float) -> Path:
    """Losslessly coded solid frames; frame n has grey level 20 + 2n, so every frame is distinct."""
    n = round(rate * seconds)
    frames = np.repeat((20 + 2 * np.arange(n)).astype(np.uint8), PLANT_SIZE * PLANT_SIZE * 3)
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-s",
            f"{PLANT_SIZE}x{PLANT_SIZE}",
            "-r",
            str(rate),
            "-i",
            "-",
            "-c:v",
            "libx264",
            "-qp",
            "0",
            "-pix_fmt",
            "yuv444p",
            str(path),
        ],
        input=frames.tobytes(),
        check=True,
    )
    return path


def source_index(frames: np.ndarray, reference: np.ndarray) -> list[int]:
    """For each frame (any size, solid grey), the index of the source frame with the nearest level."""
    levels = reference.reshape(len(reference), -1).mean(1)
    return [int(np.abs(levels - f.mean()).argmin()) for f in frames]


def settings_2d(**overrides) -> FeatureSettings:
    """The config's feature settings decoding in small chunks on one thread, with a small 2D
    stream; ``overrides``: of the 2D stream's settings."""
    two_d = {"fps": 1, "resize": 40, "crop": 24, "batch_size": 2} | overrides
    return replace(FEATURES, decode_chunk_frames=7, threads=1, two_d=replace(FEATURES.two_d, **two_d))


def settings_3d(**overrides) -> FeatureSettings:
    """As :func:`settings_2d`, with a small 3D stream; ``overrides``: of the 3D stream's settings."""
    three_d = {"fps": 30, "clip_seconds": 1, "frame_size": 16, "batch_size": 2} | overrides
    return replace(FEATURES, decode_chunk_frames=7, threads=1, three_d=replace(FEATURES.three_d, **three_d))


@pytest.mark.parametrize("chunk_frames", [1, 7, 64])
def test_streamed_frames_equal_a_whole_video_reference_decode(tiny_video, chunk_frames):
    reference = reference_decode(tiny_video)
    chunks = list(iter_frames(tiny_video, fps=30, size=(64, 48), chunk_frames=chunk_frames))
    assert all(1 <= len(c) <= chunk_frames for c in chunks)
    assert all(len(c) == chunk_frames for c in chunks[:-1])
    np.testing.assert_array_equal(np.concatenate(chunks), reference)


def test_scale_then_centre_crop_matches_a_numpy_crop_of_the_scaled_reference(tiny_video):
    scaled = reference_decode(tiny_video, vf="scale=40:40")
    frames = np.concatenate(list(iter_frames(tiny_video, fps=30, size=(40, 40), crop=24, chunk_frames=16)))
    np.testing.assert_array_equal(frames, scaled[:, 8:32, 8:32])


@pytest.mark.parametrize("rate", [30, 25])
def test_2d_row_k_is_the_frame_shown_at_the_centre_of_second_k(tmp_path, rate):
    video = make_planted_video(tmp_path / f"plant{rate}.mp4", rate, 3.5)
    reference = reference_decode(video)
    frames = np.concatenate(list(iter_seconds_2d(video, settings_2d())))
    assert frames.shape == (3, 24, 24, 3)
    # frame shown at time k + 0.5 = last source frame n with n / rate <= k + 0.5
    assert source_index(frames, reference) == [(2 * k + 1) * rate // 2 for k in range(3)]


@pytest.mark.parametrize("rate", [30, 25])
def test_3d_clip_k_holds_the_30_frames_of_second_k(tmp_path, rate):
    video = make_planted_video(tmp_path / f"plant{rate}.mp4", rate, 3.5)
    reference = reference_decode(video)
    clips = np.concatenate(list(iter_clips_3d(video, settings_3d())))
    assert clips.shape == (3, 30, 16, 16, 3)
    for k, clip in enumerate(clips):
        shown = [(30 * k + j) * rate // 30 for j in range(30)]  # floor((k + j/30) * rate)
        assert source_index(clip, reference) == shown
        if rate == 30:
            assert shown == list(range(30 * k, 30 * k + 30))


def test_2d_with_two_samples_per_second_takes_the_centres_of_half_seconds(tmp_path):
    video = make_planted_video(tmp_path / "plant.mp4", 30, 2.5)
    reference = reference_decode(video)
    frames = np.concatenate(list(iter_seconds_2d(video, settings_2d(fps=2, batch_size=3))))
    assert source_index(frames, reference) == [7, 22, 37, 52]  # floor(30 * (n + 0.5) / 2)


def test_only_full_seconds_are_returned(tmp_path):
    video = make_planted_video(tmp_path / "plant.mp4", 30, 3.5)
    assert math.floor(probe_video(video).duration_s) == 3
    assert sum(len(b) for b in iter_seconds_2d(video, settings_2d(batch_size=1))) == 3
    assert sum(len(b) for b in iter_clips_3d(video, settings_3d(batch_size=1))) == 3


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
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=duration=1", str(audio)], check=True)
    with pytest.raises(DecodeError, match="tone.m4a: no video stream"):
        probe_video(audio)


# 6-second videos cut in half (conftest.cut_in_half), by container and keyframe interval.
CUT_KINDS = {
    # libx264's default keyframe interval (250 frames) outlasts the video: the cut file decodes to
    # its first frame only, the "truncated 6-s file" that was reported as shorter than one second.
    "mp4, one keyframe": (".mp4", FASTSTART),
    "mp4, a keyframe a second": (".mp4", (*FASTSTART, "-g", "30")),
    "matroska, a keyframe a second": (".mkv", ("-g", "30")),
}


@pytest.fixture(scope="module")
def cut_videos(tmp_path_factory) -> dict[str, Path]:
    """A cut-off file of each of :data:`CUT_KINDS`."""
    folder = tmp_path_factory.mktemp("cut")
    return {
        name: cut_in_half(make_test_video(folder / f"whole{k}{ext}", 6, output_args=args), folder / f"cut{k}{ext}")
        for k, (name, (ext, args)) in enumerate(CUT_KINDS.items())
    }


def decode_all(path: Path, kind: str, settings: FeatureSettings) -> tuple[list[np.ndarray], list[str]]:
    """Every batch of a stream and ffmpeg's messages."""
    messages: list[str] = []
    return list(stream_batches(path, kind, settings, messages)), messages


@pytest.mark.parametrize("name", CUT_KINDS)
@pytest.mark.parametrize("kind", ["2d", "3d"])
def test_a_video_cut_in_half_is_truncated_with_decoded_and_stated_seconds(cut_videos, name, kind):
    path = cut_videos[name]
    settings = settings_2d() if kind == "2d" else settings_3d()
    # Independent reference: the frames (30 fps) the ffmpeg CLI gets out of the cut file.
    decodable_s = len(reference_decode(path)) / 30
    messages: list[str] = []
    with pytest.raises(TruncatedVideo, match=re.escape(str(path))) as caught:
        list(stream_batches(path, kind, settings, messages))
    assert caught.value.stated_s == pytest.approx(6.0, abs=0.05)  # what the 6-s file's header states
    assert decodable_s < 3 and abs(caught.value.decoded_s - decodable_s) <= 1 / settings.stream(kind).fps
    assert f"decoded {caught.value.decoded_s:.2f} s of the 6.00 s" in str(caught.value)
    # ffmpeg's complaints about the damage come back (the whole files decode without a word).
    assert any("partial file" in line or "ended prematurely" in line for line in messages), messages


def with_audio(video: Path, out: Path, seconds: float) -> Path:
    """``video`` with a sine tone of ``seconds`` added (the video stream copied as it is)."""
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-i",
            str(video),
            "-f",
            "lavfi",
            "-i",
            f"sine=duration={seconds}",
            "-c:v",
            "copy",
            "-c:a",
            "aac",
            str(out),
        ],
        check=True,
    )
    return out


@pytest.fixture(scope="module")
def complete_videos(tmp_path_factory) -> dict[str, tuple[Path, int]]:
    """Whole videos whose reads end before the file's (format) duration or at odd times, none of
    them cut off: ``{name: (path, seconds of video)}``."""
    folder = tmp_path_factory.mktemp("complete")
    three = make_test_video(folder / "three.mp4", 3, output_args=("-g", "30"))
    return {
        "the uncut mp4 of the cut ones": (
            make_test_video(folder / "whole.mp4", 6, output_args=(*FASTSTART, "-g", "30")),
            6,
        ),
        "the uncut matroska": (make_test_video(folder / "whole.mkv", 6, output_args=("-g", "30")), 6),
        # The format duration is the audio's 6 s; the mp4 states the video stream's 3 s...
        "mp4, audio longer than video": (with_audio(three, folder / "audio.mp4", 6), 3),
        # ...Matroska only in the stream's DURATION tag.
        "matroska, audio longer than video": (with_audio(three, folder / "audio.mkv", 6), 3),
        # Variable frame rate: 30 fps for 2 s, no frame for 2 s, 30 fps again up to 5 s.
        "mp4, variable frame rate": (
            make_test_video(
                folder / "vfr.mp4", 5, output_args=("-vf", "setpts='if(lt(N,60),N,N+60)/30/TB'", "-fps_mode", "vfr")
            ),
            5,
        ),
    }


@pytest.mark.parametrize(
    "name",
    [
        "the uncut mp4 of the cut ones",
        "the uncut matroska",
        "mp4, audio longer than video",
        "matroska, audio longer than video",
        "mp4, variable frame rate",
    ],
)
def test_complete_reads_are_not_truncated(complete_videos, name):
    path, seconds = complete_videos[name]
    info = probe_video(path)
    assert info.stream_duration_s == pytest.approx(seconds, abs=0.05)  # so the check does run
    for kind, settings in (("2d", settings_2d()), ("3d", settings_3d())):
        batches, messages = decode_all(path, kind, settings)
        rows = sum(len(batch) for batch in batches) // (settings.two_d.fps if kind == "2d" else 1)
        assert (rows, messages) == (seconds, []), kind


def test_stderr_keeps_the_first_lines_and_the_last_and_counts_the_rest():
    lines = [f"line {k}" for k in range(100)]
    stderr = StderrLines(io.BytesIO("\n\n".join(lines).encode()))  # empty lines are not counted
    stderr.join()
    assert stderr.lines() == [
        *lines[:STDERR_LINES_KEPT],
        f"[{99 - STDERR_LINES_KEPT} more lines from ffmpeg left out]",
        "line 99",
    ]
    assert stderr.gist() == "line 99"
    few = StderrLines(io.BytesIO(b"a\nb\n"))
    few.join()
    assert few.lines() == ["a", "b"]


def ffmpeg_children() -> set[int]:
    """Pids of this process's descendants named ffmpeg, zombies included."""
    return {pid for pid, name in descendant_processes().items() if name == "ffmpeg"}


def test_abandoning_the_stream_leaves_no_ffmpeg_process(tiny_video):
    before = ffmpeg_children()
    frames = iter_frames(tiny_video, fps=30, size=(64, 48), chunk_frames=2)
    next(frames)
    assert ffmpeg_children() - before, "ffmpeg should be running while the stream is open"
    frames.close()
    assert ffmpeg_children() == before
    abandoned = iter_clips_3d(tiny_video, settings_3d(batch_size=1))
    next(abandoned)
    del abandoned
    gc.collect()
    assert ffmpeg_children() == before


@pytest.fixture(scope="module")
def mixed_videos(tmp_path_factory, tiny_video, cut_videos) -> list[Path]:
    """A shard's worth of inputs: two good videos of different lengths, random bytes, a video
    shorter than one second (no full second) and a cut-off one."""
    folder = tmp_path_factory.mktemp("mixed")
    garbage = folder / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(1).integers(0, 256, 20_000, dtype=np.uint8).tobytes())
    return [
        tiny_video,
        garbage,
        make_planted_video(folder / "plant.mp4", 25, 3.5),
        make_test_video(folder / "short.mp4", 0.5),
        cut_videos["mp4, a keyframe a second"],
    ]


PARALLEL_SETTINGS = {"3d": settings_3d(), "2d": settings_2d(fps=2, batch_size=4)}


def without_addresses(lines) -> list[str]:
    """ffmpeg's lines without the memory addresses they name ('[h264 @ 0x55...]'), which differ
    from run to run."""
    return [re.sub(r" @ 0x[0-9a-f]+", "", line) for line in lines]


@pytest.fixture(scope="module")
def serial_events(mixed_videos) -> dict[str, list[tuple[list, list[str]]]]:
    """Per kind and video, what one pass of stream_batches gives: its batches then None, or the
    DecodeError; and ffmpeg's messages."""

    def events(path: Path, kind: str) -> tuple[list, list[str]]:
        messages: list[str] = []
        try:
            return [*stream_batches(path, kind, PARALLEL_SETTINGS[kind], messages), None], messages
        except DecodeError as error:
            return [error], messages

    return {kind: [events(path, kind) for path in mixed_videos] for kind in PARALLEL_SETTINGS}


@pytest.mark.parametrize("kind, decoders", [("3d", 1), ("3d", 3), ("2d", 2)])
def test_parallel_decoders_report_each_video_as_the_serial_stream_does(mixed_videos, serial_events, kind, decoders):
    settings = PARALLEL_SETTINGS[kind]
    got: dict[int, list] = {}
    messages: dict[int, tuple[str, ...]] = {}
    with ParallelDecoder(mixed_videos, kind, settings, decoders) as decoded:
        for event in decoded:
            assert event.frames is None or event.error is None
            got.setdefault(event.video, []).append(event.frames.copy() if event.frames is not None else event.error)
            if event.frames is not None:
                assert event.frames.nbytes <= math.prod(max_batch_shape(kind, settings))
                assert event.messages == ()
            else:
                messages[event.video] = event.messages
    assert sorted(got) == list(range(len(mixed_videos)))
    for video, (expected, expected_messages) in enumerate(serial_events[kind]):
        assert len(got[video]) == len(expected), mixed_videos[video]
        for mine, theirs in zip(got[video], expected):
            if isinstance(theirs, np.ndarray):
                np.testing.assert_array_equal(mine, theirs)
            elif isinstance(theirs, DecodeError):  # crossed from the decoder process intact
                assert (type(mine), str(mine), vars(mine).keys() - {"__notes__"}) == (
                    type(theirs),
                    str(theirs),
                    vars(theirs).keys(),
                )
            else:
                assert mine == theirs
        assert without_addresses(messages[video]) == without_addresses(expected_messages)
    assert "garbage.mp4" in str(got[1][0]) and got[3] == [None]  # undecodable; no full second
    assert isinstance(got[4][-1], TruncatedVideo) and got[4][-1].stated_s == pytest.approx(6, abs=0.05)
    assert messages[4] and not messages[0]  # the cut file's warnings; none for a whole one


def test_decoder_threads_share_the_jobs_threads():
    assert [decoder_threads(8, n) for n in (1, 2, 3, 16)] == [8, 4, 2, 1]
    assert decoder_threads(0, 4) == 0


def test_a_decoder_error_other_than_decoding_names_its_video(tiny_video):
    with ParallelDecoder([tiny_video], "3d", settings_3d(clip_seconds=2), 1) as decoded:
        events = list(decoded)
    assert len(events) == 1 and isinstance(events[0].error, ValueError)
    assert "clip_seconds=2" in str(events[0].error)
    assert any(str(tiny_video) in note for note in events[0].error.__notes__)


def ffmpeg_reading(folder: Path) -> set[int]:
    """Pids of running ffmpeg processes (anyone's) whose command line names a file in ``folder``."""
    pids = set()
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if command and command[0].endswith(b"ffmpeg") and str(folder).encode() in b" ".join(command):
            pids.add(int(entry.name))
    return pids


def long_videos(folder: Path, n: int) -> list[Path]:
    """``n`` 6-second 64x64 videos: at 64x64 RGB a pipe's 64 KiB buffer holds 5 frames, so their
    ffmpeg keeps running while a decoder waits for a free slot."""
    return [make_test_video(folder / f"v{i}.mp4", 6, size="64x64") for i in range(n)]


def test_an_error_in_the_main_loop_ends_every_decoder_and_its_ffmpeg(tmp_path):
    videos = long_videos(tmp_path, 2)
    before = descendant_processes()
    with pytest.raises(RuntimeError, match="model failed"):
        with ParallelDecoder(videos, "3d", settings_3d(frame_size=64, batch_size=1), 2) as decoded:
            for event in decoded:
                deadline = time.monotonic() + 10
                while len(ffmpeg_reading(tmp_path)) < 2 and time.monotonic() < deadline:
                    time.sleep(0.05)  # both decoders are inside a video, waiting for slots
                assert len(ffmpeg_reading(tmp_path)) == 2 and len(decoded.pids) == 2
                raise RuntimeError("model failed")
    assert descendant_processes() == before
    assert not ffmpeg_reading(tmp_path)


def test_a_decoder_that_dies_is_an_error_not_a_hang(tmp_path):
    videos = long_videos(tmp_path, 2)
    before = descendant_processes()
    with pytest.raises(RuntimeError, match=r"died with exit status -9"):
        with ParallelDecoder(videos, "3d", settings_3d(frame_size=64, batch_size=1), 1) as decoded:
            for _ in decoded:
                os.kill(decoded.pids[0], signal.SIGKILL)
    deadline = time.monotonic() + 10  # its ffmpeg ends on a broken pipe
    while ffmpeg_reading(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert descendant_processes() == before and not ffmpeg_reading(tmp_path)
