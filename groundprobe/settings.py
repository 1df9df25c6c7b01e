"""Typed settings: one frozen dataclass per config block, built from the validated config once and
passed into the library instead of dicts.

Every field is a *result* setting (changing it changes what a job computes, so rules pass it as a
param and Snakemake reruns the job) unless declared with :func:`execution`: how a job runs
(threads, device, batch and block sizes, decoding, intervals, download politeness, what a job asks
of the scheduler). Rules take their params from :meth:`Settings.result_params`, which leaves the
execution settings out, so that changing one reruns nothing (issue 8); a script rebuilds the whole
settings with :meth:`Settings.for_job`: the result fields from its params, the execution fields
from the config.

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


def execution(key: str | None = None) -> Any:
    """A field that only steers how a job runs: never a rule param."""
    return field(metadata={"execution": True, **({"key": key} if key else {})})


def config_key(key: str, *, execution_only: bool = False) -> Any:
    """A field whose config key is no Python identifier (``2d``)."""
    return field(metadata={"key": key, "execution": execution_only})


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
            raise SettingsError(f"config block '{where}': " + "; ".join(
                ([f"unknown keys {unknown}"] if unknown else []) + ([f"missing keys {missing}"] if missing else [])))
        hints = _hints(cls)
        return cls(**{f.name: _from_value(hints[f.name], block[_key(f)], f"{where}.{_key(f)}")
                      for f in fields if _key(f) in block})

    def to_config(self, *, results_only: bool = False) -> dict[str, Any]:
        """The block in config form, in field order; ``results_only``: without the execution
        settings (at any depth)."""
        return {_key(f): _to_value(getattr(self, f.name), results_only) for f in dataclasses.fields(self)
                if not (results_only and f.metadata.get("execution"))}

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


# -- the config blocks, in config.yaml's order (units and meanings: config.yaml's comments) ---------

@dataclass(frozen=True)
class CorpusSettings(Settings):
    sources: str
    shard_size: int
    target_sources: str
    instructional_sources: str


@dataclass(frozen=True)
class Yt8mSettings(Settings):
    ids: str
    instructional_labels: str
    sources: str


@dataclass(frozen=True)
class DemoCategory(Settings):
    label: str
    rate: float
    length_effect: str = "positive"  # config/schema.yaml's default


@dataclass(frozen=True)
class DemoTargetDomain(Settings):
    videos: int
    label: str
    rate: float
    source_videos: int


@dataclass(frozen=True)
class DemoCrossTask(Settings):
    videos_per_task: int


@dataclass(frozen=True)
class DemoInstructionalCorpus(Settings):
    videos: int
    rate: float


@dataclass(frozen=True)
class DemoCorpusSettings(Settings):
    out_dir: str
    seed: int
    videos_per_category: int
    categories: tuple[DemoCategory, ...]
    duration_s: tuple[float, float]
    scene_s: tuple[float, float]
    width: int
    height: int
    fps: int
    phrase_s: float
    validation_fraction: float
    bad_inputs: bool
    target_domain: DemoTargetDomain
    crosstask: DemoCrossTask
    instructional_corpus: DemoInstructionalCorpus


@dataclass(frozen=True)
class DownloadBlock(Settings):
    """Config block ``download``; the library's :class:`groundprobe.ingest.download_plan.DownloadSettings`
    is built from it (with the job's own minimum duration and caption need)."""

    dir: str
    format: str
    max_height: int
    caption_languages: tuple[str, ...]
    caption_kinds: tuple[str, ...]
    min_duration_s: float | None
    rate_limit: int = execution()
    sleep_s: float = execution()
    retries: int = execution()
    retry_backoff_s: float = execution()
    video_attempts: int = execution()
    socket_timeout_s: float = execution()
    cookies: str = execution()
    proxy: str = execution()
    delete_videos_after_features: bool


@dataclass(frozen=True)
class Truncation(Settings):
    max_missing_s: float
    max_missing_fraction: float


@dataclass(frozen=True)
class Stream2d(Settings):
    backbone: str
    weights: str
    fps: int
    resize: int
    crop: int
    batch_size: int = execution()


@dataclass(frozen=True)
class Stream3d(Settings):
    backbone: str
    weights: str
    fps: int
    clip_seconds: int
    frame_size: int
    batch_size: int = execution()
    s3dg_padding: str


@dataclass(frozen=True)
class FeatureSettings(Settings):
    device: str = execution()
    threads: int = execution()
    bf16_cpu: bool
    decode_chunk_frames: int = execution()
    decoders: int = execution()
    truncation: Truncation
    two_d: Stream2d = config_key("2d")
    three_d: Stream3d = config_key("3d")

    def stream(self, name: str) -> Stream2d | Stream3d:
        """The settings of feature stream ``name`` ('2d' or '3d')."""
        return {"2d": self.two_d, "3d": self.three_d}[name]


@dataclass(frozen=True)
class LanguageSettings(Settings):
    min_confidence: float
    min_chars: int


@dataclass(frozen=True)
class AsrSettings(Settings):
    min_count: int
    max_size: int
    language: LanguageSettings


@dataclass(frozen=True)
class SegmentSettings(Settings):
    length_s: int
    candidates: int
    max_tokens: int
    seed: int


@dataclass(frozen=True)
class ModelSettings(Settings):
    word_dim: int
    joint_dim: int


@dataclass(frozen=True)
class TrainSettings(Settings):
    models: Mapping[str, Mapping[str, Any]]  # model name -> which manifest rows it trains on
    steps: int
    batch_videos: int
    segments_per_video: int
    lr: float
    margin: float
    checkpoint_every: int = execution()
    log_every: int = execution()
    seed: int
    device: str = execution()
    threads: int = execution()
    loader_workers: int = execution()


@dataclass(frozen=True)
class EvaluateSettings(Settings):
    model: str
    bootstrap: int
    confidence: float
    seed: int
    min_videos: int


@dataclass(frozen=True)
class HeuristicSettings(Settings):
    genres: Mapping[str, str]
    target_genre: str


@dataclass(frozen=True)
class CurationSettings(Settings):
    enabled: bool
    baseline: str
    clips: str
    window_s: float
    events: str
    embedding: str
    streams: tuple[str, ...]
    strategies: tuple[str, ...]
    budgets: tuple[str | int, ...]
    knn_pool_factor: float
    seeds: int
    heuristic: HeuristicSettings
    block_videos: int = execution()
    device: str = execution()
    seed: int


@dataclass(frozen=True)
class RetrievalSettings(Settings):
    clips_per_video: int
    max_items: int | None
    seed: int
    query_block: int = execution()
    figure_metric: str


@dataclass(frozen=True)
class HowTo100MSettings(Settings):
    videos: str
    captions: str
    videos_dir: str
    size: int | None


@dataclass(frozen=True)
class CrossTaskSettings(Settings):
    enabled: bool
    tasks: str
    annotations: str
    videos: str
    sources: str
    window_s: float
    stride_s: float
    prediction: str
    models: tuple[str, ...]


@dataclass(frozen=True)
class VerticalSettings(Settings):
    top: int


@dataclass(frozen=True)
class ModelComparisonSettings(Settings):
    enabled: bool
    diverse: str
    instructional: str


@dataclass(frozen=True)
class CorrelationSettings(Settings):
    frequency_split: str


@dataclass(frozen=True)
class ContextEffectSettings(Settings):
    categories: tuple[str, ...]
    max_categories: int
    position_bins: int
    token_bins: int


@dataclass(frozen=True)
class LexicalOlsSettings(Settings):
    min_videos: int
    max_words: int
    top_words: int
    split: str
    position_bins: int
    min_captions: int
    cluster_by_video: bool
    accumulator_mb: int = execution()


@dataclass(frozen=True)
class AnalysisSettings(Settings):
    verticals: VerticalSettings
    model_comparison: ModelComparisonSettings
    correlations: CorrelationSettings
    context_effects: ContextEffectSettings
    lexical_ols: LexicalOlsSettings


@dataclass(frozen=True)
class ResourceSettings(Settings):
    """Config block ``resources``: what jobs ask of the scheduler, all execution."""

    gpu_model: str = execution()
    allow_cpu_fallback: bool = execution()
    default: Mapping[str, float] = execution()
    rules: Mapping[str, Mapping[str, float]] = execution()


# Config block name -> its settings class.
BLOCKS: dict[str, type[Settings]] = {
    "corpus": CorpusSettings, "yt8m": Yt8mSettings, "demo_corpus": DemoCorpusSettings,
    "download": DownloadBlock, "features": FeatureSettings, "asr": AsrSettings,
    "segments": SegmentSettings, "model": ModelSettings, "train": TrainSettings,
    "evaluate": EvaluateSettings, "curation": CurationSettings, "retrieval": RetrievalSettings,
    "howto100m": HowTo100MSettings, "crosstask": CrossTaskSettings, "analysis": AnalysisSettings,
    "resources": ResourceSettings,
}

