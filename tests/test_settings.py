"""The typed settings of groundprobe.settings against config.yaml and the schema: every block
builds, goes back to exactly config.yaml's block (values, types and key order: rule params are
compared by their repr), and declares as execution settings exactly the keys that rerun nothing."""

import copy
import dataclasses
from pathlib import Path

import pytest

from groundprobe.config import (
    EXECUTION_SETTINGS,
    ConfigError,
    features_params,
    load_yaml,
    result_params,
    validate_config,
)
from groundprobe.settings import BLOCKS, DemoCategory, FeatureSettings, Stream2d, TrainSettings
from groundprobe.settings_base import Settings, SettingsError

ROOT = Path(__file__).resolve().parents[1]

# The execution settings as issue 8 listed them (dotted paths per block), written out here so that
# a field that loses or gains its execution mark fails.
EXPECTED_EXECUTION = {
    "features": {"device", "threads", "decode_chunk_frames", "decoders", "2d.batch_size", "3d.batch_size"},
    "train": {"device", "threads", "checkpoint_every", "log_every", "loader_workers"},
    "curation": {"device", "block_videos"},
    "retrieval": {"query_block"},
    "analysis": {"lexical_ols.accumulator_mb"},
    "download": {
        "rate_limit",
        "sleep_s",
        "retries",
        "retry_backoff_s",
        "video_attempts",
        "socket_timeout_s",
        "cookies",
        "proxy",
    },
    "resources": {"gpu_model", "allow_cpu_fallback", "default", "rules"},
}


@pytest.fixture(scope="module")
def config():
    return load_yaml(ROOT / "config.yaml")


def block_settings(config: dict, name: str) -> Settings:
    return BLOCKS[name].from_config(config[name], name)


def test_every_config_block_has_a_settings_class(config):
    assert set(BLOCKS) == set(config)


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_a_block_goes_back_to_config_yaml_exactly(config, name):
    settings = block_settings(config, name)
    back = settings.to_config()
    assert back == config[name]
    assert repr(back) == repr(config[name])  # key order and value types too
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(settings, dataclasses.fields(settings)[0].name, None)


def test_execution_settings_are_declared_as_issue_8_lists_them():
    assert {name: set(paths) for name, paths in EXECUTION_SETTINGS.items()} == EXPECTED_EXECUTION


def test_typed_values(config):
    features = block_settings(config, "features")
    assert isinstance(features, FeatureSettings) and isinstance(features.stream("2d"), Stream2d)
    assert features.stream("3d").s3dg_padding == config["features"]["3d"]["s3dg_padding"]
    demo = block_settings(config, "demo_corpus")
    assert all(isinstance(category, DemoCategory) for category in demo.categories)
    assert [c.label for c in demo.categories] == [c["label"] for c in config["demo_corpus"]["categories"]]
    assert demo.duration_s == tuple(config["demo_corpus"]["duration_s"])
    train = block_settings(config, "train")
    assert isinstance(train, TrainSettings) and train.models == config["train"]["models"]


def test_result_params_leave_out_the_execution_settings_at_any_depth(config):
    features = result_params(config["features"], "features", drop=("3d",))
    assert features == {
        "bf16_cpu": False,
        "truncation": config["features"]["truncation"],
        "2d": {key: value for key, value in config["features"]["2d"].items() if key != "batch_size"},
    }
    assert config["features"]["2d"]["batch_size"] == 32  # the input is left as it was
    assert list(result_params(config["train"], "train", drop=("models",))) == [
        "steps",
        "batch_videos",
        "segments_per_video",
        "lr",
        "margin",
        "seed",
    ]
    lexical = result_params(config["analysis"], "analysis")["lexical_ols"]
    assert "accumulator_mb" not in lexical and lexical["min_videos"] == config["analysis"]["lexical_ols"]["min_videos"]


def test_for_job_takes_results_from_params_and_execution_from_the_config(config):
    params = result_params(config["train"], "train", drop=("models",)) | {"seed": 7}
    block = copy.deepcopy(config["train"]) | {"threads": 5, "seed": 0}
    train = TrainSettings.for_job(params, block, "train")
    assert (train.seed, train.threads, train.models) == (7, 5, config["train"]["models"])
    features = FeatureSettings.for_job(
        features_params(config["features"], "2d"), copy.deepcopy(config["features"]) | {"decoders": 3}, "features"
    )
    assert features.decoders == 3 and features.two_d.batch_size == config["features"]["2d"]["batch_size"]
    assert features.three_d == block_settings(config, "features").three_d  # the dropped stream: the config's


def test_a_missing_or_unknown_key_names_the_block(config):
    block = copy.deepcopy(config["segments"])
    del block["seed"]
    with pytest.raises(SettingsError, match=r"segments.*missing keys \['seed'\]"):
        BLOCKS["segments"].from_config(block, "segments")
    nested = copy.deepcopy(config["features"])
    nested["2d"]["stride"] = 2
    with pytest.raises(SettingsError, match=r"features\.2d.*unknown keys \['stride'\]"):
        BLOCKS["features"].from_config(nested, "features")


def test_validate_config_reports_a_block_the_settings_cannot_build(config, monkeypatch):
    @dataclasses.dataclass(frozen=True)
    class Narrower(Settings):
        length_s: int

    monkeypatch.setitem(BLOCKS, "segments", Narrower)
    with pytest.raises(ConfigError, match=r"segments.*unknown keys \['candidates', 'max_tokens', 'seed'\]"):
        validate_config(copy.deepcopy(config), ROOT / "config" / "schema.yaml")


def test_a_demo_category_without_length_effect_gets_the_schemas_default(config):
    block = copy.deepcopy(config["demo_corpus"])
    block["categories"] = [{"label": "Cooking", "rate": 0.8}]
    validate_config(config | {"demo_corpus": block}, ROOT / "config" / "schema.yaml")
    (category,) = BLOCKS["demo_corpus"].from_config(block, "demo_corpus").categories
    assert category == DemoCategory("Cooking", 0.8, "positive")
