import ast
import hashlib
import itertools
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from groundprobe.features import WeightsError, load_backbone
from groundprobe.s3dg import S3DG, MaxPool3dSame, SelfGating, space_to_depth

# Names, shapes and dtypes of every tensor of the public s3d_howto100m.pth (MIL-NCE), a copy of
# /work/shared/reference/s3d_howto100m_state_dict.tsv.
LISTING = Path(__file__).parent / "fixtures" / "s3d_howto100m_state_dict.tsv"
DTYPES = {"float32": torch.float32, "int64": torch.int64}


def published_layout() -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
    """Tensor name -> (shape, dtype), in the listing's order."""
    rows = [line.split("\t") for line in LISTING.read_text().splitlines()[1:]]
    return {name: (tuple(ast.literal_eval(shape)), DTYPES[dtype]) for name, shape, dtype in rows}


def random_published_state(seed: int) -> dict[str, torch.Tensor]:
    """Random tensors of exactly the published names, shapes and dtypes, text_module included.

    Scaled so that a clip's content reaches the output: weight matrices and kernels by
    sqrt(2 / fan-in), batch-norm scales near 1 and variances in [0.5, 1.5).
    """
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for name, (shape, dtype) in published_layout().items():
        noise = torch.randn(shape, generator=generator) if dtype == torch.float32 else None
        if dtype == torch.int64:
            state[name] = torch.randint(0, 1000, shape, generator=generator)
        elif len(shape) >= 2:
            state[name] = noise * math.sqrt(2 / math.prod(shape[1:]))
        elif name.endswith("running_var"):
            state[name] = torch.rand(shape, generator=generator) + 0.5
        elif ".bn" in name and name.endswith(".weight"):
            state[name] = 1 + 0.1 * noise
        else:
            state[name] = 0.1 * noise
    return state


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
    published = {name: layout for name, layout in published_layout().items()
                 if not name.startswith("text_module.")}
    mine = {name: (tuple(tensor.shape), tensor.dtype) for name, tensor in S3DG().state_dict().items()}
    assert sorted(set(published) - set(mine)) == [] and sorted(set(mine) - set(published)) == []
    assert mine == published
    # TensorFlow's batch-norm epsilon, which the checkpoint's statistics were trained with.
    assert {m.eps for m in S3DG().modules() if isinstance(m, nn.BatchNorm3d)} == {1e-3}


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
    clips = torch.randint(0, 256, (2, 4, 32, 32, 3), dtype=torch.uint8,
                          generator=torch.Generator().manual_seed(0))
    model = S3DG().eval()
    model.load_state_dict({k: v for k, v in state.items() if not k.startswith("text_module.")})
    with torch.no_grad():
        expected = model(clips.permute(0, 4, 1, 2, 3).float() / 255)
    features = load_backbone("s3dg", str(path))(clips.numpy())
    assert features.shape == (2, 1024)
    torch.testing.assert_close(features, expected, rtol=1e-4, atol=1e-5)


def save_changed(state: dict[str, torch.Tensor], path: Path, rename: tuple[str, str] | None = None,
                 reshape: tuple[str, tuple[int, ...]] | None = None) -> Path:
    changed = dict(state)
    if rename:
        changed[rename[1]] = changed.pop(rename[0])
    if reshape:
        changed[reshape[0]] = torch.zeros(reshape[1])
    torch.save(changed, path)
    return path


def test_a_renamed_tensor_is_rejected_naming_the_file_and_both_keys(tmp_path):
    state = {k: v for k, v in random_published_state(1).items() if not k.startswith("text_module.")}
    path = save_changed(state, tmp_path / "renamed.pth",
                        rename=("mixed_4c.gating_b1.fc.weight", "mixed_4c.gating_b1.fc.weights"))
    with pytest.raises(WeightsError) as error:
        load_backbone("s3dg", str(path))
    message = str(error.value)
    assert f"{path} does not fit backbone s3dg" in message
    assert "1 missing keys ['mixed_4c.gating_b1.fc.weight']" in message
    assert "1 unexpected keys ['mixed_4c.gating_b1.fc.weights']" in message


def test_a_tensor_of_the_wrong_shape_is_rejected_naming_both_shapes(tmp_path):
    state = {k: v for k, v in random_published_state(1).items() if not k.startswith("text_module.")}
    path = save_changed(state, tmp_path / "reshaped.pth",
                        reshape=("conv1.conv1.weight", (64, 3, 7, 7, 7)))
    with pytest.raises(WeightsError) as error:
        load_backbone("s3dg", str(path))
    message = str(error.value)
    assert f"{path} does not fit backbone s3dg" in message
    assert ("1 wrong shapes ['conv1.conv1.weight: (64, 3, 7, 7, 7) in the file, "
            "(64, 24, 2, 4, 4) in the model']") in message
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


@pytest.mark.parametrize("values, expected", [
    # 5 entries, kernel 3, stride 2: 3 outputs, one padding entry each side; padding never wins.
    ([-1.0, -5.0, -2.0, -4.0, -3.0], [-1.0, -2.0, -3.0]),
    # 4 entries: 2 outputs, the single padding entry goes after.
    ([-1.0, -5.0, -2.0, -4.0], [-1.0, -2.0]),
    ([3.0, 1.0, 2.0, 9.0, 0.5, 7.0], [3.0, 9.0, 7.0]),
])
def test_tf_same_max_pool_on_hand_computed_sequences(values, expected):
    pool = MaxPool3dSame((3, 1, 1), (2, 1, 1))
    x = torch.tensor(values).view(1, 1, -1, 1, 1)
    assert pool(x).flatten().tolist() == expected


def tf_same_max_pool_by_loops(x: torch.Tensor, kernel: tuple, stride: tuple) -> torch.Tensor:
    """TensorFlow 'SAME' max-pooling written from its definition: ceil(size / stride) outputs,
    window ``i`` starts at ``i * stride - pad_before`` and covers only real entries."""
    sizes = x.shape[2:]
    outs = [math.ceil(size / s) for size, s in zip(sizes, stride)]
    befores = [max((o - 1) * s + k - size, 0) // 2 for o, s, k, size in zip(outs, stride, kernel, sizes)]
    result = torch.empty(*x.shape[:2], *outs, dtype=x.dtype)
    for index in itertools.product(*(range(o) for o in outs)):
        window = tuple(slice(max(i * s - b, 0), min(i * s - b + k, size))
                       for i, s, b, k, size in zip(index, stride, befores, kernel, sizes))
        result[(..., *index)] = x[(..., *window)].amax(dim=(2, 3, 4))
    return result


@pytest.mark.parametrize("kernel, stride, size", [
    ((1, 3, 3), (1, 2, 2), (3, 7, 8)), ((3, 3, 3), (2, 2, 2), (5, 6, 7)),
    ((2, 2, 2), (2, 2, 2), (3, 4, 5)), ((3, 3, 3), (1, 1, 1), (3, 4, 4))])
def test_tf_same_max_pool_matches_its_definition(kernel, stride, size):
    x = torch.randn(2, 3, *size, generator=torch.Generator().manual_seed(0))
    expected = tf_same_max_pool_by_loops(x, kernel, stride)
    torch.testing.assert_close(MaxPool3dSame(kernel, stride)(x), expected, rtol=0, atol=0)


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


@pytest.mark.parametrize("frames, size, expected", [
    (32, 224, (4, 7, 7)),   # the authors' clips: TensorFlow S3D's 7x7 final map, time / 8
    (30, 224, (4, 7, 7)),   # one second at 30 fps: 'SAME' pooling rounds 15 -> 8 -> 4 up
    (30, 32, (4, 1, 1)),
])
def test_feature_map_sizes(frames, size, expected):
    model = S3DG().to("meta")
    features = model.features(torch.empty(2, 3, frames, size, size, device="meta"))
    assert tuple(features.shape) == (2, 1024, *expected)
    assert tuple(model(torch.empty(2, 3, frames, size, size, device="meta")).shape) == (2, 1024)


# A functional S3D-G straight from the checkpoint's tensors and the published conventions, written
# independently of groundprobe.s3dg (strided slices for space-to-depth, the loop max-pool above).
def bn_relu(x: torch.Tensor, state: dict, prefix: str) -> torch.Tensor:
    return F.relu(F.batch_norm(x, state[f"{prefix}.running_mean"], state[f"{prefix}.running_var"],
                               state[f"{prefix}.weight"], state[f"{prefix}.bias"], eps=1e-3))


def unit(x: torch.Tensor, state: dict, prefix: str) -> torch.Tensor:
    """conv1 -> bn1 -> ReLU, then conv2 -> bn2 -> ReLU when the unit has them; odd kernels, 'same'."""
    for conv, bn in (("conv1", "bn1"), ("conv2", "bn2")):
        if f"{prefix}.{conv}.weight" in state:
            weight = state[f"{prefix}.{conv}.weight"]
            x = bn_relu(F.conv3d(x, weight, padding=[k // 2 for k in weight.shape[2:]]), state,
                        f"{prefix}.{bn}")
    return x


def gate(x: torch.Tensor, state: dict, prefix: str) -> torch.Tensor:
    weights = torch.sigmoid(F.linear(x.mean(dim=(2, 3, 4)), state[f"{prefix}.fc.weight"],
                                     state[f"{prefix}.fc.bias"]))
    return x * weights[:, :, None, None, None]


def inception(x: torch.Tensor, state: dict, block: str) -> torch.Tensor:
    def branch(i: int, inner: torch.Tensor) -> torch.Tensor:
        return gate(inner, state, f"{block}.gating_b{i}")
    return torch.cat([
        branch(0, unit(x, state, f"{block}.conv_b0")),
        branch(1, unit(unit(x, state, f"{block}.conv_b1_a"), state, f"{block}.conv_b1_b")),
        branch(2, unit(unit(x, state, f"{block}.conv_b2_a"), state, f"{block}.conv_b2_b")),
        branch(3, unit(tf_same_max_pool_by_loops(x, (3, 3, 3), (1, 1, 1)), state, f"{block}.conv_b3_b")),
    ], dim=1)


def reference_s3dg(state: dict, clips: torch.Tensor) -> torch.Tensor:
    """Clip features (n, 1024) of clips (n, 3, T, H, W) in [0, 1]."""
    x = torch.cat([clips[:, :, dt::2, dh::2, dw::2]
                   for dt, dh, dw in itertools.product(range(2), repeat=3)], dim=1)
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


def test_s3dg_computes_what_the_published_conventions_define():
    state = {name: tensor.double() if tensor.is_floating_point() else tensor
             for name, tensor in random_published_state(5).items() if not name.startswith("text_module.")}
    clips = torch.rand(2, 3, 6, 32, 32, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    model = S3DG().double().eval()
    model.load_state_dict(state)
    with torch.no_grad():
        expected = reference_s3dg(state, clips)
        features = model(clips)
    assert expected.abs().max() > 0 and not torch.allclose(expected[0], expected[1])
    torch.testing.assert_close(features, expected, rtol=1e-9, atol=1e-12 * expected.abs().max().item())
