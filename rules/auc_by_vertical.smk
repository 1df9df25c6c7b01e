rule auc_by_vertical:
    input:
        auc_by_video="results/auc_by_video.csv",
        # The same gate as the category table: no vertical table from a run that lost videos.
        reconciliation="results/reconciliation.tsv",
    output:
        csv="results/auc_by_vertical.csv",
        png="results/figures/auc_by_vertical.png",
        svg="results/figures/auc_by_vertical.svg",
    params:
        evaluate=config["evaluate"],
        verticals=config["analysis"]["verticals"],
    log:
        "results/logs/auc_by_vertical.log",
    benchmark:
        "results/benchmarks/auc_by_vertical.tsv"
    conda:
        "../envs/groundprobe.yaml"
    script:
        "../workflow_scripts/auc_by_vertical.py"
