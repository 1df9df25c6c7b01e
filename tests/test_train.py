import time
from datetime import timedelta

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
import torch.distributed as dist

from groundprobe.distributed import TrainingJob, launch, train_processes
from groundprobe.evaluate import evaluate_videos
from groundprobe.io import read_table, write_table
from groundprobe.train import (load_model, load_video_segments, rank_rows, sample_batch,
                               select_videos, train_model)

SEGMENT_COLUMNS = ["video_id", "segment", "start_s", "end_s", "rel_position", "n_tokens", "token_ids",
                   "tokens"]
N_OBJECTS, N_FILLERS, FEATURE_DIM, LENGTH_S = 12, 20, 20, 2
VOCAB_SIZE = N_OBJECTS + N_FILLERS  # ids 1..12 name the objects, 13..32 are filler words
MODEL = {"word_dim": 32, "joint_dim": 32}


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny matrices: one thread is fastest and immune to other jobs on the machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class DictSource:
    def __init__(self, arrays: dict[str, np.ndarray]):
        self.arrays = arrays

    def seconds(self, video_id: str) -> np.ndarray:
        return self.arrays[video_id]


def planted_corpus(seed: int, n_grounded: int, n_ungrounded: int, prefix: str, n_seconds: int = 40,
                   scene_s: int = 4, n_segments: int = 16, rate: float = 0.9):
    """Videos showing a sequence of objects (one per scene; a second's feature is a noisy one-hot of
    its object). A grounded video's caption names the object on screen at the segment's start with
    probability ``rate``, else a random object; an ungrounded one always names a random object.
    Each caption also holds two random filler words."""
    rng = np.random.default_rng(seed)
    arrays, rows = {}, []
    for k in range(n_grounded + n_ungrounded):
        video_id = f"{prefix}{'g' if k < n_grounded else 'u'}{k:03d}"
        scenes = rng.permutation(N_OBJECTS)[:-(-n_seconds // scene_s)]
        shown = np.repeat(scenes, scene_s)[:n_seconds]
        features = np.eye(N_OBJECTS, FEATURE_DIM)[shown] + 0.3 * rng.normal(size=(n_seconds, FEATURE_DIM))
        arrays[video_id] = (features / np.linalg.norm(features, axis=1, keepdims=True)).astype(np.float32)
        starts = np.sort(rng.choice(n_seconds - LENGTH_S + 1, n_segments, replace=False))
        for segment, start in enumerate(starts.tolist()):
            grounded = k < n_grounded and rng.random() < rate
            named = shown[start] if grounded else rng.integers(N_OBJECTS)
            ids = [int(named) + 1] + (N_OBJECTS + 1 + rng.integers(N_FILLERS, size=2)).tolist()
            rng.shuffle(ids)
            rows.append((video_id, segment, start, start + LENGTH_S, (start + LENGTH_S / 2) / n_seconds,
                         len(ids), " ".join(map(str, ids)), ""))
    return pd.DataFrame(rows, columns=SEGMENT_COLUMNS), DictSource(arrays)


def train_params(**overrides) -> dict:
    params = {"models": {"diverse": {"split": "train"}}, "steps": 40, "batch_videos": 4,
              "segments_per_video": 4, "lr": 0.01, "margin": 0.2, "checkpoint_every": 10, "log_every": 10,
              "seed": 0, "device": "cpu", "threads": 1}
    return {**params, **overrides}


def run(tmp_path, name, segments, source, **overrides) -> tuple[dict, dict]:
    out = tmp_path / f"{name}.pt"
    summary = train_model(segments, source, VOCAB_SIZE, MODEL, train_params(**overrides), LENGTH_S,
                          out, tmp_path / f"{name}.pt.resume", tmp_path / f"{name}.log.tsv")
    return summary, load_model(out, "cpu").state_dict()


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_planted_grounding_is_learned_and_ungrounded_videos_stay_at_chance(tmp_path):
    train_segments, train_source = planted_corpus(0, 200, 200, "t")
    test_segments, test_source = planted_corpus(1, 12, 12, "e")
    run(tmp_path, "planted", train_segments, train_source, steps=300, batch_videos=8,
        segments_per_video=8, checkpoint_every=300, log_every=100)
    auc, _, qc = evaluate_videos(load_model(tmp_path / "planted.pt", "cpu"), test_segments, test_source)
    assert not qc and len(auc) == 24
    mean_auc = auc.groupby(auc["video_id"].str[1])["auc"].mean()
    assert mean_auc["g"] > 0.8  # an oracle scoring the named object's feature reaches about 0.9
    assert mean_auc["u"] == pytest.approx(0.5, abs=0.1)
    log = read_table(tmp_path / "planted.log.tsv")
    assert log["step"].tolist() == [100, 200, 300]


def test_same_seed_same_weights_other_seed_other_weights(tmp_path):
    segments, source = planted_corpus(2, 6, 6, "d")
    _, first = run(tmp_path, "a", segments, source, steps=20)
    _, second = run(tmp_path, "b", segments, source, steps=20)
    _, reseeded = run(tmp_path, "c", segments, source, steps=20, seed=1)
    assert_same_weights(first, second)
    assert not torch.equal(first["clip_unit.linear.weight"], reseeded["clip_unit.linear.weight"])


def test_resumed_training_ends_with_the_weights_of_an_uninterrupted_run(tmp_path):
    segments, source = planted_corpus(3, 6, 6, "r")
    uninterrupted_summary, uninterrupted = run(tmp_path, "full", segments, source, steps=40)
    # Interrupted at step 25 (resume file written at steps 10, 20 and 25), then asked for 40 again.
    first_part, _ = run(tmp_path, "split", segments, source, steps=25)
    continued_summary, continued = run(tmp_path, "split", segments, source, steps=40)
    assert (uninterrupted_summary["resumed_from"], first_part["resumed_from"],
            continued_summary["resumed_from"]) == (0, 0, 25)
    assert_same_weights(uninterrupted, continued)
    assert read_table(tmp_path / "split.log.tsv")["step"].tolist() == [10, 20, 25, 30, 40]
    assert continued_summary["final_loss"] == pytest.approx(uninterrupted_summary["final_loss"], abs=0)


def test_resume_file_of_other_parameters_is_not_used(tmp_path):
    segments, source = planted_corpus(4, 6, 6, "p")
    run(tmp_path, "x", segments, source, steps=20, lr=0.05)
    summary, restarted = run(tmp_path, "x", segments, source, steps=30)
    _, fresh = run(tmp_path, "fresh", segments, source, steps=30)
    assert summary["resumed_from"] == 0
    assert_same_weights(restarted, fresh)


def test_final_checkpoint_records_the_model_and_its_provenance(tmp_path):
    segments, source = planted_corpus(5, 3, 3, "c")
    run(tmp_path, "m", segments, source, steps=5, log_every=2)
    checkpoint = torch.load(tmp_path / "m.pt", weights_only=True)
    assert checkpoint["model_params"] == {"video_dim": FEATURE_DIM, "vocab_size": VOCAB_SIZE, **MODEL}
    assert {"code_version", "model", "train", "data_sha256"} <= checkpoint["provenance"].keys()
    assert read_table(tmp_path / "m.log.tsv")["step"].tolist() == [2, 4, 5]


def test_batches_hold_distinct_videos_with_their_own_segments():
    arrays, rows = {}, []
    for v, n_segments in enumerate([2, 3, 5, 8, 9, 12]):
        video_id = f"v{v}"
        # Second k of video v: features (v, k) so gathered rows can be traced back.
        arrays[video_id] = np.stack([np.full(30, v), np.arange(30)], axis=1).astype(np.float32)
        for s in range(n_segments):
            rows.append((video_id, s, 2 * s, 2 * s + 3, 0.5, 1, str(100 * v + s + 1), ""))
    segments = pd.DataFrame(rows, columns=SEGMENT_COLUMNS)
    videos = load_video_segments(segments, DictSource(arrays), 3, vocab_size=2000)
    rng = np.random.default_rng(0)
    for _ in range(50):
        batch = sample_batch(rng, videos, batch_videos=4, segments_per_video=4, length_s=3)
        assert batch.clips.shape == (16, 3, 2) and batch.token_ids.shape == (16, 1)
        values, counts = np.unique(batch.video_index, return_counts=True)
        assert len(values) == 4 and (counts == 4).all()
        for row in range(16):
            video = videos[batch.video_index[row]]
            segment = int(batch.token_ids[row, 0]) - 1 - 100 * int(video.video_id[1:])
            start = 2 * segment
            assert (batch.clips[row, :, 0] == int(video.video_id[1:])).all()
            assert batch.clips[row, :, 1].tolist() == [start, start + 1, start + 2]
        for v in values:
            drawn = batch.token_ids[batch.video_index == v, 0]
            if len(videos[v].starts) >= 4:  # enough segments: drawn without replacement
                assert len(set(drawn.tolist())) == 4


def test_bad_segments_name_the_video():
    segments = pd.DataFrame([("vid7", 0, 8, 10, 0.9, 1, "3", "")], columns=SEGMENT_COLUMNS)
    source = DictSource({"vid7": np.zeros((9, 4), dtype=np.float32)})
    with pytest.raises(ValueError, match="video vid7: .*10 seconds of features, found 9"):
        load_video_segments(segments, source, 2, vocab_size=5)
    with pytest.raises(ValueError, match=r"video vid7: segment 0 has token ids \[3\]; expected 1 to 2"):
        load_video_segments(segments.assign(start_s=0, end_s=2), source, 2, vocab_size=2)


def test_select_videos_matches_every_spec_entry():
    manifest = pd.DataFrame({"video_id": ["a", "b", "c", "d"],
                             "split": ["train", "train", "validation", "train"],
                             "instructional": [1.0, 0.0, 1.0, np.nan]})
    assert select_videos(manifest, {"split": "train"}, "diverse") == ["a", "b", "d"]
    assert select_videos(manifest, {"split": "train", "instructional": 1}, "instructional") == ["a"]
    with pytest.raises(ValueError, match="'domain', which the manifest lacks"):
        select_videos(manifest, {"domain": "cooking"}, "diverse")


def test_a_spec_selecting_no_video_names_the_model_and_its_spec():
    manifest = pd.DataFrame({"video_id": ["a", "b"], "split": ["train", "validation"],
                             "instructional": [0.0, 1.0]})
    with pytest.raises(ValueError, match=r"model 'instructional': its spec \{'split': 'train', "
                                         r"'instructional': 1\} .*selects none"):
        select_videos(manifest, {"split": "train", "instructional": 1}, "instructional")


def corpus_files(directory, segments: pd.DataFrame, source: DictSource) -> dict:
    """A corpus as rule train reads it: a segment table, the features split into a 2D (the first 12
    columns) and a 3D stream, a vocabulary and a manifest whose videos are all in the train split."""
    write_table(segments, directory / "segments.tsv")
    streams = {"features_2d": slice(0, 12), "features_3d": slice(12, None)}
    for stream, columns in streams.items():
        with h5py.File(directory / f"{stream}.h5", "w") as h5:
            for video_id, array in source.arrays.items():
                h5.create_dataset(video_id, data=array[:, columns])
    write_table(pd.DataFrame({"token": [f"w{i}" for i in range(1, VOCAB_SIZE + 1)]}),
                directory / "vocab.tsv")
    write_table(pd.DataFrame({"video_id": sorted(source.arrays), "split": "train"}),
                directory / "manifest.tsv")
    return {"segments": (str(directory / "segments.tsv"),),
            **{stream: (str(directory / f"{stream}.h5"),) for stream in streams},
            "vocab": str(directory / "vocab.tsv"), "manifest": str(directory / "manifest.tsv")}


def training_job(directory, name: str, files: dict, length_s: int = LENGTH_S,
                 **overrides) -> TrainingJob:
    return TrainingJob(model="diverse", curation=None, draw=None, model_spec={"split": "train"},
                       model_params=MODEL, train_params=train_params(**overrides), length_s=length_s,
                       checkpoint=str(directory / f"{name}.pt"),
                       resume=str(directory / f"{name}.pt.resume"),
                       log_tsv=str(directory / f"{name}.log.tsv"), **files)


def test_rank_rows_split_the_batch_by_video():
    video_index = np.repeat([7, 2, 9, 4, 0], 3)
    shares = [rank_rows(video_index, rank, 2) for rank in range(2)]
    assert shares[0].tolist() == [0, 1, 2, 6, 7, 8, 12, 13, 14]
    assert shares[1].tolist() == [3, 4, 5, 9, 10, 11]


def test_two_processes_train_as_one_on_the_same_batches(tmp_path):
    segments, source = planted_corpus(6, 6, 6, "m")
    files = corpus_files(tmp_path, segments, source)
    # 5 videos a batch: the processes embed 3 and 2 of them, so the gather pads one share.
    params = {"batch_videos": 5, "log_every": 5, "checkpoint_every": 10}
    one = train_processes(training_job(tmp_path, "one", files, steps=20, **params), 1, threads=1)
    # Two processes stopped at step 10, then continued to 20 from the resume file, which both read.
    first = train_processes(training_job(tmp_path, "two", files, steps=10, **params), 2, threads=1,
                            timeout_s=60)
    two = train_processes(training_job(tmp_path, "two", files, steps=20, **params), 2, threads=1,
                          timeout_s=60)
    assert (one["processes"], first["processes"], two["processes"]) == (1, 2, 2)
    assert (first["resumed_from"], two["resumed_from"]) == (0, 10)
    log_one, log_two = read_table(tmp_path / "one.log.tsv"), read_table(tmp_path / "two.log.tsv")
    assert log_two["step"].tolist() == log_one["step"].tolist() == [5, 10, 15, 20]
    np.testing.assert_allclose(log_two["loss"], log_one["loss"], rtol=1e-4)
    weights_one = load_model(tmp_path / "one.pt", "cpu").state_dict()
    weights_two = load_model(tmp_path / "two.pt", "cpu").state_dict()
    assert weights_one.keys() == weights_two.keys()
    for key in weights_one:
        torch.testing.assert_close(weights_two[key], weights_one[key], rtol=1e-4, atol=1e-5)


def test_an_error_in_the_training_processes_is_raised_with_its_message(tmp_path):
    segments, source = planted_corpus(8, 3, 3, "f")
    job = training_job(tmp_path, "bad", corpus_files(tmp_path, segments, source), length_s=3)
    with pytest.raises(RuntimeError, match=r"process [01] of 2 failed: ValueError: segments are 2 s "
                                           r"long, config says 3 s"):
        train_processes(job, 2, threads=1, timeout_s=60)
    assert not (tmp_path / "bad.pt").exists()


def fail_on_rank_1(timeout_s: float) -> None:
    """Rank 1 fails while rank 0 waits for it in a collective (the processes of
    test_a_process_failing_while_others_wait_stops_them)."""
    dist.init_process_group("gloo", timeout=timedelta(seconds=timeout_s))
    if dist.get_rank() == 1:
        raise ValueError("rank 1 gives up")
    dist.barrier()


def test_a_process_failing_while_others_wait_stops_them():
    started = time.perf_counter()
    with pytest.raises(RuntimeError, match="process 1 of 2 failed: ValueError: rank 1 gives up"):
        launch(fail_on_rank_1, (600.0,), 2, timeout_s=60)
    # Well before the collective's timeout: the launcher stopped rank 0 when rank 1 failed.
    assert time.perf_counter() - started < 120
