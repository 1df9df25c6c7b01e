# Config validation, wildcard constraints and every input function of the workflow.

import math
from pathlib import Path

from groundprobe.config import budget_label, features_params, result_params, validate_config
from groundprobe.input_fingerprints import NoLocalFiles, shard_input_fingerprint
from groundprobe.manifest import (
    CROSSTASK_CORPUS,
    SHARD_PREFIXES,
    SOURCE_CORPUS,
    TARGET_CORPUS,
    manifest_shards,
)
from groundprobe.weights import check_weights_available

validate_config(config, Path(workflow.basedir) / "config" / "schema.yaml")
# A configured weights file that is absent stops the run here, before any job (no torch import).
for stream_config in (config["features"]["2d"], config["features"]["3d"]):
    check_weights_available(stream_config["backbone"], stream_config["weights"])


# CUPID curation: one entry (strategy, budget label, budget as configured) per selection, and
# curation.seeds models per entry, named curated/{strategy}/{budget label}/seed{training seed},
# e.g. curated/knn/12.5pct/seed0.
CURATION_BUDGETS = {budget_label(budget): budget for budget in config["curation"]["budgets"]}
CURATION_ENTRIES = (
    [
        [strategy, label, str(budget)]
        for strategy in config["curation"]["strategies"]
        for label, budget in CURATION_BUDGETS.items()
    ]
    if config["curation"]["enabled"]
    else []
)
CURATION_SEEDS = [config["train"]["seed"] + offset for offset in range(config["curation"]["seeds"])]
CURATED_MODELS = [
    f"curated/{strategy}/{label}/seed{seed}"
    for strategy, label, _ in CURATION_ENTRIES
    for seed in CURATION_SEEDS
]

# CrossTask: the models whose step localisation is compared (crosstask.models, else the reported
# model, the model_comparison pair and every curated model).
CROSSTASK_MODELS = config["crosstask"]["models"] or list(
    dict.fromkeys(
        [config["evaluate"]["model"]]
        + (
            [
                config["analysis"]["model_comparison"]["diverse"],
                config["analysis"]["model_comparison"]["instructional"],
            ]
            if config["analysis"]["model_comparison"]["enabled"]
            else []
        )
        + CURATED_MODELS
    )
)


# The kinds of per-shard file of the studied (source) corpus that rule shard_listing lists for
# the aggregates with per-shard consumers.
SHARD_LISTINGS = {
    "asr": "results/asr/{shard}.tsv.gz",
    "segments": "results/segments/{shard}.h5",  # the per-shard segment index that train reads
    "features_2d": "results/features/2d/{shard}.h5",
    "features_3d": "results/features/3d/{shard}.h5",
}


wildcard_constraints:
    shard=r"(ct)?\d{5}",
    kind="|".join(SHARD_LISTINGS),
    model=r"[A-Za-z0-9_]+|curated/[a-z_]+/[0-9.]+(pct)?/seed[0-9]+",
    strategy=r"random|heuristic|avg_sim|knn",
    budget=r"[0-9.]+(pct)?",
    corpus=r"source|target",


# The paper's analyses (Hessel et al. 2020, sections 4-5): what `snakemake` builds beside the
# category table.
ANALYSIS_TARGETS = [
    "results/auc_by_vertical.csv",
    "results/figures/auc_by_vertical.png",
    # The per-caption tables (results/segment_auc/{shard}.parquet) are built as inputs of
    # context_effects and lexical_ols (issue 16: no corpus-wide per-caption CSV).
    "results/context_effects.csv",
    "results/lexical_ftest.csv",
    "results/correlations.csv",
]

# M_Instructional needs training videos with an instructional label; without them it is not built.
if config["analysis"]["model_comparison"]["enabled"]:
    ANALYSIS_TARGETS.append("results/model_comparison.csv")

if config["curation"]["enabled"]:
    ANALYSIS_TARGETS += [
        "results/curation_comparison.csv",
        "results/figures/curation_comparison.png",
        "results/domain_gap.csv",
    ]

if config["crosstask"]["enabled"]:
    ANALYSIS_TARGETS.append("results/crosstask_recall.csv")

QC_STAGES = ["download", "features_2d", "features_3d", "asr", "segments"]


def shard_ids(corpus=None):
    """Shard names of one corpus (source, target, crosstask) or of the study's manifest (source
    and target) when None, known once its manifest checkpoint has run. Read once per version of
    the manifest file, not once per call: at YouTube-600K scale each read of the whole table took
    seconds."""
    listing = checkpoints.crosstask_manifest if corpus == CROSSTASK_CORPUS else checkpoints.manifest
    return list(manifest_shards(listing.get().output.manifest).get(corpus, ()))


def manifest_of_shard(wildcards):
    """The manifest that lists shard ``wildcards.shard``: the CrossTask videos' or the study's."""
    if wildcards.shard.startswith(SHARD_PREFIXES[CROSSTASK_CORPUS]):
        return "results/crosstask/manifest.tsv"
    return "results/manifest.tsv"


def per_shard(pattern, corpus=SOURCE_CORPUS):
    """An input function expanding ``pattern`` over every shard of ``corpus`` (the studied source
    corpus unless told otherwise: the target's shards feed curation only)."""
    return lambda wildcards: expand(pattern, shard=shard_ids(corpus), **wildcards)


def corpus_shards(pattern):
    """An input function expanding ``pattern`` over every shard of the corpus ``wildcards.corpus``."""
    return lambda wildcards: expand(pattern, shard=shard_ids(wildcards.corpus), **wildcards)


def local_input_fingerprint(kind):
    """A params function: the content fingerprint of shard ``wildcards.shard``'s local files of
    ``kind`` (captions, videos; groundprobe.input_fingerprints), so that editing one in place
    reruns the shard's jobs that read it, and a touch or a same-bytes copy reruns nothing; a
    NoLocalFiles() marker, which Snakemake does not record, for a shard without such files."""

    def fingerprint(wildcards):
        manifest = manifest_of_shard(wildcards)
        if not Path(manifest).exists():          # a per-shard target asked for on a fresh run
            return NoLocalFiles()
        return shard_input_fingerprint(manifest, wildcards.shard, kind) or NoLocalFiles()

    return fingerprint


def stage_qc_tables(wildcards):
    """Every per-shard QC table of both corpora, the evaluation's of the reported model included."""
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


def demo_optional_outputs():
    """The demo's target corpus table and CrossTask task set as outputs of rule demo_corpus,
    when it makes them."""
    demo, outputs = config["demo_corpus"], {}
    if demo["target_domain"]["videos"]:
        outputs["target"] = f"{demo['out_dir']}/target/sources.tsv"
    if demo["crosstask"]["videos_per_task"]:
        outputs.update(
            crosstask_tasks=f"{demo['out_dir']}/crosstask/tasks_primary.txt",
            crosstask_annotations=directory(f"{demo['out_dir']}/crosstask/annotations"),
            crosstask_videos=f"{demo['out_dir']}/crosstask/videos_val.csv",
            crosstask_sources=f"{demo['out_dir']}/crosstask/sources.tsv",
        )
    return outputs


def target_sources_input(wildcards):
    """The curation target's sources table, when curation is on (corpus.target_sources)."""
    return [config["corpus"]["target_sources"]] if config["curation"]["enabled"] else []


def study_sources(wildcards):
    """The study's sources tables: corpus.sources and, when curation is on, the target's."""
    return [config["corpus"]["sources"], *target_sources_input(wildcards)]


def crosstask_sources():
    """The CrossTask videos' sources table: crosstask.sources, or the one rule crosstask_sources
    writes from the video list."""
    return config["crosstask"]["sources"] or "results/crosstask/sources.tsv"


def crosstask_annotation_files(wildcards):
    """Every annotation file in crosstask.annotations, so that editing one reruns the CrossTask
    table (Snakemake compares a folder input by the folder's own time only)."""
    return sorted(str(path) for path in Path(config["crosstask"]["annotations"]).glob("*.csv"))


def crosstask_qc_tables(wildcards):
    """The QC tables of the stages the CrossTask videos go through (download, features)."""
    return expand(
        "results/qc/{stage}/{shard}.tsv",
        stage=["download", "features_2d", "features_3d"],
        shard=shard_ids(CROSSTASK_CORPUS),
    )


def yt8m_instructional_input(wildcards):
    """The human instructional labels file of a YouTube-8M corpus, when one is configured."""
    labels = config["yt8m"]["instructional_labels"]
    return [labels] if labels else []


def curated_model(model):
    """(strategy, budget label, training seed) of a curated model's name, None for the others; a
    seed outside CURATION_SEEDS has no draw to train on and stops the run here."""
    if not model.startswith("curated/"):
        return None
    _, strategy, budget, seed = model.split("/")
    seed = int(seed.removeprefix("seed"))
    if seed not in CURATION_SEEDS:
        raise ValueError(
            f"model '{model}': curated models have seeds {CURATION_SEEDS[0]}..{CURATION_SEEDS[-1]} "
            "(train.seed + 0 .. curation.seeds - 1); raise curation.seeds for more"
        )
    return strategy, budget, seed


def curation_input(wildcards):
    """The selected videos of a curated model (curated/{strategy}/{budget}/seed{n}); none for the
    others."""
    curated = curated_model(wildcards.model)
    return [f"results/curation/{curated[0]}_{curated[1]}.tsv"] if curated else []


def curation_draw(wildcards):
    """The selection draw a curated model trains on (its seed minus train.seed); None for the
    others."""
    curated = curated_model(wildcards.model)
    return curated[2] - config["train"]["seed"] if curated else None


def training_params(wildcards):
    """Config train without the list of models (adding a model retrains no other) and without its
    execution settings (groundprobe.config.EXECUTION_SETTINGS: device, threads, checkpoint and log
    intervals); a curated model trains with the seed its name ends with."""
    params = result_params(config["train"], "train", drop=("models",))
    curated = curated_model(wildcards.model)
    if curated:
        params["seed"] = curated[2]
    return params


def video_embedding_inputs(wildcards):
    """The inputs of one shard's video embeddings (the feature streams pooled, the clip windows'
    segments or events table and, for a model's clip branch, that model)."""
    curation = config["curation"]
    by_model = curation["embedding"] != "features"
    inputs = {
        f"features_{stream}": f"results/features/{stream}/{wildcards.shard}.h5"
        for stream in ("2d", "3d")
        if by_model or stream in curation["streams"]
    }
    if curation["clips"] == "captions":
        inputs["segments"] = f"results/segments/{wildcards.shard}.tsv.gz"
    if curation["clips"] == "events":
        inputs["events"] = curation["events"]
    if by_model:
        inputs["checkpoint"] = f"results/models/{curation['embedding']}/checkpoint.pt"
    return inputs


def model_spec(wildcards):
    """Which manifest rows train ``wildcards.model`` (config train.models; a curated model trains
    on the videos of its curation table instead)."""
    if curated_model(wildcards.model):
        return {}
    models = config["train"]["models"]
    if wildcards.model not in models:
        raise ValueError(
            f"model '{wildcards.model}' is not configured; train.models has: {', '.join(models)}"
        )
    return models[wildcards.model]


def curation_params(*keys):
    """The config curation keys a rule's result depends on: ``window_s`` counts only for uniform
    clips, so that changing an unused key reruns nothing. Never an execution setting (device,
    block_videos: groundprobe.config.EXECUTION_SETTINGS), which the scripts read from the config."""
    curation = config["curation"]
    return {
        key: curation[key]
        for key in keys
        if key != "window_s" or curation["clips"] == "uniform"
    }


def job_resources(rule, threads=1, device="auto"):
    """What one job of ``rule`` asks of the scheduler, from config resources (its default entry
    for the unlisted ones): mem_mb (MB) and runtime (minutes), each grown with corpus.shard_size
    by its per-video term and multiplied by the attempt, so that a retry after running out of
    memory or time gets more. Unless the device is cpu, its GPUs too: gpu, gpu_model when
    configured, ``threads`` shared out over the GPUs, and one node, since the processes of a
    multi-GPU job meet on 127.0.0.1; each process holds its own data, so mem_mb is per GPU."""
    spec = config["resources"]["rules"].get(rule, config["resources"]["default"])
    videos = config["corpus"]["shard_size"]
    gpus = spec.get("gpu", 0) if device != "cpu" else 0
    mem_mb = math.ceil(spec["mem_mb"] + spec.get("mem_mb_per_video", 0) * videos) * max(1, gpus)
    runtime = math.ceil(spec["runtime"] + spec.get("runtime_per_video", 0) * videos)
    resources = {
        "mem_mb": lambda wildcards, attempt: mem_mb * attempt,
        "runtime": lambda wildcards, attempt: runtime * attempt,
    }
    if gpus:
        resources.update(gpu=gpus, cpus_per_gpu=max(1, threads // gpus), nodes=1)
        if config["resources"]["gpu_model"]:
            resources["gpu_model"] = config["resources"]["gpu_model"]
    return resources
