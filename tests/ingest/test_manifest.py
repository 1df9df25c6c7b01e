import pandas as pd
import pytest

from groundprobe.ingest.manifest import (
    MANIFEST_COLUMNS,
    ManifestError,
    assign_shards,
    build_crosstask_manifest,
    build_manifest,
    corpus_videos,
    shard_name,
    shard_rows,
)


def sources(n=5, **overrides):
    df = pd.DataFrame(
        {
            "video_id": [f"vid{i:03d}" for i in range(n)],
            "source": [f"videos/vid{i:03d}.mp4" for i in range(n)],
            "split": ["train", "validation"] * (n // 2) + ["train"] * (n % 2),
            "labels": ["Cooking;Pet", "Video game", "", "Unheard-of label", "Car"][:n] + [""] * max(0, n - 5),
        }
    )
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
        "Food & Drink;Pets & Animals",
        "Games",
        "",
        "(Unknown)",
        "Autos & Vehicles",
    ]


def test_defaults_fill_optional_columns():
    manifest = build_manifest(sources(2), shard_size=10)
    assert manifest["source_type"].tolist() == ["local", "local"]
    assert manifest["caption_kind"].tolist() == ["auto", "auto"]
    assert manifest["instructional"].tolist() == ["", ""]


@pytest.mark.parametrize(
    "column, values, message",
    [
        ("video_id", ["a", "a", "b", "c", "d"], "duplicate video_id: a, a"),
        ("video_id", ["ok", "bad/id", "x", "y", "z"], "invalid video_id.*bad/id"),
        ("split", ["train", "test", "train", "train", "train"], "split must be one of.*vid001"),
        ("source_type", ["local", "ftp", "local", "local", "local"], "source_type must be.*vid001"),
        ("verticals", ["Games", "", "", "", ""], "one vertical per label.*vid000"),
        ("video_id", ["a", None, "b", "c", "d"], "without a video_id \\(table lines 3\\)"),
    ],
)
def test_invalid_rows_are_named(column, values, message):
    with pytest.raises(ManifestError, match=message):
        build_manifest(sources(5, **{column: values}), shard_size=2)


def test_missing_required_column_is_named():
    with pytest.raises(ManifestError, match="required column.*split"):
        build_manifest(sources(3).drop(columns="split"), shard_size=2)


def test_ytdlp_sources_are_youtube_ids_or_urls():
    manifest = build_manifest(
        sources(
            3,
            source_type=["ytdlp"] * 3,
            source=["dQw4w9WgXcQ", "https://vimeo.com/76979871", "http://127.0.0.1:8000/v.html"],
        ),
        shard_size=10,
    )
    assert manifest["source"].tolist() == [
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
        "https://vimeo.com/76979871",
        "http://127.0.0.1:8000/v.html",
    ]
    with pytest.raises(ManifestError, match="ytdlp source must be an 11-character YouTube id.*vid001"):
        build_manifest(sources(2, source_type=["ytdlp"] * 2, source=["dQw4w9WgXcQ", "dQw4w9"]), shard_size=10)
    # A caption file of its own (HowTo100M's release) is kept: the download then fetches the video only.
    own = build_manifest(sources(1, source_type=["ytdlp"], source=["dQw4w9WgXcQ"], captions=["c.vtt"]), shard_size=10)
    assert own["captions"].tolist() == ["c.vtt"]


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


def test_instructional_videos_get_their_own_corpus_and_shards_after_the_target():
    target = sources(3).assign(video_id=["tgt0", "tgt1", "tgt2"])
    howto = sources(3).assign(video_id=["how0", "how1", "how2"], split="train")
    manifest = build_manifest(sources(5), shard_size=2, target=target, instructional=howto)
    assert manifest["corpus"].tolist() == ["source"] * 5 + ["target"] * 3 + ["instructional"] * 3
    assert manifest["shard"].tolist() == [0, 0, 1, 1, 2, 3, 3, 4, 5, 5, 6]
    alone = build_manifest(sources(5), shard_size=2, instructional=howto)
    assert alone["shard"].tolist() == [0, 0, 1, 1, 2, 3, 3, 4]
    with pytest.raises(ManifestError, match="instructional table has no train videos"):
        build_manifest(sources(5), shard_size=2, instructional=howto.assign(split="validation"))
    with pytest.raises(ManifestError, match="more than one corpus.*vid000"):
        build_manifest(sources(5), shard_size=2, instructional=sources(1).assign(split="train"))


def test_crosstask_videos_get_a_manifest_of_their_own_with_named_shards():
    study = build_manifest(sources(3), shard_size=2)
    crosstask = pd.DataFrame(
        {"video_id": ["ct0", "ct1", "ct2"], "source": ["a.mp4", "b.mp4", "c.mp4"], "split": ["train", "", ""]}
    )
    manifest = build_crosstask_manifest(crosstask, 2, study)
    assert manifest["corpus"].tolist() == ["crosstask"] * 3
    assert manifest["split"].tolist() == ["validation"] * 3, "only ever evaluated"
    assert manifest["shard"].tolist() == [0, 0, 1]
    assert [shard_name(c, s) for c, s in zip(manifest["corpus"], manifest["shard"])] == [
        "ct00000",
        "ct00000",
        "ct00001",
    ]
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


@pytest.mark.parametrize(
    "splits, missing", [(["train", "train"], "validation"), (["validation", "validation"], "train")]
)
def test_a_target_without_training_or_validation_videos_is_an_error(splits, missing):
    target = sources(2).assign(video_id=["tgt0", "tgt1"], split=splits)
    with pytest.raises(ManifestError, match=f"the target table has no {missing} videos"):
        build_manifest(sources(3), shard_size=2, target=target)


def test_manifest_shards_are_read_once_per_version_of_the_manifest(tmp_path, monkeypatch):
    from groundprobe.ingest import manifest as manifest_module
    from groundprobe.io import write_table

    path = tmp_path / "manifest.tsv"
    write_table(
        build_manifest(sources(5), shard_size=2, target=sources(4).assign(video_id=[f"t{i}" for i in range(4)])), path
    )
    reads = []
    read_csv = pd.read_csv

    def counted_read_csv(source, *args, **kwargs):
        reads.extend([source] if str(source) == str(path) else [])
        return read_csv(source, *args, **kwargs)

    monkeypatch.setattr(manifest_module.pd, "read_csv", counted_read_csv)
    shards = manifest_module.manifest_shards(path)
    assert shards == {
        "source": ("00000", "00001", "00002"),
        "target": ("00003", "00004"),
        None: ("00000", "00001", "00002", "00003", "00004"),
    }
    assert manifest_module.manifest_shards(path) == shards and len(reads) == 1
    write_table(build_manifest(sources(9), shard_size=2), path)  # the checkpoint reran
    assert manifest_module.manifest_shards(path) == {
        "source": ("00000", "00001", "00002", "00003", "00004"),
        None: ("00000", "00001", "00002", "00003", "00004"),
    }
    assert len(reads) == 2
    crosstask = build_crosstask_manifest(
        sources(3).assign(video_id=["c0", "c1", "c2"]), 2, build_manifest(sources(9), shard_size=2)
    )
    write_table(crosstask, tmp_path / "crosstask.tsv")
    assert manifest_module.manifest_shards(tmp_path / "crosstask.tsv") == {
        "crosstask": ("ct00000", "ct00001"),
        None: ("ct00000", "ct00001"),
    }


def test_blocks_group_ten_consecutive_shards_of_one_corpus(tmp_path):
    from groundprobe.io import write_table
    from groundprobe.ingest.manifest import (
        SHARDS_PER_BLOCK,
        block_files,
        block_shards,
        manifest_blocks,
        manifest_shards,
    )

    assert SHARDS_PER_BLOCK == 10
    path = tmp_path / "manifest.tsv"
    # 23 source shards (3 blocks, the last of 3 shards) and 2 target shards after them
    write_table(build_manifest(sources(23), shard_size=1, target=sources(2).assign(video_id=["t0", "t1"])), path)
    blocks = manifest_blocks(path)
    assert blocks == {
        "source": ("00000-00009", "00010-00019", "00020-00022"),
        "target": ("00023-00024",),
        None: ("00000-00009", "00010-00019", "00020-00022", "00023-00024"),
    }
    shards = manifest_shards(path)
    for corpus in ("source", "target"):  # every shard in exactly one block, in order
        assert [s for block in blocks[corpus] for s in block_shards(block)] == list(shards[corpus])
    assert block_shards("ct00008-ct00011") == ["ct00008", "ct00009", "ct00010", "ct00011"]
    assert block_files(["results/asr/00020-00022", "x/ct00000-ct00000"], ".tsv.gz") == [
        "results/asr/00020-00022/00020.tsv.gz",
        "results/asr/00020-00022/00021.tsv.gz",
        "results/asr/00020-00022/00022.tsv.gz",
        "x/ct00000-ct00000/ct00000.tsv.gz",
    ]
    for name in ("00003", "00005-00003", "00001-ct00002", "a-b"):
        with pytest.raises(ValueError):
            block_shards(name)


def read_text_manifest(path) -> pd.DataFrame:
    """The reference: the whole manifest file read by pandas, every column but shard as text."""
    return pd.read_csv(
        path,
        sep="\t",
        keep_default_na=False,
        na_values=[""],
        dtype={column: str for column in MANIFEST_COLUMNS if column != "shard"},
    )


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
    """(call(), bytes groundprobe.ingest.manifest read from files); fails when it parsed a whole file."""
    from groundprobe.ingest import manifest as manifest_module

    files, whole_reads = [], []
    monkeypatch.setattr(
        manifest_module, "open", lambda path, mode: files.append(CountingFile(path, mode)) or files[-1], raising=False
    )
    read_text = manifest_module.read_manifest_text
    monkeypatch.setattr(
        manifest_module,
        "read_manifest_text",
        lambda source, separator: (
            whole_reads.append(source) if not hasattr(source, "read") else None,
            read_text(source, separator),
        )[1],
    )
    result = call()
    monkeypatch.undo()
    assert not whole_reads, "the whole manifest was parsed"
    return result, sum(file.bytes_read for file in files)


@pytest.mark.parametrize("shard_size", [1, 3, 7])
def test_a_shard_is_read_from_its_own_bytes_equal_to_filtering_the_whole_table(tmp_path, shard_size, monkeypatch):
    from groundprobe.io import write_table
    from groundprobe.ingest.manifest import read_shard_rows

    target = sources(8).assign(video_id=[f"t{i}" for i in range(8)], split=["train", "validation"] * 4)
    # Titles with a separator-like comma, quotes and digits only, and empty cells.
    study = build_manifest(
        sources(200, title=[f'a, "b" {i}' if i % 3 else str(i) for i in range(200)]), shard_size, target=target
    )
    crosstask = build_crosstask_manifest(
        pd.DataFrame({"video_id": [f"c{i}" for i in range(5)], "source": ["x.mp4"] * 5}), shard_size, study
    )
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
        picked = dict.fromkeys(ordered[:2] + ordered[len(ordered) // 2 :][:1] + ordered[-9:-8] + ordered[-2:])
        for shard in [*picked, "00999", "ct00999"]:
            expected = shard_rows(whole, shard).reset_index(drop=True)
            got, read = bytes_read(monkeypatch, lambda: read_shard_rows(path, shard))
            assert len(got) == len(expected) and (len(got) > 0) == (shard in names), shard
            if len(got):
                pd.testing.assert_frame_equal(got, expected)
            assert read < size / 2 or name == "crosstask.tsv", f"{shard}: read {read} of {size} bytes"


def test_a_field_with_a_line_break_falls_back_to_reading_the_whole_manifest(tmp_path):
    from groundprobe.io import write_table
    from groundprobe.ingest.manifest import read_shard_rows

    manifest = build_manifest(sources(9, title=["two\nlines" if i == 4 else "" for i in range(9)]), shard_size=2)
    path = tmp_path / "manifest.tsv"
    write_table(manifest, path)
    whole = read_text_manifest(path)
    assert whole["title"].tolist().count("two\nlines") == 1
    for shard in ("00000", "00001", "00002", "00003", "00004"):
        pd.testing.assert_frame_equal(read_shard_rows(path, shard), shard_rows(whole, shard).reset_index(drop=True))


# --- The sources table as written: read losslessly, counted independently ----------------------

# Titles a hand-made table may hold; read with CSV quoting, the second swallowed the rows up to the
# next quote (5 rows became 3).
QUOTED_TITLES = ['"Best" bread', '"unclosed title', "plain", 'ends with a quote"', '""']


def quoted_sources_tsv(path):
    lines = ["video_id\tsource\tsplit\ttitle"] + [
        f"vid{i:03d}\tvideos/vid{i:03d}.mp4\t{'train' if i % 2 else 'validation'}\t{title}"
        for i, title in enumerate(QUOTED_TITLES)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_tsv_cell_starting_with_a_quote_keeps_every_row_and_its_quotes(tmp_path):
    from groundprobe.io import count_table_rows, read_table, read_text_table, write_table
    from groundprobe.ingest.manifest import read_shard_rows

    path = quoted_sources_tsv(tmp_path / "sources.tsv")
    manifest = build_manifest(read_text_table(path), shard_size=2)
    assert manifest["title"].tolist() == QUOTED_TITLES
    assert count_table_rows(path) == len(QUOTED_TITLES)
    # The manifest quotes them as a CSV writer does; its readers give them back unchanged.
    write_table(manifest, tmp_path / "manifest.tsv")
    assert read_table(tmp_path / "manifest.tsv")["title"].tolist() == QUOTED_TITLES
    shards = [read_shard_rows(tmp_path / "manifest.tsv", f"{shard:05d}") for shard in range(3)]
    assert pd.concat(shards)["title"].tolist() == QUOTED_TITLES


def test_a_csv_sources_table_keeps_standard_quoting(tmp_path):
    from groundprobe.io import count_table_rows, read_text_table

    path = tmp_path / "sources.csv"
    path.write_text(
        "video_id,source,split,title\n"
        'v0,a.mp4,train,"Toast, with butter"\n'
        'v1,b.mp4,validation,"He said ""hi"""\n'
        'v2,c.mp4,train,"two\nlines"\n'
    )
    table = read_text_table(path)
    assert table["title"].tolist() == ["Toast, with butter", 'He said "hi"', "two\nlines"]
    assert table["video_id"].tolist() == ["v0", "v1", "v2"] and count_table_rows(path) == 3


@pytest.mark.parametrize(
    "name, text, message",
    [
        (
            "sources.tsv",
            "video_id\tsource\tsplit\nv0\ta.mp4\ttrain\nv1\tb.mp4\nv2\tc.mp4\ttrain\n",
            r"sources.tsv, line 3: 2 field\(s\), but the header has 3 \(video_id, source, split\)",
        ),
        (
            "sources.tsv",
            "video_id\tsource\tsplit\nv0\ta.mp4\ttrain\n\nv1\tb.mp4\ttrain\tx\n",
            r"sources.tsv, line 4: 4 field\(s\), but the header has 3",
        ),
        ("sources.csv", "video_id,source,split\nv0,a.mp4,train\nv1,b.mp4\n", r"sources.csv, line 3: 2 field"),
        # A quote opened and never closed swallows the rest of a CSV: an error, not fewer rows.
        (
            "sources.csv",
            'video_id,source,split\nv0,"a.mp4,train\nv1,b.mp4,train\n',
            r"sources.csv, line 3: unexpected end of data",
        ),
        ("sources.tsv", "video_id\tsource\tvideo_id\n", r"sources.tsv, line 1: the header needs distinct"),
    ],
)
def test_a_row_that_cannot_be_parsed_is_an_error_naming_its_line(tmp_path, name, text, message):
    from groundprobe.io import TableError, read_text_table

    (tmp_path / name).write_text(text)
    with pytest.raises(TableError, match=message):
        read_text_table(tmp_path / name)


def test_written_sources_tables_are_read_back_unchanged(tmp_path):
    from groundprobe.io import TableError, read_text_table, write_text_table

    table = pd.DataFrame({"video_id": ["a", "b"], "labels": ['Toys "R" Us', '"'], "title": ["", "007"]})
    for name in ("t.tsv", "t.csv", "t.csv.gz"):
        write_text_table(table, tmp_path / name)
        pd.testing.assert_frame_equal(read_text_table(tmp_path / name), table.astype(object))
    with pytest.raises(TableError, match="column title holds a tab"):
        write_text_table(table.assign(title=["a\tb", ""]), tmp_path / "t.tsv")


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"video_id": ["vid000\n", "vid001"]}, r"invalid video_id .*: 'vid000\\n'$"),
        (
            {"source_type": ["ytdlp"] * 2, "source": ["dQw4w9WgXcQ\n", "dQw4w9WgXcQ"], "video_id": ["a", "b"]},
            "ytdlp source must be.*: a$",
        ),
        (
            {"source_type": ["http"] * 2, "source": ["https://example.org/a.mp4", "file:///etc/hostname"]},
            "an http source must be an http:// or https:// URL: vid001$",
        ),
        (
            {"source_type": ["http"] * 2, "source": ["https://example.org/a.mp4\n", "http://example.org/b"]},
            "an http source must be an http:// or https:// URL: vid000$",
        ),
    ],
)
def test_ids_and_urls_are_matched_whole(overrides, message):
    with pytest.raises(ManifestError, match=message):
        build_manifest(sources(2, **overrides), shard_size=2)
