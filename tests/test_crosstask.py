import itertools

import numpy as np
import pytest
import torch

from groundprobe.crosstask import (StepInterval, predict_argmax, predict_ordered, read_annotation,
                                   read_tasks, read_video_list, recalled_steps, score_windows,
                                   step_token_ids, window_starts)
from groundprobe.model import JointEmbedding

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
SCORES = np.array([[0.9, 0.1, 0.0],
                   [0.2, 0.3, 0.8],
                   [0.1, 0.7, 0.1],
                   [0.0, 0.2, 0.6],
                   [0.1, 0.1, 0.5],
                   [0.0, 0.0, 0.1]])


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


def test_annotations_are_one_based_steps_in_seconds(tmp_path):
    (tmp_path / "16815_abc.csv").write_text("1,1.0,4.0\n3,9.5,11.25\n\n")
    assert read_annotation(tmp_path / "16815_abc.csv", 3) == [StepInterval(0, 1.0, 4.0),
                                                              StepInterval(2, 9.5, 11.25)]
    (tmp_path / "bad.csv").write_text("4,1.0,2.0\n")
    with pytest.raises(ValueError, match="row 1: step 4"):
        read_annotation(tmp_path / "bad.csv", 3)
    (tmp_path / "videos_val.csv").write_text("16815,abc,https://www.youtube.com/watch?v=abc\n")
    assert read_video_list(tmp_path / "videos_val.csv") == [("16815", "abc")]


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
        best = max(itertools.combinations(range(n_windows), n_steps),
                   key=lambda choice: scores[list(choice), range(n_steps)].sum())
        assert scores[windows, range(n_steps)].sum() == pytest.approx(
            scores[list(best), range(n_steps)].sum())
    with pytest.raises(ValueError, match="3 steps need at least as many windows"):
        predict_ordered(np.zeros((2, 3)))


def test_windows_are_scored_as_the_model_embeds_clips_and_captions():
    torch.manual_seed(0)
    model = JointEmbedding(video_dim=6, vocab_size=5, word_dim=4, joint_dim=3)
    seconds = np.random.default_rng(1).normal(size=(12, 6)).astype(np.float32)
    steps = step_token_ids(["Add flour!", "whisk eggs", "unknown words"],
                           {"add": 1, "flour": 2, "eggs": 4})
    assert [ids.tolist() for ids in steps] == [[1, 2], [4], []]
    starts, scores = score_windows(model, seconds, window_s=5, stride_s=3, steps=steps)
    assert starts.tolist() == [0, 3, 6]
    with torch.no_grad():
        clip = model.embed_clips(torch.from_numpy(seconds[3:8][None]))
        caption = model.embed_captions(torch.tensor([[1, 2]]))
        expected = torch.nn.functional.cosine_similarity(clip, caption).item()
    assert scores[1, 0] == pytest.approx(expected, abs=1e-6)
    # The step with no known word is never localised, so never recalled.
    assert np.isnan(scores[:, 2]).all()
    predicted_s = np.where(np.isnan(scores).all(axis=0), np.nan, starts[predict_argmax(scores)] + 2.5)
    assert recalled_steps(predicted_s, [StepInterval(2, 0, 12)]) == (0, 1)
