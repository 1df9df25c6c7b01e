"""The demo's task set in CrossTask's release format: its procedural tasks (each step names one
object every trained model saw), the planning of its silent videos, which show a task's steps in
order, its planted truth (each shown step's interval is exactly the scene of its object) and the
text of its release files.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

import numpy as np

from groundprobe.demo.photos import INSTRUCTIONAL_OBJECTS, OBJECTS
from groundprobe.demo.plans import (
    CROSSTASK_INDEX_OFFSET,
    CROSSTASK_STREAM,
    NARRATION_STREAM,
    VideoPlan,
    random_stream,
    video_ids,
)
from groundprobe.demo.scenes import object_order, scene_length, scenes_at
from groundprobe.settings import DemoCorpusSettings


@dataclass(frozen=True)
class DemoTask:
    """A procedural task of the demo's CrossTask-format task set: a numeric id, a name, a
    wikiHow-style URL and its step names in procedural order (each names one object to show)."""

    task_id: str
    name: str
    url: str
    steps: tuple[str, ...]

    @property
    def step_objects(self) -> tuple[str, ...]:
        """The object each step shows (:func:`step_object`), in step order."""
        return tuple(step_object(step) for step in self.steps)


def step_object(step: str) -> str:
    """The one INSTRUCTIONAL_OBJECTS word of a step name; ValueError unless there is exactly one."""
    found = [word for word in re.findall(r"[a-z]+", step.lower()) if word in INSTRUCTIONAL_OBJECTS]
    if len(found) != 1:
        raise ValueError(f"step {step!r} must name exactly one of {INSTRUCTIONAL_OBJECTS}; names {found}")
    return found[0]


# The CrossTask-format task set: every step shows an object that every trained model saw; a step
# name with a comma makes the release file quote it.
CROSSTASK_TASKS: tuple[DemoTask, ...] = (
    DemoTask(
        "90101",
        "Plan a temple visit",
        "https://www.wikihow.com/Plan-a-Temple-Visit",
        ("pay with coins", "visit the temple", "find the cat, then wait", "smell the flower"),
    ),
    DemoTask(
        "90102",
        "Serve coffee to a guest",
        "https://www.wikihow.com/Serve-Coffee-to-a-Guest",
        ("brew the coffee", "greet the officer", "feed the cat", "call the photographer"),
    ),
)
CROSSTASK_SKIP_P = 0.25  # chance that a video leaves out a step
CROSSTASK_MIN_STEPS = 2  # steps every video shows at least
CROSSTASK_BREAK_P = 0.5  # chance of a non-step scene between two consecutive shown steps
CROSSTASK_SPLIT = "validation"


@dataclass(frozen=True)
class CrossTaskVideo:
    """One video of the CrossTask-format task set: the task whose steps its ``plan`` shows."""

    task: DemoTask
    plan: VideoPlan

    def step_intervals(self) -> list[tuple[int, float, float]]:
        """(1-based step, start_s, end_s) of every shown step in order: its scene, in seconds
        rounded to whole milliseconds."""
        objects = self.task.step_objects
        return [
            (objects.index(scene.obj) + 1, round(scene.start_s, 3), round(scene.end_s, 3))
            for scene in self.plan.scenes
            if scene.obj in objects
        ]


def kept_steps(n_steps: int, rng: np.random.Generator) -> list[int]:
    """0-based indices of the steps a video shows, in order: each is left out with p =
    CROSSTASK_SKIP_P, drawn again until at least CROSSTASK_MIN_STEPS are kept."""
    while True:
        kept = np.flatnonzero(rng.random(n_steps) >= CROSSTASK_SKIP_P)
        if len(kept) >= min(CROSSTASK_MIN_STEPS, n_steps):
            return kept.tolist()


def crosstask_objects(task: DemoTask, rng: np.random.Generator) -> list[str]:
    """The objects of one task video's scenes: a non-step object (one of OBJECTS that no step of
    ``task`` shows), then the kept steps' objects in order, with a non-step object between two
    consecutive ones with p = CROSSTASK_BREAK_P."""
    steps = [task.step_objects[k] for k in kept_steps(len(task.steps), rng)]
    breaks = rng.random(len(steps) - 1) < CROSSTASK_BREAK_P
    others = [obj for obj in OBJECTS if obj not in task.step_objects]
    fillers = iter(object_order(1 + int(breaks.sum()), others, rng))
    objects = [next(fillers), steps[0]]
    for step, pause in zip(steps[1:], breaks):
        objects += [next(fillers), step] if pause else [step]
    return objects


def plan_crosstask_video(
    task: DemoTask, video_id: str, settings: DemoCorpusSettings, rng: np.random.Generator
) -> VideoPlan:
    """A silent validation video showing ``task``'s steps (:func:`crosstask_objects`), each scene
    uniform in ``scene_s`` seconds on frame boundaries; titled and categorised by the task name."""
    fps = settings.fps
    objects = crosstask_objects(task, rng)
    bounds = np.cumsum([0] + [scene_length(fps, settings.scene_s, rng) for _ in objects])
    scenes = scenes_at(objects, bounds.tolist(), fps)
    return VideoPlan(video_id, task.name, 0.0, int(bounds[-1]), fps, scenes, (), CROSSTASK_SPLIT, (), task.name, 0)


def plan_crosstask(settings: DemoCorpusSettings) -> list[CrossTaskVideo]:
    """The CrossTask-format task set of the ``crosstask`` block, without pixels:
    ``videos_per_task`` videos of each of CROSSTASK_TASKS, task by task. Ids come from a stream of
    their own and each video's scenes from its own (narration stream, CROSSTASK_INDEX_OFFSET + k),
    so the rest of the corpus does not depend on the task set."""
    seed = settings.seed
    per_task = settings.crosstask.videos_per_task
    ids = iter(video_ids(per_task * len(CROSSTASK_TASKS), random_stream(seed, CROSSTASK_STREAM)))
    videos = []
    for task in CROSSTASK_TASKS:
        for _ in range(per_task):
            rng = random_stream(seed, NARRATION_STREAM, CROSSTASK_INDEX_OFFSET + len(videos))
            videos.append(CrossTaskVideo(task, plan_crosstask_video(task, next(ids), settings, rng)))
    return videos


def crosstask_truth(videos: list[CrossTaskVideo]) -> dict:
    """The CrossTask task set's planted truth: the tasks (id, name, URL, step names and the object
    each step shows) and per video its task, duration (seconds), scenes and step intervals as
    [1-based step, start_s, end_s]."""
    return {
        "tasks": [
            {
                "task_id": t.task_id,
                "name": t.name,
                "url": t.url,
                "steps": list(t.steps),
                "step_objects": list(t.step_objects),
            }
            for t in CROSSTASK_TASKS
        ],
        "videos": {
            v.plan.video_id: {
                "task_id": v.task.task_id,
                "duration_s": v.plan.duration_s,
                "scenes": [[s.obj, s.start_s, s.end_s] for s in v.plan.scenes],
                "step_intervals_1based": [list(interval) for interval in v.step_intervals()],
            }
            for v in videos
        },
    }


def csv_text(rows: list) -> str:
    """CSV lines (comma-separated, quoted only where needed, ``\\n`` line ends) of ``rows``."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def crosstask_tasks_text(tasks: tuple[DemoTask, ...]) -> str:
    """``tasks_primary.txt`` in CrossTask's release format: per task its id, name, URL, number of
    steps and the step names as one CSV line (a name with a comma quoted), then a blank line."""
    return "".join(
        "\n".join([t.task_id, t.name, t.url, str(len(t.steps))]) + "\n" + csv_text([t.steps]) + "\n" for t in tasks
    )
