"""The base of the typed settings (groundprobe.settings): a frozen dataclass built from a config
block, back to config form, and its fields declared as result or execution settings.

Every field is a *result* setting (changing it changes what a job computes, so rules pass it as a
param and Snakemake reruns the job) unless declared with :func:`execution`: how a job runs.
Rules take their params from :meth:`Settings.result_params`, which leaves the execution settings
out, so that changing one reruns nothing (issue 8); a script rebuilds the whole settings with
:meth:`Settings.for_job`: the result fields from its params, the execution fields from the config.

A field is named like its config key; ``config_key`` names a key that is no identifier (``2d``).
Fields come in config.yaml's order, so that params keep that order (Snakemake compares params by
their repr). Defaults live in config.yaml, so :meth:`Settings.from_config` needs every key; only
the items of a list (a demo category), which config.yaml cannot give defaults, have the schema's
defaults as field defaults.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Mapping, TypeVar

S = TypeVar("S", bound="Settings")


class SettingsError(ValueError):
    """A config block that does not match its settings class (a key missing or unknown)."""


def execution() -> Any:
    """A field that only steers how a job runs: never a rule param."""
    return field(metadata={"execution": True})


def config_key(key: str) -> Any:
    """A result field whose config key is no Python identifier (``2d``)."""
    return field(metadata={"key": key})


def _key(f: dataclasses.Field) -> str:
    return f.metadata.get("key", f.name)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _settings_class(hint: Any) -> type[Settings] | None:
    return hint if isinstance(hint, type) and issubclass(hint, Settings) else None


def _from_value(hint: Any, value: Any, where: str) -> Any:
    """``value`` from the config as the field's type holds it: a nested block as its settings,
    a list as a tuple (of settings, for a list of blocks)."""
    nested = _settings_class(hint)
    if nested is not None:
        return nested.from_config(value, where)
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        members = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return value if value is None else _from_value(members[0], value, where)
    if origin is tuple and isinstance(value, (list, tuple)):
        args = typing.get_args(hint)
        item = args[0] if len(args) == 2 and args[1] is Ellipsis else None
        if item is not None and _settings_class(item) is not None:
            return tuple(_settings_class(item).from_config(v, f"{where}.{k}") for k, v in enumerate(value))
        return tuple(value)
    return value


def _to_value(value: Any, results_only: bool) -> Any:
    """A field's value back in config form (settings as dicts, tuples as lists)."""
    if isinstance(value, Settings):
        return value.to_config(results_only=results_only)
    if isinstance(value, tuple):
        return [_to_value(item, results_only) for item in value]
    return value


@dataclass(frozen=True)
class Settings:
    """Base of the settings classes: conversion from and to a config block."""

    @classmethod
    def from_config(cls: type[S], block: Mapping[str, Any], where: str = "") -> S:
        """The settings of config block ``block`` (validated against config/schema.yaml before);
        ``where``: the block's dotted path, for messages."""
        where = where or cls.__name__
        if not isinstance(block, Mapping):
            raise SettingsError(f"config key '{where}': expected a block of keys, got {block!r}")
        fields = dataclasses.fields(cls)
        unknown = sorted(set(block) - {_key(f) for f in fields})
        missing = [_key(f) for f in fields if _key(f) not in block and f.default is dataclasses.MISSING]
        if unknown or missing:
            raise SettingsError(
                f"config block '{where}': "
                + "; ".join(
                    ([f"unknown keys {unknown}"] if unknown else []) + ([f"missing keys {missing}"] if missing else [])
                )
            )
        hints = _hints(cls)
        return cls(
            **{
                f.name: _from_value(hints[f.name], block[_key(f)], f"{where}.{_key(f)}")
                for f in fields
                if _key(f) in block
            }
        )

    def to_config(self, *, results_only: bool = False) -> dict[str, Any]:
        """The block in config form, in field order; ``results_only``: without the execution
        settings (at any depth)."""
        return {
            _key(f): _to_value(getattr(self, f.name), results_only)
            for f in dataclasses.fields(self)
            if not (results_only and f.metadata.get("execution"))
        }

    def result_params(self, drop: tuple[str, ...] = ()) -> dict[str, Any]:
        """What a rule passes as params: the result settings, without the top-level keys ``drop``."""
        return {key: value for key, value in self.to_config(results_only=True).items() if key not in drop}

    @classmethod
    def for_job(cls: type[S], params: Mapping[str, Any], block: Mapping[str, Any], where: str = "") -> S:
        """The settings a script hands to the library: the result settings from its rule's
        ``params`` (:meth:`result_params`), the execution settings from config ``block``, and the
        keys a rule's params drop from ``block`` too."""
        return cls.from_config(_merge_params(params, block), where)

    @classmethod
    def execution_paths(cls) -> tuple[str, ...]:
        """Dotted config paths of the execution settings, nested blocks included."""
        paths: list[str] = []
        hints = _hints(cls)
        for f in dataclasses.fields(cls):
            nested = _settings_class(hints[f.name])
            if f.metadata.get("execution"):
                paths.append(_key(f))
            elif nested is not None:
                paths += [f"{_key(f)}.{path}" for path in nested.execution_paths()]
        return tuple(paths)


def _merge_params(params: Mapping[str, Any], block: Mapping[str, Any]) -> dict[str, Any]:
    """``block`` with the values of ``params`` over it, nested blocks merged key by key."""
    merged = dict(block)
    for key, value in params.items():
        if isinstance(value, Mapping) and isinstance(block.get(key), Mapping):
            merged[key] = _merge_params(value, block[key])
        else:
            merged[key] = value
    return merged
