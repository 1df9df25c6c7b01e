import ast
import hashlib
import itertools
import logging
import math
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from groundprobe.config import load_yaml
from groundprobe.features import extract as features_module
from groundprobe.features.backbones import load_backbone
from groundprobe.features.extract import extract_shard_features
from groundprobe.features.weights import WeightsError
from groundprobe.features.s3dg import (
    PADDINGS,
    S3DG,
    MaxPool3dPort,
    MaxPool3dSame,
    SelfGating,
    seeded_state,
    space_to_depth,
)
from groundprobe.settings import FeatureSettings

# Names, shapes and dtypes of every tensor of the public s3d_howto100m.pth (MIL-NCE), a copy of
# /work/shared/reference/s3d_howto100m_state_dict.tsv.
LISTING = Path(__file__).parents[1] / "fixtures" / "s3d_howto100m_state_dict.tsv"
DTYPES = {"float32": torch.float32, "int64": torch.int64}
FEATURES = FeatureSettings.from_config(load_yaml(Path(__file__).parents[2] / "config.yaml")["features"], "features")


def published_layout() -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
    """Tensor name -> (shape, dtype), in the listing's order."""
    rows = [line.split("\t") for line in LISTING.read_text().splitlines()[1:]]
    return {name: (tuple(ast.literal_eval(shape)), DTYPES[dtype]) for name, shape, dtype in rows}


def random_published_state(seed: int) -> dict[str, torch.Tensor]:
    """Random tensors of exactly the published names, shapes and dtypes, text_module included
    (He-scaled, randomised batch-norm statistics: groundprobe.features.s3dg.seeded_state)."""
    return seeded_state(seed, published_layout())


@pytest.fixture(scope="module")
def published_file(tmp_path_factory) -> tuple[Path, dict[str, torch.Tensor]]:
    """A file laid out like s3d_howto100m.pth (~90 MB, the 66,250-word embedding included)."""
    state = random_published_state(seed=3)
    path = tmp_path_factory.mktemp("weights") / "s3d_howto100m.pth"
    torch.save(state, path)
    return path, state


def test_the_listing_is_the_published_checkpoint():
    layout = published_layout()
    assert len(layout) == 537
    assert sum(name.startswith("text_module.") for name in layout) == 5
    assert layout["conv1.conv1.weight"] == ((64, 24, 2, 4, 4), torch.float32)
    assert layout["fc.weight"] == ((512, 1024), torch.float32)


def test_module_tensors_are_the_published_ones_minus_the_text_module():
    published = {name: layout for name, layout in published_layout().items() if not name.startswith("text_module.")}
    mine = {name: (tuple(tensor.shape), tensor.dtype) for name, tensor in S3DG().state_dict().items()}
    assert sorted(set(published) - set(mine)) == [] and sorted(set(mine) - set(published)) == []
    assert mine == published
    assert S3DG("tf_same").state_dict().keys() == S3DG().state_dict().keys()
    # The port's batch-norm epsilon (PyTorch's default) by default; TensorFlow's, which the
    # checkpoint's statistics were trained with, in the tf_same variant.
    assert {m.eps for m in S3DG().modules() if isinstance(m, nn.BatchNorm3d)} == {1e-5}
    assert {m.eps for m in S3DG("tf_same").modules() if isinstance(m, nn.BatchNorm3d)} == {1e-3}


def test_seeded_state_covers_the_module_and_is_fixed_by_its_seed():
    state = seeded_state(2)
    with torch.device("meta"):
        layout = {name: tuple(tensor.shape) for name, tensor in S3DG().state_dict().items()}
    assert {name: tuple(tensor.shape) for name, tensor in state.items()} == layout
    assert all(torch.equal(state[name], again) for name, again in seeded_state(2).items())
    assert not torch.equal(state["conv1.conv1.weight"], seeded_state(3)["conv1.conv1.weight"])
    # He scaling: weights of standard deviation sqrt(2 / fan-in); variances within [0.5, 1.5).
    fan_in = 24 * 2 * 4 * 4
    assert abs(state["conv1.conv1.weight"].std().item() / math.sqrt(2 / fan_in) - 1) < 0.05
    assert 0.5 <= state["mixed_5c.conv_b0.bn1.running_var"].min() < 0.6
    assert 1.4 < state["mixed_5c.conv_b0.bn1.running_var"].max() < 1.5


def test_an_unknown_padding_is_refused_naming_the_known_ones():
    with pytest.raises(ValueError, match="unknown S3D-G padding 'same'; known: port, tf_same"):
        S3DG("same")


def test_a_file_with_the_published_layout_loads_and_its_text_module_is_ignored(published_file):
    path, state = published_file
    backbone = load_backbone("s3dg", str(path))
    assert backbone.kind == "3d" and backbone.dim == 1024
    assert backbone.weights_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    loaded = backbone.module.state_dict()
    assert not any(name.startswith("text_module.") for name in loaded)
    for name, tensor in loaded.items():
        torch.testing.assert_close(tensor, state[name], rtol=0, atol=0, msg=name)


def test_the_loaded_backbone_computes_the_model_on_unit_range_clips(published_file):
    path, state = published_file
    clips = torch.randint(0, 256, (2, 4, 32, 32, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    model = S3DG().eval()
    model.load_state_dict({k: v for k, v in state.items() if not k.startswith("text_module.")})
    with torch.no_grad():
        expected = model(clips.permute(0, 4, 1, 2, 3).float() / 255)
    features = load_backbone("s3dg", str(path))(clips.numpy())
    assert features.shape == (2, 1024)
    torch.testing.assert_close(features, expected, rtol=1e-4, atol=1e-5)


def save_changed(
    state: dict[str, torch.Tensor],
    path: Path,
    rename: tuple[str, str] | None = None,
    reshape: tuple[str, tuple[int, ...]] | None = None,
) -> Path:
    changed = dict(state)
    if rename:
        changed[rename[1]] = changed.pop(rename[0])
    if reshape:
        changed[reshape[0]] = torch.zeros(reshape[1])
    torch.save(changed, path)
    return path


def test_a_renamed_tensor_is_rejected_naming_the_file_and_both_keys(tmp_path):
    state = {k: v for k, v in random_published_state(1).items() if not k.startswith("text_module.")}
    path = save_changed(
        state, tmp_path / "renamed.pth", rename=("mixed_4c.gating_b1.fc.weight", "mixed_4c.gating_b1.fc.weights")
    )
    with pytest.raises(WeightsError) as error:
        load_backbone("s3dg", str(path))
    message = str(error.value)
    assert f"{path} does not fit backbone s3dg" in message
    assert "1 missing keys ['mixed_4c.gating_b1.fc.weight']" in message
    assert "1 unexpected keys ['mixed_4c.gating_b1.fc.weights']" in message


def test_a_tensor_of_the_wrong_shape_is_rejected_naming_both_shapes(tmp_path):
    state = {k: v for k, v in random_published_state(1).items() if not k.startswith("text_module.")}
    path = save_changed(state, tmp_path / "reshaped.pth", reshape=("conv1.conv1.weight", (64, 3, 7, 7, 7)))
    with pytest.raises(WeightsError) as error:
        load_backbone("s3dg", str(path))
    message = str(error.value)
    assert f"{path} does not fit backbone s3dg" in message
    assert (
        "1 wrong shapes ['conv1.conv1.weight: (64, 3, 7, 7, 7) in the file, (64, 24, 2, 4, 4) in the model']"
    ) in message
    assert "missing" not in message and "unexpected" not in message


def test_space_to_depth_folds_each_2x2x2_block_offsets_major_colour_minor():
    n, c, t, h, w = 2, 3, 4, 6, 8
    x = torch.arange(n * c * t * h * w, dtype=torch.float32).reshape(n, c, t, h, w)
    expected = torch.empty(n, 8 * c, t // 2, h // 2, w // 2)
    for b, ch, i, j, k in itertools.product(range(n), range(c), range(t), range(h), range(w)):
        channel = ((i % 2) * 4 + (j % 2) * 2 + (k % 2)) * c + ch
        expected[b, channel, i // 2, j // 2, k // 2] = x[b, ch, i, j, k]
    assert torch.equal(space_to_depth(x), expected)


@pytest.mark.parametrize("shape", [(1, 3, 3, 4, 4), (1, 3, 4, 5, 4), (1, 3, 4, 4, 7)])
def test_odd_frame_counts_or_sizes_are_refused(shape):
    with pytest.raises(ValueError, match="even number of frames, height and width"):
        space_to_depth(torch.zeros(shape))


@pytest.mark.parametrize(
    "values, expected",
    [
        # 5 entries, kernel 3, stride 2: 3 outputs, one padding entry each side; padding never wins.
        ([-1.0, -5.0, -2.0, -4.0, -3.0], [-1.0, -2.0, -3.0]),
        # 4 entries: 2 outputs, the single padding entry goes after.
        ([-1.0, -5.0, -2.0, -4.0], [-1.0, -2.0]),
        ([3.0, 1.0, 2.0, 9.0, 0.5, 7.0], [3.0, 9.0, 7.0]),
    ],
)
def test_tf_same_max_pool_on_hand_computed_sequences(values, expected):
    pool = MaxPool3dSame((3, 1, 1), (2, 1, 1))
    x = torch.tensor(values).view(1, 1, -1, 1, 1)
    assert pool(x).flatten().tolist() == expected


@pytest.mark.parametrize(
    "values, tf_same, port",
    [
        # 5 entries, kernel 3, stride 2: TensorFlow pads one entry each side, the port (0, 1) with a zero.
        ([3.0, 1.0, 2.0, 9.0, 0.5], [3.0, 9.0, 9.0], [3.0, 9.0, 0.5]),
        # 4 or 6 entries: both pad one entry after.
        ([3.0, 1.0, 2.0, 9.0], [3.0, 9.0], [3.0, 9.0]),
        ([3.0, 1.0, 2.0, 9.0, 0.5, 7.0], [3.0, 9.0, 7.0], [3.0, 9.0, 7.0]),
    ],
)
def test_port_and_tf_same_max_pools_on_hand_computed_sequences(values, tf_same, port):
    x = torch.tensor(values).view(1, 1, -1, 1, 1)
    assert MaxPool3dSame((3, 1, 1), (2, 1, 1))(x).flatten().tolist() == tf_same
    assert MaxPool3dPort((3, 1, 1), (2, 1, 1))(x).flatten().tolist() == port


def port_max_pool_by_loops(x: torch.Tensor, kernel: tuple, stride: tuple) -> torch.Tensor:
    """The port's max-pooling written from its definition: each axis padded with
    ``kernel - stride`` zeros (the larger half after), then windows at every multiple of the
    stride that starts inside the padded axis and reaches its end or beyond, cut at the end."""
    befores = [max(k - s, 0) // 2 for k, s in zip(kernel, stride)]
    sizes = [size + max(k - s, 0) for size, k, s in zip(x.shape[2:], kernel, stride)]
    padded = torch.zeros(*x.shape[:2], *sizes, dtype=x.dtype)
    padded[(..., *(slice(b, b + size) for b, size in zip(befores, x.shape[2:])))] = x
    starts = [[i for i in range(0, size, s) if i == 0 or i - s + k < size] for size, k, s in zip(sizes, kernel, stride)]
    result = torch.empty(*x.shape[:2], *map(len, starts), dtype=x.dtype)
    for index in itertools.product(*(range(len(axis)) for axis in starts)):
        window = tuple(slice(axis[i], min(axis[i] + k, size)) for axis, i, k, size in zip(starts, index, kernel, sizes))
        result[(..., *index)] = padded[(..., *window)].amax(dim=(2, 3, 4))
    return result


def tf_same_max_pool_by_loops(x: torch.Tensor, kernel: tuple, stride: tuple) -> torch.Tensor:
    """TensorFlow 'SAME' max-pooling written from its definition: ceil(size / stride) outputs,
    window ``i`` starts at ``i * stride - pad_before`` and covers only real entries."""
    sizes = x.shape[2:]
    outs = [math.ceil(size / s) for size, s in zip(sizes, stride)]
    befores = [max((o - 1) * s + k - size, 0) // 2 for o, s, k, size in zip(outs, stride, kernel, sizes)]
    result = torch.empty(*x.shape[:2], *outs, dtype=x.dtype)
    for index in itertools.product(*(range(o) for o in outs)):
        window = tuple(
            slice(max(i * s - b, 0), min(i * s - b + k, size))
            for i, s, b, k, size in zip(index, stride, befores, kernel, sizes)
        )
        result[(..., *index)] = x[(..., *window)].amax(dim=(2, 3, 4))
    return result


@pytest.mark.parametrize(
    "kernel, stride, size",
    [
        ((1, 3, 3), (1, 2, 2), (3, 7, 8)),
        ((3, 3, 3), (2, 2, 2), (5, 6, 7)),
        ((2, 2, 2), (2, 2, 2), (3, 4, 5)),
        ((3, 3, 3), (1, 1, 1), (3, 4, 4)),
    ],
)
def test_tf_same_and_port_max_pools_match_their_definitions(kernel, stride, size):
    x = torch.randn(2, 3, *size, generator=torch.Generator().manual_seed(0))
    expected = tf_same_max_pool_by_loops(x, kernel, stride)
    torch.testing.assert_close(MaxPool3dSame(kernel, stride)(x), expected, rtol=0, atol=0)
    relu = x.relu()  # the port pads zeros: S3D-G pools only non-negative maps
    expected = port_max_pool_by_loops(relu, kernel, stride)
    torch.testing.assert_close(MaxPool3dPort(kernel, stride)(relu), expected, rtol=0, atol=0)


def test_first_convolution_is_aligned_like_tensorflow_same():
    """conv1 padded (1, 2, 2) minus its first entry per axis == TF 'SAME' for kernel (2, 4, 4):
    padding (0, 1) in time and (1, 2) in height and width."""
    torch.manual_seed(0)
    model = S3DG().eval()
    captured = []
    model.maxpool_2a.register_forward_pre_hook(lambda module, args: captured.append(args[0]))
    clips = torch.rand(1, 3, 6, 12, 16)
    with torch.no_grad():
        model.features(clips)
        same = F.pad(space_to_depth(clips), (1, 2, 1, 2, 0, 1))
        unit = model.conv1
        expected = F.relu(unit.bn1(F.conv3d(same, unit.conv1.weight)))
    assert captured[0].shape == (1, 64, 3, 6, 8)
    torch.testing.assert_close(captured[0], expected)


def test_self_gating_scales_channels_by_a_sigmoid_of_their_mean():
    gating = SelfGating(2)
    with torch.no_grad():
        gating.fc.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, -2.0]]))
        gating.fc.bias.copy_(torch.tensor([0.0, 1.0]))
    x = torch.stack([torch.full((1, 2, 2), 2.0), torch.tensor([[[1.0, 3.0], [1.0, 3.0]]])])[None]
    # channel means 2 and 2: weights sigmoid(2) and sigmoid(-2 * 2 + 1)
    expected = torch.stack([x[0, 0] / (1 + math.exp(-2)), x[0, 1] / (1 + math.exp(3))])[None]
    torch.testing.assert_close(gating(x), expected)


@pytest.mark.parametrize("padding", list(PADDINGS))
@pytest.mark.parametrize(
    "frames, size, expected",
    [
        (32, 224, (4, 7, 7)),  # the authors' clips: TensorFlow S3D's 7x7 final map, time / 8
        (30, 224, (4, 7, 7)),  # one second at 30 fps: both variants round 15 -> 8 -> 4 up
        (30, 32, (4, 1, 1)),
    ],
)
def test_feature_map_sizes(frames, size, expected, padding):
    with torch.device("meta"):  # shapes only: no initialisation
        model = S3DG(padding)
    features = model.features(torch.empty(2, 3, frames, size, size, device="meta"))
    assert tuple(features.shape) == (2, 1024, *expected)
    assert tuple(model(torch.empty(2, 3, frames, size, size, device="meta")).shape) == (2, 1024)


# A functional S3D-G straight from the checkpoint's tensors and the published conventions, written
# independently of groundprobe.features.s3dg (strided slices for space-to-depth, the loop max-pool above).
def bn_relu(x: torch.Tensor, state: dict, prefix: str) -> torch.Tensor:
    return F.relu(
        F.batch_norm(
            x,
            state[f"{prefix}.running_mean"],
            state[f"{prefix}.running_var"],
            state[f"{prefix}.weight"],
            state[f"{prefix}.bias"],
            eps=1e-3,
        )
    )


def unit(x: torch.Tensor, state: dict, prefix: str) -> torch.Tensor:
    """conv1 -> bn1 -> ReLU, then conv2 -> bn2 -> ReLU when the unit has them; odd kernels, 'same'."""
    for conv, bn in (("conv1", "bn1"), ("conv2", "bn2")):
        if f"{prefix}.{conv}.weight" in state:
            weight = state[f"{prefix}.{conv}.weight"]
            x = bn_relu(F.conv3d(x, weight, padding=[k // 2 for k in weight.shape[2:]]), state, f"{prefix}.{bn}")
    return x


def gate(x: torch.Tensor, state: dict, prefix: str) -> torch.Tensor:
    weights = torch.sigmoid(F.linear(x.mean(dim=(2, 3, 4)), state[f"{prefix}.fc.weight"], state[f"{prefix}.fc.bias"]))
    return x * weights[:, :, None, None, None]


def inception(x: torch.Tensor, state: dict, block: str) -> torch.Tensor:
    def branch(i: int, inner: torch.Tensor) -> torch.Tensor:
        return gate(inner, state, f"{block}.gating_b{i}")

    return torch.cat(
        [
            branch(0, unit(x, state, f"{block}.conv_b0")),
            branch(1, unit(unit(x, state, f"{block}.conv_b1_a"), state, f"{block}.conv_b1_b")),
            branch(2, unit(unit(x, state, f"{block}.conv_b2_a"), state, f"{block}.conv_b2_b")),
            branch(3, unit(tf_same_max_pool_by_loops(x, (3, 3, 3), (1, 1, 1)), state, f"{block}.conv_b3_b")),
        ],
        dim=1,
    )


def reference_s3dg(state: dict, clips: torch.Tensor) -> torch.Tensor:
    """Clip features (n, 1024) of clips (n, 3, T, H, W) in [0, 1]."""
    x = torch.cat([clips[:, :, dt::2, dh::2, dw::2] for dt, dh, dw in itertools.product(range(2), repeat=3)], dim=1)
    x = F.conv3d(F.pad(x, (1, 2, 1, 2, 0, 1)), state["conv1.conv1.weight"])  # TF 'SAME'
    x = tf_same_max_pool_by_loops(bn_relu(x, state, "conv1.bn1"), (1, 3, 3), (1, 2, 2))
    x = gate(unit(unit(x, state, "conv_2b"), state, "conv_2c"), state, "gating")
    x = tf_same_max_pool_by_loops(x, (1, 3, 3), (1, 2, 2))
    for block in ("mixed_3b", "mixed_3c"):
        x = inception(x, state, block)
    x = tf_same_max_pool_by_loops(x, (3, 3, 3), (2, 2, 2))
    for block in ("mixed_4b", "mixed_4c", "mixed_4d", "mixed_4e", "mixed_4f"):
        x = inception(x, state, block)
    x = tf_same_max_pool_by_loops(x, (2, 2, 2), (2, 2, 2))
    for block in ("mixed_5b", "mixed_5c"):
        x = inception(x, state, block)
    return x.mean(dim=(2, 3, 4))


def test_the_tf_same_variant_computes_what_tensorflows_conventions_define():
    state = {
        name: tensor.double() if tensor.is_floating_point() else tensor
        for name, tensor in random_published_state(5).items()
        if not name.startswith("text_module.")
    }
    # 6 frames: time is 3 long at maxpool_4a, where 'SAME' and the port's padding differ.
    clips = torch.rand(2, 3, 6, 32, 32, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    model = S3DG("tf_same").double().eval()
    model.load_state_dict(state)
    with torch.no_grad():
        expected = reference_s3dg(state, clips)
        features = model(clips)
    assert expected.abs().max() > 0 and not torch.allclose(expected[0], expected[1])
    torch.testing.assert_close(features, expected, rtol=1e-9, atol=1e-12 * expected.abs().max().item())


# The public PyTorch port's own output (antoine77340/S3D_HowTo100M, s3dg.py), made by
# benchmarks/make_s3dg_port_reference.py with the weights seeded_state(state_seed) on two seeded
# noise clips of 32 frames at 76x70 (some pooled size odd at every strided max-pool) and on their
# first 30 frames.
PORT_REFERENCE = Path(__file__).parents[1] / "fixtures" / "s3dg_port_reference.npz"
# Float rounding: the same float32 operations in the same order, but convolution kernels may sum
# in another order on another CPU or thread count (measured here: bit-identical).
PORT_RTOL = 1e-5


def sha256(arrays: list[np.ndarray]) -> str:
    return hashlib.sha256(b"".join(array.tobytes() for array in arrays)).hexdigest()


@pytest.fixture(scope="module")
def port_reference(tmp_path_factory) -> tuple[dict[str, np.ndarray], Path, np.ndarray]:
    """(the reference arrays, a weights file of the reference's state, the reference's clips)."""
    reference = dict(np.load(PORT_REFERENCE))
    state = seeded_state(int(reference["state_seed"]))
    clips = torch.randint(
        0,
        256,
        tuple(reference["clip_shape"]),
        dtype=torch.uint8,
        generator=torch.Generator().manual_seed(int(reference["clip_seed"])),
    )
    # The inputs must be the reference's own, else a mismatch would not be the model's.
    assert sha256([tensor.numpy() for tensor in state.values()]) == reference["state_sha256"]
    assert sha256([clips.numpy()]) == reference["clip_sha256"]
    path = tmp_path_factory.mktemp("port") / "s3dg_video_part.pth"
    torch.save(state, path)
    return reference, path, clips.numpy()


@pytest.fixture(scope="module")
def reference_backbones(port_reference) -> dict[str, object]:
    """'default' and 'tf_same' -> the s3dg backbone loaded from the reference's weights file
    without settings and with s3dg_padding tf_same (other stream settings are ignored)."""
    _, path, _ = port_reference
    return {
        "default": load_backbone("s3dg", str(path)),
        "tf_same": load_backbone("s3dg", str(path), settings=replace(FEATURES.three_d, s3dg_padding="tf_same")),
    }


def port_outputs(backbone, clips: np.ndarray, channel_step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(the backbone's pooled features (n, 1024) of uint8 clips (n, T, H, W, 3), every
    channel_step-th channel of the mixed_5c map they were pooled from)."""
    maps = []
    hook = backbone.module.mixed_5c.register_forward_hook(lambda module, args, out: maps.append(out))
    try:
        features = backbone(clips)
    finally:
        hook.remove()
    return features, maps[0][:, ::channel_step]


@pytest.mark.parametrize("frames", [30, 32])
def test_s3dg_reproduces_the_public_port_by_default(port_reference, reference_backbones, frames):
    reference, _, clips = port_reference
    backbone = reference_backbones["default"]
    assert backbone.module.padding == "port"
    features, fmap = port_outputs(backbone, clips[:, :frames], int(reference["channel_step"]))
    for mine, expected in ((features, reference[f"features_{frames}"]), (fmap, reference[f"map_{frames}"])):
        expected = torch.from_numpy(expected)
        assert mine.shape == expected.shape
        torch.testing.assert_close(mine, expected, rtol=PORT_RTOL, atol=PORT_RTOL * expected.abs().max().item())


@pytest.mark.parametrize("frames", [30, 32])
def test_the_tf_same_variant_differs_measurably_from_the_port(port_reference, reference_backbones, frames):
    """Epsilon 1e-3 (both lengths) and 'SAME' pooling (odd sizes) move mixed_5c by far more than
    the tolerance of the equality test above."""
    reference, _, clips = port_reference
    backbone = reference_backbones["tf_same"]
    assert backbone.module.padding == "tf_same"
    _, fmap = port_outputs(backbone, clips[:, :frames], int(reference["channel_step"]))
    expected = torch.from_numpy(reference[f"map_{frames}"])
    assert fmap.shape == expected.shape
    assert (fmap - expected).abs().max() > 100 * PORT_RTOL * expected.abs().max()


def test_the_configured_padding_reaches_the_model_and_the_feature_file(
    port_reference, tiny_video, tmp_path, monkeypatch
):
    """features.3d.s3dg_padding goes from the stream's settings to the model that extracts and to
    the file's provenance (the two variants' features differ by less than float16 storage
    resolves on random weights, so the model is inspected)."""
    _, weights, _ = port_reference
    loaded = []
    monkeypatch.setattr(
        features_module,
        "load_backbone",
        lambda *args, **kwargs: loaded.append(load_backbone(*args, **kwargs)) or loaded[-1],
    )
    settings = replace(
        FEATURES,
        device="cpu",
        threads=1,
        three_d=replace(
            FEATURES.three_d, backbone="s3dg", weights=str(weights), frame_size=32, batch_size=6, s3dg_padding="tf_same"
        ),
    )
    videos = pd.DataFrame({"video_id": ["tiny"], "video_path": [str(tiny_video)]})
    out = tmp_path / "shard.h5"
    extract_shard_features(videos, "3d", settings, out, logging.getLogger("test"))
    assert [backbone.module.padding for backbone in loaded] == ["tf_same"]
    with h5py.File(out, "r") as h5:
        assert h5.attrs["s3dg_padding"] == "tf_same" and h5["tiny"].shape == (6, 1024)
