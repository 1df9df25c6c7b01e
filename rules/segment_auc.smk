# Segment-level analyses of the reported model (Hessel et al. 2020, §5): the per-caption table,
# one Parquet file per shard, and the context effects of position in the video and caption length
# (their Fig. 3).


rule segment_auc:
    input:
        scores=f"results/evaluate/{config['evaluate']['model']}/{{shard}}.segment_auc.parquet",
        segments="results/segments/{shard}.tsv.gz",
        manifest=manifest_of_shard,
    output:
        table="results/segment_auc/{shard}.parquet",
    log:
        "results/logs/segment_auc/{shard}.log",
    benchmark:
        "results/benchmarks/segment_auc/{shard}.tsv"
    resources:
        **job_resources("segment_auc"),
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow_scripts/segment_auc.py"
