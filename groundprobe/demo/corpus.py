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
planted truth can be checked without video. The parts live in groundprobe.demo: ``photos`` (the
objects and their photographs), ``scenes``, ``narration``, ``plans`` (VideoPlan, the random
streams and the corpora's plans), ``auto_captions`` (the WebVTT text), ``render`` (ffmpeg),
``crosstask_set`` (the CrossTask-format task set) and ``truth`` (sources tables and the planted
truth); this module writes the files.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
from PIL import Image

from groundprobe.demo.auto_captions import auto_caption_vtt, music_only_vtt
from groundprobe.demo.crosstask_set import (
    CROSSTASK_TASKS,
    CrossTaskVideo,
    crosstask_tasks_text,
    csv_text,
    plan_crosstask,
)
from groundprobe.demo.howto100m import (
    FOLDER,
    INSTRUCTIONAL_INDEX_OFFSET,
    plan_instructional_corpus,
    write_instructional_release,
)
from groundprobe.demo.photos import OBJECTS, TARGET_OBJECTS, load_photo
from groundprobe.demo.plans import (
    CROSSTASK_INDEX_OFFSET,
    RENDER_STREAM,
    TARGET_INDEX_OFFSET,
    VideoPlan,
    plan_corpus,
    plan_target_corpus,
    random_stream,
    refuse_repeated_ids,
)
from groundprobe.demo.render import render_video, working_photo
from groundprobe.demo.truth import planted_truth, sources_table
from groundprobe.io import atomic_output, write_table
from groundprobe.ingest.manifest import load_yt8m_vocabulary, ytdlp_url
from groundprobe.settings import DemoCorpusSettings

log = logging.getLogger(__name__)

# Size of the undecodable bad input (random bytes in place of an mp4).
UNDECODABLE_BYTES = 64 * 1024


def _caption_text(plan: VideoPlan) -> str:
    if plan.bad_input == "no_words":
        return music_only_vtt(plan.duration_s)
    return auto_caption_vtt([(w.token, w.start_s, w.end_s) for w in plan.words])


def _write_text(path: Path, text: str) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _write_video_files(
    plan: VideoPlan,
    index: int,
    out: Path,
    photos: dict[str, Image.Image],
    settings: DemoCorpusSettings,
    captioned: bool = True,
) -> None:
    """The mp4 (or, for the undecodable input, random bytes) and, when ``captioned``, the caption
    file of one video."""
    video = out / "videos" / f"{plan.video_id}.mp4"
    rng = random_stream(settings.seed, RENDER_STREAM, index)
    if plan.bad_input == "undecodable":
        with atomic_output(video) as tmp:
            tmp.write_bytes(rng.bytes(UNDECODABLE_BYTES))
    else:
        render_video(video, plan, photos, settings.width, settings.height, rng)
    if captioned:
        _write_text(out / "captions" / f"{plan.video_id}.en.vtt", _caption_text(plan))
    log.info(
        "%s: %s, %.1f s, %d words%s",
        plan.video_id,
        plan.category,
        plan.duration_s,
        len(plan.words),
        f" (bad input: {plan.bad_input})" if plan.bad_input else "",
    )


def write_crosstask(videos: list[CrossTaskVideo], out: Path, vocabulary: pd.DataFrame) -> None:
    """The CrossTask task set under ``out/crosstask``: ``tasks_primary.txt``,
    ``annotations/<task>_<video>.csv`` (rows ``step,start,end``: 1-based step, seconds),
    ``videos_val.csv`` (rows ``task,video_id,url``) and, last, ``sources.tsv`` (the videos,
    without captions, instructional labels or YouTube-8M labels; split CROSSTASK_SPLIT)."""
    folder = out / "crosstask"
    _write_text(folder / "tasks_primary.txt", crosstask_tasks_text(CROSSTASK_TASKS))
    for video in videos:
        _write_text(
            folder / "annotations" / f"{video.task.task_id}_{video.plan.video_id}.csv", csv_text(video.step_intervals())
        )
    _write_text(
        folder / "videos_val.csv",
        csv_text([[v.task.task_id, v.plan.video_id, ytdlp_url(v.plan.video_id)] for v in videos]),
    )
    write_table(
        sources_table([v.plan for v in videos], out, vocabulary, labelled=False, captioned=False),
        folder / "sources.tsv",
    )


def generate_demo_corpus(settings: DemoCorpusSettings, out_dir: str | Path, workers: int = 1) -> Path:
    """Write the demo corpus of ``settings`` (the ``demo_corpus`` config block) into ``out_dir``.

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
    out = Path(out_dir)
    plans, target_plans = plan_corpus(settings), plan_target_corpus(settings)
    crosstask = plan_crosstask(settings)
    instructional = plan_instructional_corpus(settings)
    refuse_repeated_ids("target", target_plans, plans)
    refuse_repeated_ids("CrossTask", [v.plan for v in crosstask], plans + target_plans)
    refuse_repeated_ids("instructional", instructional, plans + target_plans + [v.plan for v in crosstask])
    photos = {obj: working_photo(load_photo(obj), settings.width, settings.height) for obj in OBJECTS + TARGET_OBJECTS}
    # (render stream index, plan, folder, whether it has a caption file of its own)
    indexed = (
        [(index, plan, out, True) for index, plan in enumerate(plans)]
        + [(TARGET_INDEX_OFFSET + k, plan, out, True) for k, plan in enumerate(target_plans)]
        + [(CROSSTASK_INDEX_OFFSET + k, v.plan, out, False) for k, v in enumerate(crosstask)]
        + [(INSTRUCTIONAL_INDEX_OFFSET + k, plan, out / FOLDER, False) for k, plan in enumerate(instructional)]
    )
    with ThreadPoolExecutor(max_workers=workers) as pool:
        jobs = [
            pool.submit(_write_video_files, plan, index, folder, photos, settings, captioned)
            for index, plan, folder, captioned in indexed
        ]
        for job in jobs:
            job.result()
    vocabulary = load_yt8m_vocabulary()
    _write_text(
        out / "planted_truth.json",
        json.dumps(planted_truth(settings, plans, target_plans, vocabulary, crosstask, instructional), indent=1) + "\n",
    )
    if target_plans:
        write_table(sources_table(target_plans, out, vocabulary, labelled=False), out / "target" / "sources.tsv")
    if crosstask:
        write_crosstask(crosstask, out, vocabulary)
    if instructional:
        write_instructional_release(instructional, out)
    sources = out / "sources.tsv"
    write_table(sources_table(plans, out, vocabulary), sources)
    log.info("demo corpus: %d videos in %s", len(plans), out)
    return sources
