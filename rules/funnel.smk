rule funnel:
    input:
        manifest="results/manifest.tsv",
        downloads=per_shard("results/download/{shard}.tsv"),
        qc="results/qc.csv",
        auc_by_video="results/auc_by_video.csv",
    output:
        csv=report("results/funnel.csv", caption="../report/funnel.rst", category="1. Corpus"),
    log:
        "results/logs/funnel.log",
    benchmark:
        "results/benchmarks/funnel.tsv"
    conda:
        "../envs/analysis.yaml"
    resources:
        **job_resources("funnel"),
    script:
        "../workflow_scripts/funnel.py"
