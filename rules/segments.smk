rule segments:
    input:
        words="results/asr/{block}",
        features_2d="results/features/2d/{block}",
        features_3d="results/features/3d/{block}",
        vocab="results/vocab.tsv",
    output:
        # per shard: {shard}.tsv.gz, the segments, and {shard}.h5, the same segments as CSR
        # arrays, read per video by rule train (groundprobe.captions.segments)
        segments=directory("results/segments/{block}"),
        qc="results/qc/segments/{block}.tsv",
    log:
        "results/logs/segments/{block}.log",
    benchmark:
        "results/benchmarks/segments/{block}.tsv"
    conda:
        "../envs/torch.yaml"
    resources:
        **job_resources("segments", shards=SHARDS_PER_BLOCK),
    params:
        segments=config["segments"],
    script:
        "../workflow_scripts/segments.py"
