import numpy as np
import pandas as pd
import pytest

from groundprobe.evaluation.auc_by_video import COLUMNS, auc_shard_name, write_auc_by_video
from groundprobe.evaluation.evaluate import AUC_COLUMNS
from groundprobe.io import read_table, write_table
from groundprobe.ingest.manifest import build_manifest

LABELS = ["Cooking;Pet", "Video game", "", "Car", "Unheard-of label", "Cooking"]


def corpus(tmp_path, manifest_name, instructional, target=True):
    """A manifest of 11 source videos in shards of 3 (00000-00003) plus, if ``target``, 4 target
    videos (unlabelled, 00004-00005), and rule evaluate's AUC table of each source shard: videos out of manifest
    order, shard 00001's with a video the manifest lacks, shard 00002's empty. Returns the
    manifest's path and the AUC tables' paths in shard order."""
    rng = np.random.default_rng(5)
    ids = [f"vid{i:03d}" for i in range(11)]
    sources = pd.DataFrame(
        {
            "video_id": ids,
            "source": [f"videos/{v}.mp4" for v in ids],
            "split": ["train", "validation", "validation"] * 3 + ["train", "validation"],
            "labels": [LABELS[i % len(LABELS)] for i in range(11)],
            # A separator, quotes and digits only in titles: the manifest's quoted cells.
            "title": [f'a, "b" {i}' if i % 2 else str(i) for i in range(11)],
            "instructional": instructional,
        }
    )
    targets = pd.DataFrame(
        {"video_id": [f"t{i}" for i in range(4)], "source": ["x.mp4"] * 4, "split": ["train", "validation"] * 2}
    )
    manifest = tmp_path / manifest_name
    write_table(build_manifest(sources, shard_size=3, target=targets if target else None), manifest)
    shard_videos = {
        "00000": ["vid002", "vid000", "vid001"],
        "00001": ["vid004", "ghost", "vid003"],
        "00002": [],
        "00003": ["vid010", "vid009"],
    }
    paths = []
    for shard, videos in shard_videos.items():
        auc = pd.DataFrame(
            {"video_id": videos, "n_segments": rng.integers(2, 40, len(videos)), "auc": rng.random(len(videos))},
            columns=AUC_COLUMNS,
        )
        if len(videos) > 1:
            auc.loc[1, "auc"] = 1.0  # an integral float
        paths.append(tmp_path / "evaluate" / "m" / f"{shard}.auc.tsv")
        write_table(auc, paths[-1])
    return manifest, paths


def whole_table_join(auc_paths, manifest, out):
    """Rule auc_by_video before it streamed: every AUC table joined with the whole manifest."""
    auc = pd.concat([read_table(path) for path in auc_paths], ignore_index=True)
    table = auc.merge(read_table(manifest), on="video_id", how="left", validate="one_to_one")
    write_table(table[COLUMNS], out)
    return table


@pytest.mark.parametrize("manifest_name", ["manifest.tsv", "manifest.csv"])
@pytest.mark.parametrize("out_name", ["auc_by_video.csv", "auc_by_video.tsv"])
def test_shard_by_shard_writes_the_whole_table_joins_bytes(tmp_path, manifest_name, out_name):
    manifest, paths = corpus(tmp_path, manifest_name, ["1", "0", "", "1"] * 2 + ["0", "1", ""])
    reference = whole_table_join(paths, manifest, tmp_path / f"reference_{out_name}")
    videos, splits = write_auc_by_video(paths, manifest, tmp_path / out_name)
    assert (tmp_path / out_name).read_bytes() == (tmp_path / f"reference_{out_name}").read_bytes()
    assert videos == len(reference) == 8
    assert splits == reference["split"].value_counts().to_dict() == {"validation": 4, "train": 3}
    # Planted: the ghost video keeps its AUC with empty metadata; labels with ';' and empty cells.
    text = (tmp_path / out_name).read_text().splitlines()
    sep = "," if out_name.endswith(".csv") else "\t"
    assert text[0] == sep.join(COLUMNS)
    assert [line.split(sep)[:5] for line in text[1:3]] == [
        ["vid002", "validation", "", "", ""],
        ["vid000", "train", "Cooking;Pet", "Food & Drink;Pets & Animals", "1.0"],
    ]
    assert text[5].startswith(sep.join(["ghost", "", "", "", "", ""]))


def test_a_fully_labelled_corpus_differs_only_in_how_instructional_is_written(tmp_path):
    # The whole-table join wrote 0/1 when no video at all lacked a label (an int column), 0.0/1.0
    # otherwise; shard by shard it is always written as a float.
    manifest, paths = corpus(tmp_path, "manifest.tsv", ["1", "0"] * 5 + ["1"], target=False)
    paths = [path for path in paths if path.name != "00001.auc.tsv"]  # no ghost video
    reference = whole_table_join(paths, manifest, tmp_path / "reference.csv")
    write_auc_by_video(paths, manifest, tmp_path / "auc_by_video.csv")
    assert reference["instructional"].dtype == np.int64
    got = read_table(tmp_path / "auc_by_video.csv")
    assert got["instructional"].tolist() == [1.0, 1.0, 0.0, 1.0, 0.0]
    pd.testing.assert_frame_equal(got, read_table(tmp_path / "reference.csv"), check_dtype=False)


def test_a_file_not_named_by_its_shard_is_refused_and_nothing_is_written(tmp_path):
    manifest, paths = corpus(tmp_path, "manifest.tsv", [""] * 11)
    with pytest.raises(ValueError, match="shard"):
        write_auc_by_video(
            [paths[0], tmp_path / "evaluate" / "m" / "all.auc.tsv"], manifest, tmp_path / "auc_by_video.csv"
        )
    with pytest.raises(ValueError, match="auc.tsv"):
        auc_shard_name(tmp_path / "00000.tsv")
    assert not (tmp_path / "auc_by_video.csv").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".auc_by_video")] == []
