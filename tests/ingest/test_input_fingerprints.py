"""Content fingerprints of a shard's local inputs (groundprobe.ingest.input_fingerprints): an edit changes
them, a touch or a same-bytes copy does not, unchanged files are not re-read; and on a finished
tiny run an edited caption file reruns exactly its block's asr and what follows, an edited video its
block's features and what follows, a touch nothing."""

import hashlib
import os
import pickle
import shutil
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from groundprobe.ingest import input_fingerprints
from groundprobe.ingest.input_fingerprints import NoLocalFiles, files_fingerprint, local_files, shard_input_fingerprint
from groundprobe.ingest.manifest import MANIFEST_COLUMNS
from tiny_workflow import TARGET, planned_jobs, snakemake


def write_manifest(tmp_path: Path, files: dict[str, Path]) -> Path:
    """A one-shard manifest of http videos whose (local) caption files are ``files``."""
    rows = [
        dict.fromkeys(MANIFEST_COLUMNS, "")
        | {
            "video_id": video_id,
            "source": f"https://example.org/{video_id}.mp4",
            "source_type": "http",
            "captions": str(path),
            "caption_kind": "manual",
            "split": "train",
            "corpus": "source",
            "shard": 0,
        }
        for video_id, path in files.items()
    ]
    path = tmp_path / "manifest.tsv"
    pd.DataFrame(rows, columns=MANIFEST_COLUMNS).to_csv(path, sep="\t", index=False)
    return path


def test_only_content_changes_the_fingerprint_and_unchanged_files_are_not_read(tmp_path, monkeypatch):
    a, b = tmp_path / "a.srt", tmp_path / "b.srt"
    a.write_text("1\n00:00:00,000 --> 00:00:01,000\nhello\n")
    b.write_text("1\n00:00:00,000 --> 00:00:01,000\nworld\n")
    manifest, cache = write_manifest(tmp_path, {"a": a, "b": b}), tmp_path / "cache"
    first = shard_input_fingerprint(manifest, "00000", "captions", cache)
    assert len(first) == 16

    reads = []
    real_sha256 = input_fingerprints.file_sha256
    monkeypatch.setattr(
        input_fingerprints, "file_sha256", lambda path: reads.append(Path(path).name) or real_sha256(path)
    )
    assert shard_input_fingerprint(manifest, "00000", "captions", cache) == first
    assert reads == []  # stat unchanged: served by the cache

    os.utime(a, ns=(a.stat().st_atime_ns, a.stat().st_mtime_ns + 10**9))  # touch
    assert shard_input_fingerprint(manifest, "00000", "captions", cache) == first
    assert reads == ["a.srt"]  # re-read once, same content

    copy = tmp_path / "copy.srt"  # a same-bytes copy in its place
    shutil.copy(b, copy)
    os.replace(copy, b)
    assert shard_input_fingerprint(manifest, "00000", "captions", cache) == first

    b.write_text("1\n00:00:00,000 --> 00:00:01,000\nWorld\n")  # one byte edited
    edited = shard_input_fingerprint(manifest, "00000", "captions", cache)
    assert edited != first
    b.write_text("1\n00:00:00,000 --> 00:00:01,000\nworld\n")  # and restored
    assert shard_input_fingerprint(manifest, "00000", "captions", cache) == first

    # The documented hash over (video_id, sha256 of the bytes) in row order, whatever the cache.
    shutil.rmtree(cache)
    reference = hashlib.sha256(
        "".join(
            f"{video_id}\t{hashlib.sha256(path.read_bytes()).hexdigest()}\n" for video_id, path in (("a", a), ("b", b))
        ).encode()
    ).hexdigest()[:16]
    assert shard_input_fingerprint(manifest, "00000", "captions", cache) == first == reference
    assert shard_input_fingerprint(manifest, "00000", "videos", cache) == ""  # no local video: ''
    a.unlink()
    assert shard_input_fingerprint(manifest, "00000", "captions", cache) not in (first, edited)


def test_local_files_follow_the_download_rules():
    rows = pd.DataFrame(
        {
            "video_id": ["l", "h", "y"],
            "source": ["v/l.mp4", "https://x/h.mp4", "abcdefghijk"],
            "source_type": ["local", "http", "ytdlp"],
            "captions": ["c/l.vtt", "c/h.srt", None],
        }
    )
    assert local_files(rows, "videos") == [("l", "v/l.mp4")]
    assert local_files(rows, "captions") == [("l", "c/l.vtt"), ("h", "c/h.srt")]
    assert local_files(rows.assign(captions=["https://x/l.vtt", "", None]), "captions") == []
    assert files_fingerprint([], Path("unused")) != ""  # '' is kept for shards without files
    with pytest.raises(ValueError, match="unknown kind"):
        local_files(rows, "audio")


def test_the_no_files_marker_is_not_recorded_by_snakemake_and_survives_a_script_preamble():
    """A remote corpus's run made before the param existed keeps its params (Snakemake skips a
    value it cannot represent); ``script:`` jobs get their params pickled."""
    from snakemake import persistence

    base = next(
        getattr(persistence, name)
        for name in dir(persistence)
        if hasattr(getattr(persistence, name), "_serialize_param_pandas")
    )
    recorder = SimpleNamespace(_serialize_param_builtin=lambda value: base._serialize_param_builtin(None, value))
    assert base._serialize_param_pandas(recorder, NoLocalFiles()) is persistence.UNREPRESENTABLE
    assert base._serialize_param_pandas(recorder, "0123abcd") == "'0123abcd'"
    assert pickle.loads(pickle.dumps(NoLocalFiles())) == NoLocalFiles()


def ok_files(run: Path, shard: str, column: str) -> list[Path]:
    table = pd.read_csv(run / "results" / "download" / f"{shard}.tsv", sep="\t")
    return [run / path for path in table.loc[table["status"] == "ok", column]]


@pytest.mark.workflow
def test_an_edited_local_input_reruns_its_block_from_the_stage_that_reads_it(finished_run):
    run = finished_run
    [block] = [path.name for path in (run / "results/asr").iterdir()]  # shards 00000 and 00001
    assert "Nothing to be done" in snakemake(run, TARGET, "-n").stdout  # stable across runs
    caption, video = ok_files(run, "00000", "captions_path")[0], ok_files(run, "00000", "video_path")[0]
    # The copy's own files (relative paths), so that the shared finished run is never edited.
    assert caption.resolve().is_relative_to(run.resolve()), caption
    assert video.resolve().is_relative_to(run.resolve()), video

    stat = caption.stat()
    os.utime(caption, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert "Nothing to be done" in snakemake(run, TARGET, "-n").stdout

    # Reference: the jobs that forcing that block's asr output plans (it and everything after).
    forced = planned_jobs(snakemake(run, TARGET, "-n", "--forcerun", f"results/asr/{block}").stdout)
    original = caption.read_bytes()
    caption.write_bytes(original + b"\n")
    planned = planned_jobs(snakemake(run, TARGET, "-n").stdout)
    assert planned == forced
    # One asr job; the vocabulary is rebuilt from every shard's words, so every block's segments.
    assert planned["asr"] == 1 and planned["vocab"] == 1 and planned["segments"] == 1
    assert not {"download", "features_2d", "features_3d"} & set(planned)
    caption.write_bytes(original)
    assert "Nothing to be done" in snakemake(run, TARGET, "-n").stdout

    forced = planned_jobs(
        snakemake(
            run, TARGET, "-n", "--forcerun", f"results/features/2d/{block}", f"results/features/3d/{block}"
        ).stdout
    )
    data = video.read_bytes()
    video.write_bytes(data + b"\0")
    planned = planned_jobs(snakemake(run, TARGET, "-n").stdout)
    assert planned == forced
    assert planned["features_2d"] == 1 and planned["features_3d"] == 1
    assert not {"download", "asr"} & set(planned)
