"""CrossTask step localisation (Zhukov et al. 2019), the check of Hessel et al.'s supplement: each
procedural step of a task is localised in an unsegmented video by scoring sliding windows of the
video against the step's name with the joint embedding, zero-shot.

Inputs are in CrossTask's release format: ``tasks_primary.txt`` (blocks of task id, name, URL,
number of steps, comma-separated step names, blank line), one annotation CSV per video named
``<task>_<video>.csv`` with rows ``step,start,end`` (1-based step, seconds), and video lists with
rows ``task,video_id,url``.

The evaluation (:func:`localise_task_videos`) predicts one time per step, the centre of the chosen
window (``argmax``: the best window per step; ``dp``: the best order-respecting assignment), and
counts a step as recalled when that time lies inside one of its annotated intervals; recall per
task is recalled / annotated steps over the task's videos (:func:`recall_table`). Beside the
models stands the expected recall of a window drawn uniformly at random per step.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from groundprobe.captions.asr import tokenize
from groundprobe.ingest.crosstask_sources import ID_RULE
from groundprobe.ingest.manifest import VIDEO_ID
from groundprobe.model.joint_embedding import JointEmbedding
from groundprobe.ingest.qc import QcRecord
from groundprobe.model.batches import SecondsSource, clip_windows, pad_token_ids

STAGE = "crosstask"
# One row per (model, task, video): steps with an annotation, those recalled, and the expected
# recalled steps of a window drawn at random per step (the same for every model).
BY_VIDEO_COLUMNS = ["model", "task_id", "video_id", "annotated_steps", "recalled_steps", "random_window_steps"]
RANDOM_WINDOW = "random window (expected)"
# Average recall (%) over CrossTask's 18 primary tasks as published; on other task sets (the demo's)
# they are not comparable, only a frame of reference.
PUBLISHED_RECALL: dict[str, float] = {
    "Zhukov et al. 2019 (weakly supervised)": 13.3,
    "Zhukov et al. 2019 (fully supervised upper bound)": 31.6,
    "Miech et al. 2019 (HowTo100M, zero-shot)": 33.6,
}


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
    and line when a block is incomplete, its step count disagrees with its step names or its id
    is not one that can name a file (as video ids).
    """
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    tasks: dict[str, Task] = {}
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        block = lines[i : i + 5]
        if len(block) < 5 or not all(line.strip() for line in block):
            raise ValueError(
                f"{path}, line {i + 1}: a task block needs 5 lines (id, name, URL, "
                f"number of steps, step names); found {block}"
            )
        task_id, name, url, count, names = (line.strip() for line in block)
        if not VIDEO_ID.fullmatch(task_id):
            raise ValueError(f"{path}, line {i + 1}: task id {task_id!r}: {ID_RULE}")
        steps = tuple(step.strip() for step in next(csv.reader([names])))
        if not count.isdigit() or int(count) != len(steps):
            raise ValueError(f"{path}, task {task_id}: says {count} steps but names {len(steps)}: {list(steps)}")
        if task_id in tasks:
            raise ValueError(f"{path}: task {task_id} appears twice")
        tasks[task_id] = Task(task_id, name, url, steps)
        i += 5
    return tasks


def read_annotation(path: str | os.PathLike, n_steps: int) -> list[StepInterval]:
    """The step intervals of one video's annotation CSV (rows ``step,start,end``, 1-based steps,
    seconds). Raises ValueError naming the file and row for a row that is not three numbers, a
    step outside 1..n_steps, a time that is not finite or end < start."""
    intervals = []
    with open(path, newline="", encoding="utf-8") as handle:
        for number, row in enumerate(csv.reader(handle), start=1):
            if not row or not "".join(row).strip():
                continue
            try:
                step, start, end = int(row[0]), float(row[1]), float(row[2])
            except (ValueError, IndexError):
                raise ValueError(
                    f"{path}, row {number}: {row}; a row is step,start,end (1-based step, seconds)"
                ) from None
            if not 1 <= step <= n_steps or not start <= end < math.inf:
                raise ValueError(
                    f"{path}, row {number}: step {step}, {start}-{end} s; steps are "
                    f"1..{n_steps} and an interval is finite and does not end "
                    f"before it starts"
                )
            intervals.append(StepInterval(step - 1, start, end))
    return intervals


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
    return [
        np.array([vocabulary[token] for token in tokenize(step) if token in vocabulary], dtype=np.int64)
        for step in steps
    ]


def window_clips(video_id: str, seconds: np.ndarray, window_s: int, stride_s: int) -> tuple[np.ndarray, np.ndarray]:
    """Start times (seconds, int64) and clips (n_windows, window_s, D), float32, of the windows of
    ``window_s`` seconds every ``stride_s`` seconds of a video's per-second features ``seconds``
    (n_seconds, D)."""
    starts = window_starts(len(seconds), window_s, stride_s).astype(np.int64)
    return starts, clip_windows(video_id, np.asarray(seconds, dtype=np.float32), starts, window_s)


def score_windows(model: JointEmbedding, clips: np.ndarray, steps: Sequence[np.ndarray]) -> np.ndarray:
    """The cosine similarity (n_windows, n_steps) of every window clip (:func:`window_clips`) with
    every step name, embedded as a clip and a caption; ``steps``: the step names' token ids
    (:func:`step_token_ids`). A step without a known word scores NaN in every window: it is never
    localised."""
    scores = np.full((len(clips), len(steps)), np.nan)
    known = [k for k, ids in enumerate(steps) if ids.size]
    if not len(clips) or not known:
        return scores
    device = next(model.parameters()).device
    model.eval()
    with torch.inference_mode():
        sim = model.similarity(
            model.embed_clips(torch.from_numpy(clips).to(device)),
            model.embed_captions(torch.from_numpy(pad_token_ids([steps[k] for k in known])).to(device)),
        )
    scores[:, known] = sim.double().cpu().numpy()
    return scores


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
    Raises ValueError when there are fewer windows than steps or every assignment scores -inf
    (NaN scores count as -inf)."""
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
        prefix_arg = np.maximum.accumulate(np.where(best[:, k - 1] == prefix_best, np.arange(n_windows), 0))
        best[1:, k] = prefix_best[:-1] + scores[1:, k]
        came_from[1:, k] = prefix_arg[:-1]
    if best[:, -1].max() == -np.inf:
        raise ValueError("no order-respecting assignment of the steps has a finite score")
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
    recalled = {
        interval.step for interval in intervals if interval.start_s <= predicted_s[interval.step] <= interval.end_s
    }
    return len(recalled), len(annotated)


@dataclass(frozen=True)
class TaskVideo:
    """One video of the evaluated list with its task and annotated step intervals."""

    task_id: str
    video_id: str
    intervals: tuple[StepInterval, ...]


def read_task_videos(
    listed: Sequence[tuple[str, str]], tasks: Mapping[str, Task], annotations_dir: str | os.PathLike
) -> tuple[list[TaskVideo], list[QcRecord]]:
    """The (task, video) rows of a video list with their annotations
    (``<annotations_dir>/<task>_<video>.csv``). A row whose task is not in ``tasks`` or whose
    annotation file is missing, unreadable or without an interval becomes a QC record instead; a
    repeated row counts once. Raises ValueError naming a video listed under two tasks."""
    task_of: dict[str, str] = {}
    for task_id, video_id in listed:
        if task_of.setdefault(video_id, task_id) != task_id:
            raise ValueError(
                f"video {video_id} is listed under tasks {task_of[video_id]} and {task_id}; a video belongs to one task"
            )
    videos, qc = [], []
    for video_id, task_id in task_of.items():
        path = Path(annotations_dir) / f"{task_id}_{video_id}.csv"
        if task_id not in tasks:
            qc.append(QcRecord(video_id, STAGE, f"task {task_id} is not in the tasks file"))
        elif not path.is_file():
            qc.append(QcRecord(video_id, STAGE, f"no annotation file {path}"))
        else:
            try:
                intervals = tuple(read_annotation(path, len(tasks[task_id].steps)))
            except ValueError as error:
                qc.append(QcRecord(video_id, STAGE, f"unreadable annotation: {error}"))
                continue
            if intervals:
                videos.append(TaskVideo(task_id, video_id, intervals))
            else:
                qc.append(QcRecord(video_id, STAGE, f"annotation {path} has no step interval"))
    return videos, qc


def unevaluated_videos(
    videos: Sequence[TaskVideo], fetched: set[str], stage_qc: pd.DataFrame
) -> tuple[list[TaskVideo], list[QcRecord]]:
    """The videos that have features, and QC records for the others: not in the CrossTask
    sources table (``fetched``: its video ids), or dropped by an earlier stage (``stage_qc``:
    QC rows video_id, stage, reason; the first one of a video counts)."""
    first = stage_qc.drop_duplicates("video_id").set_index("video_id")
    kept, qc = [], []
    for video in videos:
        if video.video_id not in fetched:
            qc.append(QcRecord(video.video_id, STAGE, "not in the CrossTask sources table"))
        elif video.video_id in first.index:
            row = first.loc[video.video_id]
            qc.append(QcRecord(video.video_id, str(row["stage"]), str(row["reason"])))
        else:
            kept.append(video)
    return kept, qc


def random_window_steps(starts: np.ndarray, window_s: float, intervals: Sequence[StepInterval]) -> float:
    """Expected recalled steps when each annotated step gets a window drawn uniformly from those
    starting at ``starts`` (seconds): per step, the share of window centres inside its intervals."""
    centres = np.asarray(starts, dtype=np.float64) + window_s / 2
    inside: dict[int, np.ndarray] = {}
    for interval in intervals:
        hit = (interval.start_s <= centres) & (centres <= interval.end_s)
        inside[interval.step] = inside.get(interval.step, np.zeros_like(hit)) | hit
    return float(sum(hit.mean() for hit in inside.values())) if len(centres) else 0.0


PREDICTIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {"argmax": predict_argmax, "dp": predict_ordered}


def predicted_times(starts: np.ndarray, scores: np.ndarray, window_s: float, prediction: str) -> np.ndarray:
    """Predicted time (seconds, the centre of the chosen window) of each step, NaN for a step
    that cannot be scored (no known word); ``scores`` (n_windows, n_steps), ``prediction``
    ``argmax`` or ``dp`` (the order is kept among the steps that can be scored)."""
    times = np.full(scores.shape[1], np.nan)
    known = np.flatnonzero(~np.isnan(scores).all(axis=0))
    if known.size:
        windows = PREDICTIONS[prediction](scores[:, known])
        times[known] = np.asarray(starts, dtype=np.float64)[windows] + window_s / 2
    return times


def localise_task_videos(
    models: Mapping[str, JointEmbedding],
    videos: Sequence[TaskVideo],
    tasks: Mapping[str, Task],
    source: SecondsSource,
    vocabulary: Mapping[str, int],
    window_s: int,
    stride_s: int,
    prediction: str,
) -> tuple[pd.DataFrame, list[QcRecord]]:
    """Every model's step localisation in every video (``source``: per-second features); returns
    the BY_VIDEO_COLUMNS table and QC records for the videos that cannot be evaluated (shorter
    than one window; with ``dp``, fewer windows than steps that can be scored)."""
    rows, qc = [], []
    steps = {task_id: step_token_ids(task.steps, vocabulary) for task_id, task in tasks.items()}
    for video in videos:
        seconds = source.seconds(video.video_id)
        starts, clips = window_clips(video.video_id, seconds, window_s, stride_s)
        scorable = sum(ids.size > 0 for ids in steps[video.task_id])
        if not len(starts) or (prediction == "dp" and len(starts) < scorable):
            qc.append(
                QcRecord(
                    video.video_id,
                    STAGE,
                    f"{len(seconds)} s of features hold "
                    f"{len(starts)} windows of {window_s} s; too few for the "
                    f"{scorable} steps of task {video.task_id} with a known word",
                )
            )
            continue
        chance = random_window_steps(starts, window_s, video.intervals)
        for name, model in models.items():
            scores = score_windows(model, clips, steps[video.task_id])
            recalled, annotated = recalled_steps(
                predicted_times(starts, scores, window_s, prediction), list(video.intervals)
            )
            rows.append((name, video.task_id, video.video_id, annotated, recalled, chance))
    return pd.DataFrame(rows, columns=BY_VIDEO_COLUMNS), qc


def recall_table(by_video: pd.DataFrame, tasks: Mapping[str, Task], prediction: str) -> pd.DataFrame:
    """Recall (%) per model (rows, in order of appearance) and task (columns, by task name, in
    the order of ``tasks``): recalled / annotated steps over the task's videos; ``average``: the
    mean over tasks. Then the random-window row and the published averages (columns
    ``model, source, prediction, <tasks>, average``)."""
    names = {task_id: task.name for task_id, task in tasks.items() if task_id in set(by_video["task_id"])}
    totals = by_video.groupby(["model", "task_id"], sort=False)[
        ["annotated_steps", "recalled_steps", "random_window_steps"]
    ].sum()

    def row(model: str, source: str, recalled: pd.Series, annotated: pd.Series) -> dict:
        recall = {names[t]: 100 * recalled[t] / annotated[t] for t in names}
        return {
            "model": model,
            "source": source,
            "prediction": prediction,
            **recall,
            "average": float(np.mean(list(recall.values()))),
        }

    models = list(dict.fromkeys(by_video["model"]))
    rows = [
        row(model, "this run", totals.loc[model, "recalled_steps"], totals.loc[model, "annotated_steps"])
        for model in models
    ]
    if models:
        rows.append(
            row(
                RANDOM_WINDOW,
                "this run",
                totals.loc[models[0], "random_window_steps"],
                totals.loc[models[0], "annotated_steps"],
            )
        )
    rows += [
        {"model": model, "source": "published (CrossTask's 18 primary tasks)", "prediction": "", "average": recall}
        for model, recall in PUBLISHED_RECALL.items()
    ]
    return pd.DataFrame(rows, columns=["model", "source", "prediction", *names.values(), "average"])
