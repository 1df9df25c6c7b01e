rule qc:
    input:
        tables=stage_qc_tables,
        manifest="results/manifest.tsv",
        auc_by_video="results/auc_by_video.csv",
    output:
        qc="results/qc.csv",
        reconciliation="results/reconciliation.tsv",
    params:
        stage_order=QC_STAGES + ["evaluate"],
    log:
        "results/logs/qc.log",
    benchmark:
        "results/benchmarks/qc.tsv"
    conda:
        "../envs/groundprobe.yaml"
    script:
        "../workflow_scripts/qc.py"
