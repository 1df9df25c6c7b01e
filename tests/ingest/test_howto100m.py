"""HowTo100M's release format (groundprobe.ingest.howto100m): the caption file read one entry at a time
equals json.load, the sources table and caption files carry the release's videos and words."""

import json

import pandas as pd
import pytest

from groundprobe.ingest import howto100m
from groundprobe.captions.caption_words import parse_captions
from groundprobe.ingest.howto100m import (
    HowTo100MError,
    iter_caption_file,
    nested_subset,
    read_howto100m_videos,
    write_howto100m_sources,
)
from groundprobe.io import read_table, read_text_table
from groundprobe.ingest.manifest import SOURCE_COLUMNS, build_manifest

# Keys and texts that a scanner looking for braces, quotes or commas would cut wrongly.
TRICKY = {
    "aaaaaaaaaaa": {"start": [0, 2.5], "end": [2.5, 5.25], "text": ["cut the {onion}", 'say "hi", then ,:']},
    "b-b_b-b_b-b": {"start": [], "end": [], "text": []},
    "ccccccccccc": {"start": [1.0], "end": [3.0], "text": ["caf\u00e9 na\u00efve \u2014 \\ back\\slash \u2603"]},
    'd"dd\\dd}ddd': {"start": [7], "end": [9], "text": ['}]},{"'], "extra": [1, {"x": "}"}]},
}


@pytest.mark.parametrize("indent", [None, 2])
@pytest.mark.parametrize("read_chars", [1, 7, 1 << 20])
def test_the_caption_file_is_read_entry_by_entry_as_json_load_reads_it(tmp_path, monkeypatch, indent, read_chars):
    monkeypatch.setattr(howto100m, "READ_CHARS", read_chars)  # chunk edges everywhere
    path = tmp_path / "caption.json"
    path.write_text(json.dumps(TRICKY, indent=indent, ensure_ascii=read_chars == 7), encoding="utf-8")
    assert list(iter_caption_file(path)) == list(json.load(open(path, encoding="utf-8")).items())
    (tmp_path / "empty.json").write_text(" { \n } ")
    assert list(iter_caption_file(tmp_path / "empty.json")) == []


@pytest.mark.parametrize(
    "text, message",
    [
        ('[{"a": 1}]', "not a JSON object"),
        ('{"v": {"start": [1], "end": [2]}}', "not an object with start, end, text"),
        ('{"v": {"start": [1], "end": [2, 3], "text": ["x"]}}', "lists of one length"),
        ('{"v": {"start": ["1"], "end": [2], "text": ["x"]}}', "not a number"),
        ('{"v": {"start": [], "end": [], "text": []} "w": 1}', "after 'v'"),
        ('{"v": {"start": [], "end": [], "text": []}, "w": {"start": [1], ', "not a JSON object"),
    ],
)
def test_a_caption_file_not_in_the_format_is_an_error_naming_the_problem(tmp_path, text, message):
    path = tmp_path / "caption.json"
    path.write_text(text)
    with pytest.raises(HowTo100MError, match=message):
        list(iter_caption_file(path))


def release(tmp_path, n: int = 6) -> tuple:
    """A release of ``n`` videos (HowTo100M_v1.csv) and captions for all but the last, plus one
    unlisted video's."""
    ids = [f"vid{k:08d}" for k in range(n)]
    videos = pd.DataFrame(
        {
            "video_id": ids,
            "category_1": "Food and Entertaining",
            "category_2": ["Recipes", ""] * (n // 2) + ["Recipes"] * (n % 2),
            "rank": [str(k + 1) for k in range(n)],
            "task_id": "1234",
        }
    )
    videos.to_csv(tmp_path / "HowTo100M_v1.csv", index=False)
    captions = {
        vid: {"start": [0.0, 4.0], "end": [3.0, 6.5], "text": [f"take the pan {k}", "now stir\nit well"]}
        for k, vid in enumerate(ids[:-1])
    }
    captions["unlisted000"] = {"start": [0], "end": [1], "text": ["never read"]}
    (tmp_path / "caption.json").write_text(json.dumps(captions))
    return tmp_path / "HowTo100M_v1.csv", tmp_path / "caption.json", ids, captions


@pytest.mark.parametrize("videos_dir", ["", "local"])
def test_the_release_becomes_a_sources_table_whose_captions_give_each_lines_words_over_its_span(tmp_path, videos_dir):
    csv, caption_file, ids, captions = release(tmp_path)
    out, captions_dir = tmp_path / "sources.tsv", tmp_path / "captions"
    videos_dir = str(tmp_path / videos_dir) if videos_dir else ""
    assert write_howto100m_sources(csv, caption_file, videos_dir, None, out, captions_dir) == (6, 5)
    table = read_table(out)
    assert table.columns.tolist() == SOURCE_COLUMNS and table["video_id"].tolist() == ids
    if videos_dir:
        assert (table["source_type"] == "local").all()
        assert table["source"].tolist() == [f"{videos_dir}/{vid}.mp4" for vid in ids]
    else:
        assert (table["source_type"] == "ytdlp").all() and table["source"].tolist() == ids
    assert table["labels"].tolist()[:2] == ["Food and Entertaining;Recipes", "Food and Entertaining"]
    assert (table["split"] == "train").all() and (table["instructional"] == 1).all()
    assert pd.isna(table["captions"].iloc[-1]), "the video without captions has none"
    assert sorted(p.name for p in captions_dir.iterdir()) == [f"{vid}.vtt" for vid in ids[:-1]]
    for row in table.iloc[:-1].itertuples():
        words = parse_captions(row.captions, row.caption_kind)
        entry = captions[row.video_id]
        tokens = [w.text for w in words]
        assert tokens == " ".join(entry["text"]).split()
        # line 1: 4 words evenly over 0-3 s
        assert [t for w in words[:4] for t in (w.start_s, w.end_s)] == pytest.approx(
            [0, 0.75, 0.75, 1.5, 1.5, 2.25, 2.25, 3.0]
        )
        assert words[4].start_s == pytest.approx(4.0) and words[-1].end_s == pytest.approx(6.5)
    # The manifest takes the table as it is (ytdlp rows with captions of their own included).
    manifest = build_manifest(read_text_table(out), shard_size=4)
    assert manifest["video_id"].tolist() == ids


def test_subsets_are_nested_and_independent_of_the_list_order(tmp_path):
    ids = pd.Series([f"v{k:010d}" for k in range(200)])
    small, large = nested_subset(ids, 20), nested_subset(ids, 60)
    assert len(small) == 20 and len(large) == 60 and set(small) <= set(large)
    shuffled = ids.sample(frac=1, random_state=0).reset_index(drop=True)
    assert set(nested_subset(shuffled, 20)) == set(small)
    assert small.tolist() == [v for v in ids if v in set(small)]  # kept in list order
    assert nested_subset(ids, None).equals(ids) and nested_subset(ids, 500).equals(ids)
    csv, caption_file, ids6, _ = release(tmp_path)
    n, _ = write_howto100m_sources(csv, caption_file, "", 3, tmp_path / "s.tsv", tmp_path / "c")
    assert n == 3 and read_table(tmp_path / "s.tsv")["video_id"].tolist() == nested_subset(pd.Series(ids6), 3).tolist()


def test_a_video_list_not_in_the_format_is_refused(tmp_path):
    path = tmp_path / "list.csv"
    path.write_text("video_id,category_1,rank,task_id\nabcdefghijk,Food,1,1\n")
    with pytest.raises(HowTo100MError, match="no column category_2"):
        read_howto100m_videos(path)
    path.write_text("video_id,category_1,category_2,rank,task_id\nshort,Food,,1,1\n")
    with pytest.raises(HowTo100MError, match="not YouTube ids: 'short'"):
        read_howto100m_videos(path)
    path.write_text("video_id,category_1,category_2,rank,task_id\nabcdefghijk,Food,,1,1\nabcdefghijk,Food,,2,1\n")
    with pytest.raises(HowTo100MError, match="listed twice: abcdefghijk"):
        read_howto100m_videos(path)


@pytest.mark.workflow
def test_the_workflow_studies_the_release_as_its_corpus(tmp_path):
    """corpus.sources naming the rule's table: the manifest lists the release's videos, each with
    its caption file."""
    import yaml

    from tiny_workflow import ROOT, snakemake

    csv, caption_file, ids, _ = release(tmp_path)
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["corpus"].update(sources="results/howto100m/sources.tsv", target_sources="", instructional_sources="")
    config["howto100m"].update(videos=str(csv), captions=str(caption_file), videos_dir="", size=4)
    config["curation"]["enabled"] = False
    config["crosstask"]["enabled"] = False
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    snakemake(tmp_path, "--cores", "1", "results/manifest.tsv", timeout=300)
    manifest = read_table(tmp_path / "results/manifest.tsv")
    assert manifest["video_id"].tolist() == nested_subset(pd.Series(ids), 4).tolist()
    assert (manifest["source_type"] == "ytdlp").all() and (manifest["split"] == "train").all()
    for row in manifest.itertuples():
        if row.video_id != ids[-1]:
            assert (tmp_path / row.captions).read_text().startswith("WEBVTT")
