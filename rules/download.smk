rule download:
    input:
        manifest=manifest_of_shard,
    output:
        table="results/download/{shard}.tsv",
        qc="results/qc/download/{shard}.tsv",
    log:
        "results/logs/download/{shard}.log",
    benchmark:
        "results/benchmarks/download/{shard}.tsv"
    conda:
        "../envs/download.yaml"
    resources:
        **job_resources("download"),
    params:
        download_dir=config["download"]["dir"],
        # The settings that decide what a video yields. Politeness, retries, timeouts, cookies and
        # proxy (groundprobe.config.EXECUTION_SETTINGS) are read from the config by the script
        # instead: they never change the result, and as params a change would rewrite every
        # shard's table and so rerun every later stage. Listed key by key in this order, so that
        # the params recorded by existing runs stay equal whatever the config's key order.
        selection={
            key: config["download"][key] for key in ("format", "max_height", "caption_languages", "caption_kinds")
        },
        # null: one segment's length, as a shorter video yields no segment.
        min_duration_s=(
            config["segments"]["length_s"]
            if config["download"]["min_duration_s"] is None
            else config["download"]["min_duration_s"]
        ),
    script:
        "../workflow_scripts/download.py"


# Requested only when download.delete_videos_after_features is true (see pruned_video_tables).
rule prune_videos:
    input:
        download=block_shard_files("results/download/{shard}.tsv"),
        features_2d="results/features/2d/{block}",
        features_3d="results/features/3d/{block}",
    output:
        table="results/download/pruned/{block}.tsv",
    log:
        "results/logs/prune_videos/{block}.log",
    benchmark:
        "results/benchmarks/prune_videos/{block}.tsv"
    conda:
        "../envs/download.yaml"
    resources:
        **job_resources("prune_videos", shards=SHARDS_PER_BLOCK),
    params:
        download_dir=config["download"]["dir"],
    script:
        "../workflow_scripts/prune_videos.py"
