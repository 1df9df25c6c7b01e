rule evaluate:
    input:
        checkpoint="results/models/{model}/checkpoint.pt",
        segments="results/segments/{block}",
        features_2d="results/features/2d/{block}",
        features_3d="results/features/3d/{block}",
    output:
        # per shard: {shard}.auc.tsv and {shard}.segment_auc.parquet
        scores=directory("results/evaluate/{model}/{block}"),
        qc="results/qc/evaluate/{model}/{block}.tsv",
    log:
        "results/logs/evaluate/{model}/{block}.log",
    benchmark:
        "results/benchmarks/evaluate/{model}/{block}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: config["train"]["threads"]
    resources:
        **job_resources("evaluate", config["train"]["threads"], config["train"]["device"], shards=SHARDS_PER_BLOCK),
    script:
        "../workflow_scripts/evaluate.py"


rule auc_by_video:
    input:
        scores=per_block(f"results/evaluate/{config['evaluate']['model']}/{{block}}"),
        manifest="results/manifest.tsv",
    output:
        csv=report(
            "results/auc_by_video.csv", caption="../report/auc_by_video.rst", category="2. Grounding by category"
        ),
    log:
        "results/logs/auc_by_video.log",
    benchmark:
        "results/benchmarks/auc_by_video.tsv"
    conda:
        "../envs/analysis.yaml"
    resources:
        **job_resources("auc_by_video"),
    script:
        "../workflow_scripts/auc_by_video.py"


rule auc_by_category:
    input:
        auc_by_video="results/auc_by_video.csv",
        # The reconciliation gate: no category table from a run that lost videos.
        reconciliation="results/reconciliation.tsv",
        # Videos are deleted once a shard's features exist, if so configured.
        pruned=pruned_video_tables,
    output:
        csv=report(
            "results/auc_by_category.csv", caption="../report/auc_by_category.rst", category="2. Grounding by category"
        ),
        all=report(
            "results/auc_by_category_all.csv",
            caption="../report/auc_by_category_all.rst",
            category="2. Grounding by category",
        ),
    log:
        "results/logs/auc_by_category.log",
    benchmark:
        "results/benchmarks/auc_by_category.tsv"
    conda:
        "../envs/analysis.yaml"
    resources:
        **job_resources("auc_by_category"),
    params:
        evaluate=config["evaluate"],
    script:
        "../workflow_scripts/auc_by_category.py"
