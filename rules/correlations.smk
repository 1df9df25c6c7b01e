rule correlations:
    input:
        auc_by_video="results/auc_by_video.csv",
        # Category means as reported (and gated by reconciliation) in the category table, every
        # category: the frequency correlation spans rare categories too.
        categories="results/auc_by_category_all.csv",
        manifest="results/manifest.tsv",
    output:
        csv=report("results/correlations.csv", caption="../report/correlations.rst",
                   category="5. Instructional videos"),
    params:
        correlations=config["analysis"]["correlations"],
    log:
        "results/logs/correlations.log",
    benchmark:
        "results/benchmarks/correlations.tsv"
    resources:
        **job_resources("correlations"),
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow_scripts/correlations.py"
