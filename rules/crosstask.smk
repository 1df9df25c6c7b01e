# CrossTask step localisation (Zhukov et al. 2019), the check of Hessel et al.'s supplement: the
# models localise each step of a task in the CrossTask videos, zero-shot.


# Used when crosstask.sources is "": the listed videos, fetched with yt-dlp.
rule crosstask_sources:
    input:
        videos=config["crosstask"]["videos"],
    output:
        sources="results/crosstask/sources.tsv",
    log:
        "results/logs/crosstask_sources.log",
    benchmark:
        "results/benchmarks/crosstask_sources.tsv"
    conda:
        "../envs/analysis.yaml"
    resources:
        **job_resources("crosstask_sources"),
    script:
        "../workflow_scripts/crosstask_sources.py"


# The CrossTask videos' own manifest and shards (ct00000...): the study's manifest, and so its
# jobs, never change with CrossTask.
checkpoint crosstask_manifest:
    input:
        sources=crosstask_sources(),
        # A video of the study is refused.
        study="results/manifest.tsv",
    output:
        manifest="results/crosstask/manifest.tsv",
    log:
        "results/logs/crosstask_manifest.log",
    benchmark:
        "results/benchmarks/crosstask_manifest.tsv"
    conda:
        "../envs/download.yaml"
    resources:
        **job_resources("crosstask_manifest"),
    params:
        shard_size=config["corpus"]["shard_size"],
    script:
        "../workflow_scripts/crosstask_manifest.py"


rule crosstask:
    input:
        checkpoints=expand("results/models/{model}/checkpoint.pt", model=CROSSTASK_MODELS),
        vocab="results/vocab.tsv",
        features_2d=per_block("results/features/2d/{block}", CROSSTASK_CORPUS),
        features_3d=per_block("results/features/3d/{block}", CROSSTASK_CORPUS),
        # The download and feature QC of the CrossTask videos: their ledger.
        stage_qc=crosstask_qc_tables,
        manifest="results/crosstask/manifest.tsv",
        tasks=config["crosstask"]["tasks"],
        annotations=config["crosstask"]["annotations"],
        annotation_files=crosstask_annotation_files,
        videos=config["crosstask"]["videos"],
    output:
        recall=report("results/crosstask_recall.csv", caption="../report/crosstask_recall.rst", category="7. CrossTask"),
        by_video="results/crosstask/recall_by_video.csv",
        qc="results/crosstask/qc.csv",
    log:
        "results/logs/crosstask.log",
    benchmark:
        "results/benchmarks/crosstask.tsv"
    conda:
        "../envs/torch.yaml"
    threads: config["train"]["threads"]
    resources:
        **job_resources("crosstask", config["train"]["threads"], config["train"]["device"]),
    params:
        models=CROSSTASK_MODELS,
        window_s=config["crosstask"]["window_s"],
        stride_s=config["crosstask"]["stride_s"],
        prediction=config["crosstask"]["prediction"],
    script:
        "../workflow_scripts/crosstask.py"
