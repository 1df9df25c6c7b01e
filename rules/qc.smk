rule qc:
    input:
        tables=stage_qc_tables,
        manifest="results/manifest.tsv",
        # The tables the manifest was built from: the reconciliation starts at their rows.
        sources=study_sources,
        auc_by_video="results/auc_by_video.csv",
        # The curation target's and the instructional corpus's videos, evaluated by the reported
        # model (none without them).
        other_scores=other_corpora_scores,
    output:
        qc=report("results/qc.csv", caption="../report/qc.rst", category="1. Corpus"),
        reconciliation=report(
            "results/reconciliation.tsv", caption="../report/reconciliation.rst", category="1. Corpus"
        ),
    log:
        "results/logs/qc.log",
    benchmark:
        "results/benchmarks/qc.tsv"
    conda:
        "../envs/analysis.yaml"
    resources:
        **job_resources("qc"),
    params:
        stage_order=QC_STAGES + ["evaluate"],
    script:
        "../workflow_scripts/qc.py"
