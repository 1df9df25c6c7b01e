# CrossTask step localisation (Zhukov et al. 2019), the check of Hessel et al.'s supplement: the
# models localise each step of a task in the CrossTask videos, zero-shot.


# Used when crosstask.sources is "": the listed videos of the known tasks, fetched with yt-dlp.
rule crosstask_sources:
    input:
        tasks=config["crosstask"]["tasks"],
        videos=config["crosstask"]["videos"],
    output:
        sources="results/crosstask/sources.tsv",
    log:
        "results/logs/crosstask_sources.log",
    benchmark:
        "results/benchmarks/crosstask_sources.tsv"
    resources:
        **job_resources("crosstask_sources"),
    conda:
        # groundprobe.crosstask, which reads the release's files, embeds the steps with torch too.
        "../envs/torch.yaml"
    script:
        "../workflow_scripts/crosstask_sources.py"


rule crosstask:
    input:
        checkpoints=expand("results/models/{model}/checkpoint.pt", model=CROSSTASK_MODELS),
        vocab="results/vocab.tsv",
        features_2d=per_shard("results/features/2d/{shard}.h5", CROSSTASK_CORPUS),
        features_3d=per_shard("results/features/3d/{shard}.h5", CROSSTASK_CORPUS),
        # The download and feature QC of the CrossTask videos: their ledger.
        stage_qc=crosstask_qc_tables,
        manifest="results/manifest.tsv",
        tasks=config["crosstask"]["tasks"],
        annotations=config["crosstask"]["annotations"],
        videos=config["crosstask"]["videos"],
    output:
        recall=report("results/crosstask_recall.csv", caption="../report/crosstask_recall.rst",
                      category="7. CrossTask"),
        by_video="results/crosstask/recall_by_video.csv",
        qc="results/crosstask/qc.csv",
    params:
        models=CROSSTASK_MODELS,
        window_s=config["crosstask"]["window_s"],
        stride_s=config["crosstask"]["stride_s"],
        prediction=config["crosstask"]["prediction"],
        device=config["train"]["device"],
    log:
        "results/logs/crosstask.log",
    benchmark:
        "results/benchmarks/crosstask.tsv"
    threads: config["train"]["threads"]
    resources:
        **job_resources("crosstask", config["train"]["threads"], config["train"]["device"]),
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow_scripts/crosstask.py"
