"""The plans of the demo's corpora, everything drawn before rendering: a video's plan (VideoPlan:
table fields, scenes, narration), the random streams and index ranges that keep the corpora apart,
and the planning of the source corpus (with its bad inputs and in-domain minority) and of the
curation target corpus.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from groundprobe.demo.narration import DEFAULT_LENGTH_EFFECT, Phrase, SpokenWord, plan_narration
from groundprobe.demo.photos import INSTRUCTIONAL_OBJECTS, OBJECTS, TARGET_OBJECTS
from groundprobe.demo.scenes import Scene, plan_scenes
from groundprobe.settings import DemoCategory, DemoCorpusSettings

# Chance that an in-domain source video's title names what it shows (else its category, as others):
# metadata finds only part of the in-domain minority.
IN_DOMAIN_TITLE_P = 0.5

# Labels added to about a third of the videos; real YouTube-8M names that are no planted category.
SECONDARY_LABELS: tuple[str, ...] = ("Music video", "Outdoor recreation", "Photography", "Dance", "Fashion")
SECONDARY_LABEL_P = 1 / 3

# Expected QC stage of each deliberately bad input (the stage that must record it).
BAD_INPUT_QC_STAGES: dict[str, str] = {"undecodable": "download", "too_short": "segments", "no_words": "asr"}
TOO_SHORT_S = 3.0

VIDEO_ID_ALPHABET = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"))
VIDEO_ID_LENGTH = 11

# Separate random streams, so that e.g. the narration of a video does not depend on its pixels.
TABLE_STREAM, NARRATION_STREAM, RENDER_STREAM, TARGET_STREAM = 0, 1, 2, 3
CROSSTASK_STREAM = 4
# Index offset of target-corpus videos in the narration and render streams (never a source index).
TARGET_INDEX_OFFSET = 1_000_000
# The same for the CrossTask task set's videos (never a source or target index).
CROSSTASK_INDEX_OFFSET = 2_000_000


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
    in_domain: bool = False  # shows TARGET_OBJECTS (the target corpus, or the source's minority)

    @property
    def duration_s(self) -> float:
        return self.n_frames / self.fps

    @property
    def words(self) -> list[SpokenWord]:
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
        labels[rng.permutation(members)[: round(len(members) * share)]] = 1
    return labels.tolist()


def make_title(topic: str, instructional: int, rng: np.random.Generator) -> str:
    """A short title about ``topic``; instructional videos start with 'How to'."""
    if instructional:
        verb = rng.choice(["get started with", "improve your", "film your", "plan your", "set up your"])
        return f"How to {verb} {topic.lower()}"
    template = rng.choice(
        ["My {t} weekend", "{T} highlights", "A quiet {t} afternoon", "{T} diary day {n}", "Best {t} moments"]
    )
    return template.format(t=topic.lower(), T=topic.capitalize(), n=int(rng.integers(1, 30)))


def target_title(scenes: tuple[Scene, ...]) -> str:
    """A target video's title: the first two objects it shows ("Moon and clock"), in words that no
    source title template uses, so that only object names can match a source title."""
    shown = list(dict.fromkeys(scene.obj for scene in scenes))[:2]
    return " and ".join(shown).capitalize()


def draw_video(
    video_id: str,
    index: int,
    category: DemoCategory,
    n_frames: int,
    split: str,
    instructional: int,
    table_rng: np.random.Generator,
    settings: DemoCorpusSettings,
    bad_input: str = "",
    in_domain: bool = False,
    titled_by_object: bool = False,
) -> VideoPlan:
    """Table fields from ``table_rng``; scenes and narration from the video's own stream.

    ``category``: one of ``settings.categories``, or the one a target, in-domain or instructional
    video is labelled and narrated as.
    ``in_domain``: the video shows TARGET_OBJECTS; ``titled_by_object``: its title names the first
    object it shows instead of its category.
    """
    rate = float(category.rate)
    length_effect = category.length_effect
    secondary = [lab for lab in SECONDARY_LABELS if lab not in {c.label for c in settings.categories}]
    labels = (category.label,)
    if secondary and table_rng.random() < SECONDARY_LABEL_P:
        labels += (str(table_rng.choice(secondary)),)
    fps = settings.fps
    narration_rng = random_stream(settings.seed, NARRATION_STREAM, index)
    objects = list(TARGET_OBJECTS if in_domain else INSTRUCTIONAL_OBJECTS if instructional else OBJECTS)
    scenes = plan_scenes(n_frames, fps, settings.scene_s, objects, narration_rng)
    title = make_title(scenes[0].obj if titled_by_object else category.label, instructional, table_rng)
    phrases = (
        ()
        if bad_input == "no_words"
        else plan_narration(scenes, n_frames / fps, rate, float(settings.phrase_s), length_effect, narration_rng)
    )
    return VideoPlan(
        video_id,
        category.label,
        rate,
        n_frames,
        fps,
        scenes,
        phrases,
        split,
        labels,
        title,
        instructional,
        length_effect,
        bad_input,
        in_domain,
    )


def plan_corpus(settings: DemoCorpusSettings) -> list[VideoPlan]:
    """Every video of the source corpus described by the ``demo_corpus`` config block, without
    pixels: normal videos category by category, the bad inputs (when ``bad_inputs``), then the
    in-domain minority (:func:`plan_in_domain_minority`), which draws from a stream of its own
    and comes last, so that the rest of the corpus does not depend on it.
    """
    seed, fps = settings.seed, settings.fps
    categories = settings.categories
    per_category = settings.videos_per_category
    n_bad = len(BAD_INPUT_QC_STAGES) if settings.bad_inputs else 0
    table_rng = random_stream(seed, TABLE_STREAM)
    ids = video_ids(per_category * len(categories) + n_bad, table_rng)
    plans: list[VideoPlan] = []
    for category in categories:
        splits = stratified_splits(per_category, settings.validation_fraction, table_rng)
        labels = stratified_labels(splits, instructional_share(float(category.rate)), table_rng)
        for split, instructional in zip(splits, labels):
            n_frames = round(table_rng.uniform(*settings.duration_s) * fps)
            index = len(plans)
            plans.append(draw_video(ids[index], index, category, n_frames, split, instructional, table_rng, settings))
    for kind in list(BAD_INPUT_QC_STAGES)[:n_bad]:
        seconds = TOO_SHORT_S if kind == "too_short" else table_rng.uniform(*settings.duration_s)
        index = len(plans)
        plans.append(
            draw_video(
                ids[index], index, categories[0], round(seconds * fps), "validation", 0, table_rng, settings, kind
            )
        )
    minority = plan_in_domain_minority(settings, len(plans))
    refuse_repeated_ids("in-domain", minority, plans)
    return plans + minority


def refuse_repeated_ids(name: str, plans: list[VideoPlan], others: list[VideoPlan]) -> None:
    """ValueError when a video of ``plans`` (the ``name`` videos) has the id of one of ``others``
    (ids are drawn from separate streams, so a seed could make two collide)."""
    repeated = {p.video_id for p in plans} & {p.video_id for p in others}
    if repeated:
        raise ValueError(f"demo corpus: {name} ids {sorted(repeated)} repeat other ids; change the seed")


def plan_in_domain_minority(settings: DemoCorpusSettings, first_index: int) -> list[VideoPlan]:
    """The source's in-domain minority: ``target_domain.source_videos`` training videos per
    category that show TARGET_OBJECTS, narrated at ``target_domain.rate``, non-instructional,
    titled after their first object with probability IN_DOMAIN_TITLE_P (after their category
    otherwise). Training videos only: the pool curation selects from, while the study's
    validation videos keep their category's planted grounding. Indices (narration and render
    streams) start at ``first_index``."""
    seed, fps = settings.seed, settings.fps
    target = settings.target_domain
    per_category = target.source_videos
    rng = random_stream(seed, TARGET_STREAM)
    ids = video_ids(per_category * len(settings.categories), rng)
    plans: list[VideoPlan] = []
    for category in settings.categories:
        narrated_like_target = DemoCategory(category.label, target.rate, DEFAULT_LENGTH_EFFECT)
        for _ in range(per_category):
            n_frames = round(rng.uniform(*settings.duration_s) * fps)
            titled = bool(rng.random() < IN_DOMAIN_TITLE_P)
            plans.append(
                draw_video(
                    ids[len(plans)],
                    first_index + len(plans),
                    narrated_like_target,
                    n_frames,
                    "train",
                    0,
                    rng,
                    settings,
                    in_domain=True,
                    titled_by_object=titled,
                )
            )
    return plans


def plan_target_corpus(settings: DemoCorpusSettings) -> list[VideoPlan]:
    """The curation target corpus of the ``target_domain`` block, without pixels: videos that show
    TARGET_OBJECTS only, narrated at the target's rate, titled by target_title, split like a
    category (train: what curation compares the source with; validation: what the probes use).
    Ids and streams are the target's own, so the source corpus does not depend on them."""
    seed, fps = settings.seed, settings.fps
    target = settings.target_domain
    rng = random_stream(seed, TARGET_STREAM, 1)
    n = target.videos
    ids = video_ids(n, rng)
    category = DemoCategory(target.label, target.rate, DEFAULT_LENGTH_EFFECT)
    plans = []
    for k, split in enumerate(stratified_splits(n, settings.validation_fraction, rng)):
        n_frames = round(rng.uniform(*settings.duration_s) * fps)
        plan = draw_video(
            ids[k],
            TARGET_INDEX_OFFSET + k,
            category,
            n_frames,
            split,
            0,
            rng,
            settings,
            in_domain=True,
            titled_by_object=True,
        )
        plans.append(replace(plan, title=target_title(plan.scenes)))
    return plans
