import copy
from pathlib import Path

import pytest

from groundprobe.config import ConfigError, load_yaml, validate_config

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


@pytest.mark.parametrize("path, value, expected", [
    (("train", "lr"), 0, "config key 'train.lr'.*allowed: > 0"),
    (("features", "2d", "backbone"), "vgg", "config key 'features.2d.backbone'.*one of 'efficientnet_lite0'"),
    (("segments", "length_s"), "five", "config key 'segments.length_s'.*of type integer"),
    (("features", "device"), "tpu", "config key 'features.device'.*one of 'auto', 'cpu', 'cuda'"),
    (("demo_corpus", "duration_s"), [20], "config key 'demo_corpus.duration_s'.*at least 2 items"),
])
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
