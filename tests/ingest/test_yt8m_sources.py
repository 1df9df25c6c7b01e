import io

import pandas as pd
import pytest

from groundprobe.ingest.manifest import ManifestError, build_manifest, load_yt8m_vocabulary
from groundprobe.ingest.yt8m_sources import parse_label_indices, read_id_list, yt8m_sources

# Hand-made: indices looked up by hand in the shipped vocabulary (Index, Name, Vertical1).
ID_LIST = """video_id,labels,split
abcdefghij0,22 20,train
abcdefghij1,18;67,validate
abcdefghij2,7,validation
abc-efg_ij3,120,train
"""
EXPECTED = pd.DataFrame(
    {
        "video_id": ["abcdefghij0", "abcdefghij1", "abcdefghij2", "abc-efg_ij3"],
        "labels": ["Cooking;Recipe", "Pet;Dog", "Car", "/m/0dxrf"],
        "verticals": ["Food & Drink;Food & Drink", "Pets & Animals;Pets & Animals", "Autos & Vehicles", "Food & Drink"],
        "split": ["train", "validation", "validation", "train"],
    }
)


def id_list(text: str = ID_LIST) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)


def test_label_indices_become_names_and_verticals_and_the_split_is_kept():
    sources = yt8m_sources(id_list())
    pd.testing.assert_frame_equal(sources[EXPECTED.columns.tolist()], EXPECTED)
    assert set(sources["source_type"]) == {"ytdlp"} and list(sources["source"]) == list(EXPECTED.video_id)
    assert set(sources["captions"]) == {""} and set(sources["instructional"]) == {""}


def test_the_sources_table_becomes_a_manifest_with_the_vocabulary_verticals():
    manifest = build_manifest(yt8m_sources(id_list()), shard_size=3)
    assert list(manifest["verticals"]) == list(EXPECTED["verticals"])
    assert list(manifest["shard"]) == [0, 0, 0, 1]


def test_the_written_sources_table_is_read_back_with_its_quoted_label(tmp_path):
    """Rule yt8m_sources writes the table that rule manifest reads: label 2533, 'Toys "R" Us' (the
    vocabulary's one name with quotes), reaches the manifest as named."""
    from groundprobe.io import read_text_table, write_text_table

    path = tmp_path / "sources.tsv"
    write_text_table(yt8m_sources(id_list(ID_LIST + "abcdefghij9,2533 7,train\n")), path)
    manifest = build_manifest(read_text_table(path), shard_size=3)
    assert manifest["labels"].tolist()[-1] == 'Toys "R" Us;Car'
    assert manifest["verticals"].tolist()[-1] == "Shopping;Autos & Vehicles"
    assert len(manifest) == 5


@pytest.mark.parametrize(
    "text, expected", [("3 17  52", [3, 17, 52]), ("3;17", [3, 17]), ("3,17", [3, 17]), (" 5 ", [5])]
)
def test_label_index_separators(text, expected):
    assert parse_label_indices(text) == expected


@pytest.mark.parametrize(
    "row, message",
    [
        ("short,22,train", "not an 11-character YouTube id: short"),
        ("abcdefghij0,22,train", "duplicate video_id: abcdefghij0"),
        ("abcdefghij9XYZ,22,train", "not an 11-character YouTube id: abcdefghij9XYZ"),
        ("abcdefghij9,22,test", "split must be one of train, validate, validation: abcdefghij9"),
        ("abcdefghij9,3862,train", "vocabulary indices 0..3861: abcdefghij9"),
        ("abcdefghij9,Cooking,train", "vocabulary indices 0..3861: abcdefghij9"),
        ("abcdefghij9,,train", "vocabulary indices 0..3861: abcdefghij9"),
    ],
)
def test_invalid_id_list_rows_are_named(row, message):
    with pytest.raises(ManifestError, match=message):
        read_id_list(id_list(ID_LIST + row + "\n"), load_yt8m_vocabulary())


def test_instructional_labels_fill_the_validation_sample_only():
    labels = pd.DataFrame({"video_id": ["abcdefghij1", "abcdefghij2"], "instructional": ["1", "0"]})
    sources = yt8m_sources(id_list(), labels)
    assert list(sources["instructional"]) == ["", "1", "0", ""]


@pytest.mark.parametrize(
    "labels, message",
    [
        ({"video_id": ["abcdefghij0"], "instructional": ["1"]}, "in the train split: abcdefghij0"),
        ({"video_id": ["zzzzzzzzzzz"], "instructional": ["1"]}, "not in the id list: zzzzzzzzzzz"),
        ({"video_id": ["abcdefghij1"], "instructional": ["yes"]}, "must be 0 or 1: abcdefghij1"),
        ({"video_id": ["abcdefghij1"] * 2, "instructional": ["1", "0"]}, "labelled twice: abcdefghij1"),
    ],
)
def test_invalid_instructional_labels_are_named(labels, message):
    with pytest.raises(ManifestError, match=message):
        yt8m_sources(id_list(), pd.DataFrame(labels))
