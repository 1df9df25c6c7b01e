"""Parallel decoding: videos decoded by forked decoder processes into batch slots of shared memory.

A :class:`ParallelDecoder` runs :func:`groundprobe.features.decode.stream_batches` for many videos in
processes of its own and reports their batches, ends and failures as :class:`DecodeEvent` s, while the
caller runs a model on them.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import math
import mmap
import multiprocessing
import os
import pickle
import queue
import signal
import traceback
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import numpy as np

from groundprobe.features.decode import max_batch_shape, stream_batches
from groundprobe.settings import FeatureSettings

# Batch buffers per decoder process: one being filled while the main process reads another keeps
# a decoder busy; more would only hold more frames (a 3D batch of 8 clips of 30x224x224 is 36 MB).
SLOTS_PER_DECODER = 2
# Seconds between checks that no decoder process died while the main process waits for a batch.
LIVENESS_POLL_S = 1.0
# Seconds a decoder gets to finish (or to clean up after SIGTERM) before it is killed.
SHUTDOWN_GRACE_S = 5.0
PR_SET_PDEATHSIG = 1  # prctl option (linux/prctl.h): a signal for this process when its parent dies


@dataclass(frozen=True)
class DecodeEvent:
    """What a :class:`ParallelDecoder` reports about video ``video`` (an index into its paths).

    ``frames`` set: the video's next batch, as :func:`stream_batches` yields it; a view into
    memory shared with the decoder processes, valid only until the next event is asked for.
    ``error`` set: decoding the video failed (its batches reported so far are void). Neither:
    the video ended after its last batch. ``messages``: on the video's last event (its end or
    failure), what ffmpeg said while decoding it (:func:`groundprobe.features.decode.iter_frames`),
    for the job's log.
    """

    video: int
    frames: np.ndarray | None = None
    error: BaseException | None = None
    messages: tuple[str, ...] = ()


def decoder_threads(threads: int, decoders: int) -> int:
    """ffmpeg threads per decoder process so that ``decoders`` of them share ``threads`` cores
    (at least 1 each); 0 (ffmpeg's choice) stays 0."""
    return max(1, threads // decoders) if threads else 0


def _portable_error(error: BaseException) -> BaseException:
    """``error`` if it survives pickling (to cross a process boundary), else a RuntimeError with its text."""
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:  # noqa: BLE001 - any failure to pickle means: send its text instead
        return RuntimeError(f"{type(error).__name__}: {error}")


def _stop_on_sigterm(signum: int, frame: Any) -> None:
    """SIGTERM in a decoder: raise SystemExit so that ``finally`` blocks kill and reap ffmpeg."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: the cleanup itself must not be cut short
    raise SystemExit(128 + signum)


def _decoder_process(
    paths: list[str],
    kind: str,
    settings: FeatureSettings,
    tasks: Any,
    free: Any,
    results: Any,
    buffer: mmap.mmap,
    slot_bytes: int,
    parent: int,
) -> None:
    """Body of one decoder process: decode the videos it takes from ``tasks`` (indices into
    ``paths``, None = stop) into free slots of ``buffer`` and report each batch on ``results``.

    Messages: ``(video, slot, shape, None, None, None)`` a batch in slot ``slot``;
    ``(video, None, None, None, None, lines)`` the video's end; ``(video, None, None, error,
    traceback, lines)`` its failure; ``lines``: ffmpeg's messages about the video. The process
    ends with its parent (PR_SET_PDEATHSIG) and cleans up on SIGTERM.
    """
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before prctl took effect
        return
    try:
        while (video := tasks.get()) is not None:
            lines: list[str] = []
            try:
                with contextlib.closing(stream_batches(paths[video], kind, settings, lines)) as batches:
                    for batch in batches:
                        if batch.nbytes > slot_bytes:  # would overwrite the next slot
                            raise RuntimeError(f"a batch {batch.shape} exceeds its {slot_bytes}-byte slot")
                        slot = free.get()
                        view = np.frombuffer(buffer, np.uint8, batch.nbytes, slot * slot_bytes)
                        view.reshape(batch.shape)[...] = batch
                        results.put((video, slot, batch.shape, None, None, None))
            except Exception as error:  # noqa: BLE001 - every failure is reported for its video
                results.put((video, None, None, _portable_error(error), traceback.format_exc(), lines))
            else:
                results.put((video, None, None, None, None, lines))
    except SystemExit:
        # Stopped by the main process, which reads no more: exit without flushing messages.
        results.cancel_join_thread()
        raise


class ParallelDecoder:
    """Decode videos in ``decoders`` processes while the caller runs a model on their batches.

    Each process takes the next video not yet taken (in the order of ``paths``), decodes it
    whole with :func:`stream_batches` (ffmpeg) and puts each batch into a slot of memory shared
    with this process; iterating yields :class:`DecodeEvent` s in the order batches arrive. A
    video's events come in order (its batches, then its end or failure); different videos'
    events interleave. Memory is bounded: ``decoders x SLOTS_PER_DECODER`` batch slots of
    :func:`max_batch_shape`, a decoder waits for a free slot, and a slot is freed when the
    caller asks for the event after the one that showed it.

    ``settings``: as for :func:`stream_batches`; its ``threads`` (ffmpeg threads) are shared out
    among the decoders (:func:`decoder_threads`). Use as a context manager: leaving it, normally
    or by an exception, ends every decoder process, and their ffmpeg processes with them. A
    decoder process that dies (killed, out of memory) raises RuntimeError here. Decoders are
    forked, so this works on Linux from any main module (a Snakemake script included); they only
    decode and never touch torch or a GPU.
    """

    def __init__(self, paths: Iterable[str | os.PathLike], kind: str, settings: FeatureSettings, decoders: int):
        if decoders < 1:
            raise ValueError(f"decoders must be >= 1, got {decoders}")
        self._paths = [str(path) for path in paths]
        self._kind = kind
        self._decoders = min(decoders, len(self._paths))
        self._settings = dataclasses.replace(settings, threads=decoder_threads(settings.threads, self._decoders))
        self._shape = max_batch_shape(kind, settings)
        self._slot_bytes = math.prod(self._shape)
        self._processes: list[Any] = []
        self._finished = False

    @property
    def shared_buffer(self) -> mmap.mmap | None:
        """The memory of every batch slot, shared with the decoders (None before entering)."""
        return getattr(self, "_buffer", None)

    @property
    def pids(self) -> list[int]:
        """Process ids of the decoder processes started."""
        return [process.pid for process in self._processes]

    def __enter__(self) -> ParallelDecoder:
        if not self._decoders:
            return self
        context = multiprocessing.get_context("fork")
        self._tasks, self._free, self._results = (context.Queue() for _ in range(3))
        n_slots = self._decoders * SLOTS_PER_DECODER
        # Anonymous shared memory made before the fork: every decoder maps the same pages.
        self._buffer = mmap.mmap(-1, n_slots * self._slot_bytes)
        for item in [*range(len(self._paths)), *[None] * self._decoders]:
            self._tasks.put(item)
        for slot in range(n_slots):
            self._free.put(slot)
        try:
            for _ in range(self._decoders):
                process = context.Process(
                    target=_decoder_process,
                    daemon=True,
                    args=(
                        self._paths,
                        self._kind,
                        self._settings,
                        self._tasks,
                        self._free,
                        self._results,
                        self._buffer,
                        self._slot_bytes,
                        os.getpid(),
                    ),
                )
                process.start()
                self._processes.append(process)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[DecodeEvent]:
        pending = len(self._paths)
        shown: int | None = None  # the slot of the batch last yielded, freed on the next request
        while pending:
            if shown is not None:
                self._free.put(shown)
                shown = None
            video, slot, shape, error, trace, lines = self._next_message()
            if shape is not None:
                shown = slot
                frames = np.frombuffer(self._buffer, np.uint8, math.prod(shape), slot * self._slot_bytes).reshape(shape)
                yield DecodeEvent(video, frames=frames)
                continue
            pending -= 1
            if error is not None:
                error.add_note(f"in the decoder process of {self._paths[video]}:\n{trace}")
            yield DecodeEvent(video, error=error, messages=tuple(lines))
        self._finished = True

    def _next_message(self) -> tuple:
        """The next decoder message; RuntimeError if a decoder process died instead."""
        while True:
            try:
                return self._results.get(timeout=LIVENESS_POLL_S)
            except queue.Empty:
                dead = [p for p in self._processes if p.exitcode not in (None, 0)]
                if dead:
                    raise RuntimeError(
                        f"decoder process {dead[0].pid} died with exit status "
                        f"{dead[0].exitcode} before its videos were decoded"
                    ) from None
                if all(p.exitcode is not None for p in self._processes) and self._results.empty():
                    # Exited decoders have flushed their messages: none is on its way.
                    raise RuntimeError("the decoder processes ended before every video was reported") from None

    def close(self) -> None:
        """End the decoder processes: let them exit after a complete run, else SIGTERM them (they
        kill their ffmpeg first), and kill any that does not end within SHUTDOWN_GRACE_S."""
        for process in self._processes:
            if not self._finished and process.is_alive():
                process.terminate()
        for process in self._processes:
            process.join(SHUTDOWN_GRACE_S)
            if process.is_alive():
                process.kill()
                process.join()
        if self._processes:
            for channel in (self._tasks, self._free, self._results):
                channel.cancel_join_thread()  # never wait to flush items no process will read
                channel.close()
        self._processes.clear()
