# One listing per corpus and kind of per-shard file that an aggregate with per-block consumers
# reads (vocab: the source's words; train: its training corpus's segments and features): such a
# job depends on the listing, not on thousands of block folders (see
# groundprobe.ingest.manifest.read_shard_listing for why the DAG needs it). The listing job depends on
# every block folder, so rewriting one of them rewrites the listing and reruns its readers.


rule shard_listing:
    input:
        blocks=lambda wildcards: expand(SHARD_LISTINGS[wildcards.kind][0], block=block_ids(wildcards.corpus)),
    output:
        listing="results/shards/{corpus}/{kind}.txt",
    log:
        "results/logs/shard_listing/{corpus}/{kind}.log",
    localrule: True
    conda:
        "../envs/download.yaml"
    resources:
        **job_resources("shard_listing"),
    params:
        suffix=lambda wildcards: SHARD_LISTINGS[wildcards.kind][1],
    script:
        "../workflow_scripts/shard_listing.py"
