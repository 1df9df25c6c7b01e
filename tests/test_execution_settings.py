"""Execution settings rerun nothing (groundprobe.settings declares them): how a job runs
(threads, device, batch and block sizes, decoding, logging and checkpoint intervals, download
politeness, resources) is never a rule param, so changing one on a finished run plans no job.

Two checks: a dry run per setting on a copy of the finished tiny run (the rules it runs: download,
features, train, evaluate and the tables), and, for every rule of the workflow (curation, probes
and CrossTask included, which the tiny run leaves out), the params of its jobs compared between
the default config and the config with every execution setting changed at once."""

import copy
from types import SimpleNamespace

import pytest
import yaml

from groundprobe.config import EXECUTION_SETTINGS
from tiny_workflow import ROOT, TARGET, snakemake

pytestmark = pytest.mark.workflow

# A valid value other than the run's for every execution setting of config.yaml, by dotted
# path (a switch is flipped); a setting added to EXECUTION_SETTINGS and config.yaml needs one here.
CHANGED = {
    "features.device": "cpu",
    "features.threads": 3,
    "features.decode_chunk_frames": 16,
    "features.decoders": 2,
    "features.2d.batch_size": 5,
    "features.3d.batch_size": 3,
    "train.device": "cpu",
    "train.threads": 3,
    "train.checkpoint_every": 7,
    "train.log_every": 3,
    "train.loader_workers": 2,
    "curation.device": "cpu",
    "curation.block_videos": 5,
    "retrieval.query_block": 7,
    "analysis.lexical_ols.accumulator_mb": 7,
    "download.rate_limit": 100000,
    "download.sleep_s": 0,
    "download.retries": 1,
    "download.retry_backoff_s": 1,
    "download.video_attempts": 1,
    "download.socket_timeout_s": 9,
    "download.cookies": "cookies.txt",
    "download.proxy": "socks5://127.0.0.1:1080",
    "resources.gpu_model": "a100",
    "resources.allow_cpu_fallback": "flipped",
    "resources.default": {"mem_mb": 1234, "runtime": 7},
    "resources.rules": {
        "features_2d": {"gpu": 0, "mem_mb": 900, "runtime": 3},
        "train": {"gpu": 1, "mem_mb": 1100, "runtime": 11},
    },
}


def setting_paths(config: dict) -> list[str]:
    """The dotted paths of EXECUTION_SETTINGS that ``config`` has."""
    paths = []
    for block, keys in EXECUTION_SETTINGS.items():
        for key in keys:
            *parents, last = key.split(".")
            holder = config[block]
            for part in parents:
                holder = holder.get(part, {})
            if last in holder:
                paths.append(f"{block}.{key}")
    return paths


def changed_config(config: dict, paths: list[str]) -> dict:
    """A copy of ``config`` with the settings ``paths`` set to their CHANGED values."""
    changed = copy.deepcopy(config)
    for path in paths:
        *parents, key = path.split(".")
        holder = changed
        for part in parents:
            holder = holder[part]
        # A switch is flipped, whatever the run's value.
        value = not holder[key] if isinstance(holder[key], bool) else CHANGED[path]
        assert holder[key] != value, f"{path}: CHANGED holds the run's own value"
        holder[key] = value
    return changed


def test_every_execution_setting_of_the_config_has_a_changed_value():
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    assert set(setting_paths(config)) == set(CHANGED)


@pytest.mark.parametrize("path", sorted(CHANGED))
def test_a_changed_execution_setting_plans_no_job_on_a_finished_run(finished_run, path):
    config = yaml.safe_load((finished_run / "config.yaml").read_text())
    changed = finished_run / "changed.yaml"
    changed.write_text(yaml.safe_dump(changed_config(config, [path])))
    run = snakemake(finished_run, TARGET, "-n", "--configfile", str(changed))
    assert "Nothing to be done" in run.stdout, run.stdout[-3000:]


def rule_params(config: dict) -> dict[str, list[str]]:
    """repr of every rule's params (input functions called for a plain and a curated model), as
    Snakemake compares them, with the workflow loaded for ``config``."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

    wildcard_sets = [
        SimpleNamespace(
            model=model, budget="5pct", strategy="knn", shard="00000", block="00000-00000", corpus="source", kind="asr"
        )
        for model in ("diverse", "curated/knn/5pct/seed1")
    ]
    with SnakemakeApi(OutputSettings()) as api:
        workflow = api.workflow(
            snakefile=ROOT / "Snakefile",
            workdir=ROOT,
            config_settings=ConfigSettings(config=config),
            resource_settings=ResourceSettings(),
        )._workflow
        return {
            rule.name: [
                repr({name: value(wildcards) if callable(value) else value for name, value in rule.params.items()})
                for wildcards in wildcard_sets
            ]
            for rule in workflow.rules
        }


def test_no_rule_has_an_execution_setting_among_its_params():
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    before = rule_params(config)
    after = rule_params(changed_config(config, sorted(CHANGED)))
    assert {"features_2d", "train", "evaluate", "probe", "video_embeddings", "curate", "crosstask", "download"} <= set(
        before
    )
    assert {rule: params for rule, params in after.items() if params != before[rule]} == {}
    # The check itself can fail: a result setting does change params.
    result_changed = copy.deepcopy(config)
    result_changed["features"]["2d"]["crop"] = 192
    assert rule_params(result_changed)["features_2d"] != before["features_2d"]
    # A backbone's own result setting is a param of its stream's rule only with that backbone.
    assert config["features"]["3d"]["backbone"] != "s3dg"
    padding = copy.deepcopy(config)
    padding["features"]["3d"]["s3dg_padding"] = "tf_same"
    assert rule_params(padding)["features_3d"] == before["features_3d"]
    s3dg, s3dg_tf_same = copy.deepcopy(config), copy.deepcopy(padding)
    for changed in (s3dg, s3dg_tf_same):
        changed["features"]["3d"]["backbone"] = "s3dg"
    assert rule_params(s3dg)["features_3d"] != rule_params(s3dg_tf_same)["features_3d"]
