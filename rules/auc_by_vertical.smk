rule auc_by_vertical:
    input:
        auc_by_video="results/auc_by_video.csv",
        # The same gate as the category table: no vertical table from a run that lost videos.
        reconciliation="results/reconciliation.tsv",
    output:
        csv=report(
            "results/auc_by_vertical.csv", caption="../report/auc_by_vertical.rst", category="2. Grounding by category"
        ),
        png=report(
            "results/figures/auc_by_vertical.png",
            caption="../report/auc_by_vertical_figure.rst",
            category="2. Grounding by category",
        ),
        svg="results/figures/auc_by_vertical.svg",
    log:
        "results/logs/auc_by_vertical.log",
    benchmark:
        "results/benchmarks/auc_by_vertical.tsv"
    conda:
        "../envs/analysis.yaml"
    resources:
        **job_resources("auc_by_vertical"),
    params:
        # The interval's settings only: evaluate.min_videos does not change this table.
        evaluate={key: config["evaluate"][key] for key in ("bootstrap", "confidence", "seed")},
        verticals=config["analysis"]["verticals"],
    script:
        "../workflow_scripts/auc_by_vertical.py"
