"""The demo's instructional corpus, in HowTo100M's release format: what M_Instructional trains on,
as Hessel et al. train it on HowTo100M rather than on the studied corpus's instructional videos.

Its videos are narrated like the demo's instructional videos: they show INSTRUCTIONAL_OBJECTS only
(part of the objects the studied corpus shows), and their narration names the object on screen at
the ``instructional_corpus.rate`` of the ``demo_corpus`` config block. Written under
``<out_dir>/howto100m/``: ``HowTo100M_v1.csv``, ``caption.json`` (one caption line per narration
phrase, spanning its words) and ``videos/<video_id>.mp4`` (rendered by groundprobe.demo.corpus).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from groundprobe.demo.narration import DEFAULT_LENGTH_EFFECT
from groundprobe.demo.plans import VideoPlan, draw_video, random_stream, video_ids
from groundprobe.io import atomic_output
from groundprobe.settings import DemoCategory, DemoCorpusSettings

# Its own random stream and index range (narration, render), apart from every other demo corpus.
INSTRUCTIONAL_STREAM = 5
INSTRUCTIONAL_INDEX_OFFSET = 3_000_000
# wikiHow (category_1, category_2) pairs, as HowTo100M's video list gives them; dealt round-robin.
CATEGORIES: tuple[tuple[str, str], ...] = (
    ("Food and Entertaining", "Recipes"),
    ("Hobbies and Crafts", "Crafts"),
    ("Home and Garden", "Gardening"),
    ("Pets and Animals", "Cats"),
)
FOLDER = "howto100m"


def plan_instructional_corpus(settings: DemoCorpusSettings) -> list[VideoPlan]:
    """The ``instructional_corpus.videos`` videos of the instructional corpus, without pixels: all
    training videos labelled instructional, their category the first of their wikiHow pair."""
    spec = settings.instructional_corpus
    rng = random_stream(settings.seed, INSTRUCTIONAL_STREAM)
    n, fps = spec.videos, settings.fps
    ids = video_ids(n, rng)
    plans = []
    for k in range(n):
        category = DemoCategory(CATEGORIES[k % len(CATEGORIES)][0], spec.rate, DEFAULT_LENGTH_EFFECT)
        n_frames = round(rng.uniform(*settings.duration_s) * fps)
        plans.append(draw_video(ids[k], INSTRUCTIONAL_INDEX_OFFSET + k, category, n_frames, "train", 1, rng, settings))
    return plans


def caption_entry(plan: VideoPlan) -> dict:
    """A video's entry of HowTo100M's caption file: a line per narration phrase (its words
    joined), spanning its first word's start to its last word's end, in seconds (ms)."""
    phrases = [phrase for phrase in plan.phrases if phrase.words]
    return {
        "start": [round(p.words[0].start_s, 3) for p in phrases],
        "end": [round(p.words[-1].end_s, 3) for p in phrases],
        "text": [" ".join(word.token for word in p.words) for p in phrases],
    }


def video_list(plans: list[VideoPlan]) -> pd.DataFrame:
    """``HowTo100M_v1.csv``'s rows: video_id, category_1, category_2, rank (search rank within the
    task), task_id (one task per category pair)."""
    rows = []
    for k, plan in enumerate(plans):
        first, second = CATEGORIES[k % len(CATEGORIES)]
        rows.append(
            {
                "video_id": plan.video_id,
                "category_1": first,
                "category_2": second,
                "rank": k // len(CATEGORIES) + 1,
                "task_id": 100 + k % len(CATEGORIES),
            }
        )
    return pd.DataFrame(rows)


def write_instructional_release(plans: list[VideoPlan], out: Path) -> None:
    """The release's two files under ``out/howto100m`` (the videos are rendered with the rest of
    the demo): the caption file, then the video list."""
    folder = out / FOLDER
    with atomic_output(folder / "caption.json") as tmp:
        tmp.write_text(json.dumps({plan.video_id: caption_entry(plan) for plan in plans}) + "\n")
    with atomic_output(folder / "HowTo100M_v1.csv") as tmp:
        video_list(plans).to_csv(tmp, index=False)
