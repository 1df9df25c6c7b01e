import dataclasses
import time
from datetime import timedelta
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
import torch.distributed as dist

from groundprobe.model.distributed import TrainingJob, launch, train_processes
from groundprobe.evaluation.evaluate import evaluate_videos
from groundprobe.config import load_yaml
from groundprobe.io import file_sha256, read_table, write_table
from groundprobe.model.joint_embedding import JointEmbedding
from groundprobe.captions.segments import write_segment_index
from groundprobe.model.batches import Batch, BatchReader, plan_batch, select_videos, training_videos
from groundprobe.model.train import load_model, rank_rows, train_model, train_step
from groundprobe.settings import ModelSettings, TrainSettings

from conftest import DictSource

SEGMENT_COLUMNS = ["video_id", "segment", "start_s", "end_s", "rel_position", "n_tokens", "token_ids", "tokens"]
N_OBJECTS, N_FILLERS, FEATURE_DIM, LENGTH_S = 12, 20, 20, 2
VOCAB_SIZE = N_OBJECTS + N_FILLERS  # ids 1..12 name the objects, 13..32 are filler words
CONFIG = load_yaml(Path(__file__).resolve().parents[2] / "config.yaml")
MODEL = dataclasses.replace(ModelSettings.from_config(CONFIG["model"], "model"), word_dim=32, joint_dim=32)
STREAM_COLUMNS = {"features_2d": slice(0, 12), "features_3d": slice(12, None)}


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny matrices: one thread is fastest and immune to other jobs on the machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def planted_corpus(
    seed: int,
    n_grounded: int,
    n_ungrounded: int,
    prefix: str,
    n_seconds: int = 40,
    scene_s: int = 4,
    n_segments: int = 16,
    rate: float = 0.9,
):
    """Videos showing a sequence of objects (one per scene; a second's feature is a noisy one-hot of
    its object). A grounded video's caption names the object on screen at the segment's start with
    probability ``rate``, else a random object; an ungrounded one always names a random object.
    Each caption also holds two random filler words."""
    rng = np.random.default_rng(seed)
    arrays, rows = {}, []
    for k in range(n_grounded + n_ungrounded):
        video_id = f"{prefix}{'g' if k < n_grounded else 'u'}{k:03d}"
        scenes = rng.permutation(N_OBJECTS)[: -(-n_seconds // scene_s)]
        shown = np.repeat(scenes, scene_s)[:n_seconds]
        features = np.eye(N_OBJECTS, FEATURE_DIM)[shown] + 0.3 * rng.normal(size=(n_seconds, FEATURE_DIM))
        # Rounded to float16 as the feature files store them, so that file and memory agree.
        arrays[video_id] = (
            (features / np.linalg.norm(features, axis=1, keepdims=True)).astype(np.float16).astype(np.float32)
        )
        starts = np.sort(rng.choice(n_seconds - LENGTH_S + 1, n_segments, replace=False))
        for segment, start in enumerate(starts.tolist()):
            grounded = k < n_grounded and rng.random() < rate
            named = shown[start] if grounded else rng.integers(N_OBJECTS)
            ids = [int(named) + 1] + (N_OBJECTS + 1 + rng.integers(N_FILLERS, size=2)).tolist()
            rng.shuffle(ids)
            rows.append(
                (
                    video_id,
                    segment,
                    start,
                    start + LENGTH_S,
                    (start + LENGTH_S / 2) / n_seconds,
                    len(ids),
                    " ".join(map(str, ids)),
                    "",
                )
            )
    return pd.DataFrame(rows, columns=SEGMENT_COLUMNS), DictSource(arrays)


def train_settings(**overrides) -> TrainSettings:
    planted = {
        "models": {"diverse": {"split": "train"}},
        "steps": 40,
        "batch_videos": 4,
        "segments_per_video": 4,
        "lr": 0.01,
        "margin": 0.2,
        "checkpoint_every": 10,
        "log_every": 10,
        "seed": 0,
        "device": "cpu",
        "threads": 1,
        "loader_workers": 0,
    }
    return dataclasses.replace(TrainSettings.from_config(CONFIG["train"], "train"), **{**planted, **overrides})


def write_feature_shard(path, arrays: dict[str, np.ndarray]) -> None:
    """A feature shard file as rule features_2d/3d writes it: one float16 dataset per video."""
    with h5py.File(path, "w") as h5:
        for video_id, array in arrays.items():
            h5.create_dataset(video_id, data=array.astype(np.float16))


def shard_files(
    directory, segments: pd.DataFrame, source: DictSource, n_shards: int = 2, length_s: int = LENGTH_S
) -> dict:
    """The corpus in ``n_shards`` shards as rules features_2d/3d and segments write them: the
    features split into a 2D (the first 12 columns) and a 3D stream, and each shard's segment
    index fingerprinted with its feature files. Videos are dealt to the shards in turn."""
    video_ids = list(source.arrays)
    files = {"segments": [], "features_2d": [], "features_3d": []}
    for shard in range(n_shards):
        ids = video_ids[shard::n_shards]
        for stream, columns in STREAM_COLUMNS.items():
            path = directory / f"{stream}_{shard}.h5"
            write_feature_shard(path, {v: source.arrays[v][:, columns] for v in ids})
            files[stream].append(str(path))
        index = directory / f"segments_{shard}.h5"
        write_segment_index(
            segments[segments["video_id"].isin(ids)],
            length_s,
            [file_sha256(files[stream][-1]) for stream in STREAM_COLUMNS],
            index,
        )
        files["segments"].append(str(index))
    return {key: tuple(paths) for key, paths in files.items()}


def run(tmp_path, name, files, ids=None, **overrides) -> tuple[dict, dict]:
    """Train from shard files on the videos ``ids`` (default: all); summary and final weights."""
    out = tmp_path / f"{name}.pt"
    if ids is None:
        ids = np.unique(np.concatenate([read_ids(path) for path in files["segments"]]))
    videos = training_videos(files["segments"], ids, LENGTH_S, VOCAB_SIZE)
    summary = train_model(
        videos,
        (files["features_2d"], files["features_3d"]),
        VOCAB_SIZE,
        MODEL,
        train_settings(**overrides),
        LENGTH_S,
        out,
        tmp_path / f"{name}.pt.resume",
        tmp_path / f"{name}.log.tsv",
    )
    return summary, load_model(out, "cpu").state_dict()


def read_ids(index_path) -> np.ndarray:
    with h5py.File(index_path, "r") as h5:
        return h5["video_ids"].asstr()[:].astype(str)


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def in_memory_training(segments: pd.DataFrame, source: DictSource, steps: int, **overrides) -> tuple[list[float], dict]:
    """The training loop as it was before streaming, written out independently: every video's
    features and captions loaded into memory (sorted by id, every video with segments),
    batches sampled from them with the seeded generator, one optimiser step per batch. Returns
    each step's loss and the final weights."""
    settings = train_settings(**overrides)
    videos = []
    for video_id, rows in segments.sort_values(["video_id", "segment"]).groupby("video_id"):
        videos.append(
            (
                source.arrays[video_id],
                rows["start_s"].to_numpy(dtype=np.int64),
                [np.array(cell.split(), dtype=np.int64) for cell in rows["token_ids"]],
            )
        )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        model = JointEmbedding(FEATURE_DIM, VOCAB_SIZE, word_dim=MODEL.word_dim, joint_dim=MODEL.joint_dim)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    rng = np.random.default_rng(settings.seed)
    per_video, losses = settings.segments_per_video, []
    for _ in range(steps):
        chosen = rng.choice(len(videos), size=settings.batch_videos, replace=False)
        clips, captions = [], []
        for v in chosen:
            seconds, starts, video_captions = videos[v]
            picks = rng.choice(len(starts), size=per_video, replace=len(starts) < per_video)
            clips.append(seconds[starts[picks][:, None] + np.arange(LENGTH_S)])
            captions.extend(video_captions[i] for i in picks)
        tokens = np.zeros((len(captions), max(map(len, captions))), dtype=np.int64)
        for row, ids in enumerate(captions):
            tokens[row, : len(ids)] = ids
        batch = Batch(np.concatenate(clips), tokens, np.repeat(chosen.astype(np.int64), per_video))
        losses.append(train_step(model, optimizer, batch, settings.margin, torch.device("cpu")).item())
    return losses, model.state_dict()


@pytest.mark.parametrize("workers", [0, 2])
def test_streamed_training_equals_the_in_memory_loop(tmp_path, workers):
    # Videos with 1 to 7 segments, some below segments_per_video (drawn with replacement): the
    # one of a single segment is trained on too, as before streaming.
    segments, source = planted_corpus(9, 5, 6, "s")
    n_kept = dict(zip(source.arrays, [1, 2, 3, 7, 5, 4, 6, 2, 7, 3, 5]))
    segments = segments[segments["segment"] < segments["video_id"].map(n_kept)]
    losses, weights = in_memory_training(segments, source, steps=20, segments_per_video=5)
    summary, streamed = run(
        tmp_path,
        "s",
        shard_files(tmp_path, segments, source, n_shards=3),
        steps=20,
        segments_per_video=5,
        log_every=1,
        loader_workers=workers,
    )
    assert summary["n_videos"] == 11
    assert read_table(tmp_path / "s.log.tsv")["loss"].tolist() == losses
    assert_same_weights(streamed, weights)


def test_planted_grounding_is_learned_and_ungrounded_videos_stay_at_chance(tmp_path):
    train_segments, train_source = planted_corpus(0, 200, 200, "t")
    test_segments, test_source = planted_corpus(1, 12, 12, "e")
    run(
        tmp_path,
        "planted",
        shard_files(tmp_path, train_segments, train_source),
        steps=300,
        batch_videos=8,
        segments_per_video=8,
        checkpoint_every=300,
        log_every=100,
    )
    auc, _, qc = evaluate_videos(load_model(tmp_path / "planted.pt", "cpu"), test_segments, test_source)
    assert not qc and len(auc) == 24
    mean_auc = auc.groupby(auc["video_id"].str[1])["auc"].mean()
    assert mean_auc["g"] > 0.8  # an oracle scoring the named object's feature reaches about 0.9
    assert mean_auc["u"] == pytest.approx(0.5, abs=0.1)
    log = read_table(tmp_path / "planted.log.tsv")
    assert log["step"].tolist() == [100, 200, 300]


def test_same_seed_same_weights_other_seed_other_weights(tmp_path):
    segments, source = planted_corpus(2, 6, 6, "d")
    files = shard_files(tmp_path, segments, source)
    _, first = run(tmp_path, "a", files, steps=20)
    _, second = run(tmp_path, "b", files, steps=20, loader_workers=1)
    _, reseeded = run(tmp_path, "c", files, steps=20, seed=1)
    assert_same_weights(first, second)
    assert not torch.equal(first["clip_unit.linear.weight"], reseeded["clip_unit.linear.weight"])


def test_resumed_training_ends_with_the_weights_of_an_uninterrupted_run(tmp_path):
    segments, source = planted_corpus(3, 6, 6, "r")
    files = shard_files(tmp_path, segments, source)
    uninterrupted_summary, uninterrupted = run(tmp_path, "full", files, steps=40)
    # Interrupted at step 25 (resume file written at steps 10, 20 and 25), then asked for 40 again.
    # The workers read batches ahead: the resume file must hold the generator as it was after the
    # plan of its step, not as far as the workers had read.
    first_part, _ = run(tmp_path, "split", files, steps=25, loader_workers=2)
    continued_summary, continued = run(tmp_path, "split", files, steps=40, loader_workers=2)
    assert (uninterrupted_summary["resumed_from"], first_part["resumed_from"], continued_summary["resumed_from"]) == (
        0,
        0,
        25,
    )
    assert_same_weights(uninterrupted, continued)
    assert read_table(tmp_path / "split.log.tsv")["step"].tolist() == [10, 20, 25, 30, 40]
    assert continued_summary["final_loss"] == pytest.approx(uninterrupted_summary["final_loss"], abs=0)


def test_resume_file_of_other_parameters_is_not_used(tmp_path):
    segments, source = planted_corpus(4, 6, 6, "p")
    files = shard_files(tmp_path, segments, source)
    run(tmp_path, "x", files, steps=20, lr=0.05)
    summary, restarted = run(tmp_path, "x", files, steps=30)
    _, fresh = run(tmp_path, "fresh", files, steps=30)
    assert summary["resumed_from"] == 0
    assert_same_weights(restarted, fresh)


def test_resume_file_of_other_data_is_not_used(tmp_path):
    segments, source = planted_corpus(10, 6, 6, "q")
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir(), new.mkdir()
    run(old, "x", shard_files(old, segments, source), steps=20)
    # Other features of one video, same segments: only the shard's fingerprint tells them apart.
    changed = DictSource({**source.arrays, "qg000": source.arrays["qg001"][:40]})
    files = shard_files(new, segments, changed)
    (new / "x.pt.resume").write_bytes((old / "x.pt.resume").read_bytes())
    summary, restarted = run(new, "x", files, steps=30)
    _, fresh = run(new, "fresh", files, steps=30)
    assert summary["resumed_from"] == 0
    assert_same_weights(restarted, fresh)
    # Other training videos from the same shards: afresh too.
    run(new, "y", files, steps=20)
    ids = np.array(sorted(changed.arrays)[1:])
    summary, restarted = run(new, "y", files, ids=ids, steps=30)
    _, fresh = run(new, "fresh_subset", files, ids=ids, steps=30)
    assert summary["resumed_from"] == 0 and summary["n_videos"] == 11
    assert_same_weights(restarted, fresh)


def test_final_checkpoint_records_the_model_and_its_provenance(tmp_path):
    segments, source = planted_corpus(5, 3, 3, "c")
    run(tmp_path, "m", shard_files(tmp_path, segments, source), steps=5, log_every=2)
    checkpoint = torch.load(tmp_path / "m.pt", weights_only=True)
    assert checkpoint["model_params"] == {"video_dim": FEATURE_DIM, "vocab_size": VOCAB_SIZE, **MODEL.to_config()}
    assert {"code_version", "model", "train", "data_sha256"} <= checkpoint["provenance"].keys()
    assert read_table(tmp_path / "m.log.tsv")["step"].tolist() == [2, 4, 5]


def traced_corpus(n_segments_per_video) -> tuple[pd.DataFrame, DictSource]:
    """Videos v0, v1, ... whose second k has the features (v, k, ...) and whose segment s starts at
    2 s and has the single token 100 v + s + 1, so that gathered rows can be traced back."""
    arrays, rows = {}, []
    for v, n_segments in enumerate(n_segments_per_video):
        video_id = f"v{v}"
        arrays[video_id] = np.stack([np.full(30, v), np.arange(30)] + [np.zeros(30)] * 10, axis=1).astype(np.float32)
        for s in range(n_segments):
            rows.append((video_id, s, 2 * s, 2 * s + 3, 0.5, 1, str(100 * v + s + 1), ""))
    return pd.DataFrame(rows, columns=SEGMENT_COLUMNS), DictSource(arrays)


def test_batches_hold_distinct_videos_with_their_own_segments(tmp_path):
    segments, source = traced_corpus([2, 3, 5, 8, 9, 12, 1])
    files = shard_files(tmp_path, segments, source, n_shards=3, length_s=3)
    videos = training_videos(files["segments"], np.array(sorted(source.arrays)), 3, vocab_size=2000)
    assert len(videos) == 7  # v6, of a single segment, too
    reader = BatchReader(videos.index_files, (files["features_2d"], files["features_3d"]), 3, 2000, 12)
    rng = np.random.default_rng(0)
    for _ in range(50):
        batch = reader[plan_batch(rng, videos, batch_videos=4, segments_per_video=4)]
        assert batch.clips.shape == (16, 3, 12) and batch.token_ids.shape == (16, 1)
        values, counts = np.unique(batch.video_index, return_counts=True)
        assert len(values) == 4 and (counts == 4).all()
        for row in range(16):
            v = int(batch.video_index[row])  # videos in id order: v0 .. v6
            segment = int(batch.token_ids[row, 0]) - 1 - 100 * v
            start = 2 * segment
            assert (batch.clips[row, :, 0] == v).all()
            assert batch.clips[row, :, 1].tolist() == [start, start + 1, start + 2]
        for v in values:
            drawn = batch.token_ids[batch.video_index == v, 0]
            if videos.n_segments[v] >= 4:  # enough segments: drawn without replacement
                assert len(set(drawn.tolist())) == 4
    reader.close()


def test_bad_segments_name_the_video(tmp_path):
    source = DictSource({"vid7": np.zeros((9, 14), dtype=np.float32), "vid8": np.zeros((9, 14), dtype=np.float32)})
    rows = [(v, s, 2 * s, 2 * s + 2, 0.5, 1, "3", "") for v in source.arrays for s in range(2)]
    segments = pd.DataFrame(rows, columns=SEGMENT_COLUMNS)
    streams = ("features_2d", "features_3d")

    def reader_of(table, vocab_size, name):
        (tmp_path / name).mkdir()
        files = shard_files(tmp_path / name, table, source, n_shards=1)
        videos = training_videos(files["segments"], np.array(["vid7", "vid8"]), 2, vocab_size)
        reader = BatchReader(videos.index_files, [files[s] for s in streams], 2, vocab_size, 14)
        return reader, plan_batch(np.random.default_rng(0), videos, 2, 2)

    reader, plan = reader_of(segments.assign(start_s=lambda t: t["start_s"] + 6), 5, "late")
    with pytest.raises(ValueError, match="video vid[78]: .*10 seconds of features, found 9"):
        reader[plan]
    reader, plan = reader_of(segments.assign(token_ids=lambda t: np.where(t["segment"] == 1, "", "3")), 5, "empty")
    with pytest.raises(ValueError, match=r"video vid[78]: segment 1 has token ids \[\]; expected 1 to 5"):
        reader[plan]
    with pytest.raises(ValueError, match="holds token id 3, beyond the vocabulary's 2 ids"):
        reader_of(segments, 2, "beyond")
    with pytest.raises(ValueError, match="segments are 2 s long, config says 3 s"):
        training_videos(shard_files(tmp_path, segments, source, n_shards=1)["segments"], np.array(["vid7"]), 3, 5)
    reader.close()


def test_select_videos_matches_every_spec_entry(tmp_path):
    manifest = pd.DataFrame(
        {
            "video_id": ["a", "b", "c", "d", "007", "t", "h1", "h2"],
            "split": ["train", "train", "validation", "train", "train", "train", "train", "train"],
            "instructional": [1.0, 0.0, 1.0, np.nan, 1.0, 1.0, 1.0, 1.0],
            "corpus": ["source"] * 5 + ["target"] + ["instructional"] * 2,
        }
    )
    write_table(manifest, tmp_path / "manifest.tsv")

    # Two rows at a time: the selection gathers across chunks.
    def select(spec, model):
        return select_videos(tmp_path / "manifest.tsv", spec, model, chunk_rows=2).tolist()

    assert select({"split": "train"}, "diverse") == ["007", "a", "b", "d"]
    assert select({"split": "train", "instructional": 1}, "instructional") == ["007", "a"]
    # A spec naming a corpus selects in it instead of the source (M_Instructional on HowTo100M).
    assert select({"corpus": "instructional"}, "instructional") == ["h1", "h2"]
    assert select({"corpus": "source", "instructional": 1}, "instructional") == ["007", "a", "c"]
    with pytest.raises(ValueError, match="'domain', which the manifest lacks"):
        select({"domain": "cooking"}, "diverse")


def test_a_spec_selecting_no_video_names_the_model_and_its_spec(tmp_path):
    manifest = pd.DataFrame({"video_id": ["a", "b"], "split": ["train", "validation"], "instructional": [0.0, 1.0]})
    write_table(manifest, tmp_path / "manifest.tsv.gz")
    with pytest.raises(
        ValueError,
        match=r"model 'instructional': its spec \{'split': 'train', "
        r"'instructional': 1\} .*selects none of the manifest's 2",
    ):
        select_videos(tmp_path / "manifest.tsv.gz", {"split": "train", "instructional": 1}, "instructional")


def corpus_files(directory, segments: pd.DataFrame, source: DictSource, length_s: int = LENGTH_S) -> dict:
    """A corpus as rule train reads it: the shards' segment indexes and feature files, a
    vocabulary and a manifest whose videos are all in the train split."""
    write_table(pd.DataFrame({"token": [f"w{i}" for i in range(1, VOCAB_SIZE + 1)]}), directory / "vocab.tsv")
    write_table(pd.DataFrame({"video_id": sorted(source.arrays), "split": "train"}), directory / "manifest.tsv")
    return {
        **shard_files(directory, segments, source, length_s=length_s),
        "vocab": str(directory / "vocab.tsv"),
        "manifest": str(directory / "manifest.tsv"),
    }


def training_job(directory, name: str, files: dict, length_s: int = LENGTH_S, **overrides) -> TrainingJob:
    return TrainingJob(
        model="diverse",
        curation=None,
        draw=None,
        model_spec={"split": "train"},
        model_settings=MODEL,
        train_settings=train_settings(**overrides),
        allow_cpu_fallback=False,
        length_s=length_s,
        checkpoint=str(directory / f"{name}.pt"),
        resume=str(directory / f"{name}.pt.resume"),
        log_tsv=str(directory / f"{name}.log.tsv"),
        **files,
    )


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
    # Two processes stopped at step 10, then continued to 20 from the resume file, which both read;
    # each reads its batches with a loader worker of its own.
    first = train_processes(
        training_job(tmp_path, "two", files, steps=10, loader_workers=1, **params), 2, threads=1, timeout_s=60
    )
    two = train_processes(
        training_job(tmp_path, "two", files, steps=20, loader_workers=1, **params), 2, threads=1, timeout_s=60
    )
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
    with pytest.raises(
        RuntimeError,
        match=r"process [01] of 2 failed: ValueError: segments are 2 s "
        r"long, config says 3 s",
    ):
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
