# One listing per kind of per-shard file that an aggregate with per-block consumers reads (vocab,
# train): such a job depends on the listing, not on thousands of block folders (see
# groundprobe.manifest.read_shard_listing for why the DAG needs it). The listing job depends on
# every block folder, so rewriting one of them rewrites the listing and reruns its readers.


rule shard_listing:
    input:
        # The studied (source) corpus only: the target's shards feed curation, not vocab or train.
        blocks=lambda wildcards: expand(SHARD_LISTINGS[wildcards.kind][0], block=block_ids(SOURCE_CORPUS)),
    output:
        listing="results/shards/{kind}.txt",
    params:
        suffix=lambda wildcards: SHARD_LISTINGS[wildcards.kind][1],
    log:
        "results/logs/shard_listing/{kind}.log",
    localrule: True
    resources:
        **job_resources("shard_listing"),
    conda:
        "../envs/download.yaml"
    script:
        "../workflow_scripts/shard_listing.py"
