rule download:
    input:
        manifest="results/manifest.tsv",
    output:
        table="results/download/{shard}.tsv",
        qc="results/qc/download/{shard}.tsv",
    params:
        download_dir=config["download"]["dir"],
    log:
        "results/logs/download/{shard}.log",
    benchmark:
        "results/benchmarks/download/{shard}.tsv"
    conda:
        "../envs/groundprobe.yaml"
    script:
        "../workflow_scripts/download.py"
