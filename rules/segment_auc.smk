# Segment-level analyses of the reported model (Hessel et al. 2020, §5): the per-caption table,
# one Parquet file per shard, and the context effects of position in the video and caption length
# (their Fig. 3).


rule segment_auc:
    input:
        scores=f"results/evaluate/{config['evaluate']['model']}/{{block}}",
        segments="results/segments/{block}",
        manifest=manifest_of_shard,
    output:
        # {shard}.parquet per shard
        table=directory("results/segment_auc/{block}"),
    log:
        "results/logs/segment_auc/{block}.log",
    benchmark:
        "results/benchmarks/segment_auc/{block}.tsv"
    conda:
        "../envs/analysis.yaml"
    resources:
        **job_resources("segment_auc", shards=SHARDS_PER_BLOCK),
    script:
        "../workflow_scripts/segment_auc.py"
