"""Loading and validating the run configuration against config/schema.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import yaml


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
        "minimum": ">= {}", "maximum": "<= {}", "exclusiveMinimum": "> {}",
        "exclusiveMaximum": "< {}", "minItems": "at least {} items", "maxItems": "at most {} items",
        "multipleOf": "a multiple of {}", "minLength": "at least {} characters",
        "pattern": "matching {}", "type": "of type {}", "required": "present (required)",
    }
    if error.validator in bounds:
        return bounds[error.validator].format(error.validator_value)
    return schema.get("description", str(error.validator))


def cross_key_problems(config: dict) -> list[str]:
    """Constraints between keys that a JSON schema cannot state."""
    problems = []
    frames = config["features"]["2d"]
    if frames["crop"] > frames["resize"]:
        problems.append(f"config key 'features.2d.crop': {frames['crop']} is larger than "
                        f"features.2d.resize ({frames['resize']}); allowed: a crop no larger than "
                        f"the resized frame")
    models = config["train"]["models"]
    comparison = config["analysis"]["model_comparison"]
    for role in ("diverse", "instructional"):
        model = comparison[role]
        if model not in models:
            problems.append(f"config key 'analysis.model_comparison.{role}': '{model}' is not a "
                            f"trained model; allowed: one of {', '.join(models)} (train.models)")
    return problems


def validate_config(config: dict, schema_path: str | Path) -> None:
    """Raise :class:`ConfigError` listing every invalid key, its value and what is allowed."""
    schema = load_yaml(schema_path)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    lines = [
        f"config key '{_key_path(e)}': {e.message}; allowed: {_allowed(e)}" for e in errors
    ]
    if not errors:
        lines = cross_key_problems(config)
    if not lines:
        return
    raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines))
