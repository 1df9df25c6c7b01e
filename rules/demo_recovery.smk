rule demo_recovery:
    input:
        truth=PLANTED_TRUTH,
        # The segments the reported model was evaluated on: the oracle scores the same pairs.
        segments=per_block("results/segments/{block}"),
        auc_by_video="results/auc_by_video.csv",
    output:
        csv=report(
            "results/demo_recovery.csv", caption="../report/demo_recovery.rst", category="2. Grounding by category"
        ),
        videos="results/demo_recovery_videos.csv",
    log:
        "results/logs/demo_recovery.log",
    benchmark:
        "results/benchmarks/demo_recovery.tsv"
    conda:
        "../envs/analysis.yaml"
    resources:
        **job_resources("demo_recovery"),
    script:
        "../workflow_scripts/demo_recovery.py"
