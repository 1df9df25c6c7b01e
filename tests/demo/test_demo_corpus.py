import hashlib
import json
import math
import re
import subprocess
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import webvtt

from dataclasses import replace

from groundprobe.config import load_yaml
from groundprobe.evaluation import crosstask
from groundprobe.ingest.crosstask_sources import read_video_list

from groundprobe.demo import corpus as demo_corpus
from groundprobe.demo.auto_captions import auto_caption_vtt
from groundprobe.demo.corpus import generate_demo_corpus
from groundprobe.demo.crosstask_set import CROSSTASK_TASKS, CrossTaskVideo, plan_crosstask, step_object
from groundprobe.demo.narration import (
    FILLER_WORDS,
    INTRO_PHRASES,
    NAME_SLOT,
    NEVER_GROUNDED_WORDS,
    OUTRO_PHRASES,
    UNPLACED_NAME,
    talked_about_scenes,
)
from groundprobe.demo.photos import INSTRUCTIONAL_OBJECTS, OBJECTS, TARGET_OBJECTS, load_photo
from groundprobe.demo.plans import (
    SECONDARY_LABELS,
    instructional_share,
    plan_corpus,
    plan_target_corpus,
    stratified_labels,
)
from groundprobe.demo.render import render_video, working_photo
from groundprobe.demo.scenes import Scene, object_order
from groundprobe.settings import (
    DemoCategory,
    DemoCorpusSettings,
    DemoCrossTask,
    DemoInstructionalCorpus,
    DemoTargetDomain,
)

# Relative: sources.tsv must name paths relative to the working directory.
OUT_DIR = "resources/demo"

# config.yaml's demo_corpus block, with the planted values of each test corpus.
DEMO = DemoCorpusSettings.from_config(
    load_yaml(Path(__file__).parents[2] / "config.yaml")["demo_corpus"], "demo_corpus"
)

TINY = replace(
    DEMO,
    out_dir=OUT_DIR,
    seed=3,
    videos_per_category=3,
    categories=(DemoCategory("Cooking", 1.0, "positive"), DemoCategory("Video game", 0.0, "positive")),
    duration_s=(6, 8),
    scene_s=(2, 3),
    width=64,
    height=48,
    fps=30,
    phrase_s=1.2,
    validation_fraction=0.5,
    bad_inputs=True,
    target_domain=DemoTargetDomain(videos=4, label="Motorcycling", rate=0.8, source_videos=1),
    crosstask=DemoCrossTask(videos_per_task=1),
    instructional_corpus=DemoInstructionalCorpus(videos=3, rate=0.8),
)

LARGE = replace(
    DEMO,
    out_dir=OUT_DIR,
    seed=11,
    videos_per_category=40,
    categories=(
        DemoCategory("Cooking", 0.9, "positive"),
        DemoCategory("Pet", 0.6, "negative"),
        DemoCategory("Vehicle", 0.3, "positive"),
        DemoCategory("Video game", 0.0, "positive"),
    ),
    duration_s=(20, 40),
    scene_s=(4, 7),
    width=320,
    height=240,
    fps=30,
    phrase_s=1.6,
    validation_fraction=0.5,
    bad_inputs=True,
    target_domain=DemoTargetDomain(videos=40, label="Motorcycling", rate=0.8, source_videos=3),
    crosstask=DemoCrossTask(videos_per_task=200),
    instructional_corpus=DemoInstructionalCorpus(videos=40, rate=0.8),
)

# The format's tags, read independently of the project's code.
TAG = re.compile(r"<(\d\d):(\d\d):(\d\d)\.(\d{3})><c> ([^<]+)</c>")
TIMING = re.compile(r"^(\d\d):(\d\d):(\d\d)\.(\d{3}) --> (\d\d):(\d\d):(\d\d)\.(\d{3})")


def _ms(h, m, s, ms):
    return ((int(h) * 60 + int(m)) * 60 + int(s)) * 1000 + int(ms)


def vtt_blocks(text):
    """(start_ms, end_ms, lines) of every cue, parsed by hand."""
    blocks = []
    for block in text.split("\n\n"):
        lines = block.strip("\n").split("\n")
        timing = TIMING.match(lines[0]) if lines else None
        if timing:
            g = timing.groups()
            blocks.append((_ms(*g[:4]), _ms(*g[4:]), lines[1:]))
    return blocks


def timed_words(text):
    """(token, start_ms) of every spoken word: the untagged first word of each non-10 ms cue's
    last line starts at the cue start, every tagged word at its tag."""
    words = []
    for start, end, lines in vtt_blocks(text):
        if end - start == 10 or not lines:
            continue
        last = lines[-1]
        first = last.split("<", 1)[0].strip()
        if first:
            words.append((first, start))
        words.extend((m.group(5).strip(), _ms(*m.groups()[:4])) for m in TAG.finditer(last))
    return words


def ffprobe(path):
    result = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_name,width,height,r_frame_rate,pix_fmt:format=duration",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        text=True,
    )
    return result.returncode, (json.loads(result.stdout) if result.returncode == 0 else None)


def decoded_sha(path):
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True,
        check=True,
    ).stdout
    return hashlib.sha256(raw).hexdigest()


def vocabulary():
    with resources.files("groundprobe.data").joinpath("yt8m_vocabulary.csv").open() as handle:
        return pd.read_csv(handle, keep_default_na=False)


def generate(base: Path, settings: DemoCorpusSettings) -> Path:
    """Generate into ``base/OUT_DIR`` with ``base`` as the working directory."""
    base.mkdir(parents=True, exist_ok=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(base)
        generate_demo_corpus(settings, OUT_DIR, workers=2)
    return base / OUT_DIR


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = generate(tmp_path_factory.mktemp("corpus_a"), TINY)
    sources = pd.read_csv(out / "sources.tsv", sep="\t", keep_default_na=False, dtype=str)
    truth = json.loads((out / "planted_truth.json").read_text())
    return out, sources, truth


def test_same_seed_gives_the_same_corpus_and_another_seed_another(corpus, tmp_path):
    out, sources, _ = corpus
    again = generate(tmp_path / "b", TINY)
    crosstask_files = sorted(str(p.relative_to(out)) for p in (out / "crosstask").rglob("*.*"))
    assert len(crosstask_files) == 3 + 2 * TINY.crosstask.videos_per_task
    for name in ["sources.tsv", "planted_truth.json", "target/sources.tsv"] + crosstask_files:
        assert (out / name).read_bytes() == (again / name).read_bytes()
    captions = sorted(p.name for p in (out / "captions").iterdir())
    assert len(captions) == len(sources) + TINY.target_domain.videos
    for name in captions:
        assert (out / "captions" / name).read_bytes() == (again / "captions" / name).read_bytes()
    for video_id in sources["video_id"].iloc[:2]:
        name = f"videos/{video_id}.mp4"
        assert decoded_sha(out / name) == decoded_sha(again / name)
    other = generate(tmp_path / "c", replace(TINY, seed=4))
    assert (other / "sources.tsv").read_bytes() != (out / "sources.tsv").read_bytes()
    assert (other / "planted_truth.json").read_bytes() != (out / "planted_truth.json").read_bytes()


def test_sources_table_names_every_file_relative_to_the_working_directory(corpus):
    out, sources, _ = corpus
    assert sources.columns.tolist() == [
        "video_id",
        "source",
        "source_type",
        "captions",
        "caption_kind",
        "title",
        "labels",
        "verticals",
        "split",
        "instructional",
    ]
    base = out.parents[1]
    for row in sources.itertuples():
        assert row.source == f"{OUT_DIR}/videos/{row.video_id}.mp4"
        assert row.captions == f"{OUT_DIR}/captions/{row.video_id}.en.vtt"
        assert (base / row.source).is_file() and (base / row.captions).is_file()
    assert set(sources["source_type"]) == {"local"} and set(sources["caption_kind"]) == {"auto"}
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{11}", v) for v in sources["video_id"])
    assert sources["video_id"].is_unique
    assert len(sources) == 2 * 3 + 3 + 2 * TINY.target_domain.source_videos


def test_videos_are_real_h264_of_the_configured_size_rate_and_duration(corpus):
    out, sources, truth = corpus
    bad = {b["video_id"] for b in truth["bad_inputs"].values()}
    for video_id in sources["video_id"]:
        if video_id in bad:
            continue
        code, info = ffprobe(out / "videos" / f"{video_id}.mp4")
        assert code == 0
        stream = info["streams"][0]
        assert (stream["codec_name"], stream["width"], stream["height"], stream["pix_fmt"], stream["r_frame_rate"]) == (
            "h264",
            64,
            48,
            "yuv420p",
            "30/1",
        )
        duration = float(info["format"]["duration"])
        assert 6 - 0.1 <= duration <= 8 + 0.1
        assert abs(duration - truth["videos"][video_id]["duration_s"]) <= 0.1


def test_captions_are_youtube_automatic_captions_holding_each_planted_word_once(corpus):
    out, sources, truth = corpus
    no_words = truth["bad_inputs"]["no_words"]["video_id"]
    rolled = 0
    for video_id in sources["video_id"]:
        if video_id == no_words:
            continue
        path = out / "captions" / f"{video_id}.en.vtt"
        text = path.read_text()
        assert text.startswith("WEBVTT\nKind: captions\nLanguage: en\n")
        captions = webvtt.read(str(path)).captions
        blocks = vtt_blocks(text)
        assert len(blocks) == len(captions)
        assert all("align:start position:0%" in line for line in text.split("\n") if "-->" in line)
        # Rolling structure: 10 ms cues repeat the line just completed; the next cue shows that
        # line on top.
        frozen = [i for i, (s, e, _) in enumerate(blocks) if e - s == 10]
        assert len(frozen) == len(blocks) - len(frozen) - 1  # one between consecutive lines
        rolled += sum(blocks[i][2][0] != " " for i in frozen)
        for i in frozen:
            completed = re.sub(r"<[^>]*>", "", blocks[i - 1][2][-1])
            assert blocks[i][2][0] in (completed, " ")
            assert blocks[i + 1][2][0] == blocks[i][2][0]
            assert blocks[i + 1][0] == blocks[i][1] and blocks[i - 1][1] == blocks[i][0]
        planted = [(w[0], round(w[1] * 1000)) for w in truth["videos"][video_id]["words"]]
        extracted = timed_words(text)
        assert [w for w, _ in extracted] == [w for w, _ in planted]
        assert all(abs(a - b) <= 1 for (_, a), (_, b) in zip(extracted, planted))
        assert planted
    assert rolled > 0


def test_caption_format_by_hand():
    words = [("hello", 0.5, 0.8), ("big", 0.9, 1.1), ("world", 1.25, 1.5), ("again", 6.0, 6.4)]
    assert auto_caption_vtt(words) == (
        "WEBVTT\nKind: captions\nLanguage: en\n\n"
        "00:00:00.500 --> 00:00:05.990 align:start position:0%\n"
        " \nhello<00:00:00.900><c> big</c><00:00:01.250><c> world</c>\n\n"
        "00:00:05.990 --> 00:00:06.000 align:start position:0%\n \n \n\n"  # pause > 3 s clears
        "00:00:06.000 --> 00:00:06.400 align:start position:0%\n \nagain\n"
    )
    long_line = [(f"word{i:02d}", 0.5 * i, 0.5 * i + 0.4) for i in range(1, 10)]
    text = auto_caption_vtt(long_line)
    assert "word01 word02 word03 word04 word05\n \n" in text  # a sixth word: 41 characters
    assert "word01 word02 word03 word04 word05\nword06<00:00:03.500><c> word07</c>" in text
    with pytest.raises(ValueError, match="word 1 'b'"):
        auto_caption_vtt([("a", 1.0, 1.2), ("b", 1.01, 1.3)])
    with pytest.raises(ValueError, match="spaces"):
        auto_caption_vtt([("two words", 1.0, 1.2)])


NAMES = {obj: obj for obj in OBJECTS + TARGET_OBJECTS}  # each object is spoken as its own name


def narration_words(plan):
    return [w for ph in plan.phrases if ph.part == "narration" for w in ph.words]


def words_inside(words, scene):
    return [w for w in words if scene.start_s <= w.start_s and w.end_s <= scene.end_s]


def test_planted_rates_and_names_only_while_on_screen():
    plans = [p for p in plan_corpus(LARGE) if not p.bad_input]
    assert not set(FILLER_WORDS) & set(NAMES)
    assert len(FILLER_WORDS) >= 100 and len(set(FILLER_WORDS)) == len(FILLER_WORDS)
    # The in-domain minority is narrated at the target's rate, the rest at their category's.
    groups = [(c.rate, [p for p in plans if p.category == c.label and not p.in_domain]) for c in LARGE.categories]
    groups.append((LARGE.target_domain.rate, [p for p in plans if p.in_domain]))
    for rate, mine in groups:
        # The rate is a share of each video's scenes between the first and the last (which the
        # intro and outro name): narration names no other scene, and no more than that share.
        named, holding = 0, 0
        for p in mine:
            inner = p.scenes[1:-1]
            for scene in (p.scenes[0], p.scenes[-1]):
                assert not any(w.names == scene.obj for w in words_inside(narration_words(p), scene))
            talked = [any(w.names == scene.obj for w in words_inside(narration_words(p), scene)) for scene in inner]
            assert sum(talked) <= math.ceil(rate * len(inner)), (p.video_id, rate, len(inner))
            named += sum(talked)
            holding += sum(bool(words_inside(narration_words(p), scene)) for scene in inner)
        # Off by little: a talked-about scene whose only phrase names a neighbouring talked-about
        # scene, an untalked one holding no whole narration word.
        assert abs(named / holding - rate) <= 0.03, (rate, named / holding, holding)
    for p in plans:
        for w in p.words:
            assert 0 < w.start_s < w.end_s < p.duration_s
            if w.token in NAMES:
                showing = {s.obj for s in p.scenes if s.start_s < w.end_s and w.start_s < s.end_s}
                assert showing == {NAMES[w.token]}, (p.video_id, w)
        objs = [s.obj for s in p.scenes]
        assert all(a != b for a, b in zip(objs, objs[1:]))
        pool = TARGET_OBJECTS if p.in_domain else INSTRUCTIONAL_OBJECTS if p.instructional else OBJECTS
        assert set(objs) <= set(pool)
        assert len(set(objs[: len(pool)])) == min(len(objs), len(pool))
        assert all(1 <= len(ph.words) <= 6 for ph in p.phrases)
        assert abs(p.scenes[0].start_s) < 1e-9 and abs(p.scenes[-1].end_s - p.duration_s) < 1e-9


@pytest.mark.parametrize("rate", [0.0, 0.3, 0.5, 0.8, 1.0])
def test_talked_about_scenes_are_the_rates_share_of_the_inner_scenes(rate):
    rng = np.random.default_rng(5)
    for n_scenes in (1, 2, 3, 4, 7, 12):
        scenes = tuple(Scene(f"obj{k}", float(k), k + 1.0) for k in range(n_scenes))
        inner = scenes[1:-1] if n_scenes >= 3 else scenes
        counts = []
        for _ in range(400):
            talked = talked_about_scenes(scenes, rate, rng)
            assert talked <= set(inner)
            counts.append(len(talked))
        # Each video: the share rounded down or up; on average: the share itself.
        assert set(counts) <= {math.floor(rate * len(inner)), math.ceil(rate * len(inner))}
        assert np.mean(counts) == pytest.approx(rate * len(inner), abs=0.1)


def test_every_video_opens_and_closes_with_talk_naming_the_object_on_screen():
    plans = [p for p in plan_corpus(LARGE) if not p.bad_input]
    unplaced = 0
    for p in plans:
        parts = [ph.part for ph in p.phrases]
        n_intro, n_outro = len(INTRO_PHRASES), len(OUTRO_PHRASES)
        assert parts[:n_intro] == ["intro"] * n_intro and parts[-n_outro:] == ["outro"] * n_outro
        assert set(parts[n_intro:-n_outro]) == {"narration"}
        edges = list(zip(INTRO_PHRASES, p.phrases[:n_intro])) + list(zip(OUTRO_PHRASES, p.phrases[-n_outro:]))
        for template, phrase in edges:
            for slot, word in zip(template, phrase.words, strict=True):
                if slot != NAME_SLOT:
                    assert word.token == slot
                else:
                    on_screen = [s.obj for s in p.scenes if s.start_s <= word.start_s and word.end_s <= s.end_s]
                    if on_screen:
                        assert NAMES[word.token] == on_screen[0] == word.names
                    else:  # the word straddles a scene change: it names nothing (rare)
                        assert word.token == UNPLACED_NAME and word.names is None
                        unplaced += 1
        # The outro lies within the last whole second: per-second segments reach it.
        assert p.words[-1].end_s <= math.floor(p.duration_s)
        assert p.phrases[-n_outro].words[0].start_s >= p.duration_s - 6
    assert unplaced <= 0.02 * len(plans) * 3


def test_length_effect_sets_which_scenes_are_narrated_densely():
    plans = [p for p in plan_corpus(LARGE) if not p.bad_input]
    for category in LARGE.categories[:3]:  # Video game (rate 0) talks about no scene
        talked, other = [], []  # narration words per second of scene
        for p in (p for p in plans if p.category == category.label):
            words = narration_words(p)
            for scene in p.scenes[1:-1]:  # the intro and outro fill the first and last scene
                inside = words_inside(words, scene)
                named = any(w.names == scene.obj for w in inside)
                (talked if named else other).append(len(inside) / (scene.end_s - scene.start_s))
        ratio = np.mean(talked) / np.mean(other)
        # Dense speech is capped by the speaking rate, so the ratio stays below the styles' nominal one.
        if category.length_effect == "positive":
            assert ratio > 2, (category, ratio)
        else:
            assert ratio < 1 / 2, (category, ratio)


def test_never_grounded_words_are_said_only_where_nothing_is_named():
    plans = [p for p in plan_corpus(LARGE) if not p.bad_input]
    said = 0
    for p in plans:
        for phrase in p.phrases:
            for word in phrase.words:
                if word.token in NEVER_GROUNDED_WORDS:
                    said += 1
                    assert phrase.part == "narration" and phrase.named_object is None
                    scene = next(s for s in p.scenes if s.start_s <= word.start_s < s.end_s)
                    assert not any(
                        w.names == scene.obj and scene.start_s <= w.start_s < scene.end_s for w in narration_words(p)
                    ), (p.video_id, word)
    assert said >= 50
    assert not set(NEVER_GROUNDED_WORDS) & (set(FILLER_WORDS) | set(NAMES))


def test_instructional_label_rises_with_the_rate_and_instructional_videos_show_fewer_objects():
    plans = [p for p in plan_corpus(LARGE) if not p.bad_input]
    shares = [np.mean([p.instructional for p in plans if p.category == c.label]) for c in LARGE.categories]
    assert shares[0] > shares[-1]
    vlog_only = set(OBJECTS) - set(INSTRUCTIONAL_OBJECTS)
    assert len(vlog_only) >= 3
    shown = {label: {s.obj for p in plans if p.instructional == label for s in p.scenes} for label in (0, 1)}
    assert shown[1] == set(INSTRUCTIONAL_OBJECTS) and vlog_only <= shown[0]


def test_stratified_labels_give_each_split_its_share_at_seeded_positions():
    splits = ["train"] * 7 + ["validation"] * 5
    labels = stratified_labels(splits, 0.4, np.random.default_rng(3))
    assert sum(labels[:7]) == 3 and sum(labels[7:]) == 2  # round(2.8), round(2.0)
    assert labels == stratified_labels(splits, 0.4, np.random.default_rng(3))
    draws = {tuple(stratified_labels(splits, 0.4, np.random.default_rng(seed))) for seed in range(20)}
    assert len(draws) > 1
    assert stratified_labels(splits, 0.0, np.random.default_rng(0)) == [0] * 12
    assert stratified_labels(splits, 1.0, np.random.default_rng(0)) == [1] * 12


def test_objects_repeat_only_after_the_whole_pool_and_never_back_to_back():
    pool = list("abcd")
    order = object_order(4000, pool, np.random.default_rng(0))
    assert all(a != b for a, b in zip(order, order[1:]))
    assert all(sorted(order[i : i + 4]) == pool for i in range(0, 4000, 4))


def test_splits_are_stratified_and_labels_carry_their_verticals(corpus):
    plans = plan_corpus(LARGE)
    for category in LARGE.categories:
        splits = [p.split for p in plans if p.category == category.label and not p.bad_input and not p.in_domain]
        assert splits.count("validation") == 20 and splits.count("train") == 20
    few = plan_corpus(replace(LARGE, videos_per_category=8, validation_fraction=0.1))
    for category in LARGE.categories:
        splits = [p.split for p in few if p.category == category.label and not p.bad_input and not p.in_domain]
        assert splits.count("validation") == 3 and splits.count("train") == 5
    vocab = vocabulary()
    vertical = dict(zip(vocab["Name"], vocab["Vertical1"]))
    assert vertical["Cooking"] == "Food & Drink"
    assert set(SECONDARY_LABELS) <= set(vocab["Name"])
    planted = {c.label for c in LARGE.categories}
    secondary = [p.labels[1] for p in plans if len(p.labels) == 2]
    assert set(secondary) <= set(SECONDARY_LABELS) - planted
    assert 0.2 < len(secondary) / len(plans) < 0.45
    for category in LARGE.categories:
        share = instructional_share(category.rate)
        for split in ("train", "validation"):
            mine = [
                p.instructional
                for p in plans
                if p.category == category.label and p.split == split and not p.bad_input and not p.in_domain
            ]
            assert sum(mine) == round(share * len(mine)), (category, split)
    assert all(p.title.startswith("How to") == bool(p.instructional) for p in plans)

    _, sources, truth = corpus
    for row in sources.itertuples():
        labels = row.labels.split(";")
        assert row.verticals.split(";") == [vertical[label] for label in labels]
    assert truth["categories"]["Cooking"]["vertical"] == "Food & Drink"
    assert truth["categories"]["Video game"]["vertical"] == "Games"


def test_bad_inputs_fail_the_way_planted(corpus):
    out, sources, truth = corpus
    bad = truth["bad_inputs"]
    assert {kind: b["qc_stage"] for kind, b in bad.items()} == {
        "undecodable": "download",
        "too_short": "segments",
        "no_words": "asr",
    }
    rows = sources.set_index("video_id").loc[[b["video_id"] for b in bad.values()]]
    assert set(rows["split"]) == {"validation"}
    assert set(rows["labels"].str.split(";").str[0]) == {"Cooking"}
    for b in bad.values():
        assert b["video_id"] not in truth["categories"]["Cooking"]["video_ids"]

    undecodable = bad["undecodable"]["video_id"]
    code, info = ffprobe(out / "videos" / f"{undecodable}.mp4")
    assert code != 0 or not info["streams"]
    assert timed_words((out / "captions" / f"{undecodable}.en.vtt").read_text())

    short = bad["too_short"]["video_id"]
    code, info = ffprobe(out / "videos" / f"{short}.mp4")
    assert code == 0 and abs(float(info["format"]["duration"]) - 3.0) <= 0.1
    assert timed_words((out / "captions" / f"{short}.en.vtt").read_text())

    silent = bad["no_words"]["video_id"]
    code, info = ffprobe(out / "videos" / f"{silent}.mp4")
    assert code == 0 and float(info["format"]["duration"]) >= 6 - 0.1
    text = (out / "captions" / f"{silent}.en.vtt").read_text()
    assert not TAG.search(text) and "[Music]" in text
    assert {w for w, _ in timed_words(text)} == {"[Music]"}
    captions = webvtt.read(str(out / "captions" / f"{silent}.en.vtt")).captions
    assert all(c.text.strip() in ("[Music]", "") for c in captions)


def test_an_encoder_failure_names_the_video(tmp_path):
    plan = plan_corpus(replace(TINY, bad_inputs=False))[0]
    odd_width = 63  # H.264 4:2:0 needs even sizes: ffmpeg refuses
    photos = {obj: working_photo(load_photo(obj), odd_width, 48) for obj in OBJECTS}
    with pytest.raises(RuntimeError, match=f"{plan.video_id}: ffmpeg could not encode.*divisible"):
        render_video(tmp_path / "x.mp4", plan, photos, odd_width, 48, np.random.default_rng(0))
    assert list(tmp_path.iterdir()) == []


def test_the_in_domain_minority_is_added_to_each_categorys_training_videos_narrated_like_the_target():
    plans = [p for p in plan_corpus(LARGE) if not p.bad_input]
    target_domain = LARGE.target_domain
    for category in LARGE.categories:
        mine = [p for p in plans if p.category == category.label]
        assert len(mine) == LARGE.videos_per_category + target_domain.source_videos
        minority = [p for p in mine if p.in_domain]
        assert len(minority) == target_domain.source_videos
        assert all(p.split == "train" and p.rate == target_domain.rate for p in minority)
        assert all(p.rate == category.rate for p in mine if not p.in_domain)
    assert len({p.video_id for p in plans}) == len(plans)
    target = set(TARGET_OBJECTS)
    assert not target & set(OBJECTS)
    for p in plans:
        shown = {s.obj for s in p.scenes}
        assert (shown <= target) if p.in_domain else not (shown & target), p.video_id
        assert not (p.in_domain and p.instructional)
    # Titles name what an in-domain video shows for about half of them, never for the others.
    named = [
        p.title.split()[0].lower() in target or any(w in target for w in p.title.lower().split())
        for p in plans
        if p.in_domain
    ]
    assert 0.25 < np.mean(named) < 0.75
    assert not any(w in target for p in plans if not p.in_domain for w in p.title.lower().split())


def test_the_in_domain_minority_comes_last_and_leaves_the_rest_of_the_corpus_unchanged():
    without = plan_corpus(replace(LARGE, target_domain=replace(LARGE.target_domain, source_videos=0)))
    with_minority = plan_corpus(LARGE)
    assert not any(p.in_domain for p in without)
    assert with_minority[: len(without)] == without
    assert all(p.in_domain for p in with_minority[len(without) :])


def test_the_target_corpus_shows_only_target_objects_with_its_own_ids_and_splits():
    target = plan_target_corpus(LARGE)
    source_ids = {p.video_id for p in plan_corpus(LARGE)}
    assert len(target) == 40 and not source_ids & {p.video_id for p in target}
    assert [p.split for p in target].count("validation") == 20
    for p in target:
        assert {s.obj for s in p.scenes} <= set(TARGET_OBJECTS) and p.in_domain
        assert p.category == "Motorcycling" and p.rate == 0.8
        first = list(dict.fromkeys(s.obj for s in p.scenes))[:2]
        assert p.title.lower() == " and ".join(first)
    named = [w.names for p in target for w in p.words if w.names]
    assert set(named) <= set(TARGET_OBJECTS) and len(set(named)) == len(TARGET_OBJECTS)
    assert plan_target_corpus(LARGE) == target


def test_the_target_table_lists_the_target_videos_without_instructional_labels(corpus):
    out, sources, truth = corpus
    target = pd.read_csv(out / "target" / "sources.tsv", sep="\t", keep_default_na=False, dtype=str)
    assert target.columns.tolist() == sources.columns.tolist()
    assert target["video_id"].tolist() == truth["target_domain"]["target_video_ids"]
    assert (target["instructional"] == "").all() and (target["labels"].str.startswith("Motorcycling")).all()
    for row in target.itertuples():
        assert (out.parents[1] / row.source).is_file() and (out.parents[1] / row.captions).is_file()
        assert truth["videos"][row.video_id]["corpus"] == "target"
    in_domain = [v for v, video in truth["videos"].items() if video["in_domain"] and video["corpus"] == "source"]
    assert sorted(in_domain) == sorted(truth["target_domain"]["source_in_domain_ids"])
    assert set(truth["target_domain"]["objects"]) == set(TARGET_OBJECTS)


# The CrossTask-format task set.


def crosstask_ids(plans):
    return {video.plan.video_id for video in plans}


def test_every_crosstask_step_names_one_object_every_model_saw():
    other_nouns = set(OBJECTS + TARGET_OBJECTS + NEVER_GROUNDED_WORDS)
    for task in CROSSTASK_TASKS:
        assert task.task_id.isdigit() and 5 <= len(task.task_id) <= 6
        assert len(task.steps) == 4 and task.url.startswith("https://www.wikihow.com/")
        for step, obj in zip(task.steps, task.step_objects, strict=True):
            nouns = [w for w in re.findall(r"[a-z]+", step) if w in other_nouns]
            assert nouns == [obj] and obj in INSTRUCTIONAL_OBJECTS, step
        assert len(set(task.step_objects)) == len(task.steps)
    assert len({task.task_id for task in CROSSTASK_TASKS}) == len(CROSSTASK_TASKS) == 2
    assert any("," in step for task in CROSSTASK_TASKS for step in task.steps)
    with pytest.raises(ValueError, match="exactly one"):
        step_object("pay with coins at the temple")


def test_crosstask_videos_show_their_steps_in_order_each_in_one_scene():
    videos = plan_crosstask(LARGE)
    per_task = LARGE.crosstask.videos_per_task
    assert [v.task for v in videos] == [t for t in CROSSTASK_TASKS for _ in range(per_task)]
    fps, (low, high) = LARGE.fps, LARGE.scene_s
    shown, breaks, gaps = 0, 0, 0
    for video in videos:
        plan, steps = video.plan, video.task.step_objects
        objs = [s.obj for s in plan.scenes]
        assert plan.phrases == () and plan.split == "validation" and plan.fps == fps
        assert objs[0] not in steps and set(objs) <= set(OBJECTS)
        assert all(a != b for a, b in zip(objs, objs[1:]))
        assert abs(plan.scenes[0].start_s) < 1e-9 and abs(plan.scenes[-1].end_s - plan.duration_s) < 1e-9
        for a, b in zip(plan.scenes, plan.scenes[1:]):
            assert a.end_s == b.start_s
        for scene in plan.scenes:
            frames = (scene.end_s - scene.start_s) * fps
            assert abs(frames - round(frames)) < 1e-6 and low * fps - 1 <= frames <= high * fps + 1
        intervals = video.step_intervals()
        numbers = [step for step, _, _ in intervals]
        assert len(numbers) >= 2 and numbers == sorted(set(numbers))
        assert [start for _, start, _ in intervals] == sorted(start for _, start, _ in intervals)
        for step, start, end in intervals:
            # The step's object is on screen for exactly its interval, and nowhere else.
            [scene] = [s for s in plan.scenes if s.obj == steps[step - 1]]
            assert abs(scene.start_s - start) <= 5e-4 and abs(scene.end_s - end) <= 5e-4
        shown_steps = [s.obj for s in plan.scenes if s.obj in steps]
        assert len(shown_steps) == len(intervals)
        shown += len(intervals)
        gaps += len(intervals) - 1
        breaks += sum(a in steps and b not in steps for a, b in zip(objs[1:], objs[2:]))
    # Each step left out with p 0.25 (redrawn below 2 steps: 0.22); a break between steps with p 0.5.
    assert 0.18 < 1 - shown / (4 * len(videos)) < 0.27
    assert 0.4 < breaks / gaps < 0.6
    assert plan_crosstask(LARGE) == videos


def test_the_crosstask_set_has_its_own_ids_and_leaves_the_rest_of_the_corpus_unchanged():
    videos = plan_crosstask(LARGE)
    ids = crosstask_ids(videos)
    assert len(ids) == len(videos)
    assert not ids & ({p.video_id for p in plan_corpus(LARGE)} | {p.video_id for p in plan_target_corpus(LARGE)})
    without = replace(LARGE, crosstask=DemoCrossTask(videos_per_task=0))
    assert plan_crosstask(without) == []
    assert plan_corpus(without) == plan_corpus(LARGE)
    assert plan_target_corpus(without) == plan_target_corpus(LARGE)
    # More videos per task keep the first ones' ids.
    fewer = plan_crosstask(replace(LARGE, crosstask=DemoCrossTask(videos_per_task=3)))
    assert [v.plan.video_id for v in fewer][:3] == [v.plan.video_id for v in videos][:3]


def test_crosstask_files_parse_with_the_evaluations_readers_and_match_the_planted_truth(corpus):
    out, sources, truth = corpus
    folder = out / "crosstask"
    text = (folder / "tasks_primary.txt").read_text()
    assert text.endswith("\n\n") and '"find the cat, then wait"' in text
    tasks = crosstask.read_tasks(folder / "tasks_primary.txt")
    assert list(tasks) == [t.task_id for t in CROSSTASK_TASKS]
    for task in CROSSTASK_TASKS:  # step names (one with a comma) survive the round trip
        assert (tasks[task.task_id].name, tasks[task.task_id].url, tasks[task.task_id].steps) == (
            task.name,
            task.url,
            task.steps,
        )
    planted = truth["crosstask"]
    assert [t["steps"] for t in planted["tasks"]] == [list(t.steps) for t in CROSSTASK_TASKS]
    listed = read_video_list(folder / "videos_val.csv")
    assert listed == [(v["task_id"], video_id) for video_id, v in planted["videos"].items()]
    assert len(listed) == len(CROSSTASK_TASKS) * TINY.crosstask.videos_per_task
    rows = (folder / "videos_val.csv").read_text().splitlines()
    assert all(row.endswith(f"https://www.youtube.com/watch?v={video}") for row, (_, video) in zip(rows, listed))
    for task_id, video_id in listed:
        intervals = crosstask.read_annotation(
            folder / "annotations" / f"{task_id}_{video_id}.csv", len(tasks[task_id].steps)
        )
        assert [[i.step + 1, i.start_s, i.end_s] for i in intervals] == planted["videos"][video_id][
            "step_intervals_1based"
        ]
        assert len(intervals) >= 2 and [i.step for i in intervals] == sorted({i.step for i in intervals})
    table = pd.read_csv(folder / "sources.tsv", sep="\t", keep_default_na=False, dtype=str)
    assert table.columns.tolist() == sources.columns.tolist()
    assert table["video_id"].tolist() == [video for _, video in listed]
    assert (table[["captions", "labels", "verticals", "instructional"]] == "").all().all()
    assert set(table["split"]) == {"validation"} and set(table["source_type"]) == {"local"}
    assert not set(table["video_id"]) & (set(sources["video_id"]) | set(truth["target_domain"]["target_video_ids"]))
    assert not set(table["video_id"]) & set(truth["videos"])
    for row in table.itertuples():
        assert row.source == f"{OUT_DIR}/videos/{row.video_id}.mp4"
        assert not (out / "captions" / f"{row.video_id}.en.vtt").exists()
        code, info = ffprobe(out.parents[1] / row.source)
        assert code == 0 and info["streams"][0]["width"] == TINY.width
        assert abs(float(info["format"]["duration"]) - planted["videos"][row.video_id]["duration_s"]) <= 0.1


def test_no_crosstask_set_writes_no_crosstask_folder_and_the_same_corpus_otherwise(corpus, tmp_path):
    out, sources, truth = corpus
    without = generate(tmp_path, replace(TINY, crosstask=DemoCrossTask(videos_per_task=0)))
    assert not (without / "crosstask").exists()
    for name in ["sources.tsv", "target/sources.tsv"]:
        assert (out / name).read_bytes() == (without / name).read_bytes()
    assert json.loads((without / "planted_truth.json").read_text()) == {
        k: v for k, v in truth.items() if k != "crosstask"
    }
    assert sorted(p.name for p in (without / "captions").iterdir()) == sorted(
        p.name for p in (out / "captions").iterdir()
    )
    assert {p.stem for p in (without / "videos").iterdir()} == {p.stem for p in (out / "videos").iterdir()} - set(
        truth["crosstask"]["videos"]
    )
    video = f"videos/{sources['video_id'].iloc[0]}.mp4"
    assert decoded_sha(out / video) == decoded_sha(without / video)


def test_a_crosstask_id_that_repeats_another_id_is_refused_before_rendering(tmp_path, monkeypatch):
    source_id = plan_corpus(TINY)[0].video_id
    video = plan_crosstask(TINY)[0]
    repeated = [CrossTaskVideo(video.task, replace(video.plan, video_id=source_id))]
    monkeypatch.setattr(demo_corpus, "plan_crosstask", lambda settings: repeated)
    with pytest.raises(ValueError, match=f"CrossTask ids \\['{re.escape(source_id)}'\\] repeat other ids"):
        generate_demo_corpus(TINY, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_the_instructional_corpus_is_a_howto100m_release_of_instructional_videos(corpus, tmp_path):
    """HowTo100M's video list and caption file, read by groundprobe.ingest.howto100m: the planted videos,
    each caption line one narration phrase over its words' span, videos that decode; the
    videos show only the instructional objects and are narrated at the corpus's rate."""
    from groundprobe.captions.caption_words import parse_captions
    from groundprobe.demo.howto100m import plan_instructional_corpus
    from groundprobe.ingest.howto100m import iter_caption_file, read_howto100m_videos, write_howto100m_sources

    out, sources, truth = corpus
    plans = plan_instructional_corpus(TINY)
    release = out / "howto100m"
    listed = read_howto100m_videos(release / "HowTo100M_v1.csv")
    assert listed["video_id"].tolist() == [p.video_id for p in plans] == truth["instructional_corpus"]["video_ids"]
    assert not set(listed["video_id"]) & set(sources["video_id"])
    entries = dict(iter_caption_file(release / "caption.json"))
    for plan in plans:
        assert plan.split == "train" and plan.instructional == 1
        assert {scene.obj for scene in plan.scenes} <= set(INSTRUCTIONAL_OBJECTS)
        entry = entries[plan.video_id]
        spoken = [phrase for phrase in plan.phrases if phrase.words]
        assert entry["text"] == [" ".join(w.token for w in ph.words) for ph in spoken]
        assert entry["start"] == [round(ph.words[0].start_s, 3) for ph in spoken]
        assert entry["end"] == [round(ph.words[-1].end_s, 3) for ph in spoken]
        returncode, probe = ffprobe(release / "videos" / f"{plan.video_id}.mp4")
        assert returncode == 0 and float(probe["format"]["duration"]) == pytest.approx(plan.duration_s, abs=0.1)
    named = [ph.named_object is not None for p in plan_instructional_corpus(LARGE) for ph in p.phrases]
    assert np.mean(named) > 0.5  # narrated like the high-rate categories
    # Through rule howto100m_sources' function, each video's words come back in order.
    table = tmp_path / "sources.tsv"
    write_howto100m_sources(
        release / "HowTo100M_v1.csv",
        release / "caption.json",
        str(release / "videos"),
        None,
        table,
        tmp_path / "captions",
    )
    for row in pd.read_csv(table, sep="\t", dtype=str).itertuples():
        plan = next(p for p in plans if p.video_id == row.video_id)
        assert [w.text for w in parse_captions(row.captions, "auto")] == [w.token for w in plan.words]
