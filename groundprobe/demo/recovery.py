"""How much of the demo's planted grounding the trained model recovers (rule demo_recovery).

The demo corpus (groundprobe.demo.corpus) plants, per video, which object is on screen when
(``scenes``: [object, start_s, end_s]) and which words name an object (``words``: [token, start_s,
end_s, named_object or null, phase]) in ``planted_truth.json``. From these alone, the **oracle**
scores every clip/caption pair of a video's evaluated segments; its intra-video AUC is the AUC
that the narration allows, against which the model's AUC (``results/auc_by_video.csv``) is read.

Oracle score of clip i (segment window [a_i, b_i), seconds) and caption j (the words of segment
j's window, counted as rule segments counts them: start time in [a_j, b_j),
groundprobe.captions.segments.window_word_ranges): the log-likelihood ratio of "aligned" against "any clip
of the video"::

    oracle(i, j) = sum over the name words w of caption j of  log(max(f_i(obj(w)), IMPOSSIBLE_SHARE) / v(obj(w)))

with f_i(x) = |on_screen(x) ∩ [a_i, b_i)| / (b_i - a_i), the share of clip i showing x, and
v(x) = |on_screen(x)| / the video's length, the share of the whole video showing it. Why this score:

- names are the only grounded words the demo plants: a name is only said while its object is on
  screen, every other word (filler, intro/outro template words, never-grounded nouns) is said
  whatever is shown. A name said at a moment of clip i's window shows its object with probability
  f_i(x) if the caption is clip i's, and v(x) if it belongs to some other moment of the video: the
  ratio is how much the name says for the pair. A caption without names scores 0 with every clip,
  and its pairs tie (counted 1/2 by the AUC), as they must for a scorer that cannot know its clip;
- a name whose object clip i does not show is evidence *against* the pair (the name cannot be
  clip i's): its term is log(IMPOSSIBLE_SHARE / v), far below any pair without names. An earlier
  oracle scored the names' shares alone (sum of f_i), which ties such a pair with the pairs of
  nameless captions. A trained model learns the difference (a caption naming a cat is unlike a
  clip of a rocket), so in videos where most captions name nothing (rate 0: only the intro and
  outro name anything) the model came out above that oracle (default demo 2026-12-04, 20-40 s
  videos: Video game model 0.667, share oracle 0.622, this oracle 0.713; Cooking 0.783, 0.814,
  0.875). It was not a leak: this oracle is above the model in every category;
- the share of clip i's seconds matters, not only whether the object appears: the clip's features
  are per second, and a clip that shows the named object for 4 of its 5 seconds holds more of
  what the name describes than one that catches its last 0.3 s. Overlapping segments of one scene
  therefore score alike, which is what limits any scorer that only knows what is said and shown;
- the AUC is computed with the project's own ``groundprobe.evaluation.auc.intra_video_auc`` over the
  same segments the model was evaluated on (``results/segments/<block>/<shard>.tsv.gz``), so oracle and
  model differ only in the scores.

The oracle counts every name said in the window at its planted time, whether or not the
vocabulary and ``segments.max_tokens`` keep it. On the default demo (automatic captions with word
times, every name in the vocabulary, no caption near max_tokens) these are exactly the names among
the model's caption tokens: all 2,846 captions of a default run agree (2026-12-04). Captions
without word times (manual ones) are timed by the ASR stage, so there a name near a window's edge
may fall in a neighbouring window for the model and not for the oracle.

Outputs: the per-video table (VIDEO_COLUMNS: one row per evaluated validation video) and the
recovery table (RECOVERY_COLUMNS): one row per planted category, most grounded first (planted
rate, number of validation videos, mean oracle AUC, mean model AUC), then one row
``category = "all"`` over every validation video, the only row with ``spearman_model_oracle``:
Spearman's rank correlation of model AUC against oracle AUC over the validation videos.
"""

from __future__ import annotations

import json
import os
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from groundprobe.evaluation.auc import intra_video_auc
from groundprobe.io import read_table, write_table
from groundprobe.captions.segments import window_word_ranges

SPLIT = "validation"
ALL_VIDEOS = "all"
# The share of a clip that the oracle gives an object the clip never shows: a name of it makes the
# pair all but impossible (log ratio about -5 to -8 in the demo), below every possible pair.
IMPOSSIBLE_SHARE = 1e-3
VIDEO_COLUMNS = ["video_id", "category", "planted_rate", "n_segments", "oracle_auc", "model_auc"]
RECOVERY_COLUMNS = [
    "category",
    "planted_rate",
    "n_videos",
    "oracle_mean_auc",
    "model_mean_auc",
    "spearman_model_oracle",
]


def caption_names(words: Sequence[Sequence], starts: np.ndarray, length_s: int) -> list[list[str]]:
    """The objects named in each window ``[s, s + length_s)`` (seconds), one entry per name word
    in order of speech.

    ``words``: a video's planted words [token, start_s, end_s, named_object or None, phase];
    ``starts``: (n,) window starts in seconds. Returns n lists of object names.
    """
    ordered = sorted(words, key=lambda word: float(word[1]))  # stable: speech order kept on ties
    word_starts = np.array([float(word[1]) for word in ordered], dtype=float)
    first, last = window_word_ranges(word_starts, np.asarray(starts), length_s)
    return [
        [word[3] for word in ordered[lo:hi] if word[3] is not None] for lo, hi in zip(first.tolist(), last.tolist())
    ]


def on_screen_fractions(scenes: Sequence[Sequence], starts: np.ndarray, length_s: int) -> dict[str, np.ndarray]:
    """For each object of ``scenes`` ([object, start_s, end_s], seconds), the fraction (0-1) of
    each window ``[s, s + length_s)`` during which it is on screen: object -> (n,) float array
    (an object shown in several scenes adds up their overlaps)."""
    window_starts = np.asarray(starts, dtype=float)
    window_ends = window_starts + length_s
    fractions: dict[str, np.ndarray] = {}
    for obj, scene_start, scene_end in scenes:
        overlap = np.minimum(window_ends, float(scene_end)) - np.maximum(window_starts, float(scene_start))
        fractions[obj] = fractions.get(obj, 0.0) + np.clip(overlap, 0.0, None) / length_s
    return fractions


def video_length_s(scenes: Sequence[Sequence]) -> float:
    """The length in seconds of a video whose ``scenes`` ([object, start_s, end_s]) cover it."""
    return max(float(scene[2]) for scene in scenes)


def oracle_scores(video: dict, starts: np.ndarray, length_s: int) -> np.ndarray:
    """The oracle's (n, n) scores of one video (module docstring): row i = clip of window
    ``starts[i]``, column j = caption of window ``starts[j]``; ``video``: its planted_truth.json
    entry (``scenes``, ``words``)."""
    names = caption_names(video["words"], starts, length_s)
    shown = on_screen_fractions(video["scenes"], starts, length_s)
    whole = on_screen_fractions(video["scenes"], np.zeros(1), video_length_s(video["scenes"]))
    sim = np.zeros((len(names), len(names)))
    for j, objects in enumerate(names):
        for obj in objects:
            if obj in shown:  # a name whose object no scene shows adds nothing
                sim[:, j] += np.log(np.maximum(shown[obj], IMPOSSIBLE_SHARE) / whole[obj][0])
    return sim


def segment_windows(rows: pd.DataFrame) -> tuple[np.ndarray, int]:
    """One video's segment rows (start_s, end_s, segment) as window starts (n,) in segment order
    and their common length in seconds; ValueError when the lengths differ."""
    rows = rows.sort_values("segment")
    lengths = (rows["end_s"] - rows["start_s"]).unique()
    if len(lengths) != 1:
        raise ValueError(f"video {rows['video_id'].iloc[0]}: segments of different lengths {sorted(lengths)}")
    return rows["start_s"].to_numpy(dtype=np.int64), int(lengths[0])


def oracle_auc_by_video(truth: dict, segments: pd.DataFrame, auc_by_video: pd.DataFrame) -> pd.DataFrame:
    """The oracle's and the model's intra-video AUC of every evaluated validation video
    (VIDEO_COLUMNS, in the order of ``auc_by_video``).

    ``truth``: planted_truth.json; ``segments``: the segment rows (video_id, segment, start_s,
    end_s) of at least these videos; ``auc_by_video``: the per-video table of rule auc_by_video.
    A video the planted truth does not know, or whose segment count differs from the one the
    model was evaluated on, means the inputs come from different runs: ValueError.
    """
    validation = auc_by_video[auc_by_video["split"] == SPLIT]
    unknown = sorted(set(validation["video_id"]) - set(truth["videos"]))
    if unknown:
        raise ValueError(
            f"{len(unknown)} validation videos are not in the planted truth "
            f"(e.g. {unknown[0]}): not a demo corpus run, or a different corpus"
        )
    by_video = {vid: rows for vid, rows in segments.groupby("video_id", sort=False)}
    rows = []
    for video_id, n_segments, model_auc in zip(validation["video_id"], validation["n_segments"], validation["auc"]):
        found = len(by_video[video_id]) if video_id in by_video else 0
        if found != int(n_segments):
            raise ValueError(
                f"video {video_id}: {found} segments in the segment tables, "
                f"{int(n_segments)} evaluated: inputs from different runs"
            )
        starts, length_s = segment_windows(by_video[video_id])
        video = truth["videos"][video_id]
        oracle = intra_video_auc(oracle_scores(video, starts, length_s))
        rows.append((video_id, video["category"], float(video["rate"]), len(starts), oracle, float(model_auc)))
    return pd.DataFrame(rows, columns=VIDEO_COLUMNS)


def rank_correlation(x: pd.Series, y: pd.Series) -> float:
    """Spearman's rank correlation of two equally long series (average ranks for ties): the
    Pearson correlation of their ranks; NaN for fewer than 2 values or a constant series."""
    return float(x.rank().corr(y.rank())) if len(x) >= 2 else float("nan")


def recovery_table(videos: pd.DataFrame) -> pd.DataFrame:
    """RECOVERY_COLUMNS from a per-video table (VIDEO_COLUMNS): per (category, planted rate), most
    grounded first, the number of videos and the mean oracle and model AUC; then the row
    ``ALL_VIDEOS`` over all of them with Spearman's correlation of model vs oracle AUC."""
    per_category = (
        videos.groupby(["category", "planted_rate"], as_index=False)
        .agg(
            n_videos=("video_id", "size"), oracle_mean_auc=("oracle_auc", "mean"), model_mean_auc=("model_auc", "mean")
        )
        .sort_values(["planted_rate", "category"], ascending=[False, True])
    )
    overall = pd.DataFrame(
        [
            {
                "category": ALL_VIDEOS,
                "planted_rate": np.nan,
                "n_videos": len(videos),
                "oracle_mean_auc": videos["oracle_auc"].mean(),
                "model_mean_auc": videos["model_auc"].mean(),
                "spearman_model_oracle": rank_correlation(videos["model_auc"], videos["oracle_auc"]),
            }
        ]
    )
    return pd.concat([per_category.assign(spearman_model_oracle=np.nan), overall], ignore_index=True)[RECOVERY_COLUMNS]


def write_demo_recovery(
    truth_path: str | os.PathLike,
    segment_paths: Iterable[str | os.PathLike],
    auc_by_video_path: str | os.PathLike,
    out: str | os.PathLike,
    videos_out: str | os.PathLike,
) -> pd.DataFrame:
    """Write the recovery table (``out``) and the per-video table (``videos_out``) of a demo run
    from its planted truth, segment tables (``<shard>.tsv.gz``) and per-video AUC table; returns
    the recovery table."""
    with open(truth_path) as handle:
        truth = json.load(handle)
    segments = pd.concat(
        [read_table(path)[["video_id", "segment", "start_s", "end_s"]] for path in segment_paths], ignore_index=True
    )
    videos = oracle_auc_by_video(truth, segments, read_table(auc_by_video_path))
    table = recovery_table(videos)
    write_table(videos, videos_out)
    write_table(table, out)
    return table
