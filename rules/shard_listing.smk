# One listing per kind of per-shard file that an aggregate with per-shard consumers reads (vocab,
# train): such a job depends on the listing, not on thousands of shard files (see
# groundprobe.manifest.read_shard_listing for why the DAG needs it). The listing job depends on
# every shard file, so rewriting one of them rewrites the listing and reruns its readers.


rule shard_listing:
    input:
        # The studied (source) corpus only: the target's shards feed curation, not vocab or train.
        files=lambda wildcards: expand(SHARD_LISTINGS[wildcards.kind], shard=shard_ids(SOURCE_CORPUS)),
    output:
        listing="results/shards/{kind}.txt",
    log:
        "results/logs/shard_listing/{kind}.log",
    localrule: True
    resources:
        **job_resources("shard_listing"),
    conda:
        "../envs/download.yaml"
    script:
        "../workflow_scripts/shard_listing.py"
