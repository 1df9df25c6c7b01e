"""The scenes of a demo video: which object is on screen when, on frame boundaries, in an order
that never shows the same object twice in a row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_LAST_SCENE_S = 3.0  # a shorter remainder joins the previous scene (room for the outro's name)


@dataclass(frozen=True)
class Scene:
    """One object on screen from ``start_s`` to ``end_s`` (seconds, on frame boundaries)."""

    obj: str
    start_s: float
    end_s: float


def object_order(n: int, objects: list[str], rng: np.random.Generator) -> list[str]:
    """``n`` objects: shuffled passes over the pool, never the same object twice in a row."""
    order: list[str] = []
    while len(order) < n:
        cycle = [objects[i] for i in rng.permutation(len(objects))]
        if order and len(cycle) > 1 and cycle[0] == order[-1]:
            cycle[0], cycle[-1] = cycle[-1], cycle[0]
        order.extend(cycle)
    return order[:n]


def scene_length(fps: int, scene_s: tuple[float, float], rng: np.random.Generator) -> int:
    """Frames of one scene: uniform in ``scene_s`` seconds, rounded to a frame, at least one."""
    return max(1, round(rng.uniform(*scene_s) * fps))


def scenes_at(names: list[str], bounds: list[int], fps: int) -> tuple[Scene, ...]:
    """Scene k shows ``names[k]`` from frame ``bounds[k]`` to ``bounds[k + 1]`` (times in seconds)."""
    return tuple(Scene(obj, a / fps, b / fps) for obj, a, b in zip(names, bounds[:-1], bounds[1:]))


def plan_scenes(
    n_frames: int, fps: int, scene_s: tuple[float, float], objects: list[str], rng: np.random.Generator
) -> tuple[Scene, ...]:
    """Scenes covering frames ``0 .. n_frames-1``; lengths uniform in ``scene_s`` seconds."""
    bounds = [0]
    while bounds[-1] < n_frames:
        bounds.append(min(n_frames, bounds[-1] + scene_length(fps, scene_s, rng)))
    if len(bounds) > 2 and bounds[-1] - bounds[-2] < MIN_LAST_SCENE_S * fps:
        del bounds[-2]
    return scenes_at(object_order(len(bounds) - 1, objects, rng), bounds, fps)
