import itertools
import re

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from groundprobe.evaluation.crosstask import (
    PUBLISHED_RECALL,
    RANDOM_WINDOW,
    StepInterval,
    Task,
    TaskVideo,
    localise_task_videos,
    predict_argmax,
    predict_ordered,
    predicted_times,
    random_window_steps,
    read_annotation,
    read_task_videos,
    read_tasks,
    recall_table,
    recalled_steps,
    score_windows,
    step_token_ids,
    unevaluated_videos,
    window_clips,
    window_starts,
)
from groundprobe.ingest.crosstask_sources import read_video_list, sources_from_video_list
from groundprobe.model.joint_embedding import JointEmbedding
from groundprobe.ingest.qc import QcRecord

# CrossTask's release format, written by hand: blocks of id, name, URL, step count, step names
# (one with a quoted comma), a blank line between blocks and trailing blank lines.
TASKS = """16815
Make Pancakes
https://www.wikihow.com/Make-Pancakes
3
add flour,"whisk eggs, milk",pour batter

23521
Jack Up a Car
https://www.wikihow.com/Jack-up-a-Car
2
brake on,raise jack


"""
# 6 windows (rows) x 3 steps; step 3's best window comes before step 2's.
SCORES = np.array(
    [[0.9, 0.1, 0.0], [0.2, 0.3, 0.8], [0.1, 0.7, 0.1], [0.0, 0.2, 0.6], [0.1, 0.1, 0.5], [0.0, 0.0, 0.1]]
)


def test_tasks_are_read_in_the_release_format(tmp_path):
    (tmp_path / "tasks_primary.txt").write_text(TASKS)
    tasks = read_tasks(tmp_path / "tasks_primary.txt")
    assert list(tasks) == ["16815", "23521"]
    assert tasks["16815"].name == "Make Pancakes"
    assert tasks["16815"].url == "https://www.wikihow.com/Make-Pancakes"
    assert tasks["16815"].steps == ("add flour", "whisk eggs, milk", "pour batter")
    assert tasks["23521"].steps == ("brake on", "raise jack")


def test_a_step_count_that_disagrees_with_the_names_is_an_error(tmp_path):
    (tmp_path / "tasks.txt").write_text(TASKS.replace("\n3\n", "\n4\n"))
    with pytest.raises(ValueError, match="task 16815: says 4 steps but names 3"):
        read_tasks(tmp_path / "tasks.txt")


@pytest.mark.parametrize("task_id", ["../16815", "16815/x", ".hidden"])
def test_a_task_id_that_cannot_name_a_file_is_refused(tmp_path, task_id):
    """Task ids name annotation files (<task>_<video>.csv): held to the rule for video ids."""
    (tmp_path / "tasks.txt").write_text(TASKS.replace("23521", task_id))
    with pytest.raises(ValueError, match=f"tasks.txt, line 7: task id '{re.escape(task_id)}': ids name files"):
        read_tasks(tmp_path / "tasks.txt")
    (tmp_path / "videos.csv").write_text(f"16815,vidA,https://youtu.be/vidA\n{task_id},vidB,u\n")
    with pytest.raises(ValueError, match=f"videos.csv, row 2: task id '{re.escape(task_id)}'"):
        read_video_list(tmp_path / "videos.csv")
    (tmp_path / "videos.csv").write_text(f"16815,vidA,u\n16815,{task_id},u\n")
    with pytest.raises(ValueError, match=f"videos.csv, row 2: video id '{re.escape(task_id)}'"):
        read_video_list(tmp_path / "videos.csv")
    (tmp_path / "videos.csv").write_text("16815,vidA,u\n\n16815,-vidB_9.x,u\n")
    assert read_video_list(tmp_path / "videos.csv") == [("16815", "vidA"), ("16815", "-vidB_9.x")]


def test_annotations_are_one_based_steps_in_seconds(tmp_path):
    (tmp_path / "16815_abc.csv").write_text("1,1.0,4.0\n3,9.5,11.25\n\n")
    assert read_annotation(tmp_path / "16815_abc.csv", 3) == [StepInterval(0, 1.0, 4.0), StepInterval(2, 9.5, 11.25)]
    (tmp_path / "bad.csv").write_text("4,1.0,2.0\n")
    with pytest.raises(ValueError, match="row 1: step 4"):
        read_annotation(tmp_path / "bad.csv", 3)
    (tmp_path / "torn.csv").write_text("1,1.0,2.0\n2,start\n")
    with pytest.raises(ValueError, match="torn.csv, row 2: .* a row is step,start,end"):
        read_annotation(tmp_path / "torn.csv", 3)
    (tmp_path / "videos_val.csv").write_text("16815,abc,https://www.youtube.com/watch?v=abc\n")
    assert read_video_list(tmp_path / "videos_val.csv") == [("16815", "abc")]
    (tmp_path / "videos_bad.csv").write_text("16815,abc,url\n\n16815\n")
    with pytest.raises(ValueError, match="row 3: \\['16815'\\]; a row is task,video_id,url"):
        read_video_list(tmp_path / "videos_bad.csv")


def test_windows_slide_by_the_stride_and_fit_in_the_video():
    np.testing.assert_allclose(window_starts(17.5, 5, 2.5), [0, 2.5, 5, 7.5, 10, 12.5])
    assert window_starts(4.9, 5, 1).size == 0


def test_recall_of_a_hand_made_score_matrix_argmax_and_ordered():
    starts = window_starts(17.5, 5, 2.5)
    intervals = [StepInterval(0, 1, 4), StepInterval(1, 6, 9), StepInterval(2, 9, 11)]
    # argmax: steps at windows 0, 2, 1 (centres 2.5, 7.5, 5 s): step 3 at 5 s misses 9-11 s.
    argmax = predict_argmax(SCORES)
    assert argmax.tolist() == [0, 2, 1]
    assert recalled_steps(starts[argmax] + 2.5, intervals) == (2, 3)
    # ordered: 0 < 2 < 3 (0.9 + 0.7 + 0.6 = 2.2, the best increasing choice): all three recalled.
    ordered = predict_ordered(SCORES)
    assert ordered.tolist() == [0, 2, 3]
    assert recalled_steps(starts[ordered] + 2.5, intervals) == (3, 3)
    # A step without an annotation counts neither way.
    assert recalled_steps(starts[ordered] + 2.5, intervals[:2]) == (2, 2)


def test_the_ordered_assignment_is_the_best_increasing_one():
    rng = np.random.default_rng(0)
    for n_windows, n_steps in [(4, 4), (7, 3), (9, 5), (6, 1)]:
        scores = rng.normal(size=(n_windows, n_steps))
        windows = predict_ordered(scores)
        assert (np.diff(windows) > 0).all()
        best = max(
            itertools.combinations(range(n_windows), n_steps),
            key=lambda choice: scores[list(choice), range(n_steps)].sum(),
        )
        assert scores[windows, range(n_steps)].sum() == pytest.approx(scores[list(best), range(n_steps)].sum())
    with pytest.raises(ValueError, match="3 steps need at least as many windows"):
        predict_ordered(np.zeros((2, 3)))


def test_windows_are_scored_as_the_model_embeds_clips_and_captions():
    torch.manual_seed(0)
    model = JointEmbedding(video_dim=6, vocab_size=5, word_dim=4, joint_dim=3)
    seconds = np.random.default_rng(1).normal(size=(12, 6)).astype(np.float32)
    steps = step_token_ids(["Add flour!", "whisk eggs", "unknown words"], {"add": 1, "flour": 2, "eggs": 4})
    assert [ids.tolist() for ids in steps] == [[1, 2], [4], []]
    starts, clips = window_clips("v", seconds, window_s=5, stride_s=3)
    assert starts.tolist() == [0, 3, 6] and clips.shape == (3, 5, 6)
    assert np.array_equal(clips[2], seconds[6:11])
    scores = score_windows(model, clips, steps)
    with torch.no_grad():
        clip = model.embed_clips(torch.from_numpy(seconds[3:8][None]))
        caption = model.embed_captions(torch.tensor([[1, 2]]))
        expected = torch.nn.functional.cosine_similarity(clip, caption).item()
    assert scores[1, 0] == pytest.approx(expected, abs=1e-6)
    # The step with no known word is never localised, so never recalled.
    assert np.isnan(scores[:, 2]).all()
    assert recalled_steps(predicted_times(starts, scores, 5, "argmax"), [StepInterval(2, 0, 12)]) == (0, 1)
    assert score_windows(model, clips[:0], steps).shape == (0, 3)


def test_listed_videos_without_a_known_task_or_an_annotation_go_to_qc(tmp_path):
    (tmp_path / "tasks_primary.txt").write_text(TASKS)
    tasks = read_tasks(tmp_path / "tasks_primary.txt")
    (tmp_path / "16815_vidA.csv").write_text("2,1.5,4\n")
    (tmp_path / "16815_vidE.csv").write_text("\n")
    (tmp_path / "16815_vidG.csv").write_text("1,nan,nan\n")
    listed = [
        ("16815", "vidA"),
        ("16815", "vidB"),
        ("99999", "vidC"),
        ("16815", "vidE"),
        ("16815", "vidA"),
        ("16815", "vidG"),
    ]
    videos, qc = read_task_videos(listed, tasks, tmp_path)
    assert videos == [TaskVideo("16815", "vidA", (StepInterval(1, 1.5, 4.0),))]
    assert [(r.video_id, r.reason) for r in qc] == [
        ("vidB", f"no annotation file {tmp_path / '16815_vidB.csv'}"),
        ("vidC", "task 99999 is not in the tasks file"),
        ("vidE", f"annotation {tmp_path / '16815_vidE.csv'} has no step interval"),
        (
            "vidG",
            f"unreadable annotation: {tmp_path / '16815_vidG.csv'}, row 1: step 1, nan-nan s; "
            "steps are 1..3 and an interval is finite and does not end before it starts",
        ),
    ]
    with pytest.raises(ValueError, match="vidA is listed under tasks 16815 and 23521"):
        read_task_videos(listed + [("23521", "vidA")], tasks, tmp_path)
    table = sources_from_video_list(listed)
    assert table.to_dict("list") == {
        "video_id": ["vidA", "vidB", "vidC", "vidE", "vidG"],
        "source": ["vidA", "vidB", "vidC", "vidE", "vidG"],
        "source_type": ["ytdlp"] * 5,
        "split": ["validation"] * 5,
    }


def test_videos_without_features_keep_the_reason_of_the_stage_that_dropped_them():
    videos = [TaskVideo("1", vid, (StepInterval(0, 0, 5),)) for vid in ("ok", "gone", "cut", "new")]
    stage_qc = pd.DataFrame(
        {
            "video_id": ["gone", "cut", "cut"],
            "stage": ["download", "features_3d", "features_2d"],
            "reason": ["unavailable: private video", "too short", "later"],
        }
    )
    kept, qc = unevaluated_videos(videos, {"ok", "gone", "cut"}, stage_qc)
    assert [video.video_id for video in kept] == ["ok"]
    assert qc == [
        QcRecord("gone", "download", "unavailable: private video"),
        QcRecord("cut", "features_3d", "too short"),
        QcRecord("new", "crosstask", "not in the CrossTask sources table"),
    ]


def test_random_window_recall_is_the_share_of_window_centres_inside_each_step():
    # Windows of 4 s at 0..8 s: centres 2, 3, ..., 10.
    starts = window_starts(12, 4, 1)
    intervals = [StepInterval(0, 2.5, 4.0), StepInterval(0, 9.0, 20.0), StepInterval(2, 0.0, 3.0)]
    # Step 0: centres 3, 4, 9, 10 of 9; step 2: centres 2, 3 of 9; step 1 is not annotated.
    assert random_window_steps(starts, 4, intervals) == pytest.approx(4 / 9 + 2 / 9)


def test_a_step_without_a_known_word_is_skipped_and_dp_orders_the_others():
    scores = SCORES.copy()
    scores[:, 0] = np.nan
    starts = np.arange(6) * 2
    # Without step 0, the best increasing placement of steps 1, 2 is windows 2, 3.
    assert predicted_times(starts, scores, 4, "dp").tolist()[1:] == [6.0, 8.0]
    assert np.isnan(predicted_times(starts, scores, 4, "dp")[0])
    assert predicted_times(starts, scores, 4, "argmax").tolist()[1:] == [6.0, 4.0]


class Seconds:
    def __init__(self, by_video):
        self.by_video = by_video

    def seconds(self, video_id):
        return self.by_video[video_id]


def planted_model(n_objects: int) -> JointEmbedding:
    """Clips of one-hot object seconds and words 1..n naming object 0..n-1 meet in the same space:
    a window scores 1 against a step whose object fills it, 1/sqrt(2) when it shares the window.
    Word n + 1 ('the') embeds as zeros: it adds nothing to a step's max-pooled words."""
    model = JointEmbedding(video_dim=n_objects, vocab_size=n_objects + 1, word_dim=n_objects, joint_dim=n_objects)
    with torch.no_grad():
        for unit in (model.clip_unit, model.caption_unit):
            unit.linear.weight.copy_(torch.eye(n_objects))
            unit.linear.bias.zero_()
            unit.gate.weight.zero_()
            unit.gate.bias.fill_(20.0)
        model.word_embedding.weight.zero_()
        model.word_embedding.weight[1 : n_objects + 1] = torch.eye(n_objects)
    return model


def test_a_planted_model_recalls_every_step_far_above_random_windows():
    # Seconds 0-3 object 0 (no step), 4-9 step 1's object 1, 10-12 object 0, 13-19 object 2
    # (step 2), 20-29 object 3 (step 3); step 4 ("stir") names no known word.
    objects = [0] * 4 + [1] * 6 + [0] * 3 + [2] * 7 + [3] * 10
    seconds = np.eye(4, dtype=np.float32)[objects]
    tasks = {"1": Task("1", "Demo", "", ("take the one", "two, then", "three", "stir"))}
    vocabulary = {"one": 2, "two": 3, "three": 4, "the": 5}
    intervals = (StepInterval(0, 4, 10), StepInterval(1, 13, 20), StepInterval(2, 20, 30), StepInterval(3, 0, 30))
    videos = [TaskVideo("1", "long", intervals), TaskVideo("1", "short", intervals)]
    source = Seconds({"long": seconds, "short": seconds[:4]})
    for prediction in ("argmax", "dp"):
        table, qc = localise_task_videos(
            {"planted": planted_model(4)},
            videos,
            tasks,
            source,
            vocabulary,
            window_s=5,
            stride_s=1,
            prediction=prediction,
        )
        assert qc == [
            QcRecord(
                "short",
                "crosstask",
                "4 s of features hold 0 windows of 5 s; too few for the 3 steps of task 1 with a known word",
            )
        ]
        row = table.iloc[0]
        assert (row.annotated_steps, row.recalled_steps) == (4, 3)
        # 26 windows, centres 2.5..27.5: 6, 7 and 8 inside steps 1-3, all 26 inside step 4.
        assert row.random_window_steps == pytest.approx((6 + 7 + 8 + 26) / 26)
        recall = recall_table(table, tasks, prediction).set_index("model")
        assert recall.loc["planted", "Demo"] == pytest.approx(75.0)
        assert recall.loc[RANDOM_WINDOW, "average"] == pytest.approx(100 * 47 / 26 / 4)
        assert recall.loc[list(PUBLISHED_RECALL), "average"].tolist() == [13.3, 31.6, 33.6]
        assert recall.loc["planted", "prediction"] == prediction


def test_recall_per_task_pools_the_videos_and_the_average_weighs_tasks_equally():
    tasks = {"a": Task("a", "Task A", "", ("x",)), "b": Task("b", "Task B", "", ("y",))}
    table = pd.DataFrame(
        [("m", "a", "v1", 4, 1, 1.0), ("m", "a", "v2", 1, 1, 0.5), ("m", "b", "v3", 2, 0, 0.5)],
        columns=["model", "task_id", "video_id", "annotated_steps", "recalled_steps", "random_window_steps"],
    )
    recall = recall_table(table, tasks, "argmax").set_index("model")
    assert recall.loc["m", ["Task A", "Task B", "average"]].tolist() == pytest.approx([40.0, 0.0, 20.0])
    assert recall.loc[RANDOM_WINDOW, ["Task A", "Task B"]].tolist() == pytest.approx([30.0, 25.0])


@pytest.mark.workflow
def test_without_a_sources_table_the_listed_videos_are_fetched_with_ytdlp(finished_run):
    """crosstask.sources "" beside a finished study: the CrossTask manifest holds the listed
    videos as yt-dlp rows in shards of its own, and the CrossTask table needs only their download
    and features and its own job (the study, its vocabulary and M_Diverse are done)."""
    from tiny_workflow import TARGET, planned_jobs, snakemake

    release = finished_run / "crosstask"
    (release / "annotations").mkdir(parents=True)
    (release / "tasks_primary.txt").write_text(TASKS)
    (release / "videos_val.csv").write_text(
        "16815,dQw4w9WgXcQ,https://www.youtube.com/watch?v=dQw4w9WgXcQ\n"
        "23521,9bZkp7q19f0,https://www.youtube.com/watch?v=9bZkp7q19f0\n"
    )
    config_path = finished_run / "config.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["crosstask"].update(
        enabled=True,
        tasks=str(release / "tasks_primary.txt"),
        annotations=str(release / "annotations"),
        videos=str(release / "videos_val.csv"),
        sources="",
    )
    config_path.write_text(yaml.safe_dump(config))
    snakemake(finished_run, "--cores", "1", "results/crosstask/manifest.tsv")
    manifest = pd.read_csv(finished_run / "results/crosstask/manifest.tsv", sep="\t", dtype=str)
    assert manifest["video_id"].tolist() == ["dQw4w9WgXcQ", "9bZkp7q19f0"]
    assert set(manifest["source_type"]) == {"ytdlp"} and set(manifest["split"]) == {"validation"}
    assert manifest["source"].tolist()[0] == "https://www.youtube.com/watch?v=dQw4w9WgXcQ"
    assert "Nothing to be done" in snakemake(finished_run, TARGET, "-n").stdout
    dry_run = snakemake(finished_run, "-n", "results/crosstask_recall.csv").stdout
    assert planned_jobs(dry_run) == {"download": 1, "features_2d": 1, "features_3d": 1, "crosstask": 1}
    assert "results/download/ct00000.tsv" in dry_run
