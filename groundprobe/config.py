"""Loading and validating the run configuration against config/schema.yaml, and reading the
curation budgets it writes (counts or percentages)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from groundprobe.settings import BLOCKS
from groundprobe.settings_base import SettingsError


# JSON Schema's "integer" is any number without a fractional part, 5.0 included, which then
# reaches code that needs an int (range(), '{:d}') and crashes there. Here an integer is an int
# as YAML reads one (5), never a float (5.0).
_TYPES = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
    "integer", lambda checker, instance: isinstance(instance, int) and not isinstance(instance, bool)
)
_Validator = jsonschema.validators.extend(jsonschema.Draft202012Validator, type_checker=_TYPES)


class ConfigError(ValueError):
    """An invalid configuration; the message names the key and what it allows."""


def load_yaml(path: str | Path) -> Any:
    """Parse a YAML file."""
    with open(path) as handle:
        return yaml.safe_load(handle)


def _key_path(error: jsonschema.ValidationError) -> str:
    return ".".join(str(part) for part in error.absolute_path) or "<top level>"


def _allowed(error: jsonschema.ValidationError) -> str:
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "enum":
        return "one of " + ", ".join(repr(v) for v in error.validator_value)
    if error.validator == "additionalProperties":
        known = sorted(error.schema.get("properties", {}))
        return "only the keys " + ", ".join(known) if known else "no other keys"
    bounds = {
        "minimum": ">= {}",
        "maximum": "<= {}",
        "exclusiveMinimum": "> {}",
        "exclusiveMaximum": "< {}",
        "minItems": "at least {} items",
        "maxItems": "at most {} items",
        "multipleOf": "a multiple of {}",
        "minLength": "at least {} characters",
        "pattern": "matching {}",
        "type": "of type {}",
        "required": "present (required)",
    }
    if error.validator == "type" and isinstance(error.instance, float) and "integer" in error.validator_value:
        example = f" ({int(error.instance)}, not {error.instance})" if error.instance.is_integer() else ""
        return f"of type {error.validator_value}: a whole number without a decimal point{example}"
    if error.validator in bounds:
        return bounds[error.validator].format(error.validator_value)
    return schema.get("description", str(error.validator))


def cross_key_problems(config: dict) -> list[str]:
    """Constraints between keys that a JSON schema cannot state."""
    problems = []
    frames = config["features"]["2d"]
    if frames["crop"] > frames["resize"]:
        problems.append(
            f"config key 'features.2d.crop': {frames['crop']} is larger than "
            f"features.2d.resize ({frames['resize']}); allowed: a crop no larger than "
            f"the resized frame"
        )
    models = config["train"]["models"]
    comparison = config["analysis"]["model_comparison"]
    for role in ("diverse", "instructional"):
        model = comparison[role]
        if model not in models:
            problems.append(
                f"config key 'analysis.model_comparison.{role}': '{model}' is not a "
                f"trained model; allowed: one of {', '.join(models)} (train.models)"
            )
    curation = config["curation"]
    if curation["enabled"] and not config["corpus"]["target_sources"]:
        problems.append(
            "config key 'curation.enabled': true, but corpus.target_sources is empty; "
            "allowed: a target corpus table when curation is on"
        )
    if curation["clips"] == "events" and not curation["events"]:
        problems.append(
            "config key 'curation.events': empty, but curation.clips is 'events'; "
            "allowed: a table of video_id, start_s, end_s"
        )
    if curation["baseline"] not in models:
        problems.append(
            f"config key 'curation.baseline': '{curation['baseline']}' is not a "
            f"trained model; allowed: one of {', '.join(models)} (train.models)"
        )
    if curation["embedding"] != "features" and curation["embedding"] not in models:
        problems.append(
            f"config key 'curation.embedding': '{curation['embedding']}' is neither "
            f"'features' nor a trained model; allowed: features or one of "
            f"{', '.join(models)} (train.models)"
        )
    crosstask = config["crosstask"]
    for k, model in enumerate(crosstask["models"]):
        if model not in models and not model.startswith("curated/"):
            problems.append(
                f"config key 'crosstask.models.{k}': '{model}' is not a trained model; "
                f"allowed: one of {', '.join(models)} (train.models) or a curated "
                f"model's name"
            )
    demo_tasks = Path(config["demo_corpus"]["out_dir"]) / "crosstask"
    if (
        crosstask["enabled"]
        and not config["demo_corpus"]["crosstask"]["videos_per_task"]
        and demo_tasks in Path(crosstask["tasks"]).parents
    ):
        problems.append(
            f"config key 'crosstask.enabled': true with the demo's task set "
            f"({crosstask['tasks']}), but demo_corpus.crosstask.videos_per_task is 0; "
            f"allowed: a task set (videos_per_task > 0, or CrossTask's release files), "
            f"or crosstask.enabled: false"
        )
    labels = []
    for k, budget in enumerate(curation["budgets"]):
        try:
            labels.append(budget_label(budget))
        except ValueError as error:
            problems.append(f"config key 'curation.budgets.{k}': {error}")
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        problems.append(
            f"config key 'curation.budgets': {curation['budgets']} name the same budget "
            f"more than once ({', '.join(repeated)}); allowed: distinct budgets"
        )
    return problems


def _settings_problems(config: dict) -> list[SettingsError]:
    """Blocks that do not build their settings (groundprobe.settings): the schema and the settings
    classes disagree on a key."""
    problems = []
    for name, settings in BLOCKS.items():
        try:
            settings.from_config(config[name], name)
        except SettingsError as error:
            problems.append(error)
    return problems


def validate_config(config: dict, schema_path: str | Path) -> None:
    """Raise :class:`ConfigError` listing every invalid key, its value and what is allowed."""
    schema = load_yaml(schema_path)
    validator = _Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    lines = [f"config key '{_key_path(e)}': {e.message}; allowed: {_allowed(e)}" for e in errors]
    if not errors:
        lines = [str(error) for error in _settings_problems(config)] or cross_key_problems(config)
    if not lines:
        return
    raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines))


MIN_BUDGET = 2  # a model trains on pairs of videos (groundprobe.model.batches.training_videos)


def _budget_spec(budget: str | int) -> tuple[float, bool]:
    """``(value, is_percent)`` of a budget such as ``"5%"``, ``"200"`` or ``200``; ValueError else."""
    text = budget.strip() if isinstance(budget, str) else budget
    if isinstance(text, str) and text.endswith("%"):
        try:
            percent = float(text[:-1])
        except ValueError:
            percent = math.nan
        if not 0 < percent <= 100:  # also rejects nan and inf
            raise ValueError(f"budget '{budget}': a percentage must lie in (0%, 100%]")
        return percent, True
    if isinstance(text, str) and text.isdigit():
        text = int(text)
    # bool is an int subclass, but True is no count of videos.
    if isinstance(text, bool) or not isinstance(text, int) or text < MIN_BUDGET:
        raise ValueError(f"budget '{budget}': expected a percentage such as '5%' or a count >= {MIN_BUDGET}")
    return text, False


def parse_budget(budget: str | int, n_source: int) -> int:
    """Number of source videos to select: ``"5%"`` -> round(0.05 * n_source), at least
    :data:`MIN_BUDGET`; a count (``200`` or ``"200"``) as given. Both are capped at ``n_source``;
    ValueError for anything else and for fewer than MIN_BUDGET source videos.
    """
    if n_source < MIN_BUDGET:
        raise ValueError(
            f"budget '{budget}': {n_source} source videos to select from; a curated model needs at least {MIN_BUDGET}"
        )
    value, is_percent = _budget_spec(budget)
    count = max(MIN_BUDGET, round(value / 100 * n_source)) if is_percent else int(value)
    return min(count, n_source)


def budget_label(budget: str | int) -> str:
    """A file-name-safe label of a budget: ``"5%"`` -> ``"5pct"``, ``"1.2%"`` -> ``"1.2pct"``,
    ``200`` -> ``"200"``. ValueError for a budget :func:`parse_budget` would refuse."""
    value, is_percent = _budget_spec(budget)
    return f"{value:g}pct" if is_percent else str(value)


# Execution-only settings, per config block (dotted paths), as the settings classes declare them
# (groundprobe.settings): how a job runs, never what it computes. They are never rule params, since
# Snakemake reruns a job whose params changed: rules pass result_params(block) and the scripts
# rebuild the whole settings with Settings.for_job.
# Two of them can touch numerics without changing what a result means, which is accepted:
#   device: CUDA runs inference in bf16 where supported (groundprobe.features.backbones.autocast_dtype), and
#     GPU and CPU kernels round differently; features.bf16_cpu, which changes CPU features on
#     purpose, is a result setting.
#   train.log_every: which steps train_log.tsv lists; the model is the same.
EXECUTION_SETTINGS: dict[str, tuple[str, ...]] = {
    name: settings.execution_paths() for name, settings in BLOCKS.items() if settings.execution_paths()
}


# Result settings of features.<stream> that one backbone only reads, by backbone: a stream with
# another backbone leaves them out of its rule's params (features_params), so that changing them
# reruns nothing they cannot change.
BACKBONE_SETTINGS: dict[str, tuple[str, ...]] = {"s3dg": ("s3dg_padding",)}


def result_params(block: dict, block_name: str, drop: tuple[str, ...] = ()) -> dict:
    """Config block ``block_name`` (``block``) without its execution settings and without the
    top-level keys ``drop``: what a rule passes as params, so that only a result setting reruns its
    jobs. Key order is config.yaml's (Snakemake compares params by their repr)."""
    return BLOCKS[block_name].from_config(block, block_name).result_params(drop)


def other_backbones_settings(backbone: str) -> tuple[str, ...]:
    """The keys of a stream's config that only backbones other than ``backbone`` read
    (:data:`BACKBONE_SETTINGS`): neither its rule's params nor its feature files carry them."""
    return tuple(key for name, keys in BACKBONE_SETTINGS.items() if name != backbone for key in keys)


def features_params(features: dict, stream: str) -> dict:
    """Rule params of feature stream ``stream`` ('2d' or '3d'): :func:`result_params` of config
    block ``features`` without the other stream and without the settings of backbones
    (:data:`BACKBONE_SETTINGS`) other than the stream's own."""
    other = {"2d": "3d", "3d": "2d"}[stream]
    params = result_params(features, "features", drop=(other,))
    for key in other_backbones_settings(params[stream]["backbone"]):
        params[stream].pop(key, None)
    return params
