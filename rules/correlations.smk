rule correlations:
    input:
        auc_by_video="results/auc_by_video.csv",
        # Category means as reported (and gated by reconciliation) in the category table, every
        # category: the frequency correlation spans rare categories too.
        categories="results/auc_by_category_all.csv",
        manifest="results/manifest.tsv",
    output:
        csv=report("results/correlations.csv", caption="../report/correlations.rst", category="5. Instructional videos"),
    log:
        "results/logs/correlations.log",
    benchmark:
        "results/benchmarks/correlations.tsv"
    conda:
        "../envs/analysis.yaml"
    resources:
        **job_resources("correlations"),
    params:
        correlations=config["analysis"]["correlations"],
    script:
        "../workflow_scripts/correlations.py"
