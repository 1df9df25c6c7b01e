import pandas as pd
import pytest

from groundprobe.manifest import (MANIFEST_COLUMNS, ManifestError, assign_shards,
                                  build_crosstask_manifest, build_manifest, corpus_videos,
                                  shard_name, shard_rows)


def sources(n=5, **overrides):
    df = pd.DataFrame({
        "video_id": [f"vid{i:03d}" for i in range(n)],
        "source": [f"videos/vid{i:03d}.mp4" for i in range(n)],
        "split": ["train", "validation"] * (n // 2) + ["train"] * (n % 2),
        "labels": ["Cooking;Pet", "Video game", "", "Unheard-of label", "Car"][:n] + [""] * max(0, n - 5),
    })
    for column, values in overrides.items():
        df[column] = values
    return df


def test_shards_chunk_rows_in_table_order():
    assert assign_shards(7, 3) == [0, 0, 0, 1, 1, 1, 2]
    assert assign_shards(3, 16) == [0, 0, 0]


def test_appending_videos_keeps_existing_shards():
    before = build_manifest(sources(5), shard_size=2)
    after = build_manifest(sources(9), shard_size=2)
    merged = before.merge(after, on="video_id", suffixes=("_before", "_after"))
    assert (merged["shard_before"] == merged["shard_after"]).all()


def test_verticals_follow_the_yt8m_vocabulary_label_by_label():
    manifest = build_manifest(sources(5), shard_size=10)
    assert manifest["verticals"].tolist() == [
        "Food & Drink;Pets & Animals", "Games", "", "(Unknown)", "Autos & Vehicles"]


def test_defaults_fill_optional_columns():
    manifest = build_manifest(sources(2), shard_size=10)
    assert manifest["source_type"].tolist() == ["local", "local"]
    assert manifest["caption_kind"].tolist() == ["auto", "auto"]
    assert manifest["instructional"].tolist() == ["", ""]


@pytest.mark.parametrize("column, values, message", [
    ("video_id", ["a", "a", "b", "c", "d"], "duplicate video_id: a, a"),
    ("video_id", ["ok", "bad/id", "x", "y", "z"], "invalid video_id.*bad/id"),
    ("split", ["train", "test", "train", "train", "train"], "split must be one of.*vid001"),
    ("source_type", ["local", "ftp", "local", "local", "local"], "source_type must be.*vid001"),
    ("verticals", ["Games", "", "", "", ""], "one vertical per label.*vid000"),
    ("video_id", ["a", None, "b", "c", "d"], "without a video_id \\(table lines 3\\)"),
])
def test_invalid_rows_are_named(column, values, message):
    with pytest.raises(ManifestError, match=message):
        build_manifest(sources(5, **{column: values}), shard_size=2)


def test_missing_required_column_is_named():
    with pytest.raises(ManifestError, match="required column.*split"):
        build_manifest(sources(3).drop(columns="split"), shard_size=2)


def test_ytdlp_sources_are_youtube_ids_or_urls():
    manifest = build_manifest(sources(3, source_type=["ytdlp"] * 3,
                                      source=["dQw4w9WgXcQ", "https://vimeo.com/76979871",
                                              "http://127.0.0.1:8000/v.html"]), shard_size=10)
    assert manifest["source"].tolist() == ["https://www.youtube.com/watch?v=dQw4w9WgXcQ",
                                           "https://vimeo.com/76979871", "http://127.0.0.1:8000/v.html"]
    with pytest.raises(ManifestError, match="ytdlp source must be an 11-character YouTube id.*vid001"):
        build_manifest(sources(2, source_type=["ytdlp"] * 2, source=["dQw4w9WgXcQ", "dQw4w9"]),
                       shard_size=10)
    with pytest.raises(ManifestError, match="gets its captions from the download.*vid000"):
        build_manifest(sources(1, source_type=["ytdlp"], source=["dQw4w9WgXcQ"], captions=["c.vtt"]),
                       shard_size=10)


def test_target_videos_get_their_own_corpus_and_shards_after_the_source():
    target = sources(3).assign(video_id=["tgt0", "tgt1", "tgt2"])
    manifest = build_manifest(sources(5), shard_size=2, target=target)
    assert manifest["corpus"].tolist() == ["source"] * 5 + ["target"] * 3
    assert manifest["shard"].tolist() == [0, 0, 1, 1, 2, 3, 3, 4]
    alone = build_manifest(sources(5), shard_size=2)
    assert (alone["corpus"] == "source").all()
    assert alone["shard"].tolist() == manifest["shard"].tolist()[:5]
    assert corpus_videos(manifest)["video_id"].tolist() == sources(5)["video_id"].tolist()
    assert corpus_videos(manifest, "target")["video_id"].tolist() == ["tgt0", "tgt1", "tgt2"]
    # The target's verticals are filled like the source's.
    assert manifest["verticals"].tolist()[5:] == ["Food & Drink;Pets & Animals", "Games", ""]


def test_crosstask_videos_get_a_manifest_of_their_own_with_named_shards():
    study = build_manifest(sources(3), shard_size=2)
    crosstask = pd.DataFrame({"video_id": ["ct0", "ct1", "ct2"], "source": ["a.mp4", "b.mp4", "c.mp4"],
                              "split": ["train", "", ""]})
    manifest = build_crosstask_manifest(crosstask, 2, study)
    assert manifest["corpus"].tolist() == ["crosstask"] * 3
    assert manifest["split"].tolist() == ["validation"] * 3, "only ever evaluated"
    assert manifest["shard"].tolist() == [0, 0, 1]
    assert [shard_name(c, s) for c, s in zip(manifest["corpus"], manifest["shard"])] == [
        "ct00000", "ct00000", "ct00001"]
    assert shard_rows(manifest, "ct00001")["video_id"].tolist() == ["ct2"]
    assert shard_rows(study, "00001")["video_id"].tolist() == ["vid002"]
    assert shard_rows(study, "ct00001").empty
    with pytest.raises(ManifestError, match="vid001 \\(source and crosstask\\)"):
        build_crosstask_manifest(sources(2).iloc[1:], 2, study)
    empty = build_crosstask_manifest(crosstask.iloc[:0], 2, study)
    assert empty.empty and list(empty.columns) == list(manifest.columns)


def test_a_video_in_two_corpora_is_an_error():
    with pytest.raises(ManifestError, match="more than one corpus.*vid001 \\(source and target\\)"):
        build_manifest(sources(3), shard_size=2, target=sources(3).iloc[1:])


@pytest.mark.parametrize("splits, missing", [(["train", "train"], "validation"),
                                             (["validation", "validation"], "train")])
def test_a_target_without_training_or_validation_videos_is_an_error(splits, missing):
    target = sources(2).assign(video_id=["tgt0", "tgt1"], split=splits)
    with pytest.raises(ManifestError, match=f"the target table has no {missing} videos"):
        build_manifest(sources(3), shard_size=2, target=target)


def test_manifest_shards_are_read_once_per_version_of_the_manifest(tmp_path, monkeypatch):
    from groundprobe import manifest as manifest_module
    from groundprobe.io import write_table

    path = tmp_path / "manifest.tsv"
    write_table(build_manifest(sources(5), shard_size=2, target=sources(4).assign(
        video_id=[f"t{i}" for i in range(4)])), path)
    reads = []
    read_csv = pd.read_csv
    def counted_read_csv(source, *args, **kwargs):
        reads.extend([source] if str(source) == str(path) else [])
        return read_csv(source, *args, **kwargs)

    monkeypatch.setattr(manifest_module.pd, "read_csv", counted_read_csv)
    shards = manifest_module.manifest_shards(path)
    assert shards == {"source": ("00000", "00001", "00002"), "target": ("00003", "00004"),
                      None: ("00000", "00001", "00002", "00003", "00004")}
    assert manifest_module.manifest_shards(path) == shards and len(reads) == 1
    write_table(build_manifest(sources(9), shard_size=2), path)   # the checkpoint reran
    assert manifest_module.manifest_shards(path) == {
        "source": ("00000", "00001", "00002", "00003", "00004"),
        None: ("00000", "00001", "00002", "00003", "00004")}
    assert len(reads) == 2
    crosstask = build_crosstask_manifest(sources(3).assign(video_id=["c0", "c1", "c2"]), 2,
                                         build_manifest(sources(9), shard_size=2))
    write_table(crosstask, tmp_path / "crosstask.tsv")
    assert manifest_module.manifest_shards(tmp_path / "crosstask.tsv") == {
        "crosstask": ("ct00000", "ct00001"), None: ("ct00000", "ct00001")}


def read_text_manifest(path) -> pd.DataFrame:
    """The reference: the whole manifest file read by pandas, every column but shard as text."""
    return pd.read_csv(path, sep="\t", keep_default_na=False, na_values=[""],
                       dtype={column: str for column in MANIFEST_COLUMNS if column != "shard"})


class CountingFile:
    """A binary file that counts the bytes read from it."""

    def __init__(self, path, mode):
        self.handle, self.bytes_read = open(path, mode), 0

    def read(self, *args):
        data = self.handle.read(*args)
        self.bytes_read += len(data)
        return data

    def readline(self, *args):
        line = self.handle.readline(*args)
        self.bytes_read += len(line)
        return line

    def seek(self, *args):
        return self.handle.seek(*args)

    def tell(self):
        return self.handle.tell()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.close()


def bytes_read(monkeypatch, call):
    """(call(), bytes groundprobe.manifest read from files); fails when it parsed a whole file."""
    from groundprobe import manifest as manifest_module

    files, whole_reads = [], []
    monkeypatch.setattr(manifest_module, "open",
                        lambda path, mode: files.append(CountingFile(path, mode)) or files[-1],
                        raising=False)
    read_text = manifest_module.read_manifest_text
    monkeypatch.setattr(manifest_module, "read_manifest_text", lambda source, separator: (
        whole_reads.append(source) if not hasattr(source, "read") else None,
        read_text(source, separator))[1])
    result = call()
    monkeypatch.undo()
    assert not whole_reads, "the whole manifest was parsed"
    return result, sum(file.bytes_read for file in files)


@pytest.mark.parametrize("shard_size", [1, 3, 7])
def test_a_shard_is_read_from_its_own_bytes_equal_to_filtering_the_whole_table(tmp_path, shard_size,
                                                                              monkeypatch):
    from groundprobe.io import write_table
    from groundprobe.manifest import read_shard_rows

    target = sources(8).assign(video_id=[f"t{i}" for i in range(8)],
                               split=["train", "validation"] * 4)
    # Titles with a separator-like comma, quotes and digits only, and empty cells.
    study = build_manifest(sources(200, title=[f'a, "b" {i}' if i % 3 else str(i)
                                               for i in range(200)]),
                           shard_size, target=target)
    crosstask = build_crosstask_manifest(
        pd.DataFrame({"video_id": [f"c{i}" for i in range(5)], "source": ["x.mp4"] * 5}),
        shard_size, study)
    for manifest, name in ((study, "manifest.tsv"), (crosstask, "crosstask.tsv")):
        path = tmp_path / name
        write_table(manifest, path)
        whole = read_text_manifest(path)
        names = {shard_name(c, s) for c, s in zip(manifest["corpus"], manifest["shard"])}
        with path.open("rb") as handle:
            size = len(handle.read())
        ordered = sorted(names)
        # The first, second, a middle and the last two shards (the source's last and the
        # target's), and shards the manifest lacks.
        picked = dict.fromkeys(ordered[:2] + ordered[len(ordered) // 2:][:1] + ordered[-9:-8]
                               + ordered[-2:])
        for shard in [*picked, "00999", "ct00999"]:
            expected = shard_rows(whole, shard).reset_index(drop=True)
            got, read = bytes_read(monkeypatch, lambda: read_shard_rows(path, shard))
            assert len(got) == len(expected) and (len(got) > 0) == (shard in names), shard
            if len(got):
                pd.testing.assert_frame_equal(got, expected)
            assert read < size / 2 or name == "crosstask.tsv", f"{shard}: read {read} of {size} bytes"


def test_a_field_with_a_line_break_falls_back_to_reading_the_whole_manifest(tmp_path):
    from groundprobe.io import write_table
    from groundprobe.manifest import read_shard_rows

    manifest = build_manifest(sources(9, title=["two\nlines" if i == 4 else "" for i in range(9)]),
                              shard_size=2)
    path = tmp_path / "manifest.tsv"
    write_table(manifest, path)
    whole = read_text_manifest(path)
    assert whole["title"].tolist().count("two\nlines") == 1
    for shard in ("00000", "00001", "00002", "00003", "00004"):
        pd.testing.assert_frame_equal(read_shard_rows(path, shard),
                                      shard_rows(whole, shard).reset_index(drop=True))
