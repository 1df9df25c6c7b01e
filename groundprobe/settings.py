"""Typed settings: one frozen dataclass per config block, built from the validated config once and
passed into the library instead of dicts. Each declares which of its fields only steer execution
(:func:`~groundprobe.settings_base.execution`: threads, device, batch and block sizes, decoding,
intervals, download politeness, what a job asks of the scheduler); the others define results.
How they become rule params and job settings: groundprobe.settings_base.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from groundprobe.settings_base import Settings, config_key, execution


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
    "corpus": CorpusSettings,
    "yt8m": Yt8mSettings,
    "demo_corpus": DemoCorpusSettings,
    "download": DownloadBlock,
    "features": FeatureSettings,
    "asr": AsrSettings,
    "segments": SegmentSettings,
    "model": ModelSettings,
    "train": TrainSettings,
    "evaluate": EvaluateSettings,
    "curation": CurationSettings,
    "retrieval": RetrievalSettings,
    "howto100m": HowTo100MSettings,
    "crosstask": CrossTaskSettings,
    "analysis": AnalysisSettings,
    "resources": ResourceSettings,
}
