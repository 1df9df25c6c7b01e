import copy
from pathlib import Path

import pytest
from snakemake.utils import update_config

from groundprobe.config import ConfigError, features_params, load_yaml, validate_config

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "config" / "schema.yaml"


@pytest.fixture
def config():
    return load_yaml(ROOT / "config.yaml")


def test_default_config_is_valid(config):
    validate_config(config, SCHEMA)


def test_every_schema_key_has_a_default_in_config_yaml(config):
    """config.yaml writes every parameter: each required key of the schema is present."""

    def walk(schema, node, path):
        for key in schema.get("required", []):
            assert key in node, f"config.yaml lacks {'.'.join(path + [key])}"
        for key, sub in schema.get("properties", {}).items():
            if key in node and isinstance(sub, dict) and sub.get("type") == "object":
                walk(sub, node[key], path + [key])

    walk(load_yaml(SCHEMA), config, [])


@pytest.mark.parametrize(
    "path, value, expected",
    [
        (("train", "lr"), 0, "config key 'train.lr'.*allowed: > 0"),
        (
            ("features", "2d", "backbone"),
            "vgg",
            "config key 'features.2d.backbone'.*one of 'efficientnet_lite0', 'inception_v3'",
        ),
        (("features", "3d", "backbone"), "s3d", "config key 'features.3d.backbone'.*one of 's3dg', 's3d_kinetics'"),
        (("features", "3d", "s3dg_padding"), "same", "config key 'features.3d.s3dg_padding'.*one of 'port', 'tf_same'"),
        (("segments", "length_s"), "five", "config key 'segments.length_s'.*of type integer"),
        (("features", "device"), "tpu", "config key 'features.device'.*one of 'auto', 'cpu', 'cuda'"),
        (("demo_corpus", "duration_s"), [20], "config key 'demo_corpus.duration_s'.*at least 2 items"),
        (("download", "caption_kinds"), ["asr"], "config key 'download.caption_kinds.0'.*one of 'auto', 'manual'"),
        (("download", "socket_timeout_s"), 0, "config key 'download.socket_timeout_s'.*allowed: > 0"),
        (
            ("analysis", "model_comparison", "diverse"),
            "M-Diverse",
            "config key 'analysis.model_comparison.diverse'.*matching",
        ),
        (
            ("analysis", "model_comparison", "instructional"),
            "howto",
            r"config key 'analysis.model_comparison.instructional': 'howto' is not a trained model; "
            r"allowed: one of diverse, instructional \(train.models\)",
        ),
        (("corpus", "target_sources"), "", "config key 'curation.enabled': true, but corpus.target_sources is empty"),
        (("curation", "baseline"), "everything", "config key 'curation.baseline': 'everything' is not a trained model"),
        (("curation", "embedding"), "clip", "config key 'curation.embedding': 'clip' is neither 'features' nor"),
        (("curation", "clips"), "events", "config key 'curation.events': empty, but curation.clips is 'events'"),
        (("curation", "budgets"), ["5 %"], "config key 'curation.budgets.0'"),
        (("curation", "budgets"), [0], "config key 'curation.budgets.0'"),
        (("curation", "budgets"), [1], "config key 'curation.budgets.0'"),
        (("curation", "budgets"), ["5%", "1"], "config key 'curation.budgets.1': budget '1': .*count >= 2"),
        (("curation", "budgets"), ["5%", "5.0%"], "name the same budget more than once [(]5pct[)]"),
        (("curation", "strategies"), ["greedy"], "config key 'curation.strategies.0'.*'random', 'heuristic'"),
    ],
)
def test_invalid_value_names_key_and_what_is_allowed(config, path, value, expected):
    bad = copy.deepcopy(config)
    node = bad
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(ConfigError, match=expected):
        validate_config(bad, SCHEMA)


def test_unknown_key_is_rejected_with_the_known_ones(config):
    bad = copy.deepcopy(config)
    bad["segments"]["lenght_s"] = 5
    with pytest.raises(ConfigError, match="'segments'.*'lenght_s' was unexpected.*candidates, length_s"):
        validate_config(bad, SCHEMA)


def test_crop_larger_than_resize_is_named(config):
    bad = copy.deepcopy(config)
    bad["features"]["2d"].update(resize=128, crop=224)
    with pytest.raises(ConfigError, match="'features.2d.crop': 224 is larger than features.2d.resize"):
        validate_config(bad, SCHEMA)


def test_crosstask_models_and_task_set_are_checked_against_the_rest(config):
    bad = copy.deepcopy(config)
    bad["crosstask"]["models"] = ["diverse", "curated/knn/5pct/seed0", "diversee"]
    bad["demo_corpus"]["crosstask"]["videos_per_task"] = 0
    with pytest.raises(ConfigError) as error:
        validate_config(bad, SCHEMA)
    assert "'crosstask.models.2': 'diversee' is not a trained model" in str(error.value)
    assert "'crosstask.models.1'" not in str(error.value)
    assert "'crosstask.enabled': true with the demo's task set" in str(error.value)
    bad["crosstask"].update(models=[], tasks="resources/crosstask/tasks_primary.txt")
    validate_config(bad, SCHEMA)


@pytest.mark.parametrize(
    "stream, settings, expected",
    [
        ("3d", {"backbone": "s3dg", "frame_size": 225}, "'features.3d.frame_size': 225 is not a multiple of 2"),
        ("3d", {"backbone": "s3dg", "fps": 25}, "'features.3d.fps': 25 is not a multiple of 2"),
        ("2d", {"backbone": "inception_v3", "resize": 299, "crop": 64}, "'features.2d.crop'.*allowed: >= 75"),
    ],
)
def test_backbone_specific_frame_rules(config, stream, settings, expected):
    """S3D-G folds 2x2x2 blocks (even frame counts and sizes); Inception-v3 needs >= 75 pixels."""
    bad = copy.deepcopy(config)
    bad["features"][stream].update(settings)
    with pytest.raises(ConfigError, match=expected):
        validate_config(bad, SCHEMA)
    # The rule belongs to the backbone: the other backbone of the stream accepts the same sizes.
    bad["features"][stream]["backbone"] = {"s3dg": "s3d_kinetics", "inception_v3": "efficientnet_lite0"}[
        settings["backbone"]
    ]
    validate_config(bad, SCHEMA)


@pytest.mark.parametrize("backbone, kept", [("s3dg", True), ("s3d_kinetics", False)])
def test_s3dg_padding_is_a_rule_param_of_the_3d_stream_only_with_s3dg(config, backbone, kept):
    """A setting reruns only jobs whose result it can change: s3dg_padding those of s3dg."""
    config["features"]["3d"]["backbone"] = backbone
    three_d = features_params(config["features"], "3d")
    assert ("s3dg_padding" in three_d["3d"]) is kept and "2d" not in three_d
    assert {"backbone", "weights", "fps", "frame_size"} <= set(three_d["3d"])
    assert "batch_size" not in three_d["3d"]  # an execution setting
    assert "3d" not in features_params(config["features"], "2d")


def test_the_youtube600k_config_merged_over_the_defaults_is_the_papers_setup(config):
    # Merged as snakemake --configfile merges it: key by key, recursively.
    update_config(config, load_yaml(Path(__file__).parents[1] / "config" / "youtube600k.yaml"))
    validate_config(config, SCHEMA)
    two_d, three_d = config["features"]["2d"], config["features"]["3d"]
    assert (two_d["backbone"], two_d["fps"], two_d["resize"], two_d["crop"]) == ("inception_v3", 1, 256, 256)
    assert (three_d["backbone"], three_d["fps"], three_d["clip_seconds"]) == ("s3dg", 30, 1)
    assert three_d["s3dg_padding"] == "port"  # the public port's, as published PyTorch features
    assert two_d["weights"] == three_d["weights"] == "pretrained"
    assert config["download"]["caption_kinds"] == ["auto"] and config["download"]["max_height"] <= 360
    assert config["corpus"]["sources"] == config["yt8m"]["sources"] and config["yt8m"]["ids"]
    assert config["asr"]["max_size"] == 61000 and config["train"]["steps"] == 300000


def integer_keys(schema, node, path=(), root=None):
    """Paths of the config values that the schema types as integer (through $ref, nested objects,
    maps of objects and arrays), found by walking config.yaml along the schema."""
    root = root or schema
    if "$ref" in schema:
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
    types = schema.get("type", [])
    if "integer" in ([types] if isinstance(types, str) else types) and type(node) is int:
        yield path
    if isinstance(node, dict):
        for key, value in node.items():
            sub = schema.get("properties", {}).get(key, schema.get("additionalProperties"))
            if isinstance(sub, dict):
                yield from integer_keys(sub, value, path + (key,), root)
    if isinstance(node, list) and isinstance(schema.get("items"), dict):
        for k, value in enumerate(node):
            yield from integer_keys(schema["items"], value, path + (k,), root)


def test_every_integer_key_refuses_a_float(config):
    """JSON Schema's integer admits 5.0 (segments.length_s: 5.0 then crashed in numpy, and
    corpus.shard_size: 16.0 in a '{:d}' format): here every integer key refuses it at start-up."""
    keys = list(integer_keys(load_yaml(SCHEMA), config))
    assert {
        ("segments", "length_s"),
        ("corpus", "shard_size"),
        ("resources", "default", "mem_mb"),
        ("demo_corpus", "width"),
    } <= set(keys) and len(keys) > 30
    bad = copy.deepcopy(config)
    for path in keys:
        node = bad
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = float(node[path[-1]])
    with pytest.raises(ConfigError) as error:
        validate_config(bad, SCHEMA)
    for path in keys:
        name = ".".join(map(str, path))
        assert f"config key '{name}': " in str(error.value), name
    value = float(config["segments"]["length_s"])
    assert (
        f"config key 'segments.length_s': {value} is not of type 'integer'; allowed: of type "
        f"integer: a whole number without a decimal point ({int(value)}, not {value})"
    ) in str(error.value)
