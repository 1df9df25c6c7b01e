# Segment-level analyses of the reported model (Hessel et al. 2020, §5): the per-caption table
# and the context effects of position in the video and caption length (their Fig. 3).


rule segment_auc:
    input:
        scores=per_shard(f"results/evaluate/{config['evaluate']['model']}/{{shard}}.segment_auc.tsv.gz"),
        segments=per_shard("results/segments/{shard}.tsv.gz"),
        manifest="results/manifest.tsv",
    output:
        csv="results/segment_auc.csv",
    log:
        "results/logs/segment_auc.log",
    benchmark:
        "results/benchmarks/segment_auc.tsv"
    resources:
        **job_resources("segment_auc"),
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow_scripts/segment_auc.py"
