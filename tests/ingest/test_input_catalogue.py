"""The catalogue of bad inputs (issue 17): one tiny run whose sources table holds every kind of bad
or odd input a user may bring, interleaved with the tiny demo corpus's rows, so that bad and good
videos share shards. Each input ends as it should: a QC row with its exact stage and reason code
(docs/own_corpus.md "QC reasons"), or processed and evaluated when it is a fine input after all; every row of
the sources table is reconciled; and the good videos get exactly the AUC of the clean tiny run
(``tiny_local_run``), whose videos and training they share (the bad rows are validation videos:
no word of theirs reaches the vocabulary, no video of theirs the training batches).

Inputs that are no video's QC row but stop the run by design (invalid or repeated ids, missing
columns) are checked here too, each by a run of rule manifest that must fail naming the problem.
The documentation test checks that the QC reason table of docs/own_corpus.md lists every reason the library
can write.
"""

from __future__ import annotations

import ast
import csv
import http.server
import json
import re
import shutil
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from conftest import FASTSTART, cut_in_half, make_test_video
from groundprobe.captions import caption_language
from groundprobe.ingest import download
from groundprobe.io import read_table, read_text_table
from groundprobe.ingest.manifest import SOURCE_COLUMNS
from tiny_workflow import TARGET, snakemake, tiny_config, write_config

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE_DIR = "catalogue"  # the bad inputs, relative to the run's directory
SOURCES = f"{CATALOGUE_DIR}/sources.tsv"
PROCESSED = None  # a fine input: evaluated, in results/auc_by_video.csv

# Catalogue item -> (QC stage, reason code, a detail its reason must name) or PROCESSED. The
# reason code is what results/qc.csv's reason starts with (docs/own_corpus.md "QC reasons").
EXPECTED: dict[str, tuple[str, str, str] | None] = {
    "undecodable": ("download", "undecodable", "ffprobe cannot read it"),
    "zero-length": ("download", "undecodable", "ffprobe cannot read it"),
    "audio-only": ("download", "undecodable", "no video stream"),
    "VFR": PROCESSED,  # frames are sampled by time (ffmpeg's fps filter), whatever their rate
    "rotated": PROCESSED,  # ffmpeg turns it upright; frames are scaled to a square anyway
    "4K": PROCESSED,  # decoded and scaled down like any other size
    "< 5 s": ("segments", "shorter than one segment", "(3 s < 5 s)"),
    "< 1 s": ("features_2d", "shorter than one second", "no full second"),
    "truncated": ("features_2d", "truncated", "s of the 10.00 s its container states"),
    "no audio": PROCESSED,  # features need no audio (no demo video has any)
    "captions missing (no such file)": ("download", "no_captions", "file not found"),
    "captions missing (empty cell)": ("download", "no_captions", "no caption file given"),
    "captions empty": ("asr", "caption file unreadable", "empty file"),
    "captions header-only": ("asr", "no words in captions", ""),
    "malformed SRT": ("asr", "caption file unreadable", "line 6: unreadable SRT cue timing"),
    "damaged VTT cue": ("asr", "caption file unreadable", "line 6: unreadable WebVTT cue timing"),
    "Latin-1 captions": ("asr", "caption file unreadable", "line 3: not UTF-8"),
    "UTF-16 without BOM": ("asr", "caption file unreadable", "NUL character"),
    "non-English captions": ("asr", "not_english", "text in 'fr'"),
    "rolling ASR labelled manual": PROCESSED,  # read as ASR, each word once
    "404": ("download", "unavailable", "HTTP Error 404"),
    "stalled download": ("download", "download_failed", "timed out"),
    "truncated download": ("download", "download_failed", "transfer ended after"),
    "quote in a cell": PROCESSED,  # a tab-separated table has no quoting: the cell as written
}
# Not a video's QC row but an error by design, stopping the run before any job but the manifest's
# (test_invalid_ids_stop_the_run_naming_each_one_and_missing_columns_name_the_column):
# ids with shell metacharacters, ids with ../, an id with a trailing line break, duplicate ids,
# missing columns (a required column, or a row's cells).

ENGLISH_SRT = (
    "1\n00:00:00,500 --> 00:00:03,000\nwe bake the bread\n\n2\n00:00:03,000 --> 00:00:06,000\nand slice the cake\n"
)
FRENCH_VTT = (
    "WEBVTT\n\n00:00:00.500 --> 00:00:05.000\nbonjour et bienvenue dans ma cuisine "
    "aujourd'hui nous allons préparer\n\n00:00:05.000 --> 00:00:09.500\nun gâteau au "
    "chocolat avec de la farine du beurre et des oeufs frais\n"
)
BAD_CAPTIONS: dict[str, bytes] = {
    "captions empty": b"",
    "captions header-only": b"WEBVTT\n\n",
    "malformed SRT": ENGLISH_SRT.replace(" --> 00:00:06", " -> 00:00:06").encode(),
    "damaged VTT cue": (
        "WEBVTT\n\n00:00:00.500 --> 00:00:03.000\nwe bake the bread\n\n"
        "00:00:03,000 --> 00:00:06.000\nand slice the cake\n"
    ).encode(),
    "Latin-1 captions": "1\n00:00:00,500 --> 00:00:03,000\nthe café bakes crème brûlée\n".encode("latin-1"),
    "UTF-16 without BOM": ENGLISH_SRT.encode("utf-16-le"),
    "non-English captions": FRENCH_VTT.encode(),
}


def item_id(item: str) -> str:
    """The video id of a catalogue item: 'cat-' and its name's letters and digits."""
    return "cat-" + re.sub(r"[^a-z0-9]+", "-", item.lower().replace("<", "under")).strip("-")


class BadSite(http.server.BaseHTTPRequestHandler):
    """/missing.mp4: 404; /stalled.mp4: headers and a first block, then silence until ``release``;
    /truncated.mp4: half of ``video`` under the whole file's Content-Length, then the end."""

    video = b""  # set by the fixture
    release = threading.Event()

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path not in ("/stalled.mp4", "/truncated.mp4"):
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", str(len(self.video)))
        self.end_headers()
        if self.path == "/stalled.mp4":
            self.wfile.write(self.video[:1024])
            self.wfile.flush()
            self.release.wait(60)
        else:
            self.wfile.write(self.video[: len(self.video) // 2])


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


def ffprobe(path: Path, entries: str) -> list[dict]:
    """ffprobe's streams (or frames, for ``frame=`` entries) of ``path`` as dicts."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", entries, "-of", "json", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    data = json.loads(out)
    return data.get("frames", data.get("streams", []))


def make_bad_videos(out: Path) -> dict[str, Path]:
    """The catalogue's videos (testsrc2, 64x48, no audio unless said) by item, plus 'plain', a fine
    10-s video that the caption items use."""
    out.mkdir(parents=True)
    plain = make_test_video(out / "plain.mp4", 10, output_args=FASTSTART)
    rotated = make_test_video(out / "upright.mp4", 10)
    ffmpeg("-i", str(rotated), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(out / "rotated.mp4"))
    (out / "zero.mp4").write_bytes(b"")
    (out / "undecodable.mp4").write_bytes(b"not a video\n" * 1000)
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=10", "-c:a", "aac", str(out / "audio.m4a"))
    return {
        "plain": plain,
        "undecodable": out / "undecodable.mp4",
        "zero-length": out / "zero.mp4",
        "audio-only": out / "audio.m4a",
        "rotated": out / "rotated.mp4",
        # 30 fps for 5 s, then every third frame: frame durations of 1/30 and 1/10 s
        "VFR": make_test_video(
            out / "vfr.mp4", 10, output_args=("-vf", "select='lt(t,5)+not(mod(n,3))'", "-fps_mode", "vfr")
        ),
        "4K": make_test_video(
            out / "4k.mp4",
            10,
            size="3840x2160",
            fps=2,  # 20 frames: cheap
            output_args=("-preset", "ultrafast"),
        ),
        "< 5 s": make_test_video(out / "3s.mp4", 3),
        "< 1 s": make_test_video(out / "half_s.mp4", 0.5),
        "truncated": cut_in_half(plain, out / "truncated.mp4"),
    }


def catalogue_rows(workdir: Path, videos: dict[str, Path], good_captions: str, site: str) -> list[dict]:
    """One sources row per catalogue item (validation videos labelled Cooking). ``good_captions``:
    a training video's English caption file, whose every word is in the vocabulary."""
    captions_dir = workdir / CATALOGUE_DIR / "captions"
    captions_dir.mkdir(parents=True)
    rows = []
    for item in EXPECTED:
        video = videos.get(item, videos["plain"])
        row = {
            "video_id": item_id(item),
            "source": str(video.relative_to(workdir)),
            "source_type": "local",
            "captions": good_captions,
            "caption_kind": "auto",
            "title": f"catalogue: {item}",
            "labels": "Cooking",
            "split": "validation",
        }
        if item in BAD_CAPTIONS:
            path = captions_dir / f"{item_id(item)}.txt"
            path.write_bytes(BAD_CAPTIONS[item])
            row.update(captions=str(path.relative_to(workdir)), caption_kind="manual")
        elif item == "captions missing (no such file)":
            row["captions"] = f"{CATALOGUE_DIR}/captions/absent.en.vtt"
        elif item == "captions missing (empty cell)":
            row["captions"] = ""
        elif item == "rolling ASR labelled manual":
            row["caption_kind"] = "manual"
        elif item == "quote in a cell":  # read with CSV quoting, it swallowed the rows below it
            row["title"] = '"unbalanced quote, and "Best" bread'
        elif item in ("404", "stalled download", "truncated download"):
            name = {"404": "missing", "stalled download": "stalled", "truncated download": "truncated"}[item]
            row.update(source=f"{site}/{name}.mp4", source_type="http")
        rows.append(row)
    return rows


def write_tsv(path: Path, rows: list[dict], columns: list[str]) -> None:
    """A tab-separated table written by hand: every cell exactly as given, no quoting."""
    lines = ["\t".join(columns)] + ["\t".join(str(row.get(c, "")) for c in columns) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def catalogue_run(tiny_local_run, tmp_path_factory):
    """The tiny run's corpus (its files copied) with the catalogue's rows spread among its rows, in
    2 shards as the tiny run's (of 20 rows instead of 8), every other setting as the tiny run's; a
    local site serves the http items. Returns the run's directory, the tiny run's and the rows."""
    clean = tiny_local_run[0]
    workdir = tmp_path_factory.mktemp("catalogue")
    shutil.copytree(clean / "resources/demo_corpus", workdir / "resources/demo_corpus")
    demo = read_text_table(clean / "resources/demo_corpus/sources.tsv").to_dict("records")
    good_captions = next(row["captions"] for row in demo if row["split"] == "train")
    videos = make_bad_videos(workdir / CATALOGUE_DIR / "videos")
    BadSite.video, BadSite.release = videos["plain"].read_bytes(), threading.Event()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), BadSite)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        bad = catalogue_rows(workdir, videos, good_captions, f"http://127.0.0.1:{server.server_address[1]}")
        # Spread evenly, so that every shard holds both (the demo's rows in their order).
        interleaved = [
            row
            for _, row in sorted(
                [((i + 0.5) / len(demo), row) for i, row in enumerate(demo)]
                + [((j + 0.5) / len(bad), row) for j, row in enumerate(bad)],
                key=lambda pair: pair[0],
            )
        ]
        write_tsv(workdir / SOURCES, interleaved, SOURCE_COLUMNS)
        config = tiny_config()
        config["corpus"].update(sources=SOURCES, shard_size=20)
        config["download"]["socket_timeout_s"] = 2  # the stalled server: fail after 2 s of silence
        write_config(workdir, config)
        snakemake(workdir, "--cores", "2", TARGET)
    finally:
        BadSite.release.set()
        server.shutdown()
    return workdir, clean, interleaved


@pytest.mark.workflow
def test_every_catalogue_input_ends_with_its_qc_stage_and_reason_or_is_evaluated(catalogue_run):
    workdir, _, _ = catalogue_run
    qc = read_table(workdir / "results/qc.csv").set_index("video_id")
    evaluated = read_table(workdir / "results/auc_by_video.csv").set_index("video_id")
    for item, expected in EXPECTED.items():
        video_id = item_id(item)
        if expected is PROCESSED:
            assert video_id not in qc.index, (item, qc.loc[video_id].to_dict())
            assert 0 <= evaluated.loc[video_id, "auc"] <= 1 and evaluated.loc[video_id, "n_segments"] >= 2
            continue
        stage, code, detail = expected
        assert video_id in qc.index, (item, "not in QC")
        reason = qc.loc[video_id, "reason"]
        code_written = reason.split(":")[0].split(" (")[0]
        assert (qc.loc[video_id, "stage"], code_written) == (stage, code), (item, reason)
        assert detail in reason, (item, reason)
    size = (workdir / CATALOGUE_DIR / "videos/plain.mp4").stat().st_size  # what the site cut
    assert f"after {size // 2} of the {size} bytes announced" in qc.loc[item_id("truncated download"), "reason"]


@pytest.mark.workflow
def test_the_odd_but_fine_inputs_are_what_they_claim_and_read_as_they_should(catalogue_run):
    workdir, _, rows = catalogue_run
    videos = workdir / CATALOGUE_DIR / "videos"
    assert [
        s.get("side_data_list", [{}])[0].get("rotation")
        for s in ffprobe(videos / "rotated.mp4", "stream_side_data=rotation")
    ] == [90]
    times = [float(f["pts_time"]) for f in ffprobe(videos / "vfr.mp4", "frame=pts_time")]
    gaps = {round(b - a, 3) for a, b in zip(times, times[1:])}  # seconds: 1/30 and 1/10
    assert 0.1 in gaps and gaps - {0.1} and gaps - {0.1} <= {0.033, 0.034}
    assert ffprobe(videos / "4k.mp4", "stream=width,height") == [{"width": 3840, "height": 2160}]
    assert [s["codec_type"] for s in ffprobe(videos / "plain.mp4", "stream=codec_type")] == ["video"]
    # The quoted title reaches the manifest as written, and no row is lost around it.
    manifest = read_table(workdir / "results/manifest.tsv").set_index("video_id")
    assert manifest.loc[item_id("quote in a cell"), "title"] == '"unbalanced quote, and "Best" bread'
    assert manifest.index.tolist() == [row["video_id"] for row in rows]
    # The rolling ASR file labelled manual is read as ASR: each word once, exactly the words of
    # the training video whose captions (labelled auto) it is.
    readings = pd.concat([read_table(p) for p in sorted((workdir / "results/asr").glob("*/*.readings.tsv"))])
    rolling = readings.set_index("video_id").loc[item_id("rolling ASR labelled manual")]
    assert (rolling["caption_kind"], rolling["read_as"]) == ("manual", "auto")
    words = pd.concat([read_table(p) for p in sorted((workdir / "results/asr").glob("*/*.tsv.gz"))])
    rolling_id = item_id("rolling ASR labelled manual")
    captions = next(row["captions"] for row in rows if row["video_id"] == rolling_id)
    original = next(
        row["video_id"] for row in rows if row["captions"] == captions and not row["video_id"].startswith("cat-")
    )
    tokens = {vid: group["token"].tolist() for vid, group in words.groupby("video_id")}
    assert tokens[rolling_id] == tokens[original]


@pytest.mark.workflow
def test_every_row_of_the_sources_table_is_reconciled(catalogue_run):
    workdir, _, rows = catalogue_run
    summary = read_table(workdir / "results/reconciliation.tsv").iloc[0]
    qc = read_table(workdir / "results/qc.csv")
    evaluated = read_table(workdir / "results/auc_by_video.csv")
    assert summary["sources"] == summary["manifest"] == len(rows) == len(EXPECTED) + 15
    assert summary["evaluated"] + summary["qc"] == len(rows) and bool(summary["reconciled"])
    ids = {row["video_id"] for row in rows}
    assert set(qc["video_id"]) | set(evaluated["video_id"]) == ids
    assert not set(qc["video_id"]) & set(evaluated["video_id"])


@pytest.mark.workflow
def test_good_videos_in_shards_with_bad_ones_get_the_auc_of_the_clean_run(catalogue_run):
    workdir, clean, _ = catalogue_run
    columns = ["video_id", "n_segments", "auc"]
    before = read_table(clean / "results/auc_by_video.csv")[columns].set_index("video_id")
    after = read_table(workdir / "results/auc_by_video.csv")[columns].set_index("video_id")
    assert len(before) == 12
    pd.testing.assert_frame_equal(after.loc[before.index], before, check_exact=True)
    # The demo's own bad inputs end as in the clean run.
    clean_qc = read_table(clean / "results/qc.csv").set_index("video_id")
    assert read_table(workdir / "results/qc.csv").set_index("video_id").loc[clean_qc.index].equals(clean_qc)
    # Every shard mixes good videos and catalogue rows.
    manifest = read_table(workdir / "results/manifest.tsv")
    for shard, group in manifest.groupby("shard"):
        good = group["video_id"].isin(before.index)
        assert good.any() and (~good).any(), shard


def run_manifest(workdir: Path, table: str, rows: list[list[str]]) -> str:
    """Rule manifest on a sources table of ``rows`` (the first the header; written as the
    extension says), expected to fail; returns snakemake's output."""
    path = workdir / table
    path.parent.mkdir(parents=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(
            handle,
            delimiter="," if table.endswith(".csv") else "\t",
            quoting=csv.QUOTE_MINIMAL if table.endswith(".csv") else csv.QUOTE_NONE,
            lineterminator="\n",
        ).writerows(rows)
    config = tiny_config()
    config["corpus"]["sources"] = table
    write_config(workdir, config)
    run = snakemake(workdir, "--cores", "1", "results/manifest.tsv", check=False, timeout=300)
    assert run.returncode != 0 and not (workdir / "results/manifest.tsv").exists()
    return run.stdout + run.stderr


@pytest.mark.workflow
def test_invalid_ids_stop_the_run_naming_each_one_and_missing_columns_name_the_column(tmp_path):
    header = ["video_id", "source", "split"]
    tables = {  # run -> (table, rows, what the error must say)
        "ids": (
            "catalogue/ids.csv",
            [
                header,
                ["fine", "v.mp4", "train"],
                ["x;touch pwned", "v.mp4", "train"],  # shell metacharacters
                ["$(touch pwned)", "v.mp4", "train"],
                ["../escape", "v.mp4", "train"],  # leaves results/
                ["clip\n", "v.mp4", "validation"],  # a trailing line break (quoted in CSV)
                ["twice", "v.mp4", "train"],
                ["twice", "w.mp4", "validation"],
            ],
            [
                "invalid video_id (letters, digits, _ - . only): 'x;touch pwned', '$(touch pwned)', "
                "'../escape', 'clip\\n'",
                "duplicate video_id: twice, twice",
            ],
        ),
        "column": (
            "catalogue/sources.tsv",
            [header[:2], ["fine", "v.mp4"]],
            ["sources table lacks required column(s): split"],
        ),
        "cells": (
            "catalogue/sources.tsv",
            [header, ["fine", "v.mp4", "train"], ["short", "v.mp4"]],
            ["catalogue/sources.tsv, line 3: 2 field(s), but the header has 3 (video_id, source, split)"],
        ),
    }
    with ThreadPoolExecutor(len(tables)) as pool:
        outputs = dict(zip(tables, pool.map(lambda name: run_manifest(tmp_path / name, *tables[name][:2]), tables)))
    for name, (_, _, messages) in tables.items():
        for message in messages:
            assert message in outputs[name], (name, outputs[name][-3000:])
    assert not list(tmp_path.rglob("pwned"))


# --- docs/own_corpus.md: the QC reason table lists every reason the library writes ------------

# Modules whose QC records go to other tables than results/qc.csv (docs/own_corpus.md names them apart).
OTHER_QC_TABLES = {"evaluation/crosstask.py", "curation/video_embeddings.py"}
# Modules that write a reason from a table of codes: the codes, and their stage.
CODE_TABLES = {
    "ingest/download.py": ("download", set(download.REASON_CODES)),
    "captions/caption_language.py": ("asr", {caption_language.REASON_CODE}),
}


def readme_reasons() -> dict[str, set[str]]:
    """Reason code -> stages, from the table under docs/own_corpus.md's "QC reasons" heading."""
    text = (ROOT / "docs" / "own_corpus.md").read_text()
    section = text.split("## QC reasons", 1)[1].split("\n#", 1)[0]
    reasons: dict[str, set[str]] = {}
    for line in section.splitlines():
        cells = line.split("|")
        if len(cells) > 3 and cells[2].strip().startswith("`"):
            stages = re.findall(r"`([a-z_0-9]+)`", cells[1])
            reasons.setdefault(cells[2].strip().strip("`"), set()).update(stages)
    return reasons


def literal_reason_starts() -> dict[str, list[str]]:
    """Module (path under groundprobe/) -> the literal start of the reason of each QcRecord(...) it writes ('' when the
    reason starts with a computed value)."""
    starts: dict[str, list[str]] = {}
    for path in sorted((ROOT / "groundprobe").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "QcRecord":
                reason = node.args[2]
                first = reason.values[0] if isinstance(reason, ast.JoinedStr) else reason
                starts.setdefault(path.relative_to(ROOT / "groundprobe").as_posix(), []).append(
                    first.value if isinstance(first, ast.Constant) else ""
                )
    return starts


def test_readme_lists_every_qc_reason_the_library_writes():
    documented = readme_reasons()
    assert documented, "docs/own_corpus.md has no QC reason table"
    emitted: set[str] = set()
    starts = literal_reason_starts()
    assert set(starts) - OTHER_QC_TABLES == {
        "captions/asr.py",
        "captions/caption_language.py",
        "ingest/download.py",
        "evaluation/evaluate.py",
        "features/extract.py",
        "captions/segments.py",
    }
    for module, literal_starts in starts.items():
        if module in OTHER_QC_TABLES:
            continue
        if module in CODE_TABLES:
            stage, codes = CODE_TABLES[module]
            for code in codes:
                assert stage in documented.get(code, set()), (module, code, "not in docs/own_corpus.md")
            emitted |= codes
            continue
        for start in literal_starts:
            assert start, f"{module} writes a QC reason with a computed start: give it a code"
            codes = [code for code in documented if start.startswith(code)]
            assert codes, f"{module}: reason {start!r}... is not in docs/own_corpus.md's QC reason table"
            emitted |= set(codes)
    assert set(documented) == emitted, "docs/own_corpus.md lists reasons the library never writes"
