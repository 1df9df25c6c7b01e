# Config validation, wildcard constraints and every input function of the workflow.

from pathlib import Path

from groundprobe.config import validate_config
from groundprobe.io import read_table
from groundprobe.weights import check_weights_available

validate_config(config, Path(workflow.basedir) / "config" / "schema.yaml")
# A configured weights file that is absent stops the run here, before any job (no torch import).
for stream_config in (config["features"]["2d"], config["features"]["3d"]):
    check_weights_available(stream_config["backbone"], stream_config["weights"])


wildcard_constraints:
    shard=r"\d{5}",
    model=r"[A-Za-z0-9_]+",


# The paper's analyses (Hessel et al. 2020, sections 4-5): what `snakemake` builds beside the
# category table.
ANALYSIS_TARGETS = [
    "results/auc_by_vertical.csv",
    "results/figures/auc_by_vertical.png",
    "results/segment_auc.csv",
    "results/context_effects.csv",
    "results/lexical_ftest.csv",
    "results/correlations.csv",
]

# M_Instructional needs training videos with an instructional label; without them it is not built.
if config["analysis"]["model_comparison"]["enabled"]:
    ANALYSIS_TARGETS.append("results/model_comparison.csv")

QC_STAGES = ["download", "features_2d", "features_3d", "asr", "segments"]


def shard_ids(wildcards=None):
    """Shard names of the manifest (known once the manifest checkpoint has run)."""
    manifest = checkpoints.manifest.get().output.manifest
    return [f"{shard:05d}" for shard in sorted(read_table(manifest)["shard"].unique())]


def per_shard(pattern):
    """An input function expanding ``pattern`` over every shard of the manifest."""
    return lambda wildcards: expand(pattern, shard=shard_ids(), **wildcards)


def stage_qc_tables(wildcards):
    """Every per-shard QC table, the evaluation's of the reported model included."""
    shards = shard_ids()
    tables = expand("results/qc/{stage}/{shard}.tsv", stage=QC_STAGES, shard=shards)
    return tables + expand(
        "results/qc/evaluate/{model}/{shard}.tsv", model=config["evaluate"]["model"], shard=shards
    )


def pruned_video_tables(wildcards):
    """Per-shard tables of deleted videos, only when download.delete_videos_after_features is on."""
    if not config["download"]["delete_videos_after_features"]:
        return []
    return expand("results/download/pruned/{shard}.tsv", shard=shard_ids())


def weights_input(stream):
    """The stream's weights file as an input when it is a path, so that replacing it re-extracts."""
    weights = config["features"][stream]["weights"]
    return [] if weights in ("pretrained", "random") else [weights]


def yt8m_instructional_input(wildcards):
    """The human instructional labels file of a YouTube-8M corpus, when one is configured."""
    labels = config["yt8m"]["instructional_labels"]
    return [labels] if labels else []


def model_spec(wildcards):
    """Which manifest rows train ``wildcards.model`` (config train.models)."""
    models = config["train"]["models"]
    if wildcards.model not in models:
        raise ValueError(
            f"model '{wildcards.model}' is not configured; train.models has: {', '.join(models)}"
        )
    return models[wildcards.model]
