import hashlib
import json
import logging
import subprocess
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

from groundprobe.features import (FeatureStore, WeightsError, extract_shard_features,
                                  extract_video_features, feature_provenance, load_backbone,
                                  stream_params)

from conftest import make_test_video

CONFIG = yaml.safe_load((Path(__file__).parents[1] / "config.yaml").read_text())
S3D_FILE = "s3d-d76dad2f.pth"


def small_params(stream: str, weights: str = "random") -> dict:
    """The config's stream parameters with tiny frames, so that the CNNs run in a blink."""
    params = stream_params(CONFIG["features"], stream) | {"device": "cpu", "threads": 1,
                                                          "weights": weights}
    sizes = {"2d": {"resize": 40, "crop": 32, "batch_size": 4},
             "3d": {"frame_size": 32, "batch_size": 4}}
    return params | sizes[stream]


def reference_frames(path: Path, size: int) -> np.ndarray:
    """Every frame of a 30 fps video scaled to size x size by the ffmpeg CLI, read back whole."""
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-vf", f"scale={size}:{size}",
                          "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, size, size, 3).copy()


def unit_rows(x: torch.Tensor) -> np.ndarray:
    return (x / x.norm(dim=1, keepdim=True)).numpy()


def reference_2d(path: Path, n_seconds: int) -> np.ndarray:
    """Random-init (seed 0) EfficientNet-Lite0 on the frame at k + 0.5 s, scaled 40x40, cropped 32x32."""
    frames = reference_frames(path, 40)[[30 * k + 15 for k in range(n_seconds)], 4:36, 4:36]
    torch.manual_seed(0)
    model = EfficientNet.from_name("efficientnet-lite0").eval()
    x = (torch.from_numpy(frames).permute(0, 3, 1, 2).float() - 127) / 128
    with torch.no_grad():
        return unit_rows(model.extract_features(x).mean(dim=(2, 3)))


def reference_3d(path: Path, n_seconds: int) -> np.ndarray:
    """Random-init (seed 0) torchvision S3D on the 30 frames of each second, scaled 32x32."""
    frames = reference_frames(path, 32)[:30 * n_seconds].reshape(n_seconds, 30, 32, 32, 3)
    torch.manual_seed(0)
    model = torchvision.models.video.s3d().eval()
    x = torch.from_numpy(frames).permute(0, 4, 1, 2, 3).float() / 255
    mean = torch.tensor([0.43216, 0.394666, 0.37645]).view(1, 3, 1, 1, 1)
    std = torch.tensor([0.22803, 0.22145, 0.216989]).view(1, 3, 1, 1, 1)
    with torch.no_grad():
        return unit_rows(model.features((x - mean) / std).mean(dim=(2, 3, 4)))


@pytest.mark.parametrize("stream, backbone, reference", [
    ("2d", "efficientnet_lite0", reference_2d), ("3d", "s3d", reference_3d)])
def test_video_features_equal_the_model_on_independently_decoded_frames(tiny_video, stream, backbone,
                                                                        reference):
    features = extract_video_features(tiny_video, load_backbone(backbone, "random"),
                                      small_params(stream))
    assert features.dtype == np.float16 and features.shape[0] == 6
    np.testing.assert_allclose(features.astype(np.float32), reference(tiny_video, 6), atol=1e-3)


@pytest.fixture(scope="module")
def chelsea_and_coffee() -> np.ndarray:
    return np.stack([transform.resize(image, (224, 224), preserve_range=True).round().astype(np.uint8)
                     for image in (data.chelsea(), data.coffee())])


def test_pretrained_efficientnet_recognises_a_cat_and_a_coffee_cup(chelsea_and_coffee):
    backbone = load_backbone("efficientnet_lite0", "pretrained")
    with torch.no_grad():
        logits = backbone.module._fc(backbone(chelsea_and_coffee))
    top5 = [set(row) for row in logits.topk(5).indices.tolist()]
    names = torchvision.models.ResNet50_Weights.IMAGENET1K_V1.meta["categories"]
    assert top5[0] & {281, 282, 283, 284, 285}, [names[i] for i in top5[0]]
    assert top5[1] & {967, 968, 504}, [names[i] for i in top5[1]]


def test_s3d_pretrained_comes_only_from_the_torch_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(WeightsError) as missing:
        load_backbone("s3d", "pretrained")
    for part in (S3D_FILE, f"https://download.pytorch.org/models/{S3D_FILE}",
                 str(tmp_path / "checkpoints" / S3D_FILE)):
        assert part in str(missing.value)
    assert not (tmp_path / "checkpoints" / S3D_FILE).exists(), "nothing may be downloaded"
    (tmp_path / "checkpoints").mkdir()
    torch.manual_seed(7)
    saved = torchvision.models.video.s3d().state_dict()
    torch.save(saved, tmp_path / "checkpoints" / S3D_FILE)
    backbone = load_backbone("s3d", "pretrained")
    expected_sha = hashlib.sha256((tmp_path / "checkpoints" / S3D_FILE).read_bytes()).hexdigest()
    assert backbone.weights_sha256 == expected_sha
    name, tensor = next(iter(saved.items()))
    torch.testing.assert_close(backbone.module.state_dict()[name], tensor)


def test_weights_files_that_are_absent_or_do_not_fit_are_named(tmp_path):
    with pytest.raises(WeightsError, match="nowhere.pt"):
        load_backbone("s3d", str(tmp_path / "nowhere.pt"))
    wrong = tmp_path / "efficientnet_for_s3d.pt"
    torch.save(EfficientNet.from_name("efficientnet-lite0").state_dict(), wrong)
    with pytest.raises(WeightsError, match="efficientnet_for_s3d.pt does not fit backbone s3d"):
        load_backbone("s3d", str(wrong))


def test_shard_file_layout_provenance_and_qc(tmp_path, tiny_video):
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(bytes(range(256)) * 40)
    short = make_test_video(tmp_path / "short.mp4", 0.5)
    videos = pd.DataFrame({"video_id": ["good", "broken", "short"],
                           "video_path": [str(tiny_video), str(garbage), str(short)]})
    params = small_params("2d")
    out = tmp_path / "shard" / "00000.h5"
    qc = extract_shard_features(videos, "2d", params, out, logging.getLogger("test"))
    assert [(r.video_id, r.stage) for r in qc] == [("broken", "features_2d"), ("short", "features_2d")]
    assert qc[0].reason.startswith("undecodable: ") and "garbage.mp4" in qc[0].reason
    assert "second" in qc[1].reason
    assert sorted(p.name for p in out.parent.iterdir()) == ["00000.h5"]
    with h5py.File(out) as h5:
        assert list(h5) == ["good"]
        dataset = h5["good"]
        assert dataset.dtype == np.float16 and dataset.shape == (6, 1280) and dataset.chunks == (6, 1280)
        np.testing.assert_allclose(np.linalg.norm(dataset[()].astype(np.float32), axis=1), 1, atol=2e-3)
        attrs = dict(h5.attrs)
    assert attrs["stream"] == "2d" and attrs["backbone"] == "efficientnet_lite0"
    assert attrs["weights"] == "random" and attrs["weights_sha256"] == "random-seed-0"
    assert json.loads(attrs["dim"]) == 1280 and "code_version" in attrs and "ffmpeg" in attrs["decoder"]
    for key in ("fps", "resize", "crop", "batch_size", "decode_chunk_frames", "bf16_cpu"):
        assert json.loads(attrs[key]) == params[key]


def test_missing_weights_fail_the_shard_before_any_file_appears(tmp_path, tiny_video, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    videos = pd.DataFrame({"video_id": ["good"], "video_path": [str(tiny_video)]})
    out = tmp_path / "shard" / "00000.h5"
    with pytest.raises(WeightsError, match=S3D_FILE):
        extract_shard_features(videos, "3d", small_params("3d", "pretrained"), out,
                               logging.getLogger("test"))
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
    files_2d = [write_shard(tmp_path / "2d_0.h5", {"a": a2, "b": b2}),
                write_shard(tmp_path / "2d_1.h5", {"c": c2})]
    files_3d = [write_shard(tmp_path / "3d_0.h5", {"b": b3}),
                write_shard(tmp_path / "3d_1.h5", {"a": a3, "d": d3})]
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


def test_feature_provenance_requires_shards_to_agree(tmp_path):
    paths = []
    for i, sha in enumerate(["aa", "aa", "bb"]):
        path = tmp_path / f"{i}.h5"
        with h5py.File(path, "w") as h5:
            h5.attrs.update(backbone="s3d", weights_sha256=sha, threads=str(i))
        paths.append(path)
    assert feature_provenance(paths[:2]) == {"backbone": "s3d", "weights_sha256": "aa"}
    with pytest.raises(ValueError, match="disagree on weights_sha256"):
        feature_provenance(paths)
