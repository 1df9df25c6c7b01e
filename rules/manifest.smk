checkpoint manifest:
    input:
        sources=config["corpus"]["sources"],
        target=target_sources_input,
    output:
        manifest="results/manifest.tsv",
    params:
        shard_size=config["corpus"]["shard_size"],
    log:
        "results/logs/manifest.log",
    benchmark:
        "results/benchmarks/manifest.tsv"
    resources:
        **job_resources("manifest"),
    conda:
        "../envs/download.yaml"
    script:
        "../workflow_scripts/manifest.py"
