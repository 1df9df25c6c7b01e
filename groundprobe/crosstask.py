"""CrossTask step localisation (Zhukov et al. 2019), the check of Hessel et al.'s supplement: each
procedural step of a task is localised in an unsegmented video by scoring sliding windows of the
video against the step's name with the joint embedding, zero-shot.

Inputs are in CrossTask's release format: ``tasks_primary.txt`` (blocks of task id, name, URL,
number of steps, comma-separated step names, blank line), one annotation CSV per video named
``<task>_<video>.csv`` with rows ``step,start,end`` (1-based step, seconds), and video lists with
rows ``task,video_id,url``.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch

from groundprobe.asr import tokenize
from groundprobe.model import JointEmbedding
from groundprobe.train import clip_windows, pad_token_ids


@dataclass(frozen=True)
class Task:
    """One CrossTask task: its id, name, URL and step names in their procedural order."""

    task_id: str
    name: str
    url: str
    steps: tuple[str, ...]


@dataclass(frozen=True)
class StepInterval:
    """An annotated occurrence of a step: 0-based step index, start and end in seconds."""

    step: int
    start_s: float
    end_s: float


def read_tasks(path: str | os.PathLike) -> dict[str, Task]:
    """The tasks of a ``tasks_primary.txt``-style file, by task id, in file order.

    Step names are one CSV line (a name with a comma is quoted). Raises ValueError naming the task
    and line when a block is incomplete or its step count disagrees with its step names.
    """
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    tasks: dict[str, Task] = {}
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        block = lines[i:i + 5]
        if len(block) < 5 or not all(line.strip() for line in block):
            raise ValueError(f"{path}, line {i + 1}: a task block needs 5 lines (id, name, URL, "
                             f"number of steps, step names); found {block}")
        task_id, name, url, count, names = (line.strip() for line in block)
        steps = tuple(step.strip() for step in next(csv.reader([names])))
        if not count.isdigit() or int(count) != len(steps):
            raise ValueError(f"{path}, task {task_id}: says {count} steps but names {len(steps)}: "
                             f"{list(steps)}")
        if task_id in tasks:
            raise ValueError(f"{path}: task {task_id} appears twice")
        tasks[task_id] = Task(task_id, name, url, steps)
        i += 5
    return tasks


def read_annotation(path: str | os.PathLike, n_steps: int) -> list[StepInterval]:
    """The step intervals of one video's annotation CSV (rows ``step,start,end``, 1-based steps,
    seconds). Raises ValueError naming the file for a step outside 1..n_steps or end < start."""
    intervals = []
    with open(path, newline="", encoding="utf-8") as handle:
        for number, row in enumerate(csv.reader(handle), start=1):
            if not row or not "".join(row).strip():
                continue
            step, start, end = int(row[0]), float(row[1]), float(row[2])
            if not 1 <= step <= n_steps or end < start:
                raise ValueError(f"{path}, row {number}: step {step}, {start}-{end} s; steps are "
                                 f"1..{n_steps} and an interval must not end before it starts")
            intervals.append(StepInterval(step - 1, start, end))
    return intervals


def read_video_list(path: str | os.PathLike) -> list[tuple[str, str]]:
    """(task id, video id) of each row of a video list (``task,video_id,url``)."""
    with open(path, newline="", encoding="utf-8") as handle:
        return [(row[0].strip(), row[1].strip()) for row in csv.reader(handle) if row and row[0].strip()]


def window_starts(duration_s: float, window_s: float, stride_s: float) -> np.ndarray:
    """Start times (seconds, float64) of the sliding windows of ``window_s`` seconds every
    ``stride_s`` seconds that fit in a video of ``duration_s`` seconds; empty when none fits."""
    if window_s <= 0 or stride_s <= 0:
        raise ValueError(f"window ({window_s} s) and stride ({stride_s} s) must be positive")
    if duration_s < window_s:
        return np.empty(0)
    return np.arange(0.0, duration_s - window_s + 1e-9, stride_s)


def step_token_ids(steps: Sequence[str], vocabulary: Mapping[str, int]) -> list[np.ndarray]:
    """Each step name tokenised as captions are, as its in-vocabulary token ids (int64; empty when
    the vocabulary holds none of its words)."""
    return [np.array([vocabulary[token] for token in tokenize(step) if token in vocabulary],
                     dtype=np.int64) for step in steps]


def score_windows(model: JointEmbedding, seconds: np.ndarray, window_s: int, stride_s: int,
                  steps: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Window start times (seconds, int64) and the cosine similarity (n_windows, n_steps) of every
    window of ``window_s`` seconds every ``stride_s`` seconds with every step name, embedded as a
    clip and a caption. ``seconds`` (n_seconds, D): the video's per-second features; ``steps``:
    the step names' token ids (:func:`step_token_ids`). A step without a known word scores NaN
    in every window: it is never localised."""
    starts = window_starts(len(seconds), window_s, stride_s).astype(np.int64)
    scores = np.full((len(starts), len(steps)), np.nan)
    known = [k for k, ids in enumerate(steps) if ids.size]
    if not len(starts) or not known:
        return starts, scores
    clips = clip_windows("crosstask", np.asarray(seconds, dtype=np.float32), starts, window_s)
    device = next(model.parameters()).device
    model.eval()
    with torch.inference_mode():
        sim = model.similarity(model.embed_clips(torch.from_numpy(clips).to(device)),
                               model.embed_captions(torch.from_numpy(
                                   pad_token_ids([steps[k] for k in known])).to(device)))
    scores[:, known] = sim.double().cpu().numpy()
    return starts, scores


def _never_nan(scores: np.ndarray) -> np.ndarray:
    """Scores as float64 with NaN (a step that cannot be scored) as -inf."""
    scores = np.asarray(scores, dtype=np.float64)
    return np.where(np.isnan(scores), -np.inf, scores)


def predict_argmax(scores: np.ndarray) -> np.ndarray:
    """For each step, the window that scores highest: ``scores`` (n_windows, n_steps) -> (n_steps,)
    window indices."""
    return _never_nan(scores).argmax(axis=0)


def predict_ordered(scores: np.ndarray) -> np.ndarray:
    """The order-respecting assignment (Zhukov et al.'s post-processing): one window per step, the
    steps' windows strictly increasing in step order, maximising the summed score; ``scores``
    (n_windows, n_steps) -> (n_steps,) window indices. Dynamic programming, O(n_windows x n_steps).
    Raises ValueError when there are fewer windows than steps."""
    scores = _never_nan(scores)
    n_windows, n_steps = scores.shape
    if n_windows < n_steps:
        raise ValueError(f"{n_steps} steps need at least as many windows; found {n_windows}")
    # best[w, k]: the best total of steps 0..k with step k at window w; from[w, k]: step k-1's window.
    best = np.full((n_windows, n_steps), -np.inf)
    came_from = np.zeros((n_windows, n_steps), dtype=np.int64)
    best[:, 0] = scores[:, 0]
    for k in range(1, n_steps):
        # The best placement of step k-1 strictly before each window.
        prefix_best = np.maximum.accumulate(best[:, k - 1])
        # The last window up to each w where step k-1's running best is reached.
        prefix_arg = np.maximum.accumulate(
            np.where(best[:, k - 1] == prefix_best, np.arange(n_windows), 0))
        best[1:, k] = prefix_best[:-1] + scores[1:, k]
        came_from[1:, k] = prefix_arg[:-1]
    windows = np.zeros(n_steps, dtype=np.int64)
    windows[-1] = int(best[:, -1].argmax())
    for k in range(n_steps - 1, 0, -1):
        windows[k - 1] = came_from[windows[k], k]
    return windows


def recalled_steps(predicted_s: np.ndarray, intervals: list[StepInterval]) -> tuple[int, int]:
    """(recalled, annotated) steps of one video: a step is annotated when it has an interval, and
    recalled when its predicted time (seconds; ``predicted_s[step]``, NaN for a step that was not
    localised) lies inside one of them."""
    annotated = {interval.step for interval in intervals}
    recalled = {interval.step for interval in intervals
                if interval.start_s <= predicted_s[interval.step] <= interval.end_s}
    return len(recalled), len(annotated)
