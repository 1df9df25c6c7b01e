"""What a demo video says over its scenes: the vocabulary (filler words, intro and outro talk,
never-grounded nouns), the speech styles and timing, and the planning of a video's phrases and
timed words, with the scenes whose object the narration names.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from groundprobe.demo.scenes import Scene

# Ordinary words that never name an object (checked against OBJECTS by the tests).
FILLER_WORDS: tuple[str, ...] = tuple(
    """
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
""".split()
)
# Filler words follow Zipf's law, as words of real speech do: a few are said all the time, so that
# off-topic talk cannot single out a moment of a video.
FILLER_P: np.ndarray = (lambda w: w / w.sum())(1.0 / np.arange(1, len(FILLER_WORDS) + 1))

# Intro and outro talk of every video; NAME_SLOT becomes a name of the object on screen there.
NAME_SLOT = "{name}"
INTRO_PHRASES: tuple[tuple[str, ...], ...] = (("hey", "welcome", NAME_SLOT), ("so", "this", "is", NAME_SLOT))
OUTRO_PHRASES: tuple[tuple[str, ...], ...] = (
    ("that", "was", "the", NAME_SLOT),
    ("thanks", "for", "watching"),
    ("peace",),
)
# Said where a NAME_SLOT word would straddle two scenes (names nothing).
UNPLACED_NAME = "it"

# Nouns of things no video shows, said only while nothing on screen is talked about.
NEVER_GROUNDED_WORDS: tuple[str, ...] = ("pizza", "guitar", "beach")
NEVER_GROUNDED_P = 0.5  # chance that an off-topic phrase carries one of them


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
DEFAULT_LENGTH_EFFECT = "positive"  # the videos outside the configured categories (target, in-domain, HowTo100M)

# Narration timing: 2-3 words/s; speech fills most of each word's slot.
WORDS_PER_S = (2.0, 3.0)
SPEECH_FILL = 0.85
PHRASE_GAP_S = 0.15  # silence kept between the end of one phrase and the next
FIRST_PHRASE_S = (0.2, 0.8)  # onset of the first phrase
TAIL_S = 0.1  # the last word ends at least this long before the video does


@dataclass(frozen=True)
class SpokenWord:
    """One spoken word (seconds, whole milliseconds); ``names``: the object it names, or None."""

    token: str
    start_s: float
    end_s: float
    names: str | None


@dataclass(frozen=True)
class Phrase:
    """Consecutive words; ``named_object`` is the on-screen object the phrase names, else None;
    ``part`` is ``intro``, ``narration`` or ``outro``."""

    words: tuple[SpokenWord, ...]
    named_object: str | None
    part: str = "narration"


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


def _template_phrase(
    template: tuple[str, ...], starts: np.ndarray, ends: np.ndarray, scenes: tuple[Scene, ...], part: str
) -> Phrase:
    """An intro or outro phrase: NAME_SLOT names the object of the scene holding that word."""
    words, named_object = [], None
    for token, start, end in zip(template, starts, ends):
        names = None
        if token == NAME_SLOT:
            scene = _scene_holding(scenes, start, end)
            token = scene.obj if scene else UNPLACED_NAME
            names = named_object = scene.obj if scene else None
        words.append(SpokenWord(token, float(start), float(end), names))
    return Phrase(tuple(words), named_object, part)


def _talk_times(
    templates: tuple[tuple[str, ...], ...], onset_s: float, rng: np.random.Generator
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Word start and end times (seconds) of ``templates`` spoken from ``onset_s``, PHRASE_GAP_S apart."""
    times = []
    for template in templates:
        starts, ends = _phrase_times(onset_s, len(template), rng)
        times.append((starts, ends))
        onset_s = float(ends[-1]) + PHRASE_GAP_S
    return times


def _talk_phrases(
    templates: tuple[tuple[str, ...], ...],
    times: list[tuple[np.ndarray, np.ndarray]],
    scenes: tuple[Scene, ...],
    part: str,
) -> list[Phrase]:
    return [
        _template_phrase(template, starts, ends, scenes, part) for template, (starts, ends) in zip(templates, times)
    ]


def _narration_phrase(
    onset_s: float,
    style: SpeechStyle,
    scenes: tuple[Scene, ...],
    talked_about: set[Scene],
    off_topic: bool,
    rng: np.random.Generator,
) -> Phrase:
    """Filler words; a word lying entirely inside a talked-about scene may name its object (one
    per phrase); an ``off_topic`` phrase that names nothing may carry a never-grounded word."""
    n_words = int(rng.integers(style.words[0], style.words[1] + 1))
    starts, ends = _phrase_times(onset_s, n_words, rng)
    tokens = [str(t) for t in rng.choice(FILLER_WORDS, n_words, p=FILLER_P)]
    names: list[str | None] = [None] * n_words
    named_object = None
    fits = [(i, scene) for i in range(n_words) if (scene := _scene_holding(scenes, starts[i], ends[i])) in talked_about]
    if fits:
        position, scene = fits[int(rng.integers(len(fits)))]
        named_object = scene.obj
        names[position] = scene.obj
        tokens[position] = scene.obj
    elif off_topic and rng.random() < NEVER_GROUNDED_P:
        tokens[int(rng.integers(n_words))] = str(rng.choice(NEVER_GROUNDED_WORDS))
    return Phrase(
        tuple(SpokenWord(t, float(a), float(b), n) for t, a, b, n in zip(tokens, starts, ends, names)), named_object
    )


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


def plan_narration(
    scenes: tuple[Scene, ...],
    duration_s: float,
    rate: float,
    phrase_s: float,
    length_effect: str,
    rng: np.random.Generator,
) -> tuple[Phrase, ...]:
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
    intro = _talk_phrases(INTRO_PHRASES, _talk_times(INTRO_PHRASES, rng.uniform(*FIRST_PHRASE_S), rng), scenes, "intro")
    # The outro is timed from 0, then moved to end 0.1-0.4 s before the last whole second of the
    # video ends: per-second features and segments do not cover a final partial second.
    outro_times = _talk_times(OUTRO_PHRASES, 0.0, rng)
    outro_end = min(float(np.floor(duration_s)), duration_s - TAIL_S) - rng.uniform(0.1, 0.4)
    shift = outro_end - float(outro_times[-1][1][-1])
    outro = _talk_phrases(
        OUTRO_PHRASES, [(np.round(a + shift, 3), np.round(b + shift, 3)) for a, b in outro_times], scenes, "outro"
    )
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
        onset = max(onset + phrase_s * style.spacing * rng.uniform(0.6, 1.4), phrase.words[-1].end_s + PHRASE_GAP_S)
