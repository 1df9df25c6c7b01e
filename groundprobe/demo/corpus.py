"""The embedded demo corpus: real H.264 videos of real photographs with planted, known grounding.

Every video is a sequence of scenes; each scene pans and zooms over one photograph that ships with
an installed Python package (scikit-image, scikit-learn, matplotlib), so a pretrained 2D backbone
recognises it offline. The narration is a sequence of short phrases written as YouTube-style
automatic captions (rolling WebVTT cues with per-word times). A video's category fixes the
share of its scenes whose object is named while it is on screen; every other word is filler
that names no object. Everything is drawn from the seed, so a corpus is reproducible.

Beyond the rate, the corpus plants the structure that the paper's analyses look for (Hessel et al.
2020, §4-5), each listed in ``planted_truth.json``:

- position: every video opens with intro talk ("hey welcome ...") and closes with outro talk
  ("thanks for watching ... peace") that names the object on screen, whatever the category;
- length: a category's ``length_effect`` sets whether talked-about scenes are narrated densely and
  the others sparsely (``positive``: longer captions are more grounded) or the reverse;
- words: object names are only ever said while their object is on screen; a few other nouns
  (NEVER_GROUNDED_WORDS) only in stretches where nothing on screen is talked about;
- instructional-ness: a fixed share of each category and split is labelled instructional, larger
  in more grounded categories (a weak positive correlation with grounding, with no sampling luck
  in the shares), and instructional videos only show INSTRUCTIONAL_OBJECTS, so the
  other objects form a visual sub-population that a model trained on instructional videos never sees;
- a curation target domain (CUPID): a separate target corpus shows TARGET_OBJECTS only, and so does an
  in-domain minority added to the source's training split (``in_domain``: a few videos per
  category, narrated at the target's rate, half of them titled after what they show); curation
  should find that minority, and pre-training on it should teach the target;
- step localisation (CrossTask): a task set in CrossTask's release format (``crosstask/``) whose
  silent videos show each of a task's steps (CROSSTASK_TASKS, each naming one object every model
  saw) in order, some left out, one scene per step with other objects before and between, so
  every step's annotated interval is exactly the scene of its object.

Planning (scenes, narration, table rows) is pure and separate from rendering (ffmpeg), so the
planted truth can be checked without video.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator

import ffmpeg
import numpy as np
import pandas as pd
from PIL import Image

from groundprobe.io import atomic_output, write_table
from groundprobe.ingest.manifest import SOURCE_COLUMNS, load_yt8m_vocabulary, verticals_of, ytdlp_url

log = logging.getLogger(__name__)

# The photographed objects; each is spoken as its own name (a lower-case token, no filler word).
# One word per object: aliases would split a name's grounding between words in the lexical OLS.
OBJECTS: tuple[str, ...] = ("astronaut", "cat", "coffee", "rocket", "temple", "flower", "officer",
                            "galaxy", "coins", "photographer")

# The curation target domain: objects of the target corpus, which in the source only the in-domain
# minority shows (visually unlike OBJECTS).
TARGET_OBJECTS: tuple[str, ...] = ("motorcycle", "retina", "cells", "moon", "clock")
# Chance that an in-domain source video's title names what it shows (else its category, as others):
# metadata finds only part of the in-domain minority.
IN_DOMAIN_TITLE_P = 0.5

# Ordinary words that never name an object (checked against OBJECTS by the tests).
FILLER_WORDS: tuple[str, ...] = tuple("""
a about after again all almost also always and another any anyway around at away back basically
be because been before being best better big both but by can come could day did different do does
doing done down each easy enough even every exactly feel few find first for from fun get give go
going good got great guess had happy has have here honestly how i if important in into it just
keep kind know last later least let like little long look lot made make many maybe me mean more
most much my need never new next nice no not now of off often ok okay on once one only or other
our out over part people perfect point pretty probably put quick quite ready really right same
say see should show simple so some something soon start still stuff such super sure take than
thanks that the their them then there these thing things think this those though through time to
today together too totally try up us use usually very want was way we well were what when where
which while who why will with work would yeah yes yet you your
""".split())
# Filler words follow Zipf's law, as words of real speech do: a few are said all the time, so that
# off-topic talk cannot single out a moment of a video.
FILLER_P: np.ndarray = (lambda w: w / w.sum())(1.0 / np.arange(1, len(FILLER_WORDS) + 1))

# Intro and outro talk of every video; NAME_SLOT becomes a name of the object on screen there.
NAME_SLOT = "{name}"
INTRO_PHRASES: tuple[tuple[str, ...], ...] = (("hey", "welcome", NAME_SLOT), ("so", "this", "is", NAME_SLOT))
OUTRO_PHRASES: tuple[tuple[str, ...], ...] = (("that", "was", "the", NAME_SLOT), ("thanks", "for", "watching"),
                                               ("peace",))
# Said where a NAME_SLOT word would straddle two scenes (names nothing).
UNPLACED_NAME = "it"

# Nouns of things no video shows, said only while nothing on screen is talked about.
NEVER_GROUNDED_WORDS: tuple[str, ...] = ("pizza", "guitar", "beach")
NEVER_GROUNDED_P = 0.5   # chance that an off-topic phrase carries one of them

# Objects shown in instructional videos; the rest appear in non-instructional videos only.
INSTRUCTIONAL_OBJECTS: tuple[str, ...] = ("cat", "coffee", "temple", "flower", "coins", "photographer",
                                         "officer")


@dataclass(frozen=True)
class SpeechStyle:
    """How a stretch of narration is spoken: ``words`` per phrase (inclusive range) and the mean
    time between phrase onsets as a multiple of ``phrase_s``."""

    words: tuple[int, int]
    spacing: float


DENSE = SpeechStyle((4, 6), 0.5)
SPARSE = SpeechStyle((1, 2), 1.8)
# Which style a talked-about scene gets (the others get the other one), by length_effect.
LENGTH_EFFECTS: dict[str, SpeechStyle] = {"positive": DENSE, "negative": SPARSE}
DEFAULT_LENGTH_EFFECT = "positive"  # a category without length_effect (as config/schema.yaml says)

# Labels added to about a third of the videos; real YouTube-8M names that are no planted category.
SECONDARY_LABELS: tuple[str, ...] = ("Music video", "Outdoor recreation", "Photography", "Dance",
                                     "Fashion")
SECONDARY_LABEL_P = 1 / 3

# Expected QC stage of each deliberately bad input (the stage that must record it).
BAD_INPUT_QC_STAGES: dict[str, str] = {"undecodable": "download", "too_short": "segments",
                                       "no_words": "asr"}
TOO_SHORT_S = 3.0
UNDECODABLE_BYTES = 64 * 1024

# Narration timing: 2-3 words/s; speech fills most of each word's slot.
WORDS_PER_S = (2.0, 3.0)
SPEECH_FILL = 0.85
PHRASE_GAP_S = 0.15          # silence kept between the end of one phrase and the next
FIRST_PHRASE_S = (0.2, 0.8)  # onset of the first phrase
TAIL_S = 0.1                 # the last word ends at least this long before the video does
MIN_LAST_SCENE_S = 3.0       # a shorter remainder joins the previous scene (room for the outro's name)

# Pan and zoom: the crop window shrinks from the photo's largest frame-shaped window by this much.
ZOOM_RANGE = (0.65, 1.0)
# The encoder is half the cost of a demo video: superfast at CRF 28 takes 0.7x the time of
# veryfast and gives ~0.5 MB per 30 s at 320x240 with the photographs still crisp.
X264_PRESET = "superfast"
X264_CRF = 28

# YouTube automatic captions: a line holds about this many characters; a longer pause clears it.
CAPTION_LINE_CHARS = 40
CAPTION_CLEAR_PAUSE_S = 3.0
FROZEN_CUE_MS = 10
MUSIC_CUE_S = 30.0

VIDEO_ID_ALPHABET = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                  "abcdefghijklmnopqrstuvwxyz0123456789-_"))
VIDEO_ID_LENGTH = 11

# Separate random streams, so that e.g. the narration of a video does not depend on its pixels.
_TABLE_STREAM, _NARRATION_STREAM, _RENDER_STREAM, _TARGET_STREAM = 0, 1, 2, 3
_CROSSTASK_STREAM = 4
# Index offset of target-corpus videos in the narration and render streams (never a source index).
TARGET_INDEX_OFFSET = 1_000_000
# The same for the CrossTask task set's videos (never a source or target index).
CROSSTASK_INDEX_OFFSET = 2_000_000


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
        raise ValueError(f"step {step!r} must name exactly one of {INSTRUCTIONAL_OBJECTS}; "
                         f"names {found}")
    return found[0]


# The CrossTask-format task set: every step shows an object that every trained model saw; a step
# name with a comma makes the release file quote it.
CROSSTASK_TASKS: tuple[DemoTask, ...] = (
    DemoTask("90101", "Plan a temple visit", "https://www.wikihow.com/Plan-a-Temple-Visit",
             ("pay with coins", "visit the temple", "find the cat, then wait", "smell the flower")),
    DemoTask("90102", "Serve coffee to a guest", "https://www.wikihow.com/Serve-Coffee-to-a-Guest",
             ("brew the coffee", "greet the officer", "feed the cat", "call the photographer")),
)
CROSSTASK_SKIP_P = 0.25       # chance that a video leaves out a step
CROSSTASK_MIN_STEPS = 2       # steps every video shows at least
CROSSTASK_BREAK_P = 0.5       # chance of a non-step scene between two consecutive shown steps
CROSSTASK_SPLIT = "validation"


def _skimage_photo(name: str, item: int | None = None) -> Callable[[], np.ndarray]:
    """Loader of scikit-image's sample ``name`` (``item`` of it when it is a tuple of images)."""
    def load() -> np.ndarray:
        import skimage.data
        data = getattr(skimage.data, name)()
        return data if item is None else data[item]
    return load


def _sklearn_photo(filename: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from sklearn.datasets import load_sample_image
        return load_sample_image(filename)
    return load


def _matplotlib_photo(filename: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from matplotlib import cbook
        with cbook.get_sample_data(filename) as handle:
            return np.asarray(Image.open(handle).convert("RGB"))
    return load


PHOTO_LOADERS: dict[str, Callable[[], np.ndarray]] = {
    "astronaut": _skimage_photo("astronaut"),
    "cat": _skimage_photo("chelsea"),
    "coffee": _skimage_photo("coffee"),
    "rocket": _skimage_photo("rocket"),
    "temple": _sklearn_photo("china.jpg"),
    "flower": _sklearn_photo("flower.jpg"),
    "officer": _matplotlib_photo("grace_hopper.jpg"),
    "galaxy": _skimage_photo("hubble_deep_field"),
    "coins": _skimage_photo("coins"),
    "photographer": _skimage_photo("camera"),
    "motorcycle": _skimage_photo("stereo_motorcycle", 0),   # (left view, right view, disparity)
    "retina": _skimage_photo("retina"),
    "cells": _skimage_photo("immunohistochemistry"),
    "moon": _skimage_photo("moon"),
    "clock": _skimage_photo("clock"),
}


def load_photo(obj: str) -> np.ndarray:
    """The photograph of ``obj`` as uint8 RGB, shape (height, width, 3); greyscale is replicated."""
    image = np.asarray(PHOTO_LOADERS[obj]())
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3], dtype=np.uint8)


@dataclass(frozen=True)
class Scene:
    """One object on screen from ``start_s`` to ``end_s`` (seconds, on frame boundaries)."""

    obj: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Word:
    """One spoken word (seconds, whole milliseconds); ``names``: the object it names, or None."""

    token: str
    start_s: float
    end_s: float
    names: str | None


@dataclass(frozen=True)
class Phrase:
    """Consecutive words; ``named_object`` is the on-screen object the phrase names, else None;
    ``part`` is ``intro``, ``narration`` or ``outro``."""

    words: tuple[Word, ...]
    named_object: str | None
    part: str = "narration"


@dataclass(frozen=True)
class VideoPlan:
    """Everything drawn for one video before rendering. ``bad_input`` is '' for a normal video."""

    video_id: str
    category: str
    rate: float
    n_frames: int
    fps: int
    scenes: tuple[Scene, ...]
    phrases: tuple[Phrase, ...]
    split: str
    labels: tuple[str, ...]
    title: str
    instructional: int
    length_effect: str = DEFAULT_LENGTH_EFFECT
    bad_input: str = ""
    in_domain: bool = False     # shows TARGET_OBJECTS (the target corpus, or the source's minority)

    @property
    def duration_s(self) -> float:
        return self.n_frames / self.fps

    @property
    def words(self) -> list[Word]:
        return [word for phrase in self.phrases for word in phrase.words]


def random_stream(seed: int, stream: int, index: int = 0) -> np.random.Generator:
    return np.random.default_rng([seed, stream, index])


def video_ids(n: int, rng: np.random.Generator) -> list[str]:
    """``n`` distinct 11-character YouTube-like ids over ``[A-Za-z0-9_-]``."""
    ids: list[str] = []
    while len(ids) < n:
        candidate = "".join(rng.choice(VIDEO_ID_ALPHABET, VIDEO_ID_LENGTH))
        if candidate not in ids:
            ids.append(candidate)
    return ids


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


def plan_scenes(n_frames: int, fps: int, scene_s: tuple[float, float], objects: list[str],
                rng: np.random.Generator) -> tuple[Scene, ...]:
    """Scenes covering frames ``0 .. n_frames-1``; lengths uniform in ``scene_s`` seconds."""
    bounds = [0]
    while bounds[-1] < n_frames:
        bounds.append(min(n_frames, bounds[-1] + scene_length(fps, scene_s, rng)))
    if len(bounds) > 2 and bounds[-1] - bounds[-2] < MIN_LAST_SCENE_S * fps:
        del bounds[-2]
    return scenes_at(object_order(len(bounds) - 1, objects, rng), bounds, fps)


def _scene_holding(scenes: tuple[Scene, ...], start_s: float, end_s: float) -> Scene | None:
    for scene in scenes:
        if scene.start_s <= start_s and end_s <= scene.end_s:
            return scene
    return None


def _phrase_times(onset_s: float, n_words: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Start and end times (seconds, whole ms) of ``n_words`` words spoken from ``onset_s``."""
    slots = rng.uniform(0.8, 1.2, n_words) / rng.uniform(*WORDS_PER_S)
    starts = np.round(onset_s + np.concatenate([[0.0], np.cumsum(slots[:-1])]), 3)
    return starts, np.round(starts + SPEECH_FILL * slots, 3)


def _template_phrase(template: tuple[str, ...], starts: np.ndarray, ends: np.ndarray,
                     scenes: tuple[Scene, ...], part: str) -> Phrase:
    """An intro or outro phrase: NAME_SLOT names the object of the scene holding that word."""
    words, named_object = [], None
    for token, start, end in zip(template, starts, ends):
        names = None
        if token == NAME_SLOT:
            scene = _scene_holding(scenes, start, end)
            token = scene.obj if scene else UNPLACED_NAME
            names = named_object = scene.obj if scene else None
        words.append(Word(token, float(start), float(end), names))
    return Phrase(tuple(words), named_object, part)


def _talk_times(templates: tuple[tuple[str, ...], ...], onset_s: float,
                rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """Word start and end times (seconds) of ``templates`` spoken from ``onset_s``, PHRASE_GAP_S apart."""
    times = []
    for template in templates:
        starts, ends = _phrase_times(onset_s, len(template), rng)
        times.append((starts, ends))
        onset_s = float(ends[-1]) + PHRASE_GAP_S
    return times


def _talk_phrases(templates: tuple[tuple[str, ...], ...], times: list[tuple[np.ndarray, np.ndarray]],
                  scenes: tuple[Scene, ...], part: str) -> list[Phrase]:
    return [_template_phrase(template, starts, ends, scenes, part)
            for template, (starts, ends) in zip(templates, times)]


def _narration_phrase(onset_s: float, style: SpeechStyle, scenes: tuple[Scene, ...],
                      talked_about: set[Scene], off_topic: bool,
                      rng: np.random.Generator) -> Phrase:
    """Filler words; a word lying entirely inside a talked-about scene may name its object (one
    per phrase); an ``off_topic`` phrase that names nothing may carry a never-grounded word."""
    n_words = int(rng.integers(style.words[0], style.words[1] + 1))
    starts, ends = _phrase_times(onset_s, n_words, rng)
    tokens = [str(t) for t in rng.choice(FILLER_WORDS, n_words, p=FILLER_P)]
    names: list[str | None] = [None] * n_words
    named_object = None
    fits = [(i, scene) for i in range(n_words)
            if (scene := _scene_holding(scenes, starts[i], ends[i])) in talked_about]
    if fits:
        position, scene = fits[int(rng.integers(len(fits)))]
        named_object = scene.obj
        names[position] = scene.obj
        tokens[position] = scene.obj
    elif off_topic and rng.random() < NEVER_GROUNDED_P:
        tokens[int(rng.integers(n_words))] = str(rng.choice(NEVER_GROUNDED_WORDS))
    return Phrase(tuple(Word(t, float(a), float(b), n) for t, a, b, n in zip(tokens, starts, ends, names)),
                  named_object)


def _scene_at(scenes: tuple[Scene, ...], time_s: float) -> Scene:
    return next((scene for scene in scenes if time_s < scene.end_s), scenes[-1])


def talked_about_scenes(scenes: tuple[Scene, ...], rate: float, rng: np.random.Generator) -> set[Scene]:
    """The scenes whose object the narration names: a share ``rate`` (0-1) of the scenes between
    the first and the last (all scenes when there are fewer than three), drawn without replacement,
    the fractional scene with its fraction as probability.

    An exact share rather than one draw per scene, so that a category's videos differ little in
    how much of them is grounded (per-scene draws gave a video of six scenes at rate 0.5 anywhere
    from 0 to 6 talked-about scenes). The first and last scenes are left out because the intro and
    outro name their objects in every video whatever the rate.
    """
    inner = scenes[1:-1] if len(scenes) >= 3 else scenes
    k = int(np.floor(rate * len(inner) + rng.random()))
    return {inner[i] for i in rng.permutation(len(inner))[:k]}


def plan_narration(scenes: tuple[Scene, ...], duration_s: float, rate: float, phrase_s: float,
                   length_effect: str, rng: np.random.Generator) -> tuple[Phrase, ...]:
    """Intro talk, narration, outro talk; a share ``rate`` of the scenes between the first and the
    last is talked about (:func:`talked_about_scenes`).

    The rate applies per scene, not per phrase, so that it shows in 5-second segments (a segment
    holds about three phrases: per-phrase naming at 0.9 and 0.6 would name something in nearly
    every segment either way). A narration phrase with a word lying entirely inside a
    talked-about scene names that scene's object at that word, so a name is only ever spoken
    while its object is on screen. Narration in a talked-about scene is spoken in the style
    LENGTH_EFFECTS[length_effect], elsewhere in the other one. The outro ends within the last
    whole second of the video. A video too short for the whole intro keeps the intro phrases that
    fit; one too short for narration after the intro and before the outro keeps only the intro.
    Times are whole milliseconds (seconds).
    """
    talked_about = talked_about_scenes(scenes, rate, rng)
    talked_style = LENGTH_EFFECTS[length_effect]
    other_style = SPARSE if talked_style is DENSE else DENSE
    intro = _talk_phrases(INTRO_PHRASES, _talk_times(INTRO_PHRASES, rng.uniform(*FIRST_PHRASE_S), rng),
                          scenes, "intro")
    # The outro is timed from 0, then moved to end 0.1-0.4 s before the last whole second of the
    # video ends: per-second features and segments do not cover a final partial second.
    outro_times = _talk_times(OUTRO_PHRASES, 0.0, rng)
    outro_end = min(float(np.floor(duration_s)), duration_s - TAIL_S) - rng.uniform(0.1, 0.4)
    shift = outro_end - float(outro_times[-1][1][-1])
    outro = _talk_phrases(OUTRO_PHRASES, [(np.round(a + shift, 3), np.round(b + shift, 3))
                                          for a, b in outro_times], scenes, "outro")
    intro = [phrase for phrase in intro if phrase.words[-1].end_s <= duration_s - TAIL_S]
    if len(intro) < len(INTRO_PHRASES):
        return tuple(intro)
    narration_end = outro[0].words[0].start_s - PHRASE_GAP_S
    if narration_end < intro[-1].words[-1].end_s + PHRASE_GAP_S:
        return tuple(intro)
    phrases = list(intro)
    onset = intro[-1].words[-1].end_s + PHRASE_GAP_S
    while True:
        scene = _scene_at(scenes, onset)
        style = talked_style if scene in talked_about else other_style
        phrase = _narration_phrase(onset, style, scenes, talked_about, scene not in talked_about, rng)
        if phrase.words[-1].end_s > narration_end:
            return tuple(phrases + outro)
        phrases.append(phrase)
        onset = max(onset + phrase_s * style.spacing * rng.uniform(0.6, 1.4),
                    phrase.words[-1].end_s + PHRASE_GAP_S)


def stratified_splits(n: int, validation_fraction: float, rng: np.random.Generator) -> list[str]:
    """Splits of one category's ``n`` videos: round(n * fraction) validation, but at least
    min(3, n // 2) of each split, so that every category is trained on and evaluated."""
    least = min(3, n // 2)
    n_validation = int(np.clip(round(n * validation_fraction), least, n - least))
    splits = np.array(["train"] * n, dtype=object)
    splits[rng.permutation(n)[:n_validation]] = "validation"
    return splits.tolist()


def instructional_share(rate: float) -> float:
    """Share of a category's videos labelled instructional, given its grounding ``rate`` (0-1)."""
    return 0.25 + 0.5 * rate


def stratified_labels(splits: list[str], share: float, rng: np.random.Generator) -> list[int]:
    """0/1 flags (instructional labels, in-domain flags) for one category's videos, given their
    ``splits``: exactly round(count * share) of each split, at random positions, so each split
    keeps the planted share."""
    labels = np.zeros(len(splits), dtype=int)
    for split in sorted(set(splits)):
        members = np.flatnonzero(np.array(splits, dtype=object) == split)
        labels[rng.permutation(members)[:round(len(members) * share)]] = 1
    return labels.tolist()


def make_title(topic: str, instructional: int, rng: np.random.Generator) -> str:
    """A short title about ``topic``; instructional videos start with 'How to'."""
    if instructional:
        verb = rng.choice(["get started with", "improve your", "film your", "plan your",
                           "set up your"])
        return f"How to {verb} {topic.lower()}"
    template = rng.choice(["My {t} weekend", "{T} highlights", "A quiet {t} afternoon",
                           "{T} diary day {n}", "Best {t} moments"])
    return template.format(t=topic.lower(), T=topic.capitalize(), n=int(rng.integers(1, 30)))


def target_title(scenes: tuple[Scene, ...]) -> str:
    """A target video's title: the first two objects it shows ("Moon and clock"), in words that no
    source title template uses, so that only object names can match a source title."""
    shown = list(dict.fromkeys(scene.obj for scene in scenes))[:2]
    return " and ".join(shown).capitalize()


def draw_video(video_id: str, index: int, category: dict, n_frames: int, split: str,
                instructional: int, table_rng: np.random.Generator, params: dict,
                bad_input: str = "", in_domain: bool = False, titled_by_object: bool = False
                ) -> VideoPlan:
    """Table fields from ``table_rng``; scenes and narration from the video's own stream.

    ``category``: one entry of the ``categories`` config (label, rate, optional length_effect).
    ``in_domain``: the video shows TARGET_OBJECTS; ``titled_by_object``: its title names the first
    object it shows instead of its category.
    """
    rate = float(category["rate"])
    length_effect = category.get("length_effect", DEFAULT_LENGTH_EFFECT)
    secondary = [lab for lab in SECONDARY_LABELS
                 if lab not in {c["label"] for c in params["categories"]}]
    labels = (category["label"],)
    if secondary and table_rng.random() < SECONDARY_LABEL_P:
        labels += (str(table_rng.choice(secondary)),)
    fps = int(params["fps"])
    narration_rng = random_stream(int(params["seed"]), _NARRATION_STREAM, index)
    objects = list(TARGET_OBJECTS if in_domain else INSTRUCTIONAL_OBJECTS if instructional else OBJECTS)
    scenes = plan_scenes(n_frames, fps, tuple(params["scene_s"]), objects, narration_rng)
    title = make_title(scenes[0].obj if titled_by_object else category["label"], instructional,
                       table_rng)
    phrases = () if bad_input == "no_words" else plan_narration(
        scenes, n_frames / fps, rate, float(params["phrase_s"]), length_effect, narration_rng)
    return VideoPlan(video_id, category["label"], rate, n_frames, fps, scenes, phrases, split, labels,
                     title, instructional, length_effect, bad_input, in_domain)


def plan_corpus(params: dict) -> list[VideoPlan]:
    """Every video of the source corpus described by the ``demo_corpus`` config block, without
    pixels: normal videos category by category, the bad inputs (when ``bad_inputs``), then the
    in-domain minority (:func:`plan_in_domain_minority`), which draws from a stream of its own
    and comes last, so that the rest of the corpus does not depend on it.
    """
    seed, fps = int(params["seed"]), int(params["fps"])
    categories = params["categories"]
    per_category = int(params["videos_per_category"])
    n_bad = len(BAD_INPUT_QC_STAGES) if params["bad_inputs"] else 0
    table_rng = random_stream(seed, _TABLE_STREAM)
    ids = video_ids(per_category * len(categories) + n_bad, table_rng)
    plans: list[VideoPlan] = []
    for category in categories:
        splits = stratified_splits(per_category, float(params["validation_fraction"]), table_rng)
        labels = stratified_labels(splits, instructional_share(float(category["rate"])), table_rng)
        for split, instructional in zip(splits, labels):
            n_frames = round(table_rng.uniform(*params["duration_s"]) * fps)
            index = len(plans)
            plans.append(draw_video(ids[index], index, category, n_frames, split, instructional,
                                     table_rng, params))
    for kind in list(BAD_INPUT_QC_STAGES)[:n_bad]:
        seconds = TOO_SHORT_S if kind == "too_short" else table_rng.uniform(*params["duration_s"])
        index = len(plans)
        plans.append(draw_video(ids[index], index, categories[0], round(seconds * fps), "validation",
                                 0, table_rng, params, kind))
    minority = plan_in_domain_minority(params, len(plans))
    refuse_repeated_ids("in-domain", minority, plans)
    return plans + minority


def refuse_repeated_ids(name: str, plans: list[VideoPlan], others: list[VideoPlan]) -> None:
    """ValueError when a video of ``plans`` (the ``name`` videos) has the id of one of ``others``
    (ids are drawn from separate streams, so a seed could make two collide)."""
    repeated = {p.video_id for p in plans} & {p.video_id for p in others}
    if repeated:
        raise ValueError(f"demo corpus: {name} ids {sorted(repeated)} repeat other ids; change the seed")


def plan_in_domain_minority(params: dict, first_index: int) -> list[VideoPlan]:
    """The source's in-domain minority: ``target_domain.source_videos`` training videos per
    category that show TARGET_OBJECTS, narrated at ``target_domain.rate``, non-instructional,
    titled after their first object with probability IN_DOMAIN_TITLE_P (after their category
    otherwise). Training videos only: the pool curation selects from, while the study's
    validation videos keep their category's planted grounding. Indices (narration and render
    streams) start at ``first_index``."""
    seed, fps = int(params["seed"]), int(params["fps"])
    target = params["target_domain"]
    per_category = int(target["source_videos"])
    rng = random_stream(seed, _TARGET_STREAM)
    ids = video_ids(per_category * len(params["categories"]), rng)
    plans: list[VideoPlan] = []
    for category in params["categories"]:
        narrated_like_target = {"label": category["label"], "rate": target["rate"]}
        for _ in range(per_category):
            n_frames = round(rng.uniform(*params["duration_s"]) * fps)
            titled = bool(rng.random() < IN_DOMAIN_TITLE_P)
            plans.append(draw_video(ids[len(plans)], first_index + len(plans), narrated_like_target,
                                     n_frames, "train", 0, rng, params, in_domain=True,
                                     titled_by_object=titled))
    return plans


def plan_target_corpus(params: dict) -> list[VideoPlan]:
    """The curation target corpus of the ``target_domain`` block, without pixels: videos that show
    TARGET_OBJECTS only, narrated at the target's rate, titled by target_title, split like a
    category (train: what curation compares the source with; validation: what the probes use).
    Ids and streams are the target's own, so the source corpus does not depend on them."""
    seed, fps = int(params["seed"]), int(params["fps"])
    target = params["target_domain"]
    rng = random_stream(seed, _TARGET_STREAM, 1)
    n = int(target["videos"])
    ids = video_ids(n, rng)
    category = {"label": target["label"], "rate": target["rate"]}
    plans = []
    for k, split in enumerate(stratified_splits(n, float(params["validation_fraction"]), rng)):
        n_frames = round(rng.uniform(*params["duration_s"]) * fps)
        plan = draw_video(ids[k], TARGET_INDEX_OFFSET + k, category, n_frames, split, 0, rng, params,
                           in_domain=True, titled_by_object=True)
        plans.append(replace(plan, title=target_title(plan.scenes)))
    return plans


@dataclass(frozen=True)
class CrossTaskVideo:
    """One video of the CrossTask-format task set: the task whose steps its ``plan`` shows."""

    task: DemoTask
    plan: VideoPlan

    def step_intervals(self) -> list[tuple[int, float, float]]:
        """(1-based step, start_s, end_s) of every shown step in order: its scene, in seconds
        rounded to whole milliseconds."""
        objects = self.task.step_objects
        return [(objects.index(scene.obj) + 1, round(scene.start_s, 3), round(scene.end_s, 3))
                for scene in self.plan.scenes if scene.obj in objects]


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


def plan_crosstask_video(task: DemoTask, video_id: str, params: dict,
                         rng: np.random.Generator) -> VideoPlan:
    """A silent validation video showing ``task``'s steps (:func:`crosstask_objects`), each scene
    uniform in ``scene_s`` seconds on frame boundaries; titled and categorised by the task name."""
    fps = int(params["fps"])
    objects = crosstask_objects(task, rng)
    bounds = np.cumsum([0] + [scene_length(fps, tuple(params["scene_s"]), rng) for _ in objects])
    scenes = scenes_at(objects, bounds.tolist(), fps)
    return VideoPlan(video_id, task.name, 0.0, int(bounds[-1]), fps, scenes, (), CROSSTASK_SPLIT, (),
                     task.name, 0)


def plan_crosstask(params: dict) -> list[CrossTaskVideo]:
    """The CrossTask-format task set of the ``crosstask`` block, without pixels:
    ``videos_per_task`` videos of each of CROSSTASK_TASKS, task by task. Ids come from a stream of
    their own and each video's scenes from its own (narration stream, CROSSTASK_INDEX_OFFSET + k),
    so the rest of the corpus does not depend on the task set."""
    seed = int(params["seed"])
    per_task = int(params["crosstask"]["videos_per_task"])
    ids = iter(video_ids(per_task * len(CROSSTASK_TASKS), random_stream(seed, _CROSSTASK_STREAM)))
    videos = []
    for task in CROSSTASK_TASKS:
        for _ in range(per_task):
            rng = random_stream(seed, _NARRATION_STREAM, CROSSTASK_INDEX_OFFSET + len(videos))
            videos.append(CrossTaskVideo(task, plan_crosstask_video(task, next(ids), params, rng)))
    return videos


def _timestamp(ms: int) -> str:
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"


def _cue(start_ms: int, end_ms: int, first_line: str, second_line: str) -> str:
    return (f"{_timestamp(start_ms)} --> {_timestamp(end_ms)} align:start position:0%\n"
            f"{first_line}\n{second_line}\n")


VTT_HEADER = "WEBVTT\nKind: captions\nLanguage: en\n"


TimedWordMs = tuple[str, int, int]   # token, start_ms, end_ms


def _caption_lines(words_ms: list[TimedWordMs]) -> list[tuple[list[TimedWordMs], bool]]:
    """Words grouped into caption lines; each line says whether a long pause cleared the screen."""
    lines: list[tuple[list[TimedWordMs], bool]] = []
    previous_end = None
    for word in words_ms:
        paused = previous_end is None or word[1] - previous_end > CAPTION_CLEAR_PAUSE_S * 1000
        if lines and not paused:
            text = " ".join(w[0] for w in lines[-1][0]) + " " + word[0]
            if len(text) <= CAPTION_LINE_CHARS:
                lines[-1][0].append(word)
                previous_end = word[2]
                continue
        lines.append(([word], paused))
        previous_end = word[2]
    return lines


def auto_caption_vtt(words: list[tuple[str, float, float]]) -> str:
    """WebVTT text in the format of YouTube's automatic captions for timed ``words``.

    ``words``: (token, start_s, end_s) sorted by start, starts at least 20 ms apart (times are
    written in whole milliseconds). Each caption line becomes a rolling cue: the previous line on
    top (blank after a long pause), the new line below with a ``<hh:mm:ss.mmm><c> word</c>`` tag
    before every word but its first, which starts at the cue start. A 10 ms cue repeating the
    completed line follows, ending where the next line starts. Raises ValueError on bad input.
    """
    words_ms = [(token, round(start * 1000), round(end * 1000)) for token, start, end in words]
    for i, (token, start, end) in enumerate(words_ms):
        if not token or any(ch.isspace() or ch in "<>&" for ch in token):
            raise ValueError(f"word {i} {token!r}: a token must be non-empty, "
                             "without spaces or <>&")
        if start < 0 or end <= start:
            raise ValueError(f"word {i} {token!r}: needs 0 <= start < end, "
                             f"got {start} ms, {end} ms")
        if i and start - words_ms[i - 1][1] < 2 * FROZEN_CUE_MS:
            raise ValueError(f"word {i} {token!r} starts less than {2 * FROZEN_CUE_MS} ms after "
                             "the previous word; captions cannot keep their order")
    lines = _caption_lines(words_ms)
    cues = []
    for k, (line, cleared) in enumerate(lines):
        above = " " if cleared else " ".join(w[0] for w in lines[k - 1][0])
        tagged = line[0][0] + "".join(f"<{_timestamp(s)}><c> {t}</c>" for t, s, _ in line[1:])
        if k + 1 < len(lines):
            next_start = lines[k + 1][0][0][1]
            cues.append(_cue(line[0][1], next_start - FROZEN_CUE_MS, above, tagged))
            kept = " " if lines[k + 1][1] else " ".join(w[0] for w in line)
            cues.append(_cue(next_start - FROZEN_CUE_MS, next_start, kept, " "))
        else:
            cues.append(_cue(line[0][1], line[-1][2], above, tagged))
    return "\n".join([VTT_HEADER] + cues)


def music_only_vtt(duration_s: float) -> str:
    """Automatic captions of a video without speech: ``[Music]`` cues, as YouTube marks music."""
    total_ms = round(duration_s * 1000)
    bounds = list(range(0, total_ms, round(MUSIC_CUE_S * 1000))) + [total_ms]
    cues = []
    for k, (start, end) in enumerate(zip(bounds[:-1], bounds[1:])):
        last = k + 2 == len(bounds)
        cues.append(_cue(start, end if last else end - FROZEN_CUE_MS, " ", "[Music]"))
        if not last:
            cues.append(_cue(end - FROZEN_CUE_MS, end, " ", " "))
    return "\n".join([VTT_HEADER] + cues)


def working_photo(photo: np.ndarray, width: int, height: int) -> Image.Image:
    """``photo`` rescaled once so that its largest frame-shaped window is exactly one frame;
    per-frame crops then only ever upsample (two-tap bilinear: the cheapest smooth resize)."""
    h, w = photo.shape[:2]
    scale = width / min(w, h * width / height)
    size = (max(width, round(w * scale)), max(height, round(h * scale)))
    return Image.fromarray(photo).resize(size, Image.Resampling.LANCZOS)


def _random_window(image_size: tuple[int, int], aspect: float,
                   rng: np.random.Generator) -> np.ndarray:
    """A frame-shaped window (x, y, width) inside the image, its size a random share of the
    largest one; ``aspect`` is frame height / width."""
    w, h = image_size
    size = min(w, h / aspect) * rng.uniform(*ZOOM_RANGE)
    return np.array([rng.uniform(0, w - size), rng.uniform(0, h - size * aspect), size])


def scene_frames(image: Image.Image, n_frames: int, width: int, height: int,
                 rng: np.random.Generator) -> Iterator[bytes]:
    """Raw rgb24 frames (width x height) panning and zooming from one random window to another.

    Windows are interpolated with an ease-in-out curve; any mix of two windows inside the image is
    inside it too, so every crop is valid. Sub-pixel crop boxes keep the motion smooth.
    """
    aspect = height / width
    start, end = (_random_window(image.size, aspect, rng) for _ in range(2))
    for f in range(n_frames):
        u = f / max(n_frames - 1, 1)
        x, y, size = start + (end - start) * (u * u * (3 - 2 * u))
        box = (x, y, min(x + size, image.width), min(y + size * aspect, image.height))
        yield image.resize((width, height), Image.Resampling.BILINEAR, box=box).tobytes()


def render_video(path: Path, plan: VideoPlan, photos: dict[str, Image.Image], width: int,
                 height: int, rng: np.random.Generator) -> None:
    """Encode ``plan``'s scenes to an H.264 mp4 at ``path`` (atomically), one frame at a time.

    Bit-exact flags and a single encoder thread make the file reproducible on one ffmpeg build.
    """
    with atomic_output(path) as tmp:
        process = (
            ffmpeg.input("pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{width}x{height}",
                         framerate=plan.fps)
            .output(str(tmp), format="mp4", vcodec="libx264", pix_fmt="yuv420p",
                    preset=X264_PRESET, crf=X264_CRF, threads=1, fflags="+bitexact",
                    **{"flags:v": "+bitexact", "x264-params": "threads=1"})
            .global_args("-v", "error", "-nostdin")
            .overwrite_output()
            .run_async(pipe_stdin=True, pipe_stderr=True)
        )
        try:
            for scene in plan.scenes:
                n = round((scene.end_s - scene.start_s) * plan.fps)
                for frame in scene_frames(photos[scene.obj], n, width, height, rng):
                    process.stdin.write(frame)
        except BrokenPipeError:
            pass  # ffmpeg exited early; its own message is read below
        except BaseException:
            process.kill()
            raise
        finally:
            error = process.communicate()[1].decode(errors="replace").strip()
        if process.returncode != 0:
            raise RuntimeError(f"{plan.video_id}: ffmpeg could not encode the demo video: {error}")


def _caption_text(plan: VideoPlan) -> str:
    if plan.bad_input == "no_words":
        return music_only_vtt(plan.duration_s)
    return auto_caption_vtt([(w.token, w.start_s, w.end_s) for w in plan.words])


def sources_table(plans: list[VideoPlan], out_dir: Path, vocabulary: pd.DataFrame,
                  labelled: bool = True, captioned: bool = True) -> pd.DataFrame:
    """The sources table (manifest.SOURCE_COLUMNS) of the corpus; paths as ``out_dir`` is given.
    ``labelled``: write the instructional labels (the target corpus has none: empty cells);
    ``captioned``: name the caption files (the CrossTask task set has none: empty cells)."""
    vertical_by_label = dict(zip(vocabulary["Name"], vocabulary["Vertical1"]))
    rows = []
    for plan in plans:
        labels = ";".join(plan.labels)
        rows.append({
            "video_id": plan.video_id, "source": str(out_dir / "videos" / f"{plan.video_id}.mp4"),
            "source_type": "local",
            "captions": str(out_dir / "captions" / f"{plan.video_id}.en.vtt") if captioned else "",
            "caption_kind": "auto", "title": plan.title, "labels": labels,
            "verticals": verticals_of(labels, vertical_by_label), "split": plan.split,
            "instructional": plan.instructional if labelled else "",
        })
    return pd.DataFrame(rows, columns=SOURCE_COLUMNS)


def planted_truth(params: dict, plans: list[VideoPlan], target_plans: list[VideoPlan],
                  vocabulary: pd.DataFrame, crosstask: list[CrossTaskVideo] = (),
                  instructional: list[VideoPlan] = ()) -> dict:
    """What the corpus plants: rates, length effects, verticals and videos per category; objects,
    which of them instructional videos show, intro/outro talk, always- and never-grounded words,
    bad inputs; the target domain (its objects, the target corpus's videos and the source's
    in-domain videos); per video (source and target) its instructional label, whether it is
    in-domain, scenes and words (token, start_s, end_s, named object or null, part of the
    narration); the CrossTask task set when there is one (:func:`crosstask_truth`); the
    instructional corpus's video ids and rate when there is one."""
    vertical_by_label = dict(zip(vocabulary["Name"], vocabulary["Vertical1"]))
    normal = [p for p in plans if not p.bad_input]
    target_ids = {p.video_id for p in target_plans}
    return {
        "seed": int(params["seed"]),
        "categories": {
            c["label"]: {"rate": float(c["rate"]),
                         "length_effect": c.get("length_effect", DEFAULT_LENGTH_EFFECT),
                         "vertical": verticals_of(c["label"], vertical_by_label),
                         "video_ids": [p.video_id for p in normal if p.category == c["label"]]}
            for c in params["categories"]},
        "objects": list(OBJECTS),
        "instructional_objects": list(INSTRUCTIONAL_OBJECTS),
        "intro_phrases": [list(t) for t in INTRO_PHRASES],
        "outro_phrases": [list(t) for t in OUTRO_PHRASES],
        "always_grounded_words": sorted(OBJECTS),
        "never_grounded_words": list(NEVER_GROUNDED_WORDS),
        "filler_words": len(FILLER_WORDS),
        "bad_inputs": {p.bad_input: {"video_id": p.video_id,
                                     "qc_stage": BAD_INPUT_QC_STAGES[p.bad_input]}
                       for p in plans if p.bad_input},
        "target_domain": {"objects": list(TARGET_OBJECTS), **params["target_domain"],
                          "target_video_ids": [p.video_id for p in target_plans],
                          "source_in_domain_ids": [p.video_id for p in plans if p.in_domain]},
        "videos": {
            p.video_id: {
                "category": p.category, "rate": p.rate, "duration_s": p.duration_s,
                "instructional": p.instructional, "in_domain": p.in_domain,
                "corpus": "target" if p.video_id in target_ids else "source",
                "phrases": len(p.phrases),
                "named_phrases": sum(ph.named_object is not None for ph in p.phrases),
                "scenes": [[s.obj, s.start_s, s.end_s] for s in p.scenes],
                "words": [[w.token, w.start_s, w.end_s, w.names, ph.part]
                          for ph in p.phrases for w in ph.words],
            } for p in plans + target_plans},
        **({"crosstask": crosstask_truth(crosstask)} if crosstask else {}),
        **({"instructional_corpus": {**params["instructional_corpus"],
                                     "video_ids": [p.video_id for p in instructional]}}
           if instructional else {}),
    }


def crosstask_truth(videos: list[CrossTaskVideo]) -> dict:
    """The CrossTask task set's planted truth: the tasks (id, name, URL, step names and the object
    each step shows) and per video its task, duration (seconds), scenes and step intervals as
    [1-based step, start_s, end_s]."""
    return {
        "tasks": [{"task_id": t.task_id, "name": t.name, "url": t.url, "steps": list(t.steps),
                   "step_objects": list(t.step_objects)} for t in CROSSTASK_TASKS],
        "videos": {v.plan.video_id: {
            "task_id": v.task.task_id, "duration_s": v.plan.duration_s,
            "scenes": [[s.obj, s.start_s, s.end_s] for s in v.plan.scenes],
            "step_intervals_1based": [list(interval) for interval in v.step_intervals()],
        } for v in videos},
    }


def _write_text(path: Path, text: str) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _write_video_files(plan: VideoPlan, index: int, out: Path, photos: dict[str, Image.Image],
                       params: dict, captioned: bool = True) -> None:
    """The mp4 (or, for the undecodable input, random bytes) and, when ``captioned``, the caption
    file of one video."""
    video = out / "videos" / f"{plan.video_id}.mp4"
    rng = random_stream(int(params["seed"]), _RENDER_STREAM, index)
    if plan.bad_input == "undecodable":
        with atomic_output(video) as tmp:
            tmp.write_bytes(rng.bytes(UNDECODABLE_BYTES))
    else:
        render_video(video, plan, photos, int(params["width"]), int(params["height"]), rng)
    if captioned:
        _write_text(out / "captions" / f"{plan.video_id}.en.vtt", _caption_text(plan))
    log.info("%s: %s, %.1f s, %d words%s", plan.video_id, plan.category, plan.duration_s,
             len(plan.words), f" (bad input: {plan.bad_input})" if plan.bad_input else "")


def _csv_text(rows: list) -> str:
    """CSV lines (comma-separated, quoted only where needed, ``\\n`` line ends) of ``rows``."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def crosstask_tasks_text(tasks: tuple[DemoTask, ...]) -> str:
    """``tasks_primary.txt`` in CrossTask's release format: per task its id, name, URL, number of
    steps and the step names as one CSV line (a name with a comma quoted), then a blank line."""
    return "".join("\n".join([t.task_id, t.name, t.url, str(len(t.steps))]) + "\n"
                   + _csv_text([t.steps]) + "\n" for t in tasks)


def write_crosstask(videos: list[CrossTaskVideo], out: Path, vocabulary: pd.DataFrame) -> None:
    """The CrossTask task set under ``out/crosstask``: ``tasks_primary.txt``,
    ``annotations/<task>_<video>.csv`` (rows ``step,start,end``: 1-based step, seconds),
    ``videos_val.csv`` (rows ``task,video_id,url``) and, last, ``sources.tsv`` (the videos,
    without captions, instructional labels or YouTube-8M labels; split CROSSTASK_SPLIT)."""
    folder = out / "crosstask"
    _write_text(folder / "tasks_primary.txt", crosstask_tasks_text(CROSSTASK_TASKS))
    for video in videos:
        _write_text(folder / "annotations" / f"{video.task.task_id}_{video.plan.video_id}.csv",
                    _csv_text(video.step_intervals()))
    _write_text(folder / "videos_val.csv", _csv_text(
        [[v.task.task_id, v.plan.video_id, ytdlp_url(v.plan.video_id)] for v in videos]))
    write_table(sources_table([v.plan for v in videos], out, vocabulary, labelled=False,
                              captioned=False), folder / "sources.tsv")


def generate_demo_corpus(params: dict, out_dir: str | Path, workers: int = 1) -> Path:
    """Write the demo corpus described by the ``demo_corpus`` config block into ``out_dir``.

    Writes ``videos/<id>.mp4``, ``captions/<id>.en.vtt`` (of the target corpus's videos too; the
    CrossTask task set's videos have none), ``howto100m/`` (the instructional corpus in
    HowTo100M's release format, groundprobe.demo.howto100m, when ``instructional_corpus.videos``
    > 0), then ``planted_truth.json``, ``target/sources.tsv``
    (when ``target_domain.videos`` > 0), ``crosstask/`` (:func:`write_crosstask`, when
    ``crosstask.videos_per_task`` > 0) and ``sources.tsv`` (last, so a complete table means a
    complete corpus). Returns the table's path. ``workers`` videos are rendered at once (threads:
    Pillow and the pipe release the GIL, and each video has its own ffmpeg process and random
    stream, so the output does not depend on it).
    """
    # Imported here: it builds its plans with this module's.
    from groundprobe.demo.howto100m import (FOLDER, INSTRUCTIONAL_INDEX_OFFSET,
                                            plan_instructional_corpus, write_instructional_release)

    out = Path(out_dir)
    plans, target_plans = plan_corpus(params), plan_target_corpus(params)
    crosstask = plan_crosstask(params)
    instructional = plan_instructional_corpus(params)
    refuse_repeated_ids("target", target_plans, plans)
    refuse_repeated_ids("CrossTask", [v.plan for v in crosstask], plans + target_plans)
    refuse_repeated_ids("instructional", instructional,
                        plans + target_plans + [v.plan for v in crosstask])
    photos = {obj: working_photo(load_photo(obj), int(params["width"]), int(params["height"]))
              for obj in OBJECTS + TARGET_OBJECTS}
    # (render stream index, plan, folder, whether it has a caption file of its own)
    indexed = ([(index, plan, out, True) for index, plan in enumerate(plans)]
               + [(TARGET_INDEX_OFFSET + k, plan, out, True) for k, plan in enumerate(target_plans)]
               + [(CROSSTASK_INDEX_OFFSET + k, v.plan, out, False) for k, v in enumerate(crosstask)]
               + [(INSTRUCTIONAL_INDEX_OFFSET + k, plan, out / FOLDER, False)
                  for k, plan in enumerate(instructional)])
    with ThreadPoolExecutor(max_workers=workers) as pool:
        jobs = [pool.submit(_write_video_files, plan, index, folder, photos, params, captioned)
                for index, plan, folder, captioned in indexed]
        for job in jobs:
            job.result()
    vocabulary = load_yt8m_vocabulary()
    _write_text(out / "planted_truth.json",
                json.dumps(planted_truth(params, plans, target_plans, vocabulary, crosstask, instructional),
                           indent=1) + "\n")
    if target_plans:
        write_table(sources_table(target_plans, out, vocabulary, labelled=False),
                    out / "target" / "sources.tsv")
    if crosstask:
        write_crosstask(crosstask, out, vocabulary)
    if instructional:
        write_instructional_release(instructional, out)
    sources = out / "sources.tsv"
    write_table(sources_table(plans, out, vocabulary), sources)
    log.info("demo corpus: %d videos in %s", len(plans), out)
    return sources
